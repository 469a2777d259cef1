//! `pmcp-example-server`: an MCP server on `HOST`:`PORT` whose `/mcp` endpoint is protected with the
//! authentication `cargo pmcp deploy` configured (the `ENTRA_*` / `AUTH_*` variables). See the
//! library docs and docs/server.md.

fn main() -> std::process::ExitCode {
    pmcp_example_server::run()
}
