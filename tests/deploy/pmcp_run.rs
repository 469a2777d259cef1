//! `--target pmcp-run` against the in-process fake of the real service (tests/deploy/api.rs), with
//! faults. Every test drives the built binary.

use super::api::{self, FakeApi, Faults, Redirector, Trap};
use super::{CLIENT, Project, SECRET_VALUE, TENANT, entra_toml, stderr, stdout};
use base64::Engine;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::Output;

/// Fast retries and polls (the protocol's waits, shortened; nothing sleeps to pass time).
const FAST: &[&str] = &["--retry-base-ms", "1", "--poll-interval-ms", "5"];

/// `deploy --json` with the fast waits, the access token and the fake's base URL.
fn deploy(project: &Project, api: &FakeApi, extra: &[&str]) -> Output {
    let mut args = vec!["--json"];
    args.extend_from_slice(FAST);
    args.extend_from_slice(extra);
    project
        .deploy(&args)
        .env("PMCP_API_URL", &api.base)
        .env("PMCP_ACCESS_TOKEN", api::TOKEN)
        .output()
        .unwrap()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn json_doc(out: &Output) -> Value {
    let so = stdout(out);
    serde_json::from_str(so.trim()).unwrap_or_else(|e| panic!("{e}: {so}\n{}", stderr(out)))
}

/// The ELF machine of an executable's bytes, read here independently of the CLI.
fn elf_arch(bytes: &[u8]) -> &'static str {
    assert_eq!(&bytes[..4], b"\x7fELF");
    match u16::from_le_bytes([bytes[18], bytes[19]]) {
        62 => "x86_64",
        183 => "arm64",
        m => panic!("machine {m}"),
    }
}

/// The built binary of the fixture, as cargo left it in the test's target dir.
fn built_binary(project: &Project) -> Vec<u8> {
    let p = project.dir.join("target/release/tiny-server");
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The secret value went in exactly one request: the `setServerSecret` call; never in a header,
/// the template or the binary.
fn assert_secret_only_in_set_server_secret(api: &FakeApi) {
    let seen = api.seen();
    let mut hits = 0;
    for (method, path, headers, body) in &seen.raw {
        for v in headers.values() {
            assert!(!v.contains(SECRET_VALUE), "{method} {path} header");
        }
        if contains(body, SECRET_VALUE.as_bytes()) {
            hits += 1;
            let b = String::from_utf8_lossy(body);
            assert!(b.contains("setServerSecret("), "{method} {path}: {b}");
        }
    }
    assert_eq!(hits, 1);
    for put in &seen.puts {
        assert!(
            !contains(&put.body, SECRET_VALUE.as_bytes()),
            "{}",
            put.path
        );
    }
}

#[test]
fn two_503s_on_the_bootstrap_put_are_retried_and_the_protocol_is_followed() {
    let project = Project::new(&entra_toml("pmcp-run"));
    let api = FakeApi::start(Faults {
        bootstrap_put_503: 2,
        ..Default::default()
    });
    let out = deploy(&project, &api, &[]);
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{se}");
    assert!(
        se.contains("bootstrap upload attempt 1/4 failed: HTTP 503"),
        "{se}"
    );
    assert!(
        se.contains("bootstrap upload attempt 2/4 failed: HTTP 503"),
        "{se}"
    );
    assert!(se.contains("retrying in"), "{se}");
    assert!(se.contains("(attempt 3)"), "{se}");
    // The presigned query (its signature) is never printed.
    assert!(!se.contains(api::UPLOAD_SIGNATURE), "{se}");

    let doc = json_doc(&out);
    assert_eq!(doc["target"], "pmcp-run");
    assert_eq!(doc["deployment_id"], "dep-1");
    assert_eq!(doc["url"], "https://api.pmcp.run/dep-1/mcp");
    assert_eq!(doc["health_url"], "https://api.pmcp.run/dep-1/health");
    assert_eq!(doc["secret_names"], json!(["ENTRA_CLIENT_SECRET"]));
    for k in ["build", "package", "upload", "deploy", "secrets", "total"] {
        assert!(doc["durations_ms"][k].is_u64(), "{k}: {doc}");
    }

    let seen = api.seen();
    // The protocol's order, each operation once.
    assert_eq!(
        seen.operations(),
        [
            "getUploadUrls",
            "createDeploymentFromS3",
            "getDeployment",
            "getDeployment",
            "getDeployment",
            "setServerSecret",
            "fetchServerOAuthEndpoints",
        ]
    );
    assert_eq!(seen.discoveries, 1);
    // The raw token, no scheme, on every GraphQL request.
    for (_, auth, _) in &seen.graphql {
        assert_eq!(auth.as_deref(), Some(api::TOKEN));
    }
    let up = &seen.calls("getUploadUrls")[0];
    assert_eq!(up["projectName"], "tiny-server");
    assert_eq!(
        up["templateSize"].as_u64().unwrap(),
        seen.template.as_ref().unwrap().len() as u64
    );
    // Three bootstrap PUTs (two 503s), one template PUT; presigned: no Authorization, and no
    // header beyond Content-Type and Content-Length that the client chose.
    let boots: Vec<_> = seen
        .puts
        .iter()
        .filter(|p| p.path == "/upload/bootstrap")
        .collect();
    assert_eq!(boots.len(), 3);
    assert!(boots[2].completed);
    assert_eq!(
        seen.puts
            .iter()
            .filter(|p| p.path == "/upload/template")
            .count(),
        1
    );
    for p in &seen.puts {
        for k in p.headers.keys() {
            assert!(
                [
                    "host",
                    "content-type",
                    "content-length",
                    "user-agent",
                    "accept"
                ]
                .contains(&k.as_str()),
                "{}: {k}",
                p.path
            );
        }
    }
    let bootstrap = seen.bootstrap.clone().unwrap();
    assert_eq!(
        bootstrap,
        built_binary(&project),
        "the binary itself is uploaded"
    );
    assert_eq!(
        up["bootstrapSize"].as_u64().unwrap(),
        bootstrap.len() as u64
    );
    // createDeploymentFromS3 takes scalars only.
    let create = &seen.calls("createDeploymentFromS3")[0];
    assert_eq!(
        create,
        &json!({
            "templateS3Key": "uploads/tiny-server/template.json",
            "bootstrapS3Key": "uploads/tiny-server/bootstrap",
            "projectName": "tiny-server",
            "runtime": "provided.al2023",
            "memorySize": 256,
            "timeout": 30,
            "serverVersion": "0.3.1",
        })
    );
    // The platform's own OAuth is never configured for an Entra server.
    assert!(seen.calls("configureServerOAuth").is_empty());
    drop(seen);
    assert_secret_only_in_set_server_secret(&api);
    assert!(!stdout(&out).contains(SECRET_VALUE) && !se.contains(SECRET_VALUE));

    // Recorded.
    let rec = project.dir.read(".pmcp/deployment.toml");
    assert!(rec.contains("deployment_id = \"dep-1\""), "{rec}");
    assert!(!rec.contains(SECRET_VALUE));
}

#[test]
fn the_template_has_the_entra_variables_no_secret_and_the_binarys_architecture() {
    let project = Project::new(&entra_toml("pmcp-run"));
    let api = FakeApi::start(Faults::default());
    let out = deploy(&project, &api, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let seen = api.seen();
    let put = seen
        .puts
        .iter()
        .find(|p| p.path == "/upload/template")
        .unwrap();
    assert_eq!(put.headers["content-type"], "application/json");
    let bput = seen
        .puts
        .iter()
        .find(|p| p.path == "/upload/bootstrap")
        .unwrap();
    assert_eq!(bput.headers["content-type"], "application/octet-stream");
    let t = seen.template_json();
    assert_eq!(t["Description"], "MCP Server: tiny-server");
    assert_eq!(t["Metadata"]["mcp:serverId"], "tiny-server");
    assert!(t.get("Parameters").is_none());
    let f = &t["Resources"]["McpFunction"];
    assert_eq!(f["Type"], "AWS::Lambda::Function");
    let p = &f["Properties"];
    assert_eq!(p["FunctionName"], "tiny-server");
    assert_eq!(p["Runtime"], "provided.al2023");
    assert_eq!(p["Handler"], "bootstrap");
    assert_eq!(p["MemorySize"], 256);
    assert_eq!(p["Timeout"], 30);
    assert_eq!(p["LoggingConfig"]["LogFormat"], "JSON");
    // The architecture is the uploaded binary's.
    let arch = elf_arch(seen.bootstrap.as_ref().unwrap());
    assert_eq!(p["Architectures"], json!([arch]));
    let vars: HashMap<String, String> =
        serde_json::from_value(p["Environment"]["Variables"].clone()).unwrap();
    assert_eq!(vars["PMCP_SERVER_ID"], "tiny-server");
    assert_eq!(vars["ENTRA_TENANT_ID"], TENANT);
    assert_eq!(vars["ENTRA_CLIENT_ID"], CLIENT);
    assert_eq!(
        vars["ENTRA_AUTHORITY_HOST"],
        "https://login.microsoftonline.com"
    );
    assert_eq!(vars["AUTH_PROVIDER"], "entra");
    assert_eq!(
        vars["AUTH_ISSUER"],
        format!("https://login.microsoftonline.com/{TENANT}/v2.0")
    );
    assert_eq!(vars["AUTH_AUDIENCE"], CLIENT);
    assert_eq!(vars["LOG_LEVEL"], "debug");
    assert!(!vars.contains_key("ENTRA_CLIENT_SECRET"));
    let text = String::from_utf8_lossy(seen.template.as_ref().unwrap()).into_owned();
    assert!(!text.contains(SECRET_VALUE));
    assert_eq!(t["Resources"]["ExecutionRole"]["Type"], "AWS::IAM::Role");
    assert_eq!(
        t["Resources"]["LogGroup"]["Properties"]["LogGroupName"],
        "/aws/lambda/tiny-server"
    );
    assert!(t["Outputs"]["LambdaArn"].is_object() && t["Outputs"]["LambdaName"].is_object());
}

/// cfn-lint (PyPI) checks the uploaded template against CloudFormation's schemas, when it is
/// installed; otherwise the test says so and passes.
#[test]
fn cfn_lint_accepts_the_uploaded_template() {
    let probe = std::process::Command::new("cfn-lint")
        .arg("--version")
        .output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: cfn-lint is not installed (pip install cfn-lint)");
        return;
    }
    let project = Project::new(&entra_toml("pmcp-run"));
    let api = FakeApi::start(Faults::default());
    let out = deploy(&project, &api, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let path = project.dir.join("template.json");
    std::fs::write(&path, api.seen().template.clone().unwrap()).unwrap();
    let lint = std::process::Command::new("cfn-lint")
        .arg("--format")
        .arg("parseable")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "cfn-lint: {}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
}

#[test]
fn a_stale_graphql_url_is_discovered_again_and_retried_once() {
    let project = Project::new(&entra_toml("pmcp-run"));
    let api = FakeApi::start(Faults {
        stale_graphql_once: true,
        ..Default::default()
    });
    let out = deploy(&project, &api, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let seen = api.seen();
    assert_eq!(seen.discoveries, 2, "one fresh discovery");
    let paths: Vec<&str> = seen.graphql.iter().map(|(p, _, _)| p.as_str()).collect();
    assert_eq!(paths[0], "/graphql-old");
    assert!(paths[1..].iter().all(|p| *p == "/graphql"), "{paths:?}");
    assert_eq!(seen.calls("getUploadUrls").len(), 2, "retried once");
}

#[test]
fn graphql_401_exits_4_and_is_not_retried() {
    let project = Project::new(&entra_toml("pmcp-run"));
    let api = FakeApi::start(Faults {
        graphql_401: true,
        ..Default::default()
    });
    let out = deploy(&project, &api, &[]);
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{se}");
    assert!(se.contains("rejected the access token (HTTP 401"), "{se}");
    assert!(se.contains("cargo pmcp login"), "{se}");
    let seen = api.seen();
    assert_eq!(seen.graphql.len(), 1, "not retried");
    assert_eq!(seen.discoveries, 1);
    assert!(seen.puts.is_empty());
    assert!(!se.contains(api::TOKEN) && !stdout(&out).contains(api::TOKEN));
    assert_eq!(json_doc(&out)["exit_code"], 4);
}

#[test]
fn a_failed_deployment_exits_5_with_its_error_message_scrubbed() {
    let project = Project::new(&entra_toml("pmcp-run"));
    let api = FakeApi::start(Faults {
        fail_with: Some(format!(
            "health check failed: bootstrap exited with status 101 (request had Authorization {} and {}/upload/bootstrap?X-Amz-Signature={})",
            api::TOKEN,
            "https://bucket.example",
            api::UPLOAD_SIGNATURE
        )),
        ..Default::default()
    });
    let out = deploy(&project, &api, &[]);
    let (so, se) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(5), "{se}");
    assert!(
        se.contains("deployment failed: health check failed: bootstrap exited with status 101"),
        "{se}"
    );
    let doc = json_doc(&out);
    assert_eq!(doc["exit_code"], 5);
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("bootstrap exited with status 101"),
        "{message}"
    );
    for leaked in [api::TOKEN, api::UPLOAD_SIGNATURE, SECRET_VALUE] {
        assert!(
            !so.contains(leaked) && !se.contains(leaked),
            "{leaked}: {so}\n{se}"
        );
    }
    assert!(message.contains("[redacted]"), "{message}");
    assert!(!project.dir.join(".pmcp/deployment.toml").exists());
    assert!(api.seen().calls("setServerSecret").is_empty());
}

#[test]
fn never_success_times_out_within_the_wait_timeout_with_exit_5() {
    let project = Project::new(&entra_toml("pmcp-run"));
    let api = FakeApi::start(Faults {
        never_ready: true,
        ..Default::default()
    });
    let out = deploy(&project, &api, &["--wait-timeout", "300ms"]);
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(5), "{se}");
    assert!(se.contains("last status: deploying"), "{se}");
    assert!(se.contains("dep-1"), "{se}");
    // Bounded: the wait stopped at the timeout, not minutes later.
    let waited: f64 = se
        .split("was not ready after ")
        .nth(1)
        .and_then(|r| r.split('s').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{se}"));
    assert!((0.3..5.0).contains(&waited), "{waited}");
    assert!(api.seen().polls >= 1);
}

#[test]
fn dry_run_calls_nothing_and_never_shows_the_secret() {
    let project = Project::new(&entra_toml("pmcp-run"));
    let api = FakeApi::start(Faults::default());
    let out = project
        .deploy(&["--dry-run"])
        .env("PMCP_API_URL", &api.base)
        .env("PMCP_ACCESS_TOKEN", api::TOKEN)
        .output()
        .unwrap();
    let (so, se) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{se}");
    assert!(so.contains("Plan (dry run"), "{so}");
    assert!(so.contains(&format!("ENTRA_TENANT_ID={TENANT}")), "{so}");
    assert!(so.contains("ENTRA_CLIENT_SECRET=********"), "{so}");
    assert!(
        so.contains("url:       assigned by pmcp-run when deployed"),
        "{so}"
    );
    assert!(!so.contains(SECRET_VALUE) && !se.contains(SECRET_VALUE));
    assert!(!so.contains(api::TOKEN) && !se.contains(api::TOKEN));
    // No request at all: no discovery, no token, no mutation.
    assert!(api.seen().raw.is_empty(), "dry run made requests");
    // The plan as users read it (the artifact's path, size and hash vary by machine and compiler).
    let plan: String = so
        .lines()
        .map(|l| match l.split_once(':') {
            Some((k @ ("  artifact" | "  size" | "  sha256"), _)) => format!("{k}:    [varies]"),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!("dry_run_plan_pmcp_run", plan);
    // --json dry run: values of the non-secret environment, names of the secrets; without
    // credentials it warns and still plans.
    let out = project
        .deploy(&["--dry-run", "--json"])
        .env("PMCP_API_URL", &api.base)
        .output()
        .unwrap();
    let so = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("a real deploy would stop here"));
    let doc: Value = serde_json::from_str(so.trim()).unwrap();
    assert_eq!(doc["dry_run"], true);
    assert!(doc["url"].is_null(), "pmcp.run assigns the URL: {doc}");
    assert_eq!(doc["environment"]["ENTRA_CLIENT_ID"], CLIENT);
    assert_eq!(doc["secret_names"][0], "ENTRA_CLIENT_SECRET");
    assert!(!so.contains(SECRET_VALUE) && !stderr(&out).contains(SECRET_VALUE));
    assert!(api.seen().raw.is_empty());
}

#[test]
fn a_missing_declared_secret_exits_2_before_building() {
    let project = Project::new(&entra_toml("pmcp-run"));
    let api = FakeApi::start(Faults::default());
    let out = project
        .deploy(&[])
        .env_remove("ENTRA_CLIENT_SECRET")
        .env("PMCP_API_URL", &api.base)
        .env("PMCP_ACCESS_TOKEN", api::TOKEN)
        .output()
        .unwrap();
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{se}");
    assert!(se.contains("ENTRA_CLIENT_SECRET"), "{se}");
    assert!(!se.contains("building"), "{se}");
    assert!(!project.dir.join("target").exists());
    assert!(api.seen().raw.is_empty());
}

#[test]
fn without_credentials_deploy_says_to_log_in_before_building() {
    let project = Project::new(&entra_toml("pmcp-run"));
    let api = FakeApi::start(Faults::default());
    let out = project
        .deploy(&[])
        .env("PMCP_API_URL", &api.base)
        .output()
        .unwrap();
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{se}");
    assert!(se.contains("cargo pmcp login"), "{se}");
    assert!(
        se.contains("PMCP_CLIENT_ID") && se.contains("PMCP_CLIENT_SECRET"),
        "{se}"
    );
    assert!(!se.contains("building"), "{se}");
    assert!(api.seen().raw.is_empty());
}

#[test]
fn client_credentials_are_sent_with_http_basic() {
    let project = Project::new(&entra_toml("pmcp-run"));
    let api = FakeApi::start(Faults::default());
    let out = project
        .deploy(FAST)
        .env("PMCP_API_URL", &api.base)
        .env("PMCP_CLIENT_ID", api::CLIENT_ID)
        .env("PMCP_CLIENT_SECRET", api::CLIENT_SECRET)
        // Client credentials come first, before a token in the environment.
        .env(
            "PMCP_ACCESS_TOKEN",
            "ignored-because-client-credentials-win",
        )
        .output()
        .unwrap();
    let (so, se) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{se}");
    assert!(
        so.contains("MCP URL:   https://api.pmcp.run/dep-1/mcp"),
        "{so}"
    );
    let seen = api.seen();
    assert_eq!(seen.token_requests.len(), 1);
    let (auth, form) = &seen.token_requests[0];
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        api::CLIENT_ID,
        api::CLIENT_SECRET
    ));
    assert_eq!(auth.as_deref(), Some(format!("Basic {basic}").as_str()));
    assert_eq!(
        form.get("grant_type").map(String::as_str),
        Some("client_credentials")
    );
    assert!(
        !form.contains_key("client_secret") && !form.contains_key("scope"),
        "{form:?}"
    );
    for (_, auth, _) in &seen.graphql {
        assert_eq!(auth.as_deref(), Some(api::CC_TOKEN));
    }
    for leaked in [api::CLIENT_SECRET, api::CC_TOKEN, SECRET_VALUE] {
        assert!(!so.contains(leaked) && !se.contains(leaked), "{leaked}");
    }
}

#[test]
fn stored_credentials_are_refreshed_when_expired_and_written_back_0600() {
    let project = Project::new(&entra_toml("pmcp-run"));
    let api = FakeApi::start(Faults::default());
    let creds = project.home().join(".pmcp/credentials.toml");
    std::fs::create_dir_all(creds.parent().unwrap()).unwrap();
    std::fs::write(
        &creds,
        format!(
            "[other-tool]\nkey = \"kept\"\n\n[pmcp-run]\naccess_token = \"expired-token-1234\"\nrefresh_token = \"{}\"\nid_token = \"old-id\"\nexpires_at = \"2020-01-01T00:00:00Z\"\n",
            api::REFRESH_TOKEN
        ),
    )
    .unwrap();
    let out = project
        .deploy(FAST)
        .env("PMCP_API_URL", &api.base)
        .output()
        .unwrap();
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{se}");
    let seen = api.seen();
    let (_, form) = &seen.token_requests[0];
    assert_eq!(form["grant_type"], "refresh_token");
    assert_eq!(form["refresh_token"], api::REFRESH_TOKEN);
    assert_eq!(form["client_id"], api::COGNITO_CLIENT_ID);
    for (_, auth, _) in &seen.graphql {
        assert_eq!(auth.as_deref(), Some(api::REFRESHED_TOKEN));
    }
    let text = std::fs::read_to_string(&creds).unwrap();
    assert!(text.contains(api::REFRESHED_TOKEN), "{text}");
    assert!(
        text.contains(api::REFRESH_TOKEN),
        "the old refresh token is kept: {text}"
    );
    assert!(text.contains("kept"), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert!(!se.contains(api::REFRESHED_TOKEN) && !se.contains(api::REFRESH_TOKEN));
}

#[test]
fn set_server_secret_carries_each_secret() {
    let toml = entra_toml("pmcp-run").replace(
        "required = [\"ENTRA_CLIENT_SECRET\"]",
        "required = [\"ENTRA_CLIENT_SECRET\", \"UPSTREAM_API_KEY\"]",
    );
    let project = Project::new(&toml);
    let api = FakeApi::start(Faults::default());
    let out = project
        .deploy(FAST)
        .env("PMCP_API_URL", &api.base)
        .env("PMCP_ACCESS_TOKEN", api::TOKEN)
        .env("UPSTREAM_API_KEY", "upstream-key-value-5150")
        .output()
        .unwrap();
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{se}");
    let seen = api.seen();
    let calls = seen.calls("setServerSecret");
    assert_eq!(
        calls,
        vec![
            json!({"serverId": "tiny-server", "secretName": "ENTRA_CLIENT_SECRET", "secretValue": SECRET_VALUE, "audience": "mcp"}),
            json!({"serverId": "tiny-server", "secretName": "UPSTREAM_API_KEY", "secretValue": "upstream-key-value-5150", "audience": "mcp"}),
        ]
    );
    let template = String::from_utf8_lossy(seen.template.as_ref().unwrap()).into_owned();
    assert!(!template.contains("upstream-key-value-5150") && !template.contains(SECRET_VALUE));
    let vars =
        &seen.template_json()["Resources"]["McpFunction"]["Properties"]["Environment"]["Variables"];
    assert!(vars.get("UPSTREAM_API_KEY").is_none());
    assert!(
        !se.contains("upstream-key-value-5150")
            && !stdout(&out).contains("upstream-key-value-5150")
    );
}

#[test]
fn a_refused_secret_fails_the_deploy() {
    let project = Project::new(&entra_toml("pmcp-run"));
    let api = FakeApi::start(Faults {
        secret_refused: Some("secret quota exceeded".into()),
        ..Default::default()
    });
    let out = deploy(&project, &api, &[]);
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(5), "{se}");
    assert!(
        se.contains("did not set secret ENTRA_CLIENT_SECRET: secret quota exceeded"),
        "{se}"
    );
    assert!(!se.contains(SECRET_VALUE));
}

#[test]
fn entra_never_turns_on_platform_oauth_and_warns_when_it_is_on() {
    let project = Project::new(&entra_toml("pmcp-run"));
    let api = FakeApi::start(Faults {
        platform_oauth: true,
        ..Default::default()
    });
    let out = deploy(&project, &api, &[]);
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{se}");
    assert!(
        se.contains("warning:") && se.contains("two sign-in layers will conflict"),
        "{se}"
    );
    let seen = api.seen();
    assert_eq!(
        seen.calls("fetchServerOAuthEndpoints"),
        vec![json!({"serverId": "tiny-server"})]
    );
    assert!(seen.calls("configureServerOAuth").is_empty());
}

#[test]
fn status_lists_the_deployment_and_destroy_removes_it() {
    let project = Project::new(&entra_toml("pmcp-run"));
    let api = FakeApi::start(Faults::default());
    let out = deploy(&project, &api, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let cmd = |args: &[&str], token: bool| {
        let mut c = project.cmd();
        c.arg("deploy").args(args).env("PMCP_API_URL", &api.base);
        if token {
            c.env("PMCP_ACCESS_TOKEN", api::TOKEN);
        }
        c.output().unwrap()
    };

    let out = cmd(&["status", "--target", "pmcp-run", "--json"], true);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc = json_doc(&out);
    let t = &doc["targets"][0];
    assert_eq!(t["state"], "success");
    assert_eq!(t["deployment_id"], "dep-1");
    assert_eq!(t["url"], "https://api.pmcp.run/dep-1/mcp");
    assert!(t["artifact_sha256"].is_string(), "from the record: {doc}");
    assert_eq!(api.seen().operations().last(), Some(&"listDeployments"));
    // Without credentials: the record, and how to get the live status.
    let out = cmd(&["status", "--target", "pmcp-run"], false);
    let so = stdout(&out);
    assert!(so.contains("pmcp-run: deployed (recorded)"), "{so}");
    assert!(so.contains("cargo pmcp login"), "{so}");

    let out = cmd(
        &[
            "destroy",
            "--target",
            "pmcp-run",
            "--json",
            "--poll-interval-ms",
            "5",
        ],
        true,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc = json_doc(&out);
    assert_eq!(doc["removed"], true, "{doc}");
    let seen = api.seen();
    assert_eq!(
        seen.calls("destroyDeployment"),
        vec![json!({"id": "dep-1"})]
    );
    assert!(seen.op_polls >= 2);
    assert_eq!(seen.deployments[0].status, "deleted");
    drop(seen);
    // The record held only this deployment: the file is gone with it.
    assert!(
        !project.dir.join(".pmcp/deployment.toml").exists(),
        "the record is gone"
    );

    let out = cmd(&["status", "--target", "pmcp-run", "--json"], true);
    assert_eq!(json_doc(&out)["targets"][0]["state"], "not deployed");
    let out = cmd(&["destroy", "--target", "pmcp-run", "--json"], true);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json_doc(&out)["removed"], false);
}

#[test]
fn redirects_are_not_followed_so_no_credential_reaches_another_host() {
    let project = Project::new(&entra_toml("pmcp-run"));
    let trap = Trap::start();
    let redirect = Redirector::start(&trap.base);

    // GraphQL (raw token in Authorization) answered with a 307 to another port.
    let api = FakeApi::start(Faults {
        graphql_url: Some(format!("{}/graphql", redirect.base)),
        ..Default::default()
    });
    let out = deploy(&project, &api, &[]);
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{se}");
    assert!(
        se.contains(&format!("{}/graphql answered HTTP 307", redirect.base)),
        "{se}"
    );
    assert_eq!(redirect.seen.lock().unwrap().len(), 1);
    assert!(trap.seen.lock().unwrap().is_empty(), "the token went on");

    // The token endpoint (client secret in HTTP Basic) answered with a 307 to another port.
    let api = FakeApi::start(Faults {
        cognito_domain: Some(redirect.base.clone()),
        ..Default::default()
    });
    let out = project
        .deploy(FAST)
        .env("PMCP_API_URL", &api.base)
        .env("PMCP_CLIENT_ID", api::CLIENT_ID)
        .env("PMCP_CLIENT_SECRET", api::CLIENT_SECRET)
        .output()
        .unwrap();
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{se}");
    assert!(se.contains("answered HTTP 307"), "{se}");
    assert_eq!(redirect.seen.lock().unwrap().len(), 2);
    assert!(
        trap.seen.lock().unwrap().is_empty(),
        "the client secret went on"
    );
    assert!(!se.contains(api::CLIENT_SECRET));
}

#[test]
fn bootstrap_uploads_that_keep_failing_end_with_exit_4() {
    let project = Project::new(&entra_toml("pmcp-run"));
    let api = FakeApi::start(Faults {
        bootstrap_put_503: 10,
        ..Default::default()
    });
    let out = deploy(&project, &api, &["--retry-attempts", "3"]);
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{se}");
    assert!(
        se.contains("the bootstrap upload failed after 3 attempts"),
        "{se}"
    );
    let seen = api.seen();
    assert_eq!(
        seen.puts
            .iter()
            .filter(|p| p.path == "/upload/bootstrap")
            .count(),
        3
    );
    assert!(seen.calls("createDeploymentFromS3").is_empty());
    drop(seen);
    assert_eq!(json_doc(&out)["exit_code"], 4);
}

#[test]
fn a_connection_reset_mid_upload_is_retried() {
    let project = Project::new(&entra_toml("pmcp-run"));
    let api = FakeApi::start(Faults {
        put_reset: 1,
        ..Default::default()
    });
    let out = deploy(&project, &api, &[]);
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{se}");
    assert!(se.contains("bootstrap upload attempt 1/4 failed"), "{se}");
    assert!(!se.contains(api::UPLOAD_SIGNATURE), "{se}");
    let seen = api.seen();
    let boots: Vec<_> = seen
        .puts
        .iter()
        .filter(|p| p.path == "/upload/bootstrap")
        .collect();
    assert_eq!(boots.len(), 2);
    assert!(!boots[0].completed && boots[1].completed);
}

#[test]
fn in_github_actions_secrets_are_masked_and_a_summary_is_written() {
    let project = Project::new(&entra_toml("pmcp-run"));
    let api = FakeApi::start(Faults::default());
    let summary = project.dir.join("summary.md");
    let out = project
        .deploy(FAST)
        .env("PMCP_API_URL", &api.base)
        .env("PMCP_ACCESS_TOKEN", api::TOKEN)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    let (so, se) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{se}");
    // The runner masks these values in every later log line; this is the only place they appear.
    let masks: Vec<&str> = se
        .lines()
        .filter(|l| l.starts_with("::add-mask::"))
        .collect();
    for v in [SECRET_VALUE, api::TOKEN] {
        assert!(masks.contains(&format!("::add-mask::{v}").as_str()), "{se}");
    }
    let rest: String = se
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect();
    assert!(!rest.contains(SECRET_VALUE) && !so.contains(SECRET_VALUE));
    assert!(!rest.contains(api::UPLOAD_SIGNATURE));
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("https://api.pmcp.run/dep-1/mcp"), "{md}");
    assert!(!md.contains(SECRET_VALUE));
}

#[test]
fn an_access_token_with_a_trailing_newline_is_masked_as_it_is_sent() {
    let project = Project::new(&entra_toml("pmcp-run"));
    let api = FakeApi::start(Faults::default());
    let out = project
        .cmd()
        .args(["deploy", "status", "--target", "pmcp-run"])
        .env("PMCP_API_URL", &api.base)
        .env("PMCP_ACCESS_TOKEN", format!("{}\n", api::TOKEN))
        .env("GITHUB_ACTIONS", "true")
        .output()
        .unwrap();
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{se}");
    assert!(
        se.lines()
            .any(|l| l == format!("::add-mask::{}", api::TOKEN)),
        "{se}"
    );
    // The trimmed token is what was sent.
    for (_, auth, _) in &api.seen().graphql {
        assert_eq!(auth.as_deref(), Some(api::TOKEN));
    }
}

// ---- cargo pmcp login / logout ----

/// A free port on 127.0.0.1 (for the sign-in callback; pmcp.run's own is 8787).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET url` over plain HTTP/1.1 to 127.0.0.1 (whatever the host name says): status line and the
/// `Location` header.
fn http_get(url: &str) -> (String, Option<String>) {
    use std::io::{Read, Write};
    let u = url::Url::parse(url).unwrap();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", u.port().unwrap())).unwrap();
    let target = match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    };
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        u.host_str().unwrap()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text.lines().next().unwrap_or_default().to_string();
    let location = text
        .lines()
        .find_map(|l| l.strip_prefix("Location: ").map(str::to_string));
    (status, location)
}

/// `cargo-pmcp login` started in the background (stderr read line by line), as CI runs it, with
/// the project's own home.
struct LoginRun {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl LoginRun {
    fn start(project: &Project, api: &FakeApi, port: u16, extra: &[&str]) -> LoginRun {
        use std::io::BufRead;
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_cargo-pmcp"));
        for name in crate::support::SCRUBBED_ENV {
            cmd.env_remove(name);
        }
        std::fs::create_dir_all(project.home()).unwrap();
        cmd.current_dir(project.dir.path())
            .env("CI", "true")
            .env("NO_COLOR", "1")
            .env("HOME", project.home())
            .env("PMCP_API_URL", &api.base)
            .args(["login", "--json", "--callback-port", &port.to_string()])
            .args(extra)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let all = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (err, a) = (child.stderr.take().unwrap(), all.clone());
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                a.lock().unwrap().push_str(&format!("{line}\n"));
                let _ = tx.send(line);
            }
        });
        LoginRun {
            child,
            lines: rx,
            stderr: all,
        }
    }

    /// The sign-in URL the CLI printed.
    fn authorize_url(&self) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(std::time::Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("no sign-in URL: {}", self.stderr.lock().unwrap()));
            if let Some(u) = line.trim().strip_prefix("http")
                && line.contains("/oauth2/authorize?")
            {
                return format!("http{u}");
            }
        }
    }

    fn finish(mut self) -> (Option<i32>, String, String) {
        use std::io::Read;
        let mut so = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut so)
            .unwrap();
        let status = self.child.wait().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let se = self.stderr.lock().unwrap().clone();
        (status.code(), so, se)
    }
}

#[test]
fn login_signs_in_with_pkce_and_state_writes_0600_credentials_and_logout_removes_them() {
    let project = Project::new(&entra_toml("pmcp-run"));
    let api = FakeApi::start(Faults::default());
    let port = free_port();
    let run = LoginRun::start(&project, &api, port, &[]);
    let url = run.authorize_url();
    let q: HashMap<String, String> = url::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert!(
        url.starts_with(&format!("{}/oauth2/authorize?", api.base)),
        "{url}"
    );
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], api::COGNITO_CLIENT_ID);
    assert_eq!(q["scope"], "openid email profile");
    assert_eq!(q["redirect_uri"], format!("http://localhost:{port}"));
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(
        q["state"].len() >= 32 && q["code_challenge"].len() == 43,
        "{q:?}"
    );
    // The browser: the hosted UI redirects to the CLI's listener with the code and the state.
    let (status, location) = http_get(&url);
    assert!(status.contains("302"), "{status}");
    let (status, _) = http_get(&location.unwrap());
    assert!(status.contains("200"), "{status}");
    let (code, so, se) = run.finish();
    assert_eq!(code, Some(0), "{se}");
    let doc: Value = serde_json::from_str(so.trim()).unwrap_or_else(|e| panic!("{e}: {so}"));
    assert_eq!(doc["signed_in"], true);
    // The exchange: a public client with the verifier (the fake checks S256 of it).
    {
        let seen = api.seen();
        let (auth, form) = seen.token_requests.last().unwrap();
        assert!(auth.is_none(), "a public client sends no credentials");
        assert_eq!(form["grant_type"], "authorization_code");
        assert_eq!(form["code"], api::AUTH_CODE);
        assert_eq!(form["client_id"], api::COGNITO_CLIENT_ID);
        assert_eq!(form["redirect_uri"], format!("http://localhost:{port}"));
        assert!(form.contains_key("code_verifier"));
    }
    let path = project.home().join(".pmcp/credentials.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("[pmcp-run]") && text.contains(api::LOGIN_TOKEN),
        "{text}"
    );
    assert!(text.contains(api::LOGIN_REFRESH), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    for leaked in [api::LOGIN_TOKEN, api::LOGIN_REFRESH, api::AUTH_CODE] {
        assert!(
            !se.contains(leaked) && !so.contains(leaked),
            "{leaked}: {se}"
        );
    }

    // The stored sign-in is used when nothing is in the environment.
    let out = project
        .cmd()
        .args(["deploy", "status", "--target", "pmcp-run", "--json"])
        .env("PMCP_API_URL", &api.base)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        api.seen().graphql.last().unwrap().1.as_deref(),
        Some(api::LOGIN_TOKEN)
    );

    let out = project.cmd().args(["logout"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("Signed out"), "{}", stdout(&out));
    assert!(!path.exists(), "the file held only [pmcp-run]");
    let out = project.cmd().args(["logout"]).output().unwrap();
    assert!(stdout(&out).contains("Not signed in"), "{}", stdout(&out));
}

#[test]
fn login_refuses_a_callback_with_another_state_and_times_out() {
    let project = Project::new(&entra_toml("pmcp-run"));
    let api = FakeApi::start(Faults::default());
    let port = free_port();
    let run = LoginRun::start(&project, &api, port, &[]);
    let _ = run.authorize_url();
    let (status, _) = http_get(&format!(
        "http://localhost:{port}/?code={}&state=forged-state",
        api::AUTH_CODE
    ));
    assert!(status.contains("400"), "{status}");
    let (code, so, se) = run.finish();
    assert_eq!(code, Some(4), "{se}");
    assert!(se.contains("state does not match"), "{se}");
    let doc: Value = serde_json::from_str(so.trim()).unwrap();
    assert_eq!(doc["error"]["code"], "login_failed");
    assert!(
        api.seen().token_requests.is_empty(),
        "the code was not exchanged"
    );
    assert!(!project.home().join(".pmcp/credentials.toml").exists());

    // Nobody signs in: the wait ends (5 minutes for real; shortened here).
    let run = LoginRun::start(&project, &api, free_port(), &["--timeout", "300ms"]);
    let (code, _, se) = run.finish();
    assert_eq!(code, Some(4), "{se}");
    assert!(se.contains("no sign-in arrived within"), "{se}");
}
