//! Arbitrary bytes as a JWK set or a discovery document: parse to a set (skipping bad keys) or an
//! error, never panic; every key kept must be usable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pmcp_auth::testing::{DiscoveryDocument, JwkSet};

fuzz_target!(|data: &[u8]| {
    if let Ok(set) = JwkSet::parse(data) {
        for (kid, key) in &set.keys {
            assert_eq!(kid, &key.kid);
            assert!(!key.algorithms.is_empty());
        }
    }
    let _ = DiscoveryDocument::parse(data);
});
