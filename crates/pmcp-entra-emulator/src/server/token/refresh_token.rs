//! `grant_type=refresh_token`: trade a refresh token (issued with `offline_access`) for a new
//! access token and a new refresh token.

use super::client_auth::authenticate_client;
use super::issue_for_user;
use crate::errors::AadError;
use crate::server::scopes::parse_scopes;
use crate::server::{Form, ServerState, TenantRef, param, require};
use axum::http::HeaderMap;
use axum::response::Response;

/// What a refresh token stands for.
#[derive(Debug, Clone)]
pub struct RefreshGrant {
    pub client_id: String,
    pub tenant_id: String,
    pub upn: String,
    pub scope_param: String,
}

/// `grant_type=refresh_token`: a new access token (and a new refresh token; the old one is used up).
pub(super) async fn grant(
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
