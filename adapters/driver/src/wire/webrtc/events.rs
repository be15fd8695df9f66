//! What a peer reports: events for the application and counters.

use actr_core::transport::LaneKind;

use super::media::{MediaSample, MediaType};

/// What the peer tells the application, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RtcEvent {
    /// ICE and DTLS are up; reported once.
    Connected,
    /// The lane's data channel is open: [`RtcPeer::send`](super::RtcPeer::send) works on it.
    ChannelOpen(LaneKind),
    /// The lane's data channel closed; fragments still queued on it were dropped.
    ChannelClosed(LaneKind),
    /// A whole message arrived on a lane.
    Message { lane: LaneKind, bytes: Vec<u8> },
    /// A media track of this type is negotiated: [`RtcPeer::send_media`](super::RtcPeer::send_media) works.
    MediaTrack(MediaType),
    /// A media sample arrived.
    MediaSample(MediaSample),
    /// Connectivity was lost. The offerer should [`RtcPeer::restart_ice`](super::RtcPeer::restart_ice), the
    /// answerer [`RtcPeer::request_ice_restart`](super::RtcPeer::request_ice_restart); without recovery the peer
    /// reports [`RtcEvent::Disconnected`] after the recovery timeout.
    IceDisconnected,
    /// Connectivity came back by itself after [`RtcEvent::IceDisconnected`].
    IceReconnected,
    /// An ICE restart completed; the data channels carry on.
    IceRestarted,
    /// Terminal: setup or recovery timed out, either side closed, or str0m
    /// failed. Inputs are ignored from now on; build a new peer to reconnect.
    Disconnected,
}

/// Counters for diagnostics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RtcPeerStats {
    pub messages_sent: u64,
    pub messages_received: u64,
    pub fragments_written: u64,
    /// Inbound fragments the reassembler refused (malformed or over a bound).
    pub fragments_rejected: u64,
    /// Partial inbound messages discarded at their reassembly deadline.
    pub partials_timed_out: u64,
    /// Queued outbound bytes dropped because their channel closed.
    pub bytes_dropped_on_close: u64,
    /// Datagrams dropped because [`RtcPeer::poll_transmit`](super::RtcPeer::poll_transmit) was not called.
    pub transmits_dropped: u64,
    pub stale_answers: u64,
    /// Signals this side's role does not act on (an offer to the offerer, ...).
    pub signals_ignored: u64,
    /// Remote channels with a label that names no lane.
    pub unknown_channels: u64,
    pub ice_restarts: u64,
}

/// What an event costs beyond its payload in the pending-event bound, so the
/// bound also caps how many payload-free events can pile up.
pub(super) const EVENT_OVERHEAD: usize = 64;

/// Bytes an event counts for in the pending-event bound.
pub(super) fn event_bytes(event: &RtcEvent) -> usize {
    EVENT_OVERHEAD
        + match event {
            RtcEvent::Message { bytes, .. } => bytes.len(),
            RtcEvent::MediaSample(sample) => sample.data.len(),
            _ => 0,
        }
}
