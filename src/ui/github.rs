//! GitHub Actions workflow commands: masks, annotations and the step summary. Each function does
//! nothing outside GitHub Actions (`GITHUB_ACTIONS` != `true`).

use std::io::Write;

/// True inside a GitHub Actions job.
pub fn in_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// Escape a workflow command's data (`%`, CR, LF).
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// `::add-mask::VALUE`, so the runner masks the value in every later log line. Printed before the
/// value could appear anywhere.
///
/// Workflow commands go to stderr: the Actions runner reads commands from both of a step's streams
/// (each through its own command-aware output manager), and stderr keeps stdout for the one JSON
/// document of `--json`.
pub fn add_mask(value: &str) {
    if in_actions() && !value.is_empty() {
        let mut out = std::io::stderr().lock();
        let _ = writeln!(out, "::add-mask::{}", escape_data(value));
        let _ = out.flush();
    }
}

/// `::error::MESSAGE` annotation.
pub fn error(message: &str) {
    if in_actions() {
        let mut out = std::io::stderr().lock();
        let _ = writeln!(out, "::error::{}", escape_data(message));
        let _ = out.flush();
    }
}

/// `::warning::MESSAGE` annotation.
pub fn warning(message: &str) {
    if in_actions() {
        let mut out = std::io::stderr().lock();
        let _ = writeln!(out, "::warning::{}", escape_data(message));
        let _ = out.flush();
    }
}

/// Append markdown to `$GITHUB_STEP_SUMMARY`, when set.
pub fn append_summary(markdown: &str) -> std::io::Result<()> {
    if !in_actions() {
        return Ok(());
    }
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        f.write_all(markdown.as_bytes())?;
        if !markdown.ends_with('\n') {
            f.write_all(b"\n")?;
        }
    }
    Ok(())
}
