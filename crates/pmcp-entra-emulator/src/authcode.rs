//! The authorization code flow with PKCE (`/oauth2/v2.0/authorize` → code → token) and refresh
//! tokens. There is no login page: the user is named by `login_hint` (or the configured
//! auto-approve user), as a test or a script would choose them.

use super::config::{AppConfig, TenantConfig, UserConfig};
use super::errors::AadError;
use super::server::{
    AuthedClient, Form, Requested, ServerState, TenantRef, authenticate_client, id_token, param,
    parse_scopes, require, resolve_tenant, sign_access_token, sign_err, token_response,
    user_lifetime,
};
use super::tokens;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use std::collections::HashMap;
use std::sync::Arc;

/// `grant_type=authorization_code`.
pub const GT_AUTHORIZATION_CODE: &str = "authorization_code";
/// `grant_type=refresh_token`.
pub const GT_REFRESH_TOKEN: &str = "refresh_token";
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

/// What a refresh token stands for.
#[derive(Debug, Clone)]
pub struct RefreshGrant {
    pub client_id: String,
    pub tenant_id: String,
    pub upn: String,
    pub scope_param: String,
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
    r.extensions_mut().insert(super::observe::AadCode(e.code));
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
    state
        .codes
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(
            code.clone(),
            AuthCode {
                client_id: app.client_id.clone(),
                tenant_id: tenant.id.clone(),
                redirect_uri: redirect_uri.to_string(),
                scope_param: scope.to_string(),
                upn,
                challenge,
                nonce: param(&q, "nonce").map(str::to_string),
                expires_at: state.now() + CODE_LIFETIME,
            },
        );
    let session = uuid::Uuid::new_v4().to_string();
    let mut pairs = vec![("code", code.as_str())];
    if let Some(s) = st {
        pairs.push(("state", s));
    }
    pairs.push(("session_state", session.as_str()));
    redirect(redirect_uri, &pairs)
}

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
pub(super) async fn authorization_code_grant(
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

/// `grant_type=refresh_token`: a new access token (and a new refresh token; the old one is used up).
pub(super) async fn refresh_token_grant(
    state: &ServerState,
    tref: TenantRef,
    segment: &str,
    headers: &HeaderMap,
    form: &Form,
    v1: bool,
) -> Result<Response, AadError> {
    let rt = require(form, "refresh_token")?.to_string();
    let grant = state
        .refresh_tokens
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&rt)
        .ok_or_else(AadError::bad_code)?;
    if let TenantRef::Known(id) = &tref
        && !id.eq_ignore_ascii_case(&grant.tenant_id)
    {
        return Err(AadError::bad_code());
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
    // A new scope may be asked for (another resource the user consented to); default: the same.
    let scope = param(form, "scope")
        .map(|s| format!("{s} offline_access"))
        .unwrap_or(grant.scope_param.clone());
    let req = parse_scopes(&tenant, &scope, false)?;
    issue_for_user(state, &tenant, &client, &user, &req, v1, None, &scope)
}

/// The response for a user's sign-in: access token, plus an ID token when `openid` was asked for
/// and a refresh token when `offline_access` was.
#[allow(clippy::too_many_arguments)]
pub(super) fn issue_for_user(
    state: &ServerState,
    tenant: &TenantConfig,
    client: &AuthedClient,
    user: &UserConfig,
    req: &Requested,
    v1: bool,
    nonce: Option<&str>,
    scope_param: &str,
) -> Result<Response, AadError> {
    let lifetime = user_lifetime(&state.config());
    let now = state.now();
    let token = sign_access_token(state, tenant, client, req, Some(user), now, lifetime)?;
    let mut extra = Vec::new();
    if req.openid {
        extra.push((
            "id_token",
            id_token(state, tenant, &client.app, user, now, nonce).map_err(sign_err)?,
        ));
    }
    if req.offline {
        let rt = tokens::opaque(96);
        state
            .refresh_tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                rt.clone(),
                RefreshGrant {
                    client_id: client.app.client_id.clone(),
                    tenant_id: tenant.id.clone(),
                    upn: user.upn.clone(),
                    scope_param: scope_param.to_string(),
                },
            );
        extra.push(("refresh_token", rt));
    }
    Ok(token_response(
        state, token, lifetime, req, v1, false, extra,
    ))
}
