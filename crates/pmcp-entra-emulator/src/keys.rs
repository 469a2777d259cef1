//! Signing keys: RSA 2048 generated at start (aws-lc-rs through rcgen), each with a self-signed
//! certificate so the published key carries `x5c` and `x5t` like Entra's. Rotation keeps the old key
//! published for a grace period.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

/// Why a key could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Key generation, certificate or signing failed in the crypto library.
    #[error("signing key: {0}")]
    Crypto(String),
}

/// One RSA signing key with its certificate.
pub struct SigningKey {
    key: aws_lc_rs::rsa::KeyPair,
    pkcs8: Vec<u8>,
    /// Key id (Entra uses the certificate's SHA-1 thumbprint, base64url: the same value as `x5t`).
    pub kid: String,
    /// base64url SHA-1 of the certificate.
    pub x5t: String,
    /// DER of the self-signed certificate.
    pub cert_der: Vec<u8>,
    /// base64url modulus.
    pub n: String,
    /// base64url exponent.
    pub e: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generate an RSA 2048 key and a self-signed certificate for it.
    pub fn generate() -> Result<Self, KeyError> {
        let err = |e: &dyn std::fmt::Display| KeyError::Crypto(e.to_string());
        let rc_key =
            rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
                .map_err(|e| err(&e))?;
        let mut params =
            rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| err(&e))?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "accounts.emulator.cargo-pmcp");
        let cert = params.self_signed(&rc_key).map_err(|e| err(&e))?;
        let cert_der = cert.der().to_vec();
        let pkcs8 = rc_key.serialize_der();
        let key = aws_lc_rs::rsa::KeyPair::from_pkcs8(&pkcs8).map_err(|e| err(&e))?;
        Ok(Self::assemble(key, pkcs8, cert_der))
    }

    /// The key with what the JWKS publishes of it: `n`, `e`, and the certificate's SHA-1
    /// thumbprint as both `x5t` and `kid` (as Entra names its keys).
    fn assemble(key: aws_lc_rs::rsa::KeyPair, pkcs8: Vec<u8>, cert_der: Vec<u8>) -> Self {
        use aws_lc_rs::signature::KeyPair as _;
        let public = key.public_key();
        let n = URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero());
        let e = URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero());
        let x5t = URL_SAFE_NO_PAD.encode(
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &cert_der)
                .as_ref(),
        );
        Self {
            key,
            pkcs8,
            kid: x5t.clone(),
            x5t,
            cert_der,
            n,
            e,
        }
    }

    /// A key from PEM text holding its certificate (`CERTIFICATE`) and its RSA private key
    /// (`PRIVATE KEY`, PKCS#8) — what [`SigningKey::to_pem`] writes. Two emulators that load the
    /// same file sign with the same key and publish the same `kid`, as every Entra tenant shares
    /// one key set.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let err = |m: &str| KeyError::Crypto(m.to_string());
        let blocks = ::pem::parse_many(text).map_err(|e| err(&format!("not PEM: {e}")))?;
        let cert_der = blocks
            .iter()
            .find(|b| b.tag() == "CERTIFICATE")
            .ok_or_else(|| err("no CERTIFICATE block"))?
            .contents()
            .to_vec();
        let pkcs8 = blocks
            .iter()
            .find(|b| b.tag() == "PRIVATE KEY")
            .ok_or_else(|| err("no PRIVATE KEY block (PKCS#8 RSA)"))?
            .contents()
            .to_vec();
        let key = aws_lc_rs::rsa::KeyPair::from_pkcs8(&pkcs8)
            .map_err(|e| err(&format!("the private key is not a PKCS#8 RSA key: {e}")))?;
        use aws_lc_rs::signature::KeyPair as _;
        let modulus = key.public_key().modulus().big_endian_without_leading_zero();
        // The certificate carries the public key: it must be this key's (else `x5c` would lie).
        if !cert_der.windows(modulus.len()).any(|w| w == modulus) {
            return Err(err("the certificate is not for this private key"));
        }
        Ok(Self::assemble(key, pkcs8, cert_der))
    }

    /// The certificate and the private key as one PEM text, for [`SigningKey::from_pem`]. A
    /// secret: write it with mode 0600.
    pub fn to_pem(&self) -> pmcp_auth::SecretString {
        pmcp_auth::SecretString::new(format!(
            "{}{}",
            self.cert_pem(),
            self.private_key_pem().secret()
        ))
    }

    /// RS256 signature of `message` (PKCS#1 v1.5, SHA-256).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                message,
                &mut sig,
            )
            .map_err(|e| KeyError::Crypto(e.to_string()))?;
        Ok(sig)
    }

    /// A compact JWS (`header.claims.signature`) with Entra's header: `typ`, `alg`, `x5t`, `kid`.
    pub fn sign_jwt(&self, claims: &Value) -> Result<String, KeyError> {
        let header = json!({"typ": "JWT", "alg": "RS256", "x5t": self.x5t, "kid": self.kid});
        self.sign_with_header(&header, claims)
    }

    /// A compact RS256 JWS with the given header (its `alg` should say RS256): for client
    /// assertions with `x5t#S256`, or tokens shaped like another issuer's.
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> Result<String, KeyError> {
        let h = URL_SAFE_NO_PAD.encode(header.to_string());
        let c = URL_SAFE_NO_PAD.encode(claims.to_string());
        let input = format!("{h}.{c}");
        let sig = self.sign(input.as_bytes())?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }

    /// The certificate as PEM.
    pub fn cert_pem(&self) -> String {
        pem("CERTIFICATE", &self.cert_der)
    }

    /// The private key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`): with [`SigningKey::cert_pem`]
    /// it makes the PEM file a client uses for certificate credentials
    /// (`AZURE_CLIENT_CERTIFICATE_PATH`). A secret: write it with mode 0600, never print it.
    pub fn private_key_pem(&self) -> pmcp_auth::SecretString {
        pmcp_auth::SecretString::new(pem("PRIVATE KEY", &self.pkcs8))
    }

    /// The key as Entra publishes it: `kty, use, kid, x5t, n, e, x5c` and, in v2 sets, `issuer`.
    /// Never `alg`.
    pub fn jwk(&self, issuer: Option<&str>) -> Value {
        let mut k = json!({
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.x5t,
            "n": self.n,
            "e": self.e,
            "x5c": [STANDARD.encode(&self.cert_der)],
        });
        if let Some(iss) = issuer {
            k["issuer"] = Value::String(iss.to_string());
        }
        k
    }
}

/// `der` as a PEM block with `label`: 64-column base64 and `\n` line ends.
fn pem(label: &str, der: &[u8]) -> String {
    let config = ::pem::EncodeConfig::new().set_line_ending(::pem::LineEnding::LF);
    ::pem::encode_config(&::pem::Pem::new(label, der), config)
}

/// The current key and the retired ones still published.
#[derive(Debug)]
pub struct KeyRing {
    /// Signs new tokens.
    pub current: std::sync::Arc<SigningKey>,
    /// Rotated-out keys with the time (unix seconds) they stop being published.
    pub retired: Vec<(std::sync::Arc<SigningKey>, u64)>,
}

impl KeyRing {
    /// A ring with a fresh key.
    pub fn new() -> Result<Self, KeyError> {
        Ok(Self {
            current: std::sync::Arc::new(SigningKey::generate()?),
            retired: Vec::new(),
        })
    }

    /// A ring that signs with `key`.
    pub fn with_key(key: SigningKey) -> Self {
        Self {
            current: std::sync::Arc::new(key),
            retired: Vec::new(),
        }
    }

    /// Put `next` in place; the old key stays published until `now + grace`.
    pub fn rotate(&mut self, next: SigningKey, now: u64, grace: u64) {
        let old = std::mem::replace(&mut self.current, std::sync::Arc::new(next));
        self.retired.push((old, now.saturating_add(grace)));
    }

    /// Drop retired keys whose grace period is over.
    pub fn prune(&mut self, now: u64) {
        self.retired.retain(|(_, until)| *until > now);
    }

    /// Every published key, current first.
    pub fn published(&self) -> Vec<std::sync::Arc<SigningKey>> {
        std::iter::once(self.current.clone())
            .chain(self.retired.iter().map(|(k, _)| k.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_round_trips_through_pem_with_its_kid() {
        let a = SigningKey::generate().unwrap();
        let b = SigningKey::from_pem(a.to_pem().secret()).unwrap();
        assert_eq!(a.kid, b.kid);
        assert_eq!((a.n.as_str(), a.e.as_str()), (b.n.as_str(), b.e.as_str()));
        let claims = json!({"sub": "x"});
        // Same key: b's signature verifies with a's public numbers (both RS256, deterministic).
        assert_eq!(a.sign_jwt(&claims).unwrap(), b.sign_jwt(&claims).unwrap());
        let other = SigningKey::generate().unwrap();
        let mixed = format!("{}{}", other.cert_pem(), a.private_key_pem().secret());
        assert!(SigningKey::from_pem(&mixed).is_err());
        assert!(SigningKey::from_pem(&a.cert_pem()).is_err());
    }

    #[test]
    fn pem_is_64_columns_with_lf_line_ends() {
        let der: Vec<u8> = (0u8..100).collect();
        assert_eq!(
            pem("CERTIFICATE", &der),
            "-----BEGIN CERTIFICATE-----\n\
             AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v\n\
             MDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5f\n\
             YGFiYw==\n\
             -----END CERTIFICATE-----\n"
        );
    }
}
