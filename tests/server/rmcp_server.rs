//! The rmcp example server (`examples/rmcp-server`: rmcp's streamable HTTP service mounted with
//! `pmcp_auth::rmcp::McpRouter`), built from the same environment the binary reads, served on
//! 127.0.0.1 and driven over HTTP with tokens from the Entra emulator. The last test serves the
//! example's handler with rmcp's SSE answers instead, for `auth test`'s SSE reading.

use base64::Engine;
use pmcp_auth::SecretString;
use pmcp_entra_emulator::{
    DEFAULT_CLIENT_APP_ID, DEFAULT_TENANT_DOMAIN, Emulator, EmulatorConfig, RunningEmulator,
};
use serde_json::{Value, json};

use super::tokens::{self, TEST_CLIENT_SECRET};
use super::{call, serve, www_authenticate};

/// The protocol revision these requests speak (one rmcp and the emulator-era clients share).
const VERSION: &str = "2025-06-18";

struct Server {
    emu: RunningEmulator,
    base: String,
    http: reqwest::Client,
}

impl Server {
    async fn start() -> Self {
        let mut config = EmulatorConfig::default();
        config.set_default_secret(&SecretString::new(TEST_CLIENT_SECRET));
        let emu = Emulator::start(config, 0).await.expect("emulator starts");
        // The variables `cargo pmcp deploy` sets on a server, read as the binary reads them.
        let vars = [
            ("AUTH_PROVIDER", "entra".to_string()),
            ("ENTRA_TENANT_ID", emu.tenant_id()),
            ("ENTRA_CLIENT_ID", emu.client_id()),
            ("ENTRA_AUTHORITY_HOST", emu.authority_host()),
            ("MCP_SERVER_NAME", "rmcp-test-server".to_string()),
        ];
        let app = rmcp_example_server::app_from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        })
        .expect("the example server accepts the deployment's environment");
        let base = serve(app).await;
        Self {
            emu,
            base,
            http: reqwest::Client::new(),
        }
    }

    fn mcp(&self) -> String {
        format!("{}/mcp", self.base)
    }

    async fn app_token(&self) -> String {
        let client_id = self.emu.client_id();
        tokens::client_credentials(
            &self.emu.authority_host(),
            &self.emu.tenant_id(),
            &client_id,
            TEST_CLIENT_SECRET,
            &format!("api://{client_id}/.default"),
        )
        .await
        .expect("client credentials token")
    }

    async fn user_token(&self, user: &str) -> String {
        tokens::device_code_user_token(
            &self.emu.authority_host(),
            &self.emu.tenant_id(),
            DEFAULT_CLIENT_APP_ID,
            &format!("api://{}/access_as_user", self.emu.client_id()),
            &format!("{user}@{DEFAULT_TENANT_DOMAIN}"),
        )
        .await
        .expect("device code token")
    }

    /// POST one JSON-RPC message as an MCP client does (both media types accepted, the negotiated
    /// version in `MCP-Protocol-Version` after `initialize`), with extra headers.
    async fn rpc(
        &self,
        token: Option<&str>,
        message: Value,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self
            .http
            .post(self.mcp())
            .header("accept", "application/json, text/event-stream")
            .json(&message);
        if message["method"] != "initialize" {
            req = req.header("mcp-protocol-version", VERSION);
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.expect("request")
    }

    /// A call that must succeed: the JSON-RPC result.
    async fn result(&self, token: &str, message: Value) -> Value {
        let resp = self.rpc(Some(token), message, &[]).await;
        assert_eq!(resp.status(), 200);
        let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        let v: Value = resp.json().await.unwrap();
        assert!(v["error"].is_null(), "{v}");
        v["result"].clone()
    }
}

/// A claim of an access token, as the client could read it.
fn claim(token: &str, name: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice::<Value>(&bytes).unwrap()[name].clone()
}

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "tests", "version": "1"}}})
}

#[tokio::test]
async fn without_a_token_the_client_is_pointed_at_the_metadata() {
    let s = Server::start().await;
    let resp = s.rpc(None, initialize(), &[]).await;
    assert_eq!(resp.status(), 401);
    let metadata_url = format!("{}/.well-known/oauth-protected-resource/mcp", s.base);
    assert_eq!(
        www_authenticate(&resp),
        format!("Bearer resource_metadata=\"{metadata_url}\"")
    );

    let metadata: Value = s
        .http
        .get(&metadata_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata,
        json!({
            "resource": s.mcp(),
            "authorization_servers": [format!("{}/{}/v2.0", s.emu.authority_host(), s.emu.tenant_id())],
            "scopes_supported": [format!("api://{}/.default", s.emu.client_id())],
            "bearer_methods_supported": ["header"],
            "resource_name": "rmcp-test-server",
        })
    );

    let health = s
        .http
        .get(format!("{}/health", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.json::<Value>().await.unwrap()["status"], "ok");
}

#[tokio::test]
async fn initialize_list_and_whoami_answer_with_the_callers_identity() {
    let s = Server::start().await;
    let app = s.app_token().await;

    let init = s.result(&app, initialize()).await;
    assert_eq!(init["protocolVersion"], VERSION);
    assert_eq!(init["serverInfo"]["name"], "rmcp-test-server");
    assert!(init["capabilities"]["tools"].is_object(), "{init}");

    let list = s
        .result(
            &app,
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        )
        .await;
    let mut names: Vec<&str> = list["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["admin_status", "whoami"]);

    // An application: its client id and the MCP.Service role.
    let who = s.result(&app, call("whoami")).await;
    let who = &who["structuredContent"];
    assert_eq!(who["app_id"], s.emu.client_id().as_str());
    assert_eq!(who["tenant_id"], s.emu.tenant_id().as_str());
    assert_eq!(who["roles"], json!(["MCP.Service"]));

    // A user: the token's oid and UPN.
    let alice = s.user_token("alice").await;
    let who = s.result(&alice, call("whoami")).await;
    let who = &who["structuredContent"];
    assert_eq!(who["user_id"], claim(&alice, "oid"));
    assert_eq!(who["email"], format!("alice@{DEFAULT_TENANT_DOMAIN}"));
    assert_eq!(who["roles"], json!(["MCP.User"]));
}

#[tokio::test]
async fn admin_status_is_403_insufficient_scope_without_mcp_admin() {
    let s = Server::start().await;
    let alice = s.user_token("alice").await;
    let scope = format!("api://{}/.default", s.emu.client_id());
    let challenge_start = format!(
        "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\", error=\"insufficient_scope\"",
        s.base
    );
    // Decided from the body (clients before 2026-07-28), and from `Mcp-Method`/`Mcp-Name` (later).
    let header_sets: [&[(&str, &str)]; 2] = [
        &[],
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "admin_status"),
        ],
    ];
    for headers in header_sets {
        let mut req = s
            .http
            .post(s.mcp())
            .bearer_auth(&alice)
            .header("accept", "application/json, text/event-stream")
            .json(&call("admin_status"));
        if headers.is_empty() {
            req = req.header("mcp-protocol-version", VERSION);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 403, "{headers:?}");
        let challenge = www_authenticate(&resp);
        assert!(challenge.starts_with(&challenge_start), "{challenge}");
        assert!(
            challenge.contains(&format!("scope=\"{scope}\"")),
            "{challenge}"
        );
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "insufficient_scope");
        assert_eq!(body["required_permission"], "admin:*");
    }

    // Headers of an older revision are not trusted: the body names the tool.
    let resp = s
        .rpc(
            Some(&alice),
            call("admin_status"),
            &[("mcp-method", "tools/call"), ("mcp-name", "whoami")],
        )
        .await;
    assert_eq!(resp.status(), 403);

    // An application without MCP.Admin is refused too; the admin user is served.
    let app = s.app_token().await;
    let resp = s.rpc(Some(&app), call("admin_status"), &[]).await;
    assert_eq!(resp.status(), 403);
    let admin = s.user_token("admin").await;
    let status = s.result(&admin, call("admin_status")).await;
    assert_eq!(status["structuredContent"]["name"], "rmcp-test-server");
    assert_eq!(status["isError"], false);
}

#[tokio::test]
async fn spoofed_identity_headers_are_ignored() {
    let s = Server::start().await;
    let spoof: &[(&str, &str)] = &[
        ("x-ms-client-principal-name", "admin@contoso.com"),
        (
            "x-ms-client-principal-id",
            "00000000-0000-0000-0000-000000000001",
        ),
        ("x-forwarded-user", "admin"),
        ("x-pmcp-user-id", "admin"),
        ("x-pmcp-user-email", "admin@contoso.com"),
        ("x-pmcp-user-roles", "MCP.Admin"),
    ];
    // Headers alone never authenticate.
    let resp = s.rpc(None, call("whoami"), spoof).await;
    assert_eq!(resp.status(), 401);

    // With a real token the identity is the token's, whatever the headers claim.
    let alice = s.user_token("alice").await;
    let resp = s.rpc(Some(&alice), call("whoami"), spoof).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    let who = &v["result"]["structuredContent"];
    assert_eq!(who["user_id"], claim(&alice, "oid"));
    assert_eq!(who["email"], format!("alice@{DEFAULT_TENANT_DOMAIN}"));
    let resp = s.rpc(Some(&alice), call("admin_status"), spoof).await;
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn cargo_pmcp_auth_test_passes_against_it() {
    use crate::auth_test::{auth_test, code, json, run};
    let s = Server::start().await;
    let dir = crate::support::TestDir::new();
    let mut cmd = auth_test(&s.emu, &dir);
    cmd.env("ENTRA_CLIENT_SECRET", TEST_CLIENT_SECRET)
        .args(["--server-url", &s.mcp(), "--json"]);
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", crate::support::all_output(&out));
    let j = json(&out);
    let checks = j["checks"].as_array().unwrap();
    for name in [
        "server: 401 without token",
        "server: protected resource metadata",
        "server: initialize",
        "server: tools/list",
    ] {
        let c = checks
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no check {name}: {j}"));
        assert_eq!(c["ok"], true, "{c}");
    }
    assert!(checks.iter().all(|c| c["ok"] == true), "{j}");
    // The example answers JSON (McpRouter's setting): the probe read a JSON answer here.
    let init = checks
        .iter()
        .find(|c| c["name"] == "server: initialize")
        .unwrap();
    let detail = init["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("rmcp-test-server") && !detail.contains("(SSE)"),
        "{init}"
    );
}

/// The same handler served by rmcp with its default SSE answers (`McpRouter` always answers JSON):
/// `auth test --server-url` reads a real SDK's `text/event-stream` answers as it reads JSON ones.
#[tokio::test]
async fn cargo_pmcp_auth_test_reads_rmcp_sse_answers_too() {
    use std::sync::Arc;

    use pmcp_auth::AuthLayer;
    use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService,
    };

    use crate::auth_test::{auth_test, code, json, run};

    let mut config = EmulatorConfig::default();
    config.set_default_secret(&SecretString::new(TEST_CLIENT_SECRET));
    let emu = Emulator::start(config, 0).await.expect("emulator starts");
    let server = rmcp_example_server::ExampleServer::new("rmcp-sse-server", json!({}));
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(NeverSessionManager::default()),
        StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(false),
    );
    let layer = AuthLayer::entra(&super::entra_config(&emu)).resource_path("/mcp");
    let base = serve(
        axum::Router::new()
            .route_service("/mcp", service)
            .layer(layer),
    )
    .await;
    let s = Server {
        emu,
        base,
        http: reqwest::Client::new(),
    };

    // The server does answer in SSE.
    let app = s.app_token().await;
    let resp = s.rpc(Some(&app), initialize(), &[]).await;
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let body = resp.text().await.unwrap();
    assert!(body.contains("rmcp-sse-server"), "{body}");

    let dir = crate::support::TestDir::new();
    let mut cmd = auth_test(&s.emu, &dir);
    cmd.env("ENTRA_CLIENT_SECRET", TEST_CLIENT_SECRET)
        .args(["--server-url", &s.mcp(), "--json"]);
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", crate::support::all_output(&out));
    let j = json(&out);
    let checks = j["checks"].as_array().unwrap();
    assert!(checks.iter().all(|c| c["ok"] == true), "{j}");
    let init = checks
        .iter()
        .find(|c| c["name"] == "server: initialize")
        .unwrap_or_else(|| panic!("no initialize check: {j}"));
    let detail = init["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("rmcp-sse-server") && detail.contains("(SSE)"),
        "{init}"
    );
    let list = checks
        .iter()
        .find(|c| c["name"] == "server: tools/list")
        .unwrap_or_else(|| panic!("no tools/list check: {j}"));
    let detail = list["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("whoami") && detail.contains("admin_status"),
        "{list}"
    );
}

/// The layer trusts `Mcp-Method`/`Mcp-Name` from 2026-07-28 on because the SDK refuses a body that
/// contradicts them. Checked here: headers saying `tools/list` or `whoami` over a body calling
/// `admin_status` (for a user the layer would refuse from the body) get the SDK's 400 and never
/// reach a tool. If an SDK upgrade stops checking, this fails and the guard must read the body.
#[tokio::test]
async fn standard_headers_that_contradict_the_body_never_reach_the_tool() {
    let s = Server::start().await;
    let alice = s.user_token("alice").await;
    let lies: [&[(&str, &str)]; 2] = [
        &[("mcp-method", "tools/list")],
        &[("mcp-method", "tools/call"), ("mcp-name", "whoami")],
    ];
    for lie in lies {
        let mut req = s
            .http
            .post(s.mcp())
            .bearer_auth(&alice)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .json(&call("admin_status"));
        for (k, v) in lie {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        assert!(status == 400, "{lie:?}: HTTP {status}, {body}");
        assert!(!body.contains("uptime"), "{lie:?}: {body}");
    }
}
