//! `cargo pmcp deploy init`: resolve the inputs (flag > env > deploy.toml > prompt > default), write
//! `.pmcp/deploy.toml` (and `.pmcp/entra-app.json` for Entra), print the setup checklist.
//!
//! - `args.rs`: the flags ([`InitArgs`]; the doc comments are the help text);
//! - `resolve.rs`: deploy.toml read once, each input of [`crate::config::inputs`] resolved by the
//!   shared [`crate::config::resolve::Resolver`] into [`InitSettings`], with its source;
//! - [`crate::config::validate`]: the checks each value goes through, whatever its source and verb;
//! - `write.rs`: deploy.toml and `.pmcp/entra-app.json` written, the checklist result built.
//!
//! [`InitSettings`]: crate::config::init::InitSettings

mod args;
mod resolve;
mod write;

pub use crate::config::validate::{
    validate_authority, validate_guid, validate_issuer, validate_redirect, validate_server_name,
    validate_tenant,
};
pub use args::*;
pub use resolve::server_name_from_package;
pub use write::InitResult;

use super::Ctx;
use crate::config;
use anyhow::Context;
use std::path::Path;

/// Run the command.
pub async fn run(args: InitArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let root = config::project_root(ctx.manifest_path.as_deref(), &cwd);
    let result = init(&args, ctx, &cwd, &root)?;
    let ui = &ctx.ui;
    // In GitHub Actions the checklist also goes to the job summary (no-op elsewhere).
    let summary = format!(
        "### cargo pmcp deploy init\n\n`{}` {}\n\n```text\n{}```\n",
        result.config_path, result.config, result.checklist
    );
    if let Err(e) = crate::ui::github::append_summary(&summary) {
        ui.warn(format!("cannot append to GITHUB_STEP_SUMMARY: {e}"));
    }
    if ui.json {
        eprint!("{}", result.checklist.render(&|s| ui.bold(s)));
        ui.print_json(&result)?;
    } else {
        use std::io::Write;
        let bold = |s: &str| console::style(s).bold().to_string();
        let mut out = std::io::stdout().lock();
        out.write_all(result.checklist.render(&bold).as_bytes())?;
        out.flush()?;
    }
    Ok(())
}

fn init(args: &InitArgs, ctx: &Ctx, cwd: &Path, root: &Path) -> anyhow::Result<InitResult> {
    let file = resolve::ConfigFile::read(root, cwd)?;
    let resolved = resolve::resolve(args, ctx, root, &file)?;
    write::write(&ctx.ui, file, root, cwd, resolved)
}

/// What `cargo pmcp dev` made of `.pmcp/deploy.toml`.
pub struct DevConfig {
    /// The configuration the server runs with (the emulator's settings applied).
    pub loaded: config::Loaded,
    /// `created`, `updated` or `unchanged` when the file was written for the local target;
    /// `kept` when it names another target and was left as it is (the emulator's settings are
    /// then applied in memory only, so they never leak into a production configuration).
    pub state: &'static str,
    /// deploy.toml as messages show it.
    pub shown: std::path::PathBuf,
    /// The file's target when it is another than local (the file was kept).
    pub kept_target: Option<config::TargetKind>,
}

/// `deploy init` for `cargo pmcp dev`: the same resolution and edits as `init` with `args` (the
/// local target and the emulator's ids), written only when deploy.toml is absent or already for
/// the local target. A file that does not parse is an error and is never touched.
pub fn dev_config(
    args: &InitArgs,
    ctx: &Ctx,
    cwd: &Path,
    root: &Path,
) -> anyhow::Result<DevConfig> {
    let file = resolve::ConfigFile::read(root, cwd)?;
    let other_target = file
        .loaded
        .as_ref()
        .map(|l| l.config.target.kind)
        .filter(|k| *k != config::TargetKind::Local);
    let resolved = resolve::resolve(args, ctx, root, &file)?;
    let (path, shown) = (file.path.clone(), file.shown.clone());
    if let Some(kind) = other_target {
        let loaded = file.loaded.expect("another target comes from the file");
        let mut doc = config::DeployToml::from_text(&path, loaded.text)?;
        config::init::apply(&resolved.settings, &mut doc)
            .map_err(|e| crate::ui::Failure::usage(e.to_string()))?;
        // Positions in messages point into this in-memory copy, not the file: say so.
        let label =
            std::path::PathBuf::from(format!("{} (in memory, as dev runs it)", shown.display()));
        let loaded =
            config::parse_with_warnings(&label, doc.render()).map_err(crate::ui::Failure::from)?;
        return Ok(DevConfig {
            loaded,
            state: "kept",
            kept_target: Some(kind),
            shown,
        });
    }
    let result = write::write(&ctx.ui, file, root, cwd, resolved)?;
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", shown.display()))?;
    let loaded = config::parse_with_warnings(&shown, text).map_err(crate::ui::Failure::from)?;
    Ok(DevConfig {
        loaded,
        state: result.config,
        kept_target: None,
        shown,
    })
}
