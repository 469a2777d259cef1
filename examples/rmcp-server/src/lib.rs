//! An MCP server written with [rmcp](https://docs.rs/rmcp) (the official Rust MCP SDK), protected
//! by [`AuthLayer`] through [`pmcp_auth::rmcp::McpRouter`]. The same tools and environment as
//! `examples/mcp-server`, without a line of hand-written JSON-RPC.
//!
//! - `POST /mcp`: rmcp's streamable HTTP service, stateless, JSON responses.
//! - Tools: `whoami` (needs `execute:tools`) returns the caller's identity from the validated token;
//!   `admin_status` (needs `admin:*`, the `MCP.Admin` role) returns the server's status. A caller
//!   without the permission gets `403` with `WWW-Authenticate: Bearer …,
//!   error="insufficient_scope", scope="…"` before the tool runs (and the tool checks again).
//! - `GET /health`: `200 {"status":"ok"}` without a token.
//! - The RFC 9728 metadata (`/.well-known/oauth-protected-resource[/mcp]`) comes from the layer.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::routing::get;
use pmcp_auth::AuthContext;
use pmcp_auth::middleware::{AuthLayer, MiddlewareError};
use pmcp_auth::rmcp::{Caller, McpRouter, permission_denied, require};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{CallToolResult, Implementation, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use serde_json::{Value, json};

/// The MCP endpoint's path.
pub const MCP_PATH: &str = "/mcp";
/// The health path (no token needed).
pub const HEALTH_PATH: &str = "/health";
/// The permission `whoami` needs.
pub const WHOAMI_PERMISSION: &str = "execute:tools";
/// The permission `admin_status` needs.
pub const ADMIN_PERMISSION: &str = "admin:*";

/// What every request's handler shares.
#[derive(Debug)]
struct ServerState {
    name: String,
    started: Instant,
    auth_summary: Value,
}

/// The MCP server: one per request (the service is stateless), cheap to make.
#[derive(Clone)]
pub struct ExampleServer {
    state: Arc<ServerState>,
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl ExampleServer {
    #[tool(
        description = "The caller's identity as the server sees it: user or application, tenant, roles and permissions. Needs `execute:tools`."
    )]
    async fn whoami(&self, Caller(who): Caller) -> Result<CallToolResult, ErrorData> {
        if !who.has_permission(WHOAMI_PERMISSION) {
            return Err(permission_denied(WHOAMI_PERMISSION));
        }
        Ok(CallToolResult::structured(identity(&who)))
    }

    #[tool(
        description = "Uptime and the authentication settings. Needs `admin:*` (role MCP.Admin)."
    )]
    async fn admin_status(
        &self,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        require(&ctx, ADMIN_PERMISSION)?;
        Ok(CallToolResult::structured(json!({
            "name": self.state.name,
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": self.state.started.elapsed().as_secs(),
            "auth": self.state.auth_summary,
        })))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for ExampleServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                self.state.name.clone(),
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "Call `whoami` to see who the server thinks you are; `admin_status` needs the MCP.Admin role.",
            )
    }
}

/// The caller as the token describes it: `user_id` is the `oid`, `email` the UPN.
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

/// The whole application for the environment `lookup` reads (the contract in
/// [`pmcp_auth::env`], plus `MCP_SERVER_NAME`): `/mcp` behind the layer, `/health` without.
pub fn app_from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Router, MiddlewareError> {
    let name = lookup("MCP_SERVER_NAME")
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| env!("CARGO_PKG_NAME").to_string());
    let auth = AuthLayer::from_lookup(lookup)?
        .resource_name(&name)
        .on_rejection(|r| {
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
        });
    let state = Arc::new(ServerState {
        auth_summary: json!({"enabled": true, "authorization_servers": auth.authorization_servers()}),
        name: name.clone(),
        started: Instant::now(),
    });
    let router = McpRouter::new(auth, move || {
        Ok(ExampleServer {
            state: state.clone(),
            tool_router: ExampleServer::tool_router(),
        })
    })
    .path(MCP_PATH)
    .require("whoami", WHOAMI_PERMISSION)
    .require("admin_status", ADMIN_PERMISSION)
    .into_router()
    .route(
        HEALTH_PATH,
        get(move || async move { axum::Json(json!({"status": "ok", "name": name})) }),
    );
    Ok(router)
}

/// [`serve_from_env`] on a new multi-threaded tokio runtime: the whole `main`.
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
/// SIGTERM. Exit codes: 0 after a clean shutdown, 2 when the configuration is unusable (including
/// `AUTH_PROVIDER=none`: this server never runs unprotected), 1 when the address cannot be bound.
pub async fn serve_from_env() -> ExitCode {
    let app = match app_from_lookup(|name| std::env::var(name).ok()) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("error: {e}\n(the variables are listed in pmcp-auth's docs/server.md)");
            return ExitCode::from(2);
        }
    };
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = match std::env::var("PORT") {
        Err(_) => 8080,
        Ok(p) => match p.trim().parse::<u16>() {
            Ok(p) => p,
            Err(_) => {
                eprintln!("error: PORT is `{p}`, not a port number (0-65535)");
                return ExitCode::from(2);
            }
        },
    };
    let addr = match format!("{host}:{port}").parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) if host == "localhost" => SocketAddr::from(([127, 0, 0, 1], port)),
        Err(_) => {
            eprintln!("error: HOST is `{host}`, not an IP address (e.g. 127.0.0.1 or 0.0.0.0)");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            return ExitCode::from(1);
        }
    };
    let local = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    eprintln!("listening on http://{local}{MCP_PATH} (protected)");
    match axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
    {
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
