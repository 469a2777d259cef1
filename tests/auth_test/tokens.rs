//! Tokens given with `--token` (literal, `@FILE`, stdin), the validator's verdicts, v1 tokens,
//! expectations, configuration from deploy.toml, the JSON shape and the exit codes.

use super::*;
use pmcp_entra_emulator::{
    DEFAULT_DOWNSTREAM_CLIENT_ID, DEFAULT_GROUP_ADMINS, DEFAULT_GROUP_ENGINEERING, TokenOptions,
    TokenVersion,
};

fn user_token(emu: &RunningEmulator, upn: &str) -> String {
    emu.issue_user_token(upn, &TokenOptions::default())
        .unwrap()
        .secret()
        .to_string()
}

#[tokio::test]
async fn json_document_has_exactly_the_documented_shape() {
    let emu = emulator().await;
    let dir = TestDir::new();
    let token = user_token(&emu, "alice@contoso.onmicrosoft.com");
    let mut cmd = auth_test(&emu, &dir);
    cmd.args(["--token", &token, "--json"]);
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // stdout is exactly one JSON document
    assert_eq!(stdout(&out).lines().count(), 1, "{}", stdout(&out));
    let j = json(&out);
    let keys: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = vec![
        "ok",
        "exit_code",
        "stage",
        "error",
        "credential",
        "token",
        "permissions",
        "checks",
    ];
    want.sort();
    let mut got = keys.clone();
    got.sort();
    assert_eq!(got, want);
    let tkeys: Vec<&str> = j["token"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut twant = vec![
        "version",
        "issuer",
        "audience",
        "tenant_id",
        "object_id",
        "app_id",
        "app_only",
        "roles",
        "scopes",
        "groups",
        "groups_overage",
        "expires_at",
        "fingerprint",
    ];
    twant.sort();
    let mut tgot = tkeys.clone();
    tgot.sort();
    assert_eq!(tgot, twant);
    for c in j["checks"].as_array().unwrap() {
        let mut k: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
        k.sort();
        assert_eq!(k, ["detail", "name", "ok"]);
    }
    assert_eq!(j["credential"], "token");
    assert_eq!(j["exit_code"], 0);
    assert_eq!(j["error"], Value::Null);
    // the fingerprint is the first 12 hex digits of the token's SHA-256
    assert_eq!(
        j["token"]["fingerprint"],
        pmcp_auth::SecretString::new(token.clone()).fingerprint()
    );
    assert!(j["token"]["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        j["token"]["groups"],
        serde_json::json!([DEFAULT_GROUP_ENGINEERING])
    );
    assert_nothing_secret(&out, &[&token]);
}

#[tokio::test]
async fn token_from_stdin_and_from_a_file() {
    let emu = emulator().await;
    let dir = TestDir::new();
    let token = user_token(&emu, "alice@contoso.onmicrosoft.com");
    let mut cmd = auth_test(&emu, &dir);
    cmd.args(["--token", "-", "--json"])
        .write_stdin(format!("{token}\n"));
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("credential: token (from stdin)"));
    assert_nothing_secret(&out, &[&token]);

    dir.write("token.txt", &format!("Bearer {token}\r\n"));
    let mut cmd = auth_test(&emu, &dir);
    cmd.args(["--token", "@token.txt", "--json"]);
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("credential: token (from file token.txt)"));
    assert_nothing_secret(&out, &[&token]);

    let mut cmd = auth_test(&emu, &dir);
    cmd.args(["--token", "@missing.txt", "--json"]);
    let out = run(cmd).await;
    assert_failed(&out, 2, "config", "invalid_input");
}

#[tokio::test]
async fn human_output_lists_everything_but_the_token() {
    let emu = emulator().await;
    let dir = TestDir::new();
    // deploy.toml maps the admins group to permissions
    dir.write(
        ".pmcp/deploy.toml",
        &format!(
            "[auth]\nenabled = true\nprovider = \"entra\"\n\n[auth.entra.group_permissions]\n\"{DEFAULT_GROUP_ADMINS}\" = [\"deploy:servers\"]\n"
        ),
    );
    let token = user_token(&emu, "admin@contoso.onmicrosoft.com");
    let mut cmd = auth_test(&emu, &dir);
    cmd.args(["--token", &token, "--expect-group", DEFAULT_GROUP_ADMINS])
        .args([
            "--expect-permission",
            "deploy:servers",
            "--expect-role",
            "MCP.Admin",
        ]);
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = stdout(&out);
    for needle in [
        "version       2.0",
        &format!("issuer        {}", emu.issuer()),
        &format!("audience      {}", emu.client_id()),
        &format!("tenant        {}", emu.tenant_id()),
        "object id",
        "app id",
        "kind          user (delegated)",
        "roles         MCP.Admin, MCP.User",
        "scopes        access_as_user",
        DEFAULT_GROUP_ADMINS,
        "deploy:servers",
        "admin:*",
        "expires       in ",
        &format!(
            "fingerprint   {}",
            pmcp_auth::SecretString::new(token.clone()).fingerprint()
        ),
        &format!("ok   group {DEFAULT_GROUP_ADMINS}: member"),
        "ok   permission deploy:servers: granted",
    ] {
        assert!(report.contains(needle), "`{needle}` missing:\n{report}");
    }
    assert!(
        !stderr(&out).contains("fingerprint"),
        "without --json the report goes to stdout alone: {}",
        stderr(&out)
    );
    assert_nothing_secret(&out, &[&token]);
}

#[tokio::test]
async fn v1_tokens_are_rejected_unless_accepted() {
    let emu = emulator().await;
    let dir = TestDir::new();
    let token = emu
        .issue_app_token(
            &emu.client_id(),
            &TokenOptions {
                version: Some(TokenVersion::V1),
                ..TokenOptions::default()
            },
        )
        .unwrap()
        .secret()
        .to_string();
    let mut cmd = auth_test(&emu, &dir);
    cmd.args(["--token", &token, "--json"]);
    let out = run(cmd).await;
    let j = assert_failed(&out, 4, "validate", "v1_token");
    assert!(
        j["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("requestedAccessTokenVersion")
    );
    // the token's claims are still shown, marked unverified
    assert_eq!(j["token"]["version"], "1.0");
    assert!(stderr(&out).contains("NOT verified"));

    let mut cmd = auth_test(&emu, &dir);
    cmd.args(["--token", &token, "--accept-v1", "--json"]);
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["token"]["version"], "1.0");
    assert_nothing_secret(&out, &[&token]);
}

#[tokio::test]
async fn invalid_tokens_exit_4_with_the_validator_code() {
    let emu = emulator().await;
    let dir = TestDir::new();
    let expired = emu
        .issue_app_token(
            &emu.client_id(),
            &TokenOptions {
                issued_at: Some(emu.now() - 7200),
                lifetime_seconds: Some(3600),
                ..TokenOptions::default()
            },
        )
        .unwrap();
    let mut cmd = auth_test(&emu, &dir);
    cmd.args(["--token", expired.secret(), "--json"]);
    let before = unix_now();
    let out = run(cmd).await;
    let after = unix_now();
    let j = assert_failed(&out, 4, "validate", "expired");
    let exp = parse_rfc3339(j["token"]["expires_at"].as_str().unwrap());
    let shown = shown_minutes(&stderr(&out), "expired ");
    assert!(
        ((before - exp) / 60..=(after - exp) / 60).contains(&shown),
        "{shown}: {}",
        stderr(&out)
    );

    let other_api = emu
        .issue_app_token(
            &emu.client_id(),
            &TokenOptions {
                resource: Some(DEFAULT_DOWNSTREAM_CLIENT_ID.into()),
                ..TokenOptions::default()
            },
        )
        .unwrap();
    let mut cmd = auth_test(&emu, &dir);
    cmd.args(["--token", other_api.secret(), "--json"]);
    let out = run(cmd).await;
    let j = assert_failed(&out, 4, "validate", "wrong_audience");
    assert_eq!(j["token"]["audience"], DEFAULT_DOWNSTREAM_CLIENT_ID);

    let mut cmd = auth_test(&emu, &dir);
    cmd.args(["--token", "not-a-jwt", "--json"]);
    let out = run(cmd).await;
    assert_failed(&out, 4, "validate", "malformed");
    assert_nothing_secret(&out, &[expired.secret(), other_api.secret()]);
}

#[tokio::test]
async fn unmet_expectations_exit_5_and_list_each() {
    let emu = emulator().await;
    let dir = TestDir::new();
    let token = user_token(&emu, "alice@contoso.onmicrosoft.com");
    let mut cmd = auth_test(&emu, &dir);
    cmd.args([
        "--token",
        &token,
        "--expect-role",
        "MCP.Admin",
        "--expect-role",
        "MCP.User",
    ])
    .args([
        "--expect-scope",
        "Files.Read",
        "--expect-group",
        DEFAULT_GROUP_ADMINS,
    ])
    .args(["--expect-permission", "admin:users", "--json"]);
    let out = run(cmd).await;
    let j = assert_failed(&out, 5, "expect", "expectation_not_met");
    let checks = j["checks"].as_array().unwrap();
    let by_name = |n: &str| {
        checks
            .iter()
            .find(|c| c["name"] == n)
            .unwrap_or_else(|| panic!("{n} in {j}"))
            .clone()
    };
    assert_eq!(by_name("role MCP.User")["ok"], true);
    assert_eq!(by_name("role MCP.Admin")["ok"], false);
    assert_eq!(by_name("scope Files.Read")["ok"], false);
    assert_eq!(
        by_name(&format!("group {DEFAULT_GROUP_ADMINS}"))["ok"],
        false
    );
    assert_eq!(by_name("permission admin:users")["ok"], false);
    let msg = j["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("role `MCP.Admin`") && msg.contains("scope `Files.Read`"),
        "{msg}"
    );
    assert!(stderr(&out).contains("FAIL role MCP.Admin: not in roles [MCP.User]"));
}

#[tokio::test]
async fn groups_overage_is_reported_and_grants_no_group_permission() {
    let emu = emulator().await;
    let dir = TestDir::new();
    let token = user_token(&emu, "overage@contoso.onmicrosoft.com");
    let mut cmd = auth_test(&emu, &dir);
    cmd.args([
        "--token",
        &token,
        "--expect-group",
        DEFAULT_GROUP_ENGINEERING,
        "--json",
    ])
    .env(
        "AUTH_GROUP_PERMISSIONS",
        format!("{{\"{DEFAULT_GROUP_ENGINEERING}\": [\"deploy:servers\"]}}"),
    );
    let out = run(cmd).await;
    let j = assert_failed(&out, 5, "expect", "expectation_not_met");
    assert_eq!(j["token"]["groups_overage"], true);
    assert!(
        !j["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "deploy:servers")
    );
    assert!(stderr(&out).contains("overage"), "{}", stderr(&out));
}

#[tokio::test]
async fn inputs_come_from_deploy_toml_when_no_flag_or_env() {
    let emu = emulator().await;
    let dir = TestDir::new();
    dir.write(
        ".pmcp/deploy.toml",
        &format!(
            "# the API\n[auth]\nenabled = true\nprovider = \"entra\"\ntenant_id = \"{}\"\nclient_id = \"{}\"\nleewy = 60\n\n[auth.entra]\nauthority_host = \"{}\"\naccept_v1_tokens = true\n",
            emu.tenant_id(),
            emu.client_id(),
            emu.authority_host()
        ),
    );
    dir.write("sub/dir/.keep", "");
    let token = emu
        .issue_app_token(
            &emu.client_id(),
            &TokenOptions {
                version: Some(TokenVersion::V1),
                ..TokenOptions::default()
            },
        )
        .unwrap();
    let mut cmd = dir.cmd();
    cmd.current_dir(dir.join("sub/dir")).args([
        "auth",
        "test",
        "--token",
        token.secret(),
        "--json",
    ]);
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    // The shared resolver's log line: the key, the value and the file position it came from.
    let tenant_line = format!("using auth.tenant_id = {} (", emu.tenant_id());
    assert!(
        err.lines()
            .any(|l| l.starts_with(&tenant_line) && l.ends_with(".pmcp/deploy.toml:5)")),
        "{err}"
    );
    assert!(
        err.lines()
            .any(|l| l.starts_with("using auth.entra.authority_host = ")
                && l.ends_with(".pmcp/deploy.toml:10)")),
        "{err}"
    );
    // the typo guard deploy and init apply: a misspelt key is named, not silently ignored
    assert!(err.contains("unknown key `leewy` in [auth]"), "{err}");

    // env beats deploy.toml; a flag beats env
    let mut cmd = dir.cmd();
    cmd.args(["auth", "test", "--token", token.secret(), "--json"])
        .env("ENTRA_TENANT_ID", "0a0b0c0d-0000-4000-8000-000000000000");
    let out = run(cmd).await;
    assert!(
        stderr(&out).contains("(ENTRA_TENANT_ID)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(code(&out), 4, "another tenant's issuer: {}", stderr(&out));
    let mut cmd = dir.cmd();
    cmd.args([
        "auth",
        "test",
        "--token",
        token.secret(),
        "--tenant-id",
        &emu.tenant_id(),
        "--json",
    ])
    .env("ENTRA_TENANT_ID", "0a0b0c0d-0000-4000-8000-000000000000");
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[tokio::test]
async fn missing_inputs_and_bad_deploy_toml_exit_2() {
    let dir = TestDir::new();
    let mut cmd = dir.cmd();
    cmd.args(["auth", "test", "--json"]);
    let out = run(cmd).await;
    let j = assert_failed(&out, 2, "config", "missing_input");
    let msg = j["error"]["message"].as_str().unwrap();
    for needle in [
        "--tenant-id",
        "ENTRA_TENANT_ID",
        "--client-id",
        "ENTRA_CLIENT_ID",
        "auth.client_id",
    ] {
        assert!(msg.contains(needle), "{needle}: {msg}");
    }

    dir.write(".pmcp/deploy.toml", "[auth\nprovider = 1\n");
    let mut cmd = dir.cmd();
    cmd.args(["auth", "test", "--json"]);
    let out = run(cmd).await;
    let j = assert_failed(&out, 2, "config", "deploy_toml");
    assert!(
        j["error"]["message"]
            .as_str()
            .unwrap()
            .contains("deploy.toml:1:"),
        "{j}"
    );

    let dir = TestDir::new();
    let mut cmd = dir.cmd();
    cmd.args(["auth", "test", "--tenant-id", "t", "--client-id", "c"])
        .args(["--authority-host", "http://login.example.com", "--json"]);
    let out = run(cmd).await;
    let j = assert_failed(&out, 2, "config", "invalid_input");
    assert!(
        j["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--authority-host")
    );

    // clap usage errors are exit 2 too
    let mut cmd = dir.cmd();
    cmd.args(["auth", "test", "--credential", "password"]);
    let out = run(cmd).await;
    assert_eq!(code(&out), 2);
}

#[tokio::test]
async fn multi_tenant_accepts_other_tenants_within_the_allow_list() {
    use pmcp_entra_emulator::{DEFAULT_TENANT_ID, SECOND_TENANT_ID};
    let emu = emulator_with(EmulatorConfig::with_second_tenant()).await;
    let dir = TestDir::new();
    let other = emu
        .issue_app_token(
            &emu.client_id(),
            &TokenOptions {
                tenant: Some(SECOND_TENANT_ID.into()),
                ..TokenOptions::default()
            },
        )
        .unwrap();
    // single-tenant: another tenant's token is rejected
    let mut cmd = auth_test(&emu, &dir);
    cmd.args(["--token", other.secret(), "--json"]);
    let out = run(cmd).await;
    assert_eq!(code(&out), 4, "{}", stderr(&out));

    // multi-tenant, but only the first tenant allowed
    let mut cmd = auth_test(&emu, &dir);
    cmd.args([
        "--token",
        other.secret(),
        "--multi-tenant",
        "--allowed-tenant",
        DEFAULT_TENANT_ID,
        "--json",
    ]);
    let out = run(cmd).await;
    assert_failed(&out, 4, "validate", "tenant_not_allowed");

    // multi-tenant, any tenant
    let mut cmd = auth_test(&emu, &dir);
    cmd.args(["--token", other.secret(), "--multi-tenant", "--json"]);
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["token"]["tenant_id"], SECOND_TENANT_ID);
    assert_nothing_secret(&out, &[other.secret()]);
}
