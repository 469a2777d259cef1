//! Protect an HTTP MCP server with the shared validator: a tower [`Layer`] for axum/hyper stacks.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::{Extension, Router, routing::post};
//! use pmcp_auth::{AuthContext, middleware::AuthLayer};
//!
//! let auth = AuthLayer::from_env()?      // AUTH_PROVIDER, ENTRA_*, AUTH_RESOURCE_URL, …
//!     .resource_path("/mcp")            // where the MCP endpoint is mounted
//!     .public_path("/health");          // answered without a token
//! let app: Router = Router::new()
//!     .route("/mcp", post(|Extension(who): Extension<AuthContext>| async move { who.user_id }))
//!     .layer(auth);
//! # let _ = app; Ok(()) }
//! ```
//!
//! What the layer does, per request:
//! - `GET /.well-known/oauth-protected-resource` (and the path-suffixed form
//!   `/.well-known/oauth-protected-resource/<resource path>`) answers the RFC 9728 protected
//!   resource metadata: `resource`, `authorization_servers` (the tenant's issuer), `scopes_supported`,
//!   `bearer_methods_supported: ["header"]`. No token needed.
//! - With the OAuth bridge on ([`AuthLayer::bridge`], or `AUTH_DCR_ENABLED=true` for
//!   [`AuthLayer::from_env`]), its paths are answered first (see [`crate::bridge`]), the metadata's
//!   `authorization_servers` is this server's origin, and challenges carry `scope`.
//! - Paths registered with [`AuthLayer::public_path`] pass through without a token (and without
//!   an identity).
//! - Everything else needs `Authorization: Bearer <token>`. The token is checked by
//!   [`JwtValidator`]; on success an [`AuthContext`] (and an
//!   [`Authenticated`], which can produce the 403 for a failed permission check) is inserted into the
//!   request extensions. Without a token: `401` with
//!   `WWW-Authenticate: Bearer resource_metadata="…"`; with a bad token: `401` with
//!   `error="invalid_token", error_description="…"`. If the validator cannot reach the issuer's keys
//!   it answers `503` (it never lets a request through undecided).
//! - Identity headers a client could forge (`X-MS-CLIENT-PRINCIPAL*`, `X-Forwarded-User`, …) are
//!   removed before the request reaches the handler: identity comes from the token only.
//! - Error bodies are JSON (`error`, `error_description`, `code`) and never contain the token; they
//!   say what is wrong with the request, never which command to run.
//!
//! The pieces, usable on their own: [`AuthLayer::from_env`] / [`AuthLayer::from_lookup`] read the
//! configuration ([`MiddlewareError`] when they cannot); [`ProtectedResourceMetadata`] is the RFC 9728
//! document and [`protected_resource_metadata_path`] its well-known path; [`Challenge`] builds the
//! `WWW-Authenticate` values the layer sends and parses the ones any server sends.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tower::{Layer, Service};

use crate::entra::{EntraConfig, is_https_or_loopback};
use crate::error::AuthError;
use crate::secret::fingerprint;
use crate::{AuthContext, GroupPermissionMapper, JwtValidator, JwtValidatorConfig};

mod challenge;
mod config;
mod metadata;
#[cfg(any(feature = "rmcp", feature = "pmcp"))]
pub(crate) mod tool_guard;

pub use challenge::{Challenge, ChallengeError};
pub use config::MiddlewareError;
pub use metadata::{
    PROTECTED_RESOURCE_METADATA_PATH, ProtectedResourceMetadata, protected_resource_metadata_path,
};
#[cfg(any(feature = "rmcp", feature = "pmcp"))]
pub use tool_guard::STANDARD_HEADERS_VERSION;

/// Request headers that carry an identity asserted by a proxy or platform. A client can send them
/// too, so the layer removes them: the only identity a handler sees is the validated token's.
pub const STRIPPED_IDENTITY_HEADERS: &[&str] = &[
    "x-ms-client-principal",
    "x-ms-client-principal-id",
    "x-ms-client-principal-name",
    "x-ms-client-principal-idp",
    "x-ms-token-aad-access-token",
    "x-ms-token-aad-id-token",
    "x-forwarded-user",
    "x-forwarded-email",
    "x-forwarded-preferred-username",
    "x-forwarded-access-token",
    "x-auth-request-user",
    "x-auth-request-email",
    "x-auth-request-access-token",
    "x-remote-user",
    "remote-user",
    "x-user",
    "x-user-id",
    "x-user-email",
    "x-amzn-oidc-identity",
    "x-amzn-oidc-data",
    "x-amzn-oidc-accesstoken",
    "x-goog-authenticated-user-email",
    "x-goog-authenticated-user-id",
];

/// Prefixes of request headers that carry an asserted identity, removed like
/// [`STRIPPED_IDENTITY_HEADERS`]: the pmcp SDK reads the caller from `x-pmcp-user-*` headers when
/// no auth provider is set, so a client could otherwise name itself.
pub const STRIPPED_IDENTITY_HEADER_PREFIXES: &[&str] = &["x-pmcp-user-"];

/// A boxed future, as returned by [`TokenAuthenticator::authenticate`].
// The same type as futures-util's `BoxFuture`, spelled out: this crate does not depend on
// futures-util for one alias.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Turns a bearer token into an [`AuthContext`]. The layer's built-in authenticators use
/// [`JwtValidator`] (Entra claims with the group mapping, or generic OIDC claims); implement this to
/// plug in another check while keeping the layer's HTTP behaviour.
pub trait TokenAuthenticator: Send + Sync + 'static {
    /// Validate `token` and describe the caller.
    fn authenticate<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<AuthContext, AuthError>>;
}

/// Entra: [`JwtValidator::validate`] then [`AuthContext::from_entra_claims`].
struct ValidatorAuthenticator {
    validator: JwtValidator,
    mapper: GroupPermissionMapper,
}

impl TokenAuthenticator for ValidatorAuthenticator {
    fn authenticate<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<AuthContext, AuthError>> {
        Box::pin(async move {
            let claims = self.validator.validate(token).await?;
            Ok(AuthContext::from_entra_claims(&claims, &self.mapper))
        })
    }
}

/// Any OIDC provider: [`JwtValidator::validate_generic`] then [`context_from_oidc_claims`].
struct OidcAuthenticator {
    validator: JwtValidator,
}

impl TokenAuthenticator for OidcAuthenticator {
    fn authenticate<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<AuthContext, AuthError>> {
        Box::pin(async move {
            let claims = self.validator.validate_generic(token).await?;
            Ok(context_from_oidc_claims(&claims))
        })
    }
}

/// The caller described by a generic OIDC access token: `sub` as the id, `email` (or
/// `preferred_username`), `name`, `tid` when present, `azp`/`client_id` as the app; permissions from
/// `scope`/`scp` (space separated), `roles` and `permissions` (arrays, as Auth0 and Okta issue them),
/// with the Entra role names mapped as for Entra tokens. See [`AuthContext::from_oidc_claims`].
pub fn context_from_oidc_claims(claims: &serde_json::Map<String, Value>) -> AuthContext {
    AuthContext::from_oidc_claims(claims)
}

/// The tower layer. Cheap to clone; build it once at start-up.
#[derive(Clone)]
pub struct AuthLayer {
    shared: Arc<Shared>,
}

#[derive(Clone)]
struct Shared {
    authenticator: Arc<dyn TokenAuthenticator>,
    authorization_servers: Vec<String>,
    scopes_supported: Vec<String>,
    resource_name: Option<String>,
    /// Public URL of the server's origin (scheme + authority, no path), when configured.
    public_base: Option<String>,
    /// Where the protected resource is mounted: `""` (the origin) or `/mcp`.
    resource_path: String,
    /// Set by [`AuthLayer::resource_url`]: the path is fixed by configuration.
    resource_fixed: bool,
    public_paths: Vec<String>,
    on_rejection: Option<Arc<RejectionHook>>,
    /// The OAuth bridge, when enabled ([`AuthLayer::bridge`]).
    bridge: Option<Arc<crate::bridge::Bridge>>,
}

type RejectionHook = dyn Fn(&Rejection) + Send + Sync;

/// A request the layer refused, for the server's logs and metrics. It never holds the token, only
/// its fingerprint (first 12 hex of SHA-256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The request's method.
    pub method: Method,
    /// The request's path (no query).
    pub path: String,
    /// The status answered: 400, 401 or 503.
    pub status: StatusCode,
    /// `missing_token`, `invalid_request`, `malformed`, or the validator's code (`expired`,
    /// `wrong_audience`, `jwks_unavailable`, …).
    pub code: String,
    /// The reason in words (the validator's message, scrubbed of the token).
    pub message: String,
    /// Fingerprint of the token that was refused, when there was one.
    pub token_fingerprint: Option<String>,
}

impl std::fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthLayer")
            .field("authorization_servers", &self.shared.authorization_servers)
            .field("scopes_supported", &self.shared.scopes_supported)
            .field("public_base", &self.shared.public_base)
            .field("resource_path", &self.shared.resource_path)
            .field("public_paths", &self.shared.public_paths)
            .finish_non_exhaustive()
    }
}

impl AuthLayer {
    /// Entra ID: validate with `config` (usually [`JwtValidatorConfig::from_entra`]), map groups with
    /// `mapper`, and advertise `entra`'s issuer as the authorization server and
    /// `api://<client_id>/.default` as the scope.
    pub fn new(
        config: JwtValidatorConfig,
        entra: &EntraConfig,
        mapper: GroupPermissionMapper,
    ) -> Self {
        let authenticator = ValidatorAuthenticator {
            validator: JwtValidator::new(config),
            mapper,
        };
        Self::with_authenticator(
            authenticator,
            // `{authority}/{tenant}/v2.0`: the issuer a client discovers the authorization server from.
            vec![entra.issuer()],
            vec![format!("api://{}/.default", entra.client_id)],
        )
    }

    /// Entra ID with the validator's defaults for this app registration and no group mapping.
    pub fn entra(entra: &EntraConfig) -> Self {
        Self::new(
            JwtValidatorConfig::from_entra(entra),
            entra,
            GroupPermissionMapper::empty(),
        )
    }

    /// Any OIDC provider: validate generic claims with `config` (e.g.
    /// [`JwtValidatorConfig::from_oidc_issuer`]) and advertise `issuer`.
    pub fn oidc(config: JwtValidatorConfig, issuer: &str) -> Self {
        let authenticator = OidcAuthenticator {
            validator: JwtValidator::new(config),
        };
        Self::with_authenticator(
            authenticator,
            vec![issuer.trim_end_matches('/').to_string()],
            Vec::new(),
        )
    }

    /// Your own token check with this layer's HTTP behaviour.
    pub fn with_authenticator(
        authenticator: impl TokenAuthenticator,
        authorization_servers: Vec<String>,
        scopes_supported: Vec<String>,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                authenticator: Arc::new(authenticator),
                authorization_servers,
                scopes_supported,
                resource_name: None,
                public_base: None,
                resource_path: String::new(),
                resource_fixed: false,
                public_paths: Vec::new(),
                on_rejection: None,
                bridge: None,
            }),
        }
    }

    fn shared_mut(&mut self) -> &mut Shared {
        Arc::make_mut(&mut self.shared)
    }

    /// Where the protected MCP endpoint is mounted, e.g. `/mcp`: the metadata is then also served at
    /// `/.well-known/oauth-protected-resource/mcp` (RFC 9728 §3.1) and 401s point there.
    /// Defaults to the origin (`""`). Ignored when [`AuthLayer::resource_url`] (or
    /// `AUTH_RESOURCE_URL`) fixed the resource: the deployment knows its public path best.
    pub fn resource_path(mut self, path: &str) -> Self {
        if !self.shared.resource_fixed {
            self.shared_mut().resource_path = normalize_path(path);
        }
        self
    }

    /// The public URL of the protected resource (`https://host[:port][/path]`): fixes the origin
    /// used in the metadata and the challenge instead of the request's `Host`, and the resource path.
    /// Must be https, except on loopback. Use it behind a proxy or load balancer.
    pub fn resource_url(mut self, url: &str) -> Result<Self, String> {
        let parsed = url::Url::parse(url.trim())
            .map_err(|e| format!("`{}` is not a URL: {e}", url.trim()))?;
        if !is_https_or_loopback(url) {
            return Err(format!(
                "`{}` must be an https:// URL (http:// only for a loopback host: 127.0.0.0/8, [::1], localhost)",
                url.trim()
            ));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(format!(
                "`{}` must not have a query or fragment (RFC 9728 §1.2)",
                url.trim()
            ));
        }
        let origin = parsed.origin().ascii_serialization();
        let shared = self.shared_mut();
        shared.public_base = Some(origin);
        shared.resource_path = normalize_path(parsed.path());
        shared.resource_fixed = true;
        Ok(self)
    }

    /// Answer `path` (exact match, e.g. `/health`) without a token. The handler gets no identity.
    pub fn public_path(mut self, path: &str) -> Self {
        let p = normalize_path(path);
        self.shared_mut()
            .public_paths
            .push(if p.is_empty() { "/".into() } else { p });
        self
    }

    /// Replace `scopes_supported` in the metadata.
    pub fn scopes_supported(mut self, scopes: Vec<String>) -> Self {
        self.shared_mut().scopes_supported = scopes;
        self
    }

    /// Call `hook` for every request the layer refuses (400/401/503), e.g. to log it. The 403s of
    /// handlers are theirs to log.
    pub fn on_rejection(mut self, hook: impl Fn(&Rejection) + Send + Sync + 'static) -> Self {
        self.shared_mut().on_rejection = Some(Arc::new(hook));
        self
    }

    /// Set `resource_name` in the metadata (a human-readable name for the server).
    pub fn resource_name(mut self, name: &str) -> Self {
        self.shared_mut().resource_name = Some(name.to_string());
        self
    }

    /// The authorization servers advertised in the metadata. With the bridge on, the metadata
    /// names the server's own origin instead (resolved per request when no public URL is set).
    pub fn authorization_servers(&self) -> &[String] {
        &self.shared.authorization_servers
    }

    /// Serve the OAuth bridge ([`crate::bridge`]) in front of Entra: RFC 8414 metadata, client
    /// registration, authorize/consent, callback and token at this server's origin. The
    /// protected-resource metadata then names this origin as the authorization server and lists
    /// the bridge's scopes, and challenges carry `scope`. [`AuthLayer::from_env`] does this when
    /// `AUTH_DCR_ENABLED=true`.
    pub fn bridge(mut self, config: crate::bridge::BridgeConfig) -> Self {
        let shared = self.shared_mut();
        shared.scopes_supported = config.advertised_scopes().to_vec();
        shared.bridge = Some(Arc::new(crate::bridge::Bridge::new(config)));
        self
    }

    /// True when the OAuth bridge is on.
    pub fn bridge_enabled(&self) -> bool {
        self.shared.bridge.is_some()
    }

    /// What the bridge lacks for sign-ins to work ([`BridgeConfig::warning`](crate::bridge::BridgeConfig::warning)),
    /// for the server's start-up log; `None` when the bridge is off or complete.
    pub fn bridge_warning(&self) -> Option<String> {
        self.shared.bridge.as_ref().and_then(|b| b.config.warning())
    }

    /// The scopes advertised in the metadata (`scopes_supported`).
    pub fn advertised_scopes(&self) -> &[String] {
        &self.shared.scopes_supported
    }

    /// The token check this layer runs (the validator and its key cache, the group mapping). Hand
    /// it to an SDK's own authentication hook so both check tokens with one key cache: the layer
    /// answers first, the SDK's hook then finds the token in the validator's verified-token cache.
    pub fn authenticator(&self) -> Arc<dyn TokenAuthenticator> {
        self.shared.authenticator.clone()
    }

    /// The public origin fixed by [`AuthLayer::resource_url`] (or `AUTH_RESOURCE_URL`), e.g.
    /// `https://my-server.example.com`; `None` when the origin comes from each request's `Host`.
    pub fn public_base_url(&self) -> Option<&str> {
        self.shared.public_base.as_deref()
    }
}

/// A mount path in the form the layer compares: `""` for the origin, else `/`-led without a
/// trailing `/` (`mcp/` → `/mcp`).
fn normalize_path(path: &str) -> String {
    let p = path.trim().trim_end_matches('/');
    if p.is_empty() {
        String::new()
    } else if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service produced by [`AuthLayer`].
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> std::fmt::Debug for AuthService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthService").finish_non_exhaustive()
    }
}

/// An authenticated request's identity plus what a handler needs to answer `403` properly.
/// Inserted into the request extensions next to the [`AuthContext`].
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// Who is calling and what they may do.
    pub context: AuthContext,
    resource_metadata: String,
    /// The `scope` a step-up challenge names (the bridge's scopes), when there is one.
    challenge_scope: Option<String>,
}

impl Authenticated {
    /// `Ok` when the caller has `permission` (`admin:*` implies every permission), otherwise the
    /// `403 insufficient_scope` to return.
    pub fn require(&self, permission: &str) -> Result<(), InsufficientScope> {
        if self.context.has_permission(permission) {
            Ok(())
        } else {
            Err(InsufficientScope {
                permission: permission.to_string(),
                resource_metadata: self.resource_metadata.clone(),
                scope: self.challenge_scope.clone(),
            })
        }
    }

    /// The metadata URL this request's challenges point to.
    pub fn resource_metadata_url(&self) -> &str {
        &self.resource_metadata
    }
}

/// A failed permission check: `403` with
/// `WWW-Authenticate: Bearer resource_metadata="…", error="insufficient_scope", error_description="…"`
/// and a JSON body. Convert with [`InsufficientScope::into_response`] (any body type built from
/// bytes) or axum's `IntoResponse`.
#[derive(Debug, Clone)]
pub struct InsufficientScope {
    permission: String,
    resource_metadata: String,
    scope: Option<String>,
}

impl InsufficientScope {
    /// Add `scope="…"` to the challenge: the OAuth scope(s) a client should request to get the
    /// permission (only when such a scope exists; Entra app roles are assigned, not requested).
    pub fn with_scope(mut self, scope: &str) -> Self {
        self.scope = Some(scope.to_string());
        self
    }

    /// The permission that was missing.
    pub fn permission(&self) -> &str {
        &self.permission
    }

    /// The `403` response.
    pub fn into_response<B: From<Bytes>>(self) -> Response<B> {
        let description = format!(
            "this operation requires the `{}` permission, which the token does not grant",
            self.permission
        );
        let mut challenge = Challenge::bearer()
            .with_resource_metadata(&self.resource_metadata)
            .with_error("insufficient_scope", &description);
        challenge.scope = self.scope.clone();
        let body = json!({
            "error": "insufficient_scope",
            "error_description": description,
            "required_permission": self.permission,
        });
        json_response(
            StatusCode::FORBIDDEN,
            Some(&challenge.to_header_value()),
            &body,
        )
    }
}

impl axum::response::IntoResponse for InsufficientScope {
    fn into_response(self) -> axum::response::Response {
        InsufficientScope::into_response(self)
    }
}

impl<S> axum::extract::FromRequestParts<S> for Authenticated
where
    S: Send + Sync,
{
    type Rejection = axum::response::Response;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Authenticated>()
            .cloned()
            .ok_or_else(layer_missing)
    }
}

impl<S> axum::extract::FromRequestParts<S> for AuthContext
where
    S: Send + Sync,
{
    type Rejection = axum::response::Response;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<AuthContext>()
            .cloned()
            .ok_or_else(layer_missing)
    }
}

/// A handler asked for an identity on a route the layer does not cover: fail closed with a 500 that
/// says so (a configuration mistake, not the client's).
fn layer_missing() -> axum::response::Response {
    json_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        None,
        &json!({
            "error": "server_error",
            "error_description": "this route reads the caller's identity but is not behind AuthLayer (or is registered as a public path)",
        }),
    )
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for AuthService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: axum::body::HttpBody<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<axum::BoxError>,
    ResBody: From<Bytes> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<ResBody>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        // The clone is not ready; the instance that is ready goes into the future.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        strip_identity_headers(req.headers_mut());

        let path = req.uri().path().to_string();
        if let Some(bridge) = &shared.bridge
            && let Some(route) = crate::bridge::Route::of(&path)
        {
            let bridge = bridge.clone();
            return Box::pin(async move { Ok(serve_bridge(&shared, &bridge, route, req).await) });
        }
        if let Some(resource_path) = shared.metadata_request(&path) {
            let resp = shared.metadata_response(&req, &resource_path);
            return Box::pin(async move { Ok(resp) });
        }
        if shared.public_paths.iter().any(|p| p == &path) {
            return Box::pin(inner.call(req));
        }

        let metadata_url = match shared.metadata_url(&req) {
            Ok(url) => url,
            Err(resp) => return Box::pin(async move { Ok(resp) }),
        };
        let token = match bearer_token(req.headers()) {
            Ok(token) => token,
            Err(missing) => {
                shared.report(
                    &req,
                    missing.status(),
                    missing.code(),
                    missing.message(),
                    None,
                );
                let resp = missing.into_response(&metadata_url, shared.challenge_scope());
                return Box::pin(async move { Ok(resp) });
            }
        };
        Box::pin(async move {
            match shared.authenticator.authenticate(&token).await {
                Ok(context) => {
                    req.extensions_mut().insert(Authenticated {
                        context: context.clone(),
                        resource_metadata: metadata_url,
                        challenge_scope: shared.challenge_scope().map(str::to_string),
                    });
                    req.extensions_mut().insert(context);
                    inner.call(req).await
                }
                Err(err) => {
                    let description = scrub(&err.to_string(), &token);
                    let resp: Response<ResBody> =
                        rejection_for(&err, &description, &metadata_url, shared.challenge_scope());
                    shared.report(
                        &req,
                        resp.status(),
                        err.code(),
                        &description,
                        Some(fingerprint(token.as_bytes())),
                    );
                    Ok(resp)
                }
            }
        })
    }
}

/// A request for one of the bridge's endpoints: read the body (bounded), answer.
async fn serve_bridge<ReqBody, ResBody>(
    shared: &Shared,
    bridge: &crate::bridge::Bridge,
    route: crate::bridge::Route,
    req: Request<ReqBody>,
) -> Response<ResBody>
where
    ReqBody: axum::body::HttpBody<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<axum::BoxError>,
    ResBody: From<Bytes>,
{
    let origin = match shared.origin::<_, ResBody>(&req) {
        Ok(o) => o,
        Err(resp) => return resp,
    };
    let resource = format!("{origin}{}", shared.resource_path);
    let (parts, body) = req.into_parts();
    let body = if route.reads_body(&parts.method) {
        match axum::body::to_bytes(axum::body::Body::new(body), crate::bridge::MAX_BODY).await {
            Ok(b) => b,
            Err(_) => {
                let error = if route == crate::bridge::Route::Register {
                    "invalid_client_metadata"
                } else {
                    "invalid_request"
                };
                let resp = crate::bridge::oauth_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    error,
                    "the request body is larger than 16 KiB or could not be read",
                );
                return resp.map(ResBody::from);
            }
        }
    } else {
        Bytes::new()
    };
    let resp = bridge
        .handle(
            route,
            crate::bridge::BridgeRequest {
                method: &parts.method,
                query: parts.uri.query(),
                headers: &parts.headers,
                body,
                origin: &origin,
                resource: &resource,
            },
        )
        .await;
    resp.map(ResBody::from)
}

impl Shared {
    /// The `scope` challenges carry (SEP-835): the bridge's scopes, when the bridge is on.
    fn challenge_scope(&self) -> Option<&str> {
        self.bridge.as_ref().map(|b| b.challenge_scope.as_str())
    }

    fn report<B>(
        &self,
        req: &Request<B>,
        status: StatusCode,
        code: &str,
        message: &str,
        token_fingerprint: Option<String>,
    ) {
        if let Some(hook) = &self.on_rejection {
            hook(&Rejection {
                method: req.method().clone(),
                path: req.uri().path().to_string(),
                status,
                code: code.to_string(),
                message: message.to_string(),
                token_fingerprint,
            });
        }
    }
}

fn strip_identity_headers(headers: &mut HeaderMap) {
    for name in STRIPPED_IDENTITY_HEADERS {
        headers.remove(HeaderName::from_static(name));
    }
    // Header names are stored lowercase, so the prefix test is exact.
    let prefixed: Vec<HeaderName> = headers
        .keys()
        .filter(|k| {
            STRIPPED_IDENTITY_HEADER_PREFIXES
                .iter()
                .any(|p| k.as_str().starts_with(p))
        })
        .cloned()
        .collect();
    for name in prefixed {
        headers.remove(name);
    }
}

const AMBIGUOUS: &str = "the request has more than one Authorization header";
const UNUSABLE: &str = "the bearer token is empty or contains characters a token cannot have";

/// Why there is no usable bearer token.
enum MissingToken {
    /// No `Authorization` header, or another scheme: a plain challenge (RFC 6750 §3.1).
    Absent { detail: &'static str },
    /// Several `Authorization` headers: `400 invalid_request`.
    Ambiguous,
    /// `Bearer` with nothing after it, or characters a token cannot contain.
    Unusable,
}

impl MissingToken {
    fn status(&self) -> StatusCode {
        match self {
            MissingToken::Ambiguous => StatusCode::BAD_REQUEST,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            MissingToken::Absent { .. } => "missing_token",
            MissingToken::Ambiguous => "invalid_request",
            MissingToken::Unusable => "malformed",
        }
    }

    fn message(&self) -> &'static str {
        match self {
            MissingToken::Absent { detail } => detail,
            MissingToken::Ambiguous => AMBIGUOUS,
            MissingToken::Unusable => UNUSABLE,
        }
    }

    fn into_response<R: From<Bytes>>(self, metadata_url: &str, scope: Option<&str>) -> Response<R> {
        let mut challenge = Challenge::bearer().with_resource_metadata(metadata_url);
        challenge.scope = scope.map(str::to_string);
        match self {
            MissingToken::Absent { detail } => json_response(
                StatusCode::UNAUTHORIZED,
                Some(&challenge.to_header_value()),
                &json!({
                    "error": "unauthorized",
                    "error_description": detail,
                    "resource_metadata": metadata_url,
                }),
            ),
            MissingToken::Ambiguous => {
                let d = AMBIGUOUS;
                json_response(
                    StatusCode::BAD_REQUEST,
                    Some(&challenge.with_error("invalid_request", d).to_header_value()),
                    &json!({"error": "invalid_request", "error_description": d}),
                )
            }
            MissingToken::Unusable => {
                let d = UNUSABLE;
                json_response(
                    StatusCode::UNAUTHORIZED,
                    Some(&challenge.with_error("invalid_token", d).to_header_value()),
                    &json!({"error": "invalid_token", "error_description": d, "code": "malformed"}),
                )
            }
        }
    }
}

/// The bearer token from the single `Authorization` header.
// Not axum-extra's `TypedHeader<Authorization<Bearer>>`: that is not a dependency, and it would
// merge the three refusals (absent, ambiguous, unusable) that answer differently.
fn bearer_token(headers: &HeaderMap) -> Result<String, MissingToken> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(MissingToken::Absent {
            detail: "this server requires an access token: send `Authorization: Bearer <token>`",
        });
    };
    if values.next().is_some() {
        return Err(MissingToken::Ambiguous);
    }
    let value = value.to_str().map_err(|_| MissingToken::Unusable)?.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(MissingToken::Absent {
            detail: "this server accepts only Bearer tokens: send `Authorization: Bearer <token>`",
        });
    }
    let token = rest.trim();
    // RFC 6750 b64token: ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" followed by "="*
    let ok_char = |b: u8| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b);
    if token.is_empty() || !token.bytes().all(ok_char) {
        return Err(MissingToken::Unusable);
    }
    Ok(token.to_string())
}

/// The response for a token the validator did not accept; `description` is the error's message
/// already scrubbed of `token`.
fn rejection_for<R: From<Bytes>>(
    err: &AuthError,
    description: &str,
    metadata_url: &str,
    scope: Option<&str>,
) -> Response<R> {
    match err {
        // The validator could not decide (issuer unreachable): not the client's fault, and not a
        // reason to let the request through. 503 so clients retry instead of discarding the token.
        AuthError::JwksUnavailable { .. } | AuthError::DiscoveryFailed { .. } => {
            let mut resp = json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                &json!({
                    "error": "temporarily_unavailable",
                    "error_description": "the server cannot check tokens right now (its identity provider's keys are unavailable); retry shortly",
                    "code": err.code(),
                }),
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            resp
        }
        _ => json_response(
            StatusCode::UNAUTHORIZED,
            Some(&{
                let mut c = Challenge::bearer()
                    .with_resource_metadata(metadata_url)
                    .with_error("invalid_token", description);
                c.scope = scope.map(str::to_string);
                c.to_header_value()
            }),
            &json!({
                "error": "invalid_token",
                "error_description": description,
                "code": err.code(),
            }),
        ),
    }
}

/// Text for a response: never the token, nor any long piece of it, nor anything shaped like a JWT
/// (the crate's one scrubbing function, shared with the token client's errors).
fn scrub(text: &str, token: &str) -> String {
    crate::secret::scrub(text, &[token])
}

/// Drop control characters.
fn sanitize(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

/// Client-supplied text quoted in an error message: control characters dropped, at most `max`
/// characters (then `…`).
pub(crate) fn sanitize_for_message(s: &str, max: usize) -> String {
    let clean = sanitize(s);
    if clean.chars().count() > max {
        let mut out: String = clean.chars().take(max).collect();
        out.push('…');
        out
    } else {
        clean
    }
}

/// A JSON response with `Cache-Control: no-store` and, when given, `WWW-Authenticate`.
// Not axum's `Json`: that builds axum's body, and the service answers with any body built from
// bytes.
fn json_response<R: From<Bytes>>(
    status: StatusCode,
    www_authenticate: Option<&str>,
    body: &Value,
) -> Response<R> {
    let bytes = Bytes::from(serde_json::to_vec(body).unwrap_or_default());
    let mut resp = Response::new(R::from(bytes));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(value) = www_authenticate
        && let Ok(v) = HeaderValue::from_str(value)
    {
        headers.insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asserted_identity_headers_are_removed_and_the_rest_kept() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("x-pmcp-user-id", "admin"),
            ("X-PMCP-User-Roles", "MCP.Admin"),
            ("x-ms-client-principal-name", "admin@contoso.com"),
            ("x-pmcp-request-id", "kept"),
            ("accept", "application/json"),
        ] {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_static(v),
            );
        }
        strip_identity_headers(&mut h);
        let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["accept", "x-pmcp-request-id"]);
    }

    #[test]
    fn bearer_parsing() {
        let mut h = HeaderMap::new();
        assert!(matches!(bearer_token(&h), Err(MissingToken::Absent { .. })));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic dXNlcjpwdw=="),
        );
        assert!(matches!(bearer_token(&h), Err(MissingToken::Absent { .. })));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  abc.def.ghi "),
        );
        assert_eq!(bearer_token(&h).ok().as_deref(), Some("abc.def.ghi"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer"));
        assert!(matches!(bearer_token(&h), Err(MissingToken::Unusable)));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer a\"b"),
        );
        assert!(matches!(bearer_token(&h), Err(MissingToken::Unusable)));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer a.b.c"),
        );
        h.append(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer d.e.f"),
        );
        assert!(matches!(bearer_token(&h), Err(MissingToken::Ambiguous)));
    }

    #[test]
    fn scrub_removes_the_token_and_its_parts() {
        let token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhYmMxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXZhbHVlLXg";
        let text = format!("bad: {token} / eyJzdWIiOiJhYmMxMjM0NTY3ODkwIn0");
        let out = scrub(&text, token);
        assert!(!out.contains("eyJzdWIi"), "{out}");
        assert!(!out.contains(token));
    }

    #[test]
    fn resource_url_must_be_https_or_loopback() {
        let l = || AuthLayer::with_authenticator(Deny, vec![], vec![]);
        assert!(l().resource_url("http://example.com/mcp").is_err());
        assert!(l().resource_url("https://example.com/mcp?x=1").is_err());
        let ok = l().resource_url("https://example.com:8443/mcp/").unwrap();
        assert_eq!(
            ok.shared.public_base.as_deref(),
            Some("https://example.com:8443")
        );
        assert_eq!(ok.shared.resource_path, "/mcp");
        assert!(l().resource_url("http://127.0.0.1:3000").is_ok());
    }

    #[test]
    fn oidc_claims_become_a_context() {
        let claims = serde_json::json!({
            "sub": "auth0|123", "email": "a@example.com", "azp": "client-1",
            "scope": "openid read:tools", "permissions": ["execute:tools"], "roles": ["MCP.Admin"]
        });
        let ctx = context_from_oidc_claims(claims.as_object().unwrap());
        assert_eq!(ctx.user_id, "auth0|123");
        assert_eq!(ctx.app_id.as_deref(), Some("client-1"));
        assert!(ctx.scopes.contains("read:tools") && ctx.scopes.contains("execute:tools"));
        assert!(ctx.has_permission("admin:*"));
    }

    /// Refuses every token; for tests that need a layer but never authenticate.
    pub(super) struct Deny;
    impl TokenAuthenticator for Deny {
        fn authenticate<'a>(
            &'a self,
            _token: &'a str,
        ) -> BoxFuture<'a, Result<AuthContext, AuthError>> {
            Box::pin(async { Err(AuthError::InvalidSignature) })
        }
    }
}
