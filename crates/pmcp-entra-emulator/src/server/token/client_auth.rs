//! How a client authenticates at the token endpoint: a secret (form or HTTP Basic), a client
//! assertion (certificate or federated, checked by [`crate::assertion`]), or none for a public
//! client where the grant allows it.

use crate::assertion::{self, AssertionKind};
use crate::config::{AppConfig, TenantConfig};
use crate::errors::AadError;
use crate::server::{Form, ServerState, param};
use crate::tokens::ClientAuth;
use axum::http::{HeaderMap, header};
use base64::Engine;

const ASSERTION_TYPE_JWT: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    let decode = |s: &str| -> String {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((decode(id), decode(secret)))
}

/// Compare without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The client as authenticated on the request.
pub(super) struct AuthedClient {
    pub(super) app: AppConfig,
    pub(super) auth: ClientAuth,
}

/// The token endpoints of a tenant: what a certificate assertion's `aud` may be.
fn token_endpoints(state: &ServerState, tenant: &TenantConfig) -> Vec<String> {
    let a = &state.authority_host;
    let mut v = Vec::new();
    for name in std::iter::once(tenant.id.as_str()).chain(tenant.domains()) {
        v.push(format!("{a}/{name}/oauth2/v2.0/token"));
        v.push(format!("{a}/{name}/oauth2/token"));
    }
    v
}

/// What a grant demands of the client's credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Credential {
    /// A secret or an assertion (client credentials, on-behalf-of, a code issued to a Web
    /// redirect URI): AADSTS7000218 without one.
    Required,
    /// None where the app is a public client (`allowPublicClient`: device code); else required.
    IfNotPublicClient,
    /// None at all: a code issued to a mobile-and-desktop or single-page-app redirect URI makes
    /// the client public for that redemption, and a secret or assertion is AADSTS700025.
    Forbidden,
}

/// Authenticate the client named by `client_id` (or by HTTP Basic) in `tenant`: by its secret,
/// else by its client assertion, else — where `rule` allows — by nothing.
pub(super) async fn authenticate_client(
    state: &ServerState,
    tenant: &TenantConfig,
    headers: &HeaderMap,
    form: &Form,
    rule: Credential,
) -> Result<AuthedClient, AadError> {
    let basic = basic_credentials(headers);
    let client_id = param(form, "client_id")
        .map(str::to_string)
        .or_else(|| basic.as_ref().map(|(id, _)| id.clone()))
        .ok_or_else(|| AadError::missing_parameter("client_id"))?;
    let app = tenant
        .app(&client_id)
        .cloned()
        .ok_or_else(|| AadError::unknown_client(&client_id, &tenant.id))?;
    let secret = param(form, "client_secret")
        .map(str::to_string)
        .or_else(|| basic.map(|(_, s)| s));
    if rule == Credential::Forbidden {
        if secret.is_some() || param(form, "client_assertion").is_some() {
            return Err(AadError::public_client_with_credential());
        }
        return Ok(AuthedClient {
            app,
            auth: ClientAuth::Public,
        });
    }
    if let Some(secret) = secret {
        let ok = app
            .client_secrets
            .iter()
            .any(|s| constant_time_eq(s.secret().as_bytes(), secret.as_bytes()));
        if !ok {
            return Err(AadError::invalid_secret(&app.client_id));
        }
        return Ok(AuthedClient {
            app,
            auth: ClientAuth::Secret,
        });
    }
    if let Some(assertion) = param(form, "client_assertion") {
        let kind = param(form, "client_assertion_type").unwrap_or_default();
        if kind != ASSERTION_TYPE_JWT {
            return Err(AadError::missing_parameter("client_assertion_type"));
        }
        let endpoints = token_endpoints(state, tenant);
        let _kind: AssertionKind =
            assertion::verify(&state.http, &app, assertion, &endpoints, state.now()).await?;
        return Ok(AuthedClient {
            app,
            auth: ClientAuth::Assertion,
        });
    }
    if rule == Credential::IfNotPublicClient && app.public_client {
        return Ok(AuthedClient {
            app,
            auth: ClientAuth::Public,
        });
    }
    Err(AadError::missing_credential())
}
