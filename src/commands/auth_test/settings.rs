//! Resolving the inputs of `auth test` into [`Settings`], once: each value from its flag, then its
//! environment variables, then `.pmcp/deploy.toml`, and a line saying which was used.
//!
//! Self-contained on purpose: only this file knows where a value comes from.

use std::path::{Path, PathBuf};

use super::args::{OAuthKind, TestArgs};
use crate::commands::Ctx;
use crate::config::inputs;
use crate::config::resolve::{Problems, Resolver};
use crate::config::validate::{
    parse_bool, parse_provider, split_list, validate_authority, validate_guid, validate_guid_list,
    validate_issuer, validate_nonempty, validate_tenant,
};
use crate::config::{self, Loaded, Provider};
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

/// Read `.pmcp/deploy.toml` (when there is one) with the same typo guard as deploy and init: a
/// misspelt key would otherwise look like a missing value.
fn read_deploy_toml(ctx: &Ctx, ui: &Ui) -> Result<Option<Loaded>, ConfigProblem> {
    let Some(path) = find_deploy_toml(ctx.manifest_path.as_deref()) else {
        return Ok(None);
    };
    match config::load_with_warnings(&path) {
        Ok(Some(loaded)) => {
            ui.debug(format_args!("read {}", path.display()));
            for w in &loaded.warnings {
                ui.warn(w);
            }
            // The one validation of deploy.toml every verb runs (auth test deploys nothing, so a
            // local authority is fine here).
            let check = config::validate::check_config(&loaded, None, true);
            for w in &check.warnings {
                ui.warn(w);
            }
            if let Err(f) = check.into_result() {
                return Err(ConfigProblem::new(
                    "invalid_config",
                    f.message,
                    f.hint.unwrap_or_default(),
                ));
            }
            Ok(Some(loaded))
        }
        Ok(None) => Ok(None),
        Err(e) => Err(ConfigProblem::new(
            "deploy_toml",
            e.to_string(),
            "Fix the file (or move it aside: flags and environment variables alone are enough).",
        )),
    }
}

/// Resolve the flags, the environment and `.pmcp/deploy.toml` into [`Settings`], through the
/// shared resolver (flag > environment > deploy.toml > default) and the same validation as
/// `deploy init`: every missing and invalid input is reported at once (exit 2).
pub(super) fn resolve(args: &TestArgs, ctx: &Ctx, ui: &Ui) -> Result<Settings, ConfigProblem> {
    // The server checks send the real bearer token: never in the clear over a network.
    if let Some(url) = &args.server_url {
        check_url(url, "--server-url")?;
    }
    let loaded = read_deploy_toml(ctx, ui)?;
    let auth = loaded
        .as_ref()
        .map(|l| l.config.auth.clone())
        .unwrap_or_default();
    // Never prompts: auth test runs in CI as often as at a terminal.
    let mut r = Resolver::new(loaded.as_ref()).log_to(ui);

    let provider = r
        .input(&inputs::PROVIDER)
        .flag(args.oauth.map(|o| match o {
            OAuthKind::Entra => "entra",
            OAuthKind::Oidc => "oidc",
        }))
        .file_value(|l: &Loaded| {
            // `enabled = false` (or no provider) is `none`, as for init and deploy.
            let auth = &l.config.auth;
            let key = if auth.enabled { "provider" } else { "enabled" };
            let at = l.locate(&["auth", key]).or_else(|| l.locate(&["auth"]))?;
            Some((auth.active_provider().as_str().to_string(), at))
        })
        .default("entra", "Microsoft Entra ID")
        .parse(parse_provider)
        .unwrap_or(Provider::Entra);
    if provider == Provider::None {
        let from = r
            .source(&inputs::PROVIDER)
            .map(|s| s.to_string())
            .unwrap_or_default();
        return Err(ConfigProblem::new(
            "auth_disabled",
            format!("the provider is `none` ({from}): there is no token to test"),
            "Pass --oauth entra or --oauth oidc to test a provider anyway.",
        ));
    }

    let leeway_flag = args.leeway.map(|l| l.to_string());
    let leeway = r
        .input(&inputs::LEEWAY)
        .flag(leeway_flag.as_deref())
        .default("300", "Entra's clock skew")
        .parse(|v| {
            v.parse::<u64>()
                .map_err(|_| "not a number of seconds (e.g. 300)".to_string())
        })
        .unwrap_or(300);
    // A JSON object, not a value of the input table: read as the server reads it.
    let mapper = match env::first_set(&[env::AUTH_GROUP_PERMISSIONS]) {
        Some((v, _)) => GroupPermissionMapper::from_json(&v)
            .map_err(|e| ConfigProblem::new("invalid_input", e.to_string(), "Set AUTH_GROUP_PERMISSIONS to a JSON object: {\"<group guid>\": [\"read:tools\"]}."))?,
        None => GroupPermissionMapper::new(auth.entra.group_permissions.clone()),
    };

    if provider == Provider::Oidc {
        let issuer = r
            .input(&inputs::ISSUER)
            .flag(args.issuer.as_deref())
            .parse(validate_issuer);
        let audience = r
            .input(&inputs::AUDIENCE)
            .flag(args.audience.as_deref())
            .parse(validate_nonempty);
        r.check().map_err(|p| problems(&p))?;
        let (Some(issuer), Some(audience)) = (issuer, audience) else {
            return Err(ConfigProblem::new(
                "missing_input",
                "the issuer and the audience are required",
                "Give them with --issuer and --audience.",
            ));
        };
        let mut validator = JwtValidatorConfig::from_oidc_issuer(&issuer, &audience);
        validator.leeway_seconds = leeway;
        let client_id = from_flag(&args.caller_client_id, "caller-client-id")
            .or_else(|| from_env(&["OIDC_CLIENT_ID"]));
        return Ok(Settings {
            mode: Mode::Oidc(OidcSettings {
                issuer,
                audience,
                client_id,
                resource: args.resource.clone(),
            }),
            scope: args.scope.clone(),
            validator,
            mapper,
        });
    }

    let multi_tenant = r
        .input(&inputs::MULTI_TENANT)
        .flag(args.multi_tenant.then_some("true"))
        .default("false", "single tenant")
        .parse(parse_bool)
        .unwrap_or(false);
    let allowed_flag = (!args.allowed_tenants.is_empty()).then(|| args.allowed_tenants.join(","));
    let allowed = r
        .input(&inputs::ALLOWED_TENANTS)
        .flag(allowed_flag.as_deref())
        .optional()
        .parse(validate_guid_list)
        .map(|v| split_list(&v))
        .unwrap_or_default();
    let tenant = r
        .input(&inputs::TENANT_ID)
        .flag(args.tenant_id.as_deref())
        .parse(|v| validate_tenant(v, multi_tenant));
    // AZURE_CLIENT_ID comes after deploy.toml: in CI it usually names the caller (the identity
    // holding the credential), not the API.
    let client = r
        .input(&inputs::CLIENT_ID)
        .flag(args.client_id.as_deref())
        .aliases_after_file()
        .parse(validate_guid);
    let cloud_host = args.cloud.map(|c| c.authority_host());
    let host = r
        .input(&inputs::AUTHORITY_HOST)
        .flag(args.authority_host.as_deref())
        .flag_named("--cloud", cloud_host)
        .default(entra::DEFAULT_AUTHORITY_HOST, "public cloud")
        .parse(validate_authority);
    let accept_v1 = r
        .input(&inputs::ACCEPT_V1_TOKENS)
        .flag(args.accept_v1.then_some("true"))
        .default("false", "v2.0 tokens only")
        .parse(parse_bool)
        .unwrap_or(false);
    r.check().map_err(|p| problems(&p))?;
    let (Some(tenant), Some(client), Some(host)) = (tenant, client, host) else {
        return Err(ConfigProblem::new(
            "missing_input",
            "the tenant id, the client id and the authority host are required",
            "Give them with --tenant-id, --client-id and --authority-host.",
        ));
    };
    let entra_cfg = EntraConfig::new(&tenant, &client).with_authority_host(&host);
    let cloud = args
        .cloud
        .or_else(|| entra_cfg.cloud())
        .unwrap_or(Cloud::Public);

    let caller = from_flag(&args.caller_client_id, "caller-client-id")
        .or_else(|| from_env(&[env::AZURE_CLIENT_ID]))
        .unwrap_or(Sourced {
            value: client.clone(),
            source: "the API's client id".into(),
        });
    if caller.value != client {
        ui.chose("caller client id", &caller.value, &caller.source);
    }

    if !allowed.is_empty() && !multi_tenant {
        ui.warn("allowed tenants only apply to a multi-tenant API (--multi-tenant); ignoring them");
    }
    let mut validator = if multi_tenant {
        JwtValidatorConfig::from_entra_multitenant(&entra_cfg, allowed)
    } else {
        JwtValidatorConfig::from_entra(&entra_cfg)
    };
    validator.accept_v1 = accept_v1;
    validator.leeway_seconds = leeway;

    let scope = args
        .scope
        .clone()
        .unwrap_or_else(|| format!("api://{client}/.default"));
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

/// The resolver's problems as auth test's config failure: `missing_input` when values are only
/// missing (each named with its flag, variables and deploy.toml key), else `invalid_input`.
fn problems(p: &Problems) -> ConfigProblem {
    let mut parts: Vec<String> = p
        .missing
        .iter()
        .map(|i| match i.key {
            Some(key) => format!(
                "the {}: {}, or {key} in {}",
                i.name,
                i.how_to_give(),
                config::DEPLOY_TOML
            ),
            None => format!("the {}: {}", i.name, i.how_to_give()),
        })
        .collect();
    if !parts.is_empty() {
        parts = vec![format!("missing {}", parts.join("; and "))];
    }
    parts.extend(p.invalid.iter().map(|i| format!("invalid {i}")));
    let code = if p.invalid.is_empty() {
        "missing_input"
    } else {
        "invalid_input"
    };
    ConfigProblem::new(
        code,
        parts.join("; "),
        "Give each with its flag or environment variable, or in .pmcp/deploy.toml (`cargo pmcp deploy init` writes it).",
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
