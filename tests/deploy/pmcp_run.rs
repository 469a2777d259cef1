//! `--target pmcp-run` against the in-process API, with faults.

use super::api::{self, FakeApi, Faults};
use super::{CLIENT, Project, SECRET_VALUE, TENANT, entra_toml, stderr, stdout};
use serde_json::Value;

/// Fast retries and polls (the protocol's waits, shortened; nothing sleeps to pass time).
const FAST: &[&str] = &["--retry-base-ms", "1", "--poll-interval-ms", "5"];

fn deploy(project: &Project, api: &FakeApi, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["--json"];
    args.extend_from_slice(FAST);
    args.extend_from_slice(extra);
    project
        .deploy(&args)
        .env("PMCP_RUN_API_URL", &api.base)
        .env("PMCP_ACCESS_TOKEN", api::TOKEN)
        .output()
        .unwrap()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The secret value appears exactly once across all requests: in `secrets` of createDeployment.
fn assert_secret_only_in_create(api: &FakeApi) {
    let seen = api.seen();
    let input = seen.create_input().expect("a createDeployment request");
    let secrets = input["secrets"].as_array().unwrap();
    assert_eq!(secrets.len(), 1, "{input}");
    assert_eq!(secrets[0]["name"], "ENTRA_CLIENT_SECRET");
    assert_eq!(secrets[0]["value"], SECRET_VALUE);
    let mut without = input.clone();
    without["secrets"] = Value::Null;
    assert!(!without.to_string().contains(SECRET_VALUE), "{without}");
    let mut hits = 0;
    for (method, path, headers, body) in &seen.raw {
        for v in headers.values() {
            assert!(!v.contains(SECRET_VALUE), "{method} {path} header");
        }
        if contains(body, SECRET_VALUE.as_bytes()) {
            hits += 1;
            let b = String::from_utf8_lossy(body);
            assert!(b.contains("createDeployment"), "{method} {path}: {b}");
        }
    }
    assert_eq!(hits, 1);
    for put in &seen.puts {
        assert!(!contains(&put.body, SECRET_VALUE.as_bytes()));
    }
}

#[test]
fn two_503s_then_success_retries_shows_it_and_sends_the_contract() {
    let project = Project::new(&entra_toml("pmcp-run"));
    let api = FakeApi::start(Faults {
        put_503: 2,
        ..Default::default()
    });
    let out = deploy(&project, &api, &[]);
    let (so, se) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{se}");
    assert!(se.contains("upload attempt 1/4 failed: HTTP 503"), "{se}");
    assert!(se.contains("upload attempt 2/4 failed: HTTP 503"), "{se}");
    assert!(se.contains("retrying in"), "{se}");
    assert!(se.contains("(attempt 3)"), "{se}");

    // One JSON document on stdout, with the fields the issue names.
    let doc: Value = serde_json::from_str(so.trim()).expect(&so);
    assert_eq!(doc["target"], "pmcp-run");
    assert_eq!(doc["url"], "https://tiny-server.pmcp.run/mcp");
    assert_eq!(doc["deployment_id"], "dep-1");
    assert_eq!(
        doc["secret_names"],
        serde_json::json!(["ENTRA_CLIENT_SECRET"])
    );
    assert!(
        doc["env_names"]
            .as_array()
            .unwrap()
            .contains(&"AUTH_ISSUER".into())
    );
    for k in ["build", "package", "upload", "deploy", "total"] {
        assert!(doc["durations_ms"][k].is_u64(), "{k}: {doc}");
    }

    let seen = api.seen();
    // Three PUTs, the last complete, all with the sha256 header of the artifact.
    assert_eq!(seen.puts.len(), 3);
    let stored = seen.stored.clone().expect("artifact stored");
    let sha = doc["artifact"]["sha256"].as_str().unwrap();
    assert_eq!(
        doc["artifact"]["size"].as_u64().unwrap(),
        stored.len() as u64
    );
    for p in &seen.puts {
        assert_eq!(p.headers["x-pmcp-sha256"], sha);
        assert_eq!(p.headers["content-length"], stored.len().to_string());
    }
    // The raw token as Authorization, no scheme.
    for (_, path, headers, _) in &seen.raw {
        if path == "/graphql" {
            assert_eq!(headers["authorization"], api::TOKEN);
        }
    }
    // The environment the API received carries the Entra values.
    let input = seen.create_input().unwrap();
    let env: std::collections::BTreeMap<String, String> = input["environment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().into(),
                e["value"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(env["ENTRA_TENANT_ID"], TENANT);
    assert_eq!(env["ENTRA_CLIENT_ID"], CLIENT);
    assert_eq!(
        env["ENTRA_AUTHORITY_HOST"],
        "https://login.microsoftonline.com"
    );
    assert_eq!(env["AUTH_PROVIDER"], "entra");
    assert_eq!(
        env["AUTH_ISSUER"],
        format!("https://login.microsoftonline.com/{TENANT}/v2.0")
    );
    assert_eq!(env["AUTH_AUDIENCE"], CLIENT);
    assert_eq!(env["AUTH_LEEWAY_SECONDS"], "300");
    assert_eq!(env["LOG_LEVEL"], "debug");
    assert!(!env.contains_key("ENTRA_CLIENT_SECRET"));
    assert_eq!(input["runtime"], "provided.al2023");
    assert_eq!(input["projectName"], "tiny-server");
    assert_eq!(input["serverVersion"], "0.3.1");
    assert_eq!(input["memoryMb"], 256);
    assert_eq!(input["uploadId"], "up-1");
    assert_eq!(input["auth"]["provider"], "entra");
    assert_eq!(input["auth"]["tenantId"], TENANT);
    assert_eq!(input["auth"]["dcr"]["enabled"], true);
    drop(seen);
    assert_secret_only_in_create(&api);

    // Nowhere else: not in the zip, stdout or stderr.
    let zip = std::fs::read(doc["artifact"]["path"].as_str().unwrap()).unwrap();
    assert_eq!(zip, stored);
    assert!(!contains(&zip, SECRET_VALUE.as_bytes()));
    assert!(!so.contains(SECRET_VALUE) && !se.contains(SECRET_VALUE));

    // Recorded.
    let rec = project.dir.read(".pmcp/deployment.toml");
    assert!(rec.contains("deployment_id = \"dep-1\""), "{rec}");
    assert!(rec.contains(sha), "{rec}");
    assert!(!rec.contains(SECRET_VALUE));
}

#[test]
fn connection_reset_mid_upload_is_retried() {
    let project = Project::new(&entra_toml("pmcp-run"));
    let api = FakeApi::start(Faults {
        put_reset: 1,
        ..Default::default()
    });
    let out = deploy(&project, &api, &[]);
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{se}");
    assert!(se.contains("upload attempt 1/4 failed"), "{se}");
    // The upload URL's query (its signature) never reaches the output.
    assert!(!se.contains(api::UPLOAD_SIGNATURE), "{se}");
    let seen = api.seen();
    assert_eq!(seen.puts.len(), 2);
    assert!(!seen.puts[0].completed);
    assert!(seen.puts[1].completed);
}

#[test]
fn uploads_that_keep_failing_end_with_exit_4() {
    let project = Project::new(&entra_toml("pmcp-run"));
    let api = FakeApi::start(Faults {
        put_503: 10,
        ..Default::default()
    });
    let out = deploy(&project, &api, &["--retry-attempts", "3"]);
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{se}");
    assert!(se.contains("the upload failed after 3 attempts"), "{se}");
    assert_eq!(api.seen().puts.len(), 3);
    assert!(api.seen().create_input().is_none());
    // --json: one error document on stdout.
    let doc: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(doc["exit_code"], 4);
}

#[test]
fn graphql_401_is_an_auth_error_not_retried() {
    let project = Project::new(&entra_toml("pmcp-run"));
    let api = FakeApi::start(Faults {
        graphql_401: true,
        ..Default::default()
    });
    let out = deploy(&project, &api, &[]);
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{se}");
    assert!(se.contains("rejected the access token (HTTP 401"), "{se}");
    assert!(se.contains("PMCP_ACCESS_TOKEN"), "{se}");
    let seen = api.seen();
    assert_eq!(seen.graphql.len(), 1, "not retried");
    assert!(seen.puts.is_empty());
    assert!(!se.contains(api::TOKEN));
}

#[test]
fn failed_deployment_shows_the_message_and_exits_5() {
    let project = Project::new(&entra_toml("pmcp-run"));
    let api = FakeApi::start(Faults {
        fail_with: Some("health check failed: bootstrap exited with status 101".into()),
        ..Default::default()
    });
    let out = deploy(&project, &api, &[]);
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(5), "{se}");
    assert!(
        se.contains("deployment failed: health check failed: bootstrap exited with status 101"),
        "{se}"
    );
    assert!(!project.dir.join(".pmcp/deployment.toml").exists());
}

#[test]
fn never_ready_times_out_with_exit_5() {
    let project = Project::new(&entra_toml("pmcp-run"));
    let api = FakeApi::start(Faults {
        never_ready: true,
        ..Default::default()
    });
    let out = deploy(&project, &api, &["--wait-timeout", "200ms"]);
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(5), "{se}");
    assert!(se.contains("was not ready after"), "{se}");
    assert!(se.contains("last status: DEPLOYING"), "{se}");
    assert!(se.contains("dep-1"), "{se}");
    assert!(api.seen().polls >= 1);
}

#[test]
fn already_uploaded_skips_the_put_and_client_credentials_work() {
    let project = Project::new(&entra_toml("pmcp-run"));
    let api = FakeApi::start(Faults {
        already_uploaded: true,
        ..Default::default()
    });
    let out = project
        .deploy(&["--retry-base-ms", "1", "--poll-interval-ms", "5"])
        .env("PMCP_RUN_API_URL", &api.base)
        .env("PMCP_CLIENT_ID", api::CLIENT_ID)
        .env("PMCP_CLIENT_SECRET", api::CLIENT_SECRET)
        .output()
        .unwrap();
    let (so, se) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{se}");
    assert!(se.contains("upload skipped"), "{se}");
    assert!(
        so.contains("MCP URL:   https://tiny-server.pmcp.run/mcp"),
        "{so}"
    );
    assert!(so.contains("https://tiny-server.pmcp.run/health"), "{so}");
    assert!(
        so.contains("https://tiny-server.pmcp.run/oauth2/token"),
        "{so}"
    );
    let seen = api.seen();
    assert!(seen.puts.is_empty());
    assert_eq!(seen.token_requests.len(), 1);
    for (_, path, headers, _) in &seen.raw {
        if path == "/graphql" {
            assert_eq!(headers["authorization"], api::CC_TOKEN);
        }
    }
    assert!(!so.contains(api::CLIENT_SECRET) && !se.contains(api::CLIENT_SECRET));
    assert!(!so.contains(SECRET_VALUE) && !se.contains(SECRET_VALUE));
    drop(seen);

    // status asks the API about the recorded deployment.
    let out = project
        .dir
        .cmd()
        .args(["deploy", "status", "--target", "pmcp-run", "--json"])
        .env("PMCP_RUN_API_URL", &api.base)
        .env("PMCP_ACCESS_TOKEN", api::TOKEN)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(doc["targets"][0]["state"], "SUCCESS");
    assert_eq!(doc["targets"][0]["deployment_id"], "dep-1");
    assert_eq!(doc["targets"][0]["url"], "https://tiny-server.pmcp.run/mcp");
    // Without credentials it shows the record and says how to get the live status.
    let out = project
        .dir
        .cmd()
        .args(["deploy", "status", "--target", "pmcp-run"])
        .output()
        .unwrap();
    let so = stdout(&out);
    assert!(so.contains("pmcp-run: deployed (recorded)"), "{so}");
    assert!(so.contains("PMCP_ACCESS_TOKEN"), "{so}");
    // The API has no delete: destroy says so instead of pretending.
    let out = project
        .dir
        .cmd()
        .args(["deploy", "destroy", "--target", "pmcp-run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no delete operation"),
        "{}",
        stderr(&out)
    );
    // With --json the failure is also the one JSON document on stdout, as for `deploy`.
    let out = project
        .dir
        .cmd()
        .args(["deploy", "destroy", "--target", "pmcp-run", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["exit_code"], 2, "{doc}");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no delete operation"),
        "{doc}"
    );
}

#[test]
fn missing_credentials_fail_before_building() {
    let project = Project::new(&entra_toml("pmcp-run"));
    let out = project.deploy(&[]).output().unwrap();
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{se}");
    assert!(se.contains("PMCP_ACCESS_TOKEN"), "{se}");
    assert!(!se.contains("building"), "{se}");
    assert!(!project.dir.join("target").exists());
}

#[test]
fn dry_run_contacts_nothing_and_never_shows_the_secret() {
    let project = Project::new(&entra_toml("pmcp-run"));
    let api = FakeApi::start(Faults::default());
    let out = project
        .deploy(&["--dry-run"])
        .env("PMCP_RUN_API_URL", &api.base)
        .env("PMCP_ACCESS_TOKEN", api::TOKEN)
        .output()
        .unwrap();
    let (so, se) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{se}");
    assert!(so.contains("Plan (dry run"), "{so}");
    assert!(so.contains(&format!("ENTRA_TENANT_ID={TENANT}")), "{so}");
    assert!(so.contains("ENTRA_CLIENT_SECRET=********"), "{so}");
    assert!(so.contains("sha256:"), "{so}");
    assert!(so.contains("target:    pmcp-run"), "{so}");
    assert!(
        so.contains("url:       assigned by pmcp-run when deployed"),
        "{so}"
    );
    assert!(!so.contains(SECRET_VALUE) && !se.contains(SECRET_VALUE));
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
    // --json dry run: values of the non-secret environment, names of the secrets.
    let out = project
        .deploy(&["--dry-run", "--json"])
        .env("PMCP_RUN_API_URL", &api.base)
        .output()
        .unwrap();
    let so = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(so.trim()).unwrap();
    assert_eq!(doc["dry_run"], true);
    assert!(doc["url"].is_null(), "pmcp.run assigns the URL: {doc}");
    assert_eq!(doc["environment"]["ENTRA_CLIENT_ID"], CLIENT);
    assert_eq!(doc["secret_names"][0], "ENTRA_CLIENT_SECRET");
    assert!(!so.contains(SECRET_VALUE) && !stderr(&out).contains(SECRET_VALUE));
    assert!(api.seen().raw.is_empty());
    let zip = std::fs::read(doc["artifact"]["path"].as_str().unwrap()).unwrap();
    assert!(!contains(&zip, SECRET_VALUE.as_bytes()));
}

#[test]
fn in_github_actions_secrets_are_masked_and_a_summary_is_written() {
    let project = Project::new(&entra_toml("pmcp-run"));
    let api = FakeApi::start(Faults::default());
    let summary = project.dir.join("summary.md");
    let out = project
        .deploy(FAST)
        .env("PMCP_RUN_API_URL", &api.base)
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
    assert!(
        masks.contains(&format!("::add-mask::{SECRET_VALUE}").as_str()),
        "{se}"
    );
    assert!(
        masks.contains(&format!("::add-mask::{}", api::TOKEN).as_str()),
        "{se}"
    );
    let rest: String = se
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect();
    assert!(!rest.contains(SECRET_VALUE) && !so.contains(SECRET_VALUE));
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("https://tiny-server.pmcp.run/mcp"), "{md}");
    assert!(!md.contains(SECRET_VALUE));
}

#[test]
fn an_access_token_with_a_trailing_newline_is_masked_as_it_is_sent() {
    let project = Project::new(&entra_toml("pmcp-run"));
    let out = project
        .dir
        .cmd()
        .args(["deploy", "status", "--target", "pmcp-run"])
        .env("PMCP_ACCESS_TOKEN", "tok-123\n")
        .env("GITHUB_ACTIONS", "true")
        .output()
        .unwrap();
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{se}");
    assert!(se.lines().any(|l| l == "::add-mask::tok-123"), "{se}");
}
