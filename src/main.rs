//! `cargo-pmcp`: thin: parse, dispatch, map errors to exit codes.

use cargo_pmcp::cli::{Cli, normalize_args};
use cargo_pmcp::commands::{self, Ctx};
use cargo_pmcp::exit::Exit;
use cargo_pmcp::ui::{Failure, Ui, failure_document, github};
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = normalize_args(std::env::args_os().collect());
    let json = wants_json(&args);
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            if !e.use_stderr() {
                return ExitCode::SUCCESS; // --help, --version
            }
            if json {
                // Even a usage error is one JSON document on stdout with --json.
                let first = e.to_string();
                let message = first.lines().next().unwrap_or_default();
                let message = message.strip_prefix("error: ").unwrap_or(message);
                let doc = failure_document(Exit::Usage, "usage", message, Some("see --help"));
                println!("{doc}");
            }
            return Exit::Usage.into();
        }
    };
    let g = &cli.global;
    let ui = Ui::new(g.json, g.quiet, g.verbose, g.no_color);
    let ctx = Ctx {
        ui: ui.clone(),
        manifest_path: g.manifest_path.clone(),
        build_cancel: None,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Exit::Unexpected.into();
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
            if ui.json {
                let _ = ui.print_json(&f.document());
            }
        }
        return f.exit_code();
    }
    let message = format!("{err:#}");
    eprintln!("{} {message}", ui.style_red("error:"));
    github::error(&message);
    if ui.json {
        let _ = ui.print_json(&failure_document(
            Exit::Unexpected,
            Exit::Unexpected.name(),
            &message,
            None,
        ));
    }
    Exit::Unexpected.into()
}

/// `--json` among the arguments, looked for by hand when clap could not parse them.
fn wants_json(args: &[std::ffi::OsString]) -> bool {
    args.iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "--json")
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
