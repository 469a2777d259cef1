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

/// `2026-11-26 07:31:02Z`, the form Entra's error bodies use. A time past the year 9999 (only a
/// nonsensical `exp` or `nbf` gets there) is written as its unix seconds.
pub fn timestamp(unix: u64) -> String {
    const ENTRA: &[::time::format_description::BorrowedFormatItem<'_>] =
        ::time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z");
    i64::try_from(unix)
        .ok()
        .and_then(|secs| ::time::OffsetDateTime::from_unix_timestamp(secs).ok())
        .and_then(|t| t.format(ENTRA).ok())
        .unwrap_or_else(|| unix.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_entra() {
        assert_eq!(timestamp(0), "1970-01-01 00:00:00Z");
        assert_eq!(timestamp(1_795_000_000), "2026-11-18 11:06:40Z");
        assert_eq!(timestamp(951_782_400), "2000-02-29 00:00:00Z");
        assert_eq!(timestamp(253_402_300_799), "9999-12-31 23:59:59Z");
        assert_eq!(timestamp(253_402_300_800), "253402300800");
        assert_eq!(timestamp(u64::MAX), u64::MAX.to_string());
    }

    #[test]
    fn advancing_moves_now() {
        let c = Clock::default();
        let a = c.now();
        c.advance(std::time::Duration::from_secs(1000));
        assert!(c.now() >= a + 1000);
    }
}
