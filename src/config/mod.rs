//! `.pmcp/deploy.toml`: a typed view for reading (this module) and a `toml_edit` document for
//! writing (`edit`), so re-running `deploy init` keeps the user's comments, order and unknown keys.
//! The schema is summarised for people in `shared/contracts/deploy-toml.md`; this code is the truth.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where deploy.toml lives, relative to the project root.
pub const DEPLOY_TOML: &str = ".pmcp/deploy.toml";

/// The whole file. Every section is optional and takes its defaults.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct DeployConfig {
    pub target: TargetSection,
    pub server: ServerSection,
    pub auth: AuthSection,
    /// Non-secret variables for the server, sent as they are.
    pub environment: BTreeMap<String, String>,
    pub secrets: SecretsSection,
}

/// `[target]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct TargetSection {
    /// `pmcp-run` | `aws-lambda` | `local`. Defaults to `pmcp-run`.
    #[serde(rename = "type")]
    pub kind: TargetKind,
    /// pmcp-run only; `PMCP_RUN_API_URL` overrides. Defaults to `https://api.pmcp.run`.
    pub api_url: Option<String>,
}

impl Default for TargetSection {
    fn default() -> Self {
        Self {
            kind: TargetKind::PmcpRun,
            api_url: None,
        }
    }
}

/// The deployment targets.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum TargetKind {
    /// The hosted pmcp.run service.
    PmcpRun,
    /// AWS Lambda (not yet available as a deploy target).
    AwsLambda,
    /// A background process on 127.0.0.1 (no account needed).
    Local,
}

impl TargetKind {
    /// The name as written in deploy.toml and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::PmcpRun => "pmcp-run",
            TargetKind::AwsLambda => "aws-lambda",
            TargetKind::Local => "local",
        }
    }
}

impl std::fmt::Display for TargetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[server]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct ServerSection {
    /// Defaults to the package name.
    pub name: Option<String>,
    /// The binary to deploy when the package has several.
    pub bin: Option<String>,
    /// Defaults to 512.
    pub memory_mb: u32,
    /// Defaults to 30.
    pub timeout_seconds: u32,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            name: None,
            bin: None,
            memory_mb: 512,
            timeout_seconds: 30,
        }
    }
}

/// The identity providers.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Provider {
    /// Microsoft Entra ID.
    #[default]
    Entra,
    /// Any OpenID Connect provider (Okta, Auth0, Cognito, Keycloak, …), discovery based.
    Oidc,
    /// No authentication.
    None,
}

impl Provider {
    /// The name as written in deploy.toml.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Entra => "entra",
            Provider::Oidc => "oidc",
            Provider::None => "none",
        }
    }
}

/// `[auth]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct AuthSection {
    /// Defaults to true when the section exists.
    pub enabled: bool,
    /// Defaults to `entra`.
    pub provider: Provider,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    /// oidc: the issuer URL (discovery at `{issuer}/.well-known/openid-configuration`).
    pub issuer: Option<String>,
    /// oidc: the expected audience.
    pub audience: Option<String>,
    pub entra: EntraSection,
    pub dcr: DcrSection,
}

impl Default for AuthSection {
    fn default() -> Self {
        Self {
            enabled: false,
            provider: Provider::Entra,
            tenant_id: None,
            client_id: None,
            issuer: None,
            audience: None,
            entra: EntraSection::default(),
            dcr: DcrSection::default(),
        }
    }
}

/// `[auth.entra]`: written only when set.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct EntraSection {
    pub authority_host: Option<String>,
    pub multi_tenant: bool,
    pub allowed_tenants: Vec<String>,
    pub accept_v1_tokens: bool,
    /// Group GUID → permissions.
    pub group_permissions: BTreeMap<String, Vec<String>>,
}

/// `[auth.dcr]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct DcrSection {
    pub enabled: bool,
    pub public_client_patterns: Vec<String>,
    pub default_scopes: Vec<String>,
}

/// The seed's DCR public client patterns.
pub const DEFAULT_PUBLIC_CLIENT_PATTERNS: [&str; 4] =
    ["claude", "cursor", "chatgpt", "mcp-inspector"];
/// The seed's DCR default scopes.
pub const DEFAULT_SCOPES: [&str; 3] = ["openid", "email", "profile"];

impl Default for DcrSection {
    fn default() -> Self {
        Self {
            enabled: true,
            public_client_patterns: DEFAULT_PUBLIC_CLIENT_PATTERNS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            default_scopes: DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// `[secrets]`
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct SecretsSection {
    /// Names only; values are read from the environment at deploy time.
    pub required: Vec<String>,
}

/// deploy.toml could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// I/O error reading the file.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax or type error, with its position.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

/// Read and parse `path`. `Ok(None)` when the file does not exist.
pub fn load(path: &Path) -> Result<Option<DeployConfig>, LoadError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(LoadError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    parse(path, &text).map(Some)
}

/// Parse deploy.toml text; `path` is only used in error messages.
pub fn parse(path: &Path, text: &str) -> Result<DeployConfig, LoadError> {
    toml::from_str::<DeployConfig>(text).map_err(|e| {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        LoadError::Parse {
            path: path.to_path_buf(),
            line,
            column,
            message: e.message().to_string(),
        }
    })
}

/// 1-based line and column of byte offset `pos` in `text`.
pub fn line_col(text: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(text.len());
    let before = &text[..pos];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map(|i| pos - i).unwrap_or(pos + 1);
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_file_parses() {
        let text = r#"
[auth]
enabled = true
provider = "entra"
tenant_id = "t"
client_id = "c"
[auth.dcr]
enabled = true
public_client_patterns = ["claude"]
default_scopes = ["openid"]
"#;
        let c = parse(Path::new("x"), text).unwrap();
        assert!(c.auth.enabled);
        assert_eq!(c.auth.tenant_id.as_deref(), Some("t"));
        assert_eq!(c.target.kind, TargetKind::PmcpRun);
        assert_eq!(c.server.memory_mb, 512);
    }

    #[test]
    fn parse_error_has_line_and_column() {
        let text = "[target]\ntype = \"pmcp-run\"\n[auth\n";
        match parse(Path::new(".pmcp/deploy.toml"), text) {
            Err(LoadError::Parse { line, .. }) => assert_eq!(line, 3),
            other => panic!("{other:?}"),
        }
    }
}
