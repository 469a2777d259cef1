//! The official MCP TypeScript SDK client (`tests/js`, `@modelcontextprotocol/sdk` pinned in its
//! package-lock.json) signs in through the bridge and calls tools: `node tests/js/bridge-sdk.mjs`.
//!
//! Needs `node` and `npm ci --prefix tests/js` (`.ci/run` does it). Without them the test says so
//! and passes on a developer machine; under `CI` it fails.

use std::time::Duration;

use serde_json::Value;

use crate::support::{js_dir, typescript_sdk_available as sdk_available};

async fn run_sdk(server_url: &str, mode: &str) -> Value {
    let out = tokio::time::timeout(
        Duration::from_secs(90),
        tokio::process::Command::new("node")
            .arg(js_dir().join("bridge-sdk.mjs"))
            .arg(server_url)
            .arg(mode)
            .current_dir(js_dir())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the SDK client finished within 90 s")
    .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "node bridge-sdk.mjs {mode} failed:\nstdout: {stdout}\nstderr: {stderr}"
    );
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\n{stderr}"))
}

fn check(result: &Value) {
    assert_eq!(result["client_id_sealed"], true, "{result}");
    let tools: Vec<&str> = result["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        tools.contains(&"whoami") && tools.contains(&"admin_status"),
        "{result}"
    );
    assert_eq!(
        result["whoami"]["email"], "alice@contoso.onmicrosoft.com",
        "{result}"
    );
    assert_eq!(result["refreshed"], true, "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_sdk_signs_in_as_an_inspector_like_client() {
    if !sdk_available() {
        return;
    }
    let s = super::start(None).await;
    check(&run_sdk(&format!("{}/mcp", s.origin), "inspector").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_sdk_signs_in_as_a_claude_like_client() {
    if !sdk_available() {
        return;
    }
    let s = super::start(None).await;
    check(&run_sdk(&format!("{}/mcp", s.origin), "claude").await);
}
