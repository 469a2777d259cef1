//! Errors of the shared validator module. Every variant has a stable code (for `--json`, logs and
//! `WWW-Authenticate`) and a message (`Display`) that says what is wrong with the token, in terms of
//! tokens and HTTP. Advice on what to do (flags, files, Portal steps) belongs to the caller: the
//! `cargo pmcp` CLI keys its advice on [`AuthError::code`].

/// Why a token was not accepted, or why the validator could not decide.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Not a JWT: wrong number of segments, bad base64url or JSON.
    #[error("the token is not a well-formed JWT: {detail}")]
    Malformed {
        /// What is wrong with its shape.
        detail: String,
    },
    /// The header's `alg` is not on the allow-list (`none` and HS* never are).
    #[error(
        "the token is signed with {found}, which this API does not accept (allowed: {allowed})"
    )]
    UnsupportedAlgorithm {
        /// The header's `alg`.
        found: String,
        /// The configured algorithms.
        allowed: String,
    },
    /// The header has no `kid`.
    #[error("the token header has no `kid`, so no signing key can be chosen")]
    MissingKid,
    /// No key with this `kid` in the issuer's key set, even after a refresh.
    #[error("no signing key with kid `{kid}` in the issuer's key set")]
    UnknownKey {
        /// The header's `kid`.
        kid: String,
    },
    /// The signature does not verify.
    #[error("the token's signature does not verify")]
    InvalidSignature,
    /// `iss` is not the expected issuer.
    #[error("issuer `{found}` is not the expected `{expected}`")]
    WrongIssuer {
        /// The token's `iss`.
        found: String,
        /// The issuer discovery (or configuration) named.
        expected: String,
    },
    /// Multi-tenant: `tid` is not a GUID, does not appear in `iss`, or does not match the key's issuer.
    #[error("tenant mismatch: {detail}")]
    WrongTenant {
        /// Which of the tenant rules failed.
        detail: String,
    },
    /// Multi-tenant with an allow-list: the token's tenant is not on it.
    #[error("tenant `{tenant}` is not in the allowed tenants")]
    TenantNotAllowed {
        /// The token's `tid`.
        tenant: String,
    },
    /// `aud` missing or not this API.
    #[error("audience `{found}` is not this API (expected {expected}){}", if *graph { "; it is a Microsoft Graph token" } else { "" })]
    WrongAudience {
        /// The token's `aud`.
        found: String,
        /// The accepted audiences.
        expected: String,
        /// The token was issued for Microsoft Graph (a common mistake: a Graph token sent to an API).
        graph: bool,
    },
    /// An Entra v1.0 token where only v2.0 is accepted.
    #[error("this is an Entra v1.0 access token (issuer `{issuer}`); this API accepts v2.0 tokens")]
    V1Token {
        /// The token's v1.0 `iss`.
        issuer: String,
    },
    /// `exp` is in the past (beyond the leeway).
    #[error("the token expired {by_seconds} s ago (beyond the {leeway_seconds} s leeway)")]
    Expired {
        /// Seconds past `exp`.
        by_seconds: u64,
        /// The configured clock-skew leeway.
        leeway_seconds: u64,
    },
    /// `nbf` is in the future (beyond the leeway).
    #[error(
        "the token is not valid for another {by_seconds} s (nbf beyond the {leeway_seconds} s leeway)"
    )]
    NotYetValid {
        /// Seconds until `nbf`.
        by_seconds: u64,
        /// The configured clock-skew leeway.
        leeway_seconds: u64,
    },
    /// A required claim is absent.
    #[error("the token has no `{claim}` claim")]
    MissingClaim {
        /// The claim's name.
        claim: String,
    },
    /// The claims object repeats a key (or two `tid` differing only in case).
    #[error("the token's claims repeat `{claim}`")]
    DuplicateClaim {
        /// The repeated claim's name.
        claim: String,
    },
    /// The key set could not be fetched and no good keys are cached.
    #[error("the signing keys at {uri} could not be fetched: {detail}")]
    JwksUnavailable {
        /// The JWK set URL.
        uri: String,
        /// Why the fetch failed (status, timeout, size cap, parse error).
        detail: String,
    },
    /// The OpenID discovery document could not be fetched or is invalid.
    #[error("the OpenID discovery document at {uri} could not be used: {detail}")]
    DiscoveryFailed {
        /// The discovery document URL.
        uri: String,
        /// Why it could not be used.
        detail: String,
    },
}

impl AuthError {
    /// The stable machine code, e.g. `expired`.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Malformed { .. } => "malformed",
            AuthError::UnsupportedAlgorithm { .. } => "unsupported_algorithm",
            AuthError::MissingKid => "missing_kid",
            AuthError::UnknownKey { .. } => "unknown_key",
            AuthError::InvalidSignature => "invalid_signature",
            AuthError::WrongIssuer { .. } => "wrong_issuer",
            AuthError::WrongTenant { .. } => "wrong_tenant",
            AuthError::TenantNotAllowed { .. } => "tenant_not_allowed",
            AuthError::WrongAudience { .. } => "wrong_audience",
            AuthError::V1Token { .. } => "v1_token",
            AuthError::Expired { .. } => "expired",
            AuthError::NotYetValid { .. } => "not_yet_valid",
            AuthError::MissingClaim { .. } => "missing_claim",
            AuthError::DuplicateClaim { .. } => "duplicate_claim",
            AuthError::JwksUnavailable { .. } => "jwks_unavailable",
            AuthError::DiscoveryFailed { .. } => "discovery_failed",
        }
    }
}
