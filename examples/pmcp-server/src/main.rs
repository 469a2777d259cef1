//! `pmcp-sdk-example-server`: an MCP server written with the pmcp SDK whose `/mcp` endpoint is
//! protected with the authentication `cargo pmcp deploy` configured (the `ENTRA_*` / `AUTH_*`
//! variables), on `HOST`:`PORT` or as an AWS Lambda function. See the library docs and
//! docs/server.md.

fn main() -> std::process::ExitCode {
    pmcp_sdk_example_server::run()
}
