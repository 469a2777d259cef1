//! What keeps the emulator's memory and sockets bounded, driven as a probe did: device code
//! requests with a huge `scope`, codes never redeemed, and sockets that send nothing or trickle.

use super::common::*;
use pmcp_entra_emulator::server::{HEADER_READ_TIMEOUT, MAX_PENDING_CODES, MAX_SCOPE_LEN};
use pmcp_entra_emulator::*;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn devicecode_url(emu: &RunningEmulator) -> String {
    format!(
        "{}/{}/oauth2/v2.0/devicecode",
        emu.authority_host(),
        emu.tenant_id()
    )
}

fn api_scope(emu: &RunningEmulator) -> String {
    format!("api://{}/{DEFAULT_API_SCOPE}", emu.client_id())
}

/// A 2 MB `scope` is refused (413, Entra's shape) before it is parsed or kept; one over the scope
/// limit but under the body limit is 70011 without echoing the value.
#[tokio::test]
async fn huge_scopes_and_bodies_are_refused_in_entras_shape() {
    let emu = start().await;
    let url = devicecode_url(&emu);
    let huge = "a".repeat(2 * 1024 * 1024);
    let (s, b) = post_form(
        &url,
        &[("client_id", DEFAULT_CLIENT_APP_ID), ("scope", &huge)],
    )
    .await;
    assert_aad_error(s, &b, 413, "invalid_request", 90100);
    let long = format!("{} {}", api_scope(&emu), "x".repeat(MAX_SCOPE_LEN));
    let (s, b) = post_form(
        &url,
        &[("client_id", DEFAULT_CLIENT_APP_ID), ("scope", &long)],
    )
    .await;
    assert_aad_error(s, &b, 400, "invalid_scope", 70011);
    assert!(
        !b.to_string().contains("xxxxxxxx"),
        "the scope is echoed: {b}"
    );
    // The token endpoint too.
    let (s, b) = post_form(
        &emu.token_endpoint(),
        &[("grant_type", "client_credentials"), ("scope", &huge)],
    )
    .await;
    assert_aad_error(s, &b, 413, "invalid_request", 90100);
}

/// Device codes that are never redeemed expire and are dropped; at most MAX_PENDING_CODES wait at
/// once (more is 429 with Retry-After), and once they expire new ones are handed out again.
#[tokio::test]
async fn unredeemed_device_codes_are_bounded_and_expire() {
    let emu = start().await;
    let url = devicecode_url(&emu);
    let scope = api_scope(&emu);
    let client = http();
    let mut first_user_code = None;
    for _ in 0..MAX_PENDING_CODES {
        let r = client
            .post(&url)
            .form(&[
                ("client_id", DEFAULT_CLIENT_APP_ID),
                ("scope", scope.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        if first_user_code.is_none() {
            let b: serde_json::Value = r.json().await.unwrap();
            first_user_code = Some(b["user_code"].as_str().unwrap().to_string());
        }
    }
    let r = client
        .post(&url)
        .form(&[
            ("client_id", DEFAULT_CLIENT_APP_ID),
            ("scope", scope.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["retry-after"], "60");
    let s = r.status().as_u16();
    let b: serde_json::Value = r.json().await.unwrap();
    assert_aad_error(s, &b, 429, "temporarily_unavailable", 50196);

    // Past their lifetime (and the while an expired code is still recognised), they are gone.
    emu.advance_clock(Duration::from_secs(2 * 900 + 1));
    let (s, b) = post_form(
        &url,
        &[("client_id", DEFAULT_CLIENT_APP_ID), ("scope", &scope)],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let old = first_user_code.unwrap();
    assert!(
        emu.approve_device_code(&old, "admin@contoso.onmicrosoft.com")
            .is_err(),
        "an expired device code was kept"
    );
}

/// A socket that sends nothing, one that trickles its headers, and an idle keep-alive connection
/// are all closed after HEADER_READ_TIMEOUT.
#[tokio::test]
async fn idle_and_slow_sockets_are_closed() {
    let emu = start().await;
    let addr = format!("127.0.0.1:{}", emu.port());
    let silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /_emulator/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));

    let started = Instant::now();
    let limit = HEADER_READ_TIMEOUT + Duration::from_secs(5);
    // The slow client sends a header line every second and never finishes.
    let trickle = tokio::spawn(async move {
        let _ = slow
            .write_all(b"POST /common/oauth2/v2.0/token HTTP/1.1\r\n")
            .await;
        let mut closed_after = None;
        for i in 0.. {
            if slow
                .write_all(format!("X-Slow-{i}: y\r\n").as_bytes())
                .await
                .is_err()
            {
                closed_after = Some(started.elapsed());
                break;
            }
            let mut b = [0u8; 512];
            match tokio::time::timeout(Duration::from_secs(1), slow.read(&mut b)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    closed_after = Some(started.elapsed());
                    break;
                }
                _ => {}
            }
            if started.elapsed() > limit {
                break;
            }
        }
        closed_after
    });
    let wait_closed = |mut s: tokio::net::TcpStream| async move {
        let mut b = [0u8; 512];
        loop {
            match tokio::time::timeout(limit, s.read(&mut b)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
                Ok(Ok(_)) => continue,
                Err(_) => return None,
            }
        }
    };
    let (silent, idle) = tokio::join!(wait_closed(silent), wait_closed(idle));
    assert!(silent.is_some(), "a silent socket stayed open");
    assert!(idle.is_some(), "an idle keep-alive connection stayed open");
    assert!(
        trickle.await.unwrap().is_some(),
        "a slow-loris socket stayed open"
    );
}
