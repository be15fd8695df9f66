//! [`RtcPeer`]: the public face of one WebRTC connection. The module docs of
//! [`super`] give the drive loop; `drive.rs` holds the internals.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use actr_core::time::TimerTable;
use actr_core::transport::LaneKind;
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Input, Rtc};

use super::RtcPeerConfig;
use super::channels::LaneChannels;
use super::errors::{RtcPeerError, SendError};
use super::events::{RtcEvent, RtcPeerStats, event_bytes};
use super::media::{MediaSample, MediaType};
use super::negotiation::Negotiator;
use super::tracks::{MediaTracks, configure_codecs};
use actr_core::node::signal::RtcSignal;

/// The peer's own timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerTimer {
    /// Connection setup: until the RPC channel opens.
    Setup,
    /// Recovery: from losing connectivity until it is back.
    Recovery,
}

/// Converts between str0m's `std::time::Instant` and the core's microseconds.
#[derive(Debug, Clone, Copy)]
pub(super) struct Clock {
    origin: Instant,
}

impl Clock {
    pub(super) fn core(&self, t: Instant) -> actr_core::Instant {
        actr_core::Instant::from_micros(t.saturating_duration_since(self.origin).as_micros() as u64)
    }

    pub(super) fn std(&self, t: actr_core::Instant) -> Instant {
        self.origin + Duration::from_micros(t.as_micros())
    }

    pub(super) fn after(&self, now: Instant, d: Duration) -> actr_core::Instant {
        self.core(now) + actr_core::Duration::from_micros(d.as_micros() as u64)
    }
}

/// One WebRTC connection to one remote peer, sans-IO.
#[derive(Debug)]
pub struct RtcPeer {
    pub(super) rtc: Rtc,
    pub(super) config: RtcPeerConfig,
    pub(super) clock: Clock,
    pub(super) local_addr: SocketAddr,
    pub(super) negotiator: Negotiator,
    pub(super) lanes: LaneChannels,
    pub(super) tracks: MediaTracks,
    pub(super) timers: TimerTable<PeerTimer, 2>,
    pub(super) rtc_timeout: Instant,
    pub(super) last_now: Instant,
    pub(super) transmits: VecDeque<(SocketAddr, Vec<u8>)>,
    pub(super) events: VecDeque<RtcEvent>,
    pub(super) event_bytes: usize,
    pub(super) signals: VecDeque<RtcSignal>,
    pub(super) connected: bool,
    pub(super) ice_down: bool,
    pub(super) ice_restarting: bool,
    pub(super) closed: bool,
    pub(super) stats: RtcPeerStats,
}

impl RtcPeer {
    /// A peer that offers: it opens the lanes' channels and adds media tracks.
    /// Its first offer comes out of the first [`RtcPeer::poll_signal`].
    pub fn offerer(config: RtcPeerConfig, local_addr: SocketAddr, now: Instant) -> Result<Self, RtcPeerError> {
        Self::new(true, config, local_addr, now)
    }

    /// A peer that answers: it waits for an [`RtcSignal::Offer`].
    pub fn answerer(config: RtcPeerConfig, local_addr: SocketAddr, now: Instant) -> Result<Self, RtcPeerError> {
        Self::new(false, config, local_addr, now)
    }

    fn new(offerer: bool, config: RtcPeerConfig, local_addr: SocketAddr, now: Instant) -> Result<Self, RtcPeerError> {
        config.validate()?;
        let candidate = Candidate::host(local_addr, "udp").map_err(|e| RtcPeerError::Config(e.to_string()))?;
        let mut builder = configure_codecs(Rtc::builder());
        if let Some(cert) = &config.certificate {
            builder = builder.set_dtls_cert(cert.clone());
        }
        let mut rtc = builder.build(now);
        rtc.add_local_candidate(candidate);
        let clock = Clock { origin: now };
        let mut peer = Self {
            rtc,
            negotiator: Negotiator::new(offerer, config.first_exchange_id),
            lanes: LaneChannels::new(&config)?,
            tracks: MediaTracks::default(),
            timers: TimerTable::default(),
            clock,
            local_addr,
            rtc_timeout: now,
            last_now: now,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            event_bytes: 0,
            signals: VecDeque::new(),
            connected: false,
            ice_down: false,
            ice_restarting: false,
            closed: false,
            stats: RtcPeerStats::default(),
            config,
        };
        peer.timers.set(PeerTimer::Setup, clock.after(now, peer.config.connect_timeout));
        peer.drain();
        Ok(peer)
    }

    /// Feeds one datagram received on the local socket (`to` is its local address).
    ///
    /// Refused with [`RtcPeerError::EventsNotDrained`] while polled events hold
    /// too many bytes; the datagram then counts as lost.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        to: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), RtcPeerError> {
        if self.closed {
            return Ok(());
        }
        let limit = self.config.max_pending_event_bytes;
        if self.event_bytes > limit {
            return Err(RtcPeerError::EventsNotDrained { pending: self.event_bytes, limit });
        }
        let now = self.advance(now);
        let receive =
            Receive::new(Protocol::Udp, from, to, bytes).map_err(|e| RtcPeerError::Datagram(e.to_string()))?;
        let result = self.rtc.handle_input(Input::Receive(now, receive));
        self.settle(now);
        result.map_err(|e| RtcPeerError::Rtc(e.to_string()))
    }

    /// Advances time; call when `now` reaches [`RtcPeer::poll_timeout`].
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), RtcPeerError> {
        if self.closed {
            return Ok(());
        }
        let now = self.advance(now);
        let result = self.rtc.handle_input(Input::Timeout(now));
        self.stats.partials_timed_out += self.lanes.handle_timeout(self.clock.core(now)) as u64;
        self.settle(now);
        result.map_err(|e| RtcPeerError::Rtc(e.to_string()))
    }

    /// Feeds one signaling message from the remote peer.
    pub fn handle_signal(&mut self, now: Instant, signal: RtcSignal) -> Result<(), RtcPeerError> {
        if self.closed {
            return Ok(());
        }
        let now = self.advance(now);
        let result = match signal {
            RtcSignal::Offer { sdp, exchange_id } => self.on_offer(&sdp, exchange_id),
            RtcSignal::Answer { sdp, exchange_id } => self.on_answer(&sdp, exchange_id),
            RtcSignal::Candidate { candidate } => self.on_candidate(&candidate),
            RtcSignal::IceRestartRequest => self.on_restart_request(),
            // Requests for a new connection and refusals are the node's to
            // handle, not a peer's.
            RtcSignal::ConnectRequest | RtcSignal::Refused { .. } => Ok(()),
        };
        self.settle(now);
        result
    }

    /// Queues `message` on `lane` and writes what the channel takes now.
    ///
    /// All or nothing: on error nothing was queued and the caller still owns
    /// the message. [`SendError::Backpressure`] clears as the remote
    /// acknowledges data, which happens while the loop feeds inputs.
    pub fn send(&mut self, lane: LaneKind, message: &[u8]) -> Result<(), SendError> {
        if self.closed {
            return Err(SendError::Closed);
        }
        self.lanes.enqueue(lane, message)?;
        self.stats.messages_sent += 1;
        self.pump(lane);
        Ok(())
    }

    /// Sends one media sample on the first negotiated track of its type.
    pub fn send_media(&mut self, sample: MediaSample) -> Result<(), SendError> {
        if self.closed {
            return Err(SendError::Closed);
        }
        let result = self.tracks.write(&mut self.rtc, self.last_now, sample);
        self.drain();
        result
    }

    /// Offerer only: adds a send-and-receive track. Before the first offer it
    /// rides in that offer; later it is negotiated in a new offer.
    /// [`RtcEvent::MediaTrack`] reports it usable.
    pub fn add_media_track(&mut self, media_type: MediaType) -> Result<(), RtcPeerError> {
        if self.closed {
            return Err(RtcPeerError::Closed);
        }
        self.negotiator.want_media(media_type, self.tracks.len())
    }

    /// Offerer only: restarts ICE with a new offer and a fresh exchange id,
    /// superseding an unanswered restart. [`RtcEvent::IceRestarted`] reports success.
    pub fn restart_ice(&mut self) -> Result<(), RtcPeerError> {
        if self.closed {
            return Err(RtcPeerError::Closed);
        }
        self.negotiator.want_restart()?;
        self.stats.ice_restarts += 1;
        Ok(())
    }

    /// Asks the offerer to restart ICE (the offerer restarts directly).
    pub fn request_ice_restart(&mut self) -> Result<(), RtcPeerError> {
        if self.negotiator.is_offerer() {
            return self.restart_ice();
        }
        if self.closed {
            return Err(RtcPeerError::Closed);
        }
        self.push_signal(RtcSignal::IceRestartRequest)
    }

    /// Adds another local address (a further socket or interface) and trickles
    /// it to the remote once the first description has gone out.
    pub fn add_local_candidate(&mut self, addr: SocketAddr) -> Result<(), RtcPeerError> {
        if self.closed {
            return Err(RtcPeerError::Closed);
        }
        let candidate = Candidate::host(addr, "udp").map_err(|e| RtcPeerError::Config(e.to_string()))?;
        let line = self.rtc.add_local_candidate(candidate).map(|c| c.to_sdp_string());
        self.drain();
        match line {
            Some(candidate) if self.negotiator.described() => self.push_signal(RtcSignal::Candidate { candidate }),
            _ => Ok(()),
        }
    }

    /// Closes the connection gracefully; reports [`RtcEvent::Disconnected`].
    pub fn close(&mut self) {
        if self.closed {
            return;
        }
        let _ = self.rtc.close();
        self.drain();
        self.finish("closed locally");
    }

    /// The next signaling message for the remote peer. The offerer builds an
    /// offer here when one is due.
    pub fn poll_signal(&mut self) -> Option<RtcSignal> {
        if self.signals.is_empty()
            && !self.closed
            && let Some(offer) = self.negotiator.make_offer(&mut self.rtc)
        {
            self.drain();
            self.signals.push_back(offer);
        }
        self.signals.pop_front()
    }

    /// The next datagram to send from the local socket, and where to.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.transmits.pop_front()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<RtcEvent> {
        let event = self.events.pop_front()?;
        self.event_bytes -= event_bytes(&event);
        Some(event)
    }

    /// When to call [`RtcPeer::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Instant {
        if self.closed {
            return self.last_now + Duration::from_secs(3600);
        }
        let timers = self.timers.next().map(|(_, at)| at);
        let core = timers.into_iter().chain(self.lanes.poll_timeout()).min();
        core.map_or(self.rtc_timeout, |t| self.clock.std(t).min(self.rtc_timeout))
    }

    /// The earliest of the peer's own timers, for traces.
    pub fn next_timer(&self) -> Option<(PeerTimer, Instant)> {
        self.timers.next().map(|(kind, at)| (kind, self.clock.std(at)))
    }

    pub fn is_offerer(&self) -> bool {
        self.negotiator.is_offerer()
    }

    pub fn is_connected(&self) -> bool {
        self.connected && !self.closed
    }

    /// Whether an established connection is without connectivity: lost, or
    /// an ICE restart under way. Ends with [`RtcEvent::IceReconnected`] or
    /// [`RtcEvent::IceRestarted`].
    pub fn is_recovering(&self) -> bool {
        self.connected && (self.ice_down || self.ice_restarting)
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    pub fn is_open(&self, lane: LaneKind) -> bool {
        !self.closed && self.lanes.is_open(lane)
    }

    pub fn has_media_track(&self, media_type: MediaType) -> bool {
        self.tracks.has(media_type)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Bytes waiting in `lane`'s outbound queue (not yet in the channel).
    pub fn queued_bytes(&self, lane: LaneKind) -> usize {
        self.lanes.queued_bytes(lane)
    }

    /// The most `lane`'s outbound queue ever held.
    pub fn queue_high_water(&self, lane: LaneKind) -> usize {
        self.lanes.queue_high_water(lane)
    }

    /// Bytes of partial inbound messages on `lane`.
    pub fn reassembly_bytes(&self, lane: LaneKind) -> usize {
        self.lanes.reassembly_bytes(lane)
    }

    /// Message bytes held in events not yet polled.
    pub fn pending_event_bytes(&self) -> usize {
        self.event_bytes
    }

    pub fn stats(&self) -> RtcPeerStats {
        self.stats
    }
}
