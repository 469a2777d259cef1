//! `grant_type=urn:ietf:params:oauth:grant-type:device_code`: the client polls with the device
//! code from the device authorization endpoint (`server/device.rs`) until the user approves,
//! declines, or the code expires.

use super::client_auth::{Credential, authenticate_client};
use super::issue_for_user;
use crate::errors::AadError;
use crate::server::device::DeviceState;
use crate::server::scopes::{parse_resource, parse_scopes};
use crate::server::{Form, ServerState, TenantRef, param};
use axum::http::HeaderMap;
use axum::response::Response;

/// Poll for the token of the device authorization with `device_code`: pending, declined and
/// expired codes are Entra's errors; an approved one is redeemed once.
pub(super) async fn grant(
    state: &ServerState,
    tref: TenantRef,
    headers: &HeaderMap,
    form: &Form,
    v1: bool,
) -> Result<Response, AadError> {
    let device_code = param(form, "device_code")
        .or(param(form, "code"))
        .ok_or_else(|| AadError::missing_parameter("device_code"))?
        .to_string();
    let forget = || {
        state
            .devices
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&device_code);
    };
    let grant = state
        .devices
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&device_code)
        .cloned()
        .ok_or_else(AadError::bad_device_code)?;
    if state.now() > grant.expires_at {
        forget();
        return Err(AadError::device_code_expired());
    }
    let upn = match &grant.state {
        DeviceState::Pending => return Err(AadError::authorization_pending()),
        DeviceState::Declined => {
            forget();
            return Err(AadError::authorization_declined());
        }
        DeviceState::Approved { upn } => upn.clone(),
    };
    // The user's home tenant (the named one, or found by upn for /common).
    let tenant = {
        let cfg = state.config();
        let t = match (&tref, &grant.tenant_id) {
            (TenantRef::Known(id), _) => cfg.tenant(id),
            (TenantRef::Multi(_), Some(id)) => cfg.tenant(id),
            (TenantRef::Multi(_), None) => cfg.tenants.iter().find(|t| t.user(&upn).is_some()),
        };
        t.cloned()
            .ok_or_else(|| AadError::unknown_user(&upn, "the directory"))?
    };
    let user = tenant
        .user(&upn)
        .cloned()
        .ok_or_else(|| AadError::unknown_user(&upn, &tenant.id))?;
    let client =
        authenticate_client(state, &tenant, headers, form, Credential::IfNotPublicClient).await?;
    if !client.app.client_id.eq_ignore_ascii_case(&grant.client_id) {
        return Err(AadError::bad_device_code());
    }
    let mut req = if grant.v1 || v1 {
        parse_resource(&tenant, &grant.resource)?
    } else {
        let mut r = parse_scopes(&tenant, &grant.scope_param, false)?;
        r.scopes = grant.scopes.clone();
        r
    };
    forget();
    req.openid |= grant.openid;
    req.offline |= grant
        .scope_param
        .split_whitespace()
        .any(|s| s.eq_ignore_ascii_case("offline_access"));
    issue_for_user(
        state,
        &tenant,
        &client,
        &user,
        &req,
        v1,
        None,
        &grant.scope_param,
        // The device code flow is a public client's; a confidential client that used it
        // (with its credential) redeems its refresh token with it too.
        if client.auth == crate::tokens::ClientAuth::Public {
            crate::config::RedirectPlatform::Public
        } else {
            crate::config::RedirectPlatform::Web
        },
    )
}
