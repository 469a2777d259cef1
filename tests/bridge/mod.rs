//! The OAuth bridge (`AUTH_DCR_ENABLED=true`) driven over real HTTP as MCP clients drive it: the
//! example MCP server on 127.0.0.1 behind `AuthLayer::from_lookup` with the deploy contract's
//! variables, in front of the Entra emulator. A scripted "browser" (reqwest, no automatic
//! redirects, cookies carried by hand) follows each redirect and submits the consent form; the
//! emulator signs the user in without a page (`device_code_auto_approve`).
//!
//! `sdk.rs` runs the same flow with the official MCP TypeScript SDK client.

mod sdk;

use std::collections::HashMap;
use std::sync::Arc;

use pmcp_auth::bridge::BridgeConfig;
use pmcp_auth::middleware::AuthLayer;
use pmcp_auth::{EntraConfig, ManualClock, SecretString};
use pmcp_entra_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use serde_json::{Value, json};

use base64::Engine;
use sha2::Digest;

pub const SECRET: &str = "bridge-test-client-secret-9";
/// 32 bytes, base64 (what `openssl rand -base64 32` prints).
pub const SEALING_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const ALICE: &str = "alice@contoso.onmicrosoft.com";
const API: &str = pmcp_entra_emulator::DEFAULT_API_CLIENT_ID;
const CLAUDE_REDIRECT: &str = "https://claude.ai/api/mcp/auth_callback";

/// The running pieces; dropping it stops the server.
pub struct Setup {
    pub emu: RunningEmulator,
    /// `http://127.0.0.1:PORT`, the bridge's issuer.
    pub origin: String,
    server: tokio::task::JoinHandle<()>,
    pub http: reqwest::Client,
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The deploy contract's variables for the server, as `deploy` writes them.
fn vars(emu: &RunningEmulator) -> HashMap<&'static str, String> {
    HashMap::from([
        ("AUTH_PROVIDER", "entra".to_string()),
        ("ENTRA_TENANT_ID", emu.tenant_id()),
        ("ENTRA_CLIENT_ID", emu.client_id()),
        ("ENTRA_CLIENT_SECRET", SECRET.to_string()),
        ("ENTRA_AUTHORITY_HOST", emu.authority_host()),
        ("AUTH_DCR_ENABLED", "true".to_string()),
        (
            "AUTH_DCR_PUBLIC_CLIENT_PATTERNS",
            "claude,cursor,chatgpt,mcp-inspector".to_string(),
        ),
        ("AUTH_DCR_DEFAULT_SCOPES", "openid profile".to_string()),
        ("AUTH_DCR_SEALING_KEY", SEALING_KEY.to_string()),
        ("AUTH_DCR_CIMD_ALLOW_LOOPBACK", "true".to_string()),
        (
            "AUTH_GROUP_PERMISSIONS",
            format!(
                r#"{{"{}":["execute:tools"]}}"#,
                pmcp_entra_emulator::DEFAULT_GROUP_ENGINEERING
            ),
        ),
    ])
}

/// The emulator (with the bridge's callback registered on the API app, a client secret, and alice
/// signed in) and the example server. `clock`: the bridge's clock (else the system's), set through
/// the library API; without it the layer comes from the environment contract alone.
pub async fn start(clock: Option<ManualClock>) -> Setup {
    start_with(clock, &[]).await
}

/// [`start`] with some variables set otherwise.
pub async fn start_with(clock: Option<ManualClock>, overrides: &[(&'static str, &str)]) -> Setup {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let mut config = EmulatorConfig {
        device_code_auto_approve: Some(ALICE.into()),
        ..EmulatorConfig::default()
    };
    config.set_default_secret(&SecretString::new(SECRET));
    let api = config.tenants[0].app_mut(API).unwrap();
    api.redirect_uris.push(format!("{origin}/oauth/callback"));
    let emu = Emulator::start(config, 0).await.unwrap();
    let mut vars = vars(&emu);
    for (k, v) in overrides {
        vars.insert(k, v.to_string());
    }
    let lookup = |name: &str| vars.get(name).cloned();
    let layer = match clock {
        None => AuthLayer::from_lookup(lookup).unwrap(),
        Some(clock) => {
            let entra = EntraConfig::from_lookup(lookup).unwrap();
            let bridge = BridgeConfig::from_lookup(lookup, &entra)
                .unwrap()
                .clock(Arc::new(clock));
            let mut without = vars.clone();
            without.remove("AUTH_DCR_ENABLED");
            AuthLayer::from_lookup(|n| without.get(n).cloned())
                .unwrap()
                .bridge(bridge)
        }
    };
    assert!(layer.bridge_enabled());
    let app = rmcp_example_server::app(layer, "bridge-test");
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Setup {
        emu,
        origin,
        server,
        http,
    }
}

pub fn pkce() -> (String, String) {
    let verifier = format!(
        "verifier-{}-0123456789abcdefghijklmnopqrstuvwxyz",
        uuid::Uuid::new_v4()
    );
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location on {}", resp.status()))
        .to_str()
        .unwrap()
        .to_string()
}

fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The hidden `txn` field of the consent page.
fn txn_of(html: &str) -> String {
    let start = html.find("name=\"txn\" value=\"").expect("consent form") + 18;
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

impl Setup {
    pub async fn register(&self, body: Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}/register", self.origin))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn register_ok(&self, name: &str, redirect: &str) -> String {
        let (status, body) = self
            .register(json!({"client_name": name, "redirect_uris": [redirect]}))
            .await;
        assert_eq!(status, 201, "{body}");
        body["client_id"].as_str().unwrap().to_string()
    }

    fn authorize_url(
        &self,
        client_id: &str,
        redirect: &str,
        challenge: &str,
        extra: &[(&str, &str)],
    ) -> String {
        let mut u = url::Url::parse(&format!("{}/authorize", self.origin)).unwrap();
        u.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", "client-state-1")
            .append_pair("resource", &format!("{}/mcp", self.origin));
        for (k, v) in extra {
            u.query_pairs_mut().append_pair(k, v);
        }
        u.to_string()
    }

    /// GET /authorize → the consent page's transaction and the browser cookie.
    async fn consent_page(&self, url: &str) -> (String, String) {
        let resp = self.http.get(url).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let cookie = resp
            .headers()
            .get("set-cookie")
            .expect("binding cookie")
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let html = resp.text().await.unwrap();
        (txn_of(&html), cookie)
    }

    async fn approve(&self, txn: &str, cookie: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/authorize", self.origin))
            .header("cookie", cookie)
            .form(&[("txn", txn), ("action", "approve")])
            .send()
            .await
            .unwrap()
    }

    /// The whole browser leg: authorize → consent → Entra (emulator) → callback → the client's
    /// redirect URI, whose URL (never followed) is returned.
    pub async fn sign_in(&self, client_id: &str, redirect: &str, challenge: &str) -> String {
        let (txn, cookie) = self
            .consent_page(&self.authorize_url(client_id, redirect, challenge, &[]))
            .await;
        let resp = self.approve(&txn, &cookie).await;
        assert_eq!(resp.status(), 303);
        let to_entra = location(&resp);
        assert!(
            to_entra.starts_with(&self.emu.authority_host()),
            "{to_entra}"
        );
        let q = query_of(&to_entra);
        assert_eq!(q["client_id"], API);
        assert!(!q.contains_key("resource"), "resource must not reach Entra");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(
            q["scope"],
            format!("api://{API}/access_as_user openid profile offline_access")
        );
        let resp = self.http.get(&to_entra).send().await.unwrap();
        assert_eq!(resp.status(), 302, "{}", resp.text().await.unwrap());
        let callback = location(&resp);
        assert!(callback.starts_with(&format!("{}/oauth/callback?", self.origin)));
        let resp = self
            .http
            .get(&callback)
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 302);
        let back = location(&resp);
        let q = query_of(&back);
        assert_eq!(q["state"], "client-state-1");
        assert_eq!(q["iss"], self.origin);
        back
    }

    pub async fn token(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}/token", self.origin))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        assert_eq!(
            resp.headers().get("cache-control").unwrap(),
            "no-store",
            "token answers are never cached"
        );
        (status, resp.json().await.unwrap())
    }

    pub async fn mcp(&self, token: &str, body: Value) -> (u16, Value, Option<String>) {
        let resp = self
            .http
            .post(format!("{}/mcp", self.origin))
            .bearer_auth(token)
            .header("accept", "application/json, text/event-stream")
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let challenge = resp
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_string());
        (status, resp.json().await.unwrap_or(Value::Null), challenge)
    }
}

/// Redeem the code at the end of `back` with `verifier`.
async fn redeem(
    s: &Setup,
    client_id: &str,
    redirect: &str,
    back: &str,
    verifier: &str,
) -> (u16, Value) {
    let code = query_of(back)["code"].clone();
    s.token(&[
        ("grant_type", "authorization_code"),
        ("client_id", client_id),
        ("code", &code),
        ("redirect_uri", redirect),
        ("code_verifier", verifier),
        ("resource", &format!("{}/mcp", s.origin)),
    ])
    .await
}

async fn whoami(s: &Setup, token: &str) -> Value {
    let (status, list, _) = s
        .mcp(
            token,
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        )
        .await;
    assert_eq!(status, 200, "{list}");
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"whoami"), "{list}");
    let (status, who, _) = s
        .mcp(
            token,
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}}),
        )
        .await;
    assert_eq!(status, 200, "{who}");
    who["result"]["structuredContent"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_names_the_server_as_its_own_authorization_server() {
    let s = start(None).await;
    let asm: Value = s
        .http
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            s.origin
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(asm["issuer"], s.origin, "RFC 8414 §3.3: exact issuer");
    assert_eq!(
        asm["authorization_endpoint"],
        format!("{}/authorize", s.origin)
    );
    assert_eq!(asm["token_endpoint"], format!("{}/token", s.origin));
    assert_eq!(
        asm["registration_endpoint"],
        format!("{}/register", s.origin)
    );
    assert_eq!(asm["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(asm["client_id_metadata_document_supported"], true);
    assert_eq!(asm["response_types_supported"], json!(["code"]));
    assert_eq!(
        asm["token_endpoint_auth_methods_supported"],
        json!(["none"])
    );
    assert_eq!(
        asm["grant_types_supported"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(
        asm["scopes_supported"],
        json!(["openid", "profile", "offline_access"])
    );
    let prm: Value = s
        .http
        .get(format!(
            "{}/.well-known/oauth-protected-resource/mcp",
            s.origin
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(prm["resource"], format!("{}/mcp", s.origin));
    assert_eq!(prm["authorization_servers"], json!([s.origin]));
    assert_eq!(prm["scopes_supported"], asm["scopes_supported"]);
    // 401 names the scopes to ask for (SEP-835).
    let resp = s
        .http
        .post(format!("{}/mcp", s.origin))
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let challenge = resp.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains("scope=\"openid profile offline_access\""),
        "{challenge}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inspector_like_client_registers_signs_in_calls_tools_and_refreshes() {
    let s = start(None).await;
    let client_id = s
        .register_ok("MCP Inspector", "http://localhost:6274/oauth/callback")
        .await;
    // A loopback redirect URI matches on any port (RFC 8252 §7.3).
    let redirect = "http://localhost:51234/oauth/callback";
    let (verifier, challenge) = pkce();
    let back = s.sign_in(&client_id, redirect, &challenge).await;
    assert!(back.starts_with(redirect), "{back}");

    // A wrong verifier is refused, and does not use the code up.
    let (status, err) = redeem(&s, &client_id, redirect, &back, &pkce().0).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant")),
        "{err}"
    );
    let (status, tokens) = redeem(&s, &client_id, redirect, &back, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["expires_in"].as_u64().unwrap() > 600);
    let access = tokens["access_token"].as_str().unwrap();
    // Entra's own access token for the API, handed through.
    assert_eq!(access.split('.').count(), 3);
    let who = whoami(&s, access).await;
    assert_eq!(who["email"], ALICE, "{who}");

    // Replayed code.
    let (status, err) = redeem(&s, &client_id, redirect, &back, &verifier).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant")),
        "{err}"
    );
    assert!(
        err["error_description"]
            .as_str()
            .unwrap()
            .contains("already been used")
    );

    // alice has no admin role: 403 insufficient_scope, with the scopes in the challenge.
    let (status, body, challenge) = s
        .mcp(
            access,
            json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "admin_status"}}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let challenge = challenge.unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(
        challenge.contains("scope=\"openid profile offline_access\""),
        "{challenge}"
    );

    // Refresh: a new Entra token through the sealed refresh token, bound to the client.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert!(
        !refresh.contains('.'),
        "the refresh token is sealed, not Entra's"
    );
    let other = s.register_ok("Claude", CLAUDE_REDIRECT).await;
    let (status, err) = s
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", &other),
            ("refresh_token", refresh),
        ])
        .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant")),
        "{err}"
    );
    let (status, fresh) = s
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", &client_id),
            ("refresh_token", refresh),
        ])
        .await;
    assert_eq!(status, 200, "{fresh}");
    let who = whoami(&s, fresh["access_token"].as_str().unwrap()).await;
    assert_eq!(who["email"], ALICE);
    assert!(fresh["refresh_token"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claude_like_client_gets_its_code_at_its_https_redirect() {
    let s = start(None).await;
    let client_id = s.register_ok("claude.ai", CLAUDE_REDIRECT).await;
    let (verifier, challenge) = pkce();
    let back = s.sign_in(&client_id, CLAUDE_REDIRECT, &challenge).await;
    assert!(
        back.starts_with(&format!("{CLAUDE_REDIRECT}?code=")),
        "{back}"
    );
    let (status, tokens) = redeem(&s, &client_id, CLAUDE_REDIRECT, &back, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    let who = whoami(&s, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(who["email"], ALICE);
    // The code is bound to the client and the redirect URI.
    let other = s
        .register_ok("Claude Code", "http://127.0.0.1/callback")
        .await;
    let (status, err) = redeem(&s, &other, CLAUDE_REDIRECT, &back, &verifier).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

/// A client ID metadata document served on loopback (the dev switch is on in `vars`).
async fn serve_cimd(
    doc: impl Fn(&str) -> Value + Send + Sync + 'static,
) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/client.json", listener.local_addr().unwrap());
    let body = doc(&url);
    let app = axum::Router::new().route(
        "/client.json",
        axum::routing::get(move || {
            let body = body.clone();
            async move { axum::Json(body) }
        }),
    );
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cimd_client_is_known_by_its_url() {
    let s = start(None).await;
    let (url, server) = serve_cimd(|url| {
        json!({"client_id": url, "client_name": "Cursor (CIMD)", "redirect_uris": ["http://127.0.0.1/callback"]})
    })
    .await;
    let redirect = "http://127.0.0.1:40001/callback";
    let (verifier, challenge) = pkce();
    let back = s.sign_in(&url, redirect, &challenge).await;
    let (status, tokens) = redeem(&s, &url, redirect, &back, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(
        whoami(&s, tokens["access_token"].as_str().unwrap()).await["email"],
        ALICE
    );
    // Its redirect URIs are enforced.
    let resp = s
        .http
        .get(s.authorize_url(&url, "https://evil.example/cb", &challenge, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        400,
        "never redirected to an unregistered URI"
    );
    server.abort();

    // A document whose client_id is not its URL is refused.
    let (url, server) = serve_cimd(|_| {
        json!({"client_id": "https://claude.ai/other.json", "client_name": "Claude", "redirect_uris": ["http://127.0.0.1/callback"]})
    })
    .await;
    let resp = s
        .http
        .get(s.authorize_url(&url, "http://127.0.0.1/callback", &challenge, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("invalid_client") && text.contains("client_id"),
        "{text}"
    );
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_clients_redirects_and_resources() {
    let s = start(None).await;
    // A name no pattern matches.
    let (status, err) = s
        .register(json!({"client_name": "Evil Corp", "redirect_uris": ["http://127.0.0.1/cb"]}))
        .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_client_metadata")),
        "{err}"
    );
    // A foreign (non-loopback http) redirect URI.
    let (status, err) = s
        .register(json!({"client_name": "Claude", "redirect_uris": ["http://evil.example/cb"]}))
        .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_redirect_uri")),
        "{err}"
    );

    let client_id = s.register_ok("Claude", CLAUDE_REDIRECT).await;
    let (_, challenge) = pkce();
    // An unregistered redirect URI: a page, never a redirect.
    let resp = s
        .http
        .get(s.authorize_url(&client_id, "https://evil.example/cb", &challenge, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());
    // A tampered sealed client_id.
    let mut tampered = client_id.clone().into_bytes();
    let i = tampered.len() / 2;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let resp = s
        .http
        .get(s.authorize_url(&tampered, CLAUDE_REDIRECT, &challenge, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("invalid_client"));
    // `resource` for another server: redirected back with invalid_target.
    let url = s.authorize_url(&client_id, CLAUDE_REDIRECT, &challenge, &[]);
    let url = url.replace("resource=", "x=") + "&resource=https%3A%2F%2Fother.example%2Fmcp";
    let resp = s.http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    let q = query_of(&location(&resp));
    assert_eq!(q["error"], "invalid_target");
    assert_eq!(q["state"], "client-state-1");
    // … and at the token endpoint.
    let (status, err) = s
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", &client_id),
            ("refresh_token", "x"),
            ("resource", "https://other.example/mcp"),
        ])
        .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_target"))
    );
    // PKCE is required, and only S256.
    let url = s
        .authorize_url(&client_id, CLAUDE_REDIRECT, &challenge, &[])
        .replace("code_challenge_method=S256", "code_challenge_method=plain");
    let resp = s.http.get(&url).send().await.unwrap();
    assert_eq!(query_of(&location(&resp))["error"], "invalid_request");
    // The consent form without the browser's cookie (another browser, or a cross-site post).
    let (txn, _cookie) = s
        .consent_page(&s.authorize_url(&client_id, CLAUDE_REDIRECT, &challenge, &[]))
        .await;
    let resp = s
        .approve(
            &txn,
            "pmcp-bridge=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        )
        .await;
    assert_eq!(resp.status(), 400);
    // Deny: back to the client with access_denied.
    let (txn, cookie) = s
        .consent_page(&s.authorize_url(&client_id, CLAUDE_REDIRECT, &challenge, &[]))
        .await;
    let resp = s
        .http
        .post(format!("{}/authorize", s.origin))
        .header("cookie", &cookie)
        .form(&[("txn", txn.as_str()), ("action", "deny")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(query_of(&location(&resp))["error"], "access_denied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_transaction_or_code_is_refused() {
    let clock = ManualClock::starting_now();
    let s = start(Some(clock.clone())).await;
    let client_id = s.register_ok("Claude", CLAUDE_REDIRECT).await;
    let (_, challenge) = pkce();
    let (txn, cookie) = s
        .consent_page(&s.authorize_url(&client_id, CLAUDE_REDIRECT, &challenge, &[]))
        .await;
    clock.advance(601);
    let resp = s.approve(&txn, &cookie).await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("expired"));

    // A code lives 60 s.
    let (verifier, challenge) = pkce();
    let back = s.sign_in(&client_id, CLAUDE_REDIRECT, &challenge).await;
    clock.advance(61);
    let (status, err) = redeem(&s, &client_id, CLAUDE_REDIRECT, &back, &verifier).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_rfc_shaped_errors() {
    let s = start(None).await;
    let register = |body: Vec<u8>, ct: &'static str| {
        s.http
            .post(format!("{}/register", s.origin))
            .header("content-type", ct)
            .body(body)
            .send()
    };
    // Huge body.
    let big = format!(
        r#"{{"client_name":"Claude","redirect_uris":["https://claude.ai/cb"],"x":"{}"}}"#,
        "a".repeat(20_000)
    );
    let resp = register(big.into_bytes(), "application/json")
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "invalid_client_metadata"
    );
    // Not JSON, not an object, wrong types, wrong content type.
    for (body, ct) in [
        (&b"{not json"[..], "application/json"),
        (b"[1,2]", "application/json"),
        (b"\xff\xfe", "application/json"),
        (br#"{"client_name":7,"redirect_uris":["https://claude.ai/cb"]}"#, "application/json"),
        (br#"{"client_name":"Claude","redirect_uris":"https://claude.ai/cb"}"#, "application/json"),
        (br#"{"client_name":"Claude","redirect_uris":[]}"#, "application/json"),
        (br#"{"client_name":"Claude","redirect_uris":["https://claude.ai/cb"]}"#, "text/plain"),
        (br#"{"client_name":"Claude","redirect_uris":["https://claude.ai/cb"],"grant_types":["client_credentials"]}"#, "application/json"),
    ] {
        let resp = register(body.to_vec(), ct).await.unwrap();
        assert_eq!(resp.status(), 400, "{:?}", String::from_utf8_lossy(body));
        let err: Value = resp.json().await.unwrap();
        assert!(
            err["error"] == "invalid_client_metadata" || err["error"] == "invalid_redirect_uri",
            "{err}"
        );
    }
    // Unicode names: matched as text, echoed back intact.
    let (status, ok) = s
        .register(json!({"client_name": "Claude ☃ Ünïcode 😀", "redirect_uris": [CLAUDE_REDIRECT]}))
        .await;
    assert_eq!(status, 201, "{ok}");
    assert_eq!(ok["client_name"], "Claude ☃ Ünïcode 😀");
    let (status, err) = s
        .register(json!({"client_name": "☃😀", "redirect_uris": [CLAUDE_REDIRECT]}))
        .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_client_metadata"))
    );
    // Token endpoint: malformed forms.
    for (body, ct) in [
        (
            "grant_type=authorization_code&grant_type=refresh_token&client_id=x",
            "application/x-www-form-urlencoded",
        ),
        ("client_id=x", "application/x-www-form-urlencoded"),
        (r#"{"grant_type":"authorization_code"}"#, "application/json"),
    ] {
        let resp = s
            .http
            .post(format!("{}/token", s.origin))
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{body}");
        assert_eq!(
            resp.json::<Value>().await.unwrap()["error"],
            "invalid_request",
            "{body}"
        );
    }
    let (status, err) = s
        .token(&[("grant_type", "password"), ("client_id", "x")])
        .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let (status, err) = s
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", "x"),
            ("code", "garbage"),
            ("redirect_uri", CLAUDE_REDIRECT),
            ("code_verifier", &pkce().0),
        ])
        .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // Authorize with garbage: a page, not a crash.
    for q in [
        "",
        "client_id=",
        "client_id=%FF%FE",
        "client_id=a&client_id=b",
    ] {
        let resp = s
            .http
            .get(format!("{}/authorize?{q}", s.origin))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{q}");
    }
}

/// `cargo pmcp auth test --server-url` checks the bridge from outside.
async fn auth_test_against(s: &Setup) -> Value {
    let dir = crate::support::TestDir::new();
    let mut cmd = dir.cmd();
    cmd.args(["auth", "test", "--authority-host"])
        .arg(s.emu.authority_host())
        .args(["--server-url", &format!("{}/mcp", s.origin), "--json"])
        .env("ENTRA_TENANT_ID", s.emu.tenant_id())
        .env("ENTRA_CLIENT_ID", s.emu.client_id())
        .env("ENTRA_CLIENT_SECRET", SECRET);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!text.contains(SECRET));
    serde_json::from_str(text.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn metadata_check(report: &Value) -> Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "server: protected resource metadata")
        .unwrap_or_else(|| panic!("no metadata check: {report}"))
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_test_checks_the_bridge_from_outside() {
    let s = start(None).await;
    let report = auth_test_against(&s).await;
    let c = metadata_check(&report);
    assert_eq!(c["ok"], true, "{report}");
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("OAuth bridge {}", s.origin)),
        "{c}"
    );
    assert_eq!(report["ok"], true, "{report}");

    // A bridge that lets every name register fails the check.
    let open = start_with(None, &[("AUTH_DCR_PUBLIC_CLIENT_PATTERNS", "*")]).await;
    let report = auth_test_against(&open).await;
    let c = metadata_check(&report);
    assert_eq!(c["ok"], false, "{report}");
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("registered a client"),
        "{c}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_instance_with_the_key_knows_the_client_and_rotation_keeps_it() {
    const NEW_KEY: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
    let a = start(None).await;
    let client_id = a.register_ok("Claude", CLAUDE_REDIRECT).await;
    let (_, challenge) = pkce();
    let consent = |s: &Setup| {
        let url = s.authorize_url(&client_id, CLAUDE_REDIRECT, &challenge, &[]);
        let http = s.http.clone();
        async move { http.get(url).send().await.unwrap().status().as_u16() }
    };
    // Another instance with the same key: no shared memory, same client.
    let b = start(None).await;
    assert_eq!(consent(&b).await, 200);
    // Rotated: the new key seals, the previous one still opens.
    let rotated = start_with(
        None,
        &[
            ("AUTH_DCR_SEALING_KEY", NEW_KEY),
            ("AUTH_DCR_SEALING_KEY_PREVIOUS", SEALING_KEY),
        ],
    )
    .await;
    assert_eq!(consent(&rotated).await, 200);
    // Once the previous key is dropped, the old registration is unknown.
    let dropped = start_with(None, &[("AUTH_DCR_SEALING_KEY", NEW_KEY)]).await;
    assert_eq!(consent(&dropped).await, 400);
}
