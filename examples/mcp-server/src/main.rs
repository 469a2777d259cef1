//! `pmcp-example-server`: listens on `HOST`:`PORT` (default 127.0.0.1:8080) and protects `/mcp`
//! with the authentication `cargo pmcp deploy` configured (the `ENTRA_*` / `AUTH_*` variables).
//!
//! Exit codes: 0 after a clean shutdown (SIGINT/SIGTERM), 2 when the configuration is unusable
//! (it never starts unprotected because of a typo), 1 when the address cannot be bound.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use cargo_pmcp::auth::middleware::{EntraAuthLayer, MiddlewareError};
use pmcp_example_server::{MCP_PATH, ServerState, app};
use serde_json::json;

#[tokio::main]
async fn main() -> ExitCode {
    let name = std::env::var("MCP_SERVER_NAME")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| env!("CARGO_PKG_NAME").to_string());

    let auth = match EntraAuthLayer::from_env() {
        Ok(layer) => Some(layer.resource_name(&name)),
        Err(MiddlewareError::Disabled { var }) => {
            eprintln!(
                "warning: {var}=none: authentication is disabled; every caller is anonymous and admin tools are refused"
            );
            None
        }
        Err(e) => {
            eprintln!("error: {e}\nhint: {}", e.hint());
            return ExitCode::from(2);
        }
    };
    let auth_summary = match &auth {
        Some(layer) => json!({
            "enabled": true,
            "authorization_servers": layer.authorization_servers(),
        }),
        None => json!({"enabled": false}),
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
        Err(_) => match (host.as_str(), port) {
            ("localhost", p) => SocketAddr::from(([127, 0, 0, 1], p)),
            _ => {
                eprintln!("error: HOST is `{host}`, not an IP address (e.g. 127.0.0.1 or 0.0.0.0)");
                return ExitCode::from(2);
            }
        },
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            return ExitCode::from(1);
        }
    };
    let local = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let state = Arc::new(ServerState::new(&name, env!("CARGO_PKG_VERSION"), auth_summary));
    let protected = if auth.is_some() { "protected" } else { "UNPROTECTED" };
    eprintln!("{name} listening on http://{local}{MCP_PATH} ({protected})");

    let result = axum::serve(listener, app(state, auth))
        .with_graceful_shutdown(shutdown_signal())
        .await;
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
