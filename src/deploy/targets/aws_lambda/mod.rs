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
}

mod calls;
mod errors;
mod flow;

pub use errors::aws_error;
use errors::*;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_fit_iam() {
        assert_eq!(role_name_for("weather"), "cargo-pmcp-weather");
        assert_eq!(role_name_for(&"x".repeat(63)).len(), 64);
    }
}
