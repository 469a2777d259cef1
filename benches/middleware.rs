//! Load benchmark: requests per second through `EntraAuthLayer` versus the same MCP server without
//! it, on 127.0.0.1 only, with a bounded number of requests per scenario (and a time cap).
//!
//! ```sh
//! cargo bench --bench middleware --features server,emulator
//! # knobs: PMCP_BENCH_REQUESTS (default 20000), PMCP_BENCH_CONCURRENCY (default 32),
//! #        PMCP_BENCH_MAX_SECONDS (default 60 per scenario), PMCP_BENCH_THREADS (default: all cores)
//! ```
//!
//! The server (the example MCP server's router) and the load generator (a reqwest client with
//! keep-alive connections, one task per connection) share one tokio runtime, so the figures are the
//! cost on one machine, not a network test. Each scenario warms up first (the layer's key cache is
//! filled by the warm-up), then sends `tools/call whoami` JSON-RPC requests.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cargo_pmcp::auth::middleware::EntraAuthLayer;
use cargo_pmcp::auth::{EntraConfig, SecretString};
use cargo_pmcp::emulator::{Emulator, EmulatorConfig};
use pmcp_example_server::{ServerState, app};
use serde_json::json;

const SECRET: &str = "bench-secret-value";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v| *v > 0)
        .unwrap_or(default)
}

struct Outcome {
    label: &'static str,
    requests: usize,
    elapsed: Duration,
    p50_us: u64,
    p99_us: u64,
    statuses: Vec<(u16, usize)>,
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

    let plain = serve(app(state(), None)).await;
    let layered = serve(app(state(), Some(EntraAuthLayer::entra(&entra)))).await;

    println!(
        "middleware bench: {requests} requests per scenario, {concurrency} connections, loopback, tools/call whoami"
    );
    let mut outcomes = Vec::new();
    for (label, base, bearer) in [
        ("without the layer", plain.clone(), None),
        (
            "EntraAuthLayer, valid token",
            layered.clone(),
            Some(token.clone()),
        ),
        ("EntraAuthLayer, no token (401)", layered.clone(), None),
        ("without the layer (again)", plain.clone(), None),
    ] {
        let url = format!("{base}/mcp");
        // Warm-up: connections, the key cache.
        let _ = load(&url, bearer.as_deref(), 500.min(requests), concurrency, max).await;
        let (elapsed, mut latencies, statuses) =
            load(&url, bearer.as_deref(), requests, concurrency, max).await;
        latencies.sort_unstable();
        let pct = |p: f64| {
            latencies
                .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0)
        };
        outcomes.push(Outcome {
            label,
            requests: latencies.len(),
            elapsed,
            p50_us: pct(0.50),
            p99_us: pct(0.99),
            statuses,
        });
    }

    println!();
    println!("| scenario | requests | req/s | p50 µs | p99 µs | statuses |");
    println!("|---|---:|---:|---:|---:|---|");
    for o in &outcomes {
        let rps = o.requests as f64 / o.elapsed.as_secs_f64();
        let statuses: Vec<String> = o.statuses.iter().map(|(s, n)| format!("{s}×{n}")).collect();
        println!(
            "| {} | {} | {:.0} | {} | {} | {} |",
            o.label,
            o.requests,
            rps,
            o.p50_us,
            o.p99_us,
            statuses.join(" ")
        );
    }
    let rps = |i: usize| outcomes[i].requests as f64 / outcomes[i].elapsed.as_secs_f64();
    let baseline = (rps(0) + rps(3)) / 2.0;
    println!();
    println!(
        "valid token through the layer: {:.2}× the throughput without it ({:.1} µs added per request at this concurrency)",
        rps(1) / baseline,
        (1e6 / rps(1) - 1e6 / baseline) * concurrency as f64
    );
    emu.shutdown().await;
}

fn state() -> Arc<ServerState> {
    Arc::new(ServerState::new("bench", "0", json!({})))
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
