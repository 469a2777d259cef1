//! `cargo-pmcp`: thin: parse, dispatch, map errors to exit codes.

use cargo_pmcp::cli::{Cli, normalize_args};
use cargo_pmcp::commands::{self, Ctx};
use cargo_pmcp::ui::{Failure, Ui, github};
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = normalize_args(std::env::args_os().collect());
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let g = &cli.global;
    let ui = Ui::new(g.json, g.quiet, g.verbose, g.no_color);
    let ctx = Ctx {
        ui: ui.clone(),
        manifest_path: g.manifest_path.clone(),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(commands::dispatch(cli, &ctx));
    // Do not wait for stray background tasks (servers, pollers) on exit.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => report(&ui, err),
    }
}

/// Print an error the way users read it and pick the exit code.
fn report(ui: &Ui, err: anyhow::Error) -> ExitCode {
    if is_broken_pipe(&err) {
        return ExitCode::SUCCESS;
    }
    if let Some(f) = err.downcast_ref::<Failure>() {
        if !f.reported {
            eprintln!("{} {}", ui.style_red("error:"), f.message);
            if let Some(hint) = &f.hint {
                eprintln!("{} {hint}", ui.bold("hint:"));
            }
            github::error(&f.message);
        }
        return f.exit_code();
    }
    eprintln!("{} {err:#}", ui.style_red("error:"));
    github::error(&format!("{err:#}"));
    ExitCode::from(1)
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
