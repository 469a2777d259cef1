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

#[cfg(test)]
mod tests {
    use super::*;

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
