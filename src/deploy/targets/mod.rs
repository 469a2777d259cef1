//! Where an artifact goes. Every target implements [`Target`]; the `deploy` command resolves the
//! target's settings (flags > env > deploy.toml) at its edge, then only talks to this trait, so a
//! new target is one new module and one match arm in `commands/deploy.rs`.

pub mod aws_lambda;
pub mod local;
pub mod pmcp_run;

use crate::config::{DeployConfig, TargetKind};
use crate::deploy::env::{Secret, ServerEnv};
use crate::deploy::package::Artifact;
use crate::exit::Exit;
use crate::ui::Progress;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Everything a target needs to deploy one artifact.
#[derive(Debug, Clone, Copy)]
pub struct DeployRequest<'a> {
    /// The project directory (where `.pmcp/` lives).
    pub project_dir: &'a Path,
    /// The server's name (`[server] name`, default the package name).
    pub name: &'a str,
    /// The package version.
    pub version: &'a str,
    /// The packaged zip.
    pub artifact: &'a Artifact,
    /// The built executable (the zip's `bootstrap`), for targets that upload the binary itself.
    pub binary: &'a Path,
    /// The target triple the binary was built for.
    pub target_triple: &'a str,
    /// The non-secret environment.
    pub env: &'a ServerEnv,
    /// The secrets, with values (send them only where the target keeps secrets).
    pub secrets: &'a [Secret],
    /// The whole deploy.toml (memory, timeout, auth settings).
    pub config: &'a DeployConfig,
}

/// OAuth endpoints the deployed server exposes (when the target reports them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OAuthEndpoints {
    pub issuer: Option<String>,
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    pub registration_endpoint: Option<String>,
}

/// A successful deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Deployed {
    /// The target's id for this deployment (pmcp-run's deploymentId; the pid for local).
    pub deployment_id: Option<String>,
    /// The MCP endpoint.
    pub url: String,
    /// The health endpoint, when known.
    pub health_url: Option<String>,
    /// OAuth endpoints, when the target has them.
    pub oauth: Option<OAuthEndpoints>,
    /// False when the target already had this artifact and the upload was skipped.
    pub uploaded: bool,
    /// Milliseconds per step (`upload`, `deploy`, `ready`, …).
    pub durations_ms: BTreeMap<String, u64>,
    /// What the user should know although the deployment succeeded (printed as warnings).
    pub warnings: Vec<String>,
}

/// What `deploy status` shows for one target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StatusEntry {
    /// The target name.
    pub target: String,
    /// `running`, `stopped`, `success`, `failed`, `not deployed`, …
    pub state: String,
    /// The MCP endpoint.
    pub url: Option<String>,
    /// The deployment id (pid for local).
    pub deployment_id: Option<String>,
    /// SHA-256 of the deployed artifact.
    pub artifact_sha256: Option<String>,
    /// When it was deployed (UTC, RFC 3339).
    pub deployed_at: Option<String>,
    /// Anything else worth a line (message, log path).
    pub detail: Option<String>,
}

/// What `deploy destroy` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Destroyed {
    /// The target name.
    pub target: String,
    /// False when nothing was deployed.
    pub removed: bool,
    /// What happened, in words.
    pub detail: String,
}

/// A target failed. Each kind maps to one deploy exit code ([`TargetError::exit`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// Settings are missing or wrong (exit 2).
    #[error("{message}")]
    Config {
        message: String,
        hint: Option<String>,
    },
    /// The target refused our credentials (exit 4).
    #[error("{message}")]
    Auth { message: String, hint: String },
    /// The artifact could not be uploaded, or the API could not be reached (exit 4).
    #[error("{message}")]
    Upload {
        message: String,
        hint: Option<String>,
    },
    /// The target reported the deployment failed (exit 5).
    #[error("deployment failed: {message}")]
    Failed { message: String },
    /// The server stopped before it served (exit 5), with what to check.
    #[error("deployment failed: {message}")]
    Stopped { message: String, hint: String },
    /// The deployment did not become ready in time (exit 5).
    #[error("deployment was not ready after {waited_secs:.1}s (last status: {last_status})")]
    Timeout {
        waited_secs: f64,
        last_status: String,
        hint: String,
    },
    /// The target cannot do this (exit 2).
    #[error("{message}")]
    Unsupported { message: String, hint: String },
    /// A local file or process operation failed (exit 1).
    #[error("{0}")]
    Io(String),
}

impl TargetError {
    /// How `deploy` ends for this error.
    pub fn exit(&self) -> Exit {
        match self {
            TargetError::Config { .. } | TargetError::Unsupported { .. } => Exit::Usage,
            TargetError::Auth { .. } | TargetError::Upload { .. } => Exit::UploadFailed,
            TargetError::Failed { .. }
            | TargetError::Stopped { .. }
            | TargetError::Timeout { .. } => Exit::DeployFailed,
            TargetError::Io(_) => Exit::Unexpected,
        }
    }

    /// What to do next, when there is something to say.
    pub fn hint(&self) -> Option<&str> {
        match self {
            TargetError::Config { hint, .. } | TargetError::Upload { hint, .. } => hint.as_deref(),
            TargetError::Auth { hint, .. }
            | TargetError::Timeout { hint, .. }
            | TargetError::Stopped { hint, .. }
            | TargetError::Unsupported { hint, .. } => Some(hint),
            TargetError::Failed { .. } | TargetError::Io(_) => None,
        }
    }
}

/// A deployment target. Implementations hold their resolved settings; the methods only act.
///
/// The futures are awaited on the command's own task (never spawned), so they need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait Target {
    /// Which target this is.
    fn kind(&self) -> TargetKind;

    /// Checks that need neither network nor a build (credentials present, URLs well formed), run
    /// before building so a user never waits for a build that cannot be deployed.
    fn preflight(&self) -> Result<(), TargetError>;

    /// The URL the server will have, when it is known before deploying (for `--dry-run`); `None`
    /// when the target assigns it.
    fn expected_url(&self, name: &str) -> Option<String>;

    /// Check the built executable before it is packaged (e.g. that the target's runtime can start
    /// it). `Ok(Some(line))` is shown as progress. Defaults to no check.
    fn check_binary(&self, _binary: &Path, _triple: &str) -> Result<Option<String>, TargetError> {
        Ok(None)
    }

    /// The remote calls a deploy would make, with their non-secret parameters (`--dry-run`).
    /// Defaults to none listed.
    fn plan(&self, _req: &DeployRequest<'_>) -> Vec<String> {
        Vec::new()
    }

    /// Upload, deploy and wait until ready, reporting each step on `progress`.
    async fn deploy(
        &self,
        req: &DeployRequest<'_>,
        progress: &mut Progress,
    ) -> Result<Deployed, TargetError>;

    /// Stop and remove what this target runs for the project.
    async fn destroy(&self, project_dir: &Path) -> Result<Destroyed, TargetError>;

    /// What runs for the project on this target.
    async fn status(&self, project_dir: &Path) -> Result<StatusEntry, TargetError>;
}
