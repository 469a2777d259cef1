//! Key rotation: the old kid stays published for the grace period, new tokens use the new kid.

use super::common::*;
use pmcp_entra_emulator::*;
use std::time::Duration;

async fn kids(emu: &RunningEmulator) -> Vec<String> {
    let (_, keys) = get_json(&emu.jwks_uri()).await;
    keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn rotation_keeps_the_old_key_for_the_grace_period() {
    let cfg = EmulatorConfig {
        key_grace_seconds: 3600,
        ..Default::default()
    };
    let emu = start_with(cfg).await;
    let old_kid = emu.current_kid();
    let old_token = emu
        .issue_user_token("alice@contoso.onmicrosoft.com", &TokenOptions::default())
        .unwrap();

    // Through the control endpoint, as a script would.
    let r: serde_json::Value = http()
        .post(format!("{}/_emulator/rotate-keys", emu.authority_host()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_kid = r["kid"].as_str().unwrap().to_string();
    assert_ne!(new_kid, old_kid);
    assert_eq!(r["retired"], serde_json::json!([old_kid]));
    assert_eq!(emu.current_kid(), new_kid);
    assert_eq!(kids(&emu).await, vec![new_kid.clone(), old_kid.clone()]);

    // During grace: the old token still verifies through the published set.
    verify_with_jwks(old_token.secret(), &emu.jwks_uri()).await;
    let new_token = emu
        .issue_user_token("alice@contoso.onmicrosoft.com", &TokenOptions::default())
        .unwrap();
    let h = jsonwebtoken::decode_header(new_token.secret()).unwrap();
    assert_eq!(h.kid.as_deref(), Some(new_kid.as_str()));

    // After grace: only the new key is published.
    emu.advance_clock(Duration::from_secs(3601));
    assert_eq!(kids(&emu).await, vec![new_kid.clone()]);
    assert_eq!(emu.published_kids(), vec![new_kid]);
}

#[tokio::test]
async fn library_rotation_matches_the_endpoint() {
    let emu = start().await;
    let a = emu.current_kid();
    let b = emu.rotate_keys().await.unwrap();
    let c = emu.rotate_keys().await.unwrap();
    assert_eq!(emu.published_kids(), vec![c, a, b]);
}
