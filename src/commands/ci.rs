//! `cargo pmcp ci init`: write `.github/workflows/auth-test.yml` from the template, with the step
//! that installs *this* cargo-pmcp from its source. crates.io's `cargo-pmcp` is another project's
//! tool (it has no `auth test`), so `cargo install cargo-pmcp` would install the wrong program.
//!
//! Where the source is: `--install-git URL [--install-rev REV]`; else cargo's own record of how
//! this cargo-pmcp was installed (`$CARGO_HOME/.crates2.json`): from git (URL and commit, pinned),
//! or from a clone (`--path`: that clone's `origin` and commit, or `--path` itself when the workflow
//! lives in the same repository).

use super::Ctx;
use crate::ui::Failure;
use anyhow::Context;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The workflow template, with `CARGO_PMCP_INSTALL` where the install arguments go.
pub const TEMPLATE: &str = include_str!("../../templates/github-actions-auth-test.yml");
/// The placeholder of the install arguments in [`TEMPLATE`].
pub const PLACEHOLDER: &str = "CARGO_PMCP_INSTALL";
/// Where the workflow is written, relative to the repository root.
pub const WORKFLOW: &str = ".github/workflows/auth-test.yml";

/// CI workflows that run `auth test`.
#[derive(Debug, clap::Subcommand)]
pub enum CiCommand {
    /// Write .github/workflows/auth-test.yml: on every push, get a token with GitHub's OIDC
    /// credential and check it (no stored secret); installs this cargo-pmcp from its source.
    Init(CiInitArgs),
}

/// `ci init` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct CiInitArgs {
    /// Git URL of this cargo-pmcp's source repository [env: PMCP_INSTALL_GIT] (default: where
    /// the running cargo-pmcp was installed from, per cargo's install record).
    #[arg(long, value_name = "URL")]
    pub install_git: Option<String>,
    /// The commit, tag or branch to install with --install-git [env: PMCP_INSTALL_REV].
    #[arg(long, value_name = "REV")]
    pub install_rev: Option<String>,
    /// Replace an existing workflow file.
    #[arg(long)]
    pub force: bool,
}

/// How the workflow installs cargo-pmcp.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum InstallSource {
    /// `cargo install --git URL [--rev REV] cargo-pmcp`.
    Git { url: String, rev: Option<String> },
    /// `cargo install --path PATH`: the workflow runs in cargo-pmcp's own repository.
    Path { path: String },
}

impl InstallSource {
    /// The arguments that replace [`PLACEHOLDER`] in `cargo install … --locked`.
    pub fn args(&self) -> String {
        match self {
            InstallSource::Git { url, rev: Some(r) } => format!("--git {url} --rev {r} cargo-pmcp"),
            InstallSource::Git { url, rev: None } => format!("--git {url} cargo-pmcp"),
            InstallSource::Path { path } => format!("--path {path}"),
        }
    }
}

/// The workflow text for `source`.
pub fn render(source: &InstallSource) -> String {
    TEMPLATE.replace(PLACEHOLDER, &source.args())
}

/// What `ci init` did.
#[derive(Debug, Serialize)]
pub struct CiInitResult {
    pub path: String,
    /// `created`, `updated` or `unchanged`.
    pub state: &'static str,
    pub install: InstallSource,
    /// Where the install source came from.
    pub install_from: String,
}

impl std::fmt::Display for CiInitResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{} {}", self.path, self.state)?;
        writeln!(
            f,
            "  installs cargo-pmcp with: cargo install {} --locked ({})",
            self.install.args(),
            self.install_from
        )?;
        writeln!(
            f,
            "Next: register the federated credential and set the repository variables (docs/ci.md), then push."
        )
    }
}

/// A cargo install record's source: `git+URL[?query]#SHA`, `path+file:///DIR`, `registry+…`.
pub fn parse_install_source(source: &str) -> Option<Result<InstallSource, PathBuf>> {
    if let Some(git) = source.strip_prefix("git+") {
        let (url, sha) = git.split_once('#').unwrap_or((git, ""));
        let url = url.split('?').next().unwrap_or(url).to_string();
        let rev = (!sha.is_empty()).then(|| sha.to_string());
        return Some(Ok(InstallSource::Git { url, rev }));
    }
    if let Some(p) = source.strip_prefix("path+") {
        let url = url::Url::parse(p).ok()?;
        return url.to_file_path().ok().map(Err);
    }
    None
}

/// The source recorded for the installed `cargo-pmcp` in `$CARGO_HOME/.crates2.json`.
fn recorded_source() -> Option<String> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let text = std::fs::read_to_string(home.join(".crates2.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["installs"].as_object()?.keys().find_map(|k| {
        let rest = k.strip_prefix("cargo-pmcp ")?;
        let start = rest.find('(')?;
        Some(rest[start + 1..].trim_end_matches(')').to_string())
    })
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn missing(why: &str) -> Failure {
    Failure::usage(format!(
        "cannot tell where to install cargo-pmcp from: {why}"
    ))
    .with_hint(
        "give its source repository: --install-git <git URL> [--install-rev <commit>] (or \
         PMCP_INSTALL_GIT / PMCP_INSTALL_REV). crates.io's cargo-pmcp is another project's tool",
    )
}

/// `--install-git` / env, else the install record; `repo_root` is where the workflow goes.
fn install_source(args: &CiInitArgs, repo_root: &Path) -> Result<(InstallSource, String), Failure> {
    let env = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
    let rev = args.install_rev.clone().or_else(|| env("PMCP_INSTALL_REV"));
    if let Some(url) = &args.install_git {
        return Ok((
            InstallSource::Git {
                url: url.clone(),
                rev,
            },
            "--install-git".into(),
        ));
    }
    if let Some(url) = env("PMCP_INSTALL_GIT") {
        return Ok((InstallSource::Git { url, rev }, "PMCP_INSTALL_GIT".into()));
    }
    let recorded = recorded_source().ok_or_else(|| {
        missing("this cargo-pmcp is not in cargo's install record ($CARGO_HOME/.crates2.json)")
    })?;
    match parse_install_source(&recorded) {
        Some(Ok(git)) => Ok((git, format!("installed from {recorded}"))),
        Some(Err(dir)) => {
            let root = |d: &Path| git(d, &["rev-parse", "--show-toplevel"]).map(PathBuf::from);
            if let (Some(a), Some(b)) = (root(&dir), root(repo_root))
                && a == b
            {
                let rel = dir.strip_prefix(&a).unwrap_or(Path::new(""));
                let path = if rel.as_os_str().is_empty() {
                    ".".to_string()
                } else {
                    rel.display().to_string()
                };
                return Ok((
                    InstallSource::Path { path },
                    "this repository is cargo-pmcp's own".into(),
                ));
            }
            let url = git(&dir, &["remote", "get-url", "origin"]).ok_or_else(|| {
                missing(&format!(
                    "it was installed from {} (a clone without an `origin` remote)",
                    dir.display()
                ))
            })?;
            let rev = rev.or_else(|| git(&dir, &["rev-parse", "HEAD"]));
            Ok((
                InstallSource::Git { url, rev },
                format!("the origin and commit of {}", dir.display()),
            ))
        }
        None => Err(missing(&format!(
            "the installed cargo-pmcp came from {recorded}, not from this project's source"
        ))),
    }
}

/// Run `ci init`.
pub async fn init(args: CiInitArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let project = crate::config::project_root(ctx.manifest_path.as_deref(), &cwd);
    let repo_root = git(&project, &["rev-parse", "--show-toplevel"])
        .map(PathBuf::from)
        .unwrap_or(project);
    let (install, install_from) = install_source(&args, &repo_root)?;
    let text = render(&install);
    let path = repo_root.join(WORKFLOW);
    let shown = crate::config::shown(&path, &cwd).display().to_string();
    let state = match std::fs::read_to_string(&path) {
        Ok(old) if old == text => "unchanged",
        Ok(_) if !args.force => {
            return Err(Failure::usage(format!("{shown} exists and differs"))
                .with_hint("pass --force to replace it (your edits are lost), or edit it by hand")
                .into());
        }
        Ok(_) => "updated",
        Err(_) => "created",
    };
    if state != "unchanged" {
        crate::ui::write_atomic(&path, text.as_bytes())
            .with_context(|| format!("cannot write {shown}"))?;
    }
    ctx.ui.result(&CiInitResult {
        path: shown,
        state,
        install,
        install_from,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_records_parse() {
        assert_eq!(
            parse_install_source("git+https://github.com/o/r#0123abc"),
            Some(Ok(InstallSource::Git {
                url: "https://github.com/o/r".into(),
                rev: Some("0123abc".into())
            }))
        );
        assert_eq!(
            parse_install_source("git+https://github.com/o/r?branch=dev#0123abc"),
            Some(Ok(InstallSource::Git {
                url: "https://github.com/o/r".into(),
                rev: Some("0123abc".into())
            }))
        );
        assert_eq!(
            parse_install_source("path+file:///src/cargo-pmcp"),
            Some(Err(PathBuf::from("/src/cargo-pmcp")))
        );
        assert_eq!(
            parse_install_source("registry+https://github.com/rust-lang/crates.io-index"),
            None
        );
    }

    #[test]
    fn the_template_installs_from_source_never_from_crates_io() {
        assert!(TEMPLATE.contains(&format!("cargo install {PLACEHOLDER} --locked")));
        let text = render(&InstallSource::Git {
            url: "https://example.com/o/r".into(),
            rev: Some("abc".into()),
        });
        assert!(
            text.contains(
                "cargo install --git https://example.com/o/r --rev abc cargo-pmcp --locked"
            ),
            "{text}"
        );
        assert!(
            !text
                .lines()
                .any(|l| l.trim_start().starts_with("run: cargo install cargo-pmcp")),
            "{text}"
        );
    }
}
