//! Token acquisition from Entra ID (and any OAuth 2.0 / OIDC token endpoint): client secret,
//! certificate (a signed client assertion), federated assertions (a workload identity token file or
//! a GitHub Actions ID token), device code (a person signs in), on-behalf-of, and OIDC client
//! credentials with an optional RFC 8707 `resource`.
//!
//! Token-endpoint failures come back as a typed [`EntraTokenError`] carrying Microsoft's `AADSTS`
//! code, message, trace and correlation ids, and our remediation ([`EntraTokenError::remediation`]).
//!
//! Nothing here reads environment variables except the explicit `from_env` constructors, and every
//! URL comes from the caller (usually [`EntraConfig`]'s endpoints), so tests point them at loopback.
//! Secrets travel as [`SecretString`]; every secret value the client learns or builds (assertions,
//! ID tokens, access tokens) is first handed to the `on_secret` hook so a CI runner can mask it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::secret::SecretString;

mod assertions;
mod errors;
mod grants;

pub use assertions::{
    AssertionAlgorithm, AssertionSource, Certificate, ClientCredential, GitHubOidc,
};
pub use errors::{AssertionIdentity, CredentialError, EntraTokenError};
pub use grants::get_obo_token;

/// `client_assertion_type` for a JWT client assertion (RFC 7523).
pub const JWT_BEARER_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The on-behalf-of grant type.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The device code grant type (RFC 8628).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The issuer of GitHub Actions ID tokens; register it in the federated credential.
pub const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// `AZURE_FEDERATED_TOKEN_FILE`: a file holding a federated assertion (workload identity).
pub const AZURE_FEDERATED_TOKEN_FILE: &str = "AZURE_FEDERATED_TOKEN_FILE";
/// `AZURE_CLIENT_CERTIFICATE_PATH`: a PEM file with the certificate and its private key.
pub const AZURE_CLIENT_CERTIFICATE_PATH: &str = "AZURE_CLIENT_CERTIFICATE_PATH";
/// `ACTIONS_ID_TOKEN_REQUEST_URL`: set by GitHub Actions when the job has `id-token: write`.
pub const ACTIONS_ID_TOKEN_REQUEST_URL: &str = "ACTIONS_ID_TOKEN_REQUEST_URL";
/// `ACTIONS_ID_TOKEN_REQUEST_TOKEN`: the bearer token for [`ACTIONS_ID_TOKEN_REQUEST_URL`].
pub const ACTIONS_ID_TOKEN_REQUEST_TOKEN: &str = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

/// A token endpoint's successful answer.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AccessToken {
    /// The access token itself.
    pub token: SecretString,
    /// `Bearer`, normally.
    pub token_type: String,
    /// Seconds until expiry, as the endpoint said (Entra v1 endpoints send a string; both parse).
    pub expires_in: Option<u64>,
    /// The scopes granted, when the endpoint says.
    pub scope: Option<String>,
    /// A refresh token (delegated flows only).
    pub refresh_token: Option<SecretString>,
}

// ---------------------------------------------------------------------------------------------
// Device code
// ---------------------------------------------------------------------------------------------

/// A device authorization in progress: show `message` (or `user_code` + `verification_uri`) to
/// the person, then [`TokenClient::poll_device_code`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeviceAuthorization {
    pub user_code: String,
    pub device_code: SecretString,
    pub verification_uri: String,
    /// Microsoft's ready-made sentence for the person.
    pub message: Option<String>,
    pub expires_in: Duration,
    pub interval: Duration,
    /// When it was issued (from the client's clock).
    pub issued_at: SystemTime,
}

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

/// A sleep function: `Box::pin(tokio::time::sleep(d))` normally; tests advance a fake clock.
pub type SleepFn = Arc<dyn Fn(Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;
/// A clock.
pub type NowFn = Arc<dyn Fn() -> SystemTime + Send + Sync>;
/// Called with every secret value the client learns or builds, before it is used.
pub type SecretHook = Arc<dyn Fn(&str) + Send + Sync>;

/// A client-credentials request.
#[derive(Debug, Clone, Copy)]
pub struct ClientCredentialsRequest<'a> {
    /// The token endpoint URL.
    pub token_endpoint: &'a str,
    /// The client asking for the token.
    pub client_id: &'a str,
    /// `scope`, e.g. `api://<client_id>/.default` (Entra requires it; OIDC providers may not).
    pub scope: Option<&'a str>,
    /// RFC 8707 `resource` indicator (OIDC providers that scope tokens by resource).
    pub resource: Option<&'a str>,
    /// `audience` (Auth0-style providers).
    pub audience: Option<&'a str>,
}

/// Talks to token endpoints. Cheap to clone.
#[derive(Clone)]
pub struct TokenClient {
    http: reqwest::Client,
    now: NowFn,
    sleep: SleepFn,
    on_secret: SecretHook,
    assertion_alg: AssertionAlgorithm,
}

impl std::fmt::Debug for TokenClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenClient")
            .field("assertion_alg", &self.assertion_alg)
            .finish_non_exhaustive()
    }
}

impl Default for TokenClient {
    fn default() -> Self {
        Self::new()
    }
}

impl TokenClient {
    /// A client with a 30 s timeout, the system clock and real sleeps.
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("cargo-pmcp/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self::with_http(http)
    }

    /// A client on your own `reqwest::Client`.
    pub fn with_http(http: reqwest::Client) -> Self {
        Self {
            http,
            now: Arc::new(SystemTime::now),
            sleep: Arc::new(|d| Box::pin(tokio::time::sleep(d))),
            on_secret: Arc::new(|_| {}),
            assertion_alg: AssertionAlgorithm::default(),
        }
    }

    /// Replace the clock (tests).
    pub fn with_clock(mut self, now: NowFn) -> Self {
        self.now = now;
        self
    }

    /// Replace the sleep function (tests).
    pub fn with_sleep(mut self, sleep: SleepFn) -> Self {
        self.sleep = sleep;
        self
    }

    /// Call `hook` with every secret value handled (to mask it in CI logs).
    pub fn on_secret(mut self, hook: SecretHook) -> Self {
        self.on_secret = hook;
        self
    }

    /// How certificate assertions are signed. Defaults to PS256 + `x5t#S256`.
    pub fn with_assertion_algorithm(mut self, alg: AssertionAlgorithm) -> Self {
        self.assertion_alg = alg;
        self
    }

    fn secret(&self, s: &SecretString) {
        (self.on_secret)(s.secret());
    }
}

/// Endpoints read from an OIDC discovery document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcEndpoints {
    pub issuer: String,
    pub token_endpoint: String,
    pub device_authorization_endpoint: Option<String>,
}

#[cfg(test)]
mod test_support;
