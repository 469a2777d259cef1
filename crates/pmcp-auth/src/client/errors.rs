//! What goes wrong when asking for a token, typed: [`EntraTokenError`] (an Entra token-endpoint
//! error body parsed into its `AADSTS` code, message and trace ids), [`CredentialError`] (every way
//! acquisition fails), and [`AssertionIdentity`] (the `iss`/`sub`/`aud` of a federated assertion we
//! presented, to explain a mismatch). Also how a non-2xx answer is classified and how HTTP errors
//! and bodies are worded in messages.

use std::path::PathBuf;

use serde::Deserialize;

/// The longest error body we quote back to the user.
const MAX_QUOTED_BODY: usize = 300;

/// The `iss`, `sub` and `aud` of a federated assertion we presented, to compare with the federated
/// credential Entra holds when it finds no match. Read without verification (it is our own input,
/// decoded only to explain a failure).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AssertionIdentity {
    /// The assertion's `iss`: who issued it (e.g. [`GITHUB_ACTIONS_ISSUER`](super::GITHUB_ACTIONS_ISSUER)).
    pub issuer: Option<String>,
    /// The assertion's `sub`: the workload it names (e.g. `repo:org/repo:ref:refs/heads/main`).
    pub subject: Option<String>,
    /// The assertion's `aud`, several audiences joined with `, `.
    pub audience: Option<String>,
}

impl AssertionIdentity {
    /// Read `iss`/`sub`/`aud` from a JWT's payload without checking anything. `None` if not a JWT.
    pub fn from_unverified_jwt(jwt: &str) -> Option<Self> {
        let v = crate::dangerous::decode_unverified(jwt).ok()?.claims;
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        let audience = match v.get("aud") {
            Some(serde_json::Value::String(a)) => Some(a.clone()),
            Some(serde_json::Value::Array(a)) => Some(
                a.iter()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            _ => None,
        };
        Some(Self {
            issuer: s("iss"),
            subject: s("sub"),
            audience,
        })
    }
}

/// An error answer from Entra's token endpoint, parsed: `AADSTS` code, Microsoft's message, trace
/// and correlation ids, and (for federated credentials) the assertion that was presented.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EntraTokenError {
    /// HTTP status of the answer.
    pub status: u16,
    /// The OAuth `error` (`invalid_client`, `invalid_scope`, `invalid_request`, …).
    pub error: String,
    /// The first `AADSTS` number (from `error_codes`, else from the description).
    pub code: Option<u32>,
    /// All of `error_codes`.
    pub codes: Vec<u32>,
    /// Microsoft's message without the `AADSTSnnn:` prefix and the trailing trace lines.
    pub message: String,
    /// Entra's `trace_id` for this request (from the body, else from the description's trailer).
    pub trace_id: Option<String>,
    /// Entra's `correlation_id` for this request (from the body, else from the description's
    /// trailer).
    pub correlation_id: Option<String>,
    /// When Entra answered, as Entra wrote it (`2026-01-09 02:02:12Z`).
    pub timestamp: Option<String>,
    /// Entra's `error_uri`: a page about this error code.
    pub error_uri: Option<String>,
    /// A claims challenge (`interaction_required` answers), to hand back to the client.
    pub claims: Option<String>,
    /// The federated assertion we sent, when the request used one.
    pub assertion: Option<AssertionIdentity>,
    /// The client id the request was made for.
    pub client_id: Option<String>,
}

#[derive(Deserialize)]
struct RawErrorBody {
    error: Option<String>,
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Vec<u32>,
    timestamp: Option<String>,
    trace_id: Option<String>,
    correlation_id: Option<String>,
    error_uri: Option<String>,
    claims: Option<String>,
}

impl EntraTokenError {
    /// Parse an Entra token-endpoint error body. `None` when the body is not an OAuth error object
    /// carrying an `AADSTS` code (then it is not Entra's).
    pub fn parse(status: u16, body: &str) -> Option<Self> {
        let raw: RawErrorBody = serde_json::from_str(body).ok()?;
        let error = raw.error?;
        let description = raw.error_description.unwrap_or_default();
        let code_in_text = aadsts_in_text(&description);
        if raw.error_codes.is_empty() && code_in_text.is_none() {
            return None;
        }
        let code = raw.error_codes.first().copied().or(code_in_text);
        let trace_id = raw
            .trace_id
            .or_else(|| line_value(&description, "Trace ID:"));
        let correlation_id = raw
            .correlation_id
            .or_else(|| line_value(&description, "Correlation ID:"));
        Some(Self {
            status,
            error,
            code,
            codes: raw.error_codes,
            message: clean_description(&description),
            trace_id,
            correlation_id,
            timestamp: raw.timestamp,
            error_uri: raw.error_uri,
            claims: raw.claims,
            assertion: None,
            client_id: None,
        })
    }

    /// `AADSTS7000215`-style code, or the OAuth error when there is no number.
    pub fn aadsts(&self) -> String {
        match self.code {
            Some(c) => format!("AADSTS{c}"),
            None => self.error.clone(),
        }
    }

    /// True when a person must sign in again (MFA, consent, conditional access): on-behalf-of
    /// callers pass [`EntraTokenError::claims`] back to their client.
    pub fn is_interaction_required(&self) -> bool {
        self.error == "interaction_required"
            || self.error == "consent_required"
            || matches!(self.code, Some(50076 | 50079 | 65001 | 53003))
    }

    /// True for the "no matching federated identity record" family.
    pub fn is_federated_mismatch(&self) -> bool {
        matches!(
            self.code,
            Some(700211 | 700212 | 700213 | 7002137 | 7002138 | 70021)
        )
    }
}

impl std::fmt::Display for EntraTokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.aadsts(), self.message)
    }
}

impl std::error::Error for EntraTokenError {}

/// Why a token could not be acquired.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// Entra's token endpoint refused, with an `AADSTS` code.
    #[error("{0}")]
    Entra(Box<EntraTokenError>),
    /// Another OAuth server's error answer (`error` / `error_description`).
    #[error("the token endpoint {url} refused the request ({status}): {error}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    OAuth {
        /// The endpoint that answered.
        url: String,
        /// HTTP status of the answer.
        status: u16,
        /// The OAuth `error` (`invalid_client`, `invalid_grant`, …).
        error: String,
        /// The OAuth `error_description`, when sent.
        description: Option<String>,
    },
    /// The server could not be reached, or the connection broke.
    #[error("could not reach {url}: {detail}")]
    Network {
        /// The URL that could not be reached.
        url: String,
        /// What broke: timed out, connection refused, a DNS error, the answer cut short.
        detail: String,
    },
    /// The server answered with a redirect (HTTP 3xx). Token requests carry credentials (client
    /// secrets, assertions, device codes), so they are never re-sent to another address: the
    /// request went only to `url`.
    #[error("{url} answered HTTP {status} (a redirect{}); cargo-pmcp does not follow redirects with credentials, so nothing was sent elsewhere", location.as_deref().map(|l| format!(" to {l}")).unwrap_or_default())]
    Redirected {
        /// The URL that answered 3xx (the one the request was sent to).
        url: String,
        /// The 3xx status.
        status: u16,
        /// Where it pointed (its `Location`), when it said.
        location: Option<String>,
    },
    /// An answer that is not what the protocol says.
    #[error("unexpected answer from {url} (HTTP {status}): {detail}")]
    InvalidResponse {
        /// The endpoint that answered.
        url: String,
        /// HTTP status of the answer.
        status: u16,
        /// What was wrong with it, quoting the start of the body.
        detail: String,
    },
    /// The certificate PEM could not be used.
    #[error("certificate {origin}: {detail}")]
    Certificate {
        /// Where the PEM came from: a path or an environment variable's name.
        origin: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The federated token file could not be read.
    #[error("federated token file {}: {detail}", path.display())]
    FederatedTokenFile {
        /// The file's path.
        path: PathBuf,
        /// What is wrong: missing, unreadable, empty, or not a JWT.
        detail: String,
    },
    /// GitHub Actions did not hand out an ID token.
    #[error("the GitHub Actions ID token request failed: {detail}")]
    GitHubIdToken {
        /// What went wrong: the service's HTTP status and body, or why it could not be reached.
        detail: String,
    },
    /// On-behalf-of needs the API's own credential: [`EntraConfig::client_secret`] is not set.
    ///
    /// [`EntraConfig::client_secret`]: crate::EntraConfig::client_secret
    #[error("on-behalf-of needs the API's client secret, and none is configured")]
    MissingClientSecret,
    /// The device code expired before the person signed in.
    #[error("the device code expired before sign-in completed")]
    DeviceCodeExpired,
    /// The person declined the sign-in.
    #[error("the sign-in was declined")]
    AuthorizationDeclined,
    /// An OIDC discovery document could not be used.
    #[error("the OpenID discovery document at {url} could not be used: {detail}")]
    Discovery {
        /// The discovery document's URL (`{issuer}/.well-known/openid-configuration`).
        url: String,
        /// What is wrong: unreachable, not JSON, another issuer, a missing or non-https endpoint.
        detail: String,
    },
}

impl CredentialError {
    /// A stable code: `AADSTS7000215`, `invalid_client`, `network`, `certificate`, …
    pub fn code(&self) -> String {
        match self {
            CredentialError::Entra(e) => e.aadsts(),
            CredentialError::OAuth { error, .. } => error.clone(),
            CredentialError::Network { .. } => "network".into(),
            CredentialError::Redirected { .. } => "redirected".into(),
            CredentialError::InvalidResponse { .. } => "invalid_response".into(),
            CredentialError::Certificate { .. } => "certificate".into(),
            CredentialError::FederatedTokenFile { .. } => "federated_token_file".into(),
            CredentialError::GitHubIdToken { .. } => "github_id_token".into(),
            CredentialError::MissingClientSecret => "missing_client_secret".into(),
            CredentialError::DeviceCodeExpired => "expired_token".into(),
            CredentialError::AuthorizationDeclined => "authorization_declined".into(),
            CredentialError::Discovery { .. } => "discovery_failed".into(),
        }
    }

    /// The parsed Entra error, if this is one.
    pub fn entra(&self) -> Option<&EntraTokenError> {
        match self {
            CredentialError::Entra(e) => Some(e),
            _ => None,
        }
    }
}

/// Classify a non-2xx token-endpoint answer: Entra's error body (with the assertion we presented and
/// the client id), else any OAuth error object, else an unexpected answer quoting the body.
///
/// Every text taken from the answer is scrubbed of `secrets` (the secret values the request
/// carried) and of anything shaped like a JWT: a server that echoes what it was sent
/// (`invalid client_secret <the secret>`) must not get it printed to a CI log.
pub(super) fn error_answer(
    url: &str,
    client_id: &str,
    status: u16,
    body: &str,
    identity: Option<AssertionIdentity>,
    secrets: &[&str],
) -> CredentialError {
    let scrub = |t: &str| crate::secret::scrub(t, secrets);
    if let Some(mut e) = EntraTokenError::parse(status, body) {
        e.error = scrub(&e.error);
        e.message = scrub(&e.message);
        e.claims = e.claims.as_deref().map(scrub);
        e.error_uri = e.error_uri.as_deref().map(scrub);
        e.trace_id = e.trace_id.as_deref().map(scrub);
        e.correlation_id = e.correlation_id.as_deref().map(scrub);
        e.timestamp = e.timestamp.as_deref().map(scrub);
        e.assertion = identity;
        e.client_id = Some(client_id.to_string());
        return CredentialError::Entra(Box::new(e));
    }
    if let Ok(RawErrorBody {
        error: Some(error),
        error_description,
        ..
    }) = serde_json::from_str::<RawErrorBody>(body)
    {
        return CredentialError::OAuth {
            url: url.into(),
            status,
            error: scrub(&error),
            description: error_description.as_deref().map(scrub),
        };
    }
    CredentialError::InvalidResponse {
        url: url.into(),
        status,
        detail: if body.trim().is_empty() {
            "empty body".into()
        } else {
            // Scrubbed before it is cut short, so no prefix of a secret survives the cut.
            quote(&scrub(body))
        },
    }
}

/// The OAuth `error` of an error body (`authorization_pending`, `slow_down`, …), if it is one.
pub(super) fn oauth_error(body: &str) -> Option<String> {
    serde_json::from_str::<RawErrorBody>(body)
        .ok()
        .and_then(|b| b.error)
}

// The three scans below are hand-written rather than regexes (regex is not a dependency of this
// crate): Entra's descriptions have one fixed prefix and fixed trailer labels.

/// The first `AADSTS<digits>` in a text.
fn aadsts_in_text(text: &str) -> Option<u32> {
    let i = text.find("AADSTS")?;
    let digits: String = text[i + 6..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// The value after `label` in the description's trailer (`Trace ID: …`).
fn line_value(text: &str, label: &str) -> Option<String> {
    let i = text.find(label)?;
    let v: String = text[i + label.len()..]
        .trim_start()
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    (!v.is_empty()).then_some(v)
}

/// Microsoft's message without `AADSTSnnn: ` and the Trace/Correlation/Timestamp trailer.
fn clean_description(text: &str) -> String {
    let mut s = text;
    if let Some(rest) = s.strip_prefix("AADSTS") {
        let after_digits = rest.trim_start_matches(|c: char| c.is_ascii_digit());
        s = after_digits.strip_prefix(':').unwrap_or(after_digits);
    }
    let cut = ["Trace ID:", "Correlation ID:", "Timestamp:"]
        .iter()
        .filter_map(|m| s.find(m))
        .min()
        .unwrap_or(s.len());
    s[..cut].split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A body quoted in an error: trimmed and cut short.
pub(super) fn quote(body: &str) -> String {
    let t = body.trim();
    if t.chars().count() > MAX_QUOTED_BODY {
        let cut: String = t.chars().take(MAX_QUOTED_BODY).collect();
        format!("{cut}…")
    } else {
        t.to_string()
    }
}

/// `reqwest` errors with their causes (connection refused, timeouts). Hand-written: reqwest's
/// `Display` shows only the outermost error, and std's `Error::sources` iterator is not stable.
pub(super) fn error_chain(e: &reqwest::Error) -> String {
    let mut s = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        "request failed".to_string()
    };
    // The innermost cause says it best ("Connection refused", "dns error: …").
    let mut innermost = None;
    let mut src = std::error::Error::source(e);
    while let Some(cause) = src {
        innermost = Some(cause.to_string());
        src = cause.source();
    }
    if let Some(cause) = innermost {
        s.push_str(": ");
        s.push_str(&cause);
    }
    s
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::test_support::*;
    use super::super::{
        AssertionSource, ClientCredential, ClientCredentialsRequest, GITHUB_ACTIONS_ISSUER,
        TokenClient,
    };
    use super::*;
    use crate::SecretString;

    #[test]
    fn entra_errors_parse_with_code_message_and_ids() {
        let body = entra_error(
            7000215,
            "invalid_client",
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
        );
        let e = EntraTokenError::parse(401, &body).unwrap();
        assert_eq!(e.code, Some(7000215));
        assert_eq!(e.aadsts(), "AADSTS7000215");
        assert_eq!(e.error, "invalid_client");
        assert!(e.message.starts_with("Invalid client secret provided."));
        assert!(!e.message.contains("Trace ID"));
        assert_eq!(
            e.trace_id.as_deref(),
            Some("0000aaaa-11bb-cccc-dd22-eeeeee333333")
        );
        assert_eq!(
            e.correlation_id.as_deref(),
            Some("aaaa0000-bb11-2222-33cc-444444dddddd")
        );
        // ids only in the description (older answers)
        let old = r#"{"error":"invalid_request","error_description":"AADSTS90002: Tenant 'x' not found.\r\nTrace ID: t-1\r\nCorrelation ID: c-1\r\nTimestamp: 2026"}"#;
        let e = EntraTokenError::parse(400, old).unwrap();
        assert_eq!(e.code, Some(90002));
        assert_eq!(e.trace_id.as_deref(), Some("t-1"));
        assert_eq!(e.correlation_id.as_deref(), Some("c-1"));
        assert_eq!(e.message, "Tenant 'x' not found.");
        // not Entra: a plain OAuth error
        assert!(EntraTokenError::parse(400, r#"{"error":"invalid_client"}"#).is_none());
        assert!(EntraTokenError::parse(502, "<html>bad gateway</html>").is_none());
    }

    #[tokio::test]
    async fn federated_mismatch_shows_the_presented_iss_and_sub() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let assertion = jwt_with(serde_json::json!({
            "iss": GITHUB_ACTIONS_ISSUER,
            "sub": "repo:Contoso/api:ref:refs/heads/feature",
            "aud": "api://AzureADTokenExchange",
        }));
        std::fs::write(&path, &assertion).unwrap();
        let body = entra_error(
            700213,
            "invalid_client",
            "No matching federated identity record found for presented assertion subject 'repo:Contoso/api:ref:refs/heads/feature'.",
        );
        let srv = Loopback::start(Arc::new(move |_| (400, body.clone()))).await;
        let url = format!("{}/t/oauth2/v2.0/token", srv.base);
        let e = TokenClient::new()
            .client_credentials(
                ClientCredentialsRequest {
                    token_endpoint: &url,
                    client_id: "app-1",
                    scope: Some("api://app-1/.default"),
                    resource: None,
                    audience: None,
                },
                &ClientCredential::Federated(AssertionSource::File(path)),
            )
            .await
            .unwrap_err();
        let entra = e.entra().unwrap();
        assert!(entra.is_federated_mismatch());
        assert_eq!(
            entra.assertion.as_ref().unwrap().subject.as_deref(),
            Some("repo:Contoso/api:ref:refs/heads/feature")
        );
        let presented = entra.assertion.as_ref().unwrap();
        assert_eq!(presented.issuer.as_deref(), Some(GITHUB_ACTIONS_ISSUER));
        assert_eq!(
            presented.audience.as_deref(),
            Some("api://AzureADTokenExchange")
        );
        assert_eq!(entra.client_id.as_deref(), Some("app-1"));
        assert!(!e.to_string().contains(&assertion));
    }

    #[tokio::test]
    async fn non_entra_errors_are_typed_too() {
        let srv = Loopback::start(Arc::new(|req: &Seen| {
            if req.target.starts_with("/oauth") {
                (
                    401,
                    r#"{"error":"invalid_client","error_description":"bad creds"}"#.into(),
                )
            } else {
                (502, "<html>gateway</html>".into())
            }
        }))
        .await;
        let client = TokenClient::new();
        let cred = ClientCredential::Secret(SecretString::new("x"));
        let mk = |u: &str| -> String { format!("{}{u}", srv.base) };
        let u1 = mk("/oauth/token");
        let req = |u: &'static str| ClientCredentialsRequest {
            token_endpoint: u,
            client_id: "c",
            scope: None,
            resource: None,
            audience: None,
        };
        let u1: &'static str = Box::leak(u1.into_boxed_str());
        let e = client.client_credentials(req(u1), &cred).await.unwrap_err();
        assert_eq!(e.code(), "invalid_client");
        assert!(e.to_string().contains("bad creds"));
        let u2: &'static str = Box::leak(mk("/other").into_boxed_str());
        let e = client.client_credentials(req(u2), &cred).await.unwrap_err();
        assert_eq!(e.code(), "invalid_response");
        assert!(e.to_string().contains("502"), "{e}");
        // nothing listening
        let dead = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}/token", l.local_addr().unwrap())
        };
        let dead: &'static str = Box::leak(dead.into_boxed_str());
        let e = client
            .client_credentials(req(dead), &cred)
            .await
            .unwrap_err();
        assert_eq!(e.code(), "network");
    }

    #[test]
    fn assertion_identity_reads_iss_sub_aud() {
        let jwt = jwt_with(serde_json::json!({"iss": "i", "sub": "s", "aud": ["a", "b"]}));
        let id = AssertionIdentity::from_unverified_jwt(&jwt).unwrap();
        assert_eq!(id.issuer.as_deref(), Some("i"));
        assert_eq!(id.subject.as_deref(), Some("s"));
        assert_eq!(id.audience.as_deref(), Some("a, b"));
        assert!(AssertionIdentity::from_unverified_jwt("nope").is_none());
    }
}
