//! Advice for errors: what to do, in terms of this CLI's flags, `.pmcp/deploy.toml`, environment
//! variables and Azure Portal steps. The libraries say *what* went wrong (with a stable code); only
//! the CLI knows which flag or file fixes it, so the advice lives here, keyed by the error.

use pmcp_auth::AuthError;
use pmcp_auth::client::{CredentialError, EntraTokenError, GITHUB_ACTIONS_ISSUER};
use pmcp_auth::middleware::MiddlewareError;

/// What to do about a token the validator refused. `client_id` is the API's client id, when known
/// (the advice names the scope to request).
pub fn auth_error(err: &AuthError, client_id: Option<&str>) -> String {
    let api = client_id.unwrap_or("<client_id>");
    match err {
            AuthError::Malformed { .. } => "Pass the access token itself (three base64url parts separated by dots), not an ID token file, a JSON response or a quoted string.".into(),
            AuthError::UnsupportedAlgorithm { .. } => "Entra signs access tokens with RS256. A token signed otherwise was not issued by the configured authority.".into(),
            AuthError::MissingKid => "Request the token from the configured authority; Entra always sets `kid`.".into(),
            AuthError::UnknownKey { .. } => "The token was signed by a key the authority does not publish: check the tenant and the cloud (authority host), or whether the token comes from another issuer.".into(),
            AuthError::InvalidSignature => "The token was altered or signed by another issuer. Request a fresh token from the configured authority.".into(),
            AuthError::WrongIssuer { .. } => "Check tenant_id and the cloud (authority_host) in .pmcp/deploy.toml match where the token was issued.".into(),
            AuthError::WrongTenant { .. } => "The token's `tid` must be a GUID that appears in its issuer; request the token from your own tenant's authority.".into(),
            AuthError::TenantNotAllowed { .. } => "Add the tenant to [auth.entra] allowed_tenants (or --allowed-tenant) if it should have access.".into(),
            AuthError::WrongAudience { graph: true, .. } => format!("This token was requested for Microsoft Graph, not this API. Request it with scope `api://{api}/.default` (az: `--resource api://{api}`)."),
            AuthError::WrongAudience { .. } => format!("Request the token for this API: scope `api://{api}/.default` (or `--resource api://{api}` with az)."),
            AuthError::V1Token { .. } => "Set `requestedAccessTokenVersion` to 2 in the app registration's manifest (Expose an API), or accept v1 tokens with `accept_v1_tokens = true`.".into(),
            AuthError::Expired { .. } => "Request a new token; if it was just issued, check this machine's clock.".into(),
            AuthError::NotYetValid { .. } => "Check this machine's clock (and the issuer's); the token's `nbf` is in the future.".into(),
            AuthError::MissingClaim { .. } => "Request an access token for this API from the configured authority; ID tokens and tokens for other APIs lack required claims.".into(),
            AuthError::DuplicateClaim { .. } => "The token is crafted to confuse parsers; reject it and investigate where it came from.".into(),
            AuthError::JwksUnavailable { .. } => "Check network access to the authority host and that the tenant exists; the validator retries on the next unknown key or scheduled refresh.".into(),
            AuthError::DiscoveryFailed { .. } => "Check the authority host, the tenant id and the cloud; the document must be reachable over https.".into(),
            _ => "Request a new access token for this API from the configured authority.".into(),
        }
}

/// What to do about a failed token request.
pub fn credential(err: &CredentialError) -> String {
    match err {
        CredentialError::Entra(e) => entra_token(e),
        CredentialError::OAuth { error, .. } => match error.as_str() {
            "invalid_client" => "Check the client id and secret registered with the identity provider.".into(),
            "invalid_scope" => "Check the scope (or --resource / --audience) the provider expects for this API.".into(),
            "unauthorized_client" => "Allow the client credentials grant for this client in the identity provider.".into(),
            _ => "Check the client's settings in the identity provider.".into(),
        },
        CredentialError::Network { url, detail } if pmcp_auth::entra::is_loopback_url(url) => format!(
            "{url} is on this machine and {}: is the emulator running? Start it with `cargo pmcp auth emulator` (or use `cargo pmcp dev`), and point ENTRA_AUTHORITY_HOST / --authority-host at the authority host it prints.",
            if detail.to_ascii_lowercase().contains("refused") { "nothing listens there" } else { "it did not answer" }
        ),
        CredentialError::Network { .. } => "Check the authority host / issuer URL and network access (proxy, firewall).".into(),
        CredentialError::InvalidResponse { .. } => "Check that the URL points at the identity provider's token endpoint (authority host, tenant, cloud).".into(),
        CredentialError::Certificate { .. } => "Give one unencrypted PEM file holding the certificate (BEGIN CERTIFICATE) and its RSA private key (BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY), e.g. `cat cert.pem key.pem > client.pem`.".into(),
        CredentialError::FederatedTokenFile { .. } => "AZURE_FEDERATED_TOKEN_FILE must name a readable file holding one JWT (the projected service account token).".into(),
        CredentialError::GitHubIdToken { .. } => "Give the job `permissions: id-token: write` (and `contents: read`); ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are set only then.".into(),
        CredentialError::MissingClientSecret => "Set ENTRA_CLIENT_SECRET on the server (a secret, never in deploy.toml).".into(),
        CredentialError::DeviceCodeExpired => "Run the command again and finish the sign-in within the time shown.".into(),
        CredentialError::AuthorizationDeclined => "Run the command again and accept the sign-in.".into(),
        CredentialError::Discovery { .. } => "Check the issuer URL: `{issuer}/.well-known/openid-configuration` must be reachable and name the same issuer.".into(),
        _ => "Check the client's settings in the identity provider.".into(),
    }
}

/// What to do about an Entra token-endpoint error, in our words (Microsoft's message is in
/// [`EntraTokenError::message`]).
pub fn entra_token(e: &EntraTokenError) -> String {
    let client = e.client_id.as_deref().unwrap_or("<client_id>");
    match e.code {
        Some(7000215) => "The client secret is wrong. Most often the secret's ID (a GUID, the \"Secret ID\" column) was copied instead of its Value, which the Portal shows only once, right after you create it. Create a new secret under App registrations → Certificates & secrets, copy the Value column, and set it as ENTRA_CLIENT_SECRET (or AZURE_CLIENT_SECRET) — never in deploy.toml.".to_string(),
        Some(7000222) => "The client secret has expired. Create a new one under App registrations → Certificates & secrets, update ENTRA_CLIENT_SECRET wherever it is stored (CI secrets, the deployed server), then delete the expired one. Consider a federated credential for CI instead: nothing to expire or leak.".to_string(),
        Some(700016) => format!("No application with client id `{client}` exists in this tenant. Check the client id (App registration → Overview → Application (client) ID), that the tenant id is the one the app is registered in, and — for a multi-tenant app used from another tenant — that an administrator of that tenant has consented to it."),
        Some(90002) => "The tenant does not exist here: either the tenant id is wrong, or it belongs to another cloud. Check Entra ID → Overview → Tenant ID, and the cloud: a US Government or China tenant needs --cloud usgov / --cloud china (or --authority-host).".to_string(),
        Some(500011) => format!("The API named in the scope does not exist in this tenant. Check that the app registration has an Application ID URI (Expose an API → Set, normally `api://{client}`), that the scope is spelled exactly like it (`api://{client}/.default`), and, for a multi-tenant API, that it is consented in the caller's tenant."),
        Some(70011) => format!("The scope is not valid. An app (client credentials) asks for `api://{client}/.default`; a person (device code) asks for a delegated scope defined under Expose an API, e.g. `api://{client}/access_as_user`, or `/.default`. Pass it with --scope."),
        Some(1002012) => format!("Client credential flows need a scope ending in `/.default` (the resource identifier + `/.default`), e.g. `api://{client}/.default`. Pass it with --scope."),
        Some(9001023) => "This grant cannot use the `common` / `consumers` endpoint. Use your tenant id (a GUID or a verified domain) instead of `common`, even for a multi-tenant app: --tenant-id or ENTRA_TENANT_ID.".to_string(),
        Some(700024) => "The client assertion is outside its valid time range: it expired or is not valid yet. Check this machine's clock (NTP). A federated token file must be the current one (it is rotated; it is read fresh for every exchange), and a GitHub ID token is requested fresh per exchange — if this persists, the runner's clock is off.".to_string(),
        Some(700027) => "The client assertion's signature did not verify: the certificate used to sign it is not the one uploaded to the app registration (Certificates & secrets → Certificates). Upload the public certificate of the PEM you use, and compare thumbprints.".to_string(),
        Some(65001) => "Consent is missing: an administrator must grant the permission (API permissions → Grant admin consent), or the user must consent at sign-in.".to_string(),
        Some(50076 | 50079 | 53003) => "A policy requires the user to sign in interactively (MFA or conditional access). Pass the claims challenge back to the client so it can sign in again.".to_string(),
        Some(700211 | 700212 | 700213 | 7002137 | 7002138 | 70021) => federated(e),
        _ => match e.error.as_str() {
            "invalid_client" => "The client could not be authenticated: check the client id and its credential (secret value, certificate or federated credential).".to_string(),
            "invalid_scope" => format!("Check the scope: `api://{client}/.default` for an app, or a delegated scope for a person."),
            "unauthorized_client" => "This client is not allowed to use this grant: check the app registration's platform settings (e.g. 'Allow public client flows' for device code).".to_string(),
            _ => "Look the code up at https://login.microsoftonline.com/error and check the app registration.".to_string(),
        },
    }
}

fn federated(e: &EntraTokenError) -> String {
    let client = e.client_id.as_deref().unwrap_or("<client_id>");
    let what = match e.code {
        Some(700211) => "issuer",
        Some(700212) => "audience",
        Some(700213 | 7002137 | 7002138) => "subject",
        _ => "issuer, subject or audience",
    };
    let mut s = format!(
        "No federated credential on app `{client}` matches the presented assertion's {what}. Matching is exact and case-sensitive. Under App registrations → Certificates & secrets → Federated credentials, register exactly:"
    );
    match &e.assertion {
        Some(a) => {
            s.push_str(&format!(
                "\n    issuer:   {}\n    subject:  {}\n    audience: {}",
                a.issuer.as_deref().unwrap_or("(none in the assertion)"),
                a.subject.as_deref().unwrap_or("(none in the assertion)"),
                a.audience.as_deref().unwrap_or("(none in the assertion)"),
            ));
            s.push_str("\n(these are the presented assertion's iss, sub and aud)");
        }
        None => s.push_str(
            " the assertion's `iss` as Issuer, its `sub` as Subject identifier, and its `aud` (api://AzureADTokenExchange) as Audience.",
        ),
    }
    if e.assertion
        .as_ref()
        .and_then(|a| a.issuer.as_deref())
        .is_some_and(|i| i == GITHUB_ACTIONS_ISSUER)
    {
        s.push_str("\nGitHub subjects look like repo:OWNER/REPO:ref:refs/heads/main, repo:OWNER/REPO:environment:NAME or repo:OWNER/REPO:pull_request — a job with `environment:` presents the environment form.");
    }
    s
}

/// What to do when a server cannot build its auth layer from the environment.
pub fn middleware(err: &MiddlewareError) -> String {
    match err {
        MiddlewareError::UnknownProvider { .. } | MiddlewareError::NotConfigured { .. } => {
            "Run `cargo pmcp deploy init --oauth entra` and deploy again, or set the variables by hand (see docs/server.md).".into()
        }
        MiddlewareError::Disabled { .. } => "Set [auth] enabled = true in .pmcp/deploy.toml and deploy again, or serve without the layer on purpose.".into(),
        _ => "Check the deployment's environment (docs/server.md lists every variable).".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pmcp_auth::client::AssertionIdentity;

    fn entra_error(code: u32, error: &str, text: &str) -> EntraTokenError {
        let body = serde_json::json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {text}\r\nTrace ID: t\r\nCorrelation ID: c"),
            "error_codes": [code],
        })
        .to_string();
        EntraTokenError::parse(400, &body).unwrap()
    }

    #[test]
    fn every_listed_aadsts_code_has_its_own_remediation() {
        let cases: &[(u32, &str)] = &[
            (7000215, "Secret ID"),
            (7000215, "Value"),
            (7000222, "expired"),
            (700016, "client id"),
            (90002, "cloud"),
            (500011, "Application ID URI"),
            (70011, "/.default"),
            (1002012, "/.default"),
            (9001023, "instead of `common`"),
            (700024, "clock"),
            (700211, "issuer"),
            (700213, "subject"),
            (7002138, "subject"),
            (70021, "issuer, subject or audience"),
        ];
        let generic = entra_token(&entra_error(1, "invalid_request", "x"));
        for (code, needle) in cases {
            let r = entra_token(&entra_error(*code, "invalid_request", "m"));
            assert_ne!(r, generic, "{code} has no remediation of its own");
            assert!(r.contains(needle), "{code}: {r}");
        }
    }

    #[test]
    fn a_federated_mismatch_shows_what_to_register() {
        let mut e = entra_error(
            700213,
            "invalid_client",
            "No matching federated identity record.",
        );
        e.client_id = Some("app-1".into());
        e.assertion = Some(AssertionIdentity {
            issuer: Some(GITHUB_ACTIONS_ISSUER.into()),
            subject: Some("repo:Contoso/api:ref:refs/heads/feature".into()),
            audience: Some("api://AzureADTokenExchange".into()),
        });
        let hint = credential(&CredentialError::Entra(Box::new(e)));
        for needle in [
            "issuer:   https://token.actions.githubusercontent.com",
            "subject:  repo:Contoso/api:ref:refs/heads/feature",
            "audience: api://AzureADTokenExchange",
            "app-1",
            "repo:OWNER/REPO:environment:NAME",
        ] {
            assert!(hint.contains(needle), "{needle}: {hint}");
        }
    }

    #[test]
    fn a_missing_github_id_token_names_the_job_permission() {
        let e = CredentialError::GitHubIdToken {
            detail: "403".into(),
        };
        assert!(credential(&e).contains("id-token: write"));
    }
}
