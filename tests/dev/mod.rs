//! `cargo pmcp dev` with the built binary, in a temp copy of examples/rmcp-server (the quickstart's
//! server): the ready line, a call with the token, a touched source file restarts the server,
//! SIGTERM stops everything (no process left behind).
//!
//! The copy builds into its own target dir, while cargo's intermediate files go to `target/e2e`,
//! the build dir the e2e test's copy of the example uses: the dependencies (aws-lc, axum, tokio,
//! rmcp, pmcp-auth) compile once for both.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{SCRUBBED_ENV, TestDir};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// examples/rmcp-server copied into `dir` as a package of its own (its own workspace, the
/// repository's lock file, pmcp-auth by absolute path).
pub fn copy_example(dir: &Path) {
    let example = repo().join("examples/rmcp-server");
    let auth = repo().join("crates/pmcp-auth");
    let manifest = std::fs::read_to_string(example.join("Cargo.toml"))
        .unwrap()
        .replace(
            "path = \"../../crates/pmcp-auth\"",
            &format!("path = \"{}\"", auth.to_string_lossy().replace('\\', "/")),
        );
    assert!(manifest.contains(&*auth.to_string_lossy()), "{manifest}");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("Cargo.toml"), format!("{manifest}\n[workspace]\n")).unwrap();
    for f in ["src/main.rs", "src/lib.rs"] {
        std::fs::copy(example.join(f), dir.join(f)).unwrap();
    }
    std::fs::copy(repo().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
}

/// The environment a copy of the example builds with: its own target dir, the shared build dir.
pub fn build_env(cmd: &mut Command, project: &Path) {
    cmd.env("CARGO_TARGET_DIR", project.join("target"))
        .env("CARGO_BUILD_BUILD_DIR", repo().join("target/e2e"));
}

/// The built binary, CI-like, as a std `Command` (for long-running children).
pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-pmcp"));
    for name in SCRUBBED_ENV {
        cmd.env_remove(name);
    }
    cmd.env("CI", "true").env("NO_COLOR", "1");
    cmd
}

/// A running `cargo pmcp dev` (or a shell running it): its stdout lines arrive on a channel,
/// its stderr is collected for failure messages. Killed, with its server, on drop.
pub struct Running {
    pub child: Child,
    pub lines: mpsc::Receiver<String>,
    pub stderr: std::sync::Arc<std::sync::Mutex<String>>,
    pub project: PathBuf,
}

impl Running {
    pub fn spawn(mut cmd: Command, project: &Path) -> Running {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn cargo-pmcp dev");
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = stderr.clone();
        let mut err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Running {
            child,
            lines,
            stderr,
            project: project.to_path_buf(),
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The next stdout line that `want` accepts, within `timeout` (panics with stderr otherwise).
    pub fn wait_for(&self, timeout: Duration, want: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if want(&line) => return line,
                Ok(_) => {}
                Err(_) => panic!(
                    "no expected line on stdout within {timeout:?}; stderr:\n{}",
                    self.stderr()
                ),
            }
        }
    }

    /// The next JSON event `name` (`--json` lines).
    pub fn event(&self, name: &str, timeout: Duration) -> Value {
        let line = self.wait_for(timeout, |l| {
            serde_json::from_str::<Value>(l).is_ok_and(|v| v["event"] == name)
        });
        serde_json::from_str(&line).unwrap()
    }

    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: a process this test started.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, sig);
        }
    }

    /// Wait for the exit, at most `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let end = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < end,
                "still running {timeout:?} after the signal; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for pid in processes_running_from(&self.project) {
            // SAFETY: a server started from this test's temp project.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
        }
    }
}

/// Processes whose executable lies under `dir` (a server started from the temp project).
pub fn processes_running_from(dir: &Path) -> Vec<u32> {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Ok(exe) = std::fs::read_link(format!("/proc/{pid}/exe"))
            && exe.starts_with(&dir)
        {
            out.push(pid);
        }
    }
    out
}

pub fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit_once(')')
            .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
    })
}

/// POST a JSON-RPC request to the MCP URL (`curl`'s equivalent), with an optional bearer token.
pub fn post(url: &str, token: Option<&str>, body: &str) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut req = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request to the dev server");
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    })
}

const TOOLS_LIST: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
/// A cold build of the example (aws-lc, axum, tokio) on a loaded 2-core machine.
pub const FIRST_BUILD: Duration = Duration::from_secs(1800);

#[test]
fn dev_runs_checks_serves_restarts_on_change_and_stops_on_sigterm() {
    let dir = TestDir::new();
    let project = dir.path().to_path_buf();
    copy_example(&project);
    let mut cmd = bin();
    cmd.current_dir(&project).args(["dev", "--json"]);
    build_env(&mut cmd, &project);
    let mut dev = Running::spawn(cmd, &project);

    // Ready: the checks passed, the URL and the token file are given, the token is not printed.
    let ready = dev.event("ready", FIRST_BUILD);
    assert_eq!(ready["checks_failed"], serde_json::json!([]), "{ready}");
    assert!(ready["checks_passed"].as_u64().unwrap() >= 5, "{ready}");
    let url = ready["mcp_url"].as_str().unwrap().to_string();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/mcp"),
        "{url}"
    );
    assert!(ready.get("token").is_none(), "token printed: {ready}");
    let token_file = project.join(ready["token_file"].as_str().unwrap());
    let token = std::fs::read_to_string(&token_file).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(!dev.stderr().contains(&token), "the token was printed");
    // deploy.toml was written for the local target, pointing at the emulator; .pmcp/local/ is
    // git-ignored.
    let toml = std::fs::read_to_string(project.join(".pmcp/deploy.toml")).unwrap();
    assert!(toml.contains("type = \"local\""), "{toml}");
    assert!(
        toml.contains(ready["authority_host"].as_str().unwrap()),
        "{toml}"
    );
    let ignore = std::fs::read_to_string(project.join(".pmcp/.gitignore")).unwrap();
    assert!(ignore.lines().any(|l| l == "local/"), "{ignore}");
    // The human text says how to connect a client.
    let text = dev.stderr();
    assert!(
        text.contains("npx @modelcontextprotocol/inspector --cli") && text.contains("curl -s"),
        "{text}"
    );

    // The server answers with the token, and refuses without it.
    let (status, body) = post(&url, Some(token.trim()), TOOLS_LIST);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("whoami"), "{body}");
    assert_eq!(post(&url, None, TOOLS_LIST).0, 401);
    let pid1: u32 = ready["pid"].as_str().unwrap().parse().unwrap();

    // A saved source file rebuilds and restarts it, on the same URL.
    let main = project.join("src/main.rs");
    let text = std::fs::read_to_string(&main).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&main, text).unwrap();
    let restarted = dev.event("restarted", Duration::from_secs(300));
    let pid2: u32 = restarted["pid"].as_str().unwrap().parse().unwrap();
    assert_ne!(pid1, pid2, "{restarted}");
    assert_eq!(restarted["mcp_url"], url.as_str(), "{restarted}");
    assert_eq!(restarted["checks_failed"], serde_json::json!([]));
    assert!(!running(pid1), "the old server still runs");
    assert_eq!(post(&url, Some(token.trim()), TOOLS_LIST).0, 200);

    // SIGTERM stops the server and the emulator; nothing is left running.
    dev.signal(libc::SIGTERM);
    let stopped = dev.event("stopped", Duration::from_secs(60));
    assert_eq!(stopped["event"], "stopped");
    let status = dev.wait_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "{}", dev.stderr());
    assert!(!running(pid2), "the server outlived dev");
    assert!(
        processes_running_from(&project).is_empty(),
        "processes left from the project: {:?}",
        processes_running_from(&project)
    );
    let emulator = ready["authority_host"].as_str().unwrap();
    assert!(
        std::net::TcpStream::connect(emulator.trim_start_matches("http://")).is_err(),
        "the emulator still accepts"
    );
    assert!(
        std::net::TcpStream::connect(url.trim_start_matches("http://").trim_end_matches("/mcp"))
            .is_err(),
        "the server's port still accepts"
    );
    assert!(!token_file.exists(), "the token file was left behind");
    assert!(!project.join(".pmcp/local/state.json").exists());
}

/// A deploy.toml for another target is the user's production configuration: dev runs with the
/// emulator's settings in memory and leaves the file byte for byte; one it cannot parse stops dev
/// before anything is built, untouched.
#[test]
fn dev_never_rewrites_a_config_for_another_target_or_one_it_cannot_parse() {
    let dir = TestDir::new();
    let project = dir.path().to_path_buf();
    copy_example(&project);
    let prod = "# production\n[target]\ntype = \"pmcp-run\"\n\n[auth]\nenabled = true\nprovider = \"entra\"\ntenant_id = \"11111111-2222-3333-4444-555555555555\"\nclient_id = \"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee\"\n";
    std::fs::create_dir_all(project.join(".pmcp")).unwrap();
    std::fs::write(project.join(".pmcp/deploy.toml"), prod).unwrap();
    let mut cmd = bin();
    cmd.current_dir(&project)
        .args(["dev", "--json", "--no-watch", "--print-token"]);
    build_env(&mut cmd, &project);
    let mut dev = Running::spawn(cmd, &project);
    let ready = dev.event("ready", FIRST_BUILD);
    assert_eq!(ready["checks_failed"], serde_json::json!([]), "{ready}");
    // --print-token: the token itself, the one in the token file.
    let token = ready["token"]
        .as_str()
        .expect("--print-token prints the token");
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    assert_eq!(
        std::fs::read_to_string(project.join(ready["token_file"].as_str().unwrap())).unwrap(),
        token
    );
    assert!(dev.stderr().contains("left as it is"), "{}", dev.stderr());
    dev.signal(libc::SIGTERM);
    dev.event("stopped", Duration::from_secs(60));
    assert_eq!(dev.wait_exit(Duration::from_secs(30)).code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(project.join(".pmcp/deploy.toml")).unwrap(),
        prod
    );

    let broken = "[target\ntype = \"local\"\n";
    std::fs::write(project.join(".pmcp/deploy.toml"), broken).unwrap();
    let mut cmd = bin();
    cmd.current_dir(&project).args(["dev", "--no-watch"]);
    build_env(&mut cmd, &project);
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(".pmcp/deploy.toml:1:"), "{err}");
    assert!(!err.contains("building"), "{err}");
    assert_eq!(
        std::fs::read_to_string(project.join(".pmcp/deploy.toml")).unwrap(),
        broken
    );
}
