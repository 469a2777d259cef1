//! The HTTP side: Entra's paths and shapes, plus the `/_emulator/…` control endpoints.
//!
//! This file holds what every endpoint shares: the state ([`ServerState`]), the router, the
//! request log and fault injection middleware, form and tenant-path parsing, and serving until
//! shutdown. Each endpoint family has its own file:
//!
//! | path | file |
//! | --- | --- |
//! | `/{tenant}[/v2.0]/.well-known/openid-configuration` | `discovery.rs` |
//! | `/{tenant}/discovery[/v2.0]/keys` | `discovery.rs` |
//! | `/{tenant}/oauth2[/v2.0]/token` (every grant) | `token/` |
//! | `/{tenant}/oauth2[/v2.0]/devicecode` and the pending device authorizations | `device.rs` |
//! | `/{tenant}/oauth2/v2.0/authorize` | `authorize.rs` |
//! | `/_emulator/…` (health, key rotation, device approve/decline) | `control.rs` |
//!
//! `scopes.rs` parses what a request asks for (`scope=` / `resource=`), for all of them.

pub(crate) mod authorize;
mod control;
mod device;
mod discovery;
mod scopes;
pub(crate) mod token;

pub use device::{DeviceGrant, DeviceState, set_device_state};

use crate::config::{EmulatorConfig, TenantConfig};
use crate::errors::AadError;
use crate::keys::{KeyRing, SigningKey};
use crate::time::Clock;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

/// Everything the handlers share.
#[derive(Debug)]
pub struct ServerState {
    pub config: RwLock<EmulatorConfig>,
    pub keys: Mutex<KeyRing>,
    pub devices: Mutex<HashMap<String, DeviceGrant>>,
    pub codes: Mutex<HashMap<String, authorize::AuthCode>>,
    pub refresh_tokens: Mutex<HashMap<String, token::RefreshGrant>>,
    pub clock: Clock,
    pub authority_host: String,
    pub http: reqwest::Client,
    pub observer: crate::observe::Observer,
}

impl ServerState {
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    pub fn config(&self) -> std::sync::RwLockReadGuard<'_, EmulatorConfig> {
        self.config.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The key ring with expired retired keys pruned.
    pub fn keyring(&self) -> std::sync::MutexGuard<'_, KeyRing> {
        let mut k = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        k.prune(self.now());
        k
    }

    /// Sign claims with the current key.
    pub fn sign(&self, claims: &Value) -> Result<String, crate::keys::KeyError> {
        let key = self.keyring().current.clone();
        key.sign_jwt(claims)
    }

    /// Generate a key (off the async threads) and rotate to it: the new kid and the retired kids.
    pub async fn rotate_to_new_key(&self) -> Result<(String, Vec<String>), crate::EmulatorError> {
        let next = tokio::task::spawn_blocking(SigningKey::generate)
            .await
            .map_err(|e| {
                crate::EmulatorError::Internal(format!("key generation task failed: {e}"))
            })??;
        Ok(self.rotate(next))
    }

    /// Put a new key in place; the old one stays published for the configured grace period.
    pub fn rotate(&self, next: SigningKey) -> (String, Vec<String>) {
        let grace = self.config().key_grace_seconds;
        let now = self.now();
        let mut k = self.keyring();
        k.rotate(next, now, grace);
        (
            k.current.kid.clone(),
            k.retired.iter().map(|(k, _)| k.kid.clone()).collect(),
        )
    }

    /// Entra's error body with `status`, the AADSTS code carried to the request log.
    fn error_with_status(&self, status: StatusCode, e: &AadError) -> Response {
        let mut r = (status, axum::Json(e.body(self.now(), &self.authority_host))).into_response();
        r.extensions_mut().insert(crate::observe::AadCode(e.code));
        r
    }

    /// An endpoint's error answer: Entra's body, status and `Cache-Control: no-store`.
    fn error(&self, e: &AadError) -> Response {
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut r = self.error_with_status(status, e);
        r.headers_mut().insert(
            header::CACHE_CONTROL,
            "no-store, no-cache".parse().expect("static header"),
        );
        if status == StatusCode::TOO_MANY_REQUESTS {
            r.headers_mut()
                .insert(header::RETRY_AFTER, "60".parse().expect("static header"));
        }
        r
    }

    /// A copy of the tenant `id` names, for a grant to work on without holding the lock. The 90002
    /// error names `segment`, the tenant as the request path wrote it.
    fn tenant(&self, id: &str, segment: &str) -> Result<TenantConfig, AadError> {
        self.config()
            .tenant(id)
            .cloned()
            .ok_or_else(|| AadError::tenant_not_found(segment))
    }
}

/// How the path names the tenant.
enum TenantRef {
    /// A configured tenant (by GUID or domain), resolved to its GUID.
    Known(String),
    /// `common` or `organizations`.
    Multi(String),
}

/// The tenant a path segment names: `common`/`organizations`, or a configured tenant (else 90002).
fn resolve_tenant(state: &ServerState, segment: &str) -> Result<TenantRef, AadError> {
    let lower = segment.to_ascii_lowercase();
    if lower == "common" || lower == "organizations" {
        return Ok(TenantRef::Multi(lower));
    }
    state
        .config()
        .tenant(segment)
        .map(|t| TenantRef::Known(t.id.clone()))
        .ok_or_else(|| AadError::tenant_not_found(segment))
}

/// The largest request body read (form posts are a few hundred bytes; client assertions a few KB).
/// A larger one is answered 413 in Entra's error shape.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The longest `scope` (or `resource`) accepted: codes waiting to be redeemed keep it.
pub const MAX_SCOPE_LEN: usize = 4 * 1024;
/// How many device codes, and how many authorization codes, may wait to be redeemed at once
/// (expired ones are dropped first). More is answered 429 with `Retry-After`.
pub const MAX_PENDING_CODES: usize = 1_000;
/// How many refresh tokens are kept at once. Expired ones are dropped first, then the oldest: a
/// dropped refresh token is refused like an unknown one (AADSTS70000), as a revoked one is.
pub const MAX_REFRESH_TOKENS: usize = 10_000;
/// How long a connection may take to send a request's headers, and how long an idle keep-alive
/// connection stays open: after that it is closed.
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long one request may take, body included (a body trickled in slowly is cut off).
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A form body (or query string) as name → value.
type Form = HashMap<String, String>;

fn parse_form(body: &[u8]) -> Form {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// A parameter's value; blank counts as absent, as Entra treats it.
fn param<'a>(form: &'a Form, name: &str) -> Option<&'a str> {
    form.get(name)
        .map(String::as_str)
        .filter(|v| !v.trim().is_empty())
}

/// A parameter that must be there (else Entra's 900144).
fn require<'a>(form: &'a Form, name: &str) -> Result<&'a str, AadError> {
    param(form, name).ok_or_else(|| AadError::missing_parameter(name))
}

/// The router for `state`.
pub fn router(state: Arc<ServerState>) -> Router {
    Router::new()
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(discovery::discovery_v2),
        )
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(discovery::discovery_v1),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(discovery::keys_v2))
        .route("/{tenant}/discovery/keys", get(discovery::keys_v1))
        .route("/{tenant}/oauth2/v2.0/token", post(token::token_v2))
        .route("/{tenant}/oauth2/token", post(token::token_v1))
        .route(
            "/{tenant}/oauth2/v2.0/devicecode",
            post(device::devicecode_v2),
        )
        .route("/{tenant}/oauth2/devicecode", post(device::devicecode_v1))
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize::authorize))
        .route("/_emulator/health", get(control::health))
        .route("/_emulator/rotate-keys", post(control::control_rotate))
        .route("/_emulator/device", get(control::device_page))
        .route("/_emulator/device/approve", post(control::control_approve))
        .route("/_emulator/device/decline", post(control::control_decline))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Count the request, serve an injected fault if one is set, and publish the request event.
async fn observe(
    State(state): State<Arc<ServerState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use crate::observe::{AadCode, EndpointKind, Fault, RequestEvent};
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let kind = EndpointKind::of_path(&path);
    state.observer.count(kind);
    let (resp, injected) = match state.observer.take_fault(kind) {
        Some(fault) => {
            let r = match fault {
                Fault::Status(code) => (
                    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    axum::Json(json!({"error": "server_error", "error_description": format!("injected fault: HTTP {code}")})),
                )
                    .into_response(),
                Fault::BadJson => (
                    [(header::CONTENT_TYPE, "application/json")],
                    "{\"keys\": [ this is not JSON",
                )
                    .into_response(),
                Fault::Body(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
            };
            (r, true)
        }
        None => {
            let resp = match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
                Ok(r) => r,
                Err(_) => {
                    let mut r = state.error(&AadError::request_timeout());
                    r.headers_mut()
                        .insert(header::CONNECTION, "close".parse().expect("static header"));
                    r
                }
            };
            // axum's own answer to a body over the limit is plain text: answer in Entra's shape.
            let resp = if resp.status() == StatusCode::PAYLOAD_TOO_LARGE
                && resp.extensions().get::<AadCode>().is_none()
            {
                state.error(&AadError::body_too_large(MAX_BODY_BYTES))
            } else {
                resp
            };
            (resp, false)
        }
    };
    state.observer.publish(RequestEvent {
        method,
        path,
        kind,
        status: resp.status().as_u16(),
        aadsts: resp.extensions().get::<AadCode>().map(|c| c.0),
        injected,
    });
    resp
}

/// Any other path: a JSON 404 pointing at discovery.
async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"error": "not_found", "error_description": "No such endpoint on the Entra emulator. Discovery lives at /{tenant}/v2.0/.well-known/openid-configuration."})),
    )
        .into_response()
}

/// Serve `state` on `listener` until the returned sender fires or is dropped; the task ends when
/// every connection has finished.
///
/// HTTP/1.1 through hyper with a timer, so a connection that sends no complete request headers
/// within [`HEADER_READ_TIMEOUT`] (a silent socket, a slow-loris, an idle keep-alive) is closed;
/// `axum::serve` has no such timeout.
pub(crate) fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<ServerState>,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    let app = router(state);
    let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT);
        let mut conns = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                _ = &mut rx => break,
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else {
                        // Out of file descriptors, say: wait a little rather than spin.
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let service = TowerToHyperService::new(app.clone());
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    let mut stop = stop_rx.clone();
                    conns.spawn(async move {
                        tokio::pin!(conn);
                        tokio::select! {
                            _ = conn.as_mut() => {}
                            _ = stop.changed() => {
                                conn.as_mut().graceful_shutdown();
                                let _ = conn.await;
                            }
                        }
                    });
                }
            }
        }
        let _ = stop_tx.send(true);
        while conns.join_next().await.is_some() {}
    });
    (tx, task)
}
