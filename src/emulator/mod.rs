//! Local Entra-compatible issuer. SKELETON.
