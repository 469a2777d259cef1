//! What the emulator knows: tenants, their applications (clients and APIs) and users.
//!
//! [`EmulatorConfig::default`] is a complete directory a bare `cargo pmcp auth emulator` serves: one
//! tenant, an API app with the app roles `MCP.User`, `MCP.Admin` and `MCP.Service`, a second client
//! app with no role, a downstream API for on-behalf-of calls, and three users (one of them with more
//! than 200 groups, and one without any role). The same shape deserializes from TOML (see `docs/emulator.md`).

use pmcp_auth::SecretString;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Directory (tenant) id of the default tenant.
pub const DEFAULT_TENANT_ID: &str = "9c9d4a3e-5e26-4d1c-9f0b-2f3c8e1d7a01";
/// Verified domain of the default tenant.
pub const DEFAULT_TENANT_DOMAIN: &str = "contoso.onmicrosoft.com";
/// Directory (tenant) id of [`TenantConfig::second`], a tenant for "wrong tenant" cases.
pub const SECOND_TENANT_ID: &str = "4b7f2c1a-8d3e-4f6a-b2c9-1e0d5a7c3b02";
/// Verified domain of [`TenantConfig::second`].
pub const SECOND_TENANT_DOMAIN: &str = "fabrikam.onmicrosoft.com";
/// Application (client) id of the default API app (the MCP server's registration).
pub const DEFAULT_API_CLIENT_ID: &str = "6f1e2d3c-4b5a-4987-8c6d-5e4f3a2b1c03";
/// Application (client) id of the default second client app (no app role assigned; public client).
pub const DEFAULT_CLIENT_APP_ID: &str = "2a3b4c5d-6e7f-4081-9a2b-3c4d5e6f7a04";
/// Application (client) id of the default downstream API (target of on-behalf-of calls).
pub const DEFAULT_DOWNSTREAM_CLIENT_ID: &str = "8d7c6b5a-4f3e-4d2c-8b1a-0f9e8d7c6b05";
/// Group id of the default "MCP Engineering" group (alice and admin).
pub const DEFAULT_GROUP_ENGINEERING: &str = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e801";
/// Group id of the default "MCP Admins" group (admin).
pub const DEFAULT_GROUP_ADMINS: &str = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e802";
/// The delegated scope the default API exposes.
pub const DEFAULT_API_SCOPE: &str = "access_as_user";
/// Entra puts at most this many groups in a JWT; more gives the overage claims instead.
pub const GROUPS_OVERAGE_LIMIT: usize = 200;
/// The env var the default client secret is read from.
pub const DEFAULT_CLIENT_SECRET_ENV: &str = "ENTRA_CLIENT_SECRET";

/// Access token version an API (resource) app asks for (`requestedAccessTokenVersion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum TokenVersion {
    /// v1.0: `iss` = `https://sts.windows.net/{tid}/`, `appid`, `upn`, `unique_name`.
    #[serde(rename = "1")]
    V1,
    /// v2.0: `iss` = `{authority}/{tid}/v2.0`, `azp`, `preferred_username`.
    #[default]
    #[serde(rename = "2")]
    V2,
}

impl TokenVersion {
    /// `"1.0"` or `"2.0"` (the `ver` claim).
    pub fn ver(self) -> &'static str {
        match self {
            TokenVersion::V1 => "1.0",
            TokenVersion::V2 => "2.0",
        }
    }

    /// Parse `1`, `2`, `1.0`, `2.0`, `v1`, `v2`.
    pub fn parse(s: &str) -> Option<TokenVersion> {
        match s.trim().trim_start_matches(['v', 'V']) {
            "1" | "1.0" => Some(TokenVersion::V1),
            "2" | "2.0" => Some(TokenVersion::V2),
            _ => None,
        }
    }
}

/// The whole directory the emulator serves.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmulatorConfig {
    /// Tenants; the first one is the default (`tenant_id()` of the running emulator).
    #[serde(rename = "tenant", default)]
    pub tenants: Vec<TenantConfig>,
    /// How long a rotated-out signing key stays in the key set. Defaults to 86 400 s (Entra keeps
    /// retired keys published for a while so cached tokens keep validating).
    #[serde(default = "default_grace")]
    pub key_grace_seconds: u64,
    /// Sign this user (upn) in at once: device codes are approved on creation and the authorize
    /// endpoint needs no `login_hint`. Defaults to none (approve through the control endpoint or
    /// [`super::RunningEmulator::approve_device_code`]; pass `login_hint` to authorize).
    #[serde(default)]
    pub device_code_auto_approve: Option<String>,
    /// Lifetime of app-only tokens in seconds. Defaults to 3599 (Entra's).
    #[serde(default = "default_app_lifetime")]
    pub app_token_lifetime_seconds: u64,
    /// Lifetime range of user tokens in seconds (Entra picks 60–90 minutes at random).
    /// Defaults to `[3600, 5400]`.
    #[serde(default = "default_user_lifetime")]
    pub user_token_lifetime_seconds: [u64; 2],
}

fn default_grace() -> u64 {
    86_400
}
fn default_app_lifetime() -> u64 {
    3599
}
fn default_user_lifetime() -> [u64; 2] {
    [3600, 5400]
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            tenants: vec![TenantConfig::standard(
                DEFAULT_TENANT_ID,
                DEFAULT_TENANT_DOMAIN,
            )],
            key_grace_seconds: default_grace(),
            device_code_auto_approve: None,
            app_token_lifetime_seconds: default_app_lifetime(),
            user_token_lifetime_seconds: default_user_lifetime(),
        }
    }
}

impl EmulatorConfig {
    /// The default directory plus [`TenantConfig::second`] (same app ids, other tenant): tokens from
    /// it are the "wrong tenant" case.
    pub fn with_second_tenant() -> Self {
        let mut c = Self::default();
        c.tenants.push(TenantConfig::standard(
            SECOND_TENANT_ID,
            SECOND_TENANT_DOMAIN,
        ));
        c
    }

    /// Give every app that has no secret yet this client secret.
    pub fn set_default_secret(&mut self, secret: &SecretString) {
        for t in &mut self.tenants {
            for a in &mut t.apps {
                if a.client_secrets.is_empty() && a.client_secret_env.is_none() {
                    a.client_secrets.push(secret.clone());
                }
            }
        }
    }

    /// Set the access token version of every API app of the default tenant.
    pub fn set_token_version(&mut self, version: TokenVersion) {
        if let Some(t) = self.tenants.first_mut() {
            for a in &mut t.apps {
                if !a.app_roles.is_empty() || !a.scopes.is_empty() {
                    a.token_version = version;
                }
            }
        }
    }

    /// The default (first) tenant.
    pub fn default_tenant(&self) -> Option<&TenantConfig> {
        self.tenants.first()
    }

    /// Find a tenant by GUID (case-insensitive) or verified domain.
    pub fn tenant(&self, id_or_domain: &str) -> Option<&TenantConfig> {
        self.tenants.iter().find(|t| t.is_named_by(id_or_domain))
    }

    /// Mutable access to a tenant by GUID or domain.
    pub fn tenant_mut(&mut self, id_or_domain: &str) -> Option<&mut TenantConfig> {
        self.tenants
            .iter_mut()
            .find(|t| t.is_named_by(id_or_domain))
    }

    /// Check what the server relies on: GUIDs where Entra has GUIDs, unique ids, roles that exist.
    pub fn validate(&self) -> Result<(), String> {
        if self.tenants.is_empty() {
            return Err("no tenant is configured (add a [[tenant]] table)".into());
        }
        if let Some(upn) = &self.device_code_auto_approve
            && !self.tenants.iter().any(|t| t.user(upn).is_some())
        {
            return Err(format!(
                "device_code_auto_approve names `{upn}`, who is no user of any configured tenant"
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for t in &self.tenants {
            if !pmcp_auth::entra::is_guid(&t.id) {
                return Err(format!(
                    "tenant id `{}` is not a GUID (Entra tenant ids are GUIDs; put the domain in `domain`)",
                    t.id
                ));
            }
            if !seen.insert(t.id.to_ascii_lowercase()) {
                return Err(format!("tenant `{}` is listed twice", t.id));
            }
            let mut apps = std::collections::BTreeSet::new();
            for a in &t.apps {
                if !pmcp_auth::entra::is_guid(&a.client_id) {
                    return Err(format!(
                        "app `{}` in tenant `{}`: client_id `{}` is not a GUID",
                        a.name, t.id, a.client_id
                    ));
                }
                if !apps.insert(a.client_id.to_ascii_lowercase()) {
                    return Err(format!(
                        "app client_id `{}` is listed twice in tenant `{}`",
                        a.client_id, t.id
                    ));
                }
            }
            for a in &t.apps {
                for (resource, roles) in &a.app_role_assignments {
                    let Some(r) = t.resource(resource) else {
                        return Err(format!(
                            "app `{}`: app_role_assignments names `{resource}`, which is no app in tenant `{}`",
                            a.name, t.id
                        ));
                    };
                    for role in roles {
                        if !r.app_roles.iter().any(|x| x == role) {
                            return Err(format!(
                                "app `{}`: role `{role}` is not defined by `{}` (its app_roles: {})",
                                a.name,
                                r.name,
                                r.app_roles.join(", ")
                            ));
                        }
                    }
                }
                for (i, pem) in a.certificates.iter().enumerate() {
                    if super::assertion::thumbprints(pem).is_none() {
                        return Err(format!(
                            "app `{}`: certificates[{i}] is not a PEM certificate (-----BEGIN CERTIFICATE----- … -----END CERTIFICATE-----)",
                            a.name
                        ));
                    }
                }
                for (platform, uri) in a.all_redirect_uris() {
                    check_redirect_uri(platform, uri).map_err(|why| {
                        format!(
                            "app `{}`: redirect URI `{uri}` ({}) {why}",
                            a.name,
                            platform.as_str()
                        )
                    })?;
                }
                for fc in &a.federated_credentials {
                    if fc.issuer.is_empty() || fc.subject.is_empty() {
                        return Err(format!(
                            "app `{}`: a federated credential needs both `issuer` and `subject`",
                            a.name
                        ));
                    }
                }
            }
            let mut upns = std::collections::BTreeSet::new();
            for u in &t.users {
                if !pmcp_auth::entra::is_guid(&u.oid) {
                    return Err(format!("user `{}`: oid `{}` is not a GUID", u.upn, u.oid));
                }
                if !upns.insert(u.upn.to_ascii_lowercase()) {
                    return Err(format!(
                        "user `{}` is listed twice in tenant `{}`",
                        u.upn, t.id
                    ));
                }
            }
        }
        Ok(())
    }
}

/// One directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Directory (tenant) id, a GUID.
    pub id: String,
    /// Verified domain (`contoso.onmicrosoft.com`); the endpoints accept it in place of the GUID.
    #[serde(default)]
    pub domain: Option<String>,
    /// Applications registered (or with a service principal) in this tenant.
    #[serde(rename = "app", default)]
    pub apps: Vec<AppConfig>,
    /// Users.
    #[serde(rename = "user", default)]
    pub users: Vec<UserConfig>,
}

impl TenantConfig {
    /// An empty tenant.
    pub fn new(id: impl Into<String>, domain: Option<&str>) -> Self {
        Self {
            id: id.into(),
            domain: domain.map(str::to_string),
            apps: Vec::new(),
            users: Vec::new(),
        }
    }

    /// The standard tenant: the API app, the client app, the downstream API and four users
    /// (`alice@{domain}` with MCP.User, `admin@{domain}` with MCP.Admin and MCP.User,
    /// `bob@{domain}` with no role and no group, `overage@{domain}` with MCP.User and 251 groups). Object ids are derived from the tenant id, so two standard tenants differ.
    pub fn standard(id: &str, domain: &str) -> Self {
        let oid = |name: &str| derived_guid(id, name);
        let api = AppConfig {
            name: "MCP Server".into(),
            client_id: DEFAULT_API_CLIENT_ID.into(),
            object_id: Some(oid("sp:api")),
            identifier_uris: vec![format!("api://{DEFAULT_API_CLIENT_ID}")],
            app_roles: vec!["MCP.User".into(), "MCP.Admin".into(), "MCP.Service".into()],
            scopes: vec![DEFAULT_API_SCOPE.into()],
            token_version: TokenVersion::V2,
            app_role_assignments: BTreeMap::from([(
                DEFAULT_API_CLIENT_ID.to_string(),
                vec!["MCP.Service".to_string()],
            )]),
            public_client: false,
            group_membership_claims: true,
            // An MCP server's OAuth bridge on this machine (any port: loopback URIs match on any).
            web_redirect_uris: vec![
                "http://localhost/oauth/callback".into(),
                "http://127.0.0.1/oauth/callback".into(),
            ],
            ..AppConfig::default()
        };
        let client = AppConfig {
            name: "MCP Client".into(),
            client_id: DEFAULT_CLIENT_APP_ID.into(),
            object_id: Some(oid("sp:client")),
            public_client: true,
            redirect_uris: vec![
                "http://localhost".into(),
                "http://localhost/callback".into(),
                "http://127.0.0.1".into(),
                "http://127.0.0.1/callback".into(),
            ],
            ..AppConfig::default()
        };
        let downstream = AppConfig {
            name: "Downstream API".into(),
            client_id: DEFAULT_DOWNSTREAM_CLIENT_ID.into(),
            object_id: Some(oid("sp:downstream")),
            identifier_uris: vec![format!("api://{DEFAULT_DOWNSTREAM_CLIENT_ID}")],
            scopes: vec!["Data.Read".into()],
            ..AppConfig::default()
        };
        let users = vec![
            UserConfig {
                name: "Alice Example".into(),
                upn: format!("alice@{domain}"),
                oid: oid("user:alice"),
                email: Some(format!("alice@{domain}")),
                roles: vec!["MCP.User".into()],
                groups: vec![DEFAULT_GROUP_ENGINEERING.into()],
                extra_group_count: 0,
            },
            UserConfig {
                name: "Ada Admin".into(),
                upn: format!("admin@{domain}"),
                oid: oid("user:admin"),
                email: Some(format!("admin@{domain}")),
                roles: vec!["MCP.Admin".into(), "MCP.User".into()],
                groups: vec![
                    DEFAULT_GROUP_ENGINEERING.into(),
                    DEFAULT_GROUP_ADMINS.into(),
                ],
                extra_group_count: 0,
            },
            UserConfig {
                name: "Bob Noroles".into(),
                upn: format!("bob@{domain}"),
                oid: oid("user:bob"),
                email: Some(format!("bob@{domain}")),
                roles: Vec::new(),
                groups: Vec::new(),
                extra_group_count: 0,
            },
            UserConfig {
                name: "Owen Overage".into(),
                upn: format!("overage@{domain}"),
                oid: oid("user:overage"),
                email: Some(format!("overage@{domain}")),
                roles: vec!["MCP.User".into()],
                groups: vec![DEFAULT_GROUP_ENGINEERING.into()],
                extra_group_count: 250,
            },
        ];
        Self {
            id: id.into(),
            domain: Some(domain.into()),
            apps: vec![api, client, downstream],
            users,
        }
    }

    /// [`TenantConfig::standard`] for [`SECOND_TENANT_ID`].
    pub fn second() -> Self {
        Self::standard(SECOND_TENANT_ID, SECOND_TENANT_DOMAIN)
    }

    /// The verified domain, if any: the name the endpoints accept for this tenant besides its GUID.
    pub fn domains(&self) -> impl Iterator<Item = &str> {
        self.domain.iter().map(String::as_str)
    }

    /// True when `id_or_domain` is this tenant's GUID or its domain (case-insensitive).
    pub fn is_named_by(&self, id_or_domain: &str) -> bool {
        self.id.eq_ignore_ascii_case(id_or_domain)
            || self.domains().any(|d| d.eq_ignore_ascii_case(id_or_domain))
    }

    /// An app by client id (case-insensitive).
    pub fn app(&self, client_id: &str) -> Option<&AppConfig> {
        self.apps
            .iter()
            .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    }

    /// Mutable app by client id.
    pub fn app_mut(&mut self, client_id: &str) -> Option<&mut AppConfig> {
        self.apps
            .iter_mut()
            .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    }

    /// The app a resource identifier names: its client id, `api://{client id}` or one of its
    /// identifier URIs (trailing slash ignored).
    pub fn resource(&self, resource: &str) -> Option<&AppConfig> {
        self.apps.iter().find(|a| a.is_named_by(resource))
    }

    /// A user by upn (case-insensitive).
    pub fn user(&self, upn: &str) -> Option<&UserConfig> {
        self.users.iter().find(|u| u.upn.eq_ignore_ascii_case(upn))
    }

    /// A user by object id.
    pub fn user_by_oid(&self, oid: &str) -> Option<&UserConfig> {
        self.users.iter().find(|u| u.oid.eq_ignore_ascii_case(oid))
    }
}

/// An application registration with its service principal in the tenant. The same entry is both a
/// client (credentials, role assignments) and, when it defines `app_roles` or `scopes`, a resource.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Application (client) id, a GUID.
    pub client_id: String,
    /// Object id of the service principal (the `oid`/`sub` of app-only tokens). Defaults to a GUID
    /// derived from tenant and client id.
    #[serde(default)]
    pub object_id: Option<String>,
    /// Client secrets. Never read from a file: set them with `client_secret_env` (or, for the
    /// library, push a [`SecretString`]).
    #[serde(skip)]
    pub client_secrets: Vec<SecretString>,
    /// Name of an environment variable holding this app's client secret (read by the CLI).
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// Certificates (PEM, `-----BEGIN CERTIFICATE-----`) whose keys may sign client assertions.
    #[serde(default)]
    pub certificates: Vec<String>,
    /// Federated identity credentials (workload identity federation).
    #[serde(default)]
    pub federated_credentials: Vec<FederatedCredential>,
    /// Application ID URIs (`api://…`). `api://{client_id}` is always accepted.
    #[serde(default)]
    pub identifier_uris: Vec<String>,
    /// App roles this app defines as a resource (`MCP.User`, …).
    #[serde(default)]
    pub app_roles: Vec<String>,
    /// Delegated scopes this app exposes as a resource (`access_as_user`).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Access token version this app asks for as a resource. Defaults to 2.
    #[serde(default)]
    pub token_version: TokenVersion,
    /// App roles granted to this app as a client: resource (client id or identifier URI) → roles.
    #[serde(default)]
    pub app_role_assignments: BTreeMap<String, Vec<String>>,
    /// `allowPublicClient`: may use the device code and authorization code flows without a
    /// credential.
    #[serde(default)]
    pub public_client: bool,
    /// Redirect URIs of the "Mobile and desktop applications" platform (`publicClient` in the
    /// manifest): a code issued to one is redeemed **without** a credential, and presenting a
    /// secret or assertion is AADSTS700025, as in Entra. A loopback URI (`http://localhost…`,
    /// `http://127.0.0.1…`) matches any port (same path), on every platform.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Redirect URIs of the "Web" platform (`web.redirectUris`): a code issued to one must be
    /// redeemed with the app's client secret or a client assertion (AADSTS7000218 without one).
    /// Where an MCP server's OAuth bridge registers its `/oauth/callback`.
    #[serde(default)]
    pub web_redirect_uris: Vec<String>,
    /// Redirect URIs of the "Single-page application" platform (`spa.redirectUris`): PKCE is
    /// required (AADSTS9002325), the code is redeemed cross-origin (an `Origin` header, else
    /// AADSTS9002327) and without a credential (AADSTS700025).
    #[serde(default)]
    pub spa_redirect_uris: Vec<String>,
    /// `groupMembershipClaims`: put `groups` (or the overage claims) in tokens for this resource.
    #[serde(default)]
    pub group_membership_claims: bool,
}

impl AppConfig {
    /// A client app with a client id and nothing else.
    pub fn new(name: &str, client_id: &str) -> Self {
        Self {
            name: name.into(),
            client_id: client_id.into(),
            ..Self::default()
        }
    }

    /// The service principal's object id.
    pub fn object_id_in(&self, tenant_id: &str) -> String {
        self.object_id
            .clone()
            .unwrap_or_else(|| derived_guid(tenant_id, &format!("sp:{}", self.client_id)))
    }

    /// True when the app is a resource (defines roles or scopes).
    pub fn is_resource(&self) -> bool {
        !self.app_roles.is_empty() || !self.scopes.is_empty() || !self.identifier_uris.is_empty()
    }

    /// True when `name` is this app as a resource identifier: its client id, `api://{client id}` or
    /// one of its identifier URIs (case-insensitive, trailing slash ignored).
    pub fn is_named_by(&self, name: &str) -> bool {
        let n = name.trim_end_matches('/');
        self.client_id.eq_ignore_ascii_case(n)
            || self
                .identifier_uris
                .iter()
                .any(|u| u.trim_end_matches('/').eq_ignore_ascii_case(n))
            || n.eq_ignore_ascii_case(&format!("api://{}", self.client_id))
    }

    /// Every registered redirect URI with its platform: Web first, then SPA, then mobile and
    /// desktop (the order a URI registered twice is found in).
    pub fn all_redirect_uris(&self) -> impl Iterator<Item = (RedirectPlatform, &str)> {
        fn tag(
            p: RedirectPlatform,
            v: &[String],
        ) -> impl Iterator<Item = (RedirectPlatform, &str)> {
            v.iter().map(move |u| (p, u.as_str()))
        }
        tag(RedirectPlatform::Web, &self.web_redirect_uris)
            .chain(tag(RedirectPlatform::Spa, &self.spa_redirect_uris))
            .chain(tag(RedirectPlatform::Public, &self.redirect_uris))
    }

    /// The platform of the registered redirect URI that `uri` matches
    /// ([`redirect_uri_matches`]); `None`: not registered (AADSTS50011).
    pub fn redirect_platform(&self, uri: &str) -> Option<RedirectPlatform> {
        self.all_redirect_uris()
            .find(|(_, r)| redirect_uri_matches(r, uri))
            .map(|(p, _)| p)
    }

    /// Roles this client holds on `resource` (assignments keyed by any name
    /// [`TenantConfig::resource`] accepts, as validation does).
    pub fn roles_on(&self, resource: &AppConfig) -> Vec<String> {
        self.app_role_assignments
            .iter()
            .filter(|(k, _)| resource.is_named_by(k))
            .flat_map(|(_, v)| v.iter().cloned())
            .collect()
    }
}

/// The platform a redirect URI is registered under (the app registration's Authentication page):
/// it decides how the code issued to it is redeemed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedirectPlatform {
    /// Web (`web.redirectUris`): a confidential client; redeeming needs a credential.
    Web,
    /// Mobile and desktop applications (`publicClient.redirectUris`): no credential, none allowed.
    Public,
    /// Single-page application (`spa.redirectUris`): PKCE, cross-origin redemption, no credential.
    Spa,
}

impl RedirectPlatform {
    /// `web`, `public` or `spa`.
    pub fn as_str(self) -> &'static str {
        match self {
            RedirectPlatform::Web => "web",
            RedirectPlatform::Public => "public",
            RedirectPlatform::Spa => "spa",
        }
    }
}

/// Hosts whose port Entra ignores when matching a redirect URI. IPv6 `[::1]` is not among them:
/// Entra does not support it.
fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host == "127.0.0.1"
}

/// What Entra accepts when a redirect URI is registered: an absolute URI without a fragment;
/// `https`, or `http` on `localhost`/`127.0.0.1`, for Web and SPA (mobile and desktop apps may use
/// custom schemes).
fn check_redirect_uri(platform: RedirectPlatform, uri: &str) -> Result<(), &'static str> {
    let u = url::Url::parse(uri).map_err(|_| "is not an absolute URI")?;
    if u.fragment().is_some() {
        return Err("has a fragment (#…), which Entra does not allow");
    }
    let loopback_http = u.scheme() == "http" && u.host_str().is_some_and(is_loopback_host);
    if platform != RedirectPlatform::Public && u.scheme() != "https" && !loopback_http {
        return Err("must be https, or http on localhost/127.0.0.1");
    }
    Ok(())
}

/// The parts of a redirect URI that matching compares: scheme, host, port, path (empty = `/`)
/// and query.
#[derive(PartialEq)]
struct RedirectKey {
    scheme: String,
    host: String,
    port: Option<u16>,
    path: String,
    query: Option<String>,
}

impl RedirectKey {
    fn parse(uri: &str) -> Option<Self> {
        let u = url::Url::parse(uri).ok()?;
        Some(Self {
            scheme: u.scheme().to_string(),
            host: u.host_str()?.to_ascii_lowercase(),
            port: u.port_or_known_default(),
            path: u.path().to_string(),
            query: u.query().map(str::to_string),
        })
    }
}

/// True when `requested` matches the registered URI `registered` as Entra matches them:
/// exactly (the path is case-sensitive; no path and `/` are the same), except that on a loopback
/// host (`localhost`, `127.0.0.1`) the port is ignored. `localhost` and `127.0.0.1` are different
/// hosts. See <https://learn.microsoft.com/entra/identity-platform/reply-url> ("Localhost
/// exceptions").
pub fn redirect_uri_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    match (
        RedirectKey::parse(registered),
        RedirectKey::parse(requested),
    ) {
        (Some(r), Some(q)) => {
            let loopback = is_loopback_host(&r.host);
            r.scheme == q.scheme
                && r.host == q.host
                && r.path == q.path
                && r.query == q.query
                && (r.port == q.port || loopback)
        }
        _ => false,
    }
}

/// A federated identity credential: Entra trusts tokens from `issuer` about `subject` for `audience`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FederatedCredential {
    /// Issuer URL, compared exactly (e.g. `https://token.actions.githubusercontent.com`).
    pub issuer: String,
    /// Subject, compared case-sensitively (e.g. `repo:org/repo:ref:refs/heads/main`).
    pub subject: String,
    /// Audience the external token must carry. Defaults to `api://AzureADTokenExchange`.
    #[serde(default = "default_fic_audience")]
    pub audience: String,
}

fn default_fic_audience() -> String {
    "api://AzureADTokenExchange".into()
}

impl FederatedCredential {
    /// A credential with the default audience.
    pub fn new(issuer: &str, subject: &str) -> Self {
        Self {
            issuer: issuer.into(),
            subject: subject.into(),
            audience: default_fic_audience(),
        }
    }
}

/// A user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// Display name (`name`).
    pub name: String,
    /// User principal name (`preferred_username` in v2, `upn` in v1).
    pub upn: String,
    /// Object id, a GUID.
    pub oid: String,
    /// Email address (`email`, when the app asks for it).
    #[serde(default)]
    pub email: Option<String>,
    /// App roles assigned to the user (on every resource that defines them).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Group object ids.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Generate this many more groups (derived GUIDs), e.g. 250 to produce the groups overage.
    #[serde(default)]
    pub extra_group_count: usize,
}

impl UserConfig {
    /// Every group id, the listed ones then the generated ones.
    pub fn all_groups(&self) -> Vec<String> {
        let mut g = self.groups.clone();
        g.extend(
            (0..self.extra_group_count).map(|i| derived_guid(&self.oid, &format!("group:{i}"))),
        );
        g
    }
}

/// A stable GUID derived from a namespace string and a name (UUID v5).
pub fn derived_guid(namespace: &str, name: &str) -> String {
    let ns = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, namespace.as_bytes());
    uuid::Uuid::new_v5(&ns, name.as_bytes()).to_string()
}

impl EmulatorConfig {
    /// Replace the default tenant's id and/or the API app's client id (`--tenant-id`,
    /// `--client-id`), keeping identifier URIs and role assignments that named the old id in step.
    pub fn override_default_ids(&mut self, tenant_id: Option<&str>, client_id: Option<&str>) {
        let Some(t) = self.tenants.first_mut() else {
            return;
        };
        if let Some(tid) = tenant_id {
            t.id = tid.to_string();
        }
        let Some(new) = client_id else {
            return;
        };
        let Some(api) = t.apps.iter_mut().find(|a| a.is_resource()) else {
            return;
        };
        let old = std::mem::replace(&mut api.client_id, new.to_string());
        for u in &mut api.identifier_uris {
            if u.eq_ignore_ascii_case(&format!("api://{old}")) {
                *u = format!("api://{new}");
            }
        }
        for a in &mut t.apps {
            let keys: Vec<String> = a
                .app_role_assignments
                .keys()
                .filter(|k| {
                    k.eq_ignore_ascii_case(&old) || k.eq_ignore_ascii_case(&format!("api://{old}"))
                })
                .cloned()
                .collect();
            for k in keys {
                if let Some(v) = a.app_role_assignments.remove(&k) {
                    a.app_role_assignments.insert(new.to_string(), v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_directory_is_valid_and_complete() {
        let c = EmulatorConfig::default();
        c.validate().unwrap();
        let t = c.default_tenant().unwrap();
        assert_eq!(t.id, DEFAULT_TENANT_ID);
        let api = t.app(DEFAULT_API_CLIENT_ID).unwrap();
        assert_eq!(api.roles_on(api), vec!["MCP.Service".to_string()]);
        assert!(
            t.app(DEFAULT_CLIENT_APP_ID)
                .unwrap()
                .roles_on(api)
                .is_empty()
        );
        assert!(
            t.user("OVERAGE@contoso.onmicrosoft.com")
                .unwrap()
                .all_groups()
                .len()
                > GROUPS_OVERAGE_LIMIT
        );
        assert_eq!(
            t.resource(&format!("api://{DEFAULT_API_CLIENT_ID}/"))
                .unwrap()
                .client_id,
            DEFAULT_API_CLIENT_ID
        );
        EmulatorConfig::with_second_tenant().validate().unwrap();
    }

    /// An assignment that validation accepts grants its roles, whichever name of the resource keys it.
    #[test]
    fn role_assignments_key_the_resource_as_validation_does() {
        let mut c = EmulatorConfig::default();
        c.tenants[0].apps[1].app_role_assignments.insert(
            format!("API://{DEFAULT_API_CLIENT_ID}/"),
            vec!["MCP.User".into()],
        );
        c.validate().unwrap();
        let t = c.default_tenant().unwrap();
        let api = t.app(DEFAULT_API_CLIENT_ID).unwrap();
        assert_eq!(
            t.app(DEFAULT_CLIENT_APP_ID).unwrap().roles_on(api),
            vec!["MCP.User".to_string()]
        );
    }

    #[test]
    fn second_tenant_has_its_own_object_ids() {
        let a = TenantConfig::standard(DEFAULT_TENANT_ID, DEFAULT_TENANT_DOMAIN);
        let b = TenantConfig::second();
        assert_ne!(a.users[0].oid, b.users[0].oid);
        assert_eq!(a.apps[0].client_id, b.apps[0].client_id);
    }

    #[test]
    fn validation_names_what_is_wrong() {
        let mut c = EmulatorConfig::default();
        c.tenants[0].id = "contoso".into();
        assert!(c.validate().unwrap_err().contains("not a GUID"));
        let mut c = EmulatorConfig::default();
        c.tenants[0].apps[1]
            .app_role_assignments
            .insert(DEFAULT_API_CLIENT_ID.into(), vec!["MCP.Root".into()]);
        assert!(c.validate().unwrap_err().contains("MCP.Root"));
        let mut c = EmulatorConfig::default();
        c.tenants[0].apps[1].certificates.push("not a cert".into());
        assert!(c.validate().unwrap_err().contains("certificates[0]"));
        let mut c = EmulatorConfig::default();
        c.tenants[0].apps[1]
            .app_role_assignments
            .insert("api://nowhere".into(), vec![]);
        assert!(c.validate().unwrap_err().contains("api://nowhere"));
    }

    #[test]
    fn overriding_the_client_id_keeps_assignments() {
        let mut c = EmulatorConfig::default();
        let new = "12345678-1234-4234-8234-123456789abc";
        c.override_default_ids(Some(SECOND_TENANT_ID), Some(new));
        c.validate().unwrap();
        let t = c.default_tenant().unwrap();
        assert_eq!(t.id, SECOND_TENANT_ID);
        let api = t.app(new).unwrap();
        assert_eq!(api.identifier_uris, vec![format!("api://{new}")]);
        assert_eq!(api.roles_on(api), vec!["MCP.Service".to_string()]);
    }

    /// Entra's matching: exact, path case-sensitive, the port ignored on localhost/127.0.0.1 only.
    #[test]
    fn redirect_uris_match_as_entra_matches_them() {
        let yes = [
            ("http://localhost/cb", "http://localhost:53117/cb"),
            ("http://127.0.0.1:8080/cb", "http://127.0.0.1:1234/cb"),
            ("http://localhost", "http://localhost:33418/"),
            ("https://app.example.com", "https://app.example.com/"),
            (
                "https://app.example.com/oauth/callback",
                "https://app.example.com/oauth/callback",
            ),
        ];
        for (reg, req) in yes {
            assert!(redirect_uri_matches(reg, req), "{reg} should match {req}");
        }
        let no = [
            ("http://localhost/cb", "http://127.0.0.1:5000/cb"),
            ("http://localhost/cb", "http://localhost:5000/CB"),
            ("http://localhost/cb", "http://localhost:5000/cb/extra"),
            ("http://localhost/cb", "https://localhost/cb"),
            (
                "https://app.example.com/cb",
                "https://app.example.com:8443/cb",
            ),
            ("https://app.example.com/cb", "https://evil.example.com/cb"),
            ("http://[::1]/cb", "http://[::1]:5000/cb"),
            (
                "https://app.example.com/cb",
                "https://app.example.com/cb?x=1",
            ),
        ];
        for (reg, req) in no {
            assert!(
                !redirect_uri_matches(reg, req),
                "{reg} must not match {req}"
            );
        }
    }

    #[test]
    fn redirect_platforms_and_registration_rules() {
        let mut a = AppConfig::new("x", DEFAULT_CLIENT_APP_ID);
        a.web_redirect_uris = vec!["https://mcp.example.com/oauth/callback".into()];
        a.spa_redirect_uris = vec!["https://spa.example.com".into()];
        a.redirect_uris = vec!["http://localhost".into()];
        assert_eq!(
            a.redirect_platform("https://mcp.example.com/oauth/callback"),
            Some(RedirectPlatform::Web)
        );
        assert_eq!(
            a.redirect_platform("https://spa.example.com/"),
            Some(RedirectPlatform::Spa)
        );
        assert_eq!(
            a.redirect_platform("http://localhost:9999"),
            Some(RedirectPlatform::Public)
        );
        assert_eq!(a.redirect_platform("https://other.example.com"), None);
        let mut c = EmulatorConfig::default();
        c.tenants[0].apps[0]
            .web_redirect_uris
            .push("http://mcp.example.com/oauth/callback".into());
        assert!(
            c.validate().unwrap_err().contains("must be https"),
            "plain http web URI"
        );
        let mut c = EmulatorConfig::default();
        c.tenants[0].apps[0]
            .web_redirect_uris
            .push("https://mcp.example.com/cb#frag".into());
        assert!(c.validate().unwrap_err().contains("fragment"));
        let mut c = EmulatorConfig::default();
        c.tenants[0].apps[1]
            .redirect_uris
            .push("ms-app://s-1-15-2-1/".into());
        c.validate().unwrap();
    }

    #[test]
    fn token_version_parses_user_spellings() {
        for (s, v) in [
            ("1", TokenVersion::V1),
            ("v2", TokenVersion::V2),
            ("1.0", TokenVersion::V1),
        ] {
            assert_eq!(TokenVersion::parse(s), Some(v));
        }
        assert_eq!(TokenVersion::parse("3"), None);
    }
}
