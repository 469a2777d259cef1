//! Internals exposed for tests and fuzzing (feature `testing`). Not a stable API: nothing here is
//! needed to validate tokens or protect a server.

pub use crate::discovery::DiscoveryDocument;
pub use crate::jwks::{Jwk, JwkSet};
