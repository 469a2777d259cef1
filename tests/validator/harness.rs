//! Test keys, token signing and an Entra-like issuer (discovery v2/v1 + JWKS) on 127.0.0.1:0 with
//! fault injection and fetch counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pmcp_auth::{EntraConfig, JwtValidator, JwtValidatorConfig, ManualClock};
use serde_json::{Value, json};

pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const OTHER_TENANT: &str = "0b5c8b0e-4a7e-4c1b-9d0e-123456789abc";
pub const CLIENT: &str = "6e74172b-be56-4843-9ff4-e66a39bb12e3";
pub const KID: &str = "key-1";
/// The tests' "now" (2027-01-15).
pub const NOW: u64 = 1_800_000_000;

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An RSA signing key and its public JWK.
pub struct RsaKey {
    pub pair: RsaKeyPair,
}

impl RsaKey {
    pub fn jwk(&self, kid: &str) -> Value {
        let public = PublicKeyComponents::<Vec<u8>>::from(self.pair.public_key());
        json!({"kty": "RSA", "use": "sig", "kid": kid, "n": b64(&public.n), "e": b64(&public.e)})
    }

    pub fn sign(&self, signing_input: &[u8]) -> Vec<u8> {
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input,
                &mut sig,
            )
            .expect("sign");
        sig
    }
}

/// Two RSA keys generated once per test process (generation is the slow part).
pub fn rsa(i: usize) -> &'static RsaKey {
    static KEYS: OnceLock<Vec<RsaKey>> = OnceLock::new();
    &KEYS.get_or_init(|| {
        (0..2)
            .map(|_| RsaKey {
                pair: RsaKeyPair::generate(KeySize::Rsa2048).expect("rsa keygen"),
            })
            .collect()
    })[i]
}

/// A P-256 key: (signing pair, public JWK).
pub fn ec_key(kid: &str) -> (EcdsaKeyPair, Value) {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("ec keygen");
    let public = pair.public_key().as_ref().to_vec();
    let jwk = json!({"kty": "EC", "crv": "P-256", "kid": kid,
        "x": b64(&public[1..33]), "y": b64(&public[33..65])});
    (pair, jwk)
}

/// Sign raw header and payload JSON text (so tests can write duplicate keys) with RS256.
pub fn sign_raw(header: &str, payload: &str, key: &RsaKey) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let sig = key.sign(input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

/// An RS256 token with `kid` = [`KID`] signed by key 0.
pub fn token(claims: &Value) -> String {
    token_with(
        &json!({"alg": "RS256", "typ": "JWT", "kid": KID}),
        claims,
        rsa(0),
    )
}

pub fn token_with(header: &Value, claims: &Value, key: &RsaKey) -> String {
    sign_raw(&header.to_string(), &claims.to_string(), key)
}

/// What the issuer serves instead of the real document, to inject faults.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    None,
    Status(u16),
    /// Never answer (the client's timeout must fire).
    Hang,
    /// A body of this many bytes.
    Oversize(usize),
    BadJson,
}

pub struct IssuerState {
    pub base: String,
    pub jwks: Mutex<Value>,
    pub discovery_fault: Mutex<Fault>,
    pub jwks_fault: Mutex<Fault>,
    pub discovery_fetches: AtomicU64,
    pub jwks_fetches: AtomicU64,
    /// Issuer advertised for a concrete tenant's v2 document (defaults to `{base}/{TENANT}/v2.0`).
    pub issuer_override: Mutex<Option<String>>,
}

/// An Entra-shaped issuer on 127.0.0.1.
pub struct Issuer {
    pub state: Arc<IssuerState>,
    _task: tokio::task::JoinHandle<()>,
}

impl Issuer {
    pub async fn start() -> Issuer {
        Self::start_with_keys(json!({"keys": [rsa(0).jwk(KID)]})).await
    }

    pub async fn start_with_keys(jwks: Value) -> Issuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(IssuerState {
            base,
            jwks: Mutex::new(jwks),
            discovery_fault: Mutex::new(Fault::None),
            jwks_fault: Mutex::new(Fault::None),
            discovery_fetches: AtomicU64::new(0),
            jwks_fetches: AtomicU64::new(0),
            issuer_override: Mutex::new(None),
        });
        let app = Router::new()
            .route(
                "/{tenant}/v2.0/.well-known/openid-configuration",
                get(discovery_v2),
            )
            .route(
                "/{tenant}/.well-known/openid-configuration",
                get(discovery_v1),
            )
            .route("/{tenant}/discovery/v2.0/keys", get(keys))
            .route("/redirect-to-http", get(redirect_to_http))
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Issuer { state, _task: task }
    }

    pub fn base(&self) -> &str {
        &self.state.base
    }

    pub fn issuer_v2(&self, tenant: &str) -> String {
        format!("{}/{tenant}/v2.0", self.base())
    }

    pub fn jwks_fetches(&self) -> u64 {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    pub fn discovery_fetches(&self) -> u64 {
        self.state.discovery_fetches.load(Ordering::SeqCst)
    }

    pub fn set_jwks(&self, jwks: Value) {
        *self.state.jwks.lock().unwrap() = jwks;
    }

    pub fn set_discovery_fault(&self, f: Fault) {
        *self.state.discovery_fault.lock().unwrap() = f;
    }

    pub fn set_jwks_fault(&self, f: Fault) {
        *self.state.jwks_fault.lock().unwrap() = f;
    }

    pub fn entra(&self) -> EntraConfig {
        EntraConfig::new(TENANT, CLIENT).with_authority_host(self.base())
    }

    pub fn config(&self) -> JwtValidatorConfig {
        JwtValidatorConfig::from_entra(&self.entra())
    }

    /// Good v2 claims for this issuer, valid at [`NOW`].
    pub fn claims(&self) -> Value {
        claims_for(&self.issuer_v2(TENANT), TENANT)
    }
}

pub fn claims_for(iss: &str, tid: &str) -> Value {
    json!({
        "aud": CLIENT, "iss": iss, "iat": NOW - 60, "nbf": NOW - 60, "exp": NOW + 3600,
        "sub": "pairwise-subject", "oid": "00000000-0000-0000-0000-0000000000a1", "tid": tid,
        "azp": "11111111-1111-1111-1111-111111111111", "ver": "2.0",
        "preferred_username": "ada@contoso.com", "name": "Ada", "scp": "mcp.tools",
        "roles": ["MCP.User"]
    })
}

/// A validator for `config` whose clock is the returned [`ManualClock`] set to [`NOW`].
pub fn validator(config: JwtValidatorConfig) -> (JwtValidator, ManualClock) {
    let clock = ManualClock::new(NOW);
    let v = JwtValidator::new(config).with_clock(Arc::new(clock.clone()));
    (v, clock)
}

fn apply_fault(fault: &Fault) -> Option<Response> {
    match fault {
        Fault::None | Fault::Hang => None,
        Fault::Status(code) => {
            Some((StatusCode::from_u16(*code).unwrap(), "injected failure").into_response())
        }
        Fault::Oversize(n) => Some(
            (
                [("content-type", "application/json")],
                format!("{{\"keys\":[],\"pad\":\"{}\"}}", "x".repeat(*n)),
            )
                .into_response(),
        ),
        Fault::BadJson => {
            Some(([("content-type", "application/json")], "{not json").into_response())
        }
    }
}

async fn maybe_hang(fault: &Fault) {
    if *fault == Fault::Hang {
        std::future::pending::<()>().await;
    }
}

fn is_multi(tenant: &str) -> bool {
    matches!(tenant, "common" | "organizations" | "consumers")
}

async fn discovery_v2(State(s): State<Arc<IssuerState>>, Path(tenant): Path<String>) -> Response {
    s.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    let fault = s.discovery_fault.lock().unwrap().clone();
    maybe_hang(&fault).await;
    if let Some(r) = apply_fault(&fault) {
        return r;
    }
    let issuer = if is_multi(&tenant) {
        format!("{}/{{tenantid}}/v2.0", s.base)
    } else {
        s.issuer_override
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(|| format!("{}/{TENANT}/v2.0", s.base))
    };
    axum::Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{}/{tenant}/discovery/v2.0/keys", s.base),
        "token_endpoint": format!("{}/{tenant}/oauth2/v2.0/token", s.base),
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
    .into_response()
}

async fn discovery_v1(State(s): State<Arc<IssuerState>>, Path(tenant): Path<String>) -> Response {
    s.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    let fault = s.discovery_fault.lock().unwrap().clone();
    maybe_hang(&fault).await;
    if let Some(r) = apply_fault(&fault) {
        return r;
    }
    let issuer = if is_multi(&tenant) {
        "https://sts.windows.net/{tenantid}/".to_string()
    } else {
        format!("https://sts.windows.net/{TENANT}/")
    };
    axum::Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{}/{tenant}/discovery/keys", s.base),
    }))
    .into_response()
}

async fn keys(State(s): State<Arc<IssuerState>>) -> Response {
    s.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let fault = s.jwks_fault.lock().unwrap().clone();
    maybe_hang(&fault).await;
    if let Some(r) = apply_fault(&fault) {
        return r;
    }
    let body = s.jwks.lock().unwrap().clone();
    axum::Json(body).into_response()
}

/// Redirects to a plain-http, non-loopback URL (which the validator must not follow).
async fn redirect_to_http() -> Response {
    (
        StatusCode::FOUND,
        [(
            "location",
            "http://login.example.invalid/common/v2.0/.well-known/openid-configuration",
        )],
    )
        .into_response()
}

/// A short HTTP timeout for tests that make the issuer hang.
pub const SHORT_TIMEOUT: Duration = Duration::from_millis(300);
