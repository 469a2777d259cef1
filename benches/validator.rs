//! Validator benchmarks (figures and how to reproduce them: docs/performance.md).
//!
//! - `validate_vs_raw_verify`: in one group, the bare aws-lc-rs RSA-2048 verify of the token's
//!   signature (key parsed once, signature decoded) and `JwtValidator::validate` — without the
//!   verified-token cache (every check, every time), with it on a stream of distinct tokens (every
//!   validation a miss and an insert), and with it on one hot token (every validation a hit).
//! - `validate_cached`: one token through `JwtValidator` (cache off) with its key cached, next to
//!   the same token through bare `jsonwebtoken::decode` in the same run.
//! - `rs256_verify_backend`: the RSA verify of jsonwebtoken's two crypto backends — aws-lc-rs (what
//!   we build with) and RustCrypto's `rsa` crate doing exactly what the `rust_crypto` backend does —
//!   and aws-lc-rs with the key parsed once (what the validator does).
//! - `validate_threads`: the hot-token (cache hit) and the full path on 1 and 2 threads
//!   (throughput should scale; no lock).
//! - Printed before the timings: fetch counts for 1,000 concurrent cold validations and 10,000
//!   random-kid tokens in one unknown-kid window, and interleaved comparisons (alternating batches,
//!   so load from other processes hits every path alike).
//! - `PMCP_BENCH_FLOOD=N`: the verified-token cache's entries and the process's RSS after N
//!   distinct valid tokens (Ed25519-signed, so signing them is quick) and N failing ones.
//! - `PMCP_BENCH_PROFILE=<path>`: one path in a loop for callgrind (see [`profile`]).
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
use aws_lc_rs::signature::Ed25519KeyPair;
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
/// The Ed25519 key of the flood measurement.
const ED_KID: &str = "flood-key";

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
    /// The realistic claims of `token`.
    claims: Value,
    ed: Ed25519KeyPair,
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
        let ed = Ed25519KeyPair::generate().unwrap();
        let jwks = json!({"keys": [{"kty": "RSA", "use": "sig", "kid": KID,
            "n": b64(&public.n), "e": b64(&public.e),
            "issuer": "{base}/{tenantid}/v2.0"},
            {"kty": "OKP", "crv": "Ed25519", "use": "sig", "kid": ED_KID,
            "x": b64(ed.public_key().as_ref())}]});
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
            claims: claims.clone(),
            ed,
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

    /// A validator whose verified-token cache holds `entries` (0: off), keys fetched.
    fn validator_with_cache(&self, entries: usize) -> JwtValidator {
        let mut config = self.config();
        config.verified_token_cache_entries = entries;
        let v = JwtValidator::new(config);
        self.rt.block_on(v.refresh()).unwrap();
        v
    }

    /// `n` distinct RS256 tokens: the realistic claims with a different `uti` each (Entra's
    /// unique token id).
    fn distinct_tokens(&self, n: usize) -> Vec<String> {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": KID});
        (0..n)
            .map(|i| {
                let mut claims = self.claims.clone();
                claims["uti"] = json!(format!("bench{i:017}"));
                self.sign(&header, &claims)
            })
            .collect()
    }

    /// An EdDSA token with the realistic claims and this `uti`.
    fn ed_token(&self, header: &str, uti: u64) -> String {
        let mut claims = self.claims.clone();
        claims["uti"] = json!(format!("flood{uti:017}"));
        let input = format!("{header}.{}", b64(claims.to_string().as_bytes()));
        let sig = self.ed.sign(input.as_bytes());
        format!("{input}.{}", b64(sig.as_ref()))
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

/// Paths measured in alternating batches, so load on a shared machine affects them alike; prints
/// the best batch of each and its throughput relative to the first path.
fn interleaved(title: &str, paths: &mut [(&str, &mut dyn FnMut())]) {
    // Short batches, many rounds: on a loaded machine the best batch of each path is the one that
    // ran without being preempted.
    const BATCH: u32 = 50;
    const ROUNDS: u32 = 200;
    let mut best = vec![Duration::MAX; paths.len()];
    for _ in 0..ROUNDS {
        for (i, (_, run)) in paths.iter_mut().enumerate() {
            let start = Instant::now();
            for _ in 0..BATCH {
                run();
            }
            best[i] = best[i].min(start.elapsed() / BATCH);
        }
    }
    println!("interleaved, {title} (best of {ROUNDS} batches of {BATCH}):");
    for (i, (name, _)) in paths.iter().enumerate() {
        println!(
            "  {name}: {:?} per token, throughput {:.2}x {}",
            best[i],
            best[0].as_secs_f64() / best[i].as_secs_f64(),
            paths[0].0
        );
    }
}

/// `PMCP_BENCH_FLOOD=N`: N distinct valid tokens, then N failing ones, through one default
/// validator (10,000-entry cache): the entries it holds and the process's resident memory.
fn flood(fx: &Fixture, n: u64) {
    let rss = || {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            })
            .map_or("?".to_string(), |kb| {
                format!("{:.1} MiB", kb as f64 / 1024.0)
            })
    };
    let mut config = fx.config();
    config.algorithms.push(Algorithm::EdDSA);
    let v = JwtValidator::new(config);
    fx.rt.block_on(v.refresh()).unwrap();
    let header = b64(json!({"alg": "EdDSA", "typ": "JWT", "kid": ED_KID})
        .to_string()
        .as_bytes());
    let status = |v: &JwtValidator| v.verified_token_cache_status().unwrap();
    println!(
        "flood: before: {} entries (capacity {}), RSS {}",
        status(&v).entries,
        status(&v).capacity,
        rss()
    );
    let started = Instant::now();
    for i in 0..n {
        let t = fx.ed_token(&header, i);
        ready(v.validate(&t)).unwrap();
        if (i + 1) % (n / 4).max(1) == 0 {
            println!(
                "flood: {} distinct valid tokens: {} entries, RSS {} ({:?})",
                i + 1,
                status(&v).entries,
                rss(),
                started.elapsed()
            );
        }
    }
    // Failing tokens: a valid header and payload under a wrong (but well-formed) signature, so each
    // costs a real verify; and garbage.
    let good = fx.ed_token(&header, 0);
    let (input, _) = good.rsplit_once('.').unwrap();
    let started = Instant::now();
    for i in 0..n {
        let mut sig = [0u8; 64];
        sig[..8].copy_from_slice(&i.to_le_bytes());
        assert!(ready(v.validate(&format!("{input}.{}", b64(&sig)))).is_err());
        assert!(ready(v.validate(&format!("garbage.{i}.token"))).is_err());
    }
    println!(
        "flood: then {n} forged and {n} garbage tokens: {} entries, RSS {} ({:?})",
        status(&v).entries,
        rss(),
        started.elapsed()
    );
}

/// `PMCP_BENCH_PROFILE=<path>`: run one path `PMCP_BENCH_ITERS` times (default 200) inside
/// [`profile_loop`] and exit, for instruction counts under callgrind
/// (`--toggle-collect='*profile_loop*'`; see docs/performance.md). Paths: `raw_verify` (aws-lc-rs
/// verify of the token's signature with the key parsed once, signature already decoded),
/// `validate` (the default validator, the same token every time: cache hits), `validate_no_cache`
/// (cache off: every check every time), `validate_miss` (a 16-entry cache and 128 distinct tokens
/// in turn: every validation a miss and an insert).
fn profile(fx: &Fixture, path: &str) {
    let iters: u64 = std::env::var("PMCP_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let (message, signature) = fx.token.rsplit_once('.').unwrap();
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let parsed = aws_lc_rs::signature::RsaPublicKeyComponents {
        n: fx.n.as_slice(),
        e: fx.e.as_slice(),
    }
    .to_parsed_public_key(&aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256)
    .unwrap();
    let validator = fx.warm_validator();
    let no_cache = fx.validator_with_cache(0);
    let small = fx.validator_with_cache(16);
    let pool = if path == "validate_miss" {
        fx.distinct_tokens(128)
    } else {
        Vec::new()
    };
    let next = std::cell::Cell::new(0usize);
    let run: Box<dyn Fn()> = match path {
        "raw_verify" => Box::new(|| {
            parsed
                .verify_sig(black_box(message.as_bytes()), black_box(&signature))
                .unwrap()
        }),
        "validate" => Box::new(|| {
            black_box(ready(validator.validate(black_box(&fx.token))).unwrap());
        }),
        "validate_no_cache" => Box::new(|| {
            black_box(ready(no_cache.validate(black_box(&fx.token))).unwrap());
        }),
        "validate_miss" => Box::new(|| {
            let i = next.get();
            next.set((i + 1) % pool.len());
            black_box(ready(small.validate(black_box(&pool[i]))).unwrap());
        }),
        other => panic!("unknown PMCP_BENCH_PROFILE path {other}"),
    };
    run();
    profile_loop(iters, &*run);
    println!("profiled {path}: {iters} iterations");
}

#[inline(never)]
fn profile_loop(iters: u64, run: &dyn Fn()) {
    for _ in 0..iters {
        run();
    }
}

fn benches(c: &mut Criterion) {
    let fx = Fixture::new();
    if let Ok(path) = std::env::var("PMCP_BENCH_PROFILE") {
        profile(&fx, &path);
        std::process::exit(0);
    }
    if let Some(n) = std::env::var("PMCP_BENCH_FLOOD")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        flood(&fx, n);
    }
    fetch_counts(&fx);
    // `validator`: the default (cache on); `no_cache`: every check on every call.
    let validator = fx.warm_validator();
    let no_cache = fx.validator_with_cache(0);
    // A stream of distinct tokens through a cache much smaller than the stream: every validation
    // is a miss and an insert (with an eviction). 128 tokens, so they stay in the CPU caches as a
    // token just read from the network would.
    let pool = fx.distinct_tokens(128);
    let small = fx.validator_with_cache(16);
    let key = DecodingKey::from_rsa_raw_components(&fx.n, &fx.e);
    let validation = fx.bare_validation();
    // Every path must accept the token.
    jsonwebtoken::decode::<EntraClaims>(&fx.token, &key, &validation).unwrap();
    ready(validator.validate(&fx.token)).unwrap();
    ready(no_cache.validate(&fx.token)).unwrap();
    let (message, signature) = fx.token.rsplit_once('.').unwrap();
    let raw_signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let parsed = aws_lc_rs::signature::RsaPublicKeyComponents {
        n: fx.n.as_slice(),
        e: fx.e.as_slice(),
    }
    .to_parsed_public_key(&aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256)
    .unwrap();
    let raw_verify = || {
        parsed
            .verify_sig(black_box(message.as_bytes()), black_box(&raw_signature))
            .unwrap()
    };
    // The pool's tokens split once, for the raw verify over the same rotation of tokens.
    let pool_parts: Vec<(&str, Vec<u8>)> = pool
        .iter()
        .map(|t| {
            let (m, s) = t.rsplit_once('.').unwrap();
            (m, URL_SAFE_NO_PAD.decode(s).unwrap())
        })
        .collect();
    let (mut n1, mut n2, mut n3) = (0usize, 0usize, 0usize);
    interleaved(
        "raw verify vs validate",
        &mut [
            ("raw aws-lc-rs RSA-2048 verify", &mut || raw_verify()),
            (
                "raw verify plus base64 of the signature (the issue's 21 µs comparator)",
                &mut || {
                    let sig = URL_SAFE_NO_PAD.decode(black_box(signature)).unwrap();
                    parsed.verify_sig(message.as_bytes(), &sig).unwrap()
                },
            ),
            ("validate, cache off", &mut || {
                black_box(ready(no_cache.validate(black_box(&fx.token))).unwrap());
            }),
            ("validate, hot token (cache hits)", &mut || {
                black_box(ready(validator.validate(black_box(&fx.token))).unwrap());
            }),
            ("raw verify, 128 distinct tokens in turn", &mut || {
                n1 = (n1 + 1) % pool.len();
                let (m, s) = &pool_parts[n1];
                parsed
                    .verify_sig(black_box(m.as_bytes()), black_box(s))
                    .unwrap()
            }),
            ("validate, cache off, 128 distinct tokens", &mut || {
                n2 = (n2 + 1) % pool.len();
                black_box(ready(no_cache.validate(black_box(&pool[n2]))).unwrap());
            }),
            (
                "validate, cache on, 128 distinct tokens (all misses)",
                &mut || {
                    n3 = (n3 + 1) % pool.len();
                    black_box(ready(small.validate(black_box(&pool[n3]))).unwrap());
                },
            ),
        ],
    );
    interleaved(
        "bare jsonwebtoken::decode vs validate (cache off)",
        &mut [
            ("bare jsonwebtoken::decode", &mut || {
                black_box(
                    jsonwebtoken::decode::<EntraClaims>(black_box(&fx.token), &key, &validation)
                        .unwrap(),
                );
            }),
            ("JwtValidator::validate, cache off", &mut || {
                black_box(ready(no_cache.validate(black_box(&fx.token))).unwrap());
            }),
        ],
    );

    let mut g = c.benchmark_group("validate_vs_raw_verify");
    g.throughput(Throughput::Elements(1));
    g.bench_function("raw_verify", |b| b.iter(raw_verify));
    g.bench_function("validate_no_cache", |b| {
        b.iter(|| ready(no_cache.validate(black_box(&fx.token))).unwrap())
    });
    let mut next = 0usize;
    g.bench_function("validate_distinct_tokens", |b| {
        b.iter(|| {
            next = (next + 1) % pool.len();
            ready(small.validate(black_box(&pool[next]))).unwrap()
        })
    });
    g.bench_function("validate_hot_token", |b| {
        b.iter(|| ready(validator.validate(black_box(&fx.token))).unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("validate_cached");
    g.throughput(Throughput::Elements(1));
    g.bench_function("bare_jsonwebtoken_decode", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<EntraClaims>(black_box(&fx.token), &key, &validation).unwrap()
        })
    });
    g.bench_function("jwt_validator_validate", |b| {
        b.iter(|| ready(no_cache.validate(black_box(&fx.token))).unwrap())
    });
    g.bench_function("jwt_validator_validate_generic", |b| {
        b.iter(|| ready(no_cache.validate_generic(black_box(&fx.token))).unwrap())
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
    for (path, v) in [("hot", &validator), ("no_cache", &no_cache)] {
        for threads in [1usize, 2] {
            g.throughput(Throughput::Elements(threads as u64));
            g.bench_function(format!("{path}_{threads}_threads"), |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for _ in 0..threads {
                            s.spawn(|| {
                                for _ in 0..iters {
                                    ready(v.validate(black_box(&fx.token))).unwrap();
                                }
                            });
                        }
                    });
                    start.elapsed()
                })
            });
        }
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
