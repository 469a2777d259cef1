//! What a request asks for: the resource and its scopes, from v2's `scope=` or v1's `resource=`.
//! Shared by the authorize, device authorization and token endpoints.

use super::{Form, require};
use crate::config::{AppConfig, TenantConfig};
use crate::errors::AadError;

/// Scopes that are about the sign-in, not a resource.
const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "offline_access", "email"];

/// A requested resource and the scopes on it.
pub(super) struct Requested {
    pub(super) resource: AppConfig,
    /// The resource identifier as the client wrote it.
    pub(super) resource_id: String,
    /// Bare scope names (for `scp`); empty for `/.default` on a resource without scopes.
    pub(super) scopes: Vec<String>,
    pub(super) openid: bool,
    /// `offline_access` was asked for (a refresh token is returned).
    pub(super) offline: bool,
}

/// Split `api://x/access_as_user api://x/.default openid` into one resource and its scopes.
pub(super) fn parse_scopes(
    tenant: &TenantConfig,
    scope: &str,
    client_credentials: bool,
) -> Result<Requested, AadError> {
    if scope.len() > super::MAX_SCOPE_LEN {
        return Err(AadError::scope_too_long(scope.len(), super::MAX_SCOPE_LEN));
    }
    let mut resource_id: Option<String> = None;
    let mut names = Vec::new();
    let mut default = false;
    let mut openid = false;
    let mut offline = false;
    for s in scope.split_whitespace() {
        if OIDC_SCOPES.contains(&s.to_ascii_lowercase().as_str()) {
            openid |= s.eq_ignore_ascii_case("openid");
            offline |= s.eq_ignore_ascii_case("offline_access");
            continue;
        }
        let (res, name) = match s.rsplit_once('/') {
            Some((r, n)) if !r.is_empty() && !r.ends_with(':') && !r.ends_with('/') => {
                (r.to_string(), n.to_string())
            }
            _ => {
                if client_credentials {
                    return Err(AadError::scope_needs_default(scope));
                }
                return Err(AadError::invalid_scope(s));
            }
        };
        if client_credentials && name != ".default" {
            return Err(AadError::scope_needs_default(scope));
        }
        match &resource_id {
            Some(r) if !r.eq_ignore_ascii_case(&res) => {
                return Err(AadError::invalid_scope(scope));
            }
            _ => resource_id = Some(res),
        }
        if name == ".default" {
            default = true;
        } else {
            names.push(name);
        }
    }
    let Some(resource_id) = resource_id else {
        return Err(if client_credentials {
            AadError::scope_needs_default(scope)
        } else {
            AadError::invalid_scope(scope)
        });
    };
    let resource = tenant.resource(&resource_id).cloned().ok_or_else(|| {
        AadError::unknown_resource(&resource_id, tenant.domain.as_deref().unwrap_or(&tenant.id))
    })?;
    for n in &names {
        if !resource.scopes.iter().any(|s| s == n) {
            return Err(AadError::invalid_scope(&format!("{resource_id}/{n}")));
        }
    }
    let scopes = if default || names.is_empty() {
        resource.scopes.clone()
    } else {
        names
    };
    Ok(Requested {
        resource,
        resource_id,
        scopes,
        openid,
        offline,
    })
}

/// v1 requests name the resource with `resource=`.
pub(super) fn parse_resource(
    tenant: &TenantConfig,
    resource_id: &str,
) -> Result<Requested, AadError> {
    if resource_id.len() > super::MAX_SCOPE_LEN {
        return Err(AadError::scope_too_long(
            resource_id.len(),
            super::MAX_SCOPE_LEN,
        ));
    }
    let resource = tenant.resource(resource_id).cloned().ok_or_else(|| {
        AadError::unknown_resource(resource_id, tenant.domain.as_deref().unwrap_or(&tenant.id))
    })?;
    Ok(Requested {
        scopes: resource.scopes.clone(),
        resource,
        resource_id: resource_id.to_string(),
        openid: false,
        offline: false,
    })
}

/// A v2.0 request's RFC 8707 `resource` parameter, checked as Entra checks it since early 2026:
/// absent, or an Application ID URI (or client id) of the app that owns the requested scopes;
/// anything else — an MCP server's `https://…` URL, another app — is AADSTS9010010. (Before that
/// change v2.0 refused any `resource` with AADSTS901002; MCP clients following RFC 8707 send the
/// server's URL, which is why a server behind Entra needs a bridge that strips it.)
pub(super) fn check_resource_param(form: &Form, req: &Requested) -> Result<(), AadError> {
    match super::param(form, "resource") {
        Some(r) if !req.resource.is_named_by(r) => Err(AadError::resource_mismatch()),
        _ => Ok(()),
    }
}

/// What a token or device code request asks for: `resource=` on v1, `scope=` on v2.
pub(super) fn requested(
    tenant: &TenantConfig,
    form: &Form,
    v1: bool,
    client_credentials: bool,
) -> Result<Requested, AadError> {
    if v1 {
        parse_resource(tenant, require(form, "resource")?)
    } else {
        let req = parse_scopes(tenant, require(form, "scope")?, client_credentials)?;
        check_resource_param(form, &req)?;
        Ok(req)
    }
}
