//! `POST /token`: the bridge's codes and refresh tokens for Entra's access tokens.
//!
//! - `authorization_code`: the sealed code is opened, its client, redirect URI and PKCE challenge
//!   checked, its 60 s lifetime enforced, and its id remembered until it expires (single use on
//!   this instance; a bounded set). Across instances a code could be redeemed once per instance
//!   within those 60 s — but only with the PKCE verifier, which never left the client that started
//!   the sign-in.
//! - `refresh_token`: the bridge's refresh token is Entra's, sealed and bound to the client; it is
//!   redeemed at Entra and a new pair is returned.
//!
//! The access token returned is Entra's own, for the API: the server's validator checks it exactly
//! as it checks any other Entra token. Errors are RFC 6749 §5.2 JSON with `Cache-Control: no-store`.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::seal::Purpose;
use super::{
    BridgeRequest, constant_time_eq, content_type_is, hash_b64, json_body, method_not_allowed,
    oauth_error, param, parse_form, pkce_s256_ok, resource_matches,
};

/// Codes remembered as used on one instance at most (they are forgotten when they expire).
const MAX_USED_CODES: usize = 10_000;

/// The bridge's one-time code. No `Debug`: it holds Entra's tokens, which must never reach a log.
#[derive(Serialize, Deserialize)]
pub(super) struct CodeRecord {
    /// Random id (the single-use set's key).
    pub(super) id: String,
    /// Client binding.
    pub(super) c: String,
    /// Redirect URI the code was sent to.
    pub(super) r: String,
    /// The client's PKCE challenge.
    pub(super) cc: String,
    /// Scopes granted.
    pub(super) sc: String,
    /// Entra's access token.
    pub(super) at: String,
    /// Entra's refresh token.
    pub(super) rt: Option<String>,
    /// When Entra's access token expires (unix seconds).
    pub(super) ax: u64,
    /// The code's own expiry.
    pub(super) x: u64,
}

/// The bridge's refresh token. No `Debug`: it holds Entra's refresh token.
#[derive(Serialize, Deserialize)]
struct RefreshRecord {
    /// Client binding.
    c: String,
    /// Entra's refresh token.
    rt: String,
    /// Scopes granted.
    sc: String,
}

/// What Entra's token endpoint returned.
pub(super) struct EntraTokens {
    pub(super) access_token: String,
    pub(super) refresh_token: Option<String>,
    pub(super) expires_in: u64,
}

/// Why Entra's token endpoint gave no tokens: its `error` code when it answered one (never its
/// description, which may quote the request).
#[derive(Debug)]
pub(super) enum EntraFailure {
    /// Entra answered an OAuth error.
    Refused(String),
    /// Entra could not be reached or answered something else.
    Unavailable,
}

#[derive(Deserialize)]
struct EntraAnswer {
    access_token: Option<String>,
    refresh_token: Option<String>,
    expires_in: Option<serde_json::Value>,
    error: Option<String>,
}

fn token_error(error: &str, description: &str) -> Response<Bytes> {
    let status = match error {
        "invalid_client" => StatusCode::UNAUTHORIZED,
        "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    oauth_error(status, error, description)
}

impl super::Bridge {
    /// A request to Entra's token endpoint as the server's confidential app (client secret in the
    /// form, RFC 6749 §2.3.1, as Entra documents it).
    pub(super) async fn entra_token(
        &self,
        params: &[(&str, &str)],
    ) -> Result<EntraTokens, EntraFailure> {
        let entra = &self.config.entra;
        let Some(secret) = &self.config.client_secret else {
            return Err(EntraFailure::Unavailable);
        };
        let mut form: Vec<(&str, &str)> = vec![
            ("client_id", entra.client_id.as_str()),
            ("client_secret", secret.secret()),
        ];
        form.extend_from_slice(params);
        let resp = self
            .http
            .post(entra.token_endpoint())
            .form(&form)
            .send()
            .await
            .map_err(|_| EntraFailure::Unavailable)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|_| EntraFailure::Unavailable)?;
        let answer: EntraAnswer =
            serde_json::from_slice(&bytes).map_err(|_| EntraFailure::Unavailable)?;
        if !status.is_success() {
            return Err(match answer.error {
                Some(e) => EntraFailure::Refused(e),
                None => EntraFailure::Unavailable,
            });
        }
        let access_token = answer.access_token.ok_or(EntraFailure::Unavailable)?;
        // Entra sends `expires_in` as a number (v2) or a string (v1).
        let expires_in = match answer.expires_in {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.parse().ok(),
            _ => None,
        }
        .unwrap_or(3600);
        Ok(EntraTokens {
            access_token,
            refresh_token: answer.refresh_token,
            expires_in,
        })
    }

    /// `POST /token`.
    pub(super) async fn token(&self, req: &BridgeRequest<'_>) -> Response<Bytes> {
        if req.method != Method::POST {
            return method_not_allowed("POST");
        }
        if !content_type_is(req.headers, "application/x-www-form-urlencoded") {
            return token_error(
                "invalid_request",
                "the token request must be sent as application/x-www-form-urlencoded (RFC 6749 §4.1.3)",
            );
        }
        let form = match parse_form(&req.body) {
            Ok(f) => f,
            Err(why) => return token_error("invalid_request", &why),
        };
        let Some(client_id) = param(&form, "client_id") else {
            return token_error(
                "invalid_request",
                "the `client_id` parameter is missing (clients of this server are public: send it in the form)",
            );
        };
        if let Some(resource) = param(&form, "resource")
            && !resource_matches(req.resource, resource)
        {
            return token_error(
                "invalid_target",
                &format!(
                    "this authorization server issues tokens only for `{}`",
                    req.resource
                ),
            );
        }
        let binding = hash_b64(client_id.as_bytes());
        match param(&form, "grant_type") {
            Some("authorization_code") => self.redeem_code(&form, &binding).await,
            Some("refresh_token") => self.refresh(&form, &binding).await,
            Some(_) => token_error(
                "unsupported_grant_type",
                "this server supports `authorization_code` and `refresh_token`",
            ),
            None => token_error("invalid_request", "the `grant_type` parameter is missing"),
        }
    }

    async fn redeem_code(
        &self,
        form: &std::collections::HashMap<String, String>,
        binding: &str,
    ) -> Response<Bytes> {
        let (Some(code), Some(redirect_uri), Some(verifier)) = (
            param(form, "code"),
            param(form, "redirect_uri"),
            param(form, "code_verifier"),
        ) else {
            return token_error(
                "invalid_request",
                "`code`, `redirect_uri` and `code_verifier` are required",
            );
        };
        let now = self.config.now();
        let Ok(rec) = self
            .config
            .sealer
            .unseal::<CodeRecord>(Purpose::Code, code, now)
        else {
            return token_error(
                "invalid_grant",
                "the authorization code is invalid or has expired",
            );
        };
        if !constant_time_eq(rec.c.as_bytes(), binding.as_bytes()) {
            return token_error(
                "invalid_grant",
                "the authorization code was issued to another client",
            );
        }
        if rec.r != redirect_uri {
            return token_error(
                "invalid_grant",
                "`redirect_uri` is not the one the authorization code was sent to",
            );
        }
        if !pkce_s256_ok(verifier, &rec.cc) {
            return token_error(
                "invalid_grant",
                "the `code_verifier` does not match the authorization request's `code_challenge`",
            );
        }
        {
            let mut used = self.used_codes.lock().unwrap_or_else(|e| e.into_inner());
            if used.contains_key(&rec.id) {
                return token_error(
                    "invalid_grant",
                    "the authorization code has already been used",
                );
            }
            used.retain(|_, exp| *exp > now);
            if used.len() >= MAX_USED_CODES {
                return token_error(
                    "temporarily_unavailable",
                    "too many sign-ins at once; retry shortly",
                );
            }
            used.insert(rec.id.clone(), rec.x);
        }
        self.token_answer(binding, rec.at, rec.rt, rec.ax.saturating_sub(now), &rec.sc)
    }

    async fn refresh(
        &self,
        form: &std::collections::HashMap<String, String>,
        binding: &str,
    ) -> Response<Bytes> {
        let Some(sealed) = param(form, "refresh_token") else {
            return token_error(
                "invalid_request",
                "the `refresh_token` parameter is missing",
            );
        };
        let now = self.config.now();
        let Ok(rec) = self
            .config
            .sealer
            .unseal::<RefreshRecord>(Purpose::Refresh, sealed, now)
        else {
            return token_error(
                "invalid_grant",
                "the refresh token is invalid or has expired",
            );
        };
        if !constant_time_eq(rec.c.as_bytes(), binding.as_bytes()) {
            return token_error(
                "invalid_grant",
                "the refresh token was issued to another client",
            );
        }
        let scope = self.config.upstream_scope_param();
        match self
            .entra_token(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", rec.rt.as_str()),
                ("scope", scope.as_str()),
            ])
            .await
        {
            Ok(t) => {
                // Entra may omit a new refresh token; the old one then stays valid.
                let rt = t.refresh_token.or(Some(rec.rt));
                self.token_answer(binding, t.access_token, rt, t.expires_in, &rec.sc)
            }
            Err(EntraFailure::Refused(e)) if e == "invalid_grant" => token_error(
                "invalid_grant",
                "Microsoft Entra ID no longer accepts this sign-in; sign in again",
            ),
            Err(_) => token_error(
                "temporarily_unavailable",
                "Microsoft Entra ID could not refresh the sign-in right now; retry shortly",
            ),
        }
    }

    fn token_answer(
        &self,
        binding: &str,
        access_token: String,
        entra_refresh: Option<String>,
        expires_in: u64,
        scope: &str,
    ) -> Response<Bytes> {
        let mut body = json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "scope": scope,
        });
        if let Some(rt) = entra_refresh {
            let exp = self.config.now() + super::DEFAULT_REFRESH_TTL;
            body["refresh_token"] = json!(self.config.sealer.seal(
                Purpose::Refresh,
                exp,
                &RefreshRecord {
                    c: binding.to_string(),
                    rt,
                    sc: scope.to_string(),
                },
            ));
        }
        let mut resp = json_body(StatusCode::OK, &body);
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}
