//! `grant_type=authorization_code`: redeem a code from the authorize endpoint
//! (`server/authorize.rs`), checking its redirect URI and PKCE verifier.

use super::client_auth::authenticate_client;
use super::issue_for_user;
use crate::errors::AadError;
use crate::server::scopes::parse_scopes;
use crate::server::{Form, ServerState, TenantRef, param, require};
use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine;

fn pkce_ok(challenge: &Option<(String, String)>, verifier: Option<&str>) -> bool {
    match (challenge, verifier) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some((c, m)), Some(v)) if m.eq_ignore_ascii_case("S256") => {
            let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, v.as_bytes());
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d.as_ref()) == *c
        }
        (Some((c, _)), Some(v)) => c == v,
    }
}

/// `grant_type=authorization_code`.
pub(super) async fn grant(
    state: &ServerState,
    tref: TenantRef,
    segment: &str,
    headers: &HeaderMap,
    form: &Form,
    v1: bool,
) -> Result<Response, AadError> {
    let code = require(form, "code")?.to_string();
    let redirect_uri = require(form, "redirect_uri")?;
    let grant = state
        .codes
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&code)
        .ok_or_else(AadError::bad_code)?;
    if state.now() > grant.expires_at {
        return Err(AadError::code_expired());
    }
    if let TenantRef::Known(id) = &tref
        && !id.eq_ignore_ascii_case(&grant.tenant_id)
    {
        return Err(AadError::bad_code());
    }
    if grant.redirect_uri != redirect_uri {
        return Err(AadError::invalid_grant(
            70000,
            format!(
                "The provided value for the input parameter 'redirect_uri' is not valid. It must match the redirect_uri of the authorization request ('{}').",
                grant.redirect_uri
            ),
        ));
    }
    if !pkce_ok(&grant.challenge, param(form, "code_verifier")) {
        return Err(AadError::invalid_grant(
            501481,
            "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
        ));
    }
    let tenant = state.tenant(&grant.tenant_id, segment)?;
    let client = authenticate_client(state, &tenant, headers, form, true).await?;
    if !client.app.client_id.eq_ignore_ascii_case(&grant.client_id) {
        return Err(AadError::bad_code());
    }
    let user = tenant
        .user(&grant.upn)
        .cloned()
        .ok_or_else(|| AadError::unknown_user(&grant.upn, &tenant.id))?;
    let req = parse_scopes(&tenant, &grant.scope_param, false)?;
    issue_for_user(
        state,
        &tenant,
        &client,
        &user,
        &req,
        v1,
        grant.nonce.as_deref(),
        &grant.scope_param,
    )
}
