//! Exponential backoff with optional jitter drawn from the caller's seeded RNG.

use crate::rng::SeededRng;
use crate::time::Duration;

/// Backoff settings. The defaults are the signaling reconnect policy:
/// 1 s doubling to 60 s, ±30 % jitter, ten attempts, then a cooldown of
/// twice the maximum delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffConfig {
    pub initial: Duration,
    pub max: Duration,
    /// Growth per attempt, in thousandths (2000 = ×2).
    pub multiplier_permille: u64,
    /// Jitter half-width in thousandths of the delay (300 = ±30 %).
    pub jitter_permille: u64,
    /// Attempts before [`Backoff::next_delay`] returns `None`.
    pub max_attempts: Option<u32>,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            multiplier_permille: 2000,
            jitter_permille: 300,
            max_attempts: Some(10),
        }
    }
}

/// The state of one backoff sequence.
#[derive(Debug, Clone)]
pub struct Backoff {
    config: BackoffConfig,
    current: Duration,
    attempts: u32,
}

impl Backoff {
    pub fn new(config: BackoffConfig) -> Self {
        Self { config, current: config.initial, attempts: 0 }
    }

    pub fn config(&self) -> &BackoffConfig {
        &self.config
    }

    /// Attempts handed out since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The delay before the next attempt, or `None` once attempts run out.
    pub fn next_delay(&mut self, rng: &mut SeededRng) -> Option<Duration> {
        if self.config.max_attempts.is_some_and(|max| self.attempts >= max) {
            return None;
        }
        self.attempts += 1;
        let base = self.current;
        self.current = base.mul_permille(self.config.multiplier_permille).min(self.config.max);
        let j = self.config.jitter_permille;
        if j == 0 {
            return Some(base);
        }
        // Uniform factor in [1000 - j, 1000 + j] thousandths.
        let factor = 1000 - j + rng.below(2 * j + 1);
        Some(base.mul_permille(factor).max(Duration::from_millis(1)))
    }

    pub fn reset(&mut self) {
        self.current = self.config.initial;
        self.attempts = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_without_jitter() {
        let cfg = BackoffConfig { jitter_permille: 0, max_attempts: Some(9), ..Default::default() };
        let mut b = Backoff::new(cfg);
        let mut rng = SeededRng::new(0);
        let secs: Vec<u64> = std::iter::from_fn(|| b.next_delay(&mut rng)).map(|d| d.as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
        b.reset();
        assert_eq!(b.next_delay(&mut rng), Some(Duration::from_secs(1)));
    }

    #[test]
    fn jitter_stays_within_thirty_percent() {
        let mut rng = SeededRng::new(3);
        let mut spread = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let mut b = Backoff::new(BackoffConfig::default());
            let d = b.next_delay(&mut rng).unwrap().as_millis();
            assert!((700..=1300).contains(&d), "{d}");
            spread.insert(d);
        }
        assert!(spread.len() > 50, "jitter should vary");
    }

    #[test]
    fn attempts_are_bounded() {
        let mut b = Backoff::new(BackoffConfig::default());
        let mut rng = SeededRng::new(1);
        assert_eq!(std::iter::from_fn(|| b.next_delay(&mut rng)).count(), 10);
    }
}
