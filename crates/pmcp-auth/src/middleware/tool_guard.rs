//! Per-tool permissions decided at the HTTP layer, before an MCP SDK parses the request: shared by
//! the SDK integrations ([`crate::rmcp`], [`crate::pmcp`]), which differ only in the service they
//! mount behind it.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode};
use serde_json::{Value, json};

use super::{Authenticated, InsufficientScope};

/// The first MCP protocol revision whose clients send `Mcp-Method`/`Mcp-Name` (and whose requests
/// the SDKs reject when the headers contradict the body).
pub const STANDARD_HEADERS_VERSION: &str = "2026-07-28";

/// One tool's requirement.
#[derive(Debug, Clone)]
pub(crate) struct Permission {
    pub(crate) permission: String,
    pub(crate) scope: Option<String>,
}

/// What `McpRouter::require_with_scope` records (both SDKs' routers): calling `tool` needs
/// `permission`, and the 403 names `scope` (`None`: the layer's advertised scopes).
pub(crate) fn add_permission(
    permissions: &mut BTreeMap<String, Permission>,
    tool: &str,
    permission: &str,
    scope: Option<&str>,
) {
    permissions.insert(
        tool.to_string(),
        Permission {
            permission: permission.to_string(),
            scope: scope.map(str::to_string),
        },
    );
}

/// A mount path as both SDKs' routers take it: trimmed, one leading `/`, no trailing `/`.
pub(crate) fn mount_path(path: &str) -> String {
    let path = path.trim().trim_end_matches('/');
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    }
}

/// The tools that need a permission, and how to answer when the caller lacks it.
pub(crate) struct ToolGuard {
    pub(crate) permissions: BTreeMap<String, Permission>,
    pub(crate) advertised_scope: Option<String>,
    pub(crate) max_body_bytes: usize,
}

impl ToolGuard {
    /// A guard for `permissions` whose 403s name `advertised` (the layer's scopes) when a tool has
    /// no scope of its own.
    pub(crate) fn new(
        permissions: BTreeMap<String, Permission>,
        advertised: &[String],
        max_body_bytes: usize,
    ) -> Arc<Self> {
        let advertised = advertised.join(" ");
        Arc::new(Self {
            permissions,
            advertised_scope: (!advertised.is_empty()).then_some(advertised),
            max_body_bytes,
        })
    }

    /// `Err` with the 403 to answer when `caller` may not call `tool`.
    fn check(&self, caller: &Authenticated, tool: &str) -> Result<(), InsufficientScope> {
        let Some(needed) = self.permissions.get(tool) else {
            return Ok(());
        };
        caller.require(&needed.permission).map_err(|denied| {
            match needed.scope.as_ref().or(self.advertised_scope.as_ref()) {
                Some(scope) => denied.with_scope(scope),
                None => denied,
            }
        })
    }
}

/// What the `Mcp-Method`/`Mcp-Name` headers decide, when they can be trusted.
pub(crate) enum HeaderDecision {
    /// Not a tool call.
    NotATool,
    /// A call of this tool.
    Tool(String),
    /// The headers are absent, duplicated, encoded, or from an older revision: read the body.
    Unknown,
}

pub(crate) fn header_decision(headers: &HeaderMap) -> HeaderDecision {
    let single = |name: &str| {
        let mut values = headers.get_all(name).iter();
        match (values.next(), values.next()) {
            (Some(v), None) => v.to_str().ok().map(str::trim),
            _ => None,
        }
    };
    // Only a revision whose headers the SDK checks against the body may skip the body.
    if single("mcp-protocol-version").is_none_or(|v| v < STANDARD_HEADERS_VERSION) {
        return HeaderDecision::Unknown;
    }
    match single("mcp-method") {
        // A name in the encoded form (`=?base64?…?=`, for names a header cannot carry as is) is
        // decoded by the SDK; the body says the same name in plain JSON.
        Some("tools/call") => match single("mcp-name") {
            Some(name) if !name.is_empty() && !name.starts_with("=?") => {
                HeaderDecision::Tool(name.to_string())
            }
            _ => HeaderDecision::Unknown,
        },
        Some(_) => HeaderDecision::NotATool,
        None => HeaderDecision::Unknown,
    }
}

/// The tools a JSON-RPC message (or, from clients before 2025-06-18, a batch) calls.
pub(crate) fn called_tools(message: &Value) -> Vec<&str> {
    fn one(m: &Value) -> Option<&str> {
        if m.get("method").and_then(Value::as_str) == Some("tools/call") {
            m.pointer("/params/name").and_then(Value::as_str)
        } else {
            None
        }
    }
    match message {
        Value::Array(items) => items.iter().filter_map(one).collect(),
        other => one(other).into_iter().collect(),
    }
}

/// The axum middleware (`from_fn_with_state`) that answers 403 before a refused tool call reaches
/// the SDK. Runs inside [`AuthLayer`](super::AuthLayer), which inserted [`Authenticated`].
pub(crate) async fn check_tool(
    State(guard): State<Arc<ToolGuard>>,
    req: Request,
    next: Next,
) -> Response {
    if guard.permissions.is_empty() || req.method() != Method::POST {
        return next.run(req).await;
    }
    // The layer inserts this on every path it protects; without it the tool's own check decides.
    let Some(caller) = req.extensions().get::<Authenticated>().cloned() else {
        return next.run(req).await;
    };
    match header_decision(req.headers()) {
        HeaderDecision::NotATool => next.run(req).await,
        HeaderDecision::Tool(name) => match guard.check(&caller, &name) {
            Ok(()) => next.run(req).await,
            Err(denied) => denied.into_response(),
        },
        HeaderDecision::Unknown => {
            let (parts, body) = req.into_parts();
            let bytes = match axum::body::to_bytes(body, guard.max_body_bytes).await {
                Ok(b) => b,
                Err(_) => return too_large(guard.max_body_bytes),
            };
            // Not JSON: the SDK answers the parse error.
            if let Ok(message) = serde_json::from_slice::<Value>(&bytes) {
                for tool in called_tools(&message) {
                    if let Err(denied) = guard.check(&caller, tool) {
                        return denied.into_response();
                    }
                }
            }
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
    }
}

fn too_large(limit: usize) -> Response {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        axum::Json(json!({
            "error": "invalid_request",
            "error_description": format!("the request body is larger than this server accepts ({limit} bytes)"),
        })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn mount_paths_get_one_leading_slash_and_no_trailing_one() {
        for (given, mounted) in [
            ("mcp", "/mcp"),
            ("/mcp", "/mcp"),
            (" /mcp/ ", "/mcp"),
            ("/a/b//", "/a/b"),
            ("/", "/"),
            ("", "/"),
        ] {
            assert_eq!(mount_path(given), mounted, "{given:?}");
        }
        let mut permissions = BTreeMap::new();
        add_permission(&mut permissions, "admin_status", "admin:*", None);
        add_permission(
            &mut permissions,
            "admin_status",
            "admin:read",
            Some("api://x/.default"),
        );
        let p = &permissions["admin_status"];
        assert_eq!(
            (p.permission.as_str(), p.scope.as_deref()),
            ("admin:read", Some("api://x/.default"))
        );
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn headers_decide_only_from_the_2026_revision_on() {
        let call = [("mcp-method", "tools/call"), ("mcp-name", "admin_status")];
        assert!(matches!(
            header_decision(&headers(&call)),
            HeaderDecision::Unknown
        ));
        let mut new = call.to_vec();
        new.push(("mcp-protocol-version", "2026-07-28"));
        assert!(
            matches!(header_decision(&headers(&new)), HeaderDecision::Tool(n) if n == "admin_status")
        );
        let old = [
            ("mcp-protocol-version", "2025-06-18"),
            ("mcp-method", "tools/list"),
        ];
        assert!(matches!(
            header_decision(&headers(&old)),
            HeaderDecision::Unknown
        ));
        let list = [
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/list"),
        ];
        assert!(matches!(
            header_decision(&headers(&list)),
            HeaderDecision::NotATool
        ));
        // Two names: the body decides.
        let mut twice = new.clone();
        twice.push(("mcp-name", "whoami"));
        assert!(matches!(
            header_decision(&headers(&twice)),
            HeaderDecision::Unknown
        ));
        // An encoded name (which the SDK decodes): the body decides.
        let encoded = [
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "=?base64?YWRtaW5fc3RhdHVz?="),
        ];
        assert!(matches!(
            header_decision(&headers(&encoded)),
            HeaderDecision::Unknown
        ));
    }

    #[test]
    fn tools_called_by_a_message_or_a_batch() {
        let one =
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "a"}});
        assert_eq!(called_tools(&one), ["a"]);
        let batch = json!([one, {"method": "tools/list"}, {"method": "tools/call", "params": {"name": "b"}}]);
        assert_eq!(called_tools(&batch), ["a", "b"]);
        assert!(called_tools(&json!({"method": "initialize"})).is_empty());
    }
}
