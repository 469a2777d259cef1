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
}

#[test]
fn missing_auth_key_names_it() {
    let project =
        Project::new("[target]\ntype = \"local\"\n[auth]\nenabled = true\nclient_id = \"c\"\n");
    let out = project.deploy(&[]).output().unwrap();
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{se}");
    assert!(se.contains("`auth.tenant_id` is not set"), "{se}");
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
    let out = project.deploy(&["--dry-run"]).output().unwrap();
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{se}");
    assert!(se.contains("several binaries"), "{se}");
    assert!(se.contains("tiny-server") && se.contains("admin"), "{se}");
    assert!(se.contains("--bin"), "{se}");
    let out = project
        .deploy(&["--dry-run", "--bin", "nope"])
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
    let out = project.deploy(&[]).output().unwrap();
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
