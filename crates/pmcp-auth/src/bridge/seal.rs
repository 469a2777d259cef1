//! Sealed values: everything the bridge must remember between two requests (a registered client, a
//! sign-in in progress, a one-time code, a refresh token) travels with the client, encrypted and
//! authenticated with AES-256-GCM (aws-lc-rs), so any instance with the key can read it back and
//! nobody without it can read or change it.
//!
//! Wire format, base64url without padding:
//!
//! ```text
//! version (1 byte, 0x01) | key id (1 byte) | purpose (1 byte) | nonce (12 bytes) | ciphertext+tag
//! ```
//!
//! The version, key id and purpose are the AEAD's associated data, so a sealed client id can never
//! be replayed as a code, nor a code as a refresh token. The key id is the first byte of the key's
//! SHA-256: it picks the key to try during a rotation (current or previous). The plaintext is JSON
//! `{"exp": <unix seconds or 0>, "v": <record>}`; an expired record is refused after decryption.
//! Nonces are random (96 bits from the system RNG): far below the 2^32 messages per key where random
//! GCM nonces become a concern for a bridge's volume, and rotation resets the count.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::secret::SecretString;

const VERSION: u8 = 1;
const HEADER: usize = 3;
/// Longest sealed value the bridge reads (a code carrying Entra's tokens is a few KiB): anything
/// longer is refused before decoding.
pub(crate) const MAX_SEALED_LEN: usize = 24 * 1024;

/// What a sealed value is for; part of the associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Purpose {
    /// A registered client (`client_id`).
    Client = 1,
    /// An authorization request waiting for consent (the consent form's hidden field).
    Transaction = 2,
    /// The `state` sent to Entra.
    UpstreamState = 3,
    /// The bridge's one-time authorization code.
    Code = 4,
    /// The bridge's refresh token.
    Refresh = 5,
}

/// Why a sealed value was refused. Deliberately coarse: the caller learns nothing that helps forge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SealError {
    /// Not a sealed value of this kind, or sealed with a key this server does not have, or altered.
    #[error("it is not a value this server issued (altered, or sealed with another key)")]
    Invalid,
    /// Authentic, but its lifetime is over.
    #[error("it has expired")]
    Expired,
}

/// A 32-byte AES-256-GCM key with its key id.
struct Key {
    id: u8,
    key: LessSafeKey,
}

impl Key {
    fn new(bytes: &[u8; 32]) -> Self {
        let id = Sha256::digest(bytes)[0];
        // 32 bytes is exactly AES-256's key length, so this cannot fail.
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).expect("a 32-byte AES-256 key");
        Self {
            id,
            key: LessSafeKey::new(unbound),
        }
    }
}

/// Seals with the current key, unseals with the current or the previous one.
pub(crate) struct Sealer {
    current: Key,
    previous: Option<Key>,
    rng: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("current_key_id", &self.current.id)
            .field("previous_key_id", &self.previous.as_ref().map(|k| k.id))
            .finish()
    }
}

#[derive(Serialize)]
struct EnvelopeOut<'a, T> {
    exp: u64,
    v: &'a T,
}

#[derive(Deserialize)]
struct EnvelopeIn<T> {
    exp: u64,
    v: T,
}

impl Sealer {
    /// A sealer from raw keys.
    pub(crate) fn new(current: &[u8; 32], previous: Option<&[u8; 32]>) -> Self {
        Self {
            current: Key::new(current),
            previous: previous.map(Key::new),
            rng: SystemRandom::new(),
        }
    }

    /// Seal `value` for `purpose`, valid until `exp` (unix seconds; 0 = no expiry).
    pub(crate) fn seal<T: Serialize>(&self, purpose: Purpose, exp: u64, value: &T) -> String {
        // Serializing the bridge's own records (strings, numbers, vectors) cannot fail.
        let mut buf = serde_json::to_vec(&EnvelopeOut { exp, v: value }).unwrap_or_default();
        let mut nonce = [0u8; NONCE_LEN];
        // The system RNG does not fail on the platforms aws-lc-rs supports; a zero nonce would
        // be reused, so refuse to continue rather than seal with it.
        self.rng
            .fill(&mut nonce)
            .expect("the system random number generator failed");
        let header = [VERSION, self.current.id, purpose as u8];
        self.current
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(header),
                &mut buf,
            )
            .expect("AES-GCM sealing of a bounded buffer");
        let mut out = Vec::with_capacity(HEADER + NONCE_LEN + buf.len());
        out.extend_from_slice(&header);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// Open `sealed` as a `purpose` record, refusing it when expired at `now`.
    pub(crate) fn unseal<T: DeserializeOwned>(
        &self,
        purpose: Purpose,
        sealed: &str,
        now: u64,
    ) -> Result<T, SealError> {
        if sealed.len() > MAX_SEALED_LEN {
            return Err(SealError::Invalid);
        }
        let raw = URL_SAFE_NO_PAD
            .decode(sealed.as_bytes())
            .map_err(|_| SealError::Invalid)?;
        if raw.len() < HEADER + NONCE_LEN + AES_256_GCM.tag_len()
            || raw[0] != VERSION
            || raw[2] != purpose as u8
        {
            return Err(SealError::Invalid);
        }
        let header = [raw[0], raw[1], raw[2]];
        let nonce: [u8; NONCE_LEN] = raw[HEADER..HEADER + NONCE_LEN]
            .try_into()
            .map_err(|_| SealError::Invalid)?;
        let body = &raw[HEADER + NONCE_LEN..];
        // The key id picks the candidates; both keys are tried if their ids collide (1 in 256).
        let keys = std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .filter(|k| k.id == header[1]);
        for key in keys {
            let mut buf = body.to_vec();
            if let Ok(plain) = key.key.open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(header),
                &mut buf,
            ) {
                let env: EnvelopeIn<T> =
                    serde_json::from_slice(plain).map_err(|_| SealError::Invalid)?;
                if env.exp != 0 && now >= env.exp {
                    return Err(SealError::Expired);
                }
                return Ok(env.v);
            }
        }
        Err(SealError::Invalid)
    }

    /// `n` random bytes, base64url: ids, PKCE verifiers, cookie values.
    pub(crate) fn random_token(&self, n: usize) -> String {
        let mut b = vec![0u8; n];
        self.rng
            .fill(&mut b)
            .expect("the system random number generator failed");
        URL_SAFE_NO_PAD.encode(b)
    }
}

/// Parse a 32-byte key given as base64 (standard, padded or not), base64url, or 64 hex digits.
/// The error names the forms and never repeats the value.
pub(crate) fn parse_key(value: &SecretString) -> Result<[u8; 32], String> {
    let v = value.secret().trim();
    let decoded = if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(v).ok()
    } else {
        STANDARD
            .decode(v)
            .ok()
            .or_else(|| URL_SAFE.decode(v).ok())
            .or_else(|| URL_SAFE_NO_PAD.decode(v).ok())
            .or_else(|| {
                base64::engine::general_purpose::STANDARD_NO_PAD
                    .decode(v)
                    .ok()
            })
    };
    match decoded {
        Some(bytes) => {
            let n = bytes.len();
            bytes.try_into().map_err(|_| {
                format!(
                    "it decodes to {n} bytes; the key must be exactly 32 random bytes (base64, base64url or 64 hex digits; generate one with `openssl rand -base64 32`)"
                )
            })
        }
        None => Err(
            "it is not base64, base64url or hex; the key must be exactly 32 random bytes (generate one with `openssl rand -base64 32`)"
                .to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Rec {
        a: String,
        n: u32,
    }

    fn rec() -> Rec {
        Rec {
            a: "héllo".into(),
            n: 7,
        }
    }

    #[test]
    fn round_trip_and_purpose_binding() {
        let s = Sealer::new(&[1; 32], None);
        let sealed = s.seal(Purpose::Client, 0, &rec());
        assert!(
            sealed
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(s.unseal::<Rec>(Purpose::Client, &sealed, 1).unwrap(), rec());
        // The same value read as another kind of record is refused.
        assert_eq!(
            s.unseal::<Rec>(Purpose::Code, &sealed, 1).unwrap_err(),
            SealError::Invalid
        );
        // Two seals of the same record differ (random nonce).
        assert_ne!(sealed, s.seal(Purpose::Client, 0, &rec()));
    }

    #[test]
    fn tampering_is_refused() {
        let s = Sealer::new(&[1; 32], None);
        let sealed = s.seal(Purpose::Code, 0, &rec());
        let raw = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        for i in 0..raw.len() {
            let mut t = raw.clone();
            t[i] ^= 0x01;
            let t = URL_SAFE_NO_PAD.encode(t);
            assert!(s.unseal::<Rec>(Purpose::Code, &t, 1).is_err(), "byte {i}");
        }
        // Truncated, empty, not base64, oversized.
        assert!(
            s.unseal::<Rec>(Purpose::Code, &sealed[..sealed.len() - 4], 1)
                .is_err()
        );
        assert!(s.unseal::<Rec>(Purpose::Code, "", 1).is_err());
        assert!(s.unseal::<Rec>(Purpose::Code, "!!!", 1).is_err());
        let big = "A".repeat(MAX_SEALED_LEN + 1);
        assert!(s.unseal::<Rec>(Purpose::Code, &big, 1).is_err());
    }

    #[test]
    fn wrong_key_and_rotation() {
        let old = Sealer::new(&[1; 32], None);
        let other = Sealer::new(&[2; 32], None);
        let sealed = old.seal(Purpose::Refresh, 0, &rec());
        assert_eq!(
            other
                .unseal::<Rec>(Purpose::Refresh, &sealed, 1)
                .unwrap_err(),
            SealError::Invalid
        );
        // Rotation: the new key seals, the previous one still opens old values.
        let rotated = Sealer::new(&[2; 32], Some(&[1; 32]));
        assert_eq!(
            rotated.unseal::<Rec>(Purpose::Refresh, &sealed, 1).unwrap(),
            rec()
        );
        let fresh = rotated.seal(Purpose::Refresh, 0, &rec());
        assert_eq!(
            other.unseal::<Rec>(Purpose::Refresh, &fresh, 1).unwrap(),
            rec()
        );
        assert!(old.unseal::<Rec>(Purpose::Refresh, &fresh, 1).is_err());
    }

    #[test]
    fn expiry() {
        let s = Sealer::new(&[3; 32], None);
        let sealed = s.seal(Purpose::Transaction, 100, &rec());
        assert!(s.unseal::<Rec>(Purpose::Transaction, &sealed, 99).is_ok());
        assert_eq!(
            s.unseal::<Rec>(Purpose::Transaction, &sealed, 100)
                .unwrap_err(),
            SealError::Expired
        );
    }

    #[test]
    fn key_forms() {
        let bytes = [0xabu8; 32];
        for form in [
            STANDARD.encode(bytes),
            URL_SAFE_NO_PAD.encode(bytes),
            hex::encode(bytes),
            format!("  {}\n", STANDARD.encode(bytes)),
        ] {
            assert_eq!(parse_key(&SecretString::new(form)).unwrap(), bytes);
        }
        let short = parse_key(&SecretString::new(STANDARD.encode([1u8; 16]))).unwrap_err();
        assert!(short.contains("16 bytes") && short.contains("openssl rand -base64 32"));
        let junk = parse_key(&SecretString::new("not a key!")).unwrap_err();
        assert!(!junk.contains("not a key!"), "{junk}");
    }
}
