//! `--server-url`: the deployed MCP server end to end (MCP streamable HTTP and RFC 9728): 401 with
//! `WWW-Authenticate` and protected resource metadata without a token, then `initialize` and
//! `tools/list` with it.

use pmcp_auth::middleware::Challenge;
use std::pin::pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde_json::Value;
use sse_stream::SseByteStream;

use super::report::{AuthTestReport, Stage};
use pmcp_auth::SecretString;

/// The revision `initialize` asks for: the latest stable one. A server answers with the revision it
/// speaks, and the later requests carry that one.
const MCP_PROTOCOL_VERSION: &str = "2025-11-25";

/// The standard headers of the 2026-07-28 revision (SEP-2243) that mirror a request's body:
/// `Mcp-Method` always, `Mcp-Name` for a request naming a tool, prompt or resource. A server of that
/// revision refuses a request without them; an older one ignores them, so they are always sent.
fn standard_headers(body: &Value) -> Option<(&str, Option<&str>)> {
    let method = body.get("method")?.as_str()?;
    let params = body.get("params");
    let name = params
        .and_then(|p| p.get("name"))
        .or_else(|| params.and_then(|p| p.get("uri")))
        .and_then(Value::as_str);
    Some((method, name))
}

/// `resource_metadata="…"` from a `WWW-Authenticate: Bearer …` value.
pub fn resource_metadata_param(www_authenticate: &str) -> Option<String> {
    // The same parser the server's layer uses to build the header (pmcp-auth's `Challenge`).
    Challenge::parse(www_authenticate)
        .ok()?
        .resource_metadata
        .filter(|u| !u.is_empty())
}

/// At most this much of a response body is looked at for the answer.
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// The JSON-RPC response with `id` in one JSON text: that response, or a batch holding it.
fn jsonrpc_answer(text: &str, id: i64) -> Option<Value> {
    let v: Value = serde_json::from_str(text).ok()?;
    let is_it = |m: &Value| m.get("id").and_then(Value::as_i64) == Some(id);
    if is_it(&v) {
        return Some(v);
    }
    v.as_array()?.iter().find(|m| is_it(m)).cloned()
}

/// The JSON-RPC response with `id` from a response body. An SSE body (`text/event-stream`) is
/// decoded event by event and left as soon as the answer has come: a server may keep the stream
/// open after it. Any other body is read to its end and parsed as JSON. At most
/// [`MAX_ANSWER_BYTES`] are looked at (the HTTP client's timeout bounds the time): `Ok(None)`
/// when the answer is not in them, `Err` when the body broke off first.
async fn read_answer<S, E>(body: S, content_type: &str, id: i64) -> Result<Option<Value>, String>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    // End the body at the chunk that would take it past the limit, without waiting for more.
    let bounded = body.scan(0usize, |read, chunk| {
        if let Ok(bytes) = &chunk {
            *read += bytes.len();
        }
        std::future::ready((*read <= MAX_ANSWER_BYTES).then_some(chunk))
    });
    if content_type.starts_with("text/event-stream") {
        let mut events = pin!(SseByteStream::new(bounded));
        while let Some(event) = events.next().await {
            match event {
                Ok(event) => {
                    if let Some(answer) = event.data.as_deref().and_then(|d| jsonrpc_answer(d, id))
                    {
                        return Ok(Some(answer));
                    }
                }
                Err(sse_stream::Error::Body(e)) => return Err(e.to_string()),
                // Not a well-formed event stream (e.g. invalid UTF-8): no answer in it.
                Err(_) => return Ok(None),
            }
        }
        Ok(None)
    } else {
        let mut chunks = pin!(bounded);
        let mut text = Vec::new();
        while let Some(chunk) = chunks.next().await {
            text.extend_from_slice(&chunk.map_err(|e| e.to_string())?);
        }
        Ok(jsonrpc_answer(&String::from_utf8_lossy(&text), id))
    }
}

/// What the server answered to one JSON-RPC POST.
struct McpAnswer {
    status: u16,
    session: Option<String>,
    message: Option<Value>,
    content_type: String,
}

/// An error and each of its causes, outermost first (`error sending request …: client error
/// (Connect): tcp connect error: Connection refused (os error 111)`): reqwest's `Display` shows
/// only the outermost, which hides why.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut src = e.source();
    while let Some(cause) = src {
        let text = cause.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        src = cause.source();
    }
    parts.join(": ")
}

/// POST one JSON-RPC message; with an `id`, also read the answer to it.
async fn mcp_post(
    http: &reqwest::Client,
    url: &str,
    token: Option<&SecretString>,
    session: Option<&str>,
    protocol: Option<&str>,
    body: &Value,
    id: Option<i64>,
) -> Result<(McpAnswer, reqwest::header::HeaderMap), String> {
    let mut req = http
        .post(url)
        .header(
            reqwest::header::ACCEPT,
            "application/json, text/event-stream",
        )
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string());
    if let Some(t) = token {
        req = req.header(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {}", t.secret()),
        );
    }
    if let Some(s) = session {
        req = req.header("Mcp-Session-Id", s);
    }
    if let Some(p) = protocol {
        req = req.header("MCP-Protocol-Version", p);
    }
    if let Some((method, name)) = standard_headers(body) {
        req = req.header("Mcp-Method", method);
        if let Some(name) = name {
            req = req.header("Mcp-Name", name);
        }
    }
    let resp = req
        .send()
        .await
        .map_err(|e| format!("could not reach {url}: {}", error_chain(&e)))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let content_type = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let session = headers
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // Only an awaited answer is read: for a notification, or the request without a token, the
    // status and headers are the answer, and an SSE stream may stay open long after them.
    let message = match id {
        Some(id) => read_answer(resp.bytes_stream(), &content_type, id)
            .await
            .map_err(|e| format!("the answer from {url} broke off: {e}"))?,
        None => None,
    };
    Ok((
        McpAnswer {
            status,
            session,
            message,
            content_type,
        },
        headers,
    ))
}

fn initialize_request() -> Value {
    serde_json::json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": MCP_PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "cargo-pmcp auth test", "version": env!("CARGO_PKG_VERSION")}
        }
    })
}

fn norm(u: &str) -> String {
    u.trim().trim_end_matches('/').to_string()
}

/// A failed check: what went wrong (also the check's detail) and what to do.
struct Failed {
    message: String,
    hint: String,
}

impl Failed {
    fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: hint.into(),
        }
    }
}

/// One check's outcome: its detail when it passed.
type Outcome = Result<String, Failed>;

/// The checks, recorded in the report as they finish; the first failure is the run's.
struct Checks<'r> {
    report: &'r mut AuthTestReport,
    first_failure: Option<Failed>,
}

impl Checks<'_> {
    fn record(&mut self, name: &str, outcome: Outcome) {
        match outcome {
            Ok(detail) => self.report.check(name, true, detail),
            Err(failed) => {
                self.report.check(name, false, failed.message.clone());
                self.first_failure.get_or_insert(failed);
            }
        }
    }
}

const HINT_UNREACHABLE: &str = "Check the URL and that the server is running.";

/// Run every server check; the report gets each outcome and the first failure. A failed check
/// does not stop the others, except that `tools/list` needs a session from `initialize`.
pub(super) async fn server_checks(
    url: &str,
    token: &SecretString,
    issuers: &[String],
    report: &mut AuthTestReport,
) {
    if url::Url::parse(url).is_err() {
        report.check("server", false, format!("`{url}` is not a URL"));
        report.fail(
            Stage::Server,
            "invalid_input",
            format!("--server-url `{url}` is not a URL"),
            "Pass the MCP endpoint, e.g. https://my-server.example.com/mcp.",
        );
        return;
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap_or_default();
    let mut checks = Checks {
        report,
        first_failure: None,
    };

    let (outcome, metadata_url) = without_token(&http, url).await;
    checks.record("server: 401 without token", outcome);

    if let Some(md_url) = metadata_url.or_else(|| well_known_metadata_url(url)) {
        let outcome = resource_metadata(&http, url, &md_url, issuers).await;
        checks.record("server: protected resource metadata", outcome);
    }

    match initialize(&http, url, token).await {
        Ok((detail, session)) => {
            checks.record("server: initialize", Ok(detail));
            let outcome = tools_list(&http, url, token, &session).await;
            checks.record("server: tools/list", outcome);
        }
        Err(failed) => checks.record("server: initialize", Err(failed)),
    }

    if let Some(f) = checks.first_failure {
        checks
            .report
            .fail(Stage::Server, "server_check_failed", f.message, f.hint);
    }
}

/// Without a token: 401 and `WWW-Authenticate: Bearer resource_metadata="…"` (MCP authorization).
/// Also the metadata URL the header names, whatever the status.
async fn without_token(http: &reqwest::Client, url: &str) -> (Outcome, Option<String>) {
    const HINT_401: &str = "The server must answer a request without a token with 401 and `WWW-Authenticate: Bearer resource_metadata=\"<url>\"` (MCP authorization spec); protect it with the auth middleware.";
    let (a, headers) = match mcp_post(http, url, None, None, None, &initialize_request(), None)
        .await
    {
        Ok(answer) => answer,
        Err(e) => {
            let hint = if e.to_ascii_lowercase().contains("connection refused") {
                format!(
                    "Nothing listens at {url}: is the server running? (`cargo pmcp deploy status` shows the local one; `cargo pmcp dev` starts one.) {HINT_UNREACHABLE}"
                )
            } else {
                HINT_UNREACHABLE.to_string()
            };
            return (Err(Failed::new(e, hint)), None);
        }
    };
    let www: Vec<String> = headers
        .get_all(reqwest::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    let metadata_url = www.iter().find_map(|w| resource_metadata_param(w));
    let outcome = match &metadata_url {
        Some(m) if a.status == 401 => Ok(format!("401 with resource_metadata={m}")),
        _ if a.status != 401 => Err(Failed::new(
            format!("expected 401 without a token, got {}", a.status),
            HINT_401,
        )),
        _ if www.is_empty() => Err(Failed::new("401 but no WWW-Authenticate header", HINT_401)),
        _ => Err(Failed::new(
            format!(
                "401 but WWW-Authenticate has no Bearer resource_metadata: `{}`",
                www.join(" | ")
            ),
            HINT_401,
        )),
    };
    (outcome, metadata_url)
}

/// Where RFC 9728 puts the metadata of `url` when no header names it:
/// `/.well-known/oauth-protected-resource{path}`.
fn well_known_metadata_url(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    let path = u.path().trim_end_matches('/');
    let mut m = u.clone();
    m.set_path(&format!("/.well-known/oauth-protected-resource{path}"));
    m.set_query(None);
    Some(m.to_string())
}

/// The protected resource metadata names one of `issuers` in `authorization_servers`.
/// When it names the server's own origin instead (the OAuth bridge of `AUTH_DCR_ENABLED=true`),
/// the bridge is checked from outside: its RFC 8414 `issuer` is exactly that origin, and a client
/// no public-client pattern matches cannot register.
async fn resource_metadata(
    http: &reqwest::Client,
    server_url: &str,
    md_url: &str,
    issuers: &[String],
) -> Outcome {
    let servers = authorization_servers(http, md_url).await.map_err(|e| {
        Failed::new(
            e,
            "Serve RFC 9728 protected resource metadata at the URL named in WWW-Authenticate.",
        )
    })?;
    let own_origin = url::Url::parse(server_url)
        .ok()
        .map(|u| u.origin().ascii_serialization());
    let bridge = servers
        .iter()
        .find(|s| Some(s.trim_end_matches('/')) == own_origin.as_deref());
    match servers
        .iter()
        .find(|s| issuers.iter().any(|i| norm(i) == norm(s)))
    {
        Some(named) => Ok(format!("authorization_servers names {named}")),
        None if bridge.is_some() => {
            bridge_checks(http, bridge.map(String::as_str).unwrap_or_default()).await
        }
        None => Err(Failed::new(
            format!(
                "authorization_servers [{}] does not name the issuer {}",
                servers.join(", "),
                issuers.first().cloned().unwrap_or_default()
            ),
            "The server's RFC 9728 metadata must list the tenant's issuer (e.g. https://login.microsoftonline.com/<tenant>/v2.0) in authorization_servers: check the server's ENTRA_TENANT_ID / ENTRA_AUTHORITY_HOST (or AUTH_ISSUER).",
        )),
    }
}

/// The server's own OAuth bridge at `issuer`: RFC 8414 metadata with exactly that issuer and a
/// registration endpoint that refuses a client no pattern matches.
async fn bridge_checks(http: &reqwest::Client, issuer: &str) -> Outcome {
    const HINT: &str = "The server's OAuth bridge (AUTH_DCR_ENABLED=true) must serve RFC 8414 metadata at {origin}/.well-known/oauth-authorization-server whose issuer is exactly the origin clients reach it at: set AUTH_RESOURCE_URL to the server's public URL.";
    let md_url = format!(
        "{}/.well-known/oauth-authorization-server",
        issuer.trim_end_matches('/')
    );
    let resp = http
        .get(&md_url)
        .send()
        .await
        .map_err(|e| Failed::new(format!("could not fetch {md_url}: {e}"), HINT))?;
    if resp.status() != reqwest::StatusCode::OK {
        return Err(Failed::new(
            format!("{md_url} answered {}", resp.status().as_u16()),
            HINT,
        ));
    }
    let md: Value = resp
        .json()
        .await
        .map_err(|e| Failed::new(format!("{md_url} is not JSON: {e}"), HINT))?;
    if md["issuer"].as_str() != Some(issuer) {
        return Err(Failed::new(
            format!(
                "the bridge's metadata issuer is {} but authorization_servers names {issuer} (RFC 8414 §3.3: they must be identical)",
                md["issuer"]
            ),
            HINT,
        ));
    }
    let Some(registration) = md["registration_endpoint"].as_str() else {
        return Err(Failed::new(
            format!("{md_url} has no registration_endpoint"),
            HINT,
        ));
    };
    let resp = http
        .post(registration)
        .json(&serde_json::json!({
            "client_name": "pmcp auth test: unlisted client zq9",
            "redirect_uris": ["http://127.0.0.1/callback"],
        }))
        .send()
        .await
        .map_err(|e| Failed::new(format!("could not reach {registration}: {e}"), HINT))?;
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if status != 400 || body["error"] != "invalid_client_metadata" {
        return Err(Failed::new(
            format!(
                "{registration} registered a client no public-client pattern should match (answered {status})"
            ),
            "Check AUTH_DCR_PUBLIC_CLIENT_PATTERNS ([auth.dcr] public_client_patterns): `*` accepts every client.",
        ));
    }
    Ok(format!(
        "authorization_servers names the server's own OAuth bridge {issuer}: its RFC 8414 issuer matches, and an unlisted client cannot register"
    ))
}

/// `authorization_servers` of the metadata document at `md_url`.
async fn authorization_servers(
    http: &reqwest::Client,
    md_url: &str,
) -> Result<Vec<String>, String> {
    let resp = http
        .get(md_url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| format!("could not fetch {md_url}: {e}"))?;
    let status = resp.status().as_u16();
    if status != 200 {
        return Err(format!("{md_url} answered {status}"));
    }
    let v: Value = resp
        .json()
        .await
        .map_err(|e| format!("{md_url} is not JSON: {e}"))?;
    let servers = v
        .get("authorization_servers")
        .and_then(|a| a.as_array())
        .ok_or_else(|| format!("{md_url} has no authorization_servers"))?;
    Ok(servers
        .iter()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect())
}

/// The MCP session `initialize` opened.
struct Session {
    id: Option<String>,
    protocol: String,
}

/// With the token: `initialize` gets a JSON-RPC result.
async fn initialize(
    http: &reqwest::Client,
    url: &str,
    token: &SecretString,
) -> Result<(String, Session), Failed> {
    let (a, _) = mcp_post(
        http,
        url,
        Some(token),
        None,
        None,
        &initialize_request(),
        Some(1),
    )
    .await
    .map_err(|e| Failed::new(e, HINT_UNREACHABLE))?;
    match &a.message {
        Some(m) if m.get("result").is_some() => {
            let r = &m["result"];
            let protocol = r
                .get("protocolVersion")
                .and_then(|p| p.as_str())
                .unwrap_or(MCP_PROTOCOL_VERSION)
                .to_string();
            let name = r
                .pointer("/serverInfo/name")
                .and_then(|n| n.as_str())
                .unwrap_or("?");
            let detail = format!(
                "server {name}, protocol {protocol}{}",
                if a.content_type.starts_with("text/event-stream") {
                    " (SSE)"
                } else {
                    ""
                }
            );
            let session = Session {
                id: a.session.clone(),
                protocol,
            };
            Ok((detail, session))
        }
        Some(m) => Err(Failed::new(
            format!(
                "initialize answered an error: {}",
                m.get("error").map(|e| e.to_string()).unwrap_or_default()
            ),
            "The server rejected initialize with a valid token: check its logs.",
        )),
        None if a.status == 401 || a.status == 403 => Err(Failed::new(
            format!(
                "the server answered {} to a token the validator accepts",
                a.status
            ),
            "The server validates differently from this tool: compare its ENTRA_TENANT_ID, ENTRA_CLIENT_ID, AUTH_AUDIENCE and AUTH_ACCEPT_V1_TOKENS with the values used here.",
        )),
        None => Err(Failed::new(
            format!(
                "no JSON-RPC answer to initialize (HTTP {}, content-type `{}`)",
                a.status, a.content_type
            ),
            "Serve MCP streamable HTTP at this URL: a JSON-RPC POST answered with application/json or text/event-stream.",
        )),
    }
}

/// In the session: `notifications/initialized`, then `tools/list` gets `result.tools`.
async fn tools_list(
    http: &reqwest::Client,
    url: &str,
    token: &SecretString,
    session: &Session,
) -> Outcome {
    let post = |body: Value, id: Option<i64>| async move {
        mcp_post(
            http,
            url,
            Some(token),
            session.id.as_deref(),
            Some(&session.protocol),
            &body,
            id,
        )
        .await
    };
    let note = serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let _ = post(note, None).await;
    let list = serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}});
    let (a, _) = post(list, Some(2))
        .await
        .map_err(|e| Failed::new(e, "Check the server's logs."))?;
    let tools = a
        .message
        .as_ref()
        .and_then(|m| m.pointer("/result/tools"))
        .and_then(|t| t.as_array());
    match tools {
        Some(tools) => {
            let names: Vec<&str> = tools
                .iter()
                .filter_map(|t| t.get("name").and_then(|n| n.as_str()))
                .collect();
            Ok(format!(
                "{} tools: {}",
                names.len(),
                if names.is_empty() {
                    "(none)".into()
                } else {
                    names.join(", ")
                }
            ))
        }
        None => Err(Failed::new(
            match &a.message {
                Some(m) => format!(
                    "tools/list answered without result.tools: {}",
                    m.get("error")
                        .map(|e| e.to_string())
                        .unwrap_or_else(|| "no result".into())
                ),
                None => format!("no JSON-RPC answer to tools/list (HTTP {})", a.status),
            },
            "The server must answer tools/list after initialize (with the Mcp-Session-Id it issued, if any).",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_headers_mirror_the_body() {
        let call = serde_json::json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "whoami"}});
        assert_eq!(
            standard_headers(&call),
            Some(("tools/call", Some("whoami")))
        );
        let read = serde_json::json!({"jsonrpc": "2.0", "id": 4, "method": "resources/read", "params": {"uri": "file:///a"}});
        assert_eq!(
            standard_headers(&read),
            Some(("resources/read", Some("file:///a")))
        );
        let list =
            serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}});
        assert_eq!(standard_headers(&list), Some(("tools/list", None)));
        assert_eq!(
            standard_headers(&serde_json::json!({"jsonrpc": "2.0", "id": 2, "result": {}})),
            None
        );
    }
    #[test]
    fn resource_metadata_is_read_from_www_authenticate() {
        assert_eq!(
            resource_metadata_param(r#"Bearer realm="mcp", resource_metadata="https://s/.well-known/oauth-protected-resource/mcp", error="invalid_token""#).as_deref(),
            Some("https://s/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(
            resource_metadata_param("bearer resource_metadata=https://x/y, scope=a").as_deref(),
            Some("https://x/y")
        );
        assert_eq!(resource_metadata_param(r#"Basic realm="x""#), None);
        assert_eq!(resource_metadata_param("Bearer realm=\"x\""), None);
    }

    /// A body delivered in the given chunks, then held open (as a server may leave an SSE
    /// stream).
    fn open_body(chunks: Vec<Vec<u8>>) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
        futures_util::stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from(c))))
            .chain(futures_util::stream::pending())
    }

    /// `read_answer`, failing the test instead of hanging when it waits for the end.
    async fn answer<S>(body: S, content_type: &str, id: i64) -> Result<Option<Value>, String>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>>,
    {
        tokio::time::timeout(Duration::from_secs(10), read_answer(body, content_type, id))
            .await
            .expect("read_answer waited for a body that never ends")
    }

    const SSE: &str = "event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\r\n\r\nevent: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\r\ndata: \"result\":{\"name\":\"caf\u{e9}\"}}\r\n\r\n";

    #[tokio::test]
    async fn jsonrpc_answers_are_found_in_json_and_sse() {
        let m = answer(open_body(vec![SSE.into()]), "text/event-stream", 1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.pointer("/result/name").unwrap(), "caf\u{e9}");
        let closed = futures_util::stream::iter([Ok(Bytes::from(SSE))]);
        assert_eq!(answer(closed, "text/event-stream", 2).await, Ok(None));

        let json = br#"{"jsonrpc":"2.0","id":2,"result":{"tools":[]}}"#;
        let body = futures_util::stream::iter([Ok(Bytes::from_static(json))]);
        let m = answer(body, "application/json", 2).await.unwrap().unwrap();
        assert!(m.pointer("/result/tools").is_some());
        let batch = br#"[{"jsonrpc":"2.0","id":1,"result":{}},{"jsonrpc":"2.0","id":2,"result":{"tools":[]}}]"#;
        let body = futures_util::stream::iter([Ok(Bytes::from_static(batch))]);
        let m = answer(body, "application/json", 2).await.unwrap().unwrap();
        assert_eq!(m["id"], 2);
    }

    #[tokio::test]
    async fn an_sse_answer_split_anywhere_is_read_once_it_is_whole() {
        // One byte per chunk: CRLFs, `data:` lines and the two bytes of `é` all split.
        let bytes: Vec<Vec<u8>> = SSE.bytes().map(|b| vec![b]).collect();
        let m = answer(open_body(bytes), "text/event-stream", 1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.pointer("/result/name").unwrap(), "caf\u{e9}");
    }

    #[tokio::test]
    async fn reading_stops_after_the_size_limit() {
        let noise = "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\n";
        let mut chunks: Vec<Vec<u8>> = (0..=MAX_ANSWER_BYTES / noise.len())
            .map(|_| noise.into())
            .collect();
        chunks.push(b"data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n".to_vec());
        assert_eq!(
            answer(open_body(chunks), "text/event-stream", 1).await,
            Ok(None),
            "the answer past the limit is not read"
        );
        let big = vec![b' '; MAX_ANSWER_BYTES + 1];
        assert_eq!(
            answer(open_body(vec![big]), "application/json", 1).await,
            Ok(None),
            "a JSON body is not awaited past the limit"
        );
    }

    #[tokio::test]
    async fn a_body_that_breaks_off_before_the_answer_is_an_error() {
        for content_type in ["text/event-stream", "application/json"] {
            let body = futures_util::stream::iter([
                Ok(Bytes::from_static(b"data: {\"jsonrpc\":")),
                Err(std::io::Error::other("connection reset")),
            ]);
            let e = answer(body, content_type, 1).await.unwrap_err();
            assert!(e.contains("connection reset"), "{content_type}: {e}");
        }
    }
}
