//! Latency-first stream chunks arriving on one WebRTC connection's stream
//! lane (unordered, few retransmits).
//!
//! Fresh data wins: a chunk older than one already delivered for its stream
//! is dropped, and gaps are skipped at once rather than waited for. Chunks go
//! through a bounded queue to a forwarder task that hands them to the node's
//! `DataStreamRegistry`, so a slow handler never stalls the connection's
//! drive loop; a full queue drops the chunk. Every drop is counted.

use std::collections::BTreeMap;
use std::sync::Arc;

use actr_core::ActrId;
use actr_core::transport::DataChunk;
use async_channel::Sender;

use crate::runtime::Runtime;
use crate::wire::rtc_wire::RtcWire;

/// Chunks waiting for the forwarder.
const INBOX_DEPTH: usize = 256;
/// Streams whose position is remembered; beyond it the oldest id is forgotten.
const MAX_TRACKED_STREAMS: usize = 1024;

/// The stream lane's receiving side for one connection.
pub(crate) struct LatencyInbox<R: Runtime> {
    wire: Arc<RtcWire<R>>,
    tx: Sender<DataChunk>,
    positions: StreamPositions,
}

/// Per stream, the next sequence number that is still fresh; bounded by
/// [`MAX_TRACKED_STREAMS`] (the lowest stream id is forgotten first).
#[derive(Debug, Default)]
struct StreamPositions {
    next: BTreeMap<u64, u64>,
}

impl StreamPositions {
    /// Whether `chunk` is newer than everything delivered of its stream;
    /// if so it becomes the stream's position. After the end chunk, every
    /// chunk of the stream is stale.
    fn admit(&mut self, chunk: &DataChunk) -> bool {
        let next = self.next.get(&chunk.stream_id).copied().unwrap_or(0);
        if chunk.sequence < next {
            return false;
        }
        if !self.next.contains_key(&chunk.stream_id) && self.next.len() >= MAX_TRACKED_STREAMS {
            self.next.pop_first();
        }
        let after = if chunk.end { u64::MAX } else { chunk.sequence + 1 };
        self.next.insert(chunk.stream_id, after);
        true
    }
}

impl<R: Runtime> LatencyInbox<R> {
    /// Spawns the forwarder for chunks from `remote`; it ends with the inbox.
    pub fn new(wire: Arc<RtcWire<R>>, remote: ActrId) -> Self {
        let (tx, rx) = async_channel::bounded::<DataChunk>(INBOX_DEPTH);
        let streams = wire.streams.clone();
        wire.rt.spawn(Box::pin(async move {
            while let Ok(chunk) = rx.recv().await {
                if let Err(e) = streams.dispatch(chunk, remote.clone()).await {
                    tracing::debug!(peer = %remote, "stream chunk not delivered: {e}");
                }
            }
        }));
        Self { wire, tx, positions: StreamPositions::default() }
    }

    /// Takes one message of the stream lane.
    pub fn accept(&mut self, bytes: &[u8]) {
        RtcWire::<R>::bump(&self.wire.counters.stream_chunks_received);
        let fresh = DataChunk::decode(bytes).ok().filter(|chunk| self.positions.admit(chunk));
        let Some(chunk) = fresh else { return RtcWire::<R>::bump(&self.wire.counters.stream_chunks_dropped) };
        if self.tx.try_send(chunk).is_err() {
            RtcWire::<R>::bump(&self.wire.counters.stream_chunks_dropped);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(stream_id: u64, sequence: u64, end: bool) -> DataChunk {
        DataChunk { stream_id, sequence, payload: vec![], end }
    }

    #[test]
    fn fresh_chunks_pass_and_stale_ones_do_not() {
        let mut p = StreamPositions::default();
        assert!(p.admit(&chunk(1, 0, false)));
        assert!(p.admit(&chunk(1, 3, false)), "a gap is skipped at once");
        assert!(!p.admit(&chunk(1, 2, false)), "older than one delivered");
        assert!(!p.admit(&chunk(1, 3, false)), "a duplicate");
        assert!(p.admit(&chunk(2, 5, false)), "streams are independent");
        assert!(p.admit(&chunk(1, 4, true)));
        assert!(!p.admit(&chunk(1, 9, false)), "nothing after the end");
    }

    #[test]
    fn tracked_streams_are_bounded() {
        let mut p = StreamPositions::default();
        for id in 0..MAX_TRACKED_STREAMS as u64 + 10 {
            assert!(p.admit(&chunk(id, 1, false)));
        }
        assert_eq!(p.next.len(), MAX_TRACKED_STREAMS);
        assert!(p.admit(&chunk(0, 0, false)), "the oldest stream was forgotten");
    }
}
