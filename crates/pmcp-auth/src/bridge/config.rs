//! The bridge's settings ([`BridgeConfig`]), read from the deploy contract
//! ([`BridgeConfig::from_lookup`]), and the client-name patterns ([`ClientPattern`]).

use std::sync::Arc;

use super::seal::{Sealer, parse_key};
use crate::clock::{Clock, SystemClock};
use crate::entra::{ConfigError, EntraConfig};
use crate::env;
use crate::secret::SecretString;

/// How long a sign-in may take from `GET /authorize` to Entra's callback. Defaults to 600 s.
pub const DEFAULT_TRANSACTION_TTL: u64 = 600;
/// How long the bridge's one-time code is valid. Defaults to 60 s.
pub const DEFAULT_CODE_TTL: u64 = 60;
/// How long the bridge's refresh token is valid (Entra's own refresh tokens live 90 days).
pub const DEFAULT_REFRESH_TTL: u64 = 90 * 24 * 3600;

/// A `public_client_patterns` entry: which `client_name` may register.
///
/// The match is case-insensitive, and `-`, `_` and a space count as the same character (so the
/// default pattern `mcp-inspector` matches MCP Inspector's `MCP Inspector`). A pattern with `*` is a glob over the whole name (`*` matches any
/// run of characters, including none: `claude*` matches `Claude Code` but not `My Claude`); a
/// pattern without `*` matches anywhere in the name (`cursor` matches `Cursor`, `cursor-vscode`,
/// `My Cursor`). `*` alone accepts every name. No pattern, no registration.
///
/// ```
/// use pmcp_auth::bridge::ClientPattern;
///
/// assert!(ClientPattern::new("claude").matches("Claude Code"));
/// assert!(ClientPattern::new("mcp-inspector").matches("MCP Inspector"));
/// assert!(ClientPattern::new("claude*").matches("claude.ai"));
/// assert!(!ClientPattern::new("claude*").matches("Not Claude"));
/// assert!(!ClientPattern::new("cursor").matches("Evil Corp"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientPattern(String);

impl ClientPattern {
    /// A pattern (trimmed, normalized as the type's docs say).
    pub fn new(pattern: &str) -> Self {
        Self(normalize(pattern.trim()))
    }

    /// True when `name` matches (see the type's docs).
    pub fn matches(&self, name: &str) -> bool {
        let name = normalize(name);
        if self.0.is_empty() {
            return false;
        }
        if !self.0.contains('*') {
            return name.contains(&self.0);
        }
        glob(&self.0, &name)
    }
}

/// Lowercase, with `-` and `_` read as a space.
fn normalize(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .map(|c| if c == '-' || c == '_' { ' ' } else { c })
        .collect()
}

/// `*`-only glob, iterative with one backtrack point: linear-ish, no recursion, so a hostile name
/// cannot blow the stack or take exponential time. (No kept crate does a glob over a plain string;
/// `*` is the only wildcard the patterns need.)
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Everything the bridge needs. Build it with [`BridgeConfig::from_lookup`] (what
/// [`AuthLayer::from_env`](crate::middleware::AuthLayer::from_env) does when `AUTH_DCR_ENABLED=true`)
/// or [`BridgeConfig::new`].
#[derive(Clone)]
pub struct BridgeConfig {
    pub(crate) entra: EntraConfig,
    pub(crate) client_secret: Option<SecretString>,
    pub(crate) patterns: Vec<ClientPattern>,
    pub(crate) scopes: Vec<String>,
    pub(crate) upstream_scope: String,
    pub(crate) sealer: Arc<Sealer>,
    pub(crate) cimd_allow_loopback: bool,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) transaction_ttl: u64,
    pub(crate) code_ttl: u64,
}

impl std::fmt::Debug for BridgeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgeConfig")
            .field("entra_client_id", &self.entra.client_id)
            .field("patterns", &self.patterns)
            .field("scopes", &self.scopes)
            .field("upstream_scope", &self.upstream_scope)
            .field("sealer", &self.sealer)
            .field("cimd_allow_loopback", &self.cimd_allow_loopback)
            .finish_non_exhaustive()
    }
}

/// The scopes advertised when `AUTH_DCR_DEFAULT_SCOPES` is unset.
const DEFAULT_SCOPES: &[&str] = &["openid", "profile", "offline_access"];

impl BridgeConfig {
    /// A bridge in front of `entra` (whose `client_id` is the server's own app registration),
    /// confidential with `client_secret` (without one, sign-ins stop at the consent page with an
    /// error, see [`BridgeConfig::warning`]), sealing with `sealing_key` (32 bytes). Patterns empty
    /// (no client may register until [`BridgeConfig::public_client_patterns`] adds some), scopes
    /// `openid profile offline_access`, upstream scope `api://{client_id}/access_as_user`.
    pub fn new(
        entra: EntraConfig,
        client_secret: Option<SecretString>,
        sealing_key: &[u8; 32],
    ) -> Self {
        let upstream_scope = format!("api://{}/access_as_user", entra.client_id);
        Self {
            entra,
            client_secret,
            patterns: Vec::new(),
            scopes: DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
            upstream_scope,
            sealer: Arc::new(Sealer::new(sealing_key, None)),
            cimd_allow_loopback: false,
            clock: Arc::new(SystemClock),
            transaction_ttl: DEFAULT_TRANSACTION_TTL,
            code_ttl: DEFAULT_CODE_TTL,
        }
    }

    /// Read the bridge's variables: `ENTRA_CLIENT_SECRET` (the bridge redeems Entra's codes as a
    /// confidential client; without it the server starts, registration works, and sign-ins fail
    /// with a page saying why: see [`BridgeConfig::warning`]), `AUTH_DCR_SEALING_KEY` (required)
    /// and
    /// `AUTH_DCR_SEALING_KEY_PREVIOUS`, `AUTH_DCR_PUBLIC_CLIENT_PATTERNS` (comma separated),
    /// `AUTH_DCR_DEFAULT_SCOPES` (space separated; `offline_access` is always offered),
    /// `AUTH_DCR_UPSTREAM_SCOPE`, `AUTH_DCR_CIMD_ALLOW_LOOPBACK`.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        entra: &EntraConfig,
    ) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let client_secret = entra.client_secret.clone();
        let key = get(env::AUTH_DCR_SEALING_KEY).ok_or(ConfigError::Required {
            name: env::AUTH_DCR_SEALING_KEY,
            why: "AUTH_DCR_ENABLED=true: the OAuth bridge seals registered clients and sign-ins with it (32 random bytes, base64: `openssl rand -base64 32`)",
        })?;
        let key = parse_key(&SecretString::new(key)).map_err(|detail| ConfigError::Invalid {
            name: env::AUTH_DCR_SEALING_KEY,
            detail,
        })?;
        let previous =
            match get(env::AUTH_DCR_SEALING_KEY_PREVIOUS) {
                Some(p) => Some(parse_key(&SecretString::new(p)).map_err(|detail| {
                    ConfigError::Invalid {
                        name: env::AUTH_DCR_SEALING_KEY_PREVIOUS,
                        detail,
                    }
                })?),
                None => None,
            };
        let mut config = Self::new(entra.clone(), client_secret, &key);
        config.sealer = Arc::new(Sealer::new(&key, previous.as_ref()));
        if let Some(p) = get(env::AUTH_DCR_PUBLIC_CLIENT_PATTERNS) {
            config.patterns = p
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(ClientPattern::new)
                .collect();
        }
        if let Some(s) = get(env::AUTH_DCR_DEFAULT_SCOPES) {
            config = config.scopes(s.split_whitespace().map(str::to_string).collect());
        }
        if let Some(s) = get(env::AUTH_DCR_UPSTREAM_SCOPE) {
            config.upstream_scope = s.trim().to_string();
        }
        if let Some(v) = get(env::AUTH_DCR_CIMD_ALLOW_LOOPBACK) {
            config.cimd_allow_loopback = match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => {
                    return Err(ConfigError::Invalid {
                        name: env::AUTH_DCR_CIMD_ALLOW_LOOPBACK,
                        detail: "expected `true` or `false`".into(),
                    });
                }
            };
        }
        Ok(config)
    }

    /// Which client names may register (see [`ClientPattern`]).
    pub fn public_client_patterns(mut self, patterns: Vec<ClientPattern>) -> Self {
        self.patterns = patterns;
        self
    }

    /// The scopes advertised to MCP clients (`scopes_supported`, the challenge's `scope`);
    /// `offline_access` is added when missing, so clients ask for a refresh token.
    pub fn scopes(mut self, mut scopes: Vec<String>) -> Self {
        if !scopes.iter().any(|s| s == "offline_access") {
            scopes.push("offline_access".into());
        }
        self.scopes = scopes;
        self
    }

    /// The scope asked of Entra for the API (default `api://{client_id}/access_as_user`).
    pub fn upstream_scope(mut self, scope: &str) -> Self {
        self.upstream_scope = scope.to_string();
        self
    }

    /// Accept the previous sealing key for unsealing (rotation).
    pub fn previous_sealing_key(mut self, current: &[u8; 32], previous: &[u8; 32]) -> Self {
        self.sealer = Arc::new(Sealer::new(current, Some(previous)));
        self
    }

    /// Development only: allow client ID metadata documents on loopback addresses (and over http
    /// to a loopback host). Defaults to false.
    pub fn cimd_allow_loopback(mut self, allow: bool) -> Self {
        self.cimd_allow_loopback = allow;
        self
    }

    /// The clock for expiries (tests use a [`ManualClock`](crate::ManualClock)). Defaults to the
    /// system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// What is missing for sign-ins to work, for the server's start-up log: today only the
    /// client credential (`ENTRA_CLIENT_SECRET`). `None` when nothing is.
    pub fn warning(&self) -> Option<String> {
        self.client_secret.is_none().then(|| {
            format!(
                "AUTH_DCR_ENABLED=true but {} is not set: MCP clients can register, but every sign-in will stop at the consent page (the bridge redeems Entra's codes as the server's confidential app)",
                env::ENTRA_CLIENT_SECRET
            )
        })
    }

    /// The scopes advertised to MCP clients.
    pub fn advertised_scopes(&self) -> &[String] {
        &self.scopes
    }

    pub(crate) fn now(&self) -> u64 {
        self.clock.now_unix()
    }

    /// The scope sent to Entra.
    pub(crate) fn upstream_scope_param(&self) -> String {
        format!("{} openid profile offline_access", self.upstream_scope)
    }

    pub(crate) fn name_allowed(&self, name: &str) -> bool {
        self.patterns.iter().any(|p| p.matches(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let p = ClientPattern::new;
        assert!(p("claude").matches("Claude Code"));
        assert!(p("CLAUDE").matches("my claude"));
        assert!(p("mcp-inspector").matches("MCP Inspector"));
        assert!(p("mcp inspector").matches("mcp_inspector"));
        assert!(!p("mcp-inspector").matches("MCPInspector"));
        assert!(p("*").matches("anything"));
        assert!(p("*").matches(""));
        assert!(p("claude*").matches("claude"));
        assert!(p("*inspector").matches("MCP Inspector"));
        assert!(!p("*inspector").matches("MCP Inspector 2"));
        assert!(p("mcp*inspector").matches("MCP Inspector"));
        assert!(p("a*b*c").matches("aXXbYYc"));
        assert!(!p("a*b*c").matches("aXXbYY"));
        assert!(!p("").matches("x"));
        assert!(!p("  ").matches("x"));
        assert!(!p("cursor").matches("Evil"));
        // Unicode names are compared as text, never panic.
        assert!(p("Ünïcode").matches("my ÜNÏCODE client"));
        assert!(p("*😀*").matches("a😀b"));
        // A hostile pattern/name pair stays fast.
        let name = "a".repeat(2000);
        assert!(!p("*a*a*a*a*a*a*a*b").matches(&name));
    }

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |n| {
            vars.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn from_the_contract() {
        let mut entra = EntraConfig::new("t", "6f1e2d3c-4b5a-4987-8c6d-5e4f3a2b1c03");
        let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let no_secret =
            BridgeConfig::from_lookup(lookup(&[("AUTH_DCR_SEALING_KEY", key)]), &entra).unwrap();
        assert!(no_secret.warning().unwrap().contains("ENTRA_CLIENT_SECRET"));
        entra.client_secret = Some(SecretString::new("s3cret"));
        let err = BridgeConfig::from_lookup(lookup(&[]), &entra).unwrap_err();
        assert!(
            err.to_string().contains("AUTH_DCR_SEALING_KEY")
                && err.to_string().contains("openssl rand -base64 32"),
            "{err}"
        );
        let err =
            BridgeConfig::from_lookup(lookup(&[("AUTH_DCR_SEALING_KEY", "c2hvcnQ=")]), &entra)
                .unwrap_err();
        assert!(err.to_string().contains("5 bytes"), "{err}");
        assert!(!err.to_string().contains("c2hvcnQ"), "{err}");
        let c = BridgeConfig::from_lookup(
            lookup(&[
                ("AUTH_DCR_SEALING_KEY", key),
                ("AUTH_DCR_PUBLIC_CLIENT_PATTERNS", "claude, cursor,,"),
                ("AUTH_DCR_DEFAULT_SCOPES", "openid email profile"),
            ]),
            &entra,
        )
        .unwrap();
        assert_eq!(c.patterns.len(), 2);
        assert!(c.name_allowed("Cursor"));
        assert_eq!(c.scopes, ["openid", "email", "profile", "offline_access"]);
        assert_eq!(
            c.upstream_scope_param(),
            "api://6f1e2d3c-4b5a-4987-8c6d-5e4f3a2b1c03/access_as_user openid profile offline_access"
        );
        assert!(!format!("{c:?}").contains("s3cret"));
        assert!(c.warning().is_none());
    }
}
