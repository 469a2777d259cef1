//! `cargo pmcp new <name> [--sdk rmcp|pmcp]`: write a ready MCP server crate.
//!
//! The examples ARE the templates: the build script embeds every file of the example crate that
//! [`sdks::TEMPLATE_EXAMPLES`] names for the SDK, and `new` rewrites them for the user's crate
//! (package and crate name, description, the dependencies the example takes from this
//! repository), then adds `templates/new/` (a README with the next commands, a .gitignore). An
//! edit to an example is therefore an edit to what `new` writes, and CI tests both.
//!
//! `pmcp-auth` is not on crates.io, so the crate depends on it by path: the `crates/pmcp-auth` of
//! the cargo-pmcp source this binary was built from (`cargo install --path .` from a clone keeps
//! it), or `--pmcp-auth-path` / `PMCP_AUTH_PATH`.
//!
//! The crate is built in a temp directory beside the destination and renamed into place, so an
//! interrupted run leaves nothing half-written and no existing file is ever replaced.

pub mod render;
pub mod sdks;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use super::Ctx;
use crate::ui::Failure;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/new_templates.rs"));
}

/// The README of a new crate (`{{name}}`, `{{sdk_title}}`, `{{pmcp_auth}}`).
const README: &str = include_str!("../../../templates/new/README.md");
/// Its .gitignore (kept as `gitignore` in the repository so it does not apply there).
const GITIGNORE: &str = include_str!("../../../templates/new/gitignore");
/// The workspace's lock file: the versions the examples are built and tested with. A new crate
/// that is its own workspace starts from it, so its first build resolves to tested versions
/// (cargo drops the entries it does not need; `cargo update` moves on).
const CARGO_LOCK: &str = include_str!("../../../Cargo.lock");
/// The `pmcp-auth` of the source tree this binary was built from.
const BUILT_FROM_PMCP_AUTH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/crates/pmcp-auth");

/// `new` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct NewArgs {
    /// The package name, as for `cargo new`: ASCII letters, digits, `-` and `_`, not starting with
    /// a digit, not a Rust keyword.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The MCP SDK the server is written with.
    #[arg(long, value_enum, default_value_t = Sdk::Rmcp)]
    pub sdk: Sdk,
    /// Where to create the crate (default: ./NAME). It must not exist or be an empty directory.
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,
    /// The pmcp-auth crate to depend on by path [env: PMCP_AUTH_PATH] (default: crates/pmcp-auth
    /// of the cargo-pmcp source this binary was built from).
    #[arg(long, value_name = "DIR")]
    pub pmcp_auth_path: Option<PathBuf>,
}

/// The SDKs `new` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sdk {
    /// rmcp, the official Rust MCP SDK.
    Rmcp,
    /// pmcp, the SDK of the pmcp.run ecosystem.
    Pmcp,
}

impl Sdk {
    /// The `--sdk` value.
    pub fn name(self) -> &'static str {
        match self {
            Sdk::Rmcp => "rmcp",
            Sdk::Pmcp => "pmcp",
        }
    }

    /// How the README and the description name it.
    fn title(self) -> &'static str {
        match self {
            Sdk::Rmcp => "rmcp (the official Rust MCP SDK)",
            Sdk::Pmcp => "pmcp (the Rust MCP SDK of pmcp.run)",
        }
    }
}

/// One SDK's template: the example directory and its embedded files.
pub struct Template {
    pub example_dir: &'static str,
    pub files: &'static [(&'static str, &'static [u8])],
}

/// The template of `sdk`, when this build has one.
pub fn template(sdk: Sdk) -> Option<Template> {
    let (_, dir) = sdks::TEMPLATE_EXAMPLES
        .iter()
        .find(|(name, _)| *name == sdk.name())?;
    let (_, files) = embedded::EMBEDDED
        .iter()
        .find(|(name, _)| *name == sdk.name())?;
    Some(Template {
        example_dir: dir,
        files,
    })
}

impl Template {
    fn file(&self, rel: &str) -> Option<&'static [u8]> {
        self.files.iter().find(|(p, _)| *p == rel).map(|(_, b)| *b)
    }

    fn manifest(&self) -> &'static str {
        self.file("Cargo.toml")
            .and_then(|b| std::str::from_utf8(b).ok())
            .expect("build.rs checked that every template has a Cargo.toml")
    }

    /// The features the template asks of pmcp-auth (the copy given must have them).
    fn pmcp_auth_features(&self) -> Vec<String> {
        let doc: toml::Table = toml::from_str(self.manifest()).unwrap_or_default();
        doc.get("dependencies")
            .and_then(|d| d.get("pmcp-auth"))
            .and_then(|d| d.get("features"))
            .and_then(|f| f.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Where the pmcp-auth dependency points, and why.
#[derive(Debug, Serialize)]
pub struct PmcpAuth {
    pub path: String,
    /// `--pmcp-auth-path`, `PMCP_AUTH_PATH` or `built-from` (the source tree of this binary).
    pub from: &'static str,
}

/// How the new crate sits with respect to cargo workspaces.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Workspace {
    /// No workspace above it: the crate is its own (cargo's default).
    Own,
    /// It was inside the workspace at `root`, which does not list it, so cargo would refuse to
    /// build it: `[workspace]` was added to its Cargo.toml, making it a workspace of its own.
    Detached { root: String },
    /// A workspace above it lists it (its `members` glob matches): it builds as that member.
    Member { root: String },
    /// cargo could not be asked (the crate is written; the reason is shown).
    Unchecked { reason: String },
}

/// A command to run next, and why.
#[derive(Debug, Serialize)]
pub struct Step {
    pub command: String,
    pub why: &'static str,
}

/// What `new` did.
#[derive(Debug, Serialize)]
pub struct NewResult {
    pub ok: bool,
    pub name: String,
    pub sdk: Sdk,
    /// The crate's directory as given (relative to the current directory when under it).
    pub path: String,
    /// The files written, relative to `path`.
    pub files: Vec<String>,
    pub pmcp_auth: PmcpAuth,
    pub workspace: Workspace,
    pub next: Vec<Step>,
}

impl std::fmt::Display for NewResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "Created {} ({} server) in {}",
            self.name,
            self.sdk.name(),
            self.path
        )?;
        writeln!(
            f,
            "  pmcp-auth: {} ({})",
            self.pmcp_auth.path,
            match self.pmcp_auth.from {
                "built-from" => "the cargo-pmcp source this binary was built from",
                other => other,
            }
        )?;
        match &self.workspace {
            Workspace::Own => {}
            Workspace::Detached { root } => writeln!(
                f,
                "  workspace: its own ([workspace] added: {root} is a workspace that does not list \
                 it; to make it a member instead, remove that table and add the crate to the \
                 members of {root}/Cargo.toml)"
            )?,
            Workspace::Member { root } => {
                writeln!(f, "  workspace: a member of the workspace at {root}")?
            }
            Workspace::Unchecked { reason } => writeln!(
                f,
                "  workspace: not checked ({reason}); if cargo says the crate \"believes it's in \
                 a workspace when it's not\", add an empty [workspace] table to its Cargo.toml"
            )?,
        }
        writeln!(f, "Next:")?;
        let width = self.next.iter().map(|s| s.command.len()).max().unwrap_or(0);
        for step in &self.next {
            writeln!(f, "  {:width$}  # {}", step.command, step.why)?;
        }
        Ok(())
    }
}

/// Run `new`.
pub async fn run(args: NewArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let template = template(args.sdk).ok_or_else(|| {
        Failure::usage(format!(
            "--sdk {}: the {} template is not available in this build",
            args.sdk.name(),
            args.sdk.name()
        ))
        .with_code("sdk_unavailable")
        .with_hint(format!(
            "available: {}",
            sdks::TEMPLATE_EXAMPLES
                .iter()
                .map(|(s, _)| format!("--sdk {s}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let (_, taken) = render::template_names(template.manifest())?;
    if let Some(problem) = render::name_problem(&args.name, &taken) {
        return Err(Failure::usage(format!(
            "invalid package name `{}` (NAME, the first argument): {problem}",
            args.name
        ))
        .with_code("invalid_name")
        .with_hint(
            "a package name is ASCII letters, digits, `-` and `_`, starts with a letter or `_` \
             and is not a Rust keyword (as for `cargo new`); give the directory with --path if it \
             must be named otherwise",
        )
        .into());
    }

    let pmcp_auth = resolve_pmcp_auth(&args, &cwd, &template.pmcp_auth_features())?;
    let dest = cwd.join(
        args.path
            .clone()
            .unwrap_or_else(|| PathBuf::from(&args.name)),
    );
    let shown = crate::config::shown(&dest, &cwd).display().to_string();
    check_destination(&dest, &shown)?;

    let files = render_files(&template, &args, &pmcp_auth.0)?;
    write_crate(&dest, &files).with_context(|| format!("cannot create {shown}"))?;

    let workspace = settle_workspace(&dest)?;
    let mut written: Vec<String> = files.keys().cloned().collect();
    if matches!(workspace, Workspace::Own | Workspace::Detached { .. }) {
        crate::ui::write_atomic(&dest.join("Cargo.lock"), CARGO_LOCK.as_bytes())
            .with_context(|| format!("cannot write {shown}/Cargo.lock"))?;
        written.push("Cargo.lock".into());
        written.sort();
    }

    let cd = if shown.contains(char::is_whitespace) {
        format!("cd '{shown}'")
    } else {
        format!("cd {shown}")
    };
    let next = vec![
        Step {
            command: cd,
            why: "the new crate",
        },
        Step {
            command: "cargo pmcp dev".into(),
            why: "run it locally behind the Entra ID emulator",
        },
        Step {
            command: "cargo pmcp deploy init".into(),
            why: "configure a deployment (Entra app, where it runs)",
        },
        Step {
            command: "cargo pmcp deploy".into(),
            why: "build, package and push it",
        },
        Step {
            command: "cargo pmcp auth test --server-url <its /mcp URL>".into(),
            why: "check the deployed server with a real token",
        },
    ];
    ctx.ui.result(&NewResult {
        ok: true,
        name: args.name,
        sdk: args.sdk,
        path: shown,
        files: written,
        pmcp_auth: PmcpAuth {
            path: pmcp_auth.0.display().to_string(),
            from: pmcp_auth.1,
        },
        workspace,
        next,
    })?;
    Ok(())
}

/// The pmcp-auth directory (absolute) and where it came from: the flag, the variable, else the
/// source tree this binary was built from. It must be the `pmcp-auth` package with the features
/// the template uses.
fn resolve_pmcp_auth(
    args: &NewArgs,
    cwd: &Path,
    features: &[String],
) -> Result<(PathBuf, &'static str), Failure> {
    let env = std::env::var_os("PMCP_AUTH_PATH").filter(|v| !v.is_empty());
    let (dir, from, label) = if let Some(p) = &args.pmcp_auth_path {
        (p.clone(), "--pmcp-auth-path", "--pmcp-auth-path")
    } else if let Some(p) = env {
        (PathBuf::from(p), "PMCP_AUTH_PATH", "PMCP_AUTH_PATH")
    } else {
        let built = PathBuf::from(BUILT_FROM_PMCP_AUTH);
        if !built.join("Cargo.toml").is_file() {
            return Err(Failure::usage(format!(
                "cannot find the pmcp-auth crate: this cargo-pmcp was built from {}, which is no \
                 longer there",
                built.display()
            ))
            .with_code("pmcp_auth_not_found")
            .with_hint(how_to_give_pmcp_auth()));
        }
        (built, "built-from", "the built-from source")
    };
    let dir = cwd.join(dir);
    let bad = |what: String| {
        Failure::usage(format!("{label} {}: {what}", dir.display()))
            .with_code("pmcp_auth_not_found")
            .with_hint(how_to_give_pmcp_auth())
    };
    let manifest = dir.join("Cargo.toml");
    let text = match std::fs::read_to_string(&manifest) {
        Ok(t) => t,
        Err(_) if !dir.is_dir() => return Err(bad("no such directory".into())),
        Err(e) => return Err(bad(format!("cannot read its Cargo.toml ({e})"))),
    };
    let doc: toml::Table =
        toml::from_str(&text).map_err(|e| bad(format!("its Cargo.toml does not parse: {e}")))?;
    let name = doc
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str());
    if name != Some("pmcp-auth") {
        return Err(bad(format!(
            "its Cargo.toml is {}, not the package `pmcp-auth`",
            name.map(|n| format!("the package `{n}`"))
                .unwrap_or_else(|| "no package".into())
        )));
    }
    let have = doc.get("features").and_then(|f| f.as_table());
    for f in features {
        if !have.is_some_and(|h| h.contains_key(f)) {
            return Err(bad(format!(
                "this pmcp-auth has no feature `{f}`, which the template uses (is it older than \
                 this cargo-pmcp?)"
            )));
        }
    }
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    Ok((strip_verbatim(dir), from))
}

fn how_to_give_pmcp_auth() -> String {
    "pmcp-auth is not on crates.io: give the crates/pmcp-auth directory of a cargo-pmcp source \
     checkout with --pmcp-auth-path <DIR> (or PMCP_AUTH_PATH=<DIR>)"
        .into()
}

/// `\\?\C:\x` → `C:\x` on Windows (cargo accepts both; people read the second).
fn strip_verbatim(p: PathBuf) -> PathBuf {
    let s = p.to_string_lossy();
    match s.strip_prefix(r"\\?\") {
        Some(rest) if !rest.starts_with("UNC") => PathBuf::from(rest),
        _ => p,
    }
}

/// The destination must not exist, or be an empty directory.
fn check_destination(dest: &Path, shown: &str) -> Result<(), Failure> {
    let refuse = |what: &str| {
        Failure::usage(format!("{shown} {what}"))
            .with_code("destination_exists")
            .with_hint(
                "choose another NAME or --path <DIR>: `cargo pmcp new` only writes into a \
                 directory that does not exist or is empty",
            )
    };
    match std::fs::symlink_metadata(dest) {
        Err(_) => Ok(()),
        Ok(m) if !m.is_dir() => Err(refuse("exists and is not a directory")),
        Ok(_) => {
            let mut entries = std::fs::read_dir(dest).map_err(|e| refuse(&format!("({e})")))?;
            if entries.next().is_some() {
                Err(refuse("exists and is not empty"))
            } else {
                Ok(())
            }
        }
    }
}

/// Every file of the new crate, by `/`-separated relative path.
fn render_files(
    template: &Template,
    args: &NewArgs,
    pmcp_auth: &Path,
) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
    let description = format!(
        "An MCP server written with {}, serving only callers with a valid Entra ID or OIDC access token",
        args.sdk.title()
    );
    // Path dependencies of the example point into this repository: pmcp-auth goes to the
    // directory resolved above, any other `crates/<name>` to its sibling there.
    let crate_dir = |in_repo: &str| -> Result<PathBuf, String> {
        if in_repo == "crates/pmcp-auth" {
            return Ok(pmcp_auth.to_path_buf());
        }
        let sibling = in_repo
            .strip_prefix("crates/")
            .and_then(|name| pmcp_auth.parent().map(|p| p.join(name)))
            .filter(|p| p.join("Cargo.toml").is_file());
        sibling.ok_or_else(|| {
            format!(
                "a path dependency on {in_repo}, which is not beside pmcp-auth in {}",
                pmcp_auth.parent().unwrap_or(pmcp_auth).display()
            )
        })
    };
    let manifest = render::render_manifest(
        template.manifest(),
        template.example_dir,
        &args.name,
        &description,
        &crate_dir,
    )
    .map_err(|e| match e.0.contains("not beside pmcp-auth") {
        true => anyhow::Error::from(
            Failure::usage(format!("the {} template needs {}", args.sdk.name(), e.0))
                .with_hint(how_to_give_pmcp_auth()),
        ),
        false => anyhow::Error::from(e),
    })?;
    let mut files = BTreeMap::new();
    for (rel, bytes) in template.files {
        let out = if *rel == "Cargo.toml" {
            manifest.text.clone().into_bytes()
        } else {
            match std::str::from_utf8(bytes) {
                Ok(text) => {
                    render::rename_in_text(text, &manifest.old_name, &args.name).into_bytes()
                }
                Err(_) => bytes.to_vec(),
            }
        };
        files.insert(rel.to_string(), out);
    }
    let values = BTreeMap::from([
        ("name", args.name.clone()),
        ("sdk_title", args.sdk.title().to_string()),
        ("pmcp_auth", format!("`{}`", pmcp_auth.display())),
    ]);
    files.insert(
        "README.md".into(),
        render::fill(README, &values).into_bytes(),
    );
    files.insert(".gitignore".into(), GITIGNORE.as_bytes().to_vec());
    Ok(files)
}

/// Write `files` into a temp directory beside `dest`, then rename it to `dest` (which does not
/// exist or is empty). Nothing is left behind on failure.
fn write_crate(dest: &Path, files: &BTreeMap<String, Vec<u8>>) -> std::io::Result<()> {
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(parent)?;
    let leaf = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{leaf}.new-"))
        .tempdir_in(parent)?;
    for (rel, bytes) in files {
        let path = tmp.path().join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, bytes)?;
    }
    #[cfg(unix)]
    {
        // tempfile makes the directory 0700; a crate directory is as readable as any other.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))?;
    }
    // On Unix, rename replaces an empty directory atomically (and fails on a non-empty one); on
    // Windows the empty directory is removed first (remove_dir fails if something appeared).
    #[cfg(not(unix))]
    if dest.is_dir() {
        std::fs::remove_dir(dest)?;
    }
    std::fs::rename(tmp.path(), dest)?;
    // `tmp` now names nothing; dropping it is a no-op.
    Ok(())
}

/// Ask cargo whether the crate builds where it is. Inside a workspace that does not list it, cargo
/// refuses to build it ("believes it's in a workspace when it's not"): the crate gets an empty
/// `[workspace]` table, which makes it its own workspace, as a crate made to be deployed on its
/// own needs. A workspace that lists it (a `members` glob) keeps it as a member.
fn settle_workspace(dest: &Path) -> anyhow::Result<Workspace> {
    let manifest = dest.join("Cargo.toml");
    let ask = || {
        cargo_metadata::MetadataCommand::new()
            .manifest_path(&manifest)
            .no_deps()
            .exec()
    };
    let same = |a: &Path, b: &Path| match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    match ask() {
        Ok(meta) if same(meta.workspace_root.as_std_path(), dest) => Ok(Workspace::Own),
        Ok(meta) => Ok(Workspace::Member {
            root: meta.workspace_root.to_string(),
        }),
        Err(cargo_metadata::Error::CargoMetadata { stderr })
            if stderr.contains("believes it's in a workspace when it's not") =>
        {
            let root = stderr
                .lines()
                .find_map(|l| l.trim().strip_prefix("workspace:"))
                .map(|m| {
                    let m = Path::new(m.trim());
                    m.parent().unwrap_or(m).display().to_string()
                })
                .unwrap_or_else(|| "a directory above".into());
            let text = std::fs::read_to_string(&manifest)?;
            let mut doc: toml_edit::DocumentMut = text.parse()?;
            let mut table = toml_edit::Table::new();
            table.decor_mut().set_prefix(format!(
                "\n# This crate is a workspace of its own: it was created inside the workspace at\n\
                 # {root}, which does not list it. To make it a member of that one instead,\n\
                 # remove this table and add the crate's path to `members` there.\n"
            ));
            doc.insert("workspace", toml_edit::Item::Table(table));
            crate::ui::write_atomic(&manifest, doc.to_string().as_bytes())?;
            match ask() {
                Ok(_) => Ok(Workspace::Detached { root }),
                Err(e) => Ok(Workspace::Unchecked {
                    reason: first_line(&e.to_string()),
                }),
            }
        }
        Err(e) => Ok(Workspace::Unchecked {
            reason: first_line(&e.to_string()),
        }),
    }
}

fn first_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rmcp_template_is_the_example_crate() {
        let t = template(Sdk::Rmcp).expect("the rmcp template is in every build");
        assert_eq!(t.example_dir, "examples/rmcp-server");
        for (rel, bytes) in t.files {
            let on_disk = std::fs::read(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join(t.example_dir)
                    .join(rel),
            )
            .unwrap();
            assert_eq!(&on_disk[..], *bytes, "{rel} differs from the example");
        }
        assert!(t.file("src/main.rs").is_some() && t.file("src/lib.rs").is_some());
        assert!(t.pmcp_auth_features().iter().any(|f| f == "rmcp"));
    }

    #[test]
    fn every_sdk_in_the_table_is_embedded() {
        for (sdk, _) in sdks::TEMPLATE_EXAMPLES {
            assert!(embedded::EMBEDDED.iter().any(|(s, _)| s == sdk), "{sdk}");
        }
    }
}
