//! Config, secrets, binary selection, build failures and reproducible packages.

use super::{Project, SECRET_VALUE, entra_toml, stderr, stdout};
use serde_json::Value;

#[test]
fn bad_deploy_toml_is_exit_2_with_line_and_column() {
    let project = Project::new("[target]\ntype = \"local\"\n[auth\nenabled = true\n");
    let out = project.deploy(&[]).output().unwrap();
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{se}");
    assert!(se.contains(".pmcp/deploy.toml:3:"), "{se}");
    assert!(!project.dir.join("target").exists(), "nothing built");
    // --json: one error document on stdout.
    let out = project.deploy(&["--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let doc: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(doc["exit_code"], 2);
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["error"]["code"], "usage");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains(".pmcp/deploy.toml:3:"),
        "{doc}"
    );
}

#[test]
fn missing_auth_key_names_it() {
    let project = Project::new(
        "[target]\ntype = \"local\"\n[auth]\nenabled = true\nclient_id = \"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee\"\n",
    );
    let out = project.deploy(&[]).output().unwrap();
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{se}");
    assert!(se.contains("`auth.tenant_id` is not set"), "{se}");
    assert!(
        se.contains(".pmcp/deploy.toml:3:"),
        "points at [auth]: {se}"
    );
    let project = Project::new(
        "[auth]\nenabled = true\ntenant_id = \"t\"\nclient_id = \"c\"\n[auth.entra]\nauthority_host = \"http://login.example\"\n",
    );
    let out = project.deploy(&[]).output().unwrap();
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{se}");
    assert!(
        se.contains(".pmcp/deploy.toml:6:18: `auth.entra.authority_host`"),
        "{se}"
    );
}

#[test]
fn missing_secret_is_exit_2_before_building() {
    let project = Project::new(&entra_toml("local"));
    let out = project
        .deploy(&[])
        .env_remove("ENTRA_CLIENT_SECRET")
        .output()
        .unwrap();
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{se}");
    assert!(se.contains("ENTRA_CLIENT_SECRET"), "{se}");
    assert!(se.contains("not set in the environment"), "{se}");
    assert!(!se.contains("building"), "{se}");
    assert!(!project.dir.join("target").exists());
}

#[test]
fn several_binaries_list_the_candidates() {
    let project = Project::new("[target]\ntype = \"local\"\n");
    project.dir.write("src/bin/admin.rs", "fn main() {}\n");
    let out = project.deploy_private(&["--dry-run"]).output().unwrap();
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{se}");
    assert!(se.contains("several binaries"), "{se}");
    assert!(se.contains("tiny-server") && se.contains("admin"), "{se}");
    assert!(se.contains("--bin"), "{se}");
    let out = project
        .deploy_private(&["--dry-run", "--bin", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no binary named `nope`"));
}

#[test]
fn compile_errors_are_shown_in_full_with_exit_3() {
    let project = Project::new("[target]\ntype = \"local\"\n");
    project.dir.write(
        "src/main.rs",
        "fn main() { let x: u32 = \"not a number\"; }\n",
    );
    let out = project.deploy_private(&[]).output().unwrap();
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{se}");
    assert!(se.contains("mismatched types"), "{se}");
    assert!(se.contains("src/main.rs"), "{se}");
    assert!(se.contains("cargo build failed"), "{se}");
}

#[test]
fn two_packages_of_the_same_binary_are_byte_identical() {
    let project = Project::new(&entra_toml("local"));
    let run = || {
        let out = project.deploy(&["--dry-run", "--json"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let doc: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
        let path = doc["artifact"]["path"].as_str().unwrap().to_string();
        (
            doc["artifact"]["sha256"].as_str().unwrap().to_string(),
            std::fs::read(path).unwrap(),
        )
    };
    let (sha1, zip1) = run();
    // The second run packages the same binary again into a fresh file.
    let (sha2, zip2) = run();
    assert_eq!(sha1, sha2);
    assert_eq!(zip1, zip2);
    let text = String::from_utf8_lossy(&zip1);
    assert!(text.contains("bootstrap") && text.contains("pmcp-deploy.json"));
    assert!(!text.contains(SECRET_VALUE));
}

#[test]
fn workspace_members_are_candidates_and_manifest_path_is_honoured() {
    let root = crate::support::TestDir::new();
    root.write(
        "proj/Cargo.toml",
        "[workspace]\nmembers = [\"alpha\", \"beta\"]\nresolver = \"2\"\n",
    );
    for name in ["alpha", "beta"] {
        root.write(
            &format!("proj/{name}/Cargo.toml"),
            &format!("[package]\nname = \"{name}\"\nversion = \"1.2.3\"\nedition = \"2021\"\n"),
        );
        root.write(&format!("proj/{name}/src/main.rs"), "fn main() {}\n");
    }
    root.write("proj/.pmcp/deploy.toml", "[target]\ntype = \"local\"\n");
    let target_dir = root.join("target");
    // Run from outside the project: --manifest-path finds the workspace and its deploy.toml.
    let out = root
        .cmd()
        .args(["--manifest-path", "proj/Cargo.toml", "deploy", "--dry-run"])
        .output()
        .unwrap();
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{se}");
    assert!(
        se.contains("alpha (package alpha)") && se.contains("beta (package beta)"),
        "{se}"
    );
    let out = root
        .cmd()
        .args([
            "--manifest-path",
            "proj/Cargo.toml",
            "deploy",
            "--dry-run",
            "--json",
            "--bin",
            "beta",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(
        doc["target"], "local",
        "deploy.toml next to the manifest was read"
    );
    let zip = doc["artifact"]["path"].as_str().unwrap();
    assert!(zip.starts_with(target_dir.to_str().unwrap()), "{zip}");
    assert!(zip.ends_with("beta.zip"), "{zip}");
}

#[test]
fn inputs_come_from_flag_env_or_file_and_each_is_logged() {
    let project = Project::new("[target]\ntype = \"local\"\n\n[server]\nname = \"from-file\"\n");
    let zip = |out: &std::process::Output| -> String {
        let doc: Value = serde_json::from_str(stdout(out).trim()).unwrap();
        doc["artifact"]["path"].as_str().unwrap().to_string()
    };
    // The file's values, each logged with its line.
    let out = project.deploy(&["--dry-run", "--json"]).output().unwrap();
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{se}");
    assert!(
        se.contains("using target.type = local (.pmcp/deploy.toml:2)"),
        "{se}"
    );
    assert!(
        se.contains("using server.name = from-file (.pmcp/deploy.toml:5)"),
        "{se}"
    );
    assert!(zip(&out).ends_with("from-file.zip"), "{}", zip(&out));

    // The environment beats the file; the same variable names as deploy init.
    let out = project
        .deploy(&["--dry-run", "--json"])
        .env("PMCP_SERVER_NAME", "from-env")
        .env("PMCP_TARGET", "local")
        .output()
        .unwrap();
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{se}");
    assert!(
        se.contains("using target.type = local (PMCP_TARGET)"),
        "{se}"
    );
    assert!(
        se.contains("using server.name = from-env (PMCP_SERVER_NAME)"),
        "{se}"
    );
    assert!(zip(&out).ends_with("from-env.zip"), "{}", zip(&out));

    // An invalid value names the variable it came from, before anything is built.
    let project = Project::new("[target]\ntype = \"local\"\n");
    let out = project
        .deploy(&["--dry-run"])
        .env("PMCP_TARGET", "kubernetes")
        .output()
        .unwrap();
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{se}");
    assert!(
        se.contains("PMCP_TARGET `kubernetes`: expected pmcp-run, aws-lambda or local"),
        "{se}"
    );
    assert!(!project.dir.join("target").exists(), "nothing built");
    // The flag beats the variable (and is not logged: it was typed).
    let out = project
        .deploy(&["--dry-run", "--target", "local"])
        .env("PMCP_TARGET", "kubernetes")
        .output()
        .unwrap();
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{se}");
    assert!(!se.contains("using target.type"), "{se}");
    // No [server] name: the package name, said as the default.
    assert!(
        se.contains(
            "using server.name = tiny-server (default: package `tiny-server` in Cargo.toml)"
        ),
        "{se}"
    );
}
