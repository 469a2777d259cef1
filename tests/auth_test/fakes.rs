//! Loopback servers the `auth test` tests need besides the emulator:
//! - `FakeIssuer`: an external OIDC issuer (a GitHub Actions ID token service, or a Kubernetes
//!   service account issuer) that the emulator's federated credentials trust;
//! - `FakeEntraErrors`: an Entra-shaped token endpoint answering one chosen AADSTS error (for the
//!   codes the emulator does not produce);
//! - `FakeMcp`: an MCP server over streamable HTTP, protected per the MCP authorization spec with
//!   the shared validator, that can be told to misbehave.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use pmcp_auth::{JwtValidator, JwtValidatorConfig};
use pmcp_entra_emulator::SigningKey;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    base
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

// ---------------------------------------------------------------------------------------------

/// The bearer token GitHub hands the job to ask for ID tokens.
pub const GH_REQUEST_TOKEN: &str = "gh-request-token-6c1f0e";

#[derive(Clone)]
struct IssuerState {
    base: Arc<Mutex<String>>,
    key: Arc<SigningKey>,
    subject: String,
    issued: Arc<Mutex<Vec<String>>>,
    audiences: Arc<Mutex<Vec<String>>>,
}

/// An external OIDC issuer with discovery, keys, and a GitHub-style ID token endpoint.
pub struct FakeIssuer {
    pub base: String,
    state: IssuerState,
}

impl FakeIssuer {
    /// `subject` is the `sub` of the ID tokens handed out by `/idtoken`.
    pub async fn start(subject: &str) -> Self {
        let key = tokio::task::spawn_blocking(SigningKey::generate)
            .await
            .unwrap()
            .unwrap();
        let state = IssuerState {
            base: Arc::new(Mutex::new(String::new())),
            key: Arc::new(key),
            subject: subject.to_string(),
            issued: Arc::default(),
            audiences: Arc::default(),
        };
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(issuer_discovery))
            .route("/keys", get(issuer_keys))
            .route("/idtoken", get(issuer_idtoken))
            .with_state(state.clone());
        let base = serve(router).await;
        *state.base.lock().unwrap() = base.clone();
        Self { base, state }
    }

    /// A signed token from this issuer.
    pub fn token(&self, sub: &str, aud: &str) -> String {
        let t = now();
        let jwt = self
            .state
            .key
            .sign_jwt(&json!({"iss": self.base, "sub": sub, "aud": aud, "iat": t, "nbf": t, "exp": t + 600, "jti": uuid::Uuid::new_v4().to_string()}))
            .unwrap();
        self.state.issued.lock().unwrap().push(jwt.clone());
        jwt
    }

    /// Every token handed out so far.
    pub fn issued(&self) -> Vec<String> {
        self.state.issued.lock().unwrap().clone()
    }

    /// The `audience` values `/idtoken` was asked for.
    pub fn requested_audiences(&self) -> Vec<String> {
        self.state.audiences.lock().unwrap().clone()
    }

    /// `ACTIONS_ID_TOKEN_REQUEST_URL` for this issuer.
    pub fn request_url(&self) -> String {
        format!("{}/idtoken?api-version=2.0", self.base)
    }
}

async fn issuer_discovery(State(s): State<IssuerState>) -> Response {
    let base = s.base.lock().unwrap().clone();
    axum::Json(json!({"issuer": base, "jwks_uri": format!("{base}/keys")})).into_response()
}

async fn issuer_keys(State(s): State<IssuerState>) -> Response {
    axum::Json(json!({"keys": [s.key.jwk(None)]})).into_response()
}

async fn issuer_idtoken(
    State(s): State<IssuerState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth != format!("Bearer {GH_REQUEST_TOKEN}") {
        return (StatusCode::UNAUTHORIZED, "bad request token").into_response();
    }
    let Some(aud) = q.get("audience").cloned() else {
        return (StatusCode::BAD_REQUEST, "no audience").into_response();
    };
    s.audiences.lock().unwrap().push(aud.clone());
    let base = s.base.lock().unwrap().clone();
    let t = now();
    let jwt = s
        .key
        .sign_jwt(&json!({"iss": base, "sub": s.subject, "aud": aud, "iat": t, "nbf": t, "exp": t + 300, "repository": "contoso/mcp-server"}))
        .unwrap();
    s.issued.lock().unwrap().push(jwt.clone());
    axum::Json(json!({"count": 1, "value": jwt})).into_response()
}

// ---------------------------------------------------------------------------------------------

/// An Entra-shaped token endpoint that answers every POST with one AADSTS error.
pub struct FakeEntraErrors {
    pub base: String,
}

impl FakeEntraErrors {
    pub async fn start(status: u16, error: &str, code: u32, message: &str) -> Self {
        let body = json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {message} Trace ID: 11111111-2222-3333-4444-555555555555 Correlation ID: 66666666-7777-8888-9999-000000000000 Timestamp: 2026-11-26 08:00:00Z"),
            "error_codes": [code],
            "timestamp": "2026-11-26 08:00:00Z",
            "trace_id": "11111111-2222-3333-4444-555555555555",
            "correlation_id": "66666666-7777-8888-9999-000000000000",
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        });
        let status = StatusCode::from_u16(status).unwrap();
        let router = Router::new().fallback(post(move || {
            let body = body.clone();
            async move { (status, axum::Json(body)).into_response() }
        }));
        Self {
            base: serve(router).await,
        }
    }
}

// ---------------------------------------------------------------------------------------------

/// How the fake MCP server behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum McpMode {
    /// Per the spec: 401 + resource_metadata without a token, metadata naming the issuer,
    /// initialize answered as SSE, tools/list as JSON.
    Good,
    /// Serves MCP without asking for a token.
    NoAuth,
    /// Its protected resource metadata names another authorization server.
    WrongIssuer,
    /// Rejects every token (validates for another audience).
    RejectsTokens,
    /// Answers initialize on an SSE stream that it never closes (allowed by the spec).
    SseStaysOpen,
}

#[derive(Clone)]
struct McpState {
    base: Arc<Mutex<String>>,
    mode: McpMode,
    issuer: String,
    validator: JwtValidator,
    session: String,
}

/// A small MCP server protected with the shared validator.
pub struct FakeMcp {
    pub base: String,
}

impl FakeMcp {
    /// `validator` checks tokens (the same code a real server runs); `issuer` goes in the metadata.
    pub async fn start(mode: McpMode, validator: JwtValidatorConfig, issuer: &str) -> Self {
        let mut validator = validator;
        if mode == McpMode::RejectsTokens {
            validator.audiences = vec!["api://someone-else".into()];
        }
        let state = McpState {
            base: Arc::new(Mutex::new(String::new())),
            mode,
            issuer: issuer.to_string(),
            validator: JwtValidator::new(validator),
            session: uuid::Uuid::new_v4().to_string(),
        };
        let router = Router::new()
            .route("/mcp", post(mcp_post))
            .route(
                "/.well-known/oauth-protected-resource/mcp",
                get(mcp_metadata),
            )
            .with_state(state.clone());
        let base = serve(router).await;
        *state.base.lock().unwrap() = base.clone();
        Self { base }
    }

    pub fn url(&self) -> String {
        format!("{}/mcp", self.base)
    }
}

async fn mcp_metadata(State(s): State<McpState>) -> Response {
    let base = s.base.lock().unwrap().clone();
    let server = if s.mode == McpMode::WrongIssuer {
        "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0".to_string()
    } else {
        s.issuer.clone()
    };
    axum::Json(json!({
        "resource": format!("{base}/mcp"),
        "authorization_servers": [server],
        "bearer_methods_supported": ["header"],
    }))
    .into_response()
}

async fn mcp_post(State(s): State<McpState>, headers: HeaderMap, body: String) -> Response {
    let base = s.base.lock().unwrap().clone();
    let challenge =
        format!("Bearer resource_metadata=\"{base}/.well-known/oauth-protected-resource/mcp\"");
    if s.mode != McpMode::NoAuth {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let Some(token) = token else {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, challenge)],
            )
                .into_response();
        };
        if s.validator.validate(token).await.is_err() {
            return (
                StatusCode::UNAUTHORIZED,
                [(
                    header::WWW_AUTHENTICATE,
                    format!("{challenge}, error=\"invalid_token\""),
                )],
            )
                .into_response();
        }
    }
    let msg: Value = match serde_json::from_str(&body) {
        Ok(v) => v,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    // As strict as a server of the 2026-07-28 revision (SEP-2243): `Mcp-Method` must be present and
    // equal the body's method, or the request is refused with -32020 before it is handled.
    let mirrored = headers.get("mcp-method").and_then(|v| v.to_str().ok());
    if mirrored != msg["method"].as_str() {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"jsonrpc": "2.0", "id": msg["id"], "error": {
                "code": -32020,
                "message": format!("Mcp-Method header {mirrored:?} does not match the body's method"),
            }})),
        )
            .into_response();
    }
    match msg["method"].as_str() {
        Some("initialize") => {
            let answer = json!({"jsonrpc": "2.0", "id": msg["id"], "result": {
                "protocolVersion": "2025-06-18",
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "fake-mcp", "version": "0.0.1"}
            }});
            // Answer as an SSE stream, preceded by a notification.
            let sse = format!(
                "event: message\ndata: {}\n\nevent: message\ndata: {}\n\n",
                json!({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "hello"}}),
                answer
            );
            let headers = [
                (header::CONTENT_TYPE.as_str(), "text/event-stream"),
                ("mcp-session-id", s.session.as_str()),
            ];
            if s.mode == McpMode::SseStaysOpen {
                use futures_util::StreamExt;
                let events = futures_util::stream::once(async move {
                    Ok::<_, std::convert::Infallible>(sse)
                })
                .chain(futures_util::stream::pending());
                return (
                    StatusCode::OK,
                    headers,
                    axum::body::Body::from_stream(events),
                )
                    .into_response();
            }
            (StatusCode::OK, headers, sse).into_response()
        }
        Some("notifications/initialized") => StatusCode::ACCEPTED.into_response(),
        Some("tools/list") => {
            let session_ok = headers
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok())
                == Some(s.session.as_str());
            if !session_ok {
                return (StatusCode::BAD_REQUEST, "missing Mcp-Session-Id").into_response();
            }
            axum::Json(json!({"jsonrpc": "2.0", "id": msg["id"], "result": {"tools": [
                {"name": "echo", "inputSchema": {"type": "object"}},
                {"name": "search", "inputSchema": {"type": "object"}}
            ]}}))
            .into_response()
        }
        _ => axum::Json(json!({"jsonrpc": "2.0", "id": msg["id"], "error": {"code": -32601, "message": "method not found"}}))
            .into_response(),
    }
}
