//! `cargo pmcp login` / `cargo pmcp logout`: sign in to pmcp.run in a browser (tokens kept in
//! `~/.pmcp/credentials.toml`), or forget that sign-in. The flow lives in
//! [`crate::deploy::targets::pmcp_run::login`].

use super::Ctx;
use super::deploy::parse_duration;
use crate::deploy::targets::TargetError;
use crate::deploy::targets::pmcp_run::{
    Overrides, credentials,
    discovery::base_url,
    login::{self, CALLBACK_PORT, LOGIN_TIMEOUT, LoginOptions},
};
use crate::exit::Exit;
use crate::ui::Failure;
use serde::Serialize;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Sign in to pmcp.run.
#[derive(Debug, Clone, clap::Args)]
pub struct LoginArgs {
    /// pmcp-run API base URL (overrides PMCP_API_URL, PMCP_RUN_API_URL and `[target] api_url`).
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
    /// Print the sign-in URL only; do not try to open a browser.
    #[arg(long)]
    pub no_browser: bool,
    /// The port of the sign-in redirect (pmcp.run accepts http://localhost:8787 only).
    #[arg(long, default_value_t = CALLBACK_PORT, hide = true)]
    pub callback_port: u16,
    /// How long to wait for the sign-in.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, hide = true)]
    pub timeout: Option<Duration>,
}

/// Forget the pmcp.run sign-in.
#[derive(Debug, Clone, clap::Args)]
pub struct LogoutArgs {}

/// What `login` did.
#[derive(Debug, Clone, Serialize)]
pub struct LoginResult {
    pub signed_in: bool,
    pub credentials: PathBuf,
    pub expires_at: String,
}

impl fmt::Display for LoginResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Signed in to pmcp.run; the token is in {} (expires {}, refreshed when needed).",
            self.credentials.display(),
            self.expires_at
        )?;
        writeln!(f, "Deploy with: cargo pmcp deploy --target pmcp-run")
    }
}

/// What `logout` did.
#[derive(Debug, Clone, Serialize)]
pub struct LogoutResult {
    pub removed: bool,
    pub credentials: PathBuf,
}

impl fmt::Display for LogoutResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.removed {
            writeln!(
                f,
                "Signed out of pmcp.run (removed [pmcp-run] from {}).",
                self.credentials.display()
            )
        } else {
            writeln!(f, "Not signed in to pmcp.run; nothing to remove.")
        }
    }
}

fn credentials_path() -> Result<PathBuf, Failure> {
    credentials::home_dir()
        .map(|h| h.join(credentials::CREDENTIALS_FILE))
        .ok_or_else(|| {
            Failure::usage("cannot tell where the home directory is: HOME is not set")
                .with_hint("set HOME, or use PMCP_CLIENT_ID and PMCP_CLIENT_SECRET instead")
        })
}

fn failure(e: TargetError) -> Failure {
    let hint = e.hint().map(str::to_string);
    let exit = match e {
        TargetError::Io(_) => Exit::Unexpected,
        TargetError::Config { .. } | TargetError::Unsupported { .. } => Exit::Usage,
        _ => Exit::UploadFailed,
    };
    let f = Failure::new(exit, e.to_string()).with_code(match exit {
        Exit::UploadFailed => "login_failed",
        other => other.name(),
    });
    match hint {
        Some(h) => f.with_hint(h),
        None => f,
    }
}

/// Run `login`.
pub async fn login(args: LoginArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let ui = &ctx.ui;
    let cwd = std::env::current_dir()?;
    let dir = crate::config::project_root(ctx.manifest_path.as_deref(), &cwd);
    let config = crate::config::load(&dir.join(crate::config::DEPLOY_TOML))
        .ok()
        .flatten()
        .unwrap_or_default();
    let env = |n: &str| std::env::var(n).ok();
    let base = base_url(
        args.api_url.as_deref(),
        config.target.api_url.as_deref(),
        env,
    );
    ui.chose("pmcp.run API", &base.url, base.source);
    let opts = LoginOptions {
        base,
        overrides: Overrides::from_env(env),
        credentials_path: credentials_path()?,
        port: args.callback_port,
        timeout: args.timeout.unwrap_or(LOGIN_TIMEOUT),
        open_browser: !args.no_browser,
    };
    // The URL goes to stderr even with --quiet: without it there is no way to sign in.
    let done = login::login(&opts, |line| eprintln!("{line}"))
        .await
        .map_err(failure)?;
    Ok(ui.result(&LoginResult {
        signed_in: true,
        credentials: done.credentials_path,
        expires_at: done.expires_at,
    })?)
}

/// Run `logout`.
pub async fn logout(_args: LogoutArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let path = credentials_path()?;
    let removed = login::logout(&path).map_err(failure)?;
    Ok(ctx.ui.result(&LogoutResult {
        removed,
        credentials: path,
    })?)
}
