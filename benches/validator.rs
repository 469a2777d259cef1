//! Validator benchmarks (figures and how to reproduce them: docs/performance.md).
//!
//! - `validate_cached`: one token through `JwtValidator` with its key cached, next to the same token
//!   through bare `jsonwebtoken::decode` in the same run (target: the validator at ≥ 0.9× the bare
//!   decode's throughput).
//! - `rs256_verify_backend`: the RSA verify of jsonwebtoken's two crypto backends — aws-lc-rs (what
//!   we build with) and RustCrypto's `rsa` crate doing exactly what the `rust_crypto` backend does —
//!   and aws-lc-rs with the key parsed once (what the validator does).
//! - `validate_threads`: the cached path on 1 and 2 threads (throughput should scale; no lock).
//! - Printed before the timings: fetch counts for 1,000 concurrent cold validations and 10,000
//!   random-kid tokens in one unknown-kid window, and an interleaved bare-vs-validator comparison.
//!
//! Run: `cargo bench --bench validator`.

use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use pmcp_auth::{EntraClaims, EntraConfig, JwtValidator, JwtValidatorConfig, ManualClock};
use serde_json::{Value, json};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "6e74172b-be56-4843-9ff4-e66a39bb12e3";
const KID: &str = "bench-key";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Poll a future once: the cached path never waits, so it completes on the first poll.
fn ready<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the cached path must not wait"),
    }
}

struct Fixture {
    rt: tokio::runtime::Runtime,
    base: String,
    jwks_fetches: Arc<AtomicU64>,
    n: Vec<u8>,
    e: Vec<u8>,
    token: String,
    pair: RsaKeyPair,
}

impl Fixture {
    fn new() -> Fixture {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let public = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        let jwks = json!({"keys": [{"kty": "RSA", "use": "sig", "kid": KID,
            "n": b64(&public.n), "e": b64(&public.e),
            "issuer": "{base}/{tenantid}/v2.0"}]});
        let jwks_fetches = Arc::new(AtomicU64::new(0));
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let doc = json!({"issuer": format!("{base}/{TENANT}/v2.0"),
            "jwks_uri": format!("{base}/{TENANT}/discovery/v2.0/keys")});
        let mut jwks = jwks;
        jwks["keys"][0]["issuer"] = json!(format!("{base}/{{tenantid}}/v2.0"));
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
                    |State((jwks, n)): State<(Value, Arc<AtomicU64>)>| async move {
                        n.fetch_add(1, Ordering::SeqCst);
                        axum::Json(jwks)
                    },
                ),
            )
            .with_state((jwks, jwks_fetches.clone()));
        rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        // A realistic Entra v2 access token.
        let claims = json!({
            "aud": CLIENT, "iss": format!("{base}/{TENANT}/v2.0"), "iat": now - 60,
            "nbf": now - 60, "exp": now + 3600, "aio": "AWQAm/8ZAAAA", "azp": "11111111-1111-1111-1111-111111111111",
            "azpacr": "0", "name": "Ada Lovelace", "oid": "00000000-0000-0000-0000-0000000000a1",
            "preferred_username": "ada@contoso.com", "rh": "0.AXEAv4j5cvGGr0GRqy180BHbR0", "roles": ["MCP.User"],
            "scp": "mcp.tools mcp.read", "sid": "0c4e9c1f-8a40-4f0b-8e36-5f6c1d6f7c1b",
            "sub": "p8i2yZ5cZJ0y6Yo5a2J5cZJ0y6Yo5a2J5cZJ0y6Yo5a", "tid": TENANT,
            "uti": "AbCdEfGhIjKlMnOpQrStAA", "ver": "2.0"
        });
        let fx = Fixture {
            rt,
            base,
            jwks_fetches,
            n: public.n,
            e: public.e,
            token: String::new(),
            pair,
        };
        let token = fx.sign(&json!({"alg": "RS256", "typ": "JWT", "kid": KID}), &claims);
        Fixture { token, ..fx }
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let mut sig = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .unwrap();
        format!("{input}.{}", b64(&sig))
    }

    fn config(&self) -> JwtValidatorConfig {
        JwtValidatorConfig::from_entra(
            &EntraConfig::new(TENANT, CLIENT).with_authority_host(&self.base),
        )
    }

    fn warm_validator(&self) -> JwtValidator {
        let v = JwtValidator::new(self.config());
        self.rt.block_on(v.validate(&self.token)).unwrap();
        v
    }

    fn bare_validation(&self) -> Validation {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[CLIENT]);
        validation.set_issuer(&[format!("{}/{TENANT}/v2.0", self.base)]);
        validation.validate_nbf = true;
        validation.leeway = 300;
        validation
    }
}

/// Fetch counts for the two cache scenarios, printed once. Time moves through a ManualClock.
fn fetch_counts(fx: &Fixture) {
    let claims: Value = {
        let payload = fx.token.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    };
    let now = claims["iat"].as_u64().unwrap() + 60;
    let clock = ManualClock::new(now);
    // 1,000 concurrent cold validations.
    let before = fx.jwks_fetches.load(Ordering::SeqCst);
    let v = JwtValidator::new(fx.config()).with_clock(Arc::new(clock.clone()));
    let started = Instant::now();
    fx.rt.block_on(async {
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let v = v.clone();
                let t = fx.token.clone();
                tokio::spawn(async move { v.validate(&t).await.map(|_| ()) })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
    });
    println!(
        "fetch counts: 1,000 concurrent cold validations -> {} JWKS fetch(es) in {:?}",
        fx.jwks_fetches.load(Ordering::SeqCst) - before,
        started.elapsed()
    );
    // 10,000 tokens with random kids, in the next unknown-kid window.
    clock.advance(301);
    let before = fx.jwks_fetches.load(Ordering::SeqCst);
    let started = Instant::now();
    let rejected = fx.rt.block_on(async {
        let tasks: Vec<_> = (0..10_000)
            .map(|_| {
                let v = v.clone();
                let header = json!({"alg": "RS256", "kid": uuid::Uuid::new_v4().to_string()});
                let t = format!(
                    "{}.{}.c2ln",
                    b64(header.to_string().as_bytes()),
                    b64(claims.to_string().as_bytes())
                );
                tokio::spawn(async move { v.validate(&t).await.is_err() })
            })
            .collect();
        let mut rejected = 0;
        for t in tasks {
            rejected += usize::from(t.await.unwrap());
        }
        rejected
    });
    println!(
        "fetch counts: 10,000 concurrent random-kid tokens ({rejected} rejected) -> {} JWKS fetch(es) in {:?}",
        fx.jwks_fetches.load(Ordering::SeqCst) - before,
        started.elapsed()
    );
}

/// Bare decode and the validator measured in alternating batches, so load on a shared machine
/// affects both alike; prints the best batch of each and the ratio.
fn interleaved(fx: &Fixture, validator: &JwtValidator, key: &DecodingKey, validation: &Validation) {
    const BATCH: u32 = 500;
    let (mut best_bare, mut best_validator) = (Duration::MAX, Duration::MAX);
    for _ in 0..20 {
        let start = Instant::now();
        for _ in 0..BATCH {
            black_box(
                jsonwebtoken::decode::<EntraClaims>(black_box(&fx.token), key, validation).unwrap(),
            );
        }
        best_bare = best_bare.min(start.elapsed() / BATCH);
        let start = Instant::now();
        for _ in 0..BATCH {
            black_box(ready(validator.validate(black_box(&fx.token))).unwrap());
        }
        best_validator = best_validator.min(start.elapsed() / BATCH);
    }
    println!(
        "interleaved (best of 20 batches of {BATCH}): bare jsonwebtoken::decode {best_bare:?}, \
         JwtValidator::validate {best_validator:?}, validator throughput = {:.2}x bare",
        best_bare.as_secs_f64() / best_validator.as_secs_f64()
    );
}

fn benches(c: &mut Criterion) {
    let fx = Fixture::new();
    fetch_counts(&fx);
    let validator = fx.warm_validator();
    let key = DecodingKey::from_rsa_raw_components(&fx.n, &fx.e);
    let validation = fx.bare_validation();
    // Both paths must accept the token.
    jsonwebtoken::decode::<EntraClaims>(&fx.token, &key, &validation).unwrap();
    ready(validator.validate(&fx.token)).unwrap();
    interleaved(&fx, &validator, &key, &validation);

    let mut g = c.benchmark_group("validate_cached");
    g.throughput(Throughput::Elements(1));
    g.bench_function("bare_jsonwebtoken_decode", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<EntraClaims>(black_box(&fx.token), &key, &validation).unwrap()
        })
    });
    g.bench_function("jwt_validator_validate", |b| {
        b.iter(|| ready(validator.validate(black_box(&fx.token))).unwrap())
    });
    g.bench_function("jwt_validator_validate_generic", |b| {
        b.iter(|| ready(validator.validate_generic(black_box(&fx.token))).unwrap())
    });
    g.finish();

    let (message, signature) = fx.token.rsplit_once('.').unwrap();
    let mut g = c.benchmark_group("rs256_verify_backend");
    g.throughput(Throughput::Elements(1));
    g.bench_function("aws_lc_rs", |b| {
        b.iter(|| {
            assert!(
                jsonwebtoken::crypto::verify(
                    black_box(signature),
                    message.as_bytes(),
                    &key,
                    Algorithm::RS256
                )
                .unwrap()
            )
        })
    });
    g.bench_function("aws_lc_rs_key_parsed_once", |b| {
        // What the validator does: the key is parsed when the JWK set is read.
        let parsed = aws_lc_rs::signature::RsaPublicKeyComponents {
            n: fx.n.as_slice(),
            e: fx.e.as_slice(),
        }
        .to_parsed_public_key(&aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256)
        .unwrap();
        b.iter(|| {
            let sig = URL_SAFE_NO_PAD.decode(black_box(signature)).unwrap();
            parsed.verify_sig(message.as_bytes(), &sig).unwrap();
        })
    });
    g.bench_function("rust_crypto", |b| {
        use rsa::sha2::{Digest, Sha256};
        b.iter(|| {
            // What jsonwebtoken's rust_crypto backend does for an (n, e) key.
            let sig = URL_SAFE_NO_PAD.decode(black_box(signature)).unwrap();
            let digest = Sha256::digest(message.as_bytes());
            let public = rsa::RsaPublicKey::new(
                rsa::BigUint::from_bytes_be(&fx.n),
                rsa::BigUint::from_bytes_be(&fx.e),
            )
            .unwrap();
            public
                .verify(rsa::Pkcs1v15Sign::new::<Sha256>(), &digest, &sig)
                .unwrap();
        })
    });
    g.finish();

    let mut g = c.benchmark_group("validate_threads");
    for threads in [1usize, 2] {
        g.throughput(Throughput::Elements(threads as u64));
        g.bench_function(format!("{threads}_threads"), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                std::thread::scope(|s| {
                    for _ in 0..threads {
                        s.spawn(|| {
                            for _ in 0..iters {
                                ready(validator.validate(black_box(&fx.token))).unwrap();
                            }
                        });
                    }
                });
                start.elapsed()
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = validator;
    config = Criterion::default()
        .sample_size(40)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = benches
}
criterion_main!(validator);
