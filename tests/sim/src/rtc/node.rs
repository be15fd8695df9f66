//! [`RtcNode`]: what the simulator runs for one node's hub in place of the
//! driver's connection tasks and workload: one [`RtcSession`] (a str0m
//! peer) per connection the hub opens, and the [`Handler`] that answers the
//! hub's deliveries after a seeded run time.
//!
//! # Drive loop
//!
//! Feed it the hub's outputs ([`RtcNode::on_output`]), datagrams
//! ([`RtcNode::handle_datagram`]) and timeouts ([`RtcNode::handle_timeout`]);
//! then take what the hub must hear ([`RtcNode::take_for_hub`]) and the
//! datagrams for the network ([`RtcNode::take_datagrams`]), and wake it at
//! [`RtcNode::poll_timeout`]. Injected faults ([`FaultBook`]) act where a
//! real send could fail: on the way to the data channel.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

use actr_core::node::{DeliveryId, LinkOutput, NodeOutput, RtcId, RtcOutput, RtcReport};
use actr_core::rng::SeededRng;
use actr_core::transport::{Direction, LaneKind, RpcEnvelope};
use actr_core::{ActrError, ActrId, Duration, Instant};
use actr_driver::webrtc::RtcPeerConfig;

use super::RtcSimConfig;
use super::env::{Ports, core_at, std_at};
use super::faults::{FaultBook, SendFate};
use super::handler::Handler;
use super::ledger::{CallEntry, RtcLog};
use super::session::RtcSession;

/// What an input needs from the world: this slot's log and ports, the
/// shared fault plans, and which incarnation of the node this is.
#[derive(Debug)]
pub struct NodeCx<'a> {
    pub log: &'a mut RtcLog,
    pub faults: &'a mut FaultBook,
    pub ports: &'a mut Ports,
    /// The node's incarnation; ledger keys carry it.
    pub layer: u32,
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

impl CallSpec {
    /// The ledger entry of this call, issued at `now`.
    pub fn entry(&self, now: Instant) -> CallEntry {
        CallEntry {
            dest: self.dest_node,
            route: self.route,
            issued_at: now,
            deadline: now + self.timeout,
            expect: self.expect.clone(),
            outcome: None,
        }
    }
}

/// An input for the node's hub.
#[derive(Debug)]
pub enum ForHub {
    Report(RtcId, RtcReport),
    Answer(DeliveryId, Result<Vec<u8>, ActrError>),
    /// A dial the simulator cannot make (it has no direct WebSocket wire).
    LinkRefused(actr_core::node::LinkId),
}

/// One node's str0m peers and handler.
#[derive(Debug)]
pub struct RtcNode {
    pub(super) index: usize,
    config: RtcSimConfig,
    sessions: BTreeMap<RtcId, RtcSession>,
    /// Sends so far of each request this node made (for injected faults).
    attempts: BTreeMap<u64, u32>,
    handler: Handler,
    for_hub: VecDeque<ForHub>,
    datagrams: VecDeque<(SocketAddr, SocketAddr, Vec<u8>)>,
}

impl RtcNode {
    pub fn new(index: usize, config: RtcSimConfig, seed: u64) -> Self {
        let mut rng = SeededRng::new(seed);
        let handler = Handler::new(rng.next_u64(), config.handler_delay);
        Self {
            index,
            config,
            sessions: BTreeMap::new(),
            attempts: BTreeMap::new(),
            handler,
            for_hub: VecDeque::new(),
            datagrams: VecDeque::new(),
        }
    }

    /// Carries one output of the hub.
    pub fn on_output(&mut self, now: Instant, output: NodeOutput, cx: &mut NodeCx<'_>) {
        match output {
            NodeOutput::Rtc(out) => self.on_rtc(now, out, cx),
            NodeOutput::Deliver(delivery) => {
                *cx.log.handler_runs.entry((delivery.caller.clone(), delivery.request_id)).or_default() += 1;
                self.handler.start(now, delivery);
            }
            NodeOutput::CallDone { call, result } => cx.log.calls.resolve((cx.layer, call.0), now, result),
            NodeOutput::Link(LinkOutput::Dial { link, .. }) => self.for_hub.push_back(ForHub::LinkRefused(link)),
            _ => {}
        }
        self.settle(now, cx);
    }

    fn on_rtc(&mut self, now: Instant, out: RtcOutput, cx: &mut NodeCx<'_>) {
        let c = &mut cx.log.counters;
        let outcome = match out {
            RtcOutput::Open { rtc, peer, offerer, first_exchange_id } => {
                c.sessions_begun += 1;
                let config = RtcPeerConfig {
                    certificate: Some(super::env::certificate(self.index)),
                    connect_timeout: std_duration(self.config.connect_timeout),
                    recovery_timeout: std_duration(self.config.recovery_timeout),
                    first_exchange_id,
                    ..RtcPeerConfig::default()
                };
                let local = cx.ports.bind();
                match RtcSession::new((rtc, peer), offerer, config, local, now) {
                    Ok(session) => {
                        self.sessions.insert(rtc, session);
                        Ok(())
                    }
                    Err(e) => {
                        let ended = RtcReport::Ended(ActrError::Internal(format!("webrtc peer: {e}")));
                        self.for_hub.push_back(ForHub::Report(rtc, ended));
                        Ok(())
                    }
                }
            }
            RtcOutput::Signal { rtc, signal } => match self.sessions.get_mut(&rtc) {
                Some(s) => s.peer_mut().handle_signal(std_at(now), signal).map_err(|e| e.to_string()),
                None => Ok(()),
            },
            RtcOutput::Send { rtc, lane, bytes } => {
                self.send(rtc, lane, bytes, cx);
                Ok(())
            }
            RtcOutput::RestartIce { rtc } => match self.sessions.get_mut(&rtc).inspect(|_| c.recoveries_asked += 1) {
                Some(s) => s.peer_mut().restart_ice().map_err(|e| e.to_string()),
                None => Ok(()),
            },
            RtcOutput::RequestIceRestart { rtc } => {
                match self.sessions.get_mut(&rtc).inspect(|_| c.recoveries_asked += 1) {
                    Some(s) => s.peer_mut().request_ice_restart().map_err(|e| e.to_string()),
                    None => Ok(()),
                }
            }
            RtcOutput::Close { rtc } => {
                if let Some(mut s) = self.sessions.remove(&rtc) {
                    s.peer_mut().close();
                    cx.log.counters.sessions_closed += 1;
                }
                Ok(())
            }
        };
        if outcome.is_err() {
            cx.log.counters.peer_errors += 1;
        }
    }

    /// Sends an envelope on `rtc`'s lane after the injected faults had
    /// their say; what does not leave goes back to the hub.
    fn send(&mut self, rtc: RtcId, lane: LaneKind, bytes: Vec<u8>, cx: &mut NodeCx<'_>) {
        let fate = match (lane, RpcEnvelope::decode(&bytes)) {
            (LaneKind::Rpc, Ok(env)) if env.direction == Direction::Request => {
                let sent = self.attempts.entry(env.request_id).or_default();
                *sent += 1;
                cx.faults.request(env.request_id, *sent)
            }
            (LaneKind::Rpc, Ok(env)) if env.direction == Direction::Response => cx.faults.response(env.request_id),
            _ => SendFate::Send,
        };
        let delivered = match fate {
            SendFate::Lose => return,
            SendFate::FailBeforeSend => false,
            SendFate::Send | SendFate::SendThenFail => {
                let ok = self.sessions.get_mut(&rtc).is_some_and(|s| s.peer_mut().send(lane, &bytes).is_ok());
                if !ok && let Ok(env) = RpcEnvelope::decode(&bytes) {
                    cx.faults.not_delivered(env.request_id);
                }
                ok && fate == SendFate::Send
            }
        };
        if !delivered && lane == LaneKind::Rpc {
            self.for_hub.push_back(ForHub::Report(rtc, RtcReport::SendFailed(bytes)));
        }
    }

    /// A datagram arrived at `to`; the session bound there takes it.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, bytes: &[u8], cx: &mut NodeCx) {
        match self.sessions.values_mut().find(|s| s.local_addr() == to) {
            Some(s) => {
                if s.peer_mut().handle_datagram(std_at(now), from, to, bytes).is_err() {
                    cx.log.counters.peer_errors += 1;
                }
            }
            None => cx.log.counters.datagrams_unbound += 1,
        }
        self.settle(now, cx);
    }

    pub fn handle_timeout(&mut self, now: Instant, cx: &mut NodeCx<'_>) {
        for s in self.sessions.values_mut().filter(|s| core_at(s.peer().poll_timeout()) <= now) {
            if s.peer_mut().handle_timeout(std_at(now)).is_err() {
                cx.log.counters.peer_errors += 1;
            }
        }
        for (delivery, answer) in self.handler.finish_due(now) {
            self.for_hub.push_back(ForHub::Answer(delivery.id, answer));
        }
        self.settle(now, cx);
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let sessions = self.sessions.values().map(|s| core_at(s.peer().poll_timeout())).min();
        [self.handler.poll_timeout(), sessions].into_iter().flatten().min()
    }

    /// What the hub must hear next.
    pub fn take_for_hub(&mut self) -> Vec<ForHub> {
        self.for_hub.drain(..).collect()
    }

    pub fn take_datagrams(&mut self) -> Vec<(SocketAddr, SocketAddr, Vec<u8>)> {
        self.datagrams.drain(..).collect()
    }

    /// The str0m peer of `rtc` ends, as when its task dies: the hub hears
    /// `Ended`.
    pub fn end_session(&mut self, now: Instant, rtc: RtcId, cx: &mut NodeCx<'_>) {
        if let Some(s) = self.sessions.get_mut(&rtc) {
            s.peer_mut().close();
        }
        self.settle(now, cx);
    }

    pub fn sessions(&self) -> impl Iterator<Item = &RtcSession> {
        self.sessions.values()
    }

    pub fn session(&self, rtc: RtcId) -> Option<&RtcSession> {
        self.sessions.get(&rtc)
    }

    pub fn handler(&self) -> &Handler {
        &self.handler
    }

    /// Drains every peer (signals, datagrams, events) until nothing moves;
    /// a peer that ended is reported and forgotten.
    fn settle(&mut self, _now: Instant, cx: &mut NodeCx<'_>) {
        loop {
            let mut moved = false;
            for (id, s) in self.sessions.iter_mut() {
                while let Some(signal) = s.peer_mut().poll_signal() {
                    moved = true;
                    count_signal(cx, signal.name());
                    self.for_hub.push_back(ForHub::Report(*id, RtcReport::SignalOut(signal)));
                }
                while let Some((to, bytes)) = s.peer_mut().poll_transmit() {
                    moved = true;
                    self.datagrams.push_back((s.local_addr(), to, bytes));
                }
                while let Some(event) = s.peer_mut().poll_event() {
                    moved = true;
                    if let Some(report) = s.translate(event, &mut cx.log.counters) {
                        self.for_hub.push_back(ForHub::Report(*id, report));
                    }
                }
                if let Some(report) = s.recovery_edge() {
                    self.for_hub.push_back(ForHub::Report(*id, report));
                }
            }
            if !moved {
                break;
            }
        }
        let closed: Vec<RtcId> =
            self.sessions.iter().filter(|(_, s)| s.peer().is_closed()).map(|(id, _)| *id).collect();
        for id in closed {
            self.sessions.remove(&id);
            if !self.for_hub.iter().any(|f| matches!(f, ForHub::Report(r, RtcReport::Ended(_)) if *r == id)) {
                let ended = RtcReport::Ended(ActrError::Unavailable("webrtc connection closed".into()));
                self.for_hub.push_back(ForHub::Report(id, ended));
            }
        }
    }
}

fn std_duration(d: Duration) -> std::time::Duration {
    std::time::Duration::from_micros(d.as_micros())
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
