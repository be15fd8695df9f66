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
//!   handler slows the writer (the registry's queue is the window) and a
//!   missing handler fails the write with `NotFound`. Chunks are sent one at
//!   a time, so they arrive in order whatever the wire.
//! - [`DeliveryPolicy::LatencyFirst`]: each chunk goes on WebRTC's stream
//!   lane (unordered, few retransmits) when WebRTC to the peer is up, else as
//!   a tell on the RPC lane; it is not waited for. The receiver drops chunks
//!   older than one it delivered and chunks its queue has no room for.

use std::sync::Arc;
use std::time::Duration;

use actr_core::transport::chunk::DATA_CHUNK_ROUTE_KEY;
use actr_core::transport::{DataChunk, DeliveryPolicy, StreamSender};
use actr_core::{ActrError, ActrId, Dest};
use bytes::Bytes;

use crate::dispatch::streams::DataStreamRegistry;
use crate::node::ops::{NodeOps, Origin, Outgoing};

/// Largest payload of one chunk: big chunks keep per-call overhead low,
/// while staying far below the envelope limit.
pub const STREAM_CHUNK_BYTES: usize = 256 * 1024;

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
        Self { node, origin, dest, policy, sender, timeout }
    }

    /// The id the receiver registers its handler under.
    pub fn stream_id(&self) -> u64 {
        self.sender.stream_id()
    }

    pub fn policy(&self) -> DeliveryPolicy {
        self.policy
    }

    /// Sends `data`, split into chunks of at most [`STREAM_CHUNK_BYTES`].
    /// Reliable: returns once every chunk is queued at the receiver.
    ///
    /// Errors: `InvalidArgument` after `finish`, `NotFound` when the receiver
    /// has no handler for the stream, and the wire's errors.
    pub async fn send(&mut self, data: &[u8]) -> Result<(), ActrError> {
        for piece in data.chunks(STREAM_CHUNK_BYTES) {
            let chunk =
                self.sender.chunk(piece.to_vec()).map_err(|r| ActrError::InvalidArgument(r.reason.to_string()))?;
            self.deliver(chunk).await?;
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
        self.deliver(chunk).await
    }

    async fn deliver(&self, chunk: DataChunk) -> Result<(), ActrError> {
        let bytes = chunk.encode().map_err(|e| ActrError::InvalidArgument(format!("chunk: {e}")))?;
        let out = Outgoing {
            origin: self.origin,
            dest: Dest::Peer(self.dest.clone()),
            route_key: DATA_CHUNK_ROUTE_KEY.to_owned(),
            payload: Bytes::from(bytes),
            timeout: self.timeout,
            parent: None,
        };
        match self.policy {
            DeliveryPolicy::Reliable => self.node.clone().call(out).await.map(drop),
            DeliveryPolicy::LatencyFirst => {
                match self.node.clone().stream_chunk(self.dest.clone(), out.payload.to_vec()).await {
                    Err(ActrError::ConnectionNotReady { .. }) => self.node.clone().tell(out).await,
                    sent => sent,
                }
            }
        }
    }
}

/// Stream ids come from the OS RNG; this keeps them distinct if it fails.
fn next_fallback_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1 << 63);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Receiving side: hands a chunk message to the stream's handler. Reliable
/// chunks wait for room in the stream's queue (backpressure to the writer).
pub(crate) async fn receive_chunk(
    registry: &DataStreamRegistry,
    payload: &[u8],
    sender: ActrId,
) -> Result<Bytes, ActrError> {
    let chunk = DataChunk::decode(payload).map_err(|e| ActrError::DecodeFailure(format!("data chunk: {e}")))?;
    registry.dispatch(chunk, sender).await?;
    Ok(Bytes::new())
}
