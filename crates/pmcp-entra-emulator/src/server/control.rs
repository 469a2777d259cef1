//! The emulator's own control endpoints under `/_emulator/`: health, key rotation, and the device
//! login page with approve/decline (what a person or a test does instead of signing in).

use super::ServerState;
use super::device::{DeviceState, set_device_state};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

/// `GET /_emulator/health`.
pub(super) async fn health() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

/// `GET /_emulator/device`: the verification URI device code responses point to.
pub(super) async fn device_page() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "Entra emulator device login.\n\nApprove a code with:\n  curl -X POST -H 'content-type: application/json' \\\n    -d '{\"user_code\":\"CODE\",\"upn\":\"alice@contoso.onmicrosoft.com\"}' <authority>/_emulator/device/approve\n",
    )
        .into_response()
}

/// A control endpoint's error answer: `invalid_request` with the reason.
fn control_error(status: StatusCode, msg: String) -> Response {
    (
        status,
        axum::Json(json!({"error": "invalid_request", "error_description": msg})),
    )
        .into_response()
}

/// `POST /_emulator/device/approve` with `{"user_code", "upn"}`.
pub(super) async fn control_approve(State(s): State<Arc<ServerState>>, body: Bytes) -> Response {
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return control_error(
                StatusCode::BAD_REQUEST,
                format!("body must be JSON {{\"user_code\", \"upn\"}}: {e}"),
            );
        }
    };
    let (Some(code), Some(upn)) = (
        v.get("user_code").and_then(Value::as_str),
        v.get("upn").and_then(Value::as_str),
    ) else {
        return control_error(
            StatusCode::BAD_REQUEST,
            "body must be JSON {\"user_code\", \"upn\"}".into(),
        );
    };
    match set_device_state(
        &s,
        code,
        DeviceState::Approved {
            upn: upn.to_string(),
        },
    ) {
        Ok(()) => {
            axum::Json(json!({"approved": true, "user_code": code, "upn": upn})).into_response()
        }
        Err(m) => control_error(StatusCode::NOT_FOUND, m),
    }
}

/// `POST /_emulator/device/decline` with `{"user_code"}`.
pub(super) async fn control_decline(State(s): State<Arc<ServerState>>, body: Bytes) -> Response {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(code) = v.get("user_code").and_then(Value::as_str) else {
        return control_error(
            StatusCode::BAD_REQUEST,
            "body must be JSON {\"user_code\"}".into(),
        );
    };
    match set_device_state(&s, code, DeviceState::Declined) {
        Ok(()) => axum::Json(json!({"declined": true, "user_code": code})).into_response(),
        Err(m) => control_error(StatusCode::NOT_FOUND, m),
    }
}

/// `POST /_emulator/rotate-keys`: sign with a new key; the old one stays published for the grace
/// period.
pub(super) async fn control_rotate(State(s): State<Arc<ServerState>>) -> Response {
    let (kid, retired) = match s.rotate_to_new_key().await {
        Ok(r) => r,
        Err(e) => return control_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let grace = s.config().key_grace_seconds;
    axum::Json(json!({"kid": kid, "retired": retired, "grace_seconds": grace})).into_response()
}
