//! `cargo pmcp auth emulator` as users run it: a child process, its ready line, then killed.

use crate::support::{SCRUBBED_ENV, TestDir, all_output};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[&str], envs: &[(&str, &str)]) -> (Killed, serde_json::Value) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-pmcp"));
    for n in SCRUBBED_ENV {
        cmd.env_remove(n);
    }
    cmd.env("CI", "true").env("NO_COLOR", "1");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn cargo-pmcp");
    let stdout = child.stdout.take().unwrap();
    let guard = Killed(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("ready line");
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    (guard, v)
}

#[test]
fn json_ready_line_then_serves_discovery() {
    let (_child, ready) = spawn(
        &["pmcp", "auth", "emulator", "--port", "0", "--json"],
        &[("ENTRA_CLIENT_SECRET", "from-the-environment")],
    );
    for k in ["authority_host", "tenant_id", "client_id", "port"] {
        assert!(ready.get(k).is_some(), "{k} in {ready}");
    }
    let authority = ready["authority_host"].as_str().unwrap();
    assert_eq!(authority, format!("http://127.0.0.1:{}", ready["port"]));
    assert_eq!(ready["tenant_id"], pmcp_entra_emulator::DEFAULT_TENANT_ID);
    assert_eq!(
        ready["client_id"],
        pmcp_entra_emulator::DEFAULT_API_CLIENT_ID
    );
    assert!(!ready.to_string().contains("from-the-environment"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let url = format!(
            "{authority}/{}/v2.0/.well-known/openid-configuration",
            ready["tenant_id"].as_str().unwrap()
        );
        let doc: serde_json::Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
        assert_eq!(
            doc["issuer"],
            format!("{authority}/{}/v2.0", ready["tenant_id"].as_str().unwrap())
        );
        // The secret from the environment works; it was never printed.
        let scope = format!("api://{}/.default", ready["client_id"].as_str().unwrap());
        let r = reqwest::Client::new()
            .post(doc["token_endpoint"].as_str().unwrap())
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", ready["client_id"].as_str().unwrap()),
                ("client_secret", "from-the-environment"),
                ("scope", &scope),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    });
}

#[test]
fn generated_secret_goes_to_a_private_file_not_the_output() {
    let dir = TestDir::new();
    let file = dir.join("secret.txt");
    let (_child, ready) = spawn(
        &[
            "auth",
            "emulator",
            "--json",
            "--secret-file",
            file.to_str().unwrap(),
            "--tenant-id",
            "4b7f2c1a-8d3e-4f6a-b2c9-1e0d5a7c3b02",
        ],
        &[],
    );
    assert_eq!(ready["client_secret_file"], file.to_str().unwrap());
    assert_eq!(ready["tenant_id"], "4b7f2c1a-8d3e-4f6a-b2c9-1e0d5a7c3b02");
    let secret = std::fs::read_to_string(&file).unwrap();
    assert!(secret.len() >= 32);
    assert!(!ready.to_string().contains(&secret));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let token_url = format!(
            "{}/{}/oauth2/v2.0/token",
            ready["authority_host"].as_str().unwrap(),
            ready["tenant_id"].as_str().unwrap()
        );
        let scope = format!("api://{}/.default", ready["client_id"].as_str().unwrap());
        let r = reqwest::Client::new()
            .post(&token_url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", ready["client_id"].as_str().unwrap()),
                ("client_secret", secret.as_str()),
                ("scope", &scope),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    });
}

#[test]
fn bad_config_file_points_at_the_line() {
    let dir = TestDir::new();
    dir.write(
        "emulator.toml",
        "key_grace_seconds = 60\n\n[[tenant]]\nid = \"9c9d4a3e-5e26-4d1c-9f0b-2f3c8e1d7a01\"\ncolour = \"blue\"\n",
    );
    let out = dir
        .cmd()
        .args(["auth", "emulator", "--config", "emulator.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = all_output(&out);
    assert!(text.contains("emulator.toml:5:1"), "{text}");
    assert!(text.contains("colour"), "{text}");
}

#[test]
fn config_with_invalid_ids_is_a_usage_error() {
    let dir = TestDir::new();
    let out = dir
        .cmd()
        .args(["auth", "emulator", "--tenant-id", "contoso.com"])
        .env("ENTRA_CLIENT_SECRET", "x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = all_output(&out);
    assert!(text.contains("not a GUID"), "{text}");
}

#[test]
fn missing_per_app_secret_env_names_the_variable() {
    let dir = TestDir::new();
    dir.write(
        "emulator.toml",
        r#"[[tenant]]
id = "9c9d4a3e-5e26-4d1c-9f0b-2f3c8e1d7a01"
domain = "contoso.onmicrosoft.com"

[[tenant.app]]
name = "API"
client_id = "6f1e2d3c-4b5a-4987-8c6d-5e4f3a2b1c03"
client_secret_env = "MY_API_SECRET"
app_roles = ["MCP.User"]
"#,
    );
    let out = dir
        .cmd()
        .args(["auth", "emulator", "--config", "emulator.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = all_output(&out);
    assert!(text.contains("MY_API_SECRET"), "{text}");
}

#[test]
fn config_file_and_token_version_flag() {
    let dir = TestDir::new();
    let cfg = dir.write(
        "emulator.toml",
        r#"[[tenant]]
id = "11111111-2222-4333-8444-555555555555"
domain = "example.onmicrosoft.com"

[[tenant.app]]
name = "My MCP API"
client_id = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
identifier_uris = ["api://my-mcp"]
app_roles = ["MCP.Admin"]
app_role_assignments = { "api://my-mcp" = ["MCP.Admin"] }
"#,
    );
    let (_child, ready) = spawn(
        &[
            "auth",
            "emulator",
            "--json",
            "--config",
            cfg.to_str().unwrap(),
            "--token-version",
            "1",
        ],
        &[("ENTRA_CLIENT_SECRET", "s3cret-from-env")],
    );
    assert_eq!(ready["tenant_id"], "11111111-2222-4333-8444-555555555555");
    assert_eq!(ready["client_id"], "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let url = format!(
            "{}/example.onmicrosoft.com/oauth2/token",
            ready["authority_host"].as_str().unwrap()
        );
        let r: serde_json::Value = reqwest::Client::new()
            .post(&url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"),
                ("client_secret", "s3cret-from-env"),
                ("resource", "api://my-mcp"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let claims: serde_json::Value =
            jsonwebtoken::dangerous::insecure_decode_claims(r["access_token"].as_str().unwrap())
                .unwrap();
        assert_eq!(claims["ver"], "1.0");
        assert_eq!(claims["aud"], "api://my-mcp");
        assert_eq!(claims["roles"], serde_json::json!(["MCP.Admin"]));
    });
}

#[test]
fn auto_approve_flag_completes_device_code_at_once() {
    let (_child, ready) = spawn(
        &[
            "auth",
            "emulator",
            "--json",
            "--auto-approve",
            "alice@contoso.onmicrosoft.com",
        ],
        &[("ENTRA_CLIENT_SECRET", "x")],
    );
    let base = format!(
        "{}/{}",
        ready["authority_host"].as_str().unwrap(),
        ready["tenant_id"].as_str().unwrap()
    );
    let scope = format!("api://{}/.default", ready["client_id"].as_str().unwrap());
    let client = pmcp_entra_emulator::DEFAULT_CLIENT_APP_ID;
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let dc: serde_json::Value = http
            .post(format!("{base}/oauth2/v2.0/devicecode"))
            .form(&[("client_id", client), ("scope", scope.as_str())])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let r = http
            .post(format!("{base}/oauth2/v2.0/token"))
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", client),
                ("device_code", dc["device_code"].as_str().unwrap()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    });
}

#[test]
fn auto_approve_of_an_unknown_user_is_refused_at_start() {
    let out = crate::support::cargo_pmcp()
        .args([
            "auth",
            "emulator",
            "--auto-approve",
            "ghost@contoso.onmicrosoft.com",
        ])
        .env("ENTRA_CLIENT_SECRET", "x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(all_output(&out).contains("ghost@contoso.onmicrosoft.com"));
}

/// `--add-tenant`: one emulator, two tenants, one key set (as Entra signs every tenant with the
/// same keys). The ready line lists the tenants; the other tenant's token carries the same `kid`,
/// so a validator for the first tenant refuses it for its issuer, not for an unknown key.
#[test]
fn added_tenants_share_the_key_set_and_are_refused_for_the_tenant() {
    use pmcp_entra_emulator::{DEFAULT_TENANT_ID, SECOND_TENANT_ID};
    let (_child, ready) = spawn(
        &[
            "pmcp",
            "auth",
            "emulator",
            "--port",
            "0",
            "--json",
            "--add-tenant",
            SECOND_TENANT_ID,
        ],
        &[("ENTRA_CLIENT_SECRET", "s3cret")],
    );
    assert_eq!(
        ready["tenant_ids"],
        serde_json::json!([DEFAULT_TENANT_ID, SECOND_TENANT_ID])
    );
    let authority = ready["authority_host"].as_str().unwrap().to_string();
    let client_id = ready["client_id"].as_str().unwrap().to_string();
    let kid = ready["kid"].as_str().unwrap().to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        for t in [DEFAULT_TENANT_ID, SECOND_TENANT_ID] {
            let keys: serde_json::Value = http
                .get(format!("{authority}/{t}/discovery/v2.0/keys"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(keys["keys"][0]["kid"], kid.as_str(), "{t}: {keys}");
        }
        let scope = format!("api://{client_id}/.default");
        let body: serde_json::Value = http
            .post(format!("{authority}/{SECOND_TENANT_ID}/oauth2/v2.0/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id.as_str()),
                ("client_secret", "s3cret"),
                ("scope", scope.as_str()),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let foreign = body["access_token"].as_str().expect("a token").to_string();
        let header = jsonwebtoken::decode_header(&foreign).unwrap();
        assert_eq!(header.kid.as_deref(), Some(kid.as_str()));
        let entra = pmcp_auth::EntraConfig::new(DEFAULT_TENANT_ID, &client_id)
            .with_authority_host(&authority);
        let validator =
            pmcp_auth::JwtValidator::new(pmcp_auth::JwtValidatorConfig::from_entra(&entra));
        let err = validator.validate(&foreign).await.unwrap_err();
        assert!(
            ["wrong_issuer", "wrong_tenant"].contains(&err.code()),
            "refused for {} ({err}), not for the tenant",
            err.code()
        );
    });
}

/// `--signing-key FILE`: the first emulator generates the key into the file (mode 0600), a second
/// one (another tenant, another process) loads it: both publish the same key.
#[test]
fn two_emulators_share_a_signing_key_file() {
    use pmcp_entra_emulator::SECOND_TENANT_ID;
    let dir = TestDir::new();
    let key = dir.path().join("keys").join("emulator-key.pem");
    let key_arg = key.to_str().unwrap();
    let (_a, a) = spawn(
        &[
            "pmcp",
            "auth",
            "emulator",
            "--port",
            "0",
            "--json",
            "--signing-key",
            key_arg,
        ],
        &[("ENTRA_CLIENT_SECRET", "x")],
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let text = std::fs::read_to_string(&key).unwrap();
    assert!(text.contains("-----BEGIN PRIVATE KEY-----"));
    assert!(!a.to_string().contains("PRIVATE KEY"));
    let (_b, b) = spawn(
        &[
            "pmcp",
            "auth",
            "emulator",
            "--port",
            "0",
            "--json",
            "--tenant-id",
            SECOND_TENANT_ID,
            "--signing-key",
            key_arg,
        ],
        &[("ENTRA_CLIENT_SECRET", "x")],
    );
    assert_eq!(a["kid"], b["kid"]);
    assert_eq!(b["tenant_ids"], serde_json::json!([SECOND_TENANT_ID]));
    assert_eq!(a["signing_key_file"], key_arg);
    // A file that is not a key is a usage error (exit 2) naming the file.
    std::fs::write(dir.path().join("bad.pem"), "not a key").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cargo-pmcp"))
        .args(["pmcp", "auth", "emulator", "--port", "0", "--signing-key"])
        .arg(dir.path().join("bad.pem"))
        .env("ENTRA_CLIENT_SECRET", "x")
        .env("CI", "true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", all_output(&out));
    assert!(all_output(&out).contains("bad.pem"), "{}", all_output(&out));
}
