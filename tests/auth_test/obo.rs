//! The credentials library from Rust, as a server uses it: on-behalf-of against the emulator.

use super::*;
use pmcp_auth::EntraConfig;
use pmcp_auth::client::{CredentialError, get_obo_token};
use pmcp_entra_emulator::{DEFAULT_DOWNSTREAM_CLIENT_ID, TokenOptions};

fn api_config(emu: &RunningEmulator, secret: Option<&str>) -> EntraConfig {
    let mut c = EntraConfig::new(emu.tenant_id(), emu.client_id())
        .with_authority_host(&emu.authority_host());
    c.client_secret = secret.map(SecretString::new);
    c
}

#[tokio::test]
async fn obo_exchanges_a_users_token_for_a_downstream_api_as_the_same_user() {
    let emu = emulator().await;
    let user = emu
        .issue_user_token("alice@contoso.onmicrosoft.com", &TokenOptions::default())
        .unwrap();
    let scope = format!("api://{DEFAULT_DOWNSTREAM_CLIENT_ID}/.default");
    let t = get_obo_token(&api_config(&emu, Some(SECRET)), user.secret(), &scope)
        .await
        .unwrap();
    let claims = pmcp_auth::dangerous::decode_unverified(t.token.secret())
        .unwrap()
        .claims;
    let user_claims = pmcp_auth::dangerous::decode_unverified(user.secret())
        .unwrap()
        .claims;
    assert_eq!(claims["aud"], DEFAULT_DOWNSTREAM_CLIENT_ID);
    assert_eq!(claims["oid"], user_claims["oid"], "the same user");
    assert_eq!(
        claims["azp"].as_str(),
        Some(emu.client_id().as_str()),
        "on behalf of the API"
    );
}

#[tokio::test]
async fn obo_errors_are_typed() {
    let emu = emulator().await;
    let user = emu
        .issue_user_token("alice@contoso.onmicrosoft.com", &TokenOptions::default())
        .unwrap();
    let scope = format!("api://{DEFAULT_DOWNSTREAM_CLIENT_ID}/.default");
    let e = get_obo_token(&api_config(&emu, None), user.secret(), &scope)
        .await
        .unwrap_err();
    assert!(matches!(e, CredentialError::MissingClientSecret), "{e}");
    assert!(cargo_pmcp::explain::credential(&e).contains("ENTRA_CLIENT_SECRET"));

    let e = get_obo_token(&api_config(&emu, Some("wrong")), user.secret(), &scope)
        .await
        .unwrap_err();
    let entra = e.entra().expect("an Entra error");
    assert_eq!(entra.code, Some(7000215));
    assert!(entra.trace_id.is_some() && entra.correlation_id.is_some());
    assert!(!e.to_string().contains(user.secret()));
}
