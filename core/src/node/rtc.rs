//! The hub's WebRTC connections: who offers (`is_offerer`), answerers for
//! unsolicited offers (bounded per peer), offer epochs (an offer from a new
//! connection of the offerer replaces ours), signals relayed through
//! signaling, the RPC channel coming up (WebRTC then takes over) and going
//! down, ICE recovery (the offerer restarts, the answerer asks it to), and
//! the setup and recovery deadlines. Offers and answers carry a proof that
//! their DTLS fingerprints are the sender's host's (see [`super::signal`]).
//!
//! Every report names its connection; a report of a connection that is no
//! longer the peer's current one is stale and changes nothing. Each time a
//! connection comes up it gets a new route-table session, so late closes of
//! an older one change nothing either. A connection that is up but carries
//! nothing is handled in [`super::stall`].

use crate::error::ActrError;
use crate::id::ActrId;
use crate::node::signal::{MAX_REFUSAL_REASON, RelaySignal, RtcSignal, SignalProof};
use crate::node::{NodeHub, NodeOutput, Purpose, RtcId, RtcOutput, RtcReport};
use crate::proof::{Statement, sdp_fingerprints};
use crate::signaling::{ClientRequest, ServerReply, is_offerer};
use crate::time::Instant;

/// Pauses between ICE restarts while a connection stays down.
const RESTART_BACKOFF_SECS: [u64; 4] = [1, 2, 4, 5];

impl NodeHub {
    /// The connection to `peer`, started if none runs; an answerer that
    /// `solicit`s asks the peer for a new connection (`ConnectRequest`).
    pub(super) fn ensure_rtc(&mut self, now: Instant, peer: &ActrId, solicit: bool) -> Result<RtcId, ActrError> {
        if let Some(conn) = self.peers.rtc_of(peer) {
            return Ok(conn.id);
        }
        if self.peers.rtc_room().is_err()
            && let Some(victim) = self.peers.least_used_rtc()
        {
            // A node that talks to ever more peers keeps working: the
            // connection used least recently makes room.
            self.stats.webrtc_evicted += 1;
            self.close_rtc(now, &victim, ActrError::Unavailable("webrtc connection closed to make room".into()));
        }
        self.peers.rtc_room()?;
        self.route_entry(now, peer)?;
        let offerer = is_offerer(&self.own, peer);
        let rtc = self.peers.insert_rtc(peer, offerer, (now, now + self.config.rtc_setup_timeout));
        self.out.push_back(NodeOutput::Rtc(RtcOutput::Open {
            rtc,
            peer: peer.clone(),
            offerer,
            first_exchange_id: (rtc.0 << 32) | 1,
        }));
        if solicit && !offerer {
            self.relay_signal(now, rtc, RtcSignal::ConnectRequest);
        }
        if let Some(dial) = self.peers.dial_mut(peer) {
            dial.rtc = Some(rtc);
        }
        Ok(rtc)
    }

    /// What connection `rtc`'s str0m peer reported.
    pub fn handle_rtc_report(&mut self, now: Instant, rtc: RtcId, report: RtcReport) {
        self.stats.inputs += 1;
        match report {
            RtcReport::Message(bytes) => {
                if let Some((peer, conn)) = self.peers.rtc_mut(rtc) {
                    conn.last_used = now;
                    let verified = conn.verified;
                    self.stats.webrtc_received += 1;
                    self.watch_heard(now, rtc);
                    self.endpoint.handle_inbound_from(now, &peer, verified, &bytes);
                }
            }
            RtcReport::SignalOut(signal) => self.relay_signal(now, rtc, signal),
            RtcReport::SendFailed(bytes) => self.rtc_send_failed(now, rtc, bytes),
            RtcReport::RpcOpen | RtcReport::Recovered => self.rtc_up(now, rtc),
            RtcReport::ConnectivityLost => {
                if self.peers.rtc_mut(rtc).is_some() {
                    self.stats.ice_disconnects += 1;
                    self.rtc_down(now, rtc);
                    self.recover(now, rtc, true);
                }
            }
            RtcReport::Recovering | RtcReport::RpcClosed => self.rtc_down(now, rtc),
            RtcReport::Ended(error) => self.rtc_ended(now, rtc, error),
        }
        self.pump(now);
    }

    /// Hands an envelope that did not leave back to the endpoint.
    fn rtc_send_failed(&mut self, now: Instant, rtc: RtcId, bytes: Vec<u8>) {
        let Some((peer, _)) = self.peers.rtc_mut(rtc) else { return };
        let Ok(envelope) = crate::transport::RpcEnvelope::decode(&bytes) else { return };
        if envelope.direction == crate::transport::Direction::Tell {
            // Its teller already heard it left: a tell is handed over, not acknowledged.
            self.stats.tells_lost += 1;
            return;
        }
        self.watch_forget(&peer, envelope.request_id);
        let out = crate::transport::Outbound {
            dest: peer,
            lane: crate::transport::LaneKind::Rpc,
            request_id: envelope.request_id,
            bytes,
        };
        self.send_failed(now, out, ActrError::Unavailable("the webrtc send failed".into()));
    }

    fn relay_signal(&mut self, now: Instant, rtc: RtcId, signal: RtcSignal) {
        let Some((peer, _)) = self.peers.rtc_mut(rtc) else { return };
        let relay = self
            .sign_signal(&peer, signal)
            .and_then(|relay| relay.encode().map_err(ActrError::from))
            .and_then(|payload| self.client.request(now, ClientRequest::Relay { target: peer.clone(), payload }));
        match relay {
            Ok(id) => {
                self.requests.insert(id, Purpose::Relay(peer, rtc));
            }
            Err(e) => self.on_relayed(now, &peer, rtc, Err(e)),
        }
    }

    /// Relays `signal` to `peer` outside any connection (its reply is not awaited).
    fn relay_unsolicited(&mut self, now: Instant, peer: &ActrId, signal: RtcSignal) {
        if let Ok(payload) = (RelaySignal { signal, proof: None }).encode() {
            let _ = self.client.request(now, ClientRequest::Relay { target: peer.clone(), payload });
        }
    }

    /// Wraps `signal` for the relay; an offer or answer gets the proof that
    /// its DTLS fingerprints are this host's.
    fn sign_signal(&self, peer: &ActrId, signal: RtcSignal) -> Result<RelaySignal, ActrError> {
        let Some((sdp, exchange_id)) = signal.sdp() else { return Ok(RelaySignal { signal, proof: None }) };
        let me = self.registration.as_ref().ok_or_else(|| ActrError::Unavailable("not registered".into()))?;
        let fingerprints = sdp_fingerprints(sdp);
        let statement =
            Statement::RtcFingerprint { from: &self.own, to: peer, exchange_id, fingerprints: &fingerprints };
        let proof = SignalProof { credential: me.credential.clone(), signature: self.host_key.sign(&statement) };
        Ok(RelaySignal { signal, proof: Some(proof) })
    }

    /// Checks that an offer's or answer's fingerprints are `source`'s: its
    /// credential verifies for it, and its host key signed them for us.
    /// Returns whether the proven credential marks the type verified, for an
    /// offer or answer; `None` for other signals.
    fn check_signal(
        &self,
        now: Instant,
        source: &ActrId,
        signal: &RtcSignal,
        proof: Option<&SignalProof>,
    ) -> Result<Option<bool>, ActrError> {
        let Some((sdp, exchange_id)) = signal.sdp() else { return Ok(None) };
        let refused =
            |why: String| ActrError::Unauthenticated(format!("webrtc {} from {source}: {why}", signal.name()));
        let proof = proof.ok_or_else(|| refused("no fingerprint proof".into()))?;
        let fingerprints = sdp_fingerprints(sdp);
        if fingerprints.is_empty() {
            return Err(refused("the SDP declares no DTLS fingerprint".into()));
        }
        let statement =
            Statement::RtcFingerprint { from: source, to: &self.own, exchange_id, fingerprints: &fingerprints };
        proof
            .credential
            .verify_possession(&self.ring, self.unix(now), Some(source), &statement, &proof.signature)
            .map(|claims| Some(claims.verified))
            .map_err(|e| {
                refused(format!(
                    "fingerprint proof refused ({e}); the SDP was changed on the way or the sender is not who it claims"
                ))
            })
    }

    /// Signaling answered a relay of `rtc`'s signal. Before the connection
    /// was ever up a failure ends it (the peer is unknown or signaling is
    /// down); later it is only counted, ICE may still recover.
    pub(super) fn on_relayed(
        &mut self,
        now: Instant,
        peer: &ActrId,
        rtc: RtcId,
        result: Result<ServerReply, ActrError>,
    ) {
        let Err(error) = result else { return };
        let Some((_, conn)) = self.peers.rtc_mut(rtc) else { return };
        if !conn.ever_up {
            self.close_rtc(now, peer, error);
        }
    }

    fn rtc_up(&mut self, now: Instant, rtc: RtcId) {
        let Some((peer, conn)) = self.peers.rtc_mut(rtc) else { return };
        if conn.up {
            return;
        }
        let recovered = conn.ever_up;
        let Ok(session) = self.routes.begin_webrtc(&peer) else { return };
        self.routes.webrtc_ready(&peer, session);
        let Some((_, conn)) = self.peers.rtc_mut(rtc) else { return };
        conn.up = true;
        conn.ever_up = true;
        conn.session = Some(session);
        conn.deadline = None;
        conn.next_restart = None;
        conn.stall.reset();
        if recovered {
            self.stats.ice_recovered += 1;
        } else {
            self.stats.webrtc_connections_up += 1;
        }
        if let Some(dial) = self.peers.dial_mut(&peer)
            && dial.rtc == Some(rtc)
        {
            dial.rtc = None;
        }
        self.wire_up(now, &peer);
    }

    /// RPC leaves the connection until it is back (or its recovery deadline).
    fn rtc_down(&mut self, now: Instant, rtc: RtcId) {
        let recovery = self.config.rtc_recovery_timeout;
        let Some((peer, conn)) = self.peers.rtc_mut(rtc) else { return };
        if !conn.up {
            return;
        }
        conn.up = false;
        conn.deadline = Some(now + recovery);
        conn.stall.reset();
        if let Some(session) = conn.session.take() {
            self.routes.session_closed(&peer, session);
        }
    }

    /// The offerer restarts ICE; the answerer asks it to. `fresh` starts a
    /// new recovery; otherwise this is the next attempt of one under way,
    /// repeated at 1, 2, 4, 5, 5… s until the connection is up again.
    fn recover(&mut self, now: Instant, rtc: RtcId, fresh: bool) {
        let Some((_, conn)) = self.peers.rtc_mut(rtc) else { return };
        if !conn.ever_up {
            return; // nothing to recover yet: the setup deadline covers it
        }
        let attempt = match (fresh, conn.next_restart) {
            (false, Some((_, n))) => n + 1,
            _ => 0,
        };
        let backoff = RESTART_BACKOFF_SECS[(attempt as usize).min(RESTART_BACKOFF_SECS.len() - 1)];
        conn.next_restart = Some((now + crate::time::Duration::from_secs(backoff), attempt));
        self.stats.ice_restarts += 1;
        let command = match conn.offerer {
            true => RtcOutput::RestartIce { rtc },
            false => RtcOutput::RequestIceRestart { rtc },
        };
        self.out.push_back(NodeOutput::Rtc(command));
    }

    /// Signaling is back: connections still recovering try again at once
    /// (what was relayed while it was down is lost).
    pub(super) fn signaling_back(&mut self, now: Instant) {
        for rtc in self.peers.rtc_ids() {
            if self.peers.rtc_mut(rtc).is_some_and(|(_, c)| c.next_restart.is_some()) {
                self.recover(now, rtc, false);
            }
        }
    }

    /// After a network change: every connection leaves RPC and recovers.
    pub(super) fn recover_all(&mut self, now: Instant) {
        for rtc in self.peers.rtc_ids() {
            self.rtc_down(now, rtc);
            self.recover(now, rtc, true);
        }
    }

    /// Closes `peer`'s connection, if any, as ended with `error`.
    pub(super) fn close_rtc(&mut self, now: Instant, peer: &ActrId, error: ActrError) {
        if let Some(conn) = self.peers.rtc_of(peer) {
            let rtc = conn.id;
            self.out.push_back(NodeOutput::Rtc(RtcOutput::Close { rtc }));
            self.rtc_ended(now, rtc, error);
        }
    }

    /// Connection `rtc` ended for good.
    pub(super) fn rtc_ended(&mut self, now: Instant, rtc: RtcId, error: ActrError) {
        let Some((peer, _)) = self.peers.rtc_mut(rtc) else { return };
        let Some(conn) = self.peers.remove_rtc(&peer) else { return };
        if !conn.ever_up {
            self.stats.webrtc_connection_failures += 1;
            self.peers.hold_rtc(&peer, now, now + self.config.rtc_retry_after);
        }
        if let Some(session) = conn.session {
            self.routes.session_closed(&peer, session);
        }
        let lost = ActrError::Unavailable(format!("webrtc to {peer} ended: {error}"));
        let was_attempt = self.peers.dial_mut(&peer).is_some_and(|d| d.rtc == Some(rtc));
        if was_attempt {
            if let Some(dial) = self.peers.dial_mut(&peer) {
                dial.rtc = None;
            }
            self.attempt_failed(now, &peer, error);
        }
        // A connection that was up was a wire, even while a dial waited on
        // its recovery: calls sent on it fail at once if it was the last.
        if conn.ever_up {
            self.wire_lost(&peer, &lost);
        }
        self.peers.tidy(&peer);
    }

    /// Setup, recovery and stall deadlines, and repeated ICE restarts.
    pub(super) fn rtc_timers(&mut self, now: Instant) {
        self.stall_timers(now);
        for rtc in self.peers.restarts_due(now) {
            let offerer = self.peers.rtc_mut(rtc).is_some_and(|(_, c)| c.offerer);
            if offerer && self.client.is_connected() {
                self.recover(now, rtc, false);
            } else if let Some((_, conn)) = self.peers.rtc_mut(rtc)
                && let Some((at, _)) = conn.next_restart.as_mut()
            {
                // Only the offerer repeats: an answerer's repeated requests
                // would restart an offerer that already recovered. Without
                // signaling nothing can be relayed; `signaling_back` asks
                // again at once when it returns.
                *at = now + crate::time::Duration::from_secs(RESTART_BACKOFF_SECS[3]);
            }
        }
        for rtc in self.peers.expired(now) {
            let Some((peer, conn)) = self.peers.rtc_mut(rtc) else { continue };
            let what = match (conn.ever_up, conn.stall.stalled) {
                (_, true) => "stall",
                (true, false) => "recovery",
                (false, false) => "setup",
            };
            self.close_rtc(now, &peer, ActrError::Unavailable(format!("webrtc {what} deadline passed")));
        }
    }

    /// A WebRTC signal relayed from `source`. An offer or answer whose
    /// fingerprint proof does not hold goes no further, and ends the
    /// connection to `source` it was for with the typed error.
    pub(super) fn on_remote_signal(&mut self, now: Instant, source: ActrId, relay: RelaySignal) {
        if !self.config.webrtc || self.registration.is_none() {
            return;
        }
        let RelaySignal { signal, proof } = relay;
        let verified = match self.check_signal(now, &source, &signal, proof.as_ref()) {
            Ok(verified) => verified,
            Err(e) => {
                self.stats.fingerprints_refused += 1;
                // The sender learns at once instead of at its setup deadline.
                let reason: String = e.to_string().chars().take(MAX_REFUSAL_REASON).collect();
                self.relay_unsolicited(now, &source, RtcSignal::Refused { reason });
                return self.close_rtc(now, &source, e);
            }
        };
        if let RtcSignal::Refused { reason } = &signal {
            let reason: String = reason.chars().take(MAX_REFUSAL_REASON).collect();
            let e = ActrError::Unauthenticated(format!("{source} refused the webrtc session: {reason}"));
            return self.close_rtc(now, &source, e);
        }
        let we_offer = is_offerer(&self.own, &source);
        match &signal {
            RtcSignal::Offer { exchange_id, .. } if !we_offer => {
                let epoch = exchange_id >> 32;
                let current = self.peers.rtc_of(&source).map(|c| c.remote_epoch);
                match current {
                    Some(Some(e)) if e != epoch => {
                        // A new connection of the offerer: replace ours. The
                        // dial waiting on the old one waits on the new one.
                        if !self.start_answerer(now, &source, true) {
                            return;
                        }
                    }
                    Some(_) => {}
                    None => {
                        if !self.start_answerer(now, &source, false) {
                            return;
                        }
                    }
                }
                if let Some(conn) = self.peers.get_mut(&source).and_then(|p| p.rtc.as_mut()) {
                    conn.remote_epoch = Some(epoch);
                }
            }
            RtcSignal::IceRestartRequest if we_offer && self.peers.rtc_of(&source).is_none() => {
                // The peer wants a connection: offer one (counted as unsolicited).
                self.start_answerer(now, &source, false);
                return;
            }
            RtcSignal::ConnectRequest => {
                if we_offer {
                    // The peer has no connection to us: whatever we hold is dead to it.
                    let replace = self.peers.rtc_of(&source).is_some();
                    self.start_answerer(now, &source, replace);
                }
                return;
            }
            _ => {}
        }
        if let Some(conn) = self.peers.get_mut(&source).and_then(|p| p.rtc.as_mut()) {
            if let Some(verified) = verified {
                conn.verified = verified;
            }
            let rtc = conn.id;
            self.out.push_back(NodeOutput::Rtc(RtcOutput::Signal { rtc, signal }));
        }
    }

    /// Starts a connection the peer asked for (replacing the current one if
    /// `replace`), within the peer's budget of unsolicited connections.
    fn start_answerer(&mut self, now: Instant, peer: &ActrId, replace: bool) -> bool {
        if !self.peers.admit_offer(peer, now) {
            self.stats.offers_refused += 1;
            return false;
        }
        let dial_waits = self.peers.dial_mut(peer).is_some_and(|d| d.rtc.is_some());
        if replace && let Some(old) = self.peers.remove_rtc(peer) {
            self.out.push_back(NodeOutput::Rtc(RtcOutput::Close { rtc: old.id }));
            if let Some(session) = old.session {
                self.routes.session_closed(peer, session);
            }
        }
        match self.ensure_rtc(now, peer, false) {
            Ok(rtc) => {
                if dial_waits && let Some(dial) = self.peers.dial_mut(peer) {
                    dial.rtc = Some(rtc);
                }
                true
            }
            Err(_) => {
                self.stats.offers_refused += 1;
                if dial_waits && let Some(dial) = self.peers.dial_mut(peer) {
                    dial.rtc = None;
                }
                self.attempt_failed(now, peer, ActrError::ResourceExhausted("no room for a connection".into()));
                false
            }
        }
    }
}
