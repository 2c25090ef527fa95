//! Wall-clock time in whole seconds since the Unix epoch, with a test-only way to move it forward.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The clock every time-dependent rule reads (token lifetimes, login lockouts).
///
/// It is the system clock plus an offset that starts at zero; tests advance the offset to step
/// past a lockout instead of sleeping for it.
#[derive(Debug, Default)]
pub struct Clock {
    offset_secs: AtomicU64,
}

impl Clock {
    /// Seconds since the Unix epoch.
    pub fn now(&self) -> u64 {
        let system = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs();
        system + self.offset_secs.load(Ordering::Relaxed)
    }

    /// Moves this clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.offset_secs.fetch_add(by.as_secs(), Ordering::Relaxed);
    }
}
