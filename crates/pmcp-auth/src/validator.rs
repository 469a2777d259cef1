//! `JwtValidatorConfig` (plain data, safe defaults) and `JwtValidator`, which checks a bearer token
//! against the rules in `docs/validator.md`: algorithm allow-list fixed by configuration, keys from
//! the issuer's JWK set (cached, see [`super::jwks`]), issuer from OpenID discovery, audience,
//! lifetime with our own clock, strict claims JSON, and Entra's tenant and version rules.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use super::claims::{EntraClaims, StrictJsonError, parse_object_strict};
use super::clock::{Clock, SystemClock};
use super::discovery::{self, FetchLimits, check_url, discovery_url_for_issuer};
use super::entra::{ConfigError, EntraConfig, is_guid};
use super::env;
use super::error::AuthError;
use super::jwks::{JwkSet, KeyCache, KeyCacheStatus, Snapshot, VerificationKey};

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
}

impl std::fmt::Debug for JwtValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtValidator")
            .field("config", &self.inner.config)
            .field("clock", &self.inner.clock)
            .finish_non_exhaustive()
    }
}

/// What the header and payload say, before the signature is checked.
struct Parsed<'t> {
    alg: Algorithm,
    kid: String,
    signing_input: &'t str,
    signature: &'t str,
    claims: Map<String, Value>,
}

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
        Self {
            inner: Arc::new(Inner {
                config,
                clock,
                http,
                cache: KeyCache::new(),
            }),
        }
    }

    /// The configuration this validator enforces.
    pub fn config(&self) -> &JwtValidatorConfig {
        &self.inner.config
    }

    /// Validate an Entra ID access token and return its claims.
    pub async fn validate(&self, token: &str) -> Result<EntraClaims, AuthError> {
        let claims = self.validate_generic(token).await?;
        entra_claims_from_map(claims)
    }

    /// Validate a token from any OpenID Connect provider and return all its claims. With an Entra
    /// configuration the Entra rules apply too.
    pub async fn validate_generic(&self, token: &str) -> Result<Map<String, Value>, AuthError> {
        let parsed = self.parse(token)?;
        let now = self.inner.clock.now_unix();
        {
            let guard = self.inner.cache.load();
            if let Some(snapshot) = guard.as_ref()
                && let Some(key) = snapshot.keys.keys.get(&parsed.kid)
            {
                self.maybe_schedule_refresh(snapshot, now);
                return self.finish(parsed, snapshot, key, now);
            }
        }
        let snapshot = self.key_miss(now).await?;
        let key = snapshot
            .keys
            .keys
            .get(&parsed.kid)
            .ok_or_else(|| AuthError::UnknownKey {
                kid: parsed.kid.clone(),
            })?;
        self.finish(parsed, &snapshot, key, now)
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

    /// Wait until at least `n` refresh attempts (including background ones) have completed.
    /// A test hook (feature `testing`): tests wait on it instead of sleeping.
    #[cfg(any(test, feature = "testing"))]
    pub async fn wait_for_fetch_attempts(&self, n: u64) {
        self.inner.cache.wait_for_attempts(n).await;
    }

    fn parse<'t>(&self, token: &'t str) -> Result<Parsed<'t>, AuthError> {
        let config = &self.inner.config;
        let token = token.trim();
        let token = token
            .strip_prefix("Bearer ")
            .or_else(|| token.strip_prefix("bearer "))
            .unwrap_or(token);
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
        let mut parts = token.splitn(4, '.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed(format!(
                "a JWT has 3 parts separated by dots; this has {}",
                token.split('.').count()
            )));
        };
        let header_bytes = URL_SAFE_NO_PAD
            .decode(h)
            .map_err(|e| malformed(format!("the header is not base64url: {e}")))?;
        let header = parse_object_strict(&header_bytes).map_err(|e| match e {
            StrictJsonError::Duplicate(k) => malformed(format!("the header repeats `{k}`")),
            StrictJsonError::Invalid(d) => {
                malformed(format!("the header is not a JSON object: {d}"))
            }
        })?;
        let alg_name = match header.get("alg") {
            Some(Value::String(a)) => a.as_str(),
            Some(_) => return Err(malformed("the header's `alg` is not a string")),
            None => return Err(malformed("the header has no `alg`")),
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
        if header.contains_key("crit") {
            return Err(malformed(
                "the header lists `crit` extensions, which this validator does not implement",
            ));
        }
        let kid = match header.get("kid") {
            Some(Value::String(k)) if !k.is_empty() => k.clone(),
            _ => return Err(AuthError::MissingKid),
        };
        if config.entra && header.contains_key("nonce") {
            return Err(graph_audience_error(
                "(a Microsoft Graph token: its header has a `nonce`)",
                config,
            ));
        }
        if s.is_empty()
            || !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(malformed("the signature is not base64url"));
        }
        let payload = URL_SAFE_NO_PAD
            .decode(p)
            .map_err(|e| malformed(format!("the payload is not base64url: {e}")))?;
        let claims = parse_object_strict(&payload).map_err(|e| match e {
            StrictJsonError::Duplicate(claim) => AuthError::DuplicateClaim { claim },
            StrictJsonError::Invalid(d) => {
                malformed(format!("the payload is not a JSON object: {d}"))
            }
        })?;
        if config.entra
            && let Some(aud) = claims.get("aud")
            && audience_values(aud)
                .iter()
                .any(|a| GRAPH_AUDIENCES.contains(a))
        {
            return Err(graph_audience_error(&display_json(aud), config));
        }
        Ok(Parsed {
            alg,
            kid,
            signing_input: &token[..h.len() + 1 + p.len()],
            signature: s,
            claims,
        })
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

    fn finish(
        &self,
        parsed: Parsed<'_>,
        snapshot: &Snapshot,
        key: &VerificationKey,
        now: u64,
    ) -> Result<Map<String, Value>, AuthError> {
        let config = &self.inner.config;
        if !key.allows(parsed.alg) {
            return Err(AuthError::InvalidSignature);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(parsed.signature)
            .map_err(|_| AuthError::InvalidSignature)?;
        if !key.verify(parsed.alg, parsed.signing_input.as_bytes(), &signature) {
            return Err(AuthError::InvalidSignature);
        }
        let claims = parsed.claims;
        check_times(&claims, now, config.leeway_seconds)?;
        let iss = match claims.get("iss") {
            Some(Value::String(s)) => s.as_str(),
            Some(_) => return Err(malformed("`iss` is not a string")),
            None => return Err(missing("iss")),
        };
        let mut v1 = false;
        if config.entra {
            let tid = match claims.get("tid") {
                Some(Value::String(s)) => s.as_str(),
                Some(_) => return Err(malformed("`tid` is not a string")),
                None => return Err(missing("tid")),
            };
            if !is_guid(tid) {
                return Err(AuthError::WrongTenant {
                    detail: format!("`tid` `{tid}` is not a GUID"),
                });
            }
            if !iss.to_ascii_lowercase().contains(&tid.to_ascii_lowercase()) {
                return Err(AuthError::WrongTenant {
                    detail: format!("`tid` `{tid}` does not appear in the issuer `{iss}`"),
                });
            }
            v1 = is_v1(&claims, iss);
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
            let expected = template.replace(TENANT_PLACEHOLDER, tid);
            if iss != expected {
                return Err(AuthError::WrongIssuer {
                    found: iss.to_string(),
                    expected,
                });
            }
            let templated = template.contains(TENANT_PLACEHOLDER);
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
                let key_iss = key_issuer.replace(TENANT_PLACEHOLDER, tid);
                let v2_expected = snapshot.issuer.replace(TENANT_PLACEHOLDER, tid);
                if key_iss != iss && key_iss != v2_expected {
                    return Err(AuthError::WrongTenant {
                        detail: format!(
                            "the signing key `{}` is for issuer `{key_iss}`, not `{iss}`",
                            key.kid
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
        let aud = claims.get("aud").ok_or_else(|| missing("aud"))?;
        let values = audience_values(aud);
        let v1_extra = if v1 {
            config
                .client_id
                .as_ref()
                .map(|c| vec![c.clone(), format!("api://{c}")])
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let accepted = values
            .iter()
            .any(|a| config.audiences.iter().any(|c| c == a) || v1_extra.iter().any(|c| c == a));
        if !accepted {
            let mut expected: Vec<String> = config.audiences.clone();
            expected.extend(v1_extra);
            return Err(AuthError::WrongAudience {
                found: display_json(aud),
                expected: if expected.is_empty() {
                    "(no audience configured)".into()
                } else {
                    expected.join(" or ")
                },
                graph: false,
            });
        }
        Ok(claims)
    }
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

fn audience_values(aud: &Value) -> Vec<&str> {
    match aud {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn graph_audience_error(found: &str, config: &JwtValidatorConfig) -> AuthError {
    AuthError::WrongAudience {
        found: found.to_string(),
        expected: config.audiences.join(" or "),
        graph: true,
    }
}

fn is_v1(claims: &Map<String, Value>, iss: &str) -> bool {
    claims.get("ver").and_then(Value::as_str) == Some("1.0")
        || iss.starts_with("https://sts.windows.net/")
        || iss.starts_with("https://sts.chinacloudapi.cn/")
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
fn check_times(claims: &Map<String, Value>, now: u64, leeway: u64) -> Result<(), AuthError> {
    let exp = time_claim(claims, "exp")?.ok_or_else(|| missing("exp"))?;
    if now > exp.saturating_add(leeway) {
        return Err(AuthError::Expired {
            by_seconds: now - exp,
            leeway_seconds: leeway,
        });
    }
    if let Some(nbf) = time_claim(claims, "nbf")?
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
