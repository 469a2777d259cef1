//! Entra ID and OpenID Connect access-token validation for MCP servers: the shared validator module
//! that a deployed server links to check every request's token, and that `cargo pmcp auth test`
//! uses, so CI proves exactly what production enforces.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use pmcp_auth::{AuthContext, EntraConfig, GroupPermissionMapper, JwtValidator, JwtValidatorConfig};
//!
//! let entra = EntraConfig::new(
//!     "72f988bf-86f1-41af-91ab-2d7cd011db47", // tenant id
//!     "6f1e2d3c-4b5a-4987-8c6d-5e4f3a2b1c03", // the API's client id (the audience)
//! );
//! let validator = JwtValidator::new(JwtValidatorConfig::from_entra(&entra));
//! # let bearer = "";
//! let claims = validator.validate(bearer).await?;
//! let caller = AuthContext::from_entra_claims(&claims, &GroupPermissionMapper::default());
//! println!("{} may {:?}", caller.user_id, caller.scopes);
//! # Ok(()) }
//! ```
//!
//! # Features
//! - (always) the validator: [`JwtValidator`], its settings [`JwtValidatorConfig`] and
//!   [`EntraConfig`], the typed claims [`EntraClaims`], the caller's [`AuthContext`] with
//!   permissions from app roles and groups ([`GroupPermissionMapper`]), and [`env`](mod@env), the
//!   environment contract a deployed server reads.
//! - `server`: [`middleware`], a tower layer ([`AuthLayer`]) that answers 401/403 with
//!   `WWW-Authenticate` and serves the RFC 9728 protected-resource metadata; and [`bridge`], the
//!   OAuth facade in front of Entra that lets MCP clients register and sign in
//!   (`AUTH_DCR_ENABLED=true`).
//! - `client`: [`client`], token acquisition from Entra or an OIDC provider (client secret,
//!   certificate, federated credentials, GitHub Actions OIDC, device code, on-behalf-of).
//! - `lambda`: [`lambda`](mod@lambda), the same axum router served on AWS Lambda (`lambda_http`,
//!   when `AWS_LAMBDA_RUNTIME_API` is set) or on TCP (`$HOST:$PORT`).
//! - `rmcp`: [`rmcp`](mod@rmcp), the official Rust MCP SDK's streamable HTTP service behind the
//!   layer (stateless, JSON responses), the caller in a `#[tool]` and per-tool permissions.
//! - `pmcp`: [`pmcp`](mod@pmcp), `with_oauth_from_env()` on the pmcp SDK's `ServerBuilder` (an
//!   `AuthProvider` over the layer's own validator, the caller in `extra.auth_context()`), its
//!   router behind the layer, per-tool permissions. Needs Rust 1.91 (pmcp's minimum).
//! - `testing`: hooks that let tests wait for the key cache's background work. Not a stable API.
//!
//! Errors say what went wrong in terms of tokens and HTTP, with a stable [`AuthError::code`]; they
//! never advise a command to run (that is the CLI's job).
#![warn(missing_docs)]

mod b64;
mod claims;
mod clock;
pub mod dangerous;
mod discovery;
pub mod entra;
pub mod env;
mod error;
mod jwks;
mod permissions;
mod secret;
mod token_cache;
mod validator;

#[cfg(feature = "server")]
pub mod bridge;
#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "lambda")]
pub mod lambda;
#[cfg(feature = "server")]
pub mod middleware;
#[cfg(feature = "pmcp")]
pub mod pmcp;
#[cfg(feature = "rmcp")]
pub mod rmcp;
#[cfg(feature = "testing")]
pub mod testing;

pub use claims::{ClaimAudience, EntraClaims};
pub use clock::{Clock, ManualClock, SystemClock};
pub use entra::{Cloud, ConfigError, EntraConfig};
pub use error::AuthError;
pub use jsonwebtoken::Algorithm;
pub use jwks::KeyCacheStatus;
#[cfg(feature = "server")]
pub use middleware::AuthLayer;
pub use permissions::{AuthContext, GroupPermissionMapper};
pub use secret::SecretString;
pub use validator::{JwtValidator, JwtValidatorConfig, VerifiedTokenCacheStatus};
