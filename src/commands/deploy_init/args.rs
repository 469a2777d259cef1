//! `deploy init`'s flags. The doc comments are the `--help` text; the variables they name are those
//! of the input table ([`crate::config::inputs`]), which a unit test keeps in step.
#![allow(rustdoc::bare_urls)] // the doc comments are clap help text, read in a terminal

use crate::config::{Provider, TargetKind};
use pmcp_auth::entra::Cloud;

/// Write .pmcp/deploy.toml and print the setup checklist (Azure Portal steps for Entra).
///
/// Each value comes from its flag, else its environment variable (the first name listed, then the
/// others), else the value already in .pmcp/deploy.toml, else a prompt (only on a terminal without
/// CI), else its default. Every value not typed is logged with where it came from. In CI a missing
/// value is an error that lists every missing flag and variable (exit 2).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct InitArgs {
    /// Where the server runs [env: PMCP_TARGET] [default: pmcp-run]
    #[arg(long, value_enum)]
    pub target: Option<TargetKind>,
    /// Identity provider [env: AUTH_PROVIDER, PMCP_OAUTH] [default: entra]
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
    /// Accept users from other Entra tenants (`--multi-tenant=false` turns it off) [env: AUTH_MULTI_TENANT, ENTRA_MULTI_TENANT]
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub multi_tenant: Option<bool>,
    /// With --multi-tenant: a tenant ID (GUID) to accept; repeat for more [env: AUTH_ALLOWED_TENANTS, ENTRA_ALLOWED_TENANTS, comma separated]
    #[arg(long = "allowed-tenant", value_name = "ID")]
    pub allowed_tenants: Vec<String>,
    /// The server's name [env: PMCP_SERVER_NAME] [default: the package name]
    #[arg(long, value_name = "NAME")]
    pub server_name: Option<String>,
    /// Web redirect URI to register: the OAuth bridge's callback [env: PMCP_REDIRECT_URI] [default: https://SERVER.pmcp.run/oauth/callback, http://localhost:8080/oauth/callback for local, none for aws-lambda until its URL exists]
    #[arg(long, value_name = "URL")]
    pub redirect_uri: Option<String>,
    /// --oauth oidc: the provider's issuer URL [env: AUTH_ISSUER, OIDC_ISSUER]
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,
    /// --oauth oidc: the audience of the server's access tokens [env: AUTH_AUDIENCE, OIDC_AUDIENCE]
    #[arg(long, value_name = "AUD")]
    pub audience: Option<String>,
    /// Accept every default without asking
    #[arg(long, short = 'y')]
    pub yes: bool,
}

pub(super) fn parse_cloud(s: &str) -> Result<Cloud, String> {
    Cloud::from_name(s).ok_or_else(|| format!("`{s}` is not a cloud: use public, usgov or china"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::inputs;
    use clap::{Args, Command};

    /// The help text of each flag names the input's variables, canonical first, as the table says.
    #[test]
    fn help_names_the_variables_of_the_table() {
        let cmd = InitArgs::augment_args(Command::new("init"));
        for input in [
            &inputs::TARGET,
            &inputs::PROVIDER,
            &inputs::TENANT_ID,
            &inputs::CLIENT_ID,
            &inputs::AUTHORITY_HOST,
            &inputs::MULTI_TENANT,
            &inputs::ALLOWED_TENANTS,
            &inputs::SERVER_NAME,
            &inputs::REDIRECT_URI,
            &inputs::ISSUER,
            &inputs::AUDIENCE,
        ] {
            let flag = input.flag.unwrap().trim_start_matches("--");
            let arg = cmd
                .get_arguments()
                .find(|a| a.get_long() == Some(flag))
                .unwrap_or_else(|| panic!("no --{flag}"));
            let help = arg.get_help().unwrap().to_string();
            let want = format!("[env: {}", input.env_names().join(", "));
            assert!(help.contains(&want), "--{flag}: `{help}` lacks `{want}`");
        }
    }
}
