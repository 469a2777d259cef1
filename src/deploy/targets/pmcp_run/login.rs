//! `cargo pmcp login`: the service's Cognito hosted UI with PKCE (S256) and a checked `state`,
//! the code received on `http://localhost:8787` (the redirect URI registered with the service's
//! Cognito client; the listener is on 127.0.0.1), exchanged as a public client, and the tokens
//! written to `~/.pmcp/credentials.toml` (`[pmcp-run]`, mode 0600). `cargo pmcp logout` removes
//! that table.

use super::credentials::{self, ClientAuth, StoredCredentials};
use super::discovery::{self, BaseUrl, Overrides, ServiceConfig};
use super::http::Scrubber;
use crate::deploy::targets::TargetError;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The port of the redirect URI the service's Cognito client accepts.
pub const CALLBACK_PORT: u16 = 8787;
/// How long the sign-in may take.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(300);

/// What `login` needs.
#[derive(Debug, Clone)]
pub struct LoginOptions {
    pub base: BaseUrl,
    pub overrides: Overrides,
    /// Where the credentials file goes (`~/.pmcp/credentials.toml`).
    pub credentials_path: PathBuf,
    /// The callback port ([`CALLBACK_PORT`]; another only for tests).
    pub port: u16,
    pub timeout: Duration,
    /// Try to open a browser (when there is one).
    pub open_browser: bool,
}

/// A finished sign-in.
#[derive(Debug, Clone)]
pub struct LoggedIn {
    pub credentials_path: PathBuf,
    /// RFC 3339.
    pub expires_at: String,
}

/// A PKCE verifier and its S256 challenge, and a `state`: each from 32 random bytes.
#[derive(Debug, Clone)]
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
    pub state: String,
}

impl Pkce {
    /// Fresh random values.
    pub fn new() -> Self {
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let verifier = b64(&rand::random::<[u8; 32]>());
        let challenge = b64(&Sha256::digest(verifier.as_bytes()));
        let state = b64(&rand::random::<[u8; 32]>());
        Self {
            verifier,
            challenge,
            state,
        }
    }
}

impl Default for Pkce {
    fn default() -> Self {
        Self::new()
    }
}

/// `{cognito}/oauth2/authorize?…` for this sign-in.
pub fn authorize_url(cfg: &ServiceConfig, redirect_uri: &str, pkce: &Pkce) -> String {
    let mut u = url::Url::parse(&cfg.authorize_endpoint()).expect("a checked https URL");
    u.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &cfg.cognito_client_id)
        .append_pair("scope", "openid email profile")
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", &pkce.state)
        .append_pair("code_challenge", &pkce.challenge)
        .append_pair("code_challenge_method", "S256");
    u.to_string()
}

/// What the browser brought back to the listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callback {
    /// `?code=…&state=…`.
    Code { code: String, state: String },
    /// `?error=…&error_description=…`.
    Error(String),
    /// Anything else (`/favicon.ico`): answered 404, and the wait goes on.
    Other,
}

/// The callback in a request's target (`/?code=…&state=…`).
pub fn parse_callback(target: &str) -> Callback {
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let mut code = None;
    let mut state = None;
    let mut error = None;
    let mut description = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "code" => code = Some(v.into_owned()),
            "state" => state = Some(v.into_owned()),
            "error" => error = Some(v.into_owned()),
            "error_description" => description = Some(v.into_owned()),
            _ => {}
        }
    }
    match (error, code) {
        (Some(e), _) => Callback::Error(match description {
            Some(d) => format!("{e}: {d}"),
            None => e,
        }),
        (None, Some(code)) => Callback::Code {
            code,
            state: state.unwrap_or_default(),
        },
        (None, None) => Callback::Other,
    }
}

/// True when a browser can be opened here: macOS and Windows always, elsewhere with a display.
fn has_browser() -> bool {
    if crate::ui::is_ci() {
        return false;
    }
    if cfg!(any(target_os = "macos", target_os = "windows")) {
        return true;
    }
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()))
}

/// Open `url` in the default browser; false when that could not be started.
fn open_browser(url: &str) -> bool {
    let mut cmd = if cfg!(target_os = "macos") {
        std::process::Command::new("open")
    } else if cfg!(target_os = "windows") {
        let mut c = std::process::Command::new("cmd");
        c.args(["/C", "start", ""]);
        c
    } else {
        std::process::Command::new("xdg-open")
    };
    cmd.arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .is_ok()
}

const PAGE_OK: &str = "<!doctype html><title>cargo pmcp</title><h1>Signed in to pmcp.run</h1><p>You can close this tab and return to the terminal.</p>";
const PAGE_FAILED: &str = "<!doctype html><title>cargo pmcp</title><h1>Sign-in failed</h1><p>See the terminal for what happened.</p>";

async fn respond(stream: &mut tokio::net::TcpStream, status: &str, body: &str) {
    let _ = stream
        .write_all(
            format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await;
    let _ = stream.shutdown().await;
}

/// The request line's target of one HTTP request (the head only; 8 KiB at most).
async fn read_target(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 8192 {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    let line = head.lines().next()?;
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some("GET"), Some(target)) => Some(target.to_string()),
        _ => None,
    }
}

/// Wait on `listener` for the callback carrying `state`, until `deadline`.
async fn wait_for_code(
    listener: &TcpListener,
    state: &str,
    limit: Duration,
    scrub: &Scrubber,
) -> Result<String, TargetError> {
    let deadline = Instant::now() + limit;
    let fail = |message: String| TargetError::Auth {
        message,
        hint: "run `cargo pmcp login` again".into(),
    };
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let accepted = tokio::time::timeout(left, listener.accept()).await;
        let Ok(accepted) = accepted else {
            return Err(fail(format!(
                "no sign-in arrived within {:.0} s",
                limit.as_secs_f64()
            )));
        };
        let Ok((mut stream, _)) = accepted else {
            continue;
        };
        let target = tokio::time::timeout(Duration::from_secs(10), read_target(&mut stream))
            .await
            .ok()
            .flatten();
        let Some(target) = target else {
            respond(&mut stream, "400 Bad Request", PAGE_FAILED).await;
            continue;
        };
        match parse_callback(&target) {
            Callback::Other => respond(&mut stream, "404 Not Found", "").await,
            Callback::Error(e) => {
                respond(&mut stream, "400 Bad Request", PAGE_FAILED).await;
                return Err(fail(scrub.scrub(&format!("the sign-in was refused: {e}"))));
            }
            Callback::Code { code, state: got } => {
                if got != state {
                    respond(&mut stream, "400 Bad Request", PAGE_FAILED).await;
                    return Err(fail(
                        "the sign-in's state does not match the one this login sent (a forged or stale redirect); nothing was saved".into(),
                    ));
                }
                respond(&mut stream, "200 OK", PAGE_OK).await;
                return Ok(code);
            }
        }
    }
}

/// Sign in and write the credentials file. `say` prints a line for the user (stderr).
pub async fn login(opts: &LoginOptions, say: impl Fn(&str)) -> Result<LoggedIn, TargetError> {
    let http = super::http::client();
    let scrub = Scrubber::new();
    let cfg = discovery::discover(&http, &opts.base.url, &opts.overrides, &scrub).await?;
    let listener = TcpListener::bind(("127.0.0.1", opts.port))
        .await
        .map_err(|e| TargetError::Config {
            message: format!("cannot listen on 127.0.0.1:{} for the sign-in: {e}", opts.port),
            hint: Some(format!(
                "free port {} (the redirect URI pmcp.run's sign-in accepts) and run `cargo pmcp login` again",
                opts.port
            )),
        })?;
    let redirect_uri = format!("http://localhost:{}", opts.port);
    let pkce = Pkce::new();
    let url = authorize_url(&cfg, &redirect_uri, &pkce);
    if opts.open_browser && has_browser() && open_browser(&url) {
        say("Opening your browser to sign in to pmcp.run. If it did not open, visit:");
    } else {
        say("Open this URL in a browser to sign in to pmcp.run:");
    }
    say(&format!("  {url}"));
    say(&format!(
        "Waiting for the sign-in on {redirect_uri} (at most {} minutes)...",
        opts.timeout.as_secs().div_ceil(60)
    ));
    let code = wait_for_code(&listener, &pkce.state, opts.timeout, &scrub).await?;
    drop(listener);
    scrub.add(&code);
    scrub.add(&pkce.verifier);
    let t = credentials::token_request(
        &http,
        &cfg.token_endpoint(),
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_verifier", pkce.verifier.as_str()),
        ],
        ClientAuth::Public(&cfg.cognito_client_id),
        "the sign-in's authorization code",
        &scrub,
    )
    .await?;
    let creds = StoredCredentials::from_response(&t, "", SystemTime::now());
    credentials::write(&opts.credentials_path, &creds).map_err(|e| {
        TargetError::Io(format!(
            "signed in, but cannot write {}: {e}",
            opts.credentials_path.display()
        ))
    })?;
    Ok(LoggedIn {
        credentials_path: opts.credentials_path.clone(),
        expires_at: creds.expires_at,
    })
}

/// Remove the `[pmcp-run]` credentials; false when there were none.
pub fn logout(path: &Path) -> Result<bool, TargetError> {
    credentials::remove(path)
        .map_err(|e| TargetError::Io(format!("cannot update {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_is_s256_of_the_verifier() {
        let p = Pkce::new();
        assert_eq!(p.verifier.len(), 43);
        let expect = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(p.verifier.as_bytes()));
        assert_eq!(p.challenge, expect);
        assert_ne!(p.state, Pkce::new().state);
    }

    #[test]
    fn the_authorize_url_has_every_parameter() {
        let cfg = ServiceConfig {
            base: "https://api.pmcp.run".into(),
            cognito_client_id: "pub".into(),
            cognito: "https://auth.example".into(),
            graphql_url: "https://api.pmcp.run/graphql".into(),
            mcp_url: None,
        };
        let p = Pkce::new();
        let u = url::Url::parse(&authorize_url(&cfg, "http://localhost:8787", &p)).unwrap();
        assert_eq!(u.path(), "/oauth2/authorize");
        let q: std::collections::HashMap<_, _> = u.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "pub");
        assert_eq!(q["scope"], "openid email profile");
        assert_eq!(q["redirect_uri"], "http://localhost:8787");
        assert_eq!(q["state"], p.state);
        assert_eq!(q["code_challenge"], p.challenge);
        assert_eq!(q["code_challenge_method"], "S256");
    }

    #[test]
    fn callbacks_parse() {
        assert_eq!(
            parse_callback("/?code=abc&state=x%2By"),
            Callback::Code {
                code: "abc".into(),
                state: "x+y".into()
            }
        );
        assert_eq!(
            parse_callback("/?error=access_denied&error_description=User+cancelled"),
            Callback::Error("access_denied: User cancelled".into())
        );
        assert_eq!(parse_callback("/favicon.ico"), Callback::Other);
    }
}
