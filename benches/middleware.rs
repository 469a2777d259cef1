//! Load benchmark: requests per second through `AuthLayer` versus the same MCP server without
//! it, on 127.0.0.1 only, with a bounded number of requests per scenario (and a time cap).
//!
//! ```sh
//! cargo bench --bench middleware --features server,emulator
//! # knobs: PMCP_BENCH_REQUESTS (default 20000), PMCP_BENCH_CONCURRENCY (default 32),
//! #        PMCP_BENCH_MAX_SECONDS (default 60 per scenario), PMCP_BENCH_THREADS (default: all cores)
//! ```
//!
//! The server (a one-route MCP endpoint that answers `tools/call whoami` with the caller's identity,
//! see [`router`]) and the load generator (a reqwest client with keep-alive connections, one task
//! per connection) share one tokio runtime, so the figures are the cost on one machine, not a
//! network test. Each scenario warms up first (the layer's key cache is filled by the warm-up),
//! then sends `tools/call whoami` JSON-RPC requests.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Extension;
use axum::routing::post;
use pmcp_auth::middleware::{AuthLayer, BoxFuture, TokenAuthenticator};
use pmcp_auth::{
    AuthContext, AuthError, EntraConfig, GroupPermissionMapper, JwtValidator, JwtValidatorConfig,
    SecretString,
};
use pmcp_entra_emulator::{Emulator, EmulatorConfig};
use serde_json::{Value, json};

const SECRET: &str = "bench-secret-value";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v| *v > 0)
        .unwrap_or(default)
}

fn main() {
    let threads = env_usize("PMCP_BENCH_THREADS", 0);
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if threads > 0 {
        rt.worker_threads(threads);
    }
    let rt = rt.enable_all().build().expect("tokio runtime");
    rt.block_on(run());
}

async fn run() {
    let requests = env_usize("PMCP_BENCH_REQUESTS", 20_000);
    let concurrency = env_usize("PMCP_BENCH_CONCURRENCY", 32);
    let max = Duration::from_secs(env_usize("PMCP_BENCH_MAX_SECONDS", 60) as u64);

    let mut config = EmulatorConfig::default();
    config.set_default_secret(&SecretString::new(SECRET));
    let emu = Emulator::start(config, 0).await.expect("emulator");
    let entra = EntraConfig::new(emu.tenant_id(), emu.client_id())
        .with_authority_host(&emu.authority_host());
    let token = fetch_token(&emu.authority_host(), &emu.tenant_id(), &emu.client_id()).await;

    let plain = serve(router(None)).await;
    // The default layer: the validator remembers verified tokens (cache on).
    let layered = serve(router(Some(AuthLayer::entra(&entra)))).await;
    // The same with the verified-token cache off: every request verifies the signature.
    let mut no_cache = JwtValidatorConfig::from_entra(&entra);
    no_cache.verified_token_cache_entries = 0;
    let layered_no_cache = serve(router(Some(AuthLayer::new(
        no_cache,
        &entra,
        GroupPermissionMapper::empty(),
    ))))
    .await;
    // The same layer with a check that accepts any token as a fixed caller: the layer's own cost
    // (header parsing, extensions, the larger whoami answer) without the signature verification.
    let fixed = serve(router(Some(AuthLayer::with_authenticator(
        FixedCaller,
        vec![entra.issuer()],
        vec![],
    ))))
    .await;

    let rounds = env_usize("PMCP_BENCH_ROUNDS", 3);
    println!(
        "middleware bench: {rounds} rounds × {requests} requests per scenario, {concurrency} connections, loopback, tools/call whoami"
    );
    let scenarios: [(&str, &str, Option<&str>); 5] = [
        ("without the layer", &plain, None),
        ("AuthLayer, valid token", &layered, Some(&token)),
        ("AuthLayer, no token (401)", &layered, None),
        ("layer with a no-op token check", &fixed, Some(&token)),
        (
            "AuthLayer, valid token, cache off",
            &layered_no_cache,
            Some(&token),
        ),
    ];
    // Warm-up: connections, the key cache.
    for (_, base, bearer) in &scenarios {
        let url = format!("{base}/mcp");
        let _ = load(&url, *bearer, 500.min(requests), concurrency, max).await;
    }
    // Rounds interleave the scenarios, so a noisy neighbour hurts them alike; the median is kept.
    let mut runs: Vec<Vec<f64>> = vec![Vec::new(); scenarios.len()];
    let mut latencies: Vec<Vec<u64>> = vec![Vec::new(); scenarios.len()];
    let mut statuses: Vec<std::collections::BTreeMap<u16, usize>> =
        vec![Default::default(); scenarios.len()];
    for _ in 0..rounds {
        for (i, (_, base, bearer)) in scenarios.iter().enumerate() {
            let url = format!("{base}/mcp");
            let (elapsed, lat, st) = load(&url, *bearer, requests, concurrency, max).await;
            runs[i].push(lat.len() as f64 / elapsed.as_secs_f64());
            latencies[i].extend(lat);
            for (code, n) in st {
                *statuses[i].entry(code).or_default() += n;
            }
        }
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };

    println!();
    println!("| scenario | req/s (median) | req/s (min–max) | p50 µs | p99 µs | statuses |");
    println!("|---|---:|---:|---:|---:|---|");
    for (i, (label, _, _)) in scenarios.iter().enumerate() {
        let lat = &mut latencies[i];
        lat.sort_unstable();
        let pct = |p: f64| {
            lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0)
        };
        let min = runs[i].iter().copied().fold(f64::INFINITY, f64::min);
        let max = runs[i].iter().copied().fold(0.0, f64::max);
        let st: Vec<String> = statuses[i]
            .iter()
            .map(|(s, n)| format!("{s}×{n}"))
            .collect();
        println!(
            "| {label} | {:.0} | {min:.0}–{max:.0} | {} | {} | {} |",
            median(&runs[i]),
            pct(0.50),
            pct(0.99),
            st.join(" ")
        );
    }
    // The validator alone, on this thread: what the layer adds beyond HTTP. Cache off, so every
    // call does the full validation (with the cache on it would measure a hit).
    let mut config = JwtValidatorConfig::from_entra(&entra);
    config.verified_token_cache_entries = 0;
    let validator = JwtValidator::new(config);
    validator
        .validate(&token)
        .await
        .expect("the token validates");
    let n = 5_000;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(validator.validate(&token).await.expect("valid"));
    }
    let per = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!();
    println!(
        "JwtValidator::validate alone (cached keys, cache off, one thread): {per:.1} µs per token"
    );
    let t = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let v = validator.clone();
            let token = token.clone();
            tokio::spawn(async move {
                for _ in 0..n / concurrency {
                    std::hint::black_box(v.validate(&token).await.expect("valid"));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("validate task");
    }
    let total = (n / concurrency) * concurrency;
    println!(
        "JwtValidator::validate (cache off) from {concurrency} tasks on the runtime: {:.0} tokens/s",
        total as f64 / t.elapsed().as_secs_f64()
    );

    // The validated request against the no-op check, paired round by round (the two ran back to
    // back, so a busy neighbour hurts both alike), then the median over the rounds.
    let paired = |i: usize| {
        let ratios: Vec<f64> = runs[3].iter().zip(&runs[i]).map(|(n, v)| n / v).collect();
        median(&ratios)
    };
    println!(
        "paired by round (median of no-op req/s ÷ validated req/s): {:.2}× with the cache on, {:.2}× with the cache off",
        paired(1),
        paired(4)
    );
    // Machine time per request: every core busy (the generator and the server share them).
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let cost = |r: f64| cores * 1e6 / r;
    let best = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    for (what, pick) in [
        ("median", &median as &dyn Fn(&[f64]) -> f64),
        ("best round", &best),
    ] {
        let (plain, valid, noop, uncached) = (
            pick(&runs[0]),
            pick(&runs[1]),
            pick(&runs[3]),
            pick(&runs[4]),
        );
        println!(
            "{what}: a validated request costs {:.2}× the layer with a no-op check (cache on), {:.2}× with the cache off",
            noop / valid,
            noop / uncached,
        );
        println!(
            "{what}: valid token {:.2}× the throughput without the layer; machine time per request ({cores} cores / req/s): {:.0} µs without, {:.0} µs with a no-op check (+{:.0}), {:.0} µs with validation (+{:.0})",
            valid / plain,
            cost(plain),
            cost(noop),
            cost(noop) - cost(plain),
            cost(valid),
            cost(valid) - cost(plain),
        );
    }
    emu.shutdown().await;
}

/// Accepts every token as the same caller (benchmark only: isolates the layer from validation).
struct FixedCaller;

impl TokenAuthenticator for FixedCaller {
    fn authenticate<'a>(
        &'a self,
        _token: &'a str,
    ) -> BoxFuture<'a, Result<AuthContext, AuthError>> {
        Box::pin(async {
            Ok(AuthContext {
                user_id: "00000000-0000-0000-0000-000000000001".into(),
                email: None,
                name: None,
                tenant_id: "00000000-0000-0000-0000-000000000002".into(),
                app_id: Some("00000000-0000-0000-0000-000000000003".into()),
                roles: vec!["MCP.Service".into()],
                scopes: ["execute:tools".to_string(), "read:tools".to_string()].into(),
                groups_overage: false,
            })
        })
    }
}

/// The MCP endpoint the layer protects, reduced to the request the bench sends: `tools/call
/// whoami` answered with the caller's identity as the quickstart server's `whoami` gives it
/// ([`rmcp_example_server::identity`]), or `{"authenticated": false}` without the layer. A router of
/// its own rather than the example's because the bench measures the layer: the example (rmcp
/// behind `McpRouter`) cannot run without the layer, so it would have no baseline, and rmcp's own
/// cost would blur the layer's.
fn router(auth: Option<AuthLayer>) -> axum::Router {
    let router = axum::Router::new().route("/mcp", post(whoami));
    match auth {
        Some(layer) => router.layer(layer.resource_path("/mcp")),
        None => router,
    }
}

async fn whoami(
    caller: Option<Extension<AuthContext>>,
    body: axum::body::Bytes,
) -> axum::Json<Value> {
    let id = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|m| m.get("id").cloned())
        .unwrap_or(Value::Null);
    let who = match caller {
        Some(Extension(ctx)) => rmcp_example_server::identity(&ctx),
        None => json!({"authenticated": false}),
    };
    let text = serde_json::to_string(&who).unwrap_or_default();
    axum::Json(json!({"jsonrpc": "2.0", "id": id, "result": {
        "content": [{"type": "text", "text": text}],
        "structuredContent": who,
        "isError": false,
    }}))
}

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    format!("http://{addr}")
}

async fn fetch_token(authority: &str, tenant: &str, client_id: &str) -> String {
    let v: serde_json::Value = reqwest::Client::new()
        .post(format!("{authority}/{tenant}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", SECRET),
            ("scope", &format!("api://{client_id}/.default")),
        ])
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("token response");
    v["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// Send `total` requests over `concurrency` connections (or stop at `max`); returns the wall time,
/// each request's latency in µs, and the count per status.
async fn load(
    url: &str,
    bearer: Option<&str>,
    total: usize,
    concurrency: usize,
    max: Duration,
) -> (Duration, Vec<u64>, Vec<(u16, usize)>) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("client");
    let body = serde_json::to_vec(&json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "whoami", "arguments": {}}
    }))
    .unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let url = url.to_string();
        let body = body.clone();
        let bearer = bearer.map(|b| format!("Bearer {b}"));
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
            while next.fetch_add(1, Ordering::Relaxed) < total && start.elapsed() < max {
                let t = Instant::now();
                let mut req = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("accept", "application/json, text/event-stream")
                    .body(body.clone());
                if let Some(b) = &bearer {
                    req = req.header("authorization", b);
                }
                let status = match req.send().await {
                    Ok(resp) => {
                        let s = resp.status().as_u16();
                        let _ = resp.bytes().await;
                        s
                    }
                    Err(_) => 0,
                };
                lat.push(t.elapsed().as_micros() as u64);
                *statuses.entry(status).or_default() += 1;
            }
            (lat, statuses)
        }));
    }
    let mut all = Vec::with_capacity(total);
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for t in tasks {
        let (lat, st) = t.await.expect("load task");
        all.extend(lat);
        for (s, n) in st {
            *statuses.entry(s).or_default() += n;
        }
    }
    (start.elapsed(), all, statuses.into_iter().collect())
}
