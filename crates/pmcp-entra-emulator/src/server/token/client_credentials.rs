//! `grant_type=client_credentials`: an app-only token for a confidential client, for the resource
//! named by `{resource}/.default` (v2) or `resource=` (v1). Only on a named tenant, never on
//! `/common` or `/organizations`.

use super::client_auth::{Credential, authenticate_client};
use super::{sign_access_token, token_response};
use crate::errors::AadError;
use crate::server::scopes::requested;
use crate::server::{Form, ServerState, TenantRef};
use axum::http::HeaderMap;
use axum::response::Response;

/// Issue an app-only token to the authenticated confidential client.
pub(super) async fn grant(
    state: &ServerState,
    tref: TenantRef,
    segment: &str,
    headers: &HeaderMap,
    form: &Form,
    v1: bool,
) -> Result<Response, AadError> {
    let TenantRef::Known(tid) = tref else {
        return Err(AadError::grant_not_on_common());
    };
    let tenant = state.tenant(&tid, segment)?;
    let client = authenticate_client(state, &tenant, headers, form, Credential::Required).await?;
    let req = requested(&tenant, form, v1, true)?;
    let lifetime = state.config().app_token_lifetime_seconds;
    let token = sign_access_token(state, &tenant, &client, &req, None, state.now(), lifetime)?;
    Ok(token_response(
        state,
        token,
        lifetime,
        &req,
        v1,
        true,
        Vec::new(),
    ))
}
