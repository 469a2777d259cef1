//! Authorization code with PKCE, ID tokens with nonce, refresh tokens.

use super::common::*;
use base64::Engine;
use pmcp_entra_emulator::*;

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn query(location: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

async fn authorize(emu: &RunningEmulator, params: &[(&str, &str)]) -> (u16, Option<String>) {
    let url = format!(
        "{}/{}/oauth2/v2.0/authorize",
        emu.authority_host(),
        emu.tenant_id()
    );
    let r = no_redirects().get(url).query(params).send().await.unwrap();
    let loc = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string());
    (r.status().as_u16(), loc)
}

#[tokio::test]
async fn code_flow_with_pkce_id_token_and_refresh() {
    let emu = start().await;
    let verifier = "a-verifier-that-is-long-enough-to-be-a-real-pkce-verifier-1234";
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(<sha2::Sha256 as sha2::Digest>::digest(verifier.as_bytes()));
    let scope = format!(
        "openid offline_access api://{}/{DEFAULT_API_SCOPE}",
        emu.client_id()
    );
    let redirect = "http://localhost:43117/callback";
    let (s, loc) = authorize(
        &emu,
        &[
            ("client_id", DEFAULT_CLIENT_APP_ID),
            ("response_type", "code"),
            ("redirect_uri", redirect),
            ("scope", &scope),
            ("state", "xyz"),
            ("nonce", "n-0S6"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("login_hint", "admin@contoso.onmicrosoft.com"),
        ],
    )
    .await;
    assert_eq!(s, 302);
    let loc = loc.unwrap();
    assert!(loc.starts_with(redirect), "{loc}");
    let q = query(&loc);
    assert_eq!(q["state"], "xyz");
    let code = q["code"].clone();

    let token = |code: String, verifier: &'static str| {
        let url = emu.token_endpoint();
        async move {
            post_form(
                &url,
                &[
                    ("grant_type", "authorization_code"),
                    ("client_id", DEFAULT_CLIENT_APP_ID),
                    ("code", &code),
                    ("redirect_uri", redirect),
                    ("code_verifier", verifier),
                ],
            )
            .await
        }
    };
    let (s, b) = token(code.clone(), "wrong-verifier").await;
    assert_aad_error(s, &b, 400, "invalid_grant", 501481);
    // A failed redemption uses the code up, as Entra does: presenting it again is AADSTS54005.
    let (s, b) = token(code, verifier).await;
    assert_aad_error(s, &b, 400, "invalid_grant", 54005);

    let (_, loc) = authorize(
        &emu,
        &[
            ("client_id", DEFAULT_CLIENT_APP_ID),
            ("response_type", "code"),
            ("redirect_uri", redirect),
            ("scope", &scope),
            ("nonce", "n-0S6"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("login_hint", "admin@contoso.onmicrosoft.com"),
        ],
    )
    .await;
    let (s, b) = token(query(&loc.unwrap())["code"].clone(), verifier).await;
    assert_eq!(s, 200, "{b}");
    let c = verify_with_jwks(b["access_token"].as_str().unwrap(), &emu.jwks_uri()).await;
    assert_eq!(c["preferred_username"], "admin@contoso.onmicrosoft.com");
    assert_eq!(c["scp"], DEFAULT_API_SCOPE);
    assert_eq!(c["azpacr"], "0");
    let id = jsonwebtoken::dangerous::insecure_decode_claims::<serde_json::Value>(
        b["id_token"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(id["aud"], DEFAULT_CLIENT_APP_ID);
    assert_eq!(id["nonce"], "n-0S6");

    // Refresh: a new access token and a new refresh token; the old one is used up.
    let rt = b["refresh_token"].as_str().unwrap().to_string();
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", DEFAULT_CLIENT_APP_ID),
        ("refresh_token", rt.as_str()),
    ];
    let (s, b2) = post_form(&emu.token_endpoint(), &form).await;
    assert_eq!(s, 200, "{b2}");
    assert_ne!(b2["refresh_token"], b["refresh_token"]);
    verify_with_jwks(b2["access_token"].as_str().unwrap(), &emu.jwks_uri()).await;
    let (s, b3) = post_form(&emu.token_endpoint(), &form).await;
    assert_aad_error(s, &b3, 400, "invalid_grant", 70000);
}

#[tokio::test]
async fn authorize_errors_page_or_redirect() {
    let emu = start().await;
    let scope = format!("api://{}/.default", emu.client_id());
    // Unregistered redirect URI: a 400 page, never a redirect to it.
    let (s, loc) = authorize(
        &emu,
        &[
            ("client_id", DEFAULT_CLIENT_APP_ID),
            ("response_type", "code"),
            ("redirect_uri", "https://evil.example/cb"),
            ("scope", &scope),
        ],
    )
    .await;
    assert_eq!((s, loc), (400, None));
    let (s, loc) = authorize(
        &emu,
        &[
            ("client_id", DEFAULT_CLIENT_APP_ID),
            ("response_type", "code"),
            ("redirect_uri", "http://127.0.0.1:9/cb"),
            ("scope", &scope),
            ("state", "s1"),
        ],
    )
    .await;
    // Loopback URIs match on any port but the path must be registered.
    assert_eq!((s, loc), (400, None));
    // No user to sign in: redirected back with login_required.
    let (s, loc) = authorize(
        &emu,
        &[
            ("client_id", DEFAULT_CLIENT_APP_ID),
            ("response_type", "code"),
            ("redirect_uri", "http://localhost:9/callback"),
            ("scope", &scope),
            ("state", "s1"),
        ],
    )
    .await;
    assert_eq!(s, 302);
    let q = query(&loc.unwrap());
    assert_eq!(q["error"], "login_required");
    assert_eq!(q["state"], "s1");
    assert!(q["error_description"].starts_with("AADSTS50058:"));
}
