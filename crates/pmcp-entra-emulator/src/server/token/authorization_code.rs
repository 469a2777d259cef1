//! `grant_type=authorization_code`: redeem a code from the authorize endpoint
//! (`server/authorize.rs`) once, with the redirect URI and client it was issued to, its PKCE
//! verifier, and the credential its redirect URI's platform demands (`redeem.rs`).

use super::issue_for_user;
use super::redeem::{Issued, redeem};
use crate::errors::AadError;
use crate::server::scopes::{check_resource_param, parse_scopes};
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
    // Taken once: the first presentation marks it redeemed, whatever comes of it (as Entra, a
    // failed redemption uses the code up); a second one is AADSTS54005 until the code is dropped.
    let grant = {
        let mut codes = state.codes.lock().unwrap_or_else(|e| e.into_inner());
        let c = codes.get_mut(&code).ok_or_else(AadError::bad_code)?;
        if c.redeemed {
            return Err(AadError::code_already_redeemed());
        }
        c.redeemed = true;
        c.clone()
    };
    if state.now() > grant.expires_at {
        return Err(AadError::code_expired());
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
    let (tenant, client, user) = redeem(
        state,
        &tref,
        segment,
        headers,
        form,
        Issued {
            client_id: &grant.client_id,
            tenant_id: &grant.tenant_id,
            upn: &grant.upn,
            platform: grant.platform,
        },
    )
    .await?;
    if grant.challenge.is_none()
        && (grant.platform == crate::config::RedirectPlatform::Spa
            || headers.contains_key(axum::http::header::ORIGIN))
    {
        return Err(AadError::pkce_required_cross_origin());
    }
    if !pkce_ok(&grant.challenge, param(form, "code_verifier")) {
        return Err(AadError::pkce_mismatch());
    }
    let req = parse_scopes(&tenant, &grant.scope_param, false)?;
    check_resource_param(form, &req)?;
    issue_for_user(
        state,
        &tenant,
        &client,
        &user,
        &req,
        v1,
        grant.nonce.as_deref(),
        &grant.scope_param,
        grant.platform,
    )
}
