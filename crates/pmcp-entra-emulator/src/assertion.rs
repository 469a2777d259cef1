//! Client assertions (`client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`):
//! certificate assertions signed with a key whose certificate is registered on the app, and
//! federated assertions from an external issuer trusted through a federated identity credential.

use super::config::{AppConfig, FederatedCredential};
use super::errors::AadError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

/// Entra accepts this much clock skew on assertion `exp`/`nbf`.
pub const ASSERTION_SKEW_SECONDS: u64 = 300;

/// Algorithms accepted on assertions (asymmetric only; never `none` or HS*).
const ASSERTION_ALGS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// What kind of assertion authenticated the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssertionKind {
    /// Signed with a registered certificate's key.
    Certificate,
    /// A token from a trusted external issuer.
    Federated(FederatedCredential),
}

fn malformed(detail: &str) -> AadError {
    AadError::assertion_signature(&format!(
        "The client assertion is not a well-formed JWT: {detail}"
    ))
}

fn audiences(claims: &Map<String, Value>) -> Vec<String> {
    match claims.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn check_time(claims: &Map<String, Value>, now: u64) -> Result<(), AadError> {
    let exp = claims.get("exp").and_then(Value::as_u64);
    let nbf = claims.get("nbf").and_then(Value::as_u64);
    let expired = exp.is_none_or(|e| e + ASSERTION_SKEW_SECONDS < now);
    let early = nbf.is_some_and(|n| n > now + ASSERTION_SKEW_SECONDS);
    if expired || early {
        return Err(AadError::assertion_time(now, nbf, exp));
    }
    Ok(())
}

fn verify_with(token: &str, key: &DecodingKey, alg: Algorithm) -> Result<(), AadError> {
    if !ASSERTION_ALGS.contains(&alg) {
        return Err(AadError::assertion_signature(&format!(
            "The assertion is signed with {alg:?}, which is not accepted."
        )));
    }
    let mut v = Validation::new(alg);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    jsonwebtoken::decode::<Map<String, Value>>(token, key, &v)
        .map(|_| ())
        .map_err(|e| AadError::assertion_signature(&format!("The signature is invalid: {e}.")))
}

/// Verify a client assertion for `app`. `token_endpoints` are the audiences a certificate
/// assertion may carry (this tenant's token endpoints); `now` is the emulator's clock.
pub async fn verify(
    http: &reqwest::Client,
    app: &AppConfig,
    assertion: &str,
    token_endpoints: &[String],
    now: u64,
) -> Result<AssertionKind, AadError> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|e| malformed(&e.to_string()))?;
    let claims: Map<String, Value> = jsonwebtoken::dangerous::insecure_decode_claims(assertion)
        .map_err(|e| malformed(&e.to_string()))?;
    let iss = claims
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if iss.eq_ignore_ascii_case(&app.client_id) {
        // Certificate assertion: iss = sub = client id, aud = the token endpoint.
        if !sub.eq_ignore_ascii_case(&app.client_id) {
            return Err(AadError::assertion_client_mismatch(&app.client_id));
        }
        let (thumb, sha256) = match (&header.x5t_s256, &header.x5t) {
            (Some(t), _) => (t.clone(), true),
            (None, Some(t)) => (t.clone(), false),
            (None, None) => {
                return Err(AadError::assertion_signature(
                    "The assertion header has neither 'x5t' nor 'x5t#S256', so no registered certificate can be chosen.",
                ));
            }
        };
        let cert = app
            .certificates
            .iter()
            .find(|pem| thumbprints(pem).is_some_and(|(s1, s256)| if sha256 { s256 == thumb } else { s1 == thumb }))
            .ok_or_else(|| {
                AadError::assertion_signature(&format!(
                    "The key was not found., Thumbprint of key used by client: '{thumb}'. Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{}'.",
                    app.client_id
                ))
            })?;
        let key = DecodingKey::from_rsa_pem(cert.as_bytes()).map_err(|e| {
            AadError::assertion_signature(&format!(
                "The registered certificate cannot be used: {e}."
            ))
        })?;
        verify_with(assertion, &key, header.alg)?;
        check_time(&claims, now)?;
        let auds = audiences(&claims);
        if !auds
            .iter()
            .any(|a| token_endpoints.iter().any(|t| t.eq_ignore_ascii_case(a)))
        {
            return Err(AadError::assertion_audience(
                &auds.join(" "),
                token_endpoints
                    .first()
                    .map(String::as_str)
                    .unwrap_or_default(),
            ));
        }
        return Ok(AssertionKind::Certificate);
    }
    // Federated assertion: match issuer, then subject (case-sensitive), then audience.
    let by_issuer: Vec<&FederatedCredential> = app
        .federated_credentials
        .iter()
        .filter(|fc| fc.issuer == iss)
        .collect();
    if by_issuer.is_empty() {
        return Err(AadError::federated_issuer(iss));
    }
    let by_subject: Vec<&FederatedCredential> = by_issuer
        .into_iter()
        .filter(|fc| fc.subject == sub)
        .collect();
    if by_subject.is_empty() {
        return Err(AadError::federated_subject(sub));
    }
    let auds = audiences(&claims);
    let Some(fc) = by_subject
        .into_iter()
        .find(|fc| auds.contains(&fc.audience))
    else {
        return Err(AadError::assertion_audience(
            &auds.join(" "),
            &app.federated_credentials
                .iter()
                .find(|f| f.issuer == iss)
                .map(|f| f.audience.clone())
                .unwrap_or_default(),
        ));
    };
    let jwks = fetch_jwks(http, iss).await.map_err(|detail| {
        AadError::assertion_signature(&format!(
            "The issuer's signing keys could not be read: {detail}."
        ))
    })?;
    let jwk = match &header.kid {
        Some(kid) => jwks.find(kid),
        None if jwks.keys.len() == 1 => jwks.keys.first(),
        None => None,
    }
    .ok_or_else(|| {
        AadError::assertion_signature(&format!(
            "The issuer '{iss}' does not publish a key with kid '{}'.",
            header.kid.as_deref().unwrap_or("(none)")
        ))
    })?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| {
        AadError::assertion_signature(&format!("The issuer's key cannot be used: {e}."))
    })?;
    verify_with(assertion, &key, header.alg)?;
    check_time(&claims, now)?;
    Ok(AssertionKind::Federated(fc.clone()))
}

/// Read `{issuer}/.well-known/openid-configuration`, then its `jwks_uri`.
async fn fetch_jwks(
    http: &reqwest::Client,
    issuer: &str,
) -> Result<jsonwebtoken::jwk::JwkSet, String> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let doc: Value = http
        .get(&url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("GET {url}: {e}"))?
        .json()
        .await
        .map_err(|e| format!("{url}: not JSON: {e}"))?;
    let jwks_uri = doc
        .get("jwks_uri")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{url} has no jwks_uri"))?;
    http.get(jwks_uri)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("GET {jwks_uri}: {e}"))?
        .json()
        .await
        .map_err(|e| format!("{jwks_uri}: not a JWK set: {e}"))
}

/// (x5t, x5t#S256) of a PEM certificate: base64url SHA-1 and SHA-256 of its DER.
pub fn thumbprints(pem: &str) -> Option<(String, String)> {
    let der = pem_to_der(pem)?;
    let s1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
    let s256 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der);
    Some((URL_SAFE_NO_PAD.encode(s1), URL_SAFE_NO_PAD.encode(s256)))
}

/// The DER inside the first `-----BEGIN CERTIFICATE-----` block (other blocks, such as the key of a
/// combined key-and-certificate file, are skipped).
pub fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    let start = pem.find("-----BEGIN CERTIFICATE-----")?;
    ::pem::parse(&pem[start..])
        .ok()
        .map(::pem::Pem::into_contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &str = "-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v\nMDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5f\nYGFiYw==\n-----END CERTIFICATE-----\n";

    #[test]
    fn pem_to_der_reads_the_certificate_block() {
        let der: Vec<u8> = (0u8..100).collect();
        assert_eq!(pem_to_der(CERT), Some(der.clone()));
        // A combined file: the key block first is skipped; CRLF line ends are fine.
        let combined = format!(
            "-----BEGIN PRIVATE KEY-----\nAAEC\n-----END PRIVATE KEY-----\n{}",
            CERT.replace('\n', "\r\n")
        );
        assert_eq!(pem_to_der(&combined), Some(der));
    }

    #[test]
    fn pem_to_der_refuses_what_is_not_a_certificate() {
        assert_eq!(
            pem_to_der("-----BEGIN PRIVATE KEY-----\nAAEC\n-----END PRIVATE KEY-----\n"),
            None
        );
        assert_eq!(pem_to_der("-----BEGIN CERTIFICATE-----\nAAEC\n"), None);
        assert_eq!(
            pem_to_der("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"),
            None
        );
    }
}
