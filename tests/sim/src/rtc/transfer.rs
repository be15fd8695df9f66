//! A bulk transfer over the Rpc lane: node `from` calls [`SINK`] on node
//! `to` with numbered chunks, at most `window` calls in flight.
//!
//! Chunk contents are generated from the run seed; the sender hashes them
//! in order as it first makes them, the receiver's sink hashes what it takes
//! in index order. A chunk whose call fails is sent again (the sink takes
//! each index once). Along the way the world samples the queues the data
//! passes through, so the report can show they stayed bounded.
//!
//! The world feeds the transfer after every input of its sender or
//! receiver ([`Sim::start_transfer`] starts it).

use std::collections::{BTreeMap, VecDeque};

use actr_core::rng::SeededRng;
use actr_core::transport::LaneKind;
use actr_core::{ActrError, Duration, Instant};
use sha2::{Digest, Sha256};

use super::handler::{SINK, chunk_payload};
use super::ledger::{CallKey, CallLedger};
use super::node::CallSpec;
use super::world::RtcSlot;
use crate::sweep::derive_seed;
use crate::world::Sim;

/// What to transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferSpec {
    pub from: usize,
    pub to: usize,
    pub total_bytes: u64,
    pub chunk_bytes: usize,
    /// Most chunk calls in flight.
    pub window: usize,
    pub timeout: Duration,
    /// Sends of one chunk before the transfer gives up.
    pub max_attempts: u32,
}

/// How a transfer went; `queues` holds the highest sampled bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransferReport {
    pub complete: bool,
    pub failed: Option<String>,
    pub chunks: u64,
    pub chunks_acked: u64,
    /// Chunks sent again after their call failed.
    pub resent: u64,
    pub sender_digest: [u8; 32],
    pub started_at: Instant,
    pub finished_at: Option<Instant>,
    pub queues: QueueHighWater,
}

/// Highest sampled occupancy of each bounded queue on the path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueHighWater {
    /// Sender's Rpc lane outbound queue.
    pub lane_queue: usize,
    /// Receiver's Rpc lane reassembly buffer.
    pub reassembly: usize,
    /// Receiver's events not yet polled.
    pub pending_events: usize,
    /// Calls in flight.
    pub in_flight: usize,
}

/// A transfer in progress.
#[derive(Debug)]
pub struct Transfer {
    pub spec: TransferSpec,
    seed: u64,
    next: u64,
    in_flight: BTreeMap<CallKey, (u64, u32)>,
    resend: VecDeque<(u64, u32)>,
    sender_hash: Sha256,
    /// A pump is issuing chunks: inputs its calls cause must not start another.
    pumping: bool,
    pub report: TransferReport,
}

impl Transfer {
    pub fn new(spec: TransferSpec, seed: u64, now: Instant) -> Self {
        let chunks = spec.total_bytes.div_ceil(spec.chunk_bytes as u64);
        let report = TransferReport { chunks, started_at: now, ..Default::default() };
        Self {
            spec,
            seed,
            next: 0,
            in_flight: BTreeMap::new(),
            resend: VecDeque::new(),
            sender_hash: Sha256::new(),
            pumping: false,
            report,
        }
    }

    pub fn is_done(&self) -> bool {
        self.report.complete || self.report.failed.is_some()
    }

    /// Takes the outcomes of finished chunk calls from the sender's ledger.
    pub fn collect(&mut self, ledger: &CallLedger, now: Instant) {
        let finished: Vec<(CallKey, bool)> = self
            .in_flight
            .keys()
            .filter_map(|k| ledger.get(*k).and_then(|e| e.outcome.as_ref()).map(|(_, r)| (*k, r.is_ok())))
            .collect();
        for (key, ok) in finished {
            let Some((index, attempts)) = self.in_flight.remove(&key) else { continue };
            if ok {
                self.report.chunks_acked += 1;
            } else if attempts >= self.spec.max_attempts {
                self.report.failed = Some(format!("chunk {index} failed {attempts} times"));
            } else {
                self.report.resent += 1;
                self.resend.push_back((index, attempts));
            }
        }
        if self.report.chunks_acked == self.report.chunks && !self.report.complete {
            self.report.complete = true;
            self.report.finished_at = Some(now);
            self.report.sender_digest = self.sender_hash.clone().finalize().into();
        }
    }

    /// The next chunk to send, if the window has room: `(index, attempt, payload)`.
    pub fn next_chunk(&mut self) -> Option<(u64, u32, Vec<u8>)> {
        if self.is_done() || self.in_flight.len() >= self.spec.window {
            return None;
        }
        if let Some((index, attempts)) = self.resend.pop_front() {
            return Some((index, attempts + 1, chunk_payload(index, &self.data(index))));
        }
        if self.next >= self.report.chunks {
            return None;
        }
        let index = self.next;
        self.next += 1;
        let data = self.data(index);
        self.sender_hash.update(&data);
        Some((index, 1, chunk_payload(index, &data)))
    }

    /// Records the call carrying chunk `index`.
    pub fn sent(&mut self, key: CallKey, index: u64, attempt: u32) {
        self.in_flight.insert(key, (index, attempt));
        let q = &mut self.report.queues;
        q.in_flight = q.in_flight.max(self.in_flight.len());
    }

    /// A chunk that could not even be called (the endpoint refused it).
    pub fn refused(&mut self, index: u64, attempt: u32, why: String) {
        if attempt >= self.spec.max_attempts {
            self.report.failed = Some(format!("chunk {index}: {why}"));
        } else {
            self.resend.push_back((index, attempt));
        }
    }

    fn data(&self, index: u64) -> Vec<u8> {
        let start = index * self.spec.chunk_bytes as u64;
        let len = (self.spec.total_bytes - start).min(self.spec.chunk_bytes as u64) as usize;
        let mut data = vec![0; len];
        SeededRng::new(derive_seed(self.seed, "transfer-chunk", index, 0)).fill(&mut data);
        data
    }
}

impl Sim {
    /// Starts a bulk transfer (one at a time).
    pub fn start_transfer(&mut self, spec: TransferSpec) {
        let (seed, now) = (self.config.seed, self.now);
        self.rtc_mut().transfer = Some(Transfer::new(spec, derive_seed(seed, "transfer", 0, 0), now));
        self.after_rtc(spec.from);
    }

    /// Issues chunk calls while the transfer's window has room, and samples
    /// the queues on its path.
    pub(crate) fn pump_transfer(&mut self, i: usize) {
        let now = self.now;
        let Some(rtc) = self.rtc.as_mut() else { return };
        let Some(t) = rtc.transfer.as_mut() else { return };
        let (from, to) = (t.spec.from, t.spec.to);
        if i != from && i != to {
            return;
        }
        sample_queues(t, &rtc.slots);
        t.collect(&rtc.slots[from].log.calls, now);
        if i != from {
            return;
        }
        if t.pumping {
            return;
        }
        t.pumping = true;
        let timeout = t.spec.timeout;
        let budget = t.spec.window;
        for _ in 0..budget {
            let Some(t) = self.rtc_mut().transfer.as_mut() else { return };
            let Some((index, attempt, payload)) = t.next_chunk() else { break };
            let issued = self.issue_chunk(from, to, payload, timeout);
            let Some(t) = self.rtc_mut().transfer.as_mut() else { return };
            match issued {
                Ok(key) => t.sent(key, index, attempt),
                Err(e) => {
                    t.refused(index, attempt, e.to_string());
                    break;
                }
            }
        }
        if let Some(t) = self.rtc_mut().transfer.as_mut() {
            t.pumping = false;
        }
    }

    /// One chunk call; returns its ledger key.
    fn issue_chunk(
        &mut self,
        from: usize,
        to: usize,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Result<(u32, u64), ActrError> {
        let dest = self.node(to).actor().cloned().ok_or_else(|| ActrError::NotFound(format!("node {to}")))?;
        let spec = CallSpec { dest_node: to, dest, route: SINK, payload, expect: Vec::new(), timeout };
        self.hub_call(from, spec)
    }
}

fn sample_queues(t: &mut Transfer, slots: &[RtcSlot]) {
    let (from, to) = (t.spec.from, t.spec.to);
    let q = &mut t.report.queues;
    let lane = LaneKind::Rpc;
    if let Some(n) = slots[from].node.as_ref() {
        for s in n.sessions() {
            q.lane_queue = q.lane_queue.max(s.peer().queued_bytes(lane));
        }
    }
    if let Some(n) = slots[to].node.as_ref() {
        for s in n.sessions() {
            q.reassembly = q.reassembly.max(s.peer().reassembly_bytes(lane));
            q.pending_events = q.pending_events.max(s.peer().pending_event_bytes());
        }
    }
}
