//! The authorize endpoint (`GET /{tenant}/oauth2/v2.0/authorize`) of the authorization code flow
//! with PKCE. There is no login page: the user is named by `login_hint` (or the configured
//! auto-approve user), as a test or a script would choose them. The code it issues is redeemed at
//! the token endpoint: `server/token/authorization_code.rs`.

use super::scopes::{check_resource_param, parse_scopes};
use super::{ServerState, TenantRef, param, resolve_tenant};
use crate::config::RedirectPlatform;
use crate::errors::AadError;
use crate::tokens;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Arc;

/// Codes live this long. Entra documents authorization codes as short-lived, "typically about 10
/// minutes" (<https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow>).
pub const CODE_LIFETIME: u64 = 600;

/// An issued authorization code: bound to the client, the redirect URI (and its platform), the
/// user and the PKCE challenge.
#[derive(Debug, Clone)]
pub struct AuthCode {
    pub client_id: String,
    pub tenant_id: String,
    pub redirect_uri: String,
    /// The platform of the registered redirect URI the code was issued to: it decides how the
    /// code is redeemed (with a credential, without, cross-origin).
    pub platform: RedirectPlatform,
    pub scope_param: String,
    pub upn: String,
    /// `(code_challenge, method)`, method `plain` or `S256`.
    pub challenge: Option<(String, String)>,
    pub nonce: Option<String>,
    pub expires_at: u64,
    /// Set when the code is presented at the token endpoint: a second presentation is AADSTS54005.
    pub redeemed: bool,
}

/// The PKCE challenge of an authorize request, checked as Entra checks it: `plain` (the default)
/// or `S256`, and a challenge of 43 to 128 characters (RFC 7636 §4.2).
fn pkce_challenge(q: &HashMap<String, String>) -> Result<Option<(String, String)>, AadError> {
    let Some(c) = param(q, "code_challenge") else {
        return Ok(None);
    };
    let method = param(q, "code_challenge_method").unwrap_or("plain");
    let method = if method.eq_ignore_ascii_case("S256") {
        "S256"
    } else if method.eq_ignore_ascii_case("plain") {
        "plain"
    } else {
        return Err(AadError::malformed(
            "code_challenge_method must be 'plain' or 'S256'",
        ));
    };
    if !(43..=128).contains(&c.len()) {
        return Err(AadError::bad_code_challenge_size());
    }
    Ok(Some((c.to_string(), method.to_string())))
}

fn error_page(state: &ServerState, e: &AadError) -> Response {
    state.error_with_status(StatusCode::BAD_REQUEST, e)
}

fn redirect(to: &str, pairs: &[(&str, &str)]) -> Response {
    let mut u = match url::Url::parse(to) {
        Ok(u) => u,
        Err(_) => return (StatusCode::BAD_REQUEST, "bad redirect_uri").into_response(),
    };
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, u.to_string())]).into_response()
}

fn redirect_error(state: &ServerState, to: &str, st: Option<&str>, e: &AadError) -> Response {
    let body = e.body(state.now(), &state.authority_host);
    let desc = body["error_description"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut pairs = vec![("error", e.error), ("error_description", desc.as_str())];
    if let Some(s) = st {
        pairs.push(("state", s));
    }
    let mut r = redirect(to, &pairs);
    r.extensions_mut().insert(crate::observe::AadCode(e.code));
    r
}

/// `GET /{tenant}/oauth2/v2.0/authorize`: sign `login_hint` (or the auto-approve user) in and
/// redirect back with a code. Errors before the redirect URI is trusted are a 400 page; after, a
/// redirect with `error` and `error_description`, as Entra does.
pub async fn authorize(
    State(state): State<Arc<ServerState>>,
    Path(segment): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let tref = match resolve_tenant(&state, &segment) {
        Ok(t) => t,
        Err(e) => return error_page(&state, &e),
    };
    let Some(client_id) = param(&q, "client_id") else {
        return error_page(&state, &AadError::missing_parameter("client_id"));
    };
    let Some(redirect_uri) = param(&q, "redirect_uri") else {
        return error_page(&state, &AadError::missing_parameter("redirect_uri"));
    };
    let cfg = state.config().clone();
    let home = match &tref {
        TenantRef::Known(id) => cfg.tenant(id),
        TenantRef::Multi(_) => cfg.default_tenant(),
    };
    let Some(home) = home else {
        return error_page(&state, &AadError::tenant_not_found(&segment));
    };
    let Some(app) = home.app(client_id) else {
        return error_page(&state, &AadError::unknown_client(client_id, &home.id));
    };
    // Before anything is sent to the redirect URI, it must be registered on the app
    // (any platform; on localhost and 127.0.0.1 the port is not compared).
    let Some(platform) = app.redirect_platform(redirect_uri) else {
        return error_page(
            &state,
            &AadError::redirect_mismatch(redirect_uri, client_id),
        );
    };
    let st = param(&q, "state");
    if param(&q, "response_type") != Some("code") {
        return redirect_error(
            &state,
            redirect_uri,
            st,
            &AadError::unsupported_response_type(),
        );
    }
    let scope = param(&q, "scope").unwrap_or_default();
    // The user: login_hint, else the auto-approve user.
    let Some(upn) = param(&q, "login_hint")
        .map(str::to_string)
        .or(cfg.device_code_auto_approve.clone())
    else {
        return redirect_error(&state, redirect_uri, st, &AadError::login_required());
    };
    let tenant = match &tref {
        TenantRef::Known(_) => Some(home),
        TenantRef::Multi(_) => cfg.tenants.iter().find(|t| t.user(&upn).is_some()),
    };
    let Some(tenant) = tenant.filter(|t| t.user(&upn).is_some()) else {
        return redirect_error(
            &state,
            redirect_uri,
            st,
            &AadError::unknown_user(&upn, &home.id),
        );
    };
    let checked = parse_scopes(tenant, scope, false)
        .and_then(|req| check_resource_param(&q, &req))
        .and_then(|()| pkce_challenge(&q));
    let challenge = match checked {
        Ok(c) => c,
        Err(e) => return redirect_error(&state, redirect_uri, st, &e),
    };
    let code = tokens::opaque(64);
    let now = state.now();
    let mut codes = state.codes.lock().unwrap_or_else(|e| e.into_inner());
    // As device codes: dropped once long expired, and only so many waiting at once.
    codes.retain(|_, c| c.expires_at + CODE_LIFETIME >= now);
    if codes.len() >= super::MAX_PENDING_CODES {
        drop(codes);
        return redirect_error(
            &state,
            redirect_uri,
            st,
            &AadError::too_many_pending("authorization codes", super::MAX_PENDING_CODES),
        );
    }
    codes.insert(
        code.clone(),
        AuthCode {
            client_id: app.client_id.clone(),
            tenant_id: tenant.id.clone(),
            redirect_uri: redirect_uri.to_string(),
            platform,
            scope_param: scope.to_string(),
            upn,
            challenge,
            nonce: param(&q, "nonce").map(str::to_string),
            expires_at: now + CODE_LIFETIME,
            redeemed: false,
        },
    );
    drop(codes);
    let session = uuid::Uuid::new_v4().to_string();
    let mut pairs = vec![("code", code.as_str())];
    if let Some(s) = st {
        pairs.push(("state", s));
    }
    pairs.push(("session_state", session.as_str()));
    redirect(redirect_uri, &pairs)
}
