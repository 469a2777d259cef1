//! The `cargo pmcp` command's internals: thin verbs over the [`pmcp_auth`] library (the shared
//! validator a deployed server links) and the [`pmcp_entra_emulator`] issuer.
//!
//! This library exists for the binary, the integration tests and the benches; its API is not
//! stable. A server author depends on `pmcp-auth`, not on this crate.

pub mod cli;
pub mod commands;
pub mod config;
pub mod deploy;
pub mod exit;
pub mod explain;
pub mod ui;
