//! `pmcp-example-server`: an MCP server on `HOST`:`PORT` whose `/mcp` endpoint is protected with the
//! authentication `cargo pmcp deploy` configured (the `ENTRA_*` / `AUTH_*` variables). See the
//! library docs and docs/server.md.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    pmcp_example_server::serve_from_env().await
}
