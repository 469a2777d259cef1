//! The official MCP TypeScript SDK client (`tests/js/whoami.mjs`, `@modelcontextprotocol/sdk`
//! pinned in tests/js/package-lock.json) against the example servers, served on 127.0.0.1 with the
//! deployment's environment and a token from the Entra emulator: the real client a host runs, not
//! our own probe.
//!
//! [`check_with_typescript_sdk`] is the whole check for any example server with the same surface
//! (`/mcp`, `whoami` needing `execute:tools`, `admin_status` needing `admin:*`); each example gets
//! one test that serves it and calls it.
//!
//! Needs `node` and `npm ci --prefix tests/js` (`.ci/run` does it); without them the test says so
//! and passes on a developer machine, and fails under `CI`.

use std::time::Duration;

use base64::Engine;
use pmcp_auth::SecretString;
use pmcp_entra_emulator::{
    DEFAULT_CLIENT_APP_ID, DEFAULT_TENANT_DOMAIN, Emulator, EmulatorConfig, RunningEmulator,
};
use serde_json::Value;

use super::serve;
use super::tokens::{self, TEST_CLIENT_SECRET};
use crate::support::{js_dir, typescript_sdk_available};

/// What `node tests/js/whoami.mjs <mcp_url> <tool>` printed (its one JSON line) and whether it
/// exited 0. `token`: sent as `Authorization: Bearer …` (through the environment, never argv).
pub async fn run_sdk_client(mcp_url: &str, token: Option<&str>, tool: &str) -> (bool, Value) {
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(js_dir().join("whoami.mjs"))
        .arg(mcp_url)
        .arg(tool)
        .current_dir(js_dir())
        .env_remove("MCP_BEARER_TOKEN")
        .kill_on_drop(true);
    if let Some(t) = token {
        cmd.env("MCP_BEARER_TOKEN", t);
    }
    let out = tokio::time::timeout(Duration::from_secs(90), cmd.output())
        .await
        .expect("the SDK client finished within 90 s")
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stdout.lines().last().unwrap_or_default();
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| {
        panic!("node whoami.mjs printed no JSON line ({e}):\nstdout: {stdout}\nstderr: {stderr}")
    });
    assert_eq!(
        out.status.success(),
        v["ok"] == true,
        "exit status and report disagree: {v}\nstderr: {stderr}"
    );
    (out.status.success(), v)
}

/// A claim of a JWT's payload, as a client could read it (no verification: the server did that).
pub fn claim(token: &str, name: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url payload");
    serde_json::from_slice::<Value>(&bytes).expect("JSON payload")[name].clone()
}

/// The official TypeScript SDK client against the MCP endpoint `mcp_url`:
/// - without a token, connecting fails and the SDK reports HTTP 401;
/// - with `user_token` (a user with `execute:tools` but not `admin:*`), it initializes, lists
///   `whoami` and `admin_status`, and `whoami` answers with the token's `oid` and UPN (found in
///   the tool's structured or text content, whatever shape the server gives its answer);
/// - `admin_status` with the same token is refused, and the SDK reports HTTP 403.
///
/// Returns `whoami`'s result (the SDK's `CallToolResult`) for server-specific assertions. Callers
/// check [`typescript_sdk_available`] first.
pub async fn check_with_typescript_sdk(mcp_url: &str, user_token: &str) -> Value {
    let (ok, anonymous) = run_sdk_client(mcp_url, None, "whoami").await;
    assert!(!ok, "the SDK connected without a token: {anonymous}");
    assert_eq!(anonymous["step"], "connect", "{anonymous}");
    assert_eq!(anonymous["error"]["code"], 401, "{anonymous}");

    let (ok, v) = run_sdk_client(mcp_url, Some(user_token), "whoami").await;
    assert!(ok, "the SDK client failed with a valid token: {v}");
    assert!(
        v["protocol_version"]
            .as_str()
            .is_some_and(|p| !p.is_empty()),
        "{v}"
    );
    let tools: Vec<&str> = v["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        tools.contains(&"whoami") && tools.contains(&"admin_status"),
        "{v}"
    );
    let result = v["result"].clone();
    assert_ne!(result["isError"], true, "{result}");
    let answer = result.to_string();
    let oid = claim(user_token, "oid");
    let upn = claim(user_token, "upn");
    let upn = if upn.is_string() {
        upn
    } else {
        claim(user_token, "preferred_username")
    };
    for (what, value) in [("oid", &oid), ("UPN", &upn)] {
        let value = value
            .as_str()
            .unwrap_or_else(|| panic!("the token has no {what}"));
        assert!(
            answer.contains(value),
            "whoami's answer lacks the caller's {what} {value}: {result}"
        );
    }

    let (ok, admin) = run_sdk_client(mcp_url, Some(user_token), "admin_status").await;
    assert!(!ok, "admin_status answered a user without admin:*: {admin}");
    assert_eq!(admin["step"], "call", "{admin}");
    assert_eq!(admin["error"]["code"], 403, "{admin}");
    result
}

/// The emulator (client secret set) and a user token for `user` from it (device code, the
/// `access_as_user` scope of the emulator's API app).
async fn emulator_and_user(user: &str) -> (RunningEmulator, String) {
    let mut config = EmulatorConfig::default();
    config.set_default_secret(&SecretString::new(TEST_CLIENT_SECRET));
    let emu = Emulator::start(config, 0).await.expect("emulator starts");
    let token = tokens::device_code_user_token(
        &emu.authority_host(),
        &emu.tenant_id(),
        DEFAULT_CLIENT_APP_ID,
        &format!("api://{}/access_as_user", emu.client_id()),
        &format!("{user}@{DEFAULT_TENANT_DOMAIN}"),
    )
    .await
    .expect("device code token");
    (emu, token)
}

/// The variables `cargo pmcp deploy` sets on a server pointed at `emu`.
fn deploy_vars(emu: &RunningEmulator) -> Vec<(&'static str, String)> {
    vec![
        ("AUTH_PROVIDER", "entra".to_string()),
        ("ENTRA_TENANT_ID", emu.tenant_id()),
        ("ENTRA_CLIENT_ID", emu.client_id()),
        ("ENTRA_AUTHORITY_HOST", emu.authority_host()),
        ("MCP_SERVER_NAME", "sdk-test-server".to_string()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_sdk_calls_whoami_on_the_rmcp_example() {
    if !typescript_sdk_available() {
        return;
    }
    let (emu, alice) = emulator_and_user("alice").await;
    let vars = deploy_vars(&emu);
    let app = rmcp_example_server::app_from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .expect("the example accepts the deployment's environment");
    let base = serve(app).await;

    let result = check_with_typescript_sdk(&format!("{base}/mcp"), &alice).await;
    // The rmcp example's own shape: the identity as structured content.
    let who = &result["structuredContent"];
    assert_eq!(who["user_id"], claim(&alice, "oid"), "{result}");
    assert_eq!(who["email"], format!("alice@{DEFAULT_TENANT_DOMAIN}"));
    assert_eq!(who["roles"], serde_json::json!(["MCP.User"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_sdk_calls_whoami_on_the_pmcp_example() {
    if !typescript_sdk_available() {
        return;
    }
    let (emu, alice) = emulator_and_user("alice").await;
    let vars = deploy_vars(&emu);
    let app = pmcp_sdk_example_server::app_from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .expect("the example accepts the deployment's environment");
    let base = serve(app).await;

    // The same client, paths and tools as against the rmcp example: 401 without a token, whoami
    // with the caller's oid and UPN, admin_status refused with 403.
    let result = check_with_typescript_sdk(&format!("{base}/mcp"), &alice).await;
    let text = result.to_string();
    assert!(
        text.contains(claim(&alice, "oid").as_str().expect("oid")),
        "{result}"
    );
}
