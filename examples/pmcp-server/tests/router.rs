//! The server's router driven in-process (no port, no token issuer): what a client sees before it
//! has a token. Tests of your own tools call them with real tokens from `pmcp-entra-emulator`, a
//! local Entra-compatible issuer (cargo-pmcp's docs/emulator.md).

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt;

/// Any directory (tenant) id and application (client) id: nothing is fetched from Entra until a
/// request carries a token.
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "0b9e3c4a-5f6d-4e7f-8a9b-1c2d3e4f5a6b";

/// The router, configured as `cargo pmcp deploy` configures the server (its environment).
fn app() -> axum::Router {
    pmcp_sdk_example_server::app_from_lookup(|name| match name {
        "AUTH_PROVIDER" => Some("entra".into()),
        "ENTRA_TENANT_ID" => Some(TENANT.into()),
        "ENTRA_CLIENT_ID" => Some(CLIENT.into()),
        _ => None,
    })
    .expect("the server accepts the deployment's environment")
}

async fn send(request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
    let response = app().oneshot(request).await.expect("the router answers");
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, 1 << 20).await.expect("the body");
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (parts.status, parts.headers, json)
}

#[tokio::test]
async fn health_answers_without_a_token() {
    let request = Request::get("/health")
        .header(header::HOST, "127.0.0.1:8080")
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = send(request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok", "{body}");
}

#[tokio::test]
async fn mcp_without_a_token_is_401_with_where_to_get_one() {
    let initialize = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}"#;
    let request = Request::post("/mcp")
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .body(Body::from(initialize))
        .unwrap();
    let (status, headers, _) = send(request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let challenge = headers
        .get(header::WWW_AUTHENTICATE)
        .expect("a WWW-Authenticate challenge")
        .to_str()
        .unwrap();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    // RFC 9728: the challenge names the metadata that says which issuer's tokens to bring.
    let metadata_url = challenge
        .split("resource_metadata=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("resource_metadata in the challenge");
    let path = metadata_url
        .strip_prefix("http://127.0.0.1:8080")
        .unwrap_or_else(|| panic!("metadata on this server: {metadata_url}"));
    let request = Request::get(path)
        .header(header::HOST, "127.0.0.1:8080")
        .body(Body::empty())
        .unwrap();
    let (status, _, metadata) = send(request).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        metadata["authorization_servers"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "{metadata}"
    );
    assert!(
        metadata.to_string().contains(TENANT) || metadata.to_string().contains(CLIENT),
        "{metadata}"
    );
}
