//! A string that never prints.
//!
//! Client secrets, tokens and assertions travel through the tool in this type: `Debug` and `Display`
//! print `[redacted]`, there is no `PartialEq` (compare fingerprints instead) and the value is reached
//! only through [`SecretString::secret`], so every place that touches the value is easy to find.

use sha2::{Digest, Sha256};

/// A secret value (client secret, access token, assertion). See the module docs.
#[derive(Clone)]
pub struct SecretString(String);

impl SecretString {
    /// Wrap a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself. Call this only where the value must leave the process (an HTTP form field,
    /// an environment variable for a child process).
    pub fn secret(&self) -> &str {
        &self.0
    }

    /// The first 12 hex digits of the value's SHA-256: safe to print and to compare.
    pub fn fingerprint(&self) -> String {
        fingerprint(self.0.as_bytes())
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::fmt::Display for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// First 12 hex digits of SHA-256 of `bytes`: the fingerprint shown in place of a token or secret.
pub fn fingerprint(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    hex::encode(&digest[..6])
}

#[cfg(any(feature = "client", feature = "server"))]
/// What [`scrub`] puts in place of a secret.
pub(crate) const REDACTED: &str = "[redacted]";

#[cfg(any(feature = "client", feature = "server"))]
/// Secrets shorter than this are not searched for: replacing a two-letter "secret" everywhere
/// would garble the message without protecting anything (real client secrets, assertions and
/// tokens are tens of characters long).
const MIN_SCRUBBED_LEN: usize = 4;

#[cfg(any(feature = "client", feature = "server"))]
/// Pieces of a secret (split at `.`, as in a JWT) at least this long are removed on their own too:
/// a server may quote only the payload of a token it rejects.
const MIN_SCRUBBED_PIECE: usize = 16;

#[cfg(any(feature = "client", feature = "server"))]
/// Text built from a server's answer (or for one), made safe to print: every value of `secrets` —
/// as written, form-encoded (as it went out in a request body) and JSON-escaped, and each long
/// `.`-separated piece of it — and anything shaped like a JWT is replaced by `[redacted]`, and
/// control characters become spaces (no terminal escapes from a server reach the user's screen).
///
/// The one scrubbing function of the crate: the token client's errors and the middleware's
/// rejections both use it.
pub(crate) fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for secret in secrets {
        if secret.len() < MIN_SCRUBBED_LEN {
            continue;
        }
        let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        let json = serde_json::to_string(secret).unwrap_or_default();
        let json = json.trim_matches('"');
        for variant in [*secret, form.as_str(), json] {
            if variant.len() >= MIN_SCRUBBED_LEN {
                out = out.replace(variant, REDACTED);
            }
        }
        for piece in secret.split('.') {
            if piece.len() >= MIN_SCRUBBED_PIECE {
                out = out.replace(piece, REDACTED);
            }
        }
    }
    let out = scrub_jwt_like(&out);
    out.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(any(feature = "client", feature = "server"))]
/// `text` with every run that looks like a JWT (or a piece of one) replaced by `[redacted]`: a run
/// of base64url characters and dots that starts with `eyJ` (the base64url of `{"`, how every JOSE
/// header and JSON payload begins) and is at least 16 characters long.
fn scrub_jwt_like(text: &str) -> String {
    let is_b64 =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '/' | '=');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("eyJ") {
        // The run must start at "eyJ": the character before it is not part of a base64 word.
        let preceded = rest[..start].chars().next_back().is_some_and(is_b64);
        let run_len = rest[start..]
            .find(|c: char| !is_b64(c))
            .unwrap_or(rest.len() - start);
        let run = &rest[start..start + run_len];
        out.push_str(&rest[..start]);
        if !preceded && run.trim_end_matches(['.', '=']).len() >= MIN_SCRUBBED_PIECE {
            out.push_str(REDACTED);
            // Keep a sentence's full stop.
            if run.ends_with('.') {
                out.push('.');
            }
        } else {
            out.push_str(run);
        }
        rest = &rest[start + run_len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(any(feature = "client", feature = "server"))]
    #[test]
    fn scrub_removes_secrets_in_every_spelling_and_jwts() {
        let secret = "Ab3~x.Q/9+z=s3cr3t value";
        let text = format!(
            "invalid_client: bad {secret}; body was client_secret={}; json {}",
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect::<String>(),
            serde_json::to_string(secret).unwrap()
        );
        let out = scrub(&text, &[secret]);
        assert!(!out.contains("s3cr3t"), "{out}");
        assert!(out.starts_with("invalid_client: bad [redacted];"), "{out}");

        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
        let out = scrub(&format!("invalid token {jwt}. Try again\r\n"), &[]);
        assert_eq!(out, "invalid token [redacted]. Try again  ");
        // Only the payload quoted: still a JWT piece.
        let out = scrub("payload eyJzdWIiOiJhYmMxMjM0NTY3ODkwIn0 here", &[]);
        assert_eq!(out, "payload [redacted] here");
        // Ordinary words and short secrets stay.
        assert_eq!(scrub("key eyJ is short; x", &["x"]), "key eyJ is short; x");
        assert_eq!(
            scrub("notaneyJhbGciOiJSUzI1NiJ9x", &[]),
            "notaneyJhbGciOiJSUzI1NiJ9x"
        );
    }

    #[test]
    fn never_prints_its_value() {
        let s = SecretString::new("hunter2-very-secret");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(s.secret(), "hunter2-very-secret");
    }

    #[test]
    fn fingerprint_is_12_hex_of_sha256() {
        // sha256("abc") = ba7816bf8f01cfea...
        assert_eq!(fingerprint(b"abc"), "ba7816bf8f01");
        assert_eq!(SecretString::new("abc").fingerprint(), "ba7816bf8f01");
    }
}
