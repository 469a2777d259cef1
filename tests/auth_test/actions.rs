//! Inside GitHub Actions: `::add-mask::` for every token and assertion handled, `::error::` on
//! failure, and a markdown table appended to `$GITHUB_STEP_SUMMARY`.

use super::fakes::{FakeIssuer, GH_REQUEST_TOKEN};
use super::*;
use pmcp_entra_emulator::FederatedCredential;

const GH_SUBJECT: &str = "repo:contoso/mcp-server:ref:refs/heads/main";

fn masks(out: &Output) -> Vec<String> {
    stderr(out)
        .lines()
        .filter_map(|l| l.strip_prefix("::add-mask::").map(str::to_string))
        .collect()
}

#[tokio::test]
async fn actions_run_masks_the_id_token_and_writes_a_summary() {
    let emu = emulator().await;
    let gh = FakeIssuer::start(GH_SUBJECT).await;
    emu.add_federated_credential(
        &emu.tenant_id(),
        &emu.client_id(),
        FederatedCredential::new(&gh.base, GH_SUBJECT),
    )
    .unwrap();
    let dir = TestDir::new();
    let summary = dir.write("summary.md", "# earlier step\n");
    let mut cmd = auth_test(&emu, &dir);
    cmd.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("ACTIONS_ID_TOKEN_REQUEST_URL", gh.request_url())
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", GH_REQUEST_TOKEN)
        .args(["--expect-role", "MCP.Service", "--json"]);
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let masked = masks(&out);
    let issued = gh.issued();
    assert_eq!(issued.len(), 1);
    assert!(
        masked.contains(&issued[0]),
        "the ID token is masked: {masked:?}"
    );
    assert!(masked.contains(&GH_REQUEST_TOKEN.to_string()));
    // the access token is masked too: one more JWT among the masks, with our audience
    let access: Vec<&String> = masked
        .iter()
        .filter(|m| m.starts_with("eyJ") && !issued.contains(m))
        .collect();
    assert_eq!(access.len(), 1, "{masked:?}");
    assert_eq!(
        json(&out)["token"]["fingerprint"],
        pmcp_auth::SecretString::new(access[0].clone()).fingerprint()
    );
    assert!(!stderr(&out).contains("::error::"));
    assert_eq!(
        stdout(&out).lines().count(),
        1,
        "stdout is the JSON document alone"
    );
    let md = dir.read("summary.md");
    assert!(
        md.starts_with("# earlier step\n"),
        "appended, not overwritten: {md}"
    );
    assert!(md.contains("### `cargo pmcp auth test`: passed"), "{md}");
    assert!(md.contains("| Check | Result | Detail |"), "{md}");
    assert!(md.contains("| role MCP.Service | ✅ ok |"), "{md}");
    assert!(md.contains("| kind | app-only |"), "{md}");
    assert!(!md.contains(&issued[0]) && !md.contains(access[0].as_str()));
    assert_nothing_secret(&out, &[&issued[0], GH_REQUEST_TOKEN]);
}

#[tokio::test]
async fn actions_failure_is_an_error_annotation_and_a_failed_summary() {
    let emu = emulator().await;
    let dir = TestDir::new();
    let summary = dir.join("summary.md");
    let mut cmd = auth_test(&emu, &dir);
    cmd.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("ENTRA_CLIENT_SECRET", "wrong-secret-value-123")
        .arg("--json");
    let out = run(cmd).await;
    assert_failed(&out, 3, "acquire", "AADSTS7000215");
    let se = stderr(&out);
    assert!(
        masks(&out).contains(&"wrong-secret-value-123".to_string()),
        "{se}"
    );
    let error_line = se
        .lines()
        .find(|l| l.starts_with("::error::"))
        .unwrap_or_else(|| panic!("no ::error:: in {se}"));
    assert!(
        error_line.contains("auth test failed at acquire: AADSTS7000215"),
        "{error_line}"
    );
    // workflow commands stay off stdout: it holds the JSON document alone
    let so = stdout(&out);
    assert_eq!(so.lines().count(), 1, "{so}");
    assert!(so.starts_with('{'), "{so}");
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("failed at acquire"), "{md}");
    assert!(md.contains("| acquire | ❌ failed |"), "{md}");
    assert_nothing_secret(&out, &["wrong-secret-value-123"]);
}

#[tokio::test]
async fn a_given_token_is_masked_in_actions() {
    let emu = emulator().await;
    let dir = TestDir::new();
    let token = emu
        .issue_app_token(&emu.client_id(), &Default::default())
        .unwrap();
    let mut cmd = auth_test(&emu, &dir);
    cmd.env("GITHUB_ACTIONS", "true")
        .args(["--token", "-"])
        .write_stdin(token.secret().to_string());
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(masks(&out), [token.secret().to_string()]);
    assert_nothing_secret(&out, &[token.secret()]);
}

#[tokio::test]
async fn outside_actions_there_are_no_workflow_commands() {
    let emu = emulator().await;
    let dir = TestDir::new();
    let mut cmd = auth_test(&emu, &dir);
    cmd.env("ENTRA_CLIENT_SECRET", "wrong")
        .env("GITHUB_STEP_SUMMARY", dir.join("summary.md"))
        .arg("--json");
    let out = run(cmd).await;
    assert_eq!(code(&out), 3);
    assert!(!stdout(&out).contains("::"), "{}", stdout(&out));
    assert!(!dir.join("summary.md").exists());
}

/// The `run:` command of the workflow template, as arguments (`cargo pmcp auth test …`).
fn template_command() -> Vec<String> {
    let text = include_str!("../../templates/github-actions-auth-test.yml");
    assert!(
        text.contains("id-token: write"),
        "the job must be allowed to request an ID token"
    );
    assert!(
        !text.contains("secrets."),
        "the template uses no stored secret"
    );
    let start = text.find("cargo pmcp auth test").expect("the command");
    let mut words = Vec::new();
    for line in text[start..].lines() {
        let line = line.trim();
        if words.is_empty() || line.starts_with("--") {
            words.extend(line.split_whitespace().map(str::to_string));
        } else {
            break;
        }
    }
    words
}

#[tokio::test]
async fn the_workflow_template_command_passes_in_a_github_job() {
    let words = template_command();
    assert_eq!(&words[..3], ["cargo", "pmcp", "auth"]);
    assert!(words.contains(&"github".to_string()), "{words:?}");
    let emu = emulator().await;
    let gh = FakeIssuer::start(GH_SUBJECT).await;
    emu.add_federated_credential(
        &emu.tenant_id(),
        &emu.client_id(),
        FederatedCredential::new(&gh.base, GH_SUBJECT),
    )
    .unwrap();
    let dir = TestDir::new();
    let mut cmd = dir.cmd();
    // `cargo-pmcp pmcp auth test …` is what cargo runs for `cargo pmcp auth test …`
    cmd.args(&words[1..])
        .args(["--authority-host", &emu.authority_host()])
        .env("GITHUB_ACTIONS", "true")
        // as the template sets them: identifiers from repository variables, the caller unset
        .env("ENTRA_TENANT_ID", emu.tenant_id())
        .env("ENTRA_CLIENT_ID", emu.client_id())
        .env("AZURE_CLIENT_ID", "")
        .env("ACTIONS_ID_TOKEN_REQUEST_URL", gh.request_url())
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", GH_REQUEST_TOKEN);
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{words:?}: {}", stderr(&out));
    assert!(stdout(&out).contains("ok   role MCP.Service"));
}
