//! Output, interactivity, progress and CI integration shared by every command.
//!
//! - A command's result goes to stdout: human text, or with `--json` exactly one JSON document
//!   (for success and for failure alike; the human text then goes to stderr). Progress, logs and
//!   warnings go to stderr.
//! - Non-interactive when stdin or stdout is not a terminal, or `CI` is set: no prompt, ever.
//! - In GitHub Actions (`GITHUB_ACTIONS=true`): `::add-mask::`, `::error::`, step summary.

pub mod github;
pub mod progress;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use crate::exit::Exit;

pub use progress::Progress;

/// Global output settings, resolved once from the global flags and the environment.
#[derive(Debug, Clone)]
pub struct Ui {
    /// `--json`: machine output on stdout, human output on stderr.
    pub json: bool,
    /// `--quiet`: only errors and the final result.
    pub quiet: bool,
    /// `-v` count.
    pub verbose: u8,
    /// Colors and styles on stderr.
    pub color: bool,
    /// Prompts allowed (stdin and stdout are terminals and `CI` is unset).
    pub interactive: bool,
    /// stderr is a terminal (spinners and progress bars allowed).
    pub stderr_is_terminal: bool,
}

impl Ui {
    /// Build from the global flags and the process environment.
    pub fn new(json: bool, quiet: bool, verbose: u8, no_color: bool) -> Self {
        let stderr_is_terminal = std::io::stderr().is_terminal();
        let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = !no_color && !no_color_env && stderr_is_terminal;
        console::set_colors_enabled_stderr(color);
        console::set_colors_enabled(color && std::io::stdout().is_terminal());
        Self {
            json,
            quiet,
            verbose,
            color,
            interactive: is_interactive(),
            stderr_is_terminal,
        }
    }

    /// A plain, non-interactive Ui (tests, library use).
    pub fn plain() -> Self {
        Self {
            json: false,
            quiet: false,
            verbose: 0,
            color: false,
            interactive: false,
            stderr_is_terminal: false,
        }
    }

    /// An informational line on stderr (suppressed by `--quiet`).
    pub fn info(&self, msg: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("{msg}");
        }
    }

    /// A detail line on stderr, shown with `-v`.
    pub fn debug(&self, msg: impl std::fmt::Display) {
        if self.verbose > 0 && !self.quiet {
            eprintln!("{}", self.dim(&msg.to_string()));
        }
    }

    /// A warning on stderr (never suppressed).
    pub fn warn(&self, msg: impl std::fmt::Display) {
        eprintln!("{} {msg}", self.style_yellow("warning:"));
        github::warning(&msg.to_string());
    }

    /// Report a value that was taken from a default or from a file, so a CI log shows the choice:
    /// `using tenant_id = … (from .pmcp/deploy.toml)`.
    pub fn chose(&self, what: &str, value: &str, source: &str) {
        self.info(format_args!("using {what} = {value} ({source})"));
    }

    /// Print a command's result: with `--json` the JSON document on stdout and the human text on
    /// stderr; otherwise the human text on stdout. One value gives both, so they never drift.
    pub fn result<T: serde::Serialize + std::fmt::Display>(
        &self,
        result: &T,
    ) -> std::io::Result<()> {
        if self.json {
            if !self.quiet {
                eprint!("{result}");
            }
            self.print_json(result)
        } else {
            let mut out = std::io::stdout().lock();
            write!(out, "{result}")?;
            out.flush()
        }
    }

    /// Print a JSON document on stdout (one line).
    pub fn print_json<T: serde::Serialize>(&self, value: &T) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, value)?;
        out.write_all(b"\n")?;
        out.flush()
    }

    /// Bold text when colors are on.
    pub fn bold(&self, s: &str) -> String {
        console::style(s).for_stderr().bold().to_string()
    }

    /// Dim text when colors are on.
    pub fn dim(&self, s: &str) -> String {
        console::style(s).for_stderr().dim().to_string()
    }

    /// Green text when colors are on.
    pub fn style_green(&self, s: &str) -> String {
        console::style(s).for_stderr().green().to_string()
    }

    /// Red text when colors are on.
    pub fn style_red(&self, s: &str) -> String {
        console::style(s).for_stderr().red().bold().to_string()
    }

    /// Yellow text when colors are on.
    pub fn style_yellow(&self, s: &str) -> String {
        console::style(s).for_stderr().yellow().bold().to_string()
    }

    /// A progress handle for the steps of a long command.
    pub fn progress(&self) -> Progress {
        Progress::new(self.stderr_is_terminal && !self.quiet, self.quiet)
    }
}

/// True when prompts are allowed: stdin and stdout are terminals and `CI` is unset (or empty/false).
pub fn is_interactive() -> bool {
    !is_ci() && std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// True when `CI` is set to anything but an empty string, `0` or `false`.
pub fn is_ci() -> bool {
    match std::env::var("CI") {
        Ok(v) => !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false")),
        Err(_) => false,
    }
}

/// An error that carries how the run ends and, optionally, a hint. Commands return
/// `anyhow::Error`s; `main` downcasts to this type to pick the exit code ([`Exit::Unexpected`]
/// when absent) and, with `--json`, prints [`Failure::document`] unless the command already printed
/// its own failure document.
#[derive(Debug)]
pub struct Failure {
    /// How the run ends.
    pub exit: Exit,
    /// A stable, specific error code (`AADSTS7000215`, `expired`, …); defaults to the exit's name.
    pub code: Option<String>,
    /// What went wrong (first line of the error output).
    pub message: String,
    /// What to do next.
    pub hint: Option<String>,
    /// Already reported (e.g. in the command's own JSON output): `main` prints nothing more.
    pub reported: bool,
}

impl Failure {
    /// A failure with an exit and a message.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            code: None,
            message: message.into(),
            hint: None,
            reported: false,
        }
    }

    /// A usage / configuration / input error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    /// Add a hint (what to do next).
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Give the failure a specific error code (the JSON document's `error.code`).
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Mark as already reported by the command (only the exit code is left to apply).
    pub fn reported(mut self) -> Self {
        self.reported = true;
        self
    }

    /// The exit code as a process `ExitCode`.
    pub fn exit_code(&self) -> ExitCode {
        self.exit.into()
    }

    /// The `--json` failure document every verb prints:
    /// `{"ok": false, "exit_code": N, "error": {"code", "message", "hint"}}`.
    pub fn document(&self) -> serde_json::Value {
        failure_document(
            self.exit,
            self.code.as_deref().unwrap_or(self.exit.name()),
            &self.message,
            self.hint.as_deref(),
        )
    }
}

/// The one shape of a `--json` failure: `ok`, `exit_code` and `error` (`code`, `message`, `hint`).
/// A command whose result document carries more (auth test's checks) adds its fields beside these.
pub fn failure_document(
    exit: Exit,
    code: &str,
    message: &str,
    hint: Option<&str>,
) -> serde_json::Value {
    serde_json::json!({
        "ok": false,
        "exit_code": exit.code(),
        "error": {"code": code, "message": message, "hint": hint},
    })
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339, UTC, whole seconds) for a system time.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339_secs(secs)
}

/// RFC 3339 UTC from Unix seconds: `YYYY-MM-DDTHH:MM:SSZ`. RFC 3339 years have four digits, so a
/// time past the last second of 9999 (an absurd `exp` in an unverified token) shows as that second.
pub fn rfc3339_secs(secs: u64) -> String {
    const LAST_RFC3339_SECOND: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    let secs = i64::try_from(secs)
        .unwrap_or(i64::MAX)
        .min(LAST_RFC3339_SECOND);
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Write `contents` to `path` atomically: a temp file in the same directory, fsync, rename.
/// Parent directories are created. On failure the original file is untouched.
pub fn write_atomic(path: &std::path::Path, contents: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, |f| f.write_all(contents))
}

/// [`write_atomic`] for contents that `write` streams into the temp file (an archive, a large
/// binary). When `write` fails, the temp file is removed and `path` is untouched. An existing file's
/// permissions are kept (a 0600 deploy.toml stays 0600); a new file gets 0644.
pub fn write_atomic_with(
    path: &std::path::Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    // A temp file in the same directory (so the rename is atomic), removed on any error.
    let mut builder = tempfile::Builder::new();
    builder.prefix(".pmcp-");
    if let Some(permissions) = permissions_for(path) {
        builder.permissions(permissions);
    }
    let mut tmp = builder.tempfile_in(&dir)?;
    write(tmp.as_file_mut())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The permissions a rewritten `path` gets: its own when it exists; 0644 for a new file on Unix
/// (tempfile would create 0600); the platform default elsewhere.
fn permissions_for(path: &std::path::Path) -> Option<std::fs::Permissions> {
    if let Ok(meta) = std::fs::metadata(path) {
        return Some(meta.permissions());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        Some(std::fs::Permissions::from_mode(0o644))
    }
    #[cfg(not(unix))]
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_millis(1_795_000_000_750)),
            "2026-11-18T11:06:40Z"
        );
    }

    #[cfg(unix)]
    #[test]
    fn atomic_writes_keep_the_file_mode_and_give_new_files_0644() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("new.toml");
        write_atomic(&new, b"a").unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&new), 0o644);
        std::fs::set_permissions(&new, std::fs::Permissions::from_mode(0o600)).unwrap();
        write_atomic(&new, b"b").unwrap();
        assert_eq!(mode(&new), 0o600);
        assert_eq!(std::fs::read(&new).unwrap(), b"b");
        // A failed write leaves the file and no temp file behind.
        let err = write_atomic_with(&new, |_| Err(std::io::Error::other("boom")));
        assert!(err.is_err());
        assert_eq!(std::fs::read(&new).unwrap(), b"b");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
