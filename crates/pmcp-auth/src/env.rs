//! The environment contract between `cargo pmcp deploy` (which sets these variables on the deployed
//! server) and the server (which reads them back with `EntraConfig::from_env` /
//! `JwtValidatorConfig::from_env`). One list of names, used on both sides.

/// Entra directory (tenant) id, a GUID or a verified domain; `common`/`organizations` when multi-tenant.
pub const ENTRA_TENANT_ID: &str = "ENTRA_TENANT_ID";
/// Fallback for [`ENTRA_TENANT_ID`] (the Azure SDKs' name).
pub const AZURE_TENANT_ID: &str = "AZURE_TENANT_ID";
/// Application (client) id of the API's app registration.
pub const ENTRA_CLIENT_ID: &str = "ENTRA_CLIENT_ID";
/// Fallback for [`ENTRA_CLIENT_ID`].
pub const AZURE_CLIENT_ID: &str = "AZURE_CLIENT_ID";
/// Client secret (a secret: never in deploy.toml, never printed).
pub const ENTRA_CLIENT_SECRET: &str = "ENTRA_CLIENT_SECRET";
/// Fallback for [`ENTRA_CLIENT_SECRET`].
pub const AZURE_CLIENT_SECRET: &str = "AZURE_CLIENT_SECRET";
/// Authority host, e.g. `https://login.microsoftonline.com` (or a national cloud, or the emulator).
pub const ENTRA_AUTHORITY_HOST: &str = "ENTRA_AUTHORITY_HOST";
/// Fallback for [`ENTRA_AUTHORITY_HOST`].
pub const AZURE_AUTHORITY_HOST: &str = "AZURE_AUTHORITY_HOST";

/// `entra`, `oidc` or `none`.
pub const AUTH_PROVIDER: &str = "AUTH_PROVIDER";
/// Expected issuer (for Entra multi-tenant: the `{tenantid}` template).
pub const AUTH_ISSUER: &str = "AUTH_ISSUER";
/// JWKS URI.
pub const AUTH_JWKS_URI: &str = "AUTH_JWKS_URI";
/// Expected audience(s), comma separated.
pub const AUTH_AUDIENCE: &str = "AUTH_AUDIENCE";
/// Clock-skew leeway in seconds (default 300).
pub const AUTH_LEEWAY_SECONDS: &str = "AUTH_LEEWAY_SECONDS";
/// Allowed tenant GUIDs when multi-tenant, comma separated.
pub const AUTH_ALLOWED_TENANTS: &str = "AUTH_ALLOWED_TENANTS";
/// `true` to accept Entra v1.0 access tokens.
pub const AUTH_ACCEPT_V1_TOKENS: &str = "AUTH_ACCEPT_V1_TOKENS";
/// Group GUID → permissions, as a JSON object (from `[auth.entra.group_permissions]`).
pub const AUTH_GROUP_PERMISSIONS: &str = "AUTH_GROUP_PERMISSIONS";
/// `true` when multi-tenant.
pub const AUTH_MULTI_TENANT: &str = "AUTH_MULTI_TENANT";
/// Dynamic client registration enabled (`true`/`false`).
pub const AUTH_DCR_ENABLED: &str = "AUTH_DCR_ENABLED";
/// DCR public client patterns, comma separated.
pub const AUTH_DCR_PUBLIC_CLIENT_PATTERNS: &str = "AUTH_DCR_PUBLIC_CLIENT_PATTERNS";
/// DCR default scopes, space separated.
pub const AUTH_DCR_DEFAULT_SCOPES: &str = "AUTH_DCR_DEFAULT_SCOPES";

/// The OAuth bridge's sealing key (a secret): 32 random bytes as base64, base64url or 64 hex
/// digits (`openssl rand -base64 32`). Required when [`AUTH_DCR_ENABLED`] is `true`.
pub const AUTH_DCR_SEALING_KEY: &str = "AUTH_DCR_SEALING_KEY";
/// The previous sealing key during a rotation (a secret): still accepted for unsealing, never used
/// to seal. Optional.
pub const AUTH_DCR_SEALING_KEY_PREVIOUS: &str = "AUTH_DCR_SEALING_KEY_PREVIOUS";
/// The scope the bridge asks Entra for on the user's behalf (default
/// `api://{ENTRA_CLIENT_ID}/access_as_user`); `openid profile offline_access` is always added.
pub const AUTH_DCR_UPSTREAM_SCOPE: &str = "AUTH_DCR_UPSTREAM_SCOPE";
/// Development only: `true` lets the bridge fetch client ID metadata documents from loopback
/// addresses (and over plain http to a loopback host). Never set it on a deployed server.
pub const AUTH_DCR_CIMD_ALLOW_LOOPBACK: &str = "AUTH_DCR_CIMD_ALLOW_LOOPBACK";

/// Public URL of the protected MCP endpoint (e.g. `https://my-server.pmcp.run/mcp`), read by the
/// server middleware for its RFC 9728 metadata; optional (default: the request's `Host`).
pub const AUTH_RESOURCE_URL: &str = "AUTH_RESOURCE_URL";

/// The first of `names` that is set to a non-blank value, with the name that gave it.
pub fn first_set<'a>(names: &[&'a str]) -> Option<(String, &'a str)> {
    first_set_in(|name| std::env::var(name).ok(), names)
}

/// [`first_set`] over any variable source (tests, config maps, `from_lookup` constructors).
pub fn first_set_in<'a>(
    lookup: impl Fn(&str) -> Option<String>,
    names: &[&'a str],
) -> Option<(String, &'a str)> {
    names.iter().find_map(|name| {
        lookup(name)
            .filter(|v| !v.trim().is_empty())
            .map(|v| (v, *name))
    })
}
