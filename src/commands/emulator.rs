//! `emulator` — SKELETON: to be built.

use super::Ctx;
use crate::ui::Failure;

/// Arguments.
#[derive(Debug, clap::Args)]
pub struct EmulatorArgs {}

/// Run the command.
pub async fn run(_args: EmulatorArgs, _ctx: &Ctx) -> anyhow::Result<()> {
    Err(Failure::new(1, "SKELETON").into())
}
