//! From validated claims to what the caller may do: app roles and delegated scopes map to
//! permissions, and Entra security groups map through a configured table (no built-in GUIDs).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Map, Value};

use super::claims::EntraClaims;
use super::entra::ConfigError;
use super::env;

/// The permission that implies every other one.
pub const ADMIN_ALL: &str = "admin:*";

/// Permissions granted by the app roles the tool's templates define.
pub fn role_permissions(role: &str) -> &'static [&'static str] {
    match role {
        "MCP.Admin" => &[ADMIN_ALL],
        "MCP.User" | "MCP.Service" => &["execute:tools", "read:tools"],
        _ => &[],
    }
}

/// Group object id → permissions, from configuration (deploy.toml's
/// `[auth.entra.group_permissions]`, `AUTH_GROUP_PERMISSIONS`, or code).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GroupPermissionMapper {
    group_permissions: BTreeMap<String, Vec<String>>,
}

impl GroupPermissionMapper {
    /// A mapper from a table of group GUID → permissions (GUIDs compared case-insensitively).
    pub fn new(group_permissions: BTreeMap<String, Vec<String>>) -> Self {
        Self {
            group_permissions: group_permissions
                .into_iter()
                .map(|(g, p)| (g.trim().to_ascii_lowercase(), p))
                .collect(),
        }
    }

    /// A mapper that grants nothing for groups.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Parse the JSON object form (`{"<group guid>": ["perm", …]}`) used by
    /// `AUTH_GROUP_PERMISSIONS`.
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        let map: BTreeMap<String, Vec<String>> =
            serde_json::from_str(json).map_err(|e| ConfigError::Invalid {
                name: env::AUTH_GROUP_PERMISSIONS,
                detail: format!("expected a JSON object of group GUID → list of permissions ({e})"),
            })?;
        Ok(Self::new(map))
    }

    /// Read `AUTH_GROUP_PERMISSIONS`; unset means [`GroupPermissionMapper::empty`].
    pub fn from_env() -> Result<Self, ConfigError> {
        match std::env::var(env::AUTH_GROUP_PERMISSIONS) {
            Ok(v) if !v.trim().is_empty() => Self::from_json(&v),
            _ => Ok(Self::empty()),
        }
    }

    /// True when no group is mapped.
    pub fn is_empty(&self) -> bool {
        self.group_permissions.is_empty()
    }

    /// The table (group GUIDs lower-cased).
    pub fn table(&self) -> &BTreeMap<String, Vec<String>> {
        &self.group_permissions
    }

    /// The permissions granted by membership of `groups`.
    pub fn permissions_for_groups(&self, groups: &[String]) -> BTreeSet<String> {
        groups
            .iter()
            .filter_map(|g| self.group_permissions.get(&g.to_ascii_lowercase()))
            .flatten()
            .cloned()
            .collect()
    }
}

/// Who is calling and what they may do, derived from validated claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthContext {
    /// The principal's `oid`.
    pub user_id: String,
    /// Sign-in name or email, when the token has one.
    pub email: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// The tenant the principal signed in to.
    pub tenant_id: String,
    /// The calling client application (`azp`/`appid`).
    pub app_id: Option<String>,
    /// App roles as issued.
    pub roles: Vec<String>,
    /// Permissions: from roles, from `scp` values, and from mapped groups.
    pub scopes: BTreeSet<String>,
    /// The token is in groups overage: group membership is unknown, so no group-based permission
    /// was granted (fail closed). Resolve membership through Microsoft Graph if you need it.
    pub groups_overage: bool,
}

impl AuthContext {
    /// Build the context: roles (`MCP.Admin` → `admin:*`; `MCP.User`/`MCP.Service` →
    /// `execute:tools`, `read:tools`), each `scp` value as a scope, and the mapper's permissions
    /// for the token's groups — none in groups overage.
    pub fn from_entra_claims(claims: &EntraClaims, mapper: &GroupPermissionMapper) -> Self {
        let roles = claims.roles.clone().unwrap_or_default();
        let mut scopes: BTreeSet<String> = roles
            .iter()
            .flat_map(|r| role_permissions(r).iter().map(|p| p.to_string()))
            .collect();
        scopes.extend(claims.scopes().into_iter().map(str::to_string));
        let overage = claims.groups_overage();
        if !overage && let Some(groups) = &claims.groups {
            scopes.extend(mapper.permissions_for_groups(groups));
        }
        Self {
            user_id: claims.user_id().to_string(),
            email: claims.upn().map(str::to_string),
            name: claims.name.clone(),
            tenant_id: claims.tid.clone(),
            app_id: claims.client_app_id().map(str::to_string),
            roles,
            scopes,
            groups_overage: overage,
        }
    }

    /// The caller described by a generic OIDC access token: `sub` as the id, `email` (or
    /// `preferred_username`), `name`, `tid` when present, `azp`/`client_id` as the app;
    /// permissions from `scope`/`scp` (space separated), `roles` and `permissions` (arrays, as
    /// Auth0 and Okta issue them), with the Entra role names mapped as for Entra tokens.
    pub fn from_oidc_claims(claims: &Map<String, Value>) -> Self {
        let text = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_string);
        let list = |k: &str| -> Vec<String> {
            match claims.get(k) {
                Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
                _ => Vec::new(),
            }
        };
        let roles = list("roles");
        let mut scopes: BTreeSet<String> = roles
            .iter()
            .flat_map(|r| role_permissions(r).iter().map(|p| p.to_string()))
            .collect();
        scopes.extend(list("scope"));
        scopes.extend(list("scp"));
        scopes.extend(list("permissions"));
        Self {
            user_id: text("sub").unwrap_or_default(),
            email: text("email").or_else(|| text("preferred_username")),
            name: text("name"),
            tenant_id: text("tid").unwrap_or_default(),
            app_id: text("azp").or_else(|| text("client_id")),
            roles,
            scopes,
            groups_overage: false,
        }
    }

    /// True when the caller holds `permission`: exactly, through `admin:*`, or through a
    /// `prefix:*` wildcard (`execute:*` covers `execute:tools`).
    pub fn has_permission(&self, permission: &str) -> bool {
        if self.scopes.contains(ADMIN_ALL) || self.scopes.contains(permission) {
            return true;
        }
        self.scopes.iter().any(|s| {
            s.strip_suffix('*')
                .is_some_and(|prefix| prefix.ends_with(':') && permission.starts_with(prefix))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(v: serde_json::Value) -> EntraClaims {
        let mut base = serde_json::json!({
            "sub": "s", "iss": "i", "aud": "a", "exp": 1, "oid": "o", "tid": "t"
        });
        base.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    const G: &str = "11111111-2222-3333-4444-555555555555";

    fn mapper() -> GroupPermissionMapper {
        GroupPermissionMapper::new(BTreeMap::from([(
            G.to_ascii_uppercase(),
            vec!["deploy:prod".to_string()],
        )]))
    }

    #[test]
    fn roles_scopes_and_groups() {
        let c = claims(
            serde_json::json!({"roles": ["MCP.User"], "scp": "mcp.read other", "groups": [G]}),
        );
        let ctx = AuthContext::from_entra_claims(&c, &mapper());
        assert!(ctx.has_permission("execute:tools"));
        assert!(ctx.has_permission("read:tools"));
        assert!(ctx.has_permission("mcp.read"));
        assert!(ctx.has_permission("deploy:prod"));
        assert!(!ctx.has_permission("admin:users"));
        assert!(!ctx.groups_overage);
    }

    #[test]
    fn admin_implies_everything_and_service_role() {
        let ctx = AuthContext::from_entra_claims(
            &claims(serde_json::json!({"roles": ["MCP.Admin"]})),
            &GroupPermissionMapper::empty(),
        );
        assert!(ctx.has_permission("anything:at-all"));
        let ctx = AuthContext::from_entra_claims(
            &claims(serde_json::json!({"roles": ["MCP.Service"], "idtyp": "app"})),
            &GroupPermissionMapper::empty(),
        );
        assert!(ctx.has_permission("execute:tools"));
        assert!(!ctx.has_permission("admin:*x"));
    }

    #[test]
    fn overage_fails_closed() {
        let c = claims(serde_json::json!({"_claim_names": {"groups": "src1"}, "roles": []}));
        let ctx = AuthContext::from_entra_claims(&c, &mapper());
        assert!(ctx.groups_overage);
        assert!(!ctx.has_permission("deploy:prod"));
        assert!(ctx.scopes.is_empty());
    }

    #[test]
    fn wildcards_only_on_segment_boundaries() {
        let mut ctx = AuthContext::from_entra_claims(
            &claims(serde_json::json!({})),
            &GroupPermissionMapper::empty(),
        );
        ctx.scopes.insert("execute:*".into());
        assert!(ctx.has_permission("execute:tools"));
        assert!(!ctx.has_permission("read:tools"));
    }

    #[test]
    fn mapper_from_json() {
        let m = GroupPermissionMapper::from_json(&format!(r#"{{"{G}": ["a", "b"]}}"#)).unwrap();
        assert_eq!(m.permissions_for_groups(&[G.to_string()]).len(), 2);
        let err = GroupPermissionMapper::from_json("[1]").unwrap_err();
        assert!(err.to_string().contains("AUTH_GROUP_PERMISSIONS"));
    }
}
