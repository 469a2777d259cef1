//! Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document, the MCP 2025-11-25
//! registration method): a `client_id` that is an https URL names a JSON document the client
//! publishes there, whose `redirect_uris` the bridge enforces.
//!
//! The fetch is a request the server makes to a URL a stranger chose, so it is fenced: https only;
//! the host's addresses are resolved first and the request is pinned to one of them, refused when
//! any is loopback, private, link-local or otherwise not public (a documented development switch,
//! `AUTH_DCR_CIMD_ALLOW_LOOPBACK=true`, lets loopback and http-to-loopback through for local
//! tests); no redirects at all; 5 s; 64 KiB. Documents are cached for 5 minutes (256 at most).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde_json::Value;

use super::{Client, ClientLookupError, check_redirect_uri};
use crate::middleware::sanitize_for_message;

const MAX_DOCUMENT: usize = 64 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const CACHE_TTL: u64 = 300;
const CACHE_MAX: usize = 256;

fn refuse(why: impl Into<String>) -> ClientLookupError {
    ClientLookupError::Unknown(why.into())
}

/// True for an address on the public internet (not loopback, private, link-local, CGNAT,
/// documentation, multicast, unspecified or reserved). Hand-written: std's `is_global` is unstable.
pub(crate) fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0.0/24
                || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18.0.0/15
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_ip(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] == 0x2001 && s[1] == 0x0db8)) // documentation
        }
    }
}

impl super::Bridge {
    /// The client a metadata document URL describes (cached briefly).
    pub(super) async fn cimd_client(&self, url: &str) -> Result<Client, ClientLookupError> {
        let now = self.config.now();
        if let Some((exp, c)) = self
            .cimd_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(url)
            && *exp > now
        {
            return Ok(c.clone());
        }
        let client = self.fetch_cimd(url).await?;
        let mut cache = self.cimd_cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.retain(|_, (exp, _)| *exp > now);
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(url.to_string(), (now + CACHE_TTL, client.clone()));
        Ok(client)
    }

    async fn fetch_cimd(&self, url: &str) -> Result<Client, ClientLookupError> {
        let shown = sanitize_for_message(url, 100);
        let allow_loopback = self.config.cimd_allow_loopback;
        if url.len() > 512 {
            return Err(refuse("the client_id URL is longer than 512 bytes"));
        }
        let u = url::Url::parse(url)
            .map_err(|_| refuse(format!("the client_id `{shown}` is not a URL")))?;
        // The URL must be in canonical form (no dot segments, no default port spelled out…): the
        // document's `client_id` is compared with it character for character.
        if u.as_str() != url
            || u.fragment().is_some()
            || !u.username().is_empty()
            || u.password().is_some()
            || u.path() == "/"
        {
            return Err(refuse(format!(
                "the client_id `{shown}` must be a canonical https URL with a path, no fragment and no user information"
            )));
        }
        let host = u
            .host()
            .ok_or_else(|| refuse("the client_id URL has no host"))?;
        let loopback_host = match &host {
            url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
            url::Host::Ipv4(ip) => ip.is_loopback(),
            url::Host::Ipv6(ip) => ip.is_loopback(),
        };
        match u.scheme() {
            "https" => {}
            "http" if allow_loopback && loopback_host => {}
            _ => {
                return Err(refuse(format!(
                    "the client_id `{shown}` must be an https:// URL"
                )));
            }
        }
        let port = u
            .port_or_known_default()
            .ok_or_else(|| refuse("the client_id URL has no port"))?;
        let addrs: Vec<SocketAddr> = match &host {
            url::Host::Ipv4(ip) => vec![SocketAddr::new(IpAddr::V4(*ip), port)],
            url::Host::Ipv6(ip) => vec![SocketAddr::new(IpAddr::V6(*ip), port)],
            url::Host::Domain(d) => tokio::time::timeout(
                FETCH_TIMEOUT,
                tokio::net::lookup_host((d.to_string(), port)),
            )
            .await
            .map_err(|_| refuse(format!("resolving the host of `{shown}` timed out")))?
            .map_err(|_| refuse(format!("the host of `{shown}` does not resolve")))?
            .collect(),
        };
        let allowed = |ip: IpAddr| is_public_ip(ip) || (allow_loopback && ip.is_loopback());
        if addrs.is_empty() || !addrs.iter().all(|a| allowed(a.ip())) {
            return Err(refuse(format!(
                "the client_id `{shown}` resolves to an address this server does not fetch from (loopback, private or reserved)"
            )));
        }
        let mut builder = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none());
        if let url::Host::Domain(d) = &host {
            // Pin the connection to the address just checked (no second, different resolution).
            builder = builder.resolve(d, addrs[0]);
        }
        let http = builder
            .build()
            .map_err(|_| refuse("cannot build the HTTP client for the metadata document"))?;
        let mut resp = http
            .get(u.clone())
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|_| {
                refuse(format!(
                    "the client metadata document `{shown}` could not be fetched"
                ))
            })?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(refuse(format!(
                "fetching the client metadata document `{shown}` answered {} (redirects are not followed)",
                resp.status().as_u16()
            )));
        }
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_DOCUMENT {
                        return Err(refuse(format!(
                            "the client metadata document `{shown}` is larger than {MAX_DOCUMENT} bytes"
                        )));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(_) => {
                    return Err(refuse(format!(
                        "reading the client metadata document `{shown}` failed"
                    )));
                }
            }
        }
        let doc: Value = serde_json::from_slice(&body).map_err(|_| {
            refuse(format!(
                "the client metadata document `{shown}` is not JSON"
            ))
        })?;
        if doc.get("client_id").and_then(Value::as_str) != Some(url) {
            return Err(refuse(format!(
                "the client metadata document's `client_id` is not `{shown}`, the URL it was fetched from"
            )));
        }
        let redirect_uris: Vec<String> = doc
            .get("redirect_uris")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .take(17)
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if redirect_uris.is_empty() || redirect_uris.len() > 16 {
            return Err(refuse(
                "the client metadata document must list 1 to 16 `redirect_uris`",
            ));
        }
        for r in &redirect_uris {
            check_redirect_uri(r)
                .map_err(|why| refuse(format!("the client metadata document: {why}")))?;
        }
        let name = doc
            .get("client_name")
            .and_then(Value::as_str)
            .map(|s| {
                s.trim()
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(128)
                    .collect::<String>()
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| u.host_str().unwrap_or_default().to_string());
        if !self.config.name_allowed(&name) {
            return Err(refuse(format!(
                "the client `{}` is not one this server accepts (its public client patterns do not match the name)",
                sanitize_for_message(&name, 60)
            )));
        }
        Ok(Client {
            id: url.to_string(),
            name,
            redirect_uris,
            cimd: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_addresses() {
        for ok in ["8.8.8.8", "20.190.160.1", "2606:4700::1111"] {
            assert!(is_public_ip(ok.parse().unwrap()), "{ok}");
        }
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(!is_public_ip(bad.parse().unwrap()), "{bad}");
        }
    }
}
