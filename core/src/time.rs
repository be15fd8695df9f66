//! Time as an input: the core never reads a clock.
//!
//! [`Instant`] counts microseconds from an origin the driver picks (process
//! start, or zero in the simulator). Wall-clock Unix seconds, where credentials
//! need them, are passed separately as [`UnixSecs`].

use core::ops::{Add, Sub};
use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch, supplied by the caller.
pub type UnixSecs = u64;

/// A point on the caller's monotonic clock, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Instant(u64);

/// A span of time in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Duration(u64);

impl Instant {
    pub const ZERO: Instant = Instant(0);
    pub const fn from_micros(us: u64) -> Self {
        Instant(us)
    }
    pub const fn as_micros(self) -> u64 {
        self.0
    }
    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
}

impl Duration {
    pub const ZERO: Duration = Duration(0);
    pub const fn from_micros(us: u64) -> Self {
        Duration(us)
    }
    pub const fn from_millis(ms: u64) -> Self {
        Duration(ms.saturating_mul(1_000))
    }
    pub const fn from_secs(s: u64) -> Self {
        Duration(s.saturating_mul(1_000_000))
    }
    pub const fn as_micros(self) -> u64 {
        self.0
    }
    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000
    }
    pub const fn as_secs(self) -> u64 {
        self.0 / 1_000_000
    }
    /// Multiplies by a ratio given in thousandths, saturating.
    pub fn mul_permille(self, permille: u64) -> Duration {
        Duration(((self.0 as u128 * permille as u128) / 1000).min(u64::MAX as u128) as u64)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d.0))
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, d: Duration) -> Instant {
        Instant(self.0.saturating_sub(d.0))
    }
}

impl Add for Duration {
    type Output = Duration;
    fn add(self, d: Duration) -> Duration {
        Duration(self.0.saturating_add(d.0))
    }
}

/// A fixed table of timers keyed by an enum of timer kinds.
///
/// The next deadline is the minimum armed entry; [`TimerTable::expired`] says
/// which timer fired, so a trace can name it.
#[derive(Debug, Clone)]
pub struct TimerTable<K: Copy + Eq, const N: usize> {
    slots: [(Option<K>, Option<Instant>); N],
}

impl<K: Copy + Eq, const N: usize> Default for TimerTable<K, N> {
    fn default() -> Self {
        Self { slots: [(None, None); N] }
    }
}

impl<K: Copy + Eq + core::fmt::Debug, const N: usize> TimerTable<K, N> {
    /// Arms `kind` at `at`, replacing any earlier deadline of that kind.
    ///
    /// Panics only if more than `N` distinct kinds are used, a programming error.
    pub fn set(&mut self, kind: K, at: Instant) {
        if let Some(slot) = self.slots.iter_mut().find(|s| s.0 == Some(kind)) {
            slot.1 = Some(at);
            return;
        }
        let free = self.slots.iter_mut().find(|s| s.0.is_none());
        let slot = free.unwrap_or_else(|| panic!("TimerTable: more than {N} timer kinds ({kind:?})"));
        *slot = (Some(kind), Some(at));
    }

    pub fn stop(&mut self, kind: K) {
        if let Some(slot) = self.slots.iter_mut().find(|s| s.0 == Some(kind)) {
            slot.1 = None;
        }
    }

    pub fn get(&self, kind: K) -> Option<Instant> {
        self.slots.iter().find(|s| s.0 == Some(kind)).and_then(|s| s.1)
    }

    pub fn is_armed(&self, kind: K) -> bool {
        self.get(kind).is_some()
    }

    /// The earliest armed deadline and its kind.
    pub fn next(&self) -> Option<(K, Instant)> {
        self.slots.iter().filter_map(|s| Some((s.0?, s.1?))).min_by_key(|&(_, at)| at)
    }

    /// Disarms and returns the earliest timer that is due at `now`.
    pub fn expired(&mut self, now: Instant) -> Option<K> {
        let (kind, at) = self.next()?;
        if at > now {
            return None;
        }
        self.stop(kind);
        Some(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum T {
        A,
        B,
    }

    #[test]
    fn timer_table_fires_earliest_first() {
        let mut t: TimerTable<T, 2> = TimerTable::default();
        t.set(T::A, Instant::from_micros(50));
        t.set(T::B, Instant::from_micros(20));
        assert_eq!(t.next(), Some((T::B, Instant::from_micros(20))));
        assert_eq!(t.expired(Instant::from_micros(10)), None);
        assert_eq!(t.expired(Instant::from_micros(60)), Some(T::B));
        assert_eq!(t.expired(Instant::from_micros(60)), Some(T::A));
        assert_eq!(t.expired(Instant::from_micros(60)), None);
        t.set(T::A, Instant::from_micros(5));
        t.stop(T::A);
        assert_eq!(t.next(), None);
    }

    #[test]
    fn durations_saturate() {
        assert_eq!(Instant::from_micros(5) - Duration::from_micros(9), Instant::ZERO);
        assert_eq!(Duration::from_secs(1).mul_permille(1300), Duration::from_millis(1300));
        assert_eq!(Instant::from_micros(3).saturating_since(Instant::from_micros(9)), Duration::ZERO);
    }
}
