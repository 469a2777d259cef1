//! An in-process pmcp.run that speaks the real protocol (docs/contracts/pmcp-run-api.md) on
//! 127.0.0.1, with faults injected: discovery, the Cognito token endpoint (client credentials with
//! HTTP Basic, refresh, authorization code with PKCE), GraphQL (raw token, scalar variables only)
//! and the two presigned uploads. Plain HTTP/1.1 over std threads, so faults such as a connection
//! reset mid-upload are exact. Every request is recorded for the assertions.

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// The access token the API accepts when given directly (`PMCP_ACCESS_TOKEN`).
pub const TOKEN: &str = "pmcp-test-access-token-6f1d";
/// Client credentials the token endpoint accepts (HTTP Basic only), and the token it issues.
pub const CLIENT_ID: &str = "ci-client";
pub const CLIENT_SECRET: &str = "ci-client-secret-93ab";
pub const CC_TOKEN: &str = "pmcp-cc-issued-token-2e77";
/// The service's public Cognito app client (discovery's `cognito_client_id`).
pub const COGNITO_CLIENT_ID: &str = "pmcp-cli-public-client";
/// A refresh token the endpoint accepts, and the access token it gives for it.
pub const REFRESH_TOKEN: &str = "pmcp-refresh-token-51c0";
pub const REFRESHED_TOKEN: &str = "pmcp-refreshed-token-8d21";
/// The authorization code the fake hosted UI gives, and the tokens the exchange returns.
pub const AUTH_CODE: &str = "pmcp-auth-code-77aa";
pub const LOGIN_TOKEN: &str = "pmcp-login-access-token-0b9f";
pub const LOGIN_REFRESH: &str = "pmcp-login-refresh-token-c3d4";
/// The signature in the presigned upload URLs: a credential, never to be shown.
pub const UPLOAD_SIGNATURE: &str = "upload-signature-7c1e0d9a";

/// What goes wrong, and how often.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// The first N bootstrap PUTs answer 503.
    pub bootstrap_put_503: u32,
    /// The first N bootstrap PUTs drop the connection after reading part of the body.
    pub put_reset: u32,
    /// The first discovery names a stale GraphQL URL that answers `FieldUndefined`.
    pub stale_graphql_once: bool,
    /// Every GraphQL request answers 401.
    pub graphql_401: bool,
    /// getDeployment answers `failed` with this `errorMessage`.
    pub fail_with: Option<String>,
    /// getDeployment never leaves `deploying`.
    pub never_ready: bool,
    /// setServerSecret answers `success: false` with this error.
    pub secret_refused: Option<String>,
    /// fetchServerOAuthEndpoints says the platform's own OAuth is on.
    pub platform_oauth: bool,
    /// Discovery's `graphql_url` (default `{base}/graphql`).
    pub graphql_url: Option<String>,
    /// Discovery's `cognito_domain` (default the fake itself).
    pub cognito_domain: Option<String>,
}

/// One PUT as received.
#[derive(Debug, Clone)]
pub struct Put {
    /// `/upload/template` or `/upload/bootstrap`.
    pub path: String,
    pub completed: bool,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

/// One request: method, path (with query), headers (lower-case names), raw body.
pub type RawRequest = (String, String, HashMap<String, String>, Vec<u8>);

/// One deployment the fake holds.
#[derive(Debug, Clone)]
pub struct Dep {
    pub id: String,
    pub project_name: String,
    pub status: String,
}

/// Everything the API saw, and its state.
#[derive(Debug, Default)]
pub struct Seen {
    pub faults: Faults,
    /// Every request: method, path, headers, raw body (for "the secret went only here" checks).
    pub raw: Vec<RawRequest>,
    pub puts: Vec<Put>,
    pub discoveries: u32,
    /// GraphQL requests: (path, authorization header, body).
    pub graphql: Vec<(String, Option<String>, Value)>,
    /// Token requests: (authorization header, form fields).
    pub token_requests: Vec<(Option<String>, HashMap<String, String>)>,
    pub polls: u32,
    pub op_polls: u32,
    /// The last uploads, as stored.
    pub template: Option<Vec<u8>>,
    pub bootstrap: Option<Vec<u8>>,
    /// Newest first.
    pub deployments: Vec<Dep>,
    /// The PKCE challenge and redirect URI of the last authorize request.
    pub authorize: Option<HashMap<String, String>>,
}

impl Seen {
    /// The variables of every GraphQL call of `field`, in order.
    pub fn calls(&self, field: &str) -> Vec<Value> {
        self.graphql
            .iter()
            .filter(|(_, _, b)| operation(b["query"].as_str().unwrap_or("")) == Some(field))
            .map(|(_, _, b)| b["variables"].clone())
            .collect()
    }

    /// The operations called, in order.
    pub fn operations(&self) -> Vec<&'static str> {
        self.graphql
            .iter()
            .filter_map(|(_, _, b)| operation(b["query"].as_str().unwrap_or("")))
            .collect()
    }

    /// The uploaded template, parsed.
    pub fn template_json(&self) -> Value {
        serde_json::from_slice(self.template.as_ref().expect("a template was uploaded")).unwrap()
    }
}

/// The operations the fake knows, longest first (so `getDeploymentOperationStatus` is not taken
/// for `getDeployment`).
const OPERATIONS: &[&str] = &[
    "getDeploymentOperationStatus",
    "fetchServerOAuthEndpoints",
    "createDeploymentFromS3",
    "configureServerOAuth",
    "disableServerOAuth",
    "destroyDeployment",
    "listDeployments",
    "setServerSecret",
    "getUploadUrls",
    "getDeployment",
];

/// Which operation a GraphQL document calls.
pub fn operation(query: &str) -> Option<&'static str> {
    OPERATIONS
        .iter()
        .copied()
        .find(|op| query.contains(&format!("{op}(")) || query.contains(&format!("{op} {{")))
}

pub struct FakeApi {
    pub base: String,
    pub seen: Arc<Mutex<Seen>>,
}

impl FakeApi {
    pub fn start(faults: Faults) -> FakeApi {
        let seen = Arc::new(Mutex::new(Seen {
            faults,
            ..Default::default()
        }));
        let (s, r) = (seen.clone(), seen.clone());
        let base = serve(
            move |req| reset(req, &r),
            move |req, base| handle(req, base, &s),
        );
        FakeApi { base, seen }
    }

    pub fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap()
    }
}

/// A server that records every request and answers each with `307 Location: {to}{path}`.
pub struct Redirector {
    pub base: String,
    pub seen: Arc<Mutex<Vec<RawRequest>>>,
}

impl Redirector {
    pub fn start(to: &str) -> Redirector {
        let seen: Arc<Mutex<Vec<RawRequest>>> = Arc::default();
        let (s, to) = (seen.clone(), to.to_string());
        let base = serve(
            |_| false,
            move |req, _| {
                let location = format!("{to}{}", req.path);
                s.lock().unwrap().push(req.raw());
                Reply::new("307 Temporary Redirect", "text/plain", "moved")
                    .header("Location", &location)
            },
        );
        Redirector { base, seen }
    }
}

/// A server that records every request and answers 200 to everything.
pub struct Trap {
    pub base: String,
    pub seen: Arc<Mutex<Vec<RawRequest>>>,
}

impl Trap {
    pub fn start() -> Trap {
        let seen: Arc<Mutex<Vec<RawRequest>>> = Arc::default();
        let s = seen.clone();
        let base = serve(
            |_| false,
            move |req, _| {
                s.lock().unwrap().push(req.raw());
                Reply::json("200 OK", json!({"access_token": "trap", "data": {}}))
            },
        );
        Trap { base, seen }
    }
}

/// A request as parsed.
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Request {
    fn raw(&self) -> RawRequest {
        (
            self.method.clone(),
            self.path.clone(),
            self.headers.clone(),
            self.body.clone(),
        )
    }

    fn route(&self) -> &str {
        self.path.split('?').next().unwrap_or("")
    }

    fn form(&self) -> HashMap<String, String> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }

    fn query(&self) -> HashMap<String, String> {
        let q = self.path.split_once('?').map(|(_, q)| q).unwrap_or("");
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    }
}

/// An answer.
pub struct Reply {
    status: String,
    content_type: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn new(status: &str, content_type: &str, body: &str) -> Reply {
        Reply {
            status: status.into(),
            content_type: content_type.into(),
            headers: Vec::new(),
            body: body.into(),
        }
    }

    fn json(status: &str, v: Value) -> Reply {
        Reply::new(status, "application/json", &v.to_string())
    }

    fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }
}

type ResetFn = dyn Fn(&Request) -> bool + Send + Sync;
type HandlerFn = dyn Fn(&Request, &str) -> Reply + Send + Sync;

/// Accept connections on a free loopback port; each request goes to `handler`, unless `reset`
/// (asked with the headers, before the body is read) says to drop the connection mid-body.
fn serve(
    reset: impl Fn(&Request) -> bool + Send + Sync + 'static,
    handler: impl Fn(&Request, &str) -> Reply + Send + Sync + 'static,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let reset: Arc<ResetFn> = Arc::new(reset);
    let handler: Arc<HandlerFn> = Arc::new(handler);
    let b = base.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (r, h, b) = (reset.clone(), handler.clone(), b.clone());
            std::thread::spawn(move || one(stream, &b, &*r, &*h));
        }
    });
    base
}

fn one(stream: TcpStream, base: &str, reset: &ResetFn, handler: &HandlerFn) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // A reset is decided on the headers alone.
    let probe = Request {
        method: method.clone(),
        path: path.clone(),
        headers: headers.clone(),
        body: Vec::new(),
    };
    if reset(&probe) {
        // Read part of the body, then drop the socket with data unread: the kernel resets it.
        let mut part = vec![0u8; (len / 3).max(1)];
        let _ = reader.read_exact(&mut part);
        return;
    }
    let mut body = vec![0u8; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let mut stream = reader.into_inner();
    let req = Request {
        method,
        path,
        headers,
        body,
    };
    let r = handler(&req, base);
    let mut extra = String::new();
    for (k, v) in &r.headers {
        extra.push_str(&format!("{k}: {v}\r\n"));
    }
    let _ = write!(
        stream,
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{}",
        r.status,
        r.content_type,
        r.body.len(),
        r.body
    );
    let _ = stream.flush();
}

/// The reset fault: the first N bootstrap PUTs lose their connection mid-body.
fn reset(req: &Request, seen: &Mutex<Seen>) -> bool {
    let mut s = seen.lock().unwrap();
    if req.method == "PUT" && req.route() == "/upload/bootstrap" && s.faults.put_reset > 0 {
        s.faults.put_reset -= 1;
        s.puts.push(Put {
            path: req.route().into(),
            completed: false,
            headers: req.headers.clone(),
            body: Vec::new(),
        });
        true
    } else {
        false
    }
}

fn gql_error(status: &str, message: &str, error_type: &str) -> Reply {
    Reply::json(
        status,
        json!({"data": null, "errors": [{"message": message, "errorType": error_type}]}),
    )
}

fn presigned(base: &str, what: &str) -> String {
    format!(
        "{base}/upload/{what}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAFAKE%2F20260101%2Fus-west-2%2Fs3%2Faws4_request&X-Amz-Expires=900&X-Amz-Signature={UPLOAD_SIGNATURE}"
    )
}

/// The token endpoint's answers.
fn token(req: &Request, s: &mut Seen) -> Reply {
    let form = req.form();
    let auth = req.headers.get("authorization").cloned();
    s.token_requests.push((auth.clone(), form.clone()));
    let bad = |d: &str| {
        Reply::json(
            "400 Bad Request",
            json!({"error": "invalid_grant", "error_description": d}),
        )
    };
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {
            let basic = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
            );
            if auth.as_deref() == Some(basic.as_str()) && !form.contains_key("client_secret") {
                Reply::json(
                    "200 OK",
                    json!({"access_token": CC_TOKEN, "expires_in": 3600, "token_type": "Bearer"}),
                )
            } else {
                Reply::json(
                    "400 Bad Request",
                    json!({"error": "invalid_client", "error_description": "client authentication failed"}),
                )
            }
        }
        Some("refresh_token") => {
            if form.get("refresh_token").map(String::as_str) == Some(REFRESH_TOKEN)
                && form.get("client_id").map(String::as_str) == Some(COGNITO_CLIENT_ID)
            {
                // Cognito returns no new refresh token.
                Reply::json(
                    "200 OK",
                    json!({"access_token": REFRESHED_TOKEN, "id_token": "refreshed-id-token", "expires_in": 3600, "token_type": "Bearer"}),
                )
            } else {
                bad("refresh token invalid")
            }
        }
        Some("authorization_code") => {
            let Some(auth) = s.authorize.clone() else {
                return bad("no authorization request");
            };
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(Sha256::digest(verifier.as_bytes()));
            let ok = form.get("code").map(String::as_str) == Some(AUTH_CODE)
                && form.get("client_id").map(String::as_str) == Some(COGNITO_CLIENT_ID)
                && form.get("redirect_uri") == auth.get("redirect_uri")
                && Some(&challenge) == auth.get("code_challenge");
            if ok {
                Reply::json(
                    "200 OK",
                    json!({"access_token": LOGIN_TOKEN, "refresh_token": LOGIN_REFRESH, "id_token": "login-id-token", "expires_in": 3600, "token_type": "Bearer"}),
                )
            } else {
                bad("code, verifier or redirect_uri do not match")
            }
        }
        _ => bad("unsupported grant"),
    }
}

/// True when every variable is a built-in scalar (or a list of strings), as the service requires.
fn scalars_only(vars: &Value) -> bool {
    vars.as_object().is_none_or(|m| {
        m.values().all(|v| match v {
            Value::Object(_) => false,
            Value::Array(a) => a.iter().all(Value::is_string),
            _ => true,
        })
    })
}

fn graphql(req: &Request, base: &str, s: &mut Seen) -> Reply {
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let auth = req.headers.get("authorization").cloned();
    s.graphql
        .push((req.route().to_string(), auth.clone(), body.clone()));
    let q = body["query"].as_str().unwrap_or("");
    let v = &body["variables"];
    let accepted = [TOKEN, CC_TOKEN, REFRESHED_TOKEN, LOGIN_TOKEN];
    if s.faults.graphql_401 || !auth.as_deref().is_some_and(|a| accepted.contains(&a)) {
        return gql_error(
            "401 Unauthorized",
            "Valid authorization header not provided.",
            "UnauthorizedException",
        );
    }
    let Some(op) = operation(q) else {
        return gql_error(
            "400 Bad Request",
            "Validation error of type FieldUndefined: unknown operation",
            "ValidationError",
        );
    };
    if req.route() == "/graphql-old" {
        return gql_error(
            "400 Bad Request",
            &format!(
                "Validation error of type FieldUndefined: Field '{op}' in type 'Mutation' is undefined @ '{op}'"
            ),
            "ValidationError",
        );
    }
    if !scalars_only(v) || q.contains("Input!") {
        return gql_error(
            "400 Bad Request",
            "variables must be built-in scalars",
            "BadRequestException",
        );
    }
    let str_of = |k: &str| v[k].as_str().unwrap_or("").to_string();
    let data = match op {
        "getUploadUrls" => {
            let p = str_of("projectName");
            if !(v["templateSize"].is_u64() && v["bootstrapSize"].is_u64()) || p.is_empty() {
                return gql_error(
                    "400 Bad Request",
                    "sizes must be Int",
                    "BadRequestException",
                );
            }
            json!({
                "templateUploadUrl": presigned(base, "template"),
                "templateS3Key": format!("uploads/{p}/template.json"),
                "bootstrapUploadUrl": presigned(base, "bootstrap"),
                "bootstrapS3Key": format!("uploads/{p}/bootstrap"),
                "expiresIn": 900,
            })
        }
        "createDeploymentFromS3" => {
            let p = str_of("projectName");
            if str_of("templateS3Key") != format!("uploads/{p}/template.json")
                || str_of("bootstrapS3Key") != format!("uploads/{p}/bootstrap")
                || s.template.is_none()
                || s.bootstrap.is_none()
            {
                return gql_error("200 OK", "uploads not found", "NotFound");
            }
            let id = format!("dep-{}", s.deployments.len() + 1);
            s.deployments.insert(
                0,
                Dep {
                    id: id.clone(),
                    project_name: p.clone(),
                    status: "pending".into(),
                },
            );
            json!({"deploymentId": id, "status": "pending", "projectName": p, "createdAt": "2026-01-01T00:00:00Z"})
        }
        "getDeployment" => {
            s.polls += 1;
            let id = str_of("id");
            let status = if s.faults.fail_with.is_some() {
                "failed"
            } else if s.faults.never_ready {
                "deploying"
            } else if s.polls < 2 {
                "validating"
            } else if s.polls < 3 {
                "deploying"
            } else {
                "success"
            };
            if let Some(d) = s.deployments.iter_mut().find(|d| d.id == id) {
                d.status = status.into();
            }
            json!({
                "id": id,
                "status": status,
                "url": (status == "success").then(|| format!("https://api.pmcp.run/{id}/mcp")),
                "projectName": "tiny-server",
                "errorMessage": s.faults.fail_with.clone(),
                "createdAt": "2026-01-01T00:00:00Z",
                "completedAt": null,
            })
        }
        "setServerSecret" => match &s.faults.secret_refused {
            Some(e) => {
                json!({"success": false, "serverId": str_of("serverId"), "secretName": str_of("secretName"), "error": e, "warning": null})
            }
            None => {
                json!({"success": true, "serverId": str_of("serverId"), "secretName": str_of("secretName"), "error": null, "warning": null})
            }
        },
        "fetchServerOAuthEndpoints" => {
            json!({"serverId": str_of("serverId"), "oauthEnabled": s.faults.platform_oauth})
        }
        "configureServerOAuth" | "disableServerOAuth" => json!({"serverId": str_of("serverId")}),
        "listDeployments" => json!({"items": s.deployments.iter().map(|d| json!({
            "id": d.id,
            "projectName": d.project_name,
            "status": d.status,
            "url": format!("https://api.pmcp.run/{}/mcp", d.id),
        })).collect::<Vec<_>>()}),
        "destroyDeployment" => {
            let id = str_of("id");
            let Some(d) = s.deployments.iter_mut().find(|d| d.id == id) else {
                return gql_error("200 OK", "deployment not found", "NotFound");
            };
            d.status = "deleting".into();
            json!({"id": id, "stackName": format!("pmcp-{id}"), "status": "deleting", "message": "stack deletion started", "executionArn": "arn:fake"})
        }
        "getDeploymentOperationStatus" => {
            s.op_polls += 1;
            let id = str_of("id");
            let status = if s.op_polls < 2 {
                "deleting"
            } else {
                "deleted"
            };
            if let Some(d) = s.deployments.iter_mut().find(|d| d.id == id) {
                d.status = status.into();
            }
            json!({"id": id, "status": status, "message": null, "executionArn": "arn:fake", "updatedAt": "2026-01-01T00:00:00Z"})
        }
        _ => unreachable!(),
    };
    Reply::json("200 OK", json!({ "data": { op: data } }))
}

fn put(req: &Request, s: &mut Seen) -> Reply {
    let route = req.route().to_string();
    let q = req.query();
    let mut put = Put {
        path: route.clone(),
        completed: false,
        headers: req.headers.clone(),
        body: req.body.clone(),
    };
    if q.get("X-Amz-Signature").map(String::as_str) != Some(UPLOAD_SIGNATURE) {
        s.puts.push(put);
        return Reply::new(
            "403 Forbidden",
            "application/xml",
            "<Error><Code>SignatureDoesNotMatch</Code></Error>",
        );
    }
    if route == "/upload/bootstrap" && s.faults.bootstrap_put_503 > 0 {
        s.faults.bootstrap_put_503 -= 1;
        s.puts.push(put);
        return Reply::new(
            "503 Service Unavailable",
            "application/xml",
            "<Error><Code>SlowDown</Code></Error>",
        );
    }
    let want = if route == "/upload/template" {
        "application/json"
    } else {
        "application/octet-stream"
    };
    let ok = req.headers.get("content-type").map(String::as_str) == Some(want)
        && req.headers.get("content-length") == Some(&req.body.len().to_string());
    put.completed = ok;
    s.puts.push(put);
    if !ok {
        return Reply::new(
            "400 Bad Request",
            "text/plain",
            "bad content type or length",
        );
    }
    if route == "/upload/template" {
        s.template = Some(req.body.clone());
    } else {
        s.bootstrap = Some(req.body.clone());
    }
    Reply::new("200 OK", "text/plain", "")
}

fn handle(req: &Request, base: &str, seen: &Arc<Mutex<Seen>>) -> Reply {
    let mut s = seen.lock().unwrap();
    s.raw.push(req.raw());
    match (req.method.as_str(), req.route()) {
        ("GET", "/.well-known/pmcp-config") => {
            s.discoveries += 1;
            let graphql_url = if s.faults.stale_graphql_once && s.discoveries == 1 {
                format!("{base}/graphql-old")
            } else {
                s.faults
                    .graphql_url
                    .clone()
                    .unwrap_or_else(|| format!("{base}/graphql"))
            };
            Reply::json(
                "200 OK",
                json!({
                    "cognito_client_id": COGNITO_CLIENT_ID,
                    "cognito_domain": s.faults.cognito_domain.clone().unwrap_or_else(|| base.to_string()),
                    "graphql_url": graphql_url,
                    "mcp_url": "https://api.pmcp.run",
                    "api_type": "graphql",
                    "version": "1.0",
                    "region": "us-west-2",
                }),
            )
        }
        ("GET", "/oauth2/authorize") => {
            let q = req.query();
            let redirect = q.get("redirect_uri").cloned().unwrap_or_default();
            let state = q.get("state").cloned().unwrap_or_default();
            s.authorize = Some(q);
            Reply::new("302 Found", "text/plain", "").header(
                "Location",
                &format!("{redirect}?code={AUTH_CODE}&state={state}"),
            )
        }
        ("POST", "/oauth2/token") => token(req, &mut s),
        ("POST", "/graphql" | "/graphql-old") => graphql(req, base, &mut s),
        ("PUT", "/upload/template" | "/upload/bootstrap") => put(req, &mut s),
        _ => Reply::new("404 Not Found", "text/plain", "not found"),
    }
}
