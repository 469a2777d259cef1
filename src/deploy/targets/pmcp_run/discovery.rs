//! Where pmcp.run is: the base URL (flag, `PMCP_API_URL`, `PMCP_RUN_API_URL`, `[target] api_url`,
//! default) and what `GET {base}/.well-known/pmcp-config` says (the Cognito client and domain, the
//! GraphQL URL), with the `PMCP_RUN_COGNITO_CLIENT_ID`, `PMCP_RUN_COGNITO_DOMAIN` and
//! `PMCP_RUN_GRAPHQL_URL` overrides.
//!
//! Discovery is not cached on disk: it is one small GET per run, and a stale GraphQL URL is the
//! failure the protocol's "discover again" rule exists for.

use super::http::{REQUEST_TIMEOUT, Scrubber, check_url, error_chain, redirect_message, snippet};
use crate::deploy::targets::TargetError;
use serde::Deserialize;

/// The service's default base URL.
pub const DEFAULT_API_URL: &str = "https://api.pmcp.run";

/// The base URL and where it came from (for the "using … (from …)" line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    /// Without a trailing `/`.
    pub url: String,
    /// `--api-url`, `PMCP_API_URL`, `PMCP_RUN_API_URL`, `.pmcp/deploy.toml` or `default`.
    pub source: &'static str,
}

fn non_blank(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The base URL: `--api-url`, else `PMCP_API_URL`, else `PMCP_RUN_API_URL`, else `[target]
/// api_url`, else [`DEFAULT_API_URL`]. `env` looks a variable up (the process environment in the
/// CLI).
pub fn base_url(
    flag: Option<&str>,
    config: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> BaseUrl {
    let candidates = [
        (non_blank(flag.map(str::to_string)), "--api-url"),
        (non_blank(env("PMCP_API_URL")), "PMCP_API_URL"),
        (non_blank(env("PMCP_RUN_API_URL")), "PMCP_RUN_API_URL"),
        (
            non_blank(config.map(str::to_string)),
            crate::config::DEPLOY_TOML,
        ),
    ];
    let (url, source) = candidates
        .into_iter()
        .find_map(|(v, s)| v.map(|v| (v, s)))
        .unwrap_or_else(|| (DEFAULT_API_URL.to_string(), "default"));
    BaseUrl {
        url: url.trim_end_matches('/').to_string(),
        source,
    }
}

/// Values that replace what discovery says (`PMCP_RUN_COGNITO_CLIENT_ID`,
/// `PMCP_RUN_COGNITO_DOMAIN`, `PMCP_RUN_GRAPHQL_URL`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub cognito_client_id: Option<String>,
    pub cognito_domain: Option<String>,
    pub graphql_url: Option<String>,
}

impl Overrides {
    /// The overrides set in the environment.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Self {
        Self {
            cognito_client_id: non_blank(env("PMCP_RUN_COGNITO_CLIENT_ID")),
            cognito_domain: non_blank(env("PMCP_RUN_COGNITO_DOMAIN")),
            graphql_url: non_blank(env("PMCP_RUN_GRAPHQL_URL")),
        }
    }
}

/// The discovery document (snake_case; unknown fields ignored).
#[derive(Debug, Default, Deserialize)]
struct Document {
    cognito_client_id: Option<String>,
    cognito_domain: Option<String>,
    graphql_url: Option<String>,
    mcp_url: Option<String>,
    api_type: Option<String>,
}

/// What the CLI needs to know about the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// The base URL discovery was read from.
    pub base: String,
    /// The public Cognito app client of the service (login, refresh).
    pub cognito_client_id: String,
    /// The Cognito domain with its scheme, without a trailing `/`.
    pub cognito: String,
    /// Where GraphQL requests go.
    pub graphql_url: String,
    /// The service's MCP base URL, when it says.
    pub mcp_url: Option<String>,
}

impl ServiceConfig {
    /// `{cognito}/oauth2/token`.
    pub fn token_endpoint(&self) -> String {
        format!("{}/oauth2/token", self.cognito)
    }

    /// `{cognito}/oauth2/authorize`.
    pub fn authorize_endpoint(&self) -> String {
        format!("{}/oauth2/authorize", self.cognito)
    }
}

/// `cognito_domain` with a scheme: as given when it has one, else `https://`.
fn cognito_url(domain: &str) -> String {
    let d = domain.trim().trim_end_matches('/');
    if d.contains("://") {
        d.to_string()
    } else {
        format!("https://{d}")
    }
}

fn unreachable(base: &str, detail: String) -> TargetError {
    TargetError::Upload {
        message: format!("cannot read pmcp.run discovery at {base}/.well-known/pmcp-config: {detail}"),
        hint: Some(
            "check the API URL (--api-url, PMCP_API_URL, PMCP_RUN_API_URL or [target] api_url) and your network"
                .into(),
        ),
    }
}

/// `GET {base}/.well-known/pmcp-config`, with the overrides applied. Errors are exit 4 (the service
/// cannot be used).
pub async fn discover(
    http: &reqwest::Client,
    base: &str,
    overrides: &Overrides,
    scrub: &Scrubber,
) -> Result<ServiceConfig, TargetError> {
    let url = format!("{base}/.well-known/pmcp-config");
    let fail = |detail: String| unreachable(base, scrub.scrub(&detail));
    let resp = http
        .get(&url)
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(|e| fail(error_chain(e)))?;
    if let Some(m) = redirect_message(&resp) {
        return Err(fail(m));
    }
    let status = resp.status();
    let body = resp.text().await.map_err(|e| fail(error_chain(e)))?;
    if !status.is_success() {
        return Err(fail(format!("HTTP {status}: {}", snippet(&body))));
    }
    let doc: Document = serde_json::from_str(&body)
        .map_err(|e| fail(format!("unexpected response ({e}): {}", snippet(&body))))?;
    resolve(base, doc, overrides).map_err(fail)
}

fn resolve(base: &str, doc: Document, o: &Overrides) -> Result<ServiceConfig, String> {
    if let Some(t) = doc.api_type.as_deref()
        && t != "graphql"
    {
        return Err(format!(
            "the service's api_type is `{t}`; this cargo pmcp speaks `graphql`"
        ));
    }
    let non_blank = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let cognito_client_id = o
        .cognito_client_id
        .clone()
        .or_else(|| non_blank(doc.cognito_client_id))
        .ok_or("the document has no cognito_client_id (set PMCP_RUN_COGNITO_CLIENT_ID)")?;
    let domain = o
        .cognito_domain
        .clone()
        .or_else(|| non_blank(doc.cognito_domain))
        .ok_or("the document has no cognito_domain (set PMCP_RUN_COGNITO_DOMAIN)")?;
    let cognito = cognito_url(&domain);
    check_url("cognito_domain", &cognito)?;
    let graphql_url = o
        .graphql_url
        .clone()
        .or_else(|| non_blank(doc.graphql_url))
        .unwrap_or_else(|| format!("{base}/graphql"));
    check_url("graphql_url", &graphql_url)?;
    Ok(ServiceConfig {
        base: base.to_string(),
        cognito_client_id,
        cognito,
        graphql_url,
        mcp_url: non_blank(doc.mcp_url),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn base_url_order_is_flag_then_api_url_then_run_api_url_then_file_then_default() {
        let all = env(&[
            ("PMCP_API_URL", "https://a.example/"),
            ("PMCP_RUN_API_URL", "https://b.example"),
        ]);
        let b = base_url(
            Some("https://flag.example"),
            Some("https://c.example"),
            &all,
        );
        assert_eq!(
            (b.url.as_str(), b.source),
            ("https://flag.example", "--api-url")
        );
        let b = base_url(None, Some("https://c.example"), &all);
        assert_eq!(
            (b.url.as_str(), b.source),
            ("https://a.example", "PMCP_API_URL")
        );
        let b = base_url(
            None,
            Some("https://c.example"),
            env(&[
                ("PMCP_API_URL", " "),
                ("PMCP_RUN_API_URL", "https://b.example"),
            ]),
        );
        assert_eq!(b.source, "PMCP_RUN_API_URL");
        let b = base_url(None, Some("https://c.example"), env(&[]));
        assert_eq!(
            (b.url.as_str(), b.source),
            ("https://c.example", ".pmcp/deploy.toml")
        );
        let b = base_url(None, None, env(&[]));
        assert_eq!((b.url.as_str(), b.source), (DEFAULT_API_URL, "default"));
    }

    #[test]
    fn discovery_defaults_and_overrides() {
        let doc = |d: &str| Document {
            cognito_client_id: Some("pub-client".into()),
            cognito_domain: Some(d.into()),
            ..Default::default()
        };
        let c = resolve(
            "https://api.x",
            doc("auth.x.example/"),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.cognito, "https://auth.x.example");
        assert_eq!(c.token_endpoint(), "https://auth.x.example/oauth2/token");
        assert_eq!(c.graphql_url, "https://api.x/graphql");
        // A scheme is kept; plain http only for loopback.
        let c = resolve(
            "http://127.0.0.1:9",
            doc("http://127.0.0.1:9"),
            &Overrides::default(),
        );
        assert_eq!(c.unwrap().cognito, "http://127.0.0.1:9");
        assert!(
            resolve(
                "https://api.x",
                doc("http://auth.x.example"),
                &Overrides::default()
            )
            .is_err()
        );
        let o = Overrides::from_env(env(&[
            ("PMCP_RUN_COGNITO_CLIENT_ID", "other"),
            ("PMCP_RUN_COGNITO_DOMAIN", "auth.other.example"),
            ("PMCP_RUN_GRAPHQL_URL", "https://gql.other.example/graphql"),
        ]));
        let c = resolve("https://api.x", Document::default(), &o).unwrap();
        assert_eq!(c.cognito_client_id, "other");
        assert_eq!(c.cognito, "https://auth.other.example");
        assert_eq!(c.graphql_url, "https://gql.other.example/graphql");
        // Required fields, and only graphql is spoken.
        let e = resolve("https://api.x", Document::default(), &Overrides::default()).unwrap_err();
        assert!(e.contains("cognito_client_id"), "{e}");
        let mut d = doc("auth.x.example");
        d.api_type = Some("rest".into());
        assert!(resolve("https://api.x", d, &Overrides::default()).is_err());
    }
}
