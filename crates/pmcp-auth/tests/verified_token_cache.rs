//! The verified-token cache, through the public API against an Entra-like issuer on 127.0.0.1:
//! what a remembered token is still checked for (lifetime on every use, the current key set), that
//! only the exact token hits, that the cache stays within its bound, and that under concurrency
//! the verdicts are the ones the validator gives with the cache off. Also the remembered header
//! (the last header that passed the header checks): whatever came before, every token gets the
//! verdict a fresh validator gives it. Correctness only: no timing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pmcp_auth::{
    AuthError, EntraClaims, EntraConfig, JwtValidator, JwtValidatorConfig, ManualClock,
};
use serde_json::{Value, json};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "6e74172b-be56-4843-9ff4-e66a39bb12e3";
const NOW: u64 = 1_800_000_000;
const LEEWAY: u64 = 300;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Three RSA keys, generated once per test process.
fn key(i: usize) -> &'static RsaKeyPair {
    static KEYS: OnceLock<Vec<RsaKeyPair>> = OnceLock::new();
    &KEYS.get_or_init(|| {
        (0..3)
            .map(|_| RsaKeyPair::generate(KeySize::Rsa2048).unwrap())
            .collect()
    })[i]
}

fn jwk(i: usize, kid: &str) -> Value {
    let public = PublicKeyComponents::<Vec<u8>>::from(key(i).public_key());
    json!({"kty": "RSA", "use": "sig", "kid": kid, "n": b64(&public.n), "e": b64(&public.e)})
}

fn sign(header: &Value, claims: &Value, i: usize) -> String {
    sign_raw(&header.to_string(), claims, i)
}

/// A token whose header is exactly `header` (which need not be valid JSON).
fn sign_raw(header: &str, claims: &Value, i: usize) -> String {
    let input = format!(
        "{}.{}",
        b64(header.as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let pair = key(i);
    let mut sig = vec![0; pair.public_modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .unwrap();
    format!("{input}.{}", b64(&sig))
}

/// A token signed by key `i` under `kid`.
fn token(claims: &Value, kid: &str, i: usize) -> String {
    sign(
        &json!({"alg": "RS256", "typ": "JWT", "kid": kid}),
        claims,
        i,
    )
}

struct Issuer {
    base: String,
    jwks: Arc<Mutex<Value>>,
    jwks_fetches: Arc<AtomicU64>,
}

impl Issuer {
    async fn start(jwks: Value) -> Issuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let jwks = Arc::new(Mutex::new(jwks));
        let jwks_fetches = Arc::new(AtomicU64::new(0));
        let doc = json!({
            "issuer": format!("{base}/{TENANT}/v2.0"),
            "jwks_uri": format!("{base}/{TENANT}/discovery/v2.0/keys"),
        });
        let app = Router::new()
            .route(
                "/{tenant}/v2.0/.well-known/openid-configuration",
                get(move || {
                    let doc = doc.clone();
                    async move { axum::Json(doc) }
                }),
            )
            .route(
                "/{tenant}/discovery/v2.0/keys",
                get(
                    |State((jwks, n)): State<(Arc<Mutex<Value>>, Arc<AtomicU64>)>| async move {
                        n.fetch_add(1, Ordering::SeqCst);
                        let body = jwks.lock().unwrap().clone();
                        axum::Json(body)
                    },
                ),
            )
            .with_state((jwks.clone(), jwks_fetches.clone()));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Issuer {
            base,
            jwks,
            jwks_fetches,
        }
    }

    fn config(&self, cache_entries: usize) -> JwtValidatorConfig {
        let mut c = JwtValidatorConfig::from_entra(
            &EntraConfig::new(TENANT, CLIENT).with_authority_host(&self.base),
        );
        c.verified_token_cache_entries = cache_entries;
        c
    }

    fn validator(&self, cache_entries: usize, clock: &ManualClock) -> JwtValidator {
        JwtValidator::new(self.config(cache_entries)).with_clock(Arc::new(clock.clone()))
    }

    fn claims(&self, i: u64) -> Value {
        json!({
            "aud": CLIENT, "iss": format!("{}/{TENANT}/v2.0", self.base), "iat": NOW - 60,
            "nbf": NOW - 60, "exp": NOW + 3600, "sub": format!("subject-{i}"),
            "oid": "00000000-0000-0000-0000-0000000000a1", "tid": TENANT, "ver": "2.0",
            "azp": "11111111-1111-1111-1111-111111111111", "roles": ["MCP.User"], "scp": "mcp.tools",
        })
    }

    fn set_jwks(&self, jwks: Value) {
        *self.jwks.lock().unwrap() = jwks;
    }
}

fn with(mut claims: Value, f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    f(claims.as_object_mut().unwrap());
    claims
}

fn entries(v: &JwtValidator) -> usize {
    v.verified_token_cache_status().unwrap().entries
}

#[test]
fn the_cache_is_on_by_default_and_can_be_turned_off() {
    let config = JwtValidatorConfig::from_entra(&EntraConfig::new(TENANT, CLIENT));
    assert_eq!(config.verified_token_cache_entries, 10_000);
    let v = JwtValidator::new(config.clone());
    let status = v.verified_token_cache_status().unwrap();
    assert_eq!((status.entries, status.capacity), (0, 10_000));
    let off = JwtValidatorConfig {
        verified_token_cache_entries: 0,
        ..config
    };
    assert!(
        JwtValidator::new(off)
            .verified_token_cache_status()
            .is_none()
    );
}

#[tokio::test]
async fn a_remembered_token_is_checked_against_the_clock_on_every_use() {
    let issuer = Issuer::start(json!({"keys": [jwk(0, "k1")]})).await;
    let clock = ManualClock::new(NOW);
    let v = issuer.validator(100, &clock);
    let off = issuer.validator(0, &clock);
    let exp = NOW + 100;
    let t = token(
        &with(issuer.claims(1), |c| {
            c.insert("exp".into(), json!(exp));
        }),
        "k1",
        0,
    );
    let first = v.validate(&t).await.unwrap();
    assert_eq!(entries(&v), 1);
    assert_eq!(v.validate(&t).await.unwrap(), first);
    assert_eq!(v.validate(&format!("Bearer {t}")).await.unwrap(), first);
    // The last second within the leeway, then the first one past it: rejected like a fresh token.
    clock.set(exp + LEEWAY);
    assert_eq!(v.validate(&t).await, off.validate(&t).await);
    assert!(v.validate(&t).await.is_ok());
    clock.set(exp + LEEWAY + 1);
    let err = v.validate(&t).await.unwrap_err();
    assert_eq!(
        err,
        AuthError::Expired {
            by_seconds: LEEWAY + 1,
            leeway_seconds: LEEWAY
        }
    );
    assert_eq!(Err(err), off.validate(&t).await);
    assert!(v.validate_generic(&t).await.is_err());
    // `nbf` too: a clock set back before `nbf` (beyond the leeway) rejects the remembered token.
    clock.set(NOW);
    assert!(v.validate(&t).await.is_ok());
    clock.set(NOW - 60 - LEEWAY - 10);
    let err = v.validate(&t).await.unwrap_err();
    assert_eq!(
        err,
        AuthError::NotYetValid {
            by_seconds: LEEWAY + 10,
            leeway_seconds: LEEWAY
        }
    );
    assert_eq!(Err(err), off.validate(&t).await);
    clock.set(NOW);
    assert_eq!(v.validate(&t).await.unwrap(), first);
}

#[tokio::test]
async fn only_the_exact_token_hits() {
    let issuer = Issuer::start(json!({"keys": [jwk(0, "k1")]})).await;
    let clock = ManualClock::new(NOW);
    let v = issuer.validator(100, &clock);
    let good = token(&issuer.claims(1), "k1", 0);
    v.validate(&good).await.unwrap();
    v.validate(&good).await.unwrap();
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
    // Every position, so changes before the hashed tail (same set, same hash) are covered too.
    for i in 0..good.len() {
        let original = good.as_bytes()[i];
        let replacement = alphabet[(i * 7 + 3) % alphabet.len()];
        let replacement = if replacement == original {
            alphabet[(i * 7 + 4) % alphabet.len()]
        } else {
            replacement
        };
        let mut changed = good.clone().into_bytes();
        changed[i] = replacement;
        let changed = String::from_utf8(changed).unwrap();
        assert!(
            v.validate(&changed).await.is_err(),
            "a one-byte change at {i} was accepted"
        );
    }
    // Longer, shorter, and the signature alone with a different start.
    for changed in [
        format!("{good}A"),
        good[..good.len() - 1].to_string(),
        format!("x{good}"),
    ] {
        assert!(v.validate(&changed).await.is_err(), "{changed}");
    }
    // Failures were not remembered: the one good token is the only entry.
    assert_eq!(entries(&v), 1);
    assert!(v.validate(&good).await.is_ok());
}

#[tokio::test]
async fn after_a_key_rotation_tokens_of_a_removed_key_are_rejected() {
    let issuer = Issuer::start(json!({"keys": [jwk(0, "k1"), jwk(1, "k2")]})).await;
    let clock = ManualClock::new(NOW);
    let v = issuer.validator(100, &clock);
    let by_k1 = token(&issuer.claims(1), "k1", 0);
    let by_k2 = token(&issuer.claims(2), "k2", 1);
    for _ in 0..2 {
        v.validate(&by_k1).await.unwrap();
        v.validate(&by_k2).await.unwrap();
    }
    assert_eq!(entries(&v), 2);
    // k1 is dropped from the set.
    issuer.set_jwks(json!({"keys": [jwk(1, "k2")]}));
    v.refresh().await.unwrap();
    assert_eq!(
        v.validate(&by_k1).await.unwrap_err(),
        AuthError::UnknownKey { kid: "k1".into() }
    );
    assert!(v.validate(&by_k2).await.is_ok());
    // k2's kid now names another key: its old tokens no longer verify.
    issuer.set_jwks(json!({"keys": [jwk(2, "k2")]}));
    v.refresh().await.unwrap();
    assert_eq!(
        v.validate(&by_k2).await.unwrap_err(),
        AuthError::InvalidSignature
    );
    // The key comes back: the token verifies again (in full) and is remembered again.
    issuer.set_jwks(json!({"keys": [jwk(1, "k2")]}));
    v.refresh().await.unwrap();
    assert!(v.validate(&by_k2).await.is_ok());
    assert!(v.validate(&by_k2).await.is_ok());
}

#[tokio::test]
async fn the_cache_never_grows_past_its_bound() {
    let issuer = Issuer::start(json!({"keys": [jwk(0, "k1"), jwk(1, "k2")]})).await;
    let clock = ManualClock::new(NOW);
    let v = issuer.validator(16, &clock);
    let capacity = v.verified_token_cache_status().unwrap().capacity;
    assert!(capacity <= 16 && capacity > 0, "{capacity}");
    for i in 0..200 {
        let t = token(&issuer.claims(i), "k1", 0);
        v.validate(&t).await.unwrap();
        v.validate(&t).await.unwrap();
        v.validate_generic(&t).await.unwrap();
        assert!(entries(&v) <= capacity);
    }
    assert_eq!(entries(&v), capacity);
    // A flood of failing tokens (forged signatures, garbage) adds nothing.
    let before = entries(&v);
    let forged_base = token(&issuer.claims(999), "k1", 1);
    for i in 0..300 {
        let forged = forged_base.replacen("eyJ", &format!("eyJ{}", "A".repeat(i % 3)), 1);
        assert!(v.validate(&forged).await.is_err());
        assert!(v.validate(&format!("garbage.{i}.token")).await.is_err());
    }
    assert_eq!(entries(&v), before);
    assert_eq!(issuer.jwks_fetches.load(Ordering::SeqCst), 1);
}

/// One corpus token and how to validate it.
#[derive(Clone)]
struct Case {
    token: String,
    generic: bool,
}

async fn verdict(v: &JwtValidator, case: &Case) -> Result<Option<EntraClaims>, AuthError> {
    if case.generic {
        v.validate_generic(&case.token).await.map(|_| None)
    } else {
        v.validate(&case.token).await.map(Some)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_verdicts_match_the_validator_without_a_cache() {
    let issuer = Issuer::start(json!({"keys": [jwk(0, "k1"), jwk(1, "k2")]})).await;
    let clock = ManualClock::new(NOW);
    let mut tokens = Vec::new();
    for i in 0..12 {
        // Valid, with lifetimes that end at different times.
        let claims = with(issuer.claims(i), |c| {
            c.insert("exp".into(), json!(NOW + 60 * i));
        });
        tokens.push(token(
            &claims,
            if i % 2 == 0 { "k1" } else { "k2" },
            (i % 2) as usize,
        ));
    }
    let good = issuer.claims(100);
    tokens.extend([
        // Expired.
        token(
            &with(good.clone(), |c| {
                c.insert("exp".into(), json!(NOW - LEEWAY - 1));
            }),
            "k1",
            0,
        ),
        // Not valid yet.
        token(
            &with(good.clone(), |c| {
                c.insert("nbf".into(), json!(NOW + LEEWAY + 100));
            }),
            "k1",
            0,
        ),
        // Wrong audience.
        token(
            &with(good.clone(), |c| {
                c.insert("aud".into(), json!("api://someone-else"));
            }),
            "k1",
            0,
        ),
        // Forged: signed by a key the issuer does not publish, under a published kid.
        token(&good, "k1", 2),
        // Forged: a valid token's signature over another payload.
        {
            let real = token(&good, "k1", 0);
            let parts: Vec<&str> = real.split('.').collect();
            let admin = with(good.clone(), |c| {
                c.insert("roles".into(), json!(["MCP.Admin"]));
            });
            format!(
                "{}.{}.{}",
                parts[0],
                b64(admin.to_string().as_bytes()),
                parts[2]
            )
        },
        // Unknown kid, and not a token.
        token(&good, "k9", 0),
        "not.a.token".to_string(),
    ]);
    let corpus: Vec<Case> = tokens
        .iter()
        .flat_map(|t| {
            [
                Case {
                    token: t.clone(),
                    generic: false,
                },
                Case {
                    token: t.clone(),
                    generic: true,
                },
            ]
        })
        .collect();
    let off = issuer.validator(0, &clock);
    // A small cache (entries are evicted while others hit) and a roomy one.
    for size in [4, 1000] {
        let v = issuer.validator(size, &clock);
        // Phases at later times: more of the valid tokens have expired in each.
        for phase in 0..4u64 {
            clock.set(NOW + phase * 200 + if phase > 0 { LEEWAY } else { 0 });
            let mut expected = Vec::new();
            for case in &corpus {
                expected.push(verdict(&off, case).await);
            }
            let expected = Arc::new(expected);
            let tasks: Vec<_> = (0..32usize)
                .map(|task| {
                    let v = v.clone();
                    let corpus = corpus.clone();
                    let expected = expected.clone();
                    tokio::spawn(async move {
                        for round in 0..6 {
                            for k in 0..corpus.len() {
                                // Each task walks the corpus in its own order.
                                let i = (k * (2 * task + 1) + round * 7) % corpus.len();
                                let got = verdict(&v, &corpus[i]).await;
                                assert_eq!(
                                    got, expected[i],
                                    "size {size}, phase {phase}, case {i}"
                                );
                            }
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            assert!(entries(&v) <= size);
        }
    }
}

/// The validator remembers the last header that passed the header checks, so the same bytes are
/// not decoded and read again. Whatever header came before (alternating keys, failing headers,
/// the remembered bytes over another payload or signature), every token must get exactly the
/// verdict a fresh validator gives it, with the verified-token cache on or off.
#[tokio::test]
async fn a_remembered_header_changes_no_verdict() {
    let issuer = Issuer::start(json!({"keys": [jwk(0, "k1"), jwk(1, "k2")]})).await;
    let clock = ManualClock::new(NOW);
    let good = issuer.claims(1);
    let k1 = token(&good, "k1", 0);
    let (k1_header, rest) = k1.split_once('.').unwrap();
    let k1_signature = rest.rsplit_once('.').unwrap().1;
    let admin = with(good.clone(), |c| {
        c.insert("roles".into(), json!(["MCP.Admin"]));
    });
    let corpus = vec![
        k1.clone(),
        token(&good, "k2", 1),
        token(&issuer.claims(2), "k1", 0),
        sign(&json!({"alg": "none", "kid": "k1"}), &good, 0),
        sign(
            &json!({"alg": "HS256", "typ": "JWT", "kid": "k1"}),
            &good,
            0,
        ),
        sign(
            &json!({"alg": "RS256", "typ": "JWT", "kid": "k1", "crit": ["exp"]}),
            &good,
            0,
        ),
        sign(&json!({"alg": "RS256", "typ": "JWT"}), &good, 0),
        sign(
            &json!({"alg": "RS256", "typ": "JWT", "kid": "k1", "nonce": "n"}),
            &good,
            0,
        ),
        sign_raw(r#"{"alg":"RS256","kid":"k1","kid":"k2"}"#, &good, 0),
        sign_raw(r#"{"alg":"RS256","kid":"k1""#, &good, 0),
        format!("!{}", &k1[1..]),
        // The remembered header's bytes over another payload, and under another key's signature.
        format!(
            "{k1_header}.{}.{k1_signature}",
            b64(admin.to_string().as_bytes())
        ),
        token(&good, "k1", 2),
        token(&good, "k9", 0),
        token(
            &with(good.clone(), |c| {
                c.insert("exp".into(), json!(NOW - LEEWAY - 1));
            }),
            "k1",
            0,
        ),
    ];
    let mut expected = Vec::new();
    for t in &corpus {
        let fresh = issuer.validator(0, &clock);
        expected.push(fresh.validate(t).await);
    }
    // Sanity: the corpus has both outcomes.
    assert!(expected[0].is_ok() && expected[1].is_ok());
    assert!(expected[3..].iter().all(Result::is_err));
    let n = corpus.len();
    let orders: [Vec<usize>; 3] = [
        (0..n).collect(),
        (0..n).rev().collect(),
        // Every failing token right after a good one with the same or another header.
        (3..n).flat_map(|i| [i % 2, i]).collect(),
    ];
    for cache in [0, 1000] {
        let v = issuer.validator(cache, &clock);
        for order in &orders {
            for &i in order {
                assert_eq!(
                    v.validate(&corpus[i]).await,
                    expected[i],
                    "cache {cache}, token {i}"
                );
            }
        }
    }
}
