//! RFC 8414 authorization-server metadata for the bridge.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Response, StatusCode};
use serde_json::json;

use super::{
    AUTHORIZE_PATH, BridgeRequest, REGISTER_PATH, TOKEN_PATH, json_body, method_not_allowed,
};

/// The RFC 8414 well-known path. The bridge's issuer is the server's origin (no path), so this is
/// the only form (RFC 8414 §3.1).
pub const AUTHORIZATION_SERVER_METADATA_PATH: &str = "/.well-known/oauth-authorization-server";

impl super::Bridge {
    /// `GET /.well-known/oauth-authorization-server`.
    pub(super) fn metadata(&self, req: &BridgeRequest<'_>) -> Response<Bytes> {
        if req.method != Method::GET && req.method != Method::HEAD {
            return method_not_allowed("GET, HEAD");
        }
        let issuer = req.origin;
        // RFC 8414 §3.3: `issuer` must be exactly the URL the document was derived from, so it is
        // the origin clients reach the server at, with no trailing slash.
        let body = json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}{AUTHORIZE_PATH}"),
            "token_endpoint": format!("{issuer}{TOKEN_PATH}"),
            "registration_endpoint": format!("{issuer}{REGISTER_PATH}"),
            "scopes_supported": self.config.scopes,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["none"],
            "code_challenge_methods_supported": ["S256"],
            "client_id_metadata_document_supported": true,
            "authorization_response_iss_parameter_supported": true,
        });
        let mut resp = json_body(StatusCode::OK, &body);
        resp.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        );
        resp.headers_mut().remove(header::PRAGMA);
        resp
    }
}
