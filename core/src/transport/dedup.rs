//! Receiver-side deduplication of requests and tells by `(caller, request id)`.
//!
//! A retried request resends identical bytes with the same id. The first copy
//! runs; a copy that arrives while it runs waits for its result; a copy that
//! arrives after it finished gets the stored response; a duplicate tell is
//! dropped. Entries live for a TTL and the table is bounded: when full, the
//! oldest finished entry is evicted, and if every entry is still running the
//! new request is refused with `ResourceExhausted`.

use std::collections::{BTreeMap, VecDeque};

use crate::error::ActrError;
use crate::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DedupConfig {
    pub ttl: Duration,
    pub capacity: usize,
    /// Bytes of stored results (weighed by the caller of `complete`): the
    /// oldest finished entries make room for a new one past this.
    pub max_bytes: usize,
    /// Duplicates that may wait on one running request.
    pub max_waiters: usize,
}

impl Default for DedupConfig {
    fn default() -> Self {
        Self { ttl: Duration::from_secs(30), capacity: 4096, max_bytes: 64 * 1024 * 1024, max_waiters: 8 }
    }
}

/// What to do with an arriving request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DedupVerdict<R> {
    /// First copy: run it, then call [`DedupCache::complete`].
    Run,
    /// The original is running; its result is delivered to this copy through
    /// [`DedupCache::complete`]'s return value.
    Joined,
    /// The original finished: reply with this.
    Replay(R),
    /// A duplicate tell, or more duplicates than are allowed to wait.
    Drop,
}

#[derive(Debug)]
enum State<R, W> {
    Running { waiters: Vec<W> },
    Done(R),
}

#[derive(Debug)]
struct Entry<R, W> {
    state: State<R, W>,
    expires: Instant,
    /// Bytes the stored result weighs.
    weight: usize,
    /// Which place in `order` is this entry's (a forgotten key inserted
    /// again leaves an older place behind).
    seq: u64,
}

/// Dedup table keyed by `K` (caller and request id), storing results `R` and
/// duplicate waiters `W` (whatever the caller needs to answer them).
#[derive(Debug)]
pub struct DedupCache<K: Ord + Clone, R: Clone, W> {
    config: DedupConfig,
    entries: BTreeMap<K, Entry<R, W>>,
    /// Arrival, insertion number and key of each entry, oldest first.
    order: VecDeque<(Instant, u64, K)>,
    next_seq: u64,
    /// Sum of the entries' weights.
    bytes: usize,
}

impl<K: Ord + Clone, R: Clone, W> DedupCache<K, R, W> {
    pub fn new(config: DedupConfig) -> Self {
        Self { config, entries: BTreeMap::new(), order: VecDeque::new(), next_seq: 0, bytes: 0 }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Registers an arriving request. `waiter` is kept if it joins a running original.
    pub fn on_request(&mut self, now: Instant, key: K, waiter: W) -> Result<DedupVerdict<R>, ActrError> {
        self.expire(now);
        if let Some(e) = self.entries.get_mut(&key) {
            return Ok(match &mut e.state {
                State::Done(r) => DedupVerdict::Replay(r.clone()),
                State::Running { waiters } if waiters.len() < self.config.max_waiters => {
                    waiters.push(waiter);
                    DedupVerdict::Joined
                }
                State::Running { .. } => DedupVerdict::Drop,
            });
        }
        self.make_room()?;
        self.insert(now, key, State::Running { waiters: Vec::new() });
        Ok(DedupVerdict::Run)
    }

    /// Registers an arriving tell: `Run` the first time, `Drop` after.
    pub fn on_tell(&mut self, now: Instant, key: K, done: R) -> Result<DedupVerdict<R>, ActrError> {
        self.expire(now);
        if self.entries.contains_key(&key) {
            return Ok(DedupVerdict::Drop);
        }
        self.make_room()?;
        self.insert(now, key, State::Done(done));
        Ok(DedupVerdict::Run)
    }

    /// Stores the original's result, which weighs `weight` bytes, and
    /// returns the duplicates waiting for it. Older finished results make
    /// room when the stored bytes would pass `max_bytes`.
    pub fn complete(&mut self, now: Instant, key: &K, result: R, weight: usize) -> Vec<W> {
        if self.bytes + weight > self.config.max_bytes {
            if !self.entries.contains_key(key) {
                return Vec::new();
            }
            while self.bytes + weight > self.config.max_bytes && self.evict_finished(Some(key)) {}
        }
        let Some(e) = self.entries.get_mut(key) else { return Vec::new() };
        let state = std::mem::replace(&mut e.state, State::Done(result));
        e.expires = now + self.config.ttl;
        self.bytes = self.bytes - e.weight + weight;
        e.weight = weight;
        match state {
            State::Running { waiters } => waiters,
            State::Done(_) => Vec::new(),
        }
    }

    /// Forgets a request that will not complete (for example, the ACL refused it),
    /// so a later retry runs again.
    pub fn forget(&mut self, key: &K) -> Vec<W> {
        let Some(e) = self.entries.remove(key) else { return Vec::new() };
        self.bytes -= e.weight;
        match e.state {
            State::Running { waiters } => waiters,
            State::Done(_) => Vec::new(),
        }
    }

    /// Bytes of stored results.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn insert(&mut self, now: Instant, key: K, state: State<R, W>) {
        // Forgotten entries leave their place in `order` behind; past twice
        // the capacity those places are dropped, so `order` holds at most
        // one place per entry after it, however many requests are forgotten.
        if self.order.len() >= 2 * self.config.capacity.max(1) {
            let entries = &self.entries;
            self.order.retain(|(_, seq, k)| entries.get(k).is_some_and(|e| e.seq == *seq));
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.push_back((now, seq, key.clone()));
        self.entries.insert(key, Entry { state, expires: now + self.config.ttl, weight: 0, seq });
    }

    fn expire(&mut self, now: Instant) {
        // An entry expires a TTL after it finished, so no earlier than a TTL
        // after it arrived: while the oldest is younger, nothing is due and
        // no lookup is needed.
        while let Some((arrived, seq, key)) = self.order.front() {
            if *arrived + self.config.ttl > now {
                break;
            }
            match self.entries.get(key).filter(|e| e.seq == *seq) {
                Some(e) if e.expires > now || matches!(e.state, State::Running { .. }) => break,
                Some(_) => {
                    let key = key.clone();
                    if let Some(e) = self.entries.remove(&key) {
                        self.bytes -= e.weight;
                    }
                    self.order.pop_front();
                }
                None => {
                    self.order.pop_front();
                }
            }
        }
    }

    fn make_room(&mut self) -> Result<(), ActrError> {
        if self.entries.len() < self.config.capacity || self.evict_finished(None) {
            return Ok(());
        }
        Err(ActrError::ResourceExhausted(format!("{} requests in flight", self.config.capacity)))
    }

    /// Drops the oldest finished entry (other than `keep`); false if none.
    fn evict_finished(&mut self, keep: Option<&K>) -> bool {
        let finished = |seq: u64, k: &K| {
            Some(k) != keep && self.entries.get(k).is_some_and(|e| e.seq == seq && matches!(e.state, State::Done(_)))
        };
        let victim = self.order.iter().position(|(_, seq, k)| finished(*seq, k));
        let Some((_, _, key)) = victim.and_then(|i| self.order.remove(i)) else { return false };
        if let Some(e) = self.entries.remove(&key) {
            self.bytes -= e.weight;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Cache = DedupCache<u64, &'static str, u32>;

    #[test]
    fn duplicate_while_running_joins_then_gets_the_result() {
        let mut c = Cache::new(DedupConfig::default());
        assert_eq!(c.on_request(Instant::ZERO, 1, 10).unwrap(), DedupVerdict::Run);
        assert_eq!(c.on_request(Instant::ZERO, 1, 11).unwrap(), DedupVerdict::Joined);
        assert_eq!(c.complete(Instant::ZERO, &1, "ok", 2), vec![11]);
        assert_eq!(c.on_request(Instant::ZERO, 1, 12).unwrap(), DedupVerdict::Replay("ok"));
    }

    #[test]
    fn duplicate_tell_is_dropped() {
        let mut c = Cache::new(DedupConfig::default());
        assert_eq!(c.on_tell(Instant::ZERO, 5, "").unwrap(), DedupVerdict::Run);
        assert_eq!(c.on_tell(Instant::ZERO, 5, "").unwrap(), DedupVerdict::Drop);
    }

    #[test]
    fn entries_expire_after_ttl() {
        let cfg = DedupConfig { ttl: Duration::from_secs(30), ..Default::default() };
        let mut c = Cache::new(cfg);
        c.on_request(Instant::ZERO, 1, 0).unwrap();
        c.complete(Instant::ZERO, &1, "ok", 2);
        let later = Instant::ZERO + Duration::from_secs(31);
        assert_eq!(c.on_request(later, 1, 0).unwrap(), DedupVerdict::Run, "expired: runs again");
    }

    #[test]
    fn bounded_table_evicts_finished_then_refuses() {
        let cfg = DedupConfig { capacity: 2, ..Default::default() };
        let mut c = Cache::new(cfg);
        c.on_request(Instant::ZERO, 1, 0).unwrap();
        c.complete(Instant::ZERO, &1, "a", 1);
        c.on_request(Instant::ZERO, 2, 0).unwrap();
        assert_eq!(c.on_request(Instant::ZERO, 3, 0).unwrap(), DedupVerdict::Run, "evicts finished 1");
        assert_eq!(c.len(), 2);
        assert!(matches!(c.on_request(Instant::ZERO, 4, 0), Err(ActrError::ResourceExhausted(_))));
    }

    #[test]
    fn waiters_are_bounded_and_forget_releases() {
        let cfg = DedupConfig { max_waiters: 1, ..Default::default() };
        let mut c = Cache::new(cfg);
        c.on_request(Instant::ZERO, 1, 0).unwrap();
        assert_eq!(c.on_request(Instant::ZERO, 1, 1).unwrap(), DedupVerdict::Joined);
        assert_eq!(c.on_request(Instant::ZERO, 1, 2).unwrap(), DedupVerdict::Drop);
        assert_eq!(c.forget(&1), vec![1]);
        assert_eq!(c.on_request(Instant::ZERO, 1, 3).unwrap(), DedupVerdict::Run);
    }

    #[test]
    fn forgotten_requests_do_not_grow_the_order_queue() {
        let config = DedupConfig { capacity: 8, ..DedupConfig::default() };
        let mut cache = Cache::new(config);
        let t = Instant::ZERO;
        // A long-running request at the front, then many refused (forgotten) ones.
        assert_eq!(cache.on_request(t, 0, 0).unwrap(), DedupVerdict::Run);
        for key in 1..10_000 {
            assert_eq!(cache.on_request(t, key, 0).unwrap(), DedupVerdict::Run);
            cache.forget(&key);
        }
        assert!(cache.order.len() <= 2 * 8, "{} places kept", cache.order.len());
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.on_request(t, 0, 1).unwrap(), DedupVerdict::Joined, "the running one is still known");
        // The same request refused and retried over and over leaves one place.
        for _ in 0..10_000 {
            assert_eq!(cache.on_request(t, 1, 0).unwrap(), DedupVerdict::Run);
            cache.forget(&1);
        }
        assert!(cache.order.len() <= 2 * 8, "{} places kept for one retried key", cache.order.len());
    }

    #[test]
    fn stored_results_are_bounded_in_bytes() {
        let cfg = DedupConfig { max_bytes: 10, ..Default::default() };
        let mut c = Cache::new(cfg);
        for key in 1..=3 {
            c.on_request(Instant::ZERO, key, 0).unwrap();
            c.complete(Instant::ZERO, &key, "r", 4);
        }
        assert!(c.bytes() <= 10, "{} bytes stored", c.bytes());
        assert_eq!(c.on_request(Instant::ZERO, 1, 0).unwrap(), DedupVerdict::Run, "the oldest made room");
        assert_eq!(c.on_request(Instant::ZERO, 3, 0).unwrap(), DedupVerdict::Replay("r"), "the newest is kept");
    }
}
