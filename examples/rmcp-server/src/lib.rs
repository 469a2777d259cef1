//! An MCP server written with [rmcp](https://docs.rs/rmcp) (the official Rust MCP SDK), protected
//! by [`AuthLayer`] through [`pmcp_auth::rmcp::McpRouter`]: the server the README quickstart runs
//! and `cargo pmcp deploy` ships, locally and on AWS Lambda with the same code.
//!
//! The environment is the one `cargo pmcp deploy` sets: `AUTH_PROVIDER`, `ENTRA_*`/`AUTH_*` (the
//! validator, group permissions, the public URL, the sign-in bridge with `AUTH_DCR_ENABLED`),
//! `MCP_SERVER_NAME`, and `HOST`/`PORT` (default `127.0.0.1:8080`). On Lambda
//! (`AWS_LAMBDA_RUNTIME_API` set) the same router answers Function URL invocations instead.
//!
//! - `POST /mcp`: rmcp's streamable HTTP service, stateless, JSON responses.
//! - Tools: `whoami` (needs `execute:tools`) returns the caller's identity from the validated token;
//!   `admin_status` (needs `admin:*`, the `MCP.Admin` role) returns the server's status. A caller
//!   without the permission gets `403` with `WWW-Authenticate: Bearer …,
//!   error="insufficient_scope", scope="…"` before the tool runs (and the tool checks again).
//! - `GET /health`: `200 {"status":"ok"}` without a token.
//! - The RFC 9728 metadata (`/.well-known/oauth-protected-resource[/mcp]`) comes from the layer.
//!
//! To make it yours: add a tool as a `#[tool]` method in the `#[tool_router]` block (read the
//! caller with a [`Caller`] argument); give it a permission with `.require("tool", "permission")`
//! in [`app`] and a check in the tool; add public routes after `into_router()`, as `/health` is.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::routing::get;
use pmcp_auth::AuthContext;
use pmcp_auth::lambda::{self, Listener, ServeError};
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

/// The MCP server's handler: rmcp serves each request with a clone (the service is stateless);
/// clones share the state.
#[derive(Clone)]
pub struct ExampleServer {
    state: Arc<ServerState>,
    tool_router: ToolRouter<Self>,
}

impl ExampleServer {
    /// The handler of a server called `name`; `auth_summary` is what `admin_status` shows of the
    /// authentication settings. Clones share the start time: make one and clone it per request, as
    /// [`app`] does, to serve it with a transport configured your own way.
    pub fn new(name: &str, auth_summary: Value) -> Self {
        Self {
            state: Arc::new(ServerState {
                name: name.to_string(),
                started: Instant::now(),
                auth_summary,
            }),
            tool_router: Self::tool_router(),
        }
    }
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

/// The whole application behind `auth`, for a server called `name`: `/mcp` (rmcp's streamable
/// HTTP service, with the RFC 9728 metadata and, when the layer has it, the sign-in bridge) behind
/// the layer, `/health` without it. Tests and other hosts build the layer their own way and call
/// this; [`app_from_lookup`] builds it from the environment.
pub fn app(auth: AuthLayer, name: &str) -> Router {
    let server = ExampleServer::new(
        name,
        json!({"enabled": true, "authorization_servers": auth.authorization_servers()}),
    );
    let name = name.to_string();
    McpRouter::new(auth, move || Ok(server.clone()))
        .path(MCP_PATH)
        .require("whoami", WHOAMI_PERMISSION)
        .require("admin_status", ADMIN_PERMISSION)
        .into_router()
        // Added after `into_router`: outside the layer, so it answers without a token.
        .route(
            HEALTH_PATH,
            get(move || async move { axum::Json(json!({"status": "ok", "name": name})) }),
        )
}

/// The server's name: `MCP_SERVER_NAME`, else the crate's name.
pub fn server_name(lookup: impl Fn(&str) -> Option<String>) -> String {
    lookup("MCP_SERVER_NAME")
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| env!("CARGO_PKG_NAME").to_string())
}

/// The layer for the environment `lookup` reads (the contract in [`pmcp_auth::env`]: the
/// `ENTRA_*`/`AUTH_*` variables `cargo pmcp deploy` sets, including the sign-in bridge with
/// `AUTH_DCR_ENABLED`), naming the server `name` in its metadata and logging every refusal on
/// stderr. `AUTH_PROVIDER=none` is an error: this server never runs unprotected.
pub fn auth_from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
    name: &str,
) -> Result<AuthLayer, MiddlewareError> {
    Ok(AuthLayer::from_lookup(lookup)?
        .resource_name(name)
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
        }))
}

/// [`app`] for the environment `lookup` reads ([`auth_from_lookup`], plus `MCP_SERVER_NAME`).
pub fn app_from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Router, MiddlewareError> {
    let name = server_name(&lookup);
    let auth = auth_from_lookup(&lookup, &name)?;
    Ok(app(auth, &name))
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

/// Read the environment and serve until SIGINT or SIGTERM: on AWS Lambda when the Lambda service
/// started the process (`AWS_LAMBDA_RUNTIME_API` is set), else on `HOST`:`PORT` (default
/// 127.0.0.1:8080). Exit codes: 0 after a clean shutdown, 2 when the configuration is unusable
/// (including `AUTH_PROVIDER=none`: this server never runs unprotected), 1 when the address cannot
/// be bound or the Lambda runtime fails.
pub async fn serve_from_env() -> ExitCode {
    let lookup = |name: &str| std::env::var(name).ok();
    let name = server_name(lookup);
    let auth = match auth_from_lookup(lookup, &name) {
        Ok(auth) => auth,
        Err(e @ MiddlewareError::Disabled { .. }) => {
            eprintln!(
                "error: {e}; this server never runs unprotected: configure a provider (e.g. `cargo pmcp deploy init --oauth entra`)"
            );
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("error: {e}\n(the variables are listed in pmcp-auth's docs/server.md)");
            return ExitCode::from(2);
        }
    };
    if let Some(warning) = auth.bridge_warning() {
        eprintln!("warning: {warning}");
    }
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
    let at = match &listener {
        Listener::Tcp(l) => l
            .local_addr()
            .map(|a| format!("http://{a}{MCP_PATH}"))
            .unwrap_or_default(),
        _ => format!("Lambda invocations ({MCP_PATH})"),
    };
    eprintln!("{name} listening on {at} (protected)");
    match lambda::serve(listener, app(auth, &name), shutdown_signal()).await {
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
