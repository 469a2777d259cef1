//! Each error Entra returns, with its AADSTS code, `error` and HTTP status.

use super::common::*;
use pmcp_entra_emulator::*;

fn cc_form<'a>(client_id: &'a str, secret: &'a str, scope: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", secret),
        ("scope", scope),
    ]
}

#[tokio::test]
async fn unknown_tenant_is_90002_on_token_and_discovery() {
    let emu = start().await;
    let a = emu.authority_host();
    let bogus = "00000000-0000-0000-0000-00000000dead";
    let scope = format!("api://{}/.default", emu.client_id());
    let (s, b) = post_form(
        &format!("{a}/{bogus}/oauth2/v2.0/token"),
        &cc_form(&emu.client_id(), SECRET, &scope),
    )
    .await;
    assert_aad_error(s, &b, 400, "invalid_request", 90002);
    assert!(b["error_description"].as_str().unwrap().contains(bogus));
    let (s, b) = get_json(&format!(
        "{a}/{bogus}/v2.0/.well-known/openid-configuration"
    ))
    .await;
    assert_aad_error(s, &b, 400, "invalid_tenant", 90002);
    let (s, b) = get_json(&format!("{a}/{bogus}/discovery/v2.0/keys")).await;
    assert_aad_error(s, &b, 400, "invalid_tenant", 90002);
}

#[tokio::test]
async fn unknown_client_is_700016() {
    let emu = start().await;
    let scope = format!("api://{}/.default", emu.client_id());
    let other = "11111111-2222-3333-4444-555555555555";
    let (s, b) = post_form(&emu.token_endpoint(), &cc_form(other, SECRET, &scope)).await;
    assert_aad_error(s, &b, 400, "unauthorized_client", 700016);
    assert!(b["error_description"].as_str().unwrap().contains(other));
}

#[tokio::test]
async fn wrong_secret_is_7000215_with_401() {
    let emu = start().await;
    let scope = format!("api://{}/.default", emu.client_id());
    let (s, b) = post_form(
        &emu.token_endpoint(),
        &cc_form(&emu.client_id(), "nope", &scope),
    )
    .await;
    assert_aad_error(s, &b, 401, "invalid_client", 7000215);
    assert!(!b.to_string().contains(SECRET));
}

#[tokio::test]
async fn no_credential_is_7000218() {
    let emu = start().await;
    let scope = format!("api://{}/.default", emu.client_id());
    let id = emu.client_id();
    let (s, b) = post_form(
        &emu.token_endpoint(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("scope", &scope),
        ],
    )
    .await;
    assert_aad_error(s, &b, 401, "invalid_client", 7000218);
}

#[tokio::test]
async fn scope_without_default_is_1002012() {
    let emu = start().await;
    let scope = format!("api://{}/access_as_user", emu.client_id());
    let (s, b) = post_form(
        &emu.token_endpoint(),
        &cc_form(&emu.client_id(), SECRET, &scope),
    )
    .await;
    assert_aad_error(s, &b, 400, "invalid_scope", 1002012);
}

#[tokio::test]
async fn client_credentials_on_common_is_9001023() {
    let emu = start().await;
    let scope = format!("api://{}/.default", emu.client_id());
    for t in ["common", "organizations"] {
        let url = format!("{}/{t}/oauth2/v2.0/token", emu.authority_host());
        let (s, b) = post_form(&url, &cc_form(&emu.client_id(), SECRET, &scope)).await;
        assert_aad_error(s, &b, 400, "invalid_request", 9001023);
    }
}

#[tokio::test]
async fn unknown_resource_is_500011() {
    let emu = start().await;
    let scope = "api://not-registered-here/.default";
    let (s, b) = post_form(
        &emu.token_endpoint(),
        &cc_form(&emu.client_id(), SECRET, scope),
    )
    .await;
    assert_aad_error(s, &b, 400, "invalid_resource", 500011);
    assert!(
        b["error_description"]
            .as_str()
            .unwrap()
            .contains("api://not-registered-here")
    );
}

#[tokio::test]
async fn missing_parameters_and_unknown_grant() {
    let emu = start().await;
    let id = emu.client_id();
    let (s, b) = post_form(&emu.token_endpoint(), &[("client_id", id.as_str())]).await;
    assert_aad_error(s, &b, 400, "invalid_request", 900144);
    assert!(
        b["error_description"]
            .as_str()
            .unwrap()
            .contains("'grant_type'")
    );
    let (s, b) = post_form(
        &emu.token_endpoint(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", SECRET),
        ],
    )
    .await;
    assert_aad_error(s, &b, 400, "invalid_request", 900144);
    assert!(b["error_description"].as_str().unwrap().contains("'scope'"));
    let (s, b) = post_form(
        &emu.token_endpoint(),
        &[("grant_type", "password"), ("client_id", &id)],
    )
    .await;
    assert_aad_error(s, &b, 400, "unsupported_grant_type", 70003);
}

#[tokio::test]
async fn error_timestamp_follows_the_emulator_clock_format() {
    let emu = start().await;
    let (_, b) = post_form(&emu.token_endpoint(), &[("client_id", "x")]).await;
    let ts = b["timestamp"].as_str().unwrap();
    // 2026-11-26 07:31:02Z
    assert_eq!(ts.len(), 20, "{ts}");
    assert!(ts.ends_with('Z') && ts.as_bytes()[10] == b' ', "{ts}");
    let desc = b["error_description"].as_str().unwrap();
    assert!(
        desc.contains(&format!("Trace ID: {}", b["trace_id"].as_str().unwrap())),
        "{desc}"
    );
    assert!(desc.contains(&format!(
        "Correlation ID: {}",
        b["correlation_id"].as_str().unwrap()
    )));
    let _ = DEFAULT_TENANT_ID;
}
