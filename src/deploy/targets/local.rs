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
    /// The process's start time (clock ticks since boot, from `/proc/<pid>/stat`): with `pid`, it
    /// names the process for good, so a reused pid is never signalled. `None` where there is no
    /// /proc, and in state files written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<u64>,
}

/// The local target.
#[derive(Debug, Clone, Default)]
pub struct Local {
    settings: LocalSettings,
}

/// The OAuth bridge is on (`AUTH_DCR_ENABLED=true`) and no `AUTH_DCR_SEALING_KEY` is declared in
/// `[secrets]`: the local target makes up an ephemeral one.
fn needs_ephemeral_sealing_key(req: &DeployRequest<'_>) -> bool {
    req.env
        .vars
        .get(pmcp_auth::env::AUTH_DCR_ENABLED)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        && !req
            .secrets
            .iter()
            .any(|s| s.name == pmcp_auth::env::AUTH_DCR_SEALING_KEY)
        && !req
            .env
            .vars
            .contains_key(pmcp_auth::env::AUTH_DCR_SEALING_KEY)
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
    //! What is known about a process, and signalling it only when it is the server this project
    //! started. Linux answers from /proc; elsewhere (macOS) only "does the pid exist" is known.
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    /// Facts from `/proc/<pid>/stat`.
    #[derive(Debug, Clone, Copy)]
    pub struct Stat {
        /// `R`, `S`, `T` (stopped), `Z` (zombie), …
        pub state: char,
        /// The process group.
        pub pgrp: i64,
        /// When it started, in clock ticks since boot: with the pid, it names one process for good
        /// (a pid can be reused; a pid and its start time cannot).
        pub start_time: u64,
    }

    /// True where `/proc` describes processes (Linux).
    pub fn has_proc() -> bool {
        Path::new("/proc/self/stat").exists()
    }

    /// `/proc/<pid>/stat` parsed; `None` when the process does not exist (or there is no /proc).
    pub fn stat(pid: u32) -> Option<Stat> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // `pid (comm) S ppid pgrp …`: comm may hold spaces and ')', so fields count from the last
        // ')'. After it: state (field 3), ppid (4), pgrp (5), …, starttime (22).
        let rest = text.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        Some(Stat {
            state: fields.first()?.chars().next()?,
            pgrp: fields.get(2)?.parse().ok()?,
            start_time: fields.get(19)?.parse().ok()?,
        })
    }

    /// The executable `pid` runs (without the ` (deleted)` Linux adds once the file is replaced).
    fn exe(pid: u32) -> std::io::Result<PathBuf> {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe"))?;
        let s = exe.to_string_lossy();
        Ok(PathBuf::from(s.strip_suffix(" (deleted)").unwrap_or(&s)))
    }

    /// Whether the pid recorded in state.json is the server we started.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Identity {
        /// It runs our bootstrap and started when we recorded.
        Ours,
        /// No such process (or a zombie).
        Gone,
        /// Another process: never signalled. Why, in words.
        NotOurs(String),
    }

    /// Is `pid` the server started from `bootstrap` (the project's `.pmcp/local/bootstrap`,
    /// canonical) at `start_time`? Where there is no /proc only existence can be checked.
    pub fn identify(pid: u32, bootstrap: &Path, start_time: Option<u64>) -> Identity {
        let Ok(p) = libc::pid_t::try_from(pid) else {
            return Identity::NotOurs(format!("{pid} is not a process id"));
        };
        if p <= 1 || pid == std::process::id() {
            return Identity::NotOurs(format!("pid {pid} is not a server process"));
        }
        if !has_proc() {
            // SAFETY: signal 0 only checks that the process exists and may be signalled.
            return if unsafe { libc::kill(p, 0) } == 0 {
                Identity::Ours
            } else {
                Identity::Gone
            };
        }
        let Some(st) = stat(pid) else {
            return Identity::Gone;
        };
        if matches!(st.state, 'Z' | 'X' | 'x') {
            return Identity::Gone;
        }
        match exe(pid) {
            Ok(exe) if exe == bootstrap => {}
            Ok(exe) => {
                return Identity::NotOurs(format!(
                    "pid {pid} runs {}, not {}",
                    exe.display(),
                    bootstrap.display()
                ));
            }
            // A server we started runs as us, so its executable can be read.
            Err(e) => {
                return Identity::NotOurs(format!("pid {pid}'s executable cannot be read ({e})"));
            }
        }
        match start_time {
            Some(t) if t == st.start_time => Identity::Ours,
            Some(_) => Identity::NotOurs(format!(
                "pid {pid} started at another time than the recorded server (the pid was reused)"
            )),
            None => Identity::NotOurs(format!(
                "the state file does not record when pid {pid} started, so it cannot be confirmed \
                 as the server this project started"
            )),
        }
    }

    /// Send `sig` to the process group `pid` leads (the server and anything it started), or to
    /// `pid` alone when it leads no group. Only call this for [`Identity::Ours`].
    fn signal(pid: u32, sig: libc::c_int) {
        let p = pid as libc::pid_t;
        let leads_group = stat(pid).is_none_or(|s| s.pgrp == i64::from(p));
        // SAFETY: signalling the server this project started (checked by `identify`), or its group.
        unsafe {
            if !leads_group || libc::kill(-p, sig) != 0 {
                libc::kill(p, sig);
            }
        }
    }

    /// SIGTERM (and SIGCONT, in case it was stopped) the server, wait up to `grace`, then SIGKILL.
    /// Signals nothing unless `identify` says it is ours. True if it was running.
    pub async fn stop(
        pid: u32,
        bootstrap: &Path,
        start_time: Option<u64>,
        grace: Duration,
    ) -> bool {
        if identify(pid, bootstrap, start_time) != Identity::Ours {
            return false;
        }
        signal(pid, libc::SIGTERM);
        signal(pid, libc::SIGCONT);
        let start = Instant::now();
        while start.elapsed() < grace {
            if identify(pid, bootstrap, start_time) != Identity::Ours {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        if identify(pid, bootstrap, start_time) == Identity::Ours {
            signal(pid, libc::SIGKILL);
        }
        true
    }

    /// The inodes of the sockets listening on `port` (IPv4 and IPv6), from /proc/net/tcp{,6}.
    fn listening_inodes(port: u16) -> Vec<String> {
        let mut out = Vec::new();
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            let Ok(text) = std::fs::read_to_string(table) else {
                continue;
            };
            for line in text.lines().skip(1) {
                // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
                let f: Vec<&str> = line.split_whitespace().collect();
                let (Some(local), Some(st), Some(inode)) = (f.get(1), f.get(3), f.get(9)) else {
                    continue;
                };
                let listening = *st == "0A";
                let on_port = local
                    .rsplit_once(':')
                    .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
                    == Some(port);
                if listening && on_port {
                    out.push(format!("socket:[{inode}]"));
                }
            }
        }
        out
    }

    /// Whether `pid` has one of `sockets` open.
    fn holds(pid: u32, sockets: &[String]) -> bool {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            return false;
        };
        fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|l| sockets.iter().any(|s| l.as_os_str() == s.as_str()))
        })
    }

    /// Does the server `pid` (or a process of the group it leads) listen on `port`? `None` where
    /// this cannot be told (no /proc).
    pub fn owns_port(pid: u32, port: u16) -> Option<bool> {
        if !has_proc() {
            return None;
        }
        let sockets = listening_inodes(port);
        if sockets.is_empty() {
            return Some(false);
        }
        if holds(pid, &sockets) {
            return Some(true);
        }
        // A server that hands its listener to a process it started: look through its group.
        let group = i64::from(pid);
        let members = std::fs::read_dir("/proc").into_iter().flatten().flatten();
        Some(
            members
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .any(|p| {
                    p != pid && stat(p).is_some_and(|s| s.pgrp == group) && holds(p, &sockets)
                }),
        )
    }

    /// An exclusive lock on `.pmcp/local/lock`, held for a whole deploy or destroy: two at once
    /// would each start a server and record only one. Released when the value is dropped (or the
    /// process dies: no stale lock to clean up).
    pub struct Lock(#[allow(dead_code)] std::fs::File);

    /// Take the lock, waiting for another deploy or destroy of the same project to finish;
    /// `waiting` is called once if the lock is held.
    pub async fn lock(path: &Path, mut waiting: impl FnMut()) -> std::io::Result<Lock> {
        use std::os::fd::AsRawFd;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        let mut told = false;
        loop {
            // SAFETY: flock on a file descriptor we own.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return Ok(Lock(file));
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::WouldBlock {
                return Err(e);
            }
            if !told {
                waiting();
                told = true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[cfg(not(unix))]
mod proc {
    use std::path::Path;
    use std::time::Duration;
    #[derive(Debug, Clone, Copy)]
    pub struct Stat {
        pub state: char,
        pub start_time: u64,
    }
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Identity {
        Ours,
        Gone,
        NotOurs(String),
    }
    pub fn stat(_pid: u32) -> Option<Stat> {
        None
    }
    pub fn identify(_pid: u32, _bootstrap: &Path, _start_time: Option<u64>) -> Identity {
        Identity::Gone
    }
    pub async fn stop(_: u32, _: &Path, _: Option<u64>, _: Duration) -> bool {
        false
    }
    pub fn owns_port(_pid: u32, _port: u16) -> Option<bool> {
        None
    }
    pub struct Lock;
    pub async fn lock(_path: &Path, _waiting: impl FnMut()) -> std::io::Result<Lock> {
        Ok(Lock)
    }
}

/// The bootstrap a server of this project runs: `<project>/.pmcp/local/bootstrap`, canonical (the
/// path `/proc/<pid>/exe` shows). Computed from the project, never taken from state.json.
fn our_bootstrap(project_dir: &Path) -> PathBuf {
    let dir = project_dir.join(LOCAL_DIR);
    std::fs::canonicalize(&dir)
        .unwrap_or(dir)
        .join(package::BOOTSTRAP)
}

/// Whether the server recorded in `state` is the one this project started (see [`proc::identify`]).
fn identify(project_dir: &Path, state: &LocalState) -> proc::Identity {
    proc::identify(state.pid, &our_bootstrap(project_dir), state.start_time)
}

/// Stop the server recorded in `state` if it still runs and is the one this project started (a
/// tampered or stale pid is never signalled). True when one was stopped.
pub async fn stop_state(project_dir: &Path, state: &LocalState) -> bool {
    proc::stop(
        state.pid,
        &our_bootstrap(project_dir),
        state.start_time,
        Duration::from_secs(5),
    )
    .await
}

/// Take `.pmcp/local/lock` for a deploy or destroy (see [`proc::lock`]).
async fn lock_project(
    project_dir: &Path,
    progress: Option<&mut Progress>,
) -> Result<proc::Lock, TargetError> {
    let dir = project_dir.join(LOCAL_DIR);
    std::fs::create_dir_all(&dir)
        .map_err(|e| io_err(&format!("cannot create {}", dir.display()), e))?;
    let mut progress = progress;
    proc::lock(&dir.join("lock"), || {
        if let Some(p) = progress.as_deref_mut() {
            p.step("waiting for another deploy or destroy of this project to finish");
        }
    })
    .await
    .map_err(|e| io_err(&format!("cannot lock {}", dir.join("lock").display()), e))
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
        // One deploy or destroy of this project at a time, from reading the state to writing it:
        // parallel deploys each started a server and recorded one.
        let _lock = lock_project(req.project_dir, Some(progress)).await?;
        let previous = read_state(req.project_dir)?;
        let previous = match previous {
            Some(old) => match identify(req.project_dir, &old) {
                proc::Identity::Ours => Some(old),
                proc::Identity::Gone => None,
                proc::Identity::NotOurs(why) => {
                    progress.done(&format!(
                        "not stopping pid {} from {STATE_JSON}: {why}",
                        old.pid
                    ));
                    None
                }
            },
            None => None,
        };
        // A --port that another process holds fails now, while the running server still runs.
        if let Some(port) = self.settings.port {
            let held_by_previous = previous.as_ref().is_some_and(|s| s.port == port);
            if !held_by_previous {
                TcpListener::bind((Ipv4Addr::LOCALHOST, port)).map_err(|e| {
                    TargetError::Config {
                        message: format!(
                            "port {port} on 127.0.0.1 is not available: {e}{}",
                            if previous.is_some() {
                                " (the running local server was left as it is)"
                            } else {
                                ""
                            }
                        ),
                        hint: Some(
                            "choose another with --port, or omit --port for a free one".into(),
                        ),
                    }
                })?;
            }
        }
        let previous_port = previous.as_ref().map(|s| s.port);
        if let Some(old) = previous {
            progress.step(&format!(
                "stopping the running local server (pid {})",
                old.pid
            ));
            if stop_state(req.project_dir, &old).await {
                progress.done(&format!(
                    "stopped the previous local server (pid {})",
                    old.pid
                ));
            }
        }
        let _ = std::fs::remove_file(req.project_dir.join(STATE_JSON));
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
        if needs_ephemeral_sealing_key(req) {
            // The OAuth bridge refuses to start without a sealing key. A local server gets a
            // fresh one per start: registered clients and sign-ins last until it restarts.
            let key = base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                rand::random::<[u8; 32]>(),
            );
            cmd.env(pmcp_auth::env::AUTH_DCR_SEALING_KEY, key);
            progress.done(&format!(
                "generated an ephemeral {} for this local server (clients register again after a restart; declare it in [secrets] required to keep one)",
                pmcp_auth::env::AUTH_DCR_SEALING_KEY
            ));
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
        let start_time = proc::stat(pid).map(|s| s.start_time);
        let bootstrap_canonical = our_bootstrap(req.project_dir);
        let stop_child = || {
            let b = bootstrap_canonical.clone();
            async move { proc::stop(pid, &b, start_time, Duration::from_secs(2)).await }
        };
        let started = Instant::now();
        let mut someone_else = false;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let tail = last_lines(&log, 20);
                return Err(TargetError::Stopped {
                    message: format!(
                        "the server exited during startup ({status}){}; last lines of {}:\n{}",
                        if someone_else {
                            format!(" while another process answered on port {port}")
                        } else {
                            String::new()
                        },
                        log.display(),
                        if tail.trim().is_empty() {
                            "(empty)"
                        } else {
                            tail.as_str()
                        }
                    ),
                    hint: format!(
                        "a server must keep running and listen on $HOST:$PORT (here HOST=127.0.0.1, \
                         PORT={port}): read both variables and bind that address, e.g. \
                         `TcpListener::bind((std::env::var(\"HOST\")?, std::env::var(\"PORT\")?.parse::<u16>()?))`{}",
                        if status.success() {
                            "; it exited with status 0, so its main returned without serving"
                        } else {
                            "; see the log above for why it stopped"
                        }
                    ),
                });
            }
            // Ready when our child (still running) owns the port that accepts: a connection that
            // reaches another process on that port proves nothing about our server.
            if accepts(port) {
                match proc::owns_port(pid, port) {
                    Some(true) | None => break,
                    Some(false) => someone_else = true,
                }
            }
            if started.elapsed() >= self.settings.ready_timeout {
                stop_child().await;
                let _ = child.try_wait();
                return Err(TargetError::Timeout {
                    waited_secs: started.elapsed().as_secs_f64(),
                    last_status: if someone_else {
                        format!("another process, not the server, answers on 127.0.0.1:{port}")
                    } else {
                        format!("not accepting connections on 127.0.0.1:{port}")
                    },
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
            start_time,
        };
        let json = serde_json::to_vec_pretty(&state).expect("state serializes");
        if let Err(e) = crate::ui::write_atomic(&req.project_dir.join(STATE_JSON), &json) {
            // Unrecorded, the server could never be found again by status or destroy: stop it
            // rather than leave it running untracked.
            stop_child().await;
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
        let _lock = lock_project(project_dir, None).await?;
        let Some(state) = read_state(project_dir)? else {
            let _ = record::remove(project_dir, TargetKind::Local);
            return Ok(Destroyed {
                target,
                removed: false,
                detail: "no local server is recorded for this project".into(),
            });
        };
        let identity = identify(project_dir, &state);
        let stopped = identity == proc::Identity::Ours && stop_state(project_dir, &state).await;
        std::fs::remove_file(project_dir.join(STATE_JSON))
            .map_err(|e| io_err(&format!("cannot remove {STATE_JSON}"), e))?;
        // The extracted binary (tens of MB) goes with it once it no longer runs; the log stays
        // for a look at why the server stopped.
        if !matches!(identity, proc::Identity::NotOurs(_)) {
            let _ = std::fs::remove_file(project_dir.join(LOCAL_DIR).join(package::BOOTSTRAP));
        }
        record::remove(project_dir, TargetKind::Local)
            .map_err(|e| io_err("deployment record", e))?;
        Ok(Destroyed {
            target,
            removed: true,
            detail: match identity {
                _ if stopped => format!(
                    "stopped the local server (pid {}, port {})",
                    state.pid, state.port
                ),
                proc::Identity::NotOurs(why) => format!(
                    "did not signal pid {}: {why}; its state was removed (stop the server by hand if it still runs)",
                    state.pid
                ),
                _ => format!(
                    "the local server (pid {}) was no longer running; its state was removed",
                    state.pid
                ),
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
        let identity = identify(project_dir, &s);
        let suspended = proc::stat(s.pid).is_some_and(|st| matches!(st.state, 'T' | 't'));
        // A stopped (SIGSTOP) server still completes TCP handshakes from its backlog: it is not
        // "running" for that.
        let state = match identity {
            proc::Identity::Ours if suspended => "suspended (stopped by a signal)",
            proc::Identity::Ours
                if accepts(s.port) && proc::owns_port(s.pid, s.port) != Some(false) =>
            {
                "running"
            }
            proc::Identity::Ours => "not accepting connections",
            proc::Identity::Gone | proc::Identity::NotOurs(_) => "stopped",
        };
        Ok(StatusEntry {
            target,
            state: state.into(),
            url: Some(s.url),
            deployment_id: Some(s.pid.to_string()),
            artifact_sha256: Some(s.artifact_sha256),
            deployed_at: Some(s.started_at),
            detail: Some(match identity {
                proc::Identity::NotOurs(why) => format!(
                    "pid {} is not the server this project started ({why}), port {}, log {}",
                    s.pid,
                    s.port,
                    s.log.display()
                ),
                _ => format!("pid {}, port {}, log {}", s.pid, s.port, s.log.display()),
            }),
        })
    }
}
