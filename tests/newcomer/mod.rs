//! What a newcomer trips on in the first hour (issue 17), each driven as they did it: the built
//! binary in a temp project, asserting on what they see.

use crate::support::{TestDir, all_output, stderr, stdout};
use serde_json::Value;

const TENANT: &str = "11111111-2222-3333-4444-555555555555";
const CLIENT: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

fn project(deploy_toml: &str) -> TestDir {
    let t = TestDir::new();
    t.cargo_package("newcomer");
    t.write(".pmcp/deploy.toml", deploy_toml);
    t
}

fn entra(target: &str, auth_extra: &str, entra_extra: &str) -> String {
    format!(
        "[target]\ntype = \"{target}\"\n\n[auth]\nenabled = true\nprovider = \"entra\"\ntenant_id = \"{TENANT}\"\nclient_id = \"{CLIENT}\"\n{auth_extra}\n[auth.entra]\n{entra_extra}\n"
    )
}

/// `deploy --dry-run` builds the package: the shared build dir of the deploy tests keeps that
/// cheap (one tiny crate).
fn dry_run(t: &TestDir, extra: &[&str]) -> std::process::Output {
    t.cmd()
        .args(["deploy", "--dry-run", "--target-dir"])
        .arg(t.join("target"))
        .args(extra)
        .env("PMCP_ACCESS_TOKEN", "x")
        .env("HOME", t.join("home"))
        .output()
        .unwrap()
}

/// Item 3: what init refuses, deploy (dry run too) and auth test refuse, at file:line, exit 2.
#[test]
fn an_invalid_tenant_in_deploy_toml_is_refused_by_every_verb() {
    let toml = entra("local", "", "").replace(TENANT, "not a tenant");
    let t = project(&toml);
    let line = toml
        .lines()
        .position(|l| l.starts_with("tenant_id"))
        .unwrap()
        + 1;
    let at = format!(".pmcp/deploy.toml:{line}:");
    for out in [
        dry_run(&t, &[]),
        t.cmd()
            .args(["deploy", "--target", "local"])
            .output()
            .unwrap(),
        t.cmd()
            .args(["auth", "test", "--credential", "secret"])
            .env("ENTRA_CLIENT_SECRET", "s")
            .output()
            .unwrap(),
    ] {
        let text = all_output(&out);
        assert_eq!(out.status.code(), Some(2), "{text}");
        assert!(
            text.contains(&at) && text.contains("tenant_id") && text.contains("GUID"),
            "{text}"
        );
        assert!(
            !text.contains("building"),
            "built before validating: {text}"
        );
    }
}

/// Item 3: the placeholder client id of the examples is accepted but named.
#[test]
fn the_placeholder_client_id_warns() {
    let toml = entra("local", "", "").replace(CLIENT, "00000000-0000-0000-0000-000000000000");
    let t = project(&toml);
    let out = dry_run(&t, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("warning:") && err.contains("placeholder"),
        "{err}"
    );
    let out = t
        .cmd()
        .args(["deploy", "init", "--target", "local", "--yes"])
        .output()
        .unwrap();
    assert!(stderr(&out).contains("placeholder"), "{}", stderr(&out));
}

/// Item 2: the emulator's authority in a pmcp-run config is refused by deploy, dry run included,
/// unless asked for.
#[test]
fn a_local_authority_for_a_hosted_target_is_refused() {
    let t = project(&entra(
        "pmcp-run",
        "",
        "authority_host = \"http://127.0.0.1:8400\"",
    ));
    let out = dry_run(&t, &["--json"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("authority_host")
            && err.contains("pmcp-run")
            && err.contains("--allow-local-authority"),
        "{err}"
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["exit_code"], 2);
    assert!(!err.contains("AUTH_ISSUER=http://127.0.0.1"), "{err}");
    // Asked for: planned, with the loopback issuer.
    let out = dry_run(&t, &["--allow-local-authority"]);
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    assert!(stdout(&out).contains("AUTH_ISSUER=http://127.0.0.1:8400/"));
    // The local target needs no flag.
    let out = dry_run(&t, &["--target", "local"]);
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
}

/// Item 7: no Cargo.toml, or a mistyped --manifest-path, is a setup error with the matching hint,
/// before anything about deploy.toml is said.
#[test]
fn no_cargo_toml_is_a_setup_error_that_says_so() {
    let t = TestDir::new();
    let out = t
        .cmd()
        .args(["deploy", "--target", "local"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no Cargo.toml in"), "{err}");
    assert!(err.contains("server's crate"), "{err}");
    assert!(!err.contains("deploy.toml"), "contradictory: {err}");

    t.cargo_package("svc");
    let out = t
        .cmd()
        .args(["deploy", "--manifest-path", "Cargo.tml"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--manifest-path Cargo.tml: no such file")
            && err.contains("the path of the server's Cargo.toml"),
        "{err}"
    );
    let out = t
        .cmd()
        .args(["deploy", "--manifest-path", "nope/Cargo.toml"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("check the path"), "{err}");
}

/// Item 10: a type error in deploy.toml says what the key means.
#[test]
fn a_type_error_explains_the_key() {
    let t = project("[target]\ntype = \"local\"\n[server]\nmemory_mb = \"512MB\"\n");
    let out = dry_run(&t, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(".pmcp/deploy.toml:4:")
            && err.contains("server.memory_mb")
            && err.contains("in MB"),
        "{err}"
    );
}

/// Item 10: `--help` groups the global flags; `--client-secret-stdin` shows no env var.
#[test]
fn help_has_a_global_options_heading() {
    let t = TestDir::new();
    let out = t.cmd().args(["deploy", "--help"]).output().unwrap();
    let text = stdout(&out);
    let global = text.find("Global options:").expect(&text);
    let json = text.find("--json").unwrap();
    let dry = text.find("--dry-run").unwrap();
    assert!(dry < global && global < json, "{text}");
    let out = t.cmd().args(["auth", "test", "--help"]).output().unwrap();
    let text = stdout(&out);
    let flag = text.find("--client-secret-stdin").unwrap();
    let next = text[flag..]
        .find("\n      --")
        .map_or(text.len(), |i| flag + i);
    assert!(!text[flag..next].contains("[env:"), "{}", &text[flag..next]);
}

/// Item 10: the server down → "connection refused" and "is the server running?". (Multi-thread:
/// the emulator serves while the test waits for the binary.)
#[tokio::test(flavor = "multi_thread")]
async fn auth_test_against_a_server_that_is_down_says_connection_refused() {
    let emu = pmcp_entra_emulator::Emulator::start(
        {
            let mut c = pmcp_entra_emulator::EmulatorConfig::default();
            c.set_default_secret(&pmcp_auth::SecretString::new("s"));
            c
        },
        0,
    )
    .await
    .unwrap();
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let t = TestDir::new();
    let out = t
        .cmd()
        .args(["auth", "test", "--server-url"])
        .arg(format!("http://127.0.0.1:{port}/mcp"))
        .args([
            "--tenant-id",
            &emu.tenant_id(),
            "--client-id",
            &emu.client_id(),
        ])
        .args(["--authority-host", &emu.authority_host()])
        .env("ENTRA_CLIENT_SECRET", "s")
        .output()
        .unwrap();
    let text = all_output(&out);
    assert_eq!(out.status.code(), Some(6), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("connection refused"),
        "{text}"
    );
    assert!(text.contains("is the server running?"), "{text}");

    // The emulator down → "is the emulator running?", not proxies.
    let authority = emu.authority_host();
    emu.shutdown().await;
    let out = t
        .cmd()
        .args(["auth", "test", "--tenant-id", TENANT, "--client-id", CLIENT])
        .args(["--authority-host", &authority])
        .env("ENTRA_CLIENT_SECRET", "s")
        .output()
        .unwrap();
    let text = all_output(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("is the emulator running?"), "{text}");
    assert!(!text.contains("proxy"), "{text}");
}

/// Item 4: `auth emulator --json` on a busy port is the one failure document.
#[test]
fn emulator_on_a_busy_port_prints_the_failure_document() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let t = TestDir::new();
    for args in [
        vec!["auth", "emulator", "--json", "--port", &port],
        vec!["dev", "--json", "--emulator-port", &port],
    ] {
        if args[0] == "dev" {
            t.cargo_package("busy");
        }
        let out = t.cmd().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", all_output(&out));
        let doc: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", all_output(&out)));
        assert_eq!(doc["ok"], false);
        assert_eq!(doc["exit_code"], 2);
        assert!(
            doc["error"]["message"].as_str().unwrap().contains(&port),
            "{doc}"
        );
    }
    drop(busy);
}
