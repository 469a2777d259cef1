//! Discovery, keys and client credentials in Entra's shapes.

use super::common::*;
use pmcp_entra_emulator::*;

#[tokio::test]
async fn v2_discovery_keys_and_client_credentials_token() {
    let emu = start().await;
    let (status, doc) = get_json(&emu.discovery_url()).await;
    assert_eq!(status, 200);
    let a = emu.authority_host();
    let t = emu.tenant_id();
    assert_eq!(doc["issuer"], format!("{a}/{t}/v2.0"));
    assert_eq!(doc["jwks_uri"], format!("{a}/{t}/discovery/v2.0/keys"));
    assert_eq!(doc["token_endpoint"], format!("{a}/{t}/oauth2/v2.0/token"));
    assert_eq!(
        doc["device_authorization_endpoint"],
        format!("{a}/{t}/oauth2/v2.0/devicecode")
    );
    assert_eq!(doc["id_token_signing_alg_values_supported"][0], "RS256");

    let (_, keys) = get_json(doc["jwks_uri"].as_str().unwrap()).await;
    let k = &keys["keys"][0];
    for f in ["kty", "use", "kid", "x5t", "n", "e", "x5c", "issuer"] {
        assert!(k.get(f).is_some(), "key lacks {f}: {k}");
    }
    assert!(k.get("alg").is_none(), "Entra keys carry no alg: {k}");
    assert_eq!(k["issuer"], format!("{a}/{t}/v2.0"));

    let scope = format!("api://{}/.default", emu.client_id());
    let (status, body) = post_form(
        &emu.token_endpoint(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &emu.client_id()),
            ("client_secret", SECRET),
            ("scope", &scope),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert!(
        body.get("scope").is_none(),
        "client credentials responses carry no scope: {body}"
    );
    let token = body["access_token"].as_str().unwrap();
    let c = verify_with_jwks(token, doc["jwks_uri"].as_str().unwrap()).await;
    assert_eq!(c["aud"], emu.client_id());
    assert_eq!(c["iss"], format!("{a}/{t}/v2.0"));
    assert_eq!(c["tid"], t);
    assert_eq!(c["ver"], "2.0");
    assert_eq!(c["azp"], emu.client_id());
    assert_eq!(c["azpacr"], "1");
    assert_eq!(c["idtyp"], "app");
    assert_eq!(c["roles"], serde_json::json!(["MCP.Service"]));
    assert_eq!(c["oid"], c["sub"]);
    let lifetime = c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap();
    assert!((3599..=5400).contains(&lifetime), "{lifetime}");
    emu.shutdown().await;
}

#[tokio::test]
async fn client_secret_over_http_basic() {
    let emu = start().await;
    let scope = format!("api://{}/.default", emu.client_id());
    let r = http()
        .post(emu.token_endpoint())
        .basic_auth(emu.client_id(), Some(SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", scope.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = http()
        .post(emu.token_endpoint())
        .basic_auth(emu.client_id(), Some("wrong"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", scope.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_aad_error(status, &body, 401, "invalid_client", 7000215);
}

#[tokio::test]
async fn direct_user_token_has_entra_claims() {
    let emu = start().await;
    let token = emu
        .issue_user_token("alice@contoso.onmicrosoft.com", &TokenOptions::default())
        .unwrap();
    let c = verify_with_jwks(token.secret(), &emu.jwks_uri()).await;
    assert_eq!(c["preferred_username"], "alice@contoso.onmicrosoft.com");
    assert_eq!(c["scp"], DEFAULT_API_SCOPE);
    assert_eq!(c["roles"], serde_json::json!(["MCP.User"]));
    assert_eq!(c["groups"], serde_json::json!([DEFAULT_GROUP_ENGINEERING]));
    assert_eq!(c["azp"], DEFAULT_CLIENT_APP_ID);
    assert_eq!(c["idtyp"], "user");
    assert_ne!(c["sub"], c["oid"], "v2 sub is pairwise");
}
