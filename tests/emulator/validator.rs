//! Emulator tokens through the project's validator, via discovery (what a deployed server does).

use super::common::*;
use pmcp_auth::ManualClock;
use pmcp_auth::{AuthError, EntraConfig, JwtValidator, JwtValidatorConfig};
use pmcp_entra_emulator::*;
use std::sync::Arc;

fn validator(emu: &RunningEmulator) -> JwtValidator {
    let entra = EntraConfig::new(emu.tenant_id(), emu.client_id())
        .with_authority_host(&emu.authority_host());
    JwtValidator::new(JwtValidatorConfig::from_entra(&entra))
}

async fn client_credentials(emu: &RunningEmulator, tenant: &str, client_id: &str) -> String {
    let scope = format!("api://{}/.default", emu.client_id());
    let (s, b) = post_form(
        &format!("{}/{tenant}/oauth2/v2.0/token", emu.authority_host()),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", SECRET),
            ("scope", &scope),
        ],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    b["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn app_and_user_tokens_validate_through_discovery() {
    let emu = start().await;
    let v = validator(&emu);
    let token = client_credentials(&emu, &emu.tenant_id(), &emu.client_id()).await;
    let c = v.validate(&token).await.expect("app token validates");
    assert!(c.is_app_only());
    assert!(c.has_role("MCP.Service"));
    assert_eq!(c.tid, emu.tenant_id());

    let user = emu
        .issue_user_token("alice@contoso.onmicrosoft.com", &TokenOptions::default())
        .unwrap();
    let c = v
        .validate(user.secret())
        .await
        .expect("user token validates");
    assert_eq!(c.upn(), Some("alice@contoso.onmicrosoft.com"));
    assert!(c.has_role("MCP.User"));
    assert!(c.in_group(DEFAULT_GROUP_ENGINEERING));
    assert!(c.scopes().contains(&DEFAULT_API_SCOPE));
    assert!(!c.groups_overage());

    let over = emu
        .issue_user_token("overage@contoso.onmicrosoft.com", &TokenOptions::default())
        .unwrap();
    let c = v
        .validate(over.secret())
        .await
        .expect("overage token validates");
    assert!(c.groups_overage());
    assert!(c.groups.is_none());
}

#[tokio::test]
async fn wrong_tenant_expired_and_v1_are_refused() {
    let emu = start_with(EmulatorConfig::with_second_tenant()).await;
    let v = validator(&emu);
    let other = client_credentials(&emu, SECOND_TENANT_ID, &emu.client_id()).await;
    let e = v.validate(&other).await.unwrap_err();
    assert!(
        matches!(
            e,
            AuthError::WrongIssuer { .. } | AuthError::WrongTenant { .. }
        ),
        "{e:?}"
    );

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
    assert!(matches!(
        v.validate(old.secret()).await.unwrap_err(),
        AuthError::Expired { .. }
    ));

    let v1 = emu
        .issue_user_token(
            "alice@contoso.onmicrosoft.com",
            &TokenOptions {
                version: Some(TokenVersion::V1),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(matches!(
        v.validate(v1.secret()).await.unwrap_err(),
        AuthError::V1Token { .. }
    ));
    let entra = EntraConfig::new(emu.tenant_id(), emu.client_id())
        .with_authority_host(&emu.authority_host());
    let mut cfg = JwtValidatorConfig::from_entra(&entra);
    cfg.accept_v1 = true;
    let c = JwtValidator::new(cfg)
        .validate(v1.secret())
        .await
        .expect("v1 accepted when allowed");
    assert_eq!(c.ver.as_deref(), Some("1.0"));
    assert_eq!(c.upn(), Some("alice@contoso.onmicrosoft.com"));
}

#[tokio::test]
async fn key_rotation_old_kid_valid_during_grace_then_refresh_picks_the_new_one() {
    let cfg = EmulatorConfig {
        key_grace_seconds: 3600,
        ..Default::default()
    };
    let emu = start_with(cfg).await;
    let clock = ManualClock::starting_now();
    let v = validator(&emu).with_clock(Arc::new(clock.clone()));
    let old = emu
        .issue_user_token("alice@contoso.onmicrosoft.com", &TokenOptions::default())
        .unwrap();
    v.validate(old.secret()).await.expect("before rotation");

    let new_kid = emu.rotate_keys().await.unwrap();
    let new = emu
        .issue_user_token("alice@contoso.onmicrosoft.com", &TokenOptions::default())
        .unwrap();
    // Within 5 minutes of the last fetch an unknown kid does not refetch (rate limit)...
    assert!(matches!(
        v.validate(new.secret()).await.unwrap_err(),
        AuthError::UnknownKey { .. }
    ));
    // ...after that it does; both keys are published during grace.
    clock.advance(301);
    v.validate(new.secret())
        .await
        .expect("new kid after refresh");
    v.validate(old.secret())
        .await
        .expect("old kid during grace");
    assert!(v.key_cache_status().kids.contains(&new_kid));

    // Grace over: the emulator stops publishing the old key; a refresh drops it.
    emu.advance_clock(std::time::Duration::from_secs(3601));
    clock.advance(13 * 3600);
    v.refresh().await.expect("refresh");
    assert_eq!(v.key_cache_status().kids, vec![new_kid]);
}

#[tokio::test]
async fn multi_tenant_validator_accepts_both_tenants_through_organizations() {
    let emu = start_with(EmulatorConfig::with_second_tenant()).await;
    let entra = EntraConfig::new(emu.tenant_id(), emu.client_id())
        .with_authority_host(&emu.authority_host());
    let any = JwtValidator::new(JwtValidatorConfig::from_entra_multitenant(&entra, vec![]));
    let only_first = JwtValidator::new(JwtValidatorConfig::from_entra_multitenant(
        &entra,
        vec![emu.tenant_id()],
    ));
    let first = client_credentials(&emu, &emu.tenant_id(), &emu.client_id()).await;
    let second = client_credentials(&emu, SECOND_TENANT_ID, &emu.client_id()).await;
    assert_eq!(any.validate(&first).await.unwrap().tid, emu.tenant_id());
    assert_eq!(any.validate(&second).await.unwrap().tid, SECOND_TENANT_ID);
    only_first.validate(&first).await.unwrap();
    assert!(matches!(
        only_first.validate(&second).await.unwrap_err(),
        AuthError::TenantNotAllowed { .. }
    ));
}
