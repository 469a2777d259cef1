//! The hosted pmcp.run service, spoken exactly as `docs/contracts/pmcp-run-api.md` describes:
//! discovery (`/.well-known/pmcp-config`), an access token (given, or client credentials),
//! `GetUploadUrl`, a streamed `PUT` with retries and `x-pmcp-sha256`, `CreateDeployment`, then
//! `GetDeployment` polled until `SUCCESS`/`FAILED` or the wait timeout.

use super::{DeployRequest, Deployed, Destroyed, OAuthEndpoints, StatusEntry, Target, TargetError};
use crate::config::{Provider, TargetKind};
use crate::deploy::record;
use crate::ui::Progress;
use pmcp_auth::SecretString;
use pmcp_auth::entra::is_https_or_loopback;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

/// The service's default base URL.
pub const DEFAULT_API_URL: &str = "https://api.pmcp.run";
/// The runtime the service runs `bootstrap` in.
pub const RUNTIME: &str = "provided.al2023";
/// Time limit of one API request (discovery, token, GraphQL).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The slowest upload accepted before an attempt is abandoned (and retried): 256 KiB/s, plus a
/// minute.
const MIN_UPLOAD_BYTES_PER_SEC: f64 = 256.0 * 1024.0;

/// How to supply credentials (shown on every authentication error).
pub const CREDENTIALS_HINT: &str = "set PMCP_ACCESS_TOKEN to a pmcp.run access token, or PMCP_CLIENT_ID and PMCP_CLIENT_SECRET for client credentials";

const GQL_GET_UPLOAD_URL: &str = "mutation GetUploadUrl($projectName: String!, $artifactSize: Int!, $artifactSha256: String!) { getUploadUrl(projectName: $projectName, artifactSize: $artifactSize, artifactSha256: $artifactSha256) { uploadId uploadUrl expiresIn alreadyUploaded } }";
const GQL_CREATE_DEPLOYMENT: &str = "mutation CreateDeployment($input: CreateDeploymentInput!) { createDeployment(input: $input) { deploymentId status } }";
const GQL_GET_DEPLOYMENT: &str = "query GetDeployment($id: ID!) { getDeployment(id: $id) { status message url healthUrl oauth { issuer authorizationEndpoint tokenEndpoint registrationEndpoint } } }";

/// How the CLI authenticates to pmcp.run.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// `PMCP_ACCESS_TOKEN`.
    AccessToken(SecretString),
    /// `PMCP_CLIENT_ID` + `PMCP_CLIENT_SECRET`, exchanged at the discovered token endpoint.
    ClientCredentials {
        client_id: String,
        client_secret: SecretString,
    },
    /// Nothing supplied (fine for `--dry-run`; an error otherwise).
    Missing,
}

/// Retries of the artifact upload: exponential backoff with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (at least 1). Defaults to 4.
    pub attempts: u32,
    /// Delay before the first retry (before jitter). Defaults to 500 ms.
    pub base: Duration,
    /// Largest delay. Defaults to 10 s.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            base: Duration::from_millis(500),
            max: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The delay after the `failed`-th failed attempt (1-based): `base * 2^(failed-1)`, capped at
    /// `max`, then scaled by a random factor in [0.5, 1.0] so clients do not retry in lockstep.
    pub fn delay(&self, failed: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << failed.saturating_sub(1).min(20));
        let capped = exp.min(self.max);
        let jitter: f64 = rand::Rng::random_range(&mut rand::rng(), 0.5..=1.0);
        capped.mul_f64(jitter)
    }
}

/// Resolved settings of the pmcp-run target.
#[derive(Debug, Clone)]
pub struct PmcpRunSettings {
    /// Base URL (`PMCP_RUN_API_URL` > `[target] api_url` > [`DEFAULT_API_URL`]).
    pub api_url: String,
    /// How to get an access token.
    pub credentials: Credentials,
    /// Upload retries.
    pub retry: RetryPolicy,
    /// Time between `GetDeployment` polls. Defaults to 2 s.
    pub poll_interval: Duration,
    /// How long to wait for `SUCCESS`. Defaults to 600 s.
    pub wait_timeout: Duration,
}

impl PmcpRunSettings {
    /// Settings with the defaults and `api_url`.
    pub fn new(api_url: impl Into<String>, credentials: Credentials) -> Self {
        Self {
            api_url: api_url.into(),
            credentials,
            retry: RetryPolicy::default(),
            poll_interval: Duration::from_secs(2),
            wait_timeout: Duration::from_secs(600),
        }
    }
}

/// `GET {base}/.well-known/pmcp-config`.
#[derive(Debug, Clone, Deserialize)]
pub struct ServiceConfig {
    pub graphql_url: String,
    pub token_endpoint: String,
    pub upload_max_bytes: u64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UploadUrl {
    upload_id: String,
    upload_url: String,
    #[serde(default)]
    already_uploaded: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Created {
    deployment_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeploymentState {
    status: String,
    message: Option<String>,
    url: Option<String>,
    health_url: Option<String>,
    oauth: Option<OAuthState>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OAuthState {
    issuer: Option<String>,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    registration_endpoint: Option<String>,
}

/// How a failed GraphQL call is reported.
#[derive(Debug, Clone, Copy)]
enum Stage {
    /// Getting the upload URL (errors are upload errors, exit 4).
    Upload,
    /// Creating or watching the deployment (errors are deployment failures, exit 5).
    Deploy,
}

/// A GraphQL call failed: worth retrying (transport, 5xx) or final.
enum GqlError {
    Transient(String),
    Final(TargetError),
}

impl GqlError {
    fn into_target(self, stage: Stage) -> TargetError {
        match self {
            GqlError::Final(e) => e,
            GqlError::Transient(message) => match stage {
                Stage::Upload => TargetError::Upload {
                    message,
                    hint: None,
                },
                Stage::Deploy => TargetError::Failed { message },
            },
        }
    }
}

/// The pmcp-run target.
#[derive(Debug, Clone)]
pub struct PmcpRun {
    settings: PmcpRunSettings,
    http: reqwest::Client,
}

fn check_url(what: &str, url: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(url).map_err(|e| format!("{what} `{url}` is not a URL: {e}"))?;
    if is_https_or_loopback(url) {
        Ok(u)
    } else {
        let shown = if u.query().is_some() || u.fragment().is_some() {
            let mut u = u;
            strip_query(&mut u);
            u.to_string()
        } else {
            url.to_string()
        };
        Err(format!(
            "{what} `{shown}` must be https:// (http:// only for 127.0.0.1/localhost)"
        ))
    }
}

/// Drop a URL's query and fragment before it is shown: the upload URL is usually presigned, and
/// its query (the signature) is a credential.
fn strip_query(u: &mut url::Url) {
    u.set_query(None);
    u.set_fragment(None);
}

fn snippet(body: &str) -> String {
    let t = body.trim();
    if t.len() > 300 {
        let mut end = 300;
        while !t.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &t[..end])
    } else {
        t.to_string()
    }
}

impl PmcpRun {
    /// A target with these settings.
    pub fn new(settings: PmcpRunSettings) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .user_agent(concat!("cargo-pmcp/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds with static settings");
        Self { settings, http }
    }

    /// The settings.
    pub fn settings(&self) -> &PmcpRunSettings {
        &self.settings
    }

    fn base(&self) -> &str {
        self.settings.api_url.trim_end_matches('/')
    }

    /// `GET {base}/.well-known/pmcp-config`.
    pub async fn discover(&self) -> Result<ServiceConfig, TargetError> {
        let url = format!("{}/.well-known/pmcp-config", self.base());
        let unreachable = |detail: String| TargetError::Upload {
            message: format!("cannot read pmcp.run discovery at {url}: {detail}"),
            hint: Some(
                "check the API URL ([target] api_url or PMCP_RUN_API_URL) and your network".into(),
            ),
        };
        let resp = self
            .http
            .get(&url)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| unreachable(error_chain(&e)))?;
        let status = resp.status();
        let body = resp
            .text()
            .await
            .map_err(|e| unreachable(error_chain(&e)))?;
        if !status.is_success() {
            return Err(unreachable(format!("HTTP {status}: {}", snippet(&body))));
        }
        let cfg: ServiceConfig = serde_json::from_str(&body)
            .map_err(|e| unreachable(format!("unexpected response ({e}): {}", snippet(&body))))?;
        for (what, u) in [
            ("graphql_url", &cfg.graphql_url),
            ("token_endpoint", &cfg.token_endpoint),
        ] {
            check_url(what, u).map_err(unreachable)?;
        }
        Ok(cfg)
    }

    /// An access token: the one given, or one from the client-credentials grant.
    pub async fn access_token(&self, cfg: &ServiceConfig) -> Result<SecretString, TargetError> {
        match &self.settings.credentials {
            Credentials::AccessToken(t) => Ok(t.clone()),
            Credentials::Missing => Err(TargetError::Auth {
                message: "no pmcp.run credentials".into(),
                hint: CREDENTIALS_HINT.into(),
            }),
            Credentials::ClientCredentials {
                client_id,
                client_secret,
            } => {
                let ep = &cfg.token_endpoint;
                let resp = self
                    .http
                    .post(ep)
                    .timeout(REQUEST_TIMEOUT)
                    .form(&[
                        ("grant_type", "client_credentials"),
                        ("client_id", client_id.as_str()),
                        ("client_secret", client_secret.secret()),
                    ])
                    .send()
                    .await
                    .map_err(|e| TargetError::Upload {
                        message: format!(
                            "cannot reach the pmcp.run token endpoint {ep}: {}",
                            error_chain(&e)
                        ),
                        hint: None,
                    })?;
                let status = resp.status();
                let body = resp.text().await.unwrap_or_default();
                if !status.is_success() {
                    let detail = serde_json::from_str::<Value>(&body)
                        .ok()
                        .and_then(|v| {
                            let e = v.get("error")?.as_str()?.to_string();
                            let d = v
                                .get("error_description")
                                .and_then(Value::as_str)
                                .map(|d| format!(": {d}"))
                                .unwrap_or_default();
                            Some(format!("{e}{d}"))
                        })
                        .unwrap_or_else(|| snippet(&body));
                    return Err(TargetError::Auth {
                        message: format!(
                            "pmcp.run refused the client credentials for `{client_id}` (HTTP {status}): {detail}"
                        ),
                        hint: CREDENTIALS_HINT.into(),
                    });
                }
                #[derive(Deserialize)]
                struct Tok {
                    access_token: String,
                }
                let tok: Tok = serde_json::from_str(&body).map_err(|e| TargetError::Auth {
                    message: format!(
                        "the token endpoint {ep} answered without an access_token ({e})"
                    ),
                    hint: CREDENTIALS_HINT.into(),
                })?;
                Ok(SecretString::new(tok.access_token))
            }
        }
    }

    async fn graphql<T: DeserializeOwned>(
        &self,
        cfg: &ServiceConfig,
        token: &SecretString,
        query: &str,
        variables: Value,
        field: &str,
        timeout: Duration,
    ) -> Result<T, GqlError> {
        let url = &cfg.graphql_url;
        let resp = self
            .http
            .post(url)
            .timeout(timeout)
            .header(reqwest::header::AUTHORIZATION, token.secret())
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .map_err(|e| GqlError::Transient(format!("cannot reach {url}: {}", error_chain(&e))))?;
        let status = resp.status();
        let body = resp
            .text()
            .await
            .map_err(|e| GqlError::Transient(format!("{url}: {}", error_chain(&e))))?;
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(GqlError::Final(TargetError::Auth {
                message: format!("pmcp.run rejected the access token (HTTP {status} from {url})"),
                hint: CREDENTIALS_HINT.into(),
            }));
        }
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(GqlError::Transient(format!(
                "{url} answered HTTP {status}: {}",
                snippet(&body)
            )));
        }
        let doc: Value = serde_json::from_str(&body).map_err(|e| {
            GqlError::Transient(format!(
                "{url} answered HTTP {status} with a body that is not JSON ({e}): {}",
                snippet(&body)
            ))
        })?;
        if let Some(errors) = doc.get("errors").and_then(Value::as_array)
            && !errors.is_empty()
        {
            let msgs: Vec<String> = errors
                .iter()
                .map(|e| {
                    let m = e.get("message").and_then(Value::as_str).unwrap_or("error");
                    match e.pointer("/extensions/code").and_then(Value::as_str) {
                        Some(c) => format!("{m} ({c})"),
                        None => m.to_string(),
                    }
                })
                .collect();
            let auth = errors.iter().any(|e| {
                matches!(
                    e.pointer("/extensions/code").and_then(Value::as_str),
                    Some("UNAUTHENTICATED" | "UNAUTHORIZED" | "FORBIDDEN")
                )
            });
            let message = format!("pmcp.run {field}: {}", msgs.join("; "));
            return Err(GqlError::Final(if auth {
                TargetError::Auth {
                    message,
                    hint: CREDENTIALS_HINT.into(),
                }
            } else {
                TargetError::Upload {
                    message,
                    hint: None,
                }
            }));
        }
        let data = doc
            .get("data")
            .and_then(|d| d.get(field))
            .filter(|v| !v.is_null())
            .ok_or_else(|| {
                GqlError::Transient(format!(
                    "{url}: the response has no data.{field}: {}",
                    snippet(&body)
                ))
            })?;
        serde_json::from_value(data.clone()).map_err(|e| {
            GqlError::Final(TargetError::Upload {
                message: format!("{url}: unexpected data.{field} ({e}): {}", snippet(&body)),
                hint: None,
            })
        })
    }

    async fn get_deployment(
        &self,
        cfg: &ServiceConfig,
        token: &SecretString,
        id: &str,
        timeout: Duration,
    ) -> Result<DeploymentState, GqlError> {
        self.graphql(
            cfg,
            token,
            GQL_GET_DEPLOYMENT,
            json!({ "id": id }),
            "getDeployment",
            timeout,
        )
        .await
    }

    fn create_input(&self, req: &DeployRequest<'_>, upload_id: &str) -> Value {
        let c = req.config;
        let a = &c.auth;
        let provider = a.active_provider();
        let env = &req.env.vars;
        let pair = |(n, v): (&String, &String)| json!({ "name": n, "value": v });
        let environment: Vec<Value> = env.iter().map(pair).collect();
        let secrets: Vec<Value> = req
            .secrets
            .iter()
            .map(|s| json!({ "name": s.name, "value": s.value.secret() }))
            .collect();
        let get = |k: &str| env.get(k).cloned();
        use pmcp_auth::env as n;
        json!({
            "projectName": req.name,
            "uploadId": upload_id,
            "serverVersion": req.version,
            "runtime": RUNTIME,
            "memoryMb": c.server.memory_mb,
            "timeoutSeconds": c.server.timeout_seconds,
            "environment": environment,
            "secrets": secrets,
            "auth": {
                "provider": provider.as_str(),
                "tenantId": get(n::ENTRA_TENANT_ID),
                "clientId": get(n::ENTRA_CLIENT_ID),
                "authorityHost": get(n::ENTRA_AUTHORITY_HOST),
                "issuer": get(n::AUTH_ISSUER),
                "audience": get(n::AUTH_AUDIENCE),
                "multiTenant": provider == Provider::Entra && a.entra.multi_tenant,
                "allowedTenants": if provider == Provider::Entra && a.entra.multi_tenant { a.entra.allowed_tenants.clone() } else { Vec::new() },
                "dcr": {
                    "enabled": provider != Provider::None && a.dcr.enabled,
                    "publicClientPatterns": a.dcr.public_client_patterns,
                    "defaultScopes": a.dcr.default_scopes,
                },
            },
        })
    }

    async fn poll(
        &self,
        cfg: &ServiceConfig,
        token: &SecretString,
        id: &str,
        progress: &Progress,
    ) -> Result<DeploymentState, TargetError> {
        let start = Instant::now();
        let deadline = start + self.settings.wait_timeout;
        let mut last = "PENDING".to_string();
        loop {
            // A poll never outlives the overall deadline by more than a second.
            let left = deadline.saturating_duration_since(Instant::now());
            let timeout = REQUEST_TIMEOUT.min(left.max(Duration::from_secs(1)));
            match self.get_deployment(cfg, token, id, timeout).await {
                Ok(state) => match state.status.as_str() {
                    "SUCCESS" => return Ok(state),
                    "FAILED" => {
                        return Err(TargetError::Failed {
                            message: state
                                .message
                                .unwrap_or_else(|| "pmcp.run gave no reason".into()),
                        });
                    }
                    other => {
                        if other != last {
                            progress.status(&format!(
                                "deployment {id}: {other}{} ({:.0}s)",
                                state
                                    .message
                                    .as_deref()
                                    .map(|m| format!(" — {m}"))
                                    .unwrap_or_default(),
                                start.elapsed().as_secs_f64()
                            ));
                        }
                        last = other.to_string();
                    }
                },
                Err(GqlError::Final(e)) => return Err(e),
                Err(GqlError::Transient(msg)) => {
                    progress.status(&format!(
                        "deployment {id}: status unavailable ({msg}); still waiting"
                    ));
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(TargetError::Timeout {
                    waited_secs: start.elapsed().as_secs_f64(),
                    last_status: last,
                    hint: format!(
                        "the deployment may still finish: check `cargo pmcp deploy status`, or wait longer with --wait-timeout (deployment id {id})"
                    ),
                });
            }
            tokio::time::sleep(self.settings.poll_interval.min(deadline - now)).await;
        }
    }
}

/// A reqwest error with its causes (reqwest's own Display omits them).
pub fn error_chain(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// `PUT` the file at `path` to `url` (streamed from disk, `Content-Length`, `Content-Type:
/// application/zip`, `x-pmcp-sha256`), retrying 5xx, 429 and connection errors per `retry`.
/// `on_retry` is told about each retry (the message says what failed and when the next try is).
/// Returns the number of attempts made.
pub async fn upload_file(
    http: &reqwest::Client,
    url: &str,
    path: &Path,
    sha256: &str,
    retry: &RetryPolicy,
    progress: &Progress,
    mut on_retry: impl FnMut(&str),
) -> Result<u32, TargetError> {
    let size = std::fs::metadata(path)
        .map_err(|e| TargetError::Io(format!("cannot read {}: {e}", path.display())))?
        .len();
    let attempts = retry.attempts.max(1);
    let mut attempt = 0;
    loop {
        attempt += 1;
        progress.set_position(0);
        let body = file_body(path, progress.clone())
            .await
            .map_err(|e| TargetError::Io(format!("cannot read {}: {e}", path.display())))?;
        let limit = Duration::from_secs(60)
            + Duration::from_secs_f64(size as f64 / MIN_UPLOAD_BYTES_PER_SEC);
        let result = http
            .put(url)
            .timeout(limit)
            .header(reqwest::header::CONTENT_TYPE, "application/zip")
            .header(reqwest::header::CONTENT_LENGTH, size)
            .header("x-pmcp-sha256", sha256)
            .body(body)
            .send()
            .await;
        let failure = match result {
            Ok(resp) if matches!(resp.status().as_u16(), 200 | 201) => return Ok(attempt),
            Ok(resp) => {
                let status = resp.status();
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let body = resp.text().await.unwrap_or_default();
                let msg = format!(
                    "HTTP {status}{}",
                    match snippet(&body) {
                        s if s.is_empty() => String::new(),
                        s => format!(": {s}"),
                    }
                );
                if !(status.is_server_error() || status.as_u16() == 429) {
                    return Err(TargetError::Upload {
                        message: format!("the upload was refused: {msg}"),
                        hint: (status.as_u16() == 403).then(|| {
                            "the upload URL may have expired; run the deploy again".to_string()
                        }),
                    });
                }
                (msg, retry_after)
            }
            Err(mut e) => {
                if let Some(u) = e.url_mut() {
                    strip_query(u);
                }
                (error_chain(&e), None)
            }
        };
        let (msg, retry_after) = failure;
        if attempt >= attempts {
            return Err(TargetError::Upload {
                message: format!("the upload failed after {attempt} attempts; last error: {msg}"),
                hint: Some("pmcp.run or the network may be having trouble; try again later".into()),
            });
        }
        let mut delay = retry.delay(attempt);
        if let Some(ra) = retry_after {
            delay = delay.max(ra.min(retry.max));
        }
        on_retry(&format!(
            "upload attempt {attempt}/{attempts} failed: {msg}; retrying in {:.1}s",
            delay.as_secs_f64()
        ));
        tokio::time::sleep(delay).await;
    }
}

/// A request body that streams the file in 256 KiB chunks and reports progress.
async fn file_body(path: &Path, progress: Progress) -> std::io::Result<reqwest::Body> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(path).await?;
    let stream = futures_util::stream::unfold(
        (file, progress, 0u64),
        |(mut file, progress, sent)| async move {
            let mut buf = bytes::BytesMut::with_capacity(256 * 1024);
            match file.read_buf(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    let sent = sent + n as u64;
                    progress.set_position(sent);
                    Some((
                        Ok::<_, std::io::Error>(buf.freeze()),
                        (file, progress, sent),
                    ))
                }
                Err(e) => Some((Err(e), (file, progress, sent))),
            }
        },
    );
    Ok(reqwest::Body::wrap_stream(stream))
}

impl Target for PmcpRun {
    fn kind(&self) -> TargetKind {
        TargetKind::PmcpRun
    }

    fn preflight(&self) -> Result<(), TargetError> {
        check_url("the pmcp.run API URL", self.base()).map_err(|message| TargetError::Config {
            message,
            hint: Some("fix [target] api_url in .pmcp/deploy.toml or PMCP_RUN_API_URL".into()),
        })?;
        if matches!(self.settings.credentials, Credentials::Missing) {
            return Err(TargetError::Config {
                message: "no pmcp.run credentials: PMCP_ACCESS_TOKEN is not set (nor PMCP_CLIENT_ID and PMCP_CLIENT_SECRET)".into(),
                hint: Some(format!("{CREDENTIALS_HINT}; or try it locally first with --target local")),
            });
        }
        Ok(())
    }

    fn expected_url(&self, _name: &str) -> Option<String> {
        // pmcp.run assigns the URL when the deployment succeeds.
        None
    }

    async fn deploy(
        &self,
        req: &DeployRequest<'_>,
        progress: &mut Progress,
    ) -> Result<Deployed, TargetError> {
        let mut durations = std::collections::BTreeMap::new();
        let t0 = Instant::now();
        progress.step(&format!("connecting to {}", self.base()));
        let cfg = self.discover().await?;
        let token = self.access_token(&cfg).await?;
        let artifact = req.artifact;
        if artifact.size > cfg.upload_max_bytes {
            return Err(TargetError::Upload {
                message: format!(
                    "the artifact is {} bytes; pmcp.run accepts at most {} bytes",
                    artifact.size, cfg.upload_max_bytes
                ),
                hint: Some(
                    "build with a smaller profile (strip = true, opt-level = \"z\", lto = true)"
                        .into(),
                ),
            });
        }
        let up: UploadUrl = self
            .graphql(
                &cfg,
                &token,
                GQL_GET_UPLOAD_URL,
                json!({
                    "projectName": req.name,
                    "artifactSize": artifact.size,
                    "artifactSha256": artifact.sha256,
                }),
                "getUploadUrl",
                REQUEST_TIMEOUT,
            )
            .await
            .map_err(|e| e.into_target(Stage::Upload))?;
        let uploaded = if up.already_uploaded {
            progress.done(&format!(
                "upload skipped: pmcp.run already has artifact {}",
                &artifact.sha256[..12]
            ));
            false
        } else {
            check_url("the upload URL", &up.upload_url).map_err(|message| TargetError::Upload {
                message,
                hint: None,
            })?;
            progress.bytes("uploading", artifact.size);
            let p = progress.clone();
            let attempts = upload_file(
                &self.http,
                &up.upload_url,
                &artifact.path,
                &artifact.sha256,
                &self.settings.retry,
                progress,
                |m| p.println(m),
            )
            .await?;
            progress.done(&format!(
                "uploaded {} bytes{}",
                artifact.size,
                if attempts > 1 {
                    format!(" (attempt {attempts})")
                } else {
                    String::new()
                }
            ));
            true
        };
        durations.insert("upload".to_string(), t0.elapsed().as_millis() as u64);
        let t1 = Instant::now();
        progress.step("creating the deployment");
        let created: Created = self
            .graphql(
                &cfg,
                &token,
                GQL_CREATE_DEPLOYMENT,
                json!({ "input": self.create_input(req, &up.upload_id) }),
                "createDeployment",
                REQUEST_TIMEOUT,
            )
            .await
            .map_err(|e| match e {
                GqlError::Final(TargetError::Upload { message, .. }) => {
                    TargetError::Failed { message }
                }
                other => other.into_target(Stage::Deploy),
            })?;
        let id = created.deployment_id;
        progress.step(&format!("deployment {id}: waiting until ready"));
        let state = self.poll(&cfg, &token, &id, progress).await?;
        durations.insert("deploy".to_string(), t1.elapsed().as_millis() as u64);
        progress.done(&format!("deployment {id}: SUCCESS"));
        let url = state.url.ok_or_else(|| TargetError::Failed {
            message: format!("pmcp.run reported SUCCESS for {id} without a url"),
        })?;
        Ok(Deployed {
            deployment_id: Some(id),
            url,
            health_url: state.health_url,
            oauth: state.oauth.map(|o| OAuthEndpoints {
                issuer: o.issuer,
                authorization_endpoint: o.authorization_endpoint,
                token_endpoint: o.token_endpoint,
                registration_endpoint: o.registration_endpoint,
            }),
            uploaded,
            durations_ms: durations,
        })
    }

    async fn destroy(&self, _project_dir: &Path) -> Result<Destroyed, TargetError> {
        Err(TargetError::Unsupported {
            message: "the pmcp.run deployment API has no delete operation, so cargo pmcp cannot remove a pmcp.run deployment".into(),
            hint: "remove it in the pmcp.run dashboard; `cargo pmcp deploy destroy --target local` stops a local one".into(),
        })
    }

    async fn status(&self, project_dir: &Path) -> Result<StatusEntry, TargetError> {
        let rec = record::read(project_dir, TargetKind::PmcpRun)
            .map_err(|e| TargetError::Io(e.to_string()))?;
        let Some(rec) = rec else {
            return Ok(StatusEntry {
                target: TargetKind::PmcpRun.to_string(),
                state: "not deployed".into(),
                ..Default::default()
            });
        };
        let mut entry = StatusEntry {
            target: TargetKind::PmcpRun.to_string(),
            state: "deployed (recorded)".into(),
            url: Some(rec.url.clone()),
            deployment_id: rec.deployment_id.clone(),
            artifact_sha256: Some(rec.artifact_sha256.clone()),
            deployed_at: Some(rec.deployed_at.clone()),
            detail: None,
        };
        let Some(id) = &rec.deployment_id else {
            return Ok(entry);
        };
        if matches!(self.settings.credentials, Credentials::Missing) {
            entry.detail = Some(format!("live status needs credentials: {CREDENTIALS_HINT}"));
            return Ok(entry);
        }
        let cfg = self.discover().await?;
        let token = self.access_token(&cfg).await?;
        let state = self
            .get_deployment(&cfg, &token, id, REQUEST_TIMEOUT)
            .await
            .map_err(|e| e.into_target(Stage::Upload))?;
        entry.state = state.status;
        entry.detail = state.message;
        if let Some(u) = state.url {
            entry.url = Some(u);
        }
        Ok(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_cap() {
        let r = RetryPolicy {
            attempts: 5,
            base: Duration::from_millis(100),
            max: Duration::from_millis(300),
        };
        for _ in 0..50 {
            let d1 = r.delay(1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
            let d2 = r.delay(2);
            assert!(d2 >= Duration::from_millis(100) && d2 <= Duration::from_millis(200));
            let d5 = r.delay(5);
            assert!(d5 >= Duration::from_millis(150) && d5 <= Duration::from_millis(300));
        }
    }

    #[test]
    fn urls_must_be_https_or_loopback() {
        assert!(check_url("x", "https://api.pmcp.run").is_ok());
        assert!(check_url("x", "http://127.0.0.1:9/").is_ok());
        assert!(check_url("x", "http://api.pmcp.run").is_err());
        assert!(check_url("x", "not a url").is_err());
        let e = check_url("x", "http://bucket.example/up?X-Amz-Signature=s3cr3t").unwrap_err();
        assert!(
            e.contains("http://bucket.example/up") && !e.contains("s3cr3t"),
            "{e}"
        );
        let e = check_url("x", "http://api.example").unwrap_err();
        assert!(e.contains("`http://api.example`"), "{e}");
    }
}
