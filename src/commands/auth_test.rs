//! `auth_test` — SKELETON: to be built.

use super::Ctx;
use crate::ui::Failure;

/// Arguments.
#[derive(Debug, clap::Args)]
pub struct TestArgs {}

/// Run the command.
pub async fn run(_args: TestArgs, _ctx: &Ctx) -> anyhow::Result<()> {
    Err(Failure::new(1, "SKELETON").into())
}
