//! `JwtValidatorConfig` (plain data, safe defaults) and `JwtValidator`, which checks a bearer token
//! against the rules in `docs/validator.md`: algorithm allow-list fixed by configuration, keys from
//! the issuer's JWK set (cached, see [`super::jwks`]), issuer from OpenID discovery, audience,
//! lifetime with our own clock, strict claims JSON, and Entra's tenant and version rules.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use super::b64;
use super::claims::{
    ClaimsView, EntraClaims, Field, HeaderView, PackedClaims, StrictJsonError, parse_claims_view,
    parse_header_view, parse_object_strict,
};
use super::clock::{Clock, SystemClock};
use super::discovery::{self, FetchLimits, check_url, discovery_url_for_issuer};
use super::entra::{ConfigError, EntraConfig, is_guid};
use super::env;
use super::error::AuthError;
use super::jwks::{JwkSet, KeyCache, KeyCacheStatus, Snapshot, VerificationKey};
use super::token_cache::{Entry, Keyed, MAX_CACHED_TOKEN_BYTES, TokenCache};

/// Placeholder Entra puts in multi-tenant issuers; replaced by the token's `tid`.
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// Audiences of Microsoft Graph (all clouds). A token for one of them was requested for Graph.
pub const GRAPH_AUDIENCES: &[&str] = &[
    "00000003-0000-0000-c000-000000000000",
    "https://graph.microsoft.com",
    "https://graph.microsoft.com/",
    "https://graph.microsoft.us",
    "https://graph.microsoft.us/",
    "https://dod-graph.microsoft.us",
    "https://dod-graph.microsoft.us/",
    "https://microsoftgraph.chinacloudapi.cn",
    "https://microsoftgraph.chinacloudapi.cn/",
];

/// Default of [`JwtValidatorConfig::verified_token_cache_entries`].
pub const DEFAULT_VERIFIED_TOKEN_CACHE_ENTRIES: usize = 10_000;

/// Tenants that mean "any organisation" in an Entra authority URL.
const MULTI_TENANT_ALIASES: &[&str] = &["common", "organizations", "consumers"];

/// How the validator checks tokens. Plain data: build it with a constructor, adjust fields, pass
/// it to [`JwtValidator::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtValidatorConfig {
    /// Apply Entra ID's rules: `tid` (a GUID that appears in `iss`), `{tenantid}` issuers, key
    /// issuers, v1.0 handling, Microsoft Graph hints. Defaults to `true` from the Entra
    /// constructors, `false` from [`JwtValidatorConfig::from_oidc_issuer`].
    pub entra: bool,
    /// OpenID discovery URL; the expected issuer and the JWKS URI come from this document.
    /// Defaults to the authority's v2.0 document (Entra) or `{issuer}/.well-known/openid-configuration`.
    pub discovery_url: Option<String>,
    /// Entra v1.0 discovery URL, read only when `accept_v1` is true (it gives the v1 issuer).
    /// Defaults to the authority's v1.0 document.
    pub discovery_url_v1: Option<String>,
    /// Expected issuer. With `discovery_url` the document's issuer must equal it; without, it is
    /// the expected issuer (and `jwks_uri` is required). Defaults to `None` for Entra (discovery
    /// decides) and to the given issuer for OIDC.
    pub issuer: Option<String>,
    /// JWK set URL; when set it is used instead of the discovery document's. Defaults to `None`.
    pub jwks_uri: Option<String>,
    /// Accepted `aud` values. Defaults to `[client_id]` (Entra) or `[audience]` (OIDC).
    pub audiences: Vec<String>,
    /// The API's client id (Entra): with v1 tokens `api://<client_id>` is accepted too, and hints
    /// name it. Defaults to the Entra client id, `None` for OIDC.
    pub client_id: Option<String>,
    /// Allowed signature algorithms, asymmetric only (HS* and `none` are always rejected).
    /// Defaults to `[RS256]`.
    pub algorithms: Vec<Algorithm>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds. Defaults to 300.
    pub leeway_seconds: u64,
    /// Accept Entra v1.0 access tokens. Defaults to `false` (they are rejected with `v1_token`).
    pub accept_v1: bool,
    /// Accept tokens from any tenant (Entra `{tenantid}` issuer), subject to `allowed_tenants`.
    /// Defaults to `true` only when the tenant is `common`/`organizations` or from
    /// [`JwtValidatorConfig::from_entra_multitenant`].
    pub multi_tenant: bool,
    /// Tenant GUIDs allowed when multi-tenant; empty means any tenant. Defaults to empty.
    pub allowed_tenants: Vec<String>,
    /// Scheduled key refresh (done in the background; cached keys keep serving). Defaults to 12 h.
    pub refresh_interval: Duration,
    /// An unknown `kid` triggers a refresh at most this often. Defaults to 5 min.
    pub unknown_kid_refresh_interval: Duration,
    /// After a failed refresh, wait this long before the next attempt. Defaults to 10 s.
    pub retry_after_failure: Duration,
    /// Timeout of each discovery or JWKS request. Defaults to 5 s.
    pub http_timeout: Duration,
    /// Largest discovery or JWKS response accepted, in bytes. Defaults to 1 MiB.
    pub max_response_bytes: usize,
    /// Largest token accepted, in bytes. Defaults to 64 KiB.
    pub max_token_bytes: usize,
    /// How many verified tokens to remember, so that a token sent again (an MCP host sends the same
    /// one on every request until it expires) is accepted without another signature verification.
    /// A remembered token is still checked on every use: `exp` and `nbf` against the clock with
    /// `leeway_seconds`, and its key set must be the current one (after a key refresh it is
    /// verified again). Only tokens that passed every check are remembered, the whole token is
    /// compared (in constant time), and tokens over 8 KiB are not remembered; see
    /// `docs/validator.md`. `0` turns the cache off. Defaults to 10,000.
    pub verified_token_cache_entries: usize,
}

impl Default for JwtValidatorConfig {
    fn default() -> Self {
        Self {
            entra: false,
            discovery_url: None,
            discovery_url_v1: None,
            issuer: None,
            jwks_uri: None,
            audiences: Vec::new(),
            client_id: None,
            algorithms: vec![Algorithm::RS256],
            leeway_seconds: 300,
            accept_v1: false,
            multi_tenant: false,
            allowed_tenants: Vec::new(),
            refresh_interval: Duration::from_secs(12 * 3600),
            unknown_kid_refresh_interval: Duration::from_secs(300),
            retry_after_failure: Duration::from_secs(10),
            http_timeout: Duration::from_secs(5),
            max_response_bytes: 1024 * 1024,
            max_token_bytes: 64 * 1024,
            verified_token_cache_entries: DEFAULT_VERIFIED_TOKEN_CACHE_ENTRIES,
        }
    }
}

impl JwtValidatorConfig {
    /// Validate Entra ID access tokens for the API `entra.client_id` issued by `entra.tenant_id`'s
    /// authority (a `common`/`organizations` tenant makes it multi-tenant).
    pub fn from_entra(entra: &EntraConfig) -> Self {
        Self {
            entra: true,
            discovery_url: Some(entra.discovery_url()),
            discovery_url_v1: Some(entra.discovery_url_v1()),
            audiences: vec![entra.client_id.clone()],
            client_id: Some(entra.client_id.clone()),
            multi_tenant: is_multi_tenant_alias(&entra.tenant_id),
            ..Self::default()
        }
    }

    /// Multi-tenant Entra: tokens from any tenant (or only `allowed_tenants`, when not empty) for
    /// the API `entra.client_id`. Discovery uses the authority's `organizations` endpoint unless
    /// `entra.tenant_id` is already `common`/`organizations`/`consumers`.
    pub fn from_entra_multitenant(entra: &EntraConfig, allowed_tenants: Vec<String>) -> Self {
        let tenant = if is_multi_tenant_alias(&entra.tenant_id) {
            entra.tenant_id.trim().to_ascii_lowercase()
        } else {
            "organizations".to_string()
        };
        let mut multi = entra.clone();
        multi.tenant_id = tenant;
        Self {
            multi_tenant: true,
            allowed_tenants: allowed_tenants
                .into_iter()
                .map(|t| t.trim().to_ascii_lowercase())
                .filter(|t| !t.is_empty())
                .collect(),
            ..Self::from_entra(&multi)
        }
    }

    /// Any OpenID Connect provider: discovery at `{issuer}/.well-known/openid-configuration`,
    /// whose `issuer` must equal `issuer`; tokens must carry `audience`.
    pub fn from_oidc_issuer(issuer: &str, audience: &str) -> Self {
        let issuer = issuer.trim().to_string();
        Self {
            discovery_url: Some(discovery_url_for_issuer(&issuer)),
            issuer: Some(issuer),
            audiences: vec![audience.trim().to_string()],
            ..Self::default()
        }
    }

    /// Read the environment contract `cargo pmcp deploy` sets on the server (see [`super::env`]).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`JwtValidatorConfig::from_env`] over any variable source (tests, config maps).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let provider = get(env::AUTH_PROVIDER).map(|p| p.trim().to_ascii_lowercase());
        let has_entra = get(env::ENTRA_TENANT_ID).is_some() || get(env::AZURE_TENANT_ID).is_some();
        let mut config = match provider.as_deref() {
            Some("none") => {
                return Err(ConfigError::Invalid {
                    name: env::AUTH_PROVIDER,
                    detail:
                        "is `none`: authentication is disabled, so there is nothing to validate"
                            .into(),
                });
            }
            Some("entra") | None if has_entra || provider.is_some() => {
                let entra = EntraConfig::from_lookup(get)?;
                let multi = match get(env::AUTH_MULTI_TENANT) {
                    Some(v) => parse_bool(env::AUTH_MULTI_TENANT, &v)?,
                    None => false,
                };
                let allowed = get(env::AUTH_ALLOWED_TENANTS)
                    .map(|v| split_list(&v))
                    .unwrap_or_default();
                for t in &allowed {
                    if !is_guid(t) {
                        return Err(ConfigError::Invalid {
                            name: env::AUTH_ALLOWED_TENANTS,
                            detail: format!("`{t}` is not a tenant GUID"),
                        });
                    }
                }
                if multi {
                    Self::from_entra_multitenant(&entra, allowed)
                } else {
                    let mut c = Self::from_entra(&entra);
                    if !allowed.is_empty() {
                        c.allowed_tenants = allowed;
                    }
                    c
                }
            }
            Some("oidc") | None => {
                let issuer = get(env::AUTH_ISSUER).ok_or(ConfigError::Missing {
                    name: env::AUTH_ISSUER,
                    fallback: env::ENTRA_TENANT_ID,
                })?;
                let audience = get(env::AUTH_AUDIENCE).ok_or(ConfigError::Missing {
                    name: env::AUTH_AUDIENCE,
                    fallback: env::ENTRA_CLIENT_ID,
                })?;
                let mut c = Self::from_oidc_issuer(&issuer, &audience);
                if get(env::AUTH_JWKS_URI).is_some() {
                    // Issuer and keys are both given: no discovery needed.
                    c.discovery_url = None;
                }
                c
            }
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: env::AUTH_PROVIDER,
                    detail: format!("`{other}` is not one of entra, oidc, none"),
                });
            }
        };
        if let Some(v) = get(env::AUTH_ISSUER) {
            config.issuer = Some(v.trim().to_string());
        }
        if let Some(v) = get(env::AUTH_JWKS_URI) {
            check_url(v.trim()).map_err(|detail| ConfigError::Invalid {
                name: env::AUTH_JWKS_URI,
                detail,
            })?;
            config.jwks_uri = Some(v.trim().to_string());
        }
        if let Some(v) = get(env::AUTH_AUDIENCE) {
            config.audiences = split_list(&v);
        }
        if let Some(v) = get(env::AUTH_LEEWAY_SECONDS) {
            config.leeway_seconds = v.trim().parse().map_err(|_| ConfigError::Invalid {
                name: env::AUTH_LEEWAY_SECONDS,
                detail: format!("`{v}` is not a whole number of seconds"),
            })?;
        }
        if let Some(v) = get(env::AUTH_ACCEPT_V1_TOKENS) {
            config.accept_v1 = parse_bool(env::AUTH_ACCEPT_V1_TOKENS, &v)?;
        }
        if config.issuer.is_some() && config.discovery_url.is_none() && config.jwks_uri.is_none() {
            return Err(ConfigError::Required {
                name: env::AUTH_JWKS_URI,
                why: "without a discovery document the signing keys' URL must be given",
            });
        }
        Ok(config)
    }

    /// Problems that would make every token fail, found before any network call.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.audiences.iter().all(|a| a.trim().is_empty()) {
            return Err(ConfigError::Invalid {
                name: env::AUTH_AUDIENCE,
                detail: "no audience is configured".into(),
            });
        }
        if self.algorithms.is_empty() {
            return Err(ConfigError::Invalid {
                name: "algorithms",
                detail: "no algorithm is allowed".into(),
            });
        }
        if let Some(a) = self.algorithms.iter().find(|a| is_symmetric(**a)) {
            return Err(ConfigError::Invalid {
                name: "algorithms",
                detail: format!("{a:?} is symmetric; only asymmetric algorithms are accepted"),
            });
        }
        for (name, url) in [
            ("discovery_url", &self.discovery_url),
            ("discovery_url_v1", &self.discovery_url_v1),
            (env::AUTH_JWKS_URI, &self.jwks_uri),
        ] {
            if let Some(u) = url {
                check_url(u).map_err(|detail| ConfigError::Invalid { name, detail })?;
            }
        }
        if self.discovery_url.is_none() && (self.issuer.is_none() || self.jwks_uri.is_none()) {
            return Err(ConfigError::Invalid {
                name: env::AUTH_ISSUER,
                detail: "without a discovery URL both an issuer and a JWKS URI are required".into(),
            });
        }
        Ok(())
    }
}

/// True when `tenant` is `common`, `organizations` or `consumers` (any case, trimmed).
fn is_multi_tenant_alias(tenant: &str) -> bool {
    MULTI_TENANT_ALIASES
        .iter()
        .any(|a| a.eq_ignore_ascii_case(tenant.trim()))
}

fn split_list(v: &str) -> Vec<String> {
    v.split([',', ' '])
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn parse_bool(name: &'static str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::Invalid {
            name,
            detail: format!("`{v}` is not true or false"),
        }),
    }
}

fn is_symmetric(a: Algorithm) -> bool {
    matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

/// Checks bearer tokens. Cheap to clone (one `Arc`); share one per process so the key cache is
/// shared. `Send + Sync`.
#[derive(Clone)]
pub struct JwtValidator {
    inner: Arc<Inner>,
}

struct Inner {
    config: JwtValidatorConfig,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
    cache: KeyCache,
    /// Tokens that passed every check (`None` when `verified_token_cache_entries` is 0).
    tokens: Option<TokenCache<Verified>>,
    /// The header of the last token read in full whose signature verified (see [`HeaderMemo`]).
    header: ArcSwapOption<HeaderMemo>,
}

/// A token header, as sent (base64url), that passed the header checks, and what they gave. An
/// issuer signs its tokens with one key at a time, so nearly every token repeats the previous
/// header byte for byte; the header rules depend only on those bytes and the configuration, so
/// the same bytes get the same verdict without decoding and reading them again. Only the header
/// of a token whose signature verified is kept (so failing tokens cannot churn it), and errors
/// (and their order) are exactly those of a full read.
struct HeaderMemo {
    encoded: Box<str>,
    alg: Algorithm,
    kid: Arc<str>,
}

/// What a remembered token's validation returned, with the token.
// Each entry is an allocation of its own (an `Arc`): boxing the common variant to shrink the rare
// one would add an allocation to every miss.
#[allow(clippy::large_enum_variant)]
enum Verified {
    /// From [`JwtValidator::validate`], packed with the token (see [`PackedClaims`]).
    Entra(PackedClaims),
    /// From [`JwtValidator::validate_generic`].
    Generic {
        token: Box<str>,
        claims: Map<String, Value>,
    },
}

impl Keyed for Verified {
    fn token(&self) -> &str {
        match self {
            Verified::Entra(packed) => packed.key(),
            Verified::Generic { token, .. } => token,
        }
    }
}

/// The verified-token cache's state: how many tokens it holds and at most may hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedTokenCacheStatus {
    /// Tokens remembered now.
    pub entries: usize,
    /// The most it holds (the configured size, rounded down to whole sets of slots).
    pub capacity: usize,
}

impl std::fmt::Debug for JwtValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtValidator")
            .field("config", &self.inner.config)
            .field("clock", &self.inner.clock)
            .finish_non_exhaustive()
    }
}

/// A token whose shape and header passed, with its payload decoded; the claims are not read yet.
struct Head<'t> {
    alg: Algorithm,
    kid: Arc<str>,
    /// The header as sent, when it was read (not the remembered one): remembered once the
    /// signature verifies.
    header_read: Option<&'t str>,
    signing_input: &'t str,
    signature: &'t str,
    payload: Vec<u8>,
}

/// What the header checks read, from either JSON reader.
struct HeaderFacts<'a> {
    alg: Text<'a>,
    crit: bool,
    kid: Option<&'a str>,
    nonce: bool,
}

impl<'a> HeaderFacts<'a> {
    fn from_map(header: &'a Map<String, Value>) -> Self {
        Self {
            alg: Text::of_json(header.get("alg")),
            crit: header.contains_key("crit"),
            kid: match header.get("kid") {
                Some(Value::String(k)) if !k.is_empty() => Some(k.as_str()),
                _ => None,
            },
            nonce: header.contains_key("nonce"),
        }
    }

    fn from_view(header: &'a HeaderView<'_>) -> Self {
        Self {
            alg: Text::of_field(&header.alg),
            crit: header.crit.is_present(),
            kid: header.kid.as_str().filter(|k| !k.is_empty()),
            nonce: header.nonce.is_present(),
        }
    }
}

/// A member that must be a string.
#[derive(Clone, Copy)]
enum Text<'a> {
    Missing,
    NotString,
    Str(&'a str),
}

impl<'a> Text<'a> {
    fn of_json(v: Option<&'a Value>) -> Self {
        match v {
            Some(Value::String(s)) => Text::Str(s),
            Some(_) => Text::NotString,
            None => Text::Missing,
        }
    }

    fn of_field(f: &'a Field<'_>) -> Self {
        match f {
            Field::Str(s) => Text::Str(s),
            Field::Absent => Text::Missing,
            _ => Text::NotString,
        }
    }

    /// The string, or the error the validator has always given for `claim`.
    fn require(self, claim: &str) -> Result<&'a str, AuthError> {
        match self {
            Text::Str(s) => Ok(s),
            Text::NotString => Err(malformed(format!("`{claim}` is not a string"))),
            Text::Missing => Err(missing(claim)),
        }
    }
}

/// `aud`, from either JSON reader.
#[derive(Clone, Copy)]
enum Audience<'a> {
    Json(&'a Value),
    One(&'a str),
    List(&'a [Cow<'a, str>]),
}

impl<'a> Audience<'a> {
    /// The string values (non-strings in an array are not audiences).
    fn any(self, mut f: impl FnMut(&str) -> bool) -> bool {
        match self {
            Audience::Json(Value::String(s)) => f(s),
            Audience::One(s) => f(s),
            Audience::Json(Value::Array(items)) => items.iter().filter_map(Value::as_str).any(f),
            Audience::Json(_) => false,
            Audience::List(items) => items.iter().any(|s| f(s)),
        }
    }

    /// How errors show it.
    fn display(self) -> String {
        match self {
            Audience::Json(v) => display_json(v),
            Audience::One(s) => s.to_string(),
            Audience::List(items) => items.join(", "),
        }
    }
}

/// What the claim checks read, from either JSON reader. Time claims are read up front, so their
/// errors are kept to be returned in the checks' order.
struct Facts<'a> {
    exp: Result<Option<u64>, AuthError>,
    nbf: Result<Option<u64>, AuthError>,
    iss: Text<'a>,
    tid: Text<'a>,
    ver_1_0: bool,
    aud: Option<Audience<'a>>,
}

impl<'a> Facts<'a> {
    fn from_map(claims: &'a Map<String, Value>) -> Self {
        Self {
            exp: time_claim(claims, "exp"),
            nbf: time_claim(claims, "nbf"),
            iss: Text::of_json(claims.get("iss")),
            tid: Text::of_json(claims.get("tid")),
            ver_1_0: claims.get("ver").and_then(Value::as_str) == Some("1.0"),
            aud: claims.get("aud").map(Audience::Json),
        }
    }

    /// For a view that [`ClaimsView::is_plain`]: times are absent or whole numbers, `aud` is
    /// absent, a string or strings.
    fn from_view(claims: &'a ClaimsView<'_>) -> Self {
        let time = |f: &Field| match f {
            Field::U64(v) => Ok(Some(*v)),
            _ => Ok(None),
        };
        Self {
            exp: time(&claims.exp),
            nbf: time(&claims.nbf),
            iss: Text::of_field(&claims.iss),
            tid: Text::of_field(&claims.tid),
            ver_1_0: claims.ver.as_str() == Some("1.0"),
            aud: match &claims.aud {
                Field::Str(s) => Some(Audience::One(s)),
                Field::Strs(items) => Some(Audience::List(items)),
                _ => None,
            },
        }
    }
}

/// The token without surrounding whitespace and without a `Bearer ` prefix: what is validated,
/// and the verified-token cache's key.
fn bare_token(token: &str) -> &str {
    let token = token.trim();
    token
        .strip_prefix("Bearer ")
        .or_else(|| token.strip_prefix("bearer "))
        .unwrap_or(token)
}

/// Largest signature decoded: RSA-8192's 1024 bytes, the longest any accepted key makes. A longer
/// one cannot verify with any key, so it fails like any bad signature.
const MAX_SIGNATURE_BYTES: usize = 1024;

impl JwtValidator {
    /// A validator with the system clock and its own HTTP client. Nothing is fetched until the
    /// first validation (or [`JwtValidator::refresh`]).
    pub fn new(config: JwtValidatorConfig) -> Self {
        Self::with_parts(config, Arc::new(SystemClock), None)
    }

    /// Replace the clock (tests, simulations). Call before sharing the validator: the returned
    /// validator has a fresh key cache.
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        Self::with_parts(
            self.inner.config.clone(),
            clock,
            Some(self.inner.http.clone()),
        )
    }

    /// Use this HTTP client for discovery and JWKS fetches (proxies, custom roots). The
    /// https-except-loopback rule and the size cap still apply; set its timeout yourself.
    pub fn with_http_client(self, client: reqwest::Client) -> Self {
        Self::with_parts(
            self.inner.config.clone(),
            self.inner.clock.clone(),
            Some(client),
        )
    }

    fn with_parts(
        config: JwtValidatorConfig,
        clock: Arc<dyn Clock>,
        http: Option<reqwest::Client>,
    ) -> Self {
        let http = http.unwrap_or_else(|| discovery::metadata_client(config.http_timeout));
        let tokens = TokenCache::new(config.verified_token_cache_entries);
        Self {
            inner: Arc::new(Inner {
                config,
                clock,
                http,
                cache: KeyCache::new(),
                tokens,
                header: ArcSwapOption::empty(),
            }),
        }
    }

    /// The configuration this validator enforces.
    pub fn config(&self) -> &JwtValidatorConfig {
        &self.inner.config
    }

    /// Validate an Entra ID access token and return its claims.
    pub async fn validate(&self, token: &str) -> Result<EntraClaims, AuthError> {
        let token = bare_token(token);
        let hash = self.inner.tokens.as_ref().map(|c| c.hash(token));
        if let Some(hash) = hash
            && let Some(verdict) = self.remembered(token, hash, |v| match v {
                Verified::Entra(c) => Some(c.unpack()),
                Verified::Generic { .. } => None,
            })
        {
            return verdict;
        }
        let head = self.parse_head(token)?;
        let Some(view) = parse_claims_view(&head.payload).filter(ClaimsView::is_plain) else {
            // Claims the typed reader does not model (or bad JSON): the map path decides.
            let claims = self.claims_map(&head)?;
            let now = self.inner.clock.now_unix();
            let (claims, generation) = self
                .with_key(&head.kid, now, |snapshot, key| {
                    let claims = self.finish(&head, claims, snapshot, key, now)?;
                    Ok((claims, snapshot.generation))
                })
                .await?;
            let claims = entra_claims_from_map(claims)?;
            self.remember(token, hash, generation, now, claims.exp, claims.nbf, || {
                Verified::Entra(PackedClaims::pack(token, &claims))
            });
            return Ok(claims);
        };
        let facts = Facts::from_view(&view);
        if self.inner.config.entra {
            check_graph_audience(facts.aud, &self.inner.config)?;
        }
        let now = self.inner.clock.now_unix();
        let generation = self
            .with_key(&head.kid, now, |snapshot, key| {
                self.verify_signature(&head, key)?;
                self.check_claims(facts, snapshot, key, now)?;
                Ok(snapshot.generation)
            })
            .await?;
        let present = |c: &&str| match *c {
            "sub" => view.sub.is_present(),
            "oid" => view.oid.is_present(),
            "tid" => view.tid.is_present(),
            "iss" => view.iss.is_present(),
            "aud" => view.aud.is_present(),
            _ => view.exp.is_present(),
        };
        if let Some(m) = ENTRA_REQUIRED.iter().find(|c| !present(c)) {
            return Err(missing(m));
        }
        let claims = view.to_entra_claims();
        self.remember(token, hash, generation, now, claims.exp, claims.nbf, || {
            Verified::Entra(PackedClaims::pack(token, &claims))
        });
        Ok(claims)
    }

    /// Validate a token from any OpenID Connect provider and return all its claims. With an Entra
    /// configuration the Entra rules apply too.
    pub async fn validate_generic(&self, token: &str) -> Result<Map<String, Value>, AuthError> {
        let token = bare_token(token);
        let hash = self.inner.tokens.as_ref().map(|c| c.hash(token));
        if let Some(hash) = hash
            && let Some(verdict) = self.remembered(token, hash, |v| match v {
                Verified::Generic { claims, .. } => Some(claims.clone()),
                Verified::Entra(_) => None,
            })
        {
            return verdict;
        }
        let head = self.parse_head(token)?;
        let claims = self.claims_map(&head)?;
        let now = self.inner.clock.now_unix();
        let (claims, generation) = self
            .with_key(&head.kid, now, |snapshot, key| {
                let claims = self.finish(&head, claims, snapshot, key, now)?;
                Ok((claims, snapshot.generation))
            })
            .await?;
        if let (Ok(Some(exp)), Ok(nbf)) = (time_claim(&claims, "exp"), time_claim(&claims, "nbf")) {
            self.remember(token, hash, generation, now, exp, nbf, || {
                Verified::Generic {
                    token: token.into(),
                    claims: claims.clone(),
                }
            });
        }
        Ok(claims)
    }

    /// Fetch discovery and keys now (e.g. at server start, so a misconfiguration shows at once).
    /// A failure leaves previously fetched keys in use.
    pub async fn refresh(&self) -> Result<KeyCacheStatus, AuthError> {
        let now = self.inner.clock.now_unix();
        let cache = &self.inner.cache;
        let seen = cache.attempts();
        let inner = self.inner.clone();
        cache
            .refresh_single_flight(seen, now, |_| true, || inner.fetch_snapshot(now))
            .await?;
        match cache.last_error() {
            Some(e) => Err(e),
            None => Ok(cache.status()),
        }
    }

    /// The key cache's state: fetch counts, cached `kid`s, skipped keys, the last error.
    pub fn key_cache_status(&self) -> KeyCacheStatus {
        self.inner.cache.status()
    }

    /// The verified-token cache's state, or `None` when it is off
    /// ([`JwtValidatorConfig::verified_token_cache_entries`] is 0).
    pub fn verified_token_cache_status(&self) -> Option<VerifiedTokenCacheStatus> {
        self.inner
            .tokens
            .as_ref()
            .map(|c| VerifiedTokenCacheStatus {
                entries: c.len(),
                capacity: c.capacity(),
            })
    }

    /// Wait until at least `n` refresh attempts (including background ones) have completed.
    /// A test hook (feature `testing`): tests wait on it instead of sleeping.
    #[cfg(any(test, feature = "testing"))]
    pub async fn wait_for_fetch_attempts(&self, n: u64) {
        self.inner.cache.wait_for_attempts(n).await;
    }

    /// The remembered verdict for `token`, when it was verified under the current key set: its
    /// claims while `exp`/`nbf` allow it now, else the lifetime error a full validation would give
    /// (every other check depends only on the token, the configuration and the key set). `None`:
    /// validate in full.
    fn remembered<T>(
        &self,
        token: &str,
        hash: u64,
        take: impl FnOnce(&Verified) -> Option<T>,
    ) -> Option<Result<T, AuthError>> {
        let tokens = self.inner.tokens.as_ref()?;
        // The table first: a distinct token (a miss) costs no key-set load here.
        let hit = tokens.get(token, hash)?;
        let entry = hit.as_ref()?;
        let keys = self.inner.cache.load();
        let snapshot = keys.as_ref()?;
        if entry.generation != snapshot.generation {
            return None;
        }
        let value = take(&entry.value)?;
        let now = self.inner.clock.now_unix();
        self.maybe_schedule_refresh(snapshot, now);
        Some(
            check_time_values(
                Ok(Some(entry.exp)),
                Ok(entry.nbf),
                now,
                self.inner.config.leeway_seconds,
            )
            .map(|()| value),
        )
    }

    /// Remember a token that passed every check under key set `generation`.
    #[allow(clippy::too_many_arguments)]
    fn remember(
        &self,
        token: &str,
        hash: Option<u64>,
        generation: u64,
        now: u64,
        exp: u64,
        nbf: Option<u64>,
        value: impl FnOnce() -> Verified,
    ) {
        let (Some(tokens), Some(hash)) = (self.inner.tokens.as_ref(), hash) else {
            return;
        };
        if token.len() > MAX_CACHED_TOKEN_BYTES {
            return;
        }
        // An entry of another key set than the one this token was just verified under can no
        // longer hit (a hit requires the current set); rather than load the set again, the one
        // just used stands for it (a rotation in between only makes eviction less choosy).
        let leeway = self.inner.config.leeway_seconds;
        tokens.insert(Entry::new(hash, generation, exp, nbf, value()), |e| {
            e.generation == generation && now <= e.exp.saturating_add(leeway)
        });
    }

    /// Run `f` with the token's key: from the cached key set without waiting, else after a fetch
    /// (single-flight, rate-limited; see [`JwtValidator::key_miss`]).
    async fn with_key<R>(
        &self,
        kid: &str,
        now: u64,
        f: impl FnOnce(&Snapshot, &VerificationKey) -> Result<R, AuthError>,
    ) -> Result<R, AuthError> {
        {
            let guard = self.inner.cache.load();
            if let Some(snapshot) = guard.as_ref()
                && let Some(key) = snapshot.keys.keys.get(kid)
            {
                self.maybe_schedule_refresh(snapshot, now);
                return f(snapshot, key);
            }
        }
        let snapshot = self.key_miss(now).await?;
        let key = snapshot
            .keys
            .keys
            .get(kid)
            .ok_or_else(|| AuthError::UnknownKey {
                kid: kid.to_string(),
            })?;
        f(&snapshot, key)
    }

    /// Shape, size, header (algorithm, `crit`, `kid`, Graph `nonce`), signature characters, and
    /// the payload decoded: everything checked before the claims are read. `token` is bare.
    fn parse_head<'t>(&self, token: &'t str) -> Result<Head<'t>, AuthError> {
        let config = &self.inner.config;
        if token.is_empty() {
            return Err(malformed("the token is empty"));
        }
        if token.len() > config.max_token_bytes {
            return Err(malformed(format!(
                "the token is {} bytes, over the {} byte limit",
                token.len(),
                config.max_token_bytes
            )));
        }
        let mut dots = memchr::memchr_iter(b'.', token.as_bytes());
        let (Some(d1), Some(d2), None) = (dots.next(), dots.next(), dots.next()) else {
            return Err(malformed(format!(
                "a JWT has 3 parts separated by dots; this has {}",
                token.split('.').count()
            )));
        };
        let (h, p, s) = (&token[..d1], &token[d1 + 1..d2], &token[d2 + 1..]);
        let (alg, kid, read) = match &*self.inner.header.load() {
            Some(memo) if *memo.encoded == *h => (memo.alg, memo.kid.clone(), None),
            _ => {
                let (alg, kid) = self.read_header(h)?;
                (alg, kid.into(), Some(h))
            }
        };
        if s.is_empty() || !b64::is_alphabet(s.as_bytes()) {
            return Err(malformed("the signature is not base64url"));
        }
        let payload = match b64::decode(p.as_bytes()) {
            Some(bytes) => bytes,
            None => URL_SAFE_NO_PAD
                .decode(p)
                .map_err(|e| malformed(format!("the payload is not base64url: {e}")))?,
        };
        Ok(Head {
            alg,
            kid,
            header_read: read,
            signing_input: &token[..h.len() + 1 + p.len()],
            signature: s,
            payload,
        })
    }

    /// The signature, then (when it verifies and the header was read rather than remembered)
    /// remember the header: only a header the issuer signed replaces the remembered one, so
    /// tokens that fail cannot make every request read its header again.
    fn verify_signature(&self, head: &Head<'_>, key: &VerificationKey) -> Result<(), AuthError> {
        verify_signature(head, key)?;
        if let Some(h) = head.header_read {
            self.inner.header.store(Some(Arc::new(HeaderMemo {
                encoded: h.into(),
                alg: head.alg,
                kid: head.kid.clone(),
            })));
        }
        Ok(())
    }

    /// Decode and read the header (base64url, as sent) and apply the header rules.
    fn read_header(&self, h: &str) -> Result<(Algorithm, String), AuthError> {
        let header_bytes = match b64::decode(h.as_bytes()) {
            Some(bytes) => bytes,
            // Refused by the fast decoder: the base64 crate gives the error (or the bytes).
            None => URL_SAFE_NO_PAD
                .decode(h)
                .map_err(|e| malformed(format!("the header is not base64url: {e}")))?,
        };
        match parse_header_view(&header_bytes) {
            Some(view) => self.check_header(HeaderFacts::from_view(&view)),
            None => {
                // Not accepted by the borrowing reader: the map reader says exactly why.
                let header = parse_object_strict(&header_bytes).map_err(|e| match e {
                    StrictJsonError::Duplicate(k) => malformed(format!("the header repeats `{k}`")),
                    StrictJsonError::Invalid(d) => {
                        malformed(format!("the header is not a JSON object: {d}"))
                    }
                })?;
                self.check_header(HeaderFacts::from_map(&header))
            }
        }
    }

    /// The header rules, in order: `alg` on the allow-list, no `crit`, a `kid`, no Graph `nonce`.
    fn check_header(&self, header: HeaderFacts<'_>) -> Result<(Algorithm, String), AuthError> {
        let config = &self.inner.config;
        let alg_name = match header.alg {
            Text::Str(a) => a,
            Text::NotString => return Err(malformed("the header's `alg` is not a string")),
            Text::Missing => return Err(malformed("the header has no `alg`")),
        };
        let alg = alg_name
            .parse::<Algorithm>()
            .ok()
            .filter(|a| !is_symmetric(*a) && config.algorithms.contains(a))
            .ok_or_else(|| AuthError::UnsupportedAlgorithm {
                found: alg_name.to_string(),
                allowed: config
                    .algorithms
                    .iter()
                    .filter(|a| !is_symmetric(**a))
                    .map(|a| format!("{a:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        if header.crit {
            return Err(malformed(
                "the header lists `crit` extensions, which this validator does not implement",
            ));
        }
        let Some(kid) = header.kid else {
            return Err(AuthError::MissingKid);
        };
        if config.entra && header.nonce {
            return Err(graph_audience_error(
                "(a Microsoft Graph token: its header has a `nonce`)",
                config,
            ));
        }
        Ok((alg, kid.to_string()))
    }

    /// The claims as a map (strict JSON), and the Graph-audience rule.
    fn claims_map(&self, head: &Head<'_>) -> Result<Map<String, Value>, AuthError> {
        let claims = parse_object_strict(&head.payload).map_err(|e| match e {
            StrictJsonError::Duplicate(claim) => AuthError::DuplicateClaim { claim },
            StrictJsonError::Invalid(d) => {
                malformed(format!("the payload is not a JSON object: {d}"))
            }
        })?;
        if self.inner.config.entra {
            check_graph_audience(claims.get("aud").map(Audience::Json), &self.inner.config)?;
        }
        Ok(claims)
    }

    fn maybe_schedule_refresh(&self, snapshot: &Snapshot, now: u64) {
        let config = &self.inner.config;
        let cache = &self.inner.cache;
        if now
            < snapshot
                .fetched_at
                .saturating_add(config.refresh_interval.as_secs())
        {
            return;
        }
        if let Some(at) = cache.last_attempt_at()
            && now < at.saturating_add(config.retry_after_failure.as_secs())
        {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if !cache.try_begin_background() {
            return;
        }
        let inner = self.inner.clone();
        handle.spawn(async move {
            let seen = inner.cache.attempts();
            let fetcher = inner.clone();
            // The result is recorded in the cache (new keys, or the error with stale keys kept).
            let _ = inner
                .cache
                .refresh_single_flight(seen, now, |_| true, || fetcher.fetch_snapshot(now))
                .await;
            inner.cache.end_background();
        });
    }

    async fn key_miss(&self, now: u64) -> Result<Arc<Snapshot>, AuthError> {
        let config = &self.inner.config;
        let cache = &self.inner.cache;
        let seen = cache.attempts();
        let has_keys = cache.load().is_some();
        let inner = self.inner.clone();
        if has_keys {
            // Unknown kid: at most one refresh per window (the first fetch counts).
            let window = config.unknown_kid_refresh_interval.as_secs();
            let allowed = move |c: &KeyCache| {
                c.last_attempt_at()
                    .is_none_or(|at| now >= at.saturating_add(window))
            };
            if !allowed(cache) {
                return cache.load_full_or_err();
            }
            cache
                .refresh_single_flight(seen, now, allowed, || inner.fetch_snapshot(now))
                .await
        } else {
            let retry = config.retry_after_failure.as_secs();
            if let (Some(err), Some(at)) = (cache.last_error(), cache.last_attempt_at())
                && now < at.saturating_add(retry)
            {
                return Err(err);
            }
            cache
                .refresh_single_flight(seen, now, |_| true, || inner.fetch_snapshot(now))
                .await
        }
    }

    /// The map path after the key is known: signature, then the claim checks.
    fn finish(
        &self,
        head: &Head<'_>,
        claims: Map<String, Value>,
        snapshot: &Snapshot,
        key: &VerificationKey,
        now: u64,
    ) -> Result<Map<String, Value>, AuthError> {
        self.verify_signature(head, key)?;
        self.check_claims(Facts::from_map(&claims), snapshot, key, now)?;
        Ok(claims)
    }

    /// Lifetime, issuer (with Entra's tenant, version and key-issuer rules), audience: in this
    /// order, each error as documented in `docs/validator.md`.
    fn check_claims(
        &self,
        claims: Facts<'_>,
        snapshot: &Snapshot,
        key: &VerificationKey,
        now: u64,
    ) -> Result<(), AuthError> {
        let config = &self.inner.config;
        check_time_values(claims.exp, claims.nbf, now, config.leeway_seconds)?;
        let iss = claims.iss.require("iss")?;
        let mut v1 = false;
        if config.entra {
            let tid = claims.tid.require("tid")?;
            if !is_guid(tid) {
                return Err(AuthError::WrongTenant {
                    detail: format!("`tid` `{tid}` is not a GUID"),
                });
            }
            if !contains_ignore_ascii_case(iss, tid) {
                return Err(AuthError::WrongTenant {
                    detail: format!("`tid` `{tid}` does not appear in the issuer `{iss}`"),
                });
            }
            v1 = claims.ver_1_0
                || iss.starts_with("https://sts.windows.net/")
                || iss.starts_with("https://sts.chinacloudapi.cn/");
            if v1 && !config.accept_v1 {
                return Err(AuthError::V1Token {
                    issuer: iss.to_string(),
                });
            }
            let template = if v1 {
                snapshot.issuer_v1.as_deref().unwrap_or(&snapshot.issuer)
            } else {
                &snapshot.issuer
            };
            if !expands_to(template, tid, iss) {
                return Err(AuthError::WrongIssuer {
                    found: iss.to_string(),
                    expected: template.replace(TENANT_PLACEHOLDER, tid),
                });
            }
            let templated = find_placeholder(template).is_some();
            let listed = config
                .allowed_tenants
                .iter()
                .any(|t| t.eq_ignore_ascii_case(tid));
            if templated && !listed && (!config.allowed_tenants.is_empty() || !config.multi_tenant)
            {
                return Err(AuthError::TenantNotAllowed {
                    tenant: tid.to_string(),
                });
            }
            if let Some(key_issuer) = &key.issuer {
                // The key's issuer after substitution must be the token's issuer or the v2 one.
                let matches = expands_to(key_issuer, tid, iss)
                    || *key_issuer == snapshot.issuer
                    || key_issuer.replace(TENANT_PLACEHOLDER, tid)
                        == snapshot.issuer.replace(TENANT_PLACEHOLDER, tid);
                if !matches {
                    return Err(AuthError::WrongTenant {
                        detail: format!(
                            "the signing key `{}` is for issuer `{}`, not `{iss}`",
                            key.kid,
                            key_issuer.replace(TENANT_PLACEHOLDER, tid)
                        ),
                    });
                }
            }
        } else if iss != snapshot.issuer {
            return Err(AuthError::WrongIssuer {
                found: iss.to_string(),
                expected: snapshot.issuer.clone(),
            });
        }
        let aud = claims.aud.ok_or_else(|| missing("aud"))?;
        // Accepted v1.0 tokens may also name the API by its client id or `api://<client id>`.
        let v1_client = if v1 {
            config.client_id.as_deref()
        } else {
            None
        };
        let accepted = aud.any(|a| {
            config.audiences.iter().any(|c| c == a)
                || v1_client.is_some_and(|c| a == c || a.strip_prefix("api://") == Some(c))
        });
        if !accepted {
            let mut expected: Vec<String> = config.audiences.clone();
            if let Some(c) = v1_client {
                expected.extend([c.to_string(), format!("api://{c}")]);
            }
            return Err(AuthError::WrongAudience {
                found: aud.display(),
                expected: if expected.is_empty() {
                    "(no audience configured)".into()
                } else {
                    expected.join(" or ")
                },
                graph: false,
            });
        }
        Ok(())
    }
}

/// The signature over the signing input, with the token's key. Any failure (an algorithm the key
/// is not for, bad base64, a wrong signature) is `invalid_signature`.
fn verify_signature(head: &Head<'_>, key: &VerificationKey) -> Result<(), AuthError> {
    if !key.allows(head.alg) {
        return Err(AuthError::InvalidSignature);
    }
    // Not canonical base64url, or longer than any accepted key's signature: it cannot verify.
    let mut signature = [0u8; MAX_SIGNATURE_BYTES];
    let len = b64::decode_into(head.signature.as_bytes(), &mut signature)
        .ok_or(AuthError::InvalidSignature)?;
    if !key.verify(head.alg, head.signing_input.as_bytes(), &signature[..len]) {
        return Err(AuthError::InvalidSignature);
    }
    Ok(())
}

/// Entra: a Graph audience means the token was requested for Microsoft Graph, not this API.
fn check_graph_audience(
    aud: Option<Audience<'_>>,
    config: &JwtValidatorConfig,
) -> Result<(), AuthError> {
    match aud {
        Some(aud) if aud.any(|a| GRAPH_AUDIENCES.contains(&a)) => {
            Err(graph_audience_error(&aud.display(), config))
        }
        _ => Ok(()),
    }
}

/// `template.replace(TENANT_PLACEHOLDER, tid) == s`, without building the string.
fn expands_to(template: &str, tid: &str, s: &str) -> bool {
    let mut rest = s;
    let mut template = template;
    while let Some(at) = find_placeholder(template) {
        match rest
            .strip_prefix(&template[..at])
            .and_then(|r| r.strip_prefix(tid))
        {
            Some(r) => rest = r,
            None => return false,
        }
        template = &template[at + TENANT_PLACEHOLDER.len()..];
    }
    rest == template
}

/// Where [`TENANT_PLACEHOLDER`] first appears in `s`: `s.find(TENANT_PLACEHOLDER)`, by its `{`
/// (a byte search) rather than a substring searcher set up on every call.
fn find_placeholder(s: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'{', &s.as_bytes()[from..]) {
        let at = from + i;
        if s[at..].starts_with(TENANT_PLACEHOLDER) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// `hay.to_ascii_lowercase().contains(&needle.to_ascii_lowercase())`, without the copies.
fn contains_ignore_ascii_case(hay: &str, needle: &str) -> bool {
    let (hay, needle) = (hay.as_bytes(), needle.as_bytes());
    // Issuers carry the `tid` in the case the token gives it: an exact comparison (a `memcmp`
    // per position) finds it before the case-folding one runs. Not `memchr::memmem`: building
    // its searcher costs more than the search on strings this short.
    needle.is_empty()
        || hay.windows(needle.len()).any(|w| w == needle)
        || hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

impl Inner {
    async fn discover(
        &self,
        url: &str,
        limits: FetchLimits,
    ) -> Result<discovery::DiscoveryDocument, AuthError> {
        discovery::fetch_discovery(&self.http, url, limits)
            .await
            .map_err(|detail| AuthError::DiscoveryFailed {
                uri: url.to_string(),
                detail,
            })
    }

    async fn fetch_snapshot(self: Arc<Self>, now: u64) -> Result<Snapshot, AuthError> {
        let config = &self.config;
        let limits = FetchLimits {
            max_bytes: config.max_response_bytes,
        };
        let (issuer, discovered_jwks) = match &config.discovery_url {
            Some(url) => {
                let doc = self.discover(url, limits).await?;
                if let Some(expected) = &config.issuer
                    && expected.trim_end_matches('/') != doc.issuer.trim_end_matches('/')
                {
                    return Err(AuthError::DiscoveryFailed {
                        uri: url.clone(),
                        detail: format!(
                            "the document's issuer `{}` is not the configured issuer `{expected}`",
                            doc.issuer
                        ),
                    });
                }
                (doc.issuer, Some(doc.jwks_uri))
            }
            None => match &config.issuer {
                Some(i) => (i.clone(), None),
                None => {
                    return Err(AuthError::DiscoveryFailed {
                        uri: String::new(),
                        detail: "neither a discovery URL nor an issuer is configured".into(),
                    });
                }
            },
        };
        let issuer_v1 = match (&config.discovery_url_v1, config.entra && config.accept_v1) {
            (Some(url), true) => Some(self.discover(url, limits).await?.issuer),
            _ => None,
        };
        let jwks_uri = config.jwks_uri.clone().or(discovered_jwks).ok_or_else(|| {
            AuthError::JwksUnavailable {
                uri: String::new(),
                detail: "no JWKS URI is configured or discovered".into(),
            }
        })?;
        let body = discovery::fetch_bytes(&self.http, &jwks_uri, limits)
            .await
            .map_err(|detail| AuthError::JwksUnavailable {
                uri: jwks_uri.clone(),
                detail,
            })?;
        let keys = JwkSet::parse(&body).map_err(|detail| AuthError::JwksUnavailable {
            uri: jwks_uri.clone(),
            detail,
        })?;
        if keys.keys.is_empty() {
            return Err(AuthError::JwksUnavailable {
                uri: jwks_uri,
                detail: format!(
                    "the set has no usable signing key ({} skipped{})",
                    keys.skipped.len(),
                    keys.skipped
                        .first()
                        .map(|s| format!(", e.g. {:?}: {}", s.kid, s.reason))
                        .unwrap_or_default()
                ),
            });
        }
        Ok(Snapshot {
            keys,
            issuer,
            issuer_v1,
            fetched_at: now,
            generation: 0,
        })
    }
}

fn malformed(detail: impl Into<String>) -> AuthError {
    AuthError::Malformed {
        detail: detail.into(),
    }
}

fn missing(claim: &str) -> AuthError {
    AuthError::MissingClaim {
        claim: claim.to_string(),
    }
}

fn display_json(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(display_json)
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

fn graph_audience_error(found: &str, config: &JwtValidatorConfig) -> AuthError {
    AuthError::WrongAudience {
        found: found.to_string(),
        expected: config.audiences.join(" or "),
        graph: true,
    }
}

fn time_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<u64>, AuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
            (Some(v), _) => Ok(Some(v)),
            (None, Some(f)) if f >= 0.0 && f.is_finite() => Ok(Some(f as u64)),
            _ => Err(malformed(format!("`{name}` is not a NumericDate"))),
        },
        Some(_) => Err(malformed(format!("`{name}` is not a NumericDate"))),
    }
}

/// `exp` is required; `exp` and `nbf` are checked against `now` with `leeway` seconds of skew.
#[cfg(test)]
fn check_times(claims: &Map<String, Value>, now: u64, leeway: u64) -> Result<(), AuthError> {
    check_time_values(
        time_claim(claims, "exp"),
        time_claim(claims, "nbf"),
        now,
        leeway,
    )
}

/// The lifetime rule over `exp` and `nbf` as read by [`time_claim`] (an unreadable one is an
/// error only when its turn comes): `exp` is required; both are checked against `now` with
/// `leeway` seconds of skew. A remembered token is checked with this on every use.
fn check_time_values(
    exp: Result<Option<u64>, AuthError>,
    nbf: Result<Option<u64>, AuthError>,
    now: u64,
    leeway: u64,
) -> Result<(), AuthError> {
    let exp = exp?.ok_or_else(|| missing("exp"))?;
    if now > exp.saturating_add(leeway) {
        return Err(AuthError::Expired {
            by_seconds: now - exp,
            leeway_seconds: leeway,
        });
    }
    if let Some(nbf) = nbf?
        && nbf > now.saturating_add(leeway)
    {
        return Err(AuthError::NotYetValid {
            by_seconds: nbf - now,
            leeway_seconds: leeway,
        });
    }
    Ok(())
}

const ENTRA_REQUIRED: &[&str] = &["sub", "oid", "tid", "iss", "aud", "exp"];

fn entra_claims_from_map(claims: Map<String, Value>) -> Result<EntraClaims, AuthError> {
    if let Some(m) = ENTRA_REQUIRED.iter().find(|c| !claims.contains_key(**c)) {
        return Err(missing(m));
    }
    serde_json::from_value(Value::Object(claims))
        .map_err(|e| malformed(format!("the claims do not fit an Entra access token: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + Clone + 'static>(_: &T) {}
    fn assert_send<T: Send>(_: T) {}

    #[test]
    fn validator_is_shareable_and_its_futures_are_send() {
        let v = JwtValidator::new(JwtValidatorConfig::from_oidc_issuer(
            "https://idp.example",
            "api",
        ));
        assert_send_sync(&v);
        // Servers run validation inside spawned tasks (axum, tower): the futures must be Send.
        assert_send(v.validate("x"));
        assert_send(v.validate_generic("x"));
        assert_send(v.refresh());
    }

    #[test]
    fn time_checks_report_by_how_much() {
        let mut claims = Map::new();
        claims.insert("exp".into(), Value::from(1000u64));
        assert!(check_times(&claims, 1300, 300).is_ok());
        assert_eq!(
            check_times(&claims, 1301, 300),
            Err(AuthError::Expired {
                by_seconds: 301,
                leeway_seconds: 300
            })
        );
        claims.insert("nbf".into(), Value::from(2000u64));
        assert_eq!(
            check_times(&claims, 1000, 300),
            Err(AuthError::NotYetValid {
                by_seconds: 1000,
                leeway_seconds: 300
            })
        );
        claims.remove("exp");
        assert_eq!(check_times(&claims, 1000, 300), Err(missing("exp")));
    }

    #[test]
    fn template_and_case_helpers_match_the_string_operations_they_replace() {
        let tid = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        let templates = [
            "https://login.microsoftonline.com/{tenantid}/v2.0",
            "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
            "{tenantid}",
            "{tenantid}{tenantid}",
            "a{tenantid}b{tenantid}c",
            "",
            "{tenantid",
            "x{tenantid}}",
        ];
        let mut candidates: Vec<String> = templates
            .iter()
            .flat_map(|t| {
                let e = t.replace(TENANT_PLACEHOLDER, tid);
                [
                    e.clone(),
                    format!("{e}/"),
                    e.to_uppercase(),
                    e.replacen('7', "8", 1),
                    t.to_string(),
                ]
            })
            .collect();
        candidates.push(String::new());
        for t in templates {
            for c in &candidates {
                assert_eq!(
                    expands_to(t, tid, c),
                    t.replace(TENANT_PLACEHOLDER, tid) == *c,
                    "{t} -> {c}"
                );
                for needle in [tid, "", "V2.0", "Microsoftonline", "é"] {
                    assert_eq!(
                        contains_ignore_ascii_case(c, needle),
                        c.to_ascii_lowercase()
                            .contains(&needle.to_ascii_lowercase()),
                        "{c} / {needle}"
                    );
                }
            }
        }
        assert!(
            contains_ignore_ascii_case("ÉxAbc", "éx")
                == "ÉxAbc".to_ascii_lowercase().contains("éx")
        );
    }

    #[test]
    fn config_check_catches_mistakes_before_the_network() {
        let entra = EntraConfig::new("t", "c");
        JwtValidatorConfig::from_entra(&entra).check().unwrap();
        let mut c = JwtValidatorConfig::from_entra(&entra);
        c.audiences.clear();
        assert!(c.check().unwrap_err().to_string().contains("audience"));
        let mut c = JwtValidatorConfig::from_entra(&entra);
        c.algorithms = vec![Algorithm::RS256, Algorithm::HS512];
        assert!(c.check().unwrap_err().to_string().contains("symmetric"));
        let c = JwtValidatorConfig {
            audiences: vec!["a".into()],
            ..JwtValidatorConfig::default()
        };
        assert!(c.check().is_err(), "no discovery and no issuer/jwks");
    }

    #[test]
    fn multi_tenant_constructor_uses_organizations() {
        let entra = EntraConfig::new("72f988bf-86f1-41af-91ab-2d7cd011db47", "c");
        let c = JwtValidatorConfig::from_entra_multitenant(&entra, vec![" ABC ".into()]);
        assert!(c.multi_tenant);
        assert_eq!(c.allowed_tenants, vec!["abc".to_string()]);
        assert!(
            c.discovery_url
                .unwrap()
                .contains("/organizations/v2.0/.well-known/")
        );
        assert!(JwtValidatorConfig::from_entra(&EntraConfig::new("common", "c")).multi_tenant);
    }
}
