//! The device authorization endpoint (`POST /{tenant}/oauth2/v2.0/devicecode`, v1's
//! `/{tenant}/oauth2/devicecode`) and the pending authorizations it creates, which the control
//! endpoints (or [`crate::RunningEmulator::approve_device_code`]) approve or decline. The client
//! then polls the token endpoint: that grant is `server/token/device_code.rs`.

use super::scopes::requested;
use super::{ServerState, TenantRef, param, parse_form, require, resolve_tenant};
use crate::errors::AadError;
use crate::tokens;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;

/// Device codes live this long (Entra: 15 minutes).
const DEVICE_CODE_LIFETIME: u64 = 900;

/// A device authorization waiting for (or holding) the user's approval.
#[derive(Debug, Clone)]
pub struct DeviceGrant {
    pub user_code: String,
    pub client_id: String,
    /// Tenant named in the path; `None` for `/common` and `/organizations` (the user's home tenant).
    pub tenant_id: Option<String>,
    /// The resource identifier as requested.
    pub resource: String,
    /// Bare scope names.
    pub scopes: Vec<String>,
    /// The full scope strings as requested (echoed in the token response).
    pub scope_param: String,
    pub openid: bool,
    pub expires_at: u64,
    pub state: DeviceState,
    pub v1: bool,
}

/// Where a device authorization stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceState {
    Pending,
    Approved { upn: String },
    Declined,
}

/// A user code as Entra writes them: nine letters and digits, without look-alikes (I, O, 0, 1).
fn user_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..9)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

pub(super) async fn devicecode_v2(
    State(s): State<Arc<ServerState>>,
    Path(t): Path<String>,
    body: Bytes,
) -> Response {
    match devicecode(&s, &t, &body, false) {
        Ok(r) => r,
        Err(e) => s.error(&e),
    }
}

pub(super) async fn devicecode_v1(
    State(s): State<Arc<ServerState>>,
    Path(t): Path<String>,
    body: Bytes,
) -> Response {
    match devicecode(&s, &t, &body, true) {
        Ok(r) => r,
        Err(e) => s.error(&e),
    }
}

/// Register a device authorization (approved at once when an auto-approve user is configured) and
/// answer with its codes.
fn devicecode(
    state: &ServerState,
    segment: &str,
    body: &[u8],
    v1: bool,
) -> Result<Response, AadError> {
    let tref = resolve_tenant(state, segment)?;
    let form = parse_form(body);
    let client_id = require(&form, "client_id")?;
    let cfg = state.config();
    // The tenant whose registrations answer: the named one, or the default for /common.
    let (tenant, tenant_id) = match &tref {
        TenantRef::Known(id) => (
            cfg.tenant(id)
                .cloned()
                .ok_or_else(|| AadError::tenant_not_found(segment))?,
            Some(id.clone()),
        ),
        TenantRef::Multi(_) => (
            cfg.default_tenant()
                .cloned()
                .ok_or_else(|| AadError::tenant_not_found(segment))?,
            None,
        ),
    };
    if tenant.app(client_id).is_none() {
        return Err(AadError::unknown_client(client_id, &tenant.id));
    }
    let req = requested(&tenant, &form, v1, false)?;
    let scope_param = param(&form, "scope")
        .or(param(&form, "resource"))
        .unwrap_or_default()
        .to_string();
    let device_code = tokens::opaque(48);
    let code = user_code();
    let now = state.now();
    let state_now = match &cfg.device_code_auto_approve {
        Some(upn) => DeviceState::Approved { upn: upn.clone() },
        None => DeviceState::Pending,
    };
    drop(cfg);
    let verification_uri = format!("{}/_emulator/device", state.authority_host);
    let mut devices = state.devices.lock().unwrap_or_else(|e| e.into_inner());
    // Codes are dropped once long expired (an expired one is kept a while, so polling it still
    // says "expired"), and only so many may wait at once.
    devices.retain(|_, g| g.expires_at + DEVICE_CODE_LIFETIME >= now);
    if devices.len() >= super::MAX_PENDING_CODES {
        return Err(AadError::too_many_pending(
            "device codes",
            super::MAX_PENDING_CODES,
        ));
    }
    devices.insert(
        device_code.clone(),
        DeviceGrant {
            user_code: code.clone(),
            client_id: client_id.to_string(),
            tenant_id,
            resource: req.resource_id.clone(),
            scopes: req.scopes.clone(),
            scope_param,
            openid: req.openid,
            expires_at: now + DEVICE_CODE_LIFETIME,
            state: state_now,
            v1,
        },
    );
    drop(devices);
    Ok(axum::Json(json!({
        "user_code": code,
        "device_code": device_code,
        "verification_uri": verification_uri,
        "expires_in": DEVICE_CODE_LIFETIME,
        "interval": 5,
        "message": format!("To sign in, use a web browser to open the page {verification_uri} and enter the code {code} to authenticate. (Entra emulator: approve with POST {}/_emulator/device/approve {{\"user_code\":\"{code}\",\"upn\":\"…\"}}.)", state.authority_host),
    }))
    .into_response())
}

/// Approve (or decline) the device authorization with this user code.
pub fn set_device_state(
    state: &ServerState,
    user_code: &str,
    new: DeviceState,
) -> Result<(), String> {
    if let DeviceState::Approved { upn } = &new
        && !state.config().tenants.iter().any(|t| t.user(upn).is_some())
    {
        return Err(format!("no user `{upn}` in any configured tenant"));
    }
    let mut devices = state.devices.lock().unwrap_or_else(|e| e.into_inner());
    let grant = devices
        .values_mut()
        .find(|g| g.user_code.eq_ignore_ascii_case(user_code.trim()))
        .ok_or_else(|| format!("no pending device code with user code `{user_code}`"))?;
    grant.state = new;
    Ok(())
}
