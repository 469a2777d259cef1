//! `cargo pmcp deploy init`: the built binary in temp cargo projects, run as CI runs it.

use crate::support::{TestDir, all_output, stderr, stdout};
use std::path::Path;

const TENANT: &str = "11111111-2222-3333-4444-555555555555";
const CLIENT: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
const OTHER_CLIENT: &str = "99999999-8888-7777-6666-555555555555";

fn project(name: &str) -> TestDir {
    let t = TestDir::new();
    t.cargo_package(name);
    t
}

/// `deploy init` with the given extra args; asserts nothing.
fn init(t: &TestDir, args: &[&str]) -> std::process::Output {
    t.cmd()
        .args(["pmcp", "deploy", "init"])
        .args(args)
        .output()
        .unwrap()
}

fn init_ok(t: &TestDir, args: &[&str]) -> std::process::Output {
    let out = init(t, args);
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    out
}

fn entra_args() -> Vec<&'static str> {
    vec!["--tenant-id", TENANT, "--client-id", CLIENT]
}

fn config(t: &TestDir) -> toml::Table {
    t.read(".pmcp/deploy.toml").parse().unwrap()
}

fn manifest(t: &TestDir) -> serde_json::Value {
    serde_json::from_str(&t.read(".pmcp/entra-app.json")).unwrap()
}

#[test]
fn fresh_init_writes_the_seed_keys_and_defaults() {
    let t = project("weather_server");
    let out = init_ok(
        &t,
        &[
            "--target",
            "pmcp-run",
            "--oauth",
            "entra",
            "--tenant-id",
            TENANT,
            "--client-id",
            CLIENT,
        ],
    );
    let c = config(&t);
    let auth = c["auth"].as_table().unwrap();
    assert_eq!(auth["enabled"].as_bool(), Some(true));
    assert_eq!(auth["provider"].as_str(), Some("entra"));
    assert_eq!(auth["tenant_id"].as_str(), Some(TENANT));
    assert_eq!(auth["client_id"].as_str(), Some(CLIENT));
    let dcr = auth["dcr"].as_table().unwrap();
    assert_eq!(dcr["enabled"].as_bool(), Some(true));
    let strs = |v: &toml::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        strs(&dcr["public_client_patterns"]),
        ["claude", "cursor", "chatgpt", "mcp-inspector"]
    );
    assert_eq!(strs(&dcr["default_scopes"]), ["openid", "email", "profile"]);
    assert_eq!(c["target"]["type"].as_str(), Some("pmcp-run"));
    // The package name, made a valid host name.
    assert_eq!(c["server"]["name"].as_str(), Some("weather-server"));
    // Extras are written only when set: public cloud, single tenant, derived redirect.
    assert!(
        auth.get("entra").is_none(),
        "{}",
        t.read(".pmcp/deploy.toml")
    );
    // The file starts from the commented template.
    let text = t.read(".pmcp/deploy.toml");
    assert!(
        text.starts_with("# cargo-pmcp deployment settings"),
        "{text}"
    );
    assert!(text.contains("# [auth.entra.group_permissions]"), "{text}");
    // Defaults are reported one line each, so a CI log shows what was chosen.
    let err = stderr(&out);
    assert!(
        err.contains(
            "using server.name = weather-server (default: package `weather_server` in Cargo.toml)"
        ),
        "{err}"
    );
    assert!(
        err.contains("using auth.entra.authority_host = https://login.microsoftonline.com (default: public cloud)"),
        "{err}"
    );
    assert!(err.contains(".pmcp/deploy.toml created"), "{err}");
}

#[test]
fn second_run_with_the_same_inputs_is_byte_identical() {
    let t = project("weather");
    let args = [
        "--tenant-id",
        TENANT,
        "--client-id",
        CLIENT,
        "--multi-tenant",
        "--allowed-tenant",
        TENANT,
        "--cloud",
        "usgov",
    ];
    init_ok(&t, &args);
    let toml1 = std::fs::read(t.join(".pmcp/deploy.toml")).unwrap();
    let json1 = std::fs::read(t.join(".pmcp/entra-app.json")).unwrap();
    let out = init_ok(&t, &args);
    assert_eq!(std::fs::read(t.join(".pmcp/deploy.toml")).unwrap(), toml1);
    assert_eq!(
        std::fs::read(t.join(".pmcp/entra-app.json")).unwrap(),
        json1
    );
    let err = stderr(&out);
    assert!(err.contains(".pmcp/deploy.toml unchanged"), "{err}");
    assert!(err.contains(".pmcp/entra-app.json unchanged"), "{err}");
    // A third run with no flags reads everything back from the file and still changes nothing.
    let out = init_ok(&t, &[]);
    assert_eq!(std::fs::read(t.join(".pmcp/deploy.toml")).unwrap(), toml1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "using auth.client_id = {CLIENT} (.pmcp/deploy.toml:"
        )),
        "{err}"
    );
}

/// A deploy.toml saved by a Windows editor (BOM, CRLF) keeps both, and an identical re-run is
/// "unchanged" with the same bytes (before: rewritten to LF without BOM, reported "updated").
#[test]
fn a_crlf_file_with_a_bom_is_kept_as_it_is() {
    let t = project("weather");
    let args = ["--tenant-id", TENANT, "--client-id", CLIENT];
    init_ok(&t, &args);
    let lf = t.read(".pmcp/deploy.toml");
    let windows = format!("\u{feff}{}", lf.replace('\n', "\r\n"));
    t.write(".pmcp/deploy.toml", &windows);
    let out = init_ok(&t, &args);
    assert!(
        stderr(&out).contains(".pmcp/deploy.toml unchanged"),
        "{}",
        stderr(&out)
    );
    assert_eq!(t.read(".pmcp/deploy.toml"), windows);
    // A change is written in the file's own convention.
    let out = init_ok(&t, &["--client-id", OTHER_CLIENT]);
    assert!(
        stderr(&out).contains(".pmcp/deploy.toml updated"),
        "{}",
        stderr(&out)
    );
    let now = t.read(".pmcp/deploy.toml");
    assert!(now.starts_with('\u{feff}'));
    assert!(!now.replace("\r\n", "").contains('\n'), "{now:?}");
    assert!(now.contains(OTHER_CLIENT));
}

/// A symlinked deploy.toml (shared from another directory) stays a symlink; init writes the file
/// it points to (before: the link was replaced by a regular file).
#[cfg(unix)]
#[test]
fn a_symlinked_deploy_toml_is_written_through() {
    let t = project("weather");
    let real = t.write("shared/deploy.toml", "[target]\ntype = \"local\"\n");
    std::fs::create_dir_all(t.join(".pmcp")).unwrap();
    std::os::unix::fs::symlink(&real, t.join(".pmcp/deploy.toml")).unwrap();
    init_ok(&t, &["--tenant-id", TENANT, "--client-id", CLIENT]);
    let meta = std::fs::symlink_metadata(t.join(".pmcp/deploy.toml")).unwrap();
    assert!(meta.file_type().is_symlink(), "the link was replaced");
    assert!(t.read("shared/deploy.toml").contains(CLIENT));
}

#[test]
fn reinit_keeps_comments_unknown_keys_and_edited_values() {
    let t = project("weather");
    init_ok(&t, &entra_args());
    let text = t.read(".pmcp/deploy.toml");
    let edited = text
        .replace(
            "memory_mb = 512",
            "memory_mb = 1024 # needs more\nmy_custom_key = \"keep me\"",
        )
        .replace("[auth]\n", "[auth]\n# Owned by the platform team\n");
    t.write(".pmcp/deploy.toml", &edited);
    let out = init_ok(&t, &["--client-id", OTHER_CLIENT]);
    let after = t.read(".pmcp/deploy.toml");
    assert_eq!(after, edited.replace(CLIENT, OTHER_CLIENT));
    // The typo guard names the unknown key and where it is.
    let err = stderr(&out);
    let line = edited
        .lines()
        .position(|l| l.starts_with("my_custom_key"))
        .unwrap()
        + 1;
    assert!(
        err.contains(&format!(
            "warning: .pmcp/deploy.toml:{line}:1: unknown key `my_custom_key` in [server] has no effect"
        )),
        "{err}"
    );
}

#[test]
fn typo_in_an_owned_table_gets_a_suggestion() {
    let t = project("weather");
    t.write(
        ".pmcp/deploy.toml",
        &format!("[auth]\ntenant_id = \"{TENANT}\"\nclient_id = \"{CLIENT}\"\n\n[auth.dcr]\nenabeld = false\n"),
    );
    let out = init_ok(&t, &[]);
    assert!(
        stderr(&out).contains(".pmcp/deploy.toml:6:1: unknown key `enabeld` in [auth.dcr] has no effect (did you mean `enabled`?)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn reinit_fixture_in_to_out() {
    // A hand-written file in the seed's style (single quotes, trailing comments, multi-line arrays,
    // a user's DCR pattern, an unknown key): the placeholders are replaced, everything else stays.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/init/fixtures/reinit");
    let t = project("weather");
    t.write(
        ".pmcp/deploy.toml",
        &std::fs::read_to_string(dir.join("in/deploy.toml")).unwrap(),
    );
    init_ok(&t, &entra_args());
    let expected = std::fs::read_to_string(dir.join("out/deploy.toml")).unwrap();
    assert_eq!(t.read(".pmcp/deploy.toml"), expected);
}

#[test]
fn unparseable_file_is_never_touched() {
    let t = project("weather");
    let broken = "[auth]\nenabled = true\ntenant_id = \"unterminated\n";
    t.write(".pmcp/deploy.toml", broken);
    let out = init(&t, &entra_args());
    assert_eq!(out.status.code(), Some(2), "{}", all_output(&out));
    let err = stderr(&out);
    assert!(err.contains("error: .pmcp/deploy.toml:3:"), "{err}");
    assert!(err.contains("was not changed"), "{err}");
    assert_eq!(t.read(".pmcp/deploy.toml"), broken);
    assert!(!t.join(".pmcp/entra-app.json").exists());
    // No temp file left behind either.
    let names: Vec<_> = std::fs::read_dir(t.join(".pmcp"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn missing_values_in_ci_name_every_flag_and_env_var() {
    let t = project("weather");
    let out = init(&t, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", all_output(&out));
    let err = stderr(&out);
    assert!(
        err.contains("not asking: no terminal, or CI is set"),
        "{err}"
    );
    assert!(
        err.contains("--tenant-id or ENTRA_TENANT_ID (or AZURE_TENANT_ID)"),
        "{err}"
    );
    assert!(
        err.contains("--client-id or ENTRA_CLIENT_ID (or AZURE_CLIENT_ID)"),
        "{err}"
    );
    assert!(
        err.contains("az account show --query tenantId -o tsv"),
        "{err}"
    );
    assert!(
        !t.join(".pmcp").exists(),
        "nothing is written when inputs are missing"
    );

    let out = init(&t, &["--oauth", "oidc"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    // The server contract's names first, deploy init's older names as aliases.
    assert!(
        err.contains("--issuer or AUTH_ISSUER (or OIDC_ISSUER)"),
        "{err}"
    );
    assert!(
        err.contains("--audience or AUTH_AUDIENCE (or OIDC_AUDIENCE)"),
        "{err}"
    );
}

#[test]
fn env_resolution_order_is_flag_entra_azure_file() {
    let t = project("weather");
    let other_tenant = "22222222-2222-3333-4444-555555555555";
    let third_tenant = "33333333-2222-3333-4444-555555555555";
    // AZURE_* alone is used.
    let out = t
        .cmd()
        .args(["deploy", "init", "--client-id", CLIENT])
        .env("AZURE_TENANT_ID", TENANT)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    assert!(stderr(&out).contains(&format!(
        "using auth.tenant_id = {TENANT} (AZURE_TENANT_ID)"
    )));
    // ENTRA_* beats AZURE_*, and env beats the file.
    let out = t
        .cmd()
        .args(["deploy", "init"])
        .env("AZURE_TENANT_ID", TENANT)
        .env("ENTRA_TENANT_ID", other_tenant)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    assert_eq!(config(&t)["auth"]["tenant_id"].as_str(), Some(other_tenant));
    // The flag beats both.
    let out = t
        .cmd()
        .args(["deploy", "init", "--tenant-id", third_tenant])
        .env("AZURE_TENANT_ID", TENANT)
        .env("ENTRA_TENANT_ID", other_tenant)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    assert_eq!(config(&t)["auth"]["tenant_id"].as_str(), Some(third_tenant));
    // Nothing given: the file's value, reported with its line.
    let out = init_ok(&t, &[]);
    let line = t
        .read(".pmcp/deploy.toml")
        .lines()
        .position(|l| l.starts_with("tenant_id"))
        .unwrap()
        + 1;
    assert!(
        stderr(&out).contains(&format!(
            "using auth.tenant_id = {third_tenant} (.pmcp/deploy.toml:{line})"
        )),
        "{}",
        stderr(&out)
    );
    // Same for the client id and authority host envs.
    let out = t
        .cmd()
        .args(["deploy", "init"])
        .env("AZURE_CLIENT_ID", OTHER_CLIENT)
        .env("AZURE_AUTHORITY_HOST", "https://login.chinacloudapi.cn/")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let c = config(&t);
    assert_eq!(c["auth"]["client_id"].as_str(), Some(OTHER_CLIENT));
    assert_eq!(
        c["auth"]["entra"]["authority_host"].as_str(),
        Some("https://login.chinacloudapi.cn")
    );
}

#[test]
fn validation_errors_name_the_source() {
    let t = project("weather");
    let out = init(&t, &["--tenant-id", "contoso", "--client-id", CLIENT]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--tenant-id `contoso`: expected a GUID"),
        "{}",
        stderr(&out)
    );

    let out = t
        .cmd()
        .args(["deploy", "init", "--client-id", CLIENT])
        .env("ENTRA_TENANT_ID", "common")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("ENTRA_TENANT_ID `common`"), "{err}");
    assert!(err.contains("--multi-tenant"), "{err}");

    // Domains are fine; `common` is fine when multi-tenant.
    init_ok(
        &t,
        &[
            "--tenant-id",
            "contoso.onmicrosoft.com",
            "--client-id",
            CLIENT,
        ],
    );
    init_ok(&t, &["--tenant-id", "contoso.com", "--client-id", CLIENT]);
    init_ok(
        &t,
        &[
            "--tenant-id",
            "organizations",
            "--multi-tenant",
            "--client-id",
            CLIENT,
        ],
    );

    let out = init(&t, &["--tenant-id", TENANT, "--client-id", "my-app"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--client-id `my-app`: expected a GUID"),
        "{}",
        stderr(&out)
    );

    let out = init(
        &t,
        &[
            "--tenant-id",
            TENANT,
            "--client-id",
            CLIENT,
            "--multi-tenant",
            "--allowed-tenant",
            "fabrikam.com",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`fabrikam.com` is not a tenant GUID"),
        "{}",
        stderr(&out)
    );

    let out = init(
        &t,
        &[
            "--tenant-id",
            TENANT,
            "--client-id",
            CLIENT,
            "--redirect-uri",
            "http://example.com/callback",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--redirect-uri `http://example.com/callback`"),
        "{}",
        stderr(&out)
    );
    init_ok(
        &t,
        &[
            "--tenant-id",
            TENANT,
            "--client-id",
            CLIENT,
            "--redirect-uri",
            "http://localhost:3000/callback",
        ],
    );
    init_ok(
        &t,
        &[
            "--tenant-id",
            TENANT,
            "--client-id",
            CLIENT,
            "--redirect-uri",
            "http://127.0.0.1:3000/callback",
        ],
    );
    assert_eq!(
        config(&t)["auth"]["entra"]["redirect_uri"].as_str(),
        Some("http://127.0.0.1:3000/callback")
    );
}

#[test]
fn a_bad_value_in_the_file_is_named_by_its_line() {
    let t = project("weather");
    t.write(
        ".pmcp/deploy.toml",
        &format!("[auth]\nenabled = true\n# pasted from the portal\nclient_id = \"not a guid\"\ntenant_id = \"{TENANT}\"\n"),
    );
    let before = t.read(".pmcp/deploy.toml");
    let out = init(&t, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", all_output(&out));
    assert!(
        stderr(&out).contains(".pmcp/deploy.toml:4: auth.client_id `not a guid`: expected a GUID"),
        "{}",
        stderr(&out)
    );
    assert_eq!(t.read(".pmcp/deploy.toml"), before);
}

#[test]
fn checklist_text_is_pinned() {
    let t = project("weather");
    let out = init_ok(&t, &entra_args());
    insta::assert_snapshot!("checklist_single_tenant", stdout(&out));

    let t = project("weather");
    let out = init_ok(
        &t,
        &[
            "--tenant-id",
            "organizations",
            "--client-id",
            CLIENT,
            "--multi-tenant",
            "--allowed-tenant",
            TENANT,
            "--cloud",
            "usgov",
            "--target",
            "local",
        ],
    );
    insta::assert_snapshot!("checklist_multi_tenant_usgov_local", stdout(&out));

    let t = project("weather");
    let out = init_ok(
        &t,
        &[
            "--oauth",
            "oidc",
            "--issuer",
            "https://id.example.com/oauth2/default",
            "--audience",
            "api://weather",
        ],
    );
    insta::assert_snapshot!("checklist_oidc", stdout(&out));
}

#[test]
fn json_checklist_on_stdout_human_text_on_stderr() {
    let t = project("weather");
    let out = init_ok(
        &t,
        &["--json", "--tenant-id", TENANT, "--client-id", CLIENT],
    );
    let v: serde_json::Value =
        serde_json::from_str(&stdout(&out)).expect("one JSON document on stdout");
    assert_eq!(v["config_path"], ".pmcp/deploy.toml");
    assert_eq!(v["config"], "created");
    assert_eq!(v["manifest_path"], ".pmcp/entra-app.json");
    assert_eq!(v["tenant_id"], TENANT);
    assert_eq!(v["sources"]["auth.tenant_id"], "--tenant-id");
    assert_eq!(
        v["sources"]["server.name"],
        "default: package `weather` in Cargo.toml"
    );
    let steps = v["checklist"]["steps"].as_array().unwrap();
    let ids: Vec<&str> = steps.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "app-registration",
            "expose-api",
            "client-secret",
            "app-roles",
            "token-configuration",
            "pre-authorize",
            "azure-cli",
            "record-values",
            "next"
        ]
    );
    assert_eq!(steps[0]["title"], "App registration");
    assert_eq!(
        steps[0]["values"]["redirect_uri"],
        "https://weather.pmcp.run/oauth/callback"
    );
    assert_eq!(v["redirect_uri"], "https://weather.pmcp.run/oauth/callback");
    assert_eq!(steps[1]["values"]["app_id_uri"], format!("api://{CLIENT}"));
    assert_eq!(steps[7]["values"]["client_id"], CLIENT);
    let err = stderr(&out);
    assert!(err.contains("1. App registration"), "{err}");
    assert!(err.contains("9. Next"), "{err}");
}

#[test]
fn manifest_fragment_shape_and_stable_role_ids() {
    let t = project("weather");
    init_ok(&t, &entra_args());
    let m = manifest(&t);
    assert_eq!(m["signInAudience"], "AzureADMyOrg");
    assert_eq!(
        m["identifierUris"],
        serde_json::json!([format!("api://{CLIENT}")])
    );
    assert_eq!(m["api"]["requestedAccessTokenVersion"], 2);
    assert_eq!(m["groupMembershipClaims"], "SecurityGroup");
    assert_eq!(
        m["web"]["redirectUris"],
        serde_json::json!(["https://weather.pmcp.run/oauth/callback"])
    );
    let roles = m["appRoles"].as_array().unwrap();
    let summary: Vec<(String, String)> = roles
        .iter()
        .map(|r| {
            assert_eq!(r["isEnabled"], true);
            assert!(!r["description"].as_str().unwrap().is_empty());
            (
                r["value"].as_str().unwrap().to_string(),
                r["allowedMemberTypes"][0].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("MCP.User".to_string(), "User".to_string()),
            ("MCP.Admin".to_string(), "User".to_string()),
            ("MCP.Service".to_string(), "Application".to_string())
        ]
    );
    let claims: Vec<&str> = m["optionalClaims"]["accessToken"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(claims, ["email", "given_name", "family_name", "groups"]);

    // The same client id elsewhere gives the same ids; another client id gives others.
    let ids = |m: &serde_json::Value| -> Vec<String> {
        m["appRoles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    let t2 = project("other-name");
    init_ok(&t2, &entra_args());
    assert_eq!(ids(&manifest(&t2)), ids(&m));
    let t3 = project("weather");
    init_ok(&t3, &["--tenant-id", TENANT, "--client-id", OTHER_CLIENT]);
    let other = ids(&manifest(&t3));
    assert!(other.iter().all(|id| !ids(&m).contains(id)));
    for id in other {
        assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 5);
    }
}

#[test]
fn no_secret_lands_in_any_file_or_output() {
    let secret = "s3cr3t~VALUE.that-must-never-leak";
    let azure_secret = "azure~secret~value-never-printed";
    let t = project("weather");
    for extra in [&[][..], &["--json"][..]] {
        let out = t
            .cmd()
            .args([
                "deploy",
                "init",
                "--tenant-id",
                TENANT,
                "--client-id",
                CLIENT,
            ])
            .args(extra)
            .env("ENTRA_CLIENT_SECRET", secret)
            .env("AZURE_CLIENT_SECRET", azure_secret)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", all_output(&out));
        let all = all_output(&out);
        assert!(
            !all.contains(secret) && !all.contains(azure_secret),
            "{all}"
        );
        assert!(
            stderr(&out).contains("ENTRA_CLIENT_SECRET is set: it stays out of .pmcp/deploy.toml"),
            "{all}"
        );
        assert!(all.contains("cargo pmcp auth test"), "{all}");
    }
    for entry in std::fs::read_dir(t.join(".pmcp")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains(secret) && !text.contains(azure_secret),
            "{}",
            path.display()
        );
    }
}

#[test]
fn oidc_and_none_providers() {
    let t = project("weather");
    init_ok(
        &t,
        &[
            "--oauth",
            "oidc",
            "--issuer",
            "https://id.example.com/oauth2/default",
            "--audience",
            "api://weather",
        ],
    );
    let c = config(&t);
    assert_eq!(c["auth"]["provider"].as_str(), Some("oidc"));
    assert_eq!(
        c["auth"]["issuer"].as_str(),
        Some("https://id.example.com/oauth2/default")
    );
    assert_eq!(c["auth"]["audience"].as_str(), Some("api://weather"));
    assert!(!t.join(".pmcp/entra-app.json").exists());

    let out = init(
        &t,
        &[
            "--oauth",
            "oidc",
            "--issuer",
            "http://id.example.com",
            "--audience",
            "x",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--issuer `http://id.example.com`"),
        "{}",
        stderr(&out)
    );

    let out = init_ok(&t, &["--oauth", "none", "--tenant-id", TENANT]);
    assert!(
        stderr(&out).contains("warning: --tenant-id ignored: the provider is none"),
        "{}",
        stderr(&out)
    );
    let c = config(&t);
    assert_eq!(c["auth"]["enabled"].as_bool(), Some(false));
    assert!(
        stdout(&out).contains("Authentication is off"),
        "{}",
        stdout(&out)
    );
    // Re-running without --oauth keeps it off (read back from the file).
    init_ok(&t, &[]);
    assert_eq!(config(&t)["auth"]["enabled"].as_bool(), Some(false));
}

#[test]
fn server_name_needs_a_package_or_the_flag() {
    let t = TestDir::new();
    let out = init(&t, &entra_args());
    assert_eq!(out.status.code(), Some(2), "{}", all_output(&out));
    let err = stderr(&out);
    assert!(err.contains("there is no Cargo.toml"), "{err}");
    assert!(err.contains("--server-name or PMCP_SERVER_NAME"), "{err}");
    let mut args = entra_args();
    args.extend(["--server-name", "my-api"]);
    init_ok(&t, &args);
    assert_eq!(config(&t)["server"]["name"].as_str(), Some("my-api"));
    let out = init(&t, &["--server-name", "My_API"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--server-name `My_API`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn manifest_path_picks_the_project() {
    let t = TestDir::new();
    t.write(
        "svc/Cargo.toml",
        "[package]\nname = \"billing\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    );
    t.write("svc/src/main.rs", "fn main() {}\n");
    let mut args = vec!["--manifest-path", "svc/Cargo.toml"];
    args.extend(entra_args());
    init_ok(&t, &args);
    let c: toml::Table = t.read("svc/.pmcp/deploy.toml").parse().unwrap();
    assert_eq!(c["server"]["name"].as_str(), Some("billing"));
    assert!(!t.join(".pmcp").exists());
}

#[test]
fn workspace_member_takes_its_own_package_name() {
    // A workspace whose root is a package too: run in the member, the member's name is the default.
    let t = TestDir::new();
    t.write(
        "Cargo.toml",
        "[package]\nname = \"gateway\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\nmembers = [\"svc\"]\n",
    );
    t.write("src/main.rs", "fn main() {}\n");
    t.write(
        "svc/Cargo.toml",
        "[package]\nname = \"billing_api\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    t.write("svc/src/main.rs", "fn main() {}\n");
    let out = t
        .cmd()
        .current_dir(t.join("svc"))
        .args(["pmcp", "deploy", "init"])
        .args(entra_args())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    let c: toml::Table = t.read("svc/.pmcp/deploy.toml").parse().unwrap();
    assert_eq!(c["server"]["name"].as_str(), Some("billing-api"));
}

#[test]
fn cloud_and_authority_host() {
    let t = project("weather");
    let mut args = entra_args();
    args.extend([
        "--cloud",
        "usgov",
        "--authority-host",
        "https://login.microsoftonline.us",
    ]);
    let out = init(&t, &args);
    assert_eq!(out.status.code(), Some(2), "{}", all_output(&out));
    assert!(
        stderr(&out).contains("cannot be used with"),
        "{}",
        stderr(&out)
    );

    let mut args = entra_args();
    args.extend(["--cloud", "china"]);
    init_ok(&t, &args);
    assert_eq!(
        config(&t)["auth"]["entra"]["authority_host"].as_str(),
        Some("https://login.chinacloudapi.cn")
    );
    let out = init(&t, &["--authority-host", "http://login.example.com"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--authority-host `http://login.example.com`"),
        "{}",
        stderr(&out)
    );
    // The local emulator's loopback authority is fine.
    init_ok(&t, &["--authority-host", "http://127.0.0.1:4010/"]);
    assert_eq!(
        config(&t)["auth"]["entra"]["authority_host"].as_str(),
        Some("http://127.0.0.1:4010")
    );
}

#[test]
fn no_terminal_means_no_prompt_even_without_ci() {
    let t = project("weather");
    let out = t
        .cmd()
        .args(["deploy", "init"])
        .env_remove("CI")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", all_output(&out));
    assert!(
        stderr(&out).contains("--tenant-id or ENTRA_TENANT_ID"),
        "{}",
        stderr(&out)
    );
    // Not a terminal: plain text, no ANSI styling, even without NO_COLOR.
    let out = t
        .cmd()
        .args([
            "deploy",
            "init",
            "--tenant-id",
            TENANT,
            "--client-id",
            CLIENT,
        ])
        .env_remove("CI")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    assert!(!all_output(&out).contains('\x1b'), "{}", all_output(&out));
}

#[test]
fn github_actions_gets_a_summary_and_warning_annotations_without_secrets() {
    let secret = "gh-actions-secret-value-123";
    let t = project("weather");
    t.write(".pmcp/deploy.toml", "[server]\nnmae = \"x\"\n");
    let summary = t.join("summary.md");
    let out = t
        .cmd()
        .args([
            "deploy",
            "init",
            "--json",
            "--tenant-id",
            TENANT,
            "--client-id",
            CLIENT,
        ])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("ENTRA_CLIENT_SECRET", secret)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(text.contains("1. App registration"), "{text}");
    assert!(!text.contains(secret));
    // The typo guard shows up as an annotation (stderr, so stdout stays one JSON document) and in
    // the JSON document's warnings.
    let (so, se) = (stdout(&out), stderr(&out));
    assert!(
        se.contains("::warning::.pmcp/deploy.toml:2:1: unknown key `nmae` in [server]"),
        "{se}"
    );
    assert_eq!(so.lines().count(), 1, "{so}");
    let json_line = so.lines().find(|l| l.starts_with('{')).unwrap();
    let v: serde_json::Value = serde_json::from_str(json_line).unwrap();
    assert!(
        v["warnings"][0]
            .as_str()
            .unwrap()
            .contains("did you mean `name`?"),
        "{v}"
    );
    assert!(!so.contains(secret));
}

#[test]
fn every_prompted_value_has_an_env_var() {
    let t = project("weather");
    let out = t
        .cmd()
        .args(["deploy", "init"])
        .env("PMCP_TARGET", "local")
        .env("PMCP_OAUTH", "entra")
        .env("PMCP_SERVER_NAME", "forecast")
        .env("PMCP_REDIRECT_URI", "http://localhost:9000/callback")
        .env("ENTRA_MULTI_TENANT", "true")
        .env(
            "ENTRA_ALLOWED_TENANTS",
            format!("{TENANT}, 22222222-2222-3333-4444-555555555555"),
        )
        .env("ENTRA_TENANT_ID", "organizations")
        .env("ENTRA_CLIENT_ID", CLIENT)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let c = config(&t);
    assert_eq!(c["target"]["type"].as_str(), Some("local"));
    assert_eq!(c["server"]["name"].as_str(), Some("forecast"));
    let entra = &c["auth"]["entra"];
    assert_eq!(entra["multi_tenant"].as_bool(), Some(true));
    assert_eq!(entra["allowed_tenants"].as_array().unwrap().len(), 2);
    assert_eq!(
        entra["redirect_uri"].as_str(),
        Some("http://localhost:9000/callback")
    );
    assert!(
        stderr(&out).contains("using target.type = local (PMCP_TARGET)"),
        "{}",
        stderr(&out)
    );

    // `--multi-tenant=false` turns it off again (the key stays, set to false).
    init_ok(&t, &["--multi-tenant=false", "--tenant-id", TENANT]);
    assert_eq!(
        config(&t)["auth"]["entra"]["multi_tenant"].as_bool(),
        Some(false)
    );

    let out = t
        .cmd()
        .args(["deploy", "init"])
        .env("PMCP_TARGET", "kubernetes")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("PMCP_TARGET `kubernetes`: expected pmcp-run, aws-lambda or local"),
        "{}",
        stderr(&out)
    );

    let t = project("weather");
    let out = t
        .cmd()
        .args(["deploy", "init"])
        .env("PMCP_OAUTH", "oidc")
        .env("OIDC_ISSUER", "https://id.example.com")
        .env("OIDC_AUDIENCE", "api://weather")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    assert_eq!(
        config(&t)["auth"]["issuer"].as_str(),
        Some("https://id.example.com")
    );
}

#[test]
fn the_server_contract_names_are_canonical_and_the_old_names_aliases() {
    // The names the deployed server reads (AUTH_*) work for init too, and win over the old ones.
    let t = project("weather");
    let out = t
        .cmd()
        .args(["deploy", "init", "--client-id", CLIENT])
        .env("AUTH_PROVIDER", "entra")
        .env("PMCP_OAUTH", "oidc")
        .env("AUTH_MULTI_TENANT", "true")
        .env("ENTRA_MULTI_TENANT", "false")
        .env("AUTH_ALLOWED_TENANTS", TENANT)
        .env(
            "ENTRA_ALLOWED_TENANTS",
            "22222222-2222-3333-4444-555555555555",
        )
        .env("ENTRA_TENANT_ID", "organizations")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let err = stderr(&out);
    for line in [
        "using auth.provider = entra (AUTH_PROVIDER)",
        "using auth.entra.multi_tenant = true (AUTH_MULTI_TENANT)",
        &format!("using auth.entra.allowed_tenants = {TENANT} (AUTH_ALLOWED_TENANTS)"),
    ] {
        assert!(err.contains(line), "{line}\n{err}");
    }
    let entra = &config(&t)["auth"]["entra"];
    assert_eq!(entra["multi_tenant"].as_bool(), Some(true));
    assert_eq!(
        entra["allowed_tenants"].as_array().unwrap()[0].as_str(),
        Some(TENANT)
    );

    let t = project("weather");
    let out = t
        .cmd()
        .args(["deploy", "init", "--oauth", "oidc"])
        .env("AUTH_ISSUER", "https://id.example.com")
        .env("OIDC_ISSUER", "https://old.example.com")
        .env("AUTH_AUDIENCE", "api://weather")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    assert!(
        stderr(&out).contains("using auth.issuer = https://id.example.com (AUTH_ISSUER)"),
        "{}",
        stderr(&out)
    );
    let c = config(&t);
    assert_eq!(c["auth"]["issuer"].as_str(), Some("https://id.example.com"));
    assert_eq!(c["auth"]["audience"].as_str(), Some("api://weather"));

    // An invalid value names the variable it came from, alias or not.
    let out = t
        .cmd()
        .args(["deploy", "init", "--oauth", "oidc"])
        .env("OIDC_ISSUER", "http://id.example.com")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", all_output(&out));
    assert!(
        stderr(&out).contains("OIDC_ISSUER `http://id.example.com`"),
        "{}",
        stderr(&out)
    );
}

/// The checklist and `.pmcp/entra-app.json` carry what the server's OAuth bridge needs: its callback
/// as a Web redirect URI, the `access_as_user` scope, the identifier URI, v2 tokens, the client
/// secret and the sealing key as secrets (never in deploy.toml), and how to pre-authorize VS Code.
#[test]
fn checklist_and_manifest_set_up_the_oauth_bridge() {
    let t = project("weather");
    let out = init_ok(&t, &entra_args());
    let text = stdout(&out);
    for want in [
        "Redirect URI:            Web, https://weather.pmcp.run/oauth/callback",
        "OAuth bridge callback",
        "Add a scope: access_as_user",
        "api.requestedAccessTokenVersion",
        "ENTRA_CLIENT_SECRET",
        "Never put it in .pmcp/deploy.toml",
        "AUTH_DCR_SEALING_KEY",
        "openssl rand -base64 32",
        "required = [\"ENTRA_CLIENT_SECRET\", \"AUTH_DCR_SEALING_KEY\"]",
        "aebc6443-996d-45c2-90f0-388ff96faa56   Visual Studio Code",
        "--web-redirect-uris https://weather.pmcp.run/oauth/callback",
        "docs/clients.md",
    ] {
        assert!(text.contains(want), "`{want}` missing from:\n{text}");
    }
    // Guidance only: init writes no secret name or value into deploy.toml.
    let toml = t.read(".pmcp/deploy.toml");
    assert!(!toml.contains("AUTH_DCR_SEALING_KEY"), "{toml}");

    let m = manifest(&t);
    assert_eq!(
        m["web"]["redirectUris"],
        serde_json::json!(["https://weather.pmcp.run/oauth/callback"])
    );
    assert_eq!(
        m["identifierUris"],
        serde_json::json!([format!("api://{CLIENT}")])
    );
    assert_eq!(m["api"]["requestedAccessTokenVersion"], 2);
    let scopes = m["api"]["oauth2PermissionScopes"].as_array().unwrap();
    assert_eq!(scopes.len(), 1);
    let scope = &scopes[0];
    assert_eq!(scope["value"], "access_as_user");
    assert_eq!(scope["type"], "User");
    assert_eq!(scope["isEnabled"], true);
    for k in [
        "adminConsentDisplayName",
        "adminConsentDescription",
        "userConsentDisplayName",
        "userConsentDescription",
    ] {
        assert!(
            scope[k].as_str().is_some_and(|v| v.contains("weather")),
            "{k}: {scope}"
        );
    }
    // Stable, distinct from the role ids, the same on every run.
    let id = uuid::Uuid::parse_str(scope["id"].as_str().unwrap()).unwrap();
    assert_eq!(id.get_version_num(), 5);
    let roles: Vec<&str> = m["appRoles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(!roles.contains(&scope["id"].as_str().unwrap()));
    let t2 = project("weather");
    init_ok(&t2, &entra_args());
    assert_eq!(manifest(&t2)["api"], m["api"]);

    // The local target: the bridge on localhost (Entra ignores the port of localhost URIs).
    let t = project("weather");
    let mut args = entra_args();
    args.extend(["--target", "local"]);
    init_ok(&t, &args);
    assert_eq!(
        manifest(&t)["web"]["redirectUris"],
        serde_json::json!(["http://localhost:8080/oauth/callback"])
    );
}

/// aws-lambda's URL exists only after the first deploy: no redirect URI is invented; the
/// checklist says how to add the callback then.
#[test]
fn unknown_public_url_says_how_to_add_the_callback_after_deploying() {
    let t = project("weather");
    let mut args = entra_args();
    args.extend(["--target", "aws-lambda"]);
    let out = init_ok(&t, &args);
    let text = stdout(&out);
    assert!(text.contains("Redirect URI:            none yet"), "{text}");
    assert!(
        text.contains(&format!(
            "az ad app update --id {CLIENT} --web-redirect-uris https://<server host>/oauth/callback"
        )),
        "{text}"
    );
    // The one-paste update sets no redirect URI it does not know.
    assert!(
        text.contains("--requested-access-token-version 2\n"),
        "{text}"
    );
    assert_eq!(manifest(&t)["web"]["redirectUris"], serde_json::json!([]));
    assert!(
        config(&t)["auth"]
            .get("entra")
            .and_then(|e| e.get("redirect_uri"))
            .is_none()
    );
    // Given once known, it is used and written.
    let mut args = entra_args();
    args.extend([
        "--target",
        "aws-lambda",
        "--redirect-uri",
        "https://abc.lambda-url.eu-west-1.on.aws/oauth/callback",
    ]);
    init_ok(&t, &args);
    assert_eq!(
        manifest(&t)["web"]["redirectUris"],
        serde_json::json!(["https://abc.lambda-url.eu-west-1.on.aws/oauth/callback"])
    );
}

/// With the local emulator as authority there is no tenant to change: no Azure Portal and no
/// Azure CLI step, but what applies locally (issue 17, item 10).
#[test]
fn local_emulator_authority_prints_no_portal_or_azure_cli_steps() {
    let t = project("weather");
    let out = init_ok(
        &t,
        &[
            "--target",
            "local",
            "--tenant-id",
            TENANT,
            "--client-id",
            CLIENT,
            "--authority-host",
            "http://127.0.0.1:8399",
        ],
    );
    let text = stdout(&out);
    for banned in [
        "Azure Portal",
        "entra.microsoft.com",
        "az ad",
        "az rest",
        "App registrations",
        "Enterprise applications",
        "Certificates & secrets",
    ] {
        assert!(!text.contains(banned), "`{banned}` in:\n{text}");
    }
    for want in [
        "local Entra emulator (http://127.0.0.1:8399)",
        "no Portal or Azure CLI step applies",
        "http://localhost/oauth/callback",
        "http://localhost:8080/oauth/callback matches them",
        "AUTH_DCR_SEALING_KEY",
        "cargo pmcp deploy --target local",
    ] {
        assert!(text.contains(want), "`{want}` missing from:\n{text}");
    }
    // JSON: the same steps, by id.
    let out = init_ok(
        &t,
        &[
            "--json",
            "--target",
            "local",
            "--tenant-id",
            TENANT,
            "--client-id",
            CLIENT,
            "--authority-host",
            "http://127.0.0.1:8399",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let ids: Vec<&str> = v["checklist"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["emulator-app", "secrets", "record-values", "next"]);
}
