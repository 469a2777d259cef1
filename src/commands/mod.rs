//! One file per verb, thin: resolve inputs, call the library, render output.

pub mod auth_test;
pub mod ci;
pub mod deploy;
pub mod deploy_init;
pub mod dev;
pub mod emulator;
pub mod login;
pub mod new;

use crate::cli::{AuthCommand, Cli, Command, DeploySub};
use crate::ui::Ui;
use std::path::PathBuf;

/// What every command gets: output settings and the global flags.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub ui: Ui,
    pub manifest_path: Option<PathBuf>,
    /// Set by `dev`: `cargo build` runs in its own process group, which `dev` kills on Ctrl-C.
    pub build_cancel: Option<crate::deploy::build::BuildCancel>,
}

/// Run the parsed command line.
pub async fn dispatch(cli: Cli, ctx: &Ctx) -> anyhow::Result<()> {
    match cli.command {
        Command::Deploy(d) => match d.sub {
            Some(DeploySub::Init(args)) => deploy_init::run(*args, ctx).await,
            Some(DeploySub::Destroy(args)) => deploy::destroy(args, ctx).await,
            Some(DeploySub::Status(args)) => deploy::status(args, ctx).await,
            None => deploy::run(d.args, ctx).await,
        },
        Command::Auth(AuthCommand::Test(args)) => auth_test::run(*args, ctx).await,
        Command::Auth(AuthCommand::Emulator(args)) => emulator::run(args, ctx).await,
        Command::Dev(args) => dev::run(args, ctx).await,
        Command::Ci(ci::CiCommand::Init(args)) => ci::init(args, ctx).await,
        Command::Login(args) => login::login(args, ctx).await,
        Command::Logout(args) => login::logout(args, ctx).await,
        Command::New(args) => new::run(args, ctx).await,
    }
}
