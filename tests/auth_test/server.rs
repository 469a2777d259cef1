//! `--server-url`: the MCP server end to end, against a loopback MCP server that follows the MCP
//! authorization spec (protected by the shared validator) and ones that do not (exit 6).

use super::fakes::{FakeMcp, McpMode};
use super::*;
use pmcp_auth::{EntraConfig, JwtValidatorConfig};

async fn mcp(emu: &RunningEmulator, mode: McpMode) -> FakeMcp {
    let entra = EntraConfig::new(emu.tenant_id(), emu.client_id())
        .with_authority_host(&emu.authority_host());
    FakeMcp::start(mode, JwtValidatorConfig::from_entra(&entra), &emu.issuer()).await
}

async fn run_against(emu: &RunningEmulator, server: &FakeMcp) -> Output {
    let dir = TestDir::new();
    let mut cmd = auth_test(emu, &dir);
    cmd.env("ENTRA_CLIENT_SECRET", SECRET)
        .args(["--server-url", &server.url(), "--json"]);
    run(cmd).await
}

fn check(j: &Value, name: &str) -> Value {
    j["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {j}"))
        .clone()
}

#[tokio::test]
async fn a_server_that_follows_the_spec_passes_every_check() {
    let emu = emulator().await;
    let server = mcp(&emu, McpMode::Good).await;
    let out = run_against(&emu, &server).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let j = json(&out);
    let c = check(&j, "server: 401 without token");
    assert_eq!(c["ok"], true);
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("/.well-known/oauth-protected-resource/mcp")
    );
    let c = check(&j, "server: protected resource metadata");
    assert_eq!(c["ok"], true, "{c}");
    assert!(c["detail"].as_str().unwrap().contains(&emu.issuer()));
    let c = check(&j, "server: initialize");
    assert_eq!(c["ok"], true, "{c}");
    assert!(c["detail"].as_str().unwrap().contains("fake-mcp"), "{c}");
    assert!(c["detail"].as_str().unwrap().contains("SSE"), "{c}");
    let c = check(&j, "server: tools/list");
    assert_eq!(c["ok"], true, "{c}");
    assert_eq!(c["detail"], "2 tools: echo, search");
    assert_nothing_secret(&out, &[]);
}

#[tokio::test]
async fn a_server_without_auth_fails_the_401_check() {
    let emu = emulator().await;
    let server = mcp(&emu, McpMode::NoAuth).await;
    let out = run_against(&emu, &server).await;
    let j = assert_failed(&out, 6, "server", "server_check_failed");
    assert_eq!(check(&j, "server: 401 without token")["ok"], false);
    assert!(
        j["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expected 401 without a token, got 200"),
        "{j}"
    );
    // the other checks still ran
    assert_eq!(check(&j, "server: initialize")["ok"], true);
}

#[tokio::test]
async fn metadata_naming_another_issuer_fails() {
    let emu = emulator().await;
    let server = mcp(&emu, McpMode::WrongIssuer).await;
    let out = run_against(&emu, &server).await;
    let j = assert_failed(&out, 6, "server", "server_check_failed");
    assert_eq!(check(&j, "server: 401 without token")["ok"], true);
    let c = check(&j, "server: protected resource metadata");
    assert_eq!(c["ok"], false);
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("does not name the issuer"),
        "{c}"
    );
}

#[tokio::test]
async fn a_server_rejecting_a_valid_token_fails_initialize() {
    let emu = emulator().await;
    let server = mcp(&emu, McpMode::RejectsTokens).await;
    let out = run_against(&emu, &server).await;
    let j = assert_failed(&out, 6, "server", "server_check_failed");
    let c = check(&j, "server: initialize");
    assert_eq!(c["ok"], false);
    assert!(
        c["detail"].as_str().unwrap().contains("answered 401"),
        "{c}"
    );
    assert!(
        j["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("ENTRA_CLIENT_ID"),
        "{j}"
    );
}

#[tokio::test]
async fn nothing_listening_is_a_server_failure() {
    let emu = emulator().await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/mcp", l.local_addr().unwrap())
    };
    let dir = TestDir::new();
    let mut cmd = auth_test(&emu, &dir);
    cmd.env("ENTRA_CLIENT_SECRET", SECRET)
        .args(["--server-url", &dead, "--json"]);
    let out = run(cmd).await;
    assert_failed(&out, 6, "server", "server_check_failed");
}

#[tokio::test]
async fn an_sse_answer_on_a_stream_left_open_is_read_without_waiting_for_the_end() {
    let emu = emulator().await;
    let server = mcp(&emu, McpMode::SseStaysOpen).await;
    let out = run_against(&emu, &server).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(check(&j, "server: initialize")["ok"], true);
    assert_eq!(check(&j, "server: tools/list")["ok"], true);
}

#[tokio::test]
async fn a_plain_http_server_url_off_loopback_is_refused_before_any_token_is_sent() {
    // The server checks send the real bearer token: plain http to a network host is a config
    // error (exit 2), found before a token is even requested.
    let emu = emulator().await;
    let dir = TestDir::new();
    let mut cmd = auth_test(&emu, &dir);
    cmd.env("ENTRA_CLIENT_SECRET", SECRET).args([
        "--server-url",
        "http://mcp.contoso.example/mcp",
        "--json",
    ]);
    let out = run(cmd).await;
    let j = assert_failed(&out, 2, "config", "invalid_input");
    assert!(
        j["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--server-url: `http://mcp.contoso.example/mcp` is not an https:// URL"),
        "{j}"
    );
    assert!(j["token"].is_null(), "{j}");
    assert_eq!(
        emu.request_count(pmcp_entra_emulator::EndpointKind::Token),
        0
    );
}
