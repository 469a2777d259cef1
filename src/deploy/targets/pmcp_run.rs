//! The hosted pmcp.run service, spoken as `docs/contracts/pmcp-run-api.md` describes the real one:
//!
//! 1. **Where:** the base URL is `--api-url`, else `PMCP_API_URL`, else `PMCP_RUN_API_URL`, else
//!    `[target] api_url`, else `https://api.pmcp.run`; `GET {base}/.well-known/pmcp-config` gives
//!    the Cognito client and domain and the GraphQL URL ([`discovery`]).
//! 2. **Who:** client credentials with HTTP Basic at `{cognito}/oauth2/token`, else
//!    `PMCP_ACCESS_TOKEN`, else `~/.pmcp/credentials.toml` (refreshed when expired)
//!    ([`credentials`]); `cargo pmcp login` writes that file ([`login`]).
//! 3. **What:** the CloudFormation template, rendered here ([`template`]), and the server binary.
//! 4. **How:** GraphQL with the raw token ([`graphql`]): `getUploadUrls`, two presigned `PUT`s
//!    with retries ([`upload`]), `createDeploymentFromS3` (scalars only), `getDeployment` polled
//!    until `success` or `failed` (bounded by `--wait-timeout`), then `setServerSecret` for each
//!    `[secrets]` name. With Entra or OIDC the server checks tokens itself, so the platform's own
//!    Cognito sign-in (`configureServerOAuth`) is never turned on; when it already is, the deploy
//!    warns. `deploy destroy` is `listDeployments` → `destroyDeployment` → polled
//!    `getDeploymentOperationStatus`; `deploy status` is `listDeployments`.
//!
//! One HTTP client that never follows redirects serves every request, and every message from the
//! service is scrubbed of tokens, secrets and presigned queries before it is shown ([`http`]).

pub mod credentials;
pub mod discovery;
pub mod graphql;
pub mod http;
pub mod login;
pub mod template;
pub mod upload;

pub use credentials::{CREDENTIALS_HINT, CredentialSource};
pub use discovery::{BaseUrl, DEFAULT_API_URL, Overrides, ServiceConfig};
pub use template::RUNTIME;
pub use upload::RetryPolicy;

use super::{DeployRequest, Deployed, Destroyed, StatusEntry, Target, TargetError};
use crate::config::{DeployConfig, Provider, TargetKind};
use crate::deploy::record;
use crate::ui::Progress;
use graphql::{Gql, GqlError, Stage};
use http::{REQUEST_TIMEOUT, Scrubber, check_url};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Statuses of `getDeployment` on the way to `success`.
const IN_PROGRESS: [&str; 3] = ["pending", "validating", "deploying"];
/// Statuses of a deployment (in `listDeployments`) that no longer runs anything.
const GONE: [&str; 4] = ["deleted", "destroyed", "delete_complete", "deleting"];

/// Resolved settings of the pmcp-run target.
#[derive(Debug, Clone)]
pub struct PmcpRunSettings {
    /// The base URL and where it came from.
    pub base: BaseUrl,
    /// `PMCP_RUN_COGNITO_CLIENT_ID`, `PMCP_RUN_COGNITO_DOMAIN`, `PMCP_RUN_GRAPHQL_URL`.
    pub overrides: Overrides,
    /// Where the access token comes from.
    pub credentials: CredentialSource,
    /// Upload retries.
    pub retry: RetryPolicy,
    /// Time between `getDeployment` polls. Defaults to 2 s.
    pub poll_interval: Duration,
    /// Time between `getDeploymentOperationStatus` polls. Defaults to 5 s.
    pub destroy_poll_interval: Duration,
    /// How long to wait for `success` (and for a destroy). Defaults to 600 s.
    pub wait_timeout: Duration,
    /// `[server] name`, else the package name: the `projectName` (deploy takes it from the
    /// request; destroy and status need it here).
    pub server_name: Option<String>,
    /// `[server] memory_mb` and `timeout_seconds`, checked before building.
    pub memory_mb: u32,
    pub timeout_seconds: u32,
    /// Every credential learnt, to scrub from the service's messages.
    pub scrub: Scrubber,
}

impl PmcpRunSettings {
    /// Settings from `--api-url`, deploy.toml, the environment and `~/.pmcp/credentials.toml`,
    /// with the protocol's defaults. Reads no network.
    pub fn resolve(flag_api_url: Option<&str>, config: &DeployConfig) -> Result<Self, TargetError> {
        let env = |n: &str| std::env::var(n).ok();
        let scrub = Scrubber::new();
        let credentials =
            CredentialSource::resolve(env, credentials::home_dir().as_deref(), &scrub)?;
        Ok(Self {
            base: discovery::base_url(flag_api_url, config.target.api_url.as_deref(), env),
            overrides: Overrides::from_env(env),
            credentials,
            retry: RetryPolicy::default(),
            poll_interval: Duration::from_secs(2),
            destroy_poll_interval: Duration::from_secs(5),
            wait_timeout: Duration::from_secs(600),
            server_name: config.server.name.clone(),
            memory_mb: config.server.memory_mb,
            timeout_seconds: config.server.timeout_seconds,
            scrub,
        })
    }
}

/// `[server] name`, else the `[package] name` of the project's Cargo.toml (for destroy and
/// status, which do not build).
pub fn project_name(project_dir: &Path, config: &DeployConfig) -> Option<String> {
    if let Some(n) = &config.server.name {
        return Some(n.clone());
    }
    let text = std::fs::read_to_string(project_dir.join("Cargo.toml")).ok()?;
    let t: toml::Table = toml::from_str(&text).ok()?;
    t.get("package")?.get("name")?.as_str().map(str::to_string)
}

/// The pmcp-run target.
#[derive(Debug, Clone)]
pub struct PmcpRun {
    settings: PmcpRunSettings,
    http: reqwest::Client,
}

impl PmcpRun {
    /// A target with these settings.
    pub fn new(settings: PmcpRunSettings) -> Self {
        Self {
            settings,
            http: http::client(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &PmcpRunSettings {
        &self.settings
    }

    fn base(&self) -> &str {
        &self.settings.base.url
    }

    fn scrub(&self) -> &Scrubber {
        &self.settings.scrub
    }

    /// Discovery, then an access token: a GraphQL session. `notes` collects what the user should
    /// be told.
    async fn session(&self, notes: &mut Vec<String>) -> Result<Gql<'_>, TargetError> {
        let cfg = discovery::discover(
            &self.http,
            self.base(),
            &self.settings.overrides,
            self.scrub(),
        )
        .await?;
        let token = credentials::access_token(
            &self.http,
            &cfg,
            &self.settings.credentials,
            self.scrub(),
            notes,
        )
        .await?;
        Ok(Gql {
            http: &self.http,
            overrides: &self.settings.overrides,
            cfg,
            token,
            scrub: self.scrub().clone(),
            rediscoveries: 0,
        })
    }

    fn name_for(&self, what: &str) -> Result<String, TargetError> {
        self.settings
            .server_name
            .clone()
            .ok_or_else(|| TargetError::Config {
                message: format!("cannot tell which pmcp.run server to {what}: no [server] name in .pmcp/deploy.toml and no [package] name in Cargo.toml"),
                hint: Some("set `name` in [server] of .pmcp/deploy.toml, or run it in the server's directory".into()),
            })
    }

    /// The MCP URL the service gave, else `{base}/{id}/mcp`; and the health URL beside it.
    fn urls(&self, id: &str, url: Option<String>) -> (String, String) {
        let mcp = url
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| format!("{}/{id}/mcp", self.base()));
        let health = match mcp.strip_suffix("/mcp") {
            Some(root) => format!("{root}/health"),
            None => format!("{}/health", mcp.trim_end_matches('/')),
        };
        (mcp, health)
    }

    /// `getDeployment` every `poll_interval` until `success` or `failed`, bounded by the wait
    /// timeout.
    async fn poll(
        &self,
        gql: &mut Gql<'_>,
        id: &str,
        progress: &Progress,
    ) -> Result<graphql::Deployment, TargetError> {
        let start = Instant::now();
        let deadline = start + self.settings.wait_timeout;
        let mut last = "pending".to_string();
        loop {
            // A poll never outlives the overall deadline by more than a second.
            let left = deadline.saturating_duration_since(Instant::now());
            let timeout = REQUEST_TIMEOUT.min(left.max(Duration::from_secs(1)));
            match gql
                .call::<graphql::Deployment>(
                    graphql::GET_DEPLOYMENT,
                    json!({ "id": id }),
                    Some(timeout),
                )
                .await
            {
                Ok(d) => match d.status.as_str() {
                    "success" => return Ok(d),
                    "failed" => {
                        return Err(TargetError::Failed {
                            message: self.scrub().scrub(
                                d.error_message
                                    .as_deref()
                                    .filter(|m| !m.trim().is_empty())
                                    .unwrap_or("pmcp.run gave no reason"),
                            ),
                        });
                    }
                    s if IN_PROGRESS.contains(&s) => {
                        if s != last {
                            progress.status(&format!(
                                "deployment {id}: {s} ({:.0}s)",
                                start.elapsed().as_secs_f64()
                            ));
                        }
                        last = s.to_string();
                    }
                    other => {
                        return Err(TargetError::Failed {
                            message: self.scrub().scrub(&format!(
                                "pmcp.run reported status `{other}` for deployment {id}, which this cargo pmcp does not know (expected pending, validating, deploying, success or failed)"
                            )),
                        });
                    }
                },
                Err(GqlError::Transient(msg)) => {
                    progress.status(&format!(
                        "deployment {id}: status unavailable ({msg}); still waiting"
                    ));
                }
                Err(e) => return Err(e.at(Stage::Deploy)),
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

    /// The newest deployment of `name` that still runs (the service lists newest first).
    async fn find(
        &self,
        gql: &mut Gql<'_>,
        name: &str,
    ) -> Result<(Option<graphql::DeploymentItem>, usize), TargetError> {
        let list: graphql::DeploymentList = gql
            .call(graphql::LIST_DEPLOYMENTS, json!({}), None)
            .await
            .map_err(|e| e.at(Stage::Upload))?;
        let mut mine = list
            .items
            .into_iter()
            .filter(|d| d.project_name == name && !GONE.contains(&d.status.as_str()));
        let first = mine.next();
        let more = mine.count();
        Ok((first, more))
    }
}

fn print_notes(progress: &Progress, notes: &[String]) {
    for n in notes {
        progress.println(&format!("warning: {n}"));
        crate::ui::github::warning(n);
    }
}

impl Target for PmcpRun {
    fn kind(&self) -> TargetKind {
        TargetKind::PmcpRun
    }

    fn preflight(&self) -> Result<(), TargetError> {
        let s = &self.settings;
        check_url("the pmcp.run API URL", self.base()).map_err(|message| TargetError::Config {
            message: format!("{message} (from {})", s.base.source),
            hint: Some(
                "fix --api-url, PMCP_API_URL, PMCP_RUN_API_URL or [target] api_url in .pmcp/deploy.toml"
                    .into(),
            ),
        })?;
        if !template::MEMORY_RANGE.contains(&s.memory_mb) {
            return Err(TargetError::Config {
                message: format!(
                    "[server] memory_mb = {} is outside what Lambda runs ({}–{} MB)",
                    s.memory_mb,
                    template::MEMORY_RANGE.start(),
                    template::MEMORY_RANGE.end()
                ),
                hint: Some("edit [server] memory_mb in .pmcp/deploy.toml".into()),
            });
        }
        if !template::TIMEOUT_RANGE.contains(&s.timeout_seconds) {
            return Err(TargetError::Config {
                message: format!(
                    "[server] timeout_seconds = {} is outside what Lambda runs ({}–{} s)",
                    s.timeout_seconds,
                    template::TIMEOUT_RANGE.start(),
                    template::TIMEOUT_RANGE.end()
                ),
                hint: Some("edit [server] timeout_seconds in .pmcp/deploy.toml".into()),
            });
        }
        if matches!(s.credentials, CredentialSource::Missing) {
            return Err(TargetError::Config {
                message: "no pmcp.run credentials: not signed in (no ~/.pmcp/credentials.toml), and neither PMCP_CLIENT_ID + PMCP_CLIENT_SECRET nor PMCP_ACCESS_TOKEN is set".into(),
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
        let mut durations = BTreeMap::new();
        let mut warnings = Vec::new();
        let name = req.name;
        let scrub = self.scrub();
        for s in req.secrets {
            scrub.add(s.value.secret());
        }

        // Everything local first: a binary that cannot run there fails before any request.
        if !template::is_valid_function_name(name) {
            return Err(TargetError::Config {
                message: format!(
                    "`{name}` cannot be a pmcp.run server name: Lambda function names are 1–64 letters, digits, `-` or `_`"
                ),
                hint: Some("set `name` in [server] of .pmcp/deploy.toml".into()),
            });
        }
        let arch = template::arch_of(req.binary).map_err(|e| TargetError::Config {
            message: format!("{} cannot run on pmcp.run: {e}", req.binary.display()),
            hint: Some(
                "build for Linux with --target-triple x86_64-unknown-linux-gnu (or aarch64-unknown-linux-gnu)"
                    .into(),
            ),
        })?;
        if let Ok(Some(need)) = template::required_glibc(req.binary)
            && need > template::RUNTIME_GLIBC
        {
            print_notes(
                progress,
                &[format!(
                    "{} needs glibc {}.{}, but {RUNTIME} has {}.{}: it will not start there; build for \
                     x86_64-unknown-linux-musl (or aarch64), or on a system with glibc {}.{} or older \
                     (`cargo zigbuild --target x86_64-unknown-linux-gnu.2.34`)",
                    req.binary.display(),
                    need.0,
                    need.1,
                    template::RUNTIME_GLIBC.0,
                    template::RUNTIME_GLIBC.1,
                    template::RUNTIME_GLIBC.0,
                    template::RUNTIME_GLIBC.1
                )],
            );
        }
        let secret_names: Vec<String> = req.secrets.iter().map(|s| s.name.clone()).collect();
        let input = template::TemplateInput {
            name,
            memory_mb: req.config.server.memory_mb,
            timeout_seconds: req.config.server.timeout_seconds,
            arch,
            environment: &req.env.vars,
            secret_names: &secret_names,
        };
        let env_size = template::environment_size(&template::function_environment(&input));
        if env_size > template::LAMBDA_ENV_LIMIT {
            return Err(TargetError::Config {
                message: format!(
                    "the server's environment is {env_size} bytes; Lambda allows {} (names and values together)",
                    template::LAMBDA_ENV_LIMIT
                ),
                hint: Some("shorten or remove values in [environment] of .pmcp/deploy.toml".into()),
            });
        }
        let template_json = template::render(&input);
        let binary_size = std::fs::metadata(req.binary)
            .map_err(|e| TargetError::Io(format!("cannot read {}: {e}", req.binary.display())))?
            .len();

        // Discovery and credentials.
        let t0 = Instant::now();
        progress.step(&format!("connecting to {}", self.base()));
        let mut notes = Vec::new();
        let session = self.session(&mut notes).await;
        print_notes(progress, &notes);
        let mut gql = session?;
        let gql = &mut gql;

        // Upload URLs, then both PUTs at once.
        progress.step("requesting upload URLs");
        let urls: graphql::UploadUrls = gql
            .call(
                graphql::GET_UPLOAD_URLS,
                json!({
                    "projectName": name,
                    "templateSize": template_json.len(),
                    "bootstrapSize": binary_size,
                }),
                None,
            )
            .await
            .map_err(|e| e.at(Stage::Upload))?;
        for u in [&urls.template_upload_url, &urls.bootstrap_upload_url] {
            scrub.add_presigned(u);
            check_url("the upload URL", u).map_err(|message| TargetError::Upload {
                message,
                hint: None,
            })?;
        }
        progress.bytes("uploading", binary_size);
        let p: &Progress = progress;
        let template_up = upload::Upload {
            name: "template",
            url: &urls.template_upload_url,
            content_type: "application/json",
            payload: upload::Payload::Bytes(bytes::Bytes::from(template_json.clone())),
        };
        let bootstrap_up = upload::Upload {
            name: "bootstrap",
            url: &urls.bootstrap_upload_url,
            content_type: "application/octet-stream",
            payload: upload::Payload::File(req.binary.to_path_buf()),
        };
        let retry = &self.settings.retry;
        let (t, b) = tokio::join!(
            upload::put(&self.http, &template_up, retry, None, scrub, |m| p
                .println(m)),
            upload::put(&self.http, &bootstrap_up, retry, Some(p), scrub, |m| p
                .println(m)),
        );
        let (t, b) = (t?, b?);
        let attempts = |n: u32| {
            if n > 1 {
                format!(" (attempt {n})")
            } else {
                String::new()
            }
        };
        progress.done(&format!(
            "uploaded the template ({} bytes{}) and the binary ({binary_size} bytes, {}{})",
            template_json.len(),
            attempts(t),
            arch.as_str(),
            attempts(b)
        ));
        durations.insert("upload".to_string(), t0.elapsed().as_millis() as u64);

        // The deployment.
        let t1 = Instant::now();
        progress.step("creating the deployment");
        let created: graphql::Created = gql
            .call(
                graphql::CREATE_DEPLOYMENT_FROM_S3,
                json!({
                    "templateS3Key": urls.template_s3_key,
                    "bootstrapS3Key": urls.bootstrap_s3_key,
                    "projectName": name,
                    "runtime": RUNTIME,
                    "memorySize": req.config.server.memory_mb,
                    "timeout": req.config.server.timeout_seconds,
                    "serverVersion": req.version,
                }),
                None,
            )
            .await
            .map_err(|e| e.at(Stage::Deploy))?;
        let id = created.deployment_id;
        progress.step(&format!(
            "deployment {id}: {}",
            created.status.as_deref().unwrap_or("pending")
        ));
        let state = self.poll(gql, &id, progress).await?;
        durations.insert("deploy".to_string(), t1.elapsed().as_millis() as u64);
        progress.done(&format!("deployment {id}: success"));
        let (url, health_url) = self.urls(&id, state.url);

        // Secrets are not part of a deployment: each is set on the server, for the MCP function.
        if !req.secrets.is_empty() {
            let t2 = Instant::now();
            progress.step(&format!("setting {} secret(s)", req.secrets.len()));
            for s in req.secrets {
                let set: graphql::SecretSet = gql
                    .call(
                        graphql::SET_SERVER_SECRET,
                        json!({
                            "serverId": name,
                            "secretName": s.name,
                            "secretValue": s.value.secret(),
                            "audience": "mcp",
                        }),
                        None,
                    )
                    .await
                    .map_err(|e| match e.at(Stage::Deploy) {
                        TargetError::Failed { message } => TargetError::Failed {
                            message: format!(
                                "deployment {id} is running, but secret {} was not set: {message}",
                                s.name
                            ),
                        },
                        other => other,
                    })?;
                if !set.success {
                    return Err(TargetError::Failed {
                        message: scrub.scrub(&format!(
                            "deployment {id} is running, but pmcp.run did not set secret {}: {}",
                            s.name,
                            set.error.as_deref().unwrap_or("no reason given")
                        )),
                    });
                }
                if let Some(w) = set.warning.filter(|w| !w.trim().is_empty()) {
                    warnings.push(scrub.scrub(&format!("secret {}: {w}", s.name)));
                }
            }
            progress.done(&format!("set secret(s) {}", secret_names.join(", ")));
            durations.insert("secrets".to_string(), t2.elapsed().as_millis() as u64);
        }

        // Entra/OIDC: the server checks tokens itself; the platform's own sign-in must stay off.
        if matches!(
            req.config.auth.active_provider(),
            Provider::Entra | Provider::Oidc
        ) {
            let provider = req.config.auth.active_provider().as_str();
            if let Ok(o) = gql
                .call::<graphql::ServerOAuth>(
                    graphql::FETCH_SERVER_OAUTH_ENDPOINTS,
                    json!({ "serverId": name }),
                    None,
                )
                .await
                && o.oauth_enabled
            {
                warnings.push(format!(
                    "pmcp.run's own OAuth sign-in is enabled for `{name}`, in front of the server's {provider} authentication: \
                     the two sign-in layers will conflict (clients get the platform's tokens, which the server rejects). \
                     Turn the platform's OAuth off for this server in the pmcp.run dashboard"
                ));
            }
        }

        Ok(Deployed {
            deployment_id: Some(id),
            url,
            health_url: Some(health_url),
            oauth: None,
            uploaded: true,
            durations_ms: durations,
            warnings,
        })
    }

    async fn destroy(&self, project_dir: &Path) -> Result<Destroyed, TargetError> {
        let target = TargetKind::PmcpRun.to_string();
        let name = self.name_for("destroy")?;
        let mut notes = Vec::new();
        let mut gql = self.session(&mut notes).await?;
        print_notes(&Progress::new(false, false), &notes);
        let (found, _) = self.find(&mut gql, &name).await?;
        let Some(item) = found else {
            let _ = record::remove(project_dir, TargetKind::PmcpRun);
            return Ok(Destroyed {
                target,
                removed: false,
                detail: format!("pmcp.run has no deployment of `{name}`; nothing to destroy"),
            });
        };
        let id = item.id;
        let op: graphql::Operation = gql
            .call(graphql::DESTROY_DEPLOYMENT, json!({ "id": id }), None)
            .await
            .map_err(|e| e.at(Stage::Deploy))?;
        let start = Instant::now();
        let deadline = start + self.settings.wait_timeout;
        let mut status = op.status;
        let mut message = op.message;
        loop {
            match status.as_str() {
                "deleted" | "success" => break,
                "failed" | "delete_failed" => {
                    return Err(TargetError::Failed {
                        message: self.scrub().scrub(&format!(
                            "pmcp.run could not destroy deployment {id}: {}",
                            message.as_deref().unwrap_or("no reason given")
                        )),
                    });
                }
                _ => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(TargetError::Timeout {
                    waited_secs: start.elapsed().as_secs_f64(),
                    last_status: status,
                    hint: format!(
                        "the destroy may still finish: check `cargo pmcp deploy status --target pmcp-run` (deployment id {id})"
                    ),
                });
            }
            tokio::time::sleep(self.settings.destroy_poll_interval.min(deadline - now)).await;
            match gql
                .call::<graphql::Operation>(
                    graphql::GET_DEPLOYMENT_OPERATION_STATUS,
                    json!({ "id": id }),
                    None,
                )
                .await
            {
                Ok(o) => {
                    status = o.status;
                    message = o.message;
                }
                // Not reachable for a moment: the next poll may be.
                Err(GqlError::Transient(_)) => {}
                Err(e) => return Err(e.at(Stage::Deploy)),
            }
        }
        let _ = record::remove(project_dir, TargetKind::PmcpRun);
        Ok(Destroyed {
            target,
            removed: true,
            detail: format!(
                "destroyed deployment {id} of `{name}`{}",
                item.url.map(|u| format!(" ({u})")).unwrap_or_default()
            ),
        })
    }

    async fn status(&self, project_dir: &Path) -> Result<StatusEntry, TargetError> {
        let target = TargetKind::PmcpRun.to_string();
        let rec = record::read(project_dir, TargetKind::PmcpRun)
            .map_err(|e| TargetError::Io(e.to_string()))?;
        if matches!(self.settings.credentials, CredentialSource::Missing) {
            let Some(rec) = rec else {
                return Ok(StatusEntry {
                    target,
                    state: "not deployed".into(),
                    detail: Some(format!("live status needs credentials: {CREDENTIALS_HINT}")),
                    ..Default::default()
                });
            };
            return Ok(StatusEntry {
                target,
                state: "deployed (recorded)".into(),
                url: Some(rec.url),
                deployment_id: rec.deployment_id,
                artifact_sha256: Some(rec.artifact_sha256),
                deployed_at: Some(rec.deployed_at),
                detail: Some(format!("live status needs credentials: {CREDENTIALS_HINT}")),
            });
        }
        let name = self.name_for("show")?;
        let mut notes = Vec::new();
        let mut gql = self.session(&mut notes).await?;
        print_notes(&Progress::new(false, false), &notes);
        let (found, more) = self.find(&mut gql, &name).await?;
        let Some(item) = found else {
            return Ok(StatusEntry {
                target,
                state: "not deployed".into(),
                detail: Some(format!("pmcp.run has no deployment of `{name}`")),
                ..Default::default()
            });
        };
        let (url, _) = self.urls(&item.id, item.url);
        // The record describes this deployment only when the ids match.
        let rec = rec.filter(|r| r.deployment_id.as_deref() == Some(item.id.as_str()));
        Ok(StatusEntry {
            target,
            state: item.status,
            url: Some(url),
            deployment_id: Some(item.id),
            artifact_sha256: rec.as_ref().map(|r| r.artifact_sha256.clone()),
            deployed_at: rec.as_ref().map(|r| r.deployed_at.clone()),
            detail: (more > 0)
                .then(|| format!("{} older deployment(s) of `{name}` are listed too", more)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(base: &str) -> PmcpRun {
        let config = DeployConfig::default();
        let mut s = PmcpRunSettings::resolve(Some(base), &config).unwrap();
        s.credentials = CredentialSource::Missing;
        PmcpRun::new(s)
    }

    #[test]
    fn the_mcp_url_is_the_services_else_base_id_mcp_and_health_sits_beside_it() {
        let t = target("https://api.example");
        assert_eq!(
            t.urls("dep-9", Some("https://x.example/dep-9/mcp".into())),
            (
                "https://x.example/dep-9/mcp".to_string(),
                "https://x.example/dep-9/health".to_string()
            )
        );
        assert_eq!(
            t.urls("dep-9", None),
            (
                "https://api.example/dep-9/mcp".to_string(),
                "https://api.example/dep-9/health".to_string()
            )
        );
        assert_eq!(
            t.urls("d", Some("https://x.example/d".into())).1,
            "https://x.example/d/health"
        );
    }

    #[test]
    fn preflight_checks_limits_and_credentials_without_the_network() {
        let mut t = target("https://api.example");
        let e = t.preflight().unwrap_err();
        assert!(e.to_string().contains("no pmcp.run credentials"), "{e}");
        assert!(e.hint().unwrap().contains("cargo pmcp login"));
        t.settings.credentials = CredentialSource::AccessToken(pmcp_auth::SecretString::new("t"));
        assert!(t.preflight().is_ok());
        t.settings.memory_mb = 64;
        assert!(t.preflight().unwrap_err().to_string().contains("memory_mb"));
        t.settings.memory_mb = 512;
        t.settings.timeout_seconds = 901;
        assert!(
            t.preflight()
                .unwrap_err()
                .to_string()
                .contains("timeout_seconds")
        );
        let t = target("http://api.example");
        assert!(matches!(t.preflight(), Err(TargetError::Config { .. })));
    }

    #[test]
    fn the_project_name_is_the_server_name_else_the_package_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[package]\nname = \"pkg\"\nversion = \"0.1.0\"\n",
        )
        .unwrap();
        let mut c = DeployConfig::default();
        assert_eq!(project_name(dir.path(), &c).as_deref(), Some("pkg"));
        c.server.name = Some("srv".into());
        assert_eq!(project_name(dir.path(), &c).as_deref(), Some("srv"));
        assert_eq!(
            project_name(&dir.path().join("nope"), &DeployConfig::default()),
            None
        );
    }
}
