//! In-order delivery of data streams whose chunks may arrive out of order,
//! twice, or not at all.
//!
//! One [`StreamReceiver`] serves one sending peer (stream ids are the
//! sender's). Each stream keeps a bounded reorder window: the chunk the
//! stream waits for is delivered at once with every held chunk that follows
//! it; later chunks are held until the gap before them closes or its deadline
//! passes. What happens then depends on the stream's [`DeliveryPolicy`]:
//! a latency-first stream skips the missing chunks ([`StreamEvent::Gap`]) and
//! goes on; a reliable stream fails ([`StreamEvent::Failed`]).
//!
//! # Drive loop
//!
//! 1. Decode each chunk message with [`DataChunk::decode`] and hand it to
//!    [`StreamReceiver::handle_chunk`] with the policy of the lane it came on
//!    ([`DeliveryPolicy::for_lane`]).
//! 2. Drain [`StreamReceiver::poll_event`] until it returns `None`.
//! 3. At [`StreamReceiver::poll_timeout`], call [`StreamReceiver::handle_timeout`]
//!    and drain again.
//!
//! # Guarantees
//!
//! - Per stream, delivered sequence numbers strictly increase: nothing is
//!   delivered twice and nothing after a later chunk.
//! - A stream's first chunk fixes its policy and numbering starts at 0.
//! - The end chunk is delivered once, after every earlier chunk was
//!   delivered or skipped; then the stream closes and its id is remembered
//!   (up to [`StreamConfig::max_closed`] ids), so late copies are dropped as
//!   duplicates instead of opening it again.
//! - A gap is given up once the earliest chunk held behind it has waited the
//!   policy's gap timeout; a stream with no arrivals for
//!   [`StreamConfig::idle_timeout`] fails, so a vanished sender is reported.
//! - A reliable stream fails as soon as the receiver has to drop one of its
//!   chunks (beyond the window, buffer full, oversized, events not drained):
//!   it could never complete.
//!
//! # Bounds
//!
//! Open streams ([`StreamConfig::max_streams`]), chunks held per stream
//! ([`StreamConfig::window`]), bytes held across streams
//! ([`StreamConfig::max_buffered_bytes`]), chunk size, remembered closed ids,
//! and undrained events ([`StreamConfig::max_events`]): each overflow is a
//! typed [`StreamError`] to the caller and a count in [`StreamStats`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::Range;

use crate::time::{Duration, Instant};
use crate::transport::chunk::{DataChunk, DeliveryPolicy, MAX_CHUNK_PAYLOAD, StreamError};

mod window;

use window::{Output, StreamState, check_against_stream};

/// Limits and deadlines of a [`StreamReceiver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamConfig {
    /// Sequence numbers accepted ahead of the next expected one, that included.
    pub window: u64,
    pub max_streams: usize,
    /// Bytes held out of order across all streams.
    pub max_buffered_bytes: usize,
    pub max_chunk_payload: usize,
    /// Events allowed to wait for [`StreamReceiver::poll_event`] before new
    /// chunks are refused with [`StreamError::EventsNotDrained`].
    pub max_events: usize,
    /// Closed stream ids remembered so late copies are recognised.
    pub max_closed: usize,
    /// How long a latency-first stream waits for a missing chunk.
    pub latency_gap_timeout: Duration,
    /// How long a reliable stream waits for a missing chunk before failing.
    pub reliable_gap_timeout: Duration,
    /// A stream with no arrivals for this long fails.
    pub idle_timeout: Duration,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            window: 256,
            max_streams: 256,
            max_buffered_bytes: 32 << 20,
            max_chunk_payload: MAX_CHUNK_PAYLOAD,
            max_events: 4096,
            max_closed: 1024,
            latency_gap_timeout: Duration::from_millis(500),
            reliable_gap_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

impl StreamConfig {
    /// Checks the limits against each other.
    pub fn validate(&self) -> Result<(), StreamError> {
        let bad = |what| Err(StreamError::InvalidConfig(what));
        if self.window == 0 || self.max_streams == 0 || self.max_events == 0 {
            return bad("window, max_streams and max_events must be above zero");
        }
        if self.max_chunk_payload > MAX_CHUNK_PAYLOAD {
            return bad("max_chunk_payload exceeds MAX_CHUNK_PAYLOAD");
        }
        let longest_gap = self.latency_gap_timeout.max(self.reliable_gap_timeout);
        if self.latency_gap_timeout == Duration::ZERO || self.idle_timeout <= longest_gap {
            return bad("gap timeouts must be above zero and below idle_timeout");
        }
        Ok(())
    }

    fn gap_timeout(&self, policy: DeliveryPolicy) -> Duration {
        match policy {
            DeliveryPolicy::Reliable => self.reliable_gap_timeout,
            DeliveryPolicy::LatencyFirst => self.latency_gap_timeout,
        }
    }
}

/// What the application learns, per stream in order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamEvent {
    /// The next chunk of its stream; `end` set means the stream is complete.
    Chunk(DataChunk),
    /// A latency-first stream gave up these sequence numbers and goes on.
    Gap { stream_id: u64, missing: Range<u64> },
    /// The stream is closed without its end; delivery of the rest is uncertain.
    Failed { stream_id: u64, error: StreamError },
}

/// What became of an accepted chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// It was next: it and any held chunks after it wait in `poll_event`.
    Delivered,
    /// It is ahead of a gap and held in the reorder window.
    Buffered,
    /// Already delivered, skipped or held, or its stream is closed: dropped.
    Duplicate,
}

/// The two timers of a stream, for diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamTimer {
    Gap,
    Idle,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Chunks delivered in order.
    pub delivered: u64,
    pub duplicates: u64,
    /// Sequence numbers given up by latency-first streams.
    pub skipped: u64,
    /// Chunks refused with an error, and held chunks discarded as invalid.
    pub rejected: u64,
    pub ended: u64,
    pub failed: u64,
}

/// Puts the chunks of one peer's streams back in order, within fixed bounds.
#[derive(Debug)]
pub struct StreamReceiver {
    config: StreamConfig,
    streams: BTreeMap<u64, StreamState>,
    closed: BTreeSet<u64>,
    closed_order: VecDeque<u64>,
    out: Output,
}

impl StreamReceiver {
    pub fn new(config: StreamConfig) -> Result<Self, StreamError> {
        config.validate()?;
        Ok(Self {
            config,
            streams: BTreeMap::new(),
            closed: BTreeSet::new(),
            closed_order: VecDeque::new(),
            out: Output::default(),
        })
    }

    pub fn config(&self) -> &StreamConfig {
        &self.config
    }

    pub fn stats(&self) -> StreamStats {
        self.out.stats
    }

    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// Payload bytes held out of order, across streams.
    pub fn buffered_bytes(&self) -> usize {
        self.out.buffered
    }

    pub fn pending_events(&self) -> usize {
        self.out.events.len()
    }

    /// The sequence number an open stream waits for.
    pub fn next_sequence(&self, stream_id: u64) -> Option<u64> {
        self.streams.get(&stream_id).map(|s| s.next)
    }

    /// Takes one chunk that arrived on a lane of `policy`; drain
    /// [`StreamReceiver::poll_event`] afterwards.
    ///
    /// An error means the chunk was dropped (and counted); for a reliable
    /// stream a dropped chunk also fails the stream (see the module docs).
    pub fn handle_chunk(
        &mut self,
        now: Instant,
        policy: DeliveryPolicy,
        chunk: DataChunk,
    ) -> Result<Arrival, StreamError> {
        let stream_id = chunk.stream_id;
        let result = self.accept(now, policy, chunk);
        match &result {
            Ok(Arrival::Duplicate) => self.out.stats.duplicates += 1,
            Ok(_) => {}
            Err(e) => {
                self.out.stats.rejected += 1;
                let reliable = self.streams.get(&stream_id).is_some_and(|s| s.policy == DeliveryPolicy::Reliable);
                if reliable && dooms_reliable(e) {
                    self.fail(stream_id, e.clone());
                }
            }
        }
        result
    }

    fn accept(&mut self, now: Instant, policy: DeliveryPolicy, chunk: DataChunk) -> Result<Arrival, StreamError> {
        let stream_id = chunk.stream_id;
        if self.out.events.len() >= self.config.max_events {
            return Err(StreamError::EventsNotDrained { pending: self.out.events.len() });
        }
        if self.closed.contains(&stream_id) {
            return Ok(Arrival::Duplicate);
        }
        self.check_chunk(&chunk)?;
        let state = open_stream(&mut self.streams, &self.config, now, stream_id, policy)?;
        state.last_arrival = now;
        if state.has_seen(chunk.sequence) {
            return Ok(Arrival::Duplicate);
        }
        check_against_stream(state, &chunk, &self.config, self.out.buffered)?;
        let arrival = state.take(now, chunk, &self.config, &mut self.out);
        if state.finished {
            self.finish(stream_id);
        }
        Ok(arrival)
    }

    fn check_chunk(&self, chunk: &DataChunk) -> Result<(), StreamError> {
        let len = chunk.payload.len();
        if len > self.config.max_chunk_payload {
            return Err(StreamError::ChunkTooLarge { len, max: self.config.max_chunk_payload });
        }
        if chunk.sequence == u64::MAX && !chunk.end {
            return Err(StreamError::SequenceExhausted { stream_id: chunk.stream_id });
        }
        Ok(())
    }

    /// The next event for the application, in order per stream.
    pub fn poll_event(&mut self) -> Option<StreamEvent> {
        self.out.events.pop_front()
    }

    /// The earliest deadline of any stream: a gap to give up or an idle stream.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_timer().map(|(_, _, at)| at)
    }

    /// Which stream and timer [`StreamReceiver::poll_timeout`] refers to.
    pub fn next_timer(&self) -> Option<(u64, StreamTimer, Instant)> {
        let timers = self.streams.values().map(|s| {
            let (kind, at) = s.next_timer(&self.config);
            (s.id, kind, at)
        });
        timers.min_by_key(|&(_, _, at)| at)
    }

    /// Gives up gaps and idle streams whose deadline is at or before `now`;
    /// drain [`StreamReceiver::poll_event`] afterwards.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<u64> =
            self.streams.values().filter(|s| s.next_timer(&self.config).1 <= now).map(|s| s.id).collect();
        for stream_id in due {
            self.expire(now, stream_id);
        }
    }

    fn expire(&mut self, now: Instant, stream_id: u64) {
        let Some(state) = self.streams.get_mut(&stream_id) else { return };
        while state.gap_deadline(&self.config).is_some_and(|at| at <= now) {
            if state.policy == DeliveryPolicy::Reliable {
                let missing = state.next;
                return self.fail(stream_id, StreamError::GapTimeout { stream_id, missing });
            }
            let first_held = state.first_held().unwrap_or(state.next);
            state.advance_to(first_held, &mut self.out);
        }
        if state.finished {
            return self.finish(stream_id);
        }
        if state.last_arrival + self.config.idle_timeout <= now {
            self.fail(stream_id, StreamError::IdleTimeout { stream_id });
        }
    }

    /// Abandons a stream without an event: held chunks are dropped and late
    /// chunks of it count as duplicates. Returns false if it was not open.
    pub fn close_stream(&mut self, stream_id: u64) -> bool {
        let open = self.remove(stream_id);
        if open {
            self.remember_closed(stream_id);
        }
        open
    }

    fn finish(&mut self, stream_id: u64) {
        self.remove(stream_id);
        self.remember_closed(stream_id);
        self.out.stats.ended += 1;
    }

    fn fail(&mut self, stream_id: u64, error: StreamError) {
        if self.remove(stream_id) {
            self.remember_closed(stream_id);
            self.out.stats.failed += 1;
            self.out.events.push_back(StreamEvent::Failed { stream_id, error });
        }
    }

    fn remove(&mut self, stream_id: u64) -> bool {
        let Some(state) = self.streams.remove(&stream_id) else { return false };
        self.out.buffered -= state.held_bytes;
        true
    }

    fn remember_closed(&mut self, stream_id: u64) {
        if self.config.max_closed == 0 || !self.closed.insert(stream_id) {
            return;
        }
        self.closed_order.push_back(stream_id);
        if self.closed_order.len() > self.config.max_closed
            && let Some(oldest) = self.closed_order.pop_front()
        {
            self.closed.remove(&oldest);
        }
    }
}

/// The stream's state, opened on its first chunk.
fn open_stream<'a>(
    streams: &'a mut BTreeMap<u64, StreamState>,
    config: &StreamConfig,
    now: Instant,
    stream_id: u64,
    policy: DeliveryPolicy,
) -> Result<&'a mut StreamState, StreamError> {
    if !streams.contains_key(&stream_id) && streams.len() >= config.max_streams {
        return Err(StreamError::TooManyStreams { max: config.max_streams });
    }
    let state = streams.entry(stream_id).or_insert_with(|| StreamState::new(stream_id, policy, now));
    if state.policy != policy {
        return Err(StreamError::PolicyMismatch { stream_id });
    }
    Ok(state)
}

/// Errors that drop a chunk a reliable stream cannot do without.
fn dooms_reliable(error: &StreamError) -> bool {
    matches!(
        error,
        StreamError::BeyondWindow { .. }
            | StreamError::BufferFull { .. }
            | StreamError::ChunkTooLarge { .. }
            | StreamError::EventsNotDrained { .. }
    )
}

#[cfg(test)]
mod tests;
