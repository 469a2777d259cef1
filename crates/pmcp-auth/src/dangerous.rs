//! Reading a token WITHOUT checking it. Nothing here proves anything about a token: use it only to
//! show a user what a token says (e.g. `cargo pmcp auth test` explaining a rejection), never to
//! decide access. To decide access use [`super::JwtValidator`].

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::claims::{StrictJsonError, parse_object_strict};
use super::error::AuthError;

/// A token's header and claims, unverified.
#[derive(Debug, Clone, PartialEq)]
pub struct UnverifiedToken {
    /// The JOSE header.
    pub header: Map<String, Value>,
    /// The claims (payload).
    pub claims: Map<String, Value>,
}

/// Decode a token's header and claims without verifying anything (duplicate keys are still
/// rejected, as the validator would).
pub fn decode_unverified(token: &str) -> Result<UnverifiedToken, AuthError> {
    let token = token.trim();
    let token = token.strip_prefix("Bearer ").unwrap_or(token);
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(AuthError::Malformed {
            detail: format!(
                "a JWT has 3 parts separated by dots; this has {}",
                parts.len()
            ),
        });
    }
    let part = |i: usize, what: &str| -> Result<Map<String, Value>, AuthError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(parts[i])
            .map_err(|e| AuthError::Malformed {
                detail: format!("the {what} is not base64url: {e}"),
            })?;
        parse_object_strict(&bytes).map_err(|e| match e {
            StrictJsonError::Duplicate(claim) => AuthError::DuplicateClaim { claim },
            StrictJsonError::Invalid(d) => AuthError::Malformed {
                detail: format!("the {what} is not a JSON object: {d}"),
            },
        })
    };
    Ok(UnverifiedToken {
        header: part(0, "header")?,
        claims: part(1, "payload")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_without_verifying() {
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"k"}"#);
        let p = URL_SAFE_NO_PAD.encode(br#"{"aud":"x"}"#);
        let t = decode_unverified(&format!("{h}.{p}.sig")).unwrap();
        assert_eq!(t.header["kid"], "k");
        assert_eq!(t.claims["aud"], "x");
        assert_eq!(decode_unverified("a.b").unwrap_err().code(), "malformed");
    }
}
