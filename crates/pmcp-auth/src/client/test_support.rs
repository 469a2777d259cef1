//! Test helpers shared by the client's unit tests: a loopback HTTP server that records what the
//! client sent and answers from a closure, canned token-endpoint answers, and a client that
//! collects every secret it reports.

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::TokenClient;

/// One request as the loopback server saw it.
#[derive(Debug, Clone)]
pub(super) struct Seen {
    pub(super) method: String,
    pub(super) target: String,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: String,
}

impl Seen {
    pub(super) fn form(&self) -> std::collections::BTreeMap<String, String> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect()
    }
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub(super) type Handler = Arc<dyn Fn(&Seen) -> (u16, String) + Send + Sync>;

/// A server on 127.0.0.1:0 that records every request and answers JSON from `handler`; a 3xx
/// answer's body is sent as its `Location` instead (a redirecting endpoint).
pub(super) struct Loopback {
    pub(super) base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Loopback {
    pub(super) async fn start(handler: Handler) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorded = seen.clone();
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let handler = handler.clone();
            let recorded = recorded.clone();
            async move {
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .unwrap_or_default();
                let req = Seen {
                    method: parts.method.to_string(),
                    target: parts.uri.to_string(),
                    headers: parts
                        .headers
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
                        .collect(),
                    body: String::from_utf8_lossy(&body).into_owned(),
                };
                let (status, body) = handler(&req);
                recorded.lock().unwrap().push(req);
                let status = axum::http::StatusCode::from_u16(status).unwrap();
                if status.is_redirection() {
                    return (
                        status,
                        [(axum::http::header::LOCATION, body)],
                        String::new(),
                    );
                }
                (
                    status,
                    [(axum::http::header::CONTENT_TYPE, "application/json".into())],
                    body,
                )
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, seen }
    }

    pub(super) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

pub(super) fn token_ok() -> (u16, String) {
    (
        200,
        r#"{"token_type":"Bearer","expires_in":3599,"access_token":"eyJ.the-access-token.sig"}"#
            .into(),
    )
}

pub(super) fn jwt_with(claims: serde_json::Value) -> String {
    format!(
        "{}.{}.sig",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

pub(super) fn collecting_client() -> (TokenClient, Arc<Mutex<Vec<String>>>) {
    let masked = Arc::new(Mutex::new(Vec::new()));
    let m = masked.clone();
    let client = TokenClient::new().on_secret(Arc::new(move |s: &str| {
        m.lock().unwrap().push(s.to_string());
    }));
    (client, masked)
}

pub(super) fn entra_error(code: u32, error: &str, text: &str) -> String {
    serde_json::json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {text}\r\nTrace ID: 0000aaaa-11bb-cccc-dd22-eeeeee333333\r\nCorrelation ID: aaaa0000-bb11-2222-33cc-444444dddddd\r\nTimestamp: 2026-01-09 02:02:12Z"),
        "error_codes": [code],
        "timestamp": "2026-01-09 02:02:12Z",
        "trace_id": "0000aaaa-11bb-cccc-dd22-eeeeee333333",
        "correlation_id": "aaaa0000-bb11-2222-33cc-444444dddddd",
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    })
    .to_string()
}
