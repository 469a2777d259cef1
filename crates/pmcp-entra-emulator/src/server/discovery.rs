//! Discovery and keys: `/{tenant}/v2.0/.well-known/openid-configuration`,
//! `/{tenant}/.well-known/openid-configuration`, `/{tenant}/discovery/v2.0/keys` and
//! `/{tenant}/discovery/keys`, with Entra's documents and caching headers.

use super::{ServerState, TenantRef, resolve_tenant};
use crate::errors::AadError;
use crate::tokens::{issuer_v1, issuer_v2};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

fn discovery_doc(state: &ServerState, segment: &str, multi: bool, v2: bool) -> Value {
    let a = &state.authority_host;
    let tenant_for_issuer = if multi { "{tenantid}" } else { segment };
    if v2 {
        json!({
            "token_endpoint": format!("{a}/{segment}/oauth2/v2.0/token"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": format!("{a}/{segment}/discovery/v2.0/keys"),
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": issuer_v2(a, tenant_for_issuer),
            "request_uri_parameter_supported": false,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": format!("{a}/{segment}/oauth2/v2.0/authorize"),
            "device_authorization_endpoint": format!("{a}/{segment}/oauth2/v2.0/devicecode"),
            "http_logout_supported": true,
            "frontchannel_logout_supported": true,
            "end_session_endpoint": format!("{a}/{segment}/oauth2/v2.0/logout"),
            "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
            "kerberos_endpoint": format!("{a}/{segment}/kerberos"),
            "tenant_region_scope": "NA",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net"
        })
    } else {
        json!({
            "token_endpoint": format!("{a}/{segment}/oauth2/token"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": format!("{a}/{segment}/discovery/keys"),
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
            "scopes_supported": ["openid"],
            "issuer": issuer_v1(tenant_for_issuer),
            "microsoft_multi_refresh_token": true,
            "authorization_endpoint": format!("{a}/{segment}/oauth2/authorize"),
            "device_authorization_endpoint": format!("{a}/{segment}/oauth2/devicecode"),
            "http_logout_supported": true,
            "frontchannel_logout_supported": true,
            "end_session_endpoint": format!("{a}/{segment}/oauth2/logout"),
            "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "amr", "nonce", "email", "given_name", "family_name", "nickname"],
            "check_session_iframe": format!("{a}/{segment}/oauth2/checksession"),
            "userinfo_endpoint": format!("{a}/{segment}/openid/userinfo"),
            "kerberos_endpoint": format!("{a}/{segment}/kerberos"),
            "tenant_region_scope": "NA",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net"
        })
    }
}

fn json_ok(v: Value) -> Response {
    let mut r = axum::Json(v).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        "max-age=86400, private".parse().expect("static header"),
    );
    r
}

async fn discovery(state: Arc<ServerState>, segment: String, v2: bool) -> Response {
    match resolve_tenant(&state, &segment) {
        Ok(TenantRef::Known(id)) => json_ok(discovery_doc(&state, &id, false, v2)),
        Ok(TenantRef::Multi(name)) => json_ok(discovery_doc(&state, &name, true, v2)),
        Err(_) => state.error(&AadError::tenant_not_found_discovery(&segment)),
    }
}

pub(super) async fn discovery_v2(
    State(s): State<Arc<ServerState>>,
    Path(t): Path<String>,
) -> Response {
    discovery(s, t, true).await
}

pub(super) async fn discovery_v1(
    State(s): State<Arc<ServerState>>,
    Path(t): Path<String>,
) -> Response {
    discovery(s, t, false).await
}

async fn keys(state: Arc<ServerState>, segment: String, v2: bool) -> Response {
    let issuer = match resolve_tenant(&state, &segment) {
        Ok(TenantRef::Known(id)) => issuer_v2(&state.authority_host, &id),
        Ok(TenantRef::Multi(_)) => issuer_v2(&state.authority_host, "{tenantid}"),
        Err(_) => return state.error(&AadError::tenant_not_found_discovery(&segment)),
    };
    let published = state.keyring().published();
    let keys: Vec<Value> = published
        .iter()
        .map(|k| k.jwk(if v2 { Some(issuer.as_str()) } else { None }))
        .collect();
    json_ok(json!({ "keys": keys }))
}

pub(super) async fn keys_v2(State(s): State<Arc<ServerState>>, Path(t): Path<String>) -> Response {
    keys(s, t, true).await
}

pub(super) async fn keys_v1(State(s): State<Arc<ServerState>>, Path(t): Path<String>) -> Response {
    keys(s, t, false).await
}
