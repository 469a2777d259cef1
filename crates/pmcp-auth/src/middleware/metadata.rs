//! The RFC 9728 protected-resource metadata: the document ([`ProtectedResourceMetadata`]), the
//! well-known path it is served at ([`PROTECTED_RESOURCE_METADATA_PATH`], and the path-suffixed form
//! from [`protected_resource_metadata_path`]), and the layer's handling of metadata requests.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Shared, json_response, normalize_path, sanitize};
use crate::entra::is_loopback_url;

/// The RFC 9728 well-known path.
pub const PROTECTED_RESOURCE_METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// The well-known path of the metadata for a resource mounted at `resource_path` (RFC 9728 §3.1:
/// the well-known segment goes between the host and the resource's path): `""` or `/` gives
/// [`PROTECTED_RESOURCE_METADATA_PATH`], `/mcp` (or `mcp/`) gives
/// `/.well-known/oauth-protected-resource/mcp`.
///
/// ```
/// use pmcp_auth::middleware::protected_resource_metadata_path;
///
/// assert_eq!(protected_resource_metadata_path("/mcp"), "/.well-known/oauth-protected-resource/mcp");
/// assert_eq!(protected_resource_metadata_path(""), "/.well-known/oauth-protected-resource");
/// ```
pub fn protected_resource_metadata_path(resource_path: &str) -> String {
    format!(
        "{PROTECTED_RESOURCE_METADATA_PATH}{}",
        normalize_path(resource_path)
    )
}

/// The protected-resource metadata document (RFC 9728 §2) as the layer serves it: what a client
/// needs to find the authorization server for this resource and how to present a token.
///
/// Also deserializable, for clients that read another server's document: members this type does
/// not name are ignored, and the optional ones default to empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProtectedResourceMetadata {
    /// The resource identifier: the URL the well-known path was derived from (RFC 9728 §3.3
    /// requires it to match).
    pub resource: String,
    /// Issuer URLs of the authorization servers that issue tokens for this resource.
    #[serde(default)]
    pub authorization_servers: Vec<String>,
    /// Scopes a client may request for this resource; omitted when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// How a token may be presented; the layer accepts only `header` (`Authorization: Bearer`).
    #[serde(default)]
    pub bearer_methods_supported: Vec<String>,
    /// A human-readable name for the resource; omitted when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
}

impl Shared {
    /// `Some(resource path)` when `path` asks for the protected resource metadata.
    pub(super) fn metadata_request(&self, path: &str) -> Option<String> {
        let rest = path.strip_prefix(PROTECTED_RESOURCE_METADATA_PATH)?;
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() {
            Some(String::new())
        } else if rest.starts_with('/') {
            // Only the resource this layer protects has suffixed metadata; anything else is 404.
            Some(rest.to_string())
        } else {
            None // e.g. `/.well-known/oauth-protected-resourcex`
        }
    }

    /// The answer to a metadata request for `resource_path` (from `metadata_request`):
    /// the document, or 405 for another method than GET/HEAD, or 404 for a resource this layer
    /// does not protect.
    pub(super) fn metadata_response<B, R: From<Bytes>>(
        &self,
        req: &Request<B>,
        resource_path: &str,
    ) -> Response<R> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut resp = json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                None,
                &json!({"error": "method_not_allowed", "error_description": "use GET"}),
            );
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return resp;
        }
        if !resource_path.is_empty() && resource_path != self.resource_path {
            return json_response(
                StatusCode::NOT_FOUND,
                None,
                &json!({
                    "error": "not_found",
                    "error_description": format!("no protected resource is mounted at `{}`", sanitize(resource_path)),
                }),
            );
        }
        let origin = match self.origin(req) {
            Ok(o) => o,
            Err(resp) => return resp,
        };
        // RFC 9728 §3.3: `resource` is the identifier the well-known URL was derived from.
        let resource = format!("{origin}{resource_path}");
        let doc = ProtectedResourceMetadata {
            resource,
            // With the bridge, this server's origin is the authorization server (its RFC 8414
            // issuer), in front of Entra.
            authorization_servers: if self.bridge.is_some() {
                vec![origin.clone()]
            } else {
                self.authorization_servers.clone()
            },
            scopes_supported: self.scopes_supported.clone(),
            bearer_methods_supported: vec!["header".to_string()],
            resource_name: self.resource_name.clone(),
        };
        // Through a `Value` so the member order is serde_json's map order, as it always was.
        let body = serde_json::to_value(&doc).unwrap_or_default();
        let mut resp = json_response(StatusCode::OK, None, &body);
        let headers = resp.headers_mut();
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        resp
    }

    /// The URL a challenge on this request points to.
    pub(super) fn metadata_url<B, R: From<Bytes>>(
        &self,
        req: &Request<B>,
    ) -> Result<String, Response<R>> {
        let origin = self.origin(req)?;
        Ok(format!(
            "{origin}{}",
            protected_resource_metadata_path(&self.resource_path)
        ))
    }

    /// `scheme://authority` of this server as clients reach it: the configured public URL, or the
    /// request's `Host` (http for loopback hosts, https otherwise). Only used to build URLs that
    /// point back at this server, never for identity.
    pub(super) fn origin<B, R: From<Bytes>>(
        &self,
        req: &Request<B>,
    ) -> Result<String, Response<R>> {
        if let Some(base) = &self.public_base {
            return Ok(base.clone());
        }
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .or_else(|| req.uri().authority().map(|a| a.to_string()));
        let authority = host
            .as_deref()
            .and_then(|h| h.parse::<http::uri::Authority>().ok())
            .filter(|a| {
                a.as_str().bytes().all(|b| b.is_ascii_graphic()) && !a.as_str().contains('@')
            });
        let Some(authority) = authority else {
            return Err(json_response(
                StatusCode::BAD_REQUEST,
                None,
                &json!({
                    "error": "invalid_request",
                    "error_description": "the request has no valid Host header",
                }),
            ));
        };
        let scheme = match req.uri().scheme_str() {
            Some(s @ ("http" | "https")) => s,
            _ if is_loopback_url(&format!("http://{authority}")) => "http",
            _ => "https",
        };
        Ok(format!("{scheme}://{authority}"))
    }
}

#[cfg(test)]
mod tests {
    use super::super::AuthLayer;
    use super::super::tests::Deny;
    use super::*;

    #[test]
    fn metadata_paths() {
        let layer = AuthLayer::with_authenticator(Deny, vec![], vec![]).resource_path("mcp/");
        let s = &layer.shared;
        assert_eq!(s.resource_path, "/mcp");
        assert_eq!(
            s.metadata_request("/.well-known/oauth-protected-resource")
                .as_deref(),
            Some("")
        );
        assert_eq!(
            s.metadata_request("/.well-known/oauth-protected-resource/mcp")
                .as_deref(),
            Some("/mcp")
        );
        assert_eq!(
            s.metadata_request("/.well-known/oauth-protected-resourcex"),
            None
        );
        assert_eq!(s.metadata_request("/mcp"), None);
    }

    #[test]
    fn the_path_suffixed_form() {
        assert_eq!(
            protected_resource_metadata_path(""),
            PROTECTED_RESOURCE_METADATA_PATH
        );
        assert_eq!(
            protected_resource_metadata_path("/"),
            PROTECTED_RESOURCE_METADATA_PATH
        );
        assert_eq!(
            protected_resource_metadata_path("api/mcp/"),
            "/.well-known/oauth-protected-resource/api/mcp"
        );
    }

    #[test]
    fn the_document_omits_what_is_unset_and_reads_back() {
        let doc = ProtectedResourceMetadata {
            resource: "https://mcp.example.com/mcp".into(),
            authorization_servers: vec!["https://issuer.example.com".into()],
            scopes_supported: vec![],
            bearer_methods_supported: vec!["header".into()],
            resource_name: None,
        };
        let value = serde_json::to_value(&doc).unwrap();
        assert_eq!(
            value,
            json!({
                "resource": "https://mcp.example.com/mcp",
                "authorization_servers": ["https://issuer.example.com"],
                "bearer_methods_supported": ["header"],
            })
        );
        let back: ProtectedResourceMetadata = serde_json::from_value(json!({
            "resource": "https://mcp.example.com/mcp",
            "jwks_uri": "https://mcp.example.com/jwks",
        }))
        .unwrap();
        assert_eq!(back.resource, "https://mcp.example.com/mcp");
        assert!(back.authorization_servers.is_empty() && back.resource_name.is_none());
    }
}
