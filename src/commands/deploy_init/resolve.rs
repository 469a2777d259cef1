//! `deploy init`'s inputs: deploy.toml read once, then each value resolved (flag > env > deploy.toml >
//! prompt > default) into [`InitSettings`], with where each came from.

use super::Ctx;
use super::args::*;
use super::validate::*;
use crate::config::init::{EntraInit, InitSettings, OidcInit, default_redirect_uri};
use crate::config::{self, DEPLOY_TOML, Loaded, Location, Provider, TargetKind};
use crate::ui::{Failure, Ui};
use pmcp_auth::entra::DEFAULT_AUTHORITY_HOST;
use pmcp_auth::env as envs;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where a value came from; named in logs and in validation errors.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Flag(&'static str),
    Env(&'static str),
    File(Location),
    Prompt,
    Default(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Flag(n) => write!(f, "{n}"),
            Source::Env(n) => write!(f, "{n}"),
            Source::File(l) => write!(f, "{}", l.line_only()),
            Source::Prompt => f.write_str("prompt"),
            Source::Default(why) => write!(f, "default: {why}"),
        }
    }
}

impl Serialize for Source {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What one input is called and how it can be given.
struct Spec {
    /// Human name (`tenant id`).
    name: &'static str,
    /// The deploy.toml key (for messages).
    key: &'static str,
    flag: &'static str,
    envs: &'static [&'static str],
}

const TARGET: Spec = Spec {
    name: "target",
    key: "target.type",
    flag: "--target",
    envs: &[ENV_TARGET],
};
const OAUTH: Spec = Spec {
    name: "oauth provider",
    key: "auth.provider",
    flag: "--oauth",
    envs: &[ENV_OAUTH],
};
const TENANT: Spec = Spec {
    name: "tenant id",
    key: "auth.tenant_id",
    flag: "--tenant-id",
    envs: &[envs::ENTRA_TENANT_ID, envs::AZURE_TENANT_ID],
};
const CLIENT: Spec = Spec {
    name: "client id",
    key: "auth.client_id",
    flag: "--client-id",
    envs: &[envs::ENTRA_CLIENT_ID, envs::AZURE_CLIENT_ID],
};
const AUTHORITY: Spec = Spec {
    name: "authority host",
    key: "auth.entra.authority_host",
    flag: "--authority-host",
    envs: &[envs::ENTRA_AUTHORITY_HOST, envs::AZURE_AUTHORITY_HOST],
};
const MULTI: Spec = Spec {
    name: "multi-tenant",
    key: "auth.entra.multi_tenant",
    flag: "--multi-tenant",
    envs: &[ENV_MULTI_TENANT],
};
const ALLOWED: Spec = Spec {
    name: "allowed tenants",
    key: "auth.entra.allowed_tenants",
    flag: "--allowed-tenant",
    envs: &[ENV_ALLOWED_TENANTS],
};
const SERVER: Spec = Spec {
    name: "server name",
    key: "server.name",
    flag: "--server-name",
    envs: &[ENV_SERVER_NAME],
};
const REDIRECT: Spec = Spec {
    name: "redirect uri",
    key: "auth.entra.redirect_uri",
    flag: "--redirect-uri",
    envs: &[ENV_REDIRECT_URI],
};
const ISSUER: Spec = Spec {
    name: "issuer",
    key: "auth.issuer",
    flag: "--issuer",
    envs: &[ENV_ISSUER],
};
const AUDIENCE: Spec = Spec {
    name: "audience",
    key: "auth.audience",
    flag: "--audience",
    envs: &[ENV_AUDIENCE],
};

impl Spec {
    fn file_keys(&self) -> Vec<&'static str> {
        self.key.split('.').collect()
    }

    /// `--tenant-id or ENTRA_TENANT_ID (or AZURE_TENANT_ID)`
    fn how_to_give(&self) -> String {
        match self.envs {
            [] => self.flag.to_string(),
            [one] => format!("{} or {one}", self.flag),
            [first, rest @ ..] => format!("{} or {first} (or {})", self.flag, rest.join(", ")),
        }
    }
}

/// A value and where it came from.
#[derive(Debug, Clone)]
struct Got {
    value: String,
    source: Source,
}

/// Resolves inputs in order; collects what is missing and what is invalid, to report all at once.
struct Resolver<'a> {
    ui: &'a Ui,
    file: Option<&'a Loaded>,
    /// Prompts allowed.
    interactive: bool,
    /// `--yes`: take defaults without asking.
    yes: bool,
    missing: Vec<&'a Spec>,
    invalid: Vec<String>,
    sources: BTreeMap<&'static str, Source>,
}

impl<'a> Resolver<'a> {
    /// flag > env > file, without prompting.
    fn given(&self, spec: &Spec, flag: Option<&str>) -> Option<Got> {
        if let Some(v) = flag {
            return Some(Got {
                value: v.trim().to_string(),
                source: Source::Flag(spec.flag),
            });
        }
        if let Some((v, name)) = envs::first_set(spec.envs) {
            return Some(Got {
                value: v.trim().to_string(),
                source: Source::Env(name),
            });
        }
        let file = self.file?;
        let keys = spec.file_keys();
        let loc = file.locate(&keys)?;
        let item = toml_edit::Document::parse(file.text.as_str()).ok()?;
        let mut it = item.as_item();
        for k in &keys {
            it = it.as_table_like()?.get(k)?;
        }
        let value = match it.as_value()? {
            toml_edit::Value::String(s) => s.value().clone(),
            toml_edit::Value::Boolean(b) => b.value().to_string(),
            toml_edit::Value::Array(a) => a
                .iter()
                .filter_map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(","),
            other => other.to_string().trim().to_string(),
        };
        // A blank value in the file (`tenant_id = ""`) counts as not given.
        if value.trim().is_empty() && !matches!(it.as_value(), Some(toml_edit::Value::Array(_))) {
            return None;
        }
        Some(Got {
            value,
            source: Source::File(loc),
        })
    }

    /// Resolve `spec`: given > prompt > default > missing. `validate` checks a value from any
    /// source (prompts re-ask until it passes) and may normalise it.
    fn resolve(
        &mut self,
        spec: &'a Spec,
        flag: Option<&str>,
        default: Option<(String, String)>,
        prompt: &dyn Fn(Option<&str>) -> Option<String>,
        validate: &dyn Fn(&str) -> Result<String, String>,
    ) -> Option<String> {
        let got = match self.given(spec, flag) {
            Some(g) => Some(g),
            None if self.interactive && !(self.yes && default.is_some()) => {
                prompt(default.as_ref().map(|(v, _)| v.as_str())).map(|value| Got {
                    value,
                    source: Source::Prompt,
                })
            }
            None => default.map(|(value, why)| Got {
                value,
                source: Source::Default(why),
            }),
        };
        let Some(got) = got else {
            self.missing.push(spec);
            return None;
        };
        match validate(&got.value) {
            Ok(v) => {
                if !matches!(got.source, Source::Flag(_) | Source::Prompt) {
                    self.ui.chose(spec.key, &v, &got.source.to_string());
                }
                self.sources.insert(spec.key, got.source);
                Some(v)
            }
            Err(why) => {
                let place = match &got.source {
                    Source::File(loc) => {
                        format!("{}: {} `{}`", loc.line_only(), spec.key, got.value)
                    }
                    Source::Default(d) => format!("{} `{}` ({d})", spec.name, got.value),
                    other => format!("{other} `{}`", got.value),
                };
                self.invalid.push(format!("{place}: {why}"));
                None
            }
        }
    }
}

/// The package name as a server name: lowercase, `_` → `-`.
pub fn server_name_from_package(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// The package name from `cargo metadata` (honouring `--manifest-path`).
fn package_name(manifest_path: Option<&Path>, root: &Path) -> Result<String, String> {
    let manifest = match manifest_path {
        Some(m) => m.to_path_buf(),
        None => root.join("Cargo.toml"),
    };
    if !manifest.is_file() {
        return Err(format!(
            "there is no Cargo.toml at {} to take the package name from",
            manifest.display()
        ));
    }
    let meta = cargo_metadata::MetadataCommand::new()
        .manifest_path(&manifest)
        .no_deps()
        .exec()
        .map_err(|e| format!("cargo metadata failed for {}: {e}", manifest.display()))?;
    // The package whose manifest this is: in a workspace member, `root_package()` would be the
    // workspace root's package instead.
    let canonical = std::fs::canonicalize(&manifest).ok();
    let own = meta
        .workspace_packages()
        .into_iter()
        .find(|p| canonical.is_some() && std::fs::canonicalize(&p.manifest_path).ok() == canonical);
    match own.or_else(|| meta.root_package()) {
        Some(p) => Ok(p.name.to_string()),
        None => {
            let members: Vec<String> = meta
                .workspace_packages()
                .iter()
                .map(|p| p.name.to_string())
                .collect();
            Err(format!(
                "{} is a workspace without a root package (members: {}); pick one with \
                 --manifest-path <member>/Cargo.toml",
                manifest.display(),
                members.join(", ")
            ))
        }
    }
}

// ---------- prompts (only on a terminal) ----------

fn prompt_text(
    message: &str,
    help: &str,
    default: Option<&str>,
    validate: impl Fn(&str) -> Result<String, String> + Clone + 'static,
) -> Option<String> {
    let mut p = inquire::Text::new(message).with_help_message(help);
    if let Some(d) = default {
        p = p.with_default(d);
    }
    let p = p.with_validator(move |s: &str| {
        Ok(match validate(s.trim()) {
            Ok(_) => inquire::validator::Validation::Valid,
            Err(e) => inquire::validator::Validation::Invalid(e.into()),
        })
    });
    p.prompt().ok().map(|s| s.trim().to_string())
}

fn prompt_select(message: &str, options: &[&str], default: Option<&str>) -> Option<String> {
    let start = default
        .and_then(|d| options.iter().position(|o| *o == d))
        .unwrap_or(0);
    inquire::Select::new(message, options.to_vec())
        .with_starting_cursor(start)
        .prompt()
        .ok()
        .map(|s| s.to_string())
}

fn prompt_confirm(message: &str, default: bool) -> Option<String> {
    inquire::Confirm::new(message)
        .with_default(default)
        .prompt()
        .ok()
        .map(|b| b.to_string())
}

/// deploy.toml as read before anything is resolved: a file that does not parse is never touched.
pub(super) struct ConfigFile {
    /// Where it is.
    pub path: PathBuf,
    /// How messages show it (relative to the current directory when below it).
    pub shown: PathBuf,
    /// Its text, when it exists.
    pub text: Option<String>,
    /// Parsed, when it exists.
    pub loaded: Option<Loaded>,
}

impl ConfigFile {
    pub(super) fn read(root: &Path, cwd: &Path) -> anyhow::Result<Self> {
        let config_path = root.join(DEPLOY_TOML);
        let config_shown = super::shown(&config_path, cwd);
        // Read deploy.toml first: a file that does not parse is never touched.
        let text = match std::fs::read_to_string(&config_path) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(
                    Failure::usage(format!("cannot read {}: {e}", config_shown.display())).into(),
                );
            }
        };
        let loaded = match &text {
        Some(t) => Some(
            config::parse_with_warnings(&config_shown, t.clone()).map_err(|e| {
                Failure::usage(format!("{e}")).with_hint(format!(
                    "{} was not changed; fix it (or move it aside to start from the template) and run init again",
                    config_shown.display()
                ))
            })?,
        ),
        None => None,
    };
        Ok(Self {
            path: config_path,
            shown: config_shown,
            text,
            loaded,
        })
    }
}

/// The resolved settings, where each came from, and what to warn about.
pub(super) struct Resolved {
    pub settings: InitSettings,
    pub sources: BTreeMap<String, Source>,
    pub warnings: Vec<String>,
}

/// Resolve every input (all missing and invalid ones reported at once, exit 2).
pub(super) fn resolve(
    args: &InitArgs,
    ctx: &Ctx,
    root: &Path,
    file: &ConfigFile,
) -> anyhow::Result<Resolved> {
    let ui = &ctx.ui;
    let loaded = &file.loaded;
    let mut warnings = Vec::new();
    if let Some(l) = &loaded {
        for w in &l.warnings {
            ui.warn(w);
            warnings.push(w.to_string());
        }
    }

    let mut r = Resolver {
        ui,
        file: loaded.as_ref(),
        interactive: ui.interactive,
        yes: args.yes,
        missing: Vec::new(),
        invalid: Vec::new(),
        sources: BTreeMap::new(),
    };

    // target
    let target_flag = args.target.map(|t| t.as_str().to_string());
    let target = r
        .resolve(
            &TARGET,
            target_flag.as_deref(),
            Some(("pmcp-run".into(), "hosted pmcp.run".into())),
            &|d| {
                prompt_select(
                    "Where does the server run?",
                    &["pmcp-run", "aws-lambda", "local"],
                    d,
                )
            },
            &|v| parse_target(v).map(|t| t.as_str().to_string()),
        )
        .and_then(|v| parse_target(&v).ok())
        .unwrap_or(TargetKind::PmcpRun);

    // provider: the file's `enabled = false` means none.
    let oauth_flag = args.oauth.map(|p| p.as_str().to_string());
    let file_provider = loaded.as_ref().and_then(|l| {
        let v = l.config.auth.active_provider();
        let key = if l.config.auth.enabled {
            "provider"
        } else {
            "enabled"
        };
        let auth_loc = l.locate(&["auth", key]).or_else(|| l.locate(&["auth"]))?;
        Some((v, auth_loc))
    });
    let provider = {
        let given = r.given(&OAUTH, oauth_flag.as_deref());
        let (value, source) = match (given, file_provider) {
            (Some(g), _) if !matches!(g.source, Source::File(_)) => (g.value, g.source),
            (_, Some((p, loc))) => (p.as_str().to_string(), Source::File(loc)),
            _ if r.interactive && !r.yes => (
                prompt_select(
                    "Identity provider?",
                    &["entra", "oidc", "none"],
                    Some("entra"),
                )
                .unwrap_or_else(|| "entra".into()),
                Source::Prompt,
            ),
            _ => (
                "entra".to_string(),
                Source::Default("Microsoft Entra ID".into()),
            ),
        };
        match parse_provider(&value) {
            Ok(p) => {
                if !matches!(source, Source::Flag(_) | Source::Prompt) {
                    ui.chose("auth.provider", p.as_str(), &source.to_string());
                }
                r.sources.insert(OAUTH.key, source);
                p
            }
            Err(why) => {
                r.invalid.push(format!("{source} `{value}`: {why}"));
                Provider::Entra
            }
        }
    };

    // server name (default: the package name, read only when needed)
    let server_given = r.given(&SERVER, args.server_name.as_deref()).is_some();
    let server_default = if server_given {
        None
    } else {
        match package_name(ctx.manifest_path.as_deref(), root) {
            Ok(name) => Some((
                server_name_from_package(&name),
                format!("package `{name}` in Cargo.toml"),
            )),
            Err(why) => {
                ui.info(format!("{why}; give the server's name with --server-name"));
                None
            }
        }
    };
    let server_name = r.resolve(
        &SERVER,
        args.server_name.as_deref(),
        server_default,
        &|d| {
            prompt_text(
                "Server name:",
                "lowercase letters, digits, hyphens",
                d,
                validate_server_name,
            )
        },
        &validate_server_name,
    );

    // Entra values
    let mut entra = None;
    if provider == Provider::Entra {
        let multi_flag = args.multi_tenant.map(|b| b.to_string());
        let multi = r
            .resolve(
                &MULTI,
                multi_flag.as_deref(),
                Some(("false".into(), "single tenant".into())),
                &|d| {
                    prompt_confirm(
                        "Accept users from other Entra tenants (multi-tenant)?",
                        d == Some("true"),
                    )
                },
                &parse_bool,
            )
            .is_some_and(|v| v == "true");
        let allowed_flag =
            (!args.allowed_tenants.is_empty()).then(|| args.allowed_tenants.join(","));
        let allowed: Vec<String> = if multi || allowed_flag.is_some() {
            r.resolve(
                &ALLOWED,
                allowed_flag.as_deref(),
                Some((String::new(), "any tenant".into())),
                &|d| {
                    prompt_text(
                        "Allowed tenant IDs (comma separated; empty for any):",
                        "GUIDs",
                        d,
                        validate_guid_list,
                    )
                },
                &validate_guid_list,
            )
            .map(|v| split_list(&v))
            .unwrap_or_default()
        } else {
            Vec::new()
        };
        if !multi && !allowed.is_empty() {
            r.invalid.push(format!(
                "{} `{}`: allowed tenants only apply with --multi-tenant",
                r.sources
                    .get(ALLOWED.key)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| ALLOWED.flag.into()),
                allowed.join(",")
            ));
        }
        if multi && allowed.is_empty() {
            let w = "multi-tenant with no allowed tenants: users of any Entra tenant can get tokens \
                     for this server; restrict with --allowed-tenant <ID>";
            ui.warn(w);
            warnings.push(w.to_string());
        }
        let tenant = r.resolve(
            &TENANT,
            args.tenant_id.as_deref(),
            None,
            &|_| {
                prompt_text(
                    "Directory (tenant) ID:",
                    "az account show --query tenantId -o tsv",
                    None,
                    move |v| validate_tenant(v, multi),
                )
            },
            &|v| validate_tenant(v, multi),
        );
        let client = r.resolve(
            &CLIENT,
            args.client_id.as_deref(),
            None,
            &|_| {
                prompt_text(
                    "Application (client) ID:",
                    "App registrations > your app > Overview",
                    None,
                    validate_guid,
                )
            },
            &validate_guid,
        );
        let authority = match args.cloud {
            Some(c) => {
                r.sources.insert(AUTHORITY.key, Source::Flag("--cloud"));
                Some(c.authority_host().to_string())
            }
            None => {
                // Not prompted: almost everyone is on the public cloud; the default is logged.
                let saved = r.interactive;
                r.interactive = false;
                let v = r.resolve(
                    &AUTHORITY,
                    args.authority_host.as_deref(),
                    Some((DEFAULT_AUTHORITY_HOST.into(), "public cloud".into())),
                    &|_| None,
                    &validate_authority,
                );
                r.interactive = saved;
                v
            }
        };
        if let (Some(tenant_id), Some(client_id), Some(authority_host)) =
            (tenant, client, authority)
        {
            entra = Some(EntraInit {
                tenant_id,
                client_id,
                authority_host,
                multi_tenant: multi,
                allowed_tenants: allowed,
            });
        }
    }

    // OIDC values
    let mut oidc = None;
    if provider == Provider::Oidc {
        let issuer = r.resolve(
            &ISSUER,
            args.issuer.as_deref(),
            None,
            &|_| prompt_text("Issuer URL:", "https://…", None, validate_issuer),
            &validate_issuer,
        );
        let audience = r.resolve(
            &AUDIENCE,
            args.audience.as_deref(),
            None,
            &|_| {
                prompt_text(
                    "Audience:",
                    "the aud claim of access tokens",
                    None,
                    validate_nonempty,
                )
            },
            &validate_nonempty,
        );
        if let (Some(issuer), Some(audience)) = (issuer, audience) {
            oidc = Some(OidcInit { issuer, audience });
        }
    }

    // Flags that do not apply to the chosen provider are ignored, loudly.
    let mut ignored = Vec::new();
    if provider != Provider::Entra {
        for (set, flag) in [
            (args.tenant_id.is_some(), "--tenant-id"),
            (args.client_id.is_some(), "--client-id"),
            (args.authority_host.is_some(), "--authority-host"),
            (args.cloud.is_some(), "--cloud"),
            (args.multi_tenant.is_some(), "--multi-tenant"),
            (!args.allowed_tenants.is_empty(), "--allowed-tenant"),
        ] {
            if set {
                ignored.push(flag);
            }
        }
    }
    if provider != Provider::Oidc {
        for (set, flag) in [
            (args.issuer.is_some(), "--issuer"),
            (args.audience.is_some(), "--audience"),
        ] {
            if set {
                ignored.push(flag);
            }
        }
    }
    if !ignored.is_empty() {
        let w = format!(
            "{} ignored: the provider is {} (change it with --oauth)",
            ignored.join(", "),
            provider.as_str()
        );
        ui.warn(&w);
        warnings.push(w);
    }

    // redirect URI (default derived from target and server name)
    let redirect_default = server_name.as_deref().map(|s| {
        (
            default_redirect_uri(target, s),
            format!("{target} and server name"),
        )
    });
    let redirect = r.resolve(
        &REDIRECT,
        args.redirect_uri.as_deref(),
        redirect_default,
        &|d| {
            prompt_text(
                "Redirect URI:",
                "https, or http://localhost",
                d,
                validate_redirect,
            )
        },
        &validate_redirect,
    );

    if !r.missing.is_empty() {
        let mut msg = String::from(if ui.interactive {
            "missing values:"
        } else {
            "missing values (not asking: no terminal, or CI is set):"
        });
        for spec in &r.missing {
            msg.push_str(&format!("\n  {:<16} {}", spec.name, spec.how_to_give()));
        }
        for i in &r.invalid {
            msg.push_str(&format!("\n  invalid: {i}"));
        }
        let mut hint = String::new();
        if r.missing.iter().any(|s| s.key == TENANT.key) {
            hint.push_str("tenant id: az account show --query tenantId -o tsv. ");
        }
        if r.missing.iter().any(|s| s.key == CLIENT.key) {
            let name = server_name.as_deref().unwrap_or("my-server");
            hint.push_str(&format!(
                "client id: no app registration yet? az ad app create --display-name \"MCP Server - {name}\" \
                 --sign-in-audience AzureADMyOrg --query appId -o tsv. "
            ));
        }
        hint.push_str("See docs/entra.md.");
        return Err(Failure::usage(msg).with_hint(hint).into());
    }
    if !r.invalid.is_empty() {
        let msg = if r.invalid.len() == 1 {
            format!("invalid value: {}", r.invalid[0])
        } else {
            let mut m = String::from("invalid values:");
            for i in &r.invalid {
                m.push_str(&format!("\n  {i}"));
            }
            m
        };
        return Err(Failure::usage(msg)
            .with_hint(
                "nothing was written; fix the value(s) and run init again (see `cargo pmcp deploy init --help`)",
            )
            .into());
    }

    let server_name = server_name.expect("resolved or reported missing");
    let redirect_uri = redirect.expect("resolved or reported missing");
    let redirect_uri_given = !matches!(r.sources.get(REDIRECT.key), Some(Source::Default(_)));
    let settings = InitSettings {
        target,
        provider,
        server_name,
        redirect_uri,
        redirect_uri_given,
        entra,
        oidc,
    };
    Ok(Resolved {
        settings,
        sources: r
            .sources
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_become_server_names() {
        assert_eq!(server_name_from_package("My_Server"), "my-server");
    }

    #[test]
    fn how_to_give_lists_flag_and_envs() {
        assert_eq!(
            TENANT.how_to_give(),
            "--tenant-id or ENTRA_TENANT_ID (or AZURE_TENANT_ID)"
        );
        assert_eq!(SERVER.how_to_give(), "--server-name or PMCP_SERVER_NAME");
    }
}
