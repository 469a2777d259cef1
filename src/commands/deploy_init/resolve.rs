//! `deploy init`'s inputs: deploy.toml read once, then each input of the table
//! ([`crate::config::inputs`]) resolved by the shared [`Resolver`] (flag > env > deploy.toml >
//! prompt > default) into [`InitSettings`], with where each value came from.

use super::Ctx;
use super::args::InitArgs;
use crate::config::init::{EntraInit, InitSettings, OidcInit, default_redirect_uri};
use crate::config::inputs::{
    ALLOWED_TENANTS, AUDIENCE, AUTHORITY_HOST, CLIENT_ID, ISSUER, MULTI_TENANT, PROVIDER,
    REDIRECT_URI, SERVER_NAME, TARGET, TENANT_ID,
};
use crate::config::resolve::{Problems, Resolver, Source};
use crate::config::validate::*;
use crate::config::{self, DEPLOY_TOML, Loaded, Provider, TargetKind};
use crate::ui::{Failure, Ui};
use pmcp_auth::entra::DEFAULT_AUTHORITY_HOST;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// deploy.toml as read before anything is resolved, parsed once: a file that does not parse is
/// an error here, so it is never touched.
pub(super) struct ConfigFile {
    /// Where it is.
    pub path: PathBuf,
    /// How messages show it (relative to the current directory when below it).
    pub shown: PathBuf,
    /// The file, when it exists.
    pub loaded: Option<Loaded>,
}

impl ConfigFile {
    pub(super) fn read(root: &Path, cwd: &Path) -> anyhow::Result<Self> {
        let path = root.join(DEPLOY_TOML);
        let shown = config::shown(&path, cwd);
        let text = match config::read_deploy_toml(&path) {
            Ok(t) => t,
            Err(e) => {
                let msg = format!("cannot read {}: {e}", shown.display());
                return Err(Failure::usage(msg).into());
            }
        };
        let loaded = match text {
            Some(t) => Some(config::parse_with_warnings(&shown, t).map_err(|e| {
                Failure::usage(e.to_string()).with_hint(format!(
                    "{} was not changed; fix it (or move it aside to start from the template) \
                     and run init again",
                    shown.display()
                ))
            })?),
            None => None,
        };
        Ok(Self {
            path,
            shown,
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

/// Resolve every input; all missing and invalid ones are reported at once (exit 2).
pub(super) fn resolve(
    args: &InitArgs,
    ctx: &Ctx,
    root: &Path,
    file: &ConfigFile,
) -> anyhow::Result<Resolved> {
    let ui = &ctx.ui;
    let mut warnings = Vec::new();
    if let Some(l) = &file.loaded {
        for w in &l.warnings {
            ui.warn(w);
            warnings.push(w.to_string());
        }
    }
    let mut r = Resolver::for_ui(ui, file.loaded.as_ref()).assume_yes(args.yes);

    let target = target(&mut r, args);
    let provider = provider(&mut r, args);
    let server_name = server_name(&mut r, args, ctx, root);
    let entra = match provider {
        Provider::Entra => entra(&mut r, args, ui, &mut warnings),
        _ => None,
    };
    let oidc = match provider {
        Provider::Oidc => oidc(&mut r, args),
        _ => None,
    };
    let ignored = ignored_flags(args, provider);
    if !ignored.is_empty() {
        let w = format!(
            "{} ignored: the provider is {} (change it with --oauth)",
            ignored.join(", "),
            provider.as_str()
        );
        ui.warn(&w);
        warnings.push(w);
    }
    let redirect = redirect_uri(&mut r, args, target, server_name.as_deref());

    r.check().map_err(|p| failure(&p, server_name.as_deref()))?;
    let redirect_uri_given = !matches!(r.source(&REDIRECT_URI), Some(Source::Default(_)));
    let local = entra
        .as_ref()
        .map(|e| (&AUTHORITY_HOST, e.authority_host.as_str()))
        .or(oidc.as_ref().map(|o| (&ISSUER, o.issuer.as_str())))
        .filter(|(_, url)| is_local_authority(url));
    if let Some((input, url)) = local
        && target != TargetKind::Local
        && !args.allow_local_authority
    {
        let from = r
            .source(input)
            .map(|s| format!(" (from {s})"))
            .unwrap_or_default();
        return Err(Failure::usage(format!(
            "{}{from} {}",
            input.label(),
            local_authority_refusal(url, target)
        ))
        .with_code("local_authority")
        .with_hint("nothing was written; for the emulator use --target local (or `cargo pmcp dev`)")
        .into());
    }
    if let Some(e) = &entra
        && e.client_id == PLACEHOLDER_CLIENT_ID
    {
        let w = format!(
            "the client id is the placeholder {PLACEHOLDER_CLIENT_ID}, not an app registration: \
             Entra will refuse every token request; give the Application (client) ID from the \
             app registration's Overview (--client-id or ENTRA_CLIENT_ID)"
        );
        ui.warn(&w);
        warnings.push(w);
    }
    let settings = InitSettings {
        target,
        provider,
        server_name: server_name.expect("resolved or reported missing"),
        redirect_uri: redirect,
        redirect_uri_given,
        entra,
        oidc,
    };
    let sources = r
        .into_sources()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    Ok(Resolved {
        settings,
        sources,
        warnings,
    })
}

fn target(r: &mut Resolver, args: &InitArgs) -> TargetKind {
    r.input(&TARGET)
        .flag(args.target.map(TargetKind::as_str))
        .default("pmcp-run", "hosted pmcp.run")
        .prompt(|d| {
            prompt_select(
                "Where does the server run?",
                &["pmcp-run", "aws-lambda", "local"],
                d,
            )
        })
        .parse(parse_target)
        .unwrap_or(TargetKind::PmcpRun)
}

/// The file's provider is the one in effect: `enabled = false` (or no `[auth]` keys) means none.
fn provider(r: &mut Resolver, args: &InitArgs) -> Provider {
    r.input(&PROVIDER)
        .flag(args.oauth.map(Provider::as_str))
        .file_value(|l: &Loaded| {
            let auth = &l.config.auth;
            let key = if auth.enabled { "provider" } else { "enabled" };
            let at = l.locate(&["auth", key]).or_else(|| l.locate(&["auth"]))?;
            Some((auth.active_provider().as_str().to_string(), at))
        })
        .default("entra", "Microsoft Entra ID")
        .prompt(|_| {
            // Cancelling the choice keeps the default provider.
            Some(
                prompt_select(
                    "Identity provider?",
                    &["entra", "oidc", "none"],
                    Some("entra"),
                )
                .unwrap_or_else(|| "entra".into()),
            )
        })
        .parse(parse_provider)
        .unwrap_or(Provider::Entra)
}

/// Default: the package name, read (with `cargo metadata`) only when no source gives the name.
fn server_name(r: &mut Resolver, args: &InitArgs, ctx: &Ctx, root: &Path) -> Option<String> {
    let flag = args.server_name.as_deref();
    let default = match r.given(&SERVER_NAME, flag) {
        Some(_) => None,
        None => match package_name(ctx.manifest_path.as_deref(), root) {
            Ok(name) => Some((
                server_name_from_package(&name),
                format!("package `{name}` in Cargo.toml"),
            )),
            Err(why) => {
                ctx.ui
                    .info(format!("{why}; give the server's name with --server-name"));
                None
            }
        },
    };
    r.input(&SERVER_NAME)
        .flag(flag)
        .default_opt(default)
        .prompt(|d| {
            prompt_text(
                "Server name:",
                "lowercase letters, digits, hyphens",
                d,
                validate_server_name,
            )
        })
        .parse(validate_server_name)
}

fn entra(
    r: &mut Resolver,
    args: &InitArgs,
    ui: &Ui,
    warnings: &mut Vec<String>,
) -> Option<EntraInit> {
    let multi_flag = args.multi_tenant.map(|b| b.to_string());
    let multi = r
        .input(&MULTI_TENANT)
        .flag(multi_flag.as_deref())
        .default("false", "single tenant")
        .prompt(|d| {
            prompt_confirm(
                "Accept users from other Entra tenants (multi-tenant)?",
                d == Some("true"),
            )
        })
        .parse(parse_bool)
        .unwrap_or(false);
    let allowed_flag = (!args.allowed_tenants.is_empty()).then(|| args.allowed_tenants.join(","));
    let allowed: Vec<String> = if multi || allowed_flag.is_some() {
        r.input(&ALLOWED_TENANTS)
            .flag(allowed_flag.as_deref())
            .default("", "any tenant")
            .prompt(|d| {
                prompt_text(
                    "Allowed tenant IDs (comma separated; empty for any):",
                    "GUIDs",
                    d,
                    validate_guid_list,
                )
            })
            .parse(validate_guid_list)
            .map(|v| split_list(&v))
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    if !multi && !allowed.is_empty() {
        let source = r
            .source(&ALLOWED_TENANTS)
            .cloned()
            .unwrap_or(Source::Flag("--allowed-tenant"));
        r.reject(
            &ALLOWED_TENANTS,
            source,
            allowed.join(","),
            "allowed tenants only apply with --multi-tenant",
        );
    }
    if multi && allowed.is_empty() {
        let w = "multi-tenant with no allowed tenants: users of any Entra tenant can get tokens \
                 for this server; restrict with --allowed-tenant <ID>";
        ui.warn(w);
        warnings.push(w.to_string());
    }
    let tenant = r
        .input(&TENANT_ID)
        .flag(args.tenant_id.as_deref())
        .prompt(|_| {
            prompt_text(
                "Directory (tenant) ID:",
                "az account show --query tenantId -o tsv",
                None,
                move |v| validate_tenant(v, multi),
            )
        })
        .parse(|v| validate_tenant(v, multi));
    let client = r
        .input(&CLIENT_ID)
        .flag(args.client_id.as_deref())
        .prompt(|_| {
            prompt_text(
                "Application (client) ID:",
                "App registrations > your app > Overview",
                None,
                validate_guid,
            )
        })
        .parse(validate_guid);
    // Not prompted: almost everyone is on the public cloud; the default is logged.
    let cloud_host = args.cloud.map(|c| c.authority_host());
    let authority = r
        .input(&AUTHORITY_HOST)
        .flag(args.authority_host.as_deref())
        .flag_named("--cloud", cloud_host)
        .default(DEFAULT_AUTHORITY_HOST, "public cloud")
        .parse(validate_authority);
    Some(EntraInit {
        tenant_id: tenant?,
        client_id: client?,
        authority_host: authority?,
        multi_tenant: multi,
        allowed_tenants: allowed,
    })
}

fn oidc(r: &mut Resolver, args: &InitArgs) -> Option<OidcInit> {
    let issuer = r
        .input(&ISSUER)
        .flag(args.issuer.as_deref())
        .prompt(|_| prompt_text("Issuer URL:", "https://…", None, validate_issuer))
        .parse(validate_issuer);
    let audience = r
        .input(&AUDIENCE)
        .flag(args.audience.as_deref())
        .prompt(|_| {
            prompt_text(
                "Audience:",
                "the aud claim of access tokens",
                None,
                validate_nonempty,
            )
        })
        .parse(validate_nonempty);
    Some(OidcInit {
        issuer: issuer?,
        audience: audience?,
    })
}

/// Flags given for another provider than the chosen one (ignored, loudly).
fn ignored_flags(args: &InitArgs, provider: Provider) -> Vec<&'static str> {
    let entra = [
        (args.tenant_id.is_some(), "--tenant-id"),
        (args.client_id.is_some(), "--client-id"),
        (args.authority_host.is_some(), "--authority-host"),
        (args.cloud.is_some(), "--cloud"),
        (args.multi_tenant.is_some(), "--multi-tenant"),
        (!args.allowed_tenants.is_empty(), "--allowed-tenant"),
    ];
    let oidc = [
        (args.issuer.is_some(), "--issuer"),
        (args.audience.is_some(), "--audience"),
    ];
    let mut ignored = Vec::new();
    if provider != Provider::Entra {
        ignored.extend(entra.iter().filter(|(set, _)| *set).map(|(_, f)| *f));
    }
    if provider != Provider::Oidc {
        ignored.extend(oidc.iter().filter(|(set, _)| *set).map(|(_, f)| *f));
    }
    ignored
}

/// Default: derived from the target and the server name.
fn redirect_uri(
    r: &mut Resolver,
    args: &InitArgs,
    target: TargetKind,
    server_name: Option<&str>,
) -> Option<String> {
    let default = server_name.and_then(|s| {
        default_redirect_uri(target, s).map(|uri| (uri, format!("{target} and server name")))
    });
    let q = r.input(&REDIRECT_URI).flag(args.redirect_uri.as_deref());
    if target == TargetKind::AwsLambda {
        // The function URL exists only after the first deploy: no default, no prompt; the
        // checklist says how to add the callback then.
        return q.optional().parse(validate_redirect);
    }
    q.default_opt(default)
        .prompt(|d| {
            prompt_text(
                "Redirect URI (the OAuth bridge's callback):",
                "https://<server host>/oauth/callback, or http://localhost:<port>/oauth/callback",
                d,
                validate_redirect,
            )
        })
        .parse(validate_redirect)
}

/// Missing values (with how to find the tenant and client ids) or invalid ones: exit 2, nothing
/// written.
fn failure(p: &Problems, server_name: Option<&str>) -> Failure {
    if p.missing.is_empty() {
        return Failure::usage(p.to_string()).with_hint(
            "nothing was written; fix the value(s) and run init again (see `cargo pmcp deploy init --help`)",
        );
    }
    let mut hint = String::new();
    if p.is_missing(&TENANT_ID) {
        hint.push_str("tenant id: az account show --query tenantId -o tsv. ");
    }
    if p.is_missing(&CLIENT_ID) {
        let name = server_name.unwrap_or("my-server");
        hint.push_str(&format!(
            "client id: no app registration yet? az ad app create --display-name \"MCP Server - {name}\" \
             --sign-in-audience AzureADMyOrg --query appId -o tsv. "
        ));
    }
    hint.push_str("See docs/entra.md.");
    Failure::usage(p.to_string()).with_hint(hint)
}

// ---------- the server name's default ----------

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
            "there is no Cargo.toml at {} to take the package name from (no server crate \
             yet? `cargo pmcp new <name>` writes one)",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_become_server_names() {
        assert_eq!(server_name_from_package("My_Server"), "my-server");
    }

    #[test]
    fn flags_of_the_other_provider_are_named() {
        let args = InitArgs {
            tenant_id: Some("t".into()),
            issuer: Some("https://i".into()),
            ..InitArgs::default()
        };
        assert_eq!(ignored_flags(&args, Provider::Entra), ["--issuer"]);
        assert_eq!(ignored_flags(&args, Provider::Oidc), ["--tenant-id"]);
        assert_eq!(
            ignored_flags(&args, Provider::None),
            ["--tenant-id", "--issuer"]
        );
    }
}
