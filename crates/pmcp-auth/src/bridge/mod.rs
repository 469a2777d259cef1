//! The OAuth bridge (feature `server`): an OAuth 2.1 authorization-server facade at the MCP
//! server's own origin, in front of Microsoft Entra ID, for MCP clients that need what Entra does
//! not offer — dynamic client registration (RFC 7591), client ID metadata documents, RFC 8414
//! metadata, and the RFC 8707 `resource` parameter.
//!
//! [`AuthLayer`](crate::middleware::AuthLayer) serves it when `AUTH_DCR_ENABLED=true` (see
//! [`BridgeConfig::from_lookup`] for the variables), with no code change in the server:
//!
//! | Path | What |
//! |---|---|
//! | `GET /.well-known/oauth-authorization-server` | RFC 8414 metadata; `issuer` is the server's origin |
//! | `POST /register` | RFC 7591 registration for names matching the patterns; the `client_id` is sealed |
//! | `GET /authorize` | checks client, redirect URI, PKCE S256, `resource`; shows a consent page |
//! | `POST /authorize` | the consent form: approve → Entra's authorize endpoint, deny → `access_denied` |
//! | `GET /oauth/callback` | Entra comes back here (register `{origin}/oauth/callback` on the app) |
//! | `POST /token` | `authorization_code` (PKCE) and `refresh_token`; hands through Entra's access token |
//!
//! Nothing is stored: a registered client, a sign-in in progress, the one-time code and the refresh
//! token are sealed (AES-256-GCM, `AUTH_DCR_SEALING_KEY`) into the values the client carries, so any
//! number of instances serve the same clients. The one piece of memory is the set of codes already
//! redeemed on this instance (single use within an instance); across instances a code is bounded by
//! its 60 s lifetime and its PKCE verifier, which only the client that started the sign-in knows.
//!
//! No log line or error message carries a secret, a code, a token or a sealed value.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

mod authorize;
mod callback;
mod cimd;
mod config;
mod metadata;
mod register;
mod seal;
mod token;

pub use config::{
    BridgeConfig, ClientPattern, DEFAULT_CODE_TTL, DEFAULT_REFRESH_TTL, DEFAULT_TRANSACTION_TTL,
};
pub use metadata::AUTHORIZATION_SERVER_METADATA_PATH;

use seal::{Purpose, SealError};

/// `POST` here registers a client (RFC 7591).
pub const REGISTER_PATH: &str = "/register";
/// The authorization endpoint (`GET`) and the consent form's target (`POST`).
pub const AUTHORIZE_PATH: &str = "/authorize";
/// The token endpoint.
pub const TOKEN_PATH: &str = "/token";
/// Where Entra sends the user back: register `{origin}/oauth/callback` as a Web redirect URI on
/// the server's app registration.
pub const CALLBACK_PATH: &str = "/oauth/callback";

/// Largest request body the bridge reads (registration, consent form, token request).
pub(crate) const MAX_BODY: usize = 16 * 1024;

/// Which bridge endpoint a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Metadata,
    Register,
    Authorize,
    Token,
    Callback,
}

impl Route {
    /// The bridge endpoint at `path`, if any.
    pub(crate) fn of(path: &str) -> Option<Route> {
        match path {
            AUTHORIZATION_SERVER_METADATA_PATH => Some(Route::Metadata),
            REGISTER_PATH => Some(Route::Register),
            AUTHORIZE_PATH => Some(Route::Authorize),
            TOKEN_PATH => Some(Route::Token),
            CALLBACK_PATH => Some(Route::Callback),
            _ => None,
        }
    }

    /// True when the endpoint reads a request body.
    pub(crate) fn reads_body(self, method: &Method) -> bool {
        method == Method::POST && matches!(self, Route::Register | Route::Authorize | Route::Token)
    }
}

/// What the handlers see of a request: the body is already read (and bounded).
pub(crate) struct BridgeRequest<'a> {
    pub(crate) method: &'a Method,
    pub(crate) query: Option<&'a str>,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: Bytes,
    /// The server's origin as clients reach it (the issuer).
    pub(crate) origin: &'a str,
    /// The protected resource's URL (`{origin}{resource path}`).
    pub(crate) resource: &'a str,
}

/// The running bridge: configuration plus the little memory an instance keeps.
pub(crate) struct Bridge {
    pub(crate) config: BridgeConfig,
    /// The `scope` of challenges (the advertised scopes, space separated).
    pub(crate) challenge_scope: String,
    http: reqwest::Client,
    cimd_cache: Mutex<HashMap<String, (u64, Client)>>,
    used_codes: Mutex<HashMap<String, u64>>,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A client the bridge knows: registered (sealed id) or described by a metadata document (URL id).
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) redirect_uris: Vec<String>,
    /// True for a client ID metadata document client (its id is an https URL).
    pub(crate) cimd: bool,
}

impl Client {
    /// A short binding of the client id (the id itself can be kilobytes long).
    pub(crate) fn binding(&self) -> String {
        hash_b64(self.id.as_bytes())
    }
}

/// The sealed registration (`client_id` of a registered client).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ClientRecord {
    /// `client_name`.
    pub(crate) n: String,
    /// `redirect_uris`.
    pub(crate) r: Vec<String>,
    /// Issued at (unix seconds).
    pub(crate) iat: u64,
}

/// Why a client id was refused.
#[derive(Debug)]
pub(crate) enum ClientLookupError {
    /// Not a value this server sealed, nor a usable metadata document URL.
    Unknown(String),
}

impl Bridge {
    pub(crate) fn new(config: BridgeConfig) -> Self {
        // The bridge's calls to Entra: bounded in time, no redirects (a token endpoint never
        // redirects; following one would send the secret elsewhere).
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            challenge_scope: config.scopes.join(" "),
            config,
            http,
            cimd_cache: Mutex::new(HashMap::new()),
            used_codes: Mutex::new(HashMap::new()),
        }
    }

    /// Answer a bridge request.
    pub(crate) async fn handle(&self, route: Route, req: BridgeRequest<'_>) -> Response<Bytes> {
        if req.method == Method::OPTIONS
            && matches!(route, Route::Metadata | Route::Register | Route::Token)
        {
            return preflight();
        }
        let mut resp = match route {
            Route::Metadata => self.metadata(&req),
            Route::Register => self.register(&req),
            Route::Authorize => self.authorize(&req).await,
            Route::Token => self.token(&req).await,
            Route::Callback => self.callback(&req).await,
        };
        if matches!(route, Route::Metadata | Route::Register | Route::Token) {
            // Browser-based clients (MCP Inspector) call these from another origin. No cookies
            // are involved, so `*` is safe.
            resp.headers_mut().insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
        resp
    }

    /// The client named by `client_id`: a sealed registration or a metadata document URL.
    pub(crate) async fn client(&self, client_id: &str) -> Result<Client, ClientLookupError> {
        if client_id.starts_with("https://") || client_id.starts_with("http://") {
            return self.cimd_client(client_id).await;
        }
        let now = self.config.now();
        match self
            .config
            .sealer
            .unseal::<ClientRecord>(Purpose::Client, client_id, now)
        {
            Ok(rec) => Ok(Client {
                id: client_id.to_string(),
                name: rec.n,
                redirect_uris: rec.r,
                cimd: false,
            }),
            Err(SealError::Invalid | SealError::Expired) => Err(ClientLookupError::Unknown(
                "the client_id is not one this server issued (register the client again)".into(),
            )),
        }
    }
}

/// SHA-256, base64url: a fixed-size binding of a value that is not itself kept.
pub(crate) fn hash_b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(bytes))
}

/// Compare without an early exit on the first differing byte.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A redirect URI a client may register: `https://` with a host, or `http://` to a loopback host
/// (127.0.0.1, `[::1]`, `localhost`; any port, RFC 8252 §7.3). No fragment (RFC 6749 §3.1.2), no
/// user info, at most 512 bytes.
pub(crate) fn check_redirect_uri(uri: &str) -> Result<(), String> {
    let shown = crate::middleware::sanitize_for_message(uri, 80);
    if uri.len() > 512 {
        return Err(format!("redirect URI `{shown}` is longer than 512 bytes"));
    }
    let u = url::Url::parse(uri).map_err(|_| format!("`{shown}` is not an absolute URL"))?;
    if u.fragment().is_some() {
        return Err(format!(
            "redirect URI `{shown}` has a fragment (RFC 6749 §3.1.2)"
        ));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(format!("redirect URI `{shown}` has user information"));
    }
    match u.scheme() {
        "https" if u.host().is_some() => Ok(()),
        "http" if is_loopback_host(&u) => Ok(()),
        _ => Err(format!(
            "redirect URI `{shown}` must be https://, or http:// to a loopback host (127.0.0.1, [::1], localhost)"
        )),
    }
}

fn is_loopback_host(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// True when `given` is `registered`: the same string, or — for an http loopback URI — the same
/// but for the port (RFC 8252 §7.3: native apps listen on whatever port is free).
pub(crate) fn redirect_matches(registered: &str, given: &str) -> bool {
    if registered == given {
        return true;
    }
    let (Ok(r), Ok(g)) = (url::Url::parse(registered), url::Url::parse(given)) else {
        return false;
    };
    r.scheme() == "http"
        && g.scheme() == "http"
        && is_loopback_host(&r)
        && r.host() == g.host()
        && r.path() == g.path()
        && r.query() == g.query()
        && g.fragment().is_none()
        && g.username().is_empty()
        && g.password().is_none()
}

/// PKCE S256 (RFC 7636 §4.6): `BASE64URL(SHA256(verifier)) == challenge`, with the verifier's
/// form checked (43–128 unreserved characters).
pub(crate) fn pkce_s256_ok(verifier: &str, challenge: &str) -> bool {
    valid_pkce_value(verifier)
        && constant_time_eq(
            hash_b64(verifier.as_bytes()).as_bytes(),
            challenge.as_bytes(),
        )
}

/// 43–128 characters of `[A-Z a-z 0-9 - . _ ~]` (RFC 7636 §4.1).
pub(crate) fn valid_pkce_value(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// `application/x-www-form-urlencoded` (a query string or a form body) as name → value, refusing
/// a parameter given twice (RFC 6749 §3.1, §3.2) and bodies that are not UTF-8.
pub(crate) fn parse_form(raw: &[u8]) -> Result<HashMap<String, String>, String> {
    if std::str::from_utf8(raw).is_err() {
        return Err("the parameters are not UTF-8".into());
    }
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw) {
        if out.len() >= 64 {
            return Err("too many parameters".into());
        }
        if out.insert(k.to_string(), v.into_owned()).is_some() {
            return Err(format!(
                "the parameter `{}` is given more than once",
                crate::middleware::sanitize_for_message(&k, 40)
            ));
        }
    }
    Ok(out)
}

/// The value of a form parameter, treating empty as absent (RFC 6749 §3.1).
pub(crate) fn param<'a>(form: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    form.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

/// True when the `Content-Type` is `mime` (parameters such as `charset` ignored).
pub(crate) fn content_type_is(headers: &HeaderMap, mime: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(mime))
}

/// An OAuth error as JSON (RFC 6749 §5.2, RFC 7591 §3.2.2), `Cache-Control: no-store`.
pub(crate) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response<Bytes> {
    json_body(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

/// A JSON answer with `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
pub(crate) fn json_body(status: StatusCode, body: &Value) -> Response<Bytes> {
    let mut resp = Response::new(Bytes::from(serde_json::to_vec(body).unwrap_or_default()));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

/// `405` with `Allow`.
pub(crate) fn method_not_allowed(allow: &'static str) -> Response<Bytes> {
    let mut resp = oauth_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
        &format!("this endpoint accepts {allow}"),
    );
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    resp
}

/// The CORS preflight answer for the endpoints browser-based clients call.
fn preflight() -> Response<Bytes> {
    let mut resp = Response::new(Bytes::new());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type, mcp-protocol-version"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    resp
}

/// Escape text for HTML element content and double-quoted attributes.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A plain HTML page (errors before the client's redirect URI is trusted, and the consent page):
/// no script, not framable, not cached.
pub(crate) fn html_page(status: StatusCode, title: &str, body_html: &str) -> Response<Bytes> {
    html_page_with_csp(status, title, body_html, "form-action 'none'")
}

pub(crate) fn html_page_with_csp(
    status: StatusCode,
    title: &str,
    body_html: &str,
    form_action: &str,
) -> Response<Bytes> {
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}\
         .box{{border:1px solid #ccc;border-radius:8px;padding:1rem 1.25rem}}code{{word-break:break-all}}\
         button{{font-size:1rem;padding:.5rem 1.25rem;margin-right:.5rem}}</style></head>\
         <body><div class=\"box\">{body_html}</div></body></html>\n",
        title = html_escape(title),
    );
    let mut resp = Response::new(Bytes::from(page));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; {form_action}"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

/// The 400 page for a request whose redirect URI cannot be trusted (RFC 6749 §4.1.2.1: never
/// redirect then).
pub(crate) fn bad_request_page(error: &str, description: &str) -> Response<Bytes> {
    html_page(
        StatusCode::BAD_REQUEST,
        "Sign-in request refused",
        &format!(
            "<h1>Sign-in request refused</h1><p><code>{}</code>: {}</p>\
             <p>Return to the application and start the sign-in again.</p>",
            html_escape(error),
            html_escape(description)
        ),
    )
}

/// `302`/`303` to `to` with `pairs` added to its query.
pub(crate) fn redirect_to(status: StatusCode, to: &str, pairs: &[(&str, &str)]) -> Response<Bytes> {
    let Ok(mut u) = url::Url::parse(to) else {
        return bad_request_page("invalid_request", "the redirect URI is not a URL");
    };
    if !pairs.is_empty() {
        let mut q = u.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    let mut resp = Response::new(Bytes::new());
    *resp.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(u.as_str()) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// An error sent back to the client's (trusted) redirect URI: `error`, `error_description`,
/// `state` when the client sent one, and `iss` (RFC 9207).
pub(crate) fn redirect_error(
    status: StatusCode,
    redirect_uri: &str,
    state: Option<&str>,
    issuer: &str,
    error: &str,
    description: &str,
) -> Response<Bytes> {
    let mut pairs = vec![("error", error), ("error_description", description)];
    if let Some(s) = state {
        pairs.push(("state", s));
    }
    pairs.push(("iss", issuer));
    redirect_to(status, redirect_uri, &pairs)
}

/// True when `given` names the protected resource (`resource`), trailing slash ignored.
pub(crate) fn resource_matches(resource: &str, given: &str) -> bool {
    given.trim_end_matches('/') == resource.trim_end_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uri_rules() {
        for ok in [
            "http://127.0.0.1:33418/callback",
            "http://127.0.0.1/cb",
            "http://[::1]:8080/",
            "http://localhost:6274/oauth/callback",
            "https://claude.ai/api/mcp/auth_callback",
            "https://vscode.dev/redirect?x=1",
        ] {
            assert!(check_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com/cb",
            "http://10.0.0.1/cb",
            "https://claude.ai/cb#frag",
            "https://user:pw@claude.ai/cb",
            "javascript:alert(1)",
            "cursor://anysphere.cursor-retrieval/oauth",
            "/relative",
            "",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
        let long = format!("https://a.example/{}", "x".repeat(600));
        assert!(check_redirect_uri(&long).unwrap_err().contains("512"));
    }

    #[test]
    fn loopback_redirects_match_any_port() {
        let r = "http://127.0.0.1:1234/callback";
        assert!(redirect_matches(r, r));
        assert!(redirect_matches(r, "http://127.0.0.1:9/callback"));
        assert!(redirect_matches(r, "http://127.0.0.1/callback"));
        assert!(!redirect_matches(r, "http://127.0.0.1:9/other"));
        assert!(!redirect_matches(r, "http://localhost:1234/callback"));
        assert!(!redirect_matches(r, "http://127.0.0.1:9/callback?x=1"));
        let h = "https://claude.ai/api/mcp/auth_callback";
        assert!(redirect_matches(h, h));
        assert!(!redirect_matches(
            h,
            "https://claude.ai:444/api/mcp/auth_callback"
        ));
        assert!(!redirect_matches(
            h,
            "https://claude.ai/api/mcp/auth_callback/"
        ));
    }

    #[test]
    fn pkce() {
        // RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_s256_ok(verifier, challenge));
        assert!(!pkce_s256_ok(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK",
            challenge
        ));
        assert!(!pkce_s256_ok("short", challenge));
        assert!(!pkce_s256_ok(&format!("{verifier} "), challenge));
        assert!(valid_pkce_value(challenge));
        assert!(!valid_pkce_value(&"a".repeat(129)));
    }

    #[test]
    fn forms_refuse_duplicates() {
        let f = parse_form(b"a=1&b=%20x").unwrap();
        assert_eq!(f["b"], " x");
        assert!(parse_form(b"a=1&a=2").unwrap_err().contains("`a`"));
        assert!(parse_form(&[0xff, 0xfe]).is_err());
        assert_eq!(param(&parse_form(b"a=").unwrap(), "a"), None);
    }

    #[test]
    fn escaping() {
        assert_eq!(
            html_escape("<b>\"Tom\" & 'Jerry'</b>\u{7}"),
            "&lt;b&gt;&quot;Tom&quot; &amp; &#39;Jerry&#39;&lt;/b&gt;"
        );
    }
}
