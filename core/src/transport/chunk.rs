//! Data stream chunks on the wire, and the sending side of a stream.
//!
//! A stream is a sequence of [`DataChunk`]s with one `stream_id`, numbered
//! from 0 by a [`StreamSender`]; the last one carries `end`. Chunks travel on
//! a lane chosen by their [`DeliveryPolicy`]: reliable streams on the ordered
//! RPC lane, latency-first streams on the unordered stream lane. The receiver
//! ([`StreamReceiver`](super::StreamReceiver)) puts them back in order.

use serde::{Deserialize, Serialize};

use crate::error::{ActrError, Classify, ErrorKind};
use crate::transport::route::LaneKind;
use crate::wire::{WireError, decode_message, encode_message};

/// Largest chunk payload a sender accepts and a receiver buffers: 1 MiB.
pub const MAX_CHUNK_PAYLOAD: usize = 1 << 20;
/// Largest encoded chunk: the payload plus room for the version and varints.
pub const MAX_CHUNK_MESSAGE: usize = MAX_CHUNK_PAYLOAD + 64;
/// Route key of a [`RpcEnvelope`](super::RpcEnvelope) tell that carries an
/// encoded chunk, where a wire has a single channel for every lane.
pub const DATA_CHUNK_ROUTE_KEY: &str = "actr.fast_path.data_chunk";

/// One piece of a data stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataChunk {
    /// Chosen by the sender, unique among its streams; never reused.
    pub stream_id: u64,
    /// 0 for the first chunk of the stream, then one more per chunk.
    pub sequence: u64,
    #[serde(with = "crate::wire::bytes")]
    pub payload: Vec<u8>,
    /// This is the stream's last chunk.
    pub end: bool,
}

impl DataChunk {
    /// Versioned postcard bytes, at most [`MAX_CHUNK_MESSAGE`].
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        if self.payload.len() > MAX_CHUNK_PAYLOAD {
            return Err(WireError::TooLarge { len: self.payload.len(), max: MAX_CHUNK_PAYLOAD });
        }
        encode_message(self, MAX_CHUNK_MESSAGE)
    }

    /// Decodes bytes made by [`DataChunk::encode`]; never panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let chunk: DataChunk = decode_message(bytes, MAX_CHUNK_MESSAGE)?;
        if chunk.payload.len() > MAX_CHUNK_PAYLOAD {
            return Err(WireError::TooLarge { len: chunk.payload.len(), max: MAX_CHUNK_PAYLOAD });
        }
        Ok(chunk)
    }
}

/// What a stream promises its receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryPolicy {
    /// Every chunk arrives, in order (the ordered RPC lane). A gap that stays
    /// open past its deadline, or a chunk the receiver cannot hold, fails the
    /// stream.
    Reliable,
    /// Fresh data first (the unordered stream lane). Missing chunks are
    /// skipped after a deadline and delivery continues.
    LatencyFirst,
}

impl DeliveryPolicy {
    /// The lane chunks of this policy travel on.
    pub fn lane(self) -> LaneKind {
        match self {
            DeliveryPolicy::Reliable => LaneKind::Rpc,
            DeliveryPolicy::LatencyFirst => LaneKind::Stream,
        }
    }

    /// The policy of chunks that arrived on `lane`; media carries no chunks.
    pub fn for_lane(lane: LaneKind) -> Option<DeliveryPolicy> {
        match lane {
            LaneKind::Rpc => Some(DeliveryPolicy::Reliable),
            LaneKind::Stream => Some(DeliveryPolicy::LatencyFirst),
            LaneKind::Media => None,
        }
    }
}

/// Why a chunk was refused, on either side of a stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    #[error("stream {stream_id} has ended; nothing more can be sent on it")]
    Ended { stream_id: u64 },
    #[error("stream {stream_id} has used every sequence number")]
    SequenceExhausted { stream_id: u64 },
    #[error("chunk payload of {len} bytes exceeds the limit of {max}")]
    ChunkTooLarge { len: usize, max: usize },
    #[error("stream {stream_id}: chunk {sequence} is beyond the window ({next} + {window})")]
    BeyondWindow { stream_id: u64, sequence: u64, next: u64, window: u64 },
    #[error("stream {stream_id}: chunk {sequence} conflicts with its end at {end}")]
    AfterEnd { stream_id: u64, sequence: u64, end: u64 },
    #[error("stream {stream_id} was opened with the other delivery policy")]
    PolicyMismatch { stream_id: u64 },
    #[error("{max} streams are open already")]
    TooManyStreams { max: usize },
    #[error("reorder buffer full ({buffered} of {max} bytes)")]
    BufferFull { buffered: usize, max: usize },
    #[error("{pending} events are waiting: drain poll_event before feeding more chunks")]
    EventsNotDrained { pending: usize },
    #[error("stream {stream_id}: chunk {missing} did not arrive in time")]
    GapTimeout { stream_id: u64, missing: u64 },
    #[error("stream {stream_id} went idle before its end")]
    IdleTimeout { stream_id: u64 },
    #[error("invalid stream configuration: {0}")]
    InvalidConfig(&'static str),
    #[error(transparent)]
    Wire(#[from] WireError),
}

impl Classify for StreamError {
    fn kind(&self) -> ErrorKind {
        match self {
            StreamError::BeyondWindow { .. }
            | StreamError::TooManyStreams { .. }
            | StreamError::BufferFull { .. }
            | StreamError::GapTimeout { .. }
            | StreamError::IdleTimeout { .. } => ErrorKind::Transient,
            StreamError::Ended { .. }
            | StreamError::SequenceExhausted { .. }
            | StreamError::ChunkTooLarge { .. }
            | StreamError::PolicyMismatch { .. }
            | StreamError::InvalidConfig(_) => ErrorKind::Client,
            StreamError::EventsNotDrained { .. } => ErrorKind::Internal,
            StreamError::AfterEnd { .. } => ErrorKind::Corrupt,
            StreamError::Wire(e) => e.kind(),
        }
    }
}

impl From<StreamError> for ActrError {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::Wire(w) => w.into(),
            StreamError::GapTimeout { .. } | StreamError::IdleTimeout { .. } => ActrError::TimedOut,
            other => match other.kind() {
                ErrorKind::Transient => ActrError::ResourceExhausted(other.to_string()),
                ErrorKind::Client => ActrError::InvalidArgument(other.to_string()),
                ErrorKind::Internal => ActrError::Internal(other.to_string()),
                ErrorKind::Corrupt => ActrError::DecodeFailure(other.to_string()),
            },
        }
    }
}

/// A send the stream could not accept; the payload is handed back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct SendRefused {
    pub reason: StreamError,
    pub payload: Vec<u8>,
}

/// The sending side of one stream: numbers chunks and seals the stream.
///
/// Send each returned chunk on [`DeliveryPolicy::lane`] of the stream's
/// policy. After [`StreamSender::finish`] every send is refused.
#[derive(Debug, Clone)]
pub struct StreamSender {
    stream_id: u64,
    next: u64,
    ended: bool,
    max_payload: usize,
}

impl StreamSender {
    /// A stream whose chunks may carry up to [`MAX_CHUNK_PAYLOAD`] bytes.
    pub fn new(stream_id: u64) -> Self {
        Self::with_max_payload(stream_id, MAX_CHUNK_PAYLOAD)
    }

    /// A stream with a smaller payload limit (clamped to [`MAX_CHUNK_PAYLOAD`]).
    pub fn with_max_payload(stream_id: u64, max_payload: usize) -> Self {
        Self { stream_id, next: 0, ended: false, max_payload: max_payload.min(MAX_CHUNK_PAYLOAD) }
    }

    pub fn stream_id(&self) -> u64 {
        self.stream_id
    }

    /// The sequence number the next chunk gets.
    pub fn next_sequence(&self) -> u64 {
        self.next
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// The next chunk of the stream.
    pub fn chunk(&mut self, payload: Vec<u8>) -> Result<DataChunk, SendRefused> {
        self.make(payload, false)
    }

    /// The stream's last chunk (its payload may be empty); later sends are refused.
    pub fn finish(&mut self, payload: Vec<u8>) -> Result<DataChunk, SendRefused> {
        self.make(payload, true)
    }

    fn make(&mut self, payload: Vec<u8>, end: bool) -> Result<DataChunk, SendRefused> {
        if let Err(reason) = self.check(payload.len(), end) {
            return Err(SendRefused { reason, payload });
        }
        let chunk = DataChunk { stream_id: self.stream_id, sequence: self.next, payload, end };
        self.ended = end;
        // `check` refused u64::MAX unless this chunk ends the stream.
        self.next = self.next.saturating_add(1);
        Ok(chunk)
    }

    fn check(&self, len: usize, end: bool) -> Result<(), StreamError> {
        let stream_id = self.stream_id;
        if self.ended {
            return Err(StreamError::Ended { stream_id });
        }
        if len > self.max_payload {
            return Err(StreamError::ChunkTooLarge { len, max: self.max_payload });
        }
        // The last sequence number is kept for an end chunk, so a stream can always be closed.
        if self.next == u64::MAX && !end {
            return Err(StreamError::SequenceExhausted { stream_id });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_round_trips_and_limits_hold() {
        let c = DataChunk { stream_id: 9, sequence: 3, payload: b"abc".to_vec(), end: true };
        let bytes = c.encode().unwrap();
        assert_eq!(DataChunk::decode(&bytes).unwrap(), c);
        let big = DataChunk { payload: vec![0; MAX_CHUNK_PAYLOAD + 1], ..c.clone() };
        assert!(matches!(big.encode(), Err(WireError::TooLarge { .. })));
        let max = DataChunk { payload: vec![7; MAX_CHUNK_PAYLOAD], sequence: u64::MAX, stream_id: u64::MAX, end: true };
        assert_eq!(DataChunk::decode(&max.encode().unwrap()).unwrap(), max);
    }

    #[test]
    fn decode_errors_are_typed() {
        assert_eq!(DataChunk::decode(&[]), Err(WireError::Empty));
        assert_eq!(DataChunk::decode(&[2, 0]), Err(WireError::UnknownVersion { got: 2 }));
        assert!(matches!(DataChunk::decode(&[1, 1]), Err(WireError::Malformed(_))));
        let e = StreamError::from(WireError::Empty);
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        assert!(matches!(ActrError::from(e), ActrError::DecodeFailure(_)));
    }

    #[test]
    fn sender_numbers_chunks_and_seals_the_stream() {
        let mut s = StreamSender::new(4);
        assert_eq!(s.chunk(b"a".to_vec()).unwrap().sequence, 0);
        assert_eq!(s.chunk(b"b".to_vec()).unwrap().sequence, 1);
        let last = s.finish(Vec::new()).unwrap();
        assert_eq!((last.sequence, last.end, last.stream_id), (2, true, 4));
        assert!(s.is_ended());
        let refused = s.chunk(b"late".to_vec()).unwrap_err();
        assert_eq!(refused.reason, StreamError::Ended { stream_id: 4 });
        assert_eq!(refused.payload, b"late", "the payload is handed back");
        assert!(s.finish(Vec::new()).is_err());
        assert_eq!(s.next_sequence(), 3);
    }

    #[test]
    fn sender_refuses_oversized_payloads_and_keeps_numbering() {
        let mut s = StreamSender::with_max_payload(1, 4);
        let refused = s.chunk(vec![0; 5]).unwrap_err();
        assert_eq!(refused.reason, StreamError::ChunkTooLarge { len: 5, max: 4 });
        assert_eq!(refused.reason.kind(), ErrorKind::Client);
        assert_eq!(s.chunk(vec![0; 4]).unwrap().sequence, 0, "a refused send uses no number");
    }

    #[test]
    fn last_sequence_is_kept_for_the_end() {
        let mut s = StreamSender { stream_id: 1, next: u64::MAX, ended: false, max_payload: 8 };
        assert_eq!(s.chunk(vec![]).unwrap_err().reason, StreamError::SequenceExhausted { stream_id: 1 });
        assert_eq!(s.finish(vec![]).unwrap().sequence, u64::MAX);
    }

    #[test]
    fn policies_map_to_lanes() {
        for p in [DeliveryPolicy::Reliable, DeliveryPolicy::LatencyFirst] {
            assert_eq!(DeliveryPolicy::for_lane(p.lane()), Some(p));
        }
        assert_eq!(DeliveryPolicy::for_lane(LaneKind::Media), None);
        let gap = StreamError::GapTimeout { stream_id: 1, missing: 2 };
        assert!(gap.is_retryable());
        assert_eq!(ActrError::from(gap), ActrError::TimedOut);
        assert!(StreamError::AfterEnd { stream_id: 1, sequence: 5, end: 3 }.requires_dlq());
    }
}
