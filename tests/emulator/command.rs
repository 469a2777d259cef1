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
