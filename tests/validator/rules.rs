//! The validator's rules, one (or more) tests each, with tokens signed by keys the tests generate
//! and keys served by a loopback issuer.

use std::collections::BTreeMap;

use cargo_pmcp::explain;
use pmcp_auth::{Algorithm, AuthContext, AuthError, GroupPermissionMapper, JwtValidatorConfig};
use serde_json::{Value, json};

use super::harness::*;

fn code(r: Result<impl std::fmt::Debug, AuthError>) -> &'static str {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.code(),
    }
}

fn with(mut claims: Value, f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    f(claims.as_object_mut().unwrap());
    claims
}

#[tokio::test]
async fn a_good_token_validates_and_maps_to_permissions() {
    let issuer = Issuer::start().await;
    let (v, _) = validator(issuer.config());
    let claims = v.validate(&token(&issuer.claims())).await.unwrap();
    assert_eq!(claims.user_id(), "00000000-0000-0000-0000-0000000000a1");
    assert_eq!(claims.upn(), Some("ada@contoso.com"));
    assert!(claims.has_role("MCP.User"));
    assert!(!claims.is_app_only());
    let ctx = AuthContext::from_entra_claims(&claims, &GroupPermissionMapper::empty());
    assert!(ctx.has_permission("execute:tools"));
    assert!(ctx.has_permission("mcp.tools"));
    assert!(!ctx.has_permission("admin:anything"));
    assert_eq!(ctx.tenant_id, TENANT);
    // "Bearer " prefixes are tolerated.
    let bearer = format!("Bearer {}", token(&issuer.claims()));
    assert!(v.validate(&bearer).await.is_ok());
    assert_eq!(issuer.jwks_fetches(), 1);
}

// Rule 1: algorithm allow-list, decided before any key lookup; kid required.
#[tokio::test]
async fn rule1_unlisted_algorithms_are_rejected_before_any_key_lookup() {
    let issuer = Issuer::start().await;
    let (v, _) = validator(issuer.config());
    let claims = issuer.claims().to_string();
    let payload = b64(claims.as_bytes());
    // alg none, unsigned
    let none = format!("{}.{payload}.", b64(br#"{"alg":"none","kid":"key-1"}"#));
    assert_eq!(code(v.validate(&none).await), "unsupported_algorithm");
    let none_sig = format!("{}.{payload}.c2ln", b64(br#"{"alg":"none","kid":"key-1"}"#));
    assert_eq!(code(v.validate(&none_sig).await), "unsupported_algorithm");
    // HS256 "signed" with the public key (key confusion)
    for alg in [
        "HS256", "HS384", "HS512", "RS512", "PS256", "ES256", "EdDSA", "rs256", "",
    ] {
        let header = json!({"alg": alg, "kid": KID}).to_string();
        let t = sign_raw(&header, &claims, rsa(0));
        let err = v.validate(&t).await.unwrap_err();
        assert_eq!(err.code(), "unsupported_algorithm", "{alg}");
        assert!(err.to_string().contains("RS256"), "{err}");
    }
    // kid required
    let t = sign_raw(r#"{"alg":"RS256"}"#, &claims, rsa(0));
    assert_eq!(code(v.validate(&t).await), "missing_kid");
    let t = sign_raw(r#"{"alg":"RS256","kid":""}"#, &claims, rsa(0));
    assert_eq!(code(v.validate(&t).await), "missing_kid");
    assert_eq!(issuer.jwks_fetches(), 0, "no key lookup may happen");
    assert_eq!(issuer.discovery_fetches(), 0);
}

#[tokio::test]
async fn rule1_other_asymmetric_algorithms_can_be_configured() {
    let (pair, jwk) = ec_key("ec-1");
    let issuer = Issuer::start_with_keys(json!({"keys": [jwk, rsa(0).jwk(KID)]})).await;
    let mut config = issuer.config();
    config.algorithms = vec![Algorithm::ES256];
    let (v, _) = validator(config);
    let input = format!(
        "{}.{}",
        b64(br#"{"alg":"ES256","kid":"ec-1"}"#),
        b64(issuer.claims().to_string().as_bytes())
    );
    let sig = pair
        .sign(&aws_lc_rs::rand::SystemRandom::new(), input.as_bytes())
        .unwrap();
    let t = format!("{input}.{}", b64(sig.as_ref()));
    v.validate(&t).await.unwrap();
    // RS256 is not on this list any more.
    assert_eq!(
        code(v.validate(&token(&issuer.claims())).await),
        "unsupported_algorithm"
    );
    // A symmetric algorithm in the configuration is a configuration error.
    let mut bad = issuer.config();
    bad.algorithms = vec![Algorithm::HS256];
    assert!(bad.check().unwrap_err().to_string().contains("symmetric"));
}

#[tokio::test]
async fn rule1_a_key_pinned_to_another_alg_does_not_verify() {
    let mut jwk = rsa(0).jwk(KID);
    jwk["alg"] = json!("PS256");
    let issuer = Issuer::start_with_keys(json!({"keys": [jwk]})).await;
    let mut config = issuer.config();
    config.algorithms = vec![Algorithm::RS256, Algorithm::PS256];
    let (v, _) = validator(config);
    assert_eq!(
        code(v.validate(&token(&issuer.claims())).await),
        "invalid_signature"
    );
}

// Rule 2: our own JWK model.
#[tokio::test]
async fn rule2_keys_without_alg_are_used_and_unusable_keys_are_skipped() {
    let mut small = rsa(1).jwk("small");
    small["n"] = json!(b64(&[0xc3u8; 128]));
    let issuer = Issuer::start_with_keys(json!({"keys": [
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
        small,
        {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
        {"kty": "PQC", "kid": "future"},
        42,
        rsa(0).jwk(KID),
    ]}))
    .await;
    let (v, _) = validator(issuer.config());
    v.validate(&token(&issuer.claims())).await.unwrap();
    let status = v.key_cache_status();
    assert_eq!(status.kids, vec![KID.to_string()]);
    assert_eq!(status.skipped.len(), 5, "{:#?}", status.skipped);
    let reasons: Vec<String> = status.skipped.iter().map(|s| s.reason.clone()).collect();
    assert!(reasons.iter().any(|r| r.contains("symmetric")));
    assert!(reasons.iter().any(|r| r.contains("1024 bits")));
    assert!(reasons.iter().any(|r| r.contains("`enc`")));
}

#[tokio::test]
async fn rule2_a_set_with_no_usable_key_is_a_failed_fetch() {
    let issuer =
        Issuer::start_with_keys(json!({"keys": [{"kty": "oct", "kid": "h", "k": "AA"}]})).await;
    let (v, _) = validator(issuer.config());
    let err = v.validate(&token(&issuer.claims())).await.unwrap_err();
    assert_eq!(err.code(), "jwks_unavailable");
    assert!(err.to_string().contains("no usable signing key"), "{err}");
}

// Rule 3: issuer from discovery; multi-tenant; allowed tenants; key issuer.
#[tokio::test]
async fn rule3_issuer_comes_from_discovery() {
    let issuer = Issuer::start().await;
    // Configured with a domain name: the GUID issuer comes from the document, not from guessing.
    let entra = pmcp_auth::EntraConfig::new("contoso.onmicrosoft.com", CLIENT)
        .with_authority_host(issuer.base());
    let (v, _) = validator(JwtValidatorConfig::from_entra(&entra));
    v.validate(&token(&issuer.claims())).await.unwrap();
    // An issuer the document does not name is rejected, even though the key verifies.
    let wrong = with(issuer.claims(), |c| {
        c.insert(
            "iss".into(),
            json!(format!("https://login.microsoftonline.com/{TENANT}/v2.0")),
        );
    });
    let err = v.validate(&token(&wrong)).await.unwrap_err();
    assert_eq!(err.code(), "wrong_issuer");
    assert!(err.to_string().contains(&issuer.issuer_v2(TENANT)), "{err}");
    let no_iss = with(issuer.claims(), |c| {
        c.remove("iss");
    });
    assert_eq!(code(v.validate(&token(&no_iss)).await), "missing_claim");
}

#[tokio::test]
async fn rule3_discovery_issuer_must_match_the_configured_one() {
    let issuer = Issuer::start().await;
    let mut config = issuer.config();
    config.issuer = Some("https://elsewhere.example/v2.0".into());
    let (v, _) = validator(config);
    let err = v.validate(&token(&issuer.claims())).await.unwrap_err();
    assert_eq!(err.code(), "discovery_failed");
    assert!(err.to_string().contains("elsewhere.example"), "{err}");
}

#[tokio::test]
async fn rule3_multi_tenant_substitutes_tid() {
    let issuer = Issuer::start().await;
    let (v, _) = validator(JwtValidatorConfig::from_entra_multitenant(
        &issuer.entra(),
        vec![],
    ));
    // Any tenant, as long as iss is the template with its own tid.
    let other = claims_for(&issuer.issuer_v2(OTHER_TENANT), OTHER_TENANT);
    v.validate(&token(&other)).await.unwrap();
    v.validate(&token(&issuer.claims())).await.unwrap();
    // tid must be a GUID
    let not_guid = claims_for(&issuer.issuer_v2("contoso"), "contoso");
    let err = v.validate(&token(&not_guid)).await.unwrap_err();
    assert_eq!(err.code(), "wrong_tenant");
    assert!(err.to_string().contains("not a GUID"));
    // tid must appear in iss
    let mismatch = claims_for(&issuer.issuer_v2(TENANT), OTHER_TENANT);
    let err = v.validate(&token(&mismatch)).await.unwrap_err();
    assert_eq!(err.code(), "wrong_tenant");
    assert!(err.to_string().contains("does not appear"), "{err}");
    // missing tid
    let no_tid = with(issuer.claims(), |c| {
        c.remove("tid");
    });
    assert_eq!(code(v.validate(&token(&no_tid)).await), "missing_claim");
    // Another host's issuer with the right tid.
    let foreign = claims_for(
        &format!("https://evil.example/{OTHER_TENANT}/v2.0"),
        OTHER_TENANT,
    );
    assert_eq!(code(v.validate(&token(&foreign)).await), "wrong_issuer");
}

#[tokio::test]
async fn rule3_allowed_tenants_reject_validly_signed_tokens_from_other_tenants() {
    let issuer = Issuer::start().await;
    let (v, _) = validator(JwtValidatorConfig::from_entra_multitenant(
        &issuer.entra(),
        vec![TENANT.to_uppercase()],
    ));
    v.validate(&token(&issuer.claims())).await.unwrap();
    let other = claims_for(&issuer.issuer_v2(OTHER_TENANT), OTHER_TENANT);
    let err = v.validate(&token(&other)).await.unwrap_err();
    assert_eq!(err.code(), "tenant_not_allowed");
    assert!(err.to_string().contains(OTHER_TENANT));
}

#[tokio::test]
async fn rule3_a_key_with_an_issuer_must_match_after_substitution() {
    let mut tenant_key = rsa(0).jwk(KID);
    let issuer = Issuer::start().await;
    tenant_key["issuer"] = json!(issuer.issuer_v2(TENANT));
    let mut template_key = rsa(1).jwk("key-2");
    template_key["issuer"] = json!(format!("{}/{{tenantid}}/v2.0", issuer.base()));
    issuer.set_jwks(json!({"keys": [tenant_key, template_key]}));
    let (v, _) = validator(JwtValidatorConfig::from_entra_multitenant(
        &issuer.entra(),
        vec![],
    ));
    // The tenant's own key signs for the tenant.
    v.validate(&token(&issuer.claims())).await.unwrap();
    // ... but not for another tenant.
    let other = claims_for(&issuer.issuer_v2(OTHER_TENANT), OTHER_TENANT);
    let err = v.validate(&token(&other)).await.unwrap_err();
    assert_eq!(err.code(), "wrong_tenant");
    assert!(err.to_string().contains("signing key"), "{err}");
    // The template key signs for any tenant.
    let t = token_with(&json!({"alg": "RS256", "kid": "key-2"}), &other, rsa(1));
    v.validate(&t).await.unwrap();
}

// Rule 4: v1 tokens.
fn v1_claims(aud: &str) -> Value {
    json!({
        "aud": aud, "iss": format!("https://sts.windows.net/{TENANT}/"), "iat": NOW, "nbf": NOW,
        "exp": NOW + 3600, "sub": "s", "oid": "00000000-0000-0000-0000-0000000000a1",
        "tid": TENANT, "appid": "11111111-1111-1111-1111-111111111111", "ver": "1.0",
        "upn": "ada@contoso.com"
    })
}

#[tokio::test]
async fn rule4_v1_tokens_are_rejected_by_default_with_a_hint() {
    let issuer = Issuer::start().await;
    let (v, _) = validator(issuer.config());
    let err = v
        .validate(&token(&v1_claims(&format!("api://{CLIENT}"))))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "v1_token");
    let advice = explain::auth_error(&err, Some(CLIENT));
    assert!(advice.contains("requestedAccessTokenVersion"), "{advice}");
    assert!(advice.contains('2'));
    // The v1 document is not even read.
    assert_eq!(issuer.discovery_fetches(), 1);
}

#[tokio::test]
async fn rule4_v1_tokens_are_accepted_when_configured() {
    let issuer = Issuer::start().await;
    let mut config = issuer.config();
    config.accept_v1 = true;
    let (v, _) = validator(config);
    let c = v
        .validate(&token(&v1_claims(&format!("api://{CLIENT}"))))
        .await
        .unwrap();
    assert_eq!(c.upn(), Some("ada@contoso.com"));
    assert_eq!(
        c.client_app_id(),
        Some("11111111-1111-1111-1111-111111111111")
    );
    v.validate(&token(&v1_claims(CLIENT))).await.unwrap();
    assert_eq!(
        code(v.validate(&token(&v1_claims("api://someone-else"))).await),
        "wrong_audience"
    );
    // A v1 issuer for a different tenant than the document's.
    let mut other = v1_claims(CLIENT);
    other["iss"] = json!(format!("https://sts.windows.net/{OTHER_TENANT}/"));
    other["tid"] = json!(OTHER_TENANT);
    assert_eq!(code(v.validate(&token(&other)).await), "wrong_issuer");
    // v2 tokens still pass.
    v.validate(&token(&issuer.claims())).await.unwrap();
}

// Rule 5: audience required; Graph tokens explained.
#[tokio::test]
async fn rule5_audience_is_required_and_must_be_this_api() {
    let issuer = Issuer::start().await;
    let (v, _) = validator(issuer.config());
    let no_aud = with(issuer.claims(), |c| {
        c.remove("aud");
    });
    let err = v.validate(&token(&no_aud)).await.unwrap_err();
    assert_eq!(err.code(), "missing_claim");
    assert!(err.to_string().contains("aud"));
    let other = with(issuer.claims(), |c| {
        c.insert("aud".into(), json!("api://other-api"));
    });
    let err = v.validate(&token(&other)).await.unwrap_err();
    assert_eq!(err.code(), "wrong_audience");
    assert!(err.to_string().contains(CLIENT), "{err}");
    // v2 tokens carry the GUID; api://… is only accepted for v1.
    let api_uri = with(issuer.claims(), |c| {
        c.insert("aud".into(), json!(format!("api://{CLIENT}")));
    });
    assert_eq!(code(v.validate(&token(&api_uri)).await), "wrong_audience");
    // Array audiences: any member.
    let array = with(issuer.claims(), |c| {
        c.insert("aud".into(), json!(["x", CLIENT]));
    });
    v.validate(&token(&array)).await.unwrap();
}

#[tokio::test]
async fn rule5_graph_tokens_get_a_graph_hint() {
    let issuer = Issuer::start().await;
    let (v, _) = validator(issuer.config());
    for aud in [
        "00000003-0000-0000-c000-000000000000",
        "https://graph.microsoft.com",
    ] {
        let c = with(issuer.claims(), |c| {
            c.insert("aud".into(), json!(aud));
        });
        let err = v.validate(&token(&c)).await.unwrap_err();
        assert_eq!(err.code(), "wrong_audience");
        assert!(err.to_string().contains("Microsoft Graph"), "{err}");
        let advice = explain::auth_error(&err, Some(CLIENT));
        assert!(advice.contains("Microsoft Graph"), "{advice}");
        assert!(advice.contains(&format!("api://{CLIENT}/.default")));
    }
    // A nonce in the header (Graph tokens' signatures cannot be verified by others).
    let t = token_with(
        &json!({"alg": "RS256", "kid": KID, "nonce": "abc"}),
        &issuer.claims(),
        rsa(0),
    );
    let err = v.validate(&t).await.unwrap_err();
    assert_eq!(err.code(), "wrong_audience");
    assert!(explain::auth_error(&err, Some(CLIENT)).contains("Microsoft Graph"));
}

// Rule 6: time.
#[tokio::test]
async fn rule6_exp_and_nbf_with_leeway_and_by_how_much() {
    let issuer = Issuer::start().await;
    let (v, clock) = validator(issuer.config());
    let good = token(&issuer.claims());
    v.validate(&good).await.unwrap();
    // Expired 200 s ago: inside the 300 s leeway.
    clock.set(NOW + 3600 + 200);
    v.validate(&good).await.unwrap();
    clock.set(NOW + 3600 + 301);
    match v.validate(&good).await.unwrap_err() {
        AuthError::Expired {
            by_seconds,
            leeway_seconds,
        } => {
            assert_eq!((by_seconds, leeway_seconds), (301, 300));
        }
        other => panic!("{other:?}"),
    }
    let err = v.validate(&good).await.unwrap_err();
    assert!(err.to_string().contains("301 s"), "{err}");
    // nbf in the future beyond the leeway (jsonwebtoken alone would not check nbf).
    clock.set(NOW);
    let future = with(issuer.claims(), |c| {
        c.insert("nbf".into(), json!(NOW + 1000));
    });
    match v.validate(&token(&future)).await.unwrap_err() {
        AuthError::NotYetValid { by_seconds, .. } => assert_eq!(by_seconds, 1000),
        other => panic!("{other:?}"),
    }
    let near = with(issuer.claims(), |c| {
        c.insert("nbf".into(), json!(NOW + 299));
    });
    v.validate(&token(&near)).await.unwrap();
    // exp is required.
    let no_exp = with(issuer.claims(), |c| {
        c.remove("exp");
    });
    let err = v.validate(&token(&no_exp)).await.unwrap_err();
    assert_eq!(err.code(), "missing_claim");
    assert!(err.to_string().contains("exp"));
    let text_exp = with(issuer.claims(), |c| {
        c.insert("exp".into(), json!("soon"));
    });
    assert_eq!(code(v.validate(&token(&text_exp)).await), "malformed");
}

#[tokio::test]
async fn rule6_leeway_is_configurable() {
    let issuer = Issuer::start().await;
    let mut config = issuer.config();
    config.leeway_seconds = 0;
    let (v, clock) = validator(config);
    clock.set(NOW + 3601);
    let err = v.validate(&token(&issuer.claims())).await.unwrap_err();
    assert_eq!(
        err,
        AuthError::Expired {
            by_seconds: 1,
            leeway_seconds: 0
        }
    );
}

// Rule 7: duplicate claims.
#[tokio::test]
async fn rule7_duplicate_claims_are_rejected() {
    let issuer = Issuer::start().await;
    let (v, _) = validator(issuer.config());
    let good = issuer.claims().to_string();
    let header = json!({"alg": "RS256", "kid": KID}).to_string();
    let body = good.trim_end_matches('}');
    let cases = [
        (format!(r#"{body},"tid":"{OTHER_TENANT}"}}"#), "tid"),
        (format!(r#"{body},"TID":"{OTHER_TENANT}"}}"#), "tid"),
        (format!(r#"{body},"Tid":"{TENANT}"}}"#), "tid"),
        (format!(r#"{body},"aud":"{CLIENT}"}}"#), "aud"),
        (format!(r#"{body},"x":{{"a":1,"a":2}}}}"#), "a"),
    ];
    for (payload, claim) in cases {
        let t = sign_raw(&header, &payload, rsa(0));
        match v.validate(&t).await.unwrap_err() {
            AuthError::DuplicateClaim { claim: c } => assert_eq!(c, claim, "{payload}"),
            other => panic!("{payload}: {other:?}"),
        }
    }
    // Header duplicates are malformed.
    let t = sign_raw(
        r#"{"alg":"RS256","alg":"HS256","kid":"key-1"}"#,
        &good,
        rsa(0),
    );
    assert_eq!(code(v.validate(&t).await), "malformed");
}

// Rule 8: groups overage fails closed.
#[tokio::test]
async fn rule8_groups_overage_fails_closed() {
    let issuer = Issuer::start().await;
    let (v, _) = validator(issuer.config());
    let group = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
    let mapper = GroupPermissionMapper::new(BTreeMap::from([(
        group.to_string(),
        vec!["deploy:prod".to_string()],
    )]));
    let member = with(issuer.claims(), |c| {
        c.insert("groups".into(), json!([group]));
    });
    let claims = v.validate(&token(&member)).await.unwrap();
    assert!(!claims.groups_overage());
    assert!(AuthContext::from_entra_claims(&claims, &mapper).has_permission("deploy:prod"));
    let overage = with(issuer.claims(), |c| {
        c.insert("_claim_names".into(), json!({"groups": "src1"}));
        c.insert(
            "_claim_sources".into(),
            json!({"src1": {"endpoint": "https://graph.microsoft.com/v1.0/users/x/getMemberObjects"}}),
        );
    });
    let claims = v.validate(&token(&overage)).await.unwrap();
    assert!(claims.groups_overage());
    let ctx = AuthContext::from_entra_claims(&claims, &mapper);
    assert!(ctx.groups_overage);
    assert!(!ctx.has_permission("deploy:prod"));
    // Role-based permissions still apply.
    assert!(ctx.has_permission("execute:tools"));
}

// Shape errors.
#[tokio::test]
async fn malformed_tokens_say_what_is_wrong() {
    let issuer = Issuer::start().await;
    let (v, _) = validator(issuer.config());
    for bad in ["", "abc", "a.b", "a.b.c.d", "!!!.e30.c2ln", "e30.e30.c2ln"] {
        let err = v.validate(bad).await.unwrap_err();
        assert!(
            matches!(err.code(), "malformed" | "unsupported_algorithm"),
            "{bad}: {err:?}"
        );
    }
    let good = token(&issuer.claims());
    let mut tampered = good.clone();
    tampered.pop();
    tampered.push(if good.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(code(v.validate(&tampered).await), "invalid_signature");
    // Payload swapped under a valid signature.
    let parts: Vec<&str> = good.split('.').collect();
    let other = with(issuer.claims(), |c| {
        c.insert("roles".into(), json!(["MCP.Admin"]));
    });
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64(other.to_string().as_bytes()),
        parts[2]
    );
    assert_eq!(code(v.validate(&forged).await), "invalid_signature");
    // Signed by a key the issuer does not publish under this kid.
    let t = token_with(
        &json!({"alg": "RS256", "kid": KID}),
        &issuer.claims(),
        rsa(1),
    );
    assert_eq!(code(v.validate(&t).await), "invalid_signature");
    let t = token_with(
        &json!({"alg": "RS256", "kid": "nope"}),
        &issuer.claims(),
        rsa(0),
    );
    assert_eq!(code(v.validate(&t).await), "unknown_key");
    // crit headers are not understood, so refused.
    let t = token_with(
        &json!({"alg": "RS256", "kid": KID, "crit": ["exp"]}),
        &issuer.claims(),
        rsa(0),
    );
    assert_eq!(code(v.validate(&t).await), "malformed");
}

#[tokio::test]
async fn generic_oidc_validation_returns_all_claims() {
    let issuer = Issuer::start().await;
    let iss = issuer.issuer_v2(TENANT);
    // Plain OIDC: discovery at {issuer}/.well-known/openid-configuration.
    let config = JwtValidatorConfig::from_oidc_issuer(&iss, "my-api");
    assert!(!config.entra);
    let (v, _) = validator(config);
    let claims =
        json!({"iss": iss, "aud": "my-api", "exp": NOW + 60, "sub": "u1", "custom": {"k": 1}});
    let map = v.validate_generic(&token(&claims)).await.unwrap();
    assert_eq!(map["custom"]["k"], 1);
    // No Entra claims: `validate` says which one is missing.
    let err = v.validate(&token(&claims)).await.unwrap_err();
    assert_eq!(err.code(), "missing_claim");
    let wrong = json!({"iss": "https://other/", "aud": "my-api", "exp": NOW + 60});
    assert_eq!(
        code(v.validate_generic(&token(&wrong)).await),
        "wrong_issuer"
    );
}

// Property: no single-character change anywhere in a valid token yields a valid token.
#[tokio::test]
async fn no_single_character_change_is_accepted() {
    use rand::Rng;
    let issuer = Issuer::start().await;
    let (v, _) = validator(issuer.config());
    let good = token(&issuer.claims());
    v.validate(&good).await.unwrap();
    let alphabet: Vec<char> =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ "
            .chars()
            .collect();
    let mut rng = rand::rng();
    let chars: Vec<char> = good.chars().collect();
    for _ in 0..400 {
        let mut t = chars.clone();
        let i = rng.random_range(0..t.len());
        let c = alphabet[rng.random_range(0..alphabet.len())];
        if t[i] == c {
            continue;
        }
        t[i] = c;
        let t: String = t.into_iter().collect();
        if let Ok(claims) = v.validate(&t).await {
            panic!("a changed token was accepted at {i}: {t}\n{claims:?}");
        }
    }
    assert_eq!(issuer.jwks_fetches(), 1);
}
