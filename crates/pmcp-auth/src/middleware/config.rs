//! Building the layer from the environment a deployment sets: [`AuthLayer::from_env`] and
//! [`AuthLayer::from_lookup`], and why that can fail ([`MiddlewareError`]).

use super::AuthLayer;
use crate::entra::{ConfigError, EntraConfig};
use crate::env;
use crate::{GroupPermissionMapper, JwtValidatorConfig};

/// Why the layer could not be built. The server should exit: it never starts unprotected by
/// accident.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MiddlewareError {
    /// `AUTH_PROVIDER` names a provider this layer does not know.
    #[error(
        "{var} is `{value}`, which is not a provider this server knows (expected `entra`, `oidc` or `none`)"
    )]
    UnknownProvider {
        /// The variable that was read (`AUTH_PROVIDER`).
        var: &'static str,
        /// Its value, trimmed and lowercased.
        value: String,
    },
    /// `AUTH_PROVIDER` is unset and there is no Entra configuration to infer it from.
    #[error(
        "no authentication is configured: set {provider} (`entra`, `oidc` or `none`) or {tenant} and {client}"
    )]
    NotConfigured {
        /// The variable that names the provider (`AUTH_PROVIDER`).
        provider: &'static str,
        /// The variable whose presence (with `client`) implies Entra (`ENTRA_TENANT_ID`).
        tenant: &'static str,
        /// The variable whose presence (with `tenant`) implies Entra (`ENTRA_CLIENT_ID`).
        client: &'static str,
    },
    /// `AUTH_PROVIDER=none`: authentication is switched off in the deployment's configuration.
    /// The layer refuses to pretend; a server that accepts this must decide so in its own code.
    #[error("{var} is `none`: authentication is disabled for this deployment")]
    Disabled {
        /// The variable that switched it off (`AUTH_PROVIDER`).
        var: &'static str,
    },
    /// A variable is missing or invalid (the validator's, the group mapping, or
    /// `AUTH_RESOURCE_URL`).
    #[error("{0}")]
    Config(#[from] ConfigError),
}

impl AuthLayer {
    /// Build from the deployment's environment variables (the contract in [`crate::env`]):
    /// - `AUTH_PROVIDER`: `entra` (or unset with `ENTRA_TENANT_ID` and `ENTRA_CLIENT_ID` present),
    ///   `oidc`, or `none` (→ [`MiddlewareError::Disabled`]); anything else fails, so a typo never
    ///   starts an open server;
    /// - the validator's variables ([`JwtValidatorConfig::from_env`]), checked before any request;
    /// - `AUTH_GROUP_PERMISSIONS` (JSON object: group GUID → permissions);
    /// - `AUTH_RESOURCE_URL` (optional): the public URL of the MCP endpoint, e.g.
    ///   `https://my-server.pmcp.run/mcp`; it fixes the metadata's `resource` and the path. Without
    ///   it the origin is taken from each request's `Host`.
    /// - `AUTH_DCR_ENABLED=true` (Entra only): the OAuth bridge ([`crate::bridge`]), with its
    ///   variables read by [`BridgeConfig::from_lookup`](crate::bridge::BridgeConfig::from_lookup)
    ///   (`ENTRA_CLIENT_SECRET` and `AUTH_DCR_SEALING_KEY` are then required).
    pub fn from_env() -> Result<Self, MiddlewareError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`AuthLayer::from_env`] over any variable source (tests, a config map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, MiddlewareError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let provider = match get(env::AUTH_PROVIDER) {
            Some(p) => p.trim().to_ascii_lowercase(),
            None if (get(env::ENTRA_TENANT_ID).is_some()
                || get(env::AZURE_TENANT_ID).is_some())
                && (get(env::ENTRA_CLIENT_ID).is_some() || get(env::AZURE_CLIENT_ID).is_some()) =>
            {
                "entra".to_string()
            }
            None => {
                return Err(MiddlewareError::NotConfigured {
                    provider: env::AUTH_PROVIDER,
                    tenant: env::ENTRA_TENANT_ID,
                    client: env::ENTRA_CLIENT_ID,
                });
            }
        };
        let layer = match provider.as_str() {
            "entra" => {
                let entra = EntraConfig::from_lookup(get)?;
                let config = JwtValidatorConfig::from_lookup(get)?;
                config.check()?;
                let mapper = match get(env::AUTH_GROUP_PERMISSIONS) {
                    Some(json) => GroupPermissionMapper::from_json(&json)?,
                    None => GroupPermissionMapper::empty(),
                };
                let layer = Self::new(config, &entra, mapper);
                if dcr_enabled(&get)? {
                    layer.bridge(crate::bridge::BridgeConfig::from_lookup(get, &entra)?)
                } else {
                    layer
                }
            }
            "oidc" => {
                let issuer = get(env::AUTH_ISSUER).ok_or(ConfigError::Required {
                    name: env::AUTH_ISSUER,
                    why: "AUTH_PROVIDER=oidc needs the provider's issuer URL",
                })?;
                if dcr_enabled(&get)? {
                    return Err(MiddlewareError::Config(ConfigError::Invalid {
                        name: env::AUTH_DCR_ENABLED,
                        detail: "the OAuth bridge fronts Microsoft Entra ID; with AUTH_PROVIDER=oidc the provider must offer client registration itself".into(),
                    }));
                }
                let config = JwtValidatorConfig::from_lookup(get)?;
                config.check()?;
                let scopes = get(env::AUTH_DCR_DEFAULT_SCOPES)
                    .map(|v| v.split_whitespace().map(str::to_string).collect())
                    .unwrap_or_default();
                Self::oidc(config, issuer.trim()).scopes_supported(scopes)
            }
            "none" => {
                return Err(MiddlewareError::Disabled {
                    var: env::AUTH_PROVIDER,
                });
            }
            _ => {
                return Err(MiddlewareError::UnknownProvider {
                    var: env::AUTH_PROVIDER,
                    value: provider,
                });
            }
        };
        match get(env::AUTH_RESOURCE_URL) {
            Some(url) => layer.resource_url(&url).map_err(|detail| {
                MiddlewareError::Config(ConfigError::Invalid {
                    name: env::AUTH_RESOURCE_URL,
                    detail,
                })
            }),
            None => Ok(layer),
        }
    }
}

/// `AUTH_DCR_ENABLED`: `true`/`false` (unset is false); anything else fails, so a typo never
/// silently leaves the bridge off (or on).
fn dcr_enabled(get: &impl Fn(&str) -> Option<String>) -> Result<bool, ConfigError> {
    match get(env::AUTH_DCR_ENABLED).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(false),
        Some(v) if v == "true" || v == "1" => Ok(true),
        Some(v) if v == "false" || v == "0" => Ok(false),
        Some(_) => Err(ConfigError::Invalid {
            name: env::AUTH_DCR_ENABLED,
            detail: "expected `true` or `false`".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    const TENANT: &str = "9c9d4a3e-5e26-4d1c-9f0b-2f3c8e1d7a01";
    const CLIENT: &str = "6f1e2d3c-4b5a-4987-8c6d-5e4f3a2b1c03";

    #[test]
    fn an_unknown_provider_fails_closed() {
        let err = AuthLayer::from_lookup(lookup(&[
            ("AUTH_PROVIDER", "entr"),
            ("ENTRA_TENANT_ID", TENANT),
            ("ENTRA_CLIENT_ID", CLIENT),
        ]))
        .unwrap_err();
        assert_eq!(
            err,
            MiddlewareError::UnknownProvider {
                var: "AUTH_PROVIDER",
                value: "entr".into()
            }
        );
        assert!(err.to_string().contains("`entr`"), "{err}");
    }

    #[test]
    fn none_and_nothing_are_not_silently_open() {
        assert_eq!(
            AuthLayer::from_lookup(lookup(&[("AUTH_PROVIDER", "none")])).unwrap_err(),
            MiddlewareError::Disabled {
                var: "AUTH_PROVIDER"
            }
        );
        assert!(matches!(
            AuthLayer::from_lookup(lookup(&[])).unwrap_err(),
            MiddlewareError::NotConfigured { .. }
        ));
        // Entra without a client id: the missing variable is named.
        let err = AuthLayer::from_lookup(lookup(&[
            ("AUTH_PROVIDER", "entra"),
            ("ENTRA_TENANT_ID", TENANT),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("ENTRA_CLIENT_ID"), "{err}");
        // OIDC without an issuer: named, with why, and no made-up fallback variable.
        let err = AuthLayer::from_lookup(lookup(&[("AUTH_PROVIDER", "oidc")])).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("AUTH_ISSUER is not set: AUTH_PROVIDER=oidc needs"),
            "{text}"
        );
        assert!(!text.contains("nor AUTH_ISSUER"), "{text}");
    }

    #[test]
    fn the_bridge_from_the_deploy_contract() {
        let base = [
            ("AUTH_PROVIDER", "entra"),
            ("ENTRA_TENANT_ID", TENANT),
            ("ENTRA_CLIENT_ID", CLIENT),
            ("ENTRA_CLIENT_SECRET", "s3cret-value"),
            ("AUTH_DCR_ENABLED", "true"),
        ];
        // Enabled without a sealing key: the server does not start, and says how to make one.
        let err = AuthLayer::from_lookup(lookup(&base)).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("AUTH_DCR_SEALING_KEY") && text.contains("openssl rand -base64 32"),
            "{text}"
        );
        let mut vars = base.to_vec();
        vars.push((
            "AUTH_DCR_SEALING_KEY",
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        ));
        vars.push(("AUTH_DCR_DEFAULT_SCOPES", "openid profile"));
        let layer = AuthLayer::from_lookup(lookup(&vars)).unwrap();
        assert!(layer.bridge_enabled());
        assert!(layer.bridge_warning().is_none());
        assert_eq!(
            layer.shared.scopes_supported,
            ["openid", "profile", "offline_access"]
        );
        // A typo in the switch is refused, not read as "off".
        let mut typo = vars.clone();
        typo[4] = ("AUTH_DCR_ENABLED", "yes please");
        let err = AuthLayer::from_lookup(lookup(&typo)).unwrap_err();
        assert!(err.to_string().contains("AUTH_DCR_ENABLED"), "{err}");
        // Off: the Entra issuer stays the authorization server.
        let mut off = vars.clone();
        off[4] = ("AUTH_DCR_ENABLED", "false");
        assert!(
            !AuthLayer::from_lookup(lookup(&off))
                .unwrap()
                .bridge_enabled()
        );
        // OIDC has no bridge.
        let err = AuthLayer::from_lookup(lookup(&[
            ("AUTH_PROVIDER", "oidc"),
            ("AUTH_ISSUER", "https://issuer.example.com"),
            ("AUTH_DCR_ENABLED", "true"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("AUTH_DCR_ENABLED"), "{err}");
    }

    #[test]
    fn entra_from_the_deploy_contract() {
        let vars = [
            ("AUTH_PROVIDER", "entra"),
            ("ENTRA_TENANT_ID", TENANT),
            ("ENTRA_CLIENT_ID", CLIENT),
            ("ENTRA_AUTHORITY_HOST", "https://login.microsoftonline.us"),
            (
                "AUTH_GROUP_PERMISSIONS",
                r#"{"0b1c2d3e-4f50-4617-8293-a4b5c6d7e801":["execute:tools"]}"#,
            ),
            ("AUTH_RESOURCE_URL", "https://mcp.example.com/api/mcp"),
        ];
        let layer = AuthLayer::from_lookup(lookup(&vars)).unwrap();
        assert_eq!(
            layer.authorization_servers(),
            [format!("https://login.microsoftonline.us/{TENANT}/v2.0")]
        );
        assert_eq!(
            layer.shared.scopes_supported,
            [format!("api://{CLIENT}/.default")]
        );
        assert_eq!(
            layer.shared.public_base.as_deref(),
            Some("https://mcp.example.com")
        );
        // The configured URL wins over the path the application suggests.
        let layer = layer.resource_path("/mcp");
        assert_eq!(layer.shared.resource_path, "/api/mcp");

        let mut bad = vars.to_vec();
        bad[4] = ("AUTH_GROUP_PERMISSIONS", "[1,2]");
        let err = AuthLayer::from_lookup(lookup(&bad)).unwrap_err();
        assert!(err.to_string().contains("AUTH_GROUP_PERMISSIONS"), "{err}");
        let mut bad = vars.to_vec();
        bad[5] = ("AUTH_RESOURCE_URL", "http://mcp.example.com/mcp");
        let err = AuthLayer::from_lookup(lookup(&bad)).unwrap_err();
        assert!(err.to_string().contains("AUTH_RESOURCE_URL"), "{err}");
    }
}
