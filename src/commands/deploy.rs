//! `deploy`, `deploy destroy`, `deploy status`: resolve inputs (flag > env > deploy.toml > default,
//! through the shared [`Resolver`], each value not typed logged with its source), then config →
//! build → package → target (behind [`Target`]) → record → one result, printed as text or `--json`.

use super::Ctx;
use crate::cli::DeploySub;
use crate::config::inputs::{API_URL, BIN, PORT, SERVER_NAME, TARGET};
use crate::config::resolve::Resolver;
use crate::config::validate;
use crate::config::{self, DEPLOY_TOML, DeployConfig, TargetKind};
use crate::deploy::build::{self, BuildError, BuildOptions};
use crate::deploy::env::{self as denv, Secret, ServerEnv};
use crate::deploy::package::{self, Artifact, DeployManifest};
use crate::deploy::record::{self, Record};
use crate::deploy::targets::aws_lambda::{AwsLambda, AwsLambdaSettings};
use crate::deploy::targets::local::{Local, LocalSettings};
use crate::deploy::targets::pmcp_run::{self, PmcpRun, PmcpRunSettings, RetryPolicy};
use crate::deploy::targets::{
    DeployRequest, Deployed, Destroyed, OAuthEndpoints, StatusEntry, Target, TargetError,
};
use crate::exit::Exit;
use crate::ui::rfc3339;
use crate::ui::{Failure, Ui, github};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// `cargo pmcp deploy [FLAGS]` or `cargo pmcp deploy <init|destroy|status>`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DeployCommand {
    #[command(subcommand)]
    pub sub: Option<DeploySub>,
    #[command(flatten)]
    pub args: DeployArgs,
}

/// Build, package and push the server.
#[derive(Debug, Clone, clap::Args)]
pub struct DeployArgs {
    /// Where to deploy [env: PMCP_TARGET] (overrides `[target] type` in .pmcp/deploy.toml)
    /// [default: pmcp-run].
    #[arg(long, value_enum, value_name = "TARGET")]
    pub target: Option<TargetKind>,
    /// Print the plan (artifact, environment, secret names, target, URL) and change nothing remote.
    #[arg(long)]
    pub dry_run: bool,
    /// The binary to deploy when the package (or workspace) has several (overrides `[server] bin`).
    #[arg(long, value_name = "NAME")]
    pub bin: Option<String>,
    /// Build for this target triple (cargo's `--target`), e.g. x86_64-unknown-linux-musl.
    #[arg(long, value_name = "TRIPLE", env = "CARGO_BUILD_TARGET")]
    pub target_triple: Option<String>,
    /// cargo's target directory.
    #[arg(long, value_name = "DIR")]
    pub target_dir: Option<PathBuf>,
    /// cargo profile to build with (default: release).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// How long to wait for the deployment to be ready: `600`, `90s`, `10m`, `500ms`
    /// (default: 600s for pmcp-run, 300s for each aws-lambda update, 30s for local).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub wait_timeout: Option<Duration>,
    /// pmcp-run API base URL [env: PMCP_API_URL, PMCP_RUN_API_URL] (overrides `[target] api_url`)
    /// [default: https://api.pmcp.run].
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
    /// local: the port on 127.0.0.1 (default: a free one).
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Deploy to pmcp-run or aws-lambda even though the authority host (or OIDC issuer) is a
    /// loopback or plain-http address, such as the local Entra emulator's.
    #[arg(long)]
    pub allow_local_authority: bool,
    /// aws-lambda: the AWS region (overrides `[target] region`; default: AWS_REGION, then the
    /// profile's region).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Upload attempts in all (at least 3 recommended).
    #[arg(long, default_value_t = 4, hide = true)]
    pub retry_attempts: u32,
    /// First retry delay in milliseconds (doubles each retry, with jitter).
    #[arg(long, default_value_t = 500, hide = true)]
    pub retry_base_ms: u64,
    /// Time between deployment status polls in milliseconds.
    #[arg(long, default_value_t = 2000, hide = true)]
    pub poll_interval_ms: u64,
}

/// Stop and remove a deployment.
#[derive(Debug, Clone, clap::Args)]
pub struct DestroyArgs {
    /// Which target [env: PMCP_TARGET] (default: `[target] type` in .pmcp/deploy.toml, else
    /// pmcp-run).
    #[arg(long, value_enum, value_name = "TARGET")]
    pub target: Option<TargetKind>,
    /// pmcp-run API base URL (overrides PMCP_API_URL, PMCP_RUN_API_URL and `[target] api_url`).
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
    /// pmcp-run: how long to wait until the deployment is gone (default: 600s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub wait_timeout: Option<Duration>,
    /// pmcp-run: time between destroy status polls in milliseconds.
    #[arg(long, default_value_t = 5000, hide = true)]
    pub poll_interval_ms: u64,
    /// aws-lambda: the AWS region (overrides `[target] region`; default: AWS_REGION, then the
    /// profile's region).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// aws-lambda: also delete the execution role `cargo-pmcp-<server>`, when cargo-pmcp created
    /// it (a role given as `role_arn` is never deleted).
    #[arg(long)]
    pub delete_role: bool,
}

/// Show what runs where.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// Only this target (default: every target).
    #[arg(long, value_enum, value_name = "TARGET")]
    pub target: Option<TargetKind>,
    /// pmcp-run API base URL [env: PMCP_API_URL, PMCP_RUN_API_URL] (overrides `[target] api_url`)
    /// [default: https://api.pmcp.run].
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
    /// aws-lambda: the AWS region (overrides `[target] region`).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
}

/// Parse `600`, `600s`, `10m`, `500ms`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 600, 90s, 10m, 500ms)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (use ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("`{s}`: {e}"))
}

/// The artifact as shown in results.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactInfo {
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
}

/// What `deploy` did (or, with `--dry-run`, would do). Human text and `--json` come from it.
#[derive(Debug, Clone, Serialize)]
pub struct DeployResult {
    pub target: String,
    pub dry_run: bool,
    /// The MCP URL (with `--dry-run`: when it is known in advance, else null).
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth: Option<OAuthEndpoints>,
    pub artifact: ArtifactInfo,
    pub deployment_id: Option<String>,
    pub env_names: Vec<String>,
    pub secret_names: Vec<String>,
    /// `--dry-run` only: the non-secret values the server would get.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uploaded: Option<bool>,
    pub durations_ms: BTreeMap<String, u64>,
    /// `--dry-run` only: the remote calls a deploy would make, with their non-secret parameters
    /// (targets that list them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub api_calls: Vec<String>,
}

impl fmt::Display for DeployResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dry_run {
            writeln!(f, "Plan (dry run, nothing was deployed):")?;
            writeln!(f, "  target:    {}", self.target)?;
            writeln!(f, "  artifact:  {}", self.artifact.path.display())?;
            writeln!(f, "  size:      {} bytes", self.artifact.size)?;
            writeln!(f, "  sha256:    {}", self.artifact.sha256)?;
            match &self.url {
                Some(u) => writeln!(f, "  url:       {u}")?,
                None => writeln!(f, "  url:       assigned by {} when deployed", self.target)?,
            }
            writeln!(f, "  environment:")?;
            for (k, v) in self.environment.iter().flatten() {
                writeln!(f, "    {k}={v}")?;
            }
            if self.secret_names.is_empty() {
                writeln!(f, "  secrets:   (none)")?;
            } else {
                writeln!(f, "  secrets (values from the environment, never shown):")?;
                for n in &self.secret_names {
                    writeln!(f, "    {n}=********")?;
                }
            }
            if !self.api_calls.is_empty() {
                writeln!(f, "  API calls a deploy makes:")?;
                for c in &self.api_calls {
                    writeln!(f, "    {c}")?;
                }
            }
            return Ok(());
        }
        writeln!(f, "Deployed to {}.", self.target)?;
        if let Some(u) = &self.url {
            writeln!(f, "  MCP URL:   {u}")?;
        }
        if let Some(h) = &self.health_url {
            writeln!(f, "  health:    {h}")?;
        }
        if let Some(o) = &self.oauth {
            for (k, v) in [
                ("issuer", &o.issuer),
                ("authorize", &o.authorization_endpoint),
                ("token", &o.token_endpoint),
                ("register", &o.registration_endpoint),
            ] {
                if let Some(v) = v {
                    writeln!(f, "  {k:<10} {v}")?;
                }
            }
        }
        if let Some(id) = &self.deployment_id {
            writeln!(f, "  id:        {id}")?;
        }
        writeln!(
            f,
            "  artifact:  {} ({} bytes)",
            &self.artifact.sha256, self.artifact.size
        )?;
        if !self.secret_names.is_empty() {
            writeln!(
                f,
                "  secrets:   {} (values masked)",
                self.secret_names.join(", ")
            )?;
        }
        Ok(())
    }
}

/// `deploy status` output.
#[derive(Debug, Clone, Serialize)]
pub struct StatusResult {
    pub targets: Vec<StatusEntry>,
}

impl fmt::Display for StatusResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.targets {
            writeln!(f, "{}: {}", e.target, e.state)?;
            if let Some(u) = &e.url {
                writeln!(f, "  url:       {u}")?;
            }
            if let Some(id) = &e.deployment_id {
                writeln!(f, "  id:        {id}")?;
            }
            if let Some(s) = &e.artifact_sha256 {
                writeln!(f, "  artifact:  {s}")?;
            }
            if let Some(t) = &e.deployed_at {
                writeln!(f, "  since:     {t}")?;
            }
            if let Some(d) = &e.detail {
                writeln!(f, "  {d}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for DestroyedView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: {}", self.0.target, self.0.detail)
    }
}

#[derive(Serialize)]
#[serde(transparent)]
struct DestroyedView<'a>(&'a Destroyed);

/// The project directory (where `.pmcp/` lives): next to `--manifest-path`, else the nearest
/// directory at or above the current one with a Cargo.toml.
fn project_dir(ctx: &Ctx) -> anyhow::Result<PathBuf> {
    let cwd = std::env::current_dir()?;
    Ok(config::project_root(ctx.manifest_path.as_deref(), &cwd))
}

/// deploy.toml as messages show it: relative to the current directory when below it.
fn deploy_toml_path(dir: &Path) -> PathBuf {
    let path = dir.join(DEPLOY_TOML);
    match std::env::current_dir() {
        Ok(cwd) => config::shown(&path, &cwd),
        Err(_) => path,
    }
}

/// deploy.toml read with its unknown-key warnings (each printed), or the defaults when absent.
fn load_config(ui: &Ui, dir: &Path) -> Result<(DeployConfig, Option<config::Loaded>), Failure> {
    let path = deploy_toml_path(dir);
    match config::load_with_warnings(&path).map_err(Failure::from)? {
        Some(loaded) => {
            for w in &loaded.warnings {
                ui.warn(w);
            }
            Ok((loaded.config.clone(), Some(loaded)))
        }
        None => {
            ui.info(format_args!(
                "no {DEPLOY_TOML} found: using defaults (auth off); `cargo pmcp deploy init` writes one"
            ));
            Ok((DeployConfig::default(), None))
        }
    }
}

/// An env-contract error as a config failure, pointing at the key (or its table) in deploy.toml.
fn env_failure(e: denv::EnvError, loaded: Option<&config::Loaded>) -> Failure {
    let key = match &e {
        denv::EnvError::Missing { key, .. } | denv::EnvError::Invalid { key, .. } => Some(*key),
        denv::EnvError::Reserved { section, .. } | denv::EnvError::BadName { section, .. } => {
            Some(if section.starts_with("[secrets]") {
                "secrets"
            } else {
                "environment"
            })
        }
        _ => None,
    };
    let key = match &e {
        // Point at the key itself: `.pmcp/deploy.toml:LINE` of `NAME = …`.
        denv::EnvError::SecretInEnvironment { name } => Some(format!("environment.{name}")),
        _ => key.map(str::to_string),
    };
    let at = key.zip(loaded).and_then(|(key, l)| {
        let keys: Vec<&str> = key.split('.').collect();
        (1..=keys.len()).rev().find_map(|n| l.locate(&keys[..n]))
    });
    let message = match at {
        Some(loc) => format!("{loc}: {e}"),
        None => e.to_string(),
    };
    Failure::usage(message).with_hint(match e {
        denv::EnvError::MissingSecrets { .. } => "export each secret before deploying (in CI, from the secret store), or remove it from [secrets] required".to_string(),
        denv::EnvError::SecretInEnvironment { name } => format!(
            "remove {name} from [environment], list it in [secrets] required = [\"{name}\"] and export it when deploying (in CI, from the secret store)"
        ),
        _ => format!("edit {DEPLOY_TOML} (`cargo pmcp deploy init` can write the [auth] settings)"),
    })
}

fn target_failure(e: TargetError) -> Failure {
    let hint = e.hint().map(str::to_string);
    let f = Failure::new(e.exit(), e.to_string());
    match hint {
        Some(h) => f.with_hint(h),
        None => f,
    }
}

/// The CLI's own credentials (pmcp.run's and the Entra client secret): like the declared secrets,
/// they are removed from `cargo build`'s environment, so no build script or `option_env!` can bake
/// them into the artifact.
const CREDENTIAL_VARS: [&str; 5] = [
    "PMCP_ACCESS_TOKEN",
    "PMCP_ID_TOKEN",
    "PMCP_CLIENT_SECRET",
    pmcp_auth::env::ENTRA_CLIENT_SECRET,
    pmcp_auth::env::AZURE_CLIENT_SECRET,
];

/// `deploy`'s inputs, resolved before anything is built.
#[derive(Debug, Clone)]
struct Inputs {
    target: TargetKind,
    /// pmcp-run only.
    api_url: Option<String>,
    bin: Option<String>,
    port: Option<u16>,
}

impl Inputs {
    /// Flag > env > deploy.toml > default, each value not typed logged; every invalid value is
    /// reported at once (exit 2).
    fn resolve(args: &DeployArgs, r: &mut Resolver) -> Result<Self, Failure> {
        let target = target(r, args.target);
        let api_url = (target == TargetKind::PmcpRun).then(|| api_url(r, args.api_url.as_deref()));
        let bin = r.input(&BIN).flag(args.bin.as_deref()).optional().get();
        let port_flag = args.port.map(|p| p.to_string());
        let port = r
            .input(&PORT)
            .flag(port_flag.as_deref())
            .optional()
            .parse(|v| v.parse::<u16>().map_err(|e| e.to_string()));
        r.check().map_err(|p| {
            Failure::usage(p.to_string())
                .with_hint("fix the value (see `cargo pmcp deploy --help`); nothing was built")
        })?;
        Ok(Self {
            target,
            api_url: api_url.flatten(),
            bin,
            port,
        })
    }
}

/// `--target` > `PMCP_TARGET` > `[target] type` > pmcp-run. An invalid variable is recorded in
/// `r` (reported by `check`) and pmcp-run stands in until then.
fn target(r: &mut Resolver, flag: Option<TargetKind>) -> TargetKind {
    r.input(&TARGET)
        .flag(flag.map(TargetKind::as_str))
        .default(TargetKind::PmcpRun.as_str(), "hosted pmcp.run")
        .parse(|v| v.parse::<TargetKind>())
        .unwrap_or(TargetKind::PmcpRun)
}

/// `--api-url` > `PMCP_RUN_API_URL` > `[target] api_url` > the public service. A blank flag
/// counts as not given.
fn api_url(r: &mut Resolver, flag: Option<&str>) -> Option<String> {
    r.input(&API_URL)
        .flag(flag.filter(|u| !u.trim().is_empty()))
        .default(pmcp_run::DEFAULT_API_URL, "pmcp.run")
        .get()
}

/// The pmcp-run settings: the base URL resolved with the other inputs (and logged there), then
/// credentials in the service's order (no network yet).
fn pmcp_run_settings(
    api_url: Option<&str>,
    config: &DeployConfig,
) -> Result<PmcpRunSettings, Failure> {
    PmcpRunSettings::resolve(api_url, config).map_err(target_failure)
}

/// Run `deploy`.
pub async fn run(args: DeployArgs, ctx: &Ctx) -> anyhow::Result<()> {
    run_inner(&args, ctx).await
}

/// The server crate's Cargo.toml must exist before anything else is said or done: without it
/// there is nothing to build, and every later message would mislead (exit 2, with the cause).
pub fn check_manifest(ctx: &Ctx) -> Result<(), Failure> {
    let cwd = std::env::current_dir().map_err(|e| {
        Failure::new(
            Exit::Unexpected,
            format!("cannot read the current directory: {e}"),
        )
    })?;
    match &ctx.manifest_path {
        Some(m) if m.is_dir() && m.join("Cargo.toml").is_file() => Err(Failure::usage(format!(
            "--manifest-path {}: a directory, not a Cargo.toml",
            m.display()
        ))
        .with_hint(format!(
            "pass the file: --manifest-path {}",
            m.join("Cargo.toml").display()
        ))),
        Some(m) if !m.is_file() => {
            let hint = if m.file_name().is_some_and(|n| n != "Cargo.toml") {
                "--manifest-path takes the path of the server's Cargo.toml, e.g. --manifest-path server/Cargo.toml".to_string()
            } else {
                format!(
                    "check the path (relative to {}), or leave --manifest-path out to use the Cargo.toml in the current directory or above",
                    cwd.display()
                )
            };
            Err(
                Failure::usage(format!("--manifest-path {}: no such file", m.display()))
                    .with_hint(hint),
            )
        }
        Some(_) => Ok(()),
        None if cwd.ancestors().any(|d| d.join("Cargo.toml").is_file()) => Ok(()),
        None => Err(Failure::usage(format!(
            "no Cargo.toml in {} or any directory above: there is no server crate to build",
            cwd.display()
        ))
        .with_hint(
            "run this in your MCP server's crate (the directory with its Cargo.toml), or pass --manifest-path <path/to/Cargo.toml>",
        )),
    }
}

async fn run_inner(args: &DeployArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let ui = &ctx.ui;
    check_manifest(ctx)?;
    let dir = project_dir(ctx)?;
    let (config, loaded) = load_config(ui, &dir)?;
    let inputs = Inputs::resolve(args, &mut Resolver::for_ui(ui, loaded.as_ref()))?;
    let kind = inputs.target;
    // The one validation of deploy.toml every verb runs (dry run included).
    if let Some(l) = &loaded {
        let check = validate::check_config(l, Some(kind), args.allow_local_authority);
        for w in &check.warnings {
            ui.warn(w);
        }
        check.into_result()?;
    }
    // Each target builds its settings; the deploy itself and its report are the same for all.
    let result = match kind {
        TargetKind::PmcpRun => {
            let mut s = pmcp_run_settings(inputs.api_url.as_deref(), &config)?;
            s.retry = RetryPolicy {
                attempts: args.retry_attempts.max(1),
                base: Duration::from_millis(args.retry_base_ms),
                max: Duration::from_secs(10).max(Duration::from_millis(args.retry_base_ms)),
            };
            s.poll_interval = Duration::from_millis(args.poll_interval_ms.max(1));
            if let Some(t) = args.wait_timeout {
                s.wait_timeout = t;
            }
            deploy_to(
                PmcpRun::new(s),
                args,
                &inputs,
                ctx,
                &dir,
                &config,
                loaded.as_ref(),
                &env_var,
            )
            .await?
        }
        TargetKind::Local => {
            let mut s = LocalSettings {
                port: inputs.port,
                ..LocalSettings::default()
            };
            if let Some(t) = args.wait_timeout {
                s.ready_timeout = t;
            }
            deploy_to(
                Local::new(s),
                args,
                &inputs,
                ctx,
                &dir,
                &config,
                loaded.as_ref(),
                &env_var,
            )
            .await?
        }
        TargetKind::AwsLambda => {
            // The function name is the server name, known once the package is located; the
            // target takes it from the request (see `AwsLambda::deploy`).
            let s = lambda_settings(String::new(), args.region.as_deref(), &config, args)?;
            deploy_to(
                AwsLambda::new(s),
                args,
                &inputs,
                ctx,
                &dir,
                &config,
                loaded.as_ref(),
                &env_var,
            )
            .await?
        }
    };
    Ok(ui.result(&result)?)
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// What `cargo pmcp dev` deploys to the local target each time the sources change.
#[derive(Debug, Clone, Default)]
pub struct LocalDeploy {
    pub bin: Option<String>,
    pub port: Option<u16>,
    pub profile: Option<String>,
    pub target_dir: Option<PathBuf>,
    pub wait_timeout: Option<Duration>,
    /// Cancels a running `cargo build` (its process group is killed).
    pub cancel: Option<build::BuildCancel>,
}

/// Build, package and run the server on the local target with `config` (already loaded and
/// checked), `secret` giving the declared secrets' values: `deploy --target local` without
/// reading deploy.toml or printing the result.
pub async fn deploy_local(
    ctx: &Ctx,
    dir: &Path,
    config: &DeployConfig,
    loaded: Option<&config::Loaded>,
    opts: &LocalDeploy,
    secret: &(dyn Fn(&str) -> Option<String> + Sync),
) -> anyhow::Result<DeployResult> {
    let args = DeployArgs {
        target: Some(TargetKind::Local),
        dry_run: false,
        bin: opts.bin.clone(),
        target_triple: None,
        target_dir: opts.target_dir.clone(),
        profile: opts.profile.clone(),
        wait_timeout: opts.wait_timeout,
        api_url: None,
        port: opts.port,
        allow_local_authority: false,
        region: None,
        retry_attempts: 1,
        retry_base_ms: 0,
        poll_interval_ms: 1000,
    };
    let inputs = Inputs {
        target: TargetKind::Local,
        api_url: None,
        bin: opts.bin.clone().or_else(|| config.server.bin.clone()),
        port: opts.port,
    };
    let mut s = LocalSettings {
        port: opts.port,
        ..LocalSettings::default()
    };
    if let Some(t) = opts.wait_timeout {
        s.ready_timeout = t;
    }
    let mut ctx = ctx.clone();
    ctx.build_cancel = opts.cancel.clone();
    deploy_to(
        Local::new(s),
        &args,
        &inputs,
        &ctx,
        dir,
        config,
        loaded,
        secret,
    )
    .await
}

/// The aws-lambda settings: `--region` > `[target] region` (> the SDK's chain); memory and timeout
/// from `[target]`, else `[server]`; the waits and retries from the flags.
fn lambda_settings(
    function_name: String,
    region: Option<&str>,
    config: &DeployConfig,
    args: &DeployArgs,
) -> Result<AwsLambdaSettings, Failure> {
    let mut s = lambda_base_settings(function_name, region, config)?;
    if let Some(t) = args.wait_timeout {
        s.wait_timeout = t;
    }
    s.max_attempts = args.retry_attempts.max(1);
    s.initial_backoff = Duration::from_millis(args.retry_base_ms);
    s.poll_interval = Duration::from_millis(args.poll_interval_ms.clamp(1, 1000));
    Ok(s)
}

fn lambda_base_settings(
    function_name: String,
    region: Option<&str>,
    config: &DeployConfig,
) -> Result<AwsLambdaSettings, Failure> {
    let t = &config.target;
    let mut s = AwsLambdaSettings::new(function_name);
    s.region = match region.filter(|r| !r.trim().is_empty()) {
        Some(r) => Some(
            config::validate::validate_region(r)
                .map_err(|why| Failure::usage(format!("--region {r}: {why}")))?,
        ),
        None => t.region.clone(),
    };
    s.role_arn = t.role_arn.clone();
    s.memory_mb = t.memory_mb.unwrap_or(config.server.memory_mb);
    s.timeout_seconds = t.timeout_seconds.unwrap_or(config.server.timeout_seconds);
    config::validate::validate_memory_mb(s.memory_mb)
        .map_err(|why| Failure::usage(format!("memory_mb = {}: {why}", s.memory_mb)))?;
    config::validate::validate_timeout_seconds(s.timeout_seconds)
        .map_err(|why| Failure::usage(format!("timeout_seconds = {}: {why}", s.timeout_seconds)))?;
    Ok(s)
}

/// The function name for destroy and status: the recorded function (its ARN), else the server
/// name as deploy derives it (`[server] name`, else the package name as a DNS label).
fn lambda_function_name(dir: &Path, config: &DeployConfig) -> Option<String> {
    if let Ok(Some(r)) = record::read(dir, TargetKind::AwsLambda)
        && let Some(arn) = r.deployment_id
        && let Some(name) = arn.rsplit(':').next().filter(|n| !n.is_empty())
    {
        return Some(name.to_string());
    }
    pmcp_run::project_name(dir, config).map(|n| n.to_ascii_lowercase().replace('_', "-"))
}

/// The triple to build for: `--target-triple` (or `CARGO_BUILD_TARGET`) > `[target] triple` >
/// for aws-lambda, `[target] architecture` as `<arch>-unknown-linux-gnu`; `None`: the host. With
/// cargo-zigbuild installed, an aws-lambda build for a `*-linux-gnu` triple (the host's when none
/// is given and the host is Linux) links against glibc 2.34, Lambda's (`<triple>.2.34`).
fn build_triple(
    kind: TargetKind,
    flag: Option<&str>,
    config: &DeployConfig,
    zigbuild_installed: bool,
) -> (Option<String>, bool) {
    let mut triple = flag
        .map(str::to_string)
        .or_else(|| config.target.triple.clone());
    if kind != TargetKind::AwsLambda {
        return (triple, false);
    }
    if triple.is_none()
        && let Some(a) = config.target.architecture
    {
        triple = Some(format!("{}-unknown-linux-gnu", a.triple_arch()));
    }
    if !zigbuild_installed {
        return (triple, false);
    }
    let base = match triple {
        Some(t) => t,
        None => match build::host_triple() {
            Ok(h) => h,
            Err(_) => return (None, false),
        },
    };
    if base.ends_with("-linux-gnu") {
        (Some(format!("{base}.2.34")), true)
    } else {
        // `x86_64-unknown-linux-gnu.2.34` is already a cargo-zigbuild glibc target.
        let zig = base.contains("-linux-gnu.");
        (Some(base), zig)
    }
}

/// Whether `cargo zigbuild` can run (cargo-zigbuild on PATH; PMCP_NO_ZIGBUILD=1 turns it off).
fn zigbuild_installed() -> bool {
    if std::env::var_os("PMCP_NO_ZIGBUILD").is_some_and(|v| v != "0" && !v.is_empty()) {
        return false;
    }
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|d| d.join("cargo-zigbuild").is_file())
}

#[allow(clippy::too_many_arguments)]
async fn deploy_to<T: Target>(
    target: T,
    args: &DeployArgs,
    inputs: &Inputs,
    ctx: &Ctx,
    dir: &Path,
    config: &DeployConfig,
    loaded: Option<&config::Loaded>,
    secret: &(dyn Fn(&str) -> Option<String> + Sync),
) -> anyhow::Result<DeployResult> {
    let ui = &ctx.ui;
    let total = Instant::now();
    let kind = target.kind();
    // 1. Everything that can be checked without building: env, secrets, target settings.
    let env: ServerEnv = denv::server_env(config).map_err(|e| env_failure(e, loaded))?;
    for note in &env.notes {
        ui.info(format_args!("note: {note}"));
    }
    let secrets: Vec<Secret> = denv::resolve_secrets(&config.secrets.required, secret)
        .map_err(|e| env_failure(e, loaded))?;
    for s in &secrets {
        github::add_mask(s.value.secret());
    }
    let secret_names: Vec<String> = secrets.iter().map(|s| s.name.clone()).collect();
    if let Err(e) = target.preflight() {
        if args.dry_run {
            ui.warn(format_args!("a real deploy would stop here: {e}"));
        } else {
            return Err(target_failure(e).into());
        }
    }

    // 2. Build.
    let mut progress = ui.progress();
    let (triple, zigbuild) = build_triple(
        kind,
        args.target_triple.as_deref(),
        config,
        kind == TargetKind::AwsLambda && zigbuild_installed(),
    );
    let opts = BuildOptions {
        zigbuild,
        manifest_path: ctx.manifest_path.clone(),
        bin: inputs.bin.clone(),
        target: triple,
        target_dir: args.target_dir.clone(),
        profile: args.profile.clone(),
        cwd: std::env::current_dir()?,
        scrub_env: secret_names
            .iter()
            .cloned()
            .chain(CREDENTIAL_VARS.map(String::from))
            .collect(),
        cancel: ctx.build_cancel.clone(),
    };
    let t_build = Instant::now();
    let o = opts.clone();
    let spec = tokio::task::spawn_blocking(move || build::locate(&o))
        .await?
        .map_err(build_failure)?;
    // The name becomes a file name (the artifact) and a host name: whatever its source (deploy.toml
    // was checked when loaded; PMCP_SERVER_NAME and the package name are checked here), it is a
    // DNS label. The package name is mapped as `deploy init` maps it (`My_Server` → `my-server`).
    let mut names = Resolver::for_ui(ui, loaded);
    let name = names
        .input(&SERVER_NAME)
        .default(
            spec.package.to_ascii_lowercase().replace('_', "-"),
            format!("package `{}` in Cargo.toml", spec.package),
        )
        .parse(config::validate_server_name);
    names.check().map_err(|p| {
        Failure::usage(p.to_string()).with_hint(
            "set `name` in [server] of .pmcp/deploy.toml (lowercase letters, digits, hyphens)",
        )
    })?;
    let name = name.expect("checked above");
    progress.step(&format!(
        "building {} ({} {}, {})",
        spec.bin,
        spec.package,
        spec.version,
        opts.profile.as_deref().unwrap_or("release")
    ));
    ui.debug(format_args!(
        "cargo {}",
        build::build_args(&spec, &opts).join(" ")
    ));
    let (s2, o2) = (spec.clone(), opts.clone());
    let built = match tokio::task::spawn_blocking(move || build::build(&s2, &o2)).await? {
        Ok(b) => b,
        Err(e) => {
            progress.clear();
            return Err(build_failure(e).into());
        }
    };
    let build_ms = t_build.elapsed().as_millis() as u64;
    progress.done(&format!(
        "built {} for {}{} in {:.1}s",
        spec.bin,
        built.target_triple,
        if opts.zigbuild {
            " with cargo zigbuild (glibc 2.34)"
        } else {
            ""
        },
        build_ms as f64 / 1000.0
    ));
    match target.check_binary(&built.executable, &built.target_triple) {
        Ok(Some(line)) => progress.done(&line),
        Ok(None) => {}
        Err(e) => {
            progress.clear();
            return Err(target_failure(e).into());
        }
    }

    if let Some(warning) = runtime_mismatch(kind, &built.target_triple) {
        ui.warn(warning);
    }

    // 3. Package.
    let t_pkg = Instant::now();
    progress.step("packaging");
    let out = package::artifact_path(&spec.target_directory, &built.target_triple, &name).map_err(
        |why| {
            progress.clear();
            Failure::usage(why)
        },
    )?;
    let manifest = DeployManifest {
        format: 1,
        name: name.clone(),
        version: spec.version.clone(),
        bin: spec.bin.clone(),
        target: built.target_triple.clone(),
        binary_sha256: String::new(),
        binary_size: 0,
        env_names: env.names(),
        secret_names: secret_names.clone(),
    };
    let exe = built.executable.clone();
    let out2 = out.clone();
    let artifact: Artifact =
        tokio::task::spawn_blocking(move || package::package(&exe, manifest, &out2))
            .await?
            .map_err(|e| {
                progress.clear();
                Failure::new(
                    Exit::Unexpected,
                    format!("cannot write {}: {e}", out.display()),
                )
            })?;
    let pkg_ms = t_pkg.elapsed().as_millis() as u64;
    progress.done(&format!(
        "packaged {} ({} bytes, sha256 {})",
        artifact.path.display(),
        artifact.size,
        &artifact.sha256[..12]
    ));
    let mut durations = BTreeMap::from([
        ("build".to_string(), build_ms),
        ("package".to_string(), pkg_ms),
    ]);
    let artifact_info = ArtifactInfo {
        path: artifact.path.clone(),
        sha256: artifact.sha256.clone(),
        size: artifact.size,
    };

    // 4. Push (or, with --dry-run, list what would be pushed).
    let req = DeployRequest {
        project_dir: dir,
        name: &name,
        version: &spec.version,
        artifact: &artifact,
        binary: &built.executable,
        target_triple: &built.target_triple,
        env: &env,
        secrets: &secrets,
        config,
    };
    if args.dry_run {
        progress.clear();
        durations.insert("total".into(), total.elapsed().as_millis() as u64);
        let result = DeployResult {
            api_calls: target.plan(&req),
            target: kind.to_string(),
            dry_run: true,
            url: target.expected_url(&name),
            health_url: None,
            oauth: None,
            artifact: artifact_info,
            deployment_id: None,
            env_names: env.names(),
            secret_names,
            environment: Some(env.vars.clone()),
            uploaded: None,
            durations_ms: durations,
        };
        return Ok(result);
    }

    let deployed: Deployed = match target.deploy(&req, &mut progress).await {
        Ok(d) => d,
        Err(e) => {
            progress.clear();
            return Err(target_failure(e).into());
        }
    };
    progress.clear();
    for w in &deployed.warnings {
        ui.warn(w);
    }
    durations.extend(deployed.durations_ms.clone());
    durations.insert("total".into(), total.elapsed().as_millis() as u64);

    // 5. Record and report.
    let rec = Record {
        deployment_id: deployed.deployment_id.clone(),
        url: deployed.url.clone(),
        health_url: deployed.health_url.clone(),
        artifact_sha256: artifact.sha256.clone(),
        deployed_at: rfc3339(SystemTime::now()),
    };
    if let Err(e) = record::write(dir, kind, &rec) {
        ui.warn(format_args!(
            "deployed, but the record was not written: {e}"
        ));
    }
    let result = DeployResult {
        target: kind.to_string(),
        dry_run: false,
        url: Some(deployed.url),
        health_url: deployed.health_url,
        oauth: deployed.oauth,
        artifact: artifact_info,
        deployment_id: deployed.deployment_id,
        env_names: env.names(),
        secret_names,
        environment: None,
        uploaded: Some(deployed.uploaded),
        durations_ms: durations,
        api_calls: Vec::new(),
    };
    let _ = github::append_summary(&format!(
        "### `{name}` deployed to {kind}\n\n- MCP URL: {}\n- artifact sha256: `{}`\n",
        result.url.as_deref().unwrap_or_default(),
        result.artifact.sha256
    ));
    Ok(result)
}

/// A build error as the failure users see (exit 3 for a compile error, 2 for a setup error).
pub fn build_failure(e: BuildError) -> Failure {
    match e {
        BuildError::CargoFailed { status, output } => {
            // cargo's own output, in full, so the user sees the compiler errors.
            eprint!("{output}");
            if !output.ends_with('\n') {
                eprintln!();
            }
            Failure::new(Exit::BuildFailed, format!("cargo build failed ({status})"))
                .with_hint("fix the errors above; nothing was deployed")
        }
        e @ (BuildError::Ambiguous { .. } | BuildError::UnknownBin { .. }) => {
            Failure::usage(e.to_string())
                .with_hint("choose one with --bin <NAME> or `bin` in [server] of .pmcp/deploy.toml")
        }
        e @ BuildError::NoBinary { .. } => Failure::usage(e.to_string()).with_hint(
            "deploy a package with a [[bin]] target (src/main.rs), or pass --manifest-path",
        ),
        // A Cargo.toml cargo cannot read is a setup error, not a failed build.
        e @ BuildError::Metadata(_) => Failure::usage(e.to_string())
            .with_hint("fix the Cargo.toml cargo names above (`cargo metadata` reads it)"),
        e => Failure::new(Exit::BuildFailed, e.to_string()),
    }
}

/// Run `deploy destroy`.
pub async fn destroy(args: DestroyArgs, ctx: &Ctx) -> anyhow::Result<()> {
    destroy_inner(args, ctx).await
}

async fn destroy_inner(args: DestroyArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let ui = &ctx.ui;
    let dir = project_dir(ctx)?;
    // deploy.toml is read only when the flag does not say which target.
    let loaded = match args.target {
        Some(_) => None,
        None => load_config(ui, &dir)?.1,
    };
    let mut r = Resolver::for_ui(ui, loaded.as_ref());
    let kind = target(&mut r, args.target);
    r.check().map_err(|p| Failure::usage(p.to_string()))?;
    let result = match kind {
        TargetKind::Local => Local::default().destroy(&dir).await,
        TargetKind::PmcpRun => {
            let loaded =
                config::load_with_warnings(&dir.join(DEPLOY_TOML)).map_err(Failure::from)?;
            let config = loaded
                .as_ref()
                .map(|l| l.config.clone())
                .unwrap_or_default();
            let mut r = Resolver::for_ui(ui, loaded.as_ref());
            let api = api_url(&mut r, args.api_url.as_deref());
            let mut s = pmcp_run_settings(api.as_deref(), &config)?;
            s.server_name = pmcp_run::project_name(&dir, &config);
            s.destroy_poll_interval = Duration::from_millis(args.poll_interval_ms.max(1));
            if let Some(t) = args.wait_timeout {
                s.wait_timeout = t;
            }
            let target = PmcpRun::new(s);
            target.preflight().map_err(target_failure)?;
            target.destroy(&dir).await
        }
        TargetKind::AwsLambda => {
            let loaded =
                config::load_with_warnings(&dir.join(DEPLOY_TOML)).map_err(Failure::from)?;
            let config = loaded
                .as_ref()
                .map(|l| l.config.clone())
                .unwrap_or_default();
            let name = lambda_function_name(&dir, &config).ok_or_else(|| {
                Failure::usage("cannot tell which function to remove: no server name")
                    .with_hint("set `name` in [server] of .pmcp/deploy.toml")
            })?;
            let mut s = lambda_base_settings(name, args.region.as_deref(), &config)?;
            s.delete_role = args.delete_role;
            if let Some(t) = args.wait_timeout {
                s.wait_timeout = t;
            }
            let target = AwsLambda::new(s);
            target.preflight().map_err(target_failure)?;
            target.destroy(&dir).await
        }
    }
    .map_err(target_failure)?;
    ui.result(&DestroyedView(&result))?;
    Ok(())
}

/// Run `deploy status`.
pub async fn status(args: StatusArgs, ctx: &Ctx) -> anyhow::Result<()> {
    status_inner(args, ctx).await
}

async fn status_inner(args: StatusArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let ui = &ctx.ui;
    let dir = project_dir(ctx)?;
    // Read quietly: status reports, it does not lint the file.
    let loaded = config::load_with_warnings(&deploy_toml_path(&dir)).map_err(Failure::from)?;
    let config = loaded
        .as_ref()
        .map(|l| l.config.clone())
        .unwrap_or_default();
    let kinds = match args.target {
        Some(k) => vec![k],
        // aws-lambda is asked (an AWS call) only when the project uses it or deployed there.
        None if config.target.kind == TargetKind::AwsLambda
            || matches!(record::read(&dir, TargetKind::AwsLambda), Ok(Some(_))) =>
        {
            vec![
                TargetKind::PmcpRun,
                TargetKind::AwsLambda,
                TargetKind::Local,
            ]
        }
        None => vec![TargetKind::PmcpRun, TargetKind::Local],
    };
    let mut targets = Vec::new();
    for kind in kinds {
        let entry = match kind {
            TargetKind::Local => Local::default()
                .status(&dir)
                .await
                .map_err(|e| e.to_string()),
            TargetKind::PmcpRun => {
                let mut r = Resolver::for_ui(ui, loaded.as_ref());
                let api = api_url(&mut r, args.api_url.as_deref());
                match PmcpRunSettings::resolve(api.as_deref(), &config) {
                    Ok(mut s) => {
                        s.server_name = pmcp_run::project_name(&dir, &config);
                        PmcpRun::new(s)
                            .status(&dir)
                            .await
                            .map_err(|e| e.to_string())
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
            TargetKind::AwsLambda => match lambda_function_name(&dir, &config) {
                Some(name) => match lambda_base_settings(name, args.region.as_deref(), &config) {
                    Ok(s) => AwsLambda::new(s)
                        .status(&dir)
                        .await
                        .map_err(|e| match e.hint() {
                            Some(h) => format!("{e} ({h})"),
                            None => e.to_string(),
                        }),
                    Err(f) => Err(f.to_string()),
                },
                None => Err("no server name: set `name` in [server] of .pmcp/deploy.toml".into()),
            },
        };
        match entry {
            Ok(e) => targets.push(e),
            // One unreachable or misconfigured target must not hide the others.
            Err(detail) => targets.push(StatusEntry {
                target: kind.to_string(),
                state: "unknown".into(),
                detail: Some(detail),
                ..Default::default()
            }),
        }
    }
    Ok(ui.result(&StatusResult { targets })?)
}

/// pmcp-run runs the artifact on Linux (`provided.al2023`): a binary built for another OS (the
/// host's triple on a Mac, say) would not start there. The build is not refused, since a team may
/// know better, but the mismatch is said before anything is uploaded.
fn runtime_mismatch(kind: TargetKind, triple: &str) -> Option<String> {
    if kind == TargetKind::PmcpRun && !triple.contains("-linux-") {
        Some(format!(
            "pmcp-run runs servers on Linux ({}), but this binary is built for {triple}; \
             build for Linux with --target-triple x86_64-unknown-linux-gnu (or \
             aarch64-unknown-linux-gnu), e.g. with `cargo zigbuild` or `cross` installed",
            pmcp_run::RUNTIME
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pmcp_run_warns_about_a_non_linux_binary() {
        let w = runtime_mismatch(TargetKind::PmcpRun, "aarch64-apple-darwin").unwrap();
        assert!(
            w.contains("provided.al2023") && w.contains("aarch64-apple-darwin"),
            "{w}"
        );
        assert!(runtime_mismatch(TargetKind::PmcpRun, "x86_64-unknown-linux-gnu").is_none());
        assert!(runtime_mismatch(TargetKind::PmcpRun, "aarch64-unknown-linux-musl").is_none());
        assert!(runtime_mismatch(TargetKind::Local, "aarch64-apple-darwin").is_none());
    }

    #[test]
    fn the_build_triple_comes_from_the_flag_the_file_or_the_architecture() {
        let mut c = DeployConfig::default();
        assert_eq!(
            build_triple(TargetKind::AwsLambda, None, &c, false),
            (None, false)
        );
        c.target.architecture = Some(crate::config::Architecture::Arm64);
        assert_eq!(
            build_triple(TargetKind::AwsLambda, None, &c, false),
            (Some("aarch64-unknown-linux-gnu".into()), false)
        );
        // With cargo-zigbuild, a glibc triple gets Lambda's glibc; musl stays as it is.
        assert_eq!(
            build_triple(TargetKind::AwsLambda, None, &c, true),
            (Some("aarch64-unknown-linux-gnu.2.34".into()), true)
        );
        c.target.triple = Some("x86_64-unknown-linux-musl".into());
        assert_eq!(
            build_triple(TargetKind::AwsLambda, None, &c, true),
            (Some("x86_64-unknown-linux-musl".into()), false)
        );
        assert_eq!(
            build_triple(
                TargetKind::AwsLambda,
                Some("x86_64-unknown-linux-gnu"),
                &c,
                false
            ),
            (Some("x86_64-unknown-linux-gnu".into()), false)
        );
        // Other targets never use zigbuild or the architecture.
        c.target.triple = None;
        assert_eq!(
            build_triple(TargetKind::Local, None, &c, true),
            (None, false)
        );
        assert_eq!(
            crate::deploy::build::strip_glibc_suffix("x86_64-unknown-linux-gnu.2.34"),
            "x86_64-unknown-linux-gnu"
        );
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("600").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5y").is_err());
    }
}
