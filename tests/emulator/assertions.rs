//! Client assertions: certificate (x5t and x5t#S256) and federated (a second in-process issuer).

use super::common::*;
use pmcp_entra_emulator::assertion::thumbprints;
use pmcp_entra_emulator::*;
use serde_json::{Value, json};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

async fn cc_with_assertion(
    emu: &RunningEmulator,
    client_id: &str,
    assertion: &str,
) -> (u16, Value) {
    let scope = format!("api://{}/.default", emu.client_id());
    post_form(
        &emu.token_endpoint(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion),
            ("scope", &scope),
        ],
    )
    .await
}

fn cert_assertion(
    key: &SigningKey,
    client_id: &str,
    aud: &str,
    iat: u64,
    exp: u64,
    s256: bool,
) -> String {
    let (x5t, x5t256) = thumbprints(&key.cert_pem()).unwrap();
    let header = if s256 {
        json!({"alg": "RS256", "typ": "JWT", "x5t#S256": x5t256})
    } else {
        json!({"alg": "RS256", "typ": "JWT", "x5t": x5t})
    };
    let claims = json!({
        "aud": aud, "iss": client_id, "sub": client_id, "jti": uuid::Uuid::new_v4().to_string(),
        "iat": iat, "nbf": iat, "exp": exp,
    });
    key.sign_with_header(&header, &claims).unwrap()
}

#[tokio::test]
async fn certificate_assertions_with_x5t_and_x5t_s256() {
    let emu = start().await;
    let client_key = SigningKey::generate().unwrap();
    emu.add_certificate(&emu.tenant_id(), &emu.client_id(), &client_key.cert_pem())
        .unwrap();
    let now = emu.now();
    let aud = emu.token_endpoint();
    for s256 in [false, true] {
        let a = cert_assertion(&client_key, &emu.client_id(), &aud, now, now + 600, s256);
        let (s, b) = cc_with_assertion(&emu, &emu.client_id(), &a).await;
        assert_eq!(s, 200, "{b}");
        let c = verify_with_jwks(b["access_token"].as_str().unwrap(), &emu.jwks_uri()).await;
        assert_eq!(c["azpacr"], "2", "certificate credentials give azpacr 2");
        assert_eq!(c["roles"], json!(["MCP.Service"]));
    }

    // Expired, and not yet valid: 700024.
    let a = cert_assertion(
        &client_key,
        &emu.client_id(),
        &aud,
        now - 7200,
        now - 3600,
        false,
    );
    let (s, b) = cc_with_assertion(&emu, &emu.client_id(), &a).await;
    assert_aad_error(s, &b, 400, "invalid_client", 700024);
    let a = cert_assertion(
        &client_key,
        &emu.client_id(),
        &aud,
        now + 3600,
        now + 7200,
        false,
    );
    let (s, b) = cc_with_assertion(&emu, &emu.client_id(), &a).await;
    assert_aad_error(s, &b, 400, "invalid_client", 700024);

    // aud must be the token endpoint.
    let a = cert_assertion(
        &client_key,
        &emu.client_id(),
        "https://example.com/token",
        now,
        now + 600,
        false,
    );
    let (s, b) = cc_with_assertion(&emu, &emu.client_id(), &a).await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["error"], "invalid_client");

    // A certificate that is not registered: 700027.
    let stranger = SigningKey::generate().unwrap();
    let a = cert_assertion(&stranger, &emu.client_id(), &aud, now, now + 600, false);
    let (s, b) = cc_with_assertion(&emu, &emu.client_id(), &a).await;
    assert_aad_error(s, &b, 400, "invalid_client", 700027);

    // A registered thumbprint with another key's signature: 700027.
    let (x5t, _) = thumbprints(&client_key.cert_pem()).unwrap();
    let forged = stranger
        .sign_with_header(
            &json!({"alg": "RS256", "x5t": x5t}),
            &json!({"aud": aud, "iss": emu.client_id(), "sub": emu.client_id(), "iat": now, "exp": now + 600}),
        )
        .unwrap();
    let (s, b) = cc_with_assertion(&emu, &emu.client_id(), &forged).await;
    assert_aad_error(s, &b, 400, "invalid_client", 700027);
}

#[tokio::test]
async fn federated_assertion_round_trip_with_a_second_issuer() {
    let emu = start().await;
    // The external issuer (think GitHub Actions) is another emulator: it serves discovery and keys.
    let external = start().await;
    let ext_issuer = external.issuer();
    let subject = "repo:contoso/mcp-server:ref:refs/heads/main";
    emu.add_federated_credential(
        &emu.tenant_id(),
        &emu.client_id(),
        FederatedCredential::new(&ext_issuer, subject),
    )
    .unwrap();
    let now = external.now();
    let ext_token = |iss: &str, sub: &str, aud: &str, iat: u64, exp: u64| {
        external
            .sign_claims(
                &json!({"iss": iss, "sub": sub, "aud": aud, "iat": iat, "nbf": iat, "exp": exp}),
            )
            .unwrap()
    };
    let good = ext_token(
        &ext_issuer,
        subject,
        "api://AzureADTokenExchange",
        now,
        now + 600,
    );
    let (s, b) = cc_with_assertion(&emu, &emu.client_id(), good.secret()).await;
    assert_eq!(s, 200, "{b}");
    let c = verify_with_jwks(b["access_token"].as_str().unwrap(), &emu.jwks_uri()).await;
    assert_eq!(c["azpacr"], "2");
    assert_eq!(c["roles"], json!(["MCP.Service"]));

    // Issuer mismatch: 700211. Subject is case-sensitive: 700213. Audience: 700212.
    let t = ext_token(
        "https://token.actions.githubusercontent.com",
        subject,
        "api://AzureADTokenExchange",
        now,
        now + 600,
    );
    let (s, b) = cc_with_assertion(&emu, &emu.client_id(), t.secret()).await;
    assert_aad_error(s, &b, 400, "invalid_client", 700211);
    let t = ext_token(
        &ext_issuer,
        &subject.to_uppercase(),
        "api://AzureADTokenExchange",
        now,
        now + 600,
    );
    let (s, b) = cc_with_assertion(&emu, &emu.client_id(), t.secret()).await;
    assert_aad_error(s, &b, 400, "invalid_client", 700213);
    let t = ext_token(&ext_issuer, subject, "api://SomethingElse", now, now + 600);
    let (s, b) = cc_with_assertion(&emu, &emu.client_id(), t.secret()).await;
    assert_aad_error(s, &b, 400, "invalid_client", 700212);
    // Expired: 700024.
    let t = ext_token(
        &ext_issuer,
        subject,
        "api://AzureADTokenExchange",
        now - 7200,
        now - 3600,
    );
    let (s, b) = cc_with_assertion(&emu, &emu.client_id(), t.secret()).await;
    assert_aad_error(s, &b, 400, "invalid_client", 700024);
    // Signed by a key the issuer does not publish: 700027.
    let rogue = SigningKey::generate().unwrap();
    let forged = rogue
        .sign_jwt(&json!({"iss": ext_issuer, "sub": subject, "aud": "api://AzureADTokenExchange", "iat": now, "exp": now + 600}))
        .unwrap();
    let (s, b) = cc_with_assertion(&emu, &emu.client_id(), &forged).await;
    assert_aad_error(s, &b, 400, "invalid_client", 700027);
}

#[tokio::test]
async fn a_client_signing_with_the_exported_pem_key_is_accepted() {
    // What a client library does with a PEM file holding the certificate and its private key.
    let emu = start().await;
    let client_key = SigningKey::generate().unwrap();
    emu.add_certificate(
        &emu.tenant_id(),
        DEFAULT_CLIENT_APP_ID,
        &client_key.cert_pem(),
    )
    .unwrap();
    let pem = client_key.private_key_pem();
    assert!(pem.secret().starts_with("-----BEGIN PRIVATE KEY-----"));
    let enc = jsonwebtoken::EncodingKey::from_rsa_pem(pem.secret().as_bytes()).unwrap();
    let (x5t, _) = thumbprints(&client_key.cert_pem()).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.x5t = Some(x5t);
    let now = emu.now();
    let claims = json!({"aud": emu.token_endpoint(), "iss": DEFAULT_CLIENT_APP_ID, "sub": DEFAULT_CLIENT_APP_ID,
        "jti": "1", "iat": now, "nbf": now, "exp": now + 600});
    let assertion = jsonwebtoken::encode(&header, &claims, &enc).unwrap();
    let (s, b) = cc_with_assertion(&emu, DEFAULT_CLIENT_APP_ID, &assertion).await;
    assert_eq!(s, 200, "{b}");
    let c = verify_with_jwks(b["access_token"].as_str().unwrap(), &emu.jwks_uri()).await;
    assert_eq!(c["azp"], DEFAULT_CLIENT_APP_ID);
    assert!(c.get("roles").is_none(), "the client app holds no role");
}
