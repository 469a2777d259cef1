//! `cargo pmcp auth test`: get a token (or take one), check it with the shared validator — the code
//! the deployed server runs — check the expectations, and optionally the server end to end.
//!
//! Stages and exit codes: `config` 2, `acquire` 3, `validate` 4, `expect` 5, `server` 6.
//! The report is the result: on stdout, or with `--json` the JSON document on stdout and the human
//! text on stderr. Progress and log lines go to stderr, and so do GitHub Actions' workflow commands
//! (masks, annotations); the step summary gets a markdown table.
//!
//! The flow is here; each stage has its module: [`settings`] resolves the inputs, [`acquire`]
//! gets the token, [`validate`] checks it, [`expect`] checks the expectations, [`probe`] the server,
//! and [`report`] is what the run prints.

mod acquire;
mod args;
mod expect;
mod probe;
mod report;
mod settings;
mod validate;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::Ctx;
use crate::exit::Exit;
use crate::ui::{Failure, Ui, github};
use pmcp_auth::client::{AssertionAlgorithm, TokenClient};

pub use args::{CredentialKind, OAuthKind, TestArgs};
pub use probe::resource_metadata_param;
pub use report::{AuthTestReport, Check, ReportError, Stage, TokenSummary, rfc3339};

use report::AuthTestReport as Report;
use settings::{Mode, Settings};

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Run the command.
pub async fn run(args: TestArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let ui = &ctx.ui;
    let mut report = Report::new(unix_now());
    execute(&args, ctx, &mut report).await;
    if report.stage.is_none() {
        report.ok = true;
    }
    finish(ui, &report)
}

/// Run the checks and return the report without printing it (`cargo pmcp dev` runs them against
/// the server it started). Progress and log lines still go to `ctx.ui`.
pub async fn check(args: &TestArgs, ctx: &Ctx) -> AuthTestReport {
    let mut report = Report::new(unix_now());
    execute(args, ctx, &mut report).await;
    if report.stage.is_none() {
        report.ok = true;
    }
    report
}

fn finish(ui: &Ui, report: &Report) -> anyhow::Result<()> {
    if let (Some(stage), Some(e)) = (report.stage, &report.error) {
        github::error(&format!(
            "auth test failed at {}: {}: {}",
            stage.name(),
            e.code,
            e.message
        ));
    }
    if let Err(e) = github::append_summary(&report.markdown()) {
        ui.warn(format_args!(
            "could not append to $GITHUB_STEP_SUMMARY: {e}"
        ));
    }
    if ui.json && ui.quiet && !report.ok {
        // --quiet hides the human text beside the JSON document, never a failure.
        eprint!("{report}");
    }
    let printed = ui.result(&report.printed(ui.quiet));
    match report.exit() {
        Exit::Success => Ok(printed?),
        // A failed run keeps its exit code even when stdout is gone (`| head`).
        exit => {
            let e = report.error.as_ref();
            let mut f = Failure::new(exit, e.map(|e| e.message.clone()).unwrap_or_default());
            if let Some(e) = e {
                f = f.with_code(e.code.clone()).with_hint(e.hint.clone());
            }
            // The report is the failure document already: main prints nothing more.
            Err(f.reported().into())
        }
    }
}

/// The stages in order; the first failure ends the run (the server checks all run, though).
async fn execute(args: &TestArgs, ctx: &Ctx, report: &mut Report) {
    let ui = &ctx.ui;
    // config
    let settings = match settings::resolve(args, ctx, ui) {
        Ok(s) => s,
        Err(p) => return report.fail(Stage::Config, p.code, p.message, p.hint),
    };
    let plan = match acquire::plan(args, &settings, ui) {
        Ok(p) => p,
        Err(p) => return report.fail(Stage::Config, p.code, p.message, p.hint),
    };

    // acquire
    let client = TokenClient::new()
        .on_secret(Arc::new(github::add_mask))
        .with_assertion_algorithm(if args.rs256_assertion {
            AssertionAlgorithm::Rs256
        } else {
            AssertionAlgorithm::Ps256
        });
    let Some(token) = acquire::acquire(&plan, &settings, &client, ui, report).await else {
        return;
    };

    // validate ("expires in" counts from now: a device code sign-in may have taken minutes)
    report.now = unix_now();
    let Some(validated) = validate::validate(&settings, &token, report).await else {
        return;
    };

    // expect
    expect::expectations(args, &validated, report);
    if report.stage.is_some() {
        return;
    }

    // server
    if let Some(url) = &args.server_url {
        let issuers = expected_issuers(&settings, report);
        probe::server_checks(url, &token, &issuers, report).await;
    }
}

/// The issuers the server's metadata may name: the configured one, and the token's.
fn expected_issuers(settings: &Settings, report: &Report) -> Vec<String> {
    let mut v = Vec::new();
    match &settings.mode {
        Mode::Entra(e) => v.push(e.entra.issuer()),
        Mode::Oidc(o) => v.push(o.issuer.clone()),
    }
    if let Some(iss) = report.token.as_ref().and_then(|t| t.issuer.clone()) {
        v.push(iss);
    }
    v
}
