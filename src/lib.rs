//! cargo-pmcp: take an MCP server to production behind Microsoft Entra ID (or any OIDC provider).
//!
//! The library's core is [`auth`], the shared validator module a deployed server links (build it with
//! `default-features = false`). The `cli` feature (default) adds the `cargo pmcp` commands, deploy
//! targets and the local Entra emulator.

pub mod auth;

#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "cli")]
pub mod commands;
#[cfg(feature = "cli")]
pub mod config;
#[cfg(feature = "cli")]
pub mod deploy;
#[cfg(feature = "emulator")]
pub mod emulator;
#[cfg(feature = "cli")]
pub mod ui;
