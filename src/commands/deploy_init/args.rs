//! `deploy init`'s flags. The doc comments are the `--help` text.

use crate::config::{Provider, TargetKind};
use pmcp_auth::entra::Cloud;

/// Environment variable for `--target`.
pub const ENV_TARGET: &str = "PMCP_TARGET";
/// Environment variable for `--oauth`.
pub const ENV_OAUTH: &str = "PMCP_OAUTH";
/// Environment variable for `--server-name`.
pub const ENV_SERVER_NAME: &str = "PMCP_SERVER_NAME";
/// Environment variable for `--redirect-uri`.
pub const ENV_REDIRECT_URI: &str = "PMCP_REDIRECT_URI";
/// Environment variable for `--multi-tenant`.
pub const ENV_MULTI_TENANT: &str = "ENTRA_MULTI_TENANT";
/// Environment variable for `--allowed-tenant` (comma separated).
pub const ENV_ALLOWED_TENANTS: &str = "ENTRA_ALLOWED_TENANTS";
/// Environment variable for `--issuer`.
pub const ENV_ISSUER: &str = "OIDC_ISSUER";
/// Environment variable for `--audience`.
pub const ENV_AUDIENCE: &str = "OIDC_AUDIENCE";

/// Write .pmcp/deploy.toml and print the setup checklist (Azure Portal steps for Entra).
///
/// Each value comes from its flag, else its environment variable, else the value already in
/// .pmcp/deploy.toml, else a prompt (only on a terminal without CI), else its default. In CI a
/// missing value is an error that lists every missing flag and variable (exit 2).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct InitArgs {
    /// Where the server runs [env: PMCP_TARGET] [default: pmcp-run]
    #[arg(long, value_enum)]
    pub target: Option<TargetKind>,
    /// Identity provider [env: PMCP_OAUTH] [default: entra]
    #[arg(long, value_enum)]
    pub oauth: Option<Provider>,
    /// Directory (tenant) ID: a GUID or a verified domain [env: ENTRA_TENANT_ID, AZURE_TENANT_ID]
    #[arg(long, value_name = "ID")]
    pub tenant_id: Option<String>,
    /// Application (client) ID of the API's app registration [env: ENTRA_CLIENT_ID, AZURE_CLIENT_ID]
    #[arg(long, value_name = "GUID")]
    pub client_id: Option<String>,
    /// Authority host [env: ENTRA_AUTHORITY_HOST, AZURE_AUTHORITY_HOST] [default: https://login.microsoftonline.com]
    #[arg(long, value_name = "URL", conflicts_with = "cloud")]
    pub authority_host: Option<String>,
    /// Microsoft cloud (sets the authority host): public, usgov, china
    #[arg(long, value_name = "CLOUD", value_parser = parse_cloud)]
    pub cloud: Option<Cloud>,
    /// Accept users from other Entra tenants (`--multi-tenant=false` turns it off) [env: ENTRA_MULTI_TENANT]
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub multi_tenant: Option<bool>,
    /// With --multi-tenant: a tenant ID (GUID) to accept; repeat for more [env: ENTRA_ALLOWED_TENANTS, comma separated]
    #[arg(long = "allowed-tenant", value_name = "ID")]
    pub allowed_tenants: Vec<String>,
    /// The server's name [env: PMCP_SERVER_NAME] [default: the package name]
    #[arg(long, value_name = "NAME")]
    pub server_name: Option<String>,
    /// Web redirect URI to register [env: PMCP_REDIRECT_URI] [default: https://SERVER.pmcp.run/callback, or http://localhost:8080/callback for local]
    #[arg(long, value_name = "URL")]
    pub redirect_uri: Option<String>,
    /// --oauth oidc: the provider's issuer URL [env: OIDC_ISSUER]
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,
    /// --oauth oidc: the audience of the server's access tokens [env: OIDC_AUDIENCE]
    #[arg(long, value_name = "AUD")]
    pub audience: Option<String>,
    /// Accept every default without asking
    #[arg(long, short = 'y')]
    pub yes: bool,
}

fn parse_cloud(s: &str) -> Result<Cloud, String> {
    Cloud::from_name(s).ok_or_else(|| format!("`{s}` is not a cloud: use public, usgov or china"))
}
