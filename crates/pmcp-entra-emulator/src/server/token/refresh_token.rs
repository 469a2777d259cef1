//! `grant_type=refresh_token`: trade a refresh token (issued only when `offline_access` was asked
//! for) for a new access token and a new refresh token. A refresh token works once, lives
//! [`REFRESH_TOKEN_LIFETIME`] (24 hours for single-page apps), and at most
//! [`crate::server::MAX_REFRESH_TOKENS`] are kept (the oldest is dropped first).

use super::issue_for_user;
use super::redeem::{Issued, redeem};
use crate::config::RedirectPlatform;
use crate::errors::AadError;
use crate::server::scopes::{check_resource_param, parse_scopes};
use crate::server::{Form, ServerState, TenantRef, param, require};
use axum::http::HeaderMap;
use axum::response::Response;
use std::collections::HashMap;

/// How long a refresh token is valid: Entra's default inactivity lifetime, 90 days
/// (<https://learn.microsoft.com/entra/identity-platform/refresh-tokens>).
pub const REFRESH_TOKEN_LIFETIME: u64 = 90 * 24 * 3600;
/// A single-page app's refresh token lives 24 hours (same page).
pub const SPA_REFRESH_TOKEN_LIFETIME: u64 = 24 * 3600;

/// What a refresh token stands for.
#[derive(Debug, Clone)]
pub struct RefreshGrant {
    pub client_id: String,
    pub tenant_id: String,
    pub upn: String,
    pub scope_param: String,
    /// The platform the sign-in's redirect URI was registered under (`Public` for the device code
    /// flow): redeeming follows the same credential and cross-origin rules as the code.
    pub platform: RedirectPlatform,
    pub issued_at: u64,
    pub expires_at: u64,
}

/// Keep `grant` under `token`, dropping expired ones and, at the cap, the oldest.
pub(super) fn store(state: &ServerState, token: String, grant: RefreshGrant) {
    let now = state.now();
    let mut store = state
        .refresh_tokens
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    insert_bounded(
        &mut store,
        token,
        grant,
        now,
        crate::server::MAX_REFRESH_TOKENS,
    );
}

/// Insert into a store of at most `cap` refresh tokens: expired ones go first, then the oldest.
fn insert_bounded(
    store: &mut HashMap<String, RefreshGrant>,
    token: String,
    grant: RefreshGrant,
    now: u64,
    cap: usize,
) {
    if store.len() >= cap {
        store.retain(|_, g| g.expires_at >= now);
    }
    while store.len() >= cap.max(1) {
        let Some(oldest) = store
            .iter()
            .min_by_key(|(_, g)| g.issued_at)
            .map(|(k, _)| k.clone())
        else {
            break;
        };
        store.remove(&oldest);
    }
    store.insert(token, grant);
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
    if state.now() > grant.expires_at {
        return Err(AadError::refresh_token_expired(
            grant.issued_at,
            grant.expires_at,
        ));
    }
    let (tenant, client, user) = redeem(
        state,
        &tref,
        segment,
        headers,
        form,
        Issued {
            client_id: &grant.client_id,
            tenant_id: &grant.tenant_id,
            upn: &grant.upn,
            platform: grant.platform,
        },
    )
    .await?;
    // A new scope may be asked for (another resource the user consented to); default: the same.
    let scope = param(form, "scope")
        .map(|s| format!("{s} offline_access"))
        .unwrap_or(grant.scope_param.clone());
    let req = parse_scopes(&tenant, &scope, false)?;
    check_resource_param(form, &req)?;
    issue_for_user(
        state,
        &tenant,
        &client,
        &user,
        &req,
        v1,
        None,
        &scope,
        grant.platform,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(issued_at: u64, lifetime: u64) -> RefreshGrant {
        RefreshGrant {
            client_id: "c".into(),
            tenant_id: "t".into(),
            upn: "u".into(),
            scope_param: "s".into(),
            platform: RedirectPlatform::Public,
            issued_at,
            expires_at: issued_at + lifetime,
        }
    }

    /// The store never holds more than the cap: expired tokens go first, then the oldest.
    #[test]
    fn the_store_is_bounded_dropping_expired_then_oldest() {
        let mut m = HashMap::new();
        insert_bounded(&mut m, "a".into(), grant(10, 1000), 10, 3);
        insert_bounded(&mut m, "b".into(), grant(5, 10), 20, 3); // expires at 15
        insert_bounded(&mut m, "c".into(), grant(20, 1000), 20, 3);
        assert_eq!(m.len(), 3);
        // At the cap at t=30: the expired "b" goes, the older "a" stays.
        insert_bounded(&mut m, "d".into(), grant(30, 1000), 30, 3);
        let mut keys: Vec<_> = m.keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["a", "c", "d"]);
        // Still at the cap, nothing expired: the oldest ("a", issued at 10) goes.
        insert_bounded(&mut m, "e".into(), grant(40, 1000), 40, 3);
        let mut keys: Vec<_> = m.keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["c", "d", "e"]);
        for i in 0..100 {
            insert_bounded(&mut m, format!("x{i}"), grant(50 + i, 1000), 50 + i, 3);
            assert!(m.len() <= 3);
        }
    }
}
