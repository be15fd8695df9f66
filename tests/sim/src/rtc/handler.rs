//! The application behind each node's endpoint: requests take a seeded
//! virtual time to run, then answer.
//!
//! Routes:
//! - [`ECHO`]: answers with the request's payload;
//! - [`SINK`]: a chunk of a bulk transfer, `index (u64 BE) | bytes`; chunks
//!   are taken in index order per caller and hashed (SHA-256), a chunk seen
//!   before is acknowledged without being taken again; answers empty;
//! - anything else: `UnknownRoute`.

use std::collections::BTreeMap;

use actr_core::node::Delivery;
use actr_core::rng::SeededRng;
use actr_core::{ActrError, ActrId, Duration, Instant};
use sha2::{Digest, Sha256};

pub const ECHO: &str = "sim.Echo/Say";
pub const SINK: &str = "sim.Sink/Put";

/// Chunks received from one caller.
#[derive(Debug, Clone, Default)]
pub struct SinkState {
    /// The next index to hash.
    pub next: u64,
    /// Bytes hashed so far.
    pub bytes: u64,
    /// Chunks that arrived a second time (after a retry).
    pub duplicates: u64,
    /// Most chunks ever waiting for an earlier one.
    pub held_high_water: usize,
    held: BTreeMap<u64, Vec<u8>>,
    hasher: Sha256,
}

impl SinkState {
    fn put(&mut self, index: u64, data: &[u8]) {
        if index < self.next || self.held.contains_key(&index) {
            self.duplicates += 1;
            return;
        }
        self.held.insert(index, data.to_vec());
        while let Some(chunk) = self.held.remove(&self.next) {
            self.hasher.update(&chunk);
            self.bytes += chunk.len() as u64;
            self.next += 1;
        }
        self.held_high_water = self.held_high_water.max(self.held.len());
    }

    /// SHA-256 of the bytes taken so far, in index order.
    pub fn digest(&self) -> [u8; 32] {
        self.hasher.clone().finalize().into()
    }
}

/// Requests being handled, and the sinks' state.
#[derive(Debug)]
pub struct Handler {
    rng: SeededRng,
    delay: (Duration, Duration),
    running: BTreeMap<(Instant, u64), Delivery>,
    seq: u64,
    sinks: BTreeMap<ActrId, SinkState>,
}

impl Handler {
    /// Each request runs for a uniform draw in `delay` (inclusive).
    pub fn new(seed: u64, delay: (Duration, Duration)) -> Self {
        Self { rng: SeededRng::new(seed), delay, running: BTreeMap::new(), seq: 0, sinks: BTreeMap::new() }
    }

    /// Starts handling a dispatched request.
    pub fn start(&mut self, now: Instant, inbound: Delivery) {
        let (lo, hi) = self.delay;
        let spread = hi.as_micros().saturating_sub(lo.as_micros());
        let took = lo + Duration::from_micros(self.rng.below(spread + 1));
        self.seq += 1;
        self.running.insert((now + took, self.seq), inbound);
    }

    /// When the next request finishes.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.running.keys().next().map(|(at, _)| *at)
    }

    /// Requests finished by `now`, each with its answer.
    pub fn finish_due(&mut self, now: Instant) -> Vec<(Delivery, Result<Vec<u8>, ActrError>)> {
        let mut done = Vec::new();
        while let Some(entry) = self.running.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let inbound = entry.remove();
            let answer = self.answer(&inbound);
            done.push((inbound, answer));
        }
        done
    }

    pub fn sink(&self, caller: &ActrId) -> Option<&SinkState> {
        self.sinks.get(caller)
    }

    pub fn running(&self) -> usize {
        self.running.len()
    }

    fn answer(&mut self, inbound: &Delivery) -> Result<Vec<u8>, ActrError> {
        let env = inbound;
        match env.route_key.as_str() {
            ECHO => Ok(env.payload.clone()),
            SINK => {
                let (index, data) = split_chunk(&env.payload)?;
                self.sinks.entry(inbound.caller.clone()).or_default().put(index, data);
                Ok(Vec::new())
            }
            other => Err(ActrError::UnknownRoute(other.to_string())),
        }
    }
}

/// A sink chunk's payload.
pub fn chunk_payload(index: u64, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + data.len());
    out.extend_from_slice(&index.to_be_bytes());
    out.extend_from_slice(data);
    out
}

fn split_chunk(payload: &[u8]) -> Result<(u64, &[u8]), ActrError> {
    let (head, data) = payload.split_at_checked(8).ok_or_else(|| ActrError::InvalidArgument("short chunk".into()))?;
    let index = u64::from_be_bytes(head.try_into().map_err(|_| ActrError::InvalidArgument("short chunk".into()))?);
    Ok((index, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_hashes_in_index_order_once() {
        let mut a = SinkState::default();
        a.put(1, b"world");
        a.put(0, b"hello ");
        a.put(1, b"world");
        let mut b = SinkState::default();
        b.put(0, b"hello ");
        b.put(1, b"world");
        assert_eq!(a.digest(), b.digest());
        assert_eq!((a.next, a.bytes, a.duplicates, a.held_high_water), (2, 11, 1, 1));
        assert_eq!(split_chunk(&chunk_payload(7, b"x")).unwrap(), (7, &b"x"[..]));
        assert!(split_chunk(b"short").is_err());
    }
}
