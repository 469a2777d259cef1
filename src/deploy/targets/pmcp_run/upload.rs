//! The presigned `PUT`s: `Content-Type` and `Content-Length` only, 5xx, 429 and connection errors
//! retried with exponential backoff and jitter, other answers final. A presigned URL's query (its
//! signature) never reaches the output.

use super::http::{Scrubber, error_chain, redirect_message, snippet, without_query};
use crate::deploy::targets::TargetError;
use crate::ui::Progress;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The slowest upload accepted before an attempt is abandoned (and retried): 256 KiB/s, plus a
/// minute.
const MIN_UPLOAD_BYTES_PER_SEC: f64 = 256.0 * 1024.0;

/// Retries of an upload: exponential backoff with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (at least 1). Defaults to 4.
    pub attempts: u32,
    /// Delay before the first retry (before jitter). Defaults to 500 ms.
    pub base: Duration,
    /// Largest delay. Defaults to 10 s.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            base: Duration::from_millis(500),
            max: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The delay after the `failed`-th failed attempt (1-based): `base * 2^(failed-1)`, capped at
    /// `max`, then scaled by a random factor in [0.5, 1.0] so clients do not retry in lockstep.
    pub fn delay(&self, failed: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << failed.saturating_sub(1).min(20));
        let capped = exp.min(self.max);
        let jitter: f64 = rand::Rng::random_range(&mut rand::rng(), 0.5..=1.0);
        capped.mul_f64(jitter)
    }
}

/// What a `PUT` sends.
#[derive(Debug, Clone)]
pub enum Payload {
    /// Bytes in memory (the template).
    Bytes(bytes::Bytes),
    /// A file streamed from disk (the binary), with the progress bar following it.
    File(PathBuf),
}

impl Payload {
    fn size(&self) -> std::io::Result<u64> {
        match self {
            Payload::Bytes(b) => Ok(b.len() as u64),
            Payload::File(p) => Ok(std::fs::metadata(p)?.len()),
        }
    }

    async fn body(&self, progress: Option<&Progress>) -> std::io::Result<reqwest::Body> {
        match self {
            Payload::Bytes(b) => Ok(reqwest::Body::from(b.clone())),
            Payload::File(p) => file_body(p, progress.cloned()).await,
        }
    }
}

/// One upload: what, where, and how it is named in messages.
pub struct Upload<'a> {
    /// `template` or `bootstrap`, in messages.
    pub name: &'a str,
    /// The presigned URL.
    pub url: &'a str,
    pub content_type: &'a str,
    pub payload: Payload,
}

/// `PUT` the upload, retrying per `retry`; `on_retry` is told about each retry (what failed and
/// when the next try is). Returns the number of attempts made. Errors are exit 4.
pub async fn put(
    http: &reqwest::Client,
    up: &Upload<'_>,
    retry: &RetryPolicy,
    progress: Option<&Progress>,
    scrub: &Scrubber,
    on_retry: impl Fn(&str),
) -> Result<u32, TargetError> {
    let name = up.name;
    let io = |e: std::io::Error| TargetError::Io(format!("cannot read the {name} to upload: {e}"));
    let size = up.payload.size().map_err(io)?;
    let attempts = retry.attempts.max(1);
    let mut attempt = 0;
    loop {
        attempt += 1;
        if let Some(p) = progress {
            p.set_position(0);
        }
        let body = up.payload.body(progress).await.map_err(io)?;
        let limit = Duration::from_secs(60)
            + Duration::from_secs_f64(size as f64 / MIN_UPLOAD_BYTES_PER_SEC);
        let result = http
            .put(up.url)
            .timeout(limit)
            .header(reqwest::header::CONTENT_TYPE, up.content_type)
            .header(reqwest::header::CONTENT_LENGTH, size)
            .body(body)
            .send()
            .await;
        let (msg, retry_after) = match result {
            Ok(resp) if resp.status().is_success() => return Ok(attempt),
            Ok(resp) => {
                if let Some(m) = redirect_message(&resp) {
                    return Err(TargetError::Upload {
                        message: scrub.scrub(&format!("the {name} upload failed: {m}")),
                        hint: None,
                    });
                }
                let status = resp.status();
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let body = resp.text().await.unwrap_or_default();
                let msg = scrub.scrub(&format!(
                    "HTTP {status}{}",
                    match snippet(&body) {
                        s if s.is_empty() => String::new(),
                        s => format!(": {s}"),
                    }
                ));
                if !(status.is_server_error() || status.as_u16() == 429) {
                    return Err(TargetError::Upload {
                        message: format!(
                            "the {name} upload to {} was refused: {msg}",
                            without_query(up.url)
                        ),
                        hint: (status.as_u16() == 403).then(|| {
                            "the upload URL may have expired (they last 15 minutes); run the deploy again".to_string()
                        }),
                    });
                }
                (msg, retry_after)
            }
            Err(e) => (scrub.scrub(&error_chain(e)), None),
        };
        if attempt >= attempts {
            return Err(TargetError::Upload {
                message: format!(
                    "the {name} upload failed after {attempt} attempts; last error: {msg}"
                ),
                hint: Some("pmcp.run or the network may be having trouble; try again later".into()),
            });
        }
        let mut delay = retry.delay(attempt);
        if let Some(ra) = retry_after {
            delay = delay.max(ra.min(retry.max));
        }
        on_retry(&format!(
            "{name} upload attempt {attempt}/{attempts} failed: {msg}; retrying in {:.1}s",
            delay.as_secs_f64()
        ));
        tokio::time::sleep(delay).await;
    }
}

/// A request body that streams the file in 256 KiB chunks and reports progress.
async fn file_body(path: &Path, progress: Option<Progress>) -> std::io::Result<reqwest::Body> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(path).await?;
    let stream = futures_util::stream::unfold(
        (file, progress, 0u64),
        |(mut file, progress, sent)| async move {
            let mut buf = bytes::BytesMut::with_capacity(256 * 1024);
            match file.read_buf(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    let sent = sent + n as u64;
                    if let Some(p) = &progress {
                        p.set_position(sent);
                    }
                    Some((
                        Ok::<_, std::io::Error>(buf.freeze()),
                        (file, progress, sent),
                    ))
                }
                Err(e) => Some((Err(e), (file, progress, sent))),
            }
        },
    );
    Ok(reqwest::Body::wrap_stream(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_cap() {
        let r = RetryPolicy {
            attempts: 5,
            base: Duration::from_millis(100),
            max: Duration::from_millis(300),
        };
        for _ in 0..50 {
            let d1 = r.delay(1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
            let d2 = r.delay(2);
            assert!(d2 >= Duration::from_millis(100) && d2 <= Duration::from_millis(200));
            let d5 = r.delay(5);
            assert!(d5 >= Duration::from_millis(150) && d5 <= Duration::from_millis(300));
        }
    }
}
