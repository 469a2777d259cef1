//! Shared helpers for the integration tests: a temp dir and a ready `cargo-pmcp` command that runs
//! the way CI runs it (no TTY, `CI=true`, no colors, no Entra/Azure variables inherited).

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// Variables a developer's shell might carry that would change what the binary does.
pub const SCRUBBED_ENV: &[&str] = &[
    "ENTRA_TENANT_ID",
    "AZURE_TENANT_ID",
    "ENTRA_CLIENT_ID",
    "AZURE_CLIENT_ID",
    "ENTRA_CLIENT_SECRET",
    "AZURE_CLIENT_SECRET",
    "ENTRA_AUTHORITY_HOST",
    "AZURE_AUTHORITY_HOST",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_FEDERATED_TOKEN_FILE",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "GITHUB_ACTIONS",
    "GITHUB_STEP_SUMMARY",
    "OIDC_CLIENT_ID",
    "OIDC_CLIENT_SECRET",
    "PMCP_API_URL",
    "PMCP_RUN_API_URL",
    "PMCP_RUN_COGNITO_CLIENT_ID",
    "PMCP_RUN_COGNITO_DOMAIN",
    "PMCP_RUN_GRAPHQL_URL",
    "PMCP_ACCESS_TOKEN",
    "PMCP_ID_TOKEN",
    "PMCP_CLIENT_ID",
    "PMCP_CLIENT_SECRET",
    "PMCP_EMULATOR_PORT",
    "PMCP_EMULATOR_CONFIG",
    "PMCP_EMULATOR_SIGNING_KEY",
    "PMCP_AUTH_PATH",
    // Inputs the shared resolver reads (src/config/inputs.rs), canonical names and aliases.
    "PMCP_TARGET",
    "PMCP_SERVER_NAME",
    "PMCP_REDIRECT_URI",
    "PMCP_OAUTH",
    "PMCP_API_URL",
    "AUTH_PROVIDER",
    "AUTH_ISSUER",
    "AUTH_AUDIENCE",
    "AUTH_JWKS_URI",
    "AUTH_MULTI_TENANT",
    "AUTH_ALLOWED_TENANTS",
    "AUTH_ACCEPT_V1_TOKENS",
    "AUTH_LEEWAY_SECONDS",
    "AUTH_GROUP_PERMISSIONS",
    "ENTRA_MULTI_TENANT",
    "ENTRA_ALLOWED_TENANTS",
    "OIDC_ISSUER",
    "OIDC_AUDIENCE",
];

/// A temp directory that lives as long as the value.
pub struct TestDir {
    pub dir: tempfile::TempDir,
}

impl TestDir {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Write a file (creating parent directories).
    pub fn write(&self, rel: &str, contents: &str) -> PathBuf {
        let p = self.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, contents).unwrap();
        p
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// A minimal cargo package named `name` in this directory (Cargo.toml + src/main.rs).
    pub fn cargo_package(&self, name: &str) {
        self.write(
            "Cargo.toml",
            &format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n\n[dependencies]\n"
            ),
        );
        self.write("src/main.rs", "fn main() {}\n");
    }

    /// `cargo-pmcp` run in this directory as CI runs it.
    pub fn cmd(&self) -> assert_cmd::Command {
        let mut cmd = cargo_pmcp();
        cmd.current_dir(self.path());
        cmd
    }
}

/// The built `cargo-pmcp` binary with a CI-like environment.
pub fn cargo_pmcp() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_cargo-pmcp"));
    for name in SCRUBBED_ENV {
        cmd.env_remove(name);
    }
    cmd.env("CI", "true")
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE");
    cmd
}

/// A run's stdout as text.
pub fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A run's stderr as text.
pub fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Stdout and stderr of an assert_cmd output as one string (for "no secret anywhere" checks).
pub fn all_output(out: &std::process::Output) -> String {
    format!("{}\n{}", stdout(out), stderr(out))
}

/// `tests/js`: the official MCP TypeScript SDK (`@modelcontextprotocol/sdk`, pinned by its
/// package-lock.json) and the node scripts that drive servers with it.
pub fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js")
}

/// Whether the TypeScript SDK client tests can run: `node` on the PATH and the SDK installed
/// (`npm ci --prefix tests/js`, which `.ci/run` does). Under `CI` a missing piece fails the test
/// (it must run there); on a developer machine the test says so and passes.
pub fn typescript_sdk_available() -> bool {
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let sdk = js_dir()
        .join("node_modules/@modelcontextprotocol/sdk")
        .is_dir();
    if node && sdk {
        return true;
    }
    let missing = if node {
        "tests/js/node_modules (run `npm ci --prefix tests/js`)"
    } else {
        "`node` (Node.js 18 or newer) on the PATH"
    };
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
    assert!(
        !ci,
        "the MCP TypeScript SDK tests need {missing}; under CI they must run"
    );
    eprintln!("SKIPPED: the MCP TypeScript SDK tests need {missing}");
    false
}
