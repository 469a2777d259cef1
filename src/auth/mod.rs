//! The shared validator module: what a deployed MCP server links to check every request's token,
//! and what `cargo pmcp auth test` uses, so CI proves exactly what production enforces.
//! It has no CLI dependency (builds with `--no-default-features`).

pub mod credentials;
pub mod entra;
pub mod env;
pub mod error;
pub mod secret;

pub use credentials::{
    AccessToken, AssertionAlgorithm, AssertionIdentity, AssertionSource, Certificate,
    ClientCredential, ClientCredentialsRequest, CredentialError, DeviceAuthorization,
    EntraTokenError, GitHubOidc, TokenClient, get_obo_token,
};
pub use entra::{Cloud, ConfigError, EntraConfig};
pub use error::AuthError;
pub use secret::SecretString;
