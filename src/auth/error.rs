//! Errors of the shared validator module. Every variant has a stable code (for `--json`, logs and
//! `WWW-Authenticate`), a human message (`Display`) and a hint that says what to do.

/// Why a token was not accepted, or why the validator could not decide.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Not a JWT: wrong number of segments, bad base64url or JSON.
    #[error("the token is not a well-formed JWT: {detail}")]
    Malformed { detail: String },
    /// The header's `alg` is not on the allow-list (`none` and HS* never are).
    #[error(
        "the token is signed with {found}, which this API does not accept (allowed: {allowed})"
    )]
    UnsupportedAlgorithm { found: String, allowed: String },
    /// The header has no `kid`.
    #[error("the token header has no `kid`, so no signing key can be chosen")]
    MissingKid,
    /// No key with this `kid` in the issuer's key set, even after a refresh.
    #[error("no signing key with kid `{kid}` in the issuer's key set")]
    UnknownKey { kid: String },
    /// The signature does not verify.
    #[error("the token's signature does not verify")]
    InvalidSignature,
    /// `iss` is not the expected issuer.
    #[error("issuer `{found}` is not the expected `{expected}`")]
    WrongIssuer { found: String, expected: String },
    /// Multi-tenant: `tid` is not a GUID, does not appear in `iss`, or does not match the key's issuer.
    #[error("tenant mismatch: {detail}")]
    WrongTenant { detail: String },
    /// Multi-tenant with an allow-list: the token's tenant is not on it.
    #[error("tenant `{tenant}` is not in the allowed tenants")]
    TenantNotAllowed { tenant: String },
    /// `aud` missing or not this API.
    #[error("audience `{found}` is not this API (expected {expected})")]
    WrongAudience {
        found: String,
        expected: String,
        hint: Option<String>,
    },
    /// An Entra v1.0 token where only v2.0 is accepted.
    #[error("this is an Entra v1.0 access token (issuer `{issuer}`); this API accepts v2.0 tokens")]
    V1Token { issuer: String },
    /// `exp` is in the past (beyond the leeway).
    #[error("the token expired {by_seconds} s ago (beyond the {leeway_seconds} s leeway)")]
    Expired {
        by_seconds: u64,
        leeway_seconds: u64,
    },
    /// `nbf` is in the future (beyond the leeway).
    #[error(
        "the token is not valid for another {by_seconds} s (nbf beyond the {leeway_seconds} s leeway)"
    )]
    NotYetValid {
        by_seconds: u64,
        leeway_seconds: u64,
    },
    /// A required claim is absent.
    #[error("the token has no `{claim}` claim")]
    MissingClaim { claim: String },
    /// The claims object repeats a key (or two `tid` differing only in case).
    #[error("the token's claims repeat `{claim}`")]
    DuplicateClaim { claim: String },
    /// The key set could not be fetched and no good keys are cached.
    #[error("the signing keys at {uri} could not be fetched: {detail}")]
    JwksUnavailable { uri: String, detail: String },
    /// The OpenID discovery document could not be fetched or is invalid.
    #[error("the OpenID discovery document at {uri} could not be used: {detail}")]
    DiscoveryFailed { uri: String, detail: String },
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

    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            AuthError::Malformed { .. } => "Pass the access token itself (three base64url parts separated by dots), not an ID token file, a JSON response or a quoted string.".into(),
            AuthError::UnsupportedAlgorithm { .. } => "Entra signs access tokens with RS256. A token signed otherwise was not issued by the configured authority.".into(),
            AuthError::MissingKid => "Request the token from the configured authority; Entra always sets `kid`.".into(),
            AuthError::UnknownKey { .. } => "The token was signed by a key the authority does not publish: check the tenant and the cloud (authority host), or whether the token comes from another issuer.".into(),
            AuthError::InvalidSignature => "The token was altered or signed by another issuer. Request a fresh token from the configured authority.".into(),
            AuthError::WrongIssuer { .. } => "Check tenant_id and the cloud (authority_host) in .pmcp/deploy.toml match where the token was issued.".into(),
            AuthError::WrongTenant { .. } => "The token's `tid` must be a GUID that appears in its issuer; request the token from your own tenant's authority.".into(),
            AuthError::TenantNotAllowed { .. } => "Add the tenant to [auth.entra] allowed_tenants (or --allowed-tenant) if it should have access.".into(),
            AuthError::WrongAudience { hint: Some(h), .. } => h.clone(),
            AuthError::WrongAudience { .. } => "Request the token for this API: scope `api://<client_id>/.default` (or `--resource api://<client_id>` with az).".into(),
            AuthError::V1Token { .. } => "Set `requestedAccessTokenVersion` to 2 in the app registration's manifest (Expose an API), or accept v1 tokens with `accept_v1_tokens = true`.".into(),
            AuthError::Expired { .. } => "Request a new token; if it was just issued, check this machine's clock.".into(),
            AuthError::NotYetValid { .. } => "Check this machine's clock (and the issuer's); the token's `nbf` is in the future.".into(),
            AuthError::MissingClaim { .. } => "Request an access token for this API from the configured authority; ID tokens and tokens for other APIs lack required claims.".into(),
            AuthError::DuplicateClaim { .. } => "The token is crafted to confuse parsers; reject it and investigate where it came from.".into(),
            AuthError::JwksUnavailable { .. } => "Check network access to the authority host and that the tenant exists; the validator retries on the next unknown key or scheduled refresh.".into(),
            AuthError::DiscoveryFailed { .. } => "Check the authority host, the tenant id and the cloud; the document must be reachable over https.".into(),
        }
    }
}
