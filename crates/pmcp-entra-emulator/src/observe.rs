//! What tests and the command can see and steer on a running emulator: request events (for the
//! command's request log), per-endpoint request counts (did the validator refetch the keys?) and
//! injected faults (5xx, malformed JSON) on Entra's endpoints.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Which of Entra's endpoints a request hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndpointKind {
    /// `…/.well-known/openid-configuration` (v1 or v2).
    Discovery,
    /// `…/discovery/keys` or `…/discovery/v2.0/keys`.
    Keys,
    /// `…/oauth2/token` or `…/oauth2/v2.0/token`.
    Token,
    /// `…/oauth2/devicecode` or `…/oauth2/v2.0/devicecode`.
    DeviceCode,
    /// `/_emulator/…` and anything else.
    Other,
}

impl EndpointKind {
    /// Classify a request path.
    pub fn of_path(path: &str) -> Self {
        if path.ends_with("/.well-known/openid-configuration") {
            EndpointKind::Discovery
        } else if path.ends_with("/discovery/keys") || path.ends_with("/discovery/v2.0/keys") {
            EndpointKind::Keys
        } else if path.ends_with("/oauth2/token") || path.ends_with("/oauth2/v2.0/token") {
            EndpointKind::Token
        } else if path.ends_with("/oauth2/devicecode") || path.ends_with("/oauth2/v2.0/devicecode")
        {
            EndpointKind::DeviceCode
        } else {
            EndpointKind::Other
        }
    }

    fn index(self) -> usize {
        match self {
            EndpointKind::Discovery => 0,
            EndpointKind::Keys => 1,
            EndpointKind::Token => 2,
            EndpointKind::DeviceCode => 3,
            EndpointKind::Other => 4,
        }
    }
}

/// A failure to serve instead of the real response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this HTTP status and a short JSON error body.
    Status(u16),
    /// Answer 200 with a body that is not JSON.
    BadJson,
    /// Answer 200 with this body (e.g. a key set with odd keys).
    Body(String),
}

/// One served request, for logs. Holds no secret: no body, no headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestEvent {
    /// HTTP method.
    pub method: String,
    /// Request path (tenant ids are not secrets; there is no query string in Entra's calls).
    pub path: String,
    /// Which endpoint.
    pub kind: EndpointKind,
    /// Response status.
    pub status: u16,
    /// The AADSTS code of an error response.
    pub aadsts: Option<u32>,
    /// True when the response was an injected fault.
    pub injected: bool,
}

impl std::fmt::Display for RequestEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} → {}", self.method, self.path, self.status)?;
        if let Some(code) = self.aadsts {
            write!(f, " AADSTS{code}")?;
        }
        if self.injected {
            write!(f, " (injected fault)")?;
        }
        Ok(())
    }
}

/// The AADSTS code of an error response, carried to the request log as a response extension.
#[derive(Debug, Clone, Copy)]
pub struct AadCode(pub u32);

/// Counters and faults shared by the handlers.
#[derive(Debug)]
pub struct Observer {
    counts: [AtomicU64; 5],
    faults: Mutex<Vec<(EndpointKind, Fault, Option<u32>)>>,
    events: tokio::sync::broadcast::Sender<RequestEvent>,
}

impl Default for Observer {
    fn default() -> Self {
        Self {
            counts: Default::default(),
            faults: Mutex::new(Vec::new()),
            events: tokio::sync::broadcast::channel(256).0,
        }
    }
}

impl Observer {
    /// Count a request to `kind`.
    pub fn count(&self, kind: EndpointKind) {
        self.counts[kind.index()].fetch_add(1, Ordering::SeqCst);
    }

    /// Requests served to `kind` so far (faults included).
    pub fn requests(&self, kind: EndpointKind) -> u64 {
        self.counts[kind.index()].load(Ordering::SeqCst)
    }

    /// Serve `fault` on `kind` for the next `times` requests (`None`: until cleared).
    pub fn inject(&self, kind: EndpointKind, fault: Fault, times: Option<u32>) {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((kind, fault, times));
    }

    /// Remove every injected fault.
    pub fn clear(&self) {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The fault to serve for this request, if any (uses up one of its `times`).
    pub fn take_fault(&self, kind: EndpointKind) -> Option<Fault> {
        let mut faults = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        let i = faults.iter().position(|(k, _, _)| *k == kind)?;
        let fault = faults[i].1.clone();
        match &mut faults[i].2 {
            Some(n) if *n <= 1 => {
                faults.remove(i);
            }
            Some(n) => *n -= 1,
            None => {}
        }
        Some(fault)
    }

    /// Publish a served request.
    pub fn publish(&self, event: RequestEvent) {
        let _ = self.events.send(event);
    }

    /// A receiver of request events from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<RequestEvent> {
        self.events.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_classified() {
        assert_eq!(
            EndpointKind::of_path("/t/v2.0/.well-known/openid-configuration"),
            EndpointKind::Discovery
        );
        assert_eq!(
            EndpointKind::of_path("/t/.well-known/openid-configuration"),
            EndpointKind::Discovery
        );
        assert_eq!(
            EndpointKind::of_path("/t/discovery/v2.0/keys"),
            EndpointKind::Keys
        );
        assert_eq!(
            EndpointKind::of_path("/t/oauth2/token"),
            EndpointKind::Token
        );
        assert_eq!(
            EndpointKind::of_path("/t/oauth2/v2.0/devicecode"),
            EndpointKind::DeviceCode
        );
        assert_eq!(
            EndpointKind::of_path("/_emulator/health"),
            EndpointKind::Other
        );
    }

    #[test]
    fn faults_are_used_up() {
        let o = Observer::default();
        o.inject(EndpointKind::Keys, Fault::Status(503), Some(2));
        assert_eq!(o.take_fault(EndpointKind::Discovery), None);
        assert_eq!(o.take_fault(EndpointKind::Keys), Some(Fault::Status(503)));
        assert_eq!(o.take_fault(EndpointKind::Keys), Some(Fault::Status(503)));
        assert_eq!(o.take_fault(EndpointKind::Keys), None);
        o.inject(EndpointKind::Token, Fault::BadJson, None);
        for _ in 0..3 {
            assert_eq!(o.take_fault(EndpointKind::Token), Some(Fault::BadJson));
        }
        o.clear();
        assert_eq!(o.take_fault(EndpointKind::Token), None);
    }
}
