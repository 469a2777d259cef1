//! What every request to pmcp.run, its Cognito domain and the presigned upload URLs shares: one
//! HTTP client that never follows a redirect, URL checks, and the [`Scrubber`] that takes
//! credentials out of anything the service says before it is printed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Time limit of one API request (discovery, token, GraphQL).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// What replaces a credential in printed text.
pub const REDACTED: &str = "[redacted]";

/// Values shorter than this are not scrubbed: replacing every `a` or `42` in a message would
/// garble it, and such values are not credentials.
const MIN_SCRUBBED_LEN: usize = 4;

/// The one HTTP client of the pmcp-run target.
///
/// Redirects are never followed: a 3xx would make reqwest send the same request, with its
/// `Authorization` header, Basic credentials or body, to wherever the `Location` points. A 3xx is
/// an answer like any other here, and each caller turns it into an error naming the URL that
/// answered it ([`redirect_message`]).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("cargo-pmcp/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client builds with static settings")
}

/// `url` with its query and fragment removed: a presigned URL's query is its signature.
pub fn without_query(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => match url.find(['?', '#']) {
            Some(i) => url[..i].to_string(),
            None => url.to_string(),
        },
    }
}

/// `Ok` for an `https://` URL, or `http://` to a loopback host; the error says why not (without
/// the URL's query).
pub fn check_url(what: &str, url: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(url)
        .map_err(|e| format!("{what} `{}` is not a URL: {e}", without_query(url)))?;
    if pmcp_auth::entra::is_https_or_loopback(url) {
        Ok(u)
    } else {
        Err(format!(
            "{what} `{}` must be https:// (http:// only for 127.0.0.1/localhost)",
            without_query(url)
        ))
    }
}

/// When `resp` is a redirect: the error text, naming the URL that answered it and where it
/// pointed (both without their query).
pub fn redirect_message(resp: &reqwest::Response) -> Option<String> {
    let status = resp.status();
    if !status.is_redirection() {
        return None;
    }
    let to = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(|l| format!(" to {}", without_query(l)))
        .unwrap_or_default();
    Some(format!(
        "{} answered HTTP {status} with a redirect{to}; cargo pmcp does not follow redirects, so \
         no credential is sent on to another host",
        without_query(resp.url().as_str())
    ))
}

/// A reqwest error with its causes (reqwest's own Display omits them), without the query of the
/// URL it names.
pub fn error_chain(mut e: reqwest::Error) -> String {
    if let Some(u) = e.url_mut() {
        u.set_query(None);
        u.set_fragment(None);
    }
    let mut s = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// The start of a response body, for an error message.
pub fn snippet(body: &str) -> String {
    let t = body.trim();
    if t.len() > 300 {
        let mut end = 300;
        while !t.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &t[..end])
    } else {
        t.to_string()
    }
}

/// Takes credentials out of text that came from the service (GraphQL errors, `errorMessage`, the
/// token endpoint's `error_description`, upload error bodies) before it is printed or put in
/// `--json`: every access, refresh and ID token, client secret and secret value it was given, every
/// presigned query string and each of its values, and the query of any URL in the text.
///
/// Clones share one list, so a token learnt later is scrubbed everywhere.
#[derive(Debug, Clone, Default)]
pub struct Scrubber {
    values: Arc<Mutex<Vec<String>>>,
}

impl Scrubber {
    /// An empty scrubber (it still strips URL queries).
    pub fn new() -> Self {
        Self::default()
    }

    /// Scrub `value` from now on; in GitHub Actions the runner masks it too.
    pub fn add(&self, value: &str) {
        let value = value.trim();
        if value.len() < MIN_SCRUBBED_LEN {
            return;
        }
        let mut values = self.values.lock().unwrap_or_else(|p| p.into_inner());
        if !values.iter().any(|v| v == value) {
            crate::ui::github::add_mask(value);
            values.push(value.to_string());
            // Longest first, so a value that contains another is replaced whole.
            values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        }
    }

    /// Scrub a presigned URL's query string and each of its values (as sent and decoded): an
    /// upload error body can echo the signature or the credential without the URL around it.
    pub fn add_presigned(&self, url: &str) {
        let Ok(u) = url::Url::parse(url) else {
            return;
        };
        if let Some(q) = u.query() {
            self.add(q);
            for part in q.split('&') {
                if let Some((_, v)) = part.split_once('=') {
                    self.add(v);
                }
            }
        }
        for (_, v) in u.query_pairs() {
            self.add(&v);
        }
    }

    /// `text` without any known value and without the query of any URL in it.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        {
            let values = self.values.lock().unwrap_or_else(|p| p.into_inner());
            for v in values.iter() {
                if out.contains(v.as_str()) {
                    out = out.replace(v.as_str(), REDACTED);
                }
            }
        }
        strip_url_queries(&out)
    }
}

/// Every `http://…` or `https://…` in `text` with its query (and fragment) replaced by
/// `?[redacted]`.
fn strip_url_queries(text: &str) -> String {
    let is_end = |c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`' | '\\');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let next = ["https://", "http://"]
            .iter()
            .filter_map(|s| rest.find(s))
            .min();
        let Some(start) = next else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..start]);
        let url_and_more = &rest[start..];
        let end = url_and_more.find(is_end).unwrap_or(url_and_more.len());
        let url = &url_and_more[..end];
        match url.find(['?', '#']) {
            Some(q) => {
                out.push_str(&url[..q]);
                out.push('?');
                out.push_str(REDACTED);
            }
            None => out.push_str(url),
        }
        rest = &url_and_more[end..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https_or_loopback() {
        assert!(check_url("x", "https://api.pmcp.run").is_ok());
        assert!(check_url("x", "http://127.0.0.1:9/").is_ok());
        assert!(check_url("x", "http://api.pmcp.run").is_err());
        assert!(check_url("x", "not a url").is_err());
        let e = check_url("x", "http://bucket.example/up?X-Amz-Signature=s3cr3t").unwrap_err();
        assert!(
            e.contains("http://bucket.example/up") && !e.contains("s3cr3t"),
            "{e}"
        );
    }

    #[test]
    fn scrubbing_removes_values_and_presigned_queries() {
        let s = Scrubber::new();
        s.add("tok-abcdef-123");
        s.add("ab"); // too short to scrub
        s.add_presigned(
            "https://bucket.s3.amazonaws.com/k?X-Amz-Credential=AKIA%2F20260101&X-Amz-Signature=deadbeefcafe",
        );
        let text = "token tok-abcdef-123 rejected; <SignatureProvided>deadbeefcafe</SignatureProvided> \
                    cred AKIA/20260101, see https://other.example/x?sig=zzz and \"http://h/p#frag\" ab";
        let out = s.scrub(text);
        for gone in [
            "tok-abcdef-123",
            "deadbeefcafe",
            "AKIA/20260101",
            "sig=zzz",
            "frag",
        ] {
            assert!(!out.contains(gone), "{gone} in {out}");
        }
        assert!(out.contains("https://other.example/x?[redacted]"), "{out}");
        assert!(out.contains("http://h/p?[redacted]\""), "{out}");
        assert!(out.ends_with(" ab"), "{out}");
        // Clones share the list.
        let c = s.clone();
        c.add("later-token-xyz");
        assert_eq!(s.scrub("later-token-xyz"), REDACTED);
    }

    #[test]
    fn snippets_are_cut_on_a_char_boundary() {
        let long = "é".repeat(400);
        let s = snippet(&long);
        assert!(s.ends_with('…') && s.len() <= 304);
        assert_eq!(snippet("  short \n"), "short");
    }
}
