//! Entra ID configuration: tenant, client, clouds (authority hosts) and the endpoints derived from them.

use super::env;
use super::secret::SecretString;

/// The Microsoft clouds, each with its own authority host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cloud {
    /// `https://login.microsoftonline.com`
    Public,
    /// Azure US Government: `https://login.microsoftonline.us`
    UsGov,
    /// Azure operated by 21Vianet: `https://login.chinacloudapi.cn`
    China,
}

impl Cloud {
    /// All clouds, in the order they are listed to users.
    pub const ALL: [Cloud; 3] = [Cloud::Public, Cloud::UsGov, Cloud::China];

    /// The cloud's name as a user types it: `public`, `usgov`, `china`.
    pub fn name(self) -> &'static str {
        match self {
            Cloud::Public => "public",
            Cloud::UsGov => "usgov",
            Cloud::China => "china",
        }
    }

    /// Parse `public` / `usgov` / `china` (case-insensitive; `azurepubliccloud` style names too).
    pub fn from_name(name: &str) -> Option<Cloud> {
        match name.trim().to_ascii_lowercase().as_str() {
            "public" | "azurepubliccloud" | "global" => Some(Cloud::Public),
            "usgov" | "usgovernment" | "azureusgovernment" => Some(Cloud::UsGov),
            "china" | "azurechinacloud" => Some(Cloud::China),
            _ => None,
        }
    }

    /// The authority host, without a trailing slash.
    pub fn authority_host(self) -> &'static str {
        match self {
            Cloud::Public => "https://login.microsoftonline.com",
            Cloud::UsGov => "https://login.microsoftonline.us",
            Cloud::China => "https://login.chinacloudapi.cn",
        }
    }

    /// The audience a workload-identity (federated) assertion is requested for in this cloud.
    pub fn token_exchange_audience(self) -> &'static str {
        match self {
            Cloud::Public => "api://AzureADTokenExchange",
            Cloud::UsGov => "api://AzureADTokenExchangeUSGov",
            Cloud::China => "api://AzureADTokenExchangeChina",
        }
    }

    /// The cloud whose authority host is `host` (scheme and trailing slash ignored), if any.
    pub fn from_authority_host(host: &str) -> Option<Cloud> {
        let h = normalize_authority_host(host);
        Cloud::ALL.into_iter().find(|c| c.authority_host() == h)
    }
}

/// The default authority host (public cloud).
pub const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";

/// Trim whitespace and trailing slashes from an authority host URL.
pub fn normalize_authority_host(host: &str) -> String {
    host.trim().trim_end_matches('/').to_string()
}

/// Why [`EntraConfig::from_env`] could not build a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset (both its names are listed).
    #[error("{name} is not set (nor {fallback})")]
    Missing {
        /// The variable's name.
        name: &'static str,
        /// Its alias, read when the name is unset.
        fallback: &'static str,
    },
    /// A variable without a fallback is unset, though the rest of the configuration needs it.
    #[error("{name} is not set: {why}")]
    Required {
        /// The variable's name.
        name: &'static str,
        /// What needs it.
        why: &'static str,
    },
    /// A variable is set to something unusable.
    #[error("{name} is invalid: {detail}")]
    Invalid {
        /// The variable's name.
        name: &'static str,
        /// What is wrong with its value.
        detail: String,
    },
}

/// Where the API's app registration lives and how to reach its authority.
#[derive(Debug, Clone)]
pub struct EntraConfig {
    /// Directory (tenant) id: a GUID or verified domain; `common` / `organizations` for multi-tenant.
    pub tenant_id: String,
    /// Application (client) id of the API.
    pub client_id: String,
    /// Client secret, only needed for on-behalf-of and client-credential calls made by the server.
    pub client_secret: Option<SecretString>,
    /// Authority host without a trailing slash. Defaults to `https://login.microsoftonline.com`.
    pub authority_host: String,
}

impl EntraConfig {
    /// A configuration for the public cloud.
    pub fn new(tenant_id: impl Into<String>, client_id: impl Into<String>) -> Self {
        Self {
            tenant_id: tenant_id.into(),
            client_id: client_id.into(),
            client_secret: None,
            authority_host: DEFAULT_AUTHORITY_HOST.to_string(),
        }
    }

    /// Use another authority host (national cloud, or a local emulator).
    pub fn with_authority_host(mut self, host: &str) -> Self {
        self.authority_host = normalize_authority_host(host);
        self
    }

    /// Read `ENTRA_TENANT_ID`/`AZURE_TENANT_ID`, `ENTRA_CLIENT_ID`/`AZURE_CLIENT_ID`,
    /// `ENTRA_CLIENT_SECRET`/`AZURE_CLIENT_SECRET` (optional) and
    /// `ENTRA_AUTHORITY_HOST`/`AZURE_AUTHORITY_HOST` (optional; default public cloud).
    /// These are the names `cargo pmcp deploy` sets on the server.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`EntraConfig::from_env`] over any variable source (tests, config maps).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let first_set = |names: &[&'static str]| env::first_set_in(&lookup, names);
        let (tenant_id, _) = first_set(&[env::ENTRA_TENANT_ID, env::AZURE_TENANT_ID]).ok_or(
            ConfigError::Missing {
                name: env::ENTRA_TENANT_ID,
                fallback: env::AZURE_TENANT_ID,
            },
        )?;
        let (client_id, _) = first_set(&[env::ENTRA_CLIENT_ID, env::AZURE_CLIENT_ID]).ok_or(
            ConfigError::Missing {
                name: env::ENTRA_CLIENT_ID,
                fallback: env::AZURE_CLIENT_ID,
            },
        )?;
        let client_secret = first_set(&[env::ENTRA_CLIENT_SECRET, env::AZURE_CLIENT_SECRET])
            .map(|(v, _)| SecretString::new(v));
        let authority_host = first_set(&[env::ENTRA_AUTHORITY_HOST, env::AZURE_AUTHORITY_HOST])
            .map(|(v, _)| normalize_authority_host(&v))
            .unwrap_or_else(|| DEFAULT_AUTHORITY_HOST.to_string());
        if !is_https_or_loopback(&authority_host) {
            return Err(ConfigError::Invalid {
                name: env::ENTRA_AUTHORITY_HOST,
                detail: format!(
                    "`{authority_host}` must be an https:// URL (http:// only for a loopback host: 127.0.0.0/8, [::1], localhost)"
                ),
            });
        }
        Ok(Self {
            tenant_id: tenant_id.trim().to_string(),
            client_id: client_id.trim().to_string(),
            client_secret,
            authority_host,
        })
    }

    /// `{authority}/{tenant}/v2.0` — the v2.0 issuer for a single tenant (the authority's discovery
    /// document is the truth; the validator reads it from there).
    pub fn issuer(&self) -> String {
        format!("{}/{}/v2.0", self.authority_host, self.tenant_id)
    }

    /// `{authority}/{tenant}/discovery/v2.0/keys`
    pub fn jwks_uri(&self) -> String {
        format!(
            "{}/{}/discovery/v2.0/keys",
            self.authority_host, self.tenant_id
        )
    }

    /// `{authority}/{tenant}/oauth2/v2.0/token`
    pub fn token_endpoint(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.authority_host, self.tenant_id
        )
    }

    /// `{authority}/{tenant}/oauth2/v2.0/devicecode`
    pub fn device_code_endpoint(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/devicecode",
            self.authority_host, self.tenant_id
        )
    }

    /// `{authority}/{tenant}/v2.0/.well-known/openid-configuration`
    pub fn discovery_url(&self) -> String {
        format!(
            "{}/{}/v2.0/.well-known/openid-configuration",
            self.authority_host, self.tenant_id
        )
    }

    /// `{authority}/{tenant}/.well-known/openid-configuration` (v1.0 endpoints)
    pub fn discovery_url_v1(&self) -> String {
        format!(
            "{}/{}/.well-known/openid-configuration",
            self.authority_host, self.tenant_id
        )
    }

    /// The cloud this authority host belongs to, if it is one of Microsoft's.
    pub fn cloud(&self) -> Option<Cloud> {
        Cloud::from_authority_host(&self.authority_host)
    }
}

/// True for an `https://` URL, or an `http://` one to a loopback host (127.0.0.1, localhost,
/// `[::1]`, e.g. a local emulator): the one rule for every URL a token or secret is sent to or
/// trusted from. Any other scheme (`ftp://localhost`) and anything that does not parse is false.
pub fn is_https_or_loopback(url: &str) -> bool {
    match url::Url::parse(url) {
        Ok(u) => u.scheme() == "https" || (u.scheme() == "http" && is_loopback_url(url)),
        Err(_) => false,
    }
}

/// True for a URL whose host is a loopback address: any of 127.0.0.0/8 (the whole block is
/// loopback, not only 127.0.0.1), `[::1]`, or the name `localhost` (any case). Nothing else: not
/// `0.0.0.0`, not a name that merely resolves to 127.0.0.1.
pub fn is_loopback_url(url: &str) -> bool {
    match url::Url::parse(url) {
        Ok(u) => match u.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        Err(_) => false,
    }
}

/// True when `s` is a GUID in the 8-4-4-4-12 hex form.
pub fn is_guid(s: &str) -> bool {
    // Byte by byte, without splitting: every validated token's `tid` goes through here.
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_follow_the_authority() {
        let c = EntraConfig::new("contoso.onmicrosoft.com", "c1")
            .with_authority_host("https://login.microsoftonline.us/");
        assert_eq!(
            c.issuer(),
            "https://login.microsoftonline.us/contoso.onmicrosoft.com/v2.0"
        );
        assert_eq!(
            c.token_endpoint(),
            "https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(c.cloud(), Some(Cloud::UsGov));
    }

    #[test]
    fn guid_and_loopback() {
        assert!(is_guid("12345678-1234-1234-1234-123456789abc"));
        assert!(!is_guid("12345678-1234-1234-1234-123456789abz"));
        assert!(!is_guid("contoso.com"));
        assert!(is_guid("ABCDEF12-abcd-0000-9999-FFFFFFFFFFFF"));
        for bad in [
            "",
            "12345678-1234-1234-1234-123456789abc0",
            "12345678-1234-1234-1234-123456789ab",
            "123456789-234-1234-1234-123456789abc",
            "12345678-1234-1234-1234_123456789abc",
            "12345678-1234-1234-1234-123456789-bc",
            "12345678-1234-1234-12341-23456789abc",
            "{2345678-1234-1234-1234-123456789ab}",
            "12345678-1234-1234-1234-12345678\u{e9}c",
        ] {
            assert!(!is_guid(bad), "{bad}");
        }
        assert!(is_loopback_url("http://127.0.0.1:8080/x"));
        assert!(is_loopback_url("http://localhost:1"));
        assert!(!is_loopback_url("http://example.com"));
        // The whole 127.0.0.0/8 block, as docs/security.md says; nothing next to it.
        assert!(is_loopback_url("http://127.1.2.3:8080/x"));
        assert!(is_loopback_url("http://LOCALHOST:1"));
        assert!(!is_loopback_url("http://128.0.0.1/x"));
        assert!(!is_loopback_url("http://0.0.0.0/x"));
        assert!(!is_loopback_url("http://localhost.example.com/x"));
        assert!(!is_loopback_url("http://[::2]/x"));
        assert!(is_https_or_loopback("https://login.microsoftonline.com"));
        assert!(is_https_or_loopback("http://127.0.0.1:8080"));
        assert!(is_https_or_loopback("http://[::1]:1/x"));
        assert!(!is_https_or_loopback("http://example.com"));
        assert!(!is_https_or_loopback("ftp://localhost/x"));
        assert!(!is_https_or_loopback("https://"));
    }

    #[test]
    fn clouds_by_name() {
        for c in Cloud::ALL {
            assert_eq!(Cloud::from_name(c.name()), Some(c));
        }
        assert_eq!(Cloud::from_name("mars"), None);
    }
}
