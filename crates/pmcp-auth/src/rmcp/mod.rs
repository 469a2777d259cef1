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
use http::request::Parts;
use serde_json::json;

use crate::AuthContext;
use crate::middleware::AuthLayer;
use crate::middleware::tool_guard::{self, Permission, ToolGuard, check_tool};

/// The JSON-RPC error code a tool answers when the caller lacks a permission (inside the
/// implementation-defined server error range of JSON-RPC 2.0).
pub const PERMISSION_DENIED: ErrorCode = ErrorCode(-32003);

pub use crate::middleware::STANDARD_HEADERS_VERSION;

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
        self.path = tool_guard::mount_path(path);
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
        tool_guard::add_permission(&mut self.permissions, tool, permission, scope);
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
        let guard = ToolGuard::new(
            self.permissions,
            self.auth.advertised_scopes(),
            self.max_body_bytes,
        );
        Router::new()
            .route_service(&self.path, service)
            .layer(axum::middleware::from_fn_with_state(guard, check_tool))
            .layer(self.auth.resource_path(&self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
