//! An MCP server written with the [pmcp](https://docs.rs/pmcp) SDK, protected by
//! [`AuthLayer`](pmcp_auth::AuthLayer) through [`pmcp_auth::pmcp`]: the seed's
//! `with_oauth_from_env()`, working. The same tools, paths and environment as
//! `examples/rmcp-server`.
//!
//! ```ignore
//! let server = Server::builder()
//!     .name(&name)
//!     .version(env!("CARGO_PKG_VERSION"))
//!     .with_oauth_from_env()?           // Entra or any OIDC provider, from ENTRA_* / AUTH_*
//!     .tool("whoami", Whoami)
//!     .tool("admin_status", AdminStatus::new(&name))
//!     .build()?;
//! ```
//!
//! - `POST /mcp`: pmcp's streamable HTTP router, stateless, JSON responses, behind the layer.
//! - Tools: `whoami` (needs `execute:tools`) answers the caller's identity, read with pmcp's
//!   `extra.auth_context()`; `admin_status` (needs `admin:*`, the `MCP.Admin` role) answers the
//!   server's status. A caller without the permission gets `403` with `WWW-Authenticate: Bearer …,
//!   error="insufficient_scope", scope="…"` before the tool runs (and the tool checks again).
//! - `GET /health`: `200 {"status":"ok"}` without a token.
//! - The RFC 9728 metadata (`/.well-known/oauth-protected-resource[/mcp]`) and, with
//!   `AUTH_DCR_ENABLED=true`, the sign-in bridge come from the layer.
//! - Runs on `HOST`:`PORT` (default 127.0.0.1:8080) or, when `AWS_LAMBDA_RUNTIME_API` is set, as
//!   an AWS Lambda function: the same binary ([`pmcp_auth::lambda`]).

use std::process::ExitCode;
use std::time::Instant;

use axum::Router;
use axum::routing::get;
use pmcp::types::ToolInfo;
use pmcp::{RequestHandlerExtra, Server, ServerBuilder, ToolHandler};
use pmcp_auth::AuthContext;
use pmcp_auth::lambda::{self, Listener};
use pmcp_auth::middleware::MiddlewareError;
use pmcp_auth::pmcp::{McpRouter, OAuth, ServerBuilderExt, permission_denied, require};
use serde_json::{Value, json};

/// The MCP endpoint's path.
pub const MCP_PATH: &str = "/mcp";
/// The health path (no token needed).
pub const HEALTH_PATH: &str = "/health";
/// The permission `whoami` needs.
pub const WHOAMI_PERMISSION: &str = "execute:tools";
/// The permission `admin_status` needs.
pub const ADMIN_PERMISSION: &str = "admin:*";
/// The variable naming the server (in `initialize` and the metadata); defaults to the crate name.
pub const MCP_SERVER_NAME: &str = "MCP_SERVER_NAME";

/// `whoami`: the caller's identity as the server sees it.
pub struct Whoami;

#[pmcp::async_trait]
impl ToolHandler for Whoami {
    async fn handle(&self, _args: Value, extra: RequestHandlerExtra) -> pmcp::Result<Value> {
        // pmcp's own accessor: the context our provider made from the validated token.
        let Some(ctx) = extra.auth_context() else {
            return Err(pmcp::Error::authentication("no authenticated caller"));
        };
        let who = pmcp_auth::pmcp::from_pmcp_context(ctx);
        if !who.has_permission(WHOAMI_PERMISSION) {
            return Err(permission_denied(WHOAMI_PERMISSION));
        }
        Ok(identity(&who))
    }

    fn metadata(&self) -> Option<ToolInfo> {
        let mut info = ToolInfo::new(
            "whoami",
            Some("The caller's identity as the server sees it: user or application, tenant, roles and permissions. Needs `execute:tools`.".into()),
            json!({"type": "object", "properties": {}}),
        );
        info.output_schema = Some(json!({"type": "object"}));
        Some(info)
    }
}

/// `admin_status`: uptime and the authentication settings, for administrators.
pub struct AdminStatus {
    name: String,
    started: Instant,
    auth_summary: Value,
}

impl AdminStatus {
    /// The tool for the server called `name`, whose authentication `auth_summary` describes.
    pub fn new(name: &str, auth_summary: Value) -> Self {
        Self {
            name: name.to_string(),
            started: Instant::now(),
            auth_summary,
        }
    }
}

#[pmcp::async_trait]
impl ToolHandler for AdminStatus {
    async fn handle(&self, _args: Value, extra: RequestHandlerExtra) -> pmcp::Result<Value> {
        require(&extra, ADMIN_PERMISSION)?;
        Ok(json!({
            "name": self.name,
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": self.started.elapsed().as_secs(),
            "auth": self.auth_summary,
        }))
    }

    fn metadata(&self) -> Option<ToolInfo> {
        let mut info = ToolInfo::new(
            "admin_status",
            Some(
                "Uptime and the authentication settings. Needs `admin:*` (role MCP.Admin).".into(),
            ),
            json!({"type": "object", "properties": {}}),
        );
        info.output_schema = Some(json!({"type": "object"}));
        Some(info)
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

/// The server's name: `MCP_SERVER_NAME`, or the crate name.
fn server_name(lookup: &impl Fn(&str) -> Option<String>) -> String {
    lookup(MCP_SERVER_NAME)
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| env!("CARGO_PKG_NAME").to_string())
}

/// The tools on a builder that already has its authentication.
fn with_tools(builder: ServerBuilder, name: &str, auth: &OAuth) -> ServerBuilder {
    let summary =
        json!({"enabled": true, "authorization_servers": auth.layer().authorization_servers()});
    builder
        .tool("whoami", Whoami)
        .tool("admin_status", AdminStatus::new(name, summary))
}

/// `/mcp` behind the layer (per-tool permissions, RFC 9728 metadata), `/health` without.
fn routes(auth: &OAuth, server: Server, name: String) -> Router {
    McpRouter::new(log_refusals(auth), server)
        .path(MCP_PATH)
        .require("whoami", WHOAMI_PERMISSION)
        .require("admin_status", ADMIN_PERMISSION)
        .into_router()
        .route(
            HEALTH_PATH,
            get(move || async move { axum::Json(json!({"status": "ok", "name": name})) }),
        )
}

/// The layer with the server's name in its metadata and one log line per refused request.
fn log_refusals(auth: &OAuth) -> pmcp_auth::AuthLayer {
    auth.layer().clone().on_rejection(|r| {
        // Why, and which token (by fingerprint, never the token).
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
    })
}

/// Why the application could not be built.
#[derive(Debug)]
pub enum AppError {
    /// The authentication configuration is unusable.
    Auth(MiddlewareError),
    /// pmcp refused the server definition.
    Server(pmcp::Error),
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppError::Auth(e) => write!(f, "{e}"),
            AppError::Server(e) => write!(f, "the MCP server could not be built: {e}"),
        }
    }
}

impl std::error::Error for AppError {}

impl From<MiddlewareError> for AppError {
    fn from(e: MiddlewareError) -> Self {
        AppError::Auth(e)
    }
}

impl From<pmcp::Error> for AppError {
    fn from(e: pmcp::Error) -> Self {
        AppError::Server(e)
    }
}

/// The whole application from the process environment (the contract in [`pmcp_auth::env`], plus
/// `MCP_SERVER_NAME`): the seed's code.
pub fn app_from_env() -> Result<Router, AppError> {
    let name = server_name(&|v| std::env::var(v).ok());
    let builder = Server::builder()
        .name(&name)
        .version(env!("CARGO_PKG_VERSION"))
        .with_oauth_from_env()?; // the layer below is the same one (OAuth::from_env)
    let auth = OAuth::from_env()?;
    let auth = OAuth::new(auth.layer().clone().resource_name(&name));
    let server = with_tools(builder, &name, &auth).build()?;
    Ok(routes(&auth, server, name))
}

/// The same application for the environment `lookup` reads (tests, config maps): one layer for
/// the provider and the router, as [`app_from_env`] has.
pub fn app_from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Router, AppError> {
    let name = server_name(&lookup);
    let auth = OAuth::new(pmcp_auth::AuthLayer::from_lookup(lookup)?.resource_name(&name));
    let builder = Server::builder()
        .name(&name)
        .version(env!("CARGO_PKG_VERSION"))
        .with_oauth(&auth);
    let server = with_tools(builder, &name, &auth).build()?;
    Ok(routes(&auth, server, name))
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

/// Read the environment and serve: Lambda invocations when `AWS_LAMBDA_RUNTIME_API` is set,
/// otherwise `HOST`:`PORT` (default 127.0.0.1:8080) until SIGINT or SIGTERM. Exit codes: 0 after a
/// clean shutdown, 2 when the configuration is unusable (including `AUTH_PROVIDER=none`: this
/// server never runs unprotected), 1 when the address cannot be bound or serving fails.
pub async fn serve_from_env() -> ExitCode {
    let app = match app_from_env() {
        Ok(app) => app,
        Err(e) => {
            eprintln!("error: {e}\n(the variables are listed in pmcp-auth's docs/server.md)");
            return ExitCode::from(2);
        }
    };
    let listener = match Listener::from_env().await {
        Ok(l) => l,
        Err(e @ lambda::ServeError::Config { .. }) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    match &listener {
        Listener::Lambda => eprintln!("serving Lambda invocations ({MCP_PATH}, protected)"),
        Listener::Tcp(l) => eprintln!(
            "listening on http://{}{MCP_PATH} (protected)",
            l.local_addr().map(|a| a.to_string()).unwrap_or_default()
        ),
    }
    match lambda::serve(listener, app, shutdown_signal()).await {
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
