//! Pending outbound calls: each has a deadline and resolves exactly once.

use std::collections::BTreeMap;

use crate::error::ActrError;
use crate::time::Instant;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCall<D> {
    pub deadline: Instant,
    /// Where the call went, so a lost peer can fail exactly its calls.
    pub dest: D,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CorrelationStats {
    pub completed: u64,
    pub timed_out: u64,
    pub orphans: u64,
    pub failed: u64,
}

/// Request id → pending call, bounded.
#[derive(Debug)]
pub struct Correlation<D> {
    pending: BTreeMap<u64, PendingCall<D>>,
    capacity: usize,
    stats: CorrelationStats,
}

impl<D: Clone + PartialEq> Correlation<D> {
    pub fn new(capacity: usize) -> Self {
        Self { pending: BTreeMap::new(), capacity, stats: CorrelationStats::default() }
    }

    pub fn stats(&self) -> CorrelationStats {
        self.stats
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Starts waiting for `id`. Refuses a duplicate id or a full table.
    pub fn register(&mut self, id: u64, deadline: Instant, dest: D) -> Result<(), ActrError> {
        if self.pending.contains_key(&id) {
            return Err(ActrError::Internal(format!("request id {id} already pending")));
        }
        if self.pending.len() >= self.capacity {
            return Err(ActrError::ResourceExhausted(format!("{} calls pending", self.capacity)));
        }
        self.pending.insert(id, PendingCall { deadline, dest });
        Ok(())
    }

    /// Where call `id` went, while it is pending.
    pub fn dest_of(&self, id: u64) -> Option<&D> {
        self.pending.get(&id).map(|p| &p.dest)
    }

    /// A response arrived. `None` means nobody waits (late or unknown): drop it.
    pub fn complete(&mut self, id: u64) -> Option<PendingCall<D>> {
        let found = self.pending.remove(&id);
        match found {
            Some(_) => self.stats.completed += 1,
            None => self.stats.orphans += 1,
        }
        found
    }

    /// Calls whose deadline passed; each is removed and must be failed with `TimedOut`.
    pub fn expire(&mut self, now: Instant) -> Vec<u64> {
        let due: Vec<u64> = self.pending.iter().filter(|(_, p)| p.deadline <= now).map(|(k, _)| *k).collect();
        for id in &due {
            self.pending.remove(id);
        }
        self.stats.timed_out += due.len() as u64;
        due
    }

    /// Removes every call to `dest` (its connection is gone for good).
    pub fn fail_dest(&mut self, dest: &D) -> Vec<u64> {
        let gone: Vec<u64> = self.pending.iter().filter(|(_, p)| p.dest == *dest).map(|(k, _)| *k).collect();
        for id in &gone {
            self.pending.remove(id);
        }
        self.stats.failed += gone.len() as u64;
        gone
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending.values().map(|p| p.deadline).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    #[test]
    fn each_call_resolves_once() {
        let mut c: Correlation<u8> = Correlation::new(8);
        let t = Instant::ZERO + Duration::from_secs(1);
        c.register(1, t, 0).unwrap();
        c.register(2, t, 0).unwrap();
        assert!(c.register(1, t, 0).is_err());
        assert!(c.complete(1).is_some());
        assert!(c.complete(1).is_none(), "a second response is an orphan");
        assert_eq!(c.poll_timeout(), Some(t));
        assert_eq!(c.expire(t), vec![2]);
        assert!(c.complete(2).is_none(), "a late response after the deadline is an orphan");
        assert_eq!(c.stats(), CorrelationStats { completed: 1, timed_out: 1, orphans: 2, failed: 0 });
    }

    #[test]
    fn bounded_and_fail_by_dest() {
        let mut c: Correlation<u8> = Correlation::new(2);
        c.register(1, Instant::ZERO, 7).unwrap();
        c.register(2, Instant::ZERO, 8).unwrap();
        assert!(matches!(c.register(3, Instant::ZERO, 7), Err(ActrError::ResourceExhausted(_))));
        assert_eq!(c.fail_dest(&7), vec![1]);
        assert_eq!(c.len(), 1);
    }
}
