//! What `deploy init` produces from resolved settings: the deploy.toml edits, the Entra
//! application manifest fragment (`.pmcp/entra-app.json`) and the setup checklist.
//!
//! Everything here is a pure function of [`InitSettings`], so the same inputs always give the same
//! file bytes, manifest and checklist.

use super::edit::{DeployToml, ShapeError, string_array};
use super::{DEFAULT_PUBLIC_CLIENT_PATTERNS, DEFAULT_SCOPES, Provider, TargetKind};
use pmcp_auth::entra::{Cloud, DEFAULT_AUTHORITY_HOST};
use serde::Serialize;
use std::collections::BTreeMap;

/// Where the manifest fragment is written, relative to the project root.
pub const ENTRA_APP_JSON: &str = ".pmcp/entra-app.json";

/// The port the local target's redirect URI uses by default. (Entra ignores the port of a
/// `localhost` redirect URI, so the server may listen on any port.)
pub const LOCAL_PORT: u16 = 8080;

/// Where the server's OAuth bridge receives Entra's redirect: one fixed path on the server's own
/// origin, registered once on the app as a Web redirect URI.
pub const BRIDGE_CALLBACK_PATH: &str = "/oauth/callback";

/// The first-party client id of Visual Studio Code, which Entra lets an API pre-authorize
/// ("Authorized client applications"), so VS Code users get a token for the API without a consent
/// prompt. Source: Microsoft's "Use Microsoft Entra ID to secure MCP servers" guidance (see
/// docs/clients.md for the citation).
pub const VSCODE_CLIENT_ID: &str = "aebc6443-996d-45c2-90f0-388ff96faa56";

/// The delegated scope every MCP server registration exposes.
pub const ACCESS_AS_USER: &str = "access_as_user";

/// Resolved, validated inputs of `deploy init`.
#[derive(Debug, Clone, PartialEq)]
pub struct InitSettings {
    pub target: TargetKind,
    pub provider: Provider,
    pub server_name: String,
    /// The Web redirect URI to register: the server's OAuth bridge callback
    /// (`{public origin}/oauth/callback`). `None` when the public URL is not known before the
    /// first deploy (aws-lambda): the checklist says how to add it afterwards.
    pub redirect_uri: Option<String>,
    /// True when the redirect URI was given (flag, env or file), not derived: then it is written
    /// to `[auth.entra] redirect_uri`.
    pub redirect_uri_given: bool,
    /// Set for `provider = entra`.
    pub entra: Option<EntraInit>,
    /// Set for `provider = oidc`.
    pub oidc: Option<OidcInit>,
}

/// The Entra part of [`InitSettings`].
#[derive(Debug, Clone, PartialEq)]
pub struct EntraInit {
    pub tenant_id: String,
    pub client_id: String,
    /// Without a trailing slash.
    pub authority_host: String,
    pub multi_tenant: bool,
    pub allowed_tenants: Vec<String>,
}

/// The OIDC part of [`InitSettings`].
#[derive(Debug, Clone, PartialEq)]
pub struct OidcInit {
    pub issuer: String,
    pub audience: String,
}

/// The bridge's callback derived from the target and server name: pmcp.run serves the server at
/// `https://{name}.pmcp.run`, the local target on localhost. `None` for aws-lambda, whose function
/// URL exists only after the first deploy.
pub fn default_redirect_uri(target: TargetKind, server_name: &str) -> Option<String> {
    match target {
        TargetKind::PmcpRun => Some(format!(
            "https://{server_name}.pmcp.run{BRIDGE_CALLBACK_PATH}"
        )),
        TargetKind::Local => Some(format!(
            "http://localhost:{LOCAL_PORT}{BRIDGE_CALLBACK_PATH}"
        )),
        TargetKind::AwsLambda => None,
    }
}

/// True when `authority_host` is on this machine (the local Entra emulator): then no Portal or
/// Azure CLI step applies.
pub fn is_loopback_authority(authority_host: &str) -> bool {
    url::Url::parse(authority_host)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .is_some_and(|h| h == "localhost" || h == "127.0.0.1" || h == "[::1]")
}

/// Apply `s` to the document. Values the user edited by hand that `s` does not override stay
/// (the command resolves flag > env > file, so an unchanged file value comes back unchanged).
pub fn apply(s: &InitSettings, doc: &mut DeployToml) -> Result<(), ShapeError> {
    doc.ensure_table(
        &["target"],
        "Where the server runs: pmcp-run | aws-lambda | local",
    )?;
    doc.set(&["target", "type"], s.target.as_str(), "")?;
    doc.ensure_table(&["server"], "The MCP server")?;
    doc.set(&["server", "name"], s.server_name.as_str(), "")?;

    doc.ensure_table(&["auth"], "Authentication")?;
    doc.set(&["auth", "enabled"], s.provider != Provider::None, "")?;
    if s.provider != Provider::None {
        doc.set(
            &["auth", "provider"],
            s.provider.as_str(),
            "entra | oidc | none",
        )?;
    }
    if let Some(e) = &s.entra {
        doc.set(
            &["auth", "tenant_id"],
            e.tenant_id.as_str(),
            "Directory (tenant) ID, from the app registration's Overview",
        )?;
        doc.set(
            &["auth", "client_id"],
            e.client_id.as_str(),
            "Application (client) ID, from the app registration's Overview",
        )?;
        let entra = ["auth", "entra"];
        let public = e.authority_host == DEFAULT_AUTHORITY_HOST;
        if !public || e.multi_tenant || s.redirect_uri_given {
            doc.ensure_table(&entra, "Microsoft Entra settings beyond the defaults")?;
        }
        doc.update_or_add(
            &["auth", "entra", "authority_host"],
            e.authority_host.as_str(),
            !public,
            "National cloud or another authority (default https://login.microsoftonline.com)",
        )?;
        doc.update_or_add(
            &["auth", "entra", "multi_tenant"],
            e.multi_tenant,
            e.multi_tenant,
            "Accept users from other Entra tenants",
        )?;
        // Turning multi-tenant off leaves a listed set of tenants alone (it is unused then).
        if e.multi_tenant || !e.allowed_tenants.is_empty() {
            doc.update_or_add(
                &["auth", "entra", "allowed_tenants"],
                string_array(&e.allowed_tenants),
                !e.allowed_tenants.is_empty(),
                "Tenant IDs accepted when multi_tenant is on (empty: any tenant)",
            )?;
        }
        if let Some(uri) = &s.redirect_uri {
            doc.update_or_add(
                &["auth", "entra", "redirect_uri"],
                uri.as_str(),
                s.redirect_uri_given,
                "The Web redirect URI registered on the app (the OAuth bridge's callback)",
            )?;
        }
    }
    if let Some(o) = &s.oidc {
        doc.set(
            &["auth", "issuer"],
            o.issuer.as_str(),
            "The provider's issuer URL (discovery: <issuer>/.well-known/openid-configuration)",
        )?;
        doc.set(
            &["auth", "audience"],
            o.audience.as_str(),
            "The audience (aud) the server's access tokens carry",
        )?;
    }
    if s.provider != Provider::None {
        doc.ensure_table(
            &["auth", "dcr"],
            "Dynamic Client Registration for MCP clients",
        )?;
        doc.set_if_absent(&["auth", "dcr", "enabled"], true, "")?;
        doc.set_if_absent(
            &["auth", "dcr", "public_client_patterns"],
            string_array(&DEFAULT_PUBLIC_CLIENT_PATTERNS),
            "",
        )?;
        doc.set_if_absent(
            &["auth", "dcr", "default_scopes"],
            string_array(&DEFAULT_SCOPES),
            "",
        )?;
    }
    Ok(())
}

/// The app roles every MCP server registration gets: (value, display name, description, member type).
pub const APP_ROLES: [(&str, &str, &str, &str); 3] = [
    (
        "MCP.User",
        "MCP User",
        "Can read and execute MCP tools",
        "User",
    ),
    (
        "MCP.Admin",
        "MCP Admin",
        "Full administrative access",
        "User",
    ),
    (
        "MCP.Service",
        "MCP Service",
        "Machine-to-machine access",
        "Application",
    ),
];

/// An application manifest fragment in the shape Microsoft Graph's `application` resource takes, so
/// it can be sent as-is in `PATCH /applications(appId='…')`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EntraAppManifest {
    pub sign_in_audience: String,
    pub identifier_uris: Vec<String>,
    pub api: ApiSettings,
    pub app_roles: Vec<AppRole>,
    pub group_membership_claims: String,
    pub optional_claims: OptionalClaims,
    pub web: WebSettings,
}

/// `api`
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApiSettings {
    pub requested_access_token_version: u8,
    /// The delegated scopes the API exposes (`access_as_user`).
    pub oauth2_permission_scopes: Vec<PermissionScope>,
}

/// One entry of `api.oauth2PermissionScopes` (Graph's `permissionScope`).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PermissionScope {
    pub admin_consent_description: String,
    pub admin_consent_display_name: String,
    pub id: String,
    pub is_enabled: bool,
    /// `User`: users may consent for themselves; `Admin`: only admins.
    #[serde(rename = "type")]
    pub kind: String,
    pub user_consent_description: String,
    pub user_consent_display_name: String,
    pub value: String,
}

/// One entry of `appRoles`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AppRole {
    pub allowed_member_types: Vec<String>,
    pub description: String,
    pub display_name: String,
    pub id: String,
    pub is_enabled: bool,
    pub value: String,
}

/// `optionalClaims`
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OptionalClaims {
    pub access_token: Vec<OptionalClaim>,
    pub id_token: Vec<OptionalClaim>,
    pub saml2_token: Vec<OptionalClaim>,
}

/// One optional claim.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OptionalClaim {
    pub name: String,
    pub source: Option<String>,
    pub essential: bool,
    pub additional_properties: Vec<String>,
}

/// `web`
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WebSettings {
    pub redirect_uris: Vec<String>,
}

/// The id of app role (or delegated scope) `value` for the app `client_id`: a UUID v5 in the
/// client id's namespace, so it is the same on every run and every machine. `None` when
/// `client_id` is not a GUID.
pub fn app_role_id(client_id: &str, value: &str) -> Option<uuid::Uuid> {
    let ns = uuid::Uuid::parse_str(client_id).ok()?;
    Some(uuid::Uuid::new_v5(&ns, value.as_bytes()))
}

impl EntraAppManifest {
    /// The fragment for `s` (Entra only; `None` otherwise or when the client id is not a GUID).
    pub fn build(s: &InitSettings) -> Option<Self> {
        let e = s.entra.as_ref()?;
        let mut app_roles = Vec::new();
        for (value, display, description, member) in APP_ROLES {
            app_roles.push(AppRole {
                allowed_member_types: vec![member.to_string()],
                description: description.to_string(),
                display_name: display.to_string(),
                id: app_role_id(&e.client_id, value)?.to_string(),
                is_enabled: true,
                value: value.to_string(),
            });
        }
        let claim = |name: &str| OptionalClaim {
            name: name.to_string(),
            source: None,
            essential: false,
            additional_properties: Vec::new(),
        };
        let claims: Vec<OptionalClaim> = ["email", "given_name", "family_name", "groups"]
            .into_iter()
            .map(claim)
            .collect();
        let scope = PermissionScope {
            admin_consent_description: format!(
                "Lets the app call {} (MCP tools) as the signed-in user.",
                s.server_name
            ),
            admin_consent_display_name: format!("Access {} as the user", s.server_name),
            id: app_role_id(&e.client_id, ACCESS_AS_USER)?.to_string(),
            is_enabled: true,
            kind: "User".to_string(),
            user_consent_description: format!(
                "Lets the app call {} (MCP tools) on your behalf.",
                s.server_name
            ),
            user_consent_display_name: format!("Access {} as you", s.server_name),
            value: ACCESS_AS_USER.to_string(),
        };
        Some(Self {
            sign_in_audience: sign_in_audience(e.multi_tenant).to_string(),
            identifier_uris: vec![format!("api://{}", e.client_id)],
            api: ApiSettings {
                requested_access_token_version: 2,
                oauth2_permission_scopes: vec![scope],
            },
            app_roles,
            group_membership_claims: "SecurityGroup".to_string(),
            optional_claims: OptionalClaims {
                access_token: claims.clone(),
                id_token: claims,
                saml2_token: Vec::new(),
            },
            web: WebSettings {
                redirect_uris: s.redirect_uri.iter().cloned().collect(),
            },
        })
    }

    /// Pretty JSON with a final newline (the bytes written to `.pmcp/entra-app.json`).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("manifest serializes");
        s.push('\n');
        s
    }
}

/// Graph's `signInAudience` for single or multi tenant.
pub fn sign_in_audience(multi_tenant: bool) -> &'static str {
    if multi_tenant {
        "AzureADMultipleOrgs"
    } else {
        "AzureADMyOrg"
    }
}

/// The Microsoft Graph endpoint of the cloud that `authority_host` belongs to (public otherwise).
pub fn graph_url(authority_host: &str) -> &'static str {
    match Cloud::from_authority_host(authority_host) {
        Some(Cloud::UsGov) => "https://graph.microsoft.us",
        Some(Cloud::China) => "https://microsoftgraph.chinacloudapi.cn",
        _ => "https://graph.microsoft.com",
    }
}

/// The setup checklist: a header and numbered steps, each with the values it shows.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Checklist {
    /// First line.
    pub title: String,
    /// Lines after the title, before step 1.
    pub intro: Vec<String>,
    pub steps: Vec<ChecklistStep>,
}

/// One step of the checklist.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChecklistStep {
    /// Stable id (`app-registration`, `expose-api`, …).
    pub id: String,
    /// 1-based position.
    pub number: usize,
    pub title: String,
    /// The step's text, rendered.
    pub lines: Vec<String>,
    /// The values the step shows, by name.
    pub values: BTreeMap<String, String>,
}

/// The Entra checklist template.
pub const ENTRA_CHECKLIST: &str = include_str!("../../templates/entra-checklist.txt");
/// The Entra checklist when the authority is the local emulator: no Portal, no Azure CLI.
pub const ENTRA_LOCAL_CHECKLIST: &str = include_str!("../../templates/entra-local-checklist.txt");
/// The OIDC checklist template.
pub const OIDC_CHECKLIST: &str = include_str!("../../templates/oidc-checklist.txt");
/// The checklist template when authentication is off.
pub const NONE_CHECKLIST: &str = include_str!("../../templates/none-checklist.txt");

/// A placeholder the template uses has no value (a bug in the template or the caller).
#[derive(Debug, Clone, thiserror::Error)]
#[error("checklist template uses `{{{{{0}}}}}` but no value is given for it")]
pub struct TemplateError(pub String);

impl Checklist {
    /// The checklist for `s`; `secret_env` names the client-secret variable that is set, if any.
    pub fn build(s: &InitSettings, secret_env: Option<&str>) -> Result<Self, TemplateError> {
        let mut v: BTreeMap<&str, String> = BTreeMap::new();
        v.insert("server_name", s.server_name.clone());
        v.insert("config_path", super::DEPLOY_TOML.to_string());
        v.insert("manifest_path", ENTRA_APP_JSON.to_string());
        v.insert("redirect_uri", s.redirect_uri.clone().unwrap_or_default());
        // Lines for the case where the callback is not known yet (`?no_redirect_uri …`).
        v.insert(
            "no_redirect_uri",
            if s.redirect_uri.is_none() {
                BRIDGE_CALLBACK_PATH.to_string()
            } else {
                String::new()
            },
        );
        v.insert(
            "web_redirect_flag",
            s.redirect_uri
                .as_ref()
                .map(|u| format!(" --web-redirect-uris {u}"))
                .unwrap_or_default(),
        );
        v.insert("callback_path", BRIDGE_CALLBACK_PATH.to_string());
        v.insert("vscode_client_id", VSCODE_CLIENT_ID.to_string());
        v.insert("scope", ACCESS_AS_USER.to_string());
        let local = s
            .entra
            .as_ref()
            .is_some_and(|e| is_loopback_authority(&e.authority_host));
        let template = match s.provider {
            Provider::Entra if local => ENTRA_LOCAL_CHECKLIST,
            Provider::Entra => ENTRA_CHECKLIST,
            Provider::Oidc => OIDC_CHECKLIST,
            Provider::None => NONE_CHECKLIST,
        };
        if let Some(e) = &s.entra {
            v.insert("app_name", format!("MCP Server - {}", s.server_name));
            v.insert(
                "account_types",
                if e.multi_tenant {
                    "Accounts in any organizational directory (multitenant)".to_string()
                } else {
                    "Accounts in this organizational directory only (single tenant)".to_string()
                },
            );
            v.insert(
                "sign_in_audience",
                sign_in_audience(e.multi_tenant).to_string(),
            );
            v.insert("tenant_id", e.tenant_id.clone());
            v.insert(
                "cli_tenant",
                if matches!(
                    e.tenant_id.as_str(),
                    "common" | "organizations" | "consumers"
                ) {
                    "the tenant that owns the app registration".to_string()
                } else {
                    format!("tenant {}", e.tenant_id)
                },
            );
            v.insert("client_id", e.client_id.clone());
            v.insert("app_id_uri", format!("api://{}", e.client_id));
            // Tokens name the tenant by GUID even when it was configured by domain.
            let issuer_tenant = if e.multi_tenant {
                "{tenantid}"
            } else if pmcp_auth::entra::is_guid(&e.tenant_id) {
                e.tenant_id.as_str()
            } else {
                "<tenant GUID>"
            };
            v.insert(
                "issuer",
                format!("{}/{issuer_tenant}/v2.0", e.authority_host),
            );
            v.insert(
                "v1_issuer",
                format!("https://sts.windows.net/{issuer_tenant}/"),
            );
            v.insert("graph_url", graph_url(&e.authority_host).to_string());
            v.insert(
                "authority_host",
                if e.authority_host == DEFAULT_AUTHORITY_HOST {
                    String::new()
                } else {
                    e.authority_host.clone()
                },
            );
            v.insert("allowed_tenants", e.allowed_tenants.join(", "));
            v.insert("secret_env", secret_env.unwrap_or_default().to_string());
        }
        if let Some(o) = &s.oidc {
            v.insert("issuer", o.issuer.clone());
            v.insert("audience", o.audience.clone());
            v.insert(
                "discovery_url",
                format!(
                    "{}/.well-known/openid-configuration",
                    o.issuer.trim_end_matches('/')
                ),
            );
        }
        render_template(template, &v)
    }

    /// Plain text (what a pipe or a log gets). `bold` styles the title and step headings.
    pub fn render(&self, bold: &dyn Fn(&str) -> String) -> String {
        let mut out = String::new();
        out.push_str(&bold(&self.title));
        out.push('\n');
        for l in &self.intro {
            out.push_str(l);
            out.push('\n');
        }
        for step in &self.steps {
            out.push('\n');
            out.push_str(&bold(&format!("{}. {}", step.number, step.title)));
            out.push('\n');
            for l in &step.lines {
                if l.is_empty() {
                    out.push('\n');
                } else {
                    out.push_str("   ");
                    out.push_str(l);
                    out.push('\n');
                }
            }
        }
        out
    }
}

impl std::fmt::Display for Checklist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render(&|s| s.to_string()))
    }
}

/// Parse and fill a checklist template (format described at the top of `entra-checklist.txt`).
pub fn render_template(
    template: &str,
    values: &BTreeMap<&str, String>,
) -> Result<Checklist, TemplateError> {
    let mut title = None;
    let mut intro = Vec::new();
    let mut steps: Vec<ChecklistStep> = Vec::new();
    for raw in template.lines() {
        if raw.starts_with('#') {
            continue;
        }
        let mut line = raw;
        if let Some(rest) = line.strip_prefix('?') {
            let (name, rest) = rest.split_once(' ').unwrap_or((rest, ""));
            let value = values
                .get(name)
                .ok_or_else(|| TemplateError(name.to_string()))?;
            if value.is_empty() {
                continue;
            }
            line = rest;
        }
        if let Some(head) = line.strip_prefix('[')
            && let Some((id, step_title)) = head.split_once("] ")
        {
            steps.push(ChecklistStep {
                id: id.to_string(),
                number: steps.len() + 1,
                title: fill(step_title, values, &mut BTreeMap::new())?,
                lines: Vec::new(),
                values: BTreeMap::new(),
            });
            continue;
        }
        match steps.last_mut() {
            Some(step) => {
                let filled = fill(line, values, &mut step.values)?;
                step.lines.push(filled);
            }
            None => {
                let filled = fill(line, values, &mut BTreeMap::new())?;
                if title.is_none() {
                    title = Some(filled);
                } else {
                    intro.push(filled);
                }
            }
        }
    }
    for step in &mut steps {
        while step.lines.last().is_some_and(|l| l.is_empty()) {
            step.lines.pop();
        }
    }
    while intro.last().is_some_and(|l| l.is_empty()) {
        intro.pop();
    }
    Ok(Checklist {
        title: title.unwrap_or_default(),
        intro,
        steps,
    })
}

/// Replace each `{{name}}` in `line`, recording the values used.
fn fill(
    line: &str,
    values: &BTreeMap<&str, String>,
    used: &mut BTreeMap<String, String>,
) -> Result<String, TemplateError> {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let name = &after[..end];
        let value = values
            .get(name)
            .ok_or_else(|| TemplateError(name.to_string()))?;
        used.insert(name.to_string(), value.clone());
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const TENANT: &str = "11111111-2222-3333-4444-555555555555";
    const CLIENT: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

    fn entra(multi: bool) -> InitSettings {
        InitSettings {
            target: TargetKind::PmcpRun,
            provider: Provider::Entra,
            server_name: "weather".into(),
            redirect_uri: default_redirect_uri(TargetKind::PmcpRun, "weather"),
            redirect_uri_given: false,
            entra: Some(EntraInit {
                tenant_id: TENANT.into(),
                client_id: CLIENT.into(),
                authority_host: DEFAULT_AUTHORITY_HOST.into(),
                multi_tenant: multi,
                allowed_tenants: Vec::new(),
            }),
            oidc: None,
        }
    }

    #[test]
    fn every_template_fills_for_every_provider() {
        for s in [entra(false), entra(true)] {
            let c = Checklist::build(&s, Some("ENTRA_CLIENT_SECRET")).unwrap();
            assert_eq!(c.steps.len(), 9);
            assert!(!c.to_string().contains("{{"));
        }
        let mut o = entra(false);
        o.provider = Provider::Oidc;
        o.entra = None;
        o.oidc = Some(OidcInit {
            issuer: "https://id.example.com/".into(),
            audience: "api://weather".into(),
        });
        let c = Checklist::build(&o, None).unwrap();
        assert!(
            c.to_string()
                .contains("https://id.example.com/.well-known/openid-configuration")
        );
        o.provider = Provider::None;
        o.oidc = None;
        assert!(Checklist::build(&o, None).is_ok());
    }

    #[test]
    fn role_ids_are_uuid_v5_of_the_client_id() {
        let a = app_role_id(CLIENT, "MCP.User").unwrap();
        assert_eq!(a, app_role_id(CLIENT, "MCP.User").unwrap());
        assert_ne!(a, app_role_id(CLIENT, "MCP.Admin").unwrap());
        assert_eq!(a.get_version_num(), 5);
        assert!(app_role_id("not-a-guid", "MCP.User").is_none());
    }

    #[test]
    fn apply_twice_is_a_no_op() {
        let mut d = DeployToml::template(Path::new("x"));
        apply(&entra(true), &mut d).unwrap();
        let once = d.render();
        let mut d2 = DeployToml::from_text(Path::new("x"), once.clone()).unwrap();
        apply(&entra(true), &mut d2).unwrap();
        assert_eq!(d2.render(), once);
        assert!(once.contains("[auth.entra]\n"));
        assert!(once.find("[auth.entra]").unwrap() < once.find("[auth.dcr]").unwrap());
        let c = super::super::parse(Path::new("x"), &once).unwrap();
        assert!(c.auth.entra.multi_tenant);
        assert_eq!(c.auth.client_id.as_deref(), Some(CLIENT));
    }
}
