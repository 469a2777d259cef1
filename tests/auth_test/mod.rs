//! `cargo pmcp auth test`: the built binary against the Entra emulator (in-process, on 127.0.0.1)
//! and the small loopback servers in `fakes`. Each test asserts what a user sees: exit code,
//! stdout and stderr, the `--json` document, GitHub Actions output — and that no token or secret
//! leaks.

mod actions;
mod credentials;
mod fakes;
mod obo;
mod server;
mod tokens;

use crate::support::TestDir;
pub use crate::support::{stderr, stdout};
use pmcp_auth::SecretString;
use pmcp_entra_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use serde_json::Value;
use std::process::Output;

/// The client secret the emulator's apps accept.
pub const SECRET: &str = "emu-client-secret-Qx7~v2";

pub async fn emulator_with(mut config: EmulatorConfig) -> RunningEmulator {
    config.set_default_secret(&SecretString::new(SECRET));
    Emulator::start(config, 0).await.expect("emulator starts")
}

pub async fn emulator() -> RunningEmulator {
    emulator_with(EmulatorConfig::default()).await
}

/// `cargo-pmcp auth test` pointed at the emulator: tenant and API client id from the environment,
/// the authority host as a flag.
pub fn auth_test(emu: &RunningEmulator, dir: &TestDir) -> assert_cmd::Command {
    let mut cmd = dir.cmd();
    cmd.args(["auth", "test", "--authority-host"])
        .arg(emu.authority_host())
        .env("ENTRA_TENANT_ID", emu.tenant_id())
        .env("ENTRA_CLIENT_ID", emu.client_id());
    cmd
}

/// Run without blocking the runtime that serves the emulator.
pub async fn run(mut cmd: assert_cmd::Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("runs"))
        .await
        .unwrap()
}

/// The `--json` document: the last line of stdout (the only one; workflow commands go to stderr).
pub fn json(out: &Output) -> Value {
    let text = stdout(out);
    let last = text.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

pub fn code(out: &Output) -> i32 {
    out.status.code().expect("exit code")
}

/// Fails when anything looking like a JWT, or any of `secrets`, appears in stdout or stderr
/// (outside `::add-mask::` lines, whose whole point is to name the value to hide).
pub fn assert_nothing_secret(out: &Output, secrets: &[&str]) {
    let all = format!("{}\n{}", stdout(out), stderr(out));
    let visible: String = all
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect::<Vec<_>>()
        .join("\n");
    for s in secrets.iter().chain([&SECRET]) {
        assert!(!visible.contains(s), "secret `{s}` leaked:\n{visible}");
    }
    // A JWT header always starts `eyJ`; a dot-joined pair of base64url JSON is a token.
    let looks_like_jwt = visible
        .split(|c: char| c.is_whitespace() || c == '"')
        .any(|w| {
            let parts: Vec<&str> = w.split('.').collect();
            parts.len() == 3 && parts[0].starts_with("eyJ") && parts[1].starts_with("eyJ")
        });
    assert!(!looks_like_jwt, "a token leaked:\n{visible}");
}

/// Exit code, stage and error code of a failed run, with a readable message when they differ.
pub fn assert_failed(out: &Output, exit: i32, stage: &str, error_code: &str) -> Value {
    let j = json(out);
    assert_eq!(code(out), exit, "stderr:\n{}\njson: {j}", stderr(out));
    assert_eq!(j["ok"], false, "{j}");
    assert_eq!(j["exit_code"], exit, "{j}");
    assert_eq!(j["stage"], stage, "{j}");
    assert_eq!(j["error"]["code"], error_code, "{j}");
    let mut keys: Vec<&str> = j["error"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(keys, ["code", "hint", "message"], "{j}");
    assert!(
        j["error"]["hint"].as_str().is_some_and(|h| !h.is_empty()),
        "{j}"
    );
    let err = stderr(out);
    assert!(
        err.contains(&format!("error [{stage}] {error_code}")),
        "stderr:\n{err}"
    );
    assert!(err.contains("hint: "), "stderr:\n{err}");
    j
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Unix seconds of an RFC 3339 UTC time `YYYY-MM-DDTHH:MM:SSZ`.
pub fn parse_rfc3339(s: &str) -> u64 {
    let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)) as u64
}

/// The minutes shown in `expires       in N min` / `expired N min ago`.
pub fn shown_minutes(stderr: &str, prefix: &str) -> u64 {
    let i = stderr
        .find(prefix)
        .unwrap_or_else(|| panic!("`{prefix}` missing:\n{stderr}"));
    stderr[i + prefix.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}
