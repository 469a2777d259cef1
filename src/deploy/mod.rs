//! Build, package and push an MCP server.
//!
//! The steps are separate modules so each can be used (and tested) alone:
//! - [`env`]: the environment contract: what the deployed server gets, derived from deploy.toml.
//! - [`build`]: find the server binary with `cargo metadata` and build it with `cargo build`.
//! - [`package`]: a reproducible, streamed zip with `bootstrap` and `pmcp-deploy.json`.
//! - [`targets`]: where it goes, behind one trait ([`targets::Target`]): `pmcp-run` and `local`.
//! - [`record`]: `.pmcp/deployment.toml`, what was deployed where.

pub mod build;
pub mod env;
pub mod package;
pub mod record;
pub mod targets;

/// `YYYY-MM-DDTHH:MM:SSZ` for a system time (UTC), without a date crate.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (proleptic Gregorian), days since 1970-01-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_795_000_000)),
            "2026-11-18T11:06:40Z"
        );
    }
}
