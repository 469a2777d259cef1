//! `JwtValidatorConfig::from_env` over the deploy environment contract (read through `from_lookup`
//! so tests do not touch the process environment).

use std::collections::HashMap;
use std::time::Duration;

use pmcp_auth::{Algorithm, JwtValidatorConfig};

use super::harness::{CLIENT, OTHER_TENANT, TENANT};

fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

#[test]
fn entra_single_tenant_defaults() {
    let c = JwtValidatorConfig::from_lookup(lookup(&[
        ("ENTRA_TENANT_ID", TENANT),
        ("ENTRA_CLIENT_ID", CLIENT),
    ]))
    .unwrap();
    assert!(c.entra);
    assert!(!c.multi_tenant);
    assert_eq!(c.audiences, vec![CLIENT.to_string()]);
    assert_eq!(
        c.discovery_url.as_deref(),
        Some(
            format!(
                "https://login.microsoftonline.com/{TENANT}/v2.0/.well-known/openid-configuration"
            )
            .as_str()
        )
    );
    assert_eq!(c.algorithms, vec![Algorithm::RS256]);
    assert_eq!(c.leeway_seconds, 300);
    assert_eq!(c.refresh_interval, Duration::from_secs(12 * 3600));
    assert_eq!(c.unknown_kid_refresh_interval, Duration::from_secs(300));
    assert_eq!(c.http_timeout, Duration::from_secs(5));
    assert_eq!(c.max_response_bytes, 1024 * 1024);
    assert!(!c.accept_v1);
    c.check().unwrap();
}

#[test]
fn entra_multi_tenant_with_overrides_and_azure_fallbacks() {
    let c = JwtValidatorConfig::from_lookup(lookup(&[
        ("AUTH_PROVIDER", "entra"),
        ("AZURE_TENANT_ID", TENANT),
        ("AZURE_CLIENT_ID", CLIENT),
        ("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us/"),
        ("AUTH_MULTI_TENANT", "true"),
        ("AUTH_ALLOWED_TENANTS", &format!("{TENANT}, {OTHER_TENANT}")),
        ("AUTH_ACCEPT_V1_TOKENS", "1"),
        ("AUTH_LEEWAY_SECONDS", "60"),
        ("AUTH_AUDIENCE", &format!("{CLIENT},api://{CLIENT}")),
    ]))
    .unwrap();
    assert!(c.multi_tenant && c.accept_v1);
    assert_eq!(c.allowed_tenants.len(), 2);
    assert_eq!(c.leeway_seconds, 60);
    assert_eq!(c.audiences.len(), 2);
    assert_eq!(
        c.discovery_url.as_deref(),
        Some(
            "https://login.microsoftonline.us/organizations/v2.0/.well-known/openid-configuration"
        )
    );
}

#[test]
fn oidc_provider() {
    let c = JwtValidatorConfig::from_lookup(lookup(&[
        ("AUTH_PROVIDER", "oidc"),
        ("AUTH_ISSUER", "https://idp.example/"),
        ("AUTH_AUDIENCE", "my-api"),
    ]))
    .unwrap();
    assert!(!c.entra);
    assert_eq!(
        c.discovery_url.as_deref(),
        Some("https://idp.example/.well-known/openid-configuration")
    );
    let c = JwtValidatorConfig::from_lookup(lookup(&[
        ("AUTH_PROVIDER", "oidc"),
        ("AUTH_ISSUER", "https://idp.example"),
        ("AUTH_JWKS_URI", "https://idp.example/keys"),
        ("AUTH_AUDIENCE", "my-api"),
    ]))
    .unwrap();
    assert_eq!(c.discovery_url, None);
    assert_eq!(c.jwks_uri.as_deref(), Some("https://idp.example/keys"));
    c.check().unwrap();
}

#[test]
fn bad_values_name_the_variable() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("AUTH_PROVIDER", "none")], "AUTH_PROVIDER"),
        (&[("AUTH_PROVIDER", "okta")], "AUTH_PROVIDER"),
        (
            &[("AUTH_PROVIDER", "oidc"), ("AUTH_AUDIENCE", "a")],
            "AUTH_ISSUER",
        ),
        (&[("ENTRA_TENANT_ID", TENANT)], "ENTRA_CLIENT_ID"),
        (
            &[
                ("ENTRA_TENANT_ID", TENANT),
                ("ENTRA_CLIENT_ID", CLIENT),
                ("AUTH_LEEWAY_SECONDS", "5m"),
            ],
            "AUTH_LEEWAY_SECONDS",
        ),
        (
            &[
                ("ENTRA_TENANT_ID", TENANT),
                ("ENTRA_CLIENT_ID", CLIENT),
                ("AUTH_ACCEPT_V1_TOKENS", "maybe"),
            ],
            "AUTH_ACCEPT_V1_TOKENS",
        ),
        (
            &[
                ("ENTRA_TENANT_ID", TENANT),
                ("ENTRA_CLIENT_ID", CLIENT),
                ("AUTH_ALLOWED_TENANTS", "contoso.com"),
            ],
            "AUTH_ALLOWED_TENANTS",
        ),
        (
            &[
                ("ENTRA_TENANT_ID", TENANT),
                ("ENTRA_CLIENT_ID", CLIENT),
                ("AUTH_JWKS_URI", "http://example.com/k"),
            ],
            "AUTH_JWKS_URI",
        ),
        (
            &[
                ("ENTRA_TENANT_ID", TENANT),
                ("ENTRA_CLIENT_ID", CLIENT),
                ("ENTRA_AUTHORITY_HOST", "http://example.com"),
            ],
            "ENTRA_AUTHORITY_HOST",
        ),
        (
            // Loopback is allowed only over http(s), like every other metadata URL.
            &[
                ("ENTRA_TENANT_ID", TENANT),
                ("ENTRA_CLIENT_ID", CLIENT),
                ("ENTRA_AUTHORITY_HOST", "ftp://127.0.0.1:2121"),
            ],
            "ENTRA_AUTHORITY_HOST",
        ),
    ];
    for (vars, name) in cases {
        let err = JwtValidatorConfig::from_lookup(lookup(vars)).unwrap_err();
        assert!(err.to_string().contains(name), "{vars:?}: {err}");
    }
}
