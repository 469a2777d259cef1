//! A local Entra ID-compatible issuer: the stand-in for Entra ID in an MCP server's integration
//! tests (as `wiremock` stands in for an HTTP API), and what `cargo pmcp auth emulator` runs.
//!
//! It serves Entra's paths on `http://127.0.0.1:PORT` (the authority host):
//! `/{tenant}/v2.0/.well-known/openid-configuration`, `/{tenant}/.well-known/openid-configuration`,
//! `/{tenant}/discovery/v2.0/keys`, `/{tenant}/discovery/keys`, `/{tenant}/oauth2/v2.0/token`,
//! `/{tenant}/oauth2/token`, `/{tenant}/oauth2/v2.0/devicecode`, `/{tenant}/oauth2/devicecode`,
//! `/{tenant}/oauth2/v2.0/authorize`, and control endpoints under `/_emulator/` (rotate keys,
//! approve a device code). Tokens are RS256 with Entra's claims and headers; errors carry Entra's
//! `AADSTS` codes.
//!
//! # In your server's integration tests
//!
//! Start an emulator per test ([`Emulator::start`]; port 0 picks a free port), point the server's
//! validator at [`RunningEmulator::authority_host`] instead of `https://login.microsoftonline.com`,
//! and get tokens that Entra would issue:
//!
//! ```no_run
//! use pmcp_auth::{EntraConfig, JwtValidator, JwtValidatorConfig};
//! use pmcp_entra_emulator::{Emulator, EmulatorConfig, TokenOptions};
//!
//! // tests/auth.rs, under #[tokio::test]
//! async fn accepts_a_signed_in_user() -> Result<(), Box<dyn std::error::Error>> {
//!     // The built-in directory: one tenant, an API app with app roles and a scope, users.
//!     let emu = Emulator::start(EmulatorConfig::default(), 0).await?;
//!
//!     // The validator your server builds, aimed at the emulator (discovery, then its keys).
//!     let entra = EntraConfig::new(emu.tenant_id(), emu.client_id())
//!         .with_authority_host(&emu.authority_host());
//!     let validator = JwtValidator::new(JwtValidatorConfig::from_entra(&entra));
//!
//!     // A user's delegated token for the API, as the device code flow would issue it.
//!     let token = emu.issue_user_token("alice@contoso.onmicrosoft.com", &TokenOptions::default())?;
//!     let claims = validator.validate(token.secret()).await?;
//!     assert_eq!(claims.upn(), Some("alice@contoso.onmicrosoft.com"));
//!
//!     emu.shutdown().await;
//!     Ok(())
//! }
//! ```
//!
//! A server that reads its settings from the environment ([`pmcp_auth::env`]) takes the same three
//! values as `ENTRA_AUTHORITY_HOST`, `ENTRA_TENANT_ID` and `ENTRA_CLIENT_ID`.
//!
//! The failure cases come from the same emulator: an expired token (`issued_at` in the past in
//! [`TokenOptions`]), another tenant's token ([`EmulatorConfig::with_second_tenant`]), a token
//! Entra would never issue ([`RunningEmulator::sign_claims`]), key rotation
//! ([`RunningEmulator::rotate_keys`]), and a failing Entra ([`RunningEmulator::inject_fault`]).
//!
//! # Tokens through the real grants
//!
//! Give the apps a client secret and any OAuth client can ask the token endpoint, as it would ask
//! Entra:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use pmcp_auth::SecretString;
//! use pmcp_entra_emulator::{Emulator, EmulatorConfig};
//!
//! let mut config = EmulatorConfig::default();
//! config.set_default_secret(&SecretString::new("test-secret"));
//! let emu = Emulator::start(config, 0).await?;
//!
//! let scope = format!("api://{}/.default", emu.client_id());
//! let body: serde_json::Value = reqwest::Client::new()
//!     .post(emu.token_endpoint())
//!     .form(&[
//!         ("grant_type", "client_credentials"),
//!         ("client_id", emu.client_id().as_str()),
//!         ("client_secret", "test-secret"),
//!         ("scope", scope.as_str()),
//!     ])
//!     .send()
//!     .await?
//!     .json()
//!     .await?;
//! let app_token = body["access_token"].as_str().unwrap_or_default();
//! # let _ = app_token;
//! # Ok(()) }
//! ```

pub mod assertion;
pub mod config;
pub mod errors;
pub mod keys;
pub mod observe;
pub mod server;
pub mod time;
pub mod tokens;

/// The authorization code flow's public names, kept at this path. The authorize endpoint is
/// `server/authorize.rs`; the code and refresh token grants are in `server/token/`.
pub mod authcode {
    pub use crate::server::authorize::{AuthCode, CODE_LIFETIME, authorize};
    pub use crate::server::token::{
        GT_AUTHORIZATION_CODE, GT_REFRESH_TOKEN, REFRESH_TOKEN_LIFETIME, RefreshGrant,
        SPA_REFRESH_TOKEN_LIFETIME,
    };
}

pub use authcode::{CODE_LIFETIME, REFRESH_TOKEN_LIFETIME, SPA_REFRESH_TOKEN_LIFETIME};
pub use config::redirect_uri_matches;
pub use config::{
    AppConfig, DEFAULT_API_CLIENT_ID, DEFAULT_API_SCOPE, DEFAULT_CLIENT_APP_ID,
    DEFAULT_CLIENT_SECRET_ENV, DEFAULT_DOWNSTREAM_CLIENT_ID, DEFAULT_GROUP_ADMINS,
    DEFAULT_GROUP_ENGINEERING, DEFAULT_TENANT_DOMAIN, DEFAULT_TENANT_ID, EmulatorConfig,
    FederatedCredential, RedirectPlatform, SECOND_TENANT_DOMAIN, SECOND_TENANT_ID, TenantConfig,
    TokenVersion, UserConfig,
};
pub use errors::AadError;
pub use keys::SigningKey;
pub use observe::{EndpointKind, Fault, RequestEvent};

use pmcp_auth::SecretString;
use server::{DeviceState, ServerState};
use std::sync::{Arc, Mutex, RwLock};
use tokens::{ClientAuth, Subject, TokenSpec};

/// Why the emulator could not start or a control call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatorError {
    /// The configuration is inconsistent.
    #[error("invalid emulator configuration: {0}")]
    Config(String),
    /// The port could not be bound.
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    /// Key generation or signing failed.
    #[error(transparent)]
    Key(#[from] keys::KeyError),
    /// The emulator's own machinery failed (a key generation task, the HTTP client for federated
    /// issuers): not something the configuration can fix.
    #[error("Entra emulator: {0}")]
    Internal(String),
    /// No such tenant.
    #[error("no tenant `{0}` is configured")]
    UnknownTenant(String),
    /// No such user in the tenant.
    #[error("no user `{upn}` in tenant `{tenant}`")]
    UnknownUser { upn: String, tenant: String },
    /// No such app in the tenant.
    #[error("no app with client id (or identifier URI) `{id}` in tenant `{tenant}`")]
    UnknownApp { id: String, tenant: String },
    /// No device authorization with this user code.
    #[error("{0}")]
    DeviceCode(String),
}

/// Starts emulators.
#[derive(Debug, Clone, Copy)]
pub struct Emulator;

impl Emulator {
    /// Validate `config`, generate the signing key (RSA 2048, once per emulator), bind
    /// `127.0.0.1:port` (0 picks a free port) and serve until [`RunningEmulator::shutdown`] or drop.
    pub async fn start(
        config: EmulatorConfig,
        port: u16,
    ) -> Result<RunningEmulator, EmulatorError> {
        Self::start_inner(config, port, None).await
    }

    /// [`Emulator::start`] signing with `key` instead of a fresh one: emulators started with the
    /// same key (e.g. [`SigningKey::from_pem`] of one file) publish the same key set, as Entra
    /// signs every tenant with the same keys. One emulator already serves all its tenants with
    /// one key set; this is for tenants in separate processes.
    pub async fn start_with_key(
        config: EmulatorConfig,
        port: u16,
        key: SigningKey,
    ) -> Result<RunningEmulator, EmulatorError> {
        Self::start_inner(config, port, Some(key)).await
    }

    async fn start_inner(
        config: EmulatorConfig,
        port: u16,
        key: Option<SigningKey>,
    ) -> Result<RunningEmulator, EmulatorError> {
        config.validate().map_err(EmulatorError::Config)?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|source| EmulatorError::Bind { port, source })?;
        let port = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind { port, source })?
            .port();
        // Bind first so a busy port fails fast, then pay for the key.
        let ring = match key {
            Some(k) => keys::KeyRing::with_key(k),
            None => tokio::task::spawn_blocking(keys::KeyRing::new)
                .await
                .map_err(|e| {
                    EmulatorError::Internal(format!("key generation task failed: {e}"))
                })??,
        };
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| EmulatorError::Internal(format!("HTTP client: {e}")))?;
        let state = Arc::new(ServerState {
            config: RwLock::new(config),
            keys: Mutex::new(ring),
            devices: Mutex::new(Default::default()),
            codes: Mutex::new(Default::default()),
            refresh_tokens: Mutex::new(Default::default()),
            clock: time::Clock::default(),
            authority_host: format!("http://127.0.0.1:{port}"),
            http,
            observer: observe::Observer::default(),
        });
        let (tx, task) = server::serve(listener, state.clone());
        Ok(RunningEmulator {
            state,
            port,
            shutdown: Some(tx),
            task: Some(task),
        })
    }
}

/// What a token built directly by [`RunningEmulator::issue_user_token`] /
/// [`RunningEmulator::issue_app_token`] looks like. Every field defaults to what the token endpoint
/// would do for the default tenant and API.
#[derive(Debug, Clone, Default)]
pub struct TokenOptions {
    /// Issuing tenant (GUID or domain). Defaults to the first tenant.
    pub tenant: Option<String>,
    /// Resource (client id, `api://…` or identifier URI). Defaults to the first API app.
    pub resource: Option<String>,
    /// For user tokens: the client the user signed in to (`azp`). Defaults to the client app
    /// ([`DEFAULT_CLIENT_APP_ID`] when present, else the resource itself).
    pub client_id: Option<String>,
    /// For user tokens: the `scp` values. Defaults to every scope the resource exposes.
    pub scopes: Option<Vec<String>>,
    /// Token version. Defaults to the resource's `token_version`.
    pub version: Option<TokenVersion>,
    /// `iat`/`nbf` (unix seconds). Defaults to now per the emulator's clock. Set it in the past to
    /// get an expired token.
    pub issued_at: Option<u64>,
    /// Seconds from `iat` to `exp`. Defaults to the configured lifetime.
    pub lifetime_seconds: Option<u64>,
}

/// A running emulator. Dropping it stops the server; [`RunningEmulator::shutdown`] waits for it.
#[derive(Debug)]
pub struct RunningEmulator {
    state: Arc<ServerState>,
    port: u16,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningEmulator {
    /// The emulator's routes as an in-process service, sharing this emulator's state (keys, codes,
    /// clock) but not its socket: for fuzzing and benchmarks that call the handlers without HTTP.
    pub fn router(&self) -> axum::Router {
        server::router(self.state.clone())
    }

    /// `http://127.0.0.1:PORT` — use it as `AZURE_AUTHORITY_HOST` / `ENTRA_AUTHORITY_HOST`.
    pub fn authority_host(&self) -> String {
        self.state.authority_host.clone()
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The default (first) tenant's id.
    pub fn tenant_id(&self) -> String {
        self.state
            .config()
            .default_tenant()
            .map(|t| t.id.clone())
            .unwrap_or_default()
    }

    /// The API app's client id (the first app of the default tenant that defines roles or scopes).
    pub fn client_id(&self) -> String {
        let cfg = self.state.config();
        cfg.default_tenant()
            .and_then(|t| t.apps.iter().find(|a| a.is_resource()).or(t.apps.first()))
            .map(|a| a.client_id.clone())
            .unwrap_or_default()
    }

    /// A copy of the current configuration.
    pub fn config(&self) -> EmulatorConfig {
        self.state.config().clone()
    }

    /// `{authority}/{tenant}/v2.0` for the default tenant.
    pub fn issuer(&self) -> String {
        tokens::issuer_v2(&self.state.authority_host, &self.tenant_id())
    }

    /// `{authority}/{tenant}/v2.0/.well-known/openid-configuration` for the default tenant.
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer())
    }

    /// `{authority}/{tenant}/oauth2/v2.0/token` for the default tenant.
    pub fn token_endpoint(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.state.authority_host,
            self.tenant_id()
        )
    }

    /// `{authority}/{tenant}/discovery/v2.0/keys` for the default tenant.
    pub fn jwks_uri(&self) -> String {
        format!(
            "{}/{}/discovery/v2.0/keys",
            self.state.authority_host,
            self.tenant_id()
        )
    }

    /// Unix seconds per the emulator's clock.
    pub fn now(&self) -> u64 {
        self.state.clock.now()
    }

    /// Move the emulator's clock forward (ends key grace periods and device codes without
    /// sleeping). Tokens issued afterwards carry the later times.
    pub fn advance_clock(&self, by: std::time::Duration) {
        self.state.clock.advance(by);
    }

    /// The kid new tokens are signed with.
    pub fn current_kid(&self) -> String {
        self.state.keyring().current.kid.clone()
    }

    /// Every kid in the published key set (current first).
    pub fn published_kids(&self) -> Vec<String> {
        self.state
            .keyring()
            .published()
            .iter()
            .map(|k| k.kid.clone())
            .collect()
    }

    /// Generate a new signing key and sign with it from now on; the old key stays published for
    /// `key_grace_seconds`. Returns the new kid. (Same as `POST /_emulator/rotate-keys`.)
    pub async fn rotate_keys(&self) -> Result<String, EmulatorError> {
        Ok(self.state.rotate_to_new_key().await?.0)
    }

    /// Approve the pending device authorization with `user_code` as `upn`.
    pub fn approve_device_code(&self, user_code: &str, upn: &str) -> Result<(), EmulatorError> {
        server::set_device_state(
            &self.state,
            user_code,
            DeviceState::Approved {
                upn: upn.to_string(),
            },
        )
        .map_err(EmulatorError::DeviceCode)
    }

    /// Decline the pending device authorization with `user_code`.
    pub fn decline_device_code(&self, user_code: &str) -> Result<(), EmulatorError> {
        server::set_device_state(&self.state, user_code, DeviceState::Declined)
            .map_err(EmulatorError::DeviceCode)
    }

    /// Register a federated identity credential on an app (at runtime).
    pub fn add_federated_credential(
        &self,
        tenant: &str,
        client_id: &str,
        credential: FederatedCredential,
    ) -> Result<(), EmulatorError> {
        self.with_app(tenant, client_id, |a| {
            a.federated_credentials.push(credential)
        })
    }

    /// Register a certificate (PEM) whose key may sign client assertions for an app.
    pub fn add_certificate(
        &self,
        tenant: &str,
        client_id: &str,
        pem: &str,
    ) -> Result<(), EmulatorError> {
        if assertion::thumbprints(pem).is_none() {
            return Err(EmulatorError::Config(
                "the certificate is not a PEM `-----BEGIN CERTIFICATE-----` block".into(),
            ));
        }
        self.with_app(tenant, client_id, |a| a.certificates.push(pem.to_string()))
    }

    /// Add a client secret to an app.
    pub fn add_client_secret(
        &self,
        tenant: &str,
        client_id: &str,
        secret: SecretString,
    ) -> Result<(), EmulatorError> {
        self.with_app(tenant, client_id, |a| a.client_secrets.push(secret))
    }

    fn with_app(
        &self,
        tenant: &str,
        client_id: &str,
        f: impl FnOnce(&mut AppConfig),
    ) -> Result<(), EmulatorError> {
        let mut cfg = self.state.config.write().unwrap_or_else(|e| e.into_inner());
        let t = cfg
            .tenant_mut(tenant)
            .ok_or_else(|| EmulatorError::UnknownTenant(tenant.into()))?;
        let tid = t.id.clone();
        let app = t.app_mut(client_id).ok_or(EmulatorError::UnknownApp {
            id: client_id.into(),
            tenant: tid,
        })?;
        f(app);
        Ok(())
    }

    fn pick<'a>(
        &self,
        cfg: &'a EmulatorConfig,
        opts: &TokenOptions,
    ) -> Result<(&'a TenantConfig, &'a AppConfig, String), EmulatorError> {
        let tenant = match &opts.tenant {
            Some(t) => cfg
                .tenant(t)
                .ok_or_else(|| EmulatorError::UnknownTenant(t.clone()))?,
            None => cfg
                .default_tenant()
                .ok_or_else(|| EmulatorError::UnknownTenant("(default)".into()))?,
        };
        let (resource, requested) = match &opts.resource {
            Some(r) => (
                tenant
                    .resource(r)
                    .ok_or_else(|| EmulatorError::UnknownApp {
                        id: r.clone(),
                        tenant: tenant.id.clone(),
                    })?,
                r.clone(),
            ),
            None => {
                let r = tenant
                    .apps
                    .iter()
                    .find(|a| a.is_resource())
                    .ok_or_else(|| EmulatorError::UnknownApp {
                        id: "(an API app)".into(),
                        tenant: tenant.id.clone(),
                    })?;
                (r, String::new())
            }
        };
        Ok((tenant, resource, requested))
    }

    /// A delegated token for user `upn`, signed with the current key, exactly as the device code
    /// flow would issue it (for middleware tests that need a user's token without the flow).
    pub fn issue_user_token(
        &self,
        upn: &str,
        opts: &TokenOptions,
    ) -> Result<SecretString, EmulatorError> {
        let cfg = self.state.config();
        let (tenant, resource, requested) = self.pick(&cfg, opts)?;
        let user = tenant.user(upn).ok_or_else(|| EmulatorError::UnknownUser {
            upn: upn.into(),
            tenant: tenant.id.clone(),
        })?;
        let client_id = opts.client_id.clone().unwrap_or_else(|| {
            if tenant.app(DEFAULT_CLIENT_APP_ID).is_some() {
                DEFAULT_CLIENT_APP_ID.to_string()
            } else {
                resource.client_id.clone()
            }
        });
        let client = tenant
            .app(&client_id)
            .ok_or_else(|| EmulatorError::UnknownApp {
                id: client_id.clone(),
                tenant: tenant.id.clone(),
            })?;
        let scopes = opts
            .scopes
            .clone()
            .unwrap_or_else(|| resource.scopes.clone());
        let lifetime = opts
            .lifetime_seconds
            .unwrap_or(cfg.user_token_lifetime_seconds[0]);
        let spec = TokenSpec {
            authority_host: &self.state.authority_host,
            tenant,
            resource,
            requested_resource: &requested,
            client,
            client_auth: ClientAuth::Public,
            subject: Subject::User {
                user,
                scopes: &scopes,
            },
            issued_at: opts.issued_at.unwrap_or_else(|| self.now()),
            lifetime,
            version: opts.version,
        };
        let claims = serde_json::Value::Object(tokens::claims(&spec));
        drop(cfg);
        Ok(SecretString::new(self.state.sign(&claims)?))
    }

    /// An app-only token for client `client_id` (its app role assignments on the resource become
    /// `roles`), signed with the current key, as client credentials with a secret would issue it.
    pub fn issue_app_token(
        &self,
        client_id: &str,
        opts: &TokenOptions,
    ) -> Result<SecretString, EmulatorError> {
        let cfg = self.state.config();
        let (tenant, resource, requested) = self.pick(&cfg, opts)?;
        let client = tenant
            .app(client_id)
            .ok_or_else(|| EmulatorError::UnknownApp {
                id: client_id.into(),
                tenant: tenant.id.clone(),
            })?;
        let spec = TokenSpec {
            authority_host: &self.state.authority_host,
            tenant,
            resource,
            requested_resource: &requested,
            client,
            client_auth: ClientAuth::Secret,
            subject: Subject::App,
            issued_at: opts.issued_at.unwrap_or_else(|| self.now()),
            lifetime: opts
                .lifetime_seconds
                .unwrap_or(cfg.app_token_lifetime_seconds),
            version: opts.version,
        };
        let claims = serde_json::Value::Object(tokens::claims(&spec));
        drop(cfg);
        Ok(SecretString::new(self.state.sign(&claims)?))
    }

    /// Sign arbitrary claims with the current key (Entra's header: `typ`, `alg` RS256, `x5t`,
    /// `kid`) — for tests that need a token Entra would never issue (wrong audience, odd claims).
    pub fn sign_claims(&self, claims: &serde_json::Value) -> Result<SecretString, EmulatorError> {
        Ok(SecretString::new(self.state.sign(claims)?))
    }

    /// Requests served so far to one kind of endpoint (faults included): e.g. how often a
    /// validator fetched the keys.
    pub fn request_count(&self, kind: EndpointKind) -> u64 {
        self.state.observer.requests(kind)
    }

    /// Answer requests to `kind` with `fault` instead of the real response, for the next `times`
    /// requests (`None`: until [`RunningEmulator::clear_faults`]).
    pub fn inject_fault(&self, kind: EndpointKind, fault: Fault, times: Option<u32>) {
        self.state.observer.inject(kind, fault, times);
    }

    /// Remove every injected fault.
    pub fn clear_faults(&self) {
        self.state.observer.clear();
    }

    /// Receive an event for each request served from now on (method, path, status, AADSTS code;
    /// never bodies or headers).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<RequestEvent> {
        self.state.observer.subscribe()
    }

    /// Stop serving and wait for the server task to finish.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
