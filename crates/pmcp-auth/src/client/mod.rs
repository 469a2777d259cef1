//! Token acquisition from Entra ID (and any OAuth 2.0 / OIDC token endpoint): client secret,
//! certificate (a signed client assertion), federated assertions (a workload identity token file or
//! a GitHub Actions ID token), device code (a person signs in), on-behalf-of, and OIDC client
//! credentials with an optional RFC 8707 `resource`.
//!
//! Token-endpoint failures come back as a typed [`CredentialError`]; Entra's answers are parsed
//! into an [`EntraTokenError`] carrying Microsoft's `AADSTS` code, message, and trace and
//! correlation ids, so the caller can explain them.
//!
//! Nothing here reads environment variables except the explicit `from_env` constructors, and every
//! URL comes from the caller (usually [`EntraConfig`](crate::EntraConfig)'s endpoints), so tests
//! point them at loopback. Secrets travel as [`SecretString`]; every secret value the client learns
//! or builds (assertions, ID tokens, access tokens) is first handed to the
//! [`on_secret`](TokenClient::on_secret) hook so a CI runner can mask it.
//!
//! # Where things are
//! - this file: [`TokenClient`] and how it is built, the request and answer types, the constants.
//! - `grants.rs`: the grant flows: [`TokenClient::client_credentials`],
//!   [`TokenClient::on_behalf_of`] and [`get_obo_token`], [`TokenClient::start_device_code`] and
//!   [`TokenClient::poll_device_code`], [`TokenClient::discover`].
//! - `assertions.rs`: how the client proves who it is: [`ClientCredential`], [`Certificate`]
//!   (PEM, thumbprints, signed client assertions), [`AssertionSource`] and [`GitHubOidc`].
//! - `errors.rs`: [`CredentialError`], [`EntraTokenError`] and [`AssertionIdentity`].

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

// ---------------------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------------------

/// `client_assertion_type` for a JWT client assertion (RFC 7523).
pub const JWT_BEARER_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The on-behalf-of grant type.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The device code grant type (RFC 8628).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The `iss` of GitHub Actions ID tokens, as a federated credential in Entra names it.
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
// Requests and answers
// ---------------------------------------------------------------------------------------------

/// A client credentials grant (an app-only token), for [`TokenClient::client_credentials`].
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

/// A device authorization in progress: show `message` (or `user_code` + `verification_uri`) to
/// the person, then [`TokenClient::poll_device_code`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeviceAuthorization {
    /// The short code the person types at `verification_uri`.
    pub user_code: String,
    /// The code the client polls the token endpoint with (a secret: it redeems the sign-in).
    pub device_code: SecretString,
    /// Where the person signs in (`verification_url` in older answers).
    pub verification_uri: String,
    /// Microsoft's ready-made sentence for the person.
    pub message: Option<String>,
    /// How long the codes stay valid, from `issued_at`.
    pub expires_in: Duration,
    /// How long to wait between polls (5 s when the answer does not say).
    pub interval: Duration,
    /// When it was issued (from the client's clock).
    pub issued_at: SystemTime,
}

/// Endpoints read from an OIDC discovery document by [`TokenClient::discover`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcEndpoints {
    /// The issuer the document names (the one asked for, give or take a trailing `/`).
    pub issuer: String,
    /// Where tokens are requested (`token_endpoint`; https, or http on loopback).
    pub token_endpoint: String,
    /// Where device code sign-ins start (`device_authorization_endpoint`), when the provider has
    /// one.
    pub device_authorization_endpoint: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

/// A sleep function: `Box::pin(tokio::time::sleep(d))` normally; tests advance a fake clock.
pub type SleepFn = Arc<dyn Fn(Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;
/// A clock: the time put in signed assertions and that device code polling counts against.
pub type NowFn = Arc<dyn Fn() -> SystemTime + Send + Sync>;
/// Called with every secret value the client learns or builds, before it is used.
pub type SecretHook = Arc<dyn Fn(&str) + Send + Sync>;

/// Talks to token endpoints. Cheap to clone: clones share the HTTP connection pool and the hooks.
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
    /// A client with a 30 s timeout, the system clock and real sleeps. It follows no redirect:
    /// token requests carry secrets, and a 307 would re-send them to wherever it points, so a 3xx
    /// answer is [`CredentialError::Redirected`], naming the URL that answered it.
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("cargo-pmcp/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self::with_http(http)
    }

    /// A client on your own `reqwest::Client`. Build it with
    /// `.redirect(reqwest::redirect::Policy::none())`: a client that follows redirects re-sends
    /// the request's secrets before this crate sees the answer (a 3xx it is handed is refused).
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

    /// Hand a secret to the `on_secret` hook before it is sent or returned.
    fn secret(&self, s: &SecretString) {
        (self.on_secret)(s.secret());
    }
}

#[cfg(test)]
mod test_support;
