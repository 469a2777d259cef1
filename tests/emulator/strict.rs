//! Where Entra is strict, the emulator is too, so a client (an MCP server's OAuth bridge) tested
//! against it meets the same refusals it would meet in a real tenant: redirect URIs registered per
//! platform (Web needs a credential, public clients may not send one, single-page apps need PKCE
//! and a cross-origin redemption), the RFC 8707 `resource` parameter, no registration endpoint and
//! no RFC 8414 metadata, PKCE, codes bound and single use, refresh tokens only with
//! `offline_access`.

use super::common::*;
use base64::Engine;
use pmcp_entra_emulator::*;
use std::collections::HashMap;
use std::time::Duration;

/// The bridge's callback, registered on the API app as a Web redirect URI.
const WEB_CALLBACK: &str = "https://mcp.example.com/oauth/callback";
/// A single-page app's redirect URI on the client app.
const SPA_URI: &str = "https://inspector.example.com/oauth/callback";
const VERIFIER: &str = "a-verifier-that-is-long-enough-to-be-a-real-pkce-verifier-1234";
const ALICE: &str = "alice@contoso.onmicrosoft.com";

fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(<sha2::Sha256 as sha2::Digest>::digest(verifier.as_bytes()))
}

async fn emulator() -> RunningEmulator {
    let mut c = EmulatorConfig::default();
    let t = &mut c.tenants[0];
    let api = t.app_mut(DEFAULT_API_CLIENT_ID).unwrap();
    api.web_redirect_uris.push(WEB_CALLBACK.into());
    // allowPublicClient (for the device code flow) changes nothing for a Web redirect URI's code:
    // the platform of the redirect URI decides, not the app's flag.
    api.public_client = true;
    t.app_mut(DEFAULT_CLIENT_APP_ID)
        .unwrap()
        .spa_redirect_uris
        .push(SPA_URI.into());
    start_with(c).await
}

fn scope(emu: &RunningEmulator, extra: &str) -> String {
    format!("{extra} api://{}/{DEFAULT_API_SCOPE}", emu.client_id())
        .trim()
        .to_string()
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// GET the authorize endpoint: status, the redirect's query (when redirected) and the body.
async fn authorize(
    emu: &RunningEmulator,
    params: &[(&str, &str)],
) -> (u16, Option<HashMap<String, String>>, String) {
    let url = format!(
        "{}/{}/oauth2/v2.0/authorize",
        emu.authority_host(),
        emu.tenant_id()
    );
    let r = no_redirects().get(url).query(params).send().await.unwrap();
    let status = r.status().as_u16();
    let q = r.headers().get("location").map(|l| {
        url::Url::parse(l.to_str().unwrap())
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect()
    });
    (status, q, r.text().await.unwrap())
}

/// A code for `client_id` at `redirect_uri` with an S256 challenge (alice signs in).
async fn code(emu: &RunningEmulator, client_id: &str, redirect_uri: &str, scope: &str) -> String {
    let c = challenge(VERIFIER);
    let (s, q, body) = authorize(
        emu,
        &[
            ("client_id", client_id),
            ("response_type", "code"),
            ("redirect_uri", redirect_uri),
            ("scope", scope),
            ("code_challenge", &c),
            ("code_challenge_method", "S256"),
            ("login_hint", ALICE),
        ],
    )
    .await;
    assert_eq!(s, 302, "{body}");
    let q = q.unwrap();
    q.get("code")
        .unwrap_or_else(|| panic!("no code: {q:?}"))
        .clone()
}

/// POST the token endpoint with `form` and optional extra headers.
async fn token(
    emu: &RunningEmulator,
    form: &[(&str, &str)],
    origin: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut r = http().post(emu.token_endpoint()).form(form);
    if let Some(o) = origin {
        r = r.header("origin", o);
    }
    let r = r.send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap())
}

fn redeem_form<'a>(
    client_id: &'a str,
    code: &'a str,
    redirect_uri: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("client_id", client_id),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", VERIFIER),
    ]
}

/// AADSTS50011 for a redirect URI that is not registered, as a 400 page (never a redirect to it);
/// on localhost and 127.0.0.1 the port is not compared, anywhere else it is, and the path always is.
#[tokio::test]
async fn unregistered_redirect_uris_are_refused_and_loopback_ports_ignored() {
    let emu = emulator().await;
    let s = scope(&emu, "");
    for (client, uri, ok) in [
        (
            DEFAULT_CLIENT_APP_ID,
            "http://localhost:61234/callback",
            true,
        ),
        (DEFAULT_CLIENT_APP_ID, "http://127.0.0.1:9/callback", true),
        (DEFAULT_API_CLIENT_ID, WEB_CALLBACK, true),
        (DEFAULT_CLIENT_APP_ID, "http://localhost:61234/other", false),
        (
            DEFAULT_CLIENT_APP_ID,
            "http://localhost:61234/Callback",
            false,
        ),
        (
            DEFAULT_CLIENT_APP_ID,
            "https://localhost:61234/callback",
            false,
        ),
        (DEFAULT_CLIENT_APP_ID, "http://[::1]:61234/callback", false),
        (
            DEFAULT_API_CLIENT_ID,
            "https://mcp.example.com:8443/oauth/callback",
            false,
        ),
        (
            DEFAULT_API_CLIENT_ID,
            "https://mcp.example.com/oauth/callback/x",
            false,
        ),
        (
            DEFAULT_API_CLIENT_ID,
            "https://evil.example.com/oauth/callback",
            false,
        ),
        // Registered on another app: not this one's.
        (DEFAULT_CLIENT_APP_ID, WEB_CALLBACK, false),
    ] {
        let (status, q, body) = authorize(
            &emu,
            &[
                ("client_id", client),
                ("response_type", "code"),
                ("redirect_uri", uri),
                ("scope", &s),
                ("login_hint", ALICE),
            ],
        )
        .await;
        if ok {
            assert_eq!(status, 302, "{uri}: {body}");
            assert!(q.unwrap().contains_key("code"), "{uri}");
        } else {
            assert!(q.is_none(), "{uri}: redirected to an unregistered URI");
            let b: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_aad_error(status, &b, 400, "invalid_request", 50011);
            assert!(b["error_description"].as_str().unwrap().contains(uri));
        }
    }
}

/// A code issued to a Web redirect URI is redeemed by a confidential client: without a secret or
/// assertion it is AADSTS7000218; with the secret it works (azpacr 1). A browser (Origin header)
/// may not redeem it: AADSTS9002326.
#[tokio::test]
async fn web_redirect_codes_need_client_authentication() {
    let emu = emulator().await;
    let s = scope(&emu, "openid offline_access");
    let api = DEFAULT_API_CLIENT_ID;

    let c = code(&emu, api, WEB_CALLBACK, &s).await;
    let (st, b) = token(&emu, &redeem_form(api, &c, WEB_CALLBACK), None).await;
    assert_aad_error(st, &b, 401, "invalid_client", 7000218);

    let c = code(&emu, api, WEB_CALLBACK, &s).await;
    let mut f = redeem_form(api, &c, WEB_CALLBACK);
    f.push(("client_secret", SECRET));
    let (st, b) = token(&emu, &f, Some("https://mcp.example.com")).await;
    assert_aad_error(st, &b, 400, "invalid_request", 9002326);

    let c = code(&emu, api, WEB_CALLBACK, &s).await;
    let mut f = redeem_form(api, &c, WEB_CALLBACK);
    f.push(("client_secret", SECRET));
    let (st, b) = token(&emu, &f, None).await;
    assert_eq!(st, 200, "{b}");
    let claims = verify_with_jwks(b["access_token"].as_str().unwrap(), &emu.jwks_uri()).await;
    assert_eq!(claims["azpacr"], "1");
    assert_eq!(claims["preferred_username"], ALICE);

    // Its refresh token, too, is redeemed with the credential.
    let rt = b["refresh_token"].as_str().unwrap().to_string();
    let (st, b) = token(
        &emu,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", api),
            ("refresh_token", &rt),
        ],
        None,
    )
    .await;
    assert_aad_error(st, &b, 401, "invalid_client", 7000218);
}

/// A code issued to a mobile-and-desktop redirect URI is a public client's: a secret is AADSTS700025.
#[tokio::test]
async fn public_client_codes_refuse_a_secret() {
    let emu = emulator().await;
    let s = scope(&emu, "");
    let uri = "http://127.0.0.1:50123/callback";
    let c = code(&emu, DEFAULT_CLIENT_APP_ID, uri, &s).await;
    let mut f = redeem_form(DEFAULT_CLIENT_APP_ID, &c, uri);
    f.push(("client_secret", SECRET));
    let (st, b) = token(&emu, &f, None).await;
    assert_aad_error(st, &b, 401, "invalid_client", 700025);
}

/// Single-page apps: PKCE required (AADSTS9002325), the redemption cross-origin (AADSTS9002327
/// without an Origin header), no credential (AADSTS700025); refresh tokens follow the same rule.
#[tokio::test]
async fn spa_codes_need_pkce_and_a_cross_origin_redemption() {
    let emu = emulator().await;
    let s = scope(&emu, "offline_access");
    let origin = Some("https://inspector.example.com");
    let client = DEFAULT_CLIENT_APP_ID;

    // No PKCE at authorize: the code cannot be redeemed.
    let (st, q, body) = authorize(
        &emu,
        &[
            ("client_id", client),
            ("response_type", "code"),
            ("redirect_uri", SPA_URI),
            ("scope", &s),
            ("login_hint", ALICE),
        ],
    )
    .await;
    assert_eq!(st, 302, "{body}");
    let c = q.unwrap()["code"].clone();
    let f = [
        ("grant_type", "authorization_code"),
        ("client_id", client),
        ("code", c.as_str()),
        ("redirect_uri", SPA_URI),
    ];
    let (st, b) = token(&emu, &f, origin).await;
    assert_aad_error(st, &b, 400, "invalid_request", 9002325);

    let c = code(&emu, client, SPA_URI, &s).await;
    let (st, b) = token(&emu, &redeem_form(client, &c, SPA_URI), None).await;
    assert_aad_error(st, &b, 400, "invalid_request", 9002327);

    let c = code(&emu, client, SPA_URI, &s).await;
    let mut f = redeem_form(client, &c, SPA_URI);
    f.push(("client_secret", SECRET));
    let (st, b) = token(&emu, &f, origin).await;
    assert_aad_error(st, &b, 401, "invalid_client", 700025);

    let c = code(&emu, client, SPA_URI, &s).await;
    let (st, b) = token(&emu, &redeem_form(client, &c, SPA_URI), origin).await;
    assert_eq!(st, 200, "{b}");
    let rt = b["refresh_token"].as_str().unwrap().to_string();
    let rf = [
        ("grant_type", "refresh_token"),
        ("client_id", client),
        ("refresh_token", rt.as_str()),
    ];
    let (st, b) = token(&emu, &rf, None).await;
    assert_aad_error(st, &b, 400, "invalid_request", 9002327);
    // (That attempt used the refresh token up, as any presentation does.)
    let (st, b) = token(&emu, &rf, origin).await;
    assert_aad_error(st, &b, 400, "invalid_grant", 70000);
}

/// RFC 8707 `resource`: accepted when it names the app that owns the requested scopes, else
/// AADSTS9010010 — at authorize (redirected back) and at the token endpoint.
#[tokio::test]
async fn a_resource_naming_another_app_is_9010010() {
    let emu = emulator().await;
    let s = scope(&emu, "");
    let uri = "http://localhost:50001/callback";
    let c = challenge(VERIFIER);
    let mcp_url = "https://mcp.example.com/mcp";
    let base = [
        ("client_id", DEFAULT_CLIENT_APP_ID),
        ("response_type", "code"),
        ("redirect_uri", uri),
        ("scope", s.as_str()),
        ("code_challenge", c.as_str()),
        ("code_challenge_method", "S256"),
        ("login_hint", ALICE),
        ("state", "st"),
    ];
    let mut p = base.to_vec();
    p.push(("resource", mcp_url));
    let (st, q, _) = authorize(&emu, &p).await;
    assert_eq!(st, 302);
    let q = q.unwrap();
    assert_eq!(q["error"], "invalid_target");
    assert_eq!(q["state"], "st");
    assert!(
        q["error_description"].starts_with("AADSTS9010010:"),
        "{q:?}"
    );
    assert!(!q.contains_key("code"));

    let api_uri = format!("api://{}", emu.client_id());
    let mut p = base.to_vec();
    p.push(("resource", api_uri.as_str()));
    let (st, q, _) = authorize(&emu, &p).await;
    assert_eq!(st, 302);
    let code = q.unwrap()["code"].clone();
    let mut f = redeem_form(DEFAULT_CLIENT_APP_ID, &code, uri);
    f.push(("resource", mcp_url));
    let (st, b) = token(&emu, &f, None).await;
    assert_aad_error(st, &b, 400, "invalid_target", 9010010);

    // Client credentials: the same rule.
    let dflt = format!("{api_uri}/.default");
    let mut cc = vec![
        ("grant_type", "client_credentials"),
        ("client_id", DEFAULT_API_CLIENT_ID),
        ("client_secret", SECRET),
        ("scope", dflt.as_str()),
        ("resource", mcp_url),
    ];
    let (st, b) = token(&emu, &cc, None).await;
    assert_aad_error(st, &b, 400, "invalid_target", 9010010);
    cc.pop();
    cc.push(("resource", api_uri.as_str()));
    let (st, b) = token(&emu, &cc, None).await;
    assert_eq!(st, 200, "{b}");
}

/// Entra has no Dynamic Client Registration endpoint and no RFC 8414 metadata: 404 at every path
/// an MCP client tries, and discovery names no `registration_endpoint`.
#[tokio::test]
async fn no_registration_endpoint_and_no_rfc8414_metadata() {
    let emu = emulator().await;
    let a = emu.authority_host();
    let t = emu.tenant_id();
    for path in [
        "/.well-known/oauth-authorization-server".to_string(),
        format!("/.well-known/oauth-authorization-server/{t}/v2.0"),
        format!("/{t}/v2.0/.well-known/oauth-authorization-server"),
        format!("/{t}/.well-known/oauth-authorization-server"),
    ] {
        let r = http().get(format!("{a}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    for path in [
        "/register".to_string(),
        format!("/{t}/oauth2/v2.0/register"),
        format!("/{t}/register"),
    ] {
        let r = http()
            .post(format!("{a}{path}"))
            .json(
                &serde_json::json!({"client_name": "x", "redirect_uris": ["http://127.0.0.1/cb"]}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    let (_, d) = get_json(&emu.discovery_url()).await;
    assert!(d.get("registration_endpoint").is_none(), "{d}");
    assert!(d.get("code_challenge_methods_supported").is_none(), "{d}");
}

/// PKCE as Entra: `plain` (the default) and `S256`; another method is refused, a challenge must be
/// 43–128 characters, and the verifier must match (AADSTS501481), missing or wrong.
#[tokio::test]
async fn pkce_plain_and_s256_and_its_refusals() {
    let emu = emulator().await;
    let s = scope(&emu, "");
    let uri = "http://localhost:50002/callback";
    let go = |method: Option<&'static str>, challenge: String| {
        let s = s.clone();
        let emu = &emu;
        async move {
            let mut p = vec![
                ("client_id", DEFAULT_CLIENT_APP_ID.to_string()),
                ("response_type", "code".into()),
                ("redirect_uri", uri.into()),
                ("scope", s),
                ("code_challenge", challenge),
                ("login_hint", ALICE.into()),
            ];
            if let Some(m) = method {
                p.push(("code_challenge_method", m.into()));
            }
            let p: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (st, q, body) = authorize(emu, &p).await;
            assert_eq!(st, 302, "{body}");
            q.unwrap()
        }
    };
    // plain, by default and by name.
    for m in [None, Some("plain")] {
        let q = go(m, VERIFIER.into()).await;
        let (st, b) = token(
            &emu,
            &redeem_form(DEFAULT_CLIENT_APP_ID, &q["code"], uri),
            None,
        )
        .await;
        assert_eq!(st, 200, "{m:?}: {b}");
    }
    let q = go(Some("S512"), challenge(VERIFIER)).await;
    assert!(
        q["error_description"].starts_with("AADSTS9002313:"),
        "{q:?}"
    );
    let q = go(Some("S256"), "too-short".into()).await;
    assert!(q["error_description"].starts_with("AADSTS501491:"), "{q:?}");

    let q = go(Some("S256"), challenge(VERIFIER)).await;
    let f = [
        ("grant_type", "authorization_code"),
        ("client_id", DEFAULT_CLIENT_APP_ID),
        ("code", q["code"].as_str()),
        ("redirect_uri", uri),
    ];
    let (st, b) = token(&emu, &f, None).await;
    assert_aad_error(st, &b, 400, "invalid_grant", 501481);
}

/// A code works once (AADSTS54005 the second time), only for the client and redirect URI it was
/// issued to, and for ten minutes (AADSTS70008 after).
#[tokio::test]
async fn codes_are_single_use_bound_and_short_lived() {
    let emu = emulator().await;
    let s = scope(&emu, "");
    let uri = "http://localhost:50003/callback";
    let client = DEFAULT_CLIENT_APP_ID;

    let c = code(&emu, client, uri, &s).await;
    let (st, b) = token(&emu, &redeem_form(client, &c, uri), None).await;
    assert_eq!(st, 200, "{b}");
    let (st, b) = token(&emu, &redeem_form(client, &c, uri), None).await;
    assert_aad_error(st, &b, 400, "invalid_grant", 54005);

    // Another client (with its own credential) cannot redeem it.
    let c = code(&emu, client, uri, &s).await;
    let mut f = redeem_form(DEFAULT_API_CLIENT_ID, &c, uri);
    f.push(("client_secret", SECRET));
    let (st, b) = token(&emu, &f, None).await;
    assert_aad_error(st, &b, 400, "invalid_grant", 70000);

    // Another redirect URI (even one registered on the app) does not redeem it.
    let c = code(&emu, client, uri, &s).await;
    let (st, b) = token(
        &emu,
        &redeem_form(client, &c, "http://localhost:50004/callback"),
        None,
    )
    .await;
    assert_aad_error(st, &b, 400, "invalid_grant", 70000);

    let c = code(&emu, client, uri, &s).await;
    emu.advance_clock(Duration::from_secs(601));
    let (st, b) = token(&emu, &redeem_form(client, &c, uri), None).await;
    assert_aad_error(st, &b, 400, "invalid_grant", 70008);
}

/// A refresh token only when `offline_access` was asked for; it works once and expires after
/// 90 days (AADSTS700082).
#[tokio::test]
async fn refresh_tokens_only_with_offline_access_and_they_expire() {
    let emu = emulator().await;
    let uri = "http://localhost:50005/callback";
    let client = DEFAULT_CLIENT_APP_ID;

    let c = code(&emu, client, uri, &scope(&emu, "openid")).await;
    let (st, b) = token(&emu, &redeem_form(client, &c, uri), None).await;
    assert_eq!(st, 200, "{b}");
    assert!(b.get("refresh_token").is_none(), "{b}");
    assert!(b.get("id_token").is_some(), "{b}");

    let c = code(&emu, client, uri, &scope(&emu, "offline_access")).await;
    let (st, b) = token(&emu, &redeem_form(client, &c, uri), None).await;
    assert_eq!(st, 200, "{b}");
    let rt = b["refresh_token"].as_str().unwrap().to_string();
    emu.advance_clock(Duration::from_secs(REFRESH_TOKEN_LIFETIME + 1));
    let (st, b) = token(
        &emu,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", client),
            ("refresh_token", &rt),
        ],
        None,
    )
    .await;
    assert_aad_error(st, &b, 400, "invalid_grant", 700082);
}
