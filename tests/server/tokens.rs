//! Getting tokens from an Entra-compatible issuer over its real protocol (the emulator in tests):
//! client credentials with a secret, and the device code flow for users.

#![allow(dead_code)]

use serde_json::Value;

/// The secret every emulator app gets in these tests (never printed by the tests).
pub const TEST_CLIENT_SECRET: &str = "server-tests-secret-value-1";

/// Client credentials (app-only) token for `scope`, e.g. `api://<client_id>/.default`.
pub async fn client_credentials(
    authority_host: &str,
    tenant: &str,
    client_id: &str,
    secret: &str,
    scope: &str,
) -> Result<String, String> {
    let url = format!("{authority_host}/{tenant}/oauth2/v2.0/token");
    let resp = reqwest::Client::new()
        .post(&url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("scope", scope),
        ])
        .send()
        .await
        .map_err(|e| format!("POST {url}: {e}"))?;
    token_from(resp).await
}

/// A delegated (user) token through the device code flow, approved for `upn` through the emulator's
/// control endpoint (what the person would do in a browser).
pub async fn device_code_user_token(
    authority_host: &str,
    tenant: &str,
    public_client_id: &str,
    scope: &str,
    upn: &str,
) -> Result<String, String> {
    let http = reqwest::Client::new();
    let url = format!("{authority_host}/{tenant}/oauth2/v2.0/devicecode");
    let start: Value = http
        .post(&url)
        .form(&[("client_id", public_client_id), ("scope", scope)])
        .send()
        .await
        .map_err(|e| format!("POST {url}: {e}"))?
        .json()
        .await
        .map_err(|e| format!("device code response: {e}"))?;
    let device_code = start["device_code"]
        .as_str()
        .ok_or_else(|| format!("no device_code in {start}"))?
        .to_string();
    let user_code = start["user_code"]
        .as_str()
        .ok_or_else(|| format!("no user_code in {start}"))?
        .to_string();
    let approve = format!("{authority_host}/_emulator/device/approve");
    let status = http
        .post(&approve)
        .json(&serde_json::json!({"user_code": user_code, "upn": upn}))
        .send()
        .await
        .map_err(|e| format!("POST {approve}: {e}"))?
        .status();
    if !status.is_success() {
        return Err(format!(
            "approving the device code for {upn}: HTTP {status}"
        ));
    }
    let url = format!("{authority_host}/{tenant}/oauth2/v2.0/token");
    let resp = http
        .post(&url)
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", public_client_id),
            ("device_code", device_code.as_str()),
        ])
        .send()
        .await
        .map_err(|e| format!("POST {url}: {e}"))?;
    token_from(resp).await
}

async fn token_from(resp: reqwest::Response) -> Result<String, String> {
    let status = resp.status();
    let body: Value = resp
        .json()
        .await
        .map_err(|e| format!("token response (HTTP {status}) is not JSON: {e}"))?;
    match body["access_token"].as_str() {
        Some(t) => Ok(t.to_string()),
        None => Err(format!(
            "HTTP {status}: {} {}",
            body["error"], body["error_description"]
        )),
    }
}
