//! The HTTP side: Entra's paths and shapes, plus the `/_emulator/…` control endpoints.

use super::assertion::{self, AssertionKind};
use super::config::{AppConfig, EmulatorConfig, TenantConfig, UserConfig};
use super::errors::AadError;
use super::keys::{KeyRing, SigningKey};
use super::time::Clock;
use super::tokens::{self, ClientAuth, Subject, TokenSpec, issuer_v1, issuer_v2};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

/// Grant type names.
const GT_CLIENT_CREDENTIALS: &str = "client_credentials";
const GT_DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
const GT_JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ASSERTION_TYPE_JWT: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Scopes that are about the sign-in, not a resource.
const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "offline_access", "email"];
/// Device codes live this long (Entra: 15 minutes).
const DEVICE_CODE_LIFETIME: u64 = 900;

/// A device authorization waiting for (or holding) the user's approval.
#[derive(Debug, Clone)]
pub struct DeviceGrant {
    pub user_code: String,
    pub client_id: String,
    /// Tenant named in the path; `None` for `/common` and `/organizations` (the user's home tenant).
    pub tenant_id: Option<String>,
    /// The resource identifier as requested.
    pub resource: String,
    /// Bare scope names.
    pub scopes: Vec<String>,
    /// The full scope strings as requested (echoed in the token response).
    pub scope_param: String,
    pub openid: bool,
    pub expires_at: u64,
    pub state: DeviceState,
    pub v1: bool,
}

/// Where a device authorization stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceState {
    Pending,
    Approved { upn: String },
    Declined,
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct ServerState {
    pub config: RwLock<EmulatorConfig>,
    pub keys: Mutex<KeyRing>,
    pub devices: Mutex<HashMap<String, DeviceGrant>>,
    pub codes: Mutex<HashMap<String, super::authcode::AuthCode>>,
    pub refresh_tokens: Mutex<HashMap<String, super::authcode::RefreshGrant>>,
    pub clock: Clock,
    pub authority_host: String,
    pub http: reqwest::Client,
    pub observer: super::observe::Observer,
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
    pub fn sign(&self, claims: &Value) -> Result<String, super::keys::KeyError> {
        let key = self.keyring().current.clone();
        key.sign_jwt(claims)
    }

    /// Generate a key (off the async threads) and rotate to it: the new kid and the retired kids.
    pub async fn rotate_to_new_key(&self) -> Result<(String, Vec<String>), super::EmulatorError> {
        let next = tokio::task::spawn_blocking(SigningKey::generate)
            .await
            .map_err(|e| {
                super::EmulatorError::Internal(format!("key generation task failed: {e}"))
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
    pub(super) fn error_with_status(&self, status: StatusCode, e: &AadError) -> Response {
        let mut r = (status, axum::Json(e.body(self.now(), &self.authority_host))).into_response();
        r.extensions_mut().insert(super::observe::AadCode(e.code));
        r
    }

    /// An endpoint's error answer: Entra's body, status and `Cache-Control: no-store`.
    /// A copy of the tenant `id` names, for a grant to work on without holding the lock. The 90002
    /// error names `segment`, the tenant as the request path wrote it.
    pub(super) fn tenant(&self, id: &str, segment: &str) -> Result<TenantConfig, AadError> {
        self.config()
            .tenant(id)
            .cloned()
            .ok_or_else(|| AadError::tenant_not_found(segment))
    }

    fn error(&self, e: &AadError) -> Response {
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut r = self.error_with_status(status, e);
        r.headers_mut().insert(
            header::CACHE_CONTROL,
            "no-store, no-cache".parse().expect("static header"),
        );
        r
    }
}

/// How the path names the tenant.
pub(super) enum TenantRef {
    /// A configured tenant (by GUID or domain), resolved to its GUID.
    Known(String),
    /// `common` or `organizations`.
    Multi(String),
}

pub(super) fn resolve_tenant(state: &ServerState, segment: &str) -> Result<TenantRef, AadError> {
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

/// The router for `state`.
pub fn router(state: Arc<ServerState>) -> Router {
    Router::new()
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(discovery_v2),
        )
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(discovery_v1),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(keys_v2))
        .route("/{tenant}/discovery/keys", get(keys_v1))
        .route("/{tenant}/oauth2/v2.0/token", post(token_v2))
        .route("/{tenant}/oauth2/token", post(token_v1))
        .route("/{tenant}/oauth2/v2.0/devicecode", post(devicecode_v2))
        .route("/{tenant}/oauth2/devicecode", post(devicecode_v1))
        .route(
            "/{tenant}/oauth2/v2.0/authorize",
            get(super::authcode::authorize),
        )
        .route("/_emulator/health", get(health))
        .route("/_emulator/rotate-keys", post(control_rotate))
        .route("/_emulator/device", get(device_page))
        .route("/_emulator/device/approve", post(control_approve))
        .route("/_emulator/device/decline", post(control_decline))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Count the request, serve an injected fault if one is set, and publish the request event.
async fn observe(
    State(state): State<Arc<ServerState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use super::observe::{AadCode, EndpointKind, Fault, RequestEvent};
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
        None => (next.run(req).await, false),
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

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"error": "not_found", "error_description": "No such endpoint on the Entra emulator. Discovery lives at /{tenant}/v2.0/.well-known/openid-configuration."})),
    )
        .into_response()
}

async fn health() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

// ---------- discovery and keys ----------

fn discovery_doc(state: &ServerState, segment: &str, multi: bool, v2: bool) -> Value {
    let a = &state.authority_host;
    let tenant_for_issuer = if multi { "{tenantid}" } else { segment };
    if v2 {
        json!({
            "token_endpoint": format!("{a}/{segment}/oauth2/v2.0/token"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": format!("{a}/{segment}/discovery/v2.0/keys"),
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": issuer_v2(a, tenant_for_issuer),
            "request_uri_parameter_supported": false,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": format!("{a}/{segment}/oauth2/v2.0/authorize"),
            "device_authorization_endpoint": format!("{a}/{segment}/oauth2/v2.0/devicecode"),
            "http_logout_supported": true,
            "frontchannel_logout_supported": true,
            "end_session_endpoint": format!("{a}/{segment}/oauth2/v2.0/logout"),
            "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
            "kerberos_endpoint": format!("{a}/{segment}/kerberos"),
            "tenant_region_scope": "NA",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net"
        })
    } else {
        json!({
            "token_endpoint": format!("{a}/{segment}/oauth2/token"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": format!("{a}/{segment}/discovery/keys"),
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
            "scopes_supported": ["openid"],
            "issuer": issuer_v1(tenant_for_issuer),
            "microsoft_multi_refresh_token": true,
            "authorization_endpoint": format!("{a}/{segment}/oauth2/authorize"),
            "device_authorization_endpoint": format!("{a}/{segment}/oauth2/devicecode"),
            "http_logout_supported": true,
            "frontchannel_logout_supported": true,
            "end_session_endpoint": format!("{a}/{segment}/oauth2/logout"),
            "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "amr", "nonce", "email", "given_name", "family_name", "nickname"],
            "check_session_iframe": format!("{a}/{segment}/oauth2/checksession"),
            "userinfo_endpoint": format!("{a}/{segment}/openid/userinfo"),
            "kerberos_endpoint": format!("{a}/{segment}/kerberos"),
            "tenant_region_scope": "NA",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net"
        })
    }
}

fn json_ok(v: Value) -> Response {
    let mut r = axum::Json(v).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        "max-age=86400, private".parse().expect("static header"),
    );
    r
}

async fn discovery(state: Arc<ServerState>, segment: String, v2: bool) -> Response {
    match resolve_tenant(&state, &segment) {
        Ok(TenantRef::Known(id)) => json_ok(discovery_doc(&state, &id, false, v2)),
        Ok(TenantRef::Multi(name)) => json_ok(discovery_doc(&state, &name, true, v2)),
        Err(_) => state.error(&AadError::tenant_not_found_discovery(&segment)),
    }
}

async fn discovery_v2(State(s): State<Arc<ServerState>>, Path(t): Path<String>) -> Response {
    discovery(s, t, true).await
}

async fn discovery_v1(State(s): State<Arc<ServerState>>, Path(t): Path<String>) -> Response {
    discovery(s, t, false).await
}

async fn keys(state: Arc<ServerState>, segment: String, v2: bool) -> Response {
    let issuer = match resolve_tenant(&state, &segment) {
        Ok(TenantRef::Known(id)) => issuer_v2(&state.authority_host, &id),
        Ok(TenantRef::Multi(_)) => issuer_v2(&state.authority_host, "{tenantid}"),
        Err(_) => return state.error(&AadError::tenant_not_found_discovery(&segment)),
    };
    let published = state.keyring().published();
    let keys: Vec<Value> = published
        .iter()
        .map(|k| k.jwk(if v2 { Some(issuer.as_str()) } else { None }))
        .collect();
    json_ok(json!({ "keys": keys }))
}

async fn keys_v2(State(s): State<Arc<ServerState>>, Path(t): Path<String>) -> Response {
    keys(s, t, true).await
}

async fn keys_v1(State(s): State<Arc<ServerState>>, Path(t): Path<String>) -> Response {
    keys(s, t, false).await
}

// ---------- token endpoint ----------

pub(super) type Form = HashMap<String, String>;

pub(super) fn parse_form(body: &[u8]) -> Form {
    url::form_urlencoded::parse(body).into_owned().collect()
}

pub(super) fn param<'a>(form: &'a Form, name: &str) -> Option<&'a str> {
    form.get(name)
        .map(String::as_str)
        .filter(|v| !v.trim().is_empty())
}

pub(super) fn require<'a>(form: &'a Form, name: &str) -> Result<&'a str, AadError> {
    param(form, name).ok_or_else(|| AadError::missing_parameter(name))
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    let decode = |s: &str| -> String {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((decode(id), decode(secret)))
}

/// Compare without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The client as authenticated on the request.
pub(super) struct AuthedClient {
    pub(super) app: AppConfig,
    pub(super) auth: ClientAuth,
}

/// The token endpoints of a tenant: what a certificate assertion's `aud` may be.
fn token_endpoints(state: &ServerState, tenant: &TenantConfig) -> Vec<String> {
    let a = &state.authority_host;
    let mut v = Vec::new();
    for name in std::iter::once(tenant.id.as_str()).chain(tenant.domains()) {
        v.push(format!("{a}/{name}/oauth2/v2.0/token"));
        v.push(format!("{a}/{name}/oauth2/token"));
    }
    v
}

pub(super) async fn authenticate_client(
    state: &ServerState,
    tenant: &TenantConfig,
    headers: &HeaderMap,
    form: &Form,
    public_allowed: bool,
) -> Result<AuthedClient, AadError> {
    let basic = basic_credentials(headers);
    let client_id = param(form, "client_id")
        .map(str::to_string)
        .or_else(|| basic.as_ref().map(|(id, _)| id.clone()))
        .ok_or_else(|| AadError::missing_parameter("client_id"))?;
    let app = tenant
        .app(&client_id)
        .cloned()
        .ok_or_else(|| AadError::unknown_client(&client_id, &tenant.id))?;
    let secret = param(form, "client_secret")
        .map(str::to_string)
        .or_else(|| basic.map(|(_, s)| s));
    if let Some(secret) = secret {
        let ok = app
            .client_secrets
            .iter()
            .any(|s| constant_time_eq(s.secret().as_bytes(), secret.as_bytes()));
        if !ok {
            return Err(AadError::invalid_secret(&app.client_id));
        }
        return Ok(AuthedClient {
            app,
            auth: ClientAuth::Secret,
        });
    }
    if let Some(assertion) = param(form, "client_assertion") {
        let kind = param(form, "client_assertion_type").unwrap_or_default();
        if kind != ASSERTION_TYPE_JWT {
            return Err(AadError::missing_parameter("client_assertion_type"));
        }
        let endpoints = token_endpoints(state, tenant);
        let _kind: AssertionKind =
            assertion::verify(&state.http, &app, assertion, &endpoints, state.now()).await?;
        return Ok(AuthedClient {
            app,
            auth: ClientAuth::Assertion,
        });
    }
    if public_allowed && app.public_client {
        return Ok(AuthedClient {
            app,
            auth: ClientAuth::Public,
        });
    }
    Err(AadError::missing_credential())
}

/// A requested resource and the scopes on it.
pub(super) struct Requested {
    pub(super) resource: AppConfig,
    /// The resource identifier as the client wrote it.
    pub(super) resource_id: String,
    /// Bare scope names (for `scp`); empty for `/.default` on a resource without scopes.
    pub(super) scopes: Vec<String>,
    pub(super) openid: bool,
    /// `offline_access` was asked for (a refresh token is returned).
    pub(super) offline: bool,
}

/// Split `api://x/access_as_user api://x/.default openid` into one resource and its scopes.
pub(super) fn parse_scopes(
    tenant: &TenantConfig,
    scope: &str,
    client_credentials: bool,
) -> Result<Requested, AadError> {
    let mut resource_id: Option<String> = None;
    let mut names = Vec::new();
    let mut default = false;
    let mut openid = false;
    let mut offline = false;
    for s in scope.split_whitespace() {
        if OIDC_SCOPES.contains(&s.to_ascii_lowercase().as_str()) {
            openid |= s.eq_ignore_ascii_case("openid");
            offline |= s.eq_ignore_ascii_case("offline_access");
            continue;
        }
        let (res, name) = match s.rsplit_once('/') {
            Some((r, n)) if !r.is_empty() && !r.ends_with(':') && !r.ends_with('/') => {
                (r.to_string(), n.to_string())
            }
            _ => {
                if client_credentials {
                    return Err(AadError::scope_needs_default(scope));
                }
                return Err(AadError::invalid_scope(s));
            }
        };
        if client_credentials && name != ".default" {
            return Err(AadError::scope_needs_default(scope));
        }
        match &resource_id {
            Some(r) if !r.eq_ignore_ascii_case(&res) => {
                return Err(AadError::invalid_scope(scope));
            }
            _ => resource_id = Some(res),
        }
        if name == ".default" {
            default = true;
        } else {
            names.push(name);
        }
    }
    let Some(resource_id) = resource_id else {
        return Err(if client_credentials {
            AadError::scope_needs_default(scope)
        } else {
            AadError::invalid_scope(scope)
        });
    };
    let resource = tenant.resource(&resource_id).cloned().ok_or_else(|| {
        AadError::unknown_resource(&resource_id, tenant.domain.as_deref().unwrap_or(&tenant.id))
    })?;
    for n in &names {
        if !resource.scopes.iter().any(|s| s == n) {
            return Err(AadError::invalid_scope(&format!("{resource_id}/{n}")));
        }
    }
    let scopes = if default || names.is_empty() {
        resource.scopes.clone()
    } else {
        names
    };
    Ok(Requested {
        resource,
        resource_id,
        scopes,
        openid,
        offline,
    })
}

/// v1 requests name the resource with `resource=`.
fn parse_resource(tenant: &TenantConfig, resource_id: &str) -> Result<Requested, AadError> {
    let resource = tenant.resource(resource_id).cloned().ok_or_else(|| {
        AadError::unknown_resource(resource_id, tenant.domain.as_deref().unwrap_or(&tenant.id))
    })?;
    Ok(Requested {
        scopes: resource.scopes.clone(),
        resource,
        resource_id: resource_id.to_string(),
        openid: false,
        offline: false,
    })
}

fn requested(
    tenant: &TenantConfig,
    form: &Form,
    v1: bool,
    client_credentials: bool,
) -> Result<Requested, AadError> {
    if v1 {
        parse_resource(tenant, require(form, "resource")?)
    } else {
        parse_scopes(tenant, require(form, "scope")?, client_credentials)
    }
}

pub(super) fn user_lifetime(cfg: &EmulatorConfig) -> u64 {
    let [lo, hi] = cfg.user_token_lifetime_seconds;
    if hi > lo {
        rand::random_range(lo..=hi)
    } else {
        lo
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn token_response(
    state: &ServerState,
    token: String,
    lifetime: u64,
    req: &Requested,
    v1: bool,
    app_only: bool,
    extra: Vec<(&str, String)>,
) -> Response {
    let now = state.now();
    let mut body = if v1 {
        json!({
            "token_type": "Bearer",
            "expires_in": lifetime.to_string(),
            "ext_expires_in": lifetime.to_string(),
            "expires_on": (now + lifetime).to_string(),
            "not_before": now.to_string(),
            "resource": req.resource_id,
            "access_token": token,
        })
    } else {
        // Entra lists what was granted: `/.default` resolves to the resource's scopes.
        let scope = if req.scopes.is_empty() {
            format!("{}/.default", req.resource_id)
        } else {
            req.scopes
                .iter()
                .map(|s| format!("{}/{s}", req.resource_id))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut body = json!({
            "token_type": "Bearer",
            "scope": scope,
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
        });
        if app_only && let Some(m) = body.as_object_mut() {
            // Entra's client credentials responses carry no `scope`.
            m.remove("scope");
        }
        body
    };
    for (k, v) in extra {
        body[k] = Value::String(v);
    }
    let mut r = axum::Json(body).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        "no-store, no-cache".parse().expect("static header"),
    );
    r
}

async fn token_v2(
    State(s): State<Arc<ServerState>>,
    Path(t): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match token(&s, &t, &headers, &body, false).await {
        Ok(r) => r,
        Err(e) => s.error(&e),
    }
}

async fn token_v1(
    State(s): State<Arc<ServerState>>,
    Path(t): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match token(&s, &t, &headers, &body, true).await {
        Ok(r) => r,
        Err(e) => s.error(&e),
    }
}

pub(super) fn sign_err(e: super::keys::KeyError) -> AadError {
    AadError::invalid_grant(50000, format!("There was an error issuing a token: {e}."))
}

/// The claims of an access token for `req`, as `client` authenticated, signed with the current key:
/// the one way every grant mints one. `user` is the signed-in user (`None`: app-only).
pub(super) fn sign_access_token(
    state: &ServerState,
    tenant: &TenantConfig,
    client: &AuthedClient,
    req: &Requested,
    user: Option<&UserConfig>,
    issued_at: u64,
    lifetime: u64,
) -> Result<String, AadError> {
    let subject = match user {
        Some(user) => Subject::User {
            user,
            scopes: &req.scopes,
        },
        None => Subject::App,
    };
    let spec = TokenSpec {
        authority_host: &state.authority_host,
        tenant,
        resource: &req.resource,
        requested_resource: &req.resource_id,
        client: &client.app,
        client_auth: client.auth,
        subject,
        issued_at,
        lifetime,
        version: None,
    };
    state
        .sign(&Value::Object(tokens::claims(&spec)))
        .map_err(sign_err)
}

async fn token(
    state: &ServerState,
    segment: &str,
    headers: &HeaderMap,
    body: &[u8],
    v1: bool,
) -> Result<Response, AadError> {
    let tref = resolve_tenant(state, segment)?;
    let form = parse_form(body);
    let grant = require(&form, "grant_type")?.to_string();
    match grant.as_str() {
        GT_CLIENT_CREDENTIALS => {
            let TenantRef::Known(tid) = tref else {
                return Err(AadError::grant_not_on_common());
            };
            let tenant = state.tenant(&tid, segment)?;
            let client = authenticate_client(state, &tenant, headers, &form, false).await?;
            let req = requested(&tenant, &form, v1, true)?;
            let lifetime = state.config().app_token_lifetime_seconds;
            let token =
                sign_access_token(state, &tenant, &client, &req, None, state.now(), lifetime)?;
            Ok(token_response(
                state,
                token,
                lifetime,
                &req,
                v1,
                true,
                Vec::new(),
            ))
        }
        GT_DEVICE_CODE => device_code_grant(state, tref, headers, &form, v1).await,
        GT_JWT_BEARER => on_behalf_of(state, tref, segment, headers, &form, v1).await,
        super::authcode::GT_AUTHORIZATION_CODE => {
            super::authcode::authorization_code_grant(state, tref, segment, headers, &form, v1)
                .await
        }
        super::authcode::GT_REFRESH_TOKEN => {
            super::authcode::refresh_token_grant(state, tref, segment, headers, &form, v1).await
        }
        other => Err(AadError::unsupported_grant(other)),
    }
}

// ---------- on-behalf-of ----------

/// Verify a token this emulator issued (signature with a published key, time) and return its claims.
fn verify_own_token(
    state: &ServerState,
    token: &str,
) -> Result<serde_json::Map<String, Value>, AadError> {
    let bad = |m: &str| {
        AadError::invalid_grant(
            50013,
            format!("Assertion failed signature validation. [Reason - {m}]"),
        )
    };
    let header = jsonwebtoken::decode_header(token)
        .map_err(|e| bad(&format!("The assertion is not a well-formed JWT: {e}")))?;
    let kid = header.kid.clone().unwrap_or_default();
    let key = state
        .keyring()
        .published()
        .into_iter()
        .find(|k| k.kid == kid)
        .ok_or_else(|| bad(&format!("The key was not found., kid '{kid}'")))?;
    let dk = jsonwebtoken::DecodingKey::from_rsa_components(&key.n, &key.e)
        .map_err(|e| bad(&e.to_string()))?;
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, &dk, &v)
        .map_err(|e| bad(&format!("The signature is invalid: {e}")))?;
    let now = state.now();
    let exp = data.claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
    let nbf = data.claims.get("nbf").and_then(Value::as_u64).unwrap_or(0);
    if exp + assertion::ASSERTION_SKEW_SECONDS < now
        || nbf > now + assertion::ASSERTION_SKEW_SECONDS
    {
        return Err(AadError::invalid_grant(
            500133,
            format!(
                "Assertion is not within its valid time range. Ensure that the access token is not expired before using it for user assertion, or request a new token. Current time: {}, expiry time of assertion {}.",
                super::time::timestamp(now),
                super::time::timestamp(exp)
            ),
        ));
    }
    Ok(data.claims)
}

async fn on_behalf_of(
    state: &ServerState,
    tref: TenantRef,
    segment: &str,
    headers: &HeaderMap,
    form: &Form,
    v1: bool,
) -> Result<Response, AadError> {
    let use_ = require(form, "requested_token_use")?;
    if use_ != "on_behalf_of" {
        return Err(AadError::invalid_grant(
            50013,
            format!("requested_token_use '{use_}' is not supported; use 'on_behalf_of'."),
        ));
    }
    let assertion = require(form, "assertion")?;
    let claims = verify_own_token(state, assertion)?;
    let tid = claims
        .get("tid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let tenant_id = match tref {
        TenantRef::Known(id) => {
            if !id.eq_ignore_ascii_case(&tid) {
                return Err(AadError::invalid_grant(
                    50013,
                    format!(
                        "Assertion failed signature validation. [Reason - The assertion was issued by tenant '{tid}', not '{id}'.]"
                    ),
                ));
            }
            id
        }
        TenantRef::Multi(_) => tid,
    };
    let tenant = state.tenant(&tenant_id, segment)?;
    let client = authenticate_client(state, &tenant, headers, form, false).await?;
    let aud = claims
        .get("aud")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let aud_ok = aud.eq_ignore_ascii_case(&client.app.client_id)
        || aud.eq_ignore_ascii_case(&format!("api://{}", client.app.client_id))
        || client
            .app
            .identifier_uris
            .iter()
            .any(|u| u.eq_ignore_ascii_case(aud));
    if !aud_ok {
        return Err(AadError::invalid_grant(
            500131,
            format!(
                "Assertion audience does not match the Client app presenting the assertion. The audience in the assertion was '{aud}' and the expected audience is '{}' or one of the Application Uris of this application with App ID '{}'.",
                client.app.client_id, client.app.client_id
            ),
        ));
    }
    if claims.get("scp").is_none() {
        return Err(AadError::invalid_grant(
            50013,
            "Assertion failed signature validation. [Reason - The assertion is an app-only token; on-behalf-of needs a user's delegated token.]",
        ));
    }
    let oid = claims
        .get("oid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let user = tenant
        .user_by_oid(oid)
        .cloned()
        .ok_or_else(|| AadError::unknown_user(oid, &tenant.id))?;
    let req = requested(&tenant, form, v1, false)?;
    let lifetime = user_lifetime(&state.config());
    let token = sign_access_token(
        state,
        &tenant,
        &client,
        &req,
        Some(&user),
        state.now(),
        lifetime,
    )?;
    Ok(token_response(
        state,
        token,
        lifetime,
        &req,
        v1,
        false,
        Vec::new(),
    ))
}

// ---------- device code ----------

fn user_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..9)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

async fn devicecode_v2(
    State(s): State<Arc<ServerState>>,
    Path(t): Path<String>,
    body: Bytes,
) -> Response {
    match devicecode(&s, &t, &body, false) {
        Ok(r) => r,
        Err(e) => s.error(&e),
    }
}

async fn devicecode_v1(
    State(s): State<Arc<ServerState>>,
    Path(t): Path<String>,
    body: Bytes,
) -> Response {
    match devicecode(&s, &t, &body, true) {
        Ok(r) => r,
        Err(e) => s.error(&e),
    }
}

fn devicecode(
    state: &ServerState,
    segment: &str,
    body: &[u8],
    v1: bool,
) -> Result<Response, AadError> {
    let tref = resolve_tenant(state, segment)?;
    let form = parse_form(body);
    let client_id = require(&form, "client_id")?;
    let cfg = state.config();
    // The tenant whose registrations answer: the named one, or the default for /common.
    let (tenant, tenant_id) = match &tref {
        TenantRef::Known(id) => (
            cfg.tenant(id)
                .cloned()
                .ok_or_else(|| AadError::tenant_not_found(segment))?,
            Some(id.clone()),
        ),
        TenantRef::Multi(_) => (
            cfg.default_tenant()
                .cloned()
                .ok_or_else(|| AadError::tenant_not_found(segment))?,
            None,
        ),
    };
    if tenant.app(client_id).is_none() {
        return Err(AadError::unknown_client(client_id, &tenant.id));
    }
    let req = requested(&tenant, &form, v1, false)?;
    let scope_param = param(&form, "scope")
        .or(param(&form, "resource"))
        .unwrap_or_default()
        .to_string();
    let device_code = tokens::opaque(48);
    let code = user_code();
    let now = state.now();
    let state_now = match &cfg.device_code_auto_approve {
        Some(upn) => DeviceState::Approved { upn: upn.clone() },
        None => DeviceState::Pending,
    };
    drop(cfg);
    let verification_uri = format!("{}/_emulator/device", state.authority_host);
    state
        .devices
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(
            device_code.clone(),
            DeviceGrant {
                user_code: code.clone(),
                client_id: client_id.to_string(),
                tenant_id,
                resource: req.resource_id.clone(),
                scopes: req.scopes.clone(),
                scope_param,
                openid: req.openid,
                expires_at: now + DEVICE_CODE_LIFETIME,
                state: state_now,
                v1,
            },
        );
    Ok(axum::Json(json!({
        "user_code": code,
        "device_code": device_code,
        "verification_uri": verification_uri,
        "expires_in": DEVICE_CODE_LIFETIME,
        "interval": 5,
        "message": format!("To sign in, use a web browser to open the page {verification_uri} and enter the code {code} to authenticate. (Entra emulator: approve with POST {}/_emulator/device/approve {{\"user_code\":\"{code}\",\"upn\":\"…\"}}.)", state.authority_host),
    }))
    .into_response())
}

async fn device_code_grant(
    state: &ServerState,
    tref: TenantRef,
    headers: &HeaderMap,
    form: &Form,
    v1: bool,
) -> Result<Response, AadError> {
    let device_code = param(form, "device_code")
        .or(param(form, "code"))
        .ok_or_else(|| AadError::missing_parameter("device_code"))?
        .to_string();
    let forget = || {
        state
            .devices
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&device_code);
    };
    let grant = state
        .devices
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&device_code)
        .cloned()
        .ok_or_else(AadError::bad_device_code)?;
    if state.now() > grant.expires_at {
        forget();
        return Err(AadError::device_code_expired());
    }
    let upn = match &grant.state {
        DeviceState::Pending => return Err(AadError::authorization_pending()),
        DeviceState::Declined => {
            forget();
            return Err(AadError::authorization_declined());
        }
        DeviceState::Approved { upn } => upn.clone(),
    };
    // The user's home tenant (the named one, or found by upn for /common).
    let tenant = {
        let cfg = state.config();
        let t = match (&tref, &grant.tenant_id) {
            (TenantRef::Known(id), _) => cfg.tenant(id),
            (TenantRef::Multi(_), Some(id)) => cfg.tenant(id),
            (TenantRef::Multi(_), None) => cfg.tenants.iter().find(|t| t.user(&upn).is_some()),
        };
        t.cloned()
            .ok_or_else(|| AadError::unknown_user(&upn, "the directory"))?
    };
    let user = tenant
        .user(&upn)
        .cloned()
        .ok_or_else(|| AadError::unknown_user(&upn, &tenant.id))?;
    let client = authenticate_client(state, &tenant, headers, form, true).await?;
    if !client.app.client_id.eq_ignore_ascii_case(&grant.client_id) {
        return Err(AadError::bad_device_code());
    }
    let mut req = if grant.v1 || v1 {
        parse_resource(&tenant, &grant.resource)?
    } else {
        let mut r = parse_scopes(&tenant, &grant.scope_param, false)?;
        r.scopes = grant.scopes.clone();
        r
    };
    forget();
    req.openid |= grant.openid;
    req.offline |= grant
        .scope_param
        .split_whitespace()
        .any(|s| s.eq_ignore_ascii_case("offline_access"));
    super::authcode::issue_for_user(
        state,
        &tenant,
        &client,
        &user,
        &req,
        v1,
        None,
        &grant.scope_param,
    )
}

/// A v2 ID token for the client.
pub(super) fn id_token(
    state: &ServerState,
    tenant: &TenantConfig,
    client: &AppConfig,
    user: &UserConfig,
    now: u64,
    nonce: Option<&str>,
) -> Result<String, super::keys::KeyError> {
    let mut claims = json!({
        "aud": client.client_id,
        "iss": issuer_v2(&state.authority_host, &tenant.id),
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "name": user.name,
        "oid": user.oid,
        "preferred_username": user.upn,
        "sub": user.oid,
        "tid": tenant.id,
        "ver": "2.0",
    });
    if let Some(n) = nonce {
        claims["nonce"] = Value::String(n.to_string());
    }
    state.sign(&claims)
}

// ---------- control endpoints ----------

async fn device_page() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "Entra emulator device login.\n\nApprove a code with:\n  curl -X POST -H 'content-type: application/json' \\\n    -d '{\"user_code\":\"CODE\",\"upn\":\"alice@contoso.onmicrosoft.com\"}' <authority>/_emulator/device/approve\n",
    )
        .into_response()
}

/// Approve (or decline) the device authorization with this user code.
pub fn set_device_state(
    state: &ServerState,
    user_code: &str,
    new: DeviceState,
) -> Result<(), String> {
    if let DeviceState::Approved { upn } = &new
        && !state.config().tenants.iter().any(|t| t.user(upn).is_some())
    {
        return Err(format!("no user `{upn}` in any configured tenant"));
    }
    let mut devices = state.devices.lock().unwrap_or_else(|e| e.into_inner());
    let grant = devices
        .values_mut()
        .find(|g| g.user_code.eq_ignore_ascii_case(user_code.trim()))
        .ok_or_else(|| format!("no pending device code with user code `{user_code}`"))?;
    grant.state = new;
    Ok(())
}

fn control_error(status: StatusCode, msg: String) -> Response {
    (
        status,
        axum::Json(json!({"error": "invalid_request", "error_description": msg})),
    )
        .into_response()
}

async fn control_approve(State(s): State<Arc<ServerState>>, body: Bytes) -> Response {
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return control_error(
                StatusCode::BAD_REQUEST,
                format!("body must be JSON {{\"user_code\", \"upn\"}}: {e}"),
            );
        }
    };
    let (Some(code), Some(upn)) = (
        v.get("user_code").and_then(Value::as_str),
        v.get("upn").and_then(Value::as_str),
    ) else {
        return control_error(
            StatusCode::BAD_REQUEST,
            "body must be JSON {\"user_code\", \"upn\"}".into(),
        );
    };
    match set_device_state(
        &s,
        code,
        DeviceState::Approved {
            upn: upn.to_string(),
        },
    ) {
        Ok(()) => {
            axum::Json(json!({"approved": true, "user_code": code, "upn": upn})).into_response()
        }
        Err(m) => control_error(StatusCode::NOT_FOUND, m),
    }
}

async fn control_decline(State(s): State<Arc<ServerState>>, body: Bytes) -> Response {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(code) = v.get("user_code").and_then(Value::as_str) else {
        return control_error(
            StatusCode::BAD_REQUEST,
            "body must be JSON {\"user_code\"}".into(),
        );
    };
    match set_device_state(&s, code, DeviceState::Declined) {
        Ok(()) => axum::Json(json!({"declined": true, "user_code": code})).into_response(),
        Err(m) => control_error(StatusCode::NOT_FOUND, m),
    }
}

async fn control_rotate(State(s): State<Arc<ServerState>>) -> Response {
    let (kid, retired) = match s.rotate_to_new_key().await {
        Ok(r) => r,
        Err(e) => return control_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let grace = s.config().key_grace_seconds;
    axum::Json(json!({"kid": kid, "retired": retired, "grace_seconds": grace})).into_response()
}
