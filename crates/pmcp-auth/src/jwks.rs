//! JSON Web Key sets: our own model (keeps each key's `issuer`, accepts keys without `alg`, skips
//! keys it cannot use without failing the set) and the key cache behind the validator's hot path.
//!
//! The cache is an [`ArcSwapOption`] of an immutable [`Snapshot`] (keys plus the issuers from
//! discovery): a validation whose key is cached reads it without taking any lock. Misses go through
//! one async mutex, so concurrent misses share a single fetch (single-flight), and an unknown `kid`
//! refreshes at most once per window.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arc_swap::ArcSwapOption;
use aws_lc_rs::signature::{self as sig, ParsedPublicKey, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::{Deserialize, Serialize};

use super::error::AuthError;

/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// One key of a JWK set, as published. Unknown members are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `RSA`, `EC`, `OKP` (`oct` is never usable here).
    pub kty: String,
    /// Key id, matched against the token header's `kid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Algorithm the key is for. Entra omits it; then any algorithm of the key's type that the
    /// validator allows is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// `sig` or `enc`; `enc` keys are skipped.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub key_use: Option<String>,
    /// Permitted operations; when present it must include `verify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_ops: Option<Vec<String>>,
    /// Entra: the issuer this key signs for, e.g. `https://login.microsoftonline.com/{tenantid}/v2.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// RSA modulus (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA exponent (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// EC / OKP curve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC x coordinate / OKP public key (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// Certificate chain (not used for verification; kept for display).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x5c: Option<Vec<String>>,
}

/// A key the set published that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedKey {
    /// The key's `kid`, if it had one.
    pub kid: Option<String>,
    /// Why it was skipped.
    pub reason: String,
}

/// A usable verification key.
#[derive(Clone)]
pub struct VerificationKey {
    /// Key id.
    pub kid: String,
    /// The issuer the key is published for (may contain `{tenantid}`).
    pub issuer: Option<String>,
    /// The one algorithm the key is for, when the set says so.
    pub alg: Option<Algorithm>,
    /// Algorithms this key can verify (by type and curve, narrowed by `alg`).
    pub algorithms: Vec<Algorithm>,
    /// One key parsed once per algorithm, so a verification does no key setup.
    verifiers: Vec<(Algorithm, ParsedPublicKey)>,
}

impl std::fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("issuer", &self.issuer)
            .field("alg", &self.alg)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

impl VerificationKey {
    /// True when this key may verify a token signed with `alg`.
    pub fn allows(&self, alg: Algorithm) -> bool {
        self.algorithms.contains(&alg)
    }

    /// True when `signature` (raw bytes) is a valid `alg` signature of `message` by this key.
    pub fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        self.verifiers
            .iter()
            .find(|(a, _)| *a == alg)
            .is_some_and(|(_, key)| key.verify_sig(message, signature).is_ok())
    }
}

/// A parsed key set: the usable keys by `kid`, and the ones skipped with a reason.
#[derive(Debug, Clone, Default)]
pub struct JwkSet {
    /// Usable keys by `kid` (the first of two keys with one `kid` wins; the second is skipped).
    /// Looked up on every validation, so hashed with foldhash rather than SipHash; the map only
    /// holds the provider's keys (a token's `kid` is looked up, never inserted).
    pub keys: HashMap<String, VerificationKey, foldhash::fast::RandomState>,
    /// Keys that could not be used.
    pub skipped: Vec<SkippedKey>,
}

impl JwkSet {
    /// Parse `{"keys":[…]}`. Only a document that is not a JSON object with a `keys` array is an
    /// error; each unusable key is skipped with a reason.
    pub fn parse(bytes: &[u8]) -> Result<JwkSet, String> {
        #[derive(Deserialize)]
        struct Raw {
            keys: Vec<serde_json::Value>,
        }
        let raw: Raw = serde_json::from_slice(bytes)
            .map_err(|e| format!("not a JWK set (a JSON object with a `keys` array): {e}"))?;
        let mut set = JwkSet::default();
        for value in raw.keys {
            let kid_hint = value
                .get("kid")
                .and_then(|k| k.as_str())
                .map(str::to_string);
            let jwk: Jwk = match serde_json::from_value(value) {
                Ok(j) => j,
                Err(e) => {
                    set.skipped.push(SkippedKey {
                        kid: kid_hint,
                        reason: format!("not a JWK: {e}"),
                    });
                    continue;
                }
            };
            match verification_key(&jwk) {
                Ok(key) => {
                    if set.keys.contains_key(&key.kid) {
                        set.skipped.push(SkippedKey {
                            kid: Some(key.kid),
                            reason: "a key with this kid appears earlier in the set".into(),
                        });
                    } else {
                        set.keys.insert(key.kid.clone(), key);
                    }
                }
                Err(reason) => set.skipped.push(SkippedKey {
                    kid: jwk.kid.clone(),
                    reason,
                }),
            }
        }
        Ok(set)
    }
}

fn b64(field: &str, value: &Option<String>) -> Result<Vec<u8>, String> {
    let v = value
        .as_deref()
        .ok_or_else(|| format!("missing `{field}`"))?;
    URL_SAFE_NO_PAD
        .decode(v.trim_end_matches('='))
        .map_err(|e| format!("`{field}` is not base64url: {e}"))
}

/// Turn a published key into a verification key, or say why it cannot be one.
pub fn verification_key(jwk: &Jwk) -> Result<VerificationKey, String> {
    let kid = match jwk.kid.as_deref() {
        Some(k) if !k.is_empty() => k.to_string(),
        _ => return Err("no `kid`, so no token can select it".into()),
    };
    if let Some(u) = jwk.key_use.as_deref()
        && u != "sig"
    {
        return Err(format!("`use` is `{u}`, not `sig`"));
    }
    if let Some(ops) = &jwk.key_ops
        && !ops.iter().any(|o| o == "verify")
    {
        return Err("`key_ops` does not include `verify`".into());
    }
    let alg = match jwk.alg.as_deref() {
        None => None,
        Some(a) => match a.parse::<Algorithm>() {
            Ok(a) => Some(a),
            Err(_) => return Err(format!("unsupported `alg` `{a}`")),
        },
    };
    enum Material {
        Rsa { n: Vec<u8>, e: Vec<u8> },
        Point(Vec<u8>),
    }
    let (family_algs, material): (Vec<Algorithm>, Material) = match jwk.kty.as_str() {
        "RSA" => {
            let n = b64("n", &jwk.n)?;
            let e = b64("e", &jwk.e)?;
            let first = n.iter().position(|b| *b != 0).unwrap_or(n.len());
            let n = n[first..].to_vec();
            let bits = n
                .first()
                .map_or(0, |b| n.len() * 8 - b.leading_zeros() as usize);
            if bits < MIN_RSA_BITS {
                return Err(format!(
                    "RSA modulus is {bits} bits; at least {MIN_RSA_BITS} are required"
                ));
            }
            if e.is_empty() || e.len() > 8 {
                return Err("RSA exponent is not a usable integer".into());
            }
            (
                vec![
                    Algorithm::RS256,
                    Algorithm::RS384,
                    Algorithm::RS512,
                    Algorithm::PS256,
                    Algorithm::PS384,
                    Algorithm::PS512,
                ],
                Material::Rsa { n, e },
            )
        }
        "EC" => {
            let alg_for_curve = match jwk.crv.as_deref() {
                Some("P-256") => Algorithm::ES256,
                Some("P-384") => Algorithm::ES384,
                other => return Err(format!("unsupported EC curve {other:?}")),
            };
            let len = if alg_for_curve == Algorithm::ES256 {
                32
            } else {
                48
            };
            let x = b64("x", &jwk.x)?;
            let y = b64("y", &jwk.y)?;
            if x.len() != len || y.len() != len {
                return Err("EC coordinates have the wrong length for the curve".into());
            }
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            (vec![alg_for_curve], Material::Point(point))
        }
        "OKP" => {
            if jwk.crv.as_deref() != Some("Ed25519") {
                return Err(format!("unsupported OKP curve {:?}", jwk.crv));
            }
            let x = b64("x", &jwk.x)?;
            if x.len() != 32 {
                return Err("Ed25519 key is not 32 bytes".into());
            }
            (vec![Algorithm::EdDSA], Material::Point(x))
        }
        "oct" => return Err("symmetric (`oct`) keys are never accepted".into()),
        other => return Err(format!("unsupported key type `{other}`")),
    };
    let algorithms = match alg {
        Some(a) if family_algs.contains(&a) => vec![a],
        Some(a) => return Err(format!("`alg` {a:?} does not fit key type `{}`", jwk.kty)),
        None => family_algs,
    };
    let mut verifiers = Vec::with_capacity(algorithms.len());
    for a in &algorithms {
        let parsed = match (&material, a) {
            (Material::Rsa { n, e }, _) => {
                let params: &'static sig::RsaParameters = match a {
                    Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
                    Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
                    Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
                    Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
                    Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
                    _ => &sig::RSA_PSS_2048_8192_SHA512,
                };
                RsaPublicKeyComponents {
                    n: n.as_slice(),
                    e: e.as_slice(),
                }
                .to_parsed_public_key(params)
            }
            (Material::Point(p), Algorithm::ES256) => {
                ParsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, p)
            }
            (Material::Point(p), Algorithm::ES384) => {
                ParsedPublicKey::new(&sig::ECDSA_P384_SHA384_FIXED, p)
            }
            (Material::Point(p), _) => ParsedPublicKey::new(&sig::ED25519, p),
        }
        .map_err(|e| format!("the key material is not a valid {} key: {e}", jwk.kty))?;
        verifiers.push((*a, parsed));
    }
    Ok(VerificationKey {
        kid,
        issuer: jwk.issuer.clone(),
        alg,
        algorithms,
        verifiers,
    })
}

/// What one refresh learned: keys plus the expected issuers from discovery. Immutable once built.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The key set.
    pub keys: JwkSet,
    /// Expected issuer of v2.0 (or OIDC) tokens; may contain `{tenantid}`.
    pub issuer: String,
    /// Expected issuer of v1.0 tokens when they are accepted; may contain `{tenantid}`.
    pub issuer_v1: Option<String>,
    /// When the keys were fetched (clock seconds).
    pub fetched_at: u64,
    /// Identifies this snapshot among every snapshot the process has stored (assigned when the
    /// key cache stores it; 0 before). A verified-token cache entry is only usable under the
    /// snapshot it was verified with, so replaced keys or issuers invalidate it.
    pub generation: u64,
}

/// Source of [`Snapshot::generation`]: unique in the process, never 0.
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

/// A public view of the cache's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KeyCacheStatus {
    /// Refresh attempts made (each fetches discovery and the JWK set).
    pub fetch_attempts: u64,
    /// Attempts that failed.
    pub failed_fetches: u64,
    /// Usable keys cached.
    pub keys: usize,
    /// `kid`s of the cached keys, sorted.
    pub kids: Vec<String>,
    /// Keys skipped in the last good set.
    pub skipped: Vec<SkippedKey>,
    /// When the cached keys were fetched (clock seconds).
    pub fetched_at: Option<u64>,
    /// The last refresh error, if the last attempt failed (the cached keys, if any, stay in use).
    pub last_error: Option<String>,
}

fn no_keys_yet() -> AuthError {
    AuthError::JwksUnavailable {
        uri: String::new(),
        detail: "no keys have been fetched yet".into(),
    }
}

/// The key cache (see the module docs).
pub(crate) struct KeyCache {
    current: ArcSwapOption<Snapshot>,
    refresh_lock: tokio::sync::Mutex<()>,
    attempts: AtomicU64,
    failures: AtomicU64,
    /// Clock seconds of the last attempt (0 = never).
    last_attempt_at: AtomicU64,
    last_error: Mutex<Option<AuthError>>,
    background_running: AtomicBool,
    completed: tokio::sync::watch::Sender<u64>,
}

impl KeyCache {
    pub(crate) fn new() -> Self {
        Self {
            current: ArcSwapOption::const_empty(),
            refresh_lock: tokio::sync::Mutex::new(()),
            attempts: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            last_attempt_at: AtomicU64::new(0),
            last_error: Mutex::new(None),
            background_running: AtomicBool::new(false),
            completed: tokio::sync::watch::channel(0).0,
        }
    }

    /// The current snapshot, without locking (an `arc-swap` guard).
    #[inline]
    pub(crate) fn load(&self) -> arc_swap::Guard<Option<Arc<Snapshot>>> {
        self.current.load()
    }

    /// The current snapshot, or the error saying none has been fetched yet.
    pub(crate) fn load_full_or_err(&self) -> Result<Arc<Snapshot>, AuthError> {
        self.current.load_full().ok_or_else(no_keys_yet)
    }

    pub(crate) fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::Acquire)
    }

    pub(crate) fn last_attempt_at(&self) -> Option<u64> {
        match self.last_attempt_at.load(Ordering::Acquire) {
            0 => None,
            t => Some(t),
        }
    }

    pub(crate) fn last_error(&self) -> Option<AuthError> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Claim the right to run the one background refresh; false when one is running.
    pub(crate) fn try_begin_background(&self) -> bool {
        self.background_running
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    pub(crate) fn end_background(&self) {
        self.background_running.store(false, Ordering::Release);
    }

    /// Wait until at least `n` refresh attempts have completed.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) async fn wait_for_attempts(&self, n: u64) {
        let mut rx = self.completed.subscribe();
        let _ = rx.wait_for(|done| *done >= n).await;
    }

    /// Run `fetch` under the refresh lock unless another caller completed an attempt while we
    /// waited for it (`seen_attempts` is the count read before waiting): then share that result.
    /// `allowed` is re-checked under the lock (rate limits).
    pub(crate) async fn refresh_single_flight<F, Fut>(
        &self,
        seen_attempts: u64,
        now: u64,
        allowed: impl Fn(&Self) -> bool,
        fetch: F,
    ) -> Result<Arc<Snapshot>, AuthError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Snapshot, AuthError>>,
    {
        let _guard = self.refresh_lock.lock().await;
        if self.attempts() != seen_attempts || !allowed(self) {
            // Someone else fetched (or tried) while we waited: use what they got.
            return match self.current.load_full() {
                Some(s) => Ok(s),
                None => Err(self.last_error().unwrap_or_else(no_keys_yet)),
            };
        }
        self.last_attempt_at.store(now.max(1), Ordering::Release);
        let result = fetch().await;
        let out = match result {
            Ok(mut snapshot) => {
                snapshot.generation = NEXT_GENERATION.fetch_add(1, Ordering::Relaxed);
                let snapshot = Arc::new(snapshot);
                self.current.store(Some(snapshot.clone()));
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
                Ok(snapshot)
            }
            Err(e) => {
                self.failures.fetch_add(1, Ordering::AcqRel);
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.clone());
                match self.current.load_full() {
                    // Stale keys stay in use; the failure is reported in the status.
                    Some(s) => Ok(s),
                    None => Err(e),
                }
            }
        };
        let n = self.attempts.fetch_add(1, Ordering::AcqRel) + 1;
        self.completed.send_replace(n);
        out
    }

    pub(crate) fn status(&self) -> KeyCacheStatus {
        let snap = self.current.load_full();
        let mut kids: Vec<String> = snap
            .as_ref()
            .map(|s| s.keys.keys.keys().cloned().collect())
            .unwrap_or_default();
        kids.sort();
        KeyCacheStatus {
            fetch_attempts: self.attempts(),
            failed_fetches: self.failures.load(Ordering::Acquire),
            keys: kids.len(),
            kids,
            skipped: snap
                .as_ref()
                .map(|s| s.keys.skipped.clone())
                .unwrap_or_default(),
            fetched_at: snap.as_ref().map(|s| s.fetched_at),
            last_error: self.last_error().map(|e| e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rsa_n(bits: usize) -> String {
        let mut n = vec![0xffu8; bits / 8];
        n[0] = 0xc1;
        URL_SAFE_NO_PAD.encode(n)
    }

    #[test]
    fn keeps_issuer_accepts_missing_alg_and_skips_unusable_keys() {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
        let ec = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let point = ec.public_key().as_ref().to_vec();
        let doc = serde_json::json!({"keys": [
            {"kty": "RSA", "kid": "good", "use": "sig", "n": rsa_n(2048), "e": "AQAB",
             "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0", "x5c": ["MII"]},
            {"kty": "RSA", "kid": "small", "n": rsa_n(1024), "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": rsa_n(2048), "e": "AQAB"},
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "RSA", "n": rsa_n(2048), "e": "AQAB"},
            {"kty": "RSA", "kid": "badalg", "alg": "ES256", "n": rsa_n(2048), "e": "AQAB"},
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..])},
            {"kty": "EC", "kid": "off-curve", "crv": "P-256", "x": URL_SAFE_NO_PAD.encode([1u8; 32]), "y": URL_SAFE_NO_PAD.encode([2u8; 32])},
            {"kty": "XYZ", "kid": "weird"},
            "not an object",
            {"kty": "RSA", "kid": "good", "n": rsa_n(4096), "e": "AQAB"},
        ]});
        let set = JwkSet::parse(doc.to_string().as_bytes()).unwrap();
        let good = &set.keys["good"];
        assert_eq!(
            good.issuer.as_deref(),
            Some("https://login.microsoftonline.com/{tenantid}/v2.0")
        );
        assert!(good.alg.is_none());
        assert!(good.allows(Algorithm::RS256));
        assert!(!good.allows(Algorithm::ES256));
        assert!(set.keys["ec"].allows(Algorithm::ES256));
        let mut kids: Vec<_> = set.keys.keys().cloned().collect();
        kids.sort();
        assert_eq!(kids, vec!["ec", "good"]);
        assert_eq!(set.skipped.len(), 9, "{:#?}", set.skipped);
        assert!(
            set.skipped
                .iter()
                .any(|s| s.kid.as_deref() == Some("off-curve"))
        );
        assert!(set.skipped.iter().any(|s| s.reason.contains("1024 bits")));
    }

    #[test]
    fn a_document_without_keys_is_an_error() {
        assert!(JwkSet::parse(b"{}").is_err());
        assert!(JwkSet::parse(b"<html>").is_err());
        assert!(JwkSet::parse(br#"{"keys":[]}"#).unwrap().keys.is_empty());
    }
}
