//! Data streams between actors: [`StreamWriter`] on the sending side, the
//! node's [`DataStreamRegistry`] on the receiving side.
//!
//! # On the wire
//!
//! Each chunk is a `DataChunk` (stream id, sequence, payload, end flag)
//! encoded as the payload of a message with the reserved route key
//! `DATA_CHUNK_ROUTE_KEY`, so it takes the same wire as RPC (in-process,
//! WebRTC RPC lane, or WebSocket direct) and never reaches the workload's
//! `handle`.
//!
//! - [`DeliveryPolicy::Reliable`]: each chunk is a call. The receiving node
//!   answers once the chunk is queued for the stream's handler, so a slow
//!   handler slows the writer and a missing handler fails the write with
//!   `NotFound`. Up to [`STREAM_WINDOW`] chunks are in flight at once; the
//!   receiver queues them strictly by sequence ([`ChunkOrder`]): a chunk that
//!   arrives early (another wire, a concurrent handler) waits for its turn,
//!   at most the call deadline, and one beyond the window is refused.
//! - [`DeliveryPolicy::LatencyFirst`]: each chunk goes on WebRTC's stream
//!   lane (unordered, few retransmits) when WebRTC to the peer is up, else as
//!   a tell on the RPC lane; it is not waited for. The receiver drops chunks
//!   older than one it delivered and chunks its queue has no room for.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actr_core::transport::chunk::DATA_CHUNK_ROUTE_KEY;
use actr_core::transport::{DataChunk, DeliveryPolicy, StreamSender};
use actr_core::{ActrError, ActrId, Dest};
use async_channel::{Receiver, Sender};
use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;

use crate::dispatch::streams::DataStreamRegistry;
use crate::node::ops::{NodeOps, Origin, Outgoing};
use crate::runtime::{Sleeper, with_deadline};

/// Largest payload of one chunk: big chunks keep per-call overhead low,
/// while staying far below the envelope limit.
pub const STREAM_CHUNK_BYTES: usize = 256 * 1024;

/// Reliable chunks a writer keeps in flight (calls not yet answered).
pub const STREAM_WINDOW: usize = 8;

/// Streams whose order a node tracks at once; past it, an idle one is
/// forgotten, and with none idle a new stream is refused.
const MAX_ORDERED_STREAMS: usize = 1024;

/// The sending end of one data stream. Dropping it without
/// [`StreamWriter::finish`] leaves the stream open on the receiver until its
/// idle handling closes it.
pub struct StreamWriter {
    node: Arc<dyn NodeOps>,
    origin: Origin,
    dest: ActrId,
    policy: DeliveryPolicy,
    sender: StreamSender,
    timeout: Duration,
    /// Reliable chunks sent and not yet acknowledged, at most [`STREAM_WINDOW`].
    in_flight: FuturesUnordered<BoxFuture<'static, Result<(), ActrError>>>,
}

impl std::fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamWriter")
            .field("dest", &self.dest)
            .field("stream_id", &self.sender.stream_id())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl StreamWriter {
    pub(crate) fn new(node: Arc<dyn NodeOps>, origin: Origin, dest: ActrId, policy: DeliveryPolicy) -> Self {
        let stream_id = getrandom::u64().unwrap_or_else(|_| next_fallback_id());
        let timeout = node.default_timeout();
        let sender = StreamSender::with_max_payload(stream_id, STREAM_CHUNK_BYTES);
        Self { node, origin, dest, policy, sender, timeout, in_flight: FuturesUnordered::new() }
    }

    /// The id the receiver registers its handler under.
    pub fn stream_id(&self) -> u64 {
        self.sender.stream_id()
    }

    pub fn policy(&self) -> DeliveryPolicy {
        self.policy
    }

    /// Sends `data`, split into chunks of at most [`STREAM_CHUNK_BYTES`].
    /// Reliable: returns once every chunk is sent and at most
    /// [`STREAM_WINDOW`] of this stream's chunks wait for the receiver's
    /// acknowledgement (the window carries over from one `send` to the
    /// next); [`StreamWriter::flush`] and [`StreamWriter::finish`] wait for
    /// all of them. An error of an earlier chunk is returned by the next
    /// `send`, `flush` or `finish`.
    ///
    /// Errors: `InvalidArgument` after `finish`, `NotFound` when the receiver
    /// has no handler for the stream, and the wire's errors.
    pub async fn send(&mut self, data: &[u8]) -> Result<(), ActrError> {
        let window = match self.policy {
            DeliveryPolicy::Reliable => STREAM_WINDOW,
            DeliveryPolicy::LatencyFirst => 1,
        };
        for piece in data.chunks(STREAM_CHUNK_BYTES) {
            let chunk =
                self.sender.chunk(piece.to_vec()).map_err(|r| ActrError::InvalidArgument(r.reason.to_string()))?;
            self.in_flight.push(self.deliver(chunk));
            // Poll once now, so the chunk goes out at once, not at the next wait.
            self.take_ready()?;
            while self.in_flight.len() >= window
                && let Some(result) = self.in_flight.next().await
            {
                result?;
            }
        }
        Ok(())
    }

    /// Polls the chunks in flight once (a new one is sent by its first
    /// poll) and takes the results that are ready.
    fn take_ready(&mut self) -> Result<(), ActrError> {
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        loop {
            match self.in_flight.poll_next_unpin(&mut cx) {
                std::task::Poll::Ready(Some(Err(e))) => return Err(e),
                std::task::Poll::Ready(Some(Ok(()))) => {}
                std::task::Poll::Ready(None) | std::task::Poll::Pending => return Ok(()),
            }
        }
    }

    /// Waits until every chunk sent so far is acknowledged (reliable: queued
    /// at the receiver).
    pub async fn flush(&mut self) -> Result<(), ActrError> {
        while let Some(result) = self.in_flight.next().await {
            result?;
        }
        Ok(())
    }

    /// Ends the stream with a last (possibly empty) chunk.
    pub async fn finish(mut self, last: &[u8]) -> Result<(), ActrError> {
        if last.len() > STREAM_CHUNK_BYTES {
            let (head, tail) = last.split_at(last.len() - STREAM_CHUNK_BYTES);
            self.send(head).await?;
            return self.finish_with(tail).await;
        }
        self.finish_with(last).await
    }

    async fn finish_with(mut self, last: &[u8]) -> Result<(), ActrError> {
        let chunk = self.sender.finish(last.to_vec()).map_err(|r| ActrError::InvalidArgument(r.reason.to_string()))?;
        self.in_flight.push(self.deliver(chunk));
        self.flush().await
    }

    /// Sends one chunk; the future owns what it needs, so several can be in flight.
    fn deliver(&self, chunk: DataChunk) -> BoxFuture<'static, Result<(), ActrError>> {
        let (node, dest, policy) = (self.node.clone(), self.dest.clone(), self.policy);
        let bytes = match chunk.encode() {
            Ok(bytes) => bytes,
            Err(e) => return Box::pin(async move { Err(ActrError::InvalidArgument(format!("chunk: {e}"))) }),
        };
        let out = Outgoing {
            origin: self.origin,
            dest: Dest::Peer(dest.clone()),
            route_key: DATA_CHUNK_ROUTE_KEY.to_owned(),
            payload: Bytes::from(bytes),
            timeout: self.timeout,
            parent: None,
        };
        Box::pin(async move {
            match policy {
                DeliveryPolicy::Reliable => node.call(out).await.map(drop),
                DeliveryPolicy::LatencyFirst => match node.clone().stream_chunk(dest, out.payload.to_vec()).await {
                    Err(ActrError::ConnectionNotReady { .. }) => node.tell(out).await,
                    sent => sent,
                },
            }
        })
    }
}

/// Stream ids come from the OS RNG; this keeps them distinct if it fails.
fn next_fallback_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1 << 63);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Receiving side: hands a chunk message to the stream's handler. Reliable
/// chunks (`ordered`) go in sequence order and wait for room in the
/// stream's queue (backpressure to the writer); a latency-first chunk that
/// came as a tell goes as it is.
pub(crate) async fn receive_chunk(
    registry: &DataStreamRegistry,
    ordered: Option<(&ChunkOrder, &dyn Sleeper, Duration)>,
    payload: &[u8],
    sender: ActrId,
) -> Result<Bytes, ActrError> {
    let chunk = DataChunk::decode(payload).map_err(|e| ActrError::DecodeFailure(format!("data chunk: {e}")))?;
    let Some((order, timer, limit)) = ordered else {
        registry.dispatch(chunk, sender).await?;
        return Ok(Bytes::new());
    };
    let key = (sender.clone(), chunk.stream_id);
    let (sequence, end) = (chunk.sequence, chunk.end);
    match order.claim(&key, sequence)? {
        Claim::Now => {}
        Claim::Duplicate => return Ok(Bytes::new()),
        Claim::Wait(turn) => match with_deadline(timer, limit, turn.recv()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                return Err(ActrError::Unavailable(format!(
                    "stream {}: an earlier chunk failed before chunk {sequence}",
                    key.1
                )));
            }
            Err(_) => {
                order.fail(&key);
                return Err(ActrError::Unavailable(format!(
                    "stream {}: chunk {sequence} waited {limit:?} for the chunks before it",
                    key.1
                )));
            }
        },
    }
    let queued = registry.dispatch(chunk, sender).await;
    order.finish(&key, sequence, end, queued.is_ok());
    queued?;
    Ok(Bytes::new())
}

/// Where a chunk stands in its stream's order.
enum Claim {
    /// It is the next: queue it.
    Now,
    /// Delivered (or being delivered) already.
    Duplicate,
    /// Early: wait for this signal, sent when the chunk before it is queued.
    Wait(Receiver<()>),
}

/// The sequence each reliable stream is at, per sending actor.
#[derive(Debug, Default)]
pub(crate) struct ChunkOrder {
    streams: Mutex<HashMap<(ActrId, u64), Turn>>,
}

#[derive(Debug, Default)]
struct Turn {
    /// The sequence number to queue next.
    next: u64,
    /// Whether the chunk `next` is being queued now.
    busy: bool,
    /// Early chunks, by sequence, waiting for their turn.
    waiting: HashMap<u64, Sender<()>>,
}

impl ChunkOrder {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(ActrId, u64), Turn>> {
        self.streams.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn claim(&self, key: &(ActrId, u64), sequence: u64) -> Result<Claim, ActrError> {
        let mut streams = self.lock();
        if !streams.contains_key(key) && streams.len() >= MAX_ORDERED_STREAMS {
            let idle = streams.iter().find(|(_, t)| !t.busy && t.waiting.is_empty()).map(|(k, _)| k.clone());
            match idle {
                Some(k) => {
                    streams.remove(&k);
                }
                None => {
                    return Err(ActrError::ResourceExhausted(format!(
                        "{MAX_ORDERED_STREAMS} reliable streams are being received"
                    )));
                }
            }
        }
        let turn = streams.entry(key.clone()).or_default();
        if sequence < turn.next || (sequence == turn.next && turn.busy) || turn.waiting.contains_key(&sequence) {
            return Ok(Claim::Duplicate);
        }
        if sequence == turn.next {
            turn.busy = true;
            return Ok(Claim::Now);
        }
        // Twice the writer's window: room for a writer with a larger one.
        if sequence - turn.next >= 2 * STREAM_WINDOW as u64 {
            return Err(ActrError::ResourceExhausted(format!(
                "stream {}: chunk {sequence} is beyond the window (at {})",
                key.1, turn.next
            )));
        }
        let (tx, rx) = async_channel::bounded(1);
        turn.waiting.insert(sequence, tx);
        Ok(Claim::Wait(rx))
    }

    /// Chunk `sequence` was queued (`ok`) or refused: the next one may go,
    /// or, on a refusal or the end, the stream is forgotten and its waiting
    /// chunks fail.
    fn finish(&self, key: &(ActrId, u64), sequence: u64, end: bool, ok: bool) {
        let mut streams = self.lock();
        if !ok || end {
            streams.remove(key);
            return;
        }
        let Some(turn) = streams.get_mut(key) else { return };
        turn.next = sequence + 1;
        turn.busy = false;
        if let Some(wake) = turn.waiting.remove(&turn.next) {
            turn.busy = true;
            let _ = wake.try_send(());
        }
    }

    /// A gap did not close in time: the stream cannot complete.
    fn fail(&self, key: &(ActrId, u64)) {
        self.lock().remove(key);
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actr_core::{ActrType, Realm};

    fn key(stream: u64) -> (ActrId, u64) {
        let actr_type = ActrType::new("acme", "writer", "1").unwrap();
        (ActrId { realm: Realm(1), serial: 1, actr_type }, stream)
    }

    fn wait(claim: Result<Claim, ActrError>) -> Receiver<()> {
        match claim {
            Ok(Claim::Wait(rx)) => rx,
            _ => panic!("expected to wait"),
        }
    }

    #[test]
    fn early_chunks_wait_for_their_turn_in_sequence() {
        let order = ChunkOrder::default();
        let k = key(7);
        assert!(matches!(order.claim(&k, 0), Ok(Claim::Now)));
        let two = wait(order.claim(&k, 2));
        let one = wait(order.claim(&k, 1));
        order.finish(&k, 0, false, true);
        assert!(one.try_recv().is_ok(), "1 goes after 0");
        assert!(two.try_recv().is_err(), "2 still waits for 1");
        order.finish(&k, 1, false, true);
        assert!(two.try_recv().is_ok());
        order.finish(&k, 2, true, true);
        assert_eq!(order.tracked(), 0, "the end forgets the stream");
    }

    #[test]
    fn duplicates_beyond_window_and_failures() {
        let order = ChunkOrder::default();
        let k = key(9);
        assert!(matches!(order.claim(&k, 0), Ok(Claim::Now)));
        assert!(matches!(order.claim(&k, 0), Ok(Claim::Duplicate)), "while 0 is being queued");
        let _three = wait(order.claim(&k, 3));
        assert!(matches!(order.claim(&k, 3), Ok(Claim::Duplicate)));
        let far = 2 * STREAM_WINDOW as u64;
        assert!(matches!(order.claim(&k, far), Err(ActrError::ResourceExhausted(_))));
        let five = wait(order.claim(&k, 5));
        // Chunk 0 was refused: the stream is over and what waits fails.
        order.finish(&k, 0, false, false);
        assert!(five.try_recv().is_err() && five.is_closed());
        assert_eq!(order.tracked(), 0);
        // Streams of different senders or ids do not wait for each other.
        assert!(matches!(order.claim(&key(1), 0), Ok(Claim::Now)));
        assert!(matches!(order.claim(&key(2), 0), Ok(Claim::Now)));
    }

    #[test]
    fn idle_streams_make_room_and_busy_ones_refuse() {
        let order = ChunkOrder::default();
        for s in 0..MAX_ORDERED_STREAMS as u64 {
            assert!(matches!(order.claim(&key(s), 0), Ok(Claim::Now)));
        }
        assert!(matches!(order.claim(&key(u64::MAX), 0), Err(ActrError::ResourceExhausted(_))), "all busy");
        order.finish(&key(3), 0, false, true);
        assert!(matches!(order.claim(&key(u64::MAX), 0), Ok(Claim::Now)), "an idle one was forgotten");
        assert_eq!(order.tracked(), MAX_ORDERED_STREAMS);
    }
}
