//! Access token claims, v1.0 and v2.0, as Entra issues them.

use super::config::{AppConfig, GROUPS_OVERAGE_LIMIT, TenantConfig, TokenVersion, UserConfig};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

/// How the client authenticated (`azpacr` / `appidacr`): 0 public, 1 secret, 2 certificate or
/// federated assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No credential (public client).
    Public,
    /// Client secret.
    Secret,
    /// Certificate or federated assertion.
    Assertion,
}

impl ClientAuth {
    fn acr(self) -> &'static str {
        match self {
            ClientAuth::Public => "0",
            ClientAuth::Secret => "1",
            ClientAuth::Assertion => "2",
        }
    }
}

/// Who the token is for.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// App-only (client credentials): the client's roles on the resource.
    App,
    /// Delegated: a user signed in to the client, with these scopes (space separated in `scp`).
    User {
        /// The signed-in user.
        user: &'a UserConfig,
        /// The delegated scopes granted (bare names, e.g. `access_as_user`).
        scopes: &'a [String],
    },
}

/// Everything needed for one token's claims.
#[derive(Debug, Clone, Copy)]
pub struct TokenSpec<'a> {
    /// `http://127.0.0.1:PORT`.
    pub authority_host: &'a str,
    /// The tenant issuing it.
    pub tenant: &'a TenantConfig,
    /// The API the token is for.
    pub resource: &'a AppConfig,
    /// The resource identifier the client asked for (v1 `aud` echoes it).
    pub requested_resource: &'a str,
    /// The calling client.
    pub client: &'a AppConfig,
    /// How the client authenticated.
    pub client_auth: ClientAuth,
    /// App-only or delegated.
    pub subject: Subject<'a>,
    /// `iat` (unix seconds).
    pub issued_at: u64,
    /// Seconds from `iat` to `exp`.
    pub lifetime: u64,
    /// Token version; defaults to the resource's when `None`.
    pub version: Option<TokenVersion>,
}

/// The v2 issuer of a tenant: `{authority}/{tid}/v2.0`.
pub fn issuer_v2(authority_host: &str, tenant_id: &str) -> String {
    format!("{authority_host}/{tenant_id}/v2.0")
}

/// The v1 issuer of a tenant: `https://sts.windows.net/{tid}/` (what Entra's public cloud puts in
/// v1.0 tokens whatever authority host was used).
pub fn issuer_v1(tenant_id: &str) -> String {
    format!("https://sts.windows.net/{tenant_id}/")
}

/// `n` random bytes, base64url: the opaque parts of claims, codes and refresh tokens.
pub(super) fn opaque(n: usize) -> String {
    let bytes: Vec<u8> = (0..n).map(|_| rand::random::<u8>()).collect();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The pairwise `sub` Entra gives a user for one application.
fn pairwise_sub(user_oid: &str, app_id: &str) -> String {
    let d = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("{user_oid}|{app_id}").as_bytes(),
    );
    URL_SAFE_NO_PAD.encode(&d.as_ref()[..32])
}

/// The claims of an access token.
pub fn claims(spec: &TokenSpec<'_>) -> Map<String, Value> {
    let version = spec.version.unwrap_or(spec.resource.token_version);
    let tid = spec.tenant.id.as_str();
    let iat = spec.issued_at;
    let mut c = Map::new();
    let aud = match version {
        TokenVersion::V2 => spec.resource.client_id.clone(),
        TokenVersion::V1 => {
            if spec.requested_resource.is_empty() {
                spec.resource
                    .identifier_uris
                    .first()
                    .cloned()
                    .unwrap_or_else(|| format!("api://{}", spec.resource.client_id))
            } else {
                spec.requested_resource.trim_end_matches('/').to_string()
            }
        }
    };
    c.insert("aud".into(), json!(aud));
    let iss = match version {
        TokenVersion::V2 => issuer_v2(spec.authority_host, tid),
        TokenVersion::V1 => issuer_v1(tid),
    };
    c.insert("iss".into(), json!(iss));
    c.insert("iat".into(), json!(iat));
    c.insert("nbf".into(), json!(iat));
    c.insert("exp".into(), json!(iat + spec.lifetime));
    c.insert("aio".into(), json!(opaque(48)));
    match version {
        TokenVersion::V2 => {
            c.insert("azp".into(), json!(spec.client.client_id));
            c.insert("azpacr".into(), json!(spec.client_auth.acr()));
        }
        TokenVersion::V1 => {
            c.insert("appid".into(), json!(spec.client.client_id));
            c.insert("appidacr".into(), json!(spec.client_auth.acr()));
            c.insert("idp".into(), json!(issuer_v1(tid)));
        }
    }
    match spec.subject {
        Subject::App => {
            c.insert("idtyp".into(), json!("app"));
            let oid = spec.client.object_id_in(tid);
            c.insert("oid".into(), json!(oid));
            c.insert("sub".into(), json!(oid));
            let roles = spec.client.roles_on(spec.resource);
            if !roles.is_empty() {
                c.insert("roles".into(), json!(roles));
            }
        }
        Subject::User { user, scopes } => {
            c.insert("idtyp".into(), json!("user"));
            c.insert("name".into(), json!(user.name));
            c.insert("oid".into(), json!(user.oid));
            c.insert(
                "sub".into(),
                json!(pairwise_sub(&user.oid, &spec.client.client_id)),
            );
            match version {
                TokenVersion::V2 => {
                    c.insert("preferred_username".into(), json!(user.upn));
                }
                TokenVersion::V1 => {
                    c.insert("upn".into(), json!(user.upn));
                    c.insert("unique_name".into(), json!(user.upn));
                    c.insert("amr".into(), json!(["pwd"]));
                    if let Some((given, family)) = user.name.split_once(' ') {
                        c.insert("given_name".into(), json!(given));
                        c.insert("family_name".into(), json!(family));
                    }
                }
            }
            if let Some(email) = &user.email {
                c.insert("email".into(), json!(email));
            }
            let roles: Vec<&String> = user
                .roles
                .iter()
                .filter(|r| spec.resource.app_roles.contains(r))
                .collect();
            if !roles.is_empty() {
                c.insert("roles".into(), json!(roles));
            }
            c.insert("scp".into(), json!(scopes.join(" ")));
            if spec.resource.group_membership_claims {
                let groups = user.all_groups();
                if groups.len() > GROUPS_OVERAGE_LIMIT {
                    let endpoint = match version {
                        TokenVersion::V2 => format!(
                            "https://graph.microsoft.com/v1.0/users/{}/getMemberObjects",
                            user.oid
                        ),
                        TokenVersion::V1 => format!(
                            "https://graph.windows.net/{tid}/users/{}/getMemberObjects",
                            user.oid
                        ),
                    };
                    c.insert("_claim_names".into(), json!({"groups": "src1"}));
                    c.insert(
                        "_claim_sources".into(),
                        json!({"src1": {"endpoint": endpoint}}),
                    );
                } else if !groups.is_empty() {
                    c.insert("groups".into(), json!(groups));
                }
            }
        }
    }
    c.insert("rh".into(), json!(format!("0.{}.", opaque(24))));
    c.insert("tid".into(), json!(tid));
    c.insert("uti".into(), json!(opaque(16)));
    c.insert("ver".into(), json!(version.ver()));
    c
}
