//! Find the server binary with `cargo metadata` and build it with `cargo build`.
//!
//! Blocking (it runs `cargo`); commands call it from `spawn_blocking` behind a spinner.

use cargo_metadata::{Message, MetadataCommand, TargetKind};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What to build and how (the command's flags and `[server] bin`).
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// `--manifest-path`: the package's (or workspace's) Cargo.toml. Default: found from `cwd`.
    pub manifest_path: Option<PathBuf>,
    /// `--bin` or `[server] bin`: the binary when there are several.
    pub bin: Option<String>,
    /// `--target <triple>`. Default: the host.
    pub target: Option<String>,
    /// `--target-dir`. Default: cargo's.
    pub target_dir: Option<PathBuf>,
    /// `--profile`. Default: `release`.
    pub profile: Option<String>,
    /// Directory to run cargo in.
    pub cwd: PathBuf,
    /// Variables removed from cargo's environment (the declared secrets and the CLI's own
    /// credentials), so a build script or `env!`/`option_env!` can never bake a secret value into
    /// the binary.
    pub scrub_env: Vec<String>,
    /// When set, cargo runs in its own process group, recorded here so that a long-running caller
    /// (`cargo pmcp dev`) can stop a build it no longer wants (and every rustc it started).
    pub cancel: Option<BuildCancel>,
    /// Build with `cargo zigbuild` (cargo-zigbuild: links against an older glibc given as a
    /// triple suffix, `x86_64-unknown-linux-gnu.2.34`) instead of `cargo build`.
    pub zigbuild: bool,
}

/// The process group of a running `cargo build` (see [`BuildOptions::cancel`]).
#[derive(Debug, Clone, Default)]
pub struct BuildCancel(std::sync::Arc<std::sync::Mutex<Option<u32>>>);

impl BuildCancel {
    /// Stop the running build, if any: SIGKILL to its process group (cargo and its rustc).
    pub fn kill(&self) {
        let pid = self.0.lock().map(|g| *g).unwrap_or(None);
        #[cfg(unix)]
        if let Some(pid) = pid.and_then(|p| libc::pid_t::try_from(p).ok())
            && pid > 1
        {
            // SAFETY: the process group of the cargo build this process started (still running:
            // the pid is cleared once cargo has been waited for).
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        #[cfg(not(unix))]
        let _ = pid;
    }

    fn set(&self, pid: Option<u32>) {
        if let Ok(mut g) = self.0.lock() {
            *g = pid;
        }
    }
}

/// The binary that will be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinarySpec {
    /// Package name.
    pub package: String,
    /// Package version.
    pub version: String,
    /// Binary target name.
    pub bin: String,
    /// The package's Cargo.toml.
    pub manifest_path: PathBuf,
    /// Cargo's target directory for this workspace (or `--target-dir`).
    pub target_directory: PathBuf,
}

/// A built binary.
#[derive(Debug, Clone)]
pub struct Built {
    /// The executable cargo produced.
    pub executable: PathBuf,
    /// The target triple it was built for.
    pub target_triple: String,
    /// The cargo profile used.
    pub profile: String,
}

/// Finding or building the binary failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// `cargo metadata` failed (no Cargo.toml, bad manifest, cargo missing).
    #[error("cannot read the Cargo project: {0}")]
    Metadata(String),
    /// No binary target in the selected package(s).
    #[error("no binary target found in {where_}")]
    NoBinary { where_: String },
    /// `--bin` names a binary that does not exist.
    #[error("no binary named `{name}`; candidates: {}", .candidates.join(", "))]
    UnknownBin {
        name: String,
        candidates: Vec<String>,
    },
    /// Several binaries and none chosen.
    #[error("several binaries could be deployed: {}", .candidates.join(", "))]
    Ambiguous { candidates: Vec<String> },
    /// `cargo build` exited with an error; `output` is everything cargo printed.
    #[error("cargo build failed ({status})")]
    CargoFailed { status: String, output: String },
    /// cargo could not be started, or its output could not be read.
    #[error("cannot run cargo: {0}")]
    Io(#[from] std::io::Error),
    /// cargo succeeded but did not report the executable.
    #[error("cargo build finished but reported no executable for `{bin}`")]
    NoExecutable { bin: String },
}

/// The cargo program: `$CARGO` (set when run as `cargo pmcp`) or `cargo`.
pub fn cargo_program() -> PathBuf {
    std::env::var_os("CARGO")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("cargo"))
}

/// The Cargo.toml for `cwd`: the nearest one in `cwd` or above.
fn find_manifest(cwd: &Path) -> Option<PathBuf> {
    cwd.ancestors()
        .map(|d| d.join("Cargo.toml"))
        .find(|p| p.is_file())
}

/// Find the binary to deploy: the package at `--manifest-path` (or the current directory), every
/// default member when that is a virtual workspace; `--bin` chooses among several.
pub fn locate(opts: &BuildOptions) -> Result<BinarySpec, BuildError> {
    let mut cmd = MetadataCommand::new();
    cmd.cargo_path(cargo_program())
        .no_deps()
        .current_dir(&opts.cwd);
    let manifest = match &opts.manifest_path {
        Some(m) => Some(if m.is_absolute() {
            m.clone()
        } else {
            opts.cwd.join(m)
        }),
        None => find_manifest(&opts.cwd),
    };
    if let Some(m) = &manifest {
        cmd.manifest_path(m);
    }
    let meta = cmd.exec().map_err(|e| {
        BuildError::Metadata(match e {
            cargo_metadata::Error::CargoMetadata { stderr } => stderr.trim().to_string(),
            other => other.to_string(),
        })
    })?;
    let canonical = manifest
        .as_ref()
        .and_then(|m| std::fs::canonicalize(m).ok());
    let own = meta.workspace_packages().into_iter().find(|p| {
        canonical
            .as_ref()
            .is_some_and(|m| std::fs::canonicalize(&p.manifest_path).ok().as_ref() == Some(m))
    });
    let packages = match own {
        Some(p) => vec![p],
        None => {
            let d = meta.workspace_default_packages();
            if d.is_empty() {
                meta.workspace_packages()
            } else {
                d
            }
        }
    };
    let where_ = match own {
        Some(p) => format!("package `{}`", p.name),
        None => format!("the workspace at {}", meta.workspace_root),
    };
    let mut candidates = Vec::new();
    for p in &packages {
        for t in &p.targets {
            if t.kind.contains(&TargetKind::Bin) {
                candidates.push((p, t.name.clone()));
            }
        }
    }
    if candidates.is_empty() {
        return Err(BuildError::NoBinary { where_ });
    }
    let describe = |c: &[(&&cargo_metadata::Package, String)]| -> Vec<String> {
        c.iter()
            .map(|(p, b)| {
                if packages.len() > 1 {
                    format!("{b} (package {})", p.name)
                } else {
                    b.clone()
                }
            })
            .collect()
    };
    let chosen = match &opts.bin {
        Some(name) => {
            let matching: Vec<_> = candidates.iter().filter(|(_, b)| b == name).collect();
            match matching.as_slice() {
                [one] => (*one).clone(),
                [] => {
                    return Err(BuildError::UnknownBin {
                        name: name.clone(),
                        candidates: describe(&candidates),
                    });
                }
                _ => {
                    return Err(BuildError::Ambiguous {
                        candidates: matching
                            .iter()
                            .map(|(p, b)| format!("{b} (package {})", p.name))
                            .collect(),
                    });
                }
            }
        }
        None if candidates.len() == 1 => candidates[0].clone(),
        None => {
            return Err(BuildError::Ambiguous {
                candidates: describe(&candidates),
            });
        }
    };
    let (pkg, bin) = chosen;
    let target_directory = match &opts.target_dir {
        Some(d) if d.is_absolute() => d.clone(),
        Some(d) => opts.cwd.join(d),
        None => meta.target_directory.clone().into_std_path_buf(),
    };
    Ok(BinarySpec {
        package: pkg.name.to_string(),
        version: pkg.version.to_string(),
        bin,
        manifest_path: pkg.manifest_path.clone().into_std_path_buf(),
        target_directory,
    })
}

/// The host's target triple, from `rustc -vV`.
pub fn host_triple() -> Result<String, BuildError> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc).arg("-vV").output()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(|h| h.trim().to_string()))
        .ok_or_else(|| BuildError::Metadata("`rustc -vV` did not report a host triple".into()))
}

/// `x86_64-unknown-linux-gnu.2.34` → `x86_64-unknown-linux-gnu`.
pub fn strip_glibc_suffix(triple: &str) -> &str {
    match triple.split_once("-linux-gnu.") {
        Some((arch, _)) => &triple[..arch.len() + "-linux-gnu".len()],
        None => triple,
    }
}

/// The `cargo build` arguments for `spec` (shown with `-v` and in docs).
pub fn build_args(spec: &BinarySpec, opts: &BuildOptions) -> Vec<String> {
    let mut args = vec![
        if opts.zigbuild { "zigbuild" } else { "build" }.to_string(),
        "--message-format=json-render-diagnostics".into(),
        "--manifest-path".into(),
        spec.manifest_path.display().to_string(),
        "--bin".into(),
        spec.bin.clone(),
    ];
    match &opts.profile {
        Some(p) => args.extend(["--profile".into(), p.clone()]),
        None => args.push("--release".into()),
    }
    if let Some(t) = &opts.target {
        args.extend(["--target".into(), t.clone()]);
    }
    if opts.target_dir.is_some() {
        args.extend([
            "--target-dir".into(),
            spec.target_directory.display().to_string(),
        ]);
    }
    args
}

/// Run `cargo build` for `spec`. Cargo's human output is captured and returned in the error when
/// the build fails, so the caller can show it in full.
pub fn build(spec: &BinarySpec, opts: &BuildOptions) -> Result<Built, BuildError> {
    let mut cmd = Command::new(cargo_program());
    cmd.args(build_args(spec, opts))
        .current_dir(&opts.cwd)
        .stdin(Stdio::null())
        .env("CARGO_TERM_COLOR", "never");
    for name in &opts.scrub_env {
        cmd.env_remove(name);
    }
    let out = match &opts.cancel {
        None => cmd.output()?,
        Some(cancel) => {
            #[cfg(unix)]
            {
                use std::os::unix::process::CommandExt;
                cmd.process_group(0);
            }
            let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
            cancel.set(Some(child.id()));
            let out = child.wait_with_output();
            cancel.set(None);
            out?
        }
    };
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        return Err(BuildError::CargoFailed {
            status: out.status.to_string(),
            output: stderr,
        });
    }
    let mut executable = None;
    for msg in Message::parse_stream(out.stdout.as_slice()) {
        if let Message::CompilerArtifact(a) = msg?
            && a.target.name == spec.bin
            && a.target.kind.contains(&TargetKind::Bin)
            && let Some(exe) = a.executable
        {
            executable = Some(exe.into_std_path_buf());
        }
    }
    let executable = executable.ok_or_else(|| BuildError::NoExecutable {
        bin: spec.bin.clone(),
    })?;
    let target_triple = match &opts.target {
        // cargo-zigbuild's glibc suffix is not part of the triple (its output directory has none).
        Some(t) => strip_glibc_suffix(t).to_string(),
        None => host_triple()?,
    };
    Ok(Built {
        executable,
        target_triple,
        profile: opts.profile.clone().unwrap_or_else(|| "release".into()),
    })
}
