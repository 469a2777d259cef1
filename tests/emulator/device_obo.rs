//! Device code flow (control endpoint, library approval, auto-approval, decline) and on-behalf-of.

use super::common::*;
use pmcp_entra_emulator::*;
use serde_json::{Value, json};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

async fn device_code(emu: &RunningEmulator, scope: &str) -> Value {
    let url = format!(
        "{}/{}/oauth2/v2.0/devicecode",
        emu.authority_host(),
        emu.tenant_id()
    );
    let (s, b) = post_form(
        &url,
        &[("client_id", DEFAULT_CLIENT_APP_ID), ("scope", scope)],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    b
}

async fn poll(emu: &RunningEmulator, code: &str) -> (u16, Value) {
    post_form(
        &emu.token_endpoint(),
        &[
            ("grant_type", DEVICE_GRANT),
            ("client_id", DEFAULT_CLIENT_APP_ID),
            ("device_code", code),
        ],
    )
    .await
}

#[tokio::test]
async fn device_code_pending_then_approved_gives_a_delegated_token() {
    let emu = start().await;
    let scope = format!(
        "api://{}/{DEFAULT_API_SCOPE} openid profile",
        emu.client_id()
    );
    let dc = device_code(&emu, &scope).await;
    for f in [
        "user_code",
        "device_code",
        "verification_uri",
        "expires_in",
        "interval",
        "message",
    ] {
        assert!(dc.get(f).is_some(), "{f} in {dc}");
    }
    let code = dc["device_code"].as_str().unwrap();
    let (s, b) = poll(&emu, code).await;
    assert_aad_error(s, &b, 400, "authorization_pending", 70016);

    // Approve through the control endpoint.
    let r = http()
        .post(format!("{}/_emulator/device/approve", emu.authority_host()))
        .json(&json!({"user_code": dc["user_code"], "upn": "alice@contoso.onmicrosoft.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (s, b) = poll(&emu, code).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["scope"],
        format!("api://{}/{DEFAULT_API_SCOPE}", emu.client_id())
    );
    assert!(
        b["id_token"].is_string(),
        "openid asked for an ID token: {b}"
    );
    let c = verify_with_jwks(b["access_token"].as_str().unwrap(), &emu.jwks_uri()).await;
    assert_eq!(c["scp"], DEFAULT_API_SCOPE);
    assert_eq!(c["azp"], DEFAULT_CLIENT_APP_ID);
    assert_eq!(c["azpacr"], "0");
    assert_eq!(c["preferred_username"], "alice@contoso.onmicrosoft.com");
    assert_eq!(c["roles"], json!(["MCP.User"]));
    // A device code is used once.
    let (s, b) = poll(&emu, code).await;
    assert_aad_error(s, &b, 400, "invalid_grant", 70000);
}

#[tokio::test]
async fn device_code_library_approval_decline_and_expiry() {
    let emu = start().await;
    let scope = format!("api://{}/.default", emu.client_id());
    let dc = device_code(&emu, &scope).await;
    emu.approve_device_code(
        dc["user_code"].as_str().unwrap(),
        "admin@contoso.onmicrosoft.com",
    )
    .unwrap();
    let (s, b) = poll(&emu, dc["device_code"].as_str().unwrap()).await;
    assert_eq!(s, 200, "{b}");
    let c = verify_with_jwks(b["access_token"].as_str().unwrap(), &emu.jwks_uri()).await;
    assert_eq!(c["preferred_username"], "admin@contoso.onmicrosoft.com");

    let dc = device_code(&emu, &scope).await;
    assert!(
        emu.approve_device_code(
            dc["user_code"].as_str().unwrap(),
            "nobody@contoso.onmicrosoft.com"
        )
        .is_err()
    );
    emu.decline_device_code(dc["user_code"].as_str().unwrap())
        .unwrap();
    let (s, b) = poll(&emu, dc["device_code"].as_str().unwrap()).await;
    assert_aad_error(s, &b, 400, "authorization_declined", 70021);

    let dc = device_code(&emu, &scope).await;
    emu.advance_clock(std::time::Duration::from_secs(901));
    let (s, b) = poll(&emu, dc["device_code"].as_str().unwrap()).await;
    assert_aad_error(s, &b, 400, "expired_token", 70020);
}

#[tokio::test]
async fn device_code_auto_approve_and_confidential_client_needs_a_secret() {
    let cfg = EmulatorConfig {
        device_code_auto_approve: Some("alice@contoso.onmicrosoft.com".into()),
        ..Default::default()
    };
    let emu = start_with(cfg).await;
    let scope = format!("api://{}/.default", emu.client_id());
    let dc = device_code(&emu, &scope).await;
    let (s, b) = poll(&emu, dc["device_code"].as_str().unwrap()).await;
    assert_eq!(s, 200, "{b}");

    // The API app is not a public client: without its secret the poll fails like Entra's.
    let url = format!(
        "{}/{}/oauth2/v2.0/devicecode",
        emu.authority_host(),
        emu.tenant_id()
    );
    let api = emu.client_id();
    let (_, dc) = post_form(&url, &[("client_id", api.as_str()), ("scope", &scope)]).await;
    let (s, b) = post_form(
        &emu.token_endpoint(),
        &[
            ("grant_type", DEVICE_GRANT),
            ("client_id", &api),
            ("device_code", dc["device_code"].as_str().unwrap()),
        ],
    )
    .await;
    assert_aad_error(s, &b, 401, "invalid_client", 7000218);
}

#[tokio::test]
async fn on_behalf_of_exchanges_a_user_token_for_the_downstream_api() {
    let emu = start().await;
    let user = emu
        .issue_user_token("alice@contoso.onmicrosoft.com", &TokenOptions::default())
        .unwrap();
    let scope = format!("api://{DEFAULT_DOWNSTREAM_CLIENT_ID}/Data.Read");
    let api = emu.client_id();
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ("client_id", api.as_str()),
        ("client_secret", SECRET),
        ("assertion", user.secret()),
        ("scope", scope.as_str()),
        ("requested_token_use", "on_behalf_of"),
    ];
    let (s, b) = post_form(&emu.token_endpoint(), &form).await;
    assert_eq!(s, 200, "{b}");
    let c = verify_with_jwks(b["access_token"].as_str().unwrap(), &emu.jwks_uri()).await;
    assert_eq!(c["aud"], DEFAULT_DOWNSTREAM_CLIENT_ID);
    assert_eq!(c["azp"], api);
    assert_eq!(c["scp"], "Data.Read");
    assert_eq!(c["preferred_username"], "alice@contoso.onmicrosoft.com");

    // The assertion must be for the calling app.
    let mut wrong = form;
    wrong[1].1 = DEFAULT_CLIENT_APP_ID;
    let (s, b) = post_form(&emu.token_endpoint(), &wrong).await;
    assert_aad_error(s, &b, 400, "invalid_grant", 500131);

    // An expired user token is refused.
    let old = emu
        .issue_user_token(
            "alice@contoso.onmicrosoft.com",
            &TokenOptions {
                issued_at: Some(emu.now() - 10_000),
                lifetime_seconds: Some(3600),
                ..Default::default()
            },
        )
        .unwrap();
    let mut expired = form;
    expired[3].1 = old.secret();
    let (s, b) = post_form(&emu.token_endpoint(), &expired).await;
    assert_aad_error(s, &b, 400, "invalid_grant", 500133);

    // An app-only token is not a user assertion.
    let app = emu.issue_app_token(&api, &TokenOptions::default()).unwrap();
    let mut app_only = form;
    app_only[3].1 = app.secret();
    let (s, b) = post_form(&emu.token_endpoint(), &app_only).await;
    assert_aad_error(s, &b, 400, "invalid_grant", 50013);
}

#[tokio::test]
async fn device_code_on_common_signs_the_user_in_to_their_home_tenant() {
    let emu = start_with(EmulatorConfig::with_second_tenant()).await;
    let url = format!(
        "{}/organizations/oauth2/v2.0/devicecode",
        emu.authority_host()
    );
    let scope = format!("api://{}/.default", emu.client_id());
    let (s, dc) = post_form(
        &url,
        &[("client_id", DEFAULT_CLIENT_APP_ID), ("scope", &scope)],
    )
    .await;
    assert_eq!(s, 200, "{dc}");
    emu.approve_device_code(
        dc["user_code"].as_str().unwrap(),
        "alice@fabrikam.onmicrosoft.com",
    )
    .unwrap();
    let (s, b) = post_form(
        &format!("{}/organizations/oauth2/v2.0/token", emu.authority_host()),
        &[
            ("grant_type", DEVICE_GRANT),
            ("client_id", DEFAULT_CLIENT_APP_ID),
            ("device_code", dc["device_code"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let c = verify_with_jwks(b["access_token"].as_str().unwrap(), &emu.jwks_uri()).await;
    assert_eq!(c["tid"], SECOND_TENANT_ID);
    assert_eq!(
        c["iss"],
        format!("{}/{SECOND_TENANT_ID}/v2.0", emu.authority_host())
    );
}

#[tokio::test]
async fn v1_device_code_with_resource() {
    let emu = start().await;
    let url = format!(
        "{}/{}/oauth2/devicecode",
        emu.authority_host(),
        emu.tenant_id()
    );
    let resource = format!("api://{}", emu.client_id());
    let (s, dc) = post_form(
        &url,
        &[
            ("client_id", DEFAULT_CLIENT_APP_ID),
            ("resource", &resource),
        ],
    )
    .await;
    assert_eq!(s, 200, "{dc}");
    emu.approve_device_code(
        dc["user_code"].as_str().unwrap(),
        "alice@contoso.onmicrosoft.com",
    )
    .unwrap();
    let (s, b) = post_form(
        &format!("{}/{}/oauth2/token", emu.authority_host(), emu.tenant_id()),
        &[
            ("grant_type", DEVICE_GRANT),
            ("client_id", DEFAULT_CLIENT_APP_ID),
            ("code", dc["device_code"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["resource"], resource);
    let c = verify_with_jwks(b["access_token"].as_str().unwrap(), &emu.jwks_uri()).await;
    // The API's token version decides the shape (v2 here), whatever endpoint was used.
    assert_eq!(c["ver"], "2.0");
    assert_eq!(c["scp"], DEFAULT_API_SCOPE);
}

#[tokio::test]
async fn a_busy_port_is_a_clear_error() {
    let emu = start().await;
    let err = Emulator::start(EmulatorConfig::default(), emu.port())
        .await
        .unwrap_err();
    assert!(matches!(err, EmulatorError::Bind { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains(&format!("127.0.0.1:{}", emu.port())),
        "{err}"
    );
}
