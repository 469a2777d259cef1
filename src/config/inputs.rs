//! Every input of every verb, declared once: its human name, deploy.toml key, flag, canonical
//! environment variable and documented aliases. Messages ("give it with --tenant-id or
//! ENTRA_TENANT_ID (or AZURE_TENANT_ID)"), logs and the README's environment table follow this
//! table; [`super::resolve::Resolver`] reads the inputs in the order it documents.
//!
//! One concept has one variable name from `deploy init` to the running server: the names of the
//! server's contract ([`pmcp_auth::env`], `AUTH_*` and `ENTRA_*`) are canonical. The names
//! `deploy init` used before (`ENTRA_MULTI_TENANT`, `ENTRA_ALLOWED_TENANTS`, `OIDC_ISSUER`,
//! `OIDC_AUDIENCE`, `PMCP_OAUTH`) keep working as aliases, read after the canonical name.
//!
//! | Input | Flag | Canonical variable | Aliases | deploy.toml | Verbs |
//! |---|---|---|---|---|---|
//! | [`TARGET`] | `--target` | `PMCP_TARGET` | | `target.type` | init, deploy, destroy |
//! | [`API_URL`] | `--api-url` | `PMCP_API_URL` | `PMCP_RUN_API_URL` | `target.api_url` | deploy, destroy, status |
//! | [`PROVIDER`] | `--oauth` | `AUTH_PROVIDER` | `PMCP_OAUTH` | `auth.provider` | init |
//! | [`TENANT_ID`] | `--tenant-id` | `ENTRA_TENANT_ID` | `AZURE_TENANT_ID` | `auth.tenant_id` | init |
//! | [`CLIENT_ID`] | `--client-id` | `ENTRA_CLIENT_ID` | `AZURE_CLIENT_ID` | `auth.client_id` | init |
//! | [`AUTHORITY_HOST`] | `--authority-host` (`--cloud`) | `ENTRA_AUTHORITY_HOST` | `AZURE_AUTHORITY_HOST` | `auth.entra.authority_host` | init |
//! | [`MULTI_TENANT`] | `--multi-tenant` | `AUTH_MULTI_TENANT` | `ENTRA_MULTI_TENANT` | `auth.entra.multi_tenant` | init |
//! | [`ALLOWED_TENANTS`] | `--allowed-tenant` | `AUTH_ALLOWED_TENANTS` | `ENTRA_ALLOWED_TENANTS` | `auth.entra.allowed_tenants` | init |
//! | [`ACCEPT_V1_TOKENS`] | `--accept-v1` | `AUTH_ACCEPT_V1_TOKENS` | | `auth.entra.accept_v1_tokens` | (auth test) |
//! | [`LEEWAY`] | `--leeway` | `AUTH_LEEWAY_SECONDS` | | | (auth test) |
//! | [`ISSUER`] | `--issuer` | `AUTH_ISSUER` | `OIDC_ISSUER` | `auth.issuer` | init |
//! | [`AUDIENCE`] | `--audience` | `AUTH_AUDIENCE` | `OIDC_AUDIENCE` | `auth.audience` | init |
//! | [`SERVER_NAME`] | `--server-name` | `PMCP_SERVER_NAME` | | `server.name` | init, deploy |
//! | [`REDIRECT_URI`] | `--redirect-uri` | `PMCP_REDIRECT_URI` | | `auth.entra.redirect_uri` | init |
//! | [`BIN`] | `--bin` | | | `server.bin` | deploy |
//! | [`PORT`] | `--port` | | | | deploy (local) |

use super::resolve::Input;
use pmcp_auth::env as contract;

/// Where the server runs (`pmcp-run`, `aws-lambda`, `local`).
pub const PMCP_TARGET: &str = "PMCP_TARGET";
/// The server's name.
pub const PMCP_SERVER_NAME: &str = "PMCP_SERVER_NAME";
/// The Web redirect URI to register.
pub const PMCP_REDIRECT_URI: &str = "PMCP_REDIRECT_URI";
/// The pmcp.run API base URL.
pub const PMCP_API_URL: &str = "PMCP_API_URL";
/// The pmcp.run API base URL (the second name the service's client reads).
pub const PMCP_RUN_API_URL: &str = "PMCP_RUN_API_URL";

/// Alias of [`contract::AUTH_PROVIDER`] (`deploy init`'s earlier name).
pub const PMCP_OAUTH: &str = "PMCP_OAUTH";
/// Alias of [`contract::AUTH_MULTI_TENANT`] (`deploy init`'s earlier name).
pub const ENTRA_MULTI_TENANT: &str = "ENTRA_MULTI_TENANT";
/// Alias of [`contract::AUTH_ALLOWED_TENANTS`] (`deploy init`'s earlier name).
pub const ENTRA_ALLOWED_TENANTS: &str = "ENTRA_ALLOWED_TENANTS";
/// Alias of [`contract::AUTH_ISSUER`] (`deploy init`'s earlier name).
pub const OIDC_ISSUER: &str = "OIDC_ISSUER";
/// Alias of [`contract::AUTH_AUDIENCE`] (`deploy init`'s earlier name).
pub const OIDC_AUDIENCE: &str = "OIDC_AUDIENCE";

/// `[target] type`.
pub const TARGET: Input = Input {
    name: "target",
    key: Some("target.type"),
    flag: Some("--target"),
    env: Some(PMCP_TARGET),
    aliases: &[],
};

/// `[target] api_url` (pmcp-run): `PMCP_API_URL`, then `PMCP_RUN_API_URL`, as the service's own
/// client reads them (docs/contracts/pmcp-run-api.md).
pub const API_URL: Input = Input {
    name: "pmcp-run API URL",
    key: Some("target.api_url"),
    flag: Some("--api-url"),
    env: Some(PMCP_API_URL),
    aliases: &[PMCP_RUN_API_URL],
};

/// `[auth] provider` (`enabled = false` means `none`).
pub const PROVIDER: Input = Input {
    name: "oauth provider",
    key: Some("auth.provider"),
    flag: Some("--oauth"),
    env: Some(contract::AUTH_PROVIDER),
    aliases: &[PMCP_OAUTH],
};

/// `[auth] tenant_id`.
pub const TENANT_ID: Input = Input {
    name: "tenant id",
    key: Some("auth.tenant_id"),
    flag: Some("--tenant-id"),
    env: Some(contract::ENTRA_TENANT_ID),
    aliases: &[contract::AZURE_TENANT_ID],
};

/// `[auth] client_id`: the API's application (client) id.
pub const CLIENT_ID: Input = Input {
    name: "client id",
    key: Some("auth.client_id"),
    flag: Some("--client-id"),
    env: Some(contract::ENTRA_CLIENT_ID),
    aliases: &[contract::AZURE_CLIENT_ID],
};

/// `[auth.entra] authority_host` (`--cloud` sets it too).
pub const AUTHORITY_HOST: Input = Input {
    name: "authority host",
    key: Some("auth.entra.authority_host"),
    flag: Some("--authority-host"),
    env: Some(contract::ENTRA_AUTHORITY_HOST),
    aliases: &[contract::AZURE_AUTHORITY_HOST],
};

/// `[auth.entra] multi_tenant`.
pub const MULTI_TENANT: Input = Input {
    name: "multi-tenant",
    key: Some("auth.entra.multi_tenant"),
    flag: Some("--multi-tenant"),
    env: Some(contract::AUTH_MULTI_TENANT),
    aliases: &[ENTRA_MULTI_TENANT],
};

/// `[auth.entra] allowed_tenants` (comma separated in a variable).
pub const ALLOWED_TENANTS: Input = Input {
    name: "allowed tenants",
    key: Some("auth.entra.allowed_tenants"),
    flag: Some("--allowed-tenant"),
    env: Some(contract::AUTH_ALLOWED_TENANTS),
    aliases: &[ENTRA_ALLOWED_TENANTS],
};

/// `[auth.entra] accept_v1_tokens`.
pub const ACCEPT_V1_TOKENS: Input = Input {
    name: "accept v1 tokens",
    key: Some("auth.entra.accept_v1_tokens"),
    flag: Some("--accept-v1"),
    env: Some(contract::AUTH_ACCEPT_V1_TOKENS),
    aliases: &[],
};

/// The validator's clock-skew leeway in seconds.
pub const LEEWAY: Input = Input {
    name: "leeway",
    key: None,
    flag: Some("--leeway"),
    env: Some(contract::AUTH_LEEWAY_SECONDS),
    aliases: &[],
};

/// `[auth] issuer` (OIDC).
pub const ISSUER: Input = Input {
    name: "issuer",
    key: Some("auth.issuer"),
    flag: Some("--issuer"),
    env: Some(contract::AUTH_ISSUER),
    aliases: &[OIDC_ISSUER],
};

/// `[auth] audience` (OIDC).
pub const AUDIENCE: Input = Input {
    name: "audience",
    key: Some("auth.audience"),
    flag: Some("--audience"),
    env: Some(contract::AUTH_AUDIENCE),
    aliases: &[OIDC_AUDIENCE],
};

/// `[server] name`.
pub const SERVER_NAME: Input = Input {
    name: "server name",
    key: Some("server.name"),
    flag: Some("--server-name"),
    env: Some(PMCP_SERVER_NAME),
    aliases: &[],
};

/// `[auth.entra] redirect_uri`.
pub const REDIRECT_URI: Input = Input {
    name: "redirect uri",
    key: Some("auth.entra.redirect_uri"),
    flag: Some("--redirect-uri"),
    env: Some(PMCP_REDIRECT_URI),
    aliases: &[],
};

/// `[server] bin`: the binary to deploy when the package has several.
pub const BIN: Input = Input {
    name: "binary",
    key: Some("server.bin"),
    flag: Some("--bin"),
    env: None,
    aliases: &[],
};

/// The local target's port.
pub const PORT: Input = Input {
    name: "port",
    key: None,
    flag: Some("--port"),
    env: None,
    aliases: &[],
};

/// Every input, in the order of the table above.
pub const ALL: &[&Input] = &[
    &TARGET,
    &API_URL,
    &PROVIDER,
    &TENANT_ID,
    &CLIENT_ID,
    &AUTHORITY_HOST,
    &MULTI_TENANT,
    &ALLOWED_TENANTS,
    &ACCEPT_V1_TOKENS,
    &LEEWAY,
    &ISSUER,
    &AUDIENCE,
    &SERVER_NAME,
    &REDIRECT_URI,
    &BIN,
    &PORT,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_key_is_a_known_key() {
        for input in ALL {
            let Some(key) = input.key else { continue };
            let (table, leaf) = key.rsplit_once('.').unwrap();
            let known = super::super::KNOWN_KEYS
                .iter()
                .find(|(t, _)| *t == table)
                .map(|(_, k)| *k)
                .unwrap_or_default();
            assert!(known.contains(&leaf), "{key} is not in KNOWN_KEYS");
        }
    }

    #[test]
    fn a_variable_names_one_input() {
        let mut seen = std::collections::BTreeMap::new();
        for input in ALL {
            for name in input.env_names() {
                if let Some(other) = seen.insert(name, input.name) {
                    panic!("{name} names both {other} and {}", input.name);
                }
            }
        }
    }

    #[test]
    fn the_readme_documents_every_variable() {
        let readme = include_str!("../../README.md");
        let table = readme
            .split("## Environment variables")
            .nth(1)
            .expect("README has an environment variables section");
        for input in ALL {
            for name in input.env_names() {
                assert!(
                    table.contains(&format!("`{name}`")),
                    "README's environment table lacks {name} ({})",
                    input.name
                );
            }
        }
    }
}
