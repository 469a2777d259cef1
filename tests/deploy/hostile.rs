//! deploy.toml written by someone else (a cloned repository, a pull request): the values that name
//! files, the keys that would ship a secret as a plain variable, and files that are not files.
//! Each test drives the built binary the way a probe did.

use super::{Project, stderr, stdout};

/// A `[server] name` that is a path (`../../…`, absolute) or not a DNS label (non-ASCII, upper
/// case) is refused at its line by every verb, before anything is built or written; no file
/// appears outside the project.
#[test]
fn a_server_name_that_is_a_path_is_refused_by_every_verb() {
    let outside = tempfile::tempdir().unwrap();
    let abs = outside.path().join("abs");
    for name in [
        "../../../../../../../../../../tmp/pmcp-escape-probe".to_string(),
        abs.display().to_string(),
        "café".to_string(),
        "Weather".to_string(),
    ] {
        let toml = format!("[target]\ntype = \"local\"\n\n[server]\nname = {name:?}\n");
        let project = Project::new(&toml);
        for verb in [
            vec!["--dry-run"],
            vec!["--dry-run", "--json"],
            vec!["destroy"],
            vec!["status"],
        ] {
            let mut cmd = project.dir.cmd();
            if verb[0] == "--dry-run" {
                cmd = project.deploy(&verb);
            } else {
                cmd.arg("deploy").args(&verb);
            }
            let out = cmd.output().unwrap();
            let all = format!("{}{}", stdout(&out), stderr(&out));
            assert_eq!(out.status.code(), Some(2), "{name} {verb:?}: {all}");
            assert!(
                all.contains(".pmcp/deploy.toml:5"),
                "{name} {verb:?}: {all}"
            );
            assert!(all.contains("[server] name"), "{name} {verb:?}: {all}");
        }
        assert!(
            !project.dir.join("target").exists(),
            "nothing built for {name}"
        );
    }
    assert!(!std::path::Path::new("/tmp/pmcp-escape-probe.zip").exists());
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
}

/// The name from the environment is checked as well.
#[test]
fn a_server_name_from_the_environment_is_checked_too() {
    let project = Project::new("[target]\ntype = \"local\"\n");
    let out = project
        .deploy(&["--dry-run"])
        .env("PMCP_SERVER_NAME", "../../x")
        .output()
        .unwrap();
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{se}");
    assert!(se.contains("PMCP_SERVER_NAME"), "{se}");
    assert!(!project.dir.join("target").join("x.zip").exists());
}

/// A secret in `[environment]` (a known name, or one that looks like a secret) is refused at its
/// line with exit 2, naming the key and `[secrets] required`; its value is printed nowhere, not
/// even by `--dry-run --json`.
#[test]
fn a_secret_in_environment_is_refused_and_never_printed() {
    let value = "plain-text-secret-value-9f2c";
    for name in [
        "ENTRA_CLIENT_SECRET",
        "STRIPE_API_KEY",
        "db_password",
        "GITHUB_TOKEN",
    ] {
        let toml = format!(
            "[target]\ntype = \"local\"\n\n[environment]\nLOG_LEVEL = \"info\"\n{name} = \"{value}\"\n"
        );
        let project = Project::new(&toml);
        for args in [vec!["--dry-run"], vec!["--dry-run", "--json"], vec![]] {
            let out = project.deploy(&args).output().unwrap();
            let all = format!("{}{}", stdout(&out), stderr(&out));
            assert_eq!(out.status.code(), Some(2), "{name} {args:?}: {all}");
            assert!(all.contains(".pmcp/deploy.toml:6"), "{name}: {all}");
            assert!(all.contains(name), "{name}: {all}");
            assert!(all.contains("[secrets] required"), "{name}: {all}");
            assert!(!all.contains(value), "{name}: the value was printed: {all}");
        }
        assert!(
            !project.dir.join("target").exists(),
            "nothing built for {name}"
        );
    }
}

/// A deploy.toml that is a FIFO, a link to /dev/zero, or over 1 MiB fails at once (exit 2) with
/// what it is, for every verb that reads it (before: a hang, or memory filling up); a symlink to
/// a regular file is read through.
#[test]
fn a_deploy_toml_that_is_not_a_small_regular_file_is_refused_at_once() {
    use std::time::Duration;
    let project = Project::new("[target]\ntype = \"local\"\n");
    let toml = project.dir.join(".pmcp/deploy.toml");
    let verbs: [&[&str]; 4] = [
        &["deploy", "--dry-run"],
        &["deploy", "status"],
        &["deploy", "destroy"],
        &[
            "deploy", "init", "--yes", "--target", "local", "--oauth", "none",
        ],
    ];
    let check = |what: &str, want: &str| {
        for verb in verbs {
            let out = project
                .dir
                .cmd()
                .args(verb)
                .timeout(Duration::from_secs(20))
                .output()
                .unwrap();
            let all = format!("{}{}", stdout(&out), stderr(&out));
            assert_eq!(out.status.code(), Some(2), "{what} {verb:?}: {all}");
            assert!(all.contains(".pmcp/deploy.toml"), "{what} {verb:?}: {all}");
            assert!(all.contains(want), "{what} {verb:?}: {all}");
        }
    };

    std::fs::remove_file(&toml).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(&toml)
        .status()
        .unwrap();
    assert!(status.success());
    check("fifo", "FIFO");

    std::fs::remove_file(&toml).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &toml).unwrap();
    check("/dev/zero", "a device");

    std::fs::remove_file(&toml).unwrap();
    let big = format!(
        "[target]\ntype = \"local\"\n# {}\n",
        "x".repeat(2 * 1024 * 1024)
    );
    std::fs::write(&toml, big).unwrap();
    check("2 MiB", "larger than 1048576 bytes");

    // A symlink to a regular file is fine.
    std::fs::remove_file(&toml).unwrap();
    let real = project
        .dir
        .write("config/deploy.toml", "[target]\ntype = \"local\"\n");
    std::os::unix::fs::symlink(&real, &toml).unwrap();
    let out = project
        .dir
        .cmd()
        .args(["deploy", "status", "--target", "local"])
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
