//! The environment contract, deploy side: the variables the deployed server gets, derived from
//! `.pmcp/deploy.toml`. The names are the constants in [`pmcp_auth::env`]; the server reads them
//! back with `EntraConfig::from_env` (and the validator's `JwtValidatorConfig::from_env`), so there
//! is one list of names for both sides.
//!
//! - [`server_env`]: the non-secret variables (Entra/OIDC settings, DCR, `[environment]`).
//! - [`resolve_secrets`]: the values of `[secrets] required`, looked up at deploy time.

use crate::config::{DeployConfig, Provider};
use pmcp_auth::SecretString;
use pmcp_auth::env as names;
use pmcp_auth::{EntraConfig, entra};
use std::collections::BTreeMap;

/// Clock-skew leeway the server is told to allow, in seconds.
pub const DEFAULT_LEEWAY_SECONDS: u32 = 300;

/// The tenant segment used for a multi-tenant app when `tenant_id` is not set.
pub const MULTI_TENANT_DEFAULT: &str = "organizations";

/// The `{tenantid}` placeholder in a multi-tenant issuer, substituted by the validator with the
/// token's `tid` claim.
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// Every name the contract derives from `[auth]`; `[environment]` and `[secrets]` may not set them.
pub const DERIVED_NAMES: &[&str] = &[
    names::ENTRA_TENANT_ID,
    names::AZURE_TENANT_ID,
    names::ENTRA_CLIENT_ID,
    names::AZURE_CLIENT_ID,
    names::ENTRA_AUTHORITY_HOST,
    names::AZURE_AUTHORITY_HOST,
    names::AUTH_PROVIDER,
    names::AUTH_ISSUER,
    names::AUTH_JWKS_URI,
    names::AUTH_AUDIENCE,
    names::AUTH_LEEWAY_SECONDS,
    names::AUTH_ALLOWED_TENANTS,
    names::AUTH_ACCEPT_V1_TOKENS,
    names::AUTH_GROUP_PERMISSIONS,
    names::AUTH_MULTI_TENANT,
    names::AUTH_DCR_ENABLED,
    names::AUTH_DCR_PUBLIC_CLIENT_PATTERNS,
    names::AUTH_DCR_DEFAULT_SCOPES,
];

/// deploy.toml cannot be turned into a server environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// A key the provider needs is not set.
    #[error("`{key}` is not set in .pmcp/deploy.toml (needed for provider `{provider}`)")]
    Missing {
        key: &'static str,
        provider: &'static str,
    },
    /// A key is set to something unusable.
    #[error("`{key}` in .pmcp/deploy.toml is invalid: {detail}")]
    Invalid { key: &'static str, detail: String },
    /// `[environment]` or `[secrets]` names a variable deploy derives from `[auth]`.
    #[error("{section} sets {name}, which deploy derives from [auth]; set it in [auth] instead")]
    Reserved { section: &'static str, name: String },
    /// Not a usable environment variable name.
    #[error(
        "{section}: `{name}` is not a valid environment variable name (letters, digits, `_`; not starting with a digit)"
    )]
    BadName { section: &'static str, name: String },
    /// `[environment]` sets a variable that holds a secret: it would ship as a plain variable and
    /// `deploy --dry-run` would print it. The value is never part of the message.
    #[error(
        "[environment] sets {name}, which is a secret: a value there ships as a plain variable and is printed by --dry-run"
    )]
    SecretInEnvironment { name: String },
    /// The same name is both a plain variable and a secret.
    #[error(
        "{name} is in both [environment] and [secrets] required; a value is either plain or secret"
    )]
    Both { name: String },
    /// Declared secrets are not set in the environment of `cargo pmcp deploy`.
    #[error("secret{} {} declared in [secrets] required {} not set in the environment", if .names.len() == 1 { "" } else { "s" }, .names.join(", "), if .names.len() == 1 { "is" } else { "are" })]
    MissingSecrets { names: Vec<String> },
}

/// The non-secret environment of the deployed server, plus notes for the user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerEnv {
    /// Name → value, sorted by name.
    pub vars: BTreeMap<String, String>,
    /// Settings that were ignored or defaulted, worth telling the user.
    pub notes: Vec<String>,
}

impl ServerEnv {
    /// The variable names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.vars.keys().cloned().collect()
    }
}

/// A secret the server gets: its name and the value read at deploy time.
#[derive(Debug, Clone)]
pub struct Secret {
    /// The variable name, e.g. `ENTRA_CLIENT_SECRET`.
    pub name: String,
    /// The value (prints as `[redacted]`).
    pub value: SecretString,
}

/// Names that hold secrets, whatever the project: the credentials cargo-pmcp itself reads.
pub const KNOWN_SECRET_NAMES: &[&str] = &[
    names::ENTRA_CLIENT_SECRET,
    names::AZURE_CLIENT_SECRET,
    "OIDC_CLIENT_SECRET",
    "PMCP_ACCESS_TOKEN",
    "PMCP_CLIENT_SECRET",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
];

/// Name endings that say "this is a secret" (compared without case).
pub const SECRET_NAME_SUFFIXES: &[&str] = &["_SECRET", "_TOKEN", "_PASSWORD", "_KEY"];

/// True when `name` is a known secret ([`KNOWN_SECRET_NAMES`]) or looks like one (ends in one of
/// [`SECRET_NAME_SUFFIXES`], or is `SECRET`, `TOKEN`, `PASSWORD` or `KEY` itself): such a name
/// belongs in `[secrets] required`, never in `[environment]`.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    KNOWN_SECRET_NAMES.contains(&upper.as_str())
        || SECRET_NAME_SUFFIXES
            .iter()
            .any(|s| upper.ends_with(s) || upper == s[1..])
}

/// True for `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn non_blank(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The non-secret variables for the server, derived from deploy.toml: the Entra/OIDC settings under
/// the names in [`pmcp_auth::env`], the DCR settings and `[environment]`.
///
/// Entra, single tenant: `ENTRA_TENANT_ID`, `ENTRA_CLIENT_ID`, `ENTRA_AUTHORITY_HOST`,
/// `AUTH_PROVIDER=entra`, `AUTH_ISSUER` ([`EntraConfig::issuer`]), `AUTH_JWKS_URI`
/// ([`EntraConfig::jwks_uri`]), `AUTH_AUDIENCE` (the client id, plus `api://{client_id}` when v1
/// tokens are accepted), `AUTH_LEEWAY_SECONDS=300`, `AUTH_MULTI_TENANT=false`. Multi-tenant: the issuer
/// is the `{tenantid}` template, `AUTH_MULTI_TENANT=true` and `AUTH_ALLOWED_TENANTS` (comma separated)
/// when the list is non-empty. `AUTH_ACCEPT_V1_TOKENS=true` when set, `AUTH_GROUP_PERMISSIONS` (JSON)
/// when the table is non-empty. OIDC: `AUTH_ISSUER`, `AUTH_AUDIENCE` (the server discovers the JWKS).
/// Auth off or `provider = "none"`: `AUTH_PROVIDER=none` only. DCR: `AUTH_DCR_ENABLED`,
/// `AUTH_DCR_PUBLIC_CLIENT_PATTERNS` (comma separated), `AUTH_DCR_DEFAULT_SCOPES` (space separated).
pub fn server_env(config: &DeployConfig) -> Result<ServerEnv, EnvError> {
    let mut out = ServerEnv::default();
    let mut set = |k: &str, v: String| {
        out.vars.insert(k.to_string(), v);
    };
    let auth = &config.auth;
    let provider = auth.active_provider();
    set(names::AUTH_PROVIDER, provider.as_str().to_string());
    match provider {
        Provider::Entra => {
            let e = &auth.entra;
            let client_id = non_blank(&auth.client_id).ok_or(EnvError::Missing {
                key: "auth.client_id",
                provider: "entra",
            })?;
            let tenant_id = match (non_blank(&auth.tenant_id), e.multi_tenant) {
                (Some(t), _) => t,
                (None, true) => MULTI_TENANT_DEFAULT,
                (None, false) => {
                    return Err(EnvError::Missing {
                        key: "auth.tenant_id",
                        provider: "entra",
                    });
                }
            };
            let authority = match non_blank(&e.authority_host) {
                Some(h) => {
                    let h = entra::normalize_authority_host(h);
                    if !entra::is_https_or_loopback(&h) {
                        return Err(EnvError::Invalid {
                            key: "auth.entra.authority_host",
                            detail: format!(
                                "`{h}` must be an https:// URL (http:// only for a loopback host: 127.0.0.0/8, [::1], localhost)"
                            ),
                        });
                    }
                    h
                }
                None => entra::DEFAULT_AUTHORITY_HOST.to_string(),
            };
            let cfg = EntraConfig::new(tenant_id, client_id).with_authority_host(&authority);
            let issuer = if e.multi_tenant {
                EntraConfig::new(TENANT_PLACEHOLDER, client_id)
                    .with_authority_host(&authority)
                    .issuer()
            } else {
                cfg.issuer()
            };
            set(names::ENTRA_TENANT_ID, cfg.tenant_id.clone());
            set(names::ENTRA_CLIENT_ID, cfg.client_id.clone());
            set(names::ENTRA_AUTHORITY_HOST, cfg.authority_host.clone());
            set(names::AUTH_ISSUER, issuer);
            set(names::AUTH_JWKS_URI, cfg.jwks_uri());
            let mut audience = cfg.client_id.clone();
            if e.accept_v1_tokens {
                audience.push_str(&format!(",api://{}", cfg.client_id));
                set(names::AUTH_ACCEPT_V1_TOKENS, "true".into());
            }
            set(names::AUTH_AUDIENCE, audience);
            set(names::AUTH_MULTI_TENANT, e.multi_tenant.to_string());
            if e.multi_tenant {
                for t in &e.allowed_tenants {
                    if !entra::is_guid(t.trim()) {
                        return Err(EnvError::Invalid {
                            key: "auth.entra.allowed_tenants",
                            detail: format!("`{t}` is not a tenant GUID"),
                        });
                    }
                }
                if e.allowed_tenants.is_empty() {
                    out.notes.push(
                        "multi-tenant without [auth.entra] allowed_tenants: tokens from any Entra tenant are accepted".into(),
                    );
                } else {
                    let list: Vec<&str> = e.allowed_tenants.iter().map(|t| t.trim()).collect();
                    out.vars
                        .insert(names::AUTH_ALLOWED_TENANTS.into(), list.join(","));
                }
            } else if !e.allowed_tenants.is_empty() {
                out.notes.push(
                    "[auth.entra] allowed_tenants is ignored because multi_tenant is false".into(),
                );
            }
            if !e.group_permissions.is_empty() {
                let json = serde_json::to_string(&e.group_permissions)
                    .expect("a map of strings serializes");
                out.vars.insert(names::AUTH_GROUP_PERMISSIONS.into(), json);
            }
        }
        Provider::Oidc => {
            let issuer = non_blank(&auth.issuer).ok_or(EnvError::Missing {
                key: "auth.issuer",
                provider: "oidc",
            })?;
            url::Url::parse(issuer).map_err(|e| EnvError::Invalid {
                key: "auth.issuer",
                detail: format!("`{issuer}` is not a URL: {e}"),
            })?;
            if !entra::is_https_or_loopback(issuer) {
                return Err(EnvError::Invalid {
                    key: "auth.issuer",
                    detail: format!(
                        "`{issuer}` must be an https:// URL (http:// only for a loopback host: 127.0.0.0/8, [::1], localhost)"
                    ),
                });
            }
            let audience = non_blank(&auth.audience).ok_or(EnvError::Missing {
                key: "auth.audience",
                provider: "oidc",
            })?;
            out.vars.insert(
                names::AUTH_ISSUER.into(),
                issuer.trim_end_matches('/').into(),
            );
            out.vars
                .insert(names::AUTH_AUDIENCE.into(), audience.into());
        }
        Provider::None => {}
    }
    if provider != Provider::None {
        let dcr = &auth.dcr;
        out.vars.insert(
            names::AUTH_LEEWAY_SECONDS.into(),
            DEFAULT_LEEWAY_SECONDS.to_string(),
        );
        out.vars
            .insert(names::AUTH_DCR_ENABLED.into(), dcr.enabled.to_string());
        if dcr.enabled {
            out.vars.insert(
                names::AUTH_DCR_PUBLIC_CLIENT_PATTERNS.into(),
                dcr.public_client_patterns.join(","),
            );
            out.vars.insert(
                names::AUTH_DCR_DEFAULT_SCOPES.into(),
                dcr.default_scopes.join(" "),
            );
        }
    }
    for (k, v) in &config.environment {
        if !is_valid_name(k) {
            return Err(EnvError::BadName {
                section: "[environment]",
                name: k.clone(),
            });
        }
        if DERIVED_NAMES.contains(&k.as_str()) {
            return Err(EnvError::Reserved {
                section: "[environment]",
                name: k.clone(),
            });
        }
        if config.secrets.required.iter().any(|s| s == k) {
            return Err(EnvError::Both { name: k.clone() });
        }
        if is_secret_name(k) {
            return Err(EnvError::SecretInEnvironment { name: k.clone() });
        }
        out.vars.insert(k.clone(), v.clone());
    }
    check_secret_names(&config.secrets.required)?;
    Ok(out)
}

/// Check `[secrets] required` names: valid, not derived from `[auth]`.
pub fn check_secret_names(required: &[String]) -> Result<(), EnvError> {
    for name in required {
        if !is_valid_name(name) {
            return Err(EnvError::BadName {
                section: "[secrets] required",
                name: name.clone(),
            });
        }
        if DERIVED_NAMES.contains(&name.as_str()) {
            return Err(EnvError::Reserved {
                section: "[secrets] required",
                name: name.clone(),
            });
        }
    }
    Ok(())
}

/// The values of the declared secrets, each looked up with `lookup` (the command passes
/// `std::env::var`). Every missing one is listed in the error; blank counts as missing.
pub fn resolve_secrets(
    required: &[String],
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<Secret>, EnvError> {
    check_secret_names(required)?;
    let mut found = Vec::new();
    let mut missing = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for name in required {
        if !seen.insert(name.as_str()) {
            continue;
        }
        match lookup(name).filter(|v| !v.is_empty()) {
            Some(v) => found.push(Secret {
                name: name.clone(),
                value: SecretString::new(v),
            }),
            None => missing.push(name.clone()),
        }
    }
    if missing.is_empty() {
        Ok(found)
    } else {
        Err(EnvError::MissingSecrets { names: missing })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_are_recognised() {
        for n in [
            "ENTRA_CLIENT_SECRET",
            "azure_client_secret",
            "PMCP_ACCESS_TOKEN",
            "MY_API_KEY",
            "DB_PASSWORD",
            "GITHUB_TOKEN",
            "SECRET",
        ] {
            assert!(is_secret_name(n), "{n}");
        }
        for n in [
            "LOG_LEVEL",
            "KEYCLOAK_URL",
            "TOKEN_TTL",
            "RUST_LOG",
            "MONKEY",
        ] {
            assert!(!is_secret_name(n), "{n}");
        }
    }

    #[test]
    fn a_secret_in_environment_is_refused_by_name_only() {
        let mut c = DeployConfig::default();
        c.environment
            .insert("ENTRA_CLIENT_SECRET".into(), "the-value".into());
        let e = server_env(&c).unwrap_err();
        assert!(
            matches!(&e, EnvError::SecretInEnvironment { name } if name == "ENTRA_CLIENT_SECRET")
        );
        assert!(!e.to_string().contains("the-value"));
    }
    use crate::config::parse;
    use std::path::Path;

    fn cfg(text: &str) -> DeployConfig {
        parse(Path::new("deploy.toml"), text).unwrap()
    }

    const SINGLE: &str = r#"
[auth]
enabled = true
provider = "entra"
tenant_id = "11111111-2222-3333-4444-555555555555"
client_id = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
[environment]
LOG_LEVEL = "info"
"#;

    #[test]
    fn single_tenant_entra() {
        let env = server_env(&cfg(SINGLE)).unwrap();
        let v = &env.vars;
        let t = "11111111-2222-3333-4444-555555555555";
        assert_eq!(v["AUTH_PROVIDER"], "entra");
        assert_eq!(v["ENTRA_TENANT_ID"], t);
        assert_eq!(
            v["ENTRA_AUTHORITY_HOST"],
            "https://login.microsoftonline.com"
        );
        assert_eq!(
            v["AUTH_ISSUER"],
            format!("https://login.microsoftonline.com/{t}/v2.0")
        );
        assert_eq!(
            v["AUTH_JWKS_URI"],
            format!("https://login.microsoftonline.com/{t}/discovery/v2.0/keys")
        );
        assert_eq!(v["AUTH_AUDIENCE"], "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
        assert_eq!(v["AUTH_LEEWAY_SECONDS"], "300");
        assert_eq!(v["AUTH_MULTI_TENANT"], "false");
        assert_eq!(v["AUTH_DCR_ENABLED"], "true");
        assert_eq!(
            v["AUTH_DCR_PUBLIC_CLIENT_PATTERNS"],
            "claude,cursor,chatgpt,mcp-inspector"
        );
        assert_eq!(v["AUTH_DCR_DEFAULT_SCOPES"], "openid email profile");
        assert_eq!(v["LOG_LEVEL"], "info");
        assert!(!v.contains_key("AUTH_ALLOWED_TENANTS"));
        assert!(!v.contains_key("AUTH_ACCEPT_V1_TOKENS"));
        assert!(!v.contains_key("AUTH_GROUP_PERMISSIONS"));
    }

    #[test]
    fn multi_tenant_uses_the_template_issuer_and_allowed_list() {
        let env = server_env(&cfg(r#"
[auth]
enabled = true
client_id = "c"
[auth.entra]
authority_host = "https://login.microsoftonline.us/"
multi_tenant = true
allowed_tenants = ["11111111-2222-3333-4444-555555555555", "21111111-2222-3333-4444-555555555555"]
accept_v1_tokens = true
[auth.entra.group_permissions]
"g1" = ["admin:*"]
"#))
        .unwrap();
        let v = &env.vars;
        assert_eq!(v["ENTRA_TENANT_ID"], "organizations");
        assert_eq!(
            v["AUTH_ISSUER"],
            "https://login.microsoftonline.us/{tenantid}/v2.0"
        );
        assert_eq!(
            v["AUTH_JWKS_URI"],
            "https://login.microsoftonline.us/organizations/discovery/v2.0/keys"
        );
        assert_eq!(v["AUTH_MULTI_TENANT"], "true");
        assert_eq!(
            v["AUTH_ALLOWED_TENANTS"],
            "11111111-2222-3333-4444-555555555555,21111111-2222-3333-4444-555555555555"
        );
        assert_eq!(v["AUTH_ACCEPT_V1_TOKENS"], "true");
        assert_eq!(v["AUTH_AUDIENCE"], "c,api://c");
        assert_eq!(v["AUTH_GROUP_PERMISSIONS"], r#"{"g1":["admin:*"]}"#);
    }

    #[test]
    fn oidc_and_none() {
        let env = server_env(&cfg(r#"
[auth]
enabled = true
provider = "oidc"
issuer = "https://example.okta.com/oauth2/default/"
audience = "api://mcp"
[auth.dcr]
enabled = false
"#))
        .unwrap();
        assert_eq!(
            env.vars["AUTH_ISSUER"],
            "https://example.okta.com/oauth2/default"
        );
        assert_eq!(env.vars["AUTH_AUDIENCE"], "api://mcp");
        assert_eq!(env.vars["AUTH_DCR_ENABLED"], "false");
        assert!(!env.vars.contains_key("ENTRA_TENANT_ID"));
        let none = server_env(&DeployConfig::default()).unwrap();
        assert_eq!(none.names(), vec!["AUTH_PROVIDER".to_string()]);
        assert_eq!(none.vars["AUTH_PROVIDER"], "none");
    }

    #[test]
    fn errors_name_the_key() {
        let e = server_env(&cfg("[auth]\nenabled = true\nclient_id = \"c\"\n")).unwrap_err();
        assert!(e.to_string().contains("auth.tenant_id"), "{e}");
        let e = server_env(&cfg(
            "[auth]\nenabled = true\ntenant_id = \"t\"\nclient_id = \"c\"\n[auth.entra]\nauthority_host = \"http://evil.example\"\n",
        ))
        .unwrap_err();
        assert!(e.to_string().contains("auth.entra.authority_host"), "{e}");
        let e = server_env(&cfg("[environment]\nAUTH_ISSUER = \"x\"\n")).unwrap_err();
        assert!(matches!(e, EnvError::Reserved { .. }), "{e}");
        let e = server_env(&cfg("[environment]\n\"1BAD\" = \"x\"\n")).unwrap_err();
        assert!(matches!(e, EnvError::BadName { .. }), "{e}");
        let e = server_env(&cfg(
            "[environment]\nTOKEN = \"x\"\n[secrets]\nrequired = [\"TOKEN\"]\n",
        ))
        .unwrap_err();
        assert!(matches!(e, EnvError::Both { .. }), "{e}");
    }

    #[test]
    fn only_https_or_loopback_http_urls_pass() {
        let entra = |host: &str| {
            server_env(&cfg(&format!(
                "[auth]\nenabled = true\ntenant_id = \"t\"\nclient_id = \"c\"\n[auth.entra]\nauthority_host = \"{host}\"\n"
            )))
        };
        let oidc = |issuer: &str| {
            server_env(&cfg(&format!(
                "[auth]\nenabled = true\nprovider = \"oidc\"\nissuer = \"{issuer}\"\naudience = \"a\"\n"
            )))
        };
        assert!(entra("http://127.0.0.1:9").is_ok());
        assert!(oidc("http://localhost:9/issuer").is_ok());
        for bad in ["ftp://localhost", "file://localhost/x"] {
            let e = entra(bad).unwrap_err();
            assert!(e.to_string().contains("auth.entra.authority_host"), "{e}");
            let e = oidc(bad).unwrap_err();
            assert!(e.to_string().contains("auth.issuer"), "{e}");
        }
    }

    #[test]
    fn secrets_are_resolved_or_all_missing_listed() {
        let req = vec!["A".to_string(), "B".to_string(), "C".to_string()];
        let err = resolve_secrets(&req, |n| (n == "B").then(|| "v".to_string())).unwrap_err();
        assert_eq!(
            err.to_string(),
            "secrets A, C declared in [secrets] required are not set in the environment"
        );
        let ok = resolve_secrets(&req, |_| Some("s3cr3t".into())).unwrap();
        assert_eq!(ok.len(), 3);
        assert_eq!(
            format!("{:?}", ok[0]),
            "Secret { name: \"A\", value: [redacted] }"
        );
    }
}
