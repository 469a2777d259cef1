//! Arbitrary bytes as a bearer token: the unverified decoder and the validator's parsing (header,
//! algorithm allow-list, strict claims JSON) must return an error, never panic.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use pmcp_auth::{JwtValidator, JwtValidatorConfig, ManualClock, dangerous};

struct Setup {
    rt: tokio::runtime::Runtime,
    validator: JwtValidator,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        // Port 9 on loopback refuses connections: the first token that parses records a fetch
        // failure, and the frozen clock keeps every later one from fetching again.
        let mut config = JwtValidatorConfig::from_oidc_issuer("http://127.0.0.1:9", "api");
        config.retry_after_failure = std::time::Duration::from_secs(3600);
        let validator =
            JwtValidator::new(config).with_clock(Arc::new(ManualClock::new(1_800_000_000)));
        Setup { rt, validator }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let _ = dangerous::decode_unverified(token);
    let s = setup();
    let result = s.rt.block_on(s.validator.validate_generic(token));
    // Nothing arbitrary can be valid: there are no keys.
    assert!(result.is_err());
    let err = result.unwrap_err();
    assert!(!err.code().is_empty());
    let _ = err.to_string();
});
