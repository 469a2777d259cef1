//! `.pmcp/deploy.toml`: a typed view for reading (this module) and a `toml_edit` document for
//! writing (`edit`), so re-running `deploy init` keeps the user's comments, order and unknown keys.
//! The schema is summarised for people in `docs/contracts/deploy-toml.md`; this code is the truth.
//!
//! For commands that read deploy.toml (`deploy`, `auth test`):
//! - [`project_root`] finds where `.pmcp/` lives (honours `--manifest-path`);
//! - [`load_with_warnings`] gives the typed [`DeployConfig`] plus [`ConfigWarning`]s for unknown keys
//!   in our tables (print each with `ui.warn`); a [`LoadError`] converts into an exit-2
//!   [`crate::ui::Failure`] with `?` / `.into()`;
//! - [`Loaded::locate`] gives `path:line:column` of a value, so a bad value can be reported where it
//!   was written (`.pmcp/deploy.toml:7: …`).
//!
//! For the inputs of every verb (flag > environment > deploy.toml > prompt > default, each value
//! logged with its source): the table in [`inputs`] and the [`resolve::Resolver`].
//!
//! For commands that write it: [`DeployToml`] (module [`edit`]) keeps comments, order, formatting and
//! unknown keys, leaves equal values untouched (byte-identical re-runs) and writes atomically.

pub mod edit;
pub mod init;
pub mod inputs;
mod keys;
pub mod resolve;
pub mod validate;

pub use edit::DeployToml;
pub use keys::{ConfigWarning, KNOWN_KEYS, key_meaning, unknown_keys};

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
    /// aws-lambda: the AWS region; `--region` overrides. Defaults to the SDK's chain
    /// (`AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region`).
    pub region: Option<String>,
    /// aws-lambda: the function's execution role. Defaults to a role `cargo-pmcp-<server>` created
    /// (once) with the AWSLambdaBasicExecutionRole policy.
    pub role_arn: Option<String>,
    /// aws-lambda: memory in MB (128–10240). Defaults to `[server] memory_mb` (512).
    pub memory_mb: Option<u32>,
    /// aws-lambda: timeout in seconds (1–900). Defaults to `[server] timeout_seconds` (30).
    pub timeout_seconds: Option<u32>,
    /// aws-lambda: `x86_64` or `arm64`, used to pick the build triple when none is given.
    /// Defaults to the build triple's architecture (the host's when no triple is given).
    pub architecture: Option<Architecture>,
    /// The cargo target triple to build for (`--target-triple` overrides), e.g.
    /// `aarch64-unknown-linux-musl`. Defaults to the host's.
    pub triple: Option<String>,
}

/// A Lambda instruction set.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    /// `x86_64` (Intel/AMD).
    X86_64,
    /// `arm64` (Graviton), about 20% cheaper per GB-second.
    Arm64,
}

impl Architecture {
    /// The name Lambda uses (`x86_64`, `arm64`).
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        }
    }

    /// The architecture of a cargo target triple (`x86_64-…`, `aarch64-…`), if Lambda runs it.
    pub fn of_triple(triple: &str) -> Option<Architecture> {
        match triple.split('-').next()? {
            "x86_64" => Some(Architecture::X86_64),
            "aarch64" => Some(Architecture::Arm64),
            _ => None,
        }
    }

    /// The cargo triple prefix (`x86_64`, `aarch64`).
    pub fn triple_arch(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "aarch64",
        }
    }
}

impl Default for TargetSection {
    fn default() -> Self {
        Self {
            kind: TargetKind::PmcpRun,
            api_url: None,
            region: None,
            role_arn: None,
            memory_mb: None,
            timeout_seconds: None,
            architecture: None,
            triple: None,
        }
    }
}

/// The deployment targets.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
#[derive(clap::ValueEnum)]
pub enum TargetKind {
    /// The hosted pmcp.run service.
    PmcpRun,
    /// AWS Lambda in your own AWS account (a Function URL in front of the server).
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

impl std::str::FromStr for TargetKind {
    type Err = String;

    /// The name as written in deploy.toml or a variable (any case).
    fn from_str(v: &str) -> Result<Self, String> {
        match v.to_ascii_lowercase().as_str() {
            "pmcp-run" => Ok(TargetKind::PmcpRun),
            "aws-lambda" => Ok(TargetKind::AwsLambda),
            "local" => Ok(TargetKind::Local),
            _ => Err("expected pmcp-run, aws-lambda or local".into()),
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
#[derive(clap::ValueEnum)]
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

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[auth]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct AuthSection {
    /// Defaults to true when the section exists (false when there is no `[auth]` at all).
    #[serde(default = "default_true")]
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

impl AuthSection {
    /// The provider in effect: `provider`, or [`Provider::None`] when `enabled = false` (or there is
    /// no `[auth]`).
    pub fn active_provider(&self) -> Provider {
        if self.enabled {
            self.provider
        } else {
            Provider::None
        }
    }
}

fn default_true() -> bool {
    true
}

/// `[auth.entra]`: written only when set.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct EntraSection {
    pub authority_host: Option<String>,
    pub multi_tenant: bool,
    pub allowed_tenants: Vec<String>,
    pub accept_v1_tokens: bool,
    /// The Web redirect URI registered on the app, when it is not the one derived from the target
    /// and server name (`https://<server>.pmcp.run/oauth/callback`, `http://localhost:8080/oauth/callback`).
    pub redirect_uri: Option<String>,
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

impl From<LoadError> for crate::ui::Failure {
    /// A deploy.toml that cannot be read or parsed is a configuration error (exit 2).
    fn from(e: LoadError) -> Self {
        let hint = match &e {
            LoadError::Parse { path, .. } => format!(
                "fix {} at that position (cargo-pmcp never rewrites a file it cannot parse)",
                path.display()
            ),
            LoadError::Io { path, .. } => format!("check that {} is readable", path.display()),
        };
        crate::ui::Failure::usage(e.to_string()).with_hint(hint)
    }
}

/// Read and parse `path`. `Ok(None)` when the file does not exist.
pub fn load(path: &Path) -> Result<Option<DeployConfig>, LoadError> {
    match read_if_exists(path)? {
        Some(text) => parse(path, &text).map(Some),
        None => Ok(None),
    }
}

/// The largest deploy.toml read (a real one is a few KB).
pub const MAX_DEPLOY_TOML_BYTES: u64 = 1024 * 1024;

/// The text of `path`, or `None` when the file does not exist. See [`read_deploy_toml`].
fn read_if_exists(path: &Path) -> Result<Option<String>, LoadError> {
    read_deploy_toml(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Read deploy.toml (or any file cargo-pmcp reads as configuration) only if it is a regular file
/// (a symlink to one is followed) of at most [`MAX_DEPLOY_TOML_BYTES`]: a FIFO would hang the
/// command and `/dev/zero` would fill memory. `Ok(None)` when it does not exist.
///
/// The file is opened without blocking (a FIFO swapped in after a check cannot stall the open),
/// then the open handle is checked, and at most the limit plus one byte is read.
pub fn read_deploy_toml(path: &Path) -> std::io::Result<Option<String>> {
    use std::io::Read;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = match options.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        let kind = file_kind(&meta);
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("it is {kind}, not a regular file"),
        ));
    }
    let too_large = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("it is larger than {MAX_DEPLOY_TOML_BYTES} bytes (1 MiB), the most read"),
        )
    };
    if meta.len() > MAX_DEPLOY_TOML_BYTES {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_DEPLOY_TOML_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_DEPLOY_TOML_BYTES {
        return Err(too_large());
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text"))
}

/// What a non-regular file is, in words.
fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if meta.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// Parse deploy.toml text and check the values every verb relies on (`[server] name`); `path` is
/// only used in error messages.
pub fn parse(path: &Path, text: &str) -> Result<DeployConfig, LoadError> {
    let config = toml::from_str::<DeployConfig>(text).map_err(|e| {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        LoadError::Parse {
            path: path.to_path_buf(),
            line,
            column,
            message: without_value(e.message(), e.span().and_then(|s| key_at(text, s.start))),
        }
    })?;
    check_values(path, text, &config)?;
    Ok(config)
}

/// serde's type errors quote the value (`invalid type: string "s3cr3t", expected u32`), and a
/// value in deploy.toml may be a secret pasted in the wrong place: say the key and the expected
/// type only. Other messages (syntax errors, unknown fields) are kept.
fn without_value(message: &str, key: Option<String>) -> String {
    let quotes_value = [
        "invalid type:",
        "invalid value:",
        "unknown variant",
        "invalid length",
    ]
    .iter()
    .any(|p| message.starts_with(p));
    if !quotes_value {
        return message.to_string();
    }
    let expected = message
        .rsplit_once(", expected ")
        .map(|(_, e)| e.trim_end_matches('.'))
        .unwrap_or("another type");
    match key {
        Some(k) => match keys::key_meaning(&k) {
            Some(meaning) => format!(
                "`{k}` has the wrong type or value: expected {expected}; `{k}` is {meaning}"
            ),
            None => format!("`{k}` has the wrong type or value: expected {expected}"),
        },
        None => format!("wrong type or value: expected {expected}"),
    }
}

/// The dotted key whose value spans byte `pos` of `text` (the innermost one), for messages.
fn key_at(text: &str, pos: usize) -> Option<String> {
    fn walk(table: &dyn toml_edit::TableLike, pos: usize, path: &mut Vec<String>) -> bool {
        for (k, item) in table.iter() {
            let Some(span) = item.span() else {
                // Tables written as `[a.b]` headers have no span of their own: look inside.
                if let Some(t) = item.as_table_like() {
                    path.push(k.to_string());
                    if walk(t, pos, path) {
                        return true;
                    }
                    path.pop();
                }
                continue;
            };
            if span.contains(&pos) || span.start == pos {
                path.push(k.to_string());
                if let Some(t) = item.as_table_like() {
                    walk(t, pos, path);
                }
                return true;
            }
            if let Some(t) = item.as_table_like() {
                path.push(k.to_string());
                if walk(t, pos, path) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let doc = toml_edit::Document::parse(text).ok()?;
    let mut path = Vec::new();
    walk(doc.as_table(), pos, &mut path).then(|| path.join("."))
}

/// The checks that do not depend on the verb: a `[server] name` names files (the artifact) and a
/// host, so one that is not a DNS label (`../../tmp/x`, `/abs`, non-ASCII) is refused here, for
/// `deploy`, `destroy`, `status`, `auth test` and `deploy init` alike.
fn check_values(path: &Path, text: &str, config: &DeployConfig) -> Result<(), LoadError> {
    let refuse = |keys: &[&str], why: String| {
        let at = locate(path, text, keys);
        let (line, column) = at.map(|l| (l.line, l.column)).unwrap_or((1, 1));
        Err(LoadError::Parse {
            path: path.to_path_buf(),
            line,
            column,
            message: format!("[{}] {why}", keys[..keys.len() - 1].join(".")),
        })
    };
    let t = &config.target;
    if let Some(r) = &t.region
        && let Err(why) = validate::validate_region(r)
    {
        return refuse(&["target", "region"], format!("region: {why}"));
    }
    if let Some(r) = &t.role_arn
        && let Err(why) = validate::validate_role_arn(r)
    {
        return refuse(&["target", "role_arn"], format!("role_arn: {why}"));
    }
    if let Some(m) = t.memory_mb
        && let Err(why) = validate::validate_memory_mb(m)
    {
        return refuse(&["target", "memory_mb"], format!("memory_mb: {why}"));
    }
    if let Some(s) = t.timeout_seconds
        && let Err(why) = validate::validate_timeout_seconds(s)
    {
        return refuse(
            &["target", "timeout_seconds"],
            format!("timeout_seconds: {why}"),
        );
    }
    if let Some(triple) = &t.triple
        && let Err(why) = validate::validate_triple(triple)
    {
        return refuse(&["target", "triple"], format!("triple: {why}"));
    }
    if let Some(name) = &config.server.name
        && let Err(why) = validate_server_name(name)
    {
        let at = locate(path, text, &["server", "name"]);
        let (line, column) = at.map(|l| (l.line, l.column)).unwrap_or((1, 1));
        return Err(LoadError::Parse {
            path: path.to_path_buf(),
            line,
            column,
            // Not the value itself: it is shown at that position in the file.
            message: format!("[server] name is not a valid server name: {why}"),
        });
    }
    Ok(())
}

/// A server name (`[server] name`, `--server-name`, `PMCP_SERVER_NAME`): a DNS label of lowercase
/// ASCII letters, digits and hyphens, 1–63 characters, not starting or ending with a hyphen. It
/// becomes a host name and a file name, so nothing else (no `/`, `.`, or non-ASCII letters) passes.
pub fn validate_server_name(v: &str) -> Result<String, String> {
    let ok = !v.is_empty()
        && v.len() <= 63
        && !v.starts_with('-')
        && !v.ends_with('-')
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(v.to_string())
    } else {
        Err("use lowercase letters, digits and hyphens (at most 63): it becomes a host name".into())
    }
}

/// 1-based line and column of byte offset `pos` in `text`.
pub fn line_col(text: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(text.len());
    let before = &text[..pos];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map(|i| pos - i).unwrap_or(pos + 1);
    (line, col)
}

/// A position in deploy.toml, shown as `path:line:column` (or `path:line` with [`Location::line_only`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file as the user would type it (e.g. `.pmcp/deploy.toml`).
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl Location {
    /// `path:line`, the form used in "this value came from" notes.
    pub fn line_only(&self) -> String {
        format!("{}:{}", self.path.display(), self.line)
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.path.display(), self.line, self.column)
    }
}

/// deploy.toml read and parsed once: the typed view, the document (values as written, with their
/// positions) and the unknown-key warnings. Lookups ([`Loaded::item`], [`Loaded::locate`]) use the
/// parsed document; nothing re-parses the text.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The path used in messages (as given to [`load_with_warnings`]).
    pub path: PathBuf,
    /// The file's text.
    pub text: String,
    /// The typed view.
    pub config: DeployConfig,
    /// The document as written (spans point into `text`).
    pub doc: toml_edit::Document<String>,
    /// Unknown keys inside tables cargo-pmcp owns (typo guard). Print each with `ui.warn`.
    pub warnings: Vec<ConfigWarning>,
}

impl Loaded {
    /// The item at `keys` (e.g. `["auth", "tenant_id"]`) as written, or `None` when absent.
    pub fn item(&self, keys: &[&str]) -> Option<&toml_edit::Item> {
        item_at(&self.doc, keys)
    }

    /// Where the value at `keys` (e.g. `["auth", "tenant_id"]`) is written, for error messages
    /// such as `.pmcp/deploy.toml:7: tenant_id is not a GUID`. `None` when the key is absent.
    pub fn locate(&self, keys: &[&str]) -> Option<Location> {
        let span = self.item(keys)?.span()?;
        let (line, column) = line_col(&self.text, span.start);
        Some(Location {
            path: self.path.clone(),
            line,
            column,
        })
    }
}

fn item_at<'d>(doc: &'d toml_edit::Document<String>, keys: &[&str]) -> Option<&'d toml_edit::Item> {
    let mut item = doc.as_item();
    for k in keys {
        item = item.as_table_like()?.get(k)?;
    }
    Some(item)
}

/// Read, parse and check `path`: the typed config plus warnings for unknown keys in our tables.
/// `Ok(None)` when the file does not exist. `deploy` and `deploy init` both read deploy.toml this way.
pub fn load_with_warnings(path: &Path) -> Result<Option<Loaded>, LoadError> {
    match read_if_exists(path)? {
        Some(text) => parse_with_warnings(path, text).map(Some),
        None => Ok(None),
    }
}

/// [`load_with_warnings`] on text already read.
pub fn parse_with_warnings(path: &Path, text: String) -> Result<Loaded, LoadError> {
    let config = parse(path, &text)?;
    // The typed parse above succeeded, so the document parses too.
    let doc = toml_edit::Document::parse(text.clone()).map_err(|e| {
        let (line, column) = e.span().map(|s| line_col(&text, s.start)).unwrap_or((1, 1));
        LoadError::Parse {
            path: path.to_path_buf(),
            line,
            column,
            message: e.message().trim().to_string(),
        }
    })?;
    let warnings = keys::unknown_keys_in(path, &text, &doc);
    Ok(Loaded {
        path: path.to_path_buf(),
        text,
        config,
        doc,
        warnings,
    })
}

/// Where the value at `keys` sits in `text` (1-based line and column of the value).
pub fn locate(path: &Path, text: &str, keys: &[&str]) -> Option<Location> {
    let doc = toml_edit::Document::parse(text).ok()?;
    let mut item = doc.as_item();
    for k in keys {
        item = item.as_table_like()?.get(k)?;
    }
    let span = item.span()?;
    let (line, column) = line_col(text, span.start);
    Some(Location {
        path: path.to_path_buf(),
        line,
        column,
    })
}

/// `path` as messages show it: relative to `cwd` when below it, else as it is.
pub fn shown(path: &Path, cwd: &Path) -> PathBuf {
    path.strip_prefix(cwd)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

/// The project root: the directory of `--manifest-path` when given, else the nearest directory at
/// or above `cwd` holding a Cargo.toml, else `cwd`. `.pmcp/` lives here.
pub fn project_root(manifest_path: Option<&Path>, cwd: &Path) -> PathBuf {
    if let Some(m) = manifest_path {
        let m = if m.is_absolute() {
            m.to_path_buf()
        } else {
            cwd.join(m)
        };
        return match m.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => cwd.to_path_buf(),
        };
    }
    cwd.ancestors()
        .find(|d| d.join("Cargo.toml").is_file())
        .unwrap_or(cwd)
        .to_path_buf()
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
    fn auth_enabled_defaults_to_true_only_when_the_section_exists() {
        let c = parse(Path::new("x"), "[auth]\nprovider = \"entra\"\n").unwrap();
        assert!(c.auth.enabled);
        let c = parse(Path::new("x"), "[target]\ntype = \"local\"\n").unwrap();
        assert!(!c.auth.enabled);
    }

    #[test]
    fn locate_points_at_the_value() {
        let text = "[auth]\n# c\ntenant_id = \"x\"\n";
        let loc = locate(Path::new(".pmcp/deploy.toml"), text, &["auth", "tenant_id"]).unwrap();
        assert_eq!((loc.line, loc.column), (3, 13));
        assert_eq!(loc.line_only(), ".pmcp/deploy.toml:3");
        assert!(locate(Path::new("x"), text, &["auth", "client_id"]).is_none());
    }

    #[test]
    fn a_server_name_that_is_not_a_dns_label_is_refused_at_its_line() {
        for bad in [
            "../../../../tmp/x",
            "/tmp/abs",
            "a/b",
            "café",
            "Upper",
            "-x",
            "",
        ] {
            let text = format!("[target]\ntype = \"local\"\n\n[server]\nname = {bad:?}\n");
            match parse(Path::new(".pmcp/deploy.toml"), &text) {
                Err(e @ LoadError::Parse { line: 5, .. }) => {
                    let m = e.to_string();
                    assert!(m.starts_with(".pmcp/deploy.toml:5:"), "{m}");
                    assert!(m.contains("[server] name"), "{m}");
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        assert!(parse(Path::new("x"), "[server]\nname = \"weather-2\"\n").is_ok());
    }

    #[test]
    fn a_type_error_names_the_key_and_type_but_not_the_value() {
        let text = "[server]\nname = \"ok\"\nmemory_mb = \"s3cr3t-value\"\n";
        let e = parse(Path::new(".pmcp/deploy.toml"), text)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("s3cr3t"), "{e}");
        assert!(e.starts_with(".pmcp/deploy.toml:3:"), "{e}");
        assert!(e.contains("`server.memory_mb`"), "{e}");
        assert!(e.contains("expected u32"), "{e}");
        let text = "[environment]\nAPI = 12345678\n";
        let e = parse(Path::new("d"), text).unwrap_err().to_string();
        assert!(!e.contains("12345678"), "{e}");
        assert!(
            e.contains("`environment.API`") && e.contains("a string"),
            "{e}"
        );
        let text = "[auth]\ntenant_id = [\"a-secret-in-a-list\"]\n";
        let e = parse(Path::new("d"), text).unwrap_err().to_string();
        assert!(!e.contains("a-secret-in-a-list"), "{e}");
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
