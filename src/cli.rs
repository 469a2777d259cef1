//! clap definitions of the top level: global flags and the verbs. Each verb's `Args` struct lives
//! next to the code that does the work (`commands/*`); doc comments are the help text.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

use crate::commands::{auth_test, ci, deploy, deploy_init, dev, emulator, login, new};

/// Take an MCP server to production behind Microsoft Entra ID (or any OIDC provider).
#[derive(Debug, Parser)]
#[command(
    name = "cargo-pmcp",
    bin_name = "cargo pmcp",
    version,
    about,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// The help heading of the flags every verb accepts.
pub const GLOBAL: &str = "Global options";

/// Flags every verb accepts.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Machine-readable JSON on stdout (human text stays on stderr).
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,
    /// Print only errors and the final result.
    #[arg(long, short = 'q', global = true, help_heading = GLOBAL)]
    pub quiet: bool,
    /// More detail (repeat for more).
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count, help_heading = GLOBAL)]
    pub verbose: u8,
    /// No colors (also when NO_COLOR is set).
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub no_color: bool,
    /// Path to the server's Cargo.toml (default: the one in the current directory or above).
    #[arg(long, global = true, value_name = "PATH", help_heading = GLOBAL)]
    pub manifest_path: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a ready MCP server crate, protected by Entra ID (or OIDC), from the example servers.
    New(new::NewArgs),
    /// Run the server locally behind a local Entra ID: emulator, build, run, check, watch.
    Dev(dev::DevArgs),
    /// Configure, build, package and push the MCP server.
    Deploy(deploy::DeployCommand),
    /// Tokens: check them against the shared validator, or run a local Entra-compatible issuer.
    #[command(subcommand)]
    Auth(AuthCommand),
    /// CI workflows that run `auth test` (GitHub Actions).
    #[command(subcommand)]
    Ci(ci::CiCommand),
    /// Sign in to pmcp.run in a browser (the token is kept in ~/.pmcp/credentials.toml).
    Login(login::LoginArgs),
    /// Forget the pmcp.run sign-in.
    Logout(login::LogoutArgs),
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Fetch a token and check it with the shared validator (the code the server runs).
    Test(Box<auth_test::TestArgs>),
    /// Run a local Entra-compatible issuer on 127.0.0.1 for offline work and tests.
    Emulator(emulator::EmulatorArgs),
}

/// `deploy` subcommands.
#[derive(Debug, Subcommand)]
pub enum DeploySub {
    /// Write .pmcp/deploy.toml and print the Azure Portal checklist.
    Init(Box<deploy_init::InitArgs>),
    /// Stop and remove a deployment.
    Destroy(deploy::DestroyArgs),
    /// Show what runs where.
    Status(deploy::StatusArgs),
}

/// Remove the `pmcp` that cargo passes as the first argument of `cargo pmcp …`.
pub fn normalize_args(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    if args.get(1).is_some_and(|a| a == "pmcp") {
        args.remove(1);
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    #[test]
    fn cargo_subcommand_form_is_accepted() {
        let a = normalize_args(vec!["cargo-pmcp".into(), "pmcp".into(), "deploy".into()]);
        assert_eq!(
            a,
            vec![std::ffi::OsString::from("cargo-pmcp"), "deploy".into()]
        );
        let b = normalize_args(vec!["cargo-pmcp".into(), "deploy".into()]);
        assert_eq!(b.len(), 2);
    }
}
