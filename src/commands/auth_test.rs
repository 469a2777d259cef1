//! `cargo pmcp auth test`: get a token (or take one), check it with the shared validator — the code
//! the deployed server runs — check the expectations, and optionally the server end to end.
//!
//! Stages and exit codes: `config` 2, `acquire` 3, `validate` 4, `expect` 5, `server` 6.
//! Human output on stderr, `--json` one object on stdout, GitHub Actions masks/annotations/summary.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Map, Value};

use super::Ctx;
use crate::config::{self, DeployConfig, Provider};
use crate::exit::Exit;
use crate::explain;
use crate::ui::{Failure, Ui, github};
use pmcp_auth::client::{
    AccessToken, AssertionAlgorithm, AssertionSource, Certificate, ClientCredential,
    ClientCredentialsRequest, CredentialError, GitHubOidc, TokenClient,
};
use pmcp_auth::entra::{self, Cloud, EntraConfig};
use pmcp_auth::{
    AuthContext, AuthError, EntraClaims, GroupPermissionMapper, JwtValidator, JwtValidatorConfig,
    SecretString, dangerous, env,
};

/// Fetch a token and check it with the shared validator (the code the server runs).
///
/// Inputs come from flags, then environment variables, then .pmcp/deploy.toml; flags and env vars
/// alone are enough. Exit codes: 0 ok, 2 usage/config, 3 token acquisition failed, 4 token invalid,
/// 5 an expectation not met, 6 server check failed.
#[derive(Debug, Clone, clap::Args)]
pub struct TestArgs {
    /// Check this token instead of acquiring one: the JWT itself, `@FILE`, or `-` for stdin.
    #[arg(long, value_name = "JWT|@FILE|-")]
    pub token: Option<String>,

    /// Directory (tenant) id [env: ENTRA_TENANT_ID, AZURE_TENANT_ID; deploy.toml: auth.tenant_id].
    #[arg(long, value_name = "ID")]
    pub tenant_id: Option<String>,
    /// The API's application (client) id [env: ENTRA_CLIENT_ID; deploy.toml: auth.client_id;
    /// then AZURE_CLIENT_ID].
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// Authority host, e.g. a local emulator [env: ENTRA_AUTHORITY_HOST, AZURE_AUTHORITY_HOST;
    /// deploy.toml: auth.entra.authority_host]. Defaults to the --cloud's, else the public cloud.
    #[arg(long, value_name = "URL")]
    pub authority_host: Option<String>,
    /// Microsoft cloud: public, usgov or china. Sets the authority host (unless --authority-host is
    /// given) and the audience of federated assertions. Defaults to the authority host's cloud.
    #[arg(long, value_name = "NAME", value_parser = parse_cloud)]
    pub cloud: Option<Cloud>,

    /// Scope to request. Defaults to `api://<client_id>/.default`.
    #[arg(long, value_name = "SCOPE")]
    pub scope: Option<String>,
    /// How to get the token; `auto` picks the first available (secret, certificate, federated,
    /// github, then device-code on a terminal) and says which.
    #[arg(long, value_enum, default_value_t = CredentialKind::Auto)]
    pub credential: CredentialKind,
    /// Read the client secret from stdin (a secret is never a flag value)
    /// [env: ENTRA_CLIENT_SECRET, AZURE_CLIENT_SECRET].
    #[arg(long, conflicts_with = "token")]
    pub client_secret_stdin: bool,
    /// PEM file with the client certificate and its private key [env: AZURE_CLIENT_CERTIFICATE_PATH].
    #[arg(long, value_name = "PEM")]
    pub certificate: Option<PathBuf>,
    /// Sign the certificate assertion with RS256 and a SHA-1 `x5t` header instead of PS256 and
    /// `x5t#S256`.
    #[arg(long)]
    pub rs256_assertion: bool,
    /// The client asking for the token [env: AZURE_CLIENT_ID, OIDC_CLIENT_ID for --oauth oidc].
    /// Defaults to the API's client id.
    #[arg(long, value_name = "ID")]
    pub caller_client_id: Option<String>,

    /// Require this app role in `roles` (repeatable).
    #[arg(long = "expect-role", value_name = "ROLE")]
    pub expect_roles: Vec<String>,
    /// Require this delegated scope in `scp` (repeatable).
    #[arg(long = "expect-scope", value_name = "SCOPE")]
    pub expect_scopes: Vec<String>,
    /// Require membership of this group object id (repeatable).
    #[arg(long = "expect-group", value_name = "GROUP_ID")]
    pub expect_groups: Vec<String>,
    /// Require this permission after roles, scopes and the group mapping (repeatable).
    #[arg(long = "expect-permission", value_name = "PERMISSION")]
    pub expect_permissions: Vec<String>,

    /// Accept tokens from any tenant (multi-tenant app) [env: AUTH_MULTI_TENANT].
    #[arg(long)]
    pub multi_tenant: bool,
    /// With --multi-tenant: a tenant id allowed to call (repeatable) [env: AUTH_ALLOWED_TENANTS].
    #[arg(long = "allowed-tenant", value_name = "ID")]
    pub allowed_tenants: Vec<String>,
    /// Accept Entra v1.0 access tokens [env: AUTH_ACCEPT_V1_TOKENS].
    #[arg(long)]
    pub accept_v1: bool,
    /// Clock-skew leeway in seconds [env: AUTH_LEEWAY_SECONDS]. Defaults to 300.
    #[arg(long, value_name = "SECONDS")]
    pub leeway: Option<u64>,

    /// Also check the deployed MCP server end to end: 401 + resource metadata without a token,
    /// then `initialize` and `tools/list` with the token.
    #[arg(long, value_name = "URL")]
    pub server_url: Option<String>,

    /// Identity provider: entra or oidc [deploy.toml: auth.provider]. Defaults to entra.
    #[arg(long, value_enum, value_name = "PROVIDER")]
    pub oauth: Option<OAuthKind>,
    /// OIDC issuer URL (discovery at `{issuer}/.well-known/openid-configuration`)
    /// [env: AUTH_ISSUER; deploy.toml: auth.issuer].
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,
    /// OIDC: the audience the validator requires [env: AUTH_AUDIENCE; deploy.toml: auth.audience].
    #[arg(long, value_name = "AUDIENCE")]
    pub audience: Option<String>,
    /// OIDC: RFC 8707 resource indicator sent with the token request.
    #[arg(long, value_name = "URI")]
    pub resource: Option<String>,
}

/// The credential kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CredentialKind {
    /// The first available, in the order below.
    Auto,
    /// Client secret from ENTRA_CLIENT_SECRET / AZURE_CLIENT_SECRET / --client-secret-stdin.
    Secret,
    /// Certificate from --certificate / AZURE_CLIENT_CERTIFICATE_PATH.
    Certificate,
    /// Federated token file from AZURE_FEDERATED_TOKEN_FILE.
    Federated,
    /// GitHub Actions OIDC ID token (job permission `id-token: write`).
    Github,
    /// A person signs in with a code in a browser.
    DeviceCode,
}

/// `--oauth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OAuthKind {
    /// Microsoft Entra ID.
    Entra,
    /// Any OpenID Connect provider.
    Oidc,
}

fn parse_cloud(s: &str) -> Result<Cloud, String> {
    Cloud::from_name(s).ok_or_else(|| format!("`{s}` is not a cloud; use public, usgov or china"))
}

// ---------------------------------------------------------------------------------------------
// The report: one value, rendered as human text (Display) and as JSON (Serialize).
// ---------------------------------------------------------------------------------------------

/// Where the run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Config,
    Acquire,
    Validate,
    Expect,
    Server,
}

impl Stage {
    /// How the run ends after a failure at this stage.
    pub fn exit(self) -> Exit {
        match self {
            Stage::Config => Exit::Usage,
            Stage::Acquire => Exit::TokenNotAcquired,
            Stage::Validate => Exit::TokenInvalid,
            Stage::Expect => Exit::ExpectationNotMet,
            Stage::Server => Exit::ServerCheckFailed,
        }
    }

    /// The exit code of a failure at this stage.
    pub fn exit_code(self) -> u8 {
        self.exit().code()
    }

    fn name(self) -> &'static str {
        match self {
            Stage::Config => "config",
            Stage::Acquire => "acquire",
            Stage::Validate => "validate",
            Stage::Expect => "expect",
            Stage::Server => "server",
        }
    }
}

/// The failure, in the report.
#[derive(Debug, Clone, Serialize)]
pub struct ReportError {
    pub code: String,
    pub message: String,
    pub hint: String,
}

/// What the token says (never the token itself).
#[derive(Debug, Clone, Serialize, Default)]
pub struct TokenSummary {
    pub version: Option<String>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub tenant_id: Option<String>,
    pub object_id: Option<String>,
    pub app_id: Option<String>,
    pub app_only: bool,
    pub roles: Vec<String>,
    pub scopes: Vec<String>,
    pub groups: Vec<String>,
    pub groups_overage: bool,
    /// RFC 3339, UTC.
    pub expires_at: Option<String>,
    pub fingerprint: String,
    #[serde(skip)]
    exp: Option<u64>,
    #[serde(skip)]
    verified: bool,
}

/// One check and its outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// The result of `auth test`.
#[derive(Debug, Clone, Serialize)]
pub struct AuthTestReport {
    pub ok: bool,
    pub stage: Option<Stage>,
    pub error: Option<ReportError>,
    pub credential: Option<String>,
    pub token: Option<TokenSummary>,
    pub permissions: Vec<String>,
    pub checks: Vec<Check>,
    /// Where the credential came from (human output only).
    #[serde(skip)]
    credential_detail: Option<String>,
    /// "now" for the expiry line.
    #[serde(skip)]
    now: u64,
}

impl AuthTestReport {
    fn new(now: u64) -> Self {
        Self {
            ok: false,
            stage: None,
            error: None,
            credential: None,
            token: None,
            permissions: Vec::new(),
            checks: Vec::new(),
            credential_detail: None,
            now,
        }
    }

    fn check(&mut self, name: impl Into<String>, ok: bool, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.into(),
            ok,
            detail: detail.into(),
        });
    }

    fn fail(
        &mut self,
        stage: Stage,
        code: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        if self.stage.is_some() {
            return;
        }
        self.ok = false;
        self.stage = Some(stage);
        self.error = Some(ReportError {
            code: code.into(),
            message: message.into(),
            hint: hint.into(),
        });
    }

    /// How the run ends.
    pub fn exit(&self) -> Exit {
        self.stage.map(Stage::exit).unwrap_or(Exit::Success)
    }

    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        self.exit().code()
    }

    /// A markdown summary for `$GITHUB_STEP_SUMMARY`.
    pub fn markdown(&self) -> String {
        let esc = |s: &str| s.replace('|', "\\|").replace('\n', " ");
        let mut md = String::new();
        match (&self.stage, &self.error) {
            (Some(stage), Some(e)) => md.push_str(&format!(
                "### `cargo pmcp auth test`: failed at {}\n\n**{}**: {}\n\n{}\n\n",
                stage.name(),
                esc(&e.code),
                esc(&e.message),
                esc(&e.hint)
            )),
            _ => md.push_str("### `cargo pmcp auth test`: passed\n\n"),
        }
        md.push_str("| Check | Result | Detail |\n|---|---|---|\n");
        for c in &self.checks {
            md.push_str(&format!(
                "| {} | {} | {} |\n",
                esc(&c.name),
                if c.ok { "✅ ok" } else { "❌ failed" },
                esc(&c.detail)
            ));
        }
        if let Some(t) = &self.token {
            md.push_str("\n| Token | |\n|---|---|\n");
            let rows: [(&str, String); 9] = [
                ("version", t.version.clone().unwrap_or_else(|| "-".into())),
                ("issuer", t.issuer.clone().unwrap_or_default()),
                ("audience", t.audience.clone().unwrap_or_default()),
                ("tenant", t.tenant_id.clone().unwrap_or_default()),
                ("app id", t.app_id.clone().unwrap_or_default()),
                (
                    "kind",
                    if t.app_only {
                        "app-only".into()
                    } else {
                        "user".into()
                    },
                ),
                ("roles", t.roles.join(", ")),
                ("expires at", t.expires_at.clone().unwrap_or_default()),
                ("fingerprint", format!("`{}`", t.fingerprint)),
            ];
            for (k, v) in rows {
                md.push_str(&format!("| {k} | {} |\n", esc(&v)));
            }
        }
        md
    }
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

impl std::fmt::Display for AuthTestReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(c) = &self.credential {
            match &self.credential_detail {
                Some(d) => writeln!(f, "credential: {c} ({d})")?,
                None => writeln!(f, "credential: {c}")?,
            }
        }
        if let Some(t) = &self.token {
            writeln!(
                f,
                "token{}:",
                if t.verified {
                    ""
                } else {
                    " (NOT verified: what it claims)"
                }
            )?;
            let row =
                |f: &mut std::fmt::Formatter<'_>, k: &str, v: &str| writeln!(f, "  {k:<13} {v}");
            row(f, "version", t.version.as_deref().unwrap_or("-"))?;
            row(f, "issuer", t.issuer.as_deref().unwrap_or("-"))?;
            row(f, "audience", t.audience.as_deref().unwrap_or("-"))?;
            row(f, "tenant", t.tenant_id.as_deref().unwrap_or("-"))?;
            row(f, "object id", t.object_id.as_deref().unwrap_or("-"))?;
            row(f, "app id", t.app_id.as_deref().unwrap_or("-"))?;
            row(
                f,
                "kind",
                if t.app_only {
                    "app-only (no user)"
                } else {
                    "user (delegated)"
                },
            )?;
            row(f, "roles", &list(&t.roles))?;
            row(f, "scopes", &list(&t.scopes))?;
            let groups = if t.groups_overage {
                "overage: more groups than a token carries (membership unknown; no group permission granted)".to_string()
            } else {
                list(&t.groups)
            };
            row(f, "groups", &groups)?;
            if t.verified {
                row(f, "permissions", &list(&self.permissions))?;
            }
            let expiry = match t.exp {
                Some(exp) if exp >= self.now => format!(
                    "in {} min ({})",
                    (exp - self.now) / 60,
                    t.expires_at.as_deref().unwrap_or("")
                ),
                Some(exp) => format!(
                    "expired {} min ago ({})",
                    (self.now - exp) / 60,
                    t.expires_at.as_deref().unwrap_or("")
                ),
                None => "(no exp)".into(),
            };
            row(f, "expires", &expiry)?;
            row(f, "fingerprint", &t.fingerprint)?;
        }
        if !self.checks.is_empty() {
            writeln!(f, "checks:")?;
            for c in &self.checks {
                writeln!(
                    f,
                    "  {} {}: {}",
                    if c.ok { "ok  " } else { "FAIL" },
                    c.name,
                    c.detail
                )?;
            }
        }
        match (&self.stage, &self.error) {
            (Some(stage), Some(e)) => {
                writeln!(f, "error [{}] {}: {}", stage.name(), e.code, e.message)?;
                let mut lines = e.hint.lines();
                if let Some(first) = lines.next() {
                    writeln!(f, "hint: {first}")?;
                    for l in lines {
                        writeln!(f, "  {l}")?;
                    }
                }
                Ok(())
            }
            _ => writeln!(f, "ok: the token is valid and meets every expectation"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Settings: flags > env > deploy.toml, resolved once.
// ---------------------------------------------------------------------------------------------

/// A value and where it came from.
#[derive(Debug, Clone)]
struct Sourced {
    value: String,
    source: String,
}

fn from_flag(v: &Option<String>, flag: &str) -> Option<Sourced> {
    v.as_ref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| Sourced {
            value: s.trim().to_string(),
            source: format!("--{flag}"),
        })
}

fn from_env(names: &[&str]) -> Option<Sourced> {
    env::first_set(names).map(|(v, n)| Sourced {
        value: v.trim().to_string(),
        source: n.to_string(),
    })
}

fn from_file(v: Option<&String>, key: &str) -> Option<Sourced> {
    v.filter(|s| !s.trim().is_empty()).map(|s| Sourced {
        value: s.trim().to_string(),
        source: format!("{} {key}", config::DEPLOY_TOML),
    })
}

enum Mode {
    Entra(Box<EntraSettings>),
    Oidc(OidcSettings),
}

struct EntraSettings {
    entra: EntraConfig,
    cloud: Cloud,
    caller: String,
}

struct OidcSettings {
    issuer: String,
    audience: String,
    client_id: Option<Sourced>,
    resource: Option<String>,
}

struct Settings {
    mode: Mode,
    scope: Option<String>,
    validator: JwtValidatorConfig,
    mapper: GroupPermissionMapper,
}

/// A configuration error: message and hint (exit 2).
struct ConfigProblem {
    code: &'static str,
    message: String,
    hint: String,
}

impl ConfigProblem {
    fn new(code: &'static str, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            hint: hint.into(),
        }
    }
}

/// Find `.pmcp/deploy.toml`: next to `--manifest-path`, else in the current directory or above.
fn find_deploy_toml(manifest_path: Option<&Path>) -> Option<PathBuf> {
    if let Some(m) = manifest_path {
        let dir = m
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        return Some(dir.join(config::DEPLOY_TOML));
    }
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors()
        .map(|d| d.join(config::DEPLOY_TOML))
        .find(|p| p.is_file())
}

fn env_bool(name: &str) -> Option<bool> {
    env::first_set(&[name]).map(|(v, _)| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

fn resolve(args: &TestArgs, ctx: &Ctx, ui: &Ui) -> Result<Settings, ConfigProblem> {
    // The server checks send the real bearer token: never in the clear over a network.
    if let Some(url) = &args.server_url {
        check_url(url, "--server-url")?;
    }
    let deploy: Option<DeployConfig> = match find_deploy_toml(ctx.manifest_path.as_deref()) {
        Some(path) => match config::load_with_warnings(&path) {
            Ok(Some(loaded)) => {
                ui.debug(format_args!("read {}", path.display()));
                // The same typo guard as deploy and init: a misspelt key would otherwise look
                // like a missing value.
                for w in &loaded.warnings {
                    ui.warn(w);
                }
                Some(loaded.config)
            }
            Ok(None) => None,
            Err(e) => {
                return Err(ConfigProblem::new(
                    "deploy_toml",
                    e.to_string(),
                    "Fix the file (or move it aside: flags and environment variables alone are enough).",
                ));
            }
        },
        None => None,
    };
    let auth = deploy.as_ref().map(|d| d.auth.clone()).unwrap_or_default();

    let provider = match args.oauth {
        Some(OAuthKind::Entra) => Provider::Entra,
        Some(OAuthKind::Oidc) => Provider::Oidc,
        None => match env::first_set(&[env::AUTH_PROVIDER]) {
            Some((v, _)) if v.trim().eq_ignore_ascii_case("oidc") => Provider::Oidc,
            Some((v, _)) if v.trim().eq_ignore_ascii_case("entra") => Provider::Entra,
            _ if deploy.is_some() => auth.provider,
            _ => Provider::Entra,
        },
    };
    if provider == Provider::None {
        return Err(ConfigProblem::new(
            "auth_disabled",
            format!(
                "{} sets auth.provider = \"none\": there is no token to test",
                config::DEPLOY_TOML
            ),
            "Pass --oauth entra or --oauth oidc to test a provider anyway.",
        ));
    }

    let leeway = match args.leeway {
        Some(l) => l,
        None => match env::first_set(&[env::AUTH_LEEWAY_SECONDS]) {
            Some((v, n)) => v.trim().parse().map_err(|_| {
                ConfigProblem::new(
                    "invalid_input",
                    format!("{n} = `{v}` is not a number of seconds"),
                    "Set it to e.g. 300, or pass --leeway.",
                )
            })?,
            None => 300,
        },
    };
    let mapper = match env::first_set(&[env::AUTH_GROUP_PERMISSIONS]) {
        Some((v, _)) => GroupPermissionMapper::from_json(&v)
            .map_err(|e| ConfigProblem::new("invalid_input", e.to_string(), "Set AUTH_GROUP_PERMISSIONS to a JSON object: {\"<group guid>\": [\"read:tools\"]}."))?,
        None => GroupPermissionMapper::new(auth.entra.group_permissions.clone()),
    };

    if provider == Provider::Oidc {
        let issuer = from_flag(&args.issuer, "issuer")
            .or_else(|| from_env(&[env::AUTH_ISSUER]))
            .or_else(|| from_file(auth.issuer.as_ref(), "auth.issuer"));
        let audience = from_flag(&args.audience, "audience")
            .or_else(|| from_env(&[env::AUTH_AUDIENCE]))
            .or_else(|| from_file(auth.audience.as_ref(), "auth.audience"));
        let mut missing = Vec::new();
        if issuer.is_none() {
            missing.push("the issuer: --issuer, AUTH_ISSUER, or auth.issuer in .pmcp/deploy.toml");
        }
        if audience.is_none() {
            missing.push(
                "the audience: --audience, AUTH_AUDIENCE, or auth.audience in .pmcp/deploy.toml",
            );
        }
        let (Some(issuer), Some(audience)) = (issuer, audience) else {
            return Err(missing_inputs(&missing));
        };
        check_url(&issuer.value, &issuer.source)?;
        ui.chose("issuer", &issuer.value, &issuer.source);
        ui.chose("audience", &audience.value, &audience.source);
        let mut validator = JwtValidatorConfig::from_oidc_issuer(&issuer.value, &audience.value);
        validator.leeway_seconds = leeway;
        let client_id = from_flag(&args.caller_client_id, "caller-client-id")
            .or_else(|| from_env(&["OIDC_CLIENT_ID"]));
        return Ok(Settings {
            mode: Mode::Oidc(OidcSettings {
                issuer: issuer.value,
                audience: audience.value,
                client_id,
                resource: args.resource.clone(),
            }),
            scope: args.scope.clone(),
            validator,
            mapper,
        });
    }

    let tenant = from_flag(&args.tenant_id, "tenant-id")
        .or_else(|| from_env(&[env::ENTRA_TENANT_ID, env::AZURE_TENANT_ID]))
        .or_else(|| from_file(auth.tenant_id.as_ref(), "auth.tenant_id"));
    // AZURE_CLIENT_ID comes last: in CI it usually names the caller (the identity holding the
    // credential), not the API.
    let client = from_flag(&args.client_id, "client-id")
        .or_else(|| from_env(&[env::ENTRA_CLIENT_ID]))
        .or_else(|| from_file(auth.client_id.as_ref(), "auth.client_id"))
        .or_else(|| from_env(&[env::AZURE_CLIENT_ID]));
    let mut missing = Vec::new();
    if tenant.is_none() {
        missing.push("the tenant id: --tenant-id, ENTRA_TENANT_ID (or AZURE_TENANT_ID), or auth.tenant_id in .pmcp/deploy.toml");
    }
    if client.is_none() {
        missing.push("the API's client id: --client-id, ENTRA_CLIENT_ID, or auth.client_id in .pmcp/deploy.toml");
    }
    let (Some(tenant), Some(client)) = (tenant, client) else {
        return Err(missing_inputs(&missing));
    };
    let authority = if let Some(h) = from_flag(&args.authority_host, "authority-host") {
        h
    } else if let Some(c) = args.cloud {
        Sourced {
            value: c.authority_host().to_string(),
            source: "--cloud".into(),
        }
    } else {
        from_env(&[env::ENTRA_AUTHORITY_HOST, env::AZURE_AUTHORITY_HOST])
            .or_else(|| {
                from_file(
                    auth.entra.authority_host.as_ref(),
                    "auth.entra.authority_host",
                )
            })
            .unwrap_or(Sourced {
                value: entra::DEFAULT_AUTHORITY_HOST.to_string(),
                source: "default: public cloud".into(),
            })
    };
    let host = entra::normalize_authority_host(&authority.value);
    check_url(&host, &authority.source)?;
    let entra_cfg = EntraConfig::new(&tenant.value, &client.value).with_authority_host(&host);
    let cloud = args
        .cloud
        .or_else(|| entra_cfg.cloud())
        .unwrap_or(Cloud::Public);
    ui.chose("tenant_id", &tenant.value, &tenant.source);
    ui.chose("client_id", &client.value, &client.source);
    ui.chose("authority_host", &host, &authority.source);

    let caller = from_flag(&args.caller_client_id, "caller-client-id")
        .or_else(|| from_env(&[env::AZURE_CLIENT_ID]))
        .unwrap_or(Sourced {
            value: client.value.clone(),
            source: "the API's client id".into(),
        });
    if caller.value != client.value {
        ui.chose("caller client id", &caller.value, &caller.source);
    }

    let multi_tenant =
        args.multi_tenant || env_bool(env::AUTH_MULTI_TENANT).unwrap_or(auth.entra.multi_tenant);
    let allowed: Vec<String> = if !args.allowed_tenants.is_empty() {
        args.allowed_tenants.clone()
    } else if let Some((v, _)) = env::first_set(&[env::AUTH_ALLOWED_TENANTS]) {
        v.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    } else {
        auth.entra.allowed_tenants.clone()
    };
    if !allowed.is_empty() && !multi_tenant {
        ui.warn("allowed tenants only apply to a multi-tenant API (--multi-tenant); ignoring them");
    }
    let mut validator = if multi_tenant {
        JwtValidatorConfig::from_entra_multitenant(&entra_cfg, allowed)
    } else {
        JwtValidatorConfig::from_entra(&entra_cfg)
    };
    validator.accept_v1 = args.accept_v1
        || env_bool(env::AUTH_ACCEPT_V1_TOKENS).unwrap_or(auth.entra.accept_v1_tokens);
    validator.leeway_seconds = leeway;

    let scope = args
        .scope
        .clone()
        .unwrap_or_else(|| format!("api://{}/.default", client.value));
    Ok(Settings {
        mode: Mode::Entra(Box::new(EntraSettings {
            entra: entra_cfg,
            cloud,
            caller: caller.value,
        })),
        scope: Some(scope),
        validator,
        mapper,
    })
}

fn missing_inputs(missing: &[&str]) -> ConfigProblem {
    ConfigProblem::new(
        "missing_input",
        format!("missing {}", missing.join("; and ")),
        "Give each with its flag or environment variable, or run `cargo pmcp deploy init` to write .pmcp/deploy.toml.",
    )
}

fn check_url(url: &str, source: &str) -> Result<(), ConfigProblem> {
    if entra::is_https_or_loopback(url) {
        Ok(())
    } else {
        Err(ConfigProblem::new(
            "invalid_input",
            format!("{source}: `{url}` is not an https:// URL"),
            "Use an https:// URL (http:// only for 127.0.0.1 / localhost, e.g. the emulator).",
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Acquisition
// ---------------------------------------------------------------------------------------------

/// A chosen credential, ready to use.
enum Plan {
    /// A token from --token.
    Given { token: SecretString, from: String },
    /// Client credentials.
    Client {
        credential: ClientCredential,
        kind: &'static str,
        detail: String,
    },
    /// Device code sign-in.
    DeviceCode,
}

fn read_token_arg(arg: &str) -> Result<(SecretString, String), ConfigProblem> {
    let (text, from) = if arg == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| {
            ConfigProblem::new("invalid_input", format!("--token -: cannot read stdin: {e}"), "Pipe the token in, e.g. `az account get-access-token … --query accessToken -o tsv | cargo pmcp auth test --token -`.")
        })?;
        (s, "stdin".to_string())
    } else if let Some(path) = arg.strip_prefix('@') {
        let s = std::fs::read_to_string(path).map_err(|e| {
            ConfigProblem::new(
                "invalid_input",
                format!("--token @{path}: cannot read the file: {e}"),
                "Give a file holding the access token.",
            )
        })?;
        (s, format!("file {path}"))
    } else {
        (arg.to_string(), "--token".to_string())
    };
    let t = text.trim();
    let t = t.strip_prefix("Bearer ").unwrap_or(t).trim();
    if t.is_empty() {
        return Err(ConfigProblem::new(
            "invalid_input",
            format!("--token: the token from {from} is empty"),
            "Pass the access token itself (the JWT), @FILE, or - for stdin.",
        ));
    }
    Ok((SecretString::new(t), from))
}

fn secret_from_stdin() -> Result<SecretString, ConfigProblem> {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s).map_err(|e| {
        ConfigProblem::new("invalid_input", format!("--client-secret-stdin: cannot read stdin: {e}"), "Pipe the secret in: `printf %s \"$SECRET\" | cargo pmcp auth test --client-secret-stdin`.")
    })?;
    let s = s.trim_end_matches(['\r', '\n']).to_string();
    if s.is_empty() {
        return Err(ConfigProblem::new(
            "invalid_input",
            "--client-secret-stdin: stdin was empty",
            "Pipe the secret in: `printf %s \"$SECRET\" | cargo pmcp auth test --client-secret-stdin`.",
        ));
    }
    Ok(SecretString::new(s))
}

fn plan(args: &TestArgs, settings: &Settings, ui: &Ui) -> Result<Plan, ConfigProblem> {
    if let Some(t) = &args.token {
        let (token, from) = read_token_arg(t)?;
        github::add_mask(token.secret());
        return Ok(Plan::Given { token, from });
    }
    let oidc = matches!(settings.mode, Mode::Oidc(_));
    let secret_envs: &[&str] = if oidc {
        &[
            "OIDC_CLIENT_SECRET",
            env::ENTRA_CLIENT_SECRET,
            env::AZURE_CLIENT_SECRET,
        ]
    } else {
        &[env::ENTRA_CLIENT_SECRET, env::AZURE_CLIENT_SECRET]
    };
    let secret = || -> Result<Option<(SecretString, String)>, ConfigProblem> {
        if args.client_secret_stdin {
            return Ok(Some((secret_from_stdin()?, "stdin".into())));
        }
        Ok(from_env(secret_envs).map(|s| (SecretString::new(s.value), s.source)))
    };
    let cert_path = || -> Option<(PathBuf, String)> {
        args.certificate
            .clone()
            .map(|p| (p, "--certificate".to_string()))
            .or_else(|| {
                from_env(&[pmcp_auth::client::AZURE_CLIENT_CERTIFICATE_PATH])
                    .map(|s| (PathBuf::from(s.value), s.source))
            })
    };
    let load_cert = |(path, source): (PathBuf, String)| -> Result<Plan, ConfigProblem> {
        let cert = Certificate::from_pem_file(&path).map_err(|e| {
            ConfigProblem::new(
                "certificate",
                format!("{source}: {e}"),
                explain::credential(&e),
            )
        })?;
        let detail = format!(
            "{} from {source}, thumbprint {}",
            path.display(),
            cert.sha1_thumbprint_hex()
        );
        Ok(Plan::Client {
            credential: ClientCredential::Certificate(Arc::new(cert)),
            kind: "certificate",
            detail,
        })
    };
    let federated = || {
        from_env(&[pmcp_auth::client::AZURE_FEDERATED_TOKEN_FILE]).map(|s| Plan::Client {
            detail: format!("token file {} from {}", s.value, s.source),
            credential: ClientCredential::Federated(AssertionSource::File(PathBuf::from(s.value))),
            kind: "federated",
        })
    };
    let cloud = match &settings.mode {
        Mode::Entra(e) => e.cloud,
        Mode::Oidc(_) => Cloud::Public,
    };
    let github = || {
        GitHubOidc::from_env(cloud).map(|mut g| {
            if let Mode::Oidc(o) = &settings.mode {
                g.audience = o.audience.clone();
            }
            let detail = format!("GitHub Actions ID token, audience {}", g.audience);
            Plan::Client {
                credential: ClientCredential::Federated(AssertionSource::GitHubActions(g)),
                kind: "github",
                detail,
            }
        })
    };
    let with_secret = |s: SecretString, src: String| {
        github::add_mask(s.secret());
        Plan::Client {
            credential: ClientCredential::Secret(s),
            kind: "secret",
            detail: format!("client secret from {src}"),
        }
    };
    let mut kind = args.credential;
    if kind == CredentialKind::Auto {
        if args.client_secret_stdin {
            kind = CredentialKind::Secret;
        } else if args.certificate.is_some() {
            kind = CredentialKind::Certificate;
        }
    }
    let secret_names = secret_envs.join(", ");
    match kind {
        CredentialKind::Auto => {
            if let Some((s, src)) = secret()? {
                return Ok(with_secret(s, src));
            }
            if let Some(c) = cert_path() {
                return load_cert(c);
            }
            if let Some(p) = federated() {
                return Ok(p);
            }
            if let Some(p) = github() {
                return Ok(p);
            }
            if !oidc && ui.interactive {
                return Ok(Plan::DeviceCode);
            }
            Err(ConfigProblem::new(
                "no_credential",
                "no credential found to get a token with",
                format!(
                    "Give one of: a client secret ({secret_names}, or --client-secret-stdin); a certificate (--certificate PEM or AZURE_CLIENT_CERTIFICATE_PATH); a federated token file (AZURE_FEDERATED_TOKEN_FILE); GitHub Actions OIDC (job permission `id-token: write`); --credential device-code to sign in as a person; or a ready token with --token."
                ),
            ))
        }
        CredentialKind::Secret => match secret()? {
            Some((s, src)) => Ok(with_secret(s, src)),
            None => Err(ConfigProblem::new(
                "no_credential",
                "--credential secret: no client secret given",
                format!("Set {secret_names}, or pipe it with --client-secret-stdin (a secret is never a flag value)."),
            )),
        },
        CredentialKind::Certificate => match cert_path() {
            Some(c) => load_cert(c),
            None => Err(ConfigProblem::new(
                "no_credential",
                "--credential certificate: no certificate given",
                "Pass --certificate PEM or set AZURE_CLIENT_CERTIFICATE_PATH (one PEM file with the certificate and its private key).",
            )),
        },
        CredentialKind::Federated => federated().ok_or_else(|| {
            ConfigProblem::new(
                "no_credential",
                "--credential federated: AZURE_FEDERATED_TOKEN_FILE is not set",
                "Set AZURE_FEDERATED_TOKEN_FILE to the projected service account token (workload identity sets it for you).",
            )
        }),
        CredentialKind::Github => github().ok_or_else(|| {
            ConfigProblem::new(
                "no_credential",
                "--credential github: ACTIONS_ID_TOKEN_REQUEST_URL / ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set",
                "Run inside GitHub Actions with `permissions: id-token: write` on the job.",
            )
        }),
        CredentialKind::DeviceCode => {
            if oidc {
                Err(ConfigProblem::new(
                    "invalid_input",
                    "--credential device-code is for Entra; with --oauth oidc use client credentials or --token",
                    "Get a user token from your provider's tooling and pass it with --token.",
                ))
            } else {
                Ok(Plan::DeviceCode)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Token summary
// ---------------------------------------------------------------------------------------------

/// RFC 3339 UTC from Unix seconds.
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // civil from days (proleptic Gregorian), days since 1970-01-01
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

fn str_claim(m: &Map<String, Value>, k: &str) -> Option<String> {
    m.get(k).and_then(|v| v.as_str()).map(str::to_string)
}

fn list_claim(m: &Map<String, Value>, k: &str) -> Vec<String> {
    match m.get(k) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

fn audience_claim(m: &Map<String, Value>) -> Option<String> {
    match m.get("aud") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(a)) => Some(
            a.iter()
                .filter_map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        _ => None,
    }
}

/// What a token claims, from its (unverified or verified) claims object.
fn summary_from_map(m: &Map<String, Value>, token: &SecretString, verified: bool) -> TokenSummary {
    let exp = m.get("exp").and_then(|v| v.as_u64());
    let scopes = {
        let scp = list_claim(m, "scp");
        if scp.is_empty() {
            list_claim(m, "scope")
        } else {
            scp
        }
    };
    let app_id = str_claim(m, "azp")
        .or_else(|| str_claim(m, "appid"))
        .or_else(|| str_claim(m, "client_id"));
    let app_only = match str_claim(m, "idtyp") {
        Some(t) => t.eq_ignore_ascii_case("app"),
        None => {
            str_claim(m, "scp").is_none()
                && str_claim(m, "preferred_username").is_none()
                && str_claim(m, "upn").is_none()
                && (m.contains_key("tid")
                    || str_claim(m, "gty").as_deref() == Some("client-credentials")
                    || (app_id.is_some() && str_claim(m, "sub") == app_id))
        }
    };
    TokenSummary {
        version: str_claim(m, "ver"),
        issuer: str_claim(m, "iss"),
        audience: audience_claim(m),
        tenant_id: str_claim(m, "tid"),
        object_id: str_claim(m, "oid").or_else(|| str_claim(m, "sub")),
        app_id,
        app_only,
        roles: list_claim(m, "roles"),
        scopes,
        groups: list_claim(m, "groups"),
        groups_overage: !m.contains_key("groups")
            && m.get("_claim_names")
                .and_then(|v| v.as_object())
                .is_some_and(|o| o.contains_key("groups")),
        expires_at: exp.map(rfc3339),
        fingerprint: token.fingerprint(),
        exp,
        verified,
    }
}

fn summary_from_entra(c: &EntraClaims, token: &SecretString) -> TokenSummary {
    TokenSummary {
        version: c.ver.clone(),
        issuer: Some(c.iss.clone()),
        audience: Some(c.aud.values().join(" ")),
        tenant_id: Some(c.tid.clone()),
        object_id: Some(c.oid.clone()),
        app_id: c.client_app_id().map(str::to_string),
        app_only: c.is_app_only(),
        roles: c.roles.clone().unwrap_or_default(),
        scopes: c.scopes().into_iter().map(str::to_string).collect(),
        groups: c.groups.clone().unwrap_or_default(),
        groups_overage: c.groups_overage(),
        expires_at: Some(rfc3339(c.exp)),
        fingerprint: token.fingerprint(),
        exp: Some(c.exp),
        verified: true,
    }
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Run the command.
pub async fn run(args: TestArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let ui = &ctx.ui;
    let mut report = AuthTestReport::new(unix_now());
    execute(&args, ctx, &mut report).await;
    if report.stage.is_none() {
        report.ok = true;
    }
    finish(ui, &report)
}

fn finish(ui: &Ui, report: &AuthTestReport) -> anyhow::Result<()> {
    if let (Some(stage), Some(e)) = (report.stage, &report.error) {
        github::error(&format!(
            "auth test failed at {}: {}: {}",
            stage.name(),
            e.code,
            e.message
        ));
    }
    if let Err(e) = github::append_summary(&report.markdown()) {
        ui.warn(format_args!(
            "could not append to $GITHUB_STEP_SUMMARY: {e}"
        ));
    }
    if report.ok && ui.quiet {
        eprintln!("ok: the token is valid and meets every expectation");
    } else {
        eprint!("{report}");
    }
    if ui.json {
        ui.print_json(report)?;
    }
    match report.exit() {
        Exit::Success => Ok(()),
        exit => {
            let e = report.error.as_ref();
            let mut f = Failure::new(exit, e.map(|e| e.message.clone()).unwrap_or_default());
            if let Some(e) = e {
                f = f.with_hint(e.hint.clone());
            }
            Err(f.reported().into())
        }
    }
}

async fn execute(args: &TestArgs, ctx: &Ctx, report: &mut AuthTestReport) {
    let ui = &ctx.ui;
    // config
    let settings = match resolve(args, ctx, ui) {
        Ok(s) => s,
        Err(p) => return report.fail(Stage::Config, p.code, p.message, p.hint),
    };
    let plan = match plan(args, &settings, ui) {
        Ok(p) => p,
        Err(p) => return report.fail(Stage::Config, p.code, p.message, p.hint),
    };

    // acquire
    let client = TokenClient::new()
        .on_secret(Arc::new(github::add_mask))
        .with_assertion_algorithm(if args.rs256_assertion {
            AssertionAlgorithm::Rs256
        } else {
            AssertionAlgorithm::Ps256
        });
    let token = match acquire(&plan, &settings, &client, ui, report).await {
        Some(t) => t,
        None => return,
    };

    // validate ("expires in" counts from now: a device code sign-in may have taken minutes)
    report.now = unix_now();
    let validator = JwtValidator::new(settings.validator.clone());
    let context = match &settings.mode {
        Mode::Entra(_) => match validator.validate(token.secret()).await {
            Ok(claims) => {
                report.token = Some(summary_from_entra(&claims, &token));
                let ctx = AuthContext::from_entra_claims(&claims, &settings.mapper);
                report.permissions = ctx.scopes.iter().cloned().collect();
                report.check(
                    "validate",
                    true,
                    format!("accepted by the shared validator (issuer {})", claims.iss),
                );
                Validated::Entra(Box::new(claims), Box::new(ctx))
            }
            Err(e) => {
                return validation_failed(
                    report,
                    &token,
                    &e,
                    settings.validator.client_id.as_deref(),
                );
            }
        },
        Mode::Oidc(_) => match validator.validate_generic(token.secret()).await {
            Ok(map) => {
                let summary = summary_from_map(&map, &token, true);
                // The permissions the server's OIDC layer grants (roles, scp/scope, permissions),
                // plus the group mapping of this run's configuration.
                let mut ctx = AuthContext::from_oidc_claims(&map);
                ctx.scopes
                    .extend(settings.mapper.permissions_for_groups(&summary.groups));
                report.permissions = ctx.scopes.iter().cloned().collect();
                report.check(
                    "validate",
                    true,
                    format!(
                        "accepted by the shared validator (issuer {})",
                        summary.issuer.as_deref().unwrap_or("-")
                    ),
                );
                report.token = Some(summary);
                Validated::Generic(Box::new(ctx))
            }
            Err(e) => {
                return validation_failed(
                    report,
                    &token,
                    &e,
                    settings.validator.client_id.as_deref(),
                );
            }
        },
    };

    // expect
    expectations(args, &context, report);
    if report.stage.is_some() {
        return;
    }

    // server
    if let Some(url) = &args.server_url {
        let issuers = expected_issuers(&settings, report);
        server_checks(url, &token, &issuers, report).await;
    }
}

enum Validated {
    Entra(Box<EntraClaims>, Box<AuthContext>),
    Generic(Box<AuthContext>),
}

fn validation_failed(
    report: &mut AuthTestReport,
    token: &SecretString,
    e: &AuthError,
    client_id: Option<&str>,
) {
    if let Ok(u) = dangerous::decode_unverified(token.secret()) {
        report.token = Some(summary_from_map(&u.claims, token, false));
    }
    report.check("validate", false, format!("rejected: {}", e.code()));
    report.fail(
        Stage::Validate,
        e.code(),
        e.to_string(),
        explain::auth_error(e, client_id),
    );
}

async fn acquire(
    plan: &Plan,
    settings: &Settings,
    client: &TokenClient,
    ui: &Ui,
    report: &mut AuthTestReport,
) -> Option<SecretString> {
    let result: Result<AccessToken, CredentialError> = match plan {
        Plan::Given { token, from } => {
            report.credential = Some("token".into());
            report.credential_detail = Some(format!("from {from}"));
            report.check("acquire", true, format!("token given ({from})"));
            return Some(token.clone());
        }
        Plan::Client {
            credential,
            kind,
            detail,
        } => {
            report.credential = Some((*kind).into());
            report.credential_detail = Some(detail.clone());
            match &settings.mode {
                Mode::Entra(e) => {
                    let endpoint = e.entra.token_endpoint();
                    ui.debug(format_args!(
                        "client credentials at {endpoint} for client {}, scope {}",
                        e.caller,
                        settings.scope.as_deref().unwrap_or("-")
                    ));
                    client
                        .client_credentials(
                            ClientCredentialsRequest {
                                token_endpoint: &endpoint,
                                client_id: &e.caller,
                                scope: settings.scope.as_deref(),
                                resource: None,
                                audience: None,
                            },
                            credential,
                        )
                        .await
                }
                Mode::Oidc(o) => {
                    let Some(client_id) = &o.client_id else {
                        report.fail(
                            Stage::Config,
                            "missing_input",
                            "missing the client id for OIDC client credentials",
                            "Set OIDC_CLIENT_ID (with OIDC_CLIENT_SECRET) or pass --caller-client-id.",
                        );
                        return None;
                    };
                    match client.discover(&o.issuer).await {
                        Ok(ep) => {
                            ui.debug(format_args!(
                                "client credentials at {} for client {}",
                                ep.token_endpoint, client_id.value
                            ));
                            client
                                .client_credentials(
                                    ClientCredentialsRequest {
                                        token_endpoint: &ep.token_endpoint,
                                        client_id: &client_id.value,
                                        scope: settings.scope.as_deref(),
                                        resource: o.resource.as_deref(),
                                        audience: None,
                                    },
                                    credential,
                                )
                                .await
                        }
                        Err(e) => Err(e),
                    }
                }
            }
        }
        Plan::DeviceCode => {
            report.credential = Some("device-code".into());
            let Mode::Entra(e) = &settings.mode else {
                return None;
            };
            report.credential_detail = Some(format!("sign-in as a person, client {}", e.caller));
            let scope = settings.scope.clone().unwrap_or_default();
            match client
                .start_device_code(&e.entra.device_code_endpoint(), &e.caller, &scope)
                .await
            {
                Ok(dc) => {
                    let msg = dc.message.clone().unwrap_or_else(|| {
                        format!(
                            "To sign in, open {} and enter the code {}",
                            dc.verification_uri, dc.user_code
                        )
                    });
                    eprintln!("{msg}");
                    eprintln!(
                        "waiting for the sign-in (the code expires in {} min)...",
                        dc.expires_in.as_secs() / 60
                    );
                    client
                        .poll_device_code(&e.entra.token_endpoint(), &e.caller, &dc)
                        .await
                }
                Err(err) => Err(err),
            }
        }
    };
    match result {
        Ok(t) => {
            let how = match plan {
                Plan::DeviceCode => "device code sign-in",
                _ => "client credentials",
            };
            report.check(
                "acquire",
                true,
                format!(
                    "{how}{}",
                    t.expires_in
                        .map(|s| format!(", expires_in {s} s"))
                        .unwrap_or_default()
                ),
            );
            Some(t.token)
        }
        Err(e) => {
            let mut message = match e.entra() {
                Some(en) => en.message.clone(),
                None => e.to_string(),
            };
            if let Some(en) = e.entra() {
                let mut ids = Vec::new();
                if let Some(t) = &en.trace_id {
                    ids.push(format!("trace id {t}"));
                }
                if let Some(c) = &en.correlation_id {
                    ids.push(format!("correlation id {c}"));
                }
                if let Some(ts) = &en.timestamp {
                    ids.push(format!("at {ts}"));
                }
                if !ids.is_empty() {
                    message.push_str(&format!(" ({})", ids.join(", ")));
                }
            }
            report.check("acquire", false, format!("failed: {}", e.code()));
            report.fail(Stage::Acquire, e.code(), message, explain::credential(&e));
            None
        }
    }
}

fn expectations(args: &TestArgs, v: &Validated, report: &mut AuthTestReport) {
    let (roles, scopes, groups, overage): (Vec<String>, Vec<String>, Vec<String>, bool) = {
        let t = report.token.clone().unwrap_or_default();
        (t.roles, t.scopes, t.groups, t.groups_overage)
    };
    let mut failed: Vec<String> = Vec::new();
    for r in &args.expect_roles {
        let ok = match v {
            Validated::Entra(c, _) => c.has_role(r),
            Validated::Generic(_) => roles.iter().any(|x| x == r),
        };
        let detail = if ok {
            "present in roles".to_string()
        } else {
            format!("not in roles [{}]", roles.join(", "))
        };
        report.check(format!("role {r}"), ok, detail);
        if !ok {
            failed.push(format!("role `{r}`"));
        }
    }
    for s in &args.expect_scopes {
        let ok = scopes.iter().any(|x| x == s);
        let detail = if ok {
            "present in scp".to_string()
        } else if scopes.is_empty() {
            "the token has no delegated scopes (app-only tokens carry roles, not scp)".to_string()
        } else {
            format!("not in scp [{}]", scopes.join(", "))
        };
        report.check(format!("scope {s}"), ok, detail);
        if !ok {
            failed.push(format!("scope `{s}`"));
        }
    }
    for g in &args.expect_groups {
        let ok = match v {
            Validated::Entra(c, _) => c.in_group(g),
            Validated::Generic(_) => groups.iter().any(|x| x.eq_ignore_ascii_case(g)),
        };
        let detail = if ok {
            "member".to_string()
        } else if overage {
            "unknown: the token is in groups overage (too many groups to list); resolve membership through Microsoft Graph, or assign the group to the app so only it is emitted".to_string()
        } else {
            format!("not in groups [{}]", groups.join(", "))
        };
        report.check(format!("group {g}"), ok, detail);
        if !ok {
            failed.push(format!("group `{g}`"));
        }
    }
    for p in &args.expect_permissions {
        let ok = match v {
            Validated::Entra(_, ctx) | Validated::Generic(ctx) => ctx.has_permission(p),
        };
        let detail = if ok {
            "granted".to_string()
        } else {
            format!(
                "not granted (permissions: [{}])",
                report.permissions.join(", ")
            )
        };
        report.check(format!("permission {p}"), ok, detail);
        if !ok {
            failed.push(format!("permission `{p}`"));
        }
    }
    if !failed.is_empty() {
        report.fail(
            Stage::Expect,
            "expectation_not_met",
            format!("the token is valid but lacks {}", failed.join(", ")),
            "Assign the app role to the caller (Enterprise applications → the API → Users and groups, or API permissions → Application permissions + admin consent for an app), the delegated scope under Expose an API, or the group mapping in [auth.entra.group_permissions].",
        );
    }
}

fn expected_issuers(settings: &Settings, report: &AuthTestReport) -> Vec<String> {
    let mut v = Vec::new();
    match &settings.mode {
        Mode::Entra(e) => v.push(e.entra.issuer()),
        Mode::Oidc(o) => v.push(o.issuer.clone()),
    }
    if let Some(iss) = report.token.as_ref().and_then(|t| t.issuer.clone()) {
        v.push(iss);
    }
    v
}

// ---------------------------------------------------------------------------------------------
// Server checks (MCP streamable HTTP + RFC 9728)
// ---------------------------------------------------------------------------------------------

const MCP_PROTOCOL_VERSION: &str = "2025-06-18";

/// `resource_metadata="…"` from a `WWW-Authenticate: Bearer …` value.
pub fn resource_metadata_param(www_authenticate: &str) -> Option<String> {
    let v = www_authenticate.trim();
    let scheme_ok = v.get(..6).is_some_and(|s| s.eq_ignore_ascii_case("bearer"));
    if !scheme_ok {
        return None;
    }
    let i = v.find("resource_metadata=")?;
    let rest = &v[i + "resource_metadata=".len()..];
    if let Some(q) = rest.strip_prefix('"') {
        q.find('"').map(|end| q[..end].to_string())
    } else {
        Some(
            rest.split([',', ' '])
                .next()
                .unwrap_or_default()
                .to_string(),
        )
    }
}

/// The JSON-RPC response with `id` from a JSON or SSE body.
pub fn find_jsonrpc_response(content_type: &str, body: &str, id: i64) -> Option<Value> {
    let matches = |v: &Value| v.get("id").and_then(|x| x.as_i64()) == Some(id);
    if content_type.starts_with("text/event-stream") {
        for event in body.replace("\r\n", "\n").split("\n\n") {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|l| l.strip_prefix(' ').unwrap_or(l))
                .collect();
            if data.is_empty() {
                continue;
            }
            if let Ok(v) = serde_json::from_str::<Value>(&data.join("\n")) {
                if matches(&v) {
                    return Some(v);
                }
                if let Some(m) = v.as_array().and_then(|a| a.iter().find(|m| matches(m))) {
                    return Some(m.clone());
                }
            }
        }
        None
    } else {
        let v: Value = serde_json::from_str(body).ok()?;
        if matches(&v) {
            return Some(v);
        }
        v.as_array()?.iter().find(|m| matches(m)).cloned()
    }
}

struct McpAnswer {
    status: u16,
    session: Option<String>,
    message: Option<Value>,
    content_type: String,
}

async fn mcp_post(
    http: &reqwest::Client,
    url: &str,
    token: Option<&SecretString>,
    session: Option<&str>,
    protocol: Option<&str>,
    body: &Value,
    id: Option<i64>,
) -> Result<(McpAnswer, reqwest::header::HeaderMap), String> {
    let mut req = http
        .post(url)
        .header(
            reqwest::header::ACCEPT,
            "application/json, text/event-stream",
        )
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string());
    if let Some(t) = token {
        req = req.header(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {}", t.secret()),
        );
    }
    if let Some(s) = session {
        req = req.header("Mcp-Session-Id", s);
    }
    if let Some(p) = protocol {
        req = req.header("MCP-Protocol-Version", p);
    }
    let mut resp = req
        .send()
        .await
        .map_err(|e| format!("could not reach {url}: {e}"))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let content_type = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let session = headers
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut body = String::new();
    let mut message = None;
    // Read incrementally: an SSE stream may stay open after the response we want.
    loop {
        match resp.chunk().await {
            Ok(Some(bytes)) => {
                body.push_str(&String::from_utf8_lossy(&bytes));
                if let Some(m) = id.and_then(|id| find_jsonrpc_response(&content_type, &body, id)) {
                    message = Some(m);
                    break;
                }
                if body.len() > 4 * 1024 * 1024 {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                if message.is_none() && id.is_some() {
                    return Err(format!("the answer from {url} broke off: {e}"));
                }
                break;
            }
        }
    }
    if message.is_none()
        && let Some(id) = id
    {
        message = find_jsonrpc_response(&content_type, &body, id);
    }
    Ok((
        McpAnswer {
            status,
            session,
            message,
            content_type,
        },
        headers,
    ))
}

fn initialize_request() -> Value {
    serde_json::json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": MCP_PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "cargo-pmcp auth test", "version": env!("CARGO_PKG_VERSION")}
        }
    })
}

fn norm(u: &str) -> String {
    u.trim().trim_end_matches('/').to_string()
}

async fn server_checks(
    url: &str,
    token: &SecretString,
    issuers: &[String],
    report: &mut AuthTestReport,
) {
    const HINT_401: &str = "The server must answer a request without a token with 401 and `WWW-Authenticate: Bearer resource_metadata=\"<url>\"` (MCP authorization spec); protect it with the auth middleware.";
    if url::Url::parse(url).is_err() {
        report.check("server", false, format!("`{url}` is not a URL"));
        report.fail(
            Stage::Server,
            "invalid_input",
            format!("--server-url `{url}` is not a URL"),
            "Pass the MCP endpoint, e.g. https://my-server.example.com/mcp.",
        );
        return;
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap_or_default();
    let mut failures: Vec<(String, String)> = Vec::new();

    // 1. without a token: 401 + WWW-Authenticate with resource_metadata
    let mut metadata_url: Option<String> = None;
    match mcp_post(&http, url, None, None, None, &initialize_request(), None).await {
        Ok((a, headers)) => {
            let www: Vec<String> = headers
                .get_all(reqwest::header::WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_string))
                .collect();
            metadata_url = www.iter().find_map(|w| resource_metadata_param(w));
            let ok = a.status == 401 && metadata_url.is_some();
            let detail = if ok {
                format!(
                    "401 with resource_metadata={}",
                    metadata_url.clone().unwrap_or_default()
                )
            } else if a.status != 401 {
                format!("expected 401 without a token, got {}", a.status)
            } else if www.is_empty() {
                "401 but no WWW-Authenticate header".to_string()
            } else {
                format!(
                    "401 but WWW-Authenticate has no Bearer resource_metadata: `{}`",
                    www.join(" | ")
                )
            };
            report.check("server: 401 without token", ok, detail.clone());
            if !ok {
                failures.push((detail, HINT_401.into()));
            }
        }
        Err(e) => {
            report.check("server: 401 without token", false, e.clone());
            failures.push((e, "Check the URL and that the server is running.".into()));
        }
    }

    // 2. protected resource metadata names the issuer
    let md_url = metadata_url.clone().or_else(|| {
        let u = url::Url::parse(url).ok()?;
        let path = u.path().trim_end_matches('/');
        let mut m = u.clone();
        m.set_path(&format!("/.well-known/oauth-protected-resource{path}"));
        m.set_query(None);
        Some(m.to_string())
    });
    if let Some(md_url) = md_url {
        let result: Result<Vec<String>, String> = async {
            let resp = http
                .get(&md_url)
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await
                .map_err(|e| format!("could not fetch {md_url}: {e}"))?;
            let status = resp.status().as_u16();
            if status != 200 {
                return Err(format!("{md_url} answered {status}"));
            }
            let v: Value = resp
                .json()
                .await
                .map_err(|e| format!("{md_url} is not JSON: {e}"))?;
            let servers = v
                .get("authorization_servers")
                .and_then(|a| a.as_array())
                .ok_or_else(|| format!("{md_url} has no authorization_servers"))?;
            Ok(servers
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect())
        }
        .await;
        match result {
            Ok(servers) => {
                let ok = servers
                    .iter()
                    .any(|s| issuers.iter().any(|i| norm(i) == norm(s)));
                let detail = if ok {
                    format!(
                        "authorization_servers names {}",
                        servers
                            .iter()
                            .find(|s| issuers.iter().any(|i| norm(i) == norm(s)))
                            .cloned()
                            .unwrap_or_default()
                    )
                } else {
                    format!(
                        "authorization_servers [{}] does not name the issuer {}",
                        servers.join(", "),
                        issuers.first().cloned().unwrap_or_default()
                    )
                };
                report.check("server: protected resource metadata", ok, detail.clone());
                if !ok {
                    failures.push((detail, "The server's RFC 9728 metadata must list the tenant's issuer (e.g. https://login.microsoftonline.com/<tenant>/v2.0) in authorization_servers: check the server's ENTRA_TENANT_ID / ENTRA_AUTHORITY_HOST (or AUTH_ISSUER).".into()));
                }
            }
            Err(e) => {
                report.check("server: protected resource metadata", false, e.clone());
                failures.push((e, "Serve RFC 9728 protected resource metadata at the URL named in WWW-Authenticate.".into()));
            }
        }
    }

    // 3. initialize + tools/list with the token
    let init = mcp_post(
        &http,
        url,
        Some(token),
        None,
        None,
        &initialize_request(),
        Some(1),
    )
    .await;
    let mut session = None;
    let mut protocol = MCP_PROTOCOL_VERSION.to_string();
    let init_ok = match init {
        Ok((a, _)) => {
            session = a.session.clone();
            match &a.message {
                Some(m) if m.get("result").is_some() => {
                    let r = &m["result"];
                    if let Some(p) = r.get("protocolVersion").and_then(|p| p.as_str()) {
                        protocol = p.to_string();
                    }
                    let name = r
                        .pointer("/serverInfo/name")
                        .and_then(|n| n.as_str())
                        .unwrap_or("?");
                    report.check(
                        "server: initialize",
                        true,
                        format!(
                            "server {name}, protocol {protocol}{}",
                            if a.content_type.starts_with("text/event-stream") {
                                " (SSE)"
                            } else {
                                ""
                            }
                        ),
                    );
                    true
                }
                Some(m) => {
                    let d = format!(
                        "initialize answered an error: {}",
                        m.get("error").map(|e| e.to_string()).unwrap_or_default()
                    );
                    report.check("server: initialize", false, d.clone());
                    failures.push((
                        d,
                        "The server rejected initialize with a valid token: check its logs.".into(),
                    ));
                    false
                }
                None => {
                    let d = if a.status == 401 || a.status == 403 {
                        format!(
                            "the server answered {} to a token the validator accepts",
                            a.status
                        )
                    } else {
                        format!(
                            "no JSON-RPC answer to initialize (HTTP {}, content-type `{}`)",
                            a.status, a.content_type
                        )
                    };
                    report.check("server: initialize", false, d.clone());
                    failures.push((d, if a.status == 401 || a.status == 403 {
                        "The server validates differently from this tool: compare its ENTRA_TENANT_ID, ENTRA_CLIENT_ID, AUTH_AUDIENCE and AUTH_ACCEPT_V1_TOKENS with the values used here.".into()
                    } else {
                        "Serve MCP streamable HTTP at this URL: a JSON-RPC POST answered with application/json or text/event-stream.".into()
                    }));
                    false
                }
            }
        }
        Err(e) => {
            report.check("server: initialize", false, e.clone());
            failures.push((e, "Check the URL and that the server is running.".into()));
            false
        }
    };
    if init_ok {
        let note = serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let _ = mcp_post(
            &http,
            url,
            Some(token),
            session.as_deref(),
            Some(&protocol),
            &note,
            None,
        )
        .await;
        let list =
            serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}});
        match mcp_post(
            &http,
            url,
            Some(token),
            session.as_deref(),
            Some(&protocol),
            &list,
            Some(2),
        )
        .await
        {
            Ok((a, _)) => match a
                .message
                .as_ref()
                .and_then(|m| m.pointer("/result/tools"))
                .and_then(|t| t.as_array())
            {
                Some(tools) => {
                    let names: Vec<&str> = tools
                        .iter()
                        .filter_map(|t| t.get("name").and_then(|n| n.as_str()))
                        .collect();
                    report.check(
                        "server: tools/list",
                        true,
                        format!(
                            "{} tools: {}",
                            names.len(),
                            if names.is_empty() {
                                "(none)".into()
                            } else {
                                names.join(", ")
                            }
                        ),
                    );
                }
                None => {
                    let d = match &a.message {
                        Some(m) => format!(
                            "tools/list answered without result.tools: {}",
                            m.get("error")
                                .map(|e| e.to_string())
                                .unwrap_or_else(|| "no result".into())
                        ),
                        None => format!("no JSON-RPC answer to tools/list (HTTP {})", a.status),
                    };
                    report.check("server: tools/list", false, d.clone());
                    failures.push((d, "The server must answer tools/list after initialize (with the Mcp-Session-Id it issued, if any).".into()));
                }
            },
            Err(e) => {
                report.check("server: tools/list", false, e.clone());
                failures.push((e, "Check the server's logs.".into()));
            }
        }
    }
    if let Some((message, hint)) = failures.into_iter().next() {
        report.fail(Stage::Server, "server_check_failed", message, hint);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn resource_metadata_is_read_from_www_authenticate() {
        assert_eq!(
            resource_metadata_param(r#"Bearer realm="mcp", resource_metadata="https://s/.well-known/oauth-protected-resource/mcp", error="invalid_token""#).as_deref(),
            Some("https://s/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(
            resource_metadata_param("bearer resource_metadata=https://x/y, scope=a").as_deref(),
            Some("https://x/y")
        );
        assert_eq!(resource_metadata_param(r#"Basic realm="x""#), None);
        assert_eq!(resource_metadata_param("Bearer realm=\"x\""), None);
    }

    #[test]
    fn jsonrpc_answers_are_found_in_json_and_sse() {
        let sse = "event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\r\n\r\nevent: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\r\ndata: \"result\":{}}\r\n\r\n";
        let m = find_jsonrpc_response("text/event-stream", sse, 1).unwrap();
        assert!(m.get("result").is_some());
        assert!(find_jsonrpc_response("text/event-stream", sse, 2).is_none());
        let m = find_jsonrpc_response(
            "application/json",
            r#"{"jsonrpc":"2.0","id":2,"result":{"tools":[]}}"#,
            2,
        )
        .unwrap();
        assert!(m.pointer("/result/tools").is_some());
    }

    #[test]
    fn exit_codes_per_stage() {
        let mut r = AuthTestReport::new(0);
        assert_eq!(r.exit_code(), 0);
        r.fail(Stage::Expect, "x", "m", "h");
        r.fail(Stage::Server, "y", "m", "h");
        assert_eq!(r.exit_code(), 5, "the first failure wins");
        for (s, c) in [
            (Stage::Config, 2),
            (Stage::Acquire, 3),
            (Stage::Validate, 4),
            (Stage::Expect, 5),
            (Stage::Server, 6),
        ] {
            assert_eq!(s.exit_code(), c);
        }
    }
}
