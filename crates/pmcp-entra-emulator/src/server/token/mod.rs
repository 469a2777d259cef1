//! The token endpoint (`POST /{tenant}/oauth2/v2.0/token` and v1's `/{tenant}/oauth2/token`):
//! the grant dispatch, and what every grant answers with (the signed access token, the ID token,
//! the refresh token, Entra's response shape). Each grant has its own file:
//!
//! | `grant_type` | file |
//! | --- | --- |
//! | `client_credentials` | `client_credentials.rs` |
//! | `urn:ietf:params:oauth:grant-type:device_code` | `device_code.rs` |
//! | `urn:ietf:params:oauth:grant-type:jwt-bearer` (on-behalf-of) | `on_behalf_of.rs` |
//! | `authorization_code` | `authorization_code.rs` |
//! | `refresh_token` | `refresh_token.rs` |
//!
//! How the client authenticates (secret, assertion, public) is `client_auth.rs`.

mod authorization_code;
mod client_auth;
mod client_credentials;
mod device_code;
mod on_behalf_of;
mod redeem;
mod refresh_token;

pub use refresh_token::{REFRESH_TOKEN_LIFETIME, RefreshGrant, SPA_REFRESH_TOKEN_LIFETIME};

use super::scopes::Requested;
use super::{ServerState, parse_form, require, resolve_tenant};
use crate::config::{AppConfig, EmulatorConfig, RedirectPlatform, TenantConfig, UserConfig};
use crate::errors::AadError;
use crate::tokens::{self, Subject, TokenSpec, issuer_v2};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use client_auth::AuthedClient;
use serde_json::{Value, json};
use std::sync::Arc;

/// `grant_type` names.
const GT_CLIENT_CREDENTIALS: &str = "client_credentials";
const GT_DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
const GT_JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// `grant_type=authorization_code`.
pub const GT_AUTHORIZATION_CODE: &str = "authorization_code";
/// `grant_type=refresh_token`.
pub const GT_REFRESH_TOKEN: &str = "refresh_token";

pub(super) async fn token_v2(
    State(s): State<Arc<ServerState>>,
    Path(t): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match token(&s, &t, &headers, &body, false).await {
        Ok(r) => r,
        Err(e) => s.error(&e),
    }
}

pub(super) async fn token_v1(
    State(s): State<Arc<ServerState>>,
    Path(t): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match token(&s, &t, &headers, &body, true).await {
        Ok(r) => r,
        Err(e) => s.error(&e),
    }
}

/// Dispatch on `grant_type`.
async fn token(
    state: &ServerState,
    segment: &str,
    headers: &HeaderMap,
    body: &[u8],
    v1: bool,
) -> Result<Response, AadError> {
    let tref = resolve_tenant(state, segment)?;
    let form = parse_form(body);
    let grant = require(&form, "grant_type")?.to_string();
    match grant.as_str() {
        GT_CLIENT_CREDENTIALS => {
            client_credentials::grant(state, tref, segment, headers, &form, v1).await
        }
        GT_DEVICE_CODE => device_code::grant(state, tref, headers, &form, v1).await,
        GT_JWT_BEARER => on_behalf_of::grant(state, tref, segment, headers, &form, v1).await,
        GT_AUTHORIZATION_CODE => {
            authorization_code::grant(state, tref, segment, headers, &form, v1).await
        }
        GT_REFRESH_TOKEN => refresh_token::grant(state, tref, segment, headers, &form, v1).await,
        other => Err(AadError::unsupported_grant(other)),
    }
}

/// A user token's lifetime: random within the configured range (Entra picks 60–90 minutes).
fn user_lifetime(cfg: &EmulatorConfig) -> u64 {
    let [lo, hi] = cfg.user_token_lifetime_seconds;
    if hi > lo {
        rand::random_range(lo..=hi)
    } else {
        lo
    }
}

/// Entra's token response for `token`: v1's shape (strings, `resource`, `expires_on`) or v2's
/// (`scope`, numbers; no `scope` when `app_only`), plus the `extra` fields (`id_token`,
/// `refresh_token`), never cached.
#[allow(clippy::too_many_arguments)]
fn token_response(
    state: &ServerState,
    token: String,
    lifetime: u64,
    req: &Requested,
    v1: bool,
    app_only: bool,
    extra: Vec<(&str, String)>,
) -> Response {
    let now = state.now();
    let mut body = if v1 {
        json!({
            "token_type": "Bearer",
            "expires_in": lifetime.to_string(),
            "ext_expires_in": lifetime.to_string(),
            "expires_on": (now + lifetime).to_string(),
            "not_before": now.to_string(),
            "resource": req.resource_id,
            "access_token": token,
        })
    } else {
        // Entra lists what was granted: `/.default` resolves to the resource's scopes.
        let scope = if req.scopes.is_empty() {
            format!("{}/.default", req.resource_id)
        } else {
            req.scopes
                .iter()
                .map(|s| format!("{}/{s}", req.resource_id))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut body = json!({
            "token_type": "Bearer",
            "scope": scope,
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
        });
        if app_only && let Some(m) = body.as_object_mut() {
            // Entra's client credentials responses carry no `scope`.
            m.remove("scope");
        }
        body
    };
    for (k, v) in extra {
        body[k] = Value::String(v);
    }
    let mut r = axum::Json(body).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        "no-store, no-cache".parse().expect("static header"),
    );
    r
}

/// A signing failure as Entra's 50000.
fn sign_err(e: crate::keys::KeyError) -> AadError {
    AadError::invalid_grant(50000, format!("There was an error issuing a token: {e}."))
}

/// The claims of an access token for `req`, as `client` authenticated, signed with the current key:
/// the one way every grant mints one. `user` is the signed-in user (`None`: app-only).
fn sign_access_token(
    state: &ServerState,
    tenant: &TenantConfig,
    client: &AuthedClient,
    req: &Requested,
    user: Option<&UserConfig>,
    issued_at: u64,
    lifetime: u64,
) -> Result<String, AadError> {
    let subject = match user {
        Some(user) => Subject::User {
            user,
            scopes: &req.scopes,
        },
        None => Subject::App,
    };
    let spec = TokenSpec {
        authority_host: &state.authority_host,
        tenant,
        resource: &req.resource,
        requested_resource: &req.resource_id,
        client: &client.app,
        client_auth: client.auth,
        subject,
        issued_at,
        lifetime,
        version: None,
    };
    state
        .sign(&Value::Object(tokens::claims(&spec)))
        .map_err(sign_err)
}

/// A v2 ID token for the client.
fn id_token(
    state: &ServerState,
    tenant: &TenantConfig,
    client: &AppConfig,
    user: &UserConfig,
    now: u64,
    nonce: Option<&str>,
) -> Result<String, crate::keys::KeyError> {
    let mut claims = json!({
        "aud": client.client_id,
        "iss": issuer_v2(&state.authority_host, &tenant.id),
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "name": user.name,
        "oid": user.oid,
        "preferred_username": user.upn,
        "sub": user.oid,
        "tid": tenant.id,
        "ver": "2.0",
    });
    if let Some(n) = nonce {
        claims["nonce"] = Value::String(n.to_string());
    }
    state.sign(&claims)
}

/// The response for a user's sign-in: access token, plus an ID token when `openid` was asked for
/// and a refresh token when `offline_access` was (and only then). `platform` is how the client
/// signed in (the redirect URI's platform; `Public` for the device code flow): the refresh token is
/// redeemed under the same rules, and a single-page app's lives 24 hours instead of 90 days.
#[allow(clippy::too_many_arguments)]
fn issue_for_user(
    state: &ServerState,
    tenant: &TenantConfig,
    client: &AuthedClient,
    user: &UserConfig,
    req: &Requested,
    v1: bool,
    nonce: Option<&str>,
    scope_param: &str,
    platform: RedirectPlatform,
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
        let lifetime = if platform == RedirectPlatform::Spa {
            SPA_REFRESH_TOKEN_LIFETIME
        } else {
            REFRESH_TOKEN_LIFETIME
        };
        refresh_token::store(
            state,
            rt.clone(),
            RefreshGrant {
                client_id: client.app.client_id.clone(),
                tenant_id: tenant.id.clone(),
                upn: user.upn.clone(),
                scope_param: scope_param.to_string(),
                platform,
                issued_at: now,
                expires_at: now + lifetime,
            },
        );
        extra.push(("refresh_token", rt));
    }
    Ok(token_response(
        state, token, lifetime, req, v1, false, extra,
    ))
}
