//! `cargo pmcp new`: the built binary in a temp directory writes a server crate from the example,
//! refuses what it must (bad names, a directory with files, a pmcp-auth path that is not one), and
//! the crate it writes builds, passes its own tests, deploys with `--target local` and passes
//! `auth test --server-url` unchanged.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::support::{SCRUBBED_ENV, TestDir, all_output, stderr, stdout};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn manifest(dir: &Path) -> toml::Table {
    let text = std::fs::read_to_string(dir.join("Cargo.toml")).expect("Cargo.toml");
    toml::from_str(&text).unwrap_or_else(|e| panic!("Cargo.toml does not parse: {e}\n{text}"))
}

/// The files of a directory, relative, sorted.
fn listing(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(
                    p.strip_prefix(base)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }
    let mut out = Vec::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out.sort();
    out
}

#[test]
fn new_writes_the_example_as_the_users_crate() {
    let dir = TestDir::new();
    let out = dir.cmd().args(["new", "demo-server"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    let text = stdout(&out);
    assert!(
        text.contains("Created demo-server (rmcp server) in demo-server"),
        "{text}"
    );
    assert!(
        text.contains("cd demo-server") && text.contains("cargo pmcp dev"),
        "{text}"
    );

    let krate = dir.join("demo-server");
    let files = listing(&krate);
    for f in [
        ".gitignore",
        "Cargo.lock",
        "Cargo.toml",
        "README.md",
        "src/lib.rs",
        "src/main.rs",
    ] {
        assert!(files.contains(&f.to_string()), "no {f} in {files:?}");
    }
    // Every file of the example is there (the example is the template).
    let example = repo().join("examples/rmcp-server");
    for f in listing(&example) {
        if !f.starts_with("target/") {
            assert!(
                files.contains(&f),
                "the example's {f} is missing: {files:?}"
            );
        }
    }

    let m = manifest(&krate);
    assert_eq!(m["package"]["name"].as_str(), Some("demo-server"));
    assert_eq!(m["package"]["publish"].as_bool(), Some(false));
    assert!(m["package"].get("license").is_none(), "{m:#?}");
    let description = m["package"]["description"].as_str().unwrap();
    assert!(!description.contains("example"), "{description}");
    let dep = &m["dependencies"]["pmcp-auth"];
    assert_eq!(
        dep["path"].as_str().map(|p| canonical(Path::new(p))),
        Some(canonical(&repo().join("crates/pmcp-auth"))),
        "{dep}"
    );
    assert!(
        dep["features"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f.as_str() == Some("rmcp")),
        "{dep}"
    );
    let bins = m["bin"].as_array().expect("[[bin]]");
    assert!(
        bins.iter()
            .any(|b| b["name"].as_str() == Some("demo-server")),
        "{bins:?}"
    );
    // The crate name is rewritten in the code, and only the crate name.
    let main = dir.read("demo-server/src/main.rs");
    assert!(main.contains("demo_server::run()"), "{main}");
    for f in &files {
        if f.ends_with(".rs") || f.ends_with(".toml") {
            let text = std::fs::read_to_string(krate.join(f)).unwrap();
            assert!(
                !text.contains("rmcp_example_server") && !text.contains("rmcp-example-server"),
                "{f} still names the example crate"
            );
        }
    }
    let lib = dir.read("demo-server/src/lib.rs");
    assert!(lib.contains("McpRouter"), "not the example's code");
    let gitignore = dir.read("demo-server/.gitignore");
    assert!(
        gitignore.lines().any(|l| l == "/target/") && gitignore.contains("/.pmcp/local/"),
        "{gitignore}"
    );
    let readme = dir.read("demo-server/README.md");
    assert!(
        readme.starts_with("# demo-server\n") && !readme.contains("{{"),
        "{readme}"
    );
    // The workspace's lock: the crate starts from the tested versions.
    let lock = dir.read("demo-server/Cargo.lock");
    assert!(lock.contains("name = \"rmcp\""), "not the workspace's lock");
}

#[test]
fn json_output_is_one_document() {
    let dir = TestDir::new();
    let out = dir
        .cmd()
        .args(["new", "json-server", "--path", "nested/here", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", stdout(&out)));
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["name"], "json-server");
    assert_eq!(doc["sdk"], "rmcp");
    assert_eq!(doc["path"], "nested/here");
    assert_eq!(doc["workspace"]["kind"], "own");
    assert_eq!(doc["pmcp_auth"]["from"], "built-from");
    let files: Vec<&str> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(
        files.contains(&"Cargo.toml") && files.contains(&"src/main.rs"),
        "{doc}"
    );
    for f in &files {
        assert!(
            dir.join("nested/here").join(f).is_file(),
            "{f} listed, not written"
        );
    }
    let next: Vec<&str> = doc["next"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["command"].as_str().unwrap())
        .collect();
    assert_eq!(next[0], "cd nested/here");
    assert!(next.contains(&"cargo pmcp dev"), "{doc}");
    // The human text went to stderr.
    assert!(
        stderr(&out).contains("Created json-server"),
        "{}",
        stderr(&out)
    );
    // No temp directory left beside the crate.
    let beside: Vec<_> = std::fs::read_dir(dir.join("nested")).unwrap().collect();
    assert_eq!(beside.len(), 1, "{beside:?}");
}

#[test]
fn bad_names_are_refused_with_the_rule() {
    let dir = TestDir::new();
    for (name, why) in [
        ("1server", "starts with a digit"),
        ("my.server", "`.` is not allowed"),
        ("fn", "Rust keyword"),
        ("test", "built-in"),
        ("rmcp", "depends on the crate `rmcp`"),
    ] {
        let out = dir.cmd().args(["new", name]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}: {}", all_output(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("invalid package name `{name}` (NAME")) && err.contains(why),
            "{name}: {err}"
        );
    }
    let out = dir.cmd().args(["new", "-x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", all_output(&out));
    let out = dir.cmd().args(["new", "fn", "--json"]).output().unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).expect("a JSON failure document");
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["exit_code"], 2);
    assert_eq!(doc["error"]["code"], "invalid_name");
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
}

#[test]
fn an_existing_directory_with_files_is_never_touched() {
    let dir = TestDir::new();
    dir.write("taken/notes.txt", "mine");
    let out = dir
        .cmd()
        .args(["new", "taken-server", "--path", "taken"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", all_output(&out));
    assert!(
        stderr(&out).contains("taken exists and is not empty"),
        "{}",
        stderr(&out)
    );
    assert_eq!(listing(dir.path()), vec!["taken/notes.txt".to_string()]);
    assert_eq!(dir.read("taken/notes.txt"), "mine");

    // A file where the crate would go.
    dir.write("file-server", "x");
    let out = dir.cmd().args(["new", "file-server"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", all_output(&out));
    assert_eq!(dir.read("file-server"), "x");

    // An empty directory is fine (as for `git clone`).
    std::fs::create_dir(dir.join("empty")).unwrap();
    let out = dir
        .cmd()
        .args(["new", "empty-server", "--path", "empty"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    assert!(dir.join("empty/Cargo.toml").is_file());
}

#[test]
fn the_pmcp_auth_path_must_be_pmcp_auth() {
    let dir = TestDir::new();
    let out = dir
        .cmd()
        .args(["new", "a-server", "--pmcp-auth-path", "nowhere/pmcp-auth"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", all_output(&out));
    let err = stderr(&out);
    assert!(
        err.contains("--pmcp-auth-path") && err.contains("no such directory"),
        "{err}"
    );
    assert!(
        err.contains("hint:") && err.contains("PMCP_AUTH_PATH"),
        "{err}"
    );

    // The variable, pointing at another crate.
    dir.write(
        "other/Cargo.toml",
        "[package]\nname = \"other\"\nversion = \"0.1.0\"\n",
    );
    let out = dir
        .cmd()
        .args(["new", "a-server", "--json"])
        .env("PMCP_AUTH_PATH", dir.join("other"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", all_output(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("a JSON failure document");
    assert_eq!(doc["error"]["code"], "pmcp_auth_not_found");
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("PMCP_AUTH_PATH ") && message.contains("not the package `pmcp-auth`"),
        "{message}"
    );
    assert!(!dir.join("a-server").exists());

    // A pmcp-auth without the feature the template uses.
    dir.write(
        "old/pmcp-auth/Cargo.toml",
        "[package]\nname = \"pmcp-auth\"\nversion = \"0.0.1\"\n\n[features]\nserver = []\n",
    );
    let out = dir
        .cmd()
        .args(["new", "a-server", "--pmcp-auth-path", "old/pmcp-auth"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", all_output(&out));
    assert!(
        stderr(&out).contains("has no feature `rmcp`"),
        "{}",
        stderr(&out)
    );

    // A real one given by the flag, relative to the current directory, is written absolute.
    let out = dir
        .cmd()
        .args(["new", "a-server", "--pmcp-auth-path"])
        .arg(repo().join("crates/pmcp-auth"))
        .args(["--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["pmcp_auth"]["from"], "--pmcp-auth-path");
    let m = manifest(&dir.join("a-server"));
    assert!(
        Path::new(m["dependencies"]["pmcp-auth"]["path"].as_str().unwrap()).is_absolute(),
        "{m:#?}"
    );
}

#[test]
fn sdk_pmcp_writes_the_pmcp_example_as_the_users_crate() {
    let dir = TestDir::new();
    let out = dir
        .cmd()
        .args(["new", "p-server", "--sdk", "pmcp", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["sdk"], "pmcp", "{doc}");
    let project = dir.join("p-server");
    let m = manifest(&project);
    assert_eq!(m["package"]["name"].as_str(), Some("p-server"), "{m:#?}");
    // The seed's SDK and the glue that gives it `with_oauth_from_env()`.
    assert!(m["dependencies"].get("pmcp").is_some(), "{m:#?}");
    let features = m["dependencies"]["pmcp-auth"]["features"]
        .as_array()
        .unwrap();
    assert!(
        features.iter().any(|f| f.as_str() == Some("pmcp")),
        "{m:#?}"
    );
    let lib = std::fs::read_to_string(project.join("src/lib.rs")).unwrap();
    assert!(lib.contains("with_oauth_from_env()"), "{lib}");
    let main = std::fs::read_to_string(project.join("src/main.rs")).unwrap();
    assert!(main.contains("p_server::run()"), "{main}");
    // Cargo.lock is this repository's lock (the tested versions); cargo drops the entries the new
    // crate does not use on its first build.
    for file in listing(&project).into_iter().filter(|f| f != "Cargo.lock") {
        let text = std::fs::read_to_string(project.join(&file)).unwrap_or_default();
        assert!(
            !text.contains("pmcp-sdk-example-server") && !text.contains("pmcp_sdk_example_server"),
            "{file} still names the example crate"
        );
    }

    // An SDK that has no template is refused with the ones that exist.
    let out = dir
        .cmd()
        .args(["new", "q-server", "--sdk", "python"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", all_output(&out));
    assert!(!dir.join("q-server").exists());
}

#[test]
fn inside_a_workspace_the_crate_builds_where_it_lands() {
    // A workspace that does not list the new crate: cargo would refuse to build it, so it becomes
    // a workspace of its own.
    let dir = TestDir::new();
    dir.write(
        "Cargo.toml",
        "[workspace]\nmembers = []\nresolver = \"2\"\n",
    );
    let before = dir.read("Cargo.toml");
    let out = dir
        .cmd()
        .args(["new", "inner-server", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["workspace"]["kind"], "detached", "{doc}");
    assert_eq!(
        doc["workspace"]["root"]
            .as_str()
            .map(|r| canonical(Path::new(r))),
        Some(canonical(dir.path()))
    );
    assert_eq!(
        dir.read("Cargo.toml"),
        before,
        "the user's workspace was edited"
    );
    let m = manifest(&dir.join("inner-server"));
    assert!(m.contains_key("workspace"), "{m:#?}");
    let meta = Command::new(env!("CARGO"))
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(dir.join("inner-server"))
        .output()
        .unwrap();
    assert!(meta.status.success(), "{}", all_output(&meta));

    // A workspace whose members glob lists it: it stays a member (and gets no lock of its own).
    let dir = TestDir::new();
    dir.write(
        "Cargo.toml",
        "[workspace]\nmembers = [\"servers/*\"]\nresolver = \"2\"\n",
    );
    let out = dir
        .cmd()
        .args([
            "new",
            "member-server",
            "--path",
            "servers/member-server",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["workspace"]["kind"], "member", "{doc}");
    let krate = dir.join("servers/member-server");
    assert!(!manifest(&krate).contains_key("workspace"));
    assert!(!krate.join("Cargo.lock").exists());
}

// ---- the acceptance test: the generated crate, unchanged, from build to `auth test` ----

const SECRET: &str = "new-crate-client-secret-3";

/// The built binary, CI-like, as a std `Command` (for long-running children).
fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-pmcp"));
    for name in SCRUBBED_ENV {
        cmd.env_remove(name);
    }
    cmd.env("CI", "true").env("NO_COLOR", "1");
    cmd
}

fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = bin();
    cmd.current_dir(dir).args(args).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run cargo-pmcp")
}

/// Kills the emulator and the locally deployed server when the test ends, pass or fail.
struct Reaper {
    emulator: Child,
    project: PathBuf,
}

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.emulator.kill();
        let _ = self.emulator.wait();
        if let Ok(text) = std::fs::read_to_string(self.project.join(".pmcp/local/state.json"))
            && let Ok(v) = serde_json::from_str::<Value>(&text)
            && let Some(pid) = v["pid"].as_u64()
        {
            for target in [format!("-{pid}"), pid.to_string()] {
                let _ = Command::new("kill").args(["-KILL", &target]).output();
            }
        }
    }
}

#[cfg(unix)]
#[tokio::test]
async fn a_new_rmcp_crate_builds_tests_deploys_and_passes_auth_test_unchanged() {
    new_crate_story("rmcp", "fresh-mcp-server").await;
}

#[cfg(unix)]
#[tokio::test]
async fn a_new_pmcp_crate_builds_tests_deploys_and_passes_auth_test_unchanged() {
    new_crate_story("pmcp", "fresh-pmcp-server").await;
}

/// `new --sdk SDK NAME`, then the generated crate unchanged: deploy init, deploy --target local,
/// auth test --server-url, its own `cargo test`, destroy.
#[cfg(unix)]
async fn new_crate_story(sdk: &str, name: &str) {
    let dir = TestDir::new();
    let out = run(dir.path(), &["new", name, "--sdk", sdk], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    let project = dir.join(name);

    // The emulator, as `cargo pmcp auth emulator` prints it when ready.
    let mut child = bin()
        .args(["auth", "emulator", "--json", "--port", "0"])
        .env("ENTRA_CLIENT_SECRET", SECRET)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the emulator");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("emulator stdout");
    if line.trim().is_empty() {
        let mut err = String::new();
        let _ = child.stderr.take().unwrap().read_to_string(&mut err);
        panic!("the emulator printed no ready line; stderr:\n{err}");
    }
    let ready: Value = serde_json::from_str(line.trim()).expect("ready line");
    let _reaper = Reaper {
        emulator: child,
        project: project.clone(),
    };
    let s = |k: &str| ready[k].as_str().expect(k).to_string();
    let (authority, tenant, client) = (s("authority_host"), s("tenant_id"), s("client_id"));

    // deploy init + deploy --target local, built in the e2e tests' target dir (warm).
    let out = run(
        &project,
        &[
            "deploy",
            "init",
            "--target",
            "local",
            "--oauth",
            "entra",
            "--tenant-id",
            &tenant,
            "--client-id",
            &client,
            "--authority-host",
            &authority,
            "--yes",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    let target_dir = repo().join("target/e2e");
    let out = run(
        &project,
        &[
            "deploy",
            "--target",
            "local",
            "--target-dir",
            &target_dir.to_string_lossy(),
            "--profile",
            "dev",
            "--wait-timeout",
            "60s",
            "--json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    let deployed: Value = serde_json::from_slice(&out.stdout).expect("deploy --json");
    let url = deployed["url"].as_str().expect("url").to_string();

    // auth test against it: token, validator, the server checks.
    let out = run(
        &project,
        &[
            "auth",
            "test",
            "--server-url",
            &url,
            "--expect-role",
            "MCP.Service",
            "--json",
        ],
        &[("ENTRA_CLIENT_SECRET", SECRET)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("auth test --json");
    assert_eq!(report["ok"], true, "{report}");
    let checks = report["checks"].as_array().expect("checks");
    assert!(
        checks
            .iter()
            .any(|c| c["name"].as_str().is_some_and(|n| n.starts_with("server"))),
        "{report}"
    );
    assert!(checks.iter().all(|c| c["ok"] == true), "{report}");

    // The crate's own tests pass (same target dir: the dependencies are built once).
    let test = Command::new(env!("CARGO"))
        .args(["test", "--quiet"])
        .current_dir(&project)
        .env("CARGO_TARGET_DIR", &target_dir)
        .env_remove("RUSTFLAGS")
        .stdin(Stdio::null())
        .output()
        .expect("cargo test");
    assert!(test.status.success(), "{}", all_output(&test));
    let text = all_output(&test);
    let passed: u32 = text
        .lines()
        .filter_map(|l| l.split("test result: ok. ").nth(1))
        .filter_map(|rest| rest.split(' ').next()?.parse::<u32>().ok())
        .sum();
    assert!(passed > 0, "the crate ran no test: {text}");

    let out = run(&project, &["deploy", "destroy", "--target", "local"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
}
