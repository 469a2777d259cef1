//! The whole story with the built `cargo-pmcp` binary, as the README quickstart tells it: start the
//! emulator; `deploy init --oauth entra` pointed at it; `deploy --target local` of the example MCP
//! server (`examples/rmcp-server`, the quickstart's); `auth test --server-url … --expect-role
//! MCP.Service`; a wrong-tenant token → 401; a user without the admin role calling the admin tool
//! → 403; `deploy destroy --target local`.
//!
//! The example server is built by `deploy` into `target/e2e` (its own target dir, so the build never
//! waits on the outer cargo lock and is reused between runs) with the dev profile. Every process the
//! test starts (the emulator, the deployed server) is killed when the test ends, pass or fail.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::server::tokens;
use crate::support::{SCRUBBED_ENV, TestDir, all_output};

const SECRET: &str = "e2e-client-secret-value-7";
/// The wrong tenant's directory id (any GUID other than the first emulator's).
const OTHER_TENANT: &str = "4b7f2c1a-8d3e-4f6a-b2c9-1e0d5a7c3b02";

/// What `cargo pmcp auth emulator --json` prints when ready.
struct Emulator {
    child: Child,
    authority_host: String,
    tenant_id: String,
    client_id: String,
}

/// Kills what the test started, pass or fail.
struct Reaper {
    emulators: Vec<Child>,
    project: PathBuf,
}

impl Drop for Reaper {
    fn drop(&mut self) {
        for child in &mut self.emulators {
            let _ = child.kill();
            let _ = child.wait();
        }
        // The locally deployed server, if `deploy destroy` did not run or failed.
        let state = self.project.join(".pmcp/local/state.json");
        if let Ok(text) = std::fs::read_to_string(state)
            && let Ok(v) = serde_json::from_str::<Value>(&text)
            && let Some(pid) = v["pid"].as_u64()
        {
            for target in [format!("-{pid}"), pid.to_string()] {
                let _ = Command::new("kill").args(["-KILL", &target]).output();
            }
        }
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The built binary, CI-like, as a std `Command` (for long-running children).
fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-pmcp"));
    for name in SCRUBBED_ENV {
        cmd.env_remove(name);
    }
    cmd.env("CI", "true").env("NO_COLOR", "1");
    cmd
}

fn start_emulator(extra: &[&str]) -> Emulator {
    let mut child = bin()
        .args(["auth", "emulator", "--json", "--port", "0"])
        .args(extra)
        .env("ENTRA_CLIENT_SECRET", SECRET)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the emulator");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("emulator stdout");
    if line.trim().is_empty() {
        let mut err = String::new();
        let _ = child.stderr.take().unwrap().read_to_string(&mut err);
        panic!("the emulator printed no ready line; stderr:\n{err}");
    }
    let ready: Value = serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("ready line is not JSON ({e}): {line}"));
    let s = |k: &str| ready[k].as_str().expect(k).to_string();
    Emulator {
        authority_host: s("authority_host"),
        tenant_id: s("tenant_id"),
        client_id: s("client_id"),
        child,
    }
}

/// A cargo package that is the example server (`fn main` calls the example's `run`), in its own
/// workspace, with the repository's lock file so it builds with the same versions.
fn write_project(dir: &TestDir) {
    let example = repo().join("examples/rmcp-server");
    let example = example.to_string_lossy().replace('\\', "/");
    dir.write(
        "Cargo.toml",
        &format!(
            "[package]\nname = \"e2e-mcp-server\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n[workspace]\n\n[dependencies]\nrmcp-example-server = {{ path = \"{example}\" }}\n"
        ),
    );
    dir.write(
        "src/main.rs",
        "fn main() -> std::process::ExitCode {\n    rmcp_example_server::run()\n}\n",
    );
    std::fs::copy(repo().join("Cargo.lock"), dir.join("Cargo.lock")).expect("copy Cargo.lock");
}

fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = bin();
    cmd.current_dir(dir).args(args).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run cargo-pmcp")
}

fn call(name: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": name, "arguments": {}}})
}

async fn post(url: &str, token: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(body)
        .send()
        .await
        .expect("request to the deployed server")
}

#[tokio::test]
async fn emulator_init_deploy_auth_test_then_destroy() {
    let dir = TestDir::new();
    write_project(&dir);
    // Two tenants in one emulator, signed with one key set, as Entra signs every tenant.
    let home = start_emulator(&["--add-tenant", OTHER_TENANT]);
    let (authority, tenant, client) = (
        home.authority_host.clone(),
        home.tenant_id.clone(),
        home.client_id.clone(),
    );
    let _reaper = Reaper {
        emulators: vec![home.child],
        project: dir.path().to_path_buf(),
    };

    // 1. deploy init, pointed at the emulator.
    let out = run(
        dir.path(),
        &[
            "deploy",
            "init",
            "--target",
            "local",
            "--oauth",
            "entra",
            "--tenant-id",
            &tenant,
            "--client-id",
            &client,
            "--authority-host",
            &authority,
            "--yes",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    let toml = dir.read(".pmcp/deploy.toml");
    assert!(
        toml.contains(&tenant) && toml.contains(&authority),
        "{toml}"
    );

    // 2. deploy --target local (dev profile, its own target dir).
    let target_dir = repo().join("target/e2e");
    let out = run(
        dir.path(),
        &[
            "deploy",
            "--target",
            "local",
            "--target-dir",
            &target_dir.to_string_lossy(),
            "--profile",
            "dev",
            "--wait-timeout",
            "60s",
            "--json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    let deployed: Value = serde_json::from_slice(&out.stdout).expect("deploy --json");
    let url = deployed["url"].as_str().expect("url").to_string();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/mcp"),
        "{url}"
    );

    // 3. auth test against the deployed server: token, validator, expectations, server checks.
    let out = run(
        dir.path(),
        &[
            "auth",
            "test",
            "--server-url",
            &url,
            "--expect-role",
            "MCP.Service",
            "--json",
        ],
        &[("ENTRA_CLIENT_SECRET", SECRET)],
    );
    let text = all_output(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!text.contains(SECRET), "the secret leaked into the output");
    let report: Value = serde_json::from_slice(&out.stdout).expect("auth test --json");
    assert_eq!(report["ok"], true, "{report}");
    let checks = report["checks"].as_array().expect("checks");
    assert!(
        checks
            .iter()
            .filter(|c| c["name"].as_str().is_some_and(|n| n.starts_with("server")))
            .count()
            >= 3,
        "{report}"
    );
    assert!(checks.iter().all(|c| c["ok"] == true), "{report}");
    // deploy init enables [auth.dcr]: the metadata names the server's own OAuth bridge, which
    // auth test checked from outside (exact RFC 8414 issuer, an unlisted client refused).
    let prm = checks
        .iter()
        .find(|c| c["name"] == "server: protected resource metadata")
        .expect("the metadata check");
    assert!(
        prm["detail"]
            .as_str()
            .is_some_and(|d| d.contains("OAuth bridge")),
        "{report}"
    );

    // 4. A token from another tenant (same keys, another issuer) → 401 invalid_token, refused for
    //    its tenant, not for its key.
    let wrong = tokens::client_credentials(
        &authority,
        OTHER_TENANT,
        &client,
        SECRET,
        &format!("api://{client}/.default"),
    )
    .await
    .expect("token from the other tenant");
    let resp = post(&url, &wrong, &call("whoami")).await;
    assert_eq!(resp.status(), 401);
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.contains("resource_metadata=\"") && challenge.contains("error=\"invalid_token\""),
        "{challenge}"
    );
    let body: Value = resp.json().await.expect("a JSON error body");
    assert!(
        ["wrong_issuer", "wrong_tenant"].contains(&body["code"].as_str().unwrap_or_default()),
        "refused for the wrong reason: {body}"
    );

    // 5. A user without the admin role: whoami works, the admin tool is 403 insufficient_scope.
    let scope = format!("api://{client}/access_as_user");
    let alice = tokens::device_code_user_token(
        &authority,
        &tenant,
        pmcp_entra_emulator::DEFAULT_CLIENT_APP_ID,
        &scope,
        &format!("alice@{}", pmcp_entra_emulator::DEFAULT_TENANT_DOMAIN),
    )
    .await
    .expect("alice's token");
    let resp = post(&url, &alice, &call("whoami")).await;
    assert_eq!(resp.status(), 200);
    let who: Value = resp.json().await.unwrap();
    assert_eq!(
        who["result"]["structuredContent"]["roles"],
        json!(["MCP.User"])
    );
    let resp = post(&url, &alice, &call("admin_status")).await;
    assert_eq!(resp.status(), 403);
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    // …and a user with it gets the tool.
    let admin = tokens::device_code_user_token(
        &authority,
        &tenant,
        pmcp_entra_emulator::DEFAULT_CLIENT_APP_ID,
        &scope,
        &format!("admin@{}", pmcp_entra_emulator::DEFAULT_TENANT_DOMAIN),
    )
    .await
    .expect("admin's token");
    let resp = post(&url, &admin, &call("admin_status")).await;
    assert_eq!(resp.status(), 200);

    // 6. The built server fails closed at start-up on an unknown provider.
    let server = target_dir
        .join("debug")
        .join(format!("e2e-mcp-server{}", std::env::consts::EXE_SUFFIX));
    assert!(server.exists(), "deploy built no {}", server.display());
    let out = Command::new(&server)
        .env("AUTH_PROVIDER", "entr")
        .env("ENTRA_TENANT_ID", &tenant)
        .env("ENTRA_CLIENT_ID", &client)
        .env("PORT", "0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", all_output(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("AUTH_PROVIDER is `entr`"),
        "{}",
        all_output(&out)
    );

    // 7. deploy destroy: the server is gone.
    let out = run(dir.path(), &["deploy", "destroy", "--target", "local"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    let gone = reqwest::Client::new()
        .get(url.replace("/mcp", "/health"))
        .send()
        .await;
    assert!(gone.is_err(), "the server still answers after destroy");
}
