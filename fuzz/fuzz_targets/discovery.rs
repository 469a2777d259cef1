//! Arbitrary bytes as an OpenID discovery document: a document or an error, never a panic; a
//! document that parses has an issuer and a JWKS URI that is https (or loopback http).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pmcp_auth::entra::is_https_or_loopback;
use pmcp_auth::testing::DiscoveryDocument;

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = DiscoveryDocument::parse(data) {
        assert!(!doc.issuer.trim().is_empty());
        assert!(is_https_or_loopback(&doc.jwks_uri), "{}", doc.jwks_uri);
    }
});
