//! The aws-lambda target: the server as a Lambda function in the user's own AWS account, with a
//! Function URL in front of it, through the Lambda and IAM APIs (the AWS SDK for Rust: the
//! standard credential chain, SigV4, retries; `AWS_ENDPOINT_URL` points it elsewhere, e.g. moto).
//!
//! First deploy: `GetFunction` (not found) → the role (`[target] role_arn`, or `cargo-pmcp-<server>`
//! found or created with AWSLambdaBasicExecutionRole) → `CreateFunction` (`provided.al2023`,
//! handler `bootstrap`) → wait `Active` → `CreateFunctionUrlConfig` (auth `NONE`: the server checks
//! tokens itself) → `AddPermission` × 2 (`lambda:InvokeFunctionUrl`, and since October 2025
//! `lambda:InvokeFunction` with `InvokedViaFunctionUrl`) → `UpdateFunctionConfiguration` with the
//! server's public URL (`AUTH_RESOURCE_URL`) → wait `LastUpdateStatus: Successful`.
//!
//! Next deploys: `UpdateFunctionCode` → wait → the URL and permissions ensured →
//! `UpdateFunctionConfiguration` (memory, timeout, role, environment with the URL) → wait.
//! A `ResourceConflictException` (an update still in progress, e.g. another deploy) is waited out
//! up to `--wait-timeout`. Throttling and 5xx answers are retried by the SDK's standard retry
//! mode with exponential backoff ([`AwsLambdaSettings::max_attempts`]).

use super::{DeployRequest, Deployed, Destroyed, StatusEntry, Target, TargetError};
use crate::config::{Architecture, TargetKind};
use crate::deploy::record;
use crate::ui::Progress;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionUrlAuthType, LastUpdateStatus, Runtime, State};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

/// The runtime: Amazon Linux 2023, glibc 2.34, the executable named `bootstrap`.
pub const RUNTIME: &str = "provided.al2023";
/// Memory when neither `[target]` nor `[server]` says (MB).
pub const DEFAULT_MEMORY_MB: u32 = 512;
/// Timeout when neither `[target]` nor `[server]` says (seconds).
pub const DEFAULT_TIMEOUT_SECONDS: u32 = 30;
/// How long to wait for the function to be ready after each change, by default.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(300);
/// The managed policy a created role gets (CloudWatch Logs only).
pub const BASIC_EXECUTION_POLICY: &str = "service-role/AWSLambdaBasicExecutionRole";
/// The tag that marks a role (and function) as created by cargo-pmcp: destroy deletes only those.
pub const CREATED_BY_TAG: (&str, &str) = ("created-by", "cargo-pmcp");
/// The statement ids of the two Function URL permissions.
pub const URL_STATEMENT: &str = "cargo-pmcp-function-url";
/// See [`URL_STATEMENT`].
pub const INVOKE_STATEMENT: &str = "cargo-pmcp-function-url-invoke";
/// The variable through which the server learns its public URL (RFC 9728 metadata, the bridge).
pub const RESOURCE_URL_VAR: &str = pmcp_auth::env::AUTH_RESOURCE_URL;

/// The trust policy of a created role: Lambda may assume it.
const TRUST_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// The aws-lambda settings, resolved by the command (flags > deploy.toml > defaults).
#[derive(Debug, Clone)]
pub struct AwsLambdaSettings {
    /// The function name (the server name).
    pub function_name: String,
    /// `--region` > `[target] region`; `None` leaves it to the SDK (`AWS_REGION`, profile).
    pub region: Option<String>,
    /// `[target] role_arn`; `None`: `cargo-pmcp-<server>`, created when missing.
    pub role_arn: Option<String>,
    /// MB. Defaults to [`DEFAULT_MEMORY_MB`].
    pub memory_mb: u32,
    /// Seconds. Defaults to [`DEFAULT_TIMEOUT_SECONDS`].
    pub timeout_seconds: u32,
    /// The longest wait for each change to be applied. Defaults to [`DEFAULT_WAIT`].
    pub wait_timeout: Duration,
    /// Between two status polls. Defaults to 1 s.
    pub poll_interval: Duration,
    /// Attempts per API call in all (the SDK's standard retry mode: throttling, 5xx, timeouts).
    /// Defaults to 5.
    pub max_attempts: u32,
    /// First retry delay (doubling, with jitter). Defaults to 500 ms.
    pub initial_backoff: Duration,
    /// destroy: also delete the role, when cargo-pmcp created it.
    pub delete_role: bool,
}

impl AwsLambdaSettings {
    /// Defaults for `function_name`.
    pub fn new(function_name: impl Into<String>) -> Self {
        Self {
            function_name: function_name.into(),
            region: None,
            role_arn: None,
            memory_mb: DEFAULT_MEMORY_MB,
            timeout_seconds: DEFAULT_TIMEOUT_SECONDS,
            wait_timeout: DEFAULT_WAIT,
            poll_interval: Duration::from_secs(1),
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
            delete_role: false,
        }
    }

    /// The role created when no `role_arn` is given.
    pub fn default_role_name(&self) -> String {
        role_name_for(&self.function_name)
    }
}

/// `cargo-pmcp-<server>`, cut to IAM's 64 characters.
pub fn role_name_for(server: &str) -> String {
    let mut n = format!("cargo-pmcp-{server}");
    n.truncate(64);
    n
}

/// The aws-lambda target.
#[derive(Debug)]
pub struct AwsLambda {
    s: AwsLambdaSettings,
    sdk: tokio::sync::OnceCell<aws_config::SdkConfig>,
}

struct Clients {
    lambda: aws_sdk_lambda::Client,
    iam: aws_sdk_iam::Client,
    region: String,
}

impl AwsLambda {
    /// A target with these settings (nothing is read or called yet).
    pub fn new(s: AwsLambdaSettings) -> Self {
        Self {
            s,
            sdk: tokio::sync::OnceCell::new(),
        }
    }

    /// The SDK configuration: credentials and region from the standard chain (environment,
    /// profile, SSO, web identity, container and instance metadata), `AWS_ENDPOINT_URL` honoured.
    async fn clients(&self) -> Result<Clients, TargetError> {
        let sdk = self
            .sdk
            .get_or_init(|| async {
                let retry = RetryConfig::standard()
                    .with_max_attempts(self.s.max_attempts.max(1))
                    .with_initial_backoff(self.s.initial_backoff)
                    .with_max_backoff(Duration::from_secs(20));
                let mut loader =
                    aws_config::defaults(BehaviorVersion::latest()).retry_config(retry);
                if let Some(r) = &self.s.region {
                    loader = loader.region(aws_config::Region::new(r.clone()));
                }
                loader.load().await
            })
            .await;
        let region =
            sdk.region().map(|r| r.to_string()).ok_or_else(|| {
                TargetError::Config {
            message: "no AWS region for the aws-lambda target".into(),
            hint: Some(
                "pass --region us-east-1, set `region` in [target] of .pmcp/deploy.toml, or set \
                 AWS_REGION"
                    .into(),
            ),
        }
            })?;
        if sdk.credentials_provider().is_none() {
            return Err(no_credentials());
        }
        Ok(Clients {
            lambda: aws_sdk_lambda::Client::new(sdk),
            iam: aws_sdk_iam::Client::new(sdk),
            region,
        })
    }

    /// The function's configuration, or `None` when it does not exist.
    async fn get_function(
        &self,
        c: &Clients,
    ) -> Result<Option<aws_sdk_lambda::operation::get_function::GetFunctionOutput>, TargetError>
    {
        match c
            .lambda
            .get_function()
            .function_name(&self.s.function_name)
            .send()
            .await
        {
            Ok(f) => Ok(Some(f)),
            Err(e) if code(&e) == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(aws_error("lambda:GetFunction", e)),
        }
    }

    /// `[target] role_arn`, else the role `cargo-pmcp-<server>`: found, or created with the
    /// basic execution policy. Returns the ARN and whether it was created now.
    async fn ensure_role(
        &self,
        c: &Clients,
        progress: &mut Progress,
    ) -> Result<(String, bool), TargetError> {
        if let Some(arn) = &self.s.role_arn {
            return Ok((arn.clone(), false));
        }
        let name = self.s.default_role_name();
        match c.iam.get_role().role_name(&name).send().await {
            Ok(r) => {
                let arn = r.role().map(|r| r.arn().to_string()).unwrap_or_default();
                return Ok((arn, false));
            }
            Err(e) if code(&e) == Some("NoSuchEntity") => {}
            Err(e) => return Err(role_error("iam:GetRole", &name, e)),
        }
        progress.step(&format!("creating the execution role {name}"));
        let created = c
            .iam
            .create_role()
            .role_name(&name)
            .assume_role_policy_document(TRUST_POLICY)
            .description(format!(
                "Execution role of the MCP server {} (created by cargo-pmcp)",
                self.s.function_name
            ))
            .tags(
                aws_sdk_iam::types::Tag::builder()
                    .key(CREATED_BY_TAG.0)
                    .value(CREATED_BY_TAG.1)
                    .build()
                    .map_err(|e| TargetError::Io(e.to_string()))?,
            )
            .send()
            .await
            .map_err(|e| role_error("iam:CreateRole", &name, e))?;
        let arn = created
            .role()
            .map(|r| r.arn().to_string())
            .unwrap_or_default();
        let partition = arn.split(':').nth(1).unwrap_or("aws");
        c.iam
            .attach_role_policy()
            .role_name(&name)
            .policy_arn(format!(
                "arn:{partition}:iam::aws:policy/{BASIC_EXECUTION_POLICY}"
            ))
            .send()
            .await
            .map_err(|e| role_error("iam:AttachRolePolicy", &name, e))?;
        progress.done(&format!("created the execution role {name}"));
        Ok((arn, true))
    }

    fn environment(&self, req: &DeployRequest<'_>, url: Option<&str>) -> Environment {
        let mut vars: HashMap<String, String> = req
            .env
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for s in req.secrets {
            vars.insert(s.name.clone(), s.value.secret().to_string());
        }
        if let Some(u) = url {
            vars.insert(RESOURCE_URL_VAR.to_string(), u.to_string());
        }
        Environment::builder().set_variables(Some(vars)).build()
    }

    /// Poll `GetFunctionConfiguration` until the function is `Active` and its last update
    /// `Successful` (bounded by the wait timeout); `Failed` ends it with Lambda's reason.
    async fn wait_ready(&self, c: &Clients, what: &str) -> Result<(), TargetError> {
        let start = Instant::now();
        loop {
            let cfg = c
                .lambda
                .get_function_configuration()
                .function_name(&self.s.function_name)
                .send()
                .await
                .map_err(|e| aws_error("lambda:GetFunctionConfiguration", e))?;
            let state = cfg.state().cloned();
            let update = cfg.last_update_status().cloned();
            if state == Some(State::Failed) || update == Some(LastUpdateStatus::Failed) {
                let reason = cfg
                    .last_update_status_reason()
                    .or(cfg.state_reason())
                    .unwrap_or("no reason given");
                return Err(TargetError::Failed {
                    message: format!("Lambda could not apply the {what}: {reason}"),
                });
            }
            let active = matches!(state, None | Some(State::Active));
            let done = matches!(update, None | Some(LastUpdateStatus::Successful));
            if active && done {
                return Ok(());
            }
            let last = format!(
                "State {}, LastUpdateStatus {}",
                state.as_ref().map(|s| s.as_str()).unwrap_or("-"),
                update.as_ref().map(|s| s.as_str()).unwrap_or("-")
            );
            if start.elapsed() >= self.s.wait_timeout {
                return Err(TargetError::Timeout {
                    waited_secs: start.elapsed().as_secs_f64(),
                    last_status: last,
                    hint: "raise --wait-timeout, or look at the function in the Lambda console"
                        .into(),
                });
            }
            tokio::time::sleep(self.s.poll_interval).await;
        }
    }

    /// Run `call` again while Lambda answers `ResourceConflictException` (an update in progress),
    /// up to the wait timeout.
    async fn retry_conflict<T, E, R, F, Fut>(
        &self,
        action: &str,
        mut call: F,
    ) -> Result<T, TargetError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, SdkError<E, R>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        let start = Instant::now();
        loop {
            match call().await {
                Ok(v) => return Ok(v),
                Err(e)
                    if code(&e) == Some("ResourceConflictException")
                        && start.elapsed() < self.s.wait_timeout =>
                {
                    tokio::time::sleep(self.s.poll_interval).await;
                }
                Err(e) if code(&e) == Some("ResourceConflictException") => {
                    return Err(TargetError::Timeout {
                        waited_secs: start.elapsed().as_secs_f64(),
                        last_status: format!(
                            "{action}: ResourceConflictException ({})",
                            e.message().unwrap_or("an update is in progress")
                        ),
                        hint: "another update of the function is still in progress; retry \
                               later or raise --wait-timeout"
                            .into(),
                    });
                }
                Err(e) => return Err(aws_error(action, e)),
            }
        }
    }

    /// The Function URL (created when missing, auth `NONE`) and its two public permissions.
    async fn ensure_url(&self, c: &Clients) -> Result<String, TargetError> {
        let name = &self.s.function_name;
        let url = match c
            .lambda
            .get_function_url_config()
            .function_name(name)
            .send()
            .await
        {
            Ok(u) => u.function_url().to_string(),
            Err(e) if code(&e) == Some("ResourceNotFoundException") => self
                .retry_conflict("lambda:CreateFunctionUrlConfig", || {
                    c.lambda
                        .create_function_url_config()
                        .function_name(name)
                        .auth_type(FunctionUrlAuthType::None)
                        .send()
                })
                .await?
                .function_url()
                .to_string(),
            Err(e) => return Err(aws_error("lambda:GetFunctionUrlConfig", e)),
        };
        for (sid, action, via_url) in [
            (URL_STATEMENT, "lambda:InvokeFunctionUrl", false),
            (INVOKE_STATEMENT, "lambda:InvokeFunction", true),
        ] {
            let mut add = c
                .lambda
                .add_permission()
                .function_name(name)
                .statement_id(sid)
                .action(action)
                .principal("*");
            add = if via_url {
                add.invoked_via_function_url(true)
            } else {
                add.function_url_auth_type(FunctionUrlAuthType::None)
            };
            match add.send().await {
                Ok(_) => {}
                // Already there from an earlier deploy.
                Err(e) if code(&e) == Some("ResourceConflictException") => {}
                Err(e) => return Err(aws_error("lambda:AddPermission", e)),
            }
        }
        Ok(url)
    }

    /// The API calls a deploy makes, with their non-secret parameters (`--dry-run`).
    pub fn planned_calls(&self, req: &DeployRequest<'_>, arch: &str) -> Vec<String> {
        let n = &self.s.function_name;
        let region = self
            .s
            .region
            .clone()
            .unwrap_or_else(|| "from AWS_REGION / the profile".into());
        let role = self.s.role_arn.clone().unwrap_or_else(|| {
            format!(
                "{} (iam:GetRole; iam:CreateRole + iam:AttachRolePolicy {BASIC_EXECUTION_POLICY} when missing)",
                self.s.default_role_name()
            )
        });
        let mut env: Vec<String> = req.env.vars.keys().cloned().collect();
        env.extend(req.secrets.iter().map(|s| format!("{} (secret)", s.name)));
        env.push(RESOURCE_URL_VAR.into());
        vec![
            format!("region {region}"),
            format!("lambda:GetFunction FunctionName={n}"),
            format!(
                "if missing: lambda:CreateFunction FunctionName={n} Runtime={RUNTIME} Handler=bootstrap \
                 Architectures=[{arch}] MemorySize={} Timeout={} Role={role} ZipFile=<{} bytes, sha256 {}>",
                self.s.memory_mb, self.s.timeout_seconds, req.artifact.size, req.artifact.sha256
            ),
            format!(
                "if present: lambda:UpdateFunctionCode FunctionName={n} Architectures=[{arch}] ZipFile=<{} bytes>",
                req.artifact.size
            ),
            format!(
                "lambda:GetFunctionConfiguration FunctionName={n} (until LastUpdateStatus=Successful)"
            ),
            format!(
                "lambda:GetFunctionUrlConfig / lambda:CreateFunctionUrlConfig FunctionName={n} AuthType=NONE"
            ),
            format!(
                "lambda:AddPermission FunctionName={n} StatementId={URL_STATEMENT} Action=lambda:InvokeFunctionUrl Principal=* FunctionUrlAuthType=NONE"
            ),
            format!(
                "lambda:AddPermission FunctionName={n} StatementId={INVOKE_STATEMENT} Action=lambda:InvokeFunction Principal=* InvokedViaFunctionUrl=true"
            ),
            format!(
                "lambda:UpdateFunctionConfiguration FunctionName={n} MemorySize={} Timeout={} Environment=[{}]",
                self.s.memory_mb,
                self.s.timeout_seconds,
                env.join(", ")
            ),
        ]
    }
}

impl Target for AwsLambda {
    fn kind(&self) -> TargetKind {
        TargetKind::AwsLambda
    }

    fn preflight(&self) -> Result<(), TargetError> {
        if let Some(r) = &self.s.region {
            crate::config::validate::validate_region(r).map_err(|why| TargetError::Config {
                message: format!("--region {r}: {why}"),
                hint: None,
            })?;
        }
        Ok(())
    }

    fn expected_url(&self, _name: &str) -> Option<String> {
        None
    }

    fn check_binary(&self, path: &Path, triple: &str) -> Result<Option<String>, TargetError> {
        let info = crate::deploy::elf::check_for_lambda(path, triple).map_err(|r| {
            TargetError::Config {
                message: r.message,
                hint: Some(r.hint),
            }
        })?;
        Ok(Some(match &info.max_glibc {
            Some(v) => format!(
                "{} binary, needs glibc {} (Lambda has {}.{})",
                info.machine,
                crate::deploy::elf::version_string(v),
                crate::deploy::elf::LAMBDA_GLIBC.0,
                crate::deploy::elf::LAMBDA_GLIBC.1
            ),
            None if info.dynamic => format!("{} binary, no glibc symbol versions", info.machine),
            None => format!("{} static binary", info.machine),
        }))
    }

    fn plan(&self, req: &DeployRequest<'_>) -> Vec<String> {
        let arch = Architecture::of_triple(req.target_triple)
            .map(Architecture::as_str)
            .unwrap_or("x86_64");
        self.named(req.name).planned_calls(req, arch)
    }

    async fn deploy(
        &self,
        req: &DeployRequest<'_>,
        progress: &mut Progress,
    ) -> Result<Deployed, TargetError> {
        self.named(req.name).deploy_named(req, progress).await
    }

    async fn destroy(&self, project_dir: &Path) -> Result<Destroyed, TargetError> {
        let c = self.clients().await?;
        let name = &self.s.function_name;
        let Some(f) = self.get_function(&c).await? else {
            let _ = record::remove(project_dir, TargetKind::AwsLambda);
            return Ok(Destroyed {
                target: TargetKind::AwsLambda.to_string(),
                removed: false,
                detail: format!("no function {name} in {}; nothing to remove", c.region),
            });
        };
        let role_arn = f.configuration().and_then(|c| c.role()).map(str::to_string);
        let mut done = Vec::new();
        match c
            .lambda
            .delete_function_url_config()
            .function_name(name)
            .send()
            .await
        {
            Ok(_) => done.push("Function URL".to_string()),
            Err(e) if code(&e) == Some("ResourceNotFoundException") => {}
            Err(e) => return Err(aws_error("lambda:DeleteFunctionUrlConfig", e)),
        }
        for sid in [URL_STATEMENT, INVOKE_STATEMENT] {
            match c
                .lambda
                .remove_permission()
                .function_name(name)
                .statement_id(sid)
                .send()
                .await
            {
                Ok(_) => done.push(format!("permission {sid}")),
                Err(e) if code(&e) == Some("ResourceNotFoundException") => {}
                Err(e) => return Err(aws_error("lambda:RemovePermission", e)),
            }
        }
        self.retry_conflict("lambda:DeleteFunction", || {
            c.lambda.delete_function().function_name(name).send()
        })
        .await?;
        done.push(format!("function {name}"));
        let ours = self.s.default_role_name();
        let role_name = role_arn
            .as_deref()
            .and_then(|a| a.rsplit('/').next())
            .map(str::to_string);
        let mut detail_role = String::new();
        if let Some(role) = role_name {
            if role != ours {
                detail_role = format!("; role {role} kept (not created by cargo-pmcp)");
            } else if !self.s.delete_role {
                detail_role =
                    format!("; role {role} kept (pass --delete-role to delete it as well)");
            } else if self.delete_own_role(&c, &role).await? {
                done.push(format!("role {role}"));
            } else {
                detail_role = format!("; role {role} kept (it has no created-by=cargo-pmcp tag)");
            }
        }
        let _ = record::remove(project_dir, TargetKind::AwsLambda);
        Ok(Destroyed {
            target: TargetKind::AwsLambda.to_string(),
            removed: true,
            detail: format!("deleted {} in {}{detail_role}", done.join(", "), c.region),
        })
    }

    async fn status(&self, project_dir: &Path) -> Result<StatusEntry, TargetError> {
        let c = self.clients().await?;
        let rec = record::read(project_dir, TargetKind::AwsLambda)
            .ok()
            .flatten();
        let Some(f) = self.get_function(&c).await? else {
            return Ok(StatusEntry {
                target: TargetKind::AwsLambda.to_string(),
                state: "not deployed".into(),
                detail: Some(format!(
                    "no function {} in {}",
                    self.s.function_name, c.region
                )),
                ..Default::default()
            });
        };
        let cfg = f.configuration();
        let state = cfg
            .and_then(|c| c.state())
            .map(|s| s.as_str().to_ascii_lowercase())
            .unwrap_or_else(|| "unknown".into());
        let update = cfg
            .and_then(|c| c.last_update_status())
            .map(|s| s.as_str().to_string());
        let url = match c
            .lambda
            .get_function_url_config()
            .function_name(&self.s.function_name)
            .send()
            .await
        {
            Ok(u) => Some(format!("{}/mcp", u.function_url().trim_end_matches('/'))),
            Err(e) if code(&e) == Some("ResourceNotFoundException") => None,
            Err(e) => return Err(aws_error("lambda:GetFunctionUrlConfig", e)),
        };
        let mut detail = vec![format!("region {}", c.region)];
        if let Some(cfg) = cfg {
            detail.push(format!(
                "{} MB, {} s, {}",
                cfg.memory_size().unwrap_or_default(),
                cfg.timeout().unwrap_or_default(),
                cfg.architectures()
                    .first()
                    .map(|a| a.as_str())
                    .unwrap_or("x86_64")
            ));
            if let Some(m) = cfg.last_modified() {
                detail.push(format!("last modified {m}"));
            }
        }
        if let Some(u) = update {
            detail.push(format!("last update {u}"));
        }
        Ok(StatusEntry {
            target: TargetKind::AwsLambda.to_string(),
            state,
            url,
            deployment_id: cfg.and_then(|c| c.function_arn()).map(str::to_string),
            artifact_sha256: rec.as_ref().map(|r| r.artifact_sha256.clone()),
            deployed_at: rec.map(|r| r.deployed_at),
            detail: Some(detail.join("; ")),
        })
    }
}

impl AwsLambda {
    /// This target for the function `name` (deploy learns the server name from the request).
    fn named(&self, name: &str) -> AwsLambda {
        AwsLambda::new(AwsLambdaSettings {
            function_name: name.to_string(),
            ..self.s.clone()
        })
    }

    async fn deploy_named(
        &self,
        req: &DeployRequest<'_>,
        progress: &mut Progress,
    ) -> Result<Deployed, TargetError> {
        let mut durations = BTreeMap::new();
        let arch = Architecture::of_triple(req.target_triple).ok_or_else(|| {
            TargetError::Config {
                message: format!(
                    "Lambda runs x86_64 and arm64 code; {} is neither",
                    req.target_triple
                ),
                hint: Some(
                    "build with --target-triple x86_64-unknown-linux-musl or aarch64-unknown-linux-musl"
                        .into(),
                ),
            }
        })?;
        let lambda_arch = aws_sdk_lambda::types::Architecture::from(arch.as_str());
        let c = self.clients().await?;
        let name = &self.s.function_name;
        let zip = tokio::fs::read(&req.artifact.path).await.map_err(|e| {
            TargetError::Io(format!("cannot read {}: {e}", req.artifact.path.display()))
        })?;
        let t_upload = Instant::now();
        progress.step(&format!("looking up the function {name} in {}", c.region));
        let existing = self.get_function(&c).await?;
        let mut warnings = Vec::new();
        let created_now = existing.is_none();
        if let Some(f) = &existing {
            let current = f
                .configuration()
                .and_then(|c| c.architectures().first().cloned());
            progress.step(&format!(
                "uploading {} bytes (UpdateFunctionCode)",
                zip.len()
            ));
            // The code and the architecture change together (UpdateFunctionCode carries both).
            let mut update = || {
                c.lambda
                    .update_function_code()
                    .function_name(name)
                    .zip_file(Blob::new(zip.clone()))
                    .architectures(lambda_arch.clone())
                    .send()
            };
            self.retry_conflict("lambda:UpdateFunctionCode", &mut update)
                .await?;
            if current.as_ref().is_some_and(|a| *a != lambda_arch) {
                warnings.push(format!(
                    "the function's architecture changed to {}",
                    arch.as_str()
                ));
            }
            durations.insert("upload".into(), t_upload.elapsed().as_millis() as u64);
            progress.step("waiting for the code update (LastUpdateStatus)");
            self.wait_ready(&c, "code update").await?;
        } else {
            let (role, role_created) = self.ensure_role(&c, progress).await?;
            progress.step(&format!(
                "creating the function {name} ({RUNTIME}, {}, {} MB, {} s)",
                arch.as_str(),
                self.s.memory_mb,
                self.s.timeout_seconds
            ));
            let start = Instant::now();
            loop {
                let r = c
                    .lambda
                    .create_function()
                    .function_name(name)
                    .runtime(Runtime::Providedal2023)
                    .handler("bootstrap")
                    .role(&role)
                    .code(
                        aws_sdk_lambda::types::FunctionCode::builder()
                            .zip_file(Blob::new(zip.clone()))
                            .build(),
                    )
                    .architectures(lambda_arch.clone())
                    .memory_size(self.s.memory_mb as i32)
                    .timeout(self.s.timeout_seconds as i32)
                    .description(format!("MCP server {name} {} (cargo-pmcp)", req.version))
                    .environment(self.environment(req, None))
                    .tags(CREATED_BY_TAG.0, CREATED_BY_TAG.1)
                    .send()
                    .await;
                match r {
                    Ok(_) => break,
                    // A role created seconds ago is not yet assumable (IAM is eventually
                    // consistent): Lambda says so with InvalidParameterValueException.
                    Err(e)
                        if role_created
                            && code(&e) == Some("InvalidParameterValueException")
                            && e.message().is_some_and(|m| m.contains("assume"))
                            && start.elapsed() < self.s.wait_timeout =>
                    {
                        progress.step("waiting for the new role to reach Lambda");
                        tokio::time::sleep(self.s.poll_interval.max(Duration::from_secs(1))).await;
                    }
                    Err(e) => return Err(aws_error("lambda:CreateFunction", e)),
                }
            }
            durations.insert("upload".into(), t_upload.elapsed().as_millis() as u64);
            progress.step("waiting for the function to be Active");
            self.wait_ready(&c, "new function").await?;
        }
        progress.step("Function URL and its permissions");
        let t_deploy = Instant::now();
        let base = self.ensure_url(&c).await?;
        let url = format!("{}/mcp", base.trim_end_matches('/'));
        progress.step(&format!(
            "configuring (memory, timeout, environment, {RESOURCE_URL_VAR}={url})"
        ));
        let role = if created_now {
            None
        } else {
            self.s.role_arn.clone()
        };
        let env = self.environment(req, Some(&url));
        self.retry_conflict("lambda:UpdateFunctionConfiguration", || {
            c.lambda
                .update_function_configuration()
                .function_name(name)
                .memory_size(self.s.memory_mb as i32)
                .timeout(self.s.timeout_seconds as i32)
                .set_role(role.clone())
                .runtime(Runtime::Providedal2023)
                .handler("bootstrap")
                .environment(env.clone())
                .send()
        })
        .await?;
        self.wait_ready(&c, "configuration update").await?;
        durations.insert("deploy".into(), t_deploy.elapsed().as_millis() as u64);
        let arn = existing
            .as_ref()
            .and_then(|f| f.configuration())
            .and_then(|c| c.function_arn())
            .map(str::to_string);
        let arn = match arn {
            Some(a) => a,
            None => self
                .get_function(&c)
                .await?
                .and_then(|f| {
                    f.configuration()
                        .and_then(|c| c.function_arn())
                        .map(String::from)
                })
                .unwrap_or_else(|| name.clone()),
        };
        progress.done(&format!(
            "{} {name} in {}",
            if created_now { "created" } else { "updated" },
            c.region
        ));
        Ok(Deployed {
            deployment_id: Some(arn),
            url,
            health_url: Some(format!("{}/health", base.trim_end_matches('/'))),
            oauth: None,
            uploaded: true,
            durations_ms: durations,
            warnings,
        })
    }

    /// Delete the role `role` if it carries the created-by tag: detach its managed policies, then
    /// delete it. Returns false when it is not ours.
    async fn delete_own_role(&self, c: &Clients, role: &str) -> Result<bool, TargetError> {
        let tags = c
            .iam
            .list_role_tags()
            .role_name(role)
            .send()
            .await
            .map_err(|e| role_error("iam:ListRoleTags", role, e))?;
        let ours = tags
            .tags()
            .iter()
            .any(|t| t.key() == CREATED_BY_TAG.0 && t.value() == CREATED_BY_TAG.1);
        if !ours {
            return Ok(false);
        }
        let attached = c
            .iam
            .list_attached_role_policies()
            .role_name(role)
            .send()
            .await
            .map_err(|e| role_error("iam:ListAttachedRolePolicies", role, e))?;
        for p in attached.attached_policies() {
            if let Some(arn) = p.policy_arn() {
                c.iam
                    .detach_role_policy()
                    .role_name(role)
                    .policy_arn(arn)
                    .send()
                    .await
                    .map_err(|e| role_error("iam:DetachRolePolicy", role, e))?;
            }
        }
        c.iam
            .delete_role()
            .role_name(role)
            .send()
            .await
            .map_err(|e| role_error("iam:DeleteRole", role, e))?;
        Ok(true)
    }
}

/// The error code of an AWS error (`ResourceNotFoundException`, `AccessDeniedException`, …).
fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<&str> {
    match e {
        SdkError::ServiceError(s) => s.err().code(),
        _ => None,
    }
}

fn no_credentials() -> TargetError {
    TargetError::Auth {
        message: "no AWS credentials found".into(),
        hint: "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE (run `aws sso login` \
               for SSO profiles), or in GitHub Actions use aws-actions/configure-aws-credentials \
               with OIDC (docs/deploy.md)"
            .into(),
    }
}

/// An AWS error, in words, with what to do: access denied names the permission to add; bad or
/// missing credentials say how to give them; everything else keeps AWS's code and message.
pub fn aws_error<E, R>(action: &str, e: SdkError<E, R>) -> TargetError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let code = code(&e).map(str::to_string);
    let message = e.message().map(str::to_string);
    match code.as_deref() {
        Some("AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation") => {
            TargetError::Auth {
                message: format!(
                    "AWS refused {action}: {}",
                    message.as_deref().unwrap_or("access denied")
                ),
                hint: format!(
                    "allow `{action}` for the deploying identity (the minimal IAM policy is in \
                     docs/deploy.md, \"aws-lambda\")"
                ),
            }
        }
        Some(
            c @ ("UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "InvalidSignatureException"
            | "SignatureDoesNotMatch"
            | "ExpiredToken"
            | "ExpiredTokenException"),
        ) => TargetError::Auth {
            message: format!(
                "AWS did not accept the credentials ({c}) for {action}: {}",
                message.as_deref().unwrap_or("")
            ),
            hint: "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN or \
                   AWS_PROFILE (an SSO session may need `aws sso login`)"
                .into(),
        },
        Some(c) => TargetError::Upload {
            message: format!(
                "{action} failed: {c}: {}",
                message.as_deref().unwrap_or("no message")
            ),
            hint: None,
        },
        None => {
            let text = aws_smithy_error_chain(&e);
            // The credential chain found nothing (the SDK fails before sending).
            if text.contains("no credentials") || text.contains("credentials provider") {
                return no_credentials();
            }
            TargetError::Upload {
                message: format!("{action} failed: {text}"),
                hint: Some(
                    "check the network, the region and AWS_ENDPOINT_URL if you set it".into(),
                ),
            }
        }
    }
}

/// An error and its sources on one line.
fn aws_smithy_error_chain<E: std::error::Error + 'static, R: std::fmt::Debug>(
    e: &SdkError<E, R>,
) -> String {
    let mut out = e.to_string();
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}

/// An IAM error for the execution role: access denied says to grant it or to set `role_arn`.
fn role_error<E, R>(action: &str, role: &str, e: SdkError<E, R>) -> TargetError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match aws_error(action, e) {
        TargetError::Auth { message, hint } if hint.starts_with("allow") => TargetError::Auth {
            message: format!("{message} (for the execution role {role})"),
            hint: format!(
                "{hint}, or create the role once yourself and set `role_arn` in [target] of \
                 .pmcp/deploy.toml"
            ),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_fit_iam() {
        assert_eq!(role_name_for("weather"), "cargo-pmcp-weather");
        assert_eq!(role_name_for(&"x".repeat(63)).len(), 64);
    }
}
