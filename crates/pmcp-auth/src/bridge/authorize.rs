//! `GET /authorize` (the client's authorization request, checked, then a consent page) and
//! `POST /authorize` (the consent form: approve → Entra, deny → `access_denied`).
//!
//! Consent is per sign-in and names the client and where it will be sent back: the bridge signs in
//! to Entra as one app for every client, so without it any registered client could obtain a token
//! for a user who once consented to the server (the confused-deputy problem of the MCP security
//! best practices). The form is bound to the browser that opened it: `GET /authorize` sets a
//! random, HttpOnly, SameSite=Lax cookie and seals its hash into the form's hidden field; the
//! POST and Entra's callback must present the same cookie, so a page elsewhere cannot submit a
//! transaction it obtained for itself in the user's browser.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};
use serde::{Deserialize, Serialize};

use super::seal::{Purpose, SealError};
use super::{
    AUTHORIZE_PATH, BridgeRequest, CALLBACK_PATH, Client, ClientLookupError, bad_request_page,
    constant_time_eq, content_type_is, hash_b64, html_escape, html_page_with_csp,
    method_not_allowed, param, parse_form, redirect_error, redirect_matches, redirect_to,
    resource_matches, valid_pkce_value,
};

/// A sign-in waiting for consent (sealed into the consent form) and, with the bridge's own PKCE
/// verifier, the `state` sent to Entra.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Transaction {
    /// Binding of the client id ([`Client::binding`]).
    pub(super) c: String,
    /// The client's name, for pages.
    pub(super) n: String,
    /// The client's redirect URI, as it sent it.
    pub(super) r: String,
    /// The client's PKCE challenge (S256).
    pub(super) cc: String,
    /// The client's `state`.
    pub(super) s: Option<String>,
    /// The scopes granted (space separated).
    pub(super) sc: String,
    /// Hash of the browser-binding cookie.
    pub(super) b: String,
    /// Expiry (unix seconds).
    pub(super) x: u64,
}

/// What goes to Entra as `state`. No `Debug`: it holds the bridge's PKCE verifier.
#[derive(Serialize, Deserialize)]
pub(super) struct UpstreamState {
    pub(super) t: Transaction,
    /// The bridge's PKCE verifier for Entra.
    pub(super) v: String,
}

/// The browser-binding cookie's name: `__Host-` (Secure, host-only) on https origins.
pub(super) fn cookie_name(origin: &str) -> &'static str {
    if origin.starts_with("https://") {
        "__Host-pmcp-bridge"
    } else {
        "pmcp-bridge"
    }
}

/// The binding cookie's value on this request, when it has a well-formed one.
pub(super) fn binding_cookie(headers: &HeaderMap, origin: &str) -> Option<String> {
    let name = cookie_name(origin);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| {
            v.len() == 43
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// True when the request carries the cookie whose hash `binding` is.
pub(super) fn binding_ok(headers: &HeaderMap, origin: &str, binding: &str) -> bool {
    binding_cookie(headers, origin)
        .is_some_and(|c| constant_time_eq(hash_b64(c.as_bytes()).as_bytes(), binding.as_bytes()))
}

/// How the user sees a redirect URI's destination.
fn destination(redirect_uri: &str) -> String {
    match url::Url::parse(redirect_uri) {
        Ok(u) => {
            let host = u.host_str().unwrap_or_default();
            let loopback =
                matches!(host, "127.0.0.1" | "[::1]" | "localhost") || host.starts_with("127.");
            if loopback {
                format!(
                    "an application on this computer ({})",
                    u.origin().ascii_serialization()
                )
            } else {
                u.origin().ascii_serialization()
            }
        }
        Err(_) => redirect_uri.to_string(),
    }
}

fn origin_of(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()
        .map(|u| u.origin().ascii_serialization())
        .filter(|o| o != "null")
}

impl super::Bridge {
    /// `/authorize`: GET is the authorization request, POST the consent form.
    pub(super) async fn authorize(&self, req: &BridgeRequest<'_>) -> Response<Bytes> {
        if req.method == Method::GET || req.method == Method::HEAD {
            self.authorization_request(req).await
        } else if req.method == Method::POST {
            self.consent(req)
        } else {
            method_not_allowed("GET, POST")
        }
    }

    async fn authorization_request(&self, req: &BridgeRequest<'_>) -> Response<Bytes> {
        let q = match parse_form(req.query.unwrap_or_default().as_bytes()) {
            Ok(q) => q,
            Err(why) => return bad_request_page("invalid_request", &why),
        };
        // Until the client and its redirect URI are known, errors are a page (RFC 6749 §4.1.2.1).
        let Some(client_id) = param(&q, "client_id") else {
            return bad_request_page("invalid_request", "the `client_id` parameter is missing");
        };
        let client: Client = match self.client(client_id).await {
            Ok(c) => c,
            Err(ClientLookupError::Unknown(why)) => {
                return bad_request_page("invalid_client", &why);
            }
        };
        let redirect_uri = match param(&q, "redirect_uri") {
            Some(r) => r.to_string(),
            None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
            None => {
                return bad_request_page(
                    "invalid_request",
                    "the `redirect_uri` parameter is missing (the client registered several)",
                );
            }
        };
        if !client
            .redirect_uris
            .iter()
            .any(|r| redirect_matches(r, &redirect_uri))
        {
            return bad_request_page(
                "invalid_request",
                "the `redirect_uri` is not one the client registered",
            );
        }
        let issuer = req.origin;
        let state = param(&q, "state");
        let fail = |error: &str, description: &str| {
            redirect_error(
                StatusCode::FOUND,
                &redirect_uri,
                state,
                issuer,
                error,
                description,
            )
        };
        if state.is_some_and(|s| s.len() > 2048) {
            return redirect_error(
                StatusCode::FOUND,
                &redirect_uri,
                None,
                issuer,
                "invalid_request",
                "`state` is longer than 2048 bytes",
            );
        }
        if param(&q, "response_type") != Some("code") {
            return fail(
                "unsupported_response_type",
                "this server supports only `response_type=code`",
            );
        }
        let Some(challenge) = param(&q, "code_challenge") else {
            return fail(
                "invalid_request",
                "PKCE is required: send `code_challenge` with `code_challenge_method=S256`",
            );
        };
        if param(&q, "code_challenge_method") != Some("S256") {
            return fail("invalid_request", "`code_challenge_method` must be `S256`");
        }
        if !valid_pkce_value(challenge) {
            return fail(
                "invalid_request",
                "`code_challenge` must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~",
            );
        }
        if let Some(resource) = param(&q, "resource")
            && !resource_matches(req.resource, resource)
        {
            return fail(
                "invalid_target",
                &format!(
                    "this authorization server issues tokens only for `{}`",
                    req.resource
                ),
            );
        }
        let scope = match param(&q, "scope") {
            Some(s) => {
                let unknown: Vec<&str> = s
                    .split(' ')
                    .filter(|s| !s.is_empty() && !self.config.scopes.iter().any(|k| k == s))
                    .collect();
                if !unknown.is_empty() {
                    return fail(
                        "invalid_scope",
                        &format!(
                            "this server offers the scopes `{}` only",
                            self.config.scopes.join(" ")
                        ),
                    );
                }
                s.split(' ')
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            }
            None => self.config.scopes.join(" "),
        };
        let (cookie, new_cookie) = match binding_cookie(req.headers, req.origin) {
            Some(c) => (c, false),
            None => (self.config.sealer.random_token(32), true),
        };
        let exp = self.config.now() + self.config.transaction_ttl;
        let txn = Transaction {
            c: client.binding(),
            n: client.name.clone(),
            r: redirect_uri.clone(),
            cc: challenge.to_string(),
            s: state.map(str::to_string),
            sc: scope,
            b: hash_b64(cookie.as_bytes()),
            x: exp,
        };
        let sealed = self.config.sealer.seal(Purpose::Transaction, exp, &txn);
        let about = if client.cimd {
            format!(
                "its identity is published at <code>{}</code>",
                html_escape(&client.id)
            )
        } else {
            "it registered itself with this name; the name is its own claim".to_string()
        };
        let body = format!(
            "<h1>Allow {name} to access this server?</h1>\
             <p><strong>{name}</strong> ({about}) asks to use <code>{resource}</code> as you.</p>\
             <p>After you sign in with Microsoft, you will be sent to <strong>{dest}</strong>.</p>\
             <p>Continue only if you started this sign-in from that application just now.</p>\
             <form method=\"post\" action=\"{AUTHORIZE_PATH}\">\
             <input type=\"hidden\" name=\"txn\" value=\"{sealed}\">\
             <button type=\"submit\" name=\"action\" value=\"approve\">Continue to sign in</button>\
             <button type=\"submit\" name=\"action\" value=\"deny\">Cancel</button></form>",
            name = html_escape(&client.name),
            resource = html_escape(req.resource),
            dest = html_escape(&destination(&redirect_uri)),
        );
        // The form posts here, then redirects to Entra (approve) or the client (deny); browsers
        // apply `form-action` to those redirects too.
        let mut form_action = format!("form-action 'self' {}", self.config.entra.authority_host);
        if let Some(o) = origin_of(&redirect_uri) {
            form_action.push(' ');
            form_action.push_str(&o);
        }
        let mut resp = html_page_with_csp(
            StatusCode::OK,
            &format!("Allow {}?", client.name),
            &body,
            &form_action,
        );
        if new_cookie {
            let secure = if req.origin.starts_with("https://") {
                "; Secure"
            } else {
                ""
            };
            let value = format!(
                "{}={cookie}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
                cookie_name(req.origin),
                self.config.transaction_ttl
            );
            if let Ok(v) = HeaderValue::from_str(&value) {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
        }
        resp
    }

    /// `POST /authorize`: the consent form.
    fn consent(&self, req: &BridgeRequest<'_>) -> Response<Bytes> {
        if !content_type_is(req.headers, "application/x-www-form-urlencoded") {
            return bad_request_page(
                "invalid_request",
                "the consent form must be sent as application/x-www-form-urlencoded",
            );
        }
        let form = match parse_form(&req.body) {
            Ok(f) => f,
            Err(why) => return bad_request_page("invalid_request", &why),
        };
        let Some(sealed) = param(&form, "txn") else {
            return bad_request_page("invalid_request", "the consent form has no transaction");
        };
        let now = self.config.now();
        let txn: Transaction = match self.config.sealer.unseal(Purpose::Transaction, sealed, now) {
            Ok(t) => t,
            Err(SealError::Expired) => {
                return bad_request_page(
                    "invalid_request",
                    "this sign-in took too long and has expired",
                );
            }
            Err(SealError::Invalid) => {
                return bad_request_page(
                    "invalid_request",
                    "the consent form's transaction is not one this server issued",
                );
            }
        };
        if !binding_ok(req.headers, req.origin, &txn.b) {
            return bad_request_page(
                "invalid_request",
                "consent must be given in the browser that started the sign-in (its cookie is missing or different)",
            );
        }
        match param(&form, "action") {
            Some("approve") => {}
            Some("deny") => {
                return redirect_error(
                    StatusCode::SEE_OTHER,
                    &txn.r,
                    txn.s.as_deref(),
                    req.origin,
                    "access_denied",
                    "the user declined",
                );
            }
            _ => {
                return bad_request_page(
                    "invalid_request",
                    "the consent form's `action` must be `approve` or `deny`",
                );
            }
        }
        if self.config.client_secret.is_none() {
            return super::html_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Sign-in unavailable",
                "<h1>Sign-in unavailable</h1><p>This server is not configured to complete sign-ins \
                 with Microsoft Entra ID: it has no client credential for its app registration. \
                 Tell the server's operator.</p>",
            );
        }
        let verifier = self.config.sealer.random_token(32);
        let challenge = hash_b64(verifier.as_bytes());
        let exp = txn.x;
        let state = self.config.sealer.seal(
            Purpose::UpstreamState,
            exp,
            &UpstreamState {
                t: txn,
                v: verifier,
            },
        );
        let entra = &self.config.entra;
        let authorize = format!(
            "{}/{}/oauth2/v2.0/authorize",
            entra.authority_host, entra.tenant_id
        );
        let callback = format!("{}{CALLBACK_PATH}", req.origin);
        let scope = self.config.upstream_scope_param();
        // No `resource`: Entra refuses it next to v2 scopes (AADSTS9010010); the scope names the API.
        redirect_to(
            StatusCode::SEE_OTHER,
            &authorize,
            &[
                ("client_id", entra.client_id.as_str()),
                ("response_type", "code"),
                ("redirect_uri", callback.as_str()),
                ("response_mode", "query"),
                ("scope", scope.as_str()),
                ("state", state.as_str()),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ],
        )
    }
}
