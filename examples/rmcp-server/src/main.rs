//! `rmcp-example-server`: an MCP server written with rmcp on `HOST`:`PORT` whose `/mcp` endpoint is
//! protected with the authentication `cargo pmcp deploy` configured (the `ENTRA_*` / `AUTH_*`
//! variables). See the library docs and docs/server.md.

fn main() -> std::process::ExitCode {
    rmcp_example_server::run()
}
