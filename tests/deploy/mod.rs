//! `cargo pmcp deploy`: the built binary deploys the tiny server crate in tests/fixtures to an
//! in-process pmcp-run-compatible API (with fault injection) and to the local target.

mod api;
mod aws_lambda;
mod build;
mod contract;
mod hostile;
#[cfg(unix)]
mod local;
mod pmcp_run;

use crate::support::TestDir;
pub use crate::support::{stderr, stdout};
use std::path::PathBuf;

/// A secret value that must only ever appear in the `setServerSecret` request.
pub const SECRET_VALUE: &str = "s3cr3t-entra-client-secret-value-4b1e";
pub const TENANT: &str = "11111111-2222-3333-4444-555555555555";
pub const CLIENT: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

/// deploy.toml for a single-tenant Entra server that needs `ENTRA_CLIENT_SECRET`.
pub fn entra_toml(target: &str) -> String {
    format!(
        r#"[target]
type = "{target}"

[server]
memory_mb = 256

[auth]
enabled = true
provider = "entra"
tenant_id = "{TENANT}"
client_id = "{CLIENT}"

[environment]
LOG_LEVEL = "debug"

[secrets]
required = ["ENTRA_CLIENT_SECRET"]
"#
    )
}

/// A temp project holding a copy of tests/fixtures/tiny-server and `.pmcp/deploy.toml`.
pub struct Project {
    pub dir: TestDir,
}

impl Project {
    pub fn new(deploy_toml: &str) -> Project {
        let dir = TestDir::new();
        let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-server");
        for rel in ["Cargo.toml", "src/main.rs"] {
            dir.write(rel, &std::fs::read_to_string(fixture.join(rel)).unwrap());
        }
        dir.write(".pmcp/deploy.toml", deploy_toml);
        Project { dir }
    }

    /// `cargo-pmcp deploy --target-dir <tmp>/target <args>` with the secret set: each test gets its
    /// own target dir (its artifact, never the outer cargo lock), while cargo's intermediate build
    /// files are shared (see [`shared_build_dir`]), so the fixture compiles once per test run.
    pub fn deploy(&self, args: &[&str]) -> assert_cmd::Command {
        self.deploy_with_build_dir(args, &shared_build_dir())
    }

    /// [`Project::deploy`] with its own build dir: for a test that changes the fixture's sources
    /// (cargo's freshness check compares file times, so a changed copy must not share the build
    /// dir with untouched ones).
    pub fn deploy_private(&self, args: &[&str]) -> assert_cmd::Command {
        self.deploy_with_build_dir(args, &self.dir.join("build"))
    }

    fn deploy_with_build_dir(
        &self,
        args: &[&str],
        build_dir: &std::path::Path,
    ) -> assert_cmd::Command {
        let mut cmd = self.cmd();
        cmd.arg("deploy")
            .arg("--target-dir")
            .arg(self.dir.join("target"))
            .args(args)
            .env("ENTRA_CLIENT_SECRET", SECRET_VALUE)
            .env("CARGO_BUILD_BUILD_DIR", build_dir);
        cmd
    }
}

impl Project {
    /// `cargo-pmcp` in the project, with its own home directory ([`Project::home`]): the
    /// developer's `~/.pmcp/credentials.toml` is never read, and a test can write one.
    pub fn cmd(&self) -> assert_cmd::Command {
        let mut cmd = self.dir.cmd();
        isolate_home(&mut cmd, &self.home());
        cmd
    }

    /// The home directory the binary gets.
    pub fn home(&self) -> PathBuf {
        self.dir.join("home")
    }
}

/// `HOME` (and `USERPROFILE`) set to `home`, with cargo and rustup still found where they are.
pub fn isolate_home(cmd: &mut assert_cmd::Command, home: &std::path::Path) {
    std::fs::create_dir_all(home).unwrap();
    let real = std::env::var_os("HOME").map(PathBuf::from);
    for (var, dir) in [("CARGO_HOME", ".cargo"), ("RUSTUP_HOME", ".rustup")] {
        if std::env::var_os(var).is_none()
            && let Some(r) = &real
        {
            cmd.env(var, r.join(dir));
        }
    }
    cmd.env("HOME", home).env("USERPROFILE", home);
}

/// Cargo's build directory (intermediate files, `build.build-dir`) shared by every deploy test that
/// leaves the fixture's sources as they are: the copies are the same package with the same sources,
/// so after the first test the others find it fresh and only the final binary is copied into their
/// own target dir. A test that edits the sources uses [`Project::deploy_private`].
pub fn shared_build_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tiny-server-build")
}
