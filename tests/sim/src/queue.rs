//! Virtual time and the event queue.
//!
//! The queue always hands out the earliest event; events due at the same
//! instant come out in the order they were pushed (a sequence number breaks
//! the tie), so a run depends only on its seed.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use actr_core::{Duration, Instant, UnixSecs};

/// Wall-clock Unix seconds at virtual time zero.
pub const UNIX_BASE: UnixSecs = 1_700_000_000;

/// The wall clock at virtual time `now`: [`UNIX_BASE`] plus whole virtual seconds.
pub fn unix_at(now: Instant) -> UnixSecs {
    UNIX_BASE + now.as_micros() / 1_000_000
}

/// `now` shifted by a signed number of seconds, for a skewed wall clock.
pub fn skewed_unix(now: Instant, skew_secs: i64) -> UnixSecs {
    unix_at(now).saturating_add_signed(skew_secs)
}

/// Virtual seconds elapsed at `now`, for reports.
pub fn secs(now: Instant) -> f64 {
    now.as_micros() as f64 / 1e6
}

/// Shorthand for `Instant::ZERO + Duration::from_secs(s)`.
pub fn at_secs(s: u64) -> Instant {
    Instant::ZERO + Duration::from_secs(s)
}

#[derive(Debug)]
struct Entry<E> {
    at: Instant,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl<E> Eq for Entry<E> {}

impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Entry<E> {
    /// Reversed, so the max-heap pops the earliest `(at, seq)`.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// A priority queue of timed events: earliest first, ties in push order.
#[derive(Debug)]
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    next_seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self { heap: BinaryHeap::new(), next_seq: 0 }
    }
}

impl<E> EventQueue<E> {
    /// Schedules `event` at `at`.
    pub fn push(&mut self, at: Instant, event: E) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Entry { at, seq, event });
    }

    /// The earliest event, removed from the queue.
    pub fn pop(&mut self) -> Option<(Instant, E)> {
        self.heap.pop().map(|e| (e.at, e.event))
    }

    /// When the earliest event is due.
    pub fn peek_time(&self) -> Option<Instant> {
        self.heap.peek().map(|e| e.at)
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_then_push_order() {
        let mut q = EventQueue::default();
        q.push(at_secs(5), "late");
        q.push(at_secs(1), "first");
        q.push(at_secs(1), "second");
        q.push(at_secs(3), "middle");
        let order: Vec<&str> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, ["first", "second", "middle", "late"]);
    }

    #[test]
    fn wall_clock_follows_virtual_seconds() {
        assert_eq!(unix_at(Instant::ZERO), UNIX_BASE);
        assert_eq!(unix_at(Instant::from_micros(2_999_999)), UNIX_BASE + 2);
        assert_eq!(skewed_unix(at_secs(10), -4), UNIX_BASE + 6);
    }
}
