//! `cargo pmcp auth emulator`: run the local Entra-compatible issuer until interrupted.

use super::Ctx;
use crate::ui::Failure;
use anyhow::Context;
use base64::Engine;
use pmcp_auth::SecretString;
use pmcp_entra_emulator::{
    DEFAULT_CLIENT_SECRET_ENV, Emulator, EmulatorConfig, EmulatorError, SECOND_TENANT_DOMAIN,
    SECOND_TENANT_ID, SigningKey, TenantConfig, TokenVersion,
};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Run a local Entra-compatible issuer on 127.0.0.1.
///
/// It serves Entra's discovery, keys, token and device code endpoints for the tenants, apps and
/// users in the configuration (defaults: one tenant, an API app with the roles MCP.User, MCP.Admin
/// and MCP.Service, a client app, three users). Point the server and `cargo pmcp auth test` at it
/// with the printed variables.
#[derive(Debug, clap::Args)]
pub struct EmulatorArgs {
    /// Port on 127.0.0.1 (0 picks a free one and prints it).
    #[arg(long, default_value_t = 0, env = "PMCP_EMULATOR_PORT")]
    pub port: u16,
    /// TOML file with tenants, apps and users (see docs/emulator.md). Flags override it.
    #[arg(long, value_name = "PATH", env = "PMCP_EMULATOR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory (tenant) id of the default tenant (a GUID).
    #[arg(long, value_name = "GUID")]
    pub tenant_id: Option<String>,
    /// Application (client) id of the API app (a GUID).
    #[arg(long, value_name = "GUID")]
    pub client_id: Option<String>,
    /// Environment variable holding the client secret of the default apps. When it is unset, a
    /// random secret is generated and written to a file readable only by you (see --secret-file).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_CLIENT_SECRET_ENV)]
    pub client_secret_env: String,
    /// Where to write a generated client secret (mode 0600). Defaults to a file in the temp dir,
    /// removed when the emulator stops.
    #[arg(long, value_name = "PATH")]
    pub secret_file: Option<PathBuf>,
    /// Access token version of the API app: 1 or 2 (Entra's requestedAccessTokenVersion).
    #[arg(long, value_name = "1|2", value_parser = parse_version)]
    pub token_version: Option<TokenVersion>,
    /// Sign this user (upn) in at once, for unattended runs: device codes are approved on creation
    /// and the authorize endpoint needs no login_hint.
    #[arg(long, value_name = "UPN")]
    pub auto_approve: Option<String>,
    /// Serve another tenant too (repeatable): the standard directory (same app ids, its own users
    /// alice@, admin@, … of its domain) under this tenant id. Every tenant of one emulator is
    /// signed with the same keys, as in Entra, so a token from it is refused by a server for its
    /// tenant, not for an unknown key.
    #[arg(long = "add-tenant", value_name = "GUID")]
    pub add_tenants: Vec<String>,
    /// Sign with the key in this PEM file (certificate and PKCS#8 private key); when the file does
    /// not exist, generate a key and write it there (mode 0600). Emulators given the same file
    /// publish the same key set, as all Entra tenants do.
    #[arg(long, value_name = "PATH", env = "PMCP_EMULATOR_SIGNING_KEY")]
    pub signing_key: Option<PathBuf>,
}

fn parse_version(s: &str) -> Result<TokenVersion, String> {
    TokenVersion::parse(s).ok_or_else(|| format!("`{s}` is not a token version (use 1 or 2)"))
}

/// What the emulator prints when it is ready (`--json`: one line on stdout).
#[derive(Debug, Serialize)]
pub struct EmulatorReady {
    /// `http://127.0.0.1:PORT`
    pub authority_host: String,
    /// Default tenant id.
    pub tenant_id: String,
    /// API app client id.
    pub client_id: String,
    /// Bound port.
    pub port: u16,
    /// v2 discovery document of the default tenant.
    pub discovery_url: String,
    /// The env var the client secret was read from, when it was set.
    pub client_secret_env: Option<String>,
    /// The file holding the generated client secret, when one was generated.
    pub client_secret_file: Option<PathBuf>,
    /// Every tenant served, the default first. All are signed with the same keys.
    pub tenant_ids: Vec<String>,
    /// The key id tokens are signed with (the same for every tenant).
    pub kid: String,
    /// The PEM file of the signing key, when `--signing-key` was given.
    pub signing_key_file: Option<PathBuf>,
    #[serde(skip)]
    tenants: Vec<String>,
    #[serde(skip)]
    users: Vec<String>,
    #[serde(skip)]
    apps: Vec<String>,
}

impl std::fmt::Display for EmulatorReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "Entra emulator listening on {}", self.authority_host)?;
        writeln!(f)?;
        writeln!(f, "Use it:")?;
        writeln!(f, "  export AZURE_AUTHORITY_HOST={}", self.authority_host)?;
        writeln!(f, "  export ENTRA_AUTHORITY_HOST={}", self.authority_host)?;
        writeln!(f, "  export ENTRA_TENANT_ID={}", self.tenant_id)?;
        writeln!(f, "  export ENTRA_CLIENT_ID={}", self.client_id)?;
        match (&self.client_secret_env, &self.client_secret_file) {
            (Some(env), _) => writeln!(f, "  (client secret: the value of ${env})")?,
            (None, Some(file)) => writeln!(
                f,
                "  export ENTRA_CLIENT_SECRET=\"$(cat '{}')\"   # generated secret, file mode 0600",
                file.display()
            )?,
            (None, None) => {}
        }
        writeln!(f)?;
        writeln!(f, "Discovery: {}", self.discovery_url)?;
        if self.tenants.len() > 1 {
            writeln!(f, "Tenants (one key set for all, as in Entra):")?;
            for t in &self.tenants {
                writeln!(f, "  {t}")?;
            }
        }
        writeln!(f, "Apps:")?;
        for a in &self.apps {
            writeln!(f, "  {a}")?;
        }
        writeln!(
            f,
            "Users (device code: approve with POST {}/_emulator/device/approve):",
            self.authority_host
        )?;
        for u in &self.users {
            writeln!(f, "  {u}")?;
        }
        write!(f, "Press Ctrl-C to stop.")
    }
}

/// Read and parse the TOML configuration, with file:line:col on errors.
pub fn load_config(path: &Path) -> Result<EmulatorConfig, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::usage(format!("cannot read {}: {e}", path.display()))
            .with_hint("Pass an existing file with --config, or leave it out to use the defaults.")
    })?;
    let mut cfg: EmulatorConfig = toml::from_str(&text).map_err(|e| {
        let at = e
            .span()
            .map(|s| {
                let before = &text[..s.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let col = before
                    .rsplit('\n')
                    .next()
                    .map(|l| l.chars().count())
                    .unwrap_or(0)
                    + 1;
                format!("{}:{line}:{col}", path.display())
            })
            .unwrap_or_else(|| path.display().to_string());
        Failure::usage(format!("{at}: {}", e.message())).with_hint(
            "See docs/emulator.md for the [[tenant]], [[tenant.app]] and [[tenant.user]] tables.",
        )
    })?;
    if cfg.tenants.is_empty() {
        cfg.tenants = EmulatorConfig::default().tenants;
    }
    Ok(cfg)
}

/// Create `path` with mode 0600 (never readable by others, not even briefly) holding `value`,
/// replacing a file already there.
pub(crate) fn write_private(path: &Path, value: &str) -> std::io::Result<()> {
    let _ = std::fs::remove_file(path);
    create_private(path, value)
}

/// The domain `--add-tenant` gives a tenant: fabrikam's for [`SECOND_TENANT_ID`], else one
/// derived from the id (`t4b7f2c1a.onmicrosoft.com`).
fn added_tenant_domain(id: &str) -> String {
    if id.eq_ignore_ascii_case(SECOND_TENANT_ID) {
        SECOND_TENANT_DOMAIN.to_string()
    } else {
        let head: String = id.chars().take(8).collect();
        format!("t{}.onmicrosoft.com", head.to_ascii_lowercase())
    }
}

/// The signing key in `path`, or a new one written there (mode 0600, never over an existing file).
async fn signing_key(path: &Path) -> anyhow::Result<(SigningKey, bool)> {
    let read = |p: &Path| -> anyhow::Result<SigningKey> {
        let text = std::fs::read_to_string(p)
            .with_context(|| format!("cannot read the signing key {}", p.display()))?;
        SigningKey::from_pem(&text).map_err(|e| {
            Failure::usage(format!("{}: {e}", p.display()))
                .with_hint("Point --signing-key at a PEM file with a CERTIFICATE and a PRIVATE KEY (PKCS#8 RSA), or at a path that does not exist yet to have one generated.")
                .into()
        })
    };
    if path.exists() {
        return Ok((read(path)?, false));
    }
    let key = tokio::task::spawn_blocking(SigningKey::generate)
        .await
        .context("key generation task failed")??;
    match create_private(path, key.to_pem().secret()) {
        Ok(()) => Ok((key, true)),
        // Another emulator created it meanwhile: use that one, so both share it.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok((read(path)?, false)),
        Err(e) => {
            Err(e).with_context(|| format!("cannot write the signing key to {}", path.display()))
        }
    }
}

/// Create `path` (it must not exist) with mode 0600 holding `value`.
fn create_private(path: &Path, value: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(value.as_bytes())?;
    f.sync_all()
}

/// One line per app and per user of the default tenant, for the ready text.
fn describe(cfg: &EmulatorConfig) -> (Vec<String>, Vec<String>) {
    let tenant = cfg.default_tenant().cloned();
    let users = tenant
        .iter()
        .flat_map(|t| t.users.iter())
        .map(|u| {
            let groups = u.all_groups().len();
            format!(
                "{} (roles: {}; {groups} group{})",
                u.upn,
                if u.roles.is_empty() {
                    "none".into()
                } else {
                    u.roles.join(", ")
                },
                if groups == 1 { "" } else { "s" }
            )
        })
        .collect();
    let apps = tenant
        .iter()
        .flat_map(|t| t.apps.iter().map(move |a| (t, a)))
        .map(|(t, a)| {
            let mut s = format!("{} {}", a.client_id, a.name);
            if !a.app_roles.is_empty() {
                s.push_str(&format!(
                    " (API, token v{}, roles {})",
                    a.token_version.ver().trim_end_matches(".0"),
                    a.app_roles.join(", ")
                ));
            }
            let granted: Vec<String> = t.apps.iter().flat_map(|r| a.roles_on(r)).collect();
            if !granted.is_empty() {
                s.push_str(&format!(" [granted {}]", granted.join(", ")));
            }
            if a.public_client {
                s.push_str(" [public client]");
            }
            s
        })
        .collect();
    (apps, users)
}

/// Run the command.
pub async fn run(args: EmulatorArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let ui = &ctx.ui;
    let mut cfg = match &args.config {
        Some(p) => load_config(p)?,
        None => EmulatorConfig::default(),
    };
    cfg.override_default_ids(args.tenant_id.as_deref(), args.client_id.as_deref());
    if let Some(v) = args.token_version {
        cfg.set_token_version(v);
    }
    if let Some(upn) = &args.auto_approve {
        cfg.device_code_auto_approve = Some(upn.clone());
    }
    for id in &args.add_tenants {
        cfg.tenants
            .push(TenantConfig::standard(id, &added_tenant_domain(id)));
    }
    // Per-app secrets named in the file.
    for t in &mut cfg.tenants {
        for a in &mut t.apps {
            if let Some(env) = &a.client_secret_env {
                match std::env::var(env) {
                    Ok(v) if !v.is_empty() => a.client_secrets.push(SecretString::new(v)),
                    _ => {
                        return Err(Failure::usage(format!(
                            "app `{}` ({}) reads its client secret from ${env}, which is not set",
                            a.name, a.client_id
                        ))
                        .with_hint(format!("Set {env}, or remove client_secret_env from the app in the config file to use --client-secret-env."))
                        .into());
                    }
                }
            }
        }
    }
    // Check the directory before writing anything (a generated secret file).
    cfg.validate().map_err(|m| {
        Failure::usage(format!("invalid emulator configuration: {m}"))
            .with_hint("Fix the config file or the --tenant-id/--client-id/--auto-approve flags (ids are GUIDs).")
    })?;
    // The signing key (before a secret file is written, so a bad key file leaves nothing behind).
    let key = match &args.signing_key {
        Some(p) => {
            let (key, created) = signing_key(p).await?;
            ui.info(format!(
                "signing key {} {} (kid {})",
                p.display(),
                if created {
                    "generated (mode 0600)"
                } else {
                    "loaded"
                },
                key.kid
            ));
            Some(key)
        }
        None => None,
    };
    // The default secret: from the env var, else generated into a private file.
    let (secret, from_env, secret_file, remove_file) = match std::env::var(&args.client_secret_env)
        .ok()
        .filter(|v| !v.is_empty())
    {
        Some(v) => (
            SecretString::new(v),
            Some(args.client_secret_env.clone()),
            None,
            false,
        ),
        None => {
            let bytes: [u8; 30] = rand::random();
            let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
            let (path, remove) = match &args.secret_file {
                Some(p) => (p.clone(), false),
                None => (
                    std::env::temp_dir()
                        .join(format!("cargo-pmcp-emulator-{}.secret", std::process::id())),
                    true,
                ),
            };
            write_private(&path, &value).with_context(|| {
                format!(
                    "cannot write the generated client secret to {}",
                    path.display()
                )
            })?;
            ui.info(format!(
                "${} is not set: generated a client secret and wrote it to {} (mode 0600)",
                args.client_secret_env,
                path.display()
            ));
            (SecretString::new(value), None, Some(path), remove)
        }
    };
    cfg.set_default_secret(&secret);

    let started = match key {
        Some(k) => Emulator::start_with_key(cfg, args.port, k).await,
        None => Emulator::start(cfg, args.port).await,
    };
    if started.is_err()
        && let Some(p) = secret_file.as_ref().filter(|_| remove_file)
    {
        let _ = std::fs::remove_file(p);
    }
    let emu = started.map_err(|e| match e {
        EmulatorError::Config(m) => anyhow::Error::from(
            Failure::usage(format!("invalid emulator configuration: {m}")).with_hint(
                "Fix the config file or the --tenant-id/--client-id flags (ids are GUIDs).",
            ),
        ),
        EmulatorError::Bind { port, source } => anyhow::Error::from(
            Failure::usage(format!("cannot listen on 127.0.0.1:{port}: {source}"))
                .with_hint("Pick another --port, or --port 0 for a free one."),
        ),
        other => anyhow::Error::from(other),
    })?;
    let (apps, users) = describe(&emu.config());
    let tenants_of = |c: &EmulatorConfig| -> (Vec<String>, Vec<String>) {
        let ids = c.tenants.iter().map(|t| t.id.clone()).collect();
        let lines = c
            .tenants
            .iter()
            .map(|t| match &t.domain {
                Some(d) => format!("{} ({d})", t.id),
                None => t.id.clone(),
            })
            .collect();
        (ids, lines)
    };
    let (tenant_ids, tenants) = tenants_of(&emu.config());
    let ready = EmulatorReady {
        tenant_ids,
        kid: emu.current_kid(),
        signing_key_file: args.signing_key.clone(),
        tenants,
        authority_host: emu.authority_host(),
        tenant_id: emu.tenant_id(),
        client_id: emu.client_id(),
        port: emu.port(),
        discovery_url: emu.discovery_url(),
        client_secret_env: from_env,
        client_secret_file: secret_file.clone(),
        users,
        apps,
    };
    // The ready line is the command's result: stdout (JSON with --json), like every verb's.
    ui.result(&ready).context("cannot write to stdout")?;
    if ready.client_secret_file.is_some() {
        // The value is never printed; mask it anyway so a later step that prints it is covered.
        crate::ui::github::add_mask(secret.secret());
    }
    // The request log: method, path, status and AADSTS code on stderr (never bodies or headers).
    let mut events = emu.subscribe();
    let log_ui = ui.clone();
    let logger = tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(e) => log_ui.info(format_args!("  {e}")),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    log_ui.info(format_args!("  ({n} requests not shown)"))
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    wait_for_stop().await;
    ui.info("stopping the Entra emulator");
    logger.abort();
    emu.shutdown().await;
    if let Some(p) = secret_file.filter(|_| remove_file) {
        let _ = std::fs::remove_file(p);
    }
    Ok(())
}

/// Ctrl-C, or SIGTERM on Unix.
pub(crate) async fn wait_for_stop() {
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The config file example in docs/emulator.md parses and (with a real certificate) validates.
    #[test]
    fn docs_example_config_loads() {
        let doc = include_str!("../../docs/emulator.md");
        let start = doc.find("```toml\n").expect("toml block") + "```toml\n".len();
        let end = start + doc[start..].find("```\n").expect("end of block");
        let key = pmcp_entra_emulator::SigningKey::generate().unwrap();
        let text = doc[start..end].replace(
            "-----BEGIN CERTIFICATE-----\nMIIC…\n-----END CERTIFICATE-----\n",
            &key.cert_pem(),
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("emulator.toml");
        std::fs::write(&path, text).unwrap();
        let cfg = load_config(&path).unwrap_or_else(|f| panic!("{}", f.message));
        cfg.validate().unwrap();
        let t = cfg.default_tenant().unwrap();
        assert_eq!(t.apps.len(), 3);
        assert_eq!(
            t.apps[2].redirect_uris,
            vec!["http://localhost/callback".to_string()]
        );
        assert_eq!(
            t.apps[1].federated_credentials[0].audience,
            "api://AzureADTokenExchange"
        );
        assert_eq!(cfg.key_grace_seconds, 3600);
    }

    /// What users read when the emulator is ready (ports and paths fixed for the snapshot).
    #[test]
    fn ready_text() {
        let (apps, users) = describe(&EmulatorConfig::default());
        let ready = EmulatorReady {
            authority_host: "http://127.0.0.1:8399".into(),
            tenant_id: pmcp_entra_emulator::DEFAULT_TENANT_ID.into(),
            client_id: pmcp_entra_emulator::DEFAULT_API_CLIENT_ID.into(),
            port: 8399,
            discovery_url: format!(
                "http://127.0.0.1:8399/{}/v2.0/.well-known/openid-configuration",
                pmcp_entra_emulator::DEFAULT_TENANT_ID
            ),
            client_secret_env: None,
            client_secret_file: Some(PathBuf::from("/tmp/cargo-pmcp-emulator-1.secret")),
            tenant_ids: vec![
                pmcp_entra_emulator::DEFAULT_TENANT_ID.into(),
                SECOND_TENANT_ID.into(),
            ],
            kid: "kid".into(),
            signing_key_file: None,
            tenants: vec![
                format!(
                    "{} ({})",
                    pmcp_entra_emulator::DEFAULT_TENANT_ID,
                    pmcp_entra_emulator::DEFAULT_TENANT_DOMAIN
                ),
                format!("{SECOND_TENANT_ID} ({SECOND_TENANT_DOMAIN})"),
            ],
            users,
            apps,
        };
        insta::assert_snapshot!(ready.to_string());
        // The JSON line keeps the contract's field order (and never a secret).
        let line = serde_json::to_string(&ready).unwrap();
        assert!(
            line.starts_with(r#"{"authority_host":"http://127.0.0.1:8399","tenant_id":"#),
            "{line}"
        );
    }
}
