//! A WebRTC peer over str0m, sans-IO: one [`RtcPeer`] wraps one `str0m::Rtc`.
//!
//! The peer carries actr's lanes as data channels (one per [`LaneKind::Rpc`]
//! and [`LaneKind::Stream`], labelled and configured by the lane) and media
//! samples on RTP tracks. It performs no I/O and reads no clock: datagrams,
//! signaling messages and time go in through `handle_*`, and datagrams,
//! signaling messages, events and the next deadline come out of `poll_*`.
//!
//! # Roles
//!
//! The caller decides who offers (`actr_core::signaling::is_offerer`). Only the
//! offerer ever creates offers: the initial one, renegotiations for new media
//! tracks, and ICE restarts. The answerer asks for a restart with
//! [`RtcPeer::request_ice_restart`]. Every offer carries a fresh exchange id;
//! an answer whose id is not the outstanding offer's is stale and ignored.
//!
//! # The drive loop
//!
//! 1. Create the peer with [`RtcPeer::offerer`] or [`RtcPeer::answerer`].
//! 2. Drain the outputs until each returns `None`:
//!    - [`RtcPeer::poll_signal`]: encode with [`RtcSignal::encode`] and relay to
//!      the remote peer (the offerer builds its first offer here, so tracks
//!      added right after construction ride in it);
//!    - [`RtcPeer::poll_transmit`]: send the datagram from the local socket;
//!    - [`RtcPeer::poll_event`]: hand the event to the application.
//! 3. Wait until [`RtcPeer::poll_timeout`], a datagram arrives, a signaling
//!    message arrives, or the application wants to send.
//! 4. Feed exactly that input: [`RtcPeer::handle_timeout`],
//!    [`RtcPeer::handle_datagram`], [`RtcPeer::handle_signal`], or a command
//!    ([`RtcPeer::send`], [`RtcPeer::send_media`], [`RtcPeer::restart_ice`]).
//!    Go to 2.
//!
//! Inside, every mutation of the `Rtc` is followed by a full drain of
//! `poll_output` until it returns a timeout, as str0m requires.
//!
//! # Bounds
//!
//! - Outbound: each lane's messages are split into fragments of
//!   [`RtcPeerConfig::fragment_size`]; fragments enter the data channel while its
//!   buffered amount is below [`RtcPeerConfig::channel_high_water`] and wait in a
//!   per-lane queue of at most [`RtcPeerConfig::max_queued_bytes`] otherwise.
//!   A message that does not fit is refused whole with
//!   [`SendError::Backpressure`]; nothing of it is queued and the caller keeps it.
//! - Inbound: fragments are reassembled per lane within
//!   [`RtcPeerConfig::reassembly`]. Events not yet polled may hold at most
//!   [`RtcPeerConfig::max_pending_event_bytes`]; past that
//!   [`RtcPeer::handle_datagram`] refuses datagrams with
//!   [`RtcPeerError::EventsNotDrained`] (the datagram counts as lost, and SCTP
//!   retransmits it), so a caller that stops polling events slows the sender
//!   instead of growing memory.
//! - Outgoing datagrams wait in a queue of [`RtcPeerConfig::max_pending_transmits`];
//!   past that the oldest is dropped and counted, as a congested socket would.
//!
//! Creating an `Rtc` generates a DTLS certificate (tens of milliseconds);
//! [`generate_certificate`] makes one that many peers can share through
//! [`RtcPeerConfig::certificate`].

// Public under `internals` (the simulator and benchmarks drive `RtcPeer`
// directly); without it, the node uses only part of it.
#![cfg_attr(not(feature = "internals"), allow(dead_code, unused_imports))]

mod channels;
mod drive;
mod errors;
mod events;
mod media;
mod negotiation;
mod peer;
mod tracks;

#[cfg(test)]
mod test_pair;
#[cfg(test)]
mod tests;

use std::time::Duration;

use actr_core::transport::envelope::MAX_ENVELOPE;
use actr_core::transport::fragment::{DEFAULT_MAX_FRAGMENT, FRAGMENT_HEADER};
use actr_core::transport::{LaneKind, ReassemblyConfig};
pub use str0m::config::DtlsCert;

pub use actr_core::node::signal::{MAX_SIGNAL_BYTES, RtcSignal};
pub use errors::{RtcPeerError, SendError};
pub use events::{RtcEvent, RtcPeerStats};
pub use media::{MediaSample, MediaType};
pub use peer::{PeerTimer, RtcPeer};

/// Tuning and limits of one [`RtcPeer`].
#[derive(Debug, Clone)]
pub struct RtcPeerConfig {
    /// A DTLS certificate to reuse; `None` generates one per peer (slow).
    pub certificate: Option<DtlsCert>,
    /// Largest data channel message written, header included. At most the
    /// remote's maximum message size (64 KiB unless it advertises more).
    pub fragment_size: usize,
    /// Largest application message accepted by [`RtcPeer::send`].
    pub max_message: usize,
    /// Bounds of inbound reassembly, per lane.
    pub reassembly: ReassemblyConfig,
    /// Stop writing into a channel while its buffered amount is above this.
    pub channel_high_water: usize,
    /// Buffered amount below which str0m reports the channel writable again.
    pub channel_low_water: usize,
    /// Bound of each lane's outbound fragment queue, in bytes.
    pub max_queued_bytes: usize,
    /// Bound of message bytes held in events not yet polled.
    pub max_pending_event_bytes: usize,
    /// Bound of datagrams waiting for [`RtcPeer::poll_transmit`].
    pub max_pending_transmits: usize,
    /// Bound of signaling messages waiting for [`RtcPeer::poll_signal`].
    pub max_pending_signals: usize,
    /// From creation until the RPC channel is open; then the peer reports
    /// [`RtcEvent::Disconnected`].
    pub connect_timeout: Duration,
    /// From losing connectivity until it is back; then [`RtcEvent::Disconnected`].
    pub recovery_timeout: Duration,
    /// The first offer's exchange id. Make it unique per session (for
    /// example the route table's session id shifted left by 32 bits) so an
    /// answer meant for an older session can never match.
    pub first_exchange_id: u64,
}

impl Default for RtcPeerConfig {
    fn default() -> Self {
        Self {
            certificate: None,
            fragment_size: 16 * 1024,
            max_message: MAX_ENVELOPE,
            reassembly: ReassemblyConfig::default(),
            channel_high_water: 64 * 1024,
            channel_low_water: 32 * 1024,
            max_queued_bytes: 8 << 20,
            max_pending_event_bytes: 32 << 20,
            max_pending_transmits: 8192,
            max_pending_signals: 64,
            connect_timeout: Duration::from_secs(10),
            recovery_timeout: Duration::from_secs(60),
            first_exchange_id: 1,
        }
    }
}

impl RtcPeerConfig {
    /// Checks the limits against each other and against what str0m accepts.
    pub fn validate(&self) -> Result<(), RtcPeerError> {
        let bad = |what: &str| Err(RtcPeerError::Config(what.to_string()));
        if self.fragment_size <= FRAGMENT_HEADER || self.fragment_size > DEFAULT_MAX_FRAGMENT {
            return bad("fragment_size must be above the fragment header and at most 64 KiB");
        }
        if self.channel_low_water > self.channel_high_water {
            return bad("channel_low_water must not exceed channel_high_water");
        }
        if self.max_queued_bytes < self.fragment_size {
            return bad("max_queued_bytes must hold at least one fragment");
        }
        if self.max_pending_transmits == 0 || self.max_pending_signals == 0 {
            return bad("pending transmit and signal queues need room");
        }
        Ok(())
    }
}

/// Generates a DTLS certificate to share between peers.
pub fn generate_certificate() -> Result<DtlsCert, RtcPeerError> {
    let provider = str0m::crypto::from_feature_flags();
    provider
        .dtls_provider
        .generate_certificate()
        .ok_or_else(|| RtcPeerError::Config("the crypto provider cannot generate certificates".into()))
}

/// The lanes that travel as data channels, in channel creation order.
pub const CHANNEL_LANES: [LaneKind; 2] = [LaneKind::Rpc, LaneKind::Stream];
