//! Build, package and push an MCP server.
//!
//! The steps are separate modules so each can be used (and tested) alone:
//! - [`env`](mod@env): the environment contract: what the deployed server gets, derived from deploy.toml.
//! - [`build`]: find the server binary with `cargo metadata` and build it with `cargo build`.
//! - [`package`]: a reproducible, streamed zip with `bootstrap` and `pmcp-deploy.json`.
//! - [`targets`]: where it goes, behind one trait ([`targets::Target`]): `pmcp-run` and `local`.
//! - [`record`]: `.pmcp/deployment.toml`, what was deployed where.

pub mod build;
pub mod elf;
pub mod env;
pub mod package;
pub mod record;
pub mod targets;
