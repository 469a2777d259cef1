//! `--target local`: up, redeploy, status, destroy. Every process a test starts is killed when the
//! test ends, pass or fail.

use super::{Project, SECRET_VALUE, entra_toml, stderr, stdout};
use cargo_pmcp::config;
use cargo_pmcp::deploy::env::server_env;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;

/// Kills the recorded servers (each leads its own process group) on drop, pass or fail.
struct Reaper(Vec<u32>);

impl Drop for Reaper {
    fn drop(&mut self) {
        for &pid in &self.0 {
            let Ok(pid) = libc::pid_t::try_from(pid) else {
                continue;
            };
            if pid > 1 && running(pid as u32) {
                // SAFETY: signals only the process group of a server this test started.
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                }
            }
        }
    }
}

fn get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// True while `pid` runs (a zombie counts as gone).
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .unwrap()
            .1
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

fn state(project: &Project) -> Value {
    serde_json::from_str(&project.dir.read(".pmcp/local/state.json")).unwrap()
}

#[test]
fn local_up_redeploy_status_destroy() {
    let project = Project::new(&entra_toml("local"));
    let mut reaper = Reaper(Vec::new());

    // Up.
    let out = project
        .deploy(&["--json"])
        .env("PMCP_ACCESS_TOKEN", "pmcp-token-in-the-build-env")
        .output()
        .unwrap();
    let (so, se) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{se}");
    let doc: Value = serde_json::from_str(so.trim()).unwrap();
    let st = state(&project);
    let (pid1, port1) = (
        st["pid"].as_u64().unwrap() as u32,
        st["port"].as_u64().unwrap() as u16,
    );
    reaper.0.push(pid1);
    assert_eq!(doc["target"], "local");
    assert_eq!(doc["url"], format!("http://127.0.0.1:{port1}/mcp"));
    assert_eq!(doc["deployment_id"], pid1.to_string());
    assert_eq!(st["artifact_sha256"], doc["artifact"]["sha256"]);
    assert!(Path::new(st["log"].as_str().unwrap()).exists());
    assert!(get(port1, "/health").contains("200 OK"));
    // Declared secrets are removed from cargo's environment: nothing baked into the binary.
    assert!(get(port1, "/build-secret-length").ends_with("\r\n\r\n0\n"));
    // So are the CLI's own credentials, declared or not.
    assert!(get(port1, "/build-token-length").ends_with("\r\n\r\n0\n"));
    let binary = std::fs::read(project.dir.join(".pmcp/local/bootstrap")).unwrap();
    assert!(
        !binary
            .windows(SECRET_VALUE.len())
            .any(|w| w == SECRET_VALUE.as_bytes())
    );

    // The server received exactly the contract plus PORT and HOST.
    let cfg = config::parse(Path::new("d"), &entra_toml("local")).unwrap();
    let mut expected = server_env(&cfg).unwrap().vars;
    expected.retain(|k, _| k.starts_with("AUTH_") || k.starts_with("ENTRA_"));
    expected.insert("HOST".into(), "127.0.0.1".into());
    expected.insert("PORT".into(), port1.to_string());
    let env_page = get(port1, "/env");
    let body = env_page.split("\r\n\r\n").nth(1).unwrap();
    let mut got: std::collections::BTreeMap<String, String> = body
        .lines()
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    // The OAuth bridge is on and no sealing key is declared: the local target made one up for
    // this run (32 bytes, base64) and said so.
    if expected.get("AUTH_DCR_ENABLED").map(String::as_str) == Some("true") {
        let key = got
            .remove("AUTH_DCR_SEALING_KEY")
            .expect("an ephemeral sealing key");
        assert_eq!(key.len(), 44, "32 bytes as padded base64");
        assert!(
            se.contains("generated an ephemeral AUTH_DCR_SEALING_KEY"),
            "{se}"
        );
        assert!(
            !se.contains(&key) && !so.contains(&key),
            "the key is never printed"
        );
    }
    assert_eq!(got, expected);
    assert!(!so.contains(SECRET_VALUE) && !se.contains(SECRET_VALUE));
    assert!(
        !project
            .dir
            .read(".pmcp/local/state.json")
            .contains(SECRET_VALUE)
    );

    // Redeploy replaces it.
    let out = project.deploy(&[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let st2 = state(&project);
    let (pid2, port2) = (
        st2["pid"].as_u64().unwrap() as u32,
        st2["port"].as_u64().unwrap() as u16,
    );
    reaper.0.push(pid2);
    assert_ne!(pid1, pid2);
    assert_eq!(port1, port2, "a redeploy keeps the URL");
    assert!(!running(pid1), "the old server still runs");
    assert!(stderr(&out).contains(&format!("stopped the previous local server (pid {pid1})")));
    assert!(stdout(&out).contains(&format!("http://127.0.0.1:{port2}/mcp")));
    assert!(get(port2, "/health").contains("200 OK"));

    // Status shows what runs where.
    let out = project
        .dir
        .cmd()
        .args(["deploy", "status", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let local = doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"] == "local")
        .unwrap();
    assert_eq!(local["state"], "running");
    assert_eq!(local["url"], format!("http://127.0.0.1:{port2}/mcp"));
    let pmcp = doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"] == "pmcp-run")
        .unwrap();
    assert_eq!(pmcp["state"], "not deployed");

    // Destroy stops it and forgets it.
    let out = project
        .dir
        .cmd()
        .args(["deploy", "destroy", "--target", "local"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("stopped the local server (pid {pid2}")),
        "{}",
        stdout(&out)
    );
    assert!(!running(pid2));
    assert!(!project.dir.join(".pmcp/local/state.json").exists());
    // Nothing is left behind: the record held only this target, and the binary is gone.
    assert!(
        !project.dir.join(".pmcp/deployment.toml").exists(),
        "an empty .pmcp/deployment.toml was left"
    );
    assert!(
        !project.dir.join(".pmcp/local/bootstrap").exists(),
        "the bootstrap was left"
    );
    let out = project
        .dir
        .cmd()
        .args(["deploy", "status", "--target", "local"])
        .output()
        .unwrap();
    assert!(
        stdout(&out).contains("local: not deployed"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_server_that_exits_at_startup_fails_with_its_log() {
    let project =
        Project::new("[target]\ntype = \"local\"\n[environment]\nTINY_SERVER_EXIT_CODE = \"7\"\n");
    let out = project.deploy(&[]).output().unwrap();
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(5), "{se}");
    assert!(se.contains("exited during startup"), "{se}");
    // What to check: the server must listen on $HOST:$PORT.
    assert!(se.contains("listen on $HOST:$PORT"), "{se}");
    assert!(se.contains("tiny-server: exiting with 7 as asked"), "{se}");
    assert!(!project.dir.join(".pmcp/local/state.json").exists());
}

#[test]
fn status_with_half_the_pmcp_run_credentials_still_shows_the_local_target() {
    // A misconfigured pmcp-run (client id without its secret) is reported on its own line; it does
    // not hide what runs locally.
    let project = Project::new("[target]\ntype = \"local\"\n");
    let out = project
        .dir
        .cmd()
        .args(["deploy", "status", "--json"])
        .env("PMCP_CLIENT_ID", "ci-client")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let targets = doc["targets"].as_array().unwrap();
    let local = targets.iter().find(|t| t["target"] == "local").unwrap();
    assert_eq!(local["state"], "not deployed");
    let pmcp = targets.iter().find(|t| t["target"] == "pmcp-run").unwrap();
    assert_eq!(pmcp["state"], "unknown");
    assert!(
        pmcp["detail"]
            .as_str()
            .unwrap()
            .contains("PMCP_CLIENT_ID is set but PMCP_CLIENT_SECRET is not"),
        "{doc}"
    );
}

/// The pids of every process running this project's `.pmcp/local/bootstrap` (an older copy shows
/// as `bootstrap (deleted)` once a redeploy replaced the file).
fn servers_of(project: &Project) -> Vec<u32> {
    let want = std::fs::canonicalize(project.dir.join(".pmcp/local"))
        .unwrap()
        .join("bootstrap");
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(exe) = std::fs::read_link(format!("/proc/{pid}/exe")) else {
            continue;
        };
        let exe = exe.to_string_lossy().into_owned();
        if Path::new(exe.trim_end_matches(" (deleted)")) == want && running(pid) {
            pids.push(pid);
        }
    }
    pids
}

fn destroy(project: &Project) -> std::process::Output {
    project
        .dir
        .cmd()
        .args(["deploy", "destroy", "--target", "local"])
        .output()
        .unwrap()
}

fn local_status(project: &Project) -> Value {
    let out = project
        .dir
        .cmd()
        .args(["deploy", "status", "--target", "local", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    doc["targets"][0].clone()
}

/// Five `deploy --target local` at once: one server runs afterwards, the one state.json records,
/// and `destroy` leaves none (before the lock, each started a server and one was recorded).
#[test]
fn parallel_local_deploys_leave_one_server_and_destroy_stops_it() {
    let project = Project::new("[target]\ntype = \"local\"\n");
    let mut reaper = Reaper(Vec::new());
    // Build once, so the five race in the target rather than queue on cargo's lock.
    let out = project.deploy(&["--dry-run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let outs: Vec<std::process::Output> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..5)
            .map(|_| s.spawn(|| project.deploy(&[]).output().unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let live = servers_of(&project);
    reaper.0.extend(&live);
    for out in &outs {
        assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    }
    let recorded = state(&project)["pid"].as_u64().unwrap() as u32;
    assert_eq!(
        live,
        vec![recorded],
        "live servers {live:?}, recorded {recorded}"
    );
    let out = destroy(&project);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        servers_of(&project).is_empty(),
        "{:?}",
        servers_of(&project)
    );
}

/// A redeploy whose `--port` is taken fails before touching the running server.
#[test]
fn a_redeploy_to_a_busy_port_leaves_the_running_server_up() {
    let project = Project::new("[target]\ntype = \"local\"\n");
    let mut reaper = Reaper(Vec::new());
    let out = project.deploy(&[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let st = state(&project);
    let (pid, port) = (
        st["pid"].as_u64().unwrap() as u32,
        st["port"].as_u64().unwrap() as u16,
    );
    reaper.0.push(pid);
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port().to_string();
    let out = project.deploy(&["--port", &busy_port]).output().unwrap();
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{se}");
    assert!(
        se.contains(&format!("port {busy_port} on 127.0.0.1 is not available")),
        "{se}"
    );
    assert!(se.contains("left as it is"), "{se}");
    assert!(running(pid), "the running server was stopped");
    assert!(get(port, "/health").contains("200 OK"));
    assert_eq!(state(&project)["pid"].as_u64().unwrap() as u32, pid);
    drop(busy);
    let out = destroy(&project);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!running(pid));
}

/// A tampered state.json never gets an unrelated process signalled, by `destroy` or by `deploy`:
/// another executable's pid, and our own server's pid with another start time (a reused pid).
#[test]
fn a_tampered_pid_in_state_json_is_never_signalled() {
    let project = Project::new("[target]\ntype = \"local\"\n");
    let mut reaper = Reaper(Vec::new());
    let mut victim = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let out = project.deploy(&[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let real = state(&project);
    let server = real["pid"].as_u64().unwrap() as u32;
    reaper.0.push(server);
    let tamper = |f: &dyn Fn(&mut Value)| {
        let mut st = real.clone();
        f(&mut st);
        project.dir.write(
            ".pmcp/local/state.json",
            &serde_json::to_string(&st).unwrap(),
        );
    };

    // destroy with the pid of an unrelated process (bootstrap pointed at it, too).
    tamper(&|st| {
        st["pid"] = victim.id().into();
        st["bootstrap"] = "/bin/sleep".into();
    });
    let out = destroy(&project);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("did not signal"), "{}", stdout(&out));
    assert!(
        victim.try_wait().unwrap().is_none(),
        "destroy killed an unrelated process"
    );

    // deploy over the same tampered state.
    tamper(&|st| st["pid"] = victim.id().into());
    let out = project.deploy(&[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    reaper
        .0
        .push(state(&project)["pid"].as_u64().unwrap() as u32);
    assert!(
        victim.try_wait().unwrap().is_none(),
        "deploy killed an unrelated process"
    );

    // Our server's pid, but not the start time recorded for it: not signalled either.
    tamper(&|st| st["start_time"] = (st["start_time"].as_u64().unwrap() + 1).into());
    let out = destroy(&project);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        running(server),
        "a pid whose start time differs was signalled"
    );
    let _ = victim.kill();
    let _ = victim.wait();
}

/// `status` does not call a server stopped with SIGSTOP "running" (it still completes TCP
/// handshakes from its backlog); destroy still stops it.
#[test]
fn status_does_not_call_a_suspended_server_running() {
    let project = Project::new("[target]\ntype = \"local\"\n");
    let mut reaper = Reaper(Vec::new());
    let out = project.deploy(&[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let pid = state(&project)["pid"].as_u64().unwrap() as u32;
    reaper.0.push(pid);
    assert_eq!(local_status(&project)["state"], "running");
    // SAFETY: stops the server this test deployed.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGSTOP);
    }
    let st = local_status(&project);
    assert_ne!(st["state"], "running", "{st}");
    assert!(st["state"].as_str().unwrap().contains("suspended"), "{st}");
    let out = destroy(&project);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!running(pid));
}
