//! Errors of the WebRTC peer, each with a fault domain.

use actr_core::transport::LaneKind;
use actr_core::{ActrError, Classify, ErrorKind};

use super::media::MediaType;

/// Why [`RtcPeer::send`](super::RtcPeer::send) or
/// [`RtcPeer::send_media`](super::RtcPeer::send_media) did not take a message.
///
/// Sends are all or nothing: on any error no part of the message was queued,
/// so the caller still owns it and may retry it unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The lane's data channel is not open (yet, or any more).
    #[error("the {0:?} lane has no open data channel")]
    NotOpen(LaneKind),
    /// The lane's outbound queue is full; retry once events show progress.
    #[error("the {lane:?} lane's outbound queue is full ({queued} of {limit} bytes)")]
    Backpressure { lane: LaneKind, queued: usize, limit: usize },
    /// The message is larger than the configured maximum.
    #[error("message of {len} bytes exceeds the limit of {max}")]
    TooLarge { len: usize, max: usize },
    /// The lane does not travel as a data channel (media uses `send_media`).
    #[error("the {0:?} lane has no data channel")]
    NotAChannel(LaneKind),
    /// No negotiated track of this media type can send.
    #[error("no negotiated {0:?} track to send on")]
    NoTrack(MediaType),
    /// The peer is closed.
    #[error("the peer connection is closed")]
    Closed,
    /// str0m refused the write.
    #[error("str0m refused the write: {0}")]
    Rtc(String),
}

impl Classify for SendError {
    fn kind(&self) -> ErrorKind {
        match self {
            SendError::NotOpen(_) | SendError::Backpressure { .. } | SendError::Closed => ErrorKind::Transient,
            SendError::TooLarge { .. } | SendError::NotAChannel(_) | SendError::NoTrack(_) => ErrorKind::Client,
            SendError::Rtc(_) => ErrorKind::Internal,
        }
    }
}

impl From<SendError> for ActrError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::NotOpen(_) | SendError::Closed => ActrError::ConnectionNotReady { retry_after_ms: None },
            SendError::Backpressure { .. } => ActrError::ResourceExhausted(e.to_string()),
            SendError::TooLarge { .. } | SendError::NotAChannel(_) | SendError::NoTrack(_) => {
                ActrError::InvalidArgument(e.to_string())
            }
            SendError::Rtc(_) => ActrError::Internal(e.to_string()),
        }
    }
}

/// Why an input or command of [`RtcPeer`](super::RtcPeer) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtcPeerError {
    /// The configuration is inconsistent.
    #[error("invalid WebRTC peer configuration: {0}")]
    Config(String),
    /// Only the offerer may do this.
    #[error("only the offerer may {0}")]
    NotOfferer(&'static str),
    /// The media track table is full.
    #[error("at most {0} media tracks")]
    TooManyTracks(usize),
    /// The initial offer is still unanswered.
    #[error("the initial negotiation is still pending")]
    NegotiationPending,
    /// The remote's SDP could not be parsed or applied.
    #[error("remote SDP rejected: {0}")]
    Sdp(String),
    /// The remote's ICE candidate could not be parsed.
    #[error("remote ICE candidate rejected: {0}")]
    Candidate(String),
    /// The datagram is not STUN, DTLS, RTP or RTCP.
    #[error("unrecognised datagram: {0}")]
    Datagram(String),
    /// Events hold too many bytes: poll them before feeding more datagrams.
    /// The refused datagram counts as lost.
    #[error("{pending} bytes of events not polled (limit {limit})")]
    EventsNotDrained { pending: usize, limit: usize },
    /// Signaling messages were not polled and the queue is full.
    #[error("{0} signaling messages not polled")]
    SignalsNotDrained(usize),
    /// The peer is closed.
    #[error("the peer connection is closed")]
    Closed,
    /// str0m reported an error.
    #[error("str0m: {0}")]
    Rtc(String),
}

impl Classify for RtcPeerError {
    fn kind(&self) -> ErrorKind {
        match self {
            RtcPeerError::EventsNotDrained { .. }
            | RtcPeerError::SignalsNotDrained(_)
            | RtcPeerError::NegotiationPending
            | RtcPeerError::Closed => ErrorKind::Transient,
            RtcPeerError::Config(_) | RtcPeerError::NotOfferer(_) | RtcPeerError::TooManyTracks(_) => ErrorKind::Client,
            RtcPeerError::Sdp(_) | RtcPeerError::Candidate(_) | RtcPeerError::Datagram(_) => ErrorKind::Corrupt,
            RtcPeerError::Rtc(_) => ErrorKind::Internal,
        }
    }
}

impl From<RtcPeerError> for ActrError {
    fn from(e: RtcPeerError) -> Self {
        match e.kind() {
            ErrorKind::Transient => ActrError::Unavailable(e.to_string()),
            ErrorKind::Client => ActrError::InvalidArgument(e.to_string()),
            ErrorKind::Corrupt => ActrError::DecodeFailure(e.to_string()),
            ErrorKind::Internal => ActrError::Internal(e.to_string()),
        }
    }
}
