//! What redeeming an authorization code and redeeming a refresh token share, once the grant has
//! been taken from its store (a code is marked redeemed, a refresh token removed: each works once):
//! the tenant in the path, the platform's rules (cross-origin for single-page apps, a credential
//! for Web, none for public clients), the client the grant was issued to, the user.

use super::client_auth::{AuthedClient, Credential, authenticate_client};
use crate::config::{RedirectPlatform, TenantConfig, UserConfig};
use crate::errors::AadError;
use crate::server::{Form, ServerState, TenantRef, param};
use axum::http::{HeaderMap, header};

/// What a code or a refresh token was issued for.
pub(super) struct Issued<'a> {
    pub(super) client_id: &'a str,
    pub(super) tenant_id: &'a str,
    pub(super) upn: &'a str,
    pub(super) platform: RedirectPlatform,
}

/// The checks in Entra's order, then the tenant, the authenticated client and the user.
pub(super) async fn redeem(
    state: &ServerState,
    tref: &TenantRef,
    segment: &str,
    headers: &HeaderMap,
    form: &Form,
    issued: Issued<'_>,
) -> Result<(TenantConfig, AuthedClient, UserConfig), AadError> {
    if let TenantRef::Known(id) = tref
        && !id.eq_ignore_ascii_case(issued.tenant_id)
    {
        return Err(AadError::bad_code());
    }
    // Issued to another client: refused before its credential is looked at.
    if let Some(id) = param(form, "client_id")
        && !id.eq_ignore_ascii_case(issued.client_id)
    {
        return Err(AadError::bad_code());
    }
    // Browsers send `Origin` on a cross-origin POST: single-page apps must redeem that way, and
    // nobody else may.
    let cross_origin = headers.contains_key(header::ORIGIN);
    match (issued.platform, cross_origin) {
        (RedirectPlatform::Spa, false) => return Err(AadError::spa_needs_cross_origin()),
        (RedirectPlatform::Web | RedirectPlatform::Public, true) => {
            return Err(AadError::cross_origin_not_spa());
        }
        _ => {}
    }
    let tenant = state.tenant(issued.tenant_id, segment)?;
    let rule = match issued.platform {
        RedirectPlatform::Web => Credential::Required,
        RedirectPlatform::Public | RedirectPlatform::Spa => Credential::Forbidden,
    };
    let client = authenticate_client(state, &tenant, headers, form, rule).await?;
    if !client.app.client_id.eq_ignore_ascii_case(issued.client_id) {
        return Err(AadError::bad_code());
    }
    let user = tenant
        .user(issued.upn)
        .cloned()
        .ok_or_else(|| AadError::unknown_user(issued.upn, &tenant.id))?;
    Ok((tenant, client, user))
}
