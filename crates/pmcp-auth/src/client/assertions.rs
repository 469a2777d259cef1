//! How the client proves who it is to the token endpoint: a [`ClientCredential`] (client secret,
//! [`Certificate`], or federated assertion), the certificate's PEM loading, thumbprints and signed
//! client assertions, and where federated assertions come from ([`AssertionSource`]: a workload
//! identity token file or the GitHub Actions ID token service, [`GitHubOidc`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::errors::{error_chain, quote};
use super::{
    ACTIONS_ID_TOKEN_REQUEST_TOKEN, ACTIONS_ID_TOKEN_REQUEST_URL, AssertionIdentity,
    CredentialError, JWT_BEARER_ASSERTION_TYPE, TokenClient,
};
use crate::entra::Cloud;
use crate::secret::SecretString;

/// How long a client assertion we sign stays valid.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// How the client (the app asking for the token) proves who it is.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClientCredential {
    /// A client secret, sent as a form field.
    Secret(SecretString),
    /// A certificate: we sign a client assertion with its private key.
    Certificate(Arc<Certificate>),
    /// A federated assertion issued by someone else (workload identity, GitHub Actions).
    Federated(AssertionSource),
}

impl ClientCredential {
    /// Short name: `secret`, `certificate`, `federated`, `github`.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientCredential::Secret(_) => "secret",
            ClientCredential::Certificate(_) => "certificate",
            ClientCredential::Federated(AssertionSource::File(_)) => "federated",
            ClientCredential::Federated(AssertionSource::GitHubActions(_)) => "github",
        }
    }
}

/// Where a federated assertion comes from. Both are fetched fresh for every exchange: token files
/// are rotated underneath us, and GitHub ID tokens are short-lived.
#[derive(Debug, Clone)]
pub enum AssertionSource {
    /// A file holding one JWT (`AZURE_FEDERATED_TOKEN_FILE`).
    File(PathBuf),
    /// The GitHub Actions ID token service.
    GitHubActions(GitHubOidc),
}

/// The GitHub Actions ID token service of the running job.
#[derive(Debug, Clone)]
pub struct GitHubOidc {
    /// The job's ID token service URL (`ACTIONS_ID_TOKEN_REQUEST_URL`); `audience=` is appended.
    pub request_url: String,
    /// The bearer token that authorises the request (`ACTIONS_ID_TOKEN_REQUEST_TOKEN`).
    pub request_token: SecretString,
    /// The `aud` asked for in the ID token, normally [`Cloud::token_exchange_audience`].
    pub audience: String,
}

impl GitHubOidc {
    /// Read `ACTIONS_ID_TOKEN_REQUEST_URL` / `ACTIONS_ID_TOKEN_REQUEST_TOKEN`; `None` outside a
    /// GitHub Actions job with `id-token: write`. The audience is `cloud`'s token exchange audience.
    pub fn from_env(cloud: Cloud) -> Option<Self> {
        let url = std::env::var(ACTIONS_ID_TOKEN_REQUEST_URL)
            .ok()
            .filter(|v| !v.trim().is_empty())?;
        let token = std::env::var(ACTIONS_ID_TOKEN_REQUEST_TOKEN)
            .ok()
            .filter(|v| !v.trim().is_empty())?;
        Some(Self {
            request_url: url.trim().to_string(),
            request_token: SecretString::new(token.trim()),
            audience: cloud.token_exchange_audience().to_string(),
        })
    }
}

/// How the certificate assertion is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AssertionAlgorithm {
    /// PS256 with the `x5t#S256` header (SHA-256 thumbprint). The default.
    #[default]
    Ps256,
    /// RS256 with the legacy `x5t` header (SHA-1 thumbprint), for older clouds and libraries.
    Rs256,
}

/// A certificate with its RSA private key, from one PEM file: signs client assertions whose header
/// names the certificate by thumbprint, so Entra finds the uploaded public key.
pub struct Certificate {
    origin: String,
    der: Vec<u8>,
    key: jsonwebtoken::EncodingKey,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("origin", &self.origin)
            .field("sha1_thumbprint", &self.sha1_thumbprint_hex())
            .field("key", &"[redacted]")
            .finish()
    }
}

impl Certificate {
    /// Read a PEM holding the certificate and its unencrypted RSA private key (either order).
    /// `origin` names where it came from, for messages (a path or an env var).
    pub fn from_pem(pem: &str, origin: impl Into<String>) -> Result<Self, CredentialError> {
        let origin = origin.into();
        let err = |detail: String| CredentialError::Certificate {
            origin: origin.clone(),
            detail,
        };
        let blocks = pem::parse_many(pem).map_err(|e| {
            err(match e {
                pem::PemError::InvalidData(e) => format!("a PEM block is not valid base64: {e}"),
                e => format!("it is not valid PEM: {e}"),
            })
        })?;
        if blocks.is_empty() {
            return Err(err(
                "no PEM blocks found (expected BEGIN CERTIFICATE and BEGIN PRIVATE KEY)".into(),
            ));
        }
        let cert = blocks
            .iter()
            .find(|b| b.tag() == "CERTIFICATE")
            .ok_or_else(|| err("no certificate (BEGIN CERTIFICATE) in the PEM".into()))?;
        // A legacy OpenSSL-encrypted PKCS#1 key says so in its RFC 1421 header.
        let encrypted_pkcs1 = blocks.iter().any(|b| {
            b.headers()
                .get("Proc-Type")
                .is_some_and(|v| v.ends_with("ENCRYPTED"))
        });
        if encrypted_pkcs1 || blocks.iter().any(|b| b.tag() == "ENCRYPTED PRIVATE KEY") {
            return Err(err(
                "the private key is encrypted; decrypt it first (`openssl pkey -in key.pem -out plain.pem`)".into(),
            ));
        }
        let key_block = blocks
            .iter()
            .find(|b| b.tag() == "PRIVATE KEY" || b.tag() == "RSA PRIVATE KEY")
            .ok_or_else(|| err("no private key (BEGIN PRIVATE KEY) in the PEM".into()))?;
        let der = cert.contents().to_vec();
        // jsonwebtoken reads RSA keys from PEM (unwrapping PKCS#8 itself), so the one block goes
        // back as PEM text.
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem::encode(key_block).as_bytes())
            .map_err(|e| err(format!("the private key is not a usable RSA key: {e}")))?;
        Ok(Self { origin, der, key })
    }

    /// Read [`Certificate::from_pem`] from a file.
    pub fn from_pem_file(path: &Path) -> Result<Self, CredentialError> {
        let origin = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| CredentialError::Certificate {
            origin: origin.clone(),
            detail: format!("cannot read it: {e}"),
        })?;
        let text = String::from_utf8(bytes).map_err(|_| CredentialError::Certificate {
            origin: origin.clone(),
            detail: format!(
                "it is binary, not PEM (a PKCS#12 .pfx/.p12?); convert it with `openssl pkcs12 -in {origin} -nodes -out client.pem`"
            ),
        })?;
        Self::from_pem(&text, origin)
    }

    /// Where the PEM came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The DER bytes of the certificate.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// `x5t#S256`: base64url of the certificate's SHA-256.
    pub fn x5t_s256(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(&self.der))
    }

    /// `x5t`: base64url of the certificate's SHA-1.
    pub fn x5t(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.sha1())
    }

    /// The SHA-1 thumbprint in upper-case hex, as the Azure Portal lists it.
    pub fn sha1_thumbprint_hex(&self) -> String {
        hex::encode_upper(self.sha1())
    }

    /// SHA-1 of the DER: only for the thumbprint Entra and the Portal still use, never for security.
    fn sha1(&self) -> Vec<u8> {
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &self.der)
            .as_ref()
            .to_vec()
    }

    /// Sign a client assertion for `client_id` at `token_endpoint` (the `aud`), valid 10 minutes.
    pub fn client_assertion(
        &self,
        client_id: &str,
        token_endpoint: &str,
        alg: AssertionAlgorithm,
        now: SystemTime,
    ) -> Result<SecretString, CredentialError> {
        let mut header = match alg {
            AssertionAlgorithm::Ps256 => {
                let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::PS256);
                h.x5t_s256 = Some(self.x5t_s256());
                h
            }
            AssertionAlgorithm::Rs256 => {
                let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
                h.x5t = Some(self.x5t());
                h
            }
        };
        header.typ = Some("JWT".into());
        let iat = unix(now);
        let claims = serde_json::json!({
            "aud": token_endpoint,
            "iss": client_id,
            "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": iat,
            "nbf": iat,
            "exp": iat + ASSERTION_LIFETIME.as_secs(),
        });
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map(SecretString::new)
            .map_err(|e| CredentialError::Certificate {
                origin: self.origin.clone(),
                detail: format!("signing the client assertion failed: {e}"),
            })
    }
}

impl TokenClient {
    /// Request a GitHub Actions ID token for `oidc.audience` (a fresh one on every call).
    pub async fn github_id_token(
        &self,
        oidc: &GitHubOidc,
    ) -> Result<SecretString, CredentialError> {
        self.secret(&oidc.request_token);
        let mut url =
            url::Url::parse(&oidc.request_url).map_err(|e| CredentialError::GitHubIdToken {
                detail: format!("{ACTIONS_ID_TOKEN_REQUEST_URL} is not a URL: {e}"),
            })?;
        url.query_pairs_mut()
            .append_pair("audience", &oidc.audience);
        let shown = redact_query(&url);
        let resp = self
            .http
            .get(url)
            .header(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {}", oidc.request_token.secret()),
            )
            .header(reqwest::header::ACCEPT, "application/json; api-version=2.0")
            .send()
            .await
            .map_err(|e| CredentialError::GitHubIdToken {
                detail: format!("could not reach {shown}: {}", error_chain(&e)),
            })?;
        let status = resp.status();
        if status.is_redirection() {
            // The request carried the runner's bearer token: never follow it elsewhere.
            return Err(CredentialError::GitHubIdToken {
                detail: format!(
                    "{shown} answered HTTP {} (a redirect); the request token is not re-sent elsewhere",
                    status.as_u16()
                ),
            });
        }
        let body = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(CredentialError::GitHubIdToken {
                detail: format!(
                    "{shown} answered HTTP {}: {}",
                    status.as_u16(),
                    quote(&crate::secret::scrub(&body, &[oidc.request_token.secret()]))
                ),
            });
        }
        #[derive(Deserialize)]
        struct IdTokenAnswer {
            value: String,
        }
        let answer: IdTokenAnswer =
            serde_json::from_str(&body).map_err(|e| CredentialError::GitHubIdToken {
                detail: format!("{shown} did not answer {{\"value\": \"<jwt>\"}}: {e}"),
            })?;
        let token = SecretString::new(answer.value);
        self.secret(&token);
        Ok(token)
    }

    /// The federated assertion, fetched now.
    pub async fn federated_assertion(
        &self,
        source: &AssertionSource,
    ) -> Result<SecretString, CredentialError> {
        match source {
            AssertionSource::File(path) => {
                let text = tokio::fs::read_to_string(path).await.map_err(|e| {
                    CredentialError::FederatedTokenFile {
                        path: path.clone(),
                        detail: format!("cannot read it: {e}"),
                    }
                })?;
                let jwt = text.trim();
                if jwt.is_empty() {
                    return Err(CredentialError::FederatedTokenFile {
                        path: path.clone(),
                        detail: "it is empty".into(),
                    });
                }
                let s = SecretString::new(jwt);
                self.secret(&s);
                if jwt.split('.').count() != 3 {
                    return Err(CredentialError::FederatedTokenFile {
                        path: path.clone(),
                        detail: "it does not hold a JWT (three dot-separated parts)".into(),
                    });
                }
                Ok(s)
            }
            AssertionSource::GitHubActions(oidc) => self.github_id_token(oidc).await,
        }
    }

    /// Form fields authenticating the client, plus the assertion identity when federated.
    pub(super) async fn client_auth(
        &self,
        client_id: &str,
        token_endpoint: &str,
        credential: &ClientCredential,
    ) -> Result<(Vec<(&'static str, String)>, Option<AssertionIdentity>), CredentialError> {
        match credential {
            ClientCredential::Secret(s) => {
                self.secret(s);
                Ok((vec![("client_secret", s.secret().to_string())], None))
            }
            ClientCredential::Certificate(cert) => {
                let a = cert.client_assertion(
                    client_id,
                    token_endpoint,
                    self.assertion_alg,
                    (self.now)(),
                )?;
                self.secret(&a);
                Ok((
                    vec![
                        ("client_assertion_type", JWT_BEARER_ASSERTION_TYPE.into()),
                        ("client_assertion", a.secret().to_string()),
                    ],
                    None,
                ))
            }
            ClientCredential::Federated(source) => {
                let a = self.federated_assertion(source).await?;
                let identity = AssertionIdentity::from_unverified_jwt(a.secret());
                Ok((
                    vec![
                        ("client_assertion_type", JWT_BEARER_ASSERTION_TYPE.into()),
                        ("client_assertion", a.secret().to_string()),
                    ],
                    identity,
                ))
            }
        }
    }
}

/// Seconds since the epoch on the client's clock (injectable, so not jsonwebtoken's
/// `get_current_timestamp`, which reads the system clock).
fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A URL for messages, without its query string (which may carry tokens on some services).
fn redact_query(url: &url::Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.to_string()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::super::test_support::*;
    use super::super::{ClientCredentialsRequest, TokenClient};
    use super::*;

    const CERT_PEM: &str = include_str!("../../../../tests/fixtures/auth_test/client.pem");
    const CERT_PKCS1_PEM: &str =
        include_str!("../../../../tests/fixtures/auth_test/client-pkcs1.pem");

    fn decode_part(jwt: &str, i: usize) -> serde_json::Value {
        let p = jwt.split('.').nth(i).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
    }

    #[test]
    fn certificate_thumbprints_match_openssl() {
        let cert = Certificate::from_pem(CERT_PEM, "client.pem").unwrap();
        // Values from tests/fixtures/auth_test/README.md (computed with openssl).
        assert_eq!(
            cert.sha1_thumbprint_hex(),
            "847E73D3D9CE9709B3A17151B353F7306B3E6000"
        );
        assert_eq!(
            cert.x5t_s256(),
            "8ZAONTu8uyc8NOeak2QV3k_4sEJjDep12tg_Q_AJpXI"
        );
        let pkcs1 = Certificate::from_pem(CERT_PKCS1_PEM, "client-pkcs1.pem").unwrap();
        assert_eq!(pkcs1.x5t(), cert.x5t());
    }

    #[test]
    fn a_pfx_file_gets_a_conversion_hint() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("client.pfx");
        std::fs::write(&p, [0x30u8, 0x82, 0x0a, 0xff, 0xfe, 0x00]).unwrap();
        let e = Certificate::from_pem_file(&p).unwrap_err();
        assert!(e.to_string().contains("openssl pkcs12"), "{e}");
        let e = Certificate::from_pem_file(&dir.path().join("missing.pem")).unwrap_err();
        assert!(e.to_string().contains("cannot read it"), "{e}");
    }

    #[test]
    fn certificate_pem_errors_say_what_is_missing() {
        let only_cert: String = CERT_PEM
            .split("-----BEGIN PRIVATE KEY-----")
            .next()
            .unwrap()
            .to_string();
        let e = Certificate::from_pem(&only_cert, "c.pem").unwrap_err();
        assert!(e.to_string().contains("no private key"), "{e}");
        let e = Certificate::from_pem("hello", "c.pem").unwrap_err();
        assert!(e.to_string().contains("no PEM blocks"), "{e}");
        let enc = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let e = Certificate::from_pem(enc, "c.pem").unwrap_err();
        assert!(e.to_string().contains("encrypted"), "{e}");
        assert_eq!(e.code(), "certificate");
        let enc1 = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        let e = Certificate::from_pem(enc1, "c.pem").unwrap_err();
        assert!(e.to_string().contains("encrypted"), "{e}");
    }

    #[test]
    fn certificate_pem_from_openssl_pkcs12_with_bag_attributes_and_crlf_reads() {
        // `openssl pkcs12 -nodes` writes attribute lines before each block; Windows tools use CRLF.
        let with_bags = CERT_PEM
            .replace(
                "-----BEGIN CERTIFICATE-----",
                "Bag Attributes\n    localKeyID: 01 00 00 00\nsubject=CN = client\n-----BEGIN CERTIFICATE-----",
            )
            .replace("\n", "\r\n");
        let cert = Certificate::from_pem(&with_bags, "client.pem").unwrap();
        assert_eq!(
            cert.sha1_thumbprint_hex(),
            "847E73D3D9CE9709B3A17151B353F7306B3E6000"
        );
        let broken = "-----BEGIN CERTIFICATE-----\nA*AA\n-----END CERTIFICATE-----\n";
        let e = Certificate::from_pem(broken, "c.pem").unwrap_err();
        assert!(e.to_string().contains("not valid base64"), "{e}");
    }

    #[tokio::test]
    async fn certificate_assertion_is_ps256_with_x5t_s256_by_default_and_rs256_x5t_on_request() {
        let cert = Arc::new(Certificate::from_pem(CERT_PEM, "client.pem").unwrap());
        let srv = Loopback::start(Arc::new(|_| token_ok())).await;
        let url = format!("{}/t/oauth2/v2.0/token", srv.base);
        let fixed = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let req = ClientCredentialsRequest {
            token_endpoint: &url,
            client_id: "app-1",
            scope: Some("api://app-1/.default"),
            resource: None,
            audience: None,
        };
        let client = TokenClient::new().with_clock(Arc::new(move || fixed));
        client
            .client_credentials(req, &ClientCredential::Certificate(cert.clone()))
            .await
            .unwrap();
        client
            .clone()
            .with_assertion_algorithm(AssertionAlgorithm::Rs256)
            .client_credentials(req, &ClientCredential::Certificate(cert.clone()))
            .await
            .unwrap();
        let seen = srv.seen();
        let f0 = seen[0].form();
        assert_eq!(f0["client_assertion_type"], JWT_BEARER_ASSERTION_TYPE);
        assert!(!f0.contains_key("client_secret"));
        let a0 = &f0["client_assertion"];
        let h0 = decode_part(a0, 0);
        assert_eq!(h0["alg"], "PS256");
        assert_eq!(h0["x5t#S256"], cert.x5t_s256());
        assert!(h0.get("x5t").is_none());
        let c0 = decode_part(a0, 1);
        assert_eq!(c0["aud"], url.as_str());
        assert_eq!(c0["iss"], "app-1");
        assert_eq!(c0["sub"], "app-1");
        assert_eq!(c0["nbf"], 1_800_000_000u64);
        assert_eq!(c0["exp"], 1_800_000_600u64);
        assert!(c0["jti"].as_str().is_some_and(|j| j.len() == 36));
        // the signature verifies with the certificate's public key
        let pub_key = jsonwebtoken::DecodingKey::from_rsa_pem(include_bytes!(
            "../../../../tests/fixtures/auth_test/client-cert.pem"
        ))
        .unwrap();
        let parts: Vec<&str> = a0.rsplitn(2, '.').collect();
        assert!(
            jsonwebtoken::crypto::verify(
                parts[0],
                parts[1].as_bytes(),
                &pub_key,
                jsonwebtoken::Algorithm::PS256
            )
            .unwrap()
        );
        let a1 = &seen[1].form()["client_assertion"];
        let h1 = decode_part(a1, 0);
        assert_eq!(h1["alg"], "RS256");
        assert_eq!(h1["x5t"], cert.x5t());
        assert!(h1.get("x5t#S256").is_none());
        // two assertions are never the same (fresh jti)
        assert_ne!(decode_part(a1, 1)["jti"], c0["jti"]);
    }

    #[tokio::test]
    async fn federated_token_file_is_read_fresh_for_every_exchange() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let srv = Loopback::start(Arc::new(|_| token_ok())).await;
        let url = format!("{}/t/oauth2/v2.0/token", srv.base);
        let cred = ClientCredential::Federated(AssertionSource::File(path.clone()));
        let req = ClientCredentialsRequest {
            token_endpoint: &url,
            client_id: "app-1",
            scope: Some("api://app-1/.default"),
            resource: None,
            audience: None,
        };
        let (client, masked) = collecting_client();
        std::fs::write(&path, "aaa.first.sig\n").unwrap();
        client.client_credentials(req, &cred).await.unwrap();
        std::fs::write(&path, "bbb.second.sig").unwrap();
        client.client_credentials(req, &cred).await.unwrap();
        let seen = srv.seen();
        assert_eq!(seen[0].form()["client_assertion"], "aaa.first.sig");
        assert_eq!(seen[1].form()["client_assertion"], "bbb.second.sig");
        assert!(
            masked
                .lock()
                .unwrap()
                .contains(&"bbb.second.sig".to_string())
        );

        std::fs::remove_file(&path).unwrap();
        let e = client.client_credentials(req, &cred).await.unwrap_err();
        assert_eq!(e.code(), "federated_token_file");
        assert!(e.to_string().contains("token"), "{e}");
    }

    #[tokio::test]
    async fn github_id_token_is_requested_with_the_cloud_audience_for_every_exchange() {
        let n = Arc::new(Mutex::new(0u32));
        let n2 = n.clone();
        let gh = Loopback::start(Arc::new(move |req: &Seen| {
            let mut n = n2.lock().unwrap();
            *n += 1;
            assert_eq!(req.header("authorization"), Some("Bearer req-token"));
            (200, format!(r#"{{"count":1,"value":"gh.idtoken{n}.sig"}}"#))
        }))
        .await;
        let entra = Loopback::start(Arc::new(|_| token_ok())).await;
        let url = format!("{}/t/oauth2/v2.0/token", entra.base);
        for cloud in Cloud::ALL {
            let oidc = GitHubOidc {
                request_url: format!("{}/_apis/idtoken?api-version=2.0", gh.base),
                request_token: SecretString::new("req-token"),
                audience: cloud.token_exchange_audience().into(),
            };
            let (client, masked) = collecting_client();
            client
                .client_credentials(
                    ClientCredentialsRequest {
                        token_endpoint: &url,
                        client_id: "app-1",
                        scope: Some("api://app-1/.default"),
                        resource: None,
                        audience: None,
                    },
                    &ClientCredential::Federated(AssertionSource::GitHubActions(oidc)),
                )
                .await
                .unwrap();
            let masked = masked.lock().unwrap();
            assert!(masked.contains(&"req-token".to_string()));
        }
        let gh_seen = gh.seen();
        assert_eq!(gh_seen.len(), 3);
        let targets: Vec<&str> = gh_seen.iter().map(|s| s.target.as_str()).collect();
        assert_eq!(
            targets,
            [
                "/_apis/idtoken?api-version=2.0&audience=api%3A%2F%2FAzureADTokenExchange",
                "/_apis/idtoken?api-version=2.0&audience=api%3A%2F%2FAzureADTokenExchangeUSGov",
                "/_apis/idtoken?api-version=2.0&audience=api%3A%2F%2FAzureADTokenExchangeChina",
            ]
        );
        let assertions: Vec<String> = entra
            .seen()
            .iter()
            .map(|s| s.form()["client_assertion"].clone())
            .collect();
        assert_eq!(
            assertions,
            ["gh.idtoken1.sig", "gh.idtoken2.sig", "gh.idtoken3.sig"]
        );
    }

    #[tokio::test]
    async fn github_id_token_failure_says_to_grant_id_token_write() {
        let gh = Loopback::start(Arc::new(|_| (403, r#"{"message":"nope"}"#.into()))).await;
        let e = TokenClient::new()
            .github_id_token(&GitHubOidc {
                request_url: format!("{}/idtoken?x=1", gh.base),
                request_token: SecretString::new("req-token"),
                audience: "api://AzureADTokenExchange".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), "github_id_token");
        assert!(e.to_string().contains("403"), "{e}");
        assert!(!e.to_string().contains("req-token"));
    }
}
