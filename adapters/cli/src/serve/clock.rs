//! The two clocks the core takes as data: a monotonic [`actr_core::Instant`]
//! counted in microseconds from a process-wide origin, and Unix seconds.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actr_core::{Instant, UnixSecs};

/// The origin of the core clock: the first time anything in this process asks.
fn origin() -> std::time::Instant {
    static ORIGIN: OnceLock<std::time::Instant> = OnceLock::new();
    *ORIGIN.get_or_init(std::time::Instant::now)
}

/// Pins the origin; call early so `now()` reads as time since process start.
pub(crate) fn init() {
    origin();
}

/// Monotonic time for the core.
pub(crate) fn now() -> Instant {
    let us = origin().elapsed().as_micros();
    Instant::from_micros(u64::try_from(us).unwrap_or(u64::MAX))
}

/// Wall-clock Unix seconds; a clock set before 1970 reads as 0.
pub(crate) fn unix_now() -> UnixSecs {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The tokio instant at which the core clock reads `at`.
pub(crate) fn to_tokio(at: Instant) -> tokio::time::Instant {
    let std_at = origin().checked_add(Duration::from_micros(at.as_micros()));
    // A deadline too far to represent is as good as never.
    std_at.map(tokio::time::Instant::from_std).unwrap_or_else(far_future)
}

/// A deadline that will not come in the life of the process.
pub(crate) fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(86_400 * 365)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_clock_maps_back_to_tokio_time() {
        let a = now();
        let t = to_tokio(a);
        let back = t.into_std().duration_since(origin());
        assert_eq!(back.as_micros() as u64, a.as_micros());
        assert!(now() >= a);
        assert!(unix_now() > 1_600_000_000);
    }
}
