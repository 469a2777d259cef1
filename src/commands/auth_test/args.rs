//! The command line of `cargo pmcp auth test`: the doc comments below are its `--help`.

use std::path::PathBuf;

use pmcp_auth::entra::Cloud;

/// Fetch a token and check it with the shared validator (the code the server runs).
///
/// Inputs come from flags, then environment variables, then .pmcp/deploy.toml; flags and env vars
/// alone are enough. Exit codes: 0 ok, 2 usage/config, 3 token acquisition failed, 4 token invalid,
/// 5 an expectation not met, 6 server check failed.
#[derive(Debug, Clone, clap::Args)]
pub struct TestArgs {
    /// Check this token instead of acquiring one: the JWT itself, `@FILE`, or `-` for stdin.
    #[arg(long, value_name = "JWT|@FILE|-")]
    pub token: Option<String>,

    /// Directory (tenant) id [env: ENTRA_TENANT_ID, AZURE_TENANT_ID; deploy.toml: auth.tenant_id].
    #[arg(long, value_name = "ID")]
    pub tenant_id: Option<String>,
    /// The API's application (client) id [env: ENTRA_CLIENT_ID; deploy.toml: auth.client_id;
    /// then AZURE_CLIENT_ID].
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// Authority host, e.g. a local emulator [env: ENTRA_AUTHORITY_HOST, AZURE_AUTHORITY_HOST;
    /// deploy.toml: auth.entra.authority_host]. Defaults to the --cloud's, else the public cloud.
    #[arg(long, value_name = "URL")]
    pub authority_host: Option<String>,
    /// Microsoft cloud: public, usgov or china. Sets the authority host (unless --authority-host is
    /// given) and the audience of federated assertions. Defaults to the authority host's cloud.
    #[arg(long, value_name = "NAME", value_parser = parse_cloud)]
    pub cloud: Option<Cloud>,

    /// Scope to request. Defaults to `api://<client_id>/.default`.
    #[arg(long, value_name = "SCOPE")]
    pub scope: Option<String>,
    /// How to get the token; `auto` picks the first available (secret, certificate, federated,
    /// github, then device-code on a terminal) and says which.
    #[arg(long, value_enum, default_value_t = CredentialKind::Auto)]
    pub credential: CredentialKind,
    /// Read the client secret from stdin, e.g. `printf %s "$SECRET" | …` (a secret is never a
    /// flag value). Without this flag, the secret credential reads ENTRA_CLIENT_SECRET or
    /// AZURE_CLIENT_SECRET.
    #[arg(long, conflicts_with = "token")]
    pub client_secret_stdin: bool,
    /// PEM file with the client certificate and its private key [env: AZURE_CLIENT_CERTIFICATE_PATH].
    #[arg(long, value_name = "PEM")]
    pub certificate: Option<PathBuf>,
    /// Sign the certificate assertion with RS256 and a SHA-1 `x5t` header instead of PS256 and
    /// `x5t#S256`.
    #[arg(long)]
    pub rs256_assertion: bool,
    /// The client asking for the token [env: AZURE_CLIENT_ID, OIDC_CLIENT_ID for --oauth oidc].
    /// Defaults to the API's client id.
    #[arg(long, value_name = "ID")]
    pub caller_client_id: Option<String>,

    /// Require this app role in `roles` (repeatable).
    #[arg(long = "expect-role", value_name = "ROLE")]
    pub expect_roles: Vec<String>,
    /// Require this delegated scope in `scp` (repeatable).
    #[arg(long = "expect-scope", value_name = "SCOPE")]
    pub expect_scopes: Vec<String>,
    /// Require membership of this group object id (repeatable).
    #[arg(long = "expect-group", value_name = "GROUP_ID")]
    pub expect_groups: Vec<String>,
    /// Require this permission after roles, scopes and the group mapping (repeatable).
    #[arg(long = "expect-permission", value_name = "PERMISSION")]
    pub expect_permissions: Vec<String>,

    /// Accept tokens from any tenant (multi-tenant app) [env: AUTH_MULTI_TENANT].
    #[arg(long)]
    pub multi_tenant: bool,
    /// With --multi-tenant: a tenant id allowed to call (repeatable) [env: AUTH_ALLOWED_TENANTS].
    #[arg(long = "allowed-tenant", value_name = "ID")]
    pub allowed_tenants: Vec<String>,
    /// Accept Entra v1.0 access tokens [env: AUTH_ACCEPT_V1_TOKENS].
    #[arg(long)]
    pub accept_v1: bool,
    /// Clock-skew leeway in seconds [env: AUTH_LEEWAY_SECONDS]. Defaults to 300.
    #[arg(long, value_name = "SECONDS")]
    pub leeway: Option<u64>,

    /// Also check the deployed MCP server end to end: 401 + resource metadata without a token,
    /// then `initialize` and `tools/list` with the token.
    #[arg(long, value_name = "URL")]
    pub server_url: Option<String>,

    /// Identity provider: entra or oidc [deploy.toml: auth.provider]. Defaults to entra.
    #[arg(long, value_enum, value_name = "PROVIDER")]
    pub oauth: Option<OAuthKind>,
    /// OIDC issuer URL (discovery at `{issuer}/.well-known/openid-configuration`)
    /// [env: AUTH_ISSUER; deploy.toml: auth.issuer].
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,
    /// OIDC: the audience the validator requires [env: AUTH_AUDIENCE; deploy.toml: auth.audience].
    #[arg(long, value_name = "AUDIENCE")]
    pub audience: Option<String>,
    /// OIDC: RFC 8707 resource indicator sent with the token request.
    #[arg(long, value_name = "URI")]
    pub resource: Option<String>,
}

/// The credential kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CredentialKind {
    /// The first available, in the order below.
    Auto,
    /// Client secret from ENTRA_CLIENT_SECRET / AZURE_CLIENT_SECRET / --client-secret-stdin.
    Secret,
    /// Certificate from --certificate / AZURE_CLIENT_CERTIFICATE_PATH.
    Certificate,
    /// Federated token file from AZURE_FEDERATED_TOKEN_FILE.
    Federated,
    /// GitHub Actions OIDC ID token (job permission `id-token: write`).
    Github,
    /// A person signs in with a code in a browser.
    DeviceCode,
}

/// `--oauth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OAuthKind {
    /// Microsoft Entra ID.
    Entra,
    /// Any OpenID Connect provider.
    Oidc,
}

fn parse_cloud(s: &str) -> Result<Cloud, String> {
    Cloud::from_name(s).ok_or_else(|| format!("`{s}` is not a cloud; use public, usgov or china"))
}
