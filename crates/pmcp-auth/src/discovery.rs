//! OpenID Connect discovery documents, and the guarded HTTP fetch the validator uses for them and
//! for JWK sets: https only (http just for loopback hosts), a timeout, and a response size cap.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::entra::is_https_or_loopback;

/// The members of an OpenID Provider Configuration the tool uses. Unknown members are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveryDocument {
    /// The issuer identifier; Entra's multi-tenant documents contain `{tenantid}`.
    pub issuer: String,
    /// Where the signing keys are published.
    pub jwks_uri: String,
    /// OAuth 2.0 authorization endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// OAuth 2.0 token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    /// Device authorization endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_authorization_endpoint: Option<String>,
    /// Signing algorithms the provider uses for ID tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signing_alg_values_supported: Option<Vec<String>>,
}

impl DiscoveryDocument {
    /// Parse a discovery document. `issuer` and `jwks_uri` are required.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let doc: DiscoveryDocument = serde_json::from_slice(bytes).map_err(|e| {
            format!("not an OpenID discovery document (needs `issuer` and `jwks_uri`): {e}")
        })?;
        if doc.issuer.trim().is_empty() {
            return Err("`issuer` is empty".into());
        }
        check_url(&doc.jwks_uri).map_err(|e| format!("`jwks_uri`: {e}"))?;
        Ok(doc)
    }
}

/// The discovery URL of an OIDC issuer: `{issuer}/.well-known/openid-configuration`.
pub fn discovery_url_for_issuer(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// Require `https://`, or `http://` to a loopback host (127.0.0.0/8, [::1], localhost).
pub fn check_url(url: &str) -> Result<(), String> {
    url::Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    if is_https_or_loopback(url) {
        Ok(())
    } else {
        Err(format!(
            "`{url}` must use https:// (http:// is allowed only for a loopback host: 127.0.0.0/8, [::1], localhost)"
        ))
    }
}

/// Limits for metadata fetches.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FetchLimits {
    pub max_bytes: usize,
}

/// An HTTP client for metadata: the given timeout, redirects only to https (or loopback) URLs.
pub(crate) fn metadata_client(timeout: Duration) -> reqwest::Client {
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() >= 5 {
            attempt.error("too many redirects")
        } else if check_url(attempt.url().as_str()).is_err() {
            attempt.error("redirect to a non-https URL")
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(policy)
        .user_agent(concat!("cargo-pmcp/", env!("CARGO_PKG_VERSION")))
        .build()
        // Building only fails when the TLS backend cannot initialise; a default client then
        // reports the same problem on first use instead of at construction.
        .unwrap_or_default()
}

/// GET `url` and return the body, enforcing https-except-loopback, the client's timeout, a 2xx
/// status and the size cap.
pub(crate) async fn fetch_bytes(
    client: &reqwest::Client,
    url: &str,
    limits: FetchLimits,
) -> Result<Vec<u8>, String> {
    check_url(url)?;
    let mut response = client
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| describe_reqwest_error(&e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    if let Some(len) = response.content_length()
        && len > limits.max_bytes as u64
    {
        return Err(format!(
            "the response is {len} bytes, over the {} byte limit",
            limits.max_bytes
        ));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| describe_reqwest_error(&e))?
    {
        if body.len() + chunk.len() > limits.max_bytes {
            return Err(format!(
                "the response is over the {} byte limit",
                limits.max_bytes
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn describe_reqwest_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        format!("could not connect: {e}")
    } else if e.is_redirect() {
        format!("bad redirect: {e}")
    } else {
        e.to_string()
    }
}

/// Fetch and parse a discovery document.
pub(crate) async fn fetch_discovery(
    client: &reqwest::Client,
    url: &str,
    limits: FetchLimits,
) -> Result<DiscoveryDocument, String> {
    let body = fetch_bytes(client, url, limits).await?;
    DiscoveryDocument::parse(&body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_required_except_loopback() {
        assert!(check_url("https://login.microsoftonline.com/x").is_ok());
        assert!(check_url("http://127.0.0.1:1234/x").is_ok());
        assert!(check_url("http://[::1]:1234/x").is_ok());
        assert!(check_url("http://localhost/x").is_ok());
        assert!(check_url("http://login.microsoftonline.com/x").is_err());
        assert!(check_url("http://127.0.0.1.nip.io/x").is_err());
        assert!(check_url("file:///etc/passwd").is_err());
        assert!(check_url("not a url").is_err());
    }

    #[test]
    fn parses_entra_documents() {
        let doc = DiscoveryDocument::parse(
            br#"{"issuer":"https://login.microsoftonline.com/{tenantid}/v2.0",
                 "jwks_uri":"https://login.microsoftonline.com/common/discovery/v2.0/keys",
                 "token_endpoint":"https://t","extra":[1,2]}"#,
        )
        .unwrap();
        assert!(doc.issuer.contains("{tenantid}"));
        assert!(DiscoveryDocument::parse(br#"{"issuer":"x"}"#).is_err());
        assert!(
            DiscoveryDocument::parse(br#"{"issuer":"x","jwks_uri":"http://evil.example/k"}"#)
                .is_err()
        );
    }

    #[test]
    fn discovery_url_joins_cleanly() {
        assert_eq!(
            discovery_url_for_issuer("https://idp.example/"),
            "https://idp.example/.well-known/openid-configuration"
        );
    }
}
