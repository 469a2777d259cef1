//! A small MCP server speaking streamable HTTP JSON-RPC, protected by
//! [`AuthLayer`](pmcp_auth::middleware::AuthLayer).
//!
//! - `POST /mcp`: JSON-RPC 2.0 — `initialize`, `ping`, `tools/list`, `tools/call`; notifications and
//!   responses from the client get `202 Accepted`. `GET`/`DELETE /mcp` → `405` (no server-initiated
//!   stream, no sessions: the server is stateless, so any instance can answer any request).
//! - Tools: `whoami` (needs `execute:tools`) returns the caller's identity from the validated token;
//!   `admin_status` (needs `admin:*`) returns the server's status. A caller without the permission gets
//!   `403` with `WWW-Authenticate: Bearer …, error="insufficient_scope"`.
//! - `GET /health`: `200 {"status":"ok"}` without a token.
//! - The RFC 9728 metadata (`/.well-known/oauth-protected-resource[/mcp]`) comes from the layer.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use pmcp_auth::AuthContext;
use pmcp_auth::lambda::{self, Listener, ServeError};
use pmcp_auth::middleware::{AuthLayer, Authenticated, MiddlewareError};
use serde_json::{Value, json};

/// The MCP endpoint's path.
pub const MCP_PATH: &str = "/mcp";
/// The health path (no token needed).
pub const HEALTH_PATH: &str = "/health";

/// Protocol revisions this server speaks, newest first.
pub const SUPPORTED_PROTOCOL_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26"];

/// The permission `whoami` needs.
pub const WHOAMI_PERMISSION: &str = "execute:tools";
/// The permission `admin_status` needs.
pub const ADMIN_PERMISSION: &str = "admin:*";

/// Server-wide state.
#[derive(Debug)]
pub struct ServerState {
    name: String,
    version: String,
    started: Instant,
    requests: AtomicU64,
    /// How requests are authenticated, for `admin_status`.
    auth_summary: Value,
}

impl ServerState {
    /// State for a server called `name`. `auth_summary` is shown by `admin_status`.
    pub fn new(name: &str, version: &str, auth_summary: Value) -> Self {
        Self {
            name: name.to_string(),
            version: version.to_string(),
            started: Instant::now(),
            requests: AtomicU64::new(0),
            auth_summary,
        }
    }
}

/// The whole application: the MCP endpoint and the health path, behind `auth` when given.
///
/// `auth = None` serves every caller anonymously (`whoami` says so, `admin_status` is refused):
/// what a deployment with `AUTH_PROVIDER=none` gets, and the baseline of the middleware benchmark.
pub fn app(state: Arc<ServerState>, auth: Option<AuthLayer>) -> Router {
    let router = Router::new()
        .route(
            MCP_PATH,
            post(mcp_post)
                .get(method_not_allowed)
                .delete(method_not_allowed),
        )
        .route(HEALTH_PATH, get(health))
        .layer(axum::middleware::from_fn(check_origin))
        .with_state(state);
    match auth {
        Some(layer) => router.layer(layer.resource_path(MCP_PATH).public_path(HEALTH_PATH)),
        None => router,
    }
}

async fn health(State(state): State<Arc<ServerState>>) -> Response {
    axum::Json(json!({"status": "ok", "name": state.name, "version": state.version}))
        .into_response()
}

async fn method_not_allowed() -> Response {
    let mut resp = (
        StatusCode::METHOD_NOT_ALLOWED,
        axum::Json(json!({
            "error": "method_not_allowed",
            "error_description": "this server is stateless and opens no server-initiated stream: POST JSON-RPC messages to this endpoint",
        })),
    )
        .into_response();
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    resp
}

/// Browsers send `Origin`; a page from another site must not drive a server on this machine
/// (DNS rebinding). Loopback origins, the server's own host and `MCP_ALLOWED_ORIGINS` pass.
async fn check_origin(req: Request, next: Next) -> Response {
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let allowed = origin.to_str().ok().is_some_and(|o| {
            origin_allowed(
                o,
                req.headers()
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok()),
            )
        });
        if !allowed {
            return (
                StatusCode::FORBIDDEN,
                axum::Json(json!({
                    "error": "forbidden_origin",
                    "error_description": "requests from this Origin are not allowed; add it to MCP_ALLOWED_ORIGINS",
                })),
            )
                .into_response();
        }
    }
    next.run(req).await
}

fn origin_allowed(origin: &str, host: Option<&str>) -> bool {
    let Ok(url) = url_host(origin) else {
        return false;
    };
    if matches!(url.as_str(), "localhost" | "127.0.0.1" | "[::1]") {
        return true;
    }
    if let Some(host) = host {
        let host_only = host.rsplit_once(':').map_or(host, |(h, _)| h);
        if host_only.eq_ignore_ascii_case(&url) {
            return true;
        }
    }
    allowed_origins()
        .iter()
        .any(|o| o.eq_ignore_ascii_case(origin))
}

/// `MCP_ALLOWED_ORIGINS` (comma separated), read once.
fn allowed_origins() -> &'static [String] {
    static LIST: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    LIST.get_or_init(|| {
        std::env::var("MCP_ALLOWED_ORIGINS")
            .unwrap_or_default()
            .split(',')
            .map(|o| o.trim().trim_end_matches('/').to_string())
            .filter(|o| !o.is_empty())
            .collect()
    })
}

/// The host of an origin such as `http://localhost:6274`.
fn url_host(origin: &str) -> Result<String, ()> {
    let rest = origin.split_once("://").ok_or(())?.1;
    let authority = rest.split('/').next().unwrap_or("");
    let host = if authority.starts_with('[') {
        authority.split(']').next().map(|h| format!("{h}]"))
    } else {
        authority.split(':').next().map(str::to_string)
    };
    host.filter(|h| !h.is_empty()).ok_or(())
}

/// One JSON-RPC message in, one out.
async fn mcp_post(
    State(state): State<Arc<ServerState>>,
    caller: Option<axum::Extension<Authenticated>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    state.requests.fetch_add(1, Ordering::Relaxed);
    if let Some(v) = headers.get("mcp-protocol-version") {
        let v = v.to_str().unwrap_or("");
        if !SUPPORTED_PROTOCOL_VERSIONS.contains(&v) {
            return rpc_http_error(
                StatusCode::BAD_REQUEST,
                Value::Null,
                -32600,
                &format!(
                    "unsupported MCP-Protocol-Version `{v}` (supported: {})",
                    SUPPORTED_PROTOCOL_VERSIONS.join(", ")
                ),
            );
        }
    }
    let message: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return rpc_http_error(
                StatusCode::BAD_REQUEST,
                Value::Null,
                -32700,
                &format!("parse error: {e}"),
            );
        }
    };
    let Some(obj) = message.as_object() else {
        return rpc_http_error(
            StatusCode::BAD_REQUEST,
            Value::Null,
            -32600,
            "send one JSON-RPC object per request (batches are not part of MCP since 2025-06-18)",
        );
    };
    let id = obj.get("id").cloned();
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return rpc_http_error(
            StatusCode::BAD_REQUEST,
            id.unwrap_or(Value::Null),
            -32600,
            "`jsonrpc` must be \"2.0\"",
        );
    }
    let Some(method) = obj.get("method").and_then(Value::as_str) else {
        // A response to a server request (we send none) or junk without a method.
        if id.is_some() && (obj.contains_key("result") || obj.contains_key("error")) {
            return StatusCode::ACCEPTED.into_response();
        }
        return rpc_http_error(
            StatusCode::BAD_REQUEST,
            id.unwrap_or(Value::Null),
            -32600,
            "the message has no `method`",
        );
    };
    let Some(id) = id else {
        // A notification (`notifications/initialized`, `notifications/cancelled`, …).
        return StatusCode::ACCEPTED.into_response();
    };
    let params = obj.get("params").cloned().unwrap_or(Value::Null);
    let caller = caller.map(|axum::Extension(a)| a);
    match method {
        "initialize" => rpc_result(id, initialize(&state, &params)),
        "ping" => rpc_result(id, json!({})),
        "tools/list" => rpc_result(id, json!({"tools": tool_list()})),
        "tools/call" => tools_call(&state, caller.as_ref(), id, &params),
        other => rpc_error(id, -32601, &format!("method `{other}` is not supported")),
    }
}

fn initialize(state: &ServerState, params: &Value) -> Value {
    let asked = params.get("protocolVersion").and_then(Value::as_str);
    let version = asked
        .filter(|v| SUPPORTED_PROTOCOL_VERSIONS.contains(v))
        .unwrap_or(SUPPORTED_PROTOCOL_VERSIONS[0]);
    json!({
        "protocolVersion": version,
        "capabilities": {"tools": {"listChanged": false}},
        "serverInfo": {"name": state.name, "version": state.version},
        "instructions": "Call `whoami` to see who the server thinks you are; `admin_status` needs the MCP.Admin role.",
    })
}

fn tool_list() -> Value {
    json!([
        {
            "name": "whoami",
            "title": "Who am I?",
            "description": format!("The caller's identity as the server sees it: user or application, tenant, roles and permissions. Needs `{WHOAMI_PERMISSION}`."),
            "inputSchema": {"type": "object", "properties": {}, "additionalProperties": false},
            "annotations": {"readOnlyHint": true, "openWorldHint": false},
        },
        {
            "name": "admin_status",
            "title": "Server status (admin)",
            "description": format!("Uptime, requests served and the authentication settings. Needs `{ADMIN_PERMISSION}` (role MCP.Admin)."),
            "inputSchema": {"type": "object", "properties": {}, "additionalProperties": false},
            "annotations": {"readOnlyHint": true, "openWorldHint": false},
        },
    ])
}

fn tools_call(
    state: &ServerState,
    caller: Option<&Authenticated>,
    id: Value,
    params: &Value,
) -> Response {
    let Some(name) = params.get("name").and_then(Value::as_str) else {
        return rpc_error(id, -32602, "`params.name` (the tool to call) is missing");
    };
    let (permission, output) = match name {
        "whoami" => (WHOAMI_PERMISSION, None),
        "admin_status" => (ADMIN_PERMISSION, Some(())),
        other => return rpc_error(id, -32602, &format!("unknown tool `{other}`")),
    };
    let structured = match caller {
        Some(caller) => {
            if let Err(denied) = caller.require(permission) {
                return denied.into_response();
            }
            match output {
                None => identity(&caller.context),
                Some(()) => status(state),
            }
        }
        // No authentication configured for this deployment.
        None if output.is_none() => json!({"authenticated": false}),
        None => {
            return rpc_error(
                id,
                -32001,
                "`admin_status` needs an authenticated caller, and this server runs without authentication",
            );
        }
    };
    let text = serde_json::to_string_pretty(&structured).unwrap_or_default();
    rpc_result(
        id,
        json!({
            "content": [{"type": "text", "text": text}],
            "structuredContent": structured,
            "isError": false,
        }),
    )
}

/// The caller as the token describes it.
pub fn identity(ctx: &AuthContext) -> Value {
    let mut permissions: Vec<&String> = ctx.scopes.iter().collect();
    permissions.sort();
    let mut roles: Vec<&String> = ctx.roles.iter().collect();
    roles.sort();
    json!({
        "authenticated": true,
        "user_id": ctx.user_id,
        "email": ctx.email,
        "name": ctx.name,
        "tenant_id": ctx.tenant_id,
        "app_id": ctx.app_id,
        "roles": roles,
        "permissions": permissions,
        "groups_overage": ctx.groups_overage,
    })
}

fn status(state: &ServerState) -> Value {
    json!({
        "name": state.name,
        "version": state.version,
        "uptime_seconds": state.started.elapsed().as_secs(),
        "mcp_requests": state.requests.load(Ordering::Relaxed),
        "auth": state.auth_summary,
    })
}

fn rpc_result(id: Value, result: Value) -> Response {
    axum::Json(json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response()
}

fn rpc_error(id: Value, code: i64, message: &str) -> Response {
    axum::Json(json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}))
        .into_response()
}

fn rpc_http_error(status: StatusCode, id: Value, code: i64, message: &str) -> Response {
    (
        status,
        axum::Json(
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}),
        ),
    )
        .into_response()
}

/// [`serve_from_env`] on a new multi-threaded tokio runtime: the whole `main` of a server built on
/// this crate (`fn main() -> ExitCode { pmcp_example_server::run() }`).
pub fn run() -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(serve_from_env()),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::from(1)
        }
    }
}

/// Read the environment, listen on `HOST`:`PORT` (default 127.0.0.1:8080) and serve until SIGINT or
/// SIGTERM. Exit codes: 0 after a clean shutdown, 2 when the configuration is unusable (it never
/// starts unprotected because of a typo), 1 when the address cannot be bound.
pub async fn serve_from_env() -> ExitCode {
    let name = std::env::var("MCP_SERVER_NAME")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| env!("CARGO_PKG_NAME").to_string());

    let auth = match AuthLayer::from_env() {
        Ok(layer) => Some(layer.resource_name(&name).on_rejection(|r| {
            // One line per refused request: why, and which token (by fingerprint, never the token).
            eprintln!(
                "refused {} {}: {} {} ({}){}",
                r.method,
                r.path,
                r.status.as_u16(),
                r.code,
                r.message,
                r.token_fingerprint
                    .as_deref()
                    .map(|f| format!(" token {f}"))
                    .unwrap_or_default()
            )
        })),
        Err(MiddlewareError::Disabled { var }) => {
            eprintln!(
                "warning: {var}=none: authentication is disabled; every caller is anonymous and admin tools are refused"
            );
            None
        }
        Err(e) => {
            eprintln!("error: {e}\n(the variables are listed in pmcp-auth's docs/server.md)");
            return ExitCode::from(2);
        }
    };
    if let Some(warning) = auth.as_ref().and_then(AuthLayer::bridge_warning) {
        eprintln!("warning: {warning}");
    }
    let auth_summary = match &auth {
        Some(layer) => json!({
            "enabled": true,
            "authorization_servers": layer.authorization_servers(),
        }),
        None => json!({"enabled": false}),
    };

    // On Lambda (AWS_LAMBDA_RUNTIME_API set) the router serves invocations through lambda_http;
    // elsewhere it listens on HOST:PORT.
    let listener = match Listener::from_env().await {
        Ok(l) => l,
        Err(e @ ServeError::Config { .. }) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let local = match &listener {
        Listener::Tcp(l) => l
            .local_addr()
            .map(|a| format!("http://{a}{MCP_PATH}"))
            .unwrap_or_default(),
        _ => format!("Lambda invocations ({MCP_PATH})"),
    };
    let state = Arc::new(ServerState::new(
        &name,
        env!("CARGO_PKG_VERSION"),
        auth_summary,
    ));
    let protected = if auth.is_some() {
        "protected"
    } else {
        "UNPROTECTED"
    };
    eprintln!("{name} listening on {local} ({protected})");

    let result = lambda::serve(listener, app(state, auth), shutdown_signal()).await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    fn anonymous_app() -> Router {
        app(
            Arc::new(ServerState::new("t", "0.0.0", json!({"provider": "none"}))),
            None,
        )
    }

    async fn post(app: Router, body: &str) -> (StatusCode, Value) {
        let req = axum::http::Request::post(MCP_PATH)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(axum::body::Body::from(body.to_string()))
            .unwrap();
        let resp = app.oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, v)
    }

    #[tokio::test]
    async fn initialize_negotiates_a_supported_version() {
        let (s, v) = post(
            anonymous_app(),
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}"#,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["result"]["protocolVersion"], "2025-06-18");
        assert_eq!(v["result"]["serverInfo"]["name"], "t");
        let (_, v) = post(
            anonymous_app(),
            r#"{"jsonrpc":"2.0","id":"a","method":"initialize","params":{"protocolVersion":"1999-01-01"}}"#,
        )
        .await;
        assert_eq!(
            v["result"]["protocolVersion"],
            SUPPORTED_PROTOCOL_VERSIONS[0]
        );
        assert_eq!(v["id"], "a");
    }

    #[tokio::test]
    async fn notifications_are_accepted_without_a_body() {
        let (s, v) = post(
            anonymous_app(),
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        )
        .await;
        assert_eq!(s, StatusCode::ACCEPTED);
        assert_eq!(v, Value::Null);
    }

    #[tokio::test]
    async fn bad_messages_get_json_rpc_errors() {
        let (s, v) = post(anonymous_app(), "{not json").await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(v["error"]["code"], -32700);
        let (s, v) = post(
            anonymous_app(),
            r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(v["error"]["code"], -32600);
        let (s, v) = post(
            anonymous_app(),
            r#"{"jsonrpc":"2.0","id":7,"method":"nope"}"#,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["error"]["code"], -32601);
        assert_eq!(v["id"], 7);
        let (_, v) = post(
            anonymous_app(),
            r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"rm_rf"}}"#,
        )
        .await;
        assert_eq!(v["error"]["code"], -32602);
    }

    #[tokio::test]
    async fn without_authentication_whoami_is_anonymous_and_admin_is_refused() {
        let (_, v) = post(
            anonymous_app(),
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}"#,
        )
        .await;
        assert_eq!(v["result"]["structuredContent"]["authenticated"], false);
        let (_, v) = post(
            anonymous_app(),
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"admin_status"}}"#,
        )
        .await;
        assert_eq!(v["error"]["code"], -32001);
    }

    #[tokio::test]
    async fn tools_list_names_both_tools() {
        let (_, v) = post(
            anonymous_app(),
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
        )
        .await;
        let names: Vec<&str> = v["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["whoami", "admin_status"]);
    }

    #[test]
    fn origins() {
        assert!(origin_allowed(
            "http://localhost:6274",
            Some("127.0.0.1:8080")
        ));
        assert!(origin_allowed("http://[::1]:1", None));
        assert!(origin_allowed(
            "https://mcp.example.com",
            Some("mcp.example.com")
        ));
        assert!(!origin_allowed(
            "https://evil.example",
            Some("127.0.0.1:8080")
        ));
        assert!(!origin_allowed("null", Some("127.0.0.1:8080")));
    }
}
