//! The shared validator module: what a deployed MCP server links to check every request's token,
//! and what `cargo pmcp auth test` uses, so CI proves exactly what production enforces.
//! It has no CLI dependency (builds with `--no-default-features`).

pub mod claims;
pub mod clock;
pub mod credentials;
pub mod dangerous;
pub mod discovery;
pub mod entra;
pub mod env;
pub mod error;
pub mod jwks;
#[cfg(feature = "server")]
pub mod middleware;
pub mod permissions;
pub mod secret;
pub mod validator;

pub use claims::{ClaimAudience, EntraClaims};
pub use clock::{Clock, ManualClock, SystemClock};
pub use credentials::{
    AccessToken, AssertionAlgorithm, AssertionIdentity, AssertionSource, Certificate,
    ClientCredential, ClientCredentialsRequest, CredentialError, DeviceAuthorization,
    EntraTokenError, GitHubOidc, TokenClient, get_obo_token,
};
pub use discovery::DiscoveryDocument;
pub use entra::{Cloud, ConfigError, EntraConfig};
pub use error::AuthError;
pub use jsonwebtoken::Algorithm;
pub use jwks::{Jwk, JwkSet, KeyCacheStatus};
pub use permissions::{AuthContext, GroupPermissionMapper};
pub use secret::SecretString;
pub use validator::{JwtValidator, JwtValidatorConfig};
