//! [pmcp](https://docs.rs/pmcp) (the SDK `cargo pmcp` is named after) behind [`AuthLayer`]:
//! `with_oauth_from_env()` on its `ServerBuilder`, its streamable HTTP router mounted behind the
//! layer, the caller in a tool through pmcp's own `extra.auth_context()`, and per-tool permissions.
//!
//! Needs Rust 1.91 (pmcp's minimum), where the rest of this crate needs 1.88.
//!
//! ```no_run
//! # use pmcp::{RequestHandlerExtra, ToolHandler};
//! # use serde_json::{Value, json};
//! # struct Whoami;
//! # #[pmcp::async_trait]
//! # impl ToolHandler for Whoami {
//! #     async fn handle(&self, _args: Value, extra: RequestHandlerExtra) -> pmcp::Result<Value> {
//! #         let who = extra.auth_context().ok_or_else(|| pmcp::Error::authentication("no caller"))?;
//! #         Ok(json!({"user": who.subject, "email": who.email()}))
//! #     }
//! # }
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use pmcp::Server;
//! use pmcp_auth::pmcp::*;
//!
//! let server = Server::builder()
//!     .name("my-server")
//!     .version("1.0.0")
//!     .with_oauth_from_env()?          // Entra or any OIDC provider, from ENTRA_* / AUTH_*
//!     .tool("whoami", Whoami)
//!     .build()?;
//! let app = McpRouter::from_env(server)?   // the same layer (one key cache)
//!     .require("whoami", "execute:tools")  // 403 insufficient_scope before the tool runs
//!     .into_router()                       // /mcp and the RFC 9728 metadata, behind the layer
//!     .route("/health", axum::routing::get(|| async { "ok" })); // added after: no token needed
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! # Why `Server::builder().name(…).version(…)` and a `?`
//! pmcp's `ServerBuilder::new()` takes no arguments (name and version are builder calls), and
//! reading the environment can fail (a missing `ENTRA_CLIENT_ID`, a typo in `AUTH_PROVIDER`), so
//! [`ServerBuilderExt::with_oauth_from_env`] returns a `Result`: a server never starts unprotected
//! by accident.
//!
//! # What is installed
//! - [`ServerBuilderExt::with_oauth_from_env`] builds [`AuthLayer::from_env`] once per process
//!   ([`OAuth::from_env`]) and installs an [`OAuthProvider`] (pmcp's `AuthProvider`) that checks
//!   tokens with **the layer's own** validator ([`AuthLayer::authenticator`]): one key cache. The
//!   layer checks each request first; the provider then finds the token in the validator's
//!   verified-token cache and hands pmcp the caller.
//! - The caller, in a tool: `extra.auth_context()` (pmcp's [`AuthContext`](::pmcp::server::auth::AuthContext)),
//!   with `subject` = the `oid` (the stable user id; for an application, its service principal's
//!   `oid`), `scopes` = the permissions (from app roles, `scp` and mapped groups; `admin:*` for
//!   `MCP.Admin`), `client_id` = the calling application, and the claims `oid`, `email` (the UPN),
//!   `name`, `tid`, `roles` (so `email()`, `name()`, `tenant_id()` and `groups()` answer).
//!   [`caller`] turns it back into this crate's [`AuthContext`], [`require`]
//!   checks a permission in the tool. The raw token is **not** copied into the context (pmcp's
//!   context prints it in `Debug`, and a log line must never carry a token).
//! - [`McpRouter`]: pmcp's router (`pmcp::axum::concurrent_router_with_config`, stateless, JSON
//!   responses: any instance, e.g. any Lambda copy, answers any request) at `/mcp`, behind the
//!   layer: `401`/`403` with `WWW-Authenticate` and the RFC 9728 metadata, the OAuth bridge when
//!   `AUTH_DCR_ENABLED=true`. The layer removes every client-sent `x-pmcp-user-*` header (which
//!   pmcp would otherwise trust on a server without a provider) from every request it sees, on
//!   the paths it leaves public too
//!   ([`STRIPPED_IDENTITY_HEADER_PREFIXES`](crate::middleware::STRIPPED_IDENTITY_HEADER_PREFIXES)),
//!   so pmcp never sees one.
//! - pmcp's DNS-rebinding check (`Host`/`Origin`) allows the origin of the layer's public URL
//!   (`AUTH_RESOURCE_URL` / [`AuthLayer::resource_url`]) and loopback, plus
//!   [`McpRouter::allowed_origin`]. Without a public URL the check is off: every request needs a
//!   bearer token, which a rebinding page does not have, and the server cannot know the names it
//!   is reached by (a Lambda function URL, a load balancer).
//! - Per-tool permissions ([`McpRouter::require`]), decided before pmcp parses the request: from
//!   the `Mcp-Method`/`Mcp-Name` headers when the request declares `MCP-Protocol-Version:
//!   2026-07-28` or later (pmcp then rejects a body that contradicts them), otherwise from the
//!   JSON-RPC body. A caller without the permission gets `403` with
//!   `WWW-Authenticate: Bearer …, error="insufficient_scope", scope="…"`. Tools should still
//!   check in code ([`require`]): the router is the early answer, the tool the last line.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use ::pmcp::axum::{AllowedOrigins, RouterConfig, concurrent_router_with_config};
use ::pmcp::server::auth::{AuthContext as PmcpContext, AuthProvider};
use ::pmcp::server::streamable_http_server::StreamableHttpServerConfig;
use ::pmcp::{ErrorCode, RequestHandlerExtra, Server, ServerBuilder};
use axum::Router;
use serde_json::{Value, json};

use crate::AuthContext;
use crate::middleware::tool_guard::{self, Permission, ToolGuard, check_tool};
use crate::middleware::{AuthLayer, MiddlewareError, TokenAuthenticator};

pub use crate::middleware::STANDARD_HEADERS_VERSION;

/// How much of a request body the permission check (and pmcp) reads. Defaults to pmcp's own
/// limit (4 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The authentication of one server: the [`AuthLayer`] that guards its HTTP endpoint and the
/// pmcp provider that shares the layer's validator. Cheap to clone.
#[derive(Debug, Clone)]
pub struct OAuth {
    layer: AuthLayer,
}

/// The layer [`OAuth::from_env`] built, for the next caller in this process.
static FROM_ENV: Mutex<Option<AuthLayer>> = Mutex::new(None);

impl OAuth {
    /// Wrap a layer you built (e.g. [`AuthLayer::from_lookup`], [`AuthLayer::entra`]).
    pub fn new(layer: AuthLayer) -> Self {
        Self { layer }
    }

    /// [`AuthLayer::from_env`] (the environment contract of [`crate::env`]), built once per
    /// process: [`ServerBuilderExt::with_oauth_from_env`] and [`McpRouter::from_env`] get the same
    /// layer, hence one validator and one key cache. A failure is not remembered (the next call
    /// reads the environment again).
    pub fn from_env() -> Result<Self, MiddlewareError> {
        let mut slot = FROM_ENV.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(layer) = slot.as_ref() {
            return Ok(Self::new(layer.clone()));
        }
        let layer = AuthLayer::from_env()?;
        *slot = Some(layer.clone());
        Ok(Self::new(layer))
    }

    /// The layer, to set its resource name, rejection hook or public paths before
    /// [`McpRouter::new`]. The provider keeps checking tokens with the same validator.
    pub fn layer(&self) -> &AuthLayer {
        &self.layer
    }

    /// The pmcp `AuthProvider` over the layer's validator.
    pub fn provider(&self) -> OAuthProvider {
        OAuthProvider {
            authenticator: self.layer.authenticator(),
        }
    }
}

/// pmcp's `AuthProvider` backed by this crate's validator (the one of an [`AuthLayer`]): a valid
/// bearer token becomes pmcp's `AuthContext` ([`to_pmcp_context`]); anything else is refused. Made
/// by [`OAuth::provider`].
#[derive(Clone)]
pub struct OAuthProvider {
    authenticator: Arc<dyn TokenAuthenticator>,
}

impl std::fmt::Debug for OAuthProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthProvider").finish_non_exhaustive()
    }
}

#[::pmcp::async_trait]
impl AuthProvider for OAuthProvider {
    async fn validate_request(
        &self,
        authorization_header: Option<&str>,
    ) -> ::pmcp::Result<Option<PmcpContext>> {
        let header = authorization_header.map(str::trim).unwrap_or_default();
        let token = match header.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => {
                return Err(::pmcp::Error::authentication(
                    "this server requires an access token: send `Authorization: Bearer <token>`",
                ));
            }
        };
        match self.authenticator.authenticate(token).await {
            Ok(ctx) => Ok(Some(to_pmcp_context(&ctx))),
            // The validator's message names what is wrong with the token and never contains it.
            Err(e) => Err(::pmcp::Error::authentication(format!(
                "the access token was refused ({}): {e}",
                e.code()
            ))),
        }
    }
}

/// This crate's caller as pmcp's `AuthContext`: `subject` = `user_id` (the `oid`), `scopes` = the
/// permissions, `client_id` = the calling application, claims `oid`, `email`, `upn`, `name`,
/// `tid`, `tenant_id`, `roles`, `app_id`, `groups_overage`. No raw token.
pub fn to_pmcp_context(ctx: &AuthContext) -> PmcpContext {
    let mut claims: HashMap<String, Value> = HashMap::new();
    claims.insert("oid".into(), json!(ctx.user_id));
    if let Some(email) = &ctx.email {
        claims.insert("email".into(), json!(email));
        claims.insert("upn".into(), json!(email));
    }
    if let Some(name) = &ctx.name {
        claims.insert("name".into(), json!(name));
    }
    if !ctx.tenant_id.is_empty() {
        claims.insert("tid".into(), json!(ctx.tenant_id));
        claims.insert("tenant_id".into(), json!(ctx.tenant_id));
    }
    if let Some(app) = &ctx.app_id {
        claims.insert("app_id".into(), json!(app));
    }
    claims.insert("roles".into(), json!(ctx.roles));
    claims.insert("groups_overage".into(), json!(ctx.groups_overage));
    let mut out = PmcpContext::new(ctx.user_id.clone());
    out.scopes = ctx.scopes.iter().cloned().collect();
    out.claims = claims;
    out.client_id = ctx.app_id.clone();
    out
}

/// pmcp's `AuthContext` (made by [`OAuthProvider`]) back as this crate's [`AuthContext`]: the
/// inverse of [`to_pmcp_context`], with [`AuthContext::has_permission`] (where `admin:*` implies
/// every permission).
pub fn from_pmcp_context(ctx: &PmcpContext) -> AuthContext {
    AuthContext {
        user_id: ctx.subject.clone(),
        email: ctx.email().map(str::to_string),
        name: ctx.name().map(str::to_string),
        tenant_id: ctx.tenant_id().unwrap_or_default().to_string(),
        app_id: ctx.client_id.clone(),
        roles: ctx.claim::<Vec<String>>("roles").unwrap_or_default(),
        scopes: ctx.scopes.iter().cloned().collect(),
        groups_overage: ctx.claim::<bool>("groups_overage").unwrap_or(false),
    }
}

/// The JSON-RPC error code a tool answers when the caller lacks a permission (pmcp's
/// `PERMISSION_DENIED`).
pub const PERMISSION_DENIED: ErrorCode = ErrorCode::PERMISSION_DENIED;

/// The caller of this request (what [`OAuthProvider`] validated), from pmcp's
/// `extra.auth_context()`. Fails the call when the server was built without
/// [`ServerBuilderExt::with_oauth_from_env`] (or [`ServerBuilderExt::with_oauth`]).
pub fn caller(extra: &RequestHandlerExtra) -> ::pmcp::Result<AuthContext> {
    match extra.auth_context() {
        Some(ctx) if ctx.authenticated => Ok(from_pmcp_context(ctx)),
        _ => Err(::pmcp::Error::internal(
            "this tool reads the caller's identity but the server was built without an auth provider (with_oauth_from_env)",
        )),
    }
}

/// The caller, when it has `permission` (`admin:*` implies every permission); otherwise the
/// tool's error: [`PERMISSION_DENIED`] with `{"error": "insufficient_scope",
/// "required_permission": …}` as its data.
pub fn require(extra: &RequestHandlerExtra, permission: &str) -> ::pmcp::Result<AuthContext> {
    let who = caller(extra)?;
    if who.has_permission(permission) {
        Ok(who)
    } else {
        Err(permission_denied(permission))
    }
}

/// The error [`require`] returns for a missing `permission`.
pub fn permission_denied(permission: &str) -> ::pmcp::Error {
    ::pmcp::Error::Protocol {
        code: PERMISSION_DENIED,
        message: format!(
            "this tool requires the `{permission}` permission, which the token does not grant"
        ),
        data: Some(json!({"error": "insufficient_scope", "required_permission": permission})),
    }
}

/// `with_oauth_from_env()` and `with_oauth(&OAuth)` on pmcp's `ServerBuilder`: `use
/// pmcp_auth::pmcp::*;` brings it in.
pub trait ServerBuilderExt: Sized {
    /// Check every request's token with the deployment's configuration ([`OAuth::from_env`]: the
    /// `ENTRA_*`/`AUTH_*` variables of [`crate::env`]; Entra or any OIDC provider). Fails when the
    /// environment names no usable provider, or `AUTH_PROVIDER=none`.
    fn with_oauth_from_env(self) -> Result<Self, MiddlewareError>;

    /// Check every request's token with `auth`'s validator ([`OAuth::provider`]).
    fn with_oauth(self, auth: &OAuth) -> Self;
}

impl ServerBuilderExt for ServerBuilder {
    fn with_oauth_from_env(self) -> Result<Self, MiddlewareError> {
        Ok(self.with_oauth(&OAuth::from_env()?))
    }

    fn with_oauth(self, auth: &OAuth) -> Self {
        self.auth_provider(auth.provider())
    }
}

/// Builds the axum [`Router`] that serves a pmcp [`Server`] behind [`AuthLayer`]. See the
/// [module docs](self).
pub struct McpRouter {
    auth: AuthLayer,
    server: Arc<Server>,
    path: String,
    permissions: BTreeMap<String, Permission>,
    extra_origins: Vec<String>,
    max_body_bytes: usize,
}

impl std::fmt::Debug for McpRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpRouter")
            .field("auth", &self.auth)
            .field("path", &self.path)
            .field("permissions", &self.permissions)
            .field("extra_origins", &self.extra_origins)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

impl McpRouter {
    /// Serve `server` (built with [`ServerBuilderExt::with_oauth`] over the same layer) behind
    /// `auth`, at `/mcp`.
    pub fn new(auth: AuthLayer, server: Server) -> Self {
        Self::shared(auth, Arc::new(server))
    }

    /// [`McpRouter::new`] for a server already shared.
    pub fn shared(auth: AuthLayer, server: Arc<Server>) -> Self {
        Self {
            auth,
            server,
            path: "/mcp".to_string(),
            permissions: BTreeMap::new(),
            extra_origins: Vec::new(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }

    /// [`McpRouter::new`] with the layer [`OAuth::from_env`] built (the one
    /// [`ServerBuilderExt::with_oauth_from_env`] installed).
    pub fn from_env(server: Server) -> Result<Self, MiddlewareError> {
        Ok(Self::new(OAuth::from_env()?.layer, server))
    }

    /// Where the MCP endpoint is mounted. Defaults to `/mcp`.
    pub fn path(mut self, path: &str) -> Self {
        self.path = tool_guard::mount_path(path);
        self
    }

    /// Calling `tool` needs `permission`: without it the caller gets `403 insufficient_scope`
    /// whose `scope` is what the layer advertises (for Entra `api://<client id>/.default`, the
    /// scope that carries the app roles).
    pub fn require(self, tool: &str, permission: &str) -> Self {
        self.require_with_scope(tool, permission, None)
    }

    /// [`McpRouter::require`] with the `scope` the 403 names (the OAuth scope a client should
    /// request to get `permission`). `None`: the layer's advertised scopes.
    pub fn require_with_scope(mut self, tool: &str, permission: &str, scope: Option<&str>) -> Self {
        tool_guard::add_permission(&mut self.permissions, tool, permission, scope);
        self
    }

    /// Also accept requests whose `Host` or `Origin` is `origin` (`https://name[:port]`), e.g.
    /// another domain the server is reached by, or a browser client's page.
    pub fn allowed_origin(mut self, origin: &str) -> Self {
        self.extra_origins
            .push(origin.trim().trim_end_matches('/').to_string());
        self
    }

    /// How many bytes of a request body pmcp and the permission check read; a larger body gets
    /// `413`. Defaults to [`DEFAULT_MAX_BODY_BYTES`].
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// The origins pmcp's `Host`/`Origin` check accepts; empty means its check is off (see the
    /// module docs).
    pub fn allowed_origins(&self) -> Vec<String> {
        let Some(base) = self.auth.public_base_url() else {
            return Vec::new();
        };
        let mut origins: Vec<String> = ["localhost", "127.0.0.1", "[::1]"]
            .iter()
            .flat_map(|h| [format!("http://{h}"), format!("https://{h}")])
            .collect();
        origins.push(base.to_string());
        origins.extend(self.extra_origins.iter().cloned());
        origins
    }

    /// The router: the MCP endpoint and the RFC 9728 metadata behind the layer. Routes added to it
    /// afterwards (a health check) are not behind the layer.
    pub fn into_router(self) -> Router {
        let origins = self.allowed_origins();
        let allowed = if origins.is_empty() {
            AllowedOrigins::any()
        } else {
            AllowedOrigins::explicit(origins)
        };
        let mut server_config = StreamableHttpServerConfig::stateless();
        server_config.max_request_bytes = self.max_body_bytes;
        let mcp = concurrent_router_with_config(
            self.server,
            RouterConfig {
                allowed_origins: Some(allowed),
                server_config,
                ..RouterConfig::default()
            },
        );
        let guard = ToolGuard::new(
            self.permissions,
            self.auth.advertised_scopes(),
            self.max_body_bytes,
        );
        Router::new()
            .nest(&self.path, mcp)
            .layer(axum::middleware::from_fn_with_state(guard, check_tool))
            // The layer strips asserted identity headers from every request it sees, public
            // paths and the bridge included, before anything else.
            .layer(self.auth.resource_path(&self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    struct Deny;
    impl TokenAuthenticator for Deny {
        fn authenticate<'a>(
            &'a self,
            _token: &'a str,
        ) -> crate::middleware::BoxFuture<'a, Result<AuthContext, crate::AuthError>> {
            Box::pin(async { Err(crate::AuthError::InvalidSignature) })
        }
    }

    fn sample() -> AuthContext {
        AuthContext {
            user_id: "9f1c2b3a-0000-4000-8000-000000000001".into(),
            email: Some("alice@contoso.com".into()),
            name: Some("Alice".into()),
            tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
            app_id: Some("6f1e2d3c-4b5a-4987-8c6d-5e4f3a2b1c03".into()),
            roles: vec!["MCP.User".into()],
            scopes: BTreeSet::from(["execute:tools".to_string(), "read:tools".to_string()]),
            groups_overage: false,
        }
    }

    #[test]
    fn the_callers_claims_survive_the_round_trip_through_pmcp() {
        let ours = sample();
        let theirs = to_pmcp_context(&ours);
        assert_eq!(theirs.subject, ours.user_id);
        assert!(theirs.authenticated);
        assert_eq!(theirs.email(), Some("alice@contoso.com"));
        assert_eq!(theirs.name(), Some("Alice"));
        assert_eq!(theirs.tenant_id(), Some(ours.tenant_id.as_str()));
        assert_eq!(theirs.groups(), ["MCP.User"]);
        assert!(theirs.has_scope("execute:tools"));
        assert_eq!(theirs.client_id, ours.app_id);
        assert_eq!(theirs.token, None, "the raw token is never copied");
        assert_eq!(from_pmcp_context(&theirs), ours);
    }

    #[tokio::test]
    async fn the_provider_refuses_what_the_validator_refuses() {
        let provider = OAuth::new(AuthLayer::with_authenticator(Deny, vec![], vec![])).provider();
        for header in [None, Some("Basic dXNlcjpwdw=="), Some("Bearer a.b.c")] {
            let err = provider.validate_request(header).await.unwrap_err();
            assert!(matches!(err, ::pmcp::Error::Authentication(_)), "{err}");
        }
    }

    #[test]
    fn allowed_origins_follow_the_public_url() {
        let layer = || AuthLayer::with_authenticator(Deny, vec![], vec![]);
        let server = || Server::builder().name("t").version("0").build().unwrap();
        assert!(
            McpRouter::new(layer(), server())
                .allowed_origins()
                .is_empty()
        );
        let public = layer().resource_url("https://mcp.example.com/mcp").unwrap();
        let origins = McpRouter::new(public, server())
            .allowed_origin("https://app.example.com/")
            .allowed_origins();
        assert!(origins.contains(&"https://mcp.example.com".to_string()));
        assert!(origins.contains(&"https://app.example.com".to_string()));
        assert!(origins.contains(&"http://127.0.0.1".to_string()));
    }
}
