//! An in-process server that speaks the pmcp-run deployment API (docs/contracts/pmcp-run-api.md)
//! on 127.0.0.1, with fault injection. Plain HTTP/1.1 over std threads, so faults such as a reset
//! connection mid-upload are exact. It records every request for the assertions.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// The access token the API accepts when given directly.
pub const TOKEN: &str = "pmcp-test-access-token-6f1d";
/// Client credentials the token endpoint accepts, and the token it issues for them.
pub const CLIENT_ID: &str = "ci-client";
pub const CLIENT_SECRET: &str = "ci-client-secret-93ab";
pub const CC_TOKEN: &str = "pmcp-cc-issued-token-2e77";
/// The signature in the (presigned-style) upload URL: a credential, never to be shown.
pub const UPLOAD_SIGNATURE: &str = "upload-signature-7c1e";

/// What goes wrong, and how often.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// The first N PUTs answer 503.
    pub put_503: u32,
    /// The first N PUTs drop the connection after reading part of the body.
    pub put_reset: u32,
    /// Every GraphQL request answers 401.
    pub graphql_401: bool,
    /// getDeployment answers FAILED with this message.
    pub fail_with: Option<String>,
    /// getDeployment never leaves DEPLOYING.
    pub never_ready: bool,
    /// getUploadUrl says the artifact is already uploaded.
    pub already_uploaded: bool,
}

/// One PUT as received.
#[derive(Debug, Clone)]
pub struct Put {
    pub completed: bool,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

/// One request: method, path, headers (lower-case names), raw body.
pub type RawRequest = (String, String, HashMap<String, String>, Vec<u8>);

/// Everything the API saw.
#[derive(Debug, Default)]
pub struct Seen {
    pub faults: Faults,
    /// Every request: method, path, headers, raw body (for "the secret went only here" checks).
    pub raw: Vec<RawRequest>,
    pub puts: Vec<Put>,
    /// GraphQL request bodies.
    pub graphql: Vec<Value>,
    /// Token requests (form bodies).
    pub token_requests: Vec<String>,
    pub polls: u32,
    /// The artifact as finally stored.
    pub stored: Option<Vec<u8>>,
}

impl Seen {
    /// The `input` of the createDeployment request, if one came.
    pub fn create_input(&self) -> Option<Value> {
        self.graphql
            .iter()
            .find(|g| {
                g["query"]
                    .as_str()
                    .unwrap_or("")
                    .contains("createDeployment")
            })
            .map(|g| g["variables"]["input"].clone())
    }
}

pub struct FakeApi {
    pub base: String,
    pub seen: Arc<Mutex<Seen>>,
}

impl FakeApi {
    pub fn start(faults: Faults) -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Seen {
            faults,
            ..Default::default()
        }));
        let (b, s) = (base.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (b, s) = (b.clone(), s.clone());
                std::thread::spawn(move || handle(stream, &b, &s));
            }
        });
        FakeApi { base, seen }
    }

    pub fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap()
    }
}

fn respond(mut stream: TcpStream, status: &str, content_type: &str, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
}

fn handle(stream: TcpStream, base: &str, seen: &Mutex<Seen>) {
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

    if method == "PUT" {
        let mut s = seen.lock().unwrap();
        if s.faults.put_reset > 0 {
            s.faults.put_reset -= 1;
            drop(s);
            // Read part of the body, then drop the socket with data unread: the kernel resets it.
            let mut part = vec![0u8; (len / 3).max(1)];
            let _ = reader.read_exact(&mut part);
            seen.lock().unwrap().puts.push(Put {
                completed: false,
                headers,
                body: part,
            });
            return;
        }
        drop(s);
    }
    let mut body = vec![0u8; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let stream = reader.into_inner();
    let mut s = seen.lock().unwrap();
    s.raw
        .push((method.clone(), path.clone(), headers.clone(), body.clone()));
    match (method.as_str(), path.split('?').next().unwrap_or("")) {
        ("GET", "/.well-known/pmcp-config") => {
            drop(s);
            let doc = json!({
                "graphql_url": format!("{base}/graphql"),
                "token_endpoint": format!("{base}/oauth/token"),
                "upload_max_bytes": 50_000_000u64,
            });
            respond(stream, "200 OK", "application/json", &doc.to_string());
        }
        ("POST", "/oauth/token") => {
            let form = String::from_utf8_lossy(&body).into_owned();
            s.token_requests.push(form.clone());
            drop(s);
            let ok = form.contains("grant_type=client_credentials")
                && form.contains(&format!("client_id={CLIENT_ID}"))
                && form.contains(&format!("client_secret={CLIENT_SECRET}"));
            if ok {
                let doc =
                    json!({"access_token": CC_TOKEN, "expires_in": 3600, "token_type": "Bearer"});
                respond(stream, "200 OK", "application/json", &doc.to_string());
            } else {
                let doc =
                    json!({"error": "invalid_client", "error_description": "bad client secret"});
                respond(
                    stream,
                    "401 Unauthorized",
                    "application/json",
                    &doc.to_string(),
                );
            }
        }
        ("POST", "/graphql") => {
            let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            s.graphql.push(req.clone());
            let auth_ok = headers
                .get("authorization")
                .is_some_and(|a| a == TOKEN || a == CC_TOKEN);
            if s.faults.graphql_401 || !auth_ok {
                drop(s);
                respond(
                    stream,
                    "401 Unauthorized",
                    "application/json",
                    r#"{"errors":[{"message":"Unauthorized","extensions":{"code":"UNAUTHENTICATED"}}]}"#,
                );
                return;
            }
            let q = req["query"].as_str().unwrap_or("");
            let data = if q.contains("getUploadUrl") {
                json!({"getUploadUrl": {
                    "uploadId": "up-1",
                    "uploadUrl": format!("{base}/upload/up-1?X-Amz-Signature={UPLOAD_SIGNATURE}"),
                    "expiresIn": 900,
                    "alreadyUploaded": s.faults.already_uploaded,
                }})
            } else if q.contains("createDeployment") {
                json!({"createDeployment": {"deploymentId": "dep-1", "status": "PENDING"}})
            } else if q.contains("getDeployment") {
                s.polls += 1;
                let d = if let Some(m) = &s.faults.fail_with {
                    json!({"status": "FAILED", "message": m})
                } else if s.faults.never_ready {
                    json!({"status": "DEPLOYING", "message": "waiting for capacity"})
                } else if s.polls < 3 {
                    json!({"status": if s.polls < 2 { "VALIDATING" } else { "DEPLOYING" }, "message": null})
                } else {
                    json!({
                        "status": "SUCCESS",
                        "message": "ready",
                        "url": "https://tiny-server.pmcp.run/mcp",
                        "healthUrl": "https://tiny-server.pmcp.run/health",
                        "oauth": {
                            "issuer": "https://tiny-server.pmcp.run",
                            "authorizationEndpoint": "https://tiny-server.pmcp.run/oauth2/authorize",
                            "tokenEndpoint": "https://tiny-server.pmcp.run/oauth2/token",
                            "registrationEndpoint": "https://tiny-server.pmcp.run/oauth2/register",
                        }
                    })
                };
                json!({ "getDeployment": d })
            } else {
                drop(s);
                respond(
                    stream,
                    "200 OK",
                    "application/json",
                    r#"{"errors":[{"message":"unknown operation"}]}"#,
                );
                return;
            };
            drop(s);
            respond(
                stream,
                "200 OK",
                "application/json",
                &json!({ "data": data }).to_string(),
            );
        }
        ("PUT", "/upload/up-1") => {
            if s.faults.put_503 > 0 {
                s.faults.put_503 -= 1;
                s.puts.push(Put {
                    completed: false,
                    headers,
                    body,
                });
                drop(s);
                respond(stream, "503 Service Unavailable", "text/plain", "busy");
                return;
            }
            let sha = hex::encode(Sha256::digest(&body));
            let ok = headers.get("x-pmcp-sha256") == Some(&sha)
                && headers.get("content-type").map(String::as_str) == Some("application/zip");
            s.puts.push(Put {
                completed: ok,
                headers,
                body: body.clone(),
            });
            if ok {
                s.stored = Some(body);
                drop(s);
                respond(stream, "200 OK", "text/plain", "");
            } else {
                drop(s);
                respond(stream, "400 Bad Request", "text/plain", "sha256 mismatch");
            }
        }
        _ => {
            drop(s);
            respond(stream, "404 Not Found", "text/plain", "not found");
        }
    }
}
