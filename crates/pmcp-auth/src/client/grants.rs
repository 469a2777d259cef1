//! The grant flows, each one request to a token endpoint: client credentials (app-only),
//! on-behalf-of (exchange a user's token for one to a downstream API, [`get_obo_token`]), device
//! code (start, then poll until the person signs in), and OIDC discovery of a provider's token
//! endpoints. Also the shared plumbing: posting the form and reading the token answer.

use std::time::Duration;

use serde::Deserialize;

use super::errors::{error_answer, error_chain, oauth_error};
use super::{
    AccessToken, AssertionIdentity, ClientCredential, ClientCredentialsRequest, CredentialError,
    DEVICE_CODE_GRANT, DeviceAuthorization, JWT_BEARER_GRANT, OidcEndpoints, TokenClient,
};
use crate::discovery::{check_url, discovery_url_for_issuer};
use crate::entra::EntraConfig;
use crate::secret::SecretString;

#[derive(Deserialize)]
struct RawDeviceAuthorization {
    user_code: String,
    device_code: String,
    #[serde(alias = "verification_url")]
    verification_uri: String,
    message: Option<String>,
    #[serde(deserialize_with = "de_u64_or_string")]
    expires_in: u64,
    #[serde(default, deserialize_with = "de_opt_u64_or_string")]
    interval: Option<u64>,
}

impl TokenClient {
    /// Client credentials grant: an app-only token.
    pub async fn client_credentials(
        &self,
        req: ClientCredentialsRequest<'_>,
        credential: &ClientCredential,
    ) -> Result<AccessToken, CredentialError> {
        let (auth, identity) = self
            .client_auth(req.client_id, req.token_endpoint, credential)
            .await?;
        let mut form: Vec<(&str, String)> = vec![
            ("grant_type", "client_credentials".into()),
            ("client_id", req.client_id.into()),
        ];
        if let Some(s) = req.scope {
            form.push(("scope", s.into()));
        }
        if let Some(r) = req.resource {
            form.push(("resource", r.into()));
        }
        if let Some(a) = req.audience {
            form.push(("audience", a.into()));
        }
        form.extend(auth);
        self.token_request(req.token_endpoint, req.client_id, &form, identity)
            .await
    }

    /// On-behalf-of: exchange `user_token` (a token for this API) for a token for `scope`.
    pub async fn on_behalf_of(
        &self,
        token_endpoint: &str,
        client_id: &str,
        credential: &ClientCredential,
        user_token: &SecretString,
        scope: &str,
    ) -> Result<AccessToken, CredentialError> {
        self.secret(user_token);
        let (auth, identity) = self
            .client_auth(client_id, token_endpoint, credential)
            .await?;
        let mut form: Vec<(&str, String)> = vec![
            ("grant_type", JWT_BEARER_GRANT.into()),
            ("client_id", client_id.into()),
            ("assertion", user_token.secret().into()),
            ("scope", scope.into()),
            ("requested_token_use", "on_behalf_of".into()),
        ];
        form.extend(auth);
        self.token_request(token_endpoint, client_id, &form, identity)
            .await
    }

    /// Start a device code sign-in (a public client; no credential).
    pub async fn start_device_code(
        &self,
        device_code_endpoint: &str,
        client_id: &str,
        scope: &str,
    ) -> Result<DeviceAuthorization, CredentialError> {
        let form = [("client_id", client_id), ("scope", scope)];
        let (status, body) = self.post_form(device_code_endpoint, &form).await?;
        if !(200..300).contains(&status) {
            return Err(error_answer(
                device_code_endpoint,
                client_id,
                status,
                &body,
                None,
                &[],
            ));
        }
        let raw: RawDeviceAuthorization =
            serde_json::from_str(&body).map_err(|e| CredentialError::InvalidResponse {
                url: device_code_endpoint.into(),
                status,
                detail: format!("not a device authorization answer: {e}"),
            })?;
        let device_code = SecretString::new(raw.device_code);
        self.secret(&device_code);
        Ok(DeviceAuthorization {
            user_code: raw.user_code,
            device_code,
            verification_uri: raw.verification_uri,
            message: raw.message,
            expires_in: Duration::from_secs(raw.expires_in),
            interval: Duration::from_secs(raw.interval.unwrap_or(5)),
            issued_at: (self.now)(),
        })
    }

    /// Poll until the person signs in: waits `interval` between polls, adds 5 s on `slow_down`,
    /// keeps going on `authorization_pending`, stops on `expired_token`, a decline, or when
    /// `expires_in` has passed on the client's clock.
    pub async fn poll_device_code(
        &self,
        token_endpoint: &str,
        client_id: &str,
        auth: &DeviceAuthorization,
    ) -> Result<AccessToken, CredentialError> {
        let deadline = auth.issued_at + auth.expires_in;
        let mut interval = auth.interval;
        loop {
            let form = [
                ("grant_type", DEVICE_CODE_GRANT),
                ("client_id", client_id),
                ("device_code", auth.device_code.secret()),
            ];
            let (status, body) = self.post_form(token_endpoint, &form).await?;
            if (200..300).contains(&status) {
                return self.parse_token(token_endpoint, status, &body, &form);
            }
            let oauth_error = oauth_error(&body);
            match oauth_error.as_deref() {
                Some("authorization_pending") => {}
                Some("slow_down") => interval += Duration::from_secs(5),
                Some("expired_token") | Some("code_expired") => {
                    return Err(CredentialError::DeviceCodeExpired);
                }
                Some("authorization_declined") | Some("access_denied") => {
                    return Err(CredentialError::AuthorizationDeclined);
                }
                _ => {
                    return Err(error_answer(
                        token_endpoint,
                        client_id,
                        status,
                        &body,
                        None,
                        &[auth.device_code.secret()],
                    ));
                }
            }
            if (self.now)() + interval >= deadline {
                return Err(CredentialError::DeviceCodeExpired);
            }
            (self.sleep)(interval).await;
        }
    }

    async fn token_request(
        &self,
        url: &str,
        client_id: &str,
        form: &[(&str, String)],
        identity: Option<AssertionIdentity>,
    ) -> Result<AccessToken, CredentialError> {
        let (status, body) = self.post_form(url, form).await?;
        if (200..300).contains(&status) {
            self.parse_token(url, status, &body, form)
        } else {
            let secrets = secrets_in(form);
            Err(error_answer(
                url, client_id, status, &body, identity, &secrets,
            ))
        }
    }

    async fn post_form<K: serde::Serialize, V: serde::Serialize>(
        &self,
        url: &str,
        form: &[(K, V)],
    ) -> Result<(u16, String), CredentialError> {
        let resp = self
            .http
            .post(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(form)
            .send()
            .await
            .map_err(|e| CredentialError::Network {
                url: url.into(),
                detail: error_chain(&e),
            })?;
        let status = resp.status().as_u16();
        // The client does not follow redirects (a 307 would re-send this form, secret and all, to
        // wherever it points); a 3xx is an error naming the URL that answered it.
        if resp.status().is_redirection() {
            return Err(redirected(url, &resp));
        }
        let body = resp.text().await.map_err(|e| CredentialError::Network {
            url: url.into(),
            detail: format!("the answer broke off: {}", error_chain(&e)),
        })?;
        Ok((status, body))
    }

    fn parse_token<V: AsRef<str>>(
        &self,
        url: &str,
        status: u16,
        body: &str,
        form: &[(&str, V)],
    ) -> Result<AccessToken, CredentialError> {
        #[derive(Deserialize)]
        struct Raw {
            access_token: String,
            #[serde(default)]
            token_type: Option<String>,
            #[serde(default, deserialize_with = "de_opt_u64_or_string")]
            expires_in: Option<u64>,
            #[serde(default)]
            scope: Option<String>,
            #[serde(default)]
            refresh_token: Option<String>,
        }
        let raw: Raw =
            serde_json::from_str(body).map_err(|e| CredentialError::InvalidResponse {
                url: url.into(),
                status,
                // serde's message may quote a value of the answer: scrub it.
                detail: crate::secret::scrub(
                    &format!("not a token answer ({e})"),
                    &secrets_in(form),
                ),
            })?;
        let token = SecretString::new(raw.access_token);
        self.secret(&token);
        let refresh_token = raw.refresh_token.map(SecretString::new);
        if let Some(r) = &refresh_token {
            self.secret(r);
        }
        Ok(AccessToken {
            token,
            token_type: raw.token_type.unwrap_or_else(|| "Bearer".into()),
            expires_in: raw.expires_in,
            scope: raw.scope,
            refresh_token,
        })
    }

    /// Fetch `{issuer}/.well-known/openid-configuration` and return its token endpoint (and the
    /// device authorization endpoint, when present). The document must name the same issuer.
    pub async fn discover(&self, issuer: &str) -> Result<OidcEndpoints, CredentialError> {
        // Not crate::discovery::fetch_discovery: that parse insists on a `jwks_uri` (what the
        // validator needs), while a token client needs only the endpoints below.
        let url = discovery_url_for_issuer(issuer);
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| CredentialError::Discovery {
                url: url.clone(),
                detail: error_chain(&e),
            })?;
        let status = resp.status();
        if status.is_redirection() {
            return Err(redirected(&url, &resp));
        }
        let body = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(CredentialError::Discovery {
                url,
                detail: format!("HTTP {}", status.as_u16()),
            });
        }
        #[derive(Deserialize)]
        struct Doc {
            issuer: String,
            token_endpoint: Option<String>,
            device_authorization_endpoint: Option<String>,
        }
        let doc: Doc = serde_json::from_str(&body).map_err(|e| CredentialError::Discovery {
            url: url.clone(),
            detail: format!("not a discovery document: {e}"),
        })?;
        if doc.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(CredentialError::Discovery {
                url,
                detail: format!(
                    "it names issuer `{}`, not `{issuer}` (use exactly the issuer the provider publishes)",
                    doc.issuer
                ),
            });
        }
        let token_endpoint = doc
            .token_endpoint
            .ok_or_else(|| CredentialError::Discovery {
                url: url.clone(),
                detail: "it has no token_endpoint".into(),
            })?;
        // Client secrets and assertions go to these endpoints: https only (http on loopback), as
        // for the issuer itself.
        for (name, endpoint) in [
            ("token_endpoint", Some(&token_endpoint)),
            (
                "device_authorization_endpoint",
                doc.device_authorization_endpoint.as_ref(),
            ),
        ] {
            if let Some(e) = endpoint {
                check_url(e).map_err(|detail| CredentialError::Discovery {
                    url: url.clone(),
                    detail: format!("its {name}: {detail}"),
                })?;
            }
        }
        Ok(OidcEndpoints {
            issuer: doc.issuer,
            token_endpoint,
            device_authorization_endpoint: doc.device_authorization_endpoint,
        })
    }
}

/// The form fields whose values are secrets: scrubbed from any message built from the answer.
const SECRET_FIELDS: [&str; 8] = [
    "client_secret",
    "client_assertion",
    "assertion",
    "device_code",
    "refresh_token",
    "code",
    "code_verifier",
    "password",
];

/// The secret values a form carries (see [`SECRET_FIELDS`]).
fn secrets_in<'a, V: AsRef<str>>(form: &'a [(&str, V)]) -> Vec<&'a str> {
    form.iter()
        .filter(|(k, _)| SECRET_FIELDS.contains(k))
        .map(|(_, v)| v.as_ref())
        .collect()
}

/// A 3xx answer as an error: the URL that answered and where it pointed (scrubbed: a `Location`
/// is the server's text).
pub(super) fn redirected(url: &str, resp: &reqwest::Response) -> CredentialError {
    CredentialError::Redirected {
        url: url.to_string(),
        status: resp.status().as_u16(),
        location: resp
            .headers()
            .get(reqwest::header::LOCATION)
            .map(|l| crate::secret::scrub(&String::from_utf8_lossy(l.as_bytes()), &[])),
    }
}

/// On-behalf-of with the API's own client secret (`config.client_secret`): exchange the caller's
/// token for one to call `scope` (e.g. `https://graph.microsoft.com/.default`) as the same user.
/// Errors are typed: [`CredentialError::MissingClientSecret`], or [`CredentialError::Entra`] —
/// check [`EntraTokenError::is_interaction_required`] and pass its `claims` back to the client.
///
/// [`EntraTokenError::is_interaction_required`]: super::EntraTokenError::is_interaction_required
pub async fn get_obo_token(
    config: &EntraConfig,
    user_token: &str,
    scope: &str,
) -> Result<AccessToken, CredentialError> {
    let secret = config
        .client_secret
        .clone()
        .ok_or(CredentialError::MissingClientSecret)?;
    TokenClient::new()
        .on_behalf_of(
            &config.token_endpoint(),
            &config.client_id,
            &ClientCredential::Secret(secret),
            &SecretString::new(user_token),
            scope,
        )
        .await
}

/// A number sent as a JSON number or a numeric string (Entra's v1 endpoints send strings).
fn de_u64_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    de_opt_u64_or_string(d)?.ok_or_else(|| serde::de::Error::custom("missing number"))
}

/// [`de_u64_or_string`], for an optional member. Hand-written: serde_with's `PickFirst` does this,
/// but it is not a dependency and two members do not justify one.
fn de_opt_u64_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom("not a non-negative integer")),
        Some(serde_json::Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom("not a number")),
        Some(_) => Err(serde::de::Error::custom("not a number")),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::UNIX_EPOCH;

    use super::super::test_support::*;
    use super::super::{NowFn, SleepFn};
    use super::*;

    #[tokio::test]
    async fn client_secret_is_sent_as_a_form_field_and_every_secret_is_reported() {
        let srv = Loopback::start(Arc::new(|_| token_ok())).await;
        let (client, masked) = collecting_client();
        let url = format!("{}/t1/oauth2/v2.0/token", srv.base);
        let tok = client
            .client_credentials(
                ClientCredentialsRequest {
                    token_endpoint: &url,
                    client_id: "app-1",
                    scope: Some("api://app-1/.default"),
                    resource: None,
                    audience: None,
                },
                &ClientCredential::Secret(SecretString::new("s3cr3t-value")),
            )
            .await
            .unwrap();
        assert_eq!(tok.token.secret(), "eyJ.the-access-token.sig");
        assert_eq!(tok.expires_in, Some(3599));
        let seen = srv.seen();
        assert_eq!(seen[0].method, "POST");
        assert_eq!(seen[0].target, "/t1/oauth2/v2.0/token");
        let form = seen[0].form();
        assert_eq!(form["grant_type"], "client_credentials");
        assert_eq!(form["client_id"], "app-1");
        assert_eq!(form["client_secret"], "s3cr3t-value");
        assert_eq!(form["scope"], "api://app-1/.default");
        assert!(!form.contains_key("resource"));
        let masked = masked.lock().unwrap();
        assert!(masked.contains(&"s3cr3t-value".to_string()));
        assert!(masked.contains(&"eyJ.the-access-token.sig".to_string()));
    }

    /// A token endpoint that answers 307 to another loopback server: the secret (and the assertion
    /// of on-behalf-of, and the device code) never reach the second server, and the error names the
    /// URL that answered 3xx.
    #[tokio::test]
    async fn a_redirect_from_the_token_endpoint_is_refused_and_nothing_is_re_sent() {
        let elsewhere = Loopback::start(Arc::new(|_| token_ok())).await;
        let target = format!("{}/stolen", elsewhere.base);
        let t2 = target.clone();
        let srv = Loopback::start(Arc::new(move |_| (307, t2.clone()))).await;
        let url = format!("{}/t1/oauth2/v2.0/token", srv.base);
        let client = TokenClient::new();
        let e = client
            .client_credentials(
                ClientCredentialsRequest {
                    token_endpoint: &url,
                    client_id: "app-1",
                    scope: Some("api://app-1/.default"),
                    resource: None,
                    audience: None,
                },
                &ClientCredential::Secret(SecretString::new("s3cr3t-value")),
            )
            .await
            .unwrap_err();
        assert_eq!(e.code(), "redirected");
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!("{url} answered HTTP 307")),
            "{msg}"
        );
        assert!(msg.contains(&target), "{msg}");
        let e = client
            .on_behalf_of(
                &url,
                "api-1",
                &ClientCredential::Secret(SecretString::new("api-secret")),
                &SecretString::new("user.token.sig"),
                "https://graph.microsoft.com/.default",
            )
            .await
            .unwrap_err();
        assert!(
            matches!(e, CredentialError::Redirected { status: 307, .. }),
            "{e:?}"
        );
        // Discovery (the same 307 to the other server) is refused the same way.
        let e = client.discover(&srv.base).await.unwrap_err();
        assert_eq!(e.code(), "redirected", "{e}");
        assert_eq!(srv.seen().len(), 3);
        assert!(elsewhere.seen().is_empty(), "{:?}", elsewhere.seen());
    }

    /// A token endpoint that echoes what it was sent: the secret, the user's assertion and any JWT
    /// are scrubbed from the error (and so from what the CLI prints and its `--json`).
    #[tokio::test]
    async fn secrets_echoed_in_an_error_answer_are_scrubbed() {
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJlLXZhbHVl";
        let srv = Loopback::start(Arc::new(move |req: &Seen| {
            let echoed = req.body.clone();
            if req.target.starts_with("/oauth") {
                let desc = format!(
                    "invalid token {}; you sent {echoed}",
                    req.form()["assertion"]
                );
                return (
                    400,
                    serde_json::json!({"error": "invalid_grant", "error_description": desc})
                        .to_string(),
                );
            }
            if req.target.starts_with("/entra") {
                return (
                    401,
                    entra_error(
                        7000215,
                        "invalid_client",
                        &format!("Invalid client secret provided: {echoed}"),
                    ),
                );
            }
            (
                500,
                format!("<html>upstream said: {echoed} and {jwt}</html>"),
            )
        }))
        .await;
        let secret = "Zq8~Q.s3cr3t_VALUE~with~tildes";
        let user = jwt;
        let client = TokenClient::new();
        for path in ["/oauth/token", "/entra/token", "/html/token"] {
            let e = client
                .on_behalf_of(
                    &format!("{}{path}", srv.base),
                    "api-1",
                    &ClientCredential::Secret(SecretString::new(secret)),
                    &SecretString::new(user),
                    "https://graph.microsoft.com/.default",
                )
                .await
                .unwrap_err();
            let shown = format!("{e} {e:?} {}", serde_json::to_string(&e.entra()).unwrap());
            assert!(!shown.contains("s3cr3t"), "{path}: {shown}");
            assert!(!shown.contains("eyJ"), "{path}: {shown}");
            assert!(!shown.contains("c2lnbmF0dXJl"), "{path}: {shown}");
            assert!(shown.contains("[redacted]"), "{path}: {shown}");
        }
    }

    #[tokio::test]
    async fn oidc_client_credentials_sends_the_rfc8707_resource() {
        let srv = Loopback::start(Arc::new(|_| token_ok())).await;
        let url = format!("{}/oauth/token", srv.base);
        TokenClient::new()
            .client_credentials(
                ClientCredentialsRequest {
                    token_endpoint: &url,
                    client_id: "okta-app",
                    scope: None,
                    resource: Some("https://mcp.example.com"),
                    audience: None,
                },
                &ClientCredential::Secret(SecretString::new("x")),
            )
            .await
            .unwrap();
        let form = srv.seen()[0].form();
        assert_eq!(form["resource"], "https://mcp.example.com");
        assert!(!form.contains_key("scope"));
    }

    /// A clock that the sleep function advances: no real waiting.
    fn fake_time() -> (NowFn, SleepFn, Arc<Mutex<Vec<Duration>>>) {
        let t = Arc::new(Mutex::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000)));
        let sleeps = Arc::new(Mutex::new(Vec::new()));
        let t1 = t.clone();
        let t2 = t.clone();
        let s2 = sleeps.clone();
        let now: NowFn = Arc::new(move || *t1.lock().unwrap());
        let sleep: SleepFn = Arc::new(move |d| {
            *t2.lock().unwrap() += d;
            s2.lock().unwrap().push(d);
            Box::pin(async {})
        });
        (now, sleep, sleeps)
    }

    #[tokio::test]
    async fn device_code_polls_with_interval_and_slow_down_until_signed_in() {
        let polls = Arc::new(Mutex::new(0u32));
        let p2 = polls.clone();
        let srv = Loopback::start(Arc::new(move |req: &Seen| {
            if req.target.ends_with("/devicecode") {
                let f = req.form();
                assert_eq!(f["client_id"], "public-1");
                assert_eq!(f["scope"], "api://app-1/access_as_user");
                return (200, r#"{"user_code":"ABCD-EFGH","device_code":"dc-secret","verification_uri":"https://microsoft.com/devicelogin","expires_in":"900","interval":"5","message":"To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code ABCD-EFGH to authenticate."}"#.into());
            }
            let f = req.form();
            assert_eq!(f["grant_type"], DEVICE_CODE_GRANT);
            assert_eq!(f["device_code"], "dc-secret");
            let mut n = p2.lock().unwrap();
            *n += 1;
            match *n {
                1 => (400, r#"{"error":"authorization_pending","error_codes":[70016]}"#.into()),
                2 => (400, r#"{"error":"slow_down"}"#.into()),
                3 => (400, r#"{"error":"authorization_pending","error_codes":[70016]}"#.into()),
                _ => (200, r#"{"token_type":"Bearer","scope":"api://app-1/access_as_user","expires_in":4000,"access_token":"user.token.sig","refresh_token":"rt"}"#.into()),
            }
        }))
        .await;
        let (now, sleep, sleeps) = fake_time();
        let client = TokenClient::new().with_clock(now).with_sleep(sleep);
        let dc = client
            .start_device_code(
                &format!("{}/t/oauth2/v2.0/devicecode", srv.base),
                "public-1",
                "api://app-1/access_as_user",
            )
            .await
            .unwrap();
        assert_eq!(dc.user_code, "ABCD-EFGH");
        assert_eq!(dc.expires_in, Duration::from_secs(900));
        let tok = client
            .poll_device_code(
                &format!("{}/t/oauth2/v2.0/token", srv.base),
                "public-1",
                &dc,
            )
            .await
            .unwrap();
        assert_eq!(tok.token.secret(), "user.token.sig");
        assert_eq!(tok.scope.as_deref(), Some("api://app-1/access_as_user"));
        assert_eq!(
            *sleeps.lock().unwrap(),
            [
                Duration::from_secs(5),
                Duration::from_secs(10),
                Duration::from_secs(10)
            ]
        );
    }

    #[tokio::test]
    async fn device_code_expires_by_server_answer_or_by_clock() {
        let srv = Loopback::start(Arc::new(|req: &Seen| {
            if req.target.ends_with("/devicecode") {
                return (200, r#"{"user_code":"U","device_code":"d","verification_uri":"https://x","expires_in":12,"interval":5}"#.into());
            }
            if req.target.starts_with("/expired") {
                return (400, r#"{"error":"expired_token","error_codes":[70019]}"#.into());
            }
            if req.target.starts_with("/declined") {
                return (400, r#"{"error":"authorization_declined"}"#.into());
            }
            (400, r#"{"error":"authorization_pending"}"#.into())
        }))
        .await;
        let (now, sleep, sleeps) = fake_time();
        let client = TokenClient::new().with_clock(now).with_sleep(sleep);
        let dc = client
            .start_device_code(&format!("{}/devicecode", srv.base), "p", "s")
            .await
            .unwrap();
        let e = client
            .poll_device_code(&format!("{}/expired", srv.base), "p", &dc)
            .await
            .unwrap_err();
        assert!(matches!(e, CredentialError::DeviceCodeExpired));
        let e = client
            .poll_device_code(&format!("{}/declined", srv.base), "p", &dc)
            .await
            .unwrap_err();
        assert!(matches!(e, CredentialError::AuthorizationDeclined));
        // pending forever: gives up once the 12 s lifetime has passed on the clock
        let e = client
            .poll_device_code(&format!("{}/pending", srv.base), "p", &dc)
            .await
            .unwrap_err();
        assert!(matches!(e, CredentialError::DeviceCodeExpired));
        assert_eq!(sleeps.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn obo_sends_the_jwt_bearer_grant_and_needs_a_secret() {
        let body = entra_error(
            50076,
            "interaction_required",
            "Due to a configuration change made by your administrator, you must use multi-factor authentication.",
        );
        let srv = Loopback::start(Arc::new(move |req: &Seen| {
            let f = req.form();
            if f["assertion"] == "mfa.user.token" {
                let mut v: serde_json::Value = serde_json::from_str(&body).unwrap();
                v["claims"] = serde_json::json!("{\"access_token\":{\"capolids\":{}}}");
                return (400, v.to_string());
            }
            assert_eq!(f["grant_type"], JWT_BEARER_GRANT);
            assert_eq!(f["requested_token_use"], "on_behalf_of");
            assert_eq!(f["client_id"], "api-1");
            assert_eq!(f["client_secret"], "api-secret");
            assert_eq!(f["scope"], "https://graph.microsoft.com/.default");
            token_ok()
        }))
        .await;
        let mut config = EntraConfig::new("t", "api-1").with_authority_host(&srv.base);
        let e = get_obo_token(
            &config,
            "user.token.sig",
            "https://graph.microsoft.com/.default",
        )
        .await
        .unwrap_err();
        assert!(matches!(e, CredentialError::MissingClientSecret));
        config.client_secret = Some(SecretString::new("api-secret"));
        let tok = get_obo_token(
            &config,
            "user.token.sig",
            "https://graph.microsoft.com/.default",
        )
        .await
        .unwrap();
        assert_eq!(tok.token.secret(), "eyJ.the-access-token.sig");
        assert_eq!(srv.seen()[0].target, "/t/oauth2/v2.0/token");
        let e = get_obo_token(
            &config,
            "mfa.user.token",
            "https://graph.microsoft.com/.default",
        )
        .await
        .unwrap_err();
        let entra = e.entra().unwrap();
        assert!(entra.is_interaction_required());
        assert!(entra.claims.as_deref().unwrap().contains("capolids"));
    }

    #[tokio::test]
    async fn discovery_finds_the_token_endpoint_and_checks_the_issuer() {
        let srv = Loopback::start(Arc::new(|req: &Seen| {
            let host = req.header("host").unwrap_or_default().to_string();
            let (issuer, token_endpoint) = if req.target.starts_with("/wrong") {
                (
                    "https://elsewhere".to_string(),
                    format!("http://{host}/good/token"),
                )
            } else if req.target.starts_with("/plain") {
                (
                    format!("http://{host}/plain"),
                    "http://idp.example/token".to_string(),
                )
            } else {
                (
                    format!("http://{host}/good"),
                    format!("http://{host}/good/token"),
                )
            };
            (
                200,
                serde_json::json!({"issuer": issuer, "token_endpoint": token_endpoint}).to_string(),
            )
        }))
        .await;
        let client = TokenClient::new();
        let ep = client
            .discover(&format!("{}/good", srv.base))
            .await
            .unwrap();
        assert_eq!(ep.token_endpoint, format!("{}/good/token", srv.base));
        let e = client
            .discover(&format!("{}/wrong", srv.base))
            .await
            .unwrap_err();
        assert_eq!(e.code(), "discovery_failed");
        assert!(e.to_string().contains("https://elsewhere"), "{e}");
        // A document sending the credential over plain http to another host is refused.
        let e = client
            .discover(&format!("{}/plain", srv.base))
            .await
            .unwrap_err();
        assert_eq!(e.code(), "discovery_failed");
        assert!(e.to_string().contains("token_endpoint"), "{e}");
        assert!(e.to_string().contains("must use https://"), "{e}");
    }
}
