//! One axum router, two ways to serve it: on AWS Lambda (through `lambda_http`, when the Lambda
//! service started the process: `AWS_LAMBDA_RUNTIME_API` is set) or on TCP (`$HOST:$PORT`, default
//! `127.0.0.1:8080`), so the same binary runs locally, in a container and as a Lambda function.
//!
//! ```no_run
//! # async fn demo(router: axum::Router) -> Result<(), pmcp_auth::lambda::ServeError> {
//! use pmcp_auth::lambda::{self, Listener};
//!
//! let listener = Listener::from_env().await?;
//! match &listener {
//!     Listener::Lambda => eprintln!("serving Lambda invocations"),
//!     Listener::Tcp(l) => eprintln!("listening on http://{}", l.local_addr()?),
//! }
//! lambda::serve(listener, router, std::future::pending()).await
//! # }
//! ```
//!
//! What Lambda changes for an MCP server:
//! - Function URL events (payload format 2.0) become ordinary `http::Request`s; the `Host` header is
//!   the Function URL's host, so the RFC 9728 metadata names the public URL (or set
//!   `AUTH_RESOURCE_URL`, as `cargo pmcp deploy --target aws-lambda` does).
//! - Responses are buffered: a reply is sent when the handler's body ends. A server that answers
//!   `POST /mcp` with a JSON body (stateless streamable HTTP) works; a long-lived SSE stream would
//!   only be delivered when it closes, so answer with JSON on Lambda.
//! - Nothing survives between invocations with certainty: keep the server stateless.

use std::future::Future;
use std::net::SocketAddr;

/// The variable the Lambda service sets for a function's process (`host:port` of the Runtime API).
pub const AWS_LAMBDA_RUNTIME_API: &str = "AWS_LAMBDA_RUNTIME_API";
/// The TCP host to bind when not on Lambda. Defaults to `127.0.0.1`.
pub const HOST: &str = "HOST";
/// The TCP port to bind when not on Lambda. Defaults to `8080`.
pub const PORT: &str = "PORT";

/// Whether this process runs as a Lambda function (`AWS_LAMBDA_RUNTIME_API` is set and not empty).
pub fn on_lambda() -> bool {
    std::env::var_os(AWS_LAMBDA_RUNTIME_API).is_some_and(|v| !v.is_empty())
}

/// Where requests come from.
#[derive(Debug)]
pub enum Listener {
    /// Lambda invocations, read from the Runtime API.
    Lambda,
    /// A bound TCP socket.
    Tcp(tokio::net::TcpListener),
}

/// The server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// `HOST` or `PORT` does not hold an address.
    #[error("{var} is `{value}`, {expected}")]
    Config {
        /// The variable.
        var: &'static str,
        /// Its value (an address, never a secret).
        value: String,
        /// What it should be.
        expected: &'static str,
    },
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Serving over TCP failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The Lambda runtime stopped with an error (the Runtime API could not be reached, an event
    /// could not be read).
    #[error("lambda runtime: {0}")]
    Lambda(String),
}

impl Listener {
    /// [`Listener::Lambda`] when [`on_lambda`], else a TCP socket bound on `$HOST:$PORT`
    /// (defaults `127.0.0.1` and `8080`; `localhost` is accepted for the host).
    pub async fn from_env() -> Result<Listener, ServeError> {
        if on_lambda() {
            return Ok(Listener::Lambda);
        }
        let host = std::env::var(HOST).unwrap_or_else(|_| "127.0.0.1".into());
        let port = match std::env::var(PORT) {
            Err(_) => 8080,
            Ok(p) => p.trim().parse::<u16>().map_err(|_| ServeError::Config {
                var: PORT,
                value: p.clone(),
                expected: "not a port number (0-65535)",
            })?,
        };
        let addr = match format!("{host}:{port}").parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) if host == "localhost" => SocketAddr::from(([127, 0, 0, 1], port)),
            Err(_) => {
                return Err(ServeError::Config {
                    var: HOST,
                    value: host,
                    expected: "not an IP address (e.g. 127.0.0.1 or 0.0.0.0)",
                });
            }
        };
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        Ok(Listener::Tcp(l))
    }
}

/// Serve `router` on `listener` until `shutdown` completes (TCP; Lambda ends the process itself).
pub async fn serve<F>(
    listener: Listener,
    router: axum::Router,
    shutdown: F,
) -> Result<(), ServeError>
where
    F: Future<Output = ()> + Send + 'static,
{
    match listener {
        Listener::Tcp(l) => {
            axum::serve(l, router)
                .with_graceful_shutdown(shutdown)
                .await?;
            Ok(())
        }
        Listener::Lambda => lambda_http::run(router)
            .await
            .map_err(|e| ServeError::Lambda(e.to_string())),
    }
}

/// [`Listener::from_env`] then [`serve`], without a shutdown signal.
pub async fn run(router: axum::Router) -> Result<(), ServeError> {
    let listener = Listener::from_env().await?;
    serve(listener, router, std::future::pending()).await
}
