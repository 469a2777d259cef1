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
