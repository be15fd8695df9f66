//! The hub's WebSocket direct links: dials (with the address lookup through
//! signaling), the hello exchange on both sides, keepalives, idle and
//! handshake deadlines, and what a link coming up or going down means for
//! its peer's traffic.

use core::net::IpAddr;

use crate::error::{ActrError, ErrorReply};
use crate::id::ActrId;
use crate::node::hello::{DirectChallenge, DirectHello, DirectReply, HelloError, LinkNonces, MAX_HELLO, verify_hello};
use crate::node::links::LinkPhase;
use crate::node::peers::WsAttempt;
use crate::node::{LinkId, LinkOutput, MAX_LINK_MESSAGE, NodeHub, NodeOutput, Phase, Purpose};
use crate::signaling::messages::MAX_QUERY_LIMIT;
use crate::signaling::{ClientRequest, ServerReply};
use crate::time::Instant;

impl NodeHub {
    /// A connection was accepted from `source`: once its WebSocket handshake
    /// is done (`handle_link_up`) the hub challenges it and waits for its
    /// hello. Refused (close it at once) when the node is not serving or the
    /// handshake slots, in all or for that source, are taken.
    pub fn handle_link_accepted(&mut self, now: Instant, source: IpAddr) -> Result<LinkId, ActrError> {
        self.stats.inputs += 1;
        if self.admission.phase() != Phase::Running {
            self.stats.refused += 1;
            return Err(ActrError::Unavailable("the node is not serving".into()));
        }
        let deadline = now + self.config.hello_timeout;
        self.links.accept(source, now, deadline).inspect_err(|_| self.stats.refused += 1)
    }

    /// `link`'s WebSocket handshake finished. An accepted link gets the
    /// challenge; a dialed one waits for the listener's.
    pub fn handle_link_up(&mut self, now: Instant, link: LinkId) {
        self.stats.inputs += 1;
        let Some(l) = self.links.get_mut(link) else { return };
        match l.phase {
            LinkPhase::Connecting => l.phase = LinkPhase::AwaitChallenge,
            LinkPhase::Accepting => {
                let nonce = self.nonces.next_nonce();
                l.phase = LinkPhase::AwaitHello;
                l.nonces = Some(LinkNonces { listener: nonce, dialer: [0; 32] });
                match (DirectChallenge { nonce }).encode() {
                    Ok(bytes) => self.link_send(now, link, bytes),
                    Err(e) => self.close_link(now, link, e),
                }
            }
            _ => {}
        }
        self.pump(now);
    }

    /// One WebSocket binary message arrived on `link`.
    pub fn handle_link_message(&mut self, now: Instant, link: LinkId, bytes: &[u8]) {
        self.stats.inputs += 1;
        let Some(l) = self.links.get_mut(link) else { return };
        match l.phase {
            LinkPhase::Open => {
                l.deadline = now + self.config.link_idle_timeout;
                let peer = l.peer.clone().expect("an open link names its peer");
                let verified = l.verified;
                if !bytes.is_empty() {
                    self.endpoint.handle_inbound_from(now, &peer, verified, bytes);
                    // Answers to what came (replays, refusals, deliveries) go back on it.
                    self.pump_answers(now, Some(link));
                }
            }
            LinkPhase::AwaitChallenge => self.on_challenge(now, link, bytes),
            LinkPhase::AwaitHello => self.on_hello(now, link, bytes),
            LinkPhase::AwaitWelcome => self.on_welcome(now, link, bytes),
            LinkPhase::Connecting | LinkPhase::Accepting => {
                self.close_link(now, link, ActrError::Internal("message before handshake".into()))
            }
        }
        self.pump(now);
    }

    /// `link` ended (or its dial failed) with `error`.
    pub fn handle_link_closed(&mut self, now: Instant, link: LinkId, error: ActrError) {
        self.stats.inputs += 1;
        self.link_gone(now, link, error);
        self.pump(now);
    }

    /// The listener's challenge: the hello goes out, signed over both nonces.
    fn on_challenge(&mut self, now: Instant, link: LinkId, bytes: &[u8]) {
        let hello = match (&self.registration, self.links.get(link), DirectChallenge::decode(bytes)) {
            (Some(me), Some(l), Ok(challenge)) => {
                let target = l.peer.clone().expect("a dialed link names its peer");
                let nonces = LinkNonces { listener: challenge.nonce, dialer: self.nonces.next_nonce() };
                DirectHello::signed(&self.own, &me.credential, &target, nonces, &self.host_key)
                    .encode()
                    .map(|bytes| (bytes, nonces))
            }
            (None, Some(_), _) => Err(ActrError::Unavailable("not registered".into())),
            (_, Some(_), Err(e)) => Err(e),
            (_, None, _) => return,
        };
        match hello {
            Ok((bytes, nonces)) => {
                if let Some(l) = self.links.get_mut(link) {
                    l.phase = LinkPhase::AwaitWelcome;
                    l.nonces = Some(nonces);
                }
                self.link_send(now, link, bytes);
            }
            Err(e) => self.close_link(now, link, e),
        }
    }

    fn on_hello(&mut self, now: Instant, link: LinkId, bytes: &[u8]) {
        let unix = self.unix(now);
        let Some(listener_nonce) = self.links.get(link).and_then(|l| l.nonces).map(|n| n.listener) else { return };
        let verified = match verify_hello(bytes, &self.own, &listener_nonce, &self.ring, unix) {
            Ok((claims, nonces)) => self.links.may_open(&claims.actor, link).map(|()| (claims, nonces)),
            Err(HelloError::UnknownKey(id)) => Err(ActrError::Unauthenticated(format!("unknown signing key {id}"))),
            Err(HelloError::Refused(e)) => Err(e),
        };
        let (claims, nonces) = match verified {
            Ok(verified) => verified,
            Err(e) => {
                if let Ok(refusal) = DirectReply::Refused(ErrorReply::from(&e)).encode() {
                    self.link_send(now, link, refusal);
                }
                return self.close_link(now, link, e);
            }
        };
        let peer = claims.actor;
        let Some(me) = &self.registration else {
            return self.close_link(now, link, ActrError::Unavailable("not registered".into()));
        };
        let welcome = DirectReply::welcome(&self.own, &me.credential, &peer, nonces, &self.host_key).encode();
        match welcome {
            Ok(welcome) => self.link_send(now, link, welcome),
            Err(e) => return self.close_link(now, link, e),
        }
        self.stats.accepted += 1;
        self.link_open(now, link, peer, claims.verified);
    }

    fn on_welcome(&mut self, now: Instant, link: LinkId, bytes: &[u8]) {
        let Some((peer, Some(nonces))) = self.links.get(link).map(|l| (l.peer.clone(), l.nonces)) else { return };
        let Some(peer) = peer else { return };
        let unix = self.unix(now);
        let outcome = DirectReply::decode_outcome(bytes, &peer, &self.own, nonces, &self.ring, unix);
        match outcome.and_then(|claims| self.links.may_open(&peer, link).map(|()| claims.verified)) {
            Ok(verified) => {
                self.stats.dialed += 1;
                self.link_open(now, link, peer, verified);
            }
            Err(e) => self.close_link(now, link, e),
        }
    }

    /// `link` to `peer` is authenticated: it gets a route-table session and
    /// serves what waited for a wire.
    fn link_open(&mut self, now: Instant, link: LinkId, peer: ActrId, verified: bool) {
        let session = match self.route_entry(now, &peer).and_then(|()| self.routes.begin_websocket(&peer)) {
            Ok(session) => session,
            Err(e) => return self.close_link(now, link, e),
        };
        if let Some(l) = self.links.get_mut(link) {
            l.phase = LinkPhase::Open;
            l.peer = Some(peer.clone());
            l.session = Some(session);
            l.deadline = now + self.config.link_idle_timeout;
            l.verified = verified;
        }
        self.out.push_back(NodeOutput::Link(LinkOutput::Authenticated { link, max_message: MAX_LINK_MESSAGE }));
        if let Some(dial) = self.peers.dial_mut(&peer)
            && dial.ws == Some(WsAttempt::Link(link))
        {
            dial.ws = None;
        }
        self.wire_up(now, &peer);
    }

    pub(super) fn link_send(&mut self, now: Instant, link: LinkId, bytes: Vec<u8>) {
        if let Some(l) = self.links.get_mut(link) {
            l.last_sent = now;
            self.out.push_back(NodeOutput::Link(LinkOutput::Send { link, bytes }));
        }
    }

    /// Closes `link` and handles its end.
    pub(super) fn close_link(&mut self, now: Instant, link: LinkId, error: ActrError) {
        if self.links.get(link).is_some() {
            self.out.push_back(NodeOutput::Link(LinkOutput::Close { link }));
            self.link_gone(now, link, error);
        }
    }

    /// What `link` ending means: a failed dial attempt, or a lost wire.
    fn link_gone(&mut self, now: Instant, link: LinkId, error: ActrError) {
        let Some(gone) = self.links.remove(link) else { return };
        if matches!(gone.phase, LinkPhase::Accepting | LinkPhase::AwaitHello) {
            // Accepted, never authenticated: a bad hello, none in time, or
            // no WebSocket at all.
            self.stats.refused += 1;
        }
        let Some(peer) = gone.peer else { return };
        let was_attempt = self.peers.dial_mut(&peer).is_some_and(|d| d.ws == Some(WsAttempt::Link(link)));
        if was_attempt {
            self.stats.dial_failures += 1;
            if let Some(dial) = self.peers.dial_mut(&peer) {
                dial.ws = None;
            }
            return self.attempt_failed(now, &peer, error);
        }
        let Some(session) = gone.session else { return };
        if !self.routes.session_closed(&peer, session) {
            return; // an older link; the current one carries on
        }
        if let Some(other) = self.links.other_open(&peer, link)
            && let Ok(session) = self.routes.begin_websocket(&peer)
            && let Some(l) = self.links.get_mut(other)
        {
            l.session = Some(session);
            return;
        }
        self.wire_lost(&peer, &ActrError::Unavailable(format!("link to {peer} lost: {error}")));
    }

    /// Starts the WebSocket side of a dial to `peer`: at its known address,
    /// or after asking signaling for it.
    pub(super) fn start_ws_attempt(&mut self, now: Instant, peer: &ActrId) {
        let address = self.routes.get(peer).and_then(|r| r.ws_address.clone());
        let attempt = match address {
            Some(address) => self.dial_link(now, peer, address).map(WsAttempt::Link),
            None => {
                let lookup =
                    ClientRequest::RouteCandidates { target_type: peer.actr_type.clone(), limit: MAX_QUERY_LIMIT };
                self.client.request(now, lookup).map(|id| {
                    self.requests.insert(id, Purpose::Lookup(peer.clone()));
                    WsAttempt::Lookup(id)
                })
            }
        };
        if let (Ok(attempt), Some(dial)) = (attempt, self.peers.dial_mut(peer)) {
            dial.ws = Some(attempt);
        }
    }

    fn dial_link(&mut self, now: Instant, peer: &ActrId, address: String) -> Result<LinkId, ActrError> {
        let link = self.links.dial(peer, now, now + self.config.dial_timeout)?;
        self.out.push_back(NodeOutput::Link(LinkOutput::Dial { link, peer: peer.clone(), address }));
        Ok(link)
    }

    /// Signaling answered the address lookup for `peer`'s dial.
    pub(super) fn on_lookup(&mut self, now: Instant, peer: &ActrId, result: Result<ServerReply, ActrError>) {
        let Some(dial) = self.peers.dial_mut(peer) else { return };
        if !matches!(dial.ws, Some(WsAttempt::Lookup(_))) {
            return;
        }
        dial.ws = None;
        let found = match result {
            Ok(ServerReply::Candidates(found)) => found.into_iter().find(|c| c.actor == *peer),
            Ok(other) => return self.attempt_failed(now, peer, ActrError::Internal(format!("lookup got {other:?}"))),
            Err(e) => return self.attempt_failed(now, peer, e),
        };
        let Some(candidate) = found else {
            // Signaling does not know the peer: WebRTC cannot reach it either.
            let error = ActrError::NotFound(format!("{peer} is not reachable through signaling"));
            self.close_rtc(now, peer, error.clone());
            return self.attempt_failed(now, peer, error);
        };
        let Some(address) = candidate.ws_address else {
            return self.attempt_failed(
                now,
                peer,
                ActrError::Unavailable(format!("{peer} advertises no direct address")),
            );
        };
        match self.dial_link(now, peer, address) {
            Ok(link) => {
                if let Some(dial) = self.peers.dial_mut(peer) {
                    dial.ws = Some(WsAttempt::Link(link));
                }
            }
            Err(e) => self.attempt_failed(now, peer, e),
        }
    }

    /// Handshake deadlines, idle deadlines and keepalives.
    pub(super) fn link_timers(&mut self, now: Instant) {
        let (dead, idle) = self.links.expired(now, self.config.link_keepalive);
        for link in dead {
            self.stats.links_timed_out += 1;
            let what = match self.links.get(link).map(|l| l.phase) {
                Some(LinkPhase::Open) => "idle",
                _ => "handshake",
            };
            self.close_link(now, link, ActrError::Unavailable(format!("direct link {what} deadline passed")));
        }
        for link in idle {
            self.stats.keepalives_sent += 1;
            // An empty message keeps the link alive; receivers skip it.
            self.link_send(now, link, Vec::new());
        }
    }
}

/// The largest message a link may carry before its hello verified.
pub const MAX_HANDSHAKE_MESSAGE: usize = MAX_HELLO;
