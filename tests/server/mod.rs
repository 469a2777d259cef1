//! The tower layer in front of the example MCP server, on 127.0.0.1, with tokens from the Entra
//! emulator obtained over its real protocol: what an MCP client sees (statuses, `WWW-Authenticate`,
//! RFC 9728 metadata, JSON bodies) for every kind of caller.
//!
//! The server is the quickstart's (`examples/rmcp-server`: rmcp's streamable HTTP service behind
//! the layer) with the layer each test configures through the library API
//! (`rmcp_example_server::app(layer, name)`), so these prove what clients of a deployed server
//! see, tool calls included. Tests about the layer alone (identity headers, the rejection hook)
//! put it in front of a one-route router of their own instead.

mod js_client;
mod lambda_runtime;
mod pmcp_server;
mod rmcp_server;
pub mod tokens;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use pmcp_auth::middleware::AuthLayer;
use pmcp_auth::{AuthContext, EntraConfig, SecretString};
use pmcp_entra_emulator::{
    DEFAULT_CLIENT_APP_ID, DEFAULT_TENANT_DOMAIN, Emulator, EmulatorConfig, RunningEmulator,
    SECOND_TENANT_ID,
};
use rmcp_example_server::app;
use serde_json::{Value, json};
use tokens::TEST_CLIENT_SECRET;

/// An emulator and the example server behind the layer, both on 127.0.0.1 port 0.
struct Fixture {
    emu: RunningEmulator,
    base: String,
    http: reqwest::Client,
}

impl Fixture {
    async fn start(config: EmulatorConfig) -> Self {
        let mut config = config;
        config.set_default_secret(&SecretString::new(TEST_CLIENT_SECRET));
        let emu = Emulator::start(config, 0).await.expect("emulator starts");
        let layer = AuthLayer::entra(&entra_config(&emu)).resource_name("test-server");
        let base = serve(app(layer, "test-server")).await;
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
        self.app_token_from(&self.emu.tenant_id()).await
    }

    async fn app_token_from(&self, tenant: &str) -> String {
        let client_id = self.emu.client_id();
        tokens::client_credentials(
            &self.emu.authority_host(),
            tenant,
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

    /// POST a JSON-RPC message to /mcp with an optional Authorization value.
    async fn rpc(&self, authorization: Option<&str>, message: Value) -> reqwest::Response {
        let mut req = self
            .http
            .post(self.mcp())
            .header("accept", "application/json, text/event-stream")
            .json(&message);
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        req.send().await.expect("request")
    }
}

fn entra_config(emu: &RunningEmulator) -> EntraConfig {
    EntraConfig::new(emu.tenant_id(), emu.client_id()).with_authority_host(&emu.authority_host())
}

/// Serve `router` on 127.0.0.1:0 for the rest of the test; returns `http://127.0.0.1:<port>`.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    format!("http://{addr}")
}

fn call(name: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": name, "arguments": {}}})
}

fn www_authenticate(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("www-authenticate")
        .expect("WWW-Authenticate header")
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn metadata_names_the_tenant_issuer_at_both_well_known_paths() {
    let f = Fixture::start(EmulatorConfig::default()).await;
    let issuer = format!("{}/{}/v2.0", f.emu.authority_host(), f.emu.tenant_id());

    let suffixed: Value = f
        .http
        .get(format!(
            "{}/.well-known/oauth-protected-resource/mcp",
            f.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        suffixed,
        json!({
            "resource": format!("{}/mcp", f.base),
            "authorization_servers": [issuer],
            "scopes_supported": [format!("api://{}/.default", f.emu.client_id())],
            "bearer_methods_supported": ["header"],
            "resource_name": "test-server",
        })
    );

    let root = f
        .http
        .get(format!("{}/.well-known/oauth-protected-resource", f.base))
        .send()
        .await
        .unwrap();
    assert_eq!(root.status(), 200);
    assert_eq!(root.headers()["content-type"], "application/json");
    let root: Value = root.json().await.unwrap();
    assert_eq!(root["resource"], f.base.as_str());
    assert_eq!(root["authorization_servers"], json!([issuer]));

    // The issuer advertised is the one the emulator's discovery document states.
    let discovery: Value = f
        .http
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], issuer.as_str());

    let other = f
        .http
        .get(format!(
            "{}/.well-known/oauth-protected-resource/admin",
            f.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    let post = f
        .http
        .post(format!("{}/.well-known/oauth-protected-resource", f.base))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
}

#[tokio::test]
async fn no_token_gets_a_plain_challenge_pointing_at_the_metadata() {
    let f = Fixture::start(EmulatorConfig::default()).await;
    let expected = format!(
        "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
        f.base
    );
    for auth in [None, Some("Basic dXNlcjpwYXNz")] {
        let resp = f
            .rpc(
                auth,
                json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
            )
            .await;
        assert_eq!(resp.status(), 401, "{auth:?}");
        assert_eq!(www_authenticate(&resp), expected, "{auth:?}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized");
    }
    // The metadata URL in the challenge answers.
    let url = format!("{}/.well-known/oauth-protected-resource/mcp", f.base);
    assert_eq!(f.http.get(url).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_bad_token_is_invalid_token_and_never_echoed() {
    let f = Fixture::start(EmulatorConfig::default()).await;
    let good = f.app_token().await;
    // Same header and claims, signature of another token: a forgery.
    let mut parts: Vec<&str> = good.split('.').collect();
    let forged_sig =
        "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3ODk";
    parts[2] = forged_sig;
    let forged = parts.join(".");
    for (token, code) in [
        ("not-a-jwt".to_string(), "malformed"),
        (forged.clone(), "invalid_signature"),
    ] {
        let resp = f
            .rpc(
                Some(&format!("Bearer {token}")),
                json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
            )
            .await;
        assert_eq!(resp.status(), 401, "{code}");
        let challenge = www_authenticate(&resp);
        assert!(
            challenge.starts_with(&format!(
                "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\", error=\"invalid_token\", error_description=\"",
                f.base
            )),
            "{challenge}"
        );
        let body = resp.text().await.unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"], "invalid_token");
        assert_eq!(v["code"], code, "{body}");
        // What is wrong with the token, never advice to run a command.
        assert!(v.get("hint").is_none(), "{body}");
        assert!(
            !body.contains("cargo pmcp") && !body.contains("deploy.toml"),
            "{body}"
        );
        for piece in token.split('.').filter(|p| p.len() >= 16) {
            assert!(!body.contains(piece), "body echoes the token: {body}");
            assert!(!challenge.contains(piece), "header echoes the token");
        }
    }
}

#[tokio::test]
async fn an_app_token_reaches_the_tool_and_sees_its_identity() {
    let f = Fixture::start(EmulatorConfig::default()).await;
    let token = f.app_token().await;
    let bearer = format!("Bearer {token}");

    let init = f
        .rpc(
            Some(&bearer),
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "tests", "version": "1"}}}),
        )
        .await;
    assert_eq!(init.status(), 200);
    let init: Value = init.json().await.unwrap();
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");

    let resp = f.rpc(Some(&bearer), call("whoami")).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    let who = &v["result"]["structuredContent"];
    assert_eq!(who["authenticated"], true);
    assert_eq!(who["tenant_id"], f.emu.tenant_id().as_str());
    assert_eq!(who["app_id"], f.emu.client_id().as_str());
    assert_eq!(who["roles"], json!(["MCP.Service"]));
    assert!(
        who["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("execute:tools")),
        "{who}"
    );
}

#[tokio::test]
async fn a_caller_without_the_admin_permission_gets_403_insufficient_scope() {
    let f = Fixture::start(EmulatorConfig::default()).await;
    let app = f.app_token().await;
    let alice = f.user_token("alice").await;
    for (who, token) in [("app", app), ("alice", alice)] {
        let resp = f
            .rpc(Some(&format!("Bearer {token}")), call("admin_status"))
            .await;
        assert_eq!(resp.status(), 403, "{who}");
        let challenge = www_authenticate(&resp);
        assert!(
            challenge.starts_with(&format!(
                "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\", error=\"insufficient_scope\"",
                f.base
            )),
            "{challenge}"
        );
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "insufficient_scope");
        assert_eq!(body["required_permission"], "admin:*");
    }
}

#[tokio::test]
async fn users_get_what_their_roles_grant() {
    let f = Fixture::start(EmulatorConfig::default()).await;
    let alice = format!("Bearer {}", f.user_token("alice").await);
    let v: Value = f
        .rpc(Some(&alice), call("whoami"))
        .await
        .json()
        .await
        .unwrap();
    let who = &v["result"]["structuredContent"];
    assert_eq!(who["email"], format!("alice@{DEFAULT_TENANT_DOMAIN}"));
    assert_eq!(who["roles"], json!(["MCP.User"]));

    let admin = format!("Bearer {}", f.user_token("admin").await);
    let resp = f.rpc(Some(&admin), call("admin_status")).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["result"]["structuredContent"]["name"], "test-server");
}

#[tokio::test]
async fn a_token_from_another_tenant_is_rejected() {
    let f = Fixture::start(EmulatorConfig::with_second_tenant()).await;
    let foreign = f.app_token_from(SECOND_TENANT_ID).await;
    let resp = f
        .rpc(Some(&format!("Bearer {foreign}")), call("whoami"))
        .await;
    assert_eq!(resp.status(), 401);
    assert!(www_authenticate(&resp).contains("error=\"invalid_token\""));
    let body: Value = resp.json().await.unwrap();
    // One emulator signs both tenants with the same keys, as Entra does: the refusal is the tenant
    // rule, never an unknown key.
    assert!(
        ["wrong_issuer", "wrong_tenant"].contains(&body["code"].as_str().unwrap()),
        "{body}"
    );
    // The home tenant's token still works.
    let home = f.app_token().await;
    let resp = f.rpc(Some(&format!("Bearer {home}")), call("whoami")).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn health_is_public_and_two_authorization_headers_are_refused() {
    let f = Fixture::start(EmulatorConfig::default()).await;
    let health = f
        .http
        .get(format!("{}/health", f.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let token = f.app_token().await;
    let resp = f
        .http
        .post(f.mcp())
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", "Bearer other.token.value")
        .json(&call("whoami"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(www_authenticate(&resp).contains("error=\"invalid_request\""));
}

/// A handler that reports which identity headers reached it, behind the layer.
async fn echo_identity_headers(
    ctx: AuthContext,
    headers: axum::http::HeaderMap,
) -> axum::Json<Value> {
    let forwarded: Vec<String> = headers
        .keys()
        .map(|k| k.as_str().to_string())
        .filter(|k| {
            k.starts_with("x-ms-") || k.starts_with("x-forwarded-user") || k == "remote-user"
        })
        .collect();
    axum::Json(json!({"user_id": ctx.user_id, "identity_headers": forwarded}))
}

#[tokio::test]
async fn identity_headers_from_the_client_are_never_trusted() {
    let mut config = EmulatorConfig::default();
    config.set_default_secret(&SecretString::new(TEST_CLIENT_SECRET));
    let emu = Emulator::start(config, 0).await.unwrap();
    let router = Router::new()
        .route("/whoami", get(echo_identity_headers))
        .layer(AuthLayer::entra(&entra_config(&emu)));
    let base = serve(router).await;
    let http = reqwest::Client::new();

    // Headers alone never authenticate.
    let resp = http
        .get(format!("{base}/whoami"))
        .header("x-ms-client-principal-name", "admin@contoso.com")
        .header(
            "x-ms-client-principal-id",
            "00000000-0000-0000-0000-000000000001",
        )
        .header("x-forwarded-user", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // With a real token, the forged headers are gone before the handler runs.
    let token = tokens::client_credentials(
        &emu.authority_host(),
        &emu.tenant_id(),
        &emu.client_id(),
        TEST_CLIENT_SECRET,
        &format!("api://{}/.default", emu.client_id()),
    )
    .await
    .unwrap();
    let resp = http
        .get(format!("{base}/whoami"))
        .bearer_auth(&token)
        .header("x-ms-client-principal-name", "admin@contoso.com")
        .header("x-forwarded-user", "admin")
        .header("remote-user", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["identity_headers"], json!([]));
    assert_ne!(v["user_id"], "admin");
    // Without `.resource_path`, the challenge points at the root metadata.
    let resp = http.get(format!("{base}/whoami")).send().await.unwrap();
    assert_eq!(
        www_authenticate(&resp),
        format!("Bearer resource_metadata=\"{base}/.well-known/oauth-protected-resource\"")
    );
}

#[tokio::test]
async fn an_unreachable_issuer_is_503_never_a_pass() {
    // A port that nothing listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let entra = EntraConfig::new(
        "9c9d4a3e-5e26-4d1c-9f0b-2f3c8e1d7a01",
        "6f1e2d3c-4b5a-4987-8c6d-5e4f3a2b1c03",
    )
    .with_authority_host(&format!("http://127.0.0.1:{closed}"));
    let base = serve(app(AuthLayer::entra(&entra), "t")).await;
    // A well-formed RS256 token with a kid (never checked: the keys cannot be fetched).
    let token = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0.c2ln";
    let resp = reqwest::Client::new()
        .post(format!("{base}/mcp"))
        .bearer_auth(token)
        .json(&call("whoami"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "5");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
}

#[tokio::test]
async fn refusals_are_reported_to_the_hook_without_the_token() {
    let mut config = EmulatorConfig::default();
    config.set_default_secret(&SecretString::new(TEST_CLIENT_SECRET));
    let emu = Emulator::start(config, 0).await.unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let layer = AuthLayer::entra(&entra_config(&emu))
        .on_rejection(move |r| sink.lock().unwrap().push(r.clone()));
    let base = serve(
        Router::new()
            .route("/x", get(|| async { "ok" }))
            .layer(layer),
    )
    .await;
    let http = reqwest::Client::new();
    let token = tokens::client_credentials(
        &emu.authority_host(),
        &emu.tenant_id(),
        &emu.client_id(),
        TEST_CLIENT_SECRET,
        &format!("api://{}/.default", emu.client_id()),
    )
    .await
    .unwrap();
    // Tamper with the payload: the signature no longer matches.
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    parts[1].insert_str(0, "eyJ4IjoxfQ");
    let tampered = parts.join(".");

    assert_eq!(
        http.get(format!("{base}/x")).send().await.unwrap().status(),
        401
    );
    let resp = http
        .get(format!("{base}/x"))
        .bearer_auth(&tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        http.get(format!("{base}/x"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].code, "missing_token");
    assert_eq!(seen[0].status, 401);
    assert_eq!(seen[0].path, "/x");
    assert_eq!(seen[0].token_fingerprint, None);
    assert_ne!(seen[1].code, "missing_token");
    assert_eq!(
        seen[1].token_fingerprint,
        Some(SecretString::new(tampered.clone()).fingerprint())
    );
    let debug = format!("{seen:?}");
    for piece in tampered.split('.').filter(|p| p.len() >= 16) {
        assert!(!debug.contains(piece), "the hook saw the token");
    }
}

#[tokio::test]
async fn a_generic_oidc_provider_works_through_the_same_layer() {
    let mut config = EmulatorConfig::default();
    config.set_default_secret(&SecretString::new(TEST_CLIENT_SECRET));
    let emu = Emulator::start(config, 0).await.unwrap();
    let issuer = format!("{}/{}/v2.0", emu.authority_host(), emu.tenant_id());
    let layer = AuthLayer::oidc(
        pmcp_auth::JwtValidatorConfig::from_oidc_issuer(&issuer, &emu.client_id()),
        &issuer,
    )
    .scopes_supported(vec!["openid".into()]);
    let base = serve(app(layer, "oidc")).await;
    let http = reqwest::Client::new();

    let md: Value = http
        .get(format!("{base}/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(md["authorization_servers"], json!([issuer]));
    assert_eq!(md["scopes_supported"], json!(["openid"]));

    let token = tokens::client_credentials(
        &emu.authority_host(),
        &emu.tenant_id(),
        &emu.client_id(),
        TEST_CLIENT_SECRET,
        &format!("api://{}/.default", emu.client_id()),
    )
    .await
    .unwrap();
    let resp = http
        .post(format!("{base}/mcp"))
        .bearer_auth(&token)
        .header("accept", "application/json, text/event-stream")
        .json(&call("whoami"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    let who = &v["result"]["structuredContent"];
    assert_eq!(who["app_id"], emu.client_id().as_str());
    assert_eq!(who["roles"], json!(["MCP.Service"]));
    // Roles map to permissions for generic providers too; the admin tool stays closed.
    let resp = http
        .post(format!("{base}/mcp"))
        .bearer_auth(&token)
        .json(&call("admin_status"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    // A token signed with a key the issuer does not publish is refused by the generic path too.
    let resp = http
        .post(format!("{base}/mcp"))
        .bearer_auth("eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ4In0.c2ln")
        .json(&call("whoami"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}
