//! Errors in Entra's shape: `error`, `error_description` starting `AADSTSnnnn:`, `error_codes`,
//! `timestamp`, `trace_id`, `correlation_id`, `error_uri`, with Entra's HTTP statuses.

use serde_json::json;

/// An error the token, device code, discovery or key endpoints return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AadError {
    /// HTTP status.
    pub status: u16,
    /// OAuth `error` (`invalid_client`, `invalid_request`, …).
    pub error: &'static str,
    /// The AADSTS number.
    pub code: u32,
    /// The description after `AADSTSnnnn: `.
    pub message: String,
}

impl AadError {
    fn new(status: u16, error: &'static str, code: u32, message: impl Into<String>) -> Self {
        Self {
            status,
            error,
            code,
            message: message.into(),
        }
    }

    /// 70011: a `scope` (or `resource`) longer than the emulator reads. The value is not echoed.
    pub fn scope_too_long(len: usize, max: usize) -> Self {
        Self::new(
            400,
            "invalid_scope",
            70011,
            format!(
                "The provided value for the input parameter 'scope' is not valid. It is {len} bytes long; the emulator accepts at most {max}."
            ),
        )
    }

    /// A request that took longer than the emulator waits (a body sent too slowly): 408.
    pub fn request_timeout() -> Self {
        Self::new(
            408,
            "invalid_request",
            90100,
            "The request took too long to arrive; the connection is closed.",
        )
    }

    /// 90100: a request body larger than the emulator reads (answered 413).
    pub fn body_too_large(max: usize) -> Self {
        Self::new(
            413,
            "invalid_request",
            90100,
            format!("The request body is larger than the emulator accepts ({max} bytes)."),
        )
    }

    /// 50196: too many device or authorization codes are waiting to be redeemed (answered 429 with
    /// `Retry-After`, as Entra throttles).
    pub fn too_many_pending(what: &str, max: usize) -> Self {
        Self::new(
            429,
            "temporarily_unavailable",
            50196,
            format!(
                "The server terminated an operation because it encountered a loop while processing a request. (Entra emulator: {max} {what} are already waiting to be redeemed; redeem them or let them expire.)"
            ),
        )
    }

    /// 90002: the tenant does not exist (token endpoint form).
    pub fn tenant_not_found(tenant: &str) -> Self {
        Self::new(
            400,
            "invalid_request",
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ),
        )
    }

    /// 90002 as discovery and key endpoints return it (`invalid_tenant`).
    pub fn tenant_not_found_discovery(tenant: &str) -> Self {
        Self {
            error: "invalid_tenant",
            ..Self::tenant_not_found(tenant)
        }
    }

    /// 700016: no such application in the tenant.
    pub fn unknown_client(client_id: &str, tenant: &str) -> Self {
        Self::new(
            400,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        )
    }

    /// 7000215: wrong client secret (401).
    pub fn invalid_secret(client_id: &str) -> Self {
        Self::new(
            401,
            "invalid_client",
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
            ),
        )
    }

    /// 7000218: neither a secret nor an assertion for a confidential client (401).
    pub fn missing_credential() -> Self {
        Self::new(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    }

    /// 1002012: client credentials scope without `/.default`.
    pub fn scope_needs_default(scope: &str) -> Self {
        Self::new(
            400,
            "invalid_scope",
            1002012,
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        )
    }

    /// 70011: a scope value that is not valid.
    pub fn invalid_scope(scope: &str) -> Self {
        Self::new(
            400,
            "invalid_scope",
            70011,
            format!(
                "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
            ),
        )
    }

    /// 9001023: client credentials on `/common` or `/consumers`.
    pub fn grant_not_on_common() -> Self {
        Self::new(
            400,
            "invalid_request",
            9001023,
            "The grant type is not supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.",
        )
    }

    /// 500011: the resource in the scope is not in the tenant.
    pub fn unknown_resource(resource: &str, tenant: &str) -> Self {
        Self::new(
            400,
            "invalid_resource",
            500011,
            format!(
                "The resource principal named {resource} was not found in the tenant named {tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
            ),
        )
    }

    /// 700024: a client assertion outside its valid time range.
    pub fn assertion_time(now: u64, nbf: Option<u64>, exp: Option<u64>) -> Self {
        let f = |t: Option<u64>| {
            t.map(super::time::timestamp)
                .unwrap_or_else(|| "(none)".into())
        };
        Self::new(
            400,
            "invalid_client",
            700024,
            format!(
                "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}. Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .",
                super::time::timestamp(now),
                f(nbf),
                f(exp)
            ),
        )
    }

    /// 700027: the assertion's signature (or key) does not check out.
    pub fn assertion_signature(reason: &str) -> Self {
        Self::new(
            400,
            "invalid_client",
            700027,
            format!("Client assertion failed signature validation. [Reason - {reason}]"),
        )
    }

    /// 700021: `iss`/`sub` of a certificate assertion is not the client id.
    pub fn assertion_client_mismatch(client_id: &str) -> Self {
        Self::new(
            400,
            "invalid_client",
            700021,
            format!(
                "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials . Expected client_id: '{client_id}'."
            ),
        )
    }

    /// 700212 (audience) for an assertion whose `aud` is not what Entra expects.
    pub fn assertion_audience(found: &str, expected: &str) -> Self {
        Self::new(
            400,
            "invalid_client",
            700212,
            format!(
                "No matching federated identity record found for presented assertion audience '{found}'. Please note that the matching is done using a case-sensitive comparison. Expected audience: '{expected}'."
            ),
        )
    }

    /// 700211: no federated credential for this issuer.
    pub fn federated_issuer(issuer: &str) -> Self {
        Self::new(
            400,
            "invalid_client",
            700211,
            format!(
                "No matching federated identity record found for presented assertion issuer '{issuer}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
            ),
        )
    }

    /// 700213: no federated credential for this subject (case-sensitive).
    pub fn federated_subject(subject: &str) -> Self {
        Self::new(
            400,
            "invalid_client",
            700213,
            format!(
                "No matching federated identity record found for presented assertion subject '{subject}'. Please note that the matching is done using a case-sensitive comparison. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
            ),
        )
    }

    /// 50013 / 500131 / 500133 family: the OBO assertion is not usable.
    pub fn invalid_grant(code: u32, message: impl Into<String>) -> Self {
        Self::new(400, "invalid_grant", code, message)
    }

    /// 900144: a required parameter is missing.
    pub fn missing_parameter(name: &str) -> Self {
        Self::new(
            400,
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{name}'."),
        )
    }

    /// 70003: unknown grant type.
    pub fn unsupported_grant(grant: &str) -> Self {
        Self::new(
            400,
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant}'."),
        )
    }

    /// 70016: the device code is not approved yet.
    pub fn authorization_pending() -> Self {
        Self::new(
            400,
            "authorization_pending",
            70016,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        )
    }

    /// 70020: the device code expired.
    pub fn device_code_expired() -> Self {
        Self::new(
            400,
            "expired_token",
            70020,
            "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
        )
    }

    /// 70000: the device code is unknown (or was used).
    pub fn bad_device_code() -> Self {
        Self::new(
            400,
            "invalid_grant",
            70000,
            "The provided value for the input parameter 'device_code' is not valid.",
        )
    }

    /// 70021-like: the user declined the device code.
    pub fn authorization_declined() -> Self {
        Self::new(
            400,
            "authorization_declined",
            70021,
            "The user declined the authorization request.",
        )
    }

    /// 50011: the redirect URI is not registered on the app.
    pub fn redirect_mismatch(uri: &str, client_id: &str) -> Self {
        Self::new(
            400,
            "invalid_request",
            50011,
            format!(
                "The redirect URI '{uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this."
            ),
        )
    }

    /// 700054-like: only `response_type=code` is served.
    pub fn unsupported_response_type() -> Self {
        Self::new(
            400,
            "unsupported_response_type",
            700054,
            "response_type is not enabled for the application; use response_type=code.",
        )
    }

    /// 50058: nobody to sign in (no `login_hint` and no auto-approve user).
    pub fn login_required() -> Self {
        Self::new(
            400,
            "login_required",
            50058,
            "A silent sign-in request was sent but no user is signed in. (Entra emulator: pass login_hint=<upn>, or configure an auto-approve user with device_code_auto_approve.)",
        )
    }

    /// 70000: an authorization code or refresh token that is unknown or used.
    pub fn bad_code() -> Self {
        Self::new(
            400,
            "invalid_grant",
            70000,
            "The provided authorization code or refresh token is not valid: it is unknown, was already redeemed, or belongs to another client or tenant.",
        )
    }

    /// 70008: an expired authorization code.
    pub fn code_expired() -> Self {
        Self::new(
            400,
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
        )
    }

    /// 9010010: a `resource` parameter (RFC 8707) that names another app than the one the
    /// requested scopes belong to. Entra's v2.0 endpoints accept `resource` only when it is an
    /// Application ID URI of the app that owns the requested scopes (enforced since early 2026;
    /// before, v2.0 refused every `resource` with AADSTS901002).
    pub fn resource_mismatch() -> Self {
        Self::new(
            400,
            "invalid_target",
            9010010,
            "The resource parameter provided in the request doesn't match with the requested scopes.",
        )
    }

    /// 700025: a code issued to a public-client (mobile and desktop, or single-page app) redirect
    /// URI, or a public client's refresh token, redeemed with a secret or an assertion (401).
    pub fn public_client_with_credential() -> Self {
        Self::new(
            401,
            "invalid_client",
            700025,
            "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
        )
    }

    /// 9002325: a code for a single-page-app redirect URI requested without PKCE, or a
    /// cross-origin redemption of a code that has no PKCE challenge.
    pub fn pkce_required_cross_origin() -> Self {
        Self::new(
            400,
            "invalid_request",
            9002325,
            "Proof Key for Code Exchange is required for cross-origin authorization code redemption.",
        )
    }

    /// 9002327: a code (or refresh token) issued to a single-page-app redirect URI redeemed
    /// without an `Origin` header.
    pub fn spa_needs_cross_origin() -> Self {
        Self::new(
            400,
            "invalid_request",
            9002327,
            "Tokens issued for the 'Single-Page Application' client-type may only be redeemed via cross-origin requests.",
        )
    }

    /// 9002326: a cross-origin redemption (an `Origin` header) of a code or refresh token that was
    /// not issued to a single-page-app redirect URI.
    pub fn cross_origin_not_spa() -> Self {
        Self::new(
            400,
            "invalid_request",
            9002326,
            "Cross-origin token redemption is permitted only for the 'Single-Page Application' client-type.",
        )
    }

    /// 501491: a `code_challenge` that is not 43 to 128 characters long.
    pub fn bad_code_challenge_size() -> Self {
        Self::new(
            400,
            "invalid_request",
            501491,
            "Invalid size of Code_Challenge parameter.",
        )
    }

    /// 9002313: a malformed request (here: a `code_challenge_method` other than `plain` or `S256`).
    pub fn malformed(what: &str) -> Self {
        Self::new(
            400,
            "invalid_request",
            9002313,
            format!("Invalid request. Request is malformed or invalid. ({what})"),
        )
    }

    /// 501481: the PKCE `code_verifier` is missing or does not match the challenge.
    pub fn pkce_mismatch() -> Self {
        Self::invalid_grant(
            501481,
            "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
        )
    }

    /// 54005: an authorization code presented a second time.
    pub fn code_already_redeemed() -> Self {
        Self::invalid_grant(
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
        )
    }

    /// 700082: a refresh token past its lifetime.
    pub fn refresh_token_expired(issued_at: u64, expires_at: u64) -> Self {
        Self::invalid_grant(
            700082,
            format!(
                "The refresh token has expired due to inactivity. The token was issued on {} and was inactive for {} seconds.",
                super::time::timestamp(issued_at),
                expires_at.saturating_sub(issued_at)
            ),
        )
    }

    /// 50034: the user is not in the directory.
    pub fn unknown_user(upn: &str, tenant: &str) -> Self {
        Self::new(
            400,
            "invalid_grant",
            50034,
            format!(
                "The user account {upn} does not exist in the {tenant} directory. To sign into this application, the account must be added to the directory."
            ),
        )
    }

    /// The JSON body, with a fresh trace and correlation id and the time `now` (unix seconds).
    pub fn body(&self, now: u64, authority_host: &str) -> serde_json::Value {
        let ts = super::time::timestamp(now);
        let trace_id = uuid::Uuid::new_v4().to_string();
        let correlation_id = uuid::Uuid::new_v4().to_string();
        json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {ts}",
                self.code, self.message
            ),
            "error_codes": [self.code],
            "timestamp": ts,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("{authority_host}/error?code={}", self.code),
        })
    }
}

impl std::fmt::Display for AadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AADSTS{}: {}", self.code, self.message)
    }
}

impl std::error::Error for AadError {}
