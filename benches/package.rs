//! Packaging and upload throughput. Run: `cargo bench --bench package` (release build).
//!
//! 1. Packaging a 64 MiB binary (the cargo-pmcp binary repeated, so it compresses like real code):
//!    MB/s, and peak heap while packaging (a counting allocator) next to the 16 MiB figure, to show
//!    memory does not grow with the binary's size.
//! 2. Uploading the resulting zip to a loopback HTTP server with the deploy code's presigned-URL
//!    `upload::put` (streamed PUT with `Content-Type` and `Content-Length`) next to `curl -T` on the
//!    same file and server.

use cargo_pmcp::deploy::package::{self, DeployManifest};
use cargo_pmcp::deploy::targets::pmcp_run::RetryPolicy;
use cargo_pmcp::deploy::targets::pmcp_run::http::Scrubber;
use cargo_pmcp::deploy::targets::pmcp_run::upload::{self, Payload, Upload};
use cargo_pmcp::ui::Progress;
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded to the system allocator with the caller's layout.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const MIB: u64 = 1024 * 1024;

fn make_binary(dir: &Path, size: u64) -> PathBuf {
    let seed = std::fs::read(env!("CARGO_BIN_EXE_cargo-pmcp")).expect("the cargo-pmcp binary");
    let p = dir.join(format!("bin-{}m", size / MIB));
    let mut f = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
    let mut left = size as usize;
    while left > 0 {
        let n = left.min(seed.len());
        f.write_all(&seed[..n]).unwrap();
        left -= n;
    }
    f.flush().unwrap();
    p
}

fn manifest() -> DeployManifest {
    DeployManifest {
        format: 1,
        name: "bench".into(),
        version: "0.0.0".into(),
        bin: "bench".into(),
        target: "x86_64-unknown-linux-gnu".into(),
        binary_sha256: String::new(),
        binary_size: 0,
        env_names: vec!["AUTH_ISSUER".into()],
        secret_names: vec![],
    }
}

/// Package `bin` `runs` times; returns (best seconds, peak heap bytes above the baseline, zip size).
fn bench_package(bin: &Path, out: &Path, runs: usize) -> (f64, usize, u64) {
    let mut best = f64::MAX;
    let mut peak = 0;
    let mut size = 0;
    for _ in 0..runs {
        let base = CURRENT.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let t = Instant::now();
        let a = package::package(bin, manifest(), out).unwrap();
        best = best.min(t.elapsed().as_secs_f64());
        peak = peak.max(PEAK.load(Ordering::Relaxed) - base);
        size = a.size;
    }
    (best, peak, size)
}

/// A loopback HTTP/1.1 server that reads and discards request bodies and answers 200.
fn sink_server() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/upload", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut r = BufReader::with_capacity(256 * 1024, s);
                let mut len = 0usize;
                let mut line = String::new();
                loop {
                    line.clear();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if line == "\r\n" {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    if lower.starts_with("expect: 100-continue") {
                        let _ = r.get_mut().write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
                    }
                }
                let mut buf = vec![0u8; 256 * 1024];
                let mut left = len;
                while left > 0 {
                    let want = left.min(buf.len());
                    let n = r.read(&mut buf[..want]).unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    left -= n;
                }
                let _ = r.get_mut().write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            });
        }
    });
    url
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let dir = tempfile::tempdir().unwrap();
    let runs = 3;
    println!("## Packaging (best of {runs})\n");
    println!("| binary | zip | time | throughput | peak heap while packaging |");
    println!("|---|---|---|---|---|");
    let mut zip64 = PathBuf::new();
    for size in [16 * MIB, 64 * MIB] {
        let bin = make_binary(dir.path(), size);
        let out = dir.path().join(format!("out-{}m.zip", size / MIB));
        let (secs, peak, zip) = bench_package(&bin, &out, runs);
        println!(
            "| {} MiB | {:.1} MiB | {:.2} s | {:.0} MB/s | {:.2} MiB |",
            size / MIB,
            zip as f64 / MIB as f64,
            secs,
            size as f64 / 1e6 / secs,
            peak as f64 / MIB as f64
        );
        if size == 64 * MIB {
            zip64 = out;
        }
    }

    let url = sink_server();
    let size = std::fs::metadata(&zip64).unwrap().len();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let http = cargo_pmcp::deploy::targets::pmcp_run::http::client();
    let quiet = Progress::new(false, true);
    let mut best = f64::MAX;
    for _ in 0..runs {
        let t = Instant::now();
        let up = Upload {
            name: "bench",
            url: &url,
            content_type: "application/zip",
            payload: Payload::File(zip64.clone()),
        };
        rt.block_on(upload::put(
            &http,
            &up,
            &RetryPolicy::default(),
            Some(&quiet),
            &Scrubber::new(),
            |m| eprintln!("{m}"),
        ))
        .unwrap();
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "\n## Upload of the 64 MiB binary's zip ({:.1} MiB) to a loopback server (best of {runs})\n",
        size as f64 / MIB as f64
    );
    println!("| client | time | throughput |");
    println!("|---|---|---|");
    println!(
        "| cargo-pmcp upload::put | {:.3} s | {:.0} MB/s |",
        best,
        size as f64 / 1e6 / best
    );
    let mut curl_best = f64::MAX;
    let mut curl_ok = true;
    for _ in 0..runs {
        let t = Instant::now();
        let st = std::process::Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-H", "Expect:", "-T"])
            .arg(&zip64)
            .arg(&url)
            .status();
        match st {
            Ok(s) if s.success() => curl_best = curl_best.min(t.elapsed().as_secs_f64()),
            _ => {
                curl_ok = false;
                break;
            }
        }
    }
    if curl_ok {
        println!(
            "| curl -T | {:.3} s | {:.0} MB/s |",
            curl_best,
            size as f64 / 1e6 / curl_best
        );
    } else {
        println!("| curl -T | (curl not available) | |");
    }
}
