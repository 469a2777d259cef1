//! The key cache: single-flight, unknown-kid rate limit, scheduled background refresh, stale keys on
//! failure, timeouts, the size cap and https-except-loopback. Time moves only through the clock.

use std::sync::Arc;

use pmcp_auth::{EntraConfig, JwtValidatorConfig};
use serde_json::json;

use super::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_cold_validations_share_one_fetch() {
    let issuer = Issuer::start().await;
    let (v, _) = validator(issuer.config());
    let t = Arc::new(token(&issuer.claims()));
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let v = v.clone();
            let t = t.clone();
            tokio::spawn(async move { v.validate(&t).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(issuer.jwks_fetches(), 1);
    assert_eq!(issuer.discovery_fetches(), 1);
    assert_eq!(v.key_cache_status().fetch_attempts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_random_kids_cost_one_refresh_per_window() {
    let issuer = Issuer::start().await;
    let (v, clock) = validator(issuer.config());
    v.validate(&token(&issuer.claims())).await.unwrap();
    assert_eq!(issuer.jwks_fetches(), 1);
    let claims = issuer.claims();
    let spray = |n: usize| {
        let v = v.clone();
        let claims = claims.clone();
        async move {
            let tasks: Vec<_> = (0..n)
                .map(|_| {
                    let v = v.clone();
                    // The kid is looked up before the signature is checked, so any bytes do.
                    let header = json!({"alg": "RS256", "kid": uuid::Uuid::new_v4().to_string()});
                    let t = format!(
                        "{}.{}.c2lnbmF0dXJl",
                        b64(header.to_string().as_bytes()),
                        b64(claims.to_string().as_bytes())
                    );
                    tokio::spawn(async move { v.validate(&t).await })
                })
                .collect();
            for task in tasks {
                assert_eq!(task.await.unwrap().unwrap_err().code(), "unknown_key");
            }
        }
    };
    // Inside the window opened by the first fetch: no refresh at all.
    clock.advance(60);
    spray(10_000).await;
    assert_eq!(issuer.jwks_fetches(), 1);
    // Next window: exactly one refresh for the whole spray.
    clock.advance(300);
    spray(10_000).await;
    assert_eq!(issuer.jwks_fetches(), 2);
    // Cached keys kept working throughout.
    v.validate(&token(&issuer.claims())).await.unwrap();
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_on_its_first_use() {
    let issuer = Issuer::start().await;
    let (v, clock) = validator(issuer.config());
    v.validate(&token(&issuer.claims())).await.unwrap();
    issuer.set_jwks(json!({"keys": [rsa(0).jwk(KID), rsa(1).jwk("key-2")]}));
    let rotated = token_with(
        &json!({"alg": "RS256", "kid": "key-2"}),
        &issuer.claims(),
        rsa(1),
    );
    clock.advance(301);
    v.validate(&rotated).await.unwrap();
    assert_eq!(issuer.jwks_fetches(), 2);
}

#[tokio::test]
async fn scheduled_refresh_runs_in_the_background_without_blocking() {
    let issuer = Issuer::start().await;
    let mut config = issuer.config();
    config.http_timeout = SHORT_TIMEOUT;
    let (v, clock) = validator(config);
    let t = token(&issuer.claims());
    v.validate(&t).await.unwrap();
    // The issuer now hangs; a refresh would take until the timeout.
    issuer.set_discovery_fault(Fault::Hang);
    clock.advance(12 * 3600 + 1);
    let mut claims = issuer.claims();
    claims["exp"] = json!(NOW + 13 * 3600);
    let late = token(&claims);
    // Answered from the cached key while the refresh is in flight.
    v.validate(&late).await.unwrap();
    v.validate(&late).await.unwrap();
    v.wait_for_fetch_attempts(2).await;
    let status = v.key_cache_status();
    assert_eq!(
        status.fetch_attempts, 2,
        "one background refresh, not one per request"
    );
    assert!(
        status.last_error.as_deref().unwrap().contains("timed out"),
        "{status:?}"
    );
    // Stale keys stay in use after the failed refresh.
    assert_eq!(status.kids, vec![KID.to_string()]);
    v.validate(&late).await.unwrap();
}

#[tokio::test]
async fn scheduled_refresh_replaces_the_keys() {
    let issuer = Issuer::start().await;
    let (v, clock) = validator(issuer.config());
    v.validate(&token(&issuer.claims())).await.unwrap();
    issuer.set_jwks(json!({"keys": [rsa(1).jwk("key-2")]}));
    clock.advance(12 * 3600);
    let mut claims = issuer.claims();
    claims["exp"] = json!(NOW + 13 * 3600);
    v.validate(&token(&claims)).await.unwrap();
    v.wait_for_fetch_attempts(2).await;
    assert_eq!(v.key_cache_status().kids, vec!["key-2".to_string()]);
    // key-1 was retired by the issuer: its tokens now fail (no refresh inside the window).
    assert_eq!(
        v.validate(&token(&claims)).await.unwrap_err().code(),
        "unknown_key"
    );
    assert_eq!(issuer.jwks_fetches(), 2);
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_last_good_keys_and_is_reported() {
    let issuer = Issuer::start().await;
    let (v, clock) = validator(issuer.config());
    let t = token(&issuer.claims());
    v.validate(&t).await.unwrap();
    issuer.set_jwks_fault(Fault::Status(503));
    clock.advance(301);
    let err = v.refresh().await.unwrap_err();
    assert_eq!(err.code(), "jwks_unavailable");
    assert!(err.to_string().contains("503"), "{err}");
    let status = v.key_cache_status();
    assert_eq!(status.failed_fetches, 1);
    assert_eq!(status.kids, vec![KID.to_string()]);
    v.validate(&t).await.unwrap();
    // Recovery clears the error.
    issuer.set_jwks_fault(Fault::None);
    v.refresh().await.unwrap();
    assert!(v.key_cache_status().last_error.is_none());
}

#[tokio::test]
async fn cold_failures_are_reported_and_retried_after_a_pause() {
    let issuer = Issuer::start().await;
    issuer.set_discovery_fault(Fault::Status(500));
    let (v, clock) = validator(issuer.config());
    let t = token(&issuer.claims());
    let err = v.validate(&t).await.unwrap_err();
    assert_eq!(err.code(), "discovery_failed");
    assert!(err.to_string().contains("500"), "{err}");
    assert!(cargo_pmcp::explain::auth_error(&err, None).contains("authority host"));
    // Immediately again: the failure is remembered, not refetched.
    assert_eq!(v.validate(&t).await.unwrap_err().code(), "discovery_failed");
    assert_eq!(issuer.discovery_fetches(), 1);
    issuer.set_discovery_fault(Fault::None);
    clock.advance(10);
    v.validate(&t).await.unwrap();
    assert_eq!(issuer.discovery_fetches(), 2);
}

#[tokio::test]
async fn fetches_time_out() {
    let issuer = Issuer::start().await;
    issuer.set_jwks_fault(Fault::Hang);
    let mut config = issuer.config();
    config.http_timeout = SHORT_TIMEOUT;
    let (v, _) = validator(config);
    let err = v.validate(&token(&issuer.claims())).await.unwrap_err();
    assert_eq!(err.code(), "jwks_unavailable");
    assert!(err.to_string().contains("timed out"), "{err}");
}

#[tokio::test]
async fn responses_over_the_size_cap_are_refused() {
    let issuer = Issuer::start().await;
    issuer.set_jwks_fault(Fault::Oversize(1024 * 1024 + 1));
    let (v, _) = validator(issuer.config());
    let err = v.validate(&token(&issuer.claims())).await.unwrap_err();
    assert_eq!(err.code(), "jwks_unavailable");
    assert!(err.to_string().contains("1048576 byte limit"), "{err}");
    // A document that is not JSON is refused with what it should have been.
    issuer.set_discovery_fault(Fault::BadJson);
    let (v, _) = validator(issuer.config());
    let err = v.validate(&token(&issuer.claims())).await.unwrap_err();
    assert_eq!(err.code(), "discovery_failed");
    assert!(
        err.to_string().contains("not an OpenID discovery document"),
        "{err}"
    );
}

#[tokio::test]
async fn https_is_required_except_for_loopback() {
    let entra = EntraConfig::new(TENANT, CLIENT).with_authority_host("http://login.example.com");
    let config = JwtValidatorConfig::from_entra(&entra);
    assert!(config.check().unwrap_err().to_string().contains("https://"));
    let (v, _) = validator(config);
    let err = v.validate(&token(&json!({}))).await.unwrap_err();
    // The claims are checked only after the key, and the key cannot be fetched.
    assert_eq!(err.code(), "discovery_failed");
    assert!(err.to_string().contains("must use https://"), "{err}");
    // A discovery document pointing keys at plain http is refused too.
    let mut oidc = JwtValidatorConfig::from_oidc_issuer("https://idp.example", "api");
    oidc.jwks_uri = Some("http://idp.example/keys".into());
    assert!(oidc.check().is_err());
}

#[tokio::test]
async fn redirects_to_plain_http_are_not_followed() {
    let issuer = Issuer::start().await;
    let mut config = issuer.config();
    config.discovery_url = Some(format!("{}/redirect-to-http", issuer.base()));
    let (v, _) = validator(config);
    let err = v.validate(&token(&issuer.claims())).await.unwrap_err();
    assert_eq!(err.code(), "discovery_failed");
    assert!(err.to_string().contains("redirect"), "{err}");
}

#[tokio::test]
async fn an_unbounded_unknown_kid_window_never_refetches_and_does_not_overflow() {
    let issuer = Issuer::start().await;
    let mut config = issuer.config();
    config.unknown_kid_refresh_interval = std::time::Duration::MAX;
    let (v, clock) = validator(config);
    v.validate(&token(&issuer.claims())).await.unwrap();
    clock.advance(3600);
    let unknown = token_with(
        &json!({"alg": "RS256", "kid": "not-published"}),
        &issuer.claims(),
        rsa(0),
    );
    assert_eq!(
        v.validate(&unknown).await.unwrap_err().code(),
        "unknown_key"
    );
    assert_eq!(issuer.jwks_fetches(), 1);
}
