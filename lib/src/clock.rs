//! Wall-clock time in whole seconds since the Unix epoch (and, to order what one process makes,
//! in microseconds), with a test-only way to move it forward; and a time as China's calendar
//! shows it ([`china_civil`]), for what Emo writes in Beijing time.

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

/// China's offset from UTC (UTC+8, no daylight saving), in seconds.
pub const CHINA_OFFSET_SECS: u64 = 8 * 3600;

/// A moment as China's calendar and clock show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CivilTime {
    pub year: i64,
    pub month: i64,
    pub day: i64,
    pub hour: u64,
    pub minute: u64,
    pub second: u64,
}

/// `secs` since the Unix epoch in Beijing time (UTC+8): Howard Hinnant's `civil_from_days`.
pub fn china_civil(secs: u64) -> CivilTime {
    let local = secs + CHINA_OFFSET_SECS;
    let (days, rem) = ((local / 86_400) as i64, local % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    CivilTime {
        year: yoe + era * 400 + i64::from(month <= 2),
        month,
        day,
        hour: rem / 3600,
        minute: rem / 60 % 60,
        second: rem % 60,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn china_time_is_utc_plus_eight_across_a_leap_day() {
        // 2000-02-28 16:00:00 UTC is 2000-02-29 00:00:00 in Beijing.
        let t = china_civil(951_753_600);
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.minute),
            (2000, 2, 29, 0, 0)
        );
        let t = china_civil(0);
        assert_eq!((t.year, t.month, t.day, t.hour), (1970, 1, 1, 8));
    }

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
