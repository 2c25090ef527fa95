//! Wall-clock time in whole seconds since the Unix epoch (and, to order what one process makes,
//! in microseconds), with a test-only way to move it forward.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The clock every time-dependent rule reads (token lifetimes, login lockouts).
///
/// It is the system clock plus an offset that starts at zero; tests advance the offset to step
/// past a lockout instead of sleeping for it.
#[derive(Debug, Default)]
pub struct Clock {
    offset_secs: AtomicU64,
    /// The last [`Clock::now_micros`] answered, so the next is later even if the system clock
    /// stepped back.
    last_micros: AtomicU64,
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

    /// Microseconds since the Unix epoch, strictly later at each call in this process (the
    /// system clock may step back; this does not): what orders two things one process made in
    /// the same second. Its whole seconds agree with [`Clock::now`] but for such a step.
    pub fn now_micros(&self) -> u64 {
        let system = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_micros() as u64
            + self.offset_secs.load(Ordering::Relaxed) * 1_000_000;
        let previous = self
            .last_micros
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
                Some(system.max(last + 1))
            })
            .unwrap_or_default();
        system.max(previous + 1)
    }

    /// Moves this clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.offset_secs.fetch_add(by.as_secs(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microseconds_always_move_forward_and_agree_with_the_seconds() {
        let clock = Clock::default();
        let mut last = 0;
        for _ in 0..10_000 {
            let now = clock.now_micros();
            assert!(now > last);
            last = now;
        }
        let (secs, micros) = (clock.now(), clock.now_micros() / 1_000_000);
        assert!(micros.abs_diff(secs) <= 1, "{secs} {micros}");
        clock.advance(Duration::from_secs(3600));
        assert!(clock.now_micros() / 1_000_000 >= secs + 3600);
    }
}
