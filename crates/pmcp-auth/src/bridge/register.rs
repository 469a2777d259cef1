//! `POST /register`: stateless dynamic client registration (RFC 7591).
//!
//! A client is accepted when its `client_name` matches one of the public-client patterns
//! ([`ClientPattern`](super::ClientPattern)) and every redirect URI is https or http to a loopback
//! host. The `client_id` returned is the registration itself, sealed; nothing is stored. Clients
//! are public (`token_endpoint_auth_method: none`, PKCE required): a client asking for a secret
//! gets `none` back (RFC 7591 §3.2.1 lets the server replace requested values).

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use serde_json::{Value, json};

use super::seal::Purpose;
use super::{
    BridgeRequest, ClientRecord, check_redirect_uri, content_type_is, json_body,
    method_not_allowed, oauth_error,
};
use crate::middleware::sanitize_for_message;

/// At most this many redirect URIs per client.
const MAX_REDIRECT_URIS: usize = 8;
/// `client_name` at most this many characters.
const MAX_NAME_CHARS: usize = 128;
/// A registration document with more members than this is refused.
const MAX_MEMBERS: usize = 40;

fn invalid_metadata(description: &str) -> Response<Bytes> {
    oauth_error(
        StatusCode::BAD_REQUEST,
        "invalid_client_metadata",
        description,
    )
}

fn invalid_redirect(description: &str) -> Response<Bytes> {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_redirect_uri", description)
}

/// The string array `name` of `doc`, if present; what is wrong with it when it is not one.
fn string_array<'a>(
    doc: &'a serde_json::Map<String, Value>,
    name: &str,
    max: usize,
) -> Result<Option<Vec<&'a str>>, String> {
    let Some(v) = doc.get(name) else {
        return Ok(None);
    };
    let not_strings = || format!("`{name}` must be an array of strings");
    let items = v.as_array().ok_or_else(not_strings)?;
    if items.len() > max {
        return Err(format!(
            "`{name}` has {} entries; at most {max} are accepted",
            items.len()
        ));
    }
    items
        .iter()
        .map(|i| i.as_str())
        .collect::<Option<Vec<_>>>()
        .map(Some)
        .ok_or_else(not_strings)
}

impl super::Bridge {
    /// `POST /register`.
    pub(super) fn register(&self, req: &BridgeRequest<'_>) -> Response<Bytes> {
        if req.method != Method::POST {
            return method_not_allowed("POST");
        }
        if !content_type_is(req.headers, "application/json") {
            return invalid_metadata(
                "the registration must be a JSON object sent as application/json (RFC 7591 §3.1)",
            );
        }
        let doc: Value = match serde_json::from_slice(&req.body) {
            Ok(v) => v,
            Err(e) => {
                return invalid_metadata(&format!(
                    "the body is not valid JSON ({})",
                    sanitize_for_message(&e.to_string(), 120)
                ));
            }
        };
        let Some(doc) = doc.as_object() else {
            return invalid_metadata("the registration must be a JSON object");
        };
        if doc.len() > MAX_MEMBERS {
            return invalid_metadata(&format!(
                "the registration has {} members; at most {MAX_MEMBERS} are accepted",
                doc.len()
            ));
        }
        let name = match doc.get("client_name") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim(),
            Some(Value::String(_)) | None => {
                return invalid_metadata(
                    "`client_name` is required: this server registers only the MCP clients it knows by name",
                );
            }
            Some(_) => return invalid_metadata("`client_name` must be a string"),
        };
        if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
            return invalid_metadata(&format!(
                "`client_name` must be at most {MAX_NAME_CHARS} characters with no control characters"
            ));
        }
        if !self.config.name_allowed(name) {
            return invalid_metadata(&format!(
                "the client `{}` is not one this server accepts (its public client patterns do not match the name)",
                sanitize_for_message(name, 60)
            ));
        }
        let redirect_uris = match string_array(doc, "redirect_uris", MAX_REDIRECT_URIS) {
            Ok(Some(v)) if !v.is_empty() => v,
            Ok(_) => return invalid_redirect("`redirect_uris` is required (at least one)"),
            Err(why) => return invalid_metadata(&why),
        };
        for uri in &redirect_uris {
            if let Err(why) = check_redirect_uri(uri) {
                return invalid_redirect(&why);
            }
        }
        match string_array(doc, "grant_types", 8) {
            Ok(Some(g))
                if g.iter()
                    .any(|g| *g != "authorization_code" && *g != "refresh_token") =>
            {
                return invalid_metadata(
                    "`grant_types` may hold only `authorization_code` and `refresh_token`",
                );
            }
            Err(why) => return invalid_metadata(&why),
            _ => {}
        }
        match string_array(doc, "response_types", 8) {
            Ok(Some(r)) if r.iter().any(|r| *r != "code") => {
                return invalid_metadata("`response_types` may hold only `code`");
            }
            Err(why) => return invalid_metadata(&why),
            _ => {}
        }
        let now = self.config.now();
        let record = ClientRecord {
            n: name.to_string(),
            r: redirect_uris.iter().map(|s| s.to_string()).collect(),
            iat: now,
        };
        let client_id = self.config.sealer.seal(Purpose::Client, 0, &record);
        json_body(
            StatusCode::CREATED,
            &json!({
                "client_id": client_id,
                "client_id_issued_at": now,
                "client_name": record.n,
                "redirect_uris": record.r,
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
                "scope": self.config.scopes.join(" "),
            }),
        )
    }
}
