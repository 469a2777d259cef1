//! The pmcp SDK example server (`examples/pmcp-server`: `with_oauth_from_env()` on pmcp's
//! `ServerBuilder`, its router mounted with `pmcp_auth::pmcp::McpRouter`), built from the same
//! environment the binary reads, served on 127.0.0.1 and driven over HTTP with tokens from the
//! Entra emulator.

use base64::Engine;
use pmcp_auth::SecretString;
use pmcp_entra_emulator::{
    DEFAULT_CLIENT_APP_ID, DEFAULT_TENANT_DOMAIN, Emulator, EmulatorConfig, RunningEmulator,
};
use serde_json::{Value, json};

use super::tokens::{self, TEST_CLIENT_SECRET};
use super::{call, serve, www_authenticate};

/// The protocol revision these requests speak.
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
            ("MCP_SERVER_NAME", "pmcp-test-server".to_string()),
        ];
        let app = pmcp_sdk_example_server::app_from_lookup(|name| {
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

    /// POST a body as an MCP client does (both media types accepted, the negotiated version in
    /// `MCP-Protocol-Version` after `initialize`), with extra headers.
    async fn post(
        &self,
        token: Option<&str>,
        body: String,
        initialize: bool,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self
            .http
            .post(self.mcp())
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(body);
        if !initialize {
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

    async fn rpc(
        &self,
        token: Option<&str>,
        message: Value,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let init = message["method"] == "initialize";
        self.post(token, message.to_string(), init, headers).await
    }

    /// A call that must succeed: the JSON-RPC result.
    async fn result(&self, token: &str, message: Value) -> Value {
        let resp = self.rpc(Some(token), message, &[]).await;
        assert_eq!(resp.status(), 200);
        let v = json_rpc_answer(resp).await;
        assert!(v["error"].is_null(), "{v}");
        v["result"].clone()
    }
}

/// The JSON-RPC message of an answer, whether pmcp sent it as JSON or in an SSE stream.
async fn json_rpc_answer(resp: reqwest::Response) -> Value {
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
    let text = resp.text().await.unwrap();
    if content_type.starts_with("text/event-stream") {
        let data = text
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(str::trim)
            .find(|d| !d.is_empty())
            .unwrap_or_else(|| panic!("no data in the stream: {text}"));
        serde_json::from_str(data).unwrap()
    } else {
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON: {text}"))
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
            "resource_name": "pmcp-test-server",
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
    assert_eq!(init["serverInfo"]["name"], "pmcp-test-server");
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
    assert_eq!(who["user_id"], claim(&app, "oid"));
    assert_eq!(who["app_id"], s.emu.client_id().as_str());
    assert_eq!(who["tenant_id"], s.emu.tenant_id().as_str());
    assert_eq!(who["roles"], json!(["MCP.Service"]));

    // A user: the token's oid and UPN, roles and the permissions they grant.
    let alice = s.user_token("alice").await;
    let who = s.result(&alice, call("whoami")).await;
    let who = &who["structuredContent"];
    assert_eq!(who["user_id"], claim(&alice, "oid"));
    assert_eq!(who["email"], format!("alice@{DEFAULT_TENANT_DOMAIN}"));
    assert_eq!(who["roles"], json!(["MCP.User"]));
    let permissions = who["permissions"].as_array().unwrap();
    assert!(permissions.contains(&json!("execute:tools")), "{who}");
    assert!(!permissions.contains(&json!("admin:*")), "{who}");
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
    let resp = s.rpc(Some(&alice), call("admin_status"), &[]).await;
    assert_eq!(resp.status(), 403);
    let challenge = www_authenticate(&resp);
    assert!(challenge.starts_with(&challenge_start), "{challenge}");
    assert!(
        challenge.contains(&format!("scope=\"{scope}\"")),
        "{challenge}"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_scope");
    assert_eq!(body["required_permission"], "admin:*");

    // The application without MCP.Admin is refused too; the admin user is served.
    let app = s.app_token().await;
    let resp = s.rpc(Some(&app), call("admin_status"), &[]).await;
    assert_eq!(resp.status(), 403);
    let admin = s.user_token("admin").await;
    let status = s.result(&admin, call("admin_status")).await;
    assert_eq!(status["structuredContent"]["name"], "pmcp-test-server");
    assert_ne!(status["isError"], true, "{status}");
}

#[tokio::test]
async fn spoofed_identity_headers_are_ignored() {
    let s = Server::start().await;
    let spoof: &[(&str, &str)] = &[
        ("x-pmcp-user-id", "admin"),
        ("x-pmcp-user-email", "admin@contoso.com"),
        ("x-pmcp-user-name", "Admin"),
        ("x-pmcp-user-groups", "MCP.Admin"),
        ("x-pmcp-tenant-id", "00000000-0000-0000-0000-000000000001"),
        ("x-ms-client-principal-name", "admin@contoso.com"),
        ("x-forwarded-user", "admin"),
    ];
    // Headers alone never authenticate.
    let resp = s.rpc(None, call("whoami"), spoof).await;
    assert_eq!(resp.status(), 401);
    let resp = s.rpc(None, initialize(), spoof).await;
    assert_eq!(resp.status(), 401);

    // With a real token the identity is the token's, whatever the headers claim.
    let alice = s.user_token("alice").await;
    let resp = s.rpc(Some(&alice), call("whoami"), spoof).await;
    assert_eq!(resp.status(), 200);
    let v = json_rpc_answer(resp).await;
    let who = &v["result"]["structuredContent"];
    assert_eq!(who["user_id"], claim(&alice, "oid"));
    assert_ne!(who["user_id"], "admin");
    assert_eq!(who["email"], format!("alice@{DEFAULT_TENANT_DOMAIN}"));
    assert_eq!(who["tenant_id"], s.emu.tenant_id().as_str());
    let resp = s.rpc(Some(&alice), call("admin_status"), spoof).await;
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn malformed_json_rpc_gets_a_json_rpc_error() {
    let s = Server::start().await;
    let app = s.app_token().await;
    // Not JSON at all.
    let resp = s
        .post(Some(&app), "{\"jsonrpc\": \"2.0\", ".into(), false, &[])
        .await;
    let status = resp.status();
    let v = json_rpc_answer(resp).await;
    assert!(status.is_client_error(), "{status}: {v}");
    assert_eq!(v["jsonrpc"], "2.0", "{v}");
    assert_eq!(v["error"]["code"], -32700, "{v}");
    // JSON, but not a request: no method.
    let resp = s
        .post(
            Some(&app),
            json!({"jsonrpc": "2.0", "id": 7, "params": {}}).to_string(),
            false,
            &[],
        )
        .await;
    let v = json_rpc_answer(resp).await;
    assert!(v["error"]["code"].is_i64(), "{v}");
    // An unknown tool and an unknown method: JSON-RPC errors, and the server still answers.
    let v = json_rpc_answer(s.rpc(Some(&app), call("no_such_tool"), &[]).await).await;
    assert!(
        v["error"]["code"].is_i64() || v["result"]["isError"] == true,
        "{v}"
    );
    let v = json_rpc_answer(
        s.rpc(
            Some(&app),
            json!({"jsonrpc": "2.0", "id": 9, "method": "no/such/method"}),
            &[],
        )
        .await,
    )
    .await;
    // pmcp answers an unknown method with a JSON-RPC error (its code is pmcp's choice).
    assert!(v["error"]["code"].is_i64(), "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no/such/method")),
        "{v}"
    );
    let list = s
        .result(
            &app,
            json!({"jsonrpc": "2.0", "id": 10, "method": "tools/list"}),
        )
        .await;
    assert_eq!(list["tools"].as_array().unwrap().len(), 2);
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
}

/// A tool that reports the caller pmcp gives it, if any.
struct EchoCaller;

#[pmcp::async_trait]
impl pmcp::ToolHandler for EchoCaller {
    async fn handle(&self, _args: Value, extra: pmcp::RequestHandlerExtra) -> pmcp::Result<Value> {
        Ok(json!({"caller": extra.auth_context().map(|c| c.subject.clone())}))
    }
}

#[tokio::test]
async fn pmcp_never_sees_asserted_identity_headers_even_on_a_public_path() {
    // pmcp believes `x-pmcp-user-*` when its server has no auth provider. Here the server has
    // none and `/mcp` is public: the layer still removes the headers before pmcp runs.
    let mut config = EmulatorConfig::default();
    config.set_default_secret(&SecretString::new(TEST_CLIENT_SECRET));
    let emu = Emulator::start(config, 0).await.unwrap();
    let layer = pmcp_auth::AuthLayer::entra(&super::entra_config(&emu)).public_path("/mcp");
    let server = pmcp::Server::builder()
        .name("open")
        .version("0")
        .tool("echo", EchoCaller)
        .build()
        .unwrap();
    let base = serve(pmcp_auth::pmcp::McpRouter::new(layer, server).into_router()).await;
    let resp = reqwest::Client::new()
        .post(format!("{base}/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", VERSION)
        .header("x-pmcp-user-id", "admin")
        .header("x-pmcp-user-email", "admin@contoso.com")
        .header("x-pmcp-user-groups", "MCP.Admin")
        .json(&call("echo"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v = json_rpc_answer(resp).await;
    let text = v["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    let echoed: Value = serde_json::from_str(text).unwrap_or_else(|_| panic!("{v}"));
    assert_eq!(echoed, json!({"caller": null}), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_binary_answers_lambda_function_url_events() {
    super::lambda_runtime::answers_function_url_events("pmcp-sdk-example-server").await;
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
