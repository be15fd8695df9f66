//! [`RtcNode`]: one node's WebRTC layer, sans-IO like everything it drives.
//!
//! # Drive loop
//!
//! Feed an input — [`RtcNode::call`], [`RtcNode::handle_relay`],
//! [`RtcNode::handle_datagram`], [`RtcNode::handle_timeout`],
//! [`RtcNode::network_changed`] — then drain [`RtcNode::poll_out`] (relays
//! for the signaling client, datagrams for the network) and wake it at
//! [`RtcNode::poll_timeout`]. Inside, every input ends in a settle loop that
//! drains the sessions (signals, datagrams, events), the endpoint (dispatch,
//! outcomes), finished handlers and the endpoint's outbound queue until
//! nothing moves.
//!
//! Events carry their session's id; route changes go through the
//! `RouteTable`, which ignores a superseded session's events. Offer/answer
//! pairing is in `pairing.rs`, the outbound path (faults, routing, handing
//! failures back to the endpoint) in `outbound.rs`.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

use actr_core::rng::SeededRng;
use actr_core::transport::{
    EndpointConfig, EndpointEvent, EndpointStats, LaneKind, PeerRoute, RouteDecision, RouteTable, RpcEndpoint,
    SessionId, WireKind,
};
use actr_core::{ActrError, ActrId, Duration, Instant};
use actr_driver::webrtc::RtcEvent;

use super::RtcSimConfig;
use super::env::Ports;
use super::faults::FaultBook;
use super::handler::Handler;
use super::ledger::{CallEntry, RtcLog};
use super::session::RtcSession;

/// Most peers one node tracks routes for.
const MAX_ROUTES: usize = 1024;

/// What an input needs from the world: this slot's log and ports, the shared
/// fault plans, and which layer of the slot this is.
#[derive(Debug)]
pub struct NodeCx<'a> {
    pub log: &'a mut RtcLog,
    pub faults: &'a mut FaultBook,
    pub ports: &'a mut Ports,
    /// Counts the `RtcNode`s the slot has had; ledger keys carry it.
    pub layer: u32,
}

/// Output for the world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtcOut {
    /// Relay `payload` to `target` through the signaling server.
    Relay { target: ActrId, payload: Vec<u8> },
    /// Send a UDP datagram.
    Datagram { from: SocketAddr, to: SocketAddr, bytes: Vec<u8> },
}

/// A call to make: where, what, and the reply a correct handler gives.
#[derive(Debug, Clone)]
pub struct CallSpec {
    pub dest_node: usize,
    pub dest: ActrId,
    pub route: &'static str,
    pub payload: Vec<u8>,
    pub expect: Vec<u8>,
    pub timeout: Duration,
}

/// One node's endpoint, routes, sessions and handler.
#[derive(Debug)]
pub struct RtcNode {
    pub(super) index: usize,
    pub(super) me: ActrId,
    pub(super) config: RtcSimConfig,
    pub(super) endpoint: RpcEndpoint,
    pub(super) routes: RouteTable,
    pub(super) sessions: BTreeMap<SessionId, RtcSession>,
    /// Sends so far of each of this node's pending calls.
    pub(super) attempts: BTreeMap<u64, u32>,
    handler: Handler,
    /// Answerer: the newest `conn` heard from each offerer.
    pub(super) seen: BTreeMap<ActrId, u64>,
    /// Answerer: when a session was last asked of each offerer.
    pub(super) asked: BTreeMap<ActrId, Instant>,
    /// A network change is settling until then.
    settle_at: Option<Instant>,
    pub(super) out: VecDeque<RtcOut>,
}

impl RtcNode {
    pub fn new(index: usize, me: ActrId, config: RtcSimConfig, seed: u64) -> Self {
        let mut rng = SeededRng::new(seed);
        let endpoint = RpcEndpoint::new(EndpointConfig::default(), rng.next_u64(), &me, None);
        let handler = Handler::new(rng.next_u64(), config.handler_delay);
        Self {
            index,
            me,
            config,
            endpoint,
            routes: RouteTable::new(MAX_ROUTES),
            sessions: BTreeMap::new(),
            attempts: BTreeMap::new(),
            handler,
            seen: BTreeMap::new(),
            asked: BTreeMap::new(),
            settle_at: None,
            out: VecDeque::new(),
        }
    }

    pub fn me(&self) -> &ActrId {
        &self.me
    }

    /// Starts a call and records it in the ledger; its outcome is recorded
    /// there too when it comes.
    pub fn call(&mut self, now: Instant, spec: CallSpec, cx: &mut NodeCx<'_>) -> Result<u64, ActrError> {
        let id = self.endpoint.call(now, spec.dest, spec.route, spec.payload, spec.timeout, None)?;
        self.attempts.insert(id, 0);
        let entry = CallEntry {
            dest: spec.dest_node,
            route: spec.route,
            issued_at: now,
            deadline: now + spec.timeout,
            expect: spec.expect,
            outcome: None,
        };
        cx.log.calls.issue((cx.layer, id), entry);
        self.settle(now, cx);
        Ok(id)
    }

    /// A datagram arrived at `to`; the session bound there takes it.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, bytes: &[u8], cx: &mut NodeCx) {
        match self.sessions.values_mut().find(|s| s.local_addr() == to) {
            Some(s) => {
                if s.handle_datagram(now, from, to, bytes).is_err() {
                    cx.log.counters.peer_errors += 1;
                }
            }
            None => cx.log.counters.datagrams_unbound += 1,
        }
        self.settle(now, cx);
    }

    pub fn handle_timeout(&mut self, now: Instant, cx: &mut NodeCx<'_>) {
        self.endpoint.handle_timeout(now);
        for s in self.sessions.values_mut().filter(|s| s.poll_timeout() <= now) {
            match s.handle_timeout(now) {
                Ok(true) => cx.log.counters.recovery_attempts += 1,
                Ok(false) => {}
                Err(_) => cx.log.counters.peer_errors += 1,
            }
        }
        if self.settle_at.is_some_and(|at| at <= now) {
            self.settle_at = None;
            self.recover_all(now, cx);
        }
        self.settle(now, cx);
    }

    /// The application reports a network change. Reports within
    /// `network_settle` of the first become one recovery of every session.
    pub fn network_changed(&mut self, now: Instant, cx: &mut NodeCx<'_>) {
        cx.log.counters.network_changes += 1;
        self.settle_at.get_or_insert(now + self.config.network_settle);
    }

    /// Feeds `event` as if session `id` with `remote` reported it (tests use
    /// this to deliver a superseded session's late events).
    pub fn inject_event(&mut self, now: Instant, id: SessionId, remote: &ActrId, event: RtcEvent, cx: &mut NodeCx) {
        self.on_event(now, id, remote, event, cx);
        self.settle(now, cx);
    }

    pub fn poll_out(&mut self) -> Option<RtcOut> {
        self.out.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let sessions = self.sessions.values().map(RtcSession::poll_timeout).min();
        [self.endpoint.poll_timeout(), self.handler.poll_timeout(), self.settle_at, sessions]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn route(&self, peer: &ActrId) -> Option<&PeerRoute> {
        self.routes.get(peer)
    }

    /// The session carrying traffic to `peer` now, if its RPC channel is open.
    pub fn ready_session(&self, peer: &ActrId) -> Option<&RtcSession> {
        match self.routes.decide(peer, LaneKind::Rpc) {
            Ok(RouteDecision::Send(WireKind::WebRtc, Some(id))) => self.sessions.get(&id),
            _ => None,
        }
    }

    pub fn sessions(&self) -> impl Iterator<Item = &RtcSession> {
        self.sessions.values()
    }

    pub fn endpoint_stats(&self) -> EndpointStats {
        self.endpoint.stats()
    }

    pub fn handler(&self) -> &Handler {
        &self.handler
    }

    /// The id of the session the route table holds for `peer`, ready or not.
    pub(super) fn current_id(&self, peer: &ActrId) -> Option<SessionId> {
        self.routes.get(peer).and_then(|r| r.webrtc).map(|(id, _)| id)
    }

    /// Drains everything until nothing moves, then forgets closed sessions.
    pub(super) fn settle(&mut self, now: Instant, cx: &mut NodeCx<'_>) {
        loop {
            let mut moved = self.drain_sessions(now, cx);
            moved |= self.drain_endpoint(now, cx);
            moved |= self.flush_outbound(now, cx);
            if !moved {
                break;
            }
        }
        self.sessions.retain(|_, s| !s.peer().is_closed());
    }

    fn drain_sessions(&mut self, now: Instant, cx: &mut NodeCx<'_>) -> bool {
        let mut moved = false;
        let ids: Vec<SessionId> = self.sessions.keys().copied().collect();
        for id in ids {
            let Some(s) = self.sessions.get_mut(&id) else { continue };
            let (conn, remote, local) = (s.conn(), s.remote().clone(), s.local_addr());
            let mut events = Vec::new();
            while let Some(signal) = s.peer_mut().poll_signal() {
                moved = true;
                count_signal(cx, signal.name());
                let payload = super::signal::PeerSignal::Rtc { conn, signal }.encode();
                self.out.push_back(RtcOut::Relay { target: remote.clone(), payload });
            }
            while let Some((to, bytes)) = s.peer_mut().poll_transmit() {
                moved = true;
                self.out.push_back(RtcOut::Datagram { from: local, to, bytes });
            }
            while let Some(event) = s.peer_mut().poll_event() {
                s.note_event(&event);
                events.push(event);
            }
            moved |= !events.is_empty();
            for event in events {
                self.on_event(now, id, &remote, event, cx);
            }
        }
        moved
    }

    fn on_event(&mut self, now: Instant, id: SessionId, remote: &ActrId, event: RtcEvent, cx: &mut NodeCx<'_>) {
        let current = self.current_id(remote);
        let c = &mut cx.log.counters;
        if current.is_some_and(|cur| cur != id) && !matches!(event, RtcEvent::Message { .. }) {
            // A superseded session: its data is still the peer's own (dedup
            // guards it), but nothing it reports may touch the route.
            c.stale_events += 1;
            if let Some(s) = self.sessions.get_mut(&id) {
                s.peer_mut().close();
            }
            return;
        }
        match event {
            RtcEvent::Message { lane: LaneKind::Rpc, bytes } => self.endpoint.handle_inbound(now, remote, &bytes),
            RtcEvent::ChannelOpen(LaneKind::Rpc) => {
                self.routes.webrtc_ready(remote, id);
            }
            RtcEvent::IceDisconnected => {
                c.ice_disconnected += 1;
                if let Some(s) = self.sessions.get_mut(&id)
                    && s.begin_recovery(now, false).is_err()
                {
                    c.peer_errors += 1;
                }
            }
            RtcEvent::IceRestarted => c.ice_restarted += 1,
            RtcEvent::IceReconnected => c.ice_reconnected += 1,
            RtcEvent::ChannelClosed(LaneKind::Rpc) | RtcEvent::Disconnected => {
                c.sessions_closed += u64::from(self.routes.session_closed(remote, id));
                if let Some(s) = self.sessions.get_mut(&id) {
                    s.peer_mut().close();
                }
            }
            _ => {}
        }
    }

    fn drain_endpoint(&mut self, now: Instant, cx: &mut NodeCx<'_>) -> bool {
        let mut moved = false;
        while let Some(event) = self.endpoint.poll_event() {
            moved = true;
            match event {
                EndpointEvent::Dispatch(inbound) => {
                    let key = (inbound.caller.clone(), inbound.envelope.request_id);
                    *cx.log.handler_runs.entry(key).or_default() += 1;
                    self.handler.start(now, inbound);
                }
                EndpointEvent::CallDone { request_id, result } => {
                    self.attempts.remove(&request_id);
                    cx.log.calls.resolve((cx.layer, request_id), now, result);
                }
            }
        }
        for (inbound, answer) in self.handler.finish_due(now) {
            moved = true;
            self.endpoint.respond(now, &inbound, answer);
        }
        moved
    }

    /// Forces a recovery of every current session (a settled network change).
    fn recover_all(&mut self, now: Instant, cx: &mut NodeCx<'_>) {
        cx.log.counters.network_recoveries += 1;
        let current: Vec<SessionId> = self.routes_current();
        for id in current {
            if let Some(s) = self.sessions.get_mut(&id)
                && s.begin_recovery(now, true).is_err()
            {
                cx.log.counters.peer_errors += 1;
            }
        }
    }

    fn routes_current(&self) -> Vec<SessionId> {
        self.sessions.values().filter(|s| self.current_id(s.remote()) == Some(s.id())).map(|s| s.id()).collect()
    }
}

fn count_signal(cx: &mut NodeCx<'_>, name: &str) {
    let c = &mut cx.log.counters;
    match name {
        "offer" => c.offers_sent += 1,
        "answer" => c.answers_sent += 1,
        "ice-restart-request" => c.restart_requests_sent += 1,
        _ => {}
    }
}
