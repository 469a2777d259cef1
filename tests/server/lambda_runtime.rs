//! The example server binary (`examples/rmcp-server`, the quickstart's) under Lambda: started with
//! `AWS_LAMBDA_RUNTIME_API` pointing at a loopback implementation of the Lambda Runtime API (the
//! documented `/2018-06-01/runtime/…` protocol) that hands it Function URL events (payload format
//! 2.0) and captures its replies.

use super::tokens::{TEST_CLIENT_SECRET, client_credentials};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use pmcp_auth::SecretString;
use pmcp_entra_emulator::{Emulator, EmulatorConfig};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{Mutex, mpsc};

const HOST: &str = "abcdefghij.lambda-url.us-east-1.on.aws";

/// The Runtime API: events go out through `next`, replies come back on `replies`.
struct RuntimeApi {
    events: Mutex<mpsc::Receiver<(String, Value)>>,
    replies: mpsc::Sender<(String, String, Value)>,
}

async fn next(State(api): State<Arc<RuntimeApi>>) -> Response {
    let Some((id, event)) = api.events.lock().await.recv().await else {
        // No more events: hold the long poll (as Lambda does until the next invocation).
        std::future::pending::<()>().await;
        unreachable!()
    };
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 30_000;
    let mut h = HeaderMap::new();
    h.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
    h.insert(
        "lambda-runtime-deadline-ms",
        deadline.to_string().parse().unwrap(),
    );
    h.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:mcp"
            .parse()
            .unwrap(),
    );
    h.insert(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000".parse().unwrap(),
    );
    (h, Json(event)).into_response()
}

async fn response(
    State(api): State<Arc<RuntimeApi>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> &'static str {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let _ = api.replies.send((id, "response".into(), v)).await;
    "{}"
}

async fn error(
    State(api): State<Arc<RuntimeApi>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> &'static str {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let _ = api.replies.send((id, "error".into(), v)).await;
    "{}"
}

/// A Function URL event (payload format 2.0) for `POST /mcp`.
fn function_url_event(id: &str, authorization: Option<&str>, body: &Value) -> Value {
    let mut headers = json!({
        "host": HOST,
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "user-agent": "lambda-runtime-test",
        "x-forwarded-proto": "https",
    });
    if let Some(a) = authorization {
        headers["authorization"] = json!(a);
    }
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/mcp",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghij",
            "domainName": HOST,
            "domainPrefix": "abcdefghij",
            "http": {
                "method": "POST",
                "path": "/mcp",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "lambda-runtime-test"
            },
            "requestId": id,
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 1767225600000u64
        },
        "body": body.to_string(),
        "isBase64Encoded": false
    })
}

/// Build an example server's binary (the same `cargo` that runs the tests, the workspace's own
/// target dir) and return its path. `package` is also the binary's name.
fn example_server_binary(package: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "build",
            "-p",
            package,
            "--bin",
            package,
            "--message-format=json",
        ])
        .current_dir(&root)
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo build");
    assert!(out.status.success(), "building the example server failed");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Ok(v) = serde_json::from_str::<Value>(line)
            && v["reason"] == "compiler-artifact"
            && v["target"]["name"] == package
            && let Some(exe) = v["executable"].as_str()
        {
            return PathBuf::from(exe);
        }
    }
    panic!("cargo reported no {package} executable");
}

/// The next reply the server posted, within 60 s.
async fn recv(rx: &mut mpsc::Receiver<(String, String, Value)>) -> (String, String, Value) {
    tokio::time::timeout(Duration::from_secs(60), rx.recv())
        .await
        .expect("a reply within 60 s")
        .expect("the runtime API is up")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_example_server_answers_function_url_events_through_the_runtime_api() {
    answers_function_url_events("rmcp-example-server").await;
}

/// Start `package`'s binary under the fake Runtime API and drive it: 401 with the public URL's
/// metadata without a token, `tools/list` with an emulator token.
pub(super) async fn answers_function_url_events(package: &'static str) {
    let exe = tokio::task::spawn_blocking(move || example_server_binary(package))
        .await
        .unwrap();

    let mut config = EmulatorConfig::default();
    config.set_default_secret(&SecretString::new(TEST_CLIENT_SECRET));
    let emu = Emulator::start(config, 0).await.expect("emulator starts");

    let (event_tx, event_rx) = mpsc::channel(8);
    let (reply_tx, mut reply_rx) = mpsc::channel(8);
    let api = Arc::new(RuntimeApi {
        events: Mutex::new(event_rx),
        replies: reply_tx,
    });
    let app = axum::Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(|| async { "{}" }))
        .with_state(api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let runtime_api = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let mut server = tokio::process::Command::new(&exe)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", &runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "mcp")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/mcp")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/01/[$LATEST]0")
        .env("AWS_REGION", "us-east-1")
        .env("ENTRA_TENANT_ID", emu.tenant_id())
        .env("ENTRA_CLIENT_ID", emu.client_id())
        .env("ENTRA_AUTHORITY_HOST", emu.authority_host())
        .env("AUTH_RESOURCE_URL", format!("https://{HOST}/mcp"))
        // A port that would fail to bind proves the TCP path is not taken.
        .env("PORT", "not-a-port")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the example server");

    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    // 1. No token: 401 with a challenge that points at the RFC 9728 metadata on the public URL.
    event_tx
        .send(("req-1".into(), function_url_event("req-1", None, &list)))
        .await
        .unwrap();
    let (id, kind, reply) = recv(&mut reply_rx).await;
    assert_eq!(
        (id.as_str(), kind.as_str()),
        ("req-1", "response"),
        "{reply}"
    );
    assert_eq!(reply["statusCode"], 401, "{reply}");
    let headers = reply["headers"].to_string().to_ascii_lowercase();
    assert!(headers.contains("www-authenticate"), "{reply}");
    assert!(
        headers.contains(&format!(
            "https://{HOST}/.well-known/oauth-protected-resource"
        )),
        "{reply}"
    );

    // 2. An emulator token: tools/list answers.
    let client_id = emu.client_id();
    let token = client_credentials(
        &emu.authority_host(),
        &emu.tenant_id(),
        &client_id,
        TEST_CLIENT_SECRET,
        &format!("api://{client_id}/.default"),
    )
    .await
    .expect("token");
    let bearer = format!("Bearer {token}");
    event_tx
        .send((
            "req-2".into(),
            function_url_event("req-2", Some(&bearer), &list),
        ))
        .await
        .unwrap();
    let (id, kind, reply) = recv(&mut reply_rx).await;
    assert_eq!(
        (id.as_str(), kind.as_str()),
        ("req-2", "response"),
        "{reply}"
    );
    assert_eq!(reply["statusCode"], 200, "{reply}");
    let body = reply["body"].as_str().unwrap_or_default();
    let body: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("JSON body: {reply}"));
    assert!(
        body["result"]["tools"]
            .as_array()
            .is_some_and(|t| !t.is_empty()),
        "{body}"
    );

    let _ = server.start_kill();
    let _ = server.wait().await;
}
