//! Every credential kind against the emulator, and every AADSTS case `auth test` explains.

use super::fakes::{FakeEntraErrors, FakeIssuer, GH_REQUEST_TOKEN};
use super::*;
use pmcp_entra_emulator::{DEFAULT_API_SCOPE, DEFAULT_CLIENT_APP_ID, FederatedCredential};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/auth_test");

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

fn cert_pem() -> String {
    std::fs::read_to_string(fixture("client-cert.pem")).unwrap()
}

#[tokio::test]
async fn client_secret_from_env_gets_an_app_token_that_validates() {
    let emu = emulator().await;
    let dir = TestDir::new();
    let mut cmd = auth_test(&emu, &dir);
    cmd.env("ENTRA_CLIENT_SECRET", SECRET)
        .args(["--expect-role", "MCP.Service", "--json"]);
    let before = unix_now();
    let out = run(cmd).await;
    let after = unix_now();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(j["ok"], true);
    assert_eq!(j["stage"], Value::Null);
    assert_eq!(j["credential"], "secret");
    assert_eq!(j["token"]["version"], "2.0");
    assert_eq!(j["token"]["issuer"], emu.issuer());
    assert_eq!(j["token"]["audience"], emu.client_id());
    assert_eq!(j["token"]["tenant_id"], emu.tenant_id());
    assert_eq!(j["token"]["app_only"], true);
    assert_eq!(j["token"]["roles"], serde_json::json!(["MCP.Service"]));
    let err = stderr(&out);
    assert!(
        err.contains("credential: secret (client secret from ENTRA_CLIENT_SECRET)"),
        "{err}"
    );
    assert!(err.contains("kind          app-only"), "{err}");
    // "expires in N min", N counted from the moment the command ran
    let exp = parse_rfc3339(j["token"]["expires_at"].as_str().unwrap());
    let shown = shown_minutes(&err, "expires       in ");
    assert!(
        ((exp - after) / 60..=(exp - before) / 60).contains(&shown),
        "{shown} min: {err}"
    );
    assert!(shown >= 50, "a fresh app token lives about an hour: {err}");
    assert!(err.contains("ok: the token is valid"), "{err}");
    assert_nothing_secret(&out, &[]);
}

#[tokio::test]
async fn client_secret_from_azure_env_and_from_stdin() {
    let emu = emulator().await;
    let dir = TestDir::new();
    let mut cmd = auth_test(&emu, &dir);
    cmd.env("AZURE_CLIENT_SECRET", SECRET).arg("--json");
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("client secret from AZURE_CLIENT_SECRET"));

    let mut cmd = auth_test(&emu, &dir);
    cmd.args(["--client-secret-stdin", "--json"])
        .write_stdin(format!("{SECRET}\n"));
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["credential"], "secret");
    assert!(stderr(&out).contains("client secret from stdin"));
    assert_nothing_secret(&out, &[]);
}

#[tokio::test]
async fn certificate_assertion_ps256_by_default_and_rs256_with_the_flag() {
    let emu = emulator().await;
    emu.add_certificate(&emu.tenant_id(), &emu.client_id(), &cert_pem())
        .unwrap();
    let dir = TestDir::new();
    for extra in [&[][..], &["--rs256-assertion"][..]] {
        let mut cmd = auth_test(&emu, &dir);
        cmd.args(["--certificate", &fixture("client.pem"), "--json"])
            .args(extra);
        let out = run(cmd).await;
        assert_eq!(code(&out), 0, "{extra:?}: {}", stderr(&out));
        assert_eq!(json(&out)["credential"], "certificate");
        let err = stderr(&out);
        assert!(
            err.contains("thumbprint 847E73D3D9CE9709B3A17151B353F7306B3E6000"),
            "{err}"
        );
        assert_nothing_secret(&out, &[]);
    }
    // AZURE_CLIENT_CERTIFICATE_PATH, PKCS#1 key first, picked by auto
    let mut cmd = auth_test(&emu, &dir);
    cmd.env("AZURE_CLIENT_CERTIFICATE_PATH", fixture("client-pkcs1.pem"))
        .arg("--json");
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["credential"], "certificate");
    assert!(stderr(&out).contains("from AZURE_CLIENT_CERTIFICATE_PATH"));
}

#[tokio::test]
async fn certificate_not_registered_and_unreadable_pem() {
    let emu = emulator().await;
    let dir = TestDir::new();
    let mut cmd = auth_test(&emu, &dir);
    cmd.args(["--certificate", &fixture("client.pem"), "--json"]);
    let out = run(cmd).await;
    let j = assert_failed(&out, 3, "acquire", "AADSTS700027");
    assert!(
        j["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("Upload the public certificate")
    );

    dir.write(
        "bad.pem",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    let mut cmd = auth_test(&emu, &dir);
    cmd.args(["--certificate", "bad.pem", "--json"]);
    let out = run(cmd).await;
    let j = assert_failed(&out, 2, "config", "certificate");
    assert!(
        j["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no private key"),
        "{j}"
    );
}

#[tokio::test]
async fn assertion_outside_its_time_range_is_700024() {
    let emu = emulator().await;
    emu.add_certificate(&emu.tenant_id(), &emu.client_id(), &cert_pem())
        .unwrap();
    // The emulator's clock runs two hours ahead of ours: our assertion has expired for it.
    emu.advance_clock(std::time::Duration::from_secs(7200));
    let dir = TestDir::new();
    let mut cmd = auth_test(&emu, &dir);
    cmd.args(["--certificate", &fixture("client.pem"), "--json"]);
    let out = run(cmd).await;
    let j = assert_failed(&out, 3, "acquire", "AADSTS700024");
    assert!(
        j["error"]["hint"].as_str().unwrap().contains("clock"),
        "{j}"
    );
}

const K8S_SUBJECT: &str = "system:serviceaccount:mcp:server";

#[tokio::test]
async fn federated_token_file_is_exchanged() {
    let emu = emulator().await;
    let issuer = FakeIssuer::start("unused").await;
    emu.add_federated_credential(
        &emu.tenant_id(),
        &emu.client_id(),
        FederatedCredential::new(&issuer.base, K8S_SUBJECT),
    )
    .unwrap();
    let dir = TestDir::new();
    let assertion = issuer.token(K8S_SUBJECT, "api://AzureADTokenExchange");
    let file = dir.write("projected/token", &assertion);
    let mut cmd = auth_test(&emu, &dir);
    cmd.env("AZURE_FEDERATED_TOKEN_FILE", &file)
        .args(["--expect-role", "MCP.Service", "--json"]);
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(j["credential"], "federated");
    assert_eq!(j["token"]["app_only"], true);
    assert_nothing_secret(&out, &[&assertion]);
}

#[tokio::test]
async fn federated_mismatch_shows_the_assertion_iss_and_sub_700213_700211() {
    let emu = emulator().await;
    let issuer = FakeIssuer::start("unused").await;
    emu.add_federated_credential(
        &emu.tenant_id(),
        &emu.client_id(),
        FederatedCredential::new(&issuer.base, K8S_SUBJECT),
    )
    .unwrap();
    let dir = TestDir::new();
    // wrong subject (case differs: matching is case-sensitive)
    let wrong_sub = "system:serviceaccount:MCP:server";
    let file = dir.write(
        "token",
        &issuer.token(wrong_sub, "api://AzureADTokenExchange"),
    );
    let mut cmd = auth_test(&emu, &dir);
    cmd.env("AZURE_FEDERATED_TOKEN_FILE", &file).arg("--json");
    let out = run(cmd).await;
    let j = assert_failed(&out, 3, "acquire", "AADSTS700213");
    let hint = j["error"]["hint"].as_str().unwrap();
    assert!(
        hint.contains(&format!("issuer:   {}", issuer.base)),
        "{hint}"
    );
    assert!(hint.contains(&format!("subject:  {wrong_sub}")), "{hint}");
    assert!(
        hint.contains("audience: api://AzureADTokenExchange"),
        "{hint}"
    );
    let err = stderr(&out);
    assert!(err.contains(&format!("subject:  {wrong_sub}")), "{err}");

    // wrong issuer
    let other = FakeIssuer::start("unused").await;
    std::fs::write(
        &file,
        other.token(K8S_SUBJECT, "api://AzureADTokenExchange"),
    )
    .unwrap();
    let mut cmd = auth_test(&emu, &dir);
    cmd.env("AZURE_FEDERATED_TOKEN_FILE", &file).arg("--json");
    let out = run(cmd).await;
    let j = assert_failed(&out, 3, "acquire", "AADSTS700211");
    let hint = j["error"]["hint"].as_str().unwrap();
    assert!(
        hint.contains(&format!("issuer:   {}", other.base)),
        "{hint}"
    );
    assert_nothing_secret(
        &out,
        &issuer
            .issued()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
}

#[tokio::test]
async fn federated_token_file_missing_is_an_acquire_failure() {
    let emu = emulator().await;
    let dir = TestDir::new();
    let mut cmd = auth_test(&emu, &dir);
    cmd.env("AZURE_FEDERATED_TOKEN_FILE", dir.join("nope"))
        .arg("--json");
    let out = run(cmd).await;
    assert_failed(&out, 3, "acquire", "federated_token_file");
}

const GH_SUBJECT: &str = "repo:contoso/mcp-server:ref:refs/heads/main";

#[tokio::test]
async fn github_actions_oidc_requests_the_cloud_audience_and_exchanges_it() {
    let emu = emulator().await;
    let gh = FakeIssuer::start(GH_SUBJECT).await;
    emu.add_federated_credential(
        &emu.tenant_id(),
        &emu.client_id(),
        FederatedCredential::new(&gh.base, GH_SUBJECT),
    )
    .unwrap();
    let dir = TestDir::new();
    let mut cmd = auth_test(&emu, &dir);
    cmd.env("ACTIONS_ID_TOKEN_REQUEST_URL", gh.request_url())
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", GH_REQUEST_TOKEN)
        .args(["--credential", "github", "--json"]);
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["credential"], "github");
    assert_eq!(gh.requested_audiences(), ["api://AzureADTokenExchange"]);
    assert!(stderr(&out).contains("audience api://AzureADTokenExchange"));
    let issued = gh.issued();
    let mut secrets: Vec<&str> = issued.iter().map(String::as_str).collect();
    secrets.push(GH_REQUEST_TOKEN);
    assert_nothing_secret(&out, &secrets);
}

#[tokio::test]
async fn github_in_a_national_cloud_asks_for_that_clouds_audience() {
    let emu = emulator().await;
    let gh = FakeIssuer::start(GH_SUBJECT).await;
    emu.add_federated_credential(
        &emu.tenant_id(),
        &emu.client_id(),
        FederatedCredential {
            audience: "api://AzureADTokenExchangeUSGov".into(),
            ..FederatedCredential::new(&gh.base, GH_SUBJECT)
        },
    )
    .unwrap();
    let dir = TestDir::new();
    let mut cmd = auth_test(&emu, &dir);
    cmd.env("ACTIONS_ID_TOKEN_REQUEST_URL", gh.request_url())
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", GH_REQUEST_TOKEN)
        .args(["--cloud", "usgov", "--json"]);
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        gh.requested_audiences(),
        ["api://AzureADTokenExchangeUSGov"]
    );
    // --authority-host still wins for the host: the emulator answered
    assert_eq!(json(&out)["token"]["issuer"], emu.issuer());
}

#[tokio::test]
async fn github_subject_mismatch_names_the_subject_to_register() {
    let emu = emulator().await;
    let gh = FakeIssuer::start("repo:contoso/mcp-server:environment:production").await;
    emu.add_federated_credential(
        &emu.tenant_id(),
        &emu.client_id(),
        FederatedCredential::new(&gh.base, GH_SUBJECT),
    )
    .unwrap();
    let dir = TestDir::new();
    let mut cmd = auth_test(&emu, &dir);
    cmd.env("ACTIONS_ID_TOKEN_REQUEST_URL", gh.request_url())
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", GH_REQUEST_TOKEN)
        .arg("--json");
    let out = run(cmd).await;
    let j = assert_failed(&out, 3, "acquire", "AADSTS700213");
    assert_eq!(j["credential"], "github");
    let hint = j["error"]["hint"].as_str().unwrap();
    assert!(
        hint.contains("subject:  repo:contoso/mcp-server:environment:production"),
        "{hint}"
    );
}

/// An emulator where every device code is approved by alice at once.
fn alice_signs_in() -> EmulatorConfig {
    EmulatorConfig {
        device_code_auto_approve: Some("alice@contoso.onmicrosoft.com".into()),
        ..EmulatorConfig::default()
    }
}

#[tokio::test]
async fn device_code_yields_a_delegated_token_with_scp() {
    let emu = emulator_with(alice_signs_in()).await;
    let dir = TestDir::new();
    let scope = format!("api://{}/{DEFAULT_API_SCOPE}", emu.client_id());
    let mut cmd = auth_test(&emu, &dir);
    cmd.args([
        "--credential",
        "device-code",
        "--caller-client-id",
        DEFAULT_CLIENT_APP_ID,
    ])
    .args([
        "--scope",
        &scope,
        "--expect-scope",
        DEFAULT_API_SCOPE,
        "--expect-role",
        "MCP.User",
    ])
    .args(["--expect-permission", "read:tools", "--json"]);
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(j["credential"], "device-code");
    assert_eq!(j["token"]["app_only"], false);
    assert_eq!(j["token"]["scopes"], serde_json::json!([DEFAULT_API_SCOPE]));
    assert_eq!(j["token"]["app_id"], DEFAULT_CLIENT_APP_ID);
    let err = stderr(&out);
    assert!(err.contains("enter the code"), "{err}");
    assert!(err.contains("kind          user (delegated)"), "{err}");
    assert_nothing_secret(&out, &[]);
}

#[tokio::test]
async fn device_code_with_an_unknown_scope_is_70011() {
    let emu = emulator_with(alice_signs_in()).await;
    let dir = TestDir::new();
    let mut cmd = auth_test(&emu, &dir);
    cmd.args([
        "--credential",
        "device-code",
        "--caller-client-id",
        DEFAULT_CLIENT_APP_ID,
    ])
    .args([
        "--scope",
        &format!("api://{}/Files.ReadWrite", emu.client_id()),
        "--json",
    ]);
    let out = run(cmd).await;
    assert_failed(&out, 3, "acquire", "AADSTS70011");
}

/// One failing `auth test` run against the emulator with a client secret.
async fn secret_run(emu: &RunningEmulator, secret: &str, extra: &[&str]) -> Output {
    let dir = TestDir::new();
    let mut cmd = auth_test(emu, &dir);
    cmd.env("ENTRA_CLIENT_SECRET", secret)
        .args(extra)
        .arg("--json");
    run(cmd).await
}

#[tokio::test]
async fn aadsts_cases_from_the_emulator_are_explained() {
    let emu = emulator().await;
    let api = emu.client_id();

    // 7000215: the secret's ID pasted instead of its value
    let out = secret_run(&emu, "3f1c9a2e-8b7d-4e6f-a5c4-1b2d3e4f5a6b", &[]).await;
    let j = assert_failed(&out, 3, "acquire", "AADSTS7000215");
    let msg = j["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("trace id") && msg.contains("correlation id"),
        "{msg}"
    );
    assert!(j["error"]["hint"].as_str().unwrap().contains("Secret ID"));
    let err = stderr(&out);
    assert!(err.contains("trace id"), "{err}");
    assert_nothing_secret(&out, &["3f1c9a2e-8b7d-4e6f-a5c4-1b2d3e4f5a6b"]);

    // 700016: unknown client
    let out = secret_run(
        &emu,
        SECRET,
        &["--caller-client-id", "11111111-2222-4333-8444-555555555555"],
    )
    .await;
    let j = assert_failed(&out, 3, "acquire", "AADSTS700016");
    assert!(
        j["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("11111111-2222-4333-8444-555555555555")
    );

    // 90002: wrong tenant (or wrong cloud)
    let out = secret_run(
        &emu,
        SECRET,
        &["--tenant-id", "0a0b0c0d-0000-4000-8000-000000000000"],
    )
    .await;
    let j = assert_failed(&out, 3, "acquire", "AADSTS90002");
    assert!(
        j["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("--cloud usgov")
    );

    // 500011: the API in the scope does not exist in the tenant
    let out = secret_run(
        &emu,
        SECRET,
        &["--scope", "api://not-registered-here/.default"],
    )
    .await;
    let j = assert_failed(&out, 3, "acquire", "AADSTS500011");
    assert!(
        j["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("Application ID URI")
    );

    // 1002012: client credentials without /.default
    let out = secret_run(
        &emu,
        SECRET,
        &["--scope", &format!("api://{api}/{DEFAULT_API_SCOPE}")],
    )
    .await;
    assert_failed(&out, 3, "acquire", "AADSTS1002012");

    // 70011: two resources in one scope
    let out = secret_run(
        &emu,
        SECRET,
        &[
            "--scope",
            &format!("api://{api}/.default api://other/.default"),
        ],
    )
    .await;
    assert_failed(&out, 3, "acquire", "AADSTS70011");

    // 9001023: client credentials on /common (a multi-tenant API; a single-tenant one is refused
    // `common` before any request, as deploy init refuses it)
    let out = secret_run(&emu, SECRET, &["--tenant-id", "common", "--multi-tenant"]).await;
    let j = assert_failed(&out, 3, "acquire", "AADSTS9001023");
    assert!(j["error"]["hint"].as_str().unwrap().contains("tenant id"));
}

/// Codes the emulator does not produce, from an Entra-shaped loopback token endpoint.
#[tokio::test]
async fn aadsts_cases_from_an_entra_shaped_endpoint_are_explained() {
    let dir = TestDir::new();
    let cases: &[(u16, &str, u32, &str, &str)] = &[
        (
            401,
            "invalid_client",
            7000222,
            "The provided client secret keys for app 'x' are expired.",
            "expired",
        ),
        (
            400,
            "invalid_request",
            7002138,
            "No matching federated identity record found for presented assertion subject 'repo:Contoso/API:ref:refs/heads/main'.",
            "subject",
        ),
        (
            400,
            "invalid_request",
            70021,
            "No matching federated identity record found for presented assertion.",
            "issuer, subject or audience",
        ),
    ];
    let issuer = FakeIssuer::start("unused").await;
    let assertion = issuer.token(
        "repo:Contoso/API:ref:refs/heads/main",
        "api://AzureADTokenExchange",
    );
    let token_file = dir.write("token", &assertion);
    for (status, error, code_n, message, needle) in cases {
        let fake = FakeEntraErrors::start(*status, error, *code_n, message).await;
        let mut cmd = dir.cmd();
        cmd.args(["auth", "test", "--authority-host", &fake.base, "--json"])
            .args(["--tenant-id", "9c9d4a3e-5e26-4d1c-9f0b-2f3c8e1d7a01"])
            .args(["--client-id", "6f1e2d3c-4b5a-4987-8c6d-5e4f3a2b1c03"]);
        if *code_n == 7000222 {
            cmd.env("ENTRA_CLIENT_SECRET", SECRET);
        } else {
            cmd.env("AZURE_FEDERATED_TOKEN_FILE", &token_file);
        }
        let out = run(cmd).await;
        let j = assert_failed(&out, 3, "acquire", &format!("AADSTS{code_n}"));
        let hint = j["error"]["hint"].as_str().unwrap();
        assert!(hint.contains(needle), "{code_n}: {hint}");
        assert!(
            j["error"]["message"]
                .as_str()
                .unwrap()
                .contains("trace id 11111111-2222-3333-4444-555555555555"),
            "{j}"
        );
        if *code_n != 7000222 {
            assert!(
                hint.contains(&format!("issuer:   {}", issuer.base)),
                "{hint}"
            );
            assert!(
                hint.contains("subject:  repo:Contoso/API:ref:refs/heads/main"),
                "{hint}"
            );
        }
        assert_nothing_secret(&out, &[&assertion]);
    }
}

#[tokio::test]
async fn no_credential_in_ci_is_a_config_error_naming_each_way() {
    let emu = emulator().await;
    let dir = TestDir::new();
    let mut cmd = auth_test(&emu, &dir);
    cmd.arg("--json");
    let out = run(cmd).await;
    let j = assert_failed(&out, 2, "config", "no_credential");
    let hint = j["error"]["hint"].as_str().unwrap();
    for needle in [
        "ENTRA_CLIENT_SECRET",
        "--client-secret-stdin",
        "AZURE_CLIENT_CERTIFICATE_PATH",
        "AZURE_FEDERATED_TOKEN_FILE",
        "id-token: write",
        "--credential device-code",
        "--token",
    ] {
        assert!(hint.contains(needle), "{needle} missing from: {hint}");
    }
}

#[tokio::test]
async fn oidc_client_credentials_with_discovery_and_resource() {
    let emu = emulator().await;
    let dir = TestDir::new();
    let mut cmd = dir.cmd();
    cmd.args(["auth", "test", "--oauth", "oidc", "--issuer", &emu.issuer()])
        .args(["--audience", &emu.client_id()])
        .args(["--scope", &format!("api://{}/.default", emu.client_id())])
        .args(["--resource", &format!("api://{}", emu.client_id())])
        .args(["--expect-role", "MCP.Service", "--json"])
        // As the server's OIDC layer grants it: MCP.Service maps to read:tools.
        .args(["--expect-permission", "read:tools"])
        .env("OIDC_CLIENT_ID", emu.client_id())
        .env("OIDC_CLIENT_SECRET", SECRET);
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(j["credential"], "secret");
    assert_eq!(j["token"]["issuer"], emu.issuer());
    assert_nothing_secret(&out, &[]);

    // missing the audience: a config error naming the flag, env var and deploy.toml key
    let mut cmd = dir.cmd();
    cmd.args([
        "auth",
        "test",
        "--oauth",
        "oidc",
        "--issuer",
        &emu.issuer(),
        "--json",
    ]);
    let out = run(cmd).await;
    let j = assert_failed(&out, 2, "config", "missing_input");
    let msg = j["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("--audience") && msg.contains("AUTH_AUDIENCE"),
        "{msg}"
    );
}

#[tokio::test]
async fn auto_picks_in_order_secret_certificate_federated_github() {
    let emu = emulator().await;
    let issuer = FakeIssuer::start(GH_SUBJECT).await;
    emu.add_federated_credential(
        &emu.tenant_id(),
        &emu.client_id(),
        FederatedCredential::new(&issuer.base, K8S_SUBJECT),
    )
    .unwrap();
    let dir = TestDir::new();
    let file = dir.write(
        "token",
        &issuer.token(K8S_SUBJECT, "api://AzureADTokenExchange"),
    );
    // every kind available at once (the certificate is not even registered: it must not be tried)
    let all = |cmd: &mut assert_cmd::Command| {
        cmd.env("ENTRA_CLIENT_SECRET", SECRET)
            .env("AZURE_CLIENT_CERTIFICATE_PATH", fixture("client.pem"))
            .env("AZURE_FEDERATED_TOKEN_FILE", &file)
            .env("ACTIONS_ID_TOKEN_REQUEST_URL", issuer.request_url())
            .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", GH_REQUEST_TOKEN)
            .arg("--json");
    };
    let mut cmd = auth_test(&emu, &dir);
    all(&mut cmd);
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["credential"], "secret");

    let mut cmd = auth_test(&emu, &dir);
    all(&mut cmd);
    cmd.env_remove("ENTRA_CLIENT_SECRET");
    let out = run(cmd).await;
    assert_eq!(json(&out)["credential"], "certificate");
    assert_eq!(
        code(&out),
        3,
        "the unregistered certificate was used: {}",
        stderr(&out)
    );

    let mut cmd = auth_test(&emu, &dir);
    all(&mut cmd);
    cmd.env_remove("ENTRA_CLIENT_SECRET")
        .env_remove("AZURE_CLIENT_CERTIFICATE_PATH");
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["credential"], "federated");
    assert!(
        issuer.requested_audiences().is_empty(),
        "GitHub was not asked"
    );

    // an explicit --credential wins over the order
    let mut cmd = auth_test(&emu, &dir);
    all(&mut cmd);
    cmd.args(["--credential", "federated"]);
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["credential"], "federated");
}
