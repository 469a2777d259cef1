//! The authorize endpoint (`GET /{tenant}/oauth2/v2.0/authorize`) of the authorization code flow
//! with PKCE. There is no login page: the user is named by `login_hint` (or the configured
//! auto-approve user), as a test or a script would choose them. The code it issues is redeemed at
//! the token endpoint: `server/token/authorization_code.rs`.

use super::scopes::parse_scopes;
use super::{ServerState, TenantRef, param, resolve_tenant};
use crate::config::AppConfig;
use crate::errors::AadError;
use crate::tokens;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Arc;

/// Codes live this long (Entra: about 10 minutes).
const CODE_LIFETIME: u64 = 600;

/// An issued authorization code.
#[derive(Debug, Clone)]
pub struct AuthCode {
    pub client_id: String,
    pub tenant_id: String,
    pub redirect_uri: String,
    pub scope_param: String,
    pub upn: String,
    pub challenge: Option<(String, String)>,
    pub nonce: Option<String>,
    pub expires_at: u64,
}

fn host_port_free(uri: &str) -> Option<(String, String, String)> {
    let u = url::Url::parse(uri).ok()?;
    let host = u.host_str()?.to_ascii_lowercase();
    Some((
        u.scheme().to_string(),
        host,
        u.path().trim_end_matches('/').to_string(),
    ))
}

/// Exact match with a registered URI, or a loopback URI registered without caring about the port.
fn redirect_allowed(app: &AppConfig, uri: &str) -> bool {
    app.redirect_uris.iter().any(|r| {
        if r == uri {
            return true;
        }
        match (host_port_free(r), host_port_free(uri)) {
            (Some((s1, h1, p1)), Some((s2, h2, p2))) => {
                let loopback = |h: &str| h == "localhost" || h == "127.0.0.1" || h == "[::1]";
                s1 == "http" && s1 == s2 && loopback(&h1) && h1 == h2 && p1 == p2
            }
            _ => false,
        }
    })
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
    if !redirect_allowed(app, redirect_uri) {
        return error_page(
            &state,
            &AadError::redirect_mismatch(redirect_uri, client_id),
        );
    }
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
    if let Err(e) = parse_scopes(tenant, scope, false) {
        return redirect_error(&state, redirect_uri, st, &e);
    }
    let challenge = param(&q, "code_challenge").map(|c| {
        (
            c.to_string(),
            param(&q, "code_challenge_method")
                .unwrap_or("plain")
                .to_string(),
        )
    });
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
            scope_param: scope.to_string(),
            upn,
            challenge,
            nonce: param(&q, "nonce").map(str::to_string),
            expires_at: now + CODE_LIFETIME,
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
