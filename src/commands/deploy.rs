//! `deploy`, `deploy destroy`, `deploy status` — SKELETON: to be built.

use super::Ctx;
use crate::cli::DeploySub;
use crate::ui::Failure;

/// `cargo pmcp deploy [FLAGS]` or `cargo pmcp deploy <init|destroy|status>`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DeployCommand {
    #[command(subcommand)]
    pub sub: Option<DeploySub>,
    #[command(flatten)]
    pub args: DeployArgs,
}

/// Build, package and push.
#[derive(Debug, clap::Args)]
pub struct DeployArgs {}

/// `deploy destroy`.
#[derive(Debug, clap::Args)]
pub struct DestroyArgs {}

/// `deploy status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {}

/// Run `deploy`.
pub async fn run(_args: DeployArgs, _ctx: &Ctx) -> anyhow::Result<()> {
    Err(Failure::new(1, "SKELETON").into())
}

/// Run `deploy destroy`.
pub async fn destroy(_args: DestroyArgs, _ctx: &Ctx) -> anyhow::Result<()> {
    Err(Failure::new(1, "SKELETON").into())
}

/// Run `deploy status`.
pub async fn status(_args: StatusArgs, _ctx: &Ctx) -> anyhow::Result<()> {
    Err(Failure::new(1, "SKELETON").into())
}
