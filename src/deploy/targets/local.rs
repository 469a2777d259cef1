//! The `local` target: the packaged binary runs on 127.0.0.1 as a detached background process (its
//! own process group, output to a log file), with the same environment a hosted target gives it
//! plus `PORT` and `HOST=127.0.0.1`. State lives in `.pmcp/local/state.json`; deploying again
//! replaces the running server; `deploy destroy --target local` stops it.

use super::{DeployRequest, Deployed, Destroyed, StatusEntry, Target, TargetError};
use crate::config::TargetKind;
use crate::deploy::{package, record};
use crate::ui::Progress;
use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The state file, relative to the project root.
pub const STATE_JSON: &str = ".pmcp/local/state.json";
/// The directory for the extracted binary and the log.
pub const LOCAL_DIR: &str = ".pmcp/local";

/// Variables passed through from the CLI's environment to the server (everything else is the
/// deploy contract, as on a hosted target).
pub const PASSTHROUGH_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "TMPDIR",
    "LANG",
    "LC_ALL",
    "RUST_LOG",
    "RUST_BACKTRACE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// Resolved settings of the local target.
#[derive(Debug, Clone)]
pub struct LocalSettings {
    /// `--port`; a free port when `None`.
    pub port: Option<u16>,
    /// How long to wait for the server to accept connections. Defaults to 30 s.
    pub ready_timeout: Duration,
}

impl Default for LocalSettings {
    fn default() -> Self {
        Self {
            port: None,
            ready_timeout: Duration::from_secs(30),
        }
    }
}

/// `.pmcp/local/state.json`: the running local server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalState {
    /// Server name.
    pub name: String,
    /// Process id (also its process group id).
    pub pid: u32,
    /// Port on 127.0.0.1.
    pub port: u16,
    /// The MCP endpoint.
    pub url: String,
    /// The server's stdout and stderr.
    pub log: PathBuf,
    /// The extracted binary.
    pub bootstrap: PathBuf,
    /// SHA-256 of the artifact it came from.
    pub artifact_sha256: String,
    /// UTC, RFC 3339.
    pub started_at: String,
}

/// The local target.
#[derive(Debug, Clone, Default)]
pub struct Local {
    settings: LocalSettings,
}

fn io_err(what: &str, e: impl std::fmt::Display) -> TargetError {
    TargetError::Io(format!("{what}: {e}"))
}

/// Read the state file, if there is one.
pub fn read_state(project_dir: &Path) -> Result<Option<LocalState>, TargetError> {
    let p = project_dir.join(STATE_JSON);
    match std::fs::read_to_string(&p) {
        Ok(t) => serde_json::from_str(&t).map(Some).map_err(|e| {
            TargetError::Io(format!(
                "{} is not valid ({e}); stop the server by hand and delete the file",
                p.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(&format!("cannot read {}", p.display()), e)),
    }
}

fn last_lines(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn accepts(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

impl Local {
    /// A local target with these settings.
    pub fn new(settings: LocalSettings) -> Self {
        Self { settings }
    }

    /// `--port`; else the previous deployment's port when it is free again (the URL a client was
    /// given stays valid across redeploys); else a free port.
    fn pick_port(&self, previous: Option<u16>) -> Result<u16, TargetError> {
        if self.settings.port.is_none()
            && let Some(p) = previous
            && let Ok(l) = TcpListener::bind((Ipv4Addr::LOCALHOST, p))
        {
            drop(l);
            return Ok(p);
        }
        let port = self.settings.port.unwrap_or(0);
        let l =
            TcpListener::bind((Ipv4Addr::LOCALHOST, port)).map_err(|e| TargetError::Config {
                message: format!("port {port} on 127.0.0.1 is not available: {e}"),
                hint: Some("choose another with --port, or omit --port for a free one".into()),
            })?;
        l.local_addr()
            .map(|a| a.port())
            .map_err(|e| io_err("cannot pick a port", e))
    }
}

#[cfg(unix)]
mod proc {
    use std::path::Path;
    use std::time::{Duration, Instant};

    /// True when `pid` runs and, where the OS tells us, runs `bootstrap`.
    pub fn alive(pid: u32, bootstrap: &Path) -> bool {
        let Ok(p) = libc::pid_t::try_from(pid) else {
            return false;
        };
        // SAFETY: kill with signal 0 only checks that the process exists and may be signalled.
        if p <= 0 || unsafe { libc::kill(p, 0) } != 0 {
            return false;
        }
        let proc_dir = Path::new("/proc").join(pid.to_string());
        if let Ok(stat) = std::fs::read_to_string(proc_dir.join("stat")) {
            // `pid (comm) S …`: the state follows the last ')'.
            if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r.trim_start())
                && rest.starts_with('Z')
            {
                return false;
            }
        }
        match std::fs::read_link(proc_dir.join("exe")) {
            Ok(exe) => {
                let exe = exe.to_string_lossy();
                let exe = exe.trim_end_matches(" (deleted)");
                let want =
                    std::fs::canonicalize(bootstrap).unwrap_or_else(|_| bootstrap.to_path_buf());
                Path::new(exe) == want || Path::new(exe) == bootstrap
            }
            // Not Linux, or not ours to inspect: trust the pid.
            Err(_) => true,
        }
    }

    /// SIGTERM the process group, wait up to `grace`, then SIGKILL. True if it was running.
    pub async fn stop(pid: u32, bootstrap: &Path, grace: Duration) -> bool {
        if !alive(pid, bootstrap) {
            return false;
        }
        let p = pid as libc::pid_t;
        // SAFETY: signalling a process group we started (checked by `alive`).
        unsafe {
            if libc::kill(-p, libc::SIGTERM) != 0 {
                libc::kill(p, libc::SIGTERM);
            }
        }
        let start = Instant::now();
        while start.elapsed() < grace {
            if !alive(pid, bootstrap) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        // SAFETY: as above.
        unsafe {
            if libc::kill(-p, libc::SIGKILL) != 0 {
                libc::kill(p, libc::SIGKILL);
            }
        }
        true
    }
}

#[cfg(not(unix))]
mod proc {
    use std::path::Path;
    use std::time::Duration;
    pub fn alive(_pid: u32, _bootstrap: &Path) -> bool {
        false
    }
    pub async fn stop(_pid: u32, _bootstrap: &Path, _grace: Duration) -> bool {
        false
    }
}

/// Stop the server recorded in `state` (if it still runs). True when one was stopped.
pub async fn stop_state(state: &LocalState) -> bool {
    proc::stop(state.pid, &state.bootstrap, Duration::from_secs(5)).await
}

impl Target for Local {
    fn kind(&self) -> TargetKind {
        TargetKind::Local
    }

    fn preflight(&self) -> Result<(), TargetError> {
        if cfg!(not(unix)) {
            return Err(TargetError::Unsupported {
                message: "the local target needs a Unix-like OS (Linux or macOS)".into(),
                hint: "use --target pmcp-run, or run under WSL".into(),
            });
        }
        Ok(())
    }

    fn expected_url(&self, _name: &str) -> Option<String> {
        // Without --port, a free port is picked at deploy time.
        self.settings
            .port
            .map(|p| format!("http://127.0.0.1:{p}/mcp"))
    }

    async fn deploy(
        &self,
        req: &DeployRequest<'_>,
        progress: &mut Progress,
    ) -> Result<Deployed, TargetError> {
        let t0 = Instant::now();
        let dir = req.project_dir.join(LOCAL_DIR);
        let previous = read_state(req.project_dir)?;
        let previous_port = previous.as_ref().map(|s| s.port);
        if let Some(old) = previous {
            progress.step(&format!(
                "stopping the running local server (pid {})",
                old.pid
            ));
            if stop_state(&old).await {
                progress.done(&format!(
                    "stopped the previous local server (pid {})",
                    old.pid
                ));
            }
            let _ = std::fs::remove_file(req.project_dir.join(STATE_JSON));
        }
        progress.step("starting the server on 127.0.0.1");
        let bootstrap = dir.join(package::BOOTSTRAP);
        let artifact_path = req.artifact.path.clone();
        let dest = bootstrap.clone();
        tokio::task::spawn_blocking(move || package::extract_bootstrap(&artifact_path, &dest))
            .await
            .map_err(|e| io_err("extracting bootstrap", e))?
            .map_err(|e| {
                io_err(
                    &format!("cannot extract bootstrap to {}", bootstrap.display()),
                    e,
                )
            })?;
        let bootstrap = std::fs::canonicalize(&bootstrap).unwrap_or(bootstrap);
        let port = self.pick_port(previous_port)?;
        let log = dir.join("server.log");
        let log_file = std::fs::File::create(&log)
            .map_err(|e| io_err(&format!("cannot create {}", log.display()), e))?;
        let log_err = log_file
            .try_clone()
            .map_err(|e| io_err("cannot open the log", e))?;
        let mut cmd = std::process::Command::new(&bootstrap);
        cmd.current_dir(&dir)
            .env_clear()
            .stdin(std::process::Stdio::null())
            .stdout(log_file)
            .stderr(log_err);
        for name in PASSTHROUGH_ENV {
            if let Some(v) = std::env::var_os(name) {
                cmd.env(name, v);
            }
        }
        cmd.envs(&req.env.vars);
        for s in req.secrets {
            cmd.env(&s.name, s.value.secret());
        }
        cmd.env("PORT", port.to_string()).env("HOST", "127.0.0.1");
        #[cfg(unix)]
        {
            // Its own process group: Ctrl-C in the terminal does not reach it, and destroy can
            // signal the server and anything it started.
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| io_err(&format!("cannot start {}", bootstrap.display()), e))?;
        let pid = child.id();
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(TargetError::Failed {
                    message: format!(
                        "the server exited during startup ({status}); last lines of {}:\n{}",
                        log.display(),
                        last_lines(&log, 20)
                    ),
                });
            }
            if accepts(port) {
                break;
            }
            if started.elapsed() >= self.settings.ready_timeout {
                proc::stop(pid, &bootstrap, Duration::from_secs(2)).await;
                let _ = child.try_wait();
                return Err(TargetError::Timeout {
                    waited_secs: started.elapsed().as_secs_f64(),
                    last_status: format!("not accepting connections on 127.0.0.1:{port}"),
                    hint: format!(
                        "the server must listen on $HOST:$PORT; see {} (it was stopped)",
                        log.display()
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let url = format!("http://127.0.0.1:{port}/mcp");
        let state = LocalState {
            name: req.name.to_string(),
            pid,
            port,
            url: url.clone(),
            log: log.clone(),
            bootstrap: bootstrap.clone(),
            artifact_sha256: req.artifact.sha256.clone(),
            started_at: crate::ui::rfc3339(std::time::SystemTime::now()),
        };
        let json = serde_json::to_vec_pretty(&state).expect("state serializes");
        if let Err(e) = crate::ui::write_atomic(&req.project_dir.join(STATE_JSON), &json) {
            // Unrecorded, the server could never be found again by status or destroy: stop it
            // rather than leave it running untracked.
            proc::stop(pid, &bootstrap, Duration::from_secs(2)).await;
            let _ = child.try_wait();
            return Err(io_err(
                &format!("cannot write {STATE_JSON} (the server was stopped)"),
                e,
            ));
        }
        progress.done(&format!(
            "local server running (pid {pid}, log {})",
            log.display()
        ));
        let mut durations = std::collections::BTreeMap::new();
        durations.insert("deploy".to_string(), t0.elapsed().as_millis() as u64);
        Ok(Deployed {
            deployment_id: Some(pid.to_string()),
            url,
            health_url: Some(format!("http://127.0.0.1:{port}/health")),
            oauth: None,
            uploaded: false,
            durations_ms: durations,
            warnings: Vec::new(),
        })
    }

    async fn destroy(&self, project_dir: &Path) -> Result<Destroyed, TargetError> {
        let target = TargetKind::Local.to_string();
        let Some(state) = read_state(project_dir)? else {
            let _ = record::remove(project_dir, TargetKind::Local);
            return Ok(Destroyed {
                target,
                removed: false,
                detail: "no local server is recorded for this project".into(),
            });
        };
        let stopped = stop_state(&state).await;
        std::fs::remove_file(project_dir.join(STATE_JSON))
            .map_err(|e| io_err(&format!("cannot remove {STATE_JSON}"), e))?;
        record::remove(project_dir, TargetKind::Local)
            .map_err(|e| io_err("deployment record", e))?;
        Ok(Destroyed {
            target,
            removed: true,
            detail: if stopped {
                format!(
                    "stopped the local server (pid {}, port {})",
                    state.pid, state.port
                )
            } else {
                format!(
                    "the local server (pid {}) was no longer running; its state was removed",
                    state.pid
                )
            },
        })
    }

    async fn status(&self, project_dir: &Path) -> Result<StatusEntry, TargetError> {
        let target = TargetKind::Local.to_string();
        let Some(s) = read_state(project_dir)? else {
            return Ok(StatusEntry {
                target,
                state: "not deployed".into(),
                ..Default::default()
            });
        };
        let running = proc::alive(s.pid, &s.bootstrap);
        let state = match (running, running && accepts(s.port)) {
            (true, true) => "running",
            (true, false) => "not accepting connections",
            (false, _) => "stopped",
        };
        Ok(StatusEntry {
            target,
            state: state.into(),
            url: Some(s.url),
            deployment_id: Some(s.pid.to_string()),
            artifact_sha256: Some(s.artifact_sha256),
            deployed_at: Some(s.started_at),
            detail: Some(format!(
                "pid {}, port {}, log {}",
                s.pid,
                s.port,
                s.log.display()
            )),
        })
    }
}
