//! Request counts, injected faults and request events.

use super::common::*;
use pmcp_auth::{EntraConfig, JwtValidator, JwtValidatorConfig, ManualClock};
use pmcp_entra_emulator::*;
use std::sync::Arc;

#[tokio::test]
async fn injected_faults_are_served_then_used_up() {
    let emu = start().await;
    emu.inject_fault(EndpointKind::Keys, Fault::Status(503), Some(1));
    emu.inject_fault(EndpointKind::Discovery, Fault::BadJson, Some(1));
    let r = http().get(emu.jwks_uri()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 503);
    let r = http().get(emu.discovery_url()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.json::<serde_json::Value>().await.is_err(), "not JSON");
    let (s, _) = get_json(&emu.jwks_uri()).await;
    assert_eq!(s, 200, "the fault was used up");
    let (s, _) = get_json(&emu.discovery_url()).await;
    assert_eq!(s, 200);
    assert_eq!(emu.request_count(EndpointKind::Keys), 2);
    assert_eq!(emu.request_count(EndpointKind::Discovery), 2);
    assert_eq!(emu.request_count(EndpointKind::Token), 0);

    emu.inject_fault(
        EndpointKind::Token,
        Fault::Body("{\"unexpected\": true}".into()),
        None,
    );
    for _ in 0..2 {
        let (s, b) = post_form(
            &emu.token_endpoint(),
            &[("grant_type", "client_credentials")],
        )
        .await;
        assert_eq!((s, b["unexpected"].as_bool()), (200, Some(true)));
    }
    emu.clear_faults();
    let (s, b) = post_form(
        &emu.token_endpoint(),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_aad_error(s, &b, 400, "invalid_request", 900144);
}

#[tokio::test]
async fn request_events_carry_status_and_aadsts_code_only() {
    let emu = start().await;
    let mut events = emu.subscribe();
    let id = emu.client_id();
    let scope = format!("api://{id}/.default");
    post_form(
        &emu.token_endpoint(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", "wrong-secret"),
            ("scope", &scope),
        ],
    )
    .await;
    let e = events.recv().await.unwrap();
    assert_eq!(e.kind, EndpointKind::Token);
    assert_eq!(e.status, 401);
    assert_eq!(e.aadsts, Some(7000215));
    let line = e.to_string();
    assert!(
        line.starts_with("POST /") && line.contains("401 AADSTS7000215"),
        "{line}"
    );
    assert!(!line.contains("wrong-secret"));
}

#[tokio::test]
async fn validator_keeps_cached_keys_while_the_key_endpoint_fails() {
    let emu = start().await;
    let entra = EntraConfig::new(emu.tenant_id(), emu.client_id())
        .with_authority_host(&emu.authority_host());
    let clock = ManualClock::starting_now();
    let v = JwtValidator::new(JwtValidatorConfig::from_entra(&entra))
        .with_clock(Arc::new(clock.clone()));
    let old = emu
        .issue_user_token("alice@contoso.onmicrosoft.com", &TokenOptions::default())
        .unwrap();
    v.validate(old.secret())
        .await
        .expect("first validation fetches the keys");
    v.validate(old.secret()).await.expect("cached");
    assert_eq!(
        emu.request_count(EndpointKind::Keys),
        1,
        "keys fetched once"
    );

    emu.inject_fault(EndpointKind::Keys, Fault::Status(503), None);
    emu.rotate_keys().await.unwrap();
    let new = emu
        .issue_user_token("alice@contoso.onmicrosoft.com", &TokenOptions::default())
        .unwrap();
    clock.advance(301);
    assert!(
        v.validate(new.secret()).await.is_err(),
        "the new key cannot be fetched"
    );
    assert!(
        emu.request_count(EndpointKind::Keys) >= 2,
        "a refresh was tried"
    );
    v.validate(old.secret())
        .await
        .expect("stale keys stay in use");

    emu.clear_faults();
    clock.advance(301);
    v.validate(new.secret())
        .await
        .expect("recovers once the endpoint answers");
}
