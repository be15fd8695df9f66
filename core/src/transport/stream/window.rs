//! One stream's reorder window: what it waits for, what it holds, and how
//! it delivers, skips and checks chunks. The receiver owns the table of
//! windows and the shared output.

use std::collections::{BTreeMap, VecDeque};

use super::{Arrival, StreamConfig, StreamEvent, StreamStats, StreamTimer};
use crate::time::Instant;
use crate::transport::chunk::{DataChunk, DeliveryPolicy, StreamError};

/// Events, counters and the global byte count, apart from the stream table
/// so a stream can write to them while it is borrowed.
#[derive(Debug, Default)]
pub(super) struct Output {
    pub(super) events: VecDeque<StreamEvent>,
    pub(super) stats: StreamStats,
    pub(super) buffered: usize,
}

#[derive(Debug)]
struct Held {
    chunk: DataChunk,
    arrived: Instant,
}

#[derive(Debug)]
pub(super) struct StreamState {
    pub(super) id: u64,
    pub(super) policy: DeliveryPolicy,
    /// The sequence number waited for.
    pub(super) next: u64,
    held: BTreeMap<u64, Held>,
    pub(super) held_bytes: usize,
    /// Earliest arrival among held chunks: when the current gap was seen.
    gap_since: Option<Instant>,
    end: Option<u64>,
    pub(super) finished: bool,
    pub(super) last_arrival: Instant,
}

impl StreamState {
    pub(super) fn new(id: u64, policy: DeliveryPolicy, now: Instant) -> Self {
        Self {
            id,
            policy,
            next: 0,
            held: BTreeMap::new(),
            held_bytes: 0,
            gap_since: None,
            end: None,
            finished: false,
            last_arrival: now,
        }
    }

    /// Already delivered, skipped or held.
    pub(super) fn has_seen(&self, sequence: u64) -> bool {
        sequence < self.next || self.held.contains_key(&sequence)
    }

    /// The lowest held sequence number: where the current gap ends.
    pub(super) fn first_held(&self) -> Option<u64> {
        self.held.first_key_value().map(|(&s, _)| s)
    }

    pub(super) fn gap_deadline(&self, config: &StreamConfig) -> Option<Instant> {
        self.gap_since.map(|t| t + config.gap_timeout(self.policy))
    }

    pub(super) fn next_timer(&self, config: &StreamConfig) -> (StreamTimer, Instant) {
        let idle = (StreamTimer::Idle, self.last_arrival + config.idle_timeout);
        match self.gap_deadline(config) {
            Some(at) if at < idle.1 => (StreamTimer::Gap, at),
            _ => idle,
        }
    }

    /// Places an accepted, non-duplicate chunk.
    pub(super) fn take(&mut self, now: Instant, chunk: DataChunk, config: &StreamConfig, out: &mut Output) -> Arrival {
        let window_end = self.next.saturating_add(config.window);
        if chunk.sequence >= window_end {
            // Only latency-first streams get here: slide so the chunk is the window's last.
            self.advance_to(chunk.sequence - (config.window - 1), out);
        }
        if chunk.end {
            self.end = Some(chunk.sequence);
            self.discard_after_end(out);
        }
        if chunk.sequence == self.next {
            self.deliver(chunk, out);
            self.drain(out);
            return Arrival::Delivered;
        }
        let len = chunk.payload.len();
        self.held.insert(chunk.sequence, Held { chunk, arrived: now });
        self.held_bytes += len;
        out.buffered += len;
        self.gap_since = Some(self.gap_since.map_or(now, |t| t.min(now)));
        Arrival::Buffered
    }

    fn deliver(&mut self, chunk: DataChunk, out: &mut Output) {
        // A non-end chunk numbered u64::MAX is refused on arrival, so this only saturates at the end.
        self.next = chunk.sequence.saturating_add(1);
        self.finished |= chunk.end;
        out.stats.delivered += 1;
        out.events.push_back(StreamEvent::Chunk(chunk));
    }

    /// Delivers held chunks while they continue the sequence.
    fn drain(&mut self, out: &mut Output) {
        while !self.finished {
            let Some(held) = self.held.remove(&self.next) else { break };
            self.release(held.chunk.payload.len(), out);
            self.deliver(held.chunk, out);
        }
        self.gap_since = self.held.values().map(|h| h.arrived).min();
    }

    /// Gives up every sequence number below `target`: held chunks among them
    /// are delivered, missing runs reported as gaps.
    pub(super) fn advance_to(&mut self, target: u64, out: &mut Output) {
        while self.next < target && !self.finished {
            let first_held = self.first_held().filter(|&s| s < target);
            let stop = first_held.unwrap_or(target);
            self.skip(stop, out);
            if let Some(held) = first_held.and_then(|s| self.held.remove(&s)) {
                self.release(held.chunk.payload.len(), out);
                self.deliver(held.chunk, out);
            }
        }
        self.drain(out);
    }

    fn skip(&mut self, to: u64, out: &mut Output) {
        if to > self.next {
            out.stats.skipped += to - self.next;
            out.events.push_back(StreamEvent::Gap { stream_id: self.id, missing: self.next..to });
            self.next = to;
        }
    }

    /// Held chunks numbered after a newly learnt end are invalid.
    fn discard_after_end(&mut self, out: &mut Output) {
        let Some(end) = self.end else { return };
        let late: Vec<u64> = self.held.range(end.saturating_add(1)..).map(|(&s, _)| s).collect();
        for s in late {
            if let Some(h) = self.held.remove(&s) {
                self.release(h.chunk.payload.len(), out);
                out.stats.rejected += 1;
            }
        }
        self.gap_since = self.held.values().map(|h| h.arrived).min();
    }

    fn release(&mut self, len: usize, out: &mut Output) {
        self.held_bytes -= len;
        out.buffered -= len;
    }
}

/// Checks a chunk that is neither a duplicate nor for a closed stream.
pub(super) fn check_against_stream(
    state: &StreamState,
    chunk: &DataChunk,
    config: &StreamConfig,
    buffered: usize,
) -> Result<(), StreamError> {
    let (stream_id, sequence) = (chunk.stream_id, chunk.sequence);
    if let Some(end) = state.end
        && (sequence > end || chunk.end)
    {
        // A second end at the same number is a duplicate, caught before.
        return Err(StreamError::AfterEnd { stream_id, sequence, end });
    }
    let window_end = state.next.saturating_add(config.window);
    if sequence >= window_end && state.policy == DeliveryPolicy::Reliable {
        return Err(StreamError::BeyondWindow { stream_id, sequence, next: state.next, window: config.window });
    }
    let in_order = sequence == state.next || (sequence >= window_end && config.window == 1);
    let len = chunk.payload.len();
    if !in_order && buffered + len > config.max_buffered_bytes {
        return Err(StreamError::BufferFull { buffered, max: config.max_buffered_bytes });
    }
    Ok(())
}
