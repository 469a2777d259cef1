//! Arbitrary text as `.pmcp/deploy.toml`, through the CLI's library as every verb loads it:
//! parse + checks + unknown-key warnings, the server environment derived from it, and the editor
//! `deploy init` uses. Errors are fine; panics are not. Two properties:
//! - a `[server] name` that loads is a valid server name;
//! - a file the editor did not change counts as unchanged (re-running init writes nothing), and
//!   what the editor writes reads back and renders the same (its output is stable).
#![no_main]

use cargo_pmcp::config::{self, DeployToml};
use cargo_pmcp::deploy::env::server_env;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new(".pmcp/deploy.toml");
    if let Ok(loaded) = config::parse_with_warnings(path, text.to_string()) {
        if let Some(name) = &loaded.config.server.name {
            assert!(config::validate_server_name(name).is_ok());
        }
        let _ = server_env(&loaded.config);
        for w in &loaded.warnings {
            let _ = w.to_string();
        }
    }
    if let Ok(doc) = DeployToml::from_text(path, text.to_string()) {
        assert!(!doc.is_changed(), "an untouched document counts as changed");
        // What the editor writes reads back to the same document, rendered the same way.
        let rendered = doc.render();
        let again = DeployToml::from_text(path, rendered.clone()).expect("its own output parses");
        assert_eq!(again.render(), rendered, "rendering is not stable");
    }
});
