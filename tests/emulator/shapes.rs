//! v1 vs v2 shapes, `/common` discovery, the groups overage, a second tenant.

use super::common::*;
use pmcp_entra_emulator::*;
use serde_json::json;

#[tokio::test]
async fn v1_discovery_keys_and_token_shape() {
    let mut cfg = EmulatorConfig::default();
    cfg.set_token_version(TokenVersion::V1);
    let emu = start_with(cfg).await;
    let a = emu.authority_host();
    let t = emu.tenant_id();
    let (s, doc) = get_json(&format!("{a}/{t}/.well-known/openid-configuration")).await;
    assert_eq!(s, 200);
    assert_eq!(doc["issuer"], format!("https://sts.windows.net/{t}/"));
    assert_eq!(doc["token_endpoint"], format!("{a}/{t}/oauth2/token"));
    let jwks_uri = doc["jwks_uri"].as_str().unwrap().to_string();
    assert_eq!(jwks_uri, format!("{a}/{t}/discovery/keys"));
    let (_, keys) = get_json(&jwks_uri).await;
    assert!(
        keys["keys"][0].get("issuer").is_none(),
        "v1 keys carry no issuer"
    );
    assert!(keys["keys"][0].get("alg").is_none());

    // v1 endpoint with resource=
    let resource = format!("api://{}", emu.client_id());
    let (s, b) = post_form(
        &format!("{a}/{t}/oauth2/token"),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &emu.client_id()),
            ("client_secret", SECRET),
            ("resource", &resource),
        ],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert!(
        b["expires_in"].is_string(),
        "v1 responses carry strings: {b}"
    );
    assert_eq!(b["resource"], resource);
    let c = verify_with_jwks(b["access_token"].as_str().unwrap(), &jwks_uri).await;
    assert_eq!(c["ver"], "1.0");
    assert_eq!(c["iss"], format!("https://sts.windows.net/{t}/"));
    assert_eq!(c["aud"], resource, "v1 aud is the resource as requested");
    assert_eq!(c["appid"], emu.client_id());
    assert_eq!(c["appidacr"], "1");
    assert!(c.get("azp").is_none());

    // The resource's version decides, not the endpoint: the v2 endpoint also gives v1 here.
    let scope = format!("{resource}/.default");
    let (_, b) = post_form(
        &emu.token_endpoint(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &emu.client_id()),
            ("client_secret", SECRET),
            ("scope", &scope),
        ],
    )
    .await;
    let c = verify_with_jwks(b["access_token"].as_str().unwrap(), &jwks_uri).await;
    assert_eq!(c["ver"], "1.0");

    let user = emu
        .issue_user_token("alice@contoso.onmicrosoft.com", &TokenOptions::default())
        .unwrap();
    let c = verify_with_jwks(user.secret(), &jwks_uri).await;
    assert_eq!(c["upn"], "alice@contoso.onmicrosoft.com");
    assert_eq!(c["unique_name"], "alice@contoso.onmicrosoft.com");
    assert!(c.get("preferred_username").is_none());
}

#[tokio::test]
async fn common_discovery_uses_the_tenantid_template() {
    let emu = start().await;
    let a = emu.authority_host();
    for t in ["common", "organizations"] {
        let (_, doc) = get_json(&format!("{a}/{t}/v2.0/.well-known/openid-configuration")).await;
        assert_eq!(doc["issuer"], format!("{a}/{{tenantid}}/v2.0"));
        assert_eq!(doc["token_endpoint"], format!("{a}/{t}/oauth2/v2.0/token"));
        let (_, keys) = get_json(doc["jwks_uri"].as_str().unwrap()).await;
        assert_eq!(keys["keys"][0]["issuer"], format!("{a}/{{tenantid}}/v2.0"));
        let (_, v1) = get_json(&format!("{a}/{t}/.well-known/openid-configuration")).await;
        assert_eq!(v1["issuer"], "https://sts.windows.net/{tenantid}/");
    }
    // The verified domain names the tenant too.
    let (s, doc) = get_json(&format!(
        "{a}/{DEFAULT_TENANT_DOMAIN}/v2.0/.well-known/openid-configuration"
    ))
    .await;
    assert_eq!(s, 200);
    assert_eq!(doc["issuer"], format!("{a}/{DEFAULT_TENANT_ID}/v2.0"));
}

#[tokio::test]
async fn overage_user_gets_claim_sources_and_no_groups() {
    let emu = start().await;
    let t = emu
        .issue_user_token("overage@contoso.onmicrosoft.com", &TokenOptions::default())
        .unwrap();
    let c = verify_with_jwks(t.secret(), &emu.jwks_uri()).await;
    assert!(c.get("groups").is_none(), "{c:?}");
    assert_eq!(c["_claim_names"], json!({"groups": "src1"}));
    let endpoint = c["_claim_sources"]["src1"]["endpoint"].as_str().unwrap();
    assert!(endpoint.contains(c["oid"].as_str().unwrap()), "{endpoint}");
    // A user at the limit keeps the list.
    let admin = emu
        .issue_user_token("admin@contoso.onmicrosoft.com", &TokenOptions::default())
        .unwrap();
    let c = verify_with_jwks(admin.secret(), &emu.jwks_uri()).await;
    assert_eq!(c["groups"].as_array().unwrap().len(), 2);
    assert!(c.get("_claim_names").is_none());
    assert_eq!(c["roles"], json!(["MCP.Admin", "MCP.User"]));
}

#[tokio::test]
async fn user_without_roles_or_groups() {
    let emu = start().await;
    let t = emu
        .issue_user_token("bob@contoso.onmicrosoft.com", &TokenOptions::default())
        .unwrap();
    let c = verify_with_jwks(t.secret(), &emu.jwks_uri()).await;
    assert!(c.get("roles").is_none(), "{c:?}");
    assert!(c.get("groups").is_none(), "{c:?}");
    assert_eq!(c["scp"], DEFAULT_API_SCOPE);
}

#[tokio::test]
async fn second_tenant_issues_its_own_tokens() {
    let emu = start_with(EmulatorConfig::with_second_tenant()).await;
    let a = emu.authority_host();
    let scope = format!("api://{}/.default", emu.client_id());
    let (s, b) = post_form(
        &format!("{a}/{SECOND_TENANT_ID}/oauth2/v2.0/token"),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &emu.client_id()),
            ("client_secret", SECRET),
            ("scope", &scope),
        ],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let c = verify_with_jwks(
        b["access_token"].as_str().unwrap(),
        &format!("{a}/{SECOND_TENANT_ID}/discovery/v2.0/keys"),
    )
    .await;
    assert_eq!(c["tid"], SECOND_TENANT_ID);
    assert_eq!(c["iss"], format!("{a}/{SECOND_TENANT_ID}/v2.0"));
    let opts = TokenOptions {
        tenant: Some(SECOND_TENANT_DOMAIN.into()),
        ..Default::default()
    };
    let u = emu
        .issue_user_token("alice@fabrikam.onmicrosoft.com", &opts)
        .unwrap();
    let c = verify_with_jwks(u.secret(), &emu.jwks_uri()).await;
    assert_eq!(c["tid"], SECOND_TENANT_ID);
}

#[tokio::test]
async fn client_without_role_gets_no_roles() {
    let emu = start().await;
    let scope = format!("api://{}/.default", emu.client_id());
    let (s, b) = post_form(
        &emu.token_endpoint(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_APP_ID),
            ("client_secret", SECRET),
            ("scope", &scope),
        ],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let c = verify_with_jwks(b["access_token"].as_str().unwrap(), &emu.jwks_uri()).await;
    assert!(c.get("roles").is_none(), "{c:?}");
    assert_eq!(c["azp"], DEFAULT_CLIENT_APP_ID);
}
