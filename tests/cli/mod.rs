//! The binary runs both as `cargo pmcp …` and as `cargo-pmcp …`.

use crate::support::cargo_pmcp;

#[test]
fn runs_as_cargo_subcommand_and_directly() {
    let a = cargo_pmcp().args(["pmcp", "--help"]).output().unwrap();
    assert!(a.status.success());
    let b = cargo_pmcp().args(["--help"]).output().unwrap();
    assert!(b.status.success());
    assert_eq!(a.stdout, b.stdout);
    let text = String::from_utf8_lossy(&a.stdout);
    assert!(text.contains("deploy"), "{text}");
    assert!(text.contains("auth"), "{text}");
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let out = cargo_pmcp()
        .args(["pmcp", "deploy", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Every `--json` failure is one document of one shape on stdout, whatever the verb and whatever
/// failed (a usage error clap reports, a config error, a verb's own failure).
#[test]
fn every_json_failure_has_one_shape() {
    let dir = crate::support::TestDir::new();
    dir.cargo_package("shape");
    let cases: &[&[&str]] = &[
        &["pmcp", "deploy", "--no-such-flag", "--json"],
        &["pmcp", "--json", "auth", "test", "--no-such-flag"],
        &["pmcp", "deploy", "--json", "--target", "nowhere"],
        &[
            "pmcp", "deploy", "init", "--json", "--target", "local", "--oauth", "entra",
        ],
        &[
            "pmcp", "deploy", "destroy", "--json", "--target", "pmcp-run",
        ],
        &[
            "pmcp",
            "auth",
            "emulator",
            "--json",
            "--config",
            "/no/such/emulator.toml",
        ],
        &[
            "pmcp",
            "auth",
            "test",
            "--json",
            "--tenant-id",
            "not a tenant",
            "--client-id",
            "x",
        ],
    ];
    for args in cases {
        // An empty home: a pmcp.run sign-in of the developer's is never used by a test.
        let out = dir
            .cmd()
            .env("HOME", dir.join("home"))
            .args(*args)
            .output()
            .unwrap();
        let code = out.status.code().unwrap();
        assert_ne!(code, 0, "{args:?} succeeded");
        let so = String::from_utf8_lossy(&out.stdout);
        let doc: serde_json::Value = serde_json::from_str(so.trim())
            .unwrap_or_else(|e| panic!("{args:?}: stdout is not one JSON document ({e}): {so}"));
        assert_eq!(doc["ok"], false, "{args:?}: {doc}");
        assert_eq!(doc["exit_code"], code, "{args:?}: {doc}");
        assert!(doc["error"]["code"].is_string(), "{args:?}: {doc}");
        assert!(
            doc["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{args:?}: {doc}"
        );
        assert!(doc["error"].get("hint").is_some(), "{args:?}: {doc}");
    }
}
