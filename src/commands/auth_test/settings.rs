//! Resolving the inputs of `auth test` into [`Settings`], once: each value from its flag, then its
//! environment variables, then `.pmcp/deploy.toml`, and a line saying which was used.
//!
//! Self-contained on purpose: only this file knows where a value comes from.

use std::path::{Path, PathBuf};

use super::args::{OAuthKind, TestArgs};
use crate::commands::Ctx;
use crate::config::{self, DeployConfig, Provider};
use crate::ui::Ui;
use pmcp_auth::entra::{self, Cloud, EntraConfig};
use pmcp_auth::{GroupPermissionMapper, JwtValidatorConfig, env};

/// A value and where it came from.
#[derive(Debug, Clone)]
pub(super) struct Sourced {
    pub(super) value: String,
    pub(super) source: String,
}

fn from_flag(v: &Option<String>, flag: &str) -> Option<Sourced> {
    v.as_ref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| Sourced {
            value: s.trim().to_string(),
            source: format!("--{flag}"),
        })
}

/// The first of `names` set in the environment, and which it was.
pub(super) fn from_env(names: &[&str]) -> Option<Sourced> {
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

/// The identity provider, and what acquiring a token from it needs.
pub(super) enum Mode {
    Entra(Box<EntraSettings>),
    Oidc(OidcSettings),
}

pub(super) struct EntraSettings {
    pub(super) entra: EntraConfig,
    /// The cloud: the audience of federated assertions (GitHub Actions).
    pub(super) cloud: Cloud,
    /// The client asking for the token.
    pub(super) caller: String,
}

pub(super) struct OidcSettings {
    pub(super) issuer: String,
    pub(super) audience: String,
    /// The client asking for the token (client credentials only).
    pub(super) client_id: Option<Sourced>,
    /// RFC 8707 resource indicator for the token request.
    pub(super) resource: Option<String>,
}

/// Everything `auth test` needs to know, resolved.
pub(super) struct Settings {
    pub(super) mode: Mode,
    /// The scope to request (always set for Entra).
    pub(super) scope: Option<String>,
    /// What the shared validator checks, as the server would.
    pub(super) validator: JwtValidatorConfig,
    /// Group → permissions, as the server maps them.
    pub(super) mapper: GroupPermissionMapper,
}

/// A configuration error: message and hint (exit 2).
pub(super) struct ConfigProblem {
    pub(super) code: &'static str,
    pub(super) message: String,
    pub(super) hint: String,
}

impl ConfigProblem {
    pub(super) fn new(
        code: &'static str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
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

/// Resolve the flags, the environment and `.pmcp/deploy.toml` into [`Settings`].
pub(super) fn resolve(args: &TestArgs, ctx: &Ctx, ui: &Ui) -> Result<Settings, ConfigProblem> {
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
