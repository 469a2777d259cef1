//! Helpers: an emulator with a known secret, a form POST, verifying a token against the JWKS.

use pmcp_auth::SecretString;
use pmcp_entra_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use serde_json::{Map, Value};

pub const SECRET: &str = "emulator-test-secret-value";

pub async fn start_with(mut config: EmulatorConfig) -> RunningEmulator {
    config.set_default_secret(&SecretString::new(SECRET));
    Emulator::start(config, 0).await.expect("emulator starts")
}

pub async fn start() -> RunningEmulator {
    start_with(EmulatorConfig::default()).await
}

pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// POST a form; return status and JSON body.
pub async fn post_form(url: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r = http().post(url).form(form).send().await.expect("POST");
    let status = r.status().as_u16();
    (status, r.json().await.expect("JSON body"))
}

pub async fn get_json(url: &str) -> (u16, Value) {
    let r = http().get(url).send().await.expect("GET");
    let status = r.status().as_u16();
    (status, r.json().await.expect("JSON body"))
}

/// Check the signature of `token` against the key set at `jwks_uri` (by kid) and return the
/// claims. Time and audience are the validator's business; this proves the key set and signature.
pub async fn verify_with_jwks(token: &str, jwks_uri: &str) -> Map<String, Value> {
    let header = jsonwebtoken::decode_header(token).expect("header");
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let (_, jwks) = get_json(jwks_uri).await;
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks).expect("JWK set");
    let kid = header.kid.expect("kid");
    let jwk = set
        .find(&kid)
        .unwrap_or_else(|| panic!("kid {kid} not published"));
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).expect("key");
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.validate_aud = false;
    jsonwebtoken::decode::<Map<String, Value>>(token, &key, &v)
        .expect("token verifies")
        .claims
}

/// Assert an Entra-shaped error body with this AADSTS code.
pub fn assert_aad_error(status: u16, body: &Value, want_status: u16, error: &str, code: u64) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_codes"][0], code, "{body}");
    let desc = body["error_description"].as_str().unwrap();
    assert!(desc.starts_with(&format!("AADSTS{code}: ")), "{desc}");
    for k in ["timestamp", "trace_id", "correlation_id"] {
        assert!(
            body[k].as_str().is_some_and(|s| !s.is_empty()),
            "{k} in {body}"
        );
    }
}
