//! `cargo pmcp ci init`: the GitHub Actions workflow installs this project's cargo-pmcp from its
//! source (crates.io's `cargo-pmcp` is another project's tool), and is a valid workflow.
//!
//! actionlint cannot be installed in CI (a Go binary from GitHub releases; its PyPI wrapper
//! downloads it from there too), so the workflow is parsed as YAML and its structure checked;
//! when an `actionlint` is on PATH it runs as well.

use crate::support::{TestDir, stderr, stdout};
use yaml_rust2::{Yaml, YamlLoader};

const URL: &str = "https://git.example.com/team/cargo-pmcp";

fn ci_init(dir: &TestDir, cargo_home: &std::path::Path) -> assert_cmd::Command {
    let mut cmd = dir.cmd();
    cmd.args(["ci", "init"])
        .env("CARGO_HOME", cargo_home)
        .env_remove("PMCP_INSTALL_GIT")
        .env_remove("PMCP_INSTALL_REV");
    cmd
}

/// The workflow's structure: triggers, the OIDC permission, the install step from source, the
/// `auth test` step.
fn check_workflow(text: &str, install: &str) {
    let docs =
        YamlLoader::load_from_str(text).unwrap_or_else(|e| panic!("not YAML ({e}):\n{text}"));
    assert_eq!(docs.len(), 1);
    let w = &docs[0];
    assert!(w["name"].as_str().is_some());
    // `on:` is a plain key in YAML 1.2.
    let on = &w["on"];
    assert!(
        !on["push"].is_badvalue() && !on["pull_request"].is_badvalue(),
        "{on:?}"
    );
    assert_eq!(w["permissions"]["id-token"].as_str(), Some("write"));
    let jobs = w["jobs"].as_hash().expect("jobs");
    assert_eq!(jobs.len(), 1);
    let job = jobs.values().next().unwrap();
    assert!(job["runs-on"].as_str().is_some());
    let steps = job["steps"].as_vec().expect("steps");
    for s in steps {
        assert!(
            s["uses"].as_str().is_some() != s["run"].as_str().is_some(),
            "a step has exactly one of uses/run: {s:?}"
        );
    }
    let runs: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    let installs: Vec<&&str> = runs
        .iter()
        .filter(|r| r.contains("cargo install"))
        .collect();
    assert_eq!(installs.len(), 1, "{runs:?}");
    assert_eq!(installs[0].trim(), install);
    assert!(
        runs.iter()
            .any(|r| r.contains("cargo pmcp auth test") && r.contains("--credential github")),
        "{runs:?}"
    );
    // Nothing of the workflow may still be a placeholder, and no secret is stored.
    assert!(!text.contains("CARGO_PMCP_INSTALL"));
    assert!(!text.contains("secrets."));
    for s in steps {
        if let Yaml::String(u) = &s["uses"] {
            assert!(u.contains('@'), "an action without a version: {u}");
        }
    }
}

fn actionlint(path: &std::path::Path) {
    let Ok(out) = std::process::Command::new("actionlint").arg(path).output() else {
        return; // not installed: the structure checks above stand in for it
    };
    assert!(
        out.status.success(),
        "actionlint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ci_init_installs_from_the_given_source() {
    let dir = TestDir::new();
    let home = dir.join("cargo-home");
    let out = ci_init(&dir, &home)
        .args(["--install-git", URL, "--install-rev", "0123abcd"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains(".github/workflows/auth-test.yml created"));
    let path = dir.join(".github/workflows/auth-test.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    check_workflow(
        &text,
        &format!("cargo install --git {URL} --rev 0123abcd cargo-pmcp --locked"),
    );
    actionlint(&path);

    // Again: unchanged. Different source and no --force: refused, the file kept.
    let out = ci_init(&dir, &home)
        .args(["--install-git", URL, "--install-rev", "0123abcd"])
        .output()
        .unwrap();
    assert!(stdout(&out).contains("unchanged"), "{}", stdout(&out));
    let out = ci_init(&dir, &home)
        .args(["--install-git", URL, "--install-rev", "ffff"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

#[test]
fn ci_init_uses_cargos_install_record_and_refuses_crates_io() {
    let dir = TestDir::new();
    let home = dir.join("cargo-home");
    let record = |source: &str| {
        let json = serde_json::json!({"installs": {
            format!("cargo-pmcp 0.1.0 ({source})"): {"bins": ["cargo-pmcp"]}
        }});
        dir.write("cargo-home/.crates2.json", &json.to_string());
    };
    // Installed with `cargo install --git`: the same URL, pinned to the installed commit.
    record(&format!("git+{URL}#89abcdef"));
    let out = ci_init(&dir, &home).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = dir.read(".github/workflows/auth-test.yml");
    check_workflow(
        &text,
        &format!("cargo install --git {URL} --rev 89abcdef cargo-pmcp --locked"),
    );

    // crates.io's cargo-pmcp is another project: never written into a workflow.
    record("registry+https://github.com/rust-lang/crates.io-index");
    let out = ci_init(&dir, &home).arg("--force").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("--install-git") && err.contains("another project"),
        "{err}"
    );
}
