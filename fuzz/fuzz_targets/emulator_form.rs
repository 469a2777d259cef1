//! Arbitrary form bodies to the emulator's POST endpoints (token v2/v1, device code v2/v1,
//! control), in process: every answer is a status and, for Entra's endpoints, a JSON body; never a
//! panic. The first byte picks the endpoint, the rest is the body.
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Request, header};
use libfuzzer_sys::fuzz_target;
use pmcp_entra_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use tower::ServiceExt;

struct Setup {
    rt: tokio::runtime::Runtime,
    emulator: RunningEmulator,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let emulator = rt
            .block_on(Emulator::start(EmulatorConfig::default(), 0))
            .expect("emulator starts");
        Setup { rt, emulator }
    })
}

const PATHS: [&str; 6] = [
    "/common/oauth2/v2.0/token",
    "/contoso.onmicrosoft.com/oauth2/v2.0/token",
    "/organizations/oauth2/token",
    "/common/oauth2/v2.0/devicecode",
    "/contoso.onmicrosoft.com/oauth2/devicecode",
    "/_emulator/device/approve",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let s = setup();
    let path = PATHS[pick as usize % PATHS.len()];
    let req = Request::post(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_vec()))
        .expect("request");
    let router = s.emulator.router();
    s.rt.block_on(async {
        let resp = router.oneshot(req).await.expect("infallible");
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body");
        if !path.starts_with("/_emulator") {
            let v: serde_json::Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{status}: not JSON ({e})"));
            if !status.is_success() {
                assert!(v["error"].is_string(), "{status}: {v}");
            }
        }
    });
});
