//! `deploy --target aws-lambda` against moto in server mode (the real Lambda and IAM wire
//! protocols, signed by the AWS SDK), directly or through a loopback proxy that injects faults.
//!
//! moto is started by each test on 127.0.0.1 with a free port (`python3 -m moto.server`); when it
//! is not installed the tests say so and pass, except under `CI` (where .ci/run installs it), where
//! a missing moto is a failure.

use super::{CLIENT, Project, SECRET_VALUE, TENANT, stderr, stdout};
use aws_sdk_lambda::config::BehaviorVersion;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::collections::VecDeque;
use std::io::Read;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A moto server for one test; killed on drop.
pub struct Moto {
    child: Child,
    pub url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Start moto, or `None` (after saying why) when it is not installed and `CI` is unset.
    pub fn start() -> Option<Moto> {
        let importable = Command::new("python3")
            .args(["-c", "import moto.server"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !importable {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "moto is not installed, and CI is set: install it with \
                     `pip install \"moto[server]\"` (.ci/run does)"
                );
            }
            eprintln!(
                "SKIPPED: moto is not importable by python3 (pip install \"moto[server]\"); \
                 the aws-lambda API tests did not run"
            );
            return None;
        }
        // A free port: bind port 0, read it, release it, give it to moto.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            // AWS managed policies (AWSLambdaBasicExecutionRole) exist only when loaded.
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto");
        let moto = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "moto did not listen on {port} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(moto)
    }

    /// A Lambda client on this moto (for assertions).
    pub async fn lambda(&self) -> aws_sdk_lambda::Client {
        aws_sdk_lambda::Client::new(&sdk_config(&self.url).await)
    }

    /// An IAM client on this moto.
    pub async fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&sdk_config(&self.url).await)
    }
}

async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_lambda::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await
}

/// deploy.toml for an Entra server on aws-lambda.
fn lambda_toml(name: &str, extra_target: &str) -> String {
    format!(
        r#"[target]
type = "aws-lambda"
memory_mb = 256
timeout_seconds = 20
{extra_target}

[server]
name = "{name}"

[auth]
enabled = true
provider = "entra"
tenant_id = "{TENANT}"
client_id = "{CLIENT}"

[environment]
LOG_LEVEL = "debug"

[secrets]
required = ["ENTRA_CLIENT_SECRET"]
"#
    )
}

/// `cargo-pmcp deploy …` with AWS pointed at `endpoint`.
fn aws_cmd(p: &Project, endpoint: &str, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = p.deploy(args);
    aws_env(&mut cmd, endpoint);
    cmd
}

fn aws_env(cmd: &mut assert_cmd::Command, endpoint: &str) {
    for v in [
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_DEFAULT_REGION",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "CARGO_BUILD_TARGET",
    ] {
        cmd.env_remove(v);
    }
    cmd.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("PMCP_NO_ZIGBUILD", "1");
}

/// A subcommand (`status`, `destroy`) with AWS pointed at `endpoint`.
fn aws_sub(p: &Project, endpoint: &str, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = p.cmd();
    cmd.arg("deploy").args(args);
    aws_env(&mut cmd, endpoint);
    cmd
}

fn assert_no_secret(what: &str, text: &str) {
    assert!(
        !text.contains(SECRET_VALUE),
        "the secret leaked into {what}:\n{text}"
    );
}

/// Every entry of the zip, decompressed: the secret is in none of them.
fn assert_zip_clean(path: &str) {
    let f = std::fs::File::open(path).unwrap();
    let mut z = zip::ZipArchive::new(f).unwrap();
    for i in 0..z.len() {
        let mut e = z.by_index(i).unwrap();
        let mut buf = Vec::new();
        e.read_to_end(&mut buf).unwrap();
        assert!(
            !buf.windows(SECRET_VALUE.len())
                .any(|w| w == SECRET_VALUE.as_bytes()),
            "the secret is in {:?} of the zip",
            e.name()
        );
    }
}

#[test]
fn deploy_update_status_destroy_against_moto() {
    let Some(moto) = Moto::start() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let p = Project::new(&lambda_toml("weather-lambda", ""));

    // --dry-run: the plan, no remote call (moto has no function afterwards), no secret.
    let out = aws_cmd(&p, &moto.url, &["--dry-run", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_no_secret("dry-run stdout", &stdout(&out));
    assert_no_secret("dry-run stderr", &stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let calls = plan["api_calls"].to_string();
    assert!(
        calls.contains("lambda:CreateFunction FunctionName=weather-lambda"),
        "{calls}"
    );
    assert!(
        calls.contains("Runtime=provided.al2023") && calls.contains("MemorySize=256"),
        "{calls}"
    );
    assert!(calls.contains("ENTRA_CLIENT_SECRET (secret)"), "{calls}");
    let lambda = rt.block_on(moto.lambda());
    let none = rt.block_on(lambda.get_function().function_name("weather-lambda").send());
    assert!(none.is_err(), "dry-run created the function");

    // First deploy: role, function, URL, permissions, public URL.
    let out = aws_cmd(&p, &moto.url, &["--json"]).output().unwrap();
    let (so, se) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "stdout:\n{so}\nstderr:\n{se}");
    assert_no_secret("stdout", &so);
    assert_no_secret("stderr", &se);
    let r: serde_json::Value = serde_json::from_str(&so).unwrap();
    let url = r["url"].as_str().unwrap().to_string();
    assert!(
        url.starts_with("https://") && url.ends_with("/mcp"),
        "{url}"
    );
    assert_zip_clean(r["artifact"]["path"].as_str().unwrap());
    let record = p.dir.read(".pmcp/deployment.toml");
    assert!(
        record.contains("[aws-lambda]") && record.contains(&url),
        "{record}"
    );
    assert_no_secret("deployment.toml", &record);

    let f = rt
        .block_on(lambda.get_function().function_name("weather-lambda").send())
        .unwrap();
    let cfg = f.configuration().unwrap();
    assert_eq!(cfg.runtime().unwrap().as_str(), "provided.al2023");
    assert_eq!(cfg.handler(), Some("bootstrap"));
    assert_eq!(cfg.memory_size(), Some(256));
    assert_eq!(cfg.timeout(), Some(20));
    assert!(
        cfg.role()
            .unwrap()
            .ends_with(":role/cargo-pmcp-weather-lambda"),
        "{:?}",
        cfg.role()
    );
    let vars = cfg.environment().unwrap().variables().unwrap();
    assert_eq!(
        vars.get("ENTRA_TENANT_ID").map(String::as_str),
        Some(TENANT)
    );
    assert_eq!(
        vars.get("ENTRA_CLIENT_ID").map(String::as_str),
        Some(CLIENT)
    );
    assert_eq!(vars.get("LOG_LEVEL").map(String::as_str), Some("debug"));
    assert_eq!(
        vars.get("ENTRA_CLIENT_SECRET").map(String::as_str),
        Some(SECRET_VALUE)
    );
    assert_eq!(vars.get("AUTH_RESOURCE_URL"), Some(&url));
    let u = rt
        .block_on(
            lambda
                .get_function_url_config()
                .function_name("weather-lambda")
                .send(),
        )
        .unwrap();
    assert_eq!(u.auth_type().as_str(), "NONE");
    let policy = rt
        .block_on(lambda.get_policy().function_name("weather-lambda").send())
        .unwrap();
    let policy = policy.policy().unwrap_or_default();
    assert!(policy.contains("lambda:InvokeFunctionUrl"), "{policy}");
    assert!(policy.contains("lambda:InvokeFunction\""), "{policy}");
    let iam = rt.block_on(moto.iam());
    let attached = rt
        .block_on(
            iam.list_attached_role_policies()
                .role_name("cargo-pmcp-weather-lambda")
                .send(),
        )
        .unwrap();
    assert!(
        attached
            .attached_policies()
            .iter()
            .any(|a| a.policy_name() == Some("AWSLambdaBasicExecutionRole"))
    );

    // Second deploy: code and configuration updated, same function and URL.
    let toml = lambda_toml("weather-lambda", "").replace("memory_mb = 256", "memory_mb = 1024");
    p.dir.write(".pmcp/deploy.toml", &toml);
    let out = aws_cmd(&p, &moto.url, &["--json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_no_secret("stdout", &stdout(&out));
    assert_no_secret("stderr", &stderr(&out));
    let r2: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r2["url"].as_str(), Some(url.as_str()));
    let cfg = rt
        .block_on(
            lambda
                .get_function_configuration()
                .function_name("weather-lambda")
                .send(),
        )
        .unwrap();
    assert_eq!(cfg.memory_size(), Some(1024));
    assert_eq!(
        cfg.last_update_status().map(|s| s.as_str()),
        Some("Successful")
    );

    // Status.
    let out = aws_sub(
        &p,
        &moto.url,
        &["status", "--target", "aws-lambda", "--json"],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let t = &s["targets"][0];
    assert_eq!(t["target"], "aws-lambda");
    assert_eq!(t["state"], "active", "{t}");
    assert_eq!(t["url"].as_str(), Some(url.as_str()));

    // Destroy without --delete-role keeps the role; with it (a second time, nothing left) the
    // function is already gone.
    let out = aws_sub(&p, &moto.url, &["destroy", "--target", "aws-lambda"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(text.contains("--delete-role"), "{text}");
    assert!(
        rt.block_on(lambda.get_function().function_name("weather-lambda").send())
            .is_err()
    );
    assert!(
        rt.block_on(iam.get_role().role_name("cargo-pmcp-weather-lambda").send())
            .is_ok()
    );
    // The only deployment is gone from the record, and destroy removes a record left empty.
    assert!(
        !p.dir.join(".pmcp/deployment.toml").exists(),
        "{}",
        p.dir.read(".pmcp/deployment.toml")
    );
}

#[test]
fn destroy_with_delete_role_leaves_nothing() {
    let Some(moto) = Moto::start() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let p = Project::new(&lambda_toml("gone-lambda", ""));
    let out = aws_cmd(&p, &moto.url, &[]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = aws_sub(
        &p,
        &moto.url,
        &["destroy", "--target", "aws-lambda", "--delete-role"],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let lambda = rt.block_on(moto.lambda());
    let iam = rt.block_on(moto.iam());
    assert!(
        rt.block_on(lambda.list_functions().send())
            .unwrap()
            .functions()
            .is_empty()
    );
    let roles = rt.block_on(iam.list_roles().send()).unwrap();
    assert!(
        !roles
            .roles()
            .iter()
            .any(|r| r.role_name().starts_with("cargo-pmcp-")),
        "{roles:?}"
    );
    // Status now says not deployed.
    let out = aws_sub(
        &p,
        &moto.url,
        &["status", "--target", "aws-lambda", "--json"],
    )
    .output()
    .unwrap();
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["targets"][0]["state"], "not deployed");
}

#[test]
fn a_given_role_is_used_and_never_deleted() {
    let Some(moto) = Moto::start() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let iam = rt.block_on(moto.iam());
    let role = rt
        .block_on(
            iam.create_role()
                .role_name("team-lambda-role")
                .assume_role_policy_document(
                    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
                )
                .send(),
        )
        .unwrap();
    let arn = role.role().unwrap().arn().to_string();
    let p = Project::new(&lambda_toml("given-role", &format!("role_arn = \"{arn}\"")));
    let out = aws_cmd(&p, &moto.url, &[]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = aws_sub(
        &p,
        &moto.url,
        &["destroy", "--target", "aws-lambda", "--delete-role"],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        rt.block_on(iam.get_role().role_name("team-lambda-role").send())
            .is_ok()
    );
    let roles = rt.block_on(iam.list_roles().send()).unwrap();
    assert!(
        !roles
            .roles()
            .iter()
            .any(|r| r.role_name().starts_with("cargo-pmcp-"))
    );
}

// ---- fault injection: a loopback proxy in front of moto ----

/// One injected answer: for the next `times` requests matching `method` and a path ending in
/// `path_suffix` (or IAM's `Action=` in the body), answer `status` with the error type instead of
/// forwarding to moto.
#[derive(Clone)]
struct Fault {
    method: Method,
    matches: &'static str,
    times: usize,
    status: u16,
    error_type: &'static str,
    message: &'static str,
}

struct Proxy {
    upstream: String,
    faults: Mutex<VecDeque<Fault>>,
    hits: Mutex<Vec<String>>,
    http: reqwest::Client,
}

async fn proxy_handler(
    State(p): State<Arc<Proxy>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let text = String::from_utf8_lossy(&body).to_string();
    let label = format!("{method} {path}");
    p.hits.lock().unwrap().push(label.clone());
    let injected = {
        let mut faults = p.faults.lock().unwrap();
        let mut hit = None;
        for f in faults.iter_mut() {
            let on = f.method == method
                && (path.ends_with(f.matches) || text.contains(&format!("Action={}", f.matches)));
            if on && f.times > 0 {
                f.times -= 1;
                hit = Some(f.clone());
                break;
            }
        }
        faults.retain(|f| f.times > 0);
        hit
    };
    if let Some(f) = injected {
        if !f.matches.contains('/') {
            // IAM speaks the AWS query protocol: errors are XML.
            let xml = format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>1</RequestId></ErrorResponse>",
                f.error_type, f.message
            );
            return (
                StatusCode::from_u16(f.status).unwrap(),
                [("content-type", "text/xml")],
                xml,
            )
                .into_response();
        }
        let body = serde_json::json!({"Type": "User", "message": f.message, "Message": f.message});
        return (
            StatusCode::from_u16(f.status).unwrap(),
            [
                ("x-amzn-errortype", f.error_type),
                ("content-type", "application/json"),
            ],
            body.to_string(),
        )
            .into_response();
    }
    let url = format!(
        "{}{}",
        p.upstream,
        uri.path_and_query().map(|x| x.as_str()).unwrap_or("/")
    );
    let mut req = p.http.request(method, url).body(body);
    for (k, v) in headers.iter() {
        if k != "host" && k != "content-length" {
            req = req.header(k, v);
        }
    }
    match req.send().await {
        Ok(r) => {
            let status = r.status();
            let hs = r.headers().clone();
            let b = r.bytes().await.unwrap_or_default();
            let mut resp = (status, b).into_response();
            for (k, v) in hs.iter() {
                if k != "content-length" && k != "transfer-encoding" {
                    resp.headers_mut().insert(k, v.clone());
                }
            }
            resp
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

/// Start the proxy on 127.0.0.1:0 in `rt`; returns its URL and state.
fn start_proxy(
    rt: &tokio::runtime::Runtime,
    upstream: &str,
    faults: Vec<Fault>,
) -> (String, Arc<Proxy>) {
    let state = Arc::new(Proxy {
        upstream: upstream.to_string(),
        faults: Mutex::new(faults.into()),
        hits: Mutex::new(Vec::new()),
        http: reqwest::Client::new(),
    });
    let app = axum::Router::new()
        .fallback(proxy_handler)
        .with_state(state.clone());
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, state)
}

fn fault(
    method: Method,
    matches: &'static str,
    times: usize,
    status: u16,
    error_type: &'static str,
) -> Fault {
    Fault {
        method,
        matches,
        times,
        status,
        error_type,
        message: "injected by the test proxy",
    }
}

#[test]
fn throttling_5xx_and_conflicts_are_retried_or_waited_out() {
    let Some(moto) = Moto::start() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (url, proxy) = start_proxy(
        &rt,
        &moto.url,
        vec![
            // Throttled twice on CreateFunction, then a 503 on GetFunctionUrlConfig: the SDK's
            // standard retry mode absorbs them.
            fault(
                Method::POST,
                "/2015-03-31/functions",
                2,
                429,
                "TooManyRequestsException",
            ),
            fault(Method::GET, "/url", 1, 503, "ServiceException"),
            // An update in progress (409) on the configuration update: waited out.
            fault(
                Method::PUT,
                "/configuration",
                2,
                409,
                "ResourceConflictException",
            ),
        ],
    );
    let p = Project::new(&lambda_toml("flaky-lambda", ""));
    let out = aws_cmd(
        &p,
        &url,
        &[
            "--retry-base-ms",
            "10",
            "--poll-interval-ms",
            "20",
            "--json",
        ],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "stderr:\n{}", stderr(&out));
    let hits = proxy.hits.lock().unwrap().clone();
    let creates = hits
        .iter()
        .filter(|h| *h == "POST /2015-03-31/functions")
        .count();
    assert_eq!(creates, 3, "CreateFunction: 2 throttled + 1 real: {hits:?}");
    let config_puts = hits
        .iter()
        .filter(|h| h.ends_with("/configuration"))
        .count();
    assert!(config_puts >= 3, "{hits:?}");
    assert!(
        proxy.faults.lock().unwrap().is_empty(),
        "every fault was hit"
    );
}

#[test]
fn access_denied_names_the_permission_and_fails() {
    let Some(moto) = Moto::start() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (url, _proxy) = start_proxy(
        &rt,
        &moto.url,
        vec![fault(
            Method::POST,
            "/2015-03-31/functions",
            100,
            403,
            "AccessDeniedException",
        )],
    );
    let p = Project::new(&lambda_toml("denied-lambda", ""));
    let out = aws_cmd(&p, &url, &["--retry-base-ms", "10"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(e.contains("lambda:CreateFunction"), "{e}");
    assert!(e.contains("docs/deploy.md"), "{e}");
    assert_no_secret("stderr", &e);

    // The role cannot be created either: the hint offers role_arn.
    let (url, _proxy) = start_proxy(
        &rt,
        &moto.url,
        vec![fault(Method::POST, "CreateRole", 100, 403, "AccessDenied")],
    );
    let p = Project::new(&lambda_toml("denied-role", ""));
    let out = aws_cmd(&p, &url, &["--retry-base-ms", "10"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(
        e.contains("iam:CreateRole") && e.contains("role_arn"),
        "{e}"
    );
}

#[test]
fn no_region_and_no_credentials_are_explained() {
    let p = Project::new(&lambda_toml("no-region", ""));
    let mut cmd = aws_cmd(&p, "http://127.0.0.1:9", &[]);
    cmd.env_remove("AWS_REGION");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--region"), "{}", stderr(&out));
}

// ---- the binary check (no AWS needed: --dry-run stops before any call) ----

/// The glibc of this machine, e.g. (2, 36).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn host_glibc() -> (u32, u32) {
    // SAFETY: gnu_get_libc_version returns a static NUL-terminated string.
    let v = unsafe { std::ffi::CStr::from_ptr(libc_version()) }
        .to_string_lossy()
        .into_owned();
    let mut it = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
unsafe extern "C" {
    #[link_name = "gnu_get_libc_version"]
    fn libc_version() -> *const std::os::raw::c_char;
}

#[cfg(all(target_os = "linux", target_env = "gnu", target_arch = "x86_64"))]
#[test]
fn a_binary_needing_a_newer_glibc_is_refused_with_the_fix() {
    if host_glibc() < (2, 36) {
        eprintln!("SKIPPED: this host's glibc is older than 2.36 (arc4random)");
        return;
    }
    let p = Project::new(&lambda_toml("new-glibc", ""));
    // arc4random appeared in glibc 2.36: linking it makes the binary need GLIBC_2.36.
    let main = p.dir.read("src/main.rs").replacen(
        "fn main() {",
        "unsafe extern \"C\" {\n    fn arc4random() -> u32;\n}\n\nfn main() {\n    if std::env::var_os(\"NEVER_SET_X\").is_some() {\n        println!(\"{}\", unsafe { arc4random() });\n    }",
        1,
    );
    p.dir.write("src/main.rs", &main);
    let mut cmd = p.deploy_private(&["--dry-run"]);
    aws_env(&mut cmd, "http://127.0.0.1:9");
    let out = cmd.output().unwrap();
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(e.contains("GLIBC_2.36") && e.contains("2.34"), "{e}");
    assert!(e.contains("x86_64-unknown-linux-musl"), "{e}");
    assert!(e.contains("cargo-zigbuild"), "{e}");
    assert!(
        !p.dir.join("target/pmcp-deploy").exists(),
        "nothing was packaged"
    );
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[test]
fn a_static_binary_passes_the_check() {
    let p = Project::new(&lambda_toml("static-bin", ""));
    let mut cmd = p.deploy_private(&["--dry-run", "--target-triple", "x86_64-unknown-linux-gnu"]);
    aws_env(&mut cmd, "http://127.0.0.1:9");
    cmd.env("RUSTFLAGS", "-C target-feature=+crt-static");
    let out = cmd.output().unwrap();
    let e = stderr(&out);
    assert!(out.status.success(), "{e}");
    assert!(e.contains("x86_64 static binary"), "{e}");
    assert!(
        e.contains("built tiny-server for x86_64-unknown-linux-gnu"),
        "{e}"
    );
}
