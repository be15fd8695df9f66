//! Inside [`RtcPeer`]: draining str0m, translating its events, writing queued
//! fragments, and the peer's timers.
//!
//! Every public input ends in [`RtcPeer::settle`]: drain str0m until it
//! returns a timeout, fire due timers, then write queued fragments while the
//! channels take them (each write followed by another drain).

use std::net::SocketAddr;
use std::time::Instant;

use actr_core::transport::LaneKind;
use str0m::channel::{ChannelData, ChannelId};
use str0m::media::{MediaAdded, MediaData};
use str0m::{Candidate, Event, IceConnectionState, Output};

use super::errors::RtcPeerError;
use super::events::{RtcEvent, event_bytes};
use super::negotiation::AnswerOutcome;
use super::peer::{PeerTimer, RtcPeer};
use actr_core::node::signal::RtcSignal;

impl RtcPeer {
    /// Keeps time monotonic for str0m.
    pub(super) fn advance(&mut self, now: Instant) -> Instant {
        self.last_now = self.last_now.max(now);
        self.last_now
    }

    /// After an input: drain, timers, then queued writes.
    pub(super) fn settle(&mut self, now: Instant) {
        self.drain();
        self.run_timers(now);
        for lane in self.lanes.backlogged() {
            self.pump(lane);
        }
    }

    /// Polls str0m until it returns its next timeout (str0m's contract after
    /// every mutation).
    pub(super) fn drain(&mut self) {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(at)) => {
                    self.rtc_timeout = at;
                    return;
                }
                Ok(Output::Transmit(t)) => self.push_transmit(t.destination, t.contents.into()),
                Ok(Output::Event(event)) => self.on_rtc_event(event),
                Err(e) => {
                    tracing::warn!(error = %e, "str0m failed; closing the peer");
                    self.fail("str0m poll failed");
                    return;
                }
            }
        }
    }

    /// Writes `lane`'s queued fragments while its channel is below the high
    /// water mark and str0m accepts them. str0m's buffered-amount-low event
    /// (threshold: the low water mark) arrives in the drain of the input that
    /// acknowledged data, and the pump that follows every drain resumes here.
    pub(super) fn pump(&mut self, lane: LaneKind) {
        let high = self.config.channel_high_water;
        while let Some((id, fragment)) = self.lanes.front(lane) {
            let Some(mut channel) = self.rtc.channel(id) else { return };
            if channel.buffered_amount() > high {
                return;
            }
            match channel.write(true, fragment) {
                Ok(true) => {}
                // The association's shared send buffer is full: wait for acknowledgements.
                Ok(false) => return,
                Err(e) => {
                    tracing::debug!(?lane, error = %e, "data channel write refused");
                    return;
                }
            }
            self.lanes.pop(lane);
            self.stats.fragments_written += 1;
            self.drain();
        }
    }

    fn run_timers(&mut self, now: Instant) {
        while let Some(timer) = self.timers.expired(self.clock.core(now)) {
            match timer {
                PeerTimer::Setup => self.fail("connection setup timed out"),
                PeerTimer::Recovery => self.fail("connectivity not recovered in time"),
            }
        }
    }

    /// Ends the peer at once: str0m stops, the application hears `Disconnected`.
    pub(super) fn fail(&mut self, why: &'static str) {
        self.rtc.disconnect();
        self.finish(why);
    }

    /// Marks the peer finished; outbound queues and timers go.
    pub(super) fn finish(&mut self, why: &'static str) {
        if self.closed {
            return;
        }
        tracing::debug!(why, "webrtc peer disconnected");
        self.closed = true;
        self.timers.stop(PeerTimer::Setup);
        self.timers.stop(PeerTimer::Recovery);
        self.push_event(RtcEvent::Disconnected);
    }

    fn push_transmit(&mut self, to: SocketAddr, bytes: Vec<u8>) {
        if self.transmits.len() >= self.config.max_pending_transmits {
            self.transmits.pop_front();
            self.stats.transmits_dropped += 1;
        }
        self.transmits.push_back((to, bytes));
    }

    pub(super) fn push_event(&mut self, event: RtcEvent) {
        self.event_bytes += event_bytes(&event);
        self.events.push_back(event);
    }

    pub(super) fn push_signal(&mut self, signal: RtcSignal) -> Result<(), RtcPeerError> {
        if self.signals.len() >= self.config.max_pending_signals {
            return Err(RtcPeerError::SignalsNotDrained(self.signals.len()));
        }
        self.signals.push_back(signal);
        Ok(())
    }

    fn on_rtc_event(&mut self, event: Event) {
        match event {
            Event::Connected => {
                self.connected = true;
                self.push_event(RtcEvent::Connected);
            }
            Event::IceConnectionStateChange(state) => self.on_ice_state(state),
            Event::ChannelOpen(id, label) => self.on_channel_open(id, &label),
            Event::ChannelData(data) => self.on_channel_data(data),
            Event::ChannelClose(id) => self.on_channel_close(id),
            Event::MediaAdded(added) => self.on_media_added(added),
            Event::MediaData(data) => self.on_media_data(&data),
            Event::Closed => self.finish("closed by the remote"),
            _ => {}
        }
    }

    fn on_ice_state(&mut self, state: IceConnectionState) {
        if !self.connected {
            return; // initial setup is bounded by the setup timer
        }
        match state {
            IceConnectionState::Checking => {
                self.ice_restarting = true;
                self.arm_recovery();
            }
            IceConnectionState::Disconnected if !self.ice_down => {
                self.ice_down = true;
                self.arm_recovery();
                self.push_event(RtcEvent::IceDisconnected);
            }
            IceConnectionState::Connected | IceConnectionState::Completed => {
                self.timers.stop(PeerTimer::Recovery);
                if std::mem::take(&mut self.ice_restarting) {
                    self.push_event(RtcEvent::IceRestarted);
                } else if self.ice_down {
                    self.push_event(RtcEvent::IceReconnected);
                }
                self.ice_down = false;
            }
            _ => {}
        }
    }

    fn arm_recovery(&mut self) {
        if !self.timers.is_armed(PeerTimer::Recovery) {
            let at = self.clock.after(self.last_now, self.config.recovery_timeout);
            self.timers.set(PeerTimer::Recovery, at);
        }
    }

    fn on_channel_open(&mut self, id: ChannelId, label: &str) {
        let Some(lane) = self.lanes.open(id, label) else {
            self.stats.unknown_channels += 1;
            return;
        };
        if let Some(mut channel) = self.rtc.channel(id) {
            channel.set_buffered_amount_low_threshold(self.config.channel_low_water);
        }
        if lane == LaneKind::Rpc {
            self.timers.stop(PeerTimer::Setup);
        }
        self.push_event(RtcEvent::ChannelOpen(lane));
    }

    fn on_channel_data(&mut self, data: ChannelData) {
        let Some(lane) = self.lanes.lane_of(data.id) else {
            return;
        };
        match self.lanes.receive(lane, self.clock.core(self.last_now), &data.data) {
            Ok(Some(bytes)) => {
                self.stats.messages_received += 1;
                self.push_event(RtcEvent::Message { lane, bytes });
            }
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(?lane, error = %e, "inbound fragment rejected");
                self.stats.fragments_rejected += 1;
            }
        }
    }

    fn on_channel_close(&mut self, id: ChannelId) {
        if let Some((lane, dropped)) = self.lanes.close(id) {
            self.stats.bytes_dropped_on_close += dropped as u64;
            self.push_event(RtcEvent::ChannelClosed(lane));
        }
    }

    fn on_media_added(&mut self, added: MediaAdded) {
        if self.tracks.add(added.mid, added.kind) {
            let media_type = if added.kind.is_audio() { super::MediaType::Audio } else { super::MediaType::Video };
            self.push_event(RtcEvent::MediaTrack(media_type));
        }
    }

    fn on_media_data(&mut self, data: &MediaData) {
        if let Some(sample) = self.tracks.sample_from(data) {
            self.push_event(RtcEvent::MediaSample(sample));
        }
    }

    pub(super) fn on_offer(&mut self, sdp: &str, exchange_id: u64) -> Result<(), RtcPeerError> {
        let answer = self.negotiator.on_offer(&mut self.rtc, sdp, exchange_id);
        self.drain();
        match answer? {
            Some(answer) => self.push_signal(answer),
            None => {
                self.stats.signals_ignored += 1;
                Ok(())
            }
        }
    }

    pub(super) fn on_answer(&mut self, sdp: &str, exchange_id: u64) -> Result<(), RtcPeerError> {
        let outcome = self.negotiator.on_answer(&mut self.rtc, sdp, exchange_id);
        self.drain();
        match outcome? {
            AnswerOutcome::Accepted { media } => {
                for (media_type, mid) in media {
                    if self.tracks.add(mid, media_type.kind()) {
                        self.push_event(RtcEvent::MediaTrack(media_type));
                    }
                }
            }
            AnswerOutcome::Stale => self.stats.stale_answers += 1,
            AnswerOutcome::Ignored => self.stats.signals_ignored += 1,
        }
        Ok(())
    }

    pub(super) fn on_candidate(&mut self, line: &str) -> Result<(), RtcPeerError> {
        let line = line.strip_prefix("a=").unwrap_or(line);
        let candidate = Candidate::from_sdp_string(line).map_err(|e| RtcPeerError::Candidate(e.to_string()))?;
        self.rtc.add_remote_candidate(candidate);
        self.drain();
        Ok(())
    }

    pub(super) fn on_restart_request(&mut self) -> Result<(), RtcPeerError> {
        let offerer = self.negotiator.is_offerer();
        if !offerer || !self.negotiator.is_established() || self.negotiator.restart_in_flight() {
            self.stats.signals_ignored += 1;
            return Ok(());
        }
        self.restart_ice()
    }
}
