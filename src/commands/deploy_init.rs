//! `deploy_init` — SKELETON: to be built.

use super::Ctx;
use crate::ui::Failure;

/// Arguments.
#[derive(Debug, clap::Args)]
pub struct InitArgs {}

/// Run the command.
pub async fn run(_args: InitArgs, _ctx: &Ctx) -> anyhow::Result<()> {
    Err(Failure::new(1, "SKELETON").into())
}
