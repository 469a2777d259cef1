//! The environment contract in both directions: what deploy produces from deploy.toml is what the
//! server reads back with `EntraConfig::from_env()`. The reading side runs in a child process (this
//! test binary, re-entered) with exactly the produced environment, so no test mutates the
//! environment of the test process.

use super::{CLIENT, TENANT};
use cargo_pmcp::config;
use cargo_pmcp::deploy::env::server_env;
use pmcp_auth::EntraConfig;
use std::collections::BTreeMap;
use std::path::Path;

const CHILD_MARKER: &str = "PMCP_CONTRACT_CHILD";

/// Runs only inside the child started by `read_back` (ignored otherwise): prints what
/// `EntraConfig::from_env()` sees as one JSON line.
#[test]
#[ignore = "helper: started by the contract tests in a child process"]
fn entra_config_from_env_child() {
    if std::env::var_os(CHILD_MARKER).is_none() {
        return;
    }
    let c = EntraConfig::from_env().expect("EntraConfig::from_env");
    let doc = serde_json::json!({
        "tenant_id": c.tenant_id,
        "client_id": c.client_id,
        "authority_host": c.authority_host,
        "issuer": c.issuer(),
        "jwks_uri": c.jwks_uri(),
        "has_secret": c.client_secret.is_some(),
    });
    println!("\nCONTRACT {doc}");
}

fn read_back(env: &BTreeMap<String, String>) -> serde_json::Value {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([
            "deploy::contract::entra_config_from_env_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_clear()
        .envs(env)
        .env(CHILD_MARKER, "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("CONTRACT "))
        .unwrap_or_else(|| panic!("no CONTRACT line in {text}"));
    serde_json::from_str(line).unwrap()
}

#[test]
fn single_tenant_env_reads_back_the_same_values() {
    let cfg = config::parse(
        Path::new("deploy.toml"),
        &format!(
            "[auth]\nenabled = true\ntenant_id = \"{TENANT}\"\nclient_id = \"{CLIENT}\"\n[auth.entra]\nauthority_host = \"https://login.microsoftonline.us/\"\n"
        ),
    )
    .unwrap();
    let env = server_env(&cfg).unwrap().vars;
    let back = read_back(&env);
    assert_eq!(back["tenant_id"], env["ENTRA_TENANT_ID"].as_str());
    assert_eq!(back["client_id"], env["ENTRA_CLIENT_ID"].as_str());
    assert_eq!(back["authority_host"], env["ENTRA_AUTHORITY_HOST"].as_str());
    assert_eq!(back["issuer"], env["AUTH_ISSUER"].as_str());
    assert_eq!(back["jwks_uri"], env["AUTH_JWKS_URI"].as_str());
    assert_eq!(back["authority_host"], "https://login.microsoftonline.us");
    assert_eq!(back["has_secret"], false);
}

#[test]
fn multi_tenant_env_reads_back_and_keeps_the_issuer_template() {
    let cfg = config::parse(
        Path::new("deploy.toml"),
        &format!(
            "[auth]\nenabled = true\nclient_id = \"{CLIENT}\"\n[auth.entra]\nmulti_tenant = true\nallowed_tenants = [\"{TENANT}\"]\n"
        ),
    )
    .unwrap();
    let env = server_env(&cfg).unwrap().vars;
    let back = read_back(&env);
    assert_eq!(back["tenant_id"], "organizations");
    assert_eq!(back["client_id"], CLIENT);
    assert_eq!(back["jwks_uri"], env["AUTH_JWKS_URI"].as_str());
    // The server substitutes {tenantid} per token; the template keeps the authority's shape.
    let template = EntraConfig::new("{tenantid}", CLIENT)
        .with_authority_host(back["authority_host"].as_str().unwrap())
        .issuer();
    assert_eq!(env["AUTH_ISSUER"], template);
    assert_eq!(env["AUTH_ALLOWED_TENANTS"], TENANT);
    assert_eq!(env["AUTH_MULTI_TENANT"], "true");
}

#[test]
fn secret_given_to_the_server_reads_back_as_the_client_secret() {
    let cfg = config::parse(
        Path::new("deploy.toml"),
        &format!("[auth]\nenabled = true\ntenant_id = \"{TENANT}\"\nclient_id = \"{CLIENT}\"\n[secrets]\nrequired = [\"ENTRA_CLIENT_SECRET\"]\n"),
    )
    .unwrap();
    let mut env = server_env(&cfg).unwrap().vars;
    let secrets =
        cargo_pmcp::deploy::env::resolve_secrets(&cfg.secrets.required, |_| Some("v".into()))
            .unwrap();
    for s in &secrets {
        env.insert(s.name.clone(), s.value.secret().to_string());
    }
    assert_eq!(read_back(&env)["has_secret"], true);
}

/// The validator's side of the contract: `JwtValidatorConfig::from_lookup` (what `from_env` runs)
/// over exactly the map deploy produces.
fn validator_config(env: &BTreeMap<String, String>) -> pmcp_auth::JwtValidatorConfig {
    pmcp_auth::JwtValidatorConfig::from_lookup(|n| env.get(n).cloned())
        .unwrap_or_else(|e| panic!("JwtValidatorConfig::from_lookup: {e}\n{env:#?}"))
}

fn env_of(toml: &str) -> BTreeMap<String, String> {
    server_env(&config::parse(Path::new("deploy.toml"), toml).unwrap())
        .unwrap()
        .vars
}

#[test]
fn validator_reads_back_single_tenant_entra() {
    let env = env_of(&format!(
        "[auth]\nenabled = true\ntenant_id = \"{TENANT}\"\nclient_id = \"{CLIENT}\"\n"
    ));
    let v = validator_config(&env);
    assert!(v.entra);
    assert!(!v.multi_tenant);
    assert_eq!(v.issuer.as_deref(), Some(env["AUTH_ISSUER"].as_str()));
    assert_eq!(v.jwks_uri.as_deref(), Some(env["AUTH_JWKS_URI"].as_str()));
    assert_eq!(v.audiences, vec![CLIENT.to_string()]);
    assert_eq!(v.client_id.as_deref(), Some(CLIENT));
    assert_eq!(v.leeway_seconds, 300);
    assert!(!v.accept_v1);
    assert!(v.allowed_tenants.is_empty());
}

#[test]
fn validator_reads_back_multi_tenant_entra_with_v1_and_allowed_tenants() {
    let env = env_of(&format!(
        "[auth]\nenabled = true\nclient_id = \"{CLIENT}\"\n[auth.entra]\nauthority_host = \"https://login.microsoftonline.us\"\nmulti_tenant = true\nallowed_tenants = [\"{TENANT}\"]\naccept_v1_tokens = true\n"
    ));
    let v = validator_config(&env);
    assert!(v.entra && v.multi_tenant && v.accept_v1);
    assert_eq!(v.allowed_tenants, vec![TENANT.to_string()]);
    assert_eq!(
        v.issuer.as_deref(),
        Some("https://login.microsoftonline.us/{tenantid}/v2.0")
    );
    assert_eq!(
        v.audiences,
        vec![CLIENT.to_string(), format!("api://{CLIENT}")]
    );
    assert_eq!(
        v.discovery_url.as_deref(),
        Some(
            "https://login.microsoftonline.us/organizations/v2.0/.well-known/openid-configuration"
        )
    );
}

#[test]
fn validator_reads_back_oidc() {
    let env = env_of(
        "[auth]\nenabled = true\nprovider = \"oidc\"\nissuer = \"https://idp.example.com/realms/mcp\"\naudience = \"mcp-api\"\n",
    );
    let v = validator_config(&env);
    assert!(!v.entra);
    assert_eq!(
        v.issuer.as_deref(),
        Some("https://idp.example.com/realms/mcp")
    );
    assert_eq!(v.audiences, vec!["mcp-api".to_string()]);
    assert!(
        v.discovery_url.is_some(),
        "the server discovers the JWKS from the issuer"
    );
    assert_eq!(v.leeway_seconds, 300);
}

#[test]
fn group_permissions_read_back_as_the_same_table() {
    let toml = format!(
        "[auth]\nenabled = true\ntenant_id = \"{TENANT}\"\nclient_id = \"{CLIENT}\"\n[auth.entra.group_permissions]\n\"12345678-1234-1234-1234-123456789abc\" = [\"admin:*\", \"read:tools\"]\n"
    );
    let cfg = config::parse(Path::new("deploy.toml"), &toml).unwrap();
    let env = server_env(&cfg).unwrap().vars;
    let mapper =
        pmcp_auth::GroupPermissionMapper::from_json(&env["AUTH_GROUP_PERMISSIONS"]).unwrap();
    assert_eq!(mapper.table(), &cfg.auth.entra.group_permissions);
}
