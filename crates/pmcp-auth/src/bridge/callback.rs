//! `GET /oauth/callback`: Entra sends the user back here with its code. The bridge redeems it as
//! the server's confidential app and sends the user on to the MCP client's redirect URI with a
//! one-time code of its own: Entra's tokens, sealed and bound to the client, its redirect URI and
//! its PKCE challenge, valid for 60 s.

use bytes::Bytes;
use http::{Method, Response, StatusCode};

use super::authorize::{UpstreamState, binding_ok};
use super::seal::{Purpose, SealError};
use super::token::CodeRecord;
use super::{
    BridgeRequest, CALLBACK_PATH, bad_request_page, method_not_allowed, param, parse_form,
    redirect_error, redirect_to,
};

/// Entra's error codes passed on to the client as they are (RFC 6749 §4.1.2.1 and OIDC's); any
/// other becomes `server_error`.
const PASSED_ON: &[&str] = &[
    "access_denied",
    "invalid_scope",
    "temporarily_unavailable",
    "login_required",
    "consent_required",
    "interaction_required",
];

impl super::Bridge {
    /// `GET /oauth/callback`.
    pub(super) async fn callback(&self, req: &BridgeRequest<'_>) -> Response<Bytes> {
        if req.method != Method::GET {
            return method_not_allowed("GET");
        }
        let q = match parse_form(req.query.unwrap_or_default().as_bytes()) {
            Ok(q) => q,
            Err(why) => return bad_request_page("invalid_request", &why),
        };
        let Some(state) = param(&q, "state") else {
            return bad_request_page("invalid_request", "the `state` parameter is missing");
        };
        let now = self.config.now();
        let up: UpstreamState = match self
            .config
            .sealer
            .unseal(Purpose::UpstreamState, state, now)
        {
            Ok(s) => s,
            Err(SealError::Expired) => {
                return bad_request_page(
                    "invalid_request",
                    "this sign-in took too long and has expired; start it again from the application",
                );
            }
            Err(SealError::Invalid) => {
                return bad_request_page(
                    "invalid_request",
                    "the `state` is not one this server issued",
                );
            }
        };
        if !binding_ok(req.headers, req.origin, &up.t.b) {
            return bad_request_page(
                "invalid_request",
                "the sign-in must finish in the browser that started it (its cookie is missing or different)",
            );
        }
        let txn = &up.t;
        if let Some(error) = param(&q, "error") {
            let error = if PASSED_ON.contains(&error) {
                error
            } else {
                "server_error"
            };
            return redirect_error(
                StatusCode::FOUND,
                &txn.r,
                txn.s.as_deref(),
                req.origin,
                error,
                "Microsoft Entra ID did not complete the sign-in",
            );
        }
        let Some(code) = param(&q, "code") else {
            return bad_request_page("invalid_request", "the `code` parameter is missing");
        };
        let callback = format!("{}{CALLBACK_PATH}", req.origin);
        let scope = self.config.upstream_scope_param();
        let tokens = match self
            .entra_token(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", callback.as_str()),
                ("code_verifier", up.v.as_str()),
                ("scope", scope.as_str()),
            ])
            .await
        {
            Ok(t) => t,
            Err(_) => {
                return redirect_error(
                    StatusCode::FOUND,
                    &txn.r,
                    txn.s.as_deref(),
                    req.origin,
                    "server_error",
                    "the sign-in with Microsoft Entra ID could not be completed",
                );
            }
        };
        let exp = now + self.config.code_ttl;
        let record = CodeRecord {
            id: self.config.sealer.random_token(16),
            c: txn.c.clone(),
            r: txn.r.clone(),
            cc: txn.cc.clone(),
            sc: txn.sc.clone(),
            at: tokens.access_token,
            rt: tokens.refresh_token,
            ax: now + tokens.expires_in,
            x: exp,
        };
        let sealed = self.config.sealer.seal(Purpose::Code, exp, &record);
        let mut pairs = vec![("code", sealed.as_str())];
        if let Some(s) = txn.s.as_deref() {
            pairs.push(("state", s));
        }
        pairs.push(("iss", req.origin));
        redirect_to(StatusCode::FOUND, &txn.r, &pairs)
    }
}
