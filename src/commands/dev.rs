//! `cargo pmcp dev`: the whole local story in one command. In a server crate it starts the Entra
//! emulator in-process, writes `.pmcp/deploy.toml` for the local target (the `deploy init` code),
//! builds and runs the server with the Entra variables pointing at the emulator (the local
//! target's code), runs the `auth test --server-url` checks against it (the `auth test` code),
//! prints the MCP URL and how to connect a client, rebuilds and restarts on source changes, and
//! stops everything on Ctrl-C or SIGTERM.
//!
//! Watching polls the modification times of `src/**`, `Cargo.toml` and `build.rs` every second
//! rather than using OS file events (the `notify` crate): a stat of each file of one crate per
//! second costs nothing next to a build, it behaves the same on Linux, macOS, network mounts and
//! container bind mounts (where inotify events often never arrive), and it adds no dependency.

use super::Ctx;
use super::auth_test::{self, AuthTestReport, TestArgs};
use super::deploy::{self, LocalDeploy};
use super::deploy_init::{self, InitArgs};
use crate::config::{self, Provider, TargetKind};
use crate::deploy::build::{self, BuildCancel, BuildOptions};
use crate::deploy::targets::Target;
use crate::deploy::targets::local::{LOCAL_DIR, Local};
use crate::ui::{Failure, Ui, github};
use anyhow::Context;
use pmcp_auth::SecretString;
use pmcp_entra_emulator::{Emulator, EmulatorConfig, EmulatorError, RunningEmulator};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Where the access token for clients is kept while dev runs (mode 0600, removed on exit).
pub const TOKEN_FILE: &str = ".pmcp/local/dev-token";

/// Run the server locally behind a local Entra ID: emulator, build, run, check, watch.
///
/// In the server's crate: starts the Entra emulator on 127.0.0.1, writes .pmcp/deploy.toml for the
/// local target (a file for another target is left as it is), builds and runs the server with the
/// Entra variables pointing at the emulator, runs the `auth test --server-url` checks against it,
/// prints the MCP URL and how to connect a client, and rebuilds and restarts the server when a
/// file under src/, Cargo.toml or build.rs changes. Ctrl-C (or SIGTERM) stops the server and the
/// emulator.
#[derive(Debug, Clone, clap::Args)]
pub struct DevArgs {
    /// The server's port on 127.0.0.1 (0: a free one, printed; kept across restarts).
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    pub port: u16,
    /// The Entra emulator's port on 127.0.0.1 (0: a free one, printed).
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    pub emulator_port: u16,
    /// Build and start the server once, then serve until stopped: no rebuild on source changes.
    #[arg(long)]
    pub no_watch: bool,
    /// Print the access token (an app token with role MCP.Service) and a curl command using it.
    /// Without it only its fingerprint is printed; the token is in .pmcp/local/dev-token.
    #[arg(long)]
    pub print_token: bool,
    /// The binary to run when the package has several (overrides `[server] bin`).
    #[arg(long, value_name = "NAME")]
    pub bin: Option<String>,
    /// Build with the release profile (default: dev, for fast rebuilds).
    #[arg(long)]
    pub release: bool,
    /// cargo's target directory.
    #[arg(long, value_name = "DIR")]
    pub target_dir: Option<PathBuf>,
    /// How long to wait for the server to listen on $HOST:$PORT after each start.
    #[arg(long, value_name = "DURATION", value_parser = deploy::parse_duration, default_value = "30s")]
    pub wait_timeout: Duration,
}

/// One line of `dev`'s output: `ready` once the server first runs, then `restarted`,
/// `build_failed`, and `stopped`. With `--json` each is one JSON line on stdout.
#[derive(Debug, Clone, Serialize)]
pub struct DevEvent {
    /// `ready`, `restarted`, `build_failed` or `stopped`.
    pub event: &'static str,
    /// The MCP endpoint.
    pub mcp_url: Option<String>,
    /// The server's process id.
    pub pid: Option<String>,
    /// The server's log file.
    pub log: Option<String>,
    /// The emulator's authority host (`ENTRA_AUTHORITY_HOST`).
    pub authority_host: String,
    pub tenant_id: String,
    pub client_id: String,
    /// The auth test checks that passed, and the names of those that failed.
    pub checks_passed: usize,
    pub checks_failed: Vec<String>,
    /// The access token's fingerprint (first 12 hex digits of its SHA-256).
    pub token_fingerprint: Option<String>,
    /// The file holding the access token (mode 0600).
    pub token_file: Option<String>,
    /// The access token itself, with `--print-token` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// What failed (`build_failed`), or why the checks failed.
    pub error: Option<String>,
    /// Whether source changes rebuild and restart the server.
    pub watching: bool,
}

impl std::fmt::Display for DevEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.event {
            "stopped" => return writeln!(f, "Stopped the server and the Entra emulator."),
            "build_failed" => {
                writeln!(
                    f,
                    "Build failed: {}",
                    self.error.as_deref().unwrap_or("see above")
                )?;
                if let Some(url) = &self.mcp_url {
                    writeln!(f, "The previous server still runs at {url}.")?;
                }
                if self.watching {
                    writeln!(f, "Watching for changes: fix the error and save.")?;
                }
                return Ok(());
            }
            _ => {}
        }
        let url = self.mcp_url.as_deref().unwrap_or_default();
        let what = if self.event == "ready" {
            "MCP server ready"
        } else {
            "MCP server restarted"
        };
        writeln!(f, "{what}: {url}")?;
        writeln!(
            f,
            "  pid {}, log {}",
            self.pid.as_deref().unwrap_or("?"),
            self.log.as_deref().unwrap_or("?")
        )?;
        writeln!(
            f,
            "  Entra emulator: {} (tenant {}, API app {})",
            self.authority_host, self.tenant_id, self.client_id
        )?;
        if self.checks_failed.is_empty() {
            writeln!(
                f,
                "  auth test: {} checks passed (token, validator, role MCP.Service; the server's \
                 401 and metadata without a token, initialize and tools/list with it)",
                self.checks_passed
            )?;
        } else {
            writeln!(
                f,
                "  auth test: FAILED {} ({})",
                self.checks_failed.join(", "),
                self.error.as_deref().unwrap_or("see above")
            )?;
        }
        if self.event != "ready" {
            return Ok(());
        }
        let file = self.token_file.as_deref().unwrap_or(TOKEN_FILE);
        let bearer = match &self.token {
            Some(t) => {
                writeln!(f, "  token (app token, role MCP.Service): {t}")?;
                t.clone()
            }
            None => {
                writeln!(
                    f,
                    "  token (app token, role MCP.Service): fingerprint {} in {file} (mode 0600; \
                     --print-token prints it)",
                    self.token_fingerprint.as_deref().unwrap_or("?")
                )?;
                format!("$(cat {file})")
            }
        };
        writeln!(f)?;
        writeln!(f, "Connect a client:")?;
        writeln!(
            f,
            "  MCP Inspector: npx @modelcontextprotocol/inspector --cli {url} --transport http \
             --method tools/list --header \"Authorization: Bearer {bearer}\""
        )?;
        writeln!(
            f,
            "  curl:          curl -s {url} -H \"authorization: Bearer {bearer}\" \
             -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
             -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}}'"
        )?;
        writeln!(
            f,
            "  Rust SDK client: the same URL with the header `Authorization: Bearer <token>`"
        )?;
        writeln!(f)?;
        if self.watching {
            writeln!(
                f,
                "Watching src/, Cargo.toml and build.rs: a change rebuilds and restarts the server."
            )?;
        }
        writeln!(f, "Press Ctrl-C to stop the server and the emulator.")
    }
}

/// Everything fixed for the whole session.
struct Session {
    dir: PathBuf,
    emu: RunningEmulator,
    secret: SecretString,
    config: config::Loaded,
    deploy: LocalDeploy,
    print_token: bool,
    watching: bool,
}

/// Run the command.
pub async fn run(args: DevArgs, ctx: &Ctx) -> anyhow::Result<()> {
    // Signals first: from here on Ctrl-C and SIGTERM stop what was started instead of killing
    // this process with a server and a build left behind.
    let cancel = BuildCancel::default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let on_stop = cancel.clone();
    tokio::spawn(async move {
        super::emulator::wait_for_stop().await;
        on_stop.kill();
        let _ = stop_tx.send(true);
    });
    let ui = &ctx.ui;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let dir = config::project_root(ctx.manifest_path.as_deref(), &cwd);

    // 1. The server crate, before anything starts: no Cargo.toml is a setup error (exit 2).
    deploy::check_manifest(ctx)?;
    let locate = BuildOptions {
        manifest_path: ctx.manifest_path.clone(),
        bin: args.bin.clone(),
        cwd: cwd.clone(),
        ..BuildOptions::default()
    };
    let spec = tokio::task::spawn_blocking(move || build::locate(&locate))
        .await?
        .map_err(deploy::build_failure)?;
    let package_dir = spec
        .manifest_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dir.clone());

    // 2. The emulator, with a client secret only this process knows.
    let secret = SecretString::new(random_secret());
    github::add_mask(secret.secret());
    let mut emu_config = EmulatorConfig::default();
    emu_config.set_default_secret(&secret);
    let emu = Emulator::start(emu_config, args.emulator_port)
        .await
        .map_err(|e| match e {
            EmulatorError::Bind { port, source } => anyhow::Error::from(
                Failure::usage(format!(
                    "--emulator-port {port}: cannot listen on 127.0.0.1:{port}: {source}"
                ))
                .with_hint("pick another --emulator-port, or leave it out for a free one"),
            ),
            other => anyhow::Error::from(other),
        })?;
    ui.info(format_args!(
        "Entra emulator listening on {}",
        emu.authority_host()
    ));

    // 3. deploy.toml for the local target, pointed at the emulator.
    let init = InitArgs {
        target: Some(TargetKind::Local),
        oauth: Some(Provider::Entra),
        tenant_id: Some(emu.tenant_id()),
        client_id: Some(emu.client_id()),
        authority_host: Some(emu.authority_host()),
        yes: true,
        ..InitArgs::default()
    };
    let quiet = quiet_ctx(ctx);
    let dev_config = match deploy_init::dev_config(&init, &quiet, &cwd, &dir) {
        Ok(c) => c,
        Err(e) => {
            emu.shutdown().await;
            return Err(e);
        }
    };
    for w in &dev_config.loaded.warnings {
        ui.warn(w);
    }
    match dev_config.kept_target {
        Some(kind) => ui.info(format_args!(
            "{} is for target = {kind}: left as it is; dev runs the local target with the \
             emulator's settings in memory only",
            dev_config.shown.display()
        )),
        None => ui.info(format_args!(
            "{} {} (target local, Entra at the emulator)",
            dev_config.shown.display(),
            dev_config.state
        )),
    }

    let session = Session {
        dir: dir.clone(),
        emu,
        secret,
        config: dev_config.loaded,
        deploy: LocalDeploy {
            bin: args.bin.clone(),
            port: (args.port != 0).then_some(args.port),
            profile: Some(if args.release { "release" } else { "dev" }.into()),
            target_dir: args.target_dir.clone(),
            wait_timeout: Some(args.wait_timeout),
            cancel: Some(cancel),
        },
        print_token: args.print_token,
        watching: !args.no_watch,
    };
    let outcome = watch_loop(&session, ctx, &package_dir, stop_rx).await;

    // Stop everything, whatever happened above.
    let stopped = Local::default().destroy(&dir).await;
    let _ = std::fs::remove_file(dir.join(TOKEN_FILE));
    let event = session.event("stopped", None);
    session.emu.shutdown().await;
    if let Err(e) = stopped {
        ui.warn(format_args!("stopping the local server: {e}"));
    }
    outcome?;
    ui.result(&event)?;
    Ok(())
}

/// Build, run and check; then, when watching, again after each change until stopped.
async fn watch_loop(
    s: &Session,
    ctx: &Ctx,
    package_dir: &Path,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let ui = &ctx.ui;
    let mut seen = snapshot(package_dir);
    let mut url: Option<String> = None;
    let mut first = true;
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        let attempt = s.start(ctx, first);
        tokio::pin!(attempt);
        let result = tokio::select! {
            r = &mut attempt => r,
            _ = stop.changed() => {
                // The build is killed by the signal task; wait for the attempt to wind down so
                // nothing it started is left untracked.
                let _ = attempt.await;
                return Ok(());
            }
        };
        match result {
            Ok(event) => {
                url = event.mcp_url.clone();
                ui.result(&event)?;
                first = false;
            }
            Err(e) if *stop.borrow() => {
                ui.debug(format_args!("stopped during a build: {e:#}"));
                return Ok(());
            }
            Err(e) if !s.watching => return Err(e),
            Err(e) => {
                let mut event = s.event("build_failed", None);
                event.error = Some(error_text(&e));
                event.mcp_url = url.clone();
                ui.result(&event)?;
            }
        }
        if !s.watching {
            // Serve until stopped.
            let _ = stop.changed().await;
            return Ok(());
        }
        // Wait for a change (or the stop signal).
        loop {
            tokio::select! {
                _ = stop.changed() => return Ok(()),
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            let now = snapshot(package_dir);
            if now != seen {
                let changed = changed_files(&seen, &now);
                seen = now;
                ui.info(format_args!(
                    "changed: {}; rebuilding",
                    changed
                        .iter()
                        .map(|p| config::shown(p, package_dir).display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                break;
            }
        }
    }
}

impl Session {
    /// A `dev` event with the session's fixed fields.
    fn event(&self, event: &'static str, deployed: Option<&deploy::DeployResult>) -> DevEvent {
        DevEvent {
            event,
            mcp_url: deployed.and_then(|d| d.url.clone()),
            pid: deployed.and_then(|d| d.deployment_id.clone()),
            log: deployed.map(|_| format!("{LOCAL_DIR}/server.log")),
            authority_host: self.emu.authority_host(),
            tenant_id: self.emu.tenant_id(),
            client_id: self.emu.client_id(),
            checks_passed: 0,
            checks_failed: Vec::new(),
            token_fingerprint: None,
            token_file: None,
            token: None,
            error: None,
            watching: self.watching,
        }
    }

    /// Build and (re)start the server, get a token from the emulator, run the auth test checks.
    async fn start(&self, ctx: &Ctx, first: bool) -> anyhow::Result<DevEvent> {
        let secret = |name: &str| match name {
            pmcp_auth::env::ENTRA_CLIENT_SECRET | pmcp_auth::env::AZURE_CLIENT_SECRET => {
                Some(self.secret.secret().to_string())
            }
            other => std::env::var(other).ok(),
        };
        let deployed = deploy::deploy_local(
            ctx,
            &self.dir,
            &self.config.config,
            Some(&self.config),
            &self.deploy,
            &secret,
        )
        .await?;
        let mut event = self.event(if first { "ready" } else { "restarted" }, Some(&deployed));
        let url = deployed.url.clone().unwrap_or_default();
        // A token through the real grant (client credentials), then the checks `auth test
        // --server-url` runs, in-process.
        let token = match self.app_token().await {
            Ok(t) => t,
            Err(e) => {
                event.checks_failed.push("token".into());
                event.error = Some(format!("{e:#}"));
                return Ok(event);
            }
        };
        let token_path = self.dir.join(TOKEN_FILE);
        super::emulator::write_private(&token_path, token.secret())
            .with_context(|| format!("cannot write {TOKEN_FILE}"))?;
        event.token_fingerprint = Some(token.fingerprint());
        event.token_file = Some(TOKEN_FILE.into());
        if self.print_token {
            event.token = Some(token.secret().to_string());
        }
        let report = self.check(ctx, &token, &url).await?;
        event.checks_passed = report.checks.iter().filter(|c| c.ok).count();
        event.checks_failed = report
            .checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| c.name.clone())
            .collect();
        if let Some(e) = &report.error {
            if event.checks_failed.is_empty() {
                event
                    .checks_failed
                    .push(report.stage.map(|s| s.name()).unwrap_or("auth test").into());
            }
            event.error = Some(format!("{}; {}", e.message, e.hint));
        }
        Ok(event)
    }

    /// An app token for the API (client credentials with the session's secret).
    async fn app_token(&self) -> anyhow::Result<SecretString> {
        let client_id = self.emu.client_id();
        let scope = format!("api://{client_id}/.default");
        let body: serde_json::Value = reqwest::Client::new()
            .post(self.emu.token_endpoint())
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id.as_str()),
                ("client_secret", self.secret.secret()),
                ("scope", scope.as_str()),
            ])
            .send()
            .await
            .context("the emulator's token endpoint")?
            .json()
            .await
            .context("the emulator's token response")?;
        let token = body["access_token"]
            .as_str()
            .with_context(|| format!("the emulator issued no token: {body}"))?;
        github::add_mask(token);
        Ok(SecretString::new(token))
    }

    /// `auth test --token … --server-url URL --expect-role MCP.Service`, aimed at the emulator.
    async fn check(
        &self,
        ctx: &Ctx,
        token: &SecretString,
        url: &str,
    ) -> anyhow::Result<AuthTestReport> {
        #[derive(clap::Parser)]
        struct AuthTest {
            #[command(flatten)]
            args: TestArgs,
        }
        let (tenant, client, authority) = (
            self.emu.tenant_id(),
            self.emu.client_id(),
            self.emu.authority_host(),
        );
        let parsed = <AuthTest as clap::Parser>::try_parse_from([
            "auth-test",
            "--token",
            token.secret(),
            "--tenant-id",
            &tenant,
            "--client-id",
            &client,
            "--authority-host",
            &authority,
            "--server-url",
            url,
            "--expect-role",
            "MCP.Service",
        ])
        .context("auth test arguments")?;
        Ok(auth_test::check(&parsed.args, &quiet_ctx(ctx)).await)
    }
}

/// `ctx` without the "using … (source)" lines: each restart would repeat them.
fn quiet_ctx(ctx: &Ctx) -> Ctx {
    let mut quiet = ctx.clone();
    quiet.ui = Ui {
        quiet: true,
        json: false,
        ..ctx.ui.clone()
    };
    quiet
}

/// A failure's message and hint on one line.
fn error_text(e: &anyhow::Error) -> String {
    match e.downcast_ref::<Failure>() {
        Some(f) => match &f.hint {
            Some(h) => format!("{} ({h})", f.message),
            None => f.message.clone(),
        },
        None => format!("{e:#}"),
    }
}

fn random_secret() -> String {
    use base64::Engine;
    let bytes: [u8; 30] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Modification time and size of each watched file: `src/**`, `Cargo.toml`, `build.rs`.
pub fn snapshot(package_dir: &Path) -> BTreeMap<PathBuf, (SystemTime, u64)> {
    let mut out = BTreeMap::new();
    for name in ["Cargo.toml", "build.rs"] {
        let p = package_dir.join(name);
        if let Ok(m) = std::fs::metadata(&p) {
            out.insert(p, (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
        }
    }
    let mut stack = vec![package_dir.join("src")];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            let p = e.path();
            if ft.is_dir() {
                stack.push(p);
            } else if let Ok(m) = e.metadata() {
                out.insert(p, (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
            }
        }
    }
    out
}

fn changed_files(
    before: &BTreeMap<PathBuf, (SystemTime, u64)>,
    after: &BTreeMap<PathBuf, (SystemTime, u64)>,
) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = after
        .iter()
        .filter(|(p, v)| before.get(*p) != Some(v))
        .map(|(p, _)| p.clone())
        .collect();
    out.extend(before.keys().filter(|p| !after.contains_key(*p)).cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_touched_or_new_or_removed_file_is_a_change() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src/sub")).unwrap();
        std::fs::write(dir.path().join("Cargo.toml"), "[package]").unwrap();
        std::fs::write(dir.path().join("src/main.rs"), "fn main() {}").unwrap();
        let a = snapshot(dir.path());
        assert_eq!(a.len(), 2);
        std::fs::write(dir.path().join("src/sub/m.rs"), "").unwrap();
        let b = snapshot(dir.path());
        assert_eq!(changed_files(&a, &b), vec![dir.path().join("src/sub/m.rs")]);
        std::fs::remove_file(dir.path().join("src/main.rs")).unwrap();
        let c = snapshot(dir.path());
        assert_eq!(changed_files(&b, &c), vec![dir.path().join("src/main.rs")]);
        // A file outside src/ (target/, .pmcp/) is not watched.
        std::fs::create_dir_all(dir.path().join(".pmcp")).unwrap();
        std::fs::write(dir.path().join(".pmcp/x"), "").unwrap();
        assert_eq!(snapshot(dir.path()), c);
    }
}
