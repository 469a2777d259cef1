//! [rmcp](https://docs.rs/rmcp) (the official Rust MCP SDK) behind [`AuthLayer`]: mount its
//! streamable HTTP service, read the caller in a `#[tool]`, refuse a tool the caller may not use.
//!
//! ```no_run
//! # use rmcp::{ServerHandler, model::{ServerCapabilities, ServerConfig}};
//! # #[derive(Clone)] struct MyServer;
//! # impl ServerHandler for MyServer {
//! #     fn get_info(&self) -> ServerConfig { ServerConfig::new(ServerCapabilities::builder().enable_tools().build()) }
//! # }
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use pmcp_auth::{AuthLayer, rmcp::McpRouter};
//!
//! let app = McpRouter::new(AuthLayer::from_env()?, || Ok(MyServer))
//!     .require("admin_status", "admin:*") // 403 insufficient_scope before the tool runs
//!     .into_router()                      // /mcp and the RFC 9728 metadata, behind the layer
//!     .route("/health", axum::routing::get(|| async { "ok" })); // added after: no token needed
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! In a tool, [`Caller`] (an extractor) or [`auth_context`] (a function over the
//! `RequestContext`) gives the [`AuthContext`] the layer validated, and [`require`] checks a
//! permission inside the tool:
//!
//! ```ignore
//! #[tool(description = "Who am I?")]
//! async fn whoami(&self, Caller(who): Caller) -> Result<CallToolResult, ErrorData> {
//!     Ok(CallToolResult::structured(json!({"user": who.user_id, "upn": who.email})))
//! }
//! ```
//!
//! What [`McpRouter`] sets up:
//! - rmcp's [`StreamableHttpService`] in stateless mode (no `Mcp-Session-Id`: any instance, e.g.
//!   any Lambda copy, answers any request) with JSON responses (`application/json`; rmcp falls
//!   back to an SSE stream only when a tool sends a notification before its result).
//! - rmcp's `Host` check (DNS-rebinding protection) allows the host of the layer's public URL
//!   (`AUTH_RESOURCE_URL` / [`AuthLayer::resource_url`]) and loopback, plus
//!   [`McpRouter::allowed_host`]. Without a public URL the `Host` check is off: every request
//!   needs a bearer token, which a rebinding page does not have, and the server cannot know the
//!   names it is reached by (a Lambda function URL, a load balancer).
//! - Per-tool permissions ([`McpRouter::require`]), decided before rmcp parses the request: from
//!   the `Mcp-Method`/`Mcp-Name` headers when the request declares `MCP-Protocol-Version:
//!   2026-07-28` or later (rmcp then rejects a body that contradicts them), otherwise from the
//!   JSON-RPC body, read up to [`McpRouter::max_body_bytes`]. A caller without the permission
//!   gets `403` with `WWW-Authenticate: Bearer …, error="insufficient_scope", scope="…"`.
//!   The tools should still check in code ([`require`]): the router is the early answer, the
//!   tool the last line.

use std::collections::BTreeMap;
use std::sync::Arc;

use ::rmcp::handler::server::common::{AsRequestContext, FromContextPart};
use ::rmcp::model::ErrorCode;
use ::rmcp::service::RequestContext;
use ::rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use ::rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService,
};
use ::rmcp::{ErrorData, RoleServer, ServerHandler};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderMap, Method, StatusCode};
use serde_json::{Value, json};

use crate::AuthContext;
use crate::middleware::{AuthLayer, Authenticated, InsufficientScope};

/// The JSON-RPC error code a tool answers when the caller lacks a permission (inside the
/// implementation-defined server error range of JSON-RPC 2.0).
pub const PERMISSION_DENIED: ErrorCode = ErrorCode(-32003);

/// The first protocol revision whose clients send `Mcp-Method`/`Mcp-Name` (and whose requests
/// rmcp rejects when the headers contradict the body).
pub const STANDARD_HEADERS_VERSION: &str = "2026-07-28";

/// How much of a request body the permission check reads when it has to parse it. Defaults to
/// rmcp's own limit (4 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The caller the layer validated, as a `#[tool]` argument: `Caller(who): Caller`. Fails the call
/// with an internal error when the tool is not served behind [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct Caller(pub AuthContext);

impl<C: AsRequestContext> FromContextPart<C> for Caller {
    fn from_context_part(context: &mut C) -> Result<Self, ErrorData> {
        auth_context(context.as_request_context())
            .cloned()
            .map(Caller)
    }
}

/// The caller the layer validated for this request: rmcp hands the HTTP request's
/// [`Parts`] to the handler, and the layer put the [`AuthContext`] in their extensions.
pub fn auth_context(ctx: &RequestContext<RoleServer>) -> Result<&AuthContext, ErrorData> {
    ctx.extensions
        .get::<Parts>()
        .and_then(|parts| parts.extensions.get::<AuthContext>())
        .ok_or_else(|| {
            ErrorData::internal_error(
                "this tool reads the caller's identity but the server does not run it behind AuthLayer",
                None,
            )
        })
}

/// The caller, when it has `permission` (`admin:*` implies every permission); otherwise the
/// tool's error: [`PERMISSION_DENIED`] with `{"error": "insufficient_scope",
/// "required_permission": …}` as its data.
pub fn require<'a>(
    ctx: &'a RequestContext<RoleServer>,
    permission: &str,
) -> Result<&'a AuthContext, ErrorData> {
    let who = auth_context(ctx)?;
    if who.has_permission(permission) {
        Ok(who)
    } else {
        Err(permission_denied(permission))
    }
}

/// The error [`require`] returns for a missing `permission`.
pub fn permission_denied(permission: &str) -> ErrorData {
    ErrorData::new(
        PERMISSION_DENIED,
        format!("this tool requires the `{permission}` permission, which the token does not grant"),
        Some(json!({"error": "insufficient_scope", "required_permission": permission})),
    )
}

/// Builds the axum [`Router`] that serves an rmcp server behind [`AuthLayer`]. See the
/// [module docs](self).
pub struct McpRouter<S> {
    auth: AuthLayer,
    factory: Arc<dyn Fn() -> Result<S, std::io::Error> + Send + Sync>,
    path: String,
    permissions: BTreeMap<String, Permission>,
    extra_hosts: Vec<String>,
    max_body_bytes: usize,
}

#[derive(Debug, Clone)]
struct Permission {
    permission: String,
    scope: Option<String>,
}

impl<S> std::fmt::Debug for McpRouter<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpRouter")
            .field("auth", &self.auth)
            .field("path", &self.path)
            .field("permissions", &self.permissions)
            .field("extra_hosts", &self.extra_hosts)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

impl<S: ServerHandler + Send + 'static> McpRouter<S> {
    /// Serve the handlers `factory` makes (one per request: the service is stateless) behind
    /// `auth`, at `/mcp`.
    pub fn new(
        auth: AuthLayer,
        factory: impl Fn() -> Result<S, std::io::Error> + Send + Sync + 'static,
    ) -> Self {
        Self {
            auth,
            factory: Arc::new(factory),
            path: "/mcp".to_string(),
            permissions: BTreeMap::new(),
            extra_hosts: Vec::new(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }

    /// Where the MCP endpoint is mounted. Defaults to `/mcp`.
    pub fn path(mut self, path: &str) -> Self {
        let path = path.trim().trim_end_matches('/');
        self.path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        self
    }

    /// Calling `tool` needs `permission`: without it the caller gets `403 insufficient_scope`
    /// whose `scope` is what the layer advertises (for Entra `api://<client id>/.default`, the
    /// scope that carries the app roles).
    pub fn require(self, tool: &str, permission: &str) -> Self {
        self.require_with_scope(tool, permission, None)
    }

    /// [`McpRouter::require`] with the `scope` the 403 names (the OAuth scope a client should
    /// request to get `permission`). `None`: the layer's advertised scopes.
    pub fn require_with_scope(mut self, tool: &str, permission: &str, scope: Option<&str>) -> Self {
        self.permissions.insert(
            tool.to_string(),
            Permission {
                permission: permission.to_string(),
                scope: scope.map(str::to_string),
            },
        );
        self
    }

    /// Also accept requests whose `Host` is `host` (`name` or `name:port`), e.g. another domain
    /// the server is reached by.
    pub fn allowed_host(mut self, host: &str) -> Self {
        self.extra_hosts.push(host.trim().to_string());
        self
    }

    /// How many bytes of a request body the permission check reads (older clients send no
    /// `Mcp-Name`); a larger body gets `413`. Defaults to [`DEFAULT_MAX_BODY_BYTES`].
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// The `Host` values rmcp accepts; empty means its check is off (see the module docs).
    pub fn allowed_hosts(&self) -> Vec<String> {
        let Some(base) = self.auth.public_base_url() else {
            return Vec::new();
        };
        let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"]
            .iter()
            .map(|h| h.to_string())
            .collect();
        if let Ok(url) = url::Url::parse(base)
            && let Some(host) = url.host_str()
        {
            // The authority as a client sends it in `Host`: with the port only when not default.
            hosts.push(match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_string(),
            });
        }
        hosts.extend(self.extra_hosts.iter().cloned());
        hosts
    }

    /// The router: the MCP endpoint and the RFC 9728 metadata behind the layer. Routes added to it
    /// afterwards (a health check) are not behind the layer.
    pub fn into_router(self) -> Router {
        let mut config = StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true)
            .with_sse_keep_alive(None)
            .with_max_request_body_bytes(self.max_body_bytes);
        let hosts = self.allowed_hosts();
        config = if hosts.is_empty() {
            config.disable_allowed_hosts()
        } else {
            config.with_allowed_hosts(hosts)
        };
        let factory = self.factory.clone();
        let service = StreamableHttpService::new(
            move || factory(),
            Arc::new(NeverSessionManager::default()),
            config,
        );
        let advertised = self.auth.advertised_scopes().join(" ");
        let guard = Arc::new(ToolGuard {
            permissions: self.permissions,
            advertised_scope: (!advertised.is_empty()).then_some(advertised),
            max_body_bytes: self.max_body_bytes,
        });
        Router::new()
            .route_service(&self.path, service)
            .layer(axum::middleware::from_fn_with_state(guard, check_tool))
            .layer(self.auth.resource_path(&self.path))
    }
}

struct ToolGuard {
    permissions: BTreeMap<String, Permission>,
    advertised_scope: Option<String>,
    max_body_bytes: usize,
}

impl ToolGuard {
    /// `Err` with the 403 to answer when `caller` may not call `tool`.
    fn check(&self, caller: &Authenticated, tool: &str) -> Result<(), InsufficientScope> {
        let Some(needed) = self.permissions.get(tool) else {
            return Ok(());
        };
        caller.require(&needed.permission).map_err(|denied| {
            match needed.scope.as_ref().or(self.advertised_scope.as_ref()) {
                Some(scope) => denied.with_scope(scope),
                None => denied,
            }
        })
    }
}

/// What the `Mcp-Method`/`Mcp-Name` headers decide, when they can be trusted.
enum HeaderDecision {
    /// Not a tool call.
    NotATool,
    /// A call of this tool.
    Tool(String),
    /// The headers are absent, duplicated, or from an older revision: read the body.
    Unknown,
}

fn header_decision(headers: &HeaderMap) -> HeaderDecision {
    let single = |name: &str| {
        let mut values = headers.get_all(name).iter();
        match (values.next(), values.next()) {
            (Some(v), None) => v.to_str().ok().map(str::trim),
            _ => None,
        }
    };
    // Only a revision whose headers rmcp checks against the body may skip the body.
    if single("mcp-protocol-version").is_none_or(|v| v < STANDARD_HEADERS_VERSION) {
        return HeaderDecision::Unknown;
    }
    match single("mcp-method") {
        Some("tools/call") => match single("mcp-name") {
            Some(name) if !name.is_empty() => HeaderDecision::Tool(name.to_string()),
            _ => HeaderDecision::Unknown,
        },
        Some(_) => HeaderDecision::NotATool,
        None => HeaderDecision::Unknown,
    }
}

/// The tools a JSON-RPC message (or, from clients before 2025-06-18, a batch) calls.
fn called_tools(message: &Value) -> Vec<&str> {
    fn one(m: &Value) -> Option<&str> {
        if m.get("method").and_then(Value::as_str) == Some("tools/call") {
            m.pointer("/params/name").and_then(Value::as_str)
        } else {
            None
        }
    }
    match message {
        Value::Array(items) => items.iter().filter_map(one).collect(),
        other => one(other).into_iter().collect(),
    }
}

async fn check_tool(State(guard): State<Arc<ToolGuard>>, req: Request, next: Next) -> Response {
    if guard.permissions.is_empty() || req.method() != Method::POST {
        return next.run(req).await;
    }
    // The layer inserts this on every path it protects; without it the tool's own check decides.
    let Some(caller) = req.extensions().get::<Authenticated>().cloned() else {
        return next.run(req).await;
    };
    match header_decision(req.headers()) {
        HeaderDecision::NotATool => next.run(req).await,
        HeaderDecision::Tool(name) => match guard.check(&caller, &name) {
            Ok(()) => next.run(req).await,
            Err(denied) => denied.into_response(),
        },
        HeaderDecision::Unknown => {
            let (parts, body) = req.into_parts();
            let bytes = match axum::body::to_bytes(body, guard.max_body_bytes).await {
                Ok(b) => b,
                Err(_) => return too_large(guard.max_body_bytes),
            };
            // Not JSON: rmcp answers the parse error.
            if let Ok(message) = serde_json::from_slice::<Value>(&bytes) {
                for tool in called_tools(&message) {
                    if let Err(denied) = guard.check(&caller, tool) {
                        return denied.into_response();
                    }
                }
            }
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
    }
}

fn too_large(limit: usize) -> Response {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        axum::Json(json!({
            "error": "invalid_request",
            "error_description": format!("the request body is larger than this server accepts ({limit} bytes)"),
        })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn headers_decide_only_from_the_2026_revision_on() {
        let call = [("mcp-method", "tools/call"), ("mcp-name", "admin_status")];
        assert!(matches!(
            header_decision(&headers(&call)),
            HeaderDecision::Unknown
        ));
        let mut new = call.to_vec();
        new.push(("mcp-protocol-version", "2026-07-28"));
        assert!(
            matches!(header_decision(&headers(&new)), HeaderDecision::Tool(n) if n == "admin_status")
        );
        let old = [
            ("mcp-protocol-version", "2025-06-18"),
            ("mcp-method", "tools/list"),
        ];
        assert!(matches!(
            header_decision(&headers(&old)),
            HeaderDecision::Unknown
        ));
        let list = [
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/list"),
        ];
        assert!(matches!(
            header_decision(&headers(&list)),
            HeaderDecision::NotATool
        ));
        // Two names: the body decides.
        let mut twice = new.clone();
        twice.push(("mcp-name", "whoami"));
        assert!(matches!(
            header_decision(&headers(&twice)),
            HeaderDecision::Unknown
        ));
    }

    struct Deny;
    impl crate::middleware::TokenAuthenticator for Deny {
        fn authenticate<'a>(
            &'a self,
            _token: &'a str,
        ) -> crate::middleware::BoxFuture<'a, Result<AuthContext, crate::AuthError>> {
            Box::pin(async { Err(crate::AuthError::InvalidSignature) })
        }
    }

    #[derive(Clone)]
    struct Empty;
    impl ServerHandler for Empty {}

    #[test]
    fn allowed_hosts_follow_the_public_url() {
        let layer = || AuthLayer::with_authenticator(Deny, vec![], vec![]);
        // No public URL: rmcp's Host check is off (the token is what protects the server).
        assert!(
            McpRouter::new(layer(), || Ok(Empty))
                .allowed_hosts()
                .is_empty()
        );
        let public = layer().resource_url("https://mcp.example.com/mcp").unwrap();
        let hosts = McpRouter::new(public, || Ok(Empty))
            .allowed_host("other.example.com:8443")
            .allowed_hosts();
        assert_eq!(
            hosts,
            [
                "localhost",
                "127.0.0.1",
                "::1",
                "mcp.example.com",
                "other.example.com:8443"
            ]
        );
        let local = layer().resource_url("http://127.0.0.1:3000/mcp").unwrap();
        assert!(
            McpRouter::new(local, || Ok(Empty))
                .allowed_hosts()
                .contains(&"127.0.0.1:3000".to_string())
        );
    }

    #[test]
    fn tools_called_by_a_message_or_a_batch() {
        let one =
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "a"}});
        assert_eq!(called_tools(&one), ["a"]);
        let batch = json!([one, {"method": "tools/list"}, {"method": "tools/call", "params": {"name": "b"}}]);
        assert_eq!(called_tools(&batch), ["a", "b"]);
        assert!(called_tools(&json!({"method": "initialize"})).is_empty());
    }
}
