//! What `deploy init` writes (`.pmcp/deploy.toml`, `.pmcp/entra-app.json`) and the result it prints:
//! the setup checklist.

use super::resolve::{ConfigFile, Resolved};
use crate::config::DeployToml;
use crate::config::init::{Checklist, ENTRA_APP_JSON, EntraAppManifest};
use crate::config::resolve::Source;
use crate::ui::{Failure, Ui};
use anyhow::Context;
use pmcp_auth::env as envs;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// What `deploy init` did: printed as the checklist, or as JSON with `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct InitResult {
    /// deploy.toml, as shown to the user.
    pub config_path: String,
    /// `created`, `updated` or `unchanged`.
    pub config: &'static str,
    /// `.pmcp/entra-app.json` for Entra.
    pub manifest_path: Option<String>,
    /// `created`, `updated` or `unchanged` (absent without a manifest).
    pub manifest: Option<&'static str>,
    pub target: String,
    pub provider: String,
    pub server_name: String,
    /// The OAuth bridge's callback registered as a Web redirect URI (absent when not known yet).
    pub redirect_uri: Option<String>,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub authority_host: Option<String>,
    pub multi_tenant: bool,
    pub allowed_tenants: Vec<String>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// Where each value came from (`--tenant-id`, `ENTRA_TENANT_ID`, `.pmcp/deploy.toml:7`, …).
    pub sources: BTreeMap<String, Source>,
    /// Unknown keys in deploy.toml and other things to look at.
    pub warnings: Vec<String>,
    /// The name of the client-secret variable that is set (never its value).
    pub client_secret_env: Option<String>,
    pub checklist: Checklist,
}

impl std::fmt::Display for InitResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.checklist)
    }
}

/// Write the files for `resolved` and build the result.
pub(super) fn write(
    ui: &Ui,
    file: ConfigFile,
    root: &Path,
    cwd: &Path,
    resolved: Resolved,
) -> anyhow::Result<InitResult> {
    let Resolved {
        settings,
        sources,
        warnings,
    } = resolved;
    let (config_path, config_shown) = (file.path, file.shown);
    let text = file.loaded.map(|l| l.text);
    // Write deploy.toml.
    let mut doc = match text {
        Some(t) => DeployToml::from_text(&config_path, t)?,
        None => DeployToml::template(&config_path),
    };
    crate::config::init::apply(&settings, &mut doc)
        .map_err(|e| Failure::usage(e.to_string()).with_hint("the file was not changed"))?;
    let config_state = if doc.is_new() {
        "created"
    } else if doc.is_changed() {
        "updated"
    } else {
        "unchanged"
    };
    doc.write()
        .with_context(|| format!("cannot write {}", config_shown.display()))?;
    ui.info(format!("{} {}", config_shown.display(), config_state));

    // Write the manifest fragment.
    let (mut manifest_path, mut manifest_state) = (None, None);
    if let Some(m) = EntraAppManifest::build(&settings) {
        let path = root.join(ENTRA_APP_JSON);
        let path_shown = crate::config::shown(&path, cwd).display().to_string();
        let json = m.to_json();
        let state = match std::fs::read_to_string(&path) {
            Ok(old) if old == json => "unchanged",
            Ok(_) => "updated",
            Err(_) => "created",
        };
        if state != "unchanged" {
            crate::ui::write_atomic(&path, json.as_bytes())
                .with_context(|| format!("cannot write {path_shown}"))?;
        }
        ui.info(format!("{path_shown} {state}"));
        manifest_path = Some(path_shown);
        manifest_state = Some(state);
    }

    // The secret stays in the environment.
    let secret_env = [envs::ENTRA_CLIENT_SECRET, envs::AZURE_CLIENT_SECRET]
        .into_iter()
        .find(|n| std::env::var_os(n).is_some_and(|v| !v.is_empty()));
    if let Some(name) = secret_env {
        ui.info(format!(
            "{name} is set: it stays out of {} (no secret is ever written there). `cargo pmcp deploy` \
             reads it from the environment and sends it as a secret when [secrets] required lists it; \
             `cargo pmcp auth test` reads it from the environment.",
            config_shown.display()
        ));
    }

    let checklist = Checklist::build(&settings, secret_env)?;
    let e = settings.entra.as_ref();
    Ok(InitResult {
        config_path: config_shown.display().to_string(),
        config: config_state,
        manifest_path,
        manifest: manifest_state,
        target: settings.target.as_str().into(),
        provider: settings.provider.as_str().into(),
        server_name: settings.server_name.clone(),
        redirect_uri: settings.redirect_uri.clone(),
        tenant_id: e.map(|e| e.tenant_id.clone()),
        client_id: e.map(|e| e.client_id.clone()),
        authority_host: e.map(|e| e.authority_host.clone()),
        multi_tenant: e.is_some_and(|e| e.multi_tenant),
        allowed_tenants: e.map(|e| e.allowed_tenants.clone()).unwrap_or_default(),
        issuer: settings.oidc.as_ref().map(|o| o.issuer.clone()),
        audience: settings.oidc.as_ref().map(|o| o.audience.clone()),
        sources,
        warnings,
        client_secret_env: secret_env.map(str::to_string),
        checklist,
    })
}
