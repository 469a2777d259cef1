//! The checks every input value goes through, whatever its source and whichever verb reads it
//! (`deploy init`, `deploy`, `auth test`): what init refuses, no other verb accepts. Each returns the value
//! normalised (lowercased GUID, authority host without trailing slash) or why it is refused.

use crate::config::{Provider, TargetKind};
use pmcp_auth::entra::{is_guid, is_https_or_loopback, is_loopback_url, normalize_authority_host};

/// A GUID or a DNS domain (`contoso.onmicrosoft.com`); the multi-tenant aliases only with
/// `multi_tenant`.
pub fn validate_tenant(v: &str, multi_tenant: bool) -> Result<String, String> {
    let lower = v.to_ascii_lowercase();
    if matches!(lower.as_str(), "common" | "organizations" | "consumers") {
        if multi_tenant {
            return Ok(lower);
        }
        return Err(format!(
            "`{lower}` is not a tenant but an alias that accepts other tenants' users; add \
             --multi-tenant for that, or give your directory (tenant) ID \
             (az account show --query tenantId -o tsv)"
        ));
    }
    if is_guid(v) {
        return Ok(lower);
    }
    if is_domain(&lower) {
        return Ok(lower);
    }
    Err(
        "expected a GUID (Directory (tenant) ID on the app registration's Overview) or a verified \
         domain such as contoso.onmicrosoft.com"
            .into(),
    )
}

/// A DNS name of two or more labels ending in an alphabetic top-level label.
pub fn is_domain(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && labels
            .last()
            .is_some_and(|t| t.len() >= 2 && t.bytes().all(|b| b.is_ascii_alphabetic()))
}

/// A GUID (lowercased).
pub fn validate_guid(v: &str) -> Result<String, String> {
    if is_guid(v) {
        Ok(v.to_ascii_lowercase())
    } else {
        Err(
            "expected a GUID like 00000000-0000-0000-0000-000000000000 (Application (client) ID \
             on the app registration's Overview)"
                .into(),
        )
    }
}

/// https, or http for localhost / 127.0.0.1 / `[::1]`; no fragment.
pub fn validate_redirect(v: &str) -> Result<String, String> {
    let url = url::Url::parse(v).map_err(|e| format!("not a URL ({e})"))?;
    if url.fragment().is_some() {
        return Err("a redirect URI cannot have a #fragment".into());
    }
    match url.scheme() {
        "https" => Ok(v.to_string()),
        "http" if is_loopback_url(v) => Ok(v.to_string()),
        "http" => {
            Err("Entra accepts http:// redirect URIs only for localhost; use https://".into())
        }
        other => Err(format!("scheme `{other}` is not allowed; use https://")),
    }
}

/// An https URL (http only for loopback, e.g. the local emulator), without trailing slash.
pub fn validate_authority(v: &str) -> Result<String, String> {
    let host = normalize_authority_host(v);
    url::Url::parse(&host).map_err(|e| format!("not a URL ({e})"))?;
    if is_https_or_loopback(&host) {
        Ok(host)
    } else {
        Err(
            "expected an https:// URL such as https://login.microsoftonline.us (http:// only for \
             a loopback host: 127.0.0.0/8, [::1], localhost)"
                .into(),
        )
    }
}

/// An OIDC issuer: https URL (http for loopback).
pub fn validate_issuer(v: &str) -> Result<String, String> {
    url::Url::parse(v).map_err(|e| format!("not a URL ({e})"))?;
    if is_https_or_loopback(v) {
        Ok(v.to_string())
    } else {
        Err("expected an https:// issuer URL (http:// only for a loopback host: 127.0.0.0/8, [::1], localhost)".into())
    }
}

/// A DNS label: lowercase letters, digits and hyphens, 1–63 characters. The check lives with the
/// config so that every verb that reads `[server] name` applies it.
pub use crate::config::validate_server_name;

/// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`).
pub fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

/// A deploy target by its name.
pub fn parse_target(v: &str) -> Result<TargetKind, String> {
    v.parse()
}

/// An identity provider by its name.
pub fn parse_provider(v: &str) -> Result<Provider, String> {
    match v.to_ascii_lowercase().as_str() {
        "entra" => Ok(Provider::Entra),
        "oidc" => Ok(Provider::Oidc),
        "none" => Ok(Provider::None),
        _ => Err("expected entra, oidc or none".into()),
    }
}

/// A comma-separated list, trimmed, without empty items.
pub fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// A comma-separated list of tenant GUIDs (lowercased, comma-joined; empty is fine).
pub fn validate_guid_list(v: &str) -> Result<String, String> {
    let mut out = Vec::new();
    for t in split_list(v) {
        out.push(validate_guid(&t).map_err(|_| format!("`{t}` is not a tenant GUID"))?);
    }
    Ok(out.join(","))
}

/// Any value but a blank one (trimmed).
pub fn validate_nonempty(v: &str) -> Result<String, String> {
    if v.trim().is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(v.trim().to_string())
    }
}

/// The placeholder client id of examples and templates: accepted (it is a GUID) but never a real
/// app registration.
pub const PLACEHOLDER_CLIENT_ID: &str = "00000000-0000-0000-0000-000000000000";

/// What is wrong with a loaded deploy.toml: refusals (exit 2), each `file:line:column: …`, and
/// warnings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigCheck {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

impl ConfigCheck {
    /// The refusals as one exit-2 failure (all of them at once), or `Ok`.
    pub fn into_result(self) -> Result<(), crate::ui::Failure> {
        if self.errors.is_empty() {
            return Ok(());
        }
        let n = self.errors.len();
        let message = if n == 1 {
            self.errors[0].clone()
        } else {
            format!(
                "{n} invalid values in {}:\n  {}",
                crate::config::DEPLOY_TOML,
                self.errors.join("\n  ")
            )
        };
        Err(crate::ui::Failure::usage(message).with_code("invalid_config").with_hint(format!(
            "fix {} at the position shown (or re-run `cargo pmcp deploy init` with the right flags); nothing was done",
            crate::config::DEPLOY_TOML
        )))
    }
}

/// True when `url` names a loopback host (127.0.0.0/8, `[::1]`, localhost) or is plain http: an
/// authority only a process on this machine can reach, i.e. a local emulator.
pub fn is_local_authority(url: &str) -> bool {
    is_loopback_url(url) || url.trim().to_ascii_lowercase().starts_with("http://")
}

/// The one validation of a loaded deploy.toml that every verb runs (`deploy`, `deploy --dry-run`,
/// `auth test`; `deploy init` checks the same values through its resolver): each value with the
/// same rules `deploy init` applies, reported at its position. `target` is the target the verb
/// deploys to (`None` for verbs that deploy nothing): a loopback or plain-http authority or issuer
/// is refused for a target other than `local` unless `allow_local_authority`.
pub fn check_config(
    loaded: &crate::config::Loaded,
    target: Option<TargetKind>,
    allow_local_authority: bool,
) -> ConfigCheck {
    let mut out = ConfigCheck::default();
    let auth = &loaded.config.auth;
    let at = |keys: &[&str]| {
        loaded
            .locate(keys)
            .map(|l| format!("{}:{}:{}", l.path.display(), l.line, l.column))
            .unwrap_or_else(|| loaded.path.display().to_string())
    };
    let mut refuse = |keys: &[&str], why: String| {
        out.errors
            .push(format!("{}: `{}` {why}", at(keys), keys.join(".")));
    };
    if auth.active_provider() == Provider::Entra {
        let multi = auth.entra.multi_tenant;
        if let Some(t) = auth.tenant_id.as_deref()
            && let Err(why) = validate_tenant(t.trim(), multi)
        {
            refuse(&["auth", "tenant_id"], format!("is not a tenant: {why}"));
        }
        if let Some(c) = auth.client_id.as_deref() {
            match validate_guid(c.trim()) {
                Err(why) => refuse(&["auth", "client_id"], format!("is not a client id: {why}")),
                Ok(c) if c == PLACEHOLDER_CLIENT_ID => out.warnings.push(format!(
                    "{}: `auth.client_id` is the placeholder {PLACEHOLDER_CLIENT_ID}, not an app \
                     registration: Entra will refuse every token request; use the Application \
                     (client) ID from the app registration's Overview",
                    at(&["auth", "client_id"])
                )),
                Ok(_) => {}
            }
        }
        if let Some(h) = auth.entra.authority_host.as_deref() {
            match validate_authority(h.trim()) {
                Err(why) => refuse(
                    &["auth", "entra", "authority_host"],
                    format!("is not an authority host: {why}"),
                ),
                Ok(h) => {
                    if let Some(kind) = target.filter(|k| *k != TargetKind::Local)
                        && is_local_authority(&h)
                        && !allow_local_authority
                    {
                        refuse(
                            &["auth", "entra", "authority_host"],
                            local_authority_refusal(&h, kind),
                        );
                    }
                }
            }
        }
        for t in &auth.entra.allowed_tenants {
            if validate_guid(t.trim()).is_err() {
                refuse(
                    &["auth", "entra", "allowed_tenants"],
                    format!("holds `{t}`, which is not a tenant GUID"),
                );
            }
        }
        if let Some(r) = auth.entra.redirect_uri.as_deref()
            && let Err(why) = validate_redirect(r.trim())
        {
            refuse(
                &["auth", "entra", "redirect_uri"],
                format!("is not a redirect URI: {why}"),
            );
        }
    }
    if auth.active_provider() == Provider::Oidc
        && let Some(i) = auth.issuer.as_deref()
    {
        match validate_issuer(i.trim()) {
            Err(why) => refuse(&["auth", "issuer"], format!("is not an issuer: {why}")),
            Ok(i) => {
                if let Some(kind) = target.filter(|k| *k != TargetKind::Local)
                    && is_local_authority(&i)
                    && !allow_local_authority
                {
                    refuse(&["auth", "issuer"], local_authority_refusal(&i, kind));
                }
            }
        }
    }
    out
}

/// Why a local authority is refused for a hosted target, and what to do.
pub fn local_authority_refusal(url: &str, target: TargetKind) -> String {
    format!(
        "is {url}, a local address (a loopback host or plain http: the Entra emulator?), but the \
         target is {target}: the deployed server cannot reach it, and it would trust tokens from an \
         emulator. Use your tenant's authority (https://login.microsoftonline.com, or --cloud), \
         unset ENTRA_AUTHORITY_HOST and AZURE_AUTHORITY_HOST if the emulator's exports are still \
         set, or pass --allow-local-authority if this is really meant"
    )
}

/// An AWS region name such as `us-east-1`, `eu-central-2` or `us-gov-west-1`.
pub fn validate_region(v: &str) -> Result<String, String> {
    let parts: Vec<&str> = v.split('-').collect();
    let ok = parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(v.to_string())
    } else {
        Err("expected an AWS region such as us-east-1 or eu-west-2".into())
    }
}

/// An IAM role ARN: `arn:<partition>:iam::<12-digit account>:role/<path/>name`.
pub fn validate_role_arn(v: &str) -> Result<String, String> {
    let parts: Vec<&str> = v.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "iam"
        && parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5]
            .strip_prefix("role/")
            .is_some_and(|n| !n.is_empty());
    if ok {
        Ok(v.to_string())
    } else {
        Err("expected an IAM role ARN such as arn:aws:iam::123456789012:role/my-lambda-role".into())
    }
}

/// Lambda memory: 128 to 10240 MB.
pub fn validate_memory_mb(v: u32) -> Result<u32, String> {
    if (128..=10240).contains(&v) {
        Ok(v)
    } else {
        Err("Lambda memory must be between 128 and 10240 (MB)".into())
    }
}

/// Lambda timeout: 1 to 900 seconds.
pub fn validate_timeout_seconds(v: u32) -> Result<u32, String> {
    if (1..=900).contains(&v) {
        Ok(v)
    } else {
        Err("Lambda timeout must be between 1 and 900 (seconds)".into())
    }
}

/// A cargo target triple (`arch-vendor-os[-env]`), optionally with cargo-zigbuild's glibc
/// suffix (`x86_64-unknown-linux-gnu.2.34`).
pub fn validate_triple(v: &str) -> Result<String, String> {
    let parts: Vec<&str> = v.split('-').collect();
    let ok = (3..=4).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        });
    if ok {
        Ok(v.to_string())
    } else {
        Err("expected a target triple such as x86_64-unknown-linux-musl".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_values() {
        assert!(validate_region("us-east-1").is_ok());
        assert!(validate_region("us-gov-west-1").is_ok());
        assert!(validate_region("useast1").is_err());
        assert!(validate_region("US-EAST-1").is_err());
        assert!(validate_role_arn("arn:aws:iam::123456789012:role/x").is_ok());
        assert!(validate_role_arn("arn:aws:iam::123456789012:role/path/x").is_ok());
        assert!(validate_role_arn("arn:aws:iam::1234:role/x").is_err());
        assert!(validate_role_arn("arn:aws:iam::123456789012:user/x").is_err());
        assert!(validate_memory_mb(127).is_err() && validate_memory_mb(512).is_ok());
        assert!(validate_timeout_seconds(0).is_err() && validate_timeout_seconds(901).is_err());
        assert!(validate_triple("x86_64-unknown-linux-gnu.2.34").is_ok());
        assert!(validate_triple("x86_64").is_err());
    }

    #[test]
    fn tenants() {
        assert!(validate_tenant("contoso.onmicrosoft.com", false).is_ok());
        assert!(validate_tenant("contoso.com", false).is_ok());
        assert!(validate_tenant("11111111-2222-3333-4444-555555555555", false).is_ok());
        assert!(validate_tenant("contoso", false).is_err());
        assert!(
            validate_tenant("common", false)
                .unwrap_err()
                .contains("--multi-tenant")
        );
        assert_eq!(
            validate_tenant("Organizations", true).unwrap(),
            "organizations"
        );
        assert!(validate_tenant("con toso.com", false).is_err());
    }

    #[test]
    fn redirects() {
        assert!(validate_redirect("https://x.pmcp.run/callback").is_ok());
        assert!(validate_redirect("http://localhost:8080/callback").is_ok());
        assert!(validate_redirect("http://127.0.0.1:1/cb").is_ok());
        assert!(validate_redirect("http://example.com/cb").is_err());
        assert!(validate_redirect("https://x/cb#frag").is_err());
        assert!(validate_redirect("callback").is_err());
    }

    #[test]
    fn server_names() {
        assert!(validate_server_name("my-server").is_ok());
        assert!(validate_server_name("my_server").is_err());
        assert!(validate_server_name("-x").is_err());
    }
}
