//! The emulator's clock (system time plus an offset tests can advance) and Entra's timestamp format.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// System time shifted by an offset that only moves forward through [`Clock::advance`].
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset: Arc<AtomicI64>,
}

impl Clock {
    /// Unix seconds now, per this clock.
    pub fn now(&self) -> u64 {
        let sys = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        (sys + self.offset.load(Ordering::SeqCst)).max(0) as u64
    }

    /// Move the clock forward.
    pub fn advance(&self, by: std::time::Duration) {
        self.offset.fetch_add(by.as_secs() as i64, Ordering::SeqCst);
    }
}

/// `2026-11-26 07:31:02Z`, the form Entra's error bodies use.
pub fn timestamp(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_entra() {
        assert_eq!(timestamp(0), "1970-01-01 00:00:00Z");
        assert_eq!(timestamp(1_795_000_000), "2026-11-18 11:06:40Z");
        assert_eq!(timestamp(951_782_400), "2000-02-29 00:00:00Z");
    }

    #[test]
    fn advancing_moves_now() {
        let c = Clock::default();
        let a = c.now();
        c.advance(std::time::Duration::from_secs(1000));
        assert!(c.now() >= a + 1000);
    }
}
