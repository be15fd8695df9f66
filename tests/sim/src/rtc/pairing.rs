//! Offer/answer pairing of [`RtcNode`]s through signaling relays.
//!
//! - The offerer begins a session when it has something to send, or when
//!   the answerer asks (`ConnectRequest`) and the offerer has no session the
//!   answerer still holds.
//! - The answerer begins a session when an offer arrives tagged with a
//!   `conn` newer than any it has heard from that offerer; a newer session
//!   supersedes the old one in the route table, and the old peer is closed
//!   (its late events are then stale).
//! - A signal tagged with another `conn` than the current session's is
//!   stale and dropped. An answerer that receives an offer for a session it
//!   no longer holds asks for a new one; an offerer that hears from an
//!   answerer while it holds no session offers a new one.

use actr_core::signaling::is_offerer;
use actr_core::transport::SessionId;
use actr_core::{ActrId, Instant};
use actr_driver::webrtc::{RtcPeerConfig, RtcSignal};

use super::env::certificate;
use super::node::{NodeCx, RtcNode, RtcOut};
use super::session::RtcSession;
use super::signal::PeerSignal;

impl RtcNode {
    /// A relay from `source` arrived through signaling.
    pub fn handle_relay(&mut self, now: Instant, source: &ActrId, payload: &[u8], cx: &mut NodeCx<'_>) {
        match PeerSignal::decode(payload) {
            Some(PeerSignal::ConnectRequest { seen }) => self.on_connect_request(now, source, seen, cx),
            Some(PeerSignal::Rtc { conn, signal }) if is_offerer(&self.me, source) => {
                self.on_signal_as_offerer(now, source, conn, signal, cx)
            }
            Some(PeerSignal::Rtc { conn, signal }) => self.on_signal_as_answerer(now, source, conn, signal, cx),
            None => cx.log.counters.malformed_signals += 1,
        }
        self.settle(now, cx);
    }

    /// Gets a session to `peer` going: the offerer begins one, the answerer asks.
    pub(super) fn connect(&mut self, now: Instant, peer: &ActrId, cx: &mut NodeCx<'_>) {
        if self.current_id(peer).is_some() {
            return; // one is on its way
        }
        if is_offerer(&self.me, peer) {
            let _ = self.begin_session(now, peer, None, cx);
        } else {
            self.ask_for_session(now, peer, cx);
        }
    }

    fn on_connect_request(&mut self, now: Instant, source: &ActrId, seen: u64, cx: &mut NodeCx<'_>) {
        if !is_offerer(&self.me, source) {
            cx.log.counters.malformed_signals += 1;
            return;
        }
        let current = self.current_id(source).and_then(|id| self.sessions.get(&id)).map(|s| s.conn());
        // With no session, or one the answerer has seen and still asks
        // about (so it lost it), begin a new one; otherwise the request
        // predates our current offer.
        if current.is_none_or(|conn| seen >= conn) {
            self.begin_session(now, source, None, cx);
        } else {
            cx.log.counters.stale_signals += 1;
        }
    }

    fn on_signal_as_offerer(&mut self, now: Instant, source: &ActrId, conn: u64, signal: RtcSignal, cx: &mut NodeCx) {
        let current = self.current_id(source);
        match current.and_then(|id| self.sessions.get(&id)).map(|s| (s.id(), s.conn())) {
            Some((id, c)) if c == conn => self.feed(now, id, signal, cx),
            Some(_) => cx.log.counters.stale_signals += 1,
            None => {
                // The answerer still talks about a session we gave up (its
                // setup timed out here, say): offer it a new one.
                cx.log.counters.stale_signals += 1;
                self.begin_session(now, source, None, cx);
            }
        }
    }

    fn on_signal_as_answerer(&mut self, now: Instant, source: &ActrId, conn: u64, signal: RtcSignal, cx: &mut NodeCx) {
        let current = self.current_id(source).and_then(|id| self.sessions.get(&id)).map(|s| (s.id(), s.conn()));
        let seen = self.seen.get(source).copied().unwrap_or(0);
        let offer = matches!(signal, RtcSignal::Offer { .. });
        match current {
            Some((id, c)) if c == conn => self.feed(now, id, signal, cx),
            _ if offer && conn > seen => {
                self.seen.insert(source.clone(), conn);
                if let Some(id) = self.begin_session(now, source, Some(conn), cx) {
                    self.feed(now, id, signal, cx);
                }
            }
            None if offer && conn == seen => {
                // An offer (an ICE restart, say) for a session we no longer hold.
                cx.log.counters.stale_signals += 1;
                self.ask_for_session(now, source, cx);
            }
            _ => cx.log.counters.stale_signals += 1,
        }
    }

    fn feed(&mut self, now: Instant, id: SessionId, signal: RtcSignal, cx: &mut NodeCx<'_>) {
        if let Some(s) = self.sessions.get_mut(&id)
            && s.handle_signal(now, signal).is_err()
        {
            cx.log.counters.peer_errors += 1;
        }
    }

    /// Begins a session with `peer`, superseding (and closing) the current
    /// one. `conn` is the offerer's id when answering; the offerer uses its
    /// own new session id.
    fn begin_session(&mut self, now: Instant, peer: &ActrId, conn: Option<u64>, cx: &mut NodeCx) -> Option<SessionId> {
        let old = self.current_id(peer);
        let Ok(id) = self.routes.begin_webrtc(peer) else {
            cx.log.counters.peer_errors += 1;
            return None;
        };
        if let Some(s) = old.and_then(|old| self.sessions.get_mut(&old)) {
            s.peer_mut().close();
        }
        let conn = conn.unwrap_or(id.0);
        let offerer = is_offerer(&self.me, peer);
        let local = cx.ports.bind();
        match RtcSession::new(offerer, (id, conn), peer.clone(), self.peer_config(conn), local, now) {
            Ok(s) => {
                self.sessions.insert(id, s);
                cx.log.counters.sessions_begun += 1;
                Some(id)
            }
            Err(_) => {
                cx.log.counters.peer_errors += 1;
                self.routes.session_closed(peer, id);
                None
            }
        }
    }

    /// Answerer: asks `peer` (the offerer) for a session, at most once per
    /// `connect_request_every`.
    fn ask_for_session(&mut self, now: Instant, peer: &ActrId, cx: &mut NodeCx<'_>) {
        let every = self.config.connect_request_every;
        if self.asked.get(peer).is_some_and(|at| now < *at + every) {
            return;
        }
        self.asked.insert(peer.clone(), now);
        cx.log.counters.connect_requests_sent += 1;
        let seen = self.seen.get(peer).copied().unwrap_or(0);
        let payload = PeerSignal::ConnectRequest { seen }.encode();
        self.out.push_back(RtcOut::Relay { target: peer.clone(), payload });
    }

    fn peer_config(&self, conn: u64) -> RtcPeerConfig {
        let std = |d: actr_core::Duration| std::time::Duration::from_micros(d.as_micros());
        RtcPeerConfig {
            certificate: Some(certificate(self.index)),
            connect_timeout: std(self.config.connect_timeout),
            recovery_timeout: std(self.config.recovery_timeout),
            // Unique per session, so an answer for another session never matches.
            first_exchange_id: (conn << 32) | 1,
            ..RtcPeerConfig::default()
        }
    }
}
