//! `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` with
//! `requested_token_use=on_behalf_of`: an API trades the user's token it received (issued by this
//! emulator) for one to a downstream API.

use super::client_auth::{Credential, authenticate_client};
use super::{sign_access_token, token_response, user_lifetime};
use crate::assertion;
use crate::errors::AadError;
use crate::server::scopes::requested;
use crate::server::{Form, ServerState, TenantRef, require};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

/// Verify a token this emulator issued (signature with a published key, time) and return its claims.
fn verify_own_token(
    state: &ServerState,
    token: &str,
) -> Result<serde_json::Map<String, Value>, AadError> {
    let bad = |m: &str| {
        AadError::invalid_grant(
            50013,
            format!("Assertion failed signature validation. [Reason - {m}]"),
        )
    };
    let header = jsonwebtoken::decode_header(token)
        .map_err(|e| bad(&format!("The assertion is not a well-formed JWT: {e}")))?;
    let kid = header.kid.clone().unwrap_or_default();
    let key = state
        .keyring()
        .published()
        .into_iter()
        .find(|k| k.kid == kid)
        .ok_or_else(|| bad(&format!("The key was not found., kid '{kid}'")))?;
    let dk = jsonwebtoken::DecodingKey::from_rsa_components(&key.n, &key.e)
        .map_err(|e| bad(&e.to_string()))?;
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, &dk, &v)
        .map_err(|e| bad(&format!("The signature is invalid: {e}")))?;
    let now = state.now();
    let exp = data.claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
    let nbf = data.claims.get("nbf").and_then(Value::as_u64).unwrap_or(0);
    if exp + assertion::ASSERTION_SKEW_SECONDS < now
        || nbf > now + assertion::ASSERTION_SKEW_SECONDS
    {
        return Err(AadError::invalid_grant(
            500133,
            format!(
                "Assertion is not within its valid time range. Ensure that the access token is not expired before using it for user assertion, or request a new token. Current time: {}, expiry time of assertion {}.",
                crate::time::timestamp(now),
                crate::time::timestamp(exp)
            ),
        ));
    }
    Ok(data.claims)
}

/// Check the user's token (ours, unexpired, delegated, issued to the calling API) and issue the
/// same user a token for the downstream resource asked for.
pub(super) async fn grant(
    state: &ServerState,
    tref: TenantRef,
    segment: &str,
    headers: &HeaderMap,
    form: &Form,
    v1: bool,
) -> Result<Response, AadError> {
    let use_ = require(form, "requested_token_use")?;
    if use_ != "on_behalf_of" {
        return Err(AadError::invalid_grant(
            50013,
            format!("requested_token_use '{use_}' is not supported; use 'on_behalf_of'."),
        ));
    }
    let assertion = require(form, "assertion")?;
    let claims = verify_own_token(state, assertion)?;
    let tid = claims
        .get("tid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let tenant_id = match tref {
        TenantRef::Known(id) => {
            if !id.eq_ignore_ascii_case(&tid) {
                return Err(AadError::invalid_grant(
                    50013,
                    format!(
                        "Assertion failed signature validation. [Reason - The assertion was issued by tenant '{tid}', not '{id}'.]"
                    ),
                ));
            }
            id
        }
        TenantRef::Multi(_) => tid,
    };
    let tenant = state.tenant(&tenant_id, segment)?;
    let client = authenticate_client(state, &tenant, headers, form, Credential::Required).await?;
    let aud = claims
        .get("aud")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let aud_ok = aud.eq_ignore_ascii_case(&client.app.client_id)
        || aud.eq_ignore_ascii_case(&format!("api://{}", client.app.client_id))
        || client
            .app
            .identifier_uris
            .iter()
            .any(|u| u.eq_ignore_ascii_case(aud));
    if !aud_ok {
        return Err(AadError::invalid_grant(
            500131,
            format!(
                "Assertion audience does not match the Client app presenting the assertion. The audience in the assertion was '{aud}' and the expected audience is '{}' or one of the Application Uris of this application with App ID '{}'.",
                client.app.client_id, client.app.client_id
            ),
        ));
    }
    if claims.get("scp").is_none() {
        return Err(AadError::invalid_grant(
            50013,
            "Assertion failed signature validation. [Reason - The assertion is an app-only token; on-behalf-of needs a user's delegated token.]",
        ));
    }
    let oid = claims
        .get("oid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let user = tenant
        .user_by_oid(oid)
        .cloned()
        .ok_or_else(|| AadError::unknown_user(oid, &tenant.id))?;
    let req = requested(&tenant, form, v1, false)?;
    let lifetime = user_lifetime(&state.config());
    let token = sign_access_token(
        state,
        &tenant,
        &client,
        &req,
        Some(&user),
        state.now(),
        lifetime,
    )?;
    Ok(token_response(
        state,
        token,
        lifetime,
        &req,
        v1,
        false,
        Vec::new(),
    ))
}
