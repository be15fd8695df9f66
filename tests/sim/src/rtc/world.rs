//! The WebRTC layer in the [`Sim`]: routing between nodes, wakes, call loads
//! and the bulk transfer.
//!
//! Wiring, per node slot:
//! - every incarnation of a node gets an [`RtcNode`] (calls pending in the
//!   old one are abandoned, as in a crash);
//! - the hub's WebRTC commands, deliveries and call outcomes go to it; what
//!   it reports (str0m events, handler answers) goes back to the hub;
//! - datagrams go through [`UdpPaths`] and arrive as `Event::Datagram`;
//! - its deadline becomes an `Event::RtcWake`, a call load ticks with
//!   `Event::CallTick`;
//! - a bulk transfer is fed after every input of its sender (`transfer.rs`).

use std::net::SocketAddr;

use actr_core::node::{NetworkChange, NodeOutput, RtcId, RtcReport};
use actr_core::{ActrError, Duration, Instant};

use super::RtcSimConfig;
use super::env::{Ports, node_of};
use super::faults::{FaultBook, FaultStats};
use super::handler::ECHO;
use super::ledger::RtcLog;
use super::node::{CallSpec, ForHub, NodeCx, RtcNode};
use super::transfer::{Transfer, TransferReport};
use super::udp::{UdpPaths, UdpStats};
use crate::event::Event;
use crate::net::Endpoint;
use crate::sweep::derive_seed;
use crate::world::Sim;

/// Periodic echo calls from one node to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLoad {
    pub to: usize,
    pub every: Duration,
    /// Payload bytes per call (at least the tag `call <node> <tick>`).
    pub payload: usize,
    pub timeout: Duration,
}

/// One node slot's WebRTC state; the log and ports outlive incarnations.
#[derive(Debug)]
pub(crate) struct RtcSlot {
    pub(super) node: Option<RtcNode>,
    /// The node incarnation the `RtcNode` serves; ledger keys and events carry it.
    pub(super) layer: u32,
    pub(super) log: RtcLog,
    pub(super) ports: Ports,
    wake: Option<Instant>,
    load: Option<CallLoad>,
    ticking: bool,
    ticks: u64,
}

/// The WebRTC layer of the whole world.
#[derive(Debug)]
pub struct RtcWorld {
    config: RtcSimConfig,
    pub(super) slots: Vec<RtcSlot>,
    pub(super) faults: FaultBook,
    paths: UdpPaths,
    pub(super) transfer: Option<Transfer>,
    pub(super) direct: super::direct::DirectLinks,
}

impl RtcWorld {
    pub(crate) fn new(config: RtcSimConfig, seed: u64) -> Self {
        super::env::seed_thread_rng(derive_seed(seed, "fastrand", 0, 0));
        let faults = FaultBook::new(config.faults, derive_seed(seed, "rtc-faults", 0, 0));
        let direct = super::direct::DirectLinks::default();
        Self { config, slots: Vec::new(), faults, paths: UdpPaths::default(), transfer: None, direct }
    }

    pub(crate) fn add_slot(&mut self) {
        let index = self.slots.len();
        let slot = RtcSlot {
            node: None,
            layer: 0,
            log: RtcLog::default(),
            ports: Ports::new(index),
            wake: None,
            load: None,
            ticking: false,
            ticks: 0,
        };
        self.slots.push(slot);
    }

    pub fn config(&self) -> &RtcSimConfig {
        &self.config
    }

    /// Node `i`'s WebRTC layer, while it has one.
    pub fn node(&self, i: usize) -> Option<&RtcNode> {
        self.slots[i].node.as_ref()
    }

    /// Everything node slot `i` recorded, across incarnations.
    pub fn log(&self, i: usize) -> &RtcLog {
        &self.slots[i].log
    }

    pub fn logs(&self) -> impl Iterator<Item = &RtcLog> {
        self.slots.iter().map(|s| &s.log)
    }

    pub fn udp_stats(&self) -> UdpStats {
        self.paths.stats
    }

    pub fn fault_stats(&self) -> FaultStats {
        self.faults.stats()
    }

    pub fn transfer(&self) -> Option<&TransferReport> {
        self.transfer.as_ref().map(|t| &t.report)
    }
}

impl Sim {
    /// The WebRTC layer, when `SimConfig::rtc` enabled it.
    pub fn rtc(&self) -> Option<&RtcWorld> {
        self.rtc.as_ref()
    }

    pub(super) fn rtc_mut(&mut self) -> &mut RtcWorld {
        self.rtc.as_mut().expect("SimConfig::rtc enables the WebRTC layer")
    }

    /// Calls `route` on node `to` from node `from` through `from`'s hub. The
    /// ledger of `from` records the call; an echo must answer the payload, a
    /// sink nothing.
    pub fn rtc_call(
        &mut self,
        from: usize,
        to: usize,
        route: &'static str,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Result<u64, ActrError> {
        let dest = self.node(to).actor().cloned().ok_or_else(|| ActrError::NotFound(format!("node {to}")))?;
        let expect = if route == ECHO { payload.clone() } else { Vec::new() };
        let spec = CallSpec { dest_node: to, dest, route, payload, expect, timeout };
        self.hub_call(from, spec).map(|(_, id)| id)
    }

    /// Makes `spec` through node `from`'s hub and records it in the ledger
    /// before anything the call caused is carried.
    pub(super) fn hub_call(&mut self, from: usize, spec: CallSpec) -> Result<(u32, u64), ActrError> {
        let now = self.now;
        self.rtc_sync(from);
        let layer = self.rtc_mut().slots[from].layer;
        let mut out = Vec::new();
        let (dest, route, payload, timeout) = (spec.dest.clone(), spec.route, spec.payload.clone(), spec.timeout);
        let made =
            self.slots[from].node.with_hub(now, &mut out, |hub| hub.call(now, dest, route, payload, timeout, None));
        let result = made.unwrap_or_else(|| Err(ActrError::Unavailable(format!("node {from} is down"))));
        if let Ok(call) = &result {
            self.rtc_mut().slots[from].log.calls.issue((layer, call.0), spec.entry(now));
        }
        self.after_node(from, out);
        result.map(|call| (layer, call.0))
    }

    /// Sets (or with `None` stops) node `i`'s periodic calls.
    pub fn set_call_load(&mut self, i: usize, load: Option<CallLoad>) {
        let now = self.now;
        let slot = &mut self.rtc_mut().slots[i];
        slot.load = load;
        if load.is_some() && !slot.ticking {
            slot.ticking = true;
            self.queue.push(now, Event::CallTick { node: i });
        }
    }

    /// Cuts the datagram path between nodes `a` and `b` (signaling unaffected).
    pub fn cut_path(&mut self, a: usize, b: usize) {
        self.net.partition(Endpoint::Node(a), Endpoint::Node(b));
    }

    pub fn mend_path(&mut self, a: usize, b: usize) {
        self.net.heal(Endpoint::Node(a), Endpoint::Node(b));
    }

    /// Stalls WebRTC between nodes `a` and `b` without cutting ICE: DTLS
    /// records (and the SCTP inside) are dropped, STUN gets through.
    pub fn stall_path(&mut self, a: usize, b: usize) {
        self.rtc_mut().paths.set_stalled(a, b, true);
    }

    pub fn unstall_path(&mut self, a: usize, b: usize) {
        self.rtc_mut().paths.set_stalled(a, b, false);
    }

    /// Node `i`'s application reports a network change.
    pub fn network_change(&mut self, i: usize) {
        let Some(rtc) = self.rtc.as_mut() else { return };
        rtc.slots[i].log.counters.network_changes += 1;
        let inc = self.slots[i].node.incarnation();
        self.with_node(i, inc, |n, now, _, out| {
            n.with_hub(now, out, |hub| hub.handle_network_change(now, NetworkChange::TypeChanged));
        });
    }

    /// Feeds `report` to node `i`'s hub as if its connection `rtc` made it
    /// now (tests use this to deliver a replaced connection's late reports).
    pub fn inject_rtc_report(&mut self, i: usize, rtc: RtcId, report: RtcReport) {
        let inc = self.slots[i].node.incarnation();
        self.with_node(i, inc, |n, now, _, out| {
            n.with_hub(now, out, |hub| hub.handle_rtc_report(now, rtc, report));
        });
    }

    /// Node `i`'s hub's current connection to node `peer`, up or recovering.
    pub fn current_connection(&self, i: usize, peer: usize) -> Option<RtcId> {
        let peer = self.node(peer).actor()?;
        self.node(i).hub()?.connection(peer).map(|(rtc, _)| rtc)
    }

    /// Node `i`'s str0m peer for connection `rtc` ends (its hub hears it).
    pub fn end_connection(&mut self, i: usize, rtc: RtcId) {
        self.with_rtc(i, |n, now, cx| n.end_session(now, rtc, cx));
    }

    /// The connection node `i`'s hub sends RPC to node `peer` on, when up.
    pub fn ready_connection(&self, i: usize, peer: usize) -> Option<RtcId> {
        let peer = self.node(peer).actor()?;
        let (rtc, up) = self.node(i).hub()?.connection(peer)?;
        let route = self.node(i).hub()?.route(peer)?;
        (up && route.webrtc.is_some_and(|(_, ready)| ready)).then_some(rtc)
    }

    /// Makes sure node `i`'s current incarnation has its WebRTC layer.
    pub(crate) fn rtc_sync(&mut self, i: usize) {
        let inc = self.slots[i].node.incarnation();
        let up = self.slots[i].node.is_up();
        let seed = self.config.seed;
        let Some(rtc) = self.rtc.as_mut() else { return };
        let config = rtc.config.clone();
        let slot = &mut rtc.slots[i];
        if !up || (slot.node.is_some() && slot.layer == inc) {
            return;
        }
        slot.log.calls.abandon(slot.layer);
        slot.layer = inc;
        slot.wake = None;
        let node_seed = derive_seed(seed, "rtc-node", i as u64, u64::from(inc));
        slot.node = Some(RtcNode::new(i, config, node_seed));
    }

    /// Node `i` crashed: its WebRTC layer goes with it.
    pub(crate) fn rtc_crash(&mut self, i: usize) {
        self.direct_crash(i);
        let Some(rtc) = self.rtc.as_mut() else { return };
        let slot = &mut rtc.slots[i];
        if slot.node.take().is_some() {
            slot.log.calls.abandon(slot.layer);
        }
        slot.wake = None;
    }

    /// Carries a hub output of node `node` to its WebRTC layer.
    pub(crate) fn rtc_hub_output(&mut self, node: usize, output: NodeOutput) {
        let output = match output {
            NodeOutput::Link(link) if self.rtc.as_ref().is_some_and(|r| r.config.direct) => {
                return self.direct_output(node, link);
            }
            other => other,
        };
        self.rtc_sync(node);
        self.with_rtc(node, |n, now, cx| n.on_output(now, output, cx));
    }

    pub(crate) fn on_datagram(&mut self, i: usize, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
        let src = node_of(from).unwrap_or(usize::MAX);
        if self.net.is_partitioned(Endpoint::Node(src), Endpoint::Node(i)) {
            self.rtc_mut().paths.stats.cut_in_flight += 1;
            return;
        }
        self.rtc_mut().paths.stats.delivered += 1;
        self.with_rtc(i, |n, now, cx| n.handle_datagram(now, from, to, bytes, cx));
    }

    pub(crate) fn on_rtc_wake(&mut self, i: usize, layer: u32) {
        let now = self.now;
        let Some(slot) = self.rtc.as_mut().map(|r| &mut r.slots[i]) else { return };
        if slot.layer != layer {
            return;
        }
        if slot.wake == Some(now) {
            slot.wake = None;
        }
        self.with_rtc(i, |n, now, cx| n.handle_timeout(now, cx));
    }

    pub(crate) fn on_call_tick(&mut self, i: usize) {
        let slot = &mut self.rtc_mut().slots[i];
        let Some(load) = slot.load else {
            slot.ticking = false;
            return;
        };
        let tick = slot.ticks;
        slot.ticks += 1;
        let mut payload = format!("call {i} {tick} ").into_bytes();
        payload.resize(load.payload.max(payload.len()), b'.');
        // A refused call (node down, no identity yet, endpoint full) is skipped.
        let _ = self.rtc_call(i, load.to, ECHO, payload, load.timeout);
        self.queue.push(self.now + load.every, Event::CallTick { node: i });
    }

    /// Runs `f` on node `i`'s WebRTC layer, if it has one, then routes its output.
    fn with_rtc(&mut self, i: usize, f: impl FnOnce(&mut RtcNode, Instant, &mut NodeCx<'_>)) {
        let now = self.now;
        let Some(rtc) = self.rtc.as_mut() else { return };
        let RtcWorld { slots, faults, .. } = rtc;
        let slot = &mut slots[i];
        let Some(node) = slot.node.as_mut() else { return };
        let mut cx = NodeCx { log: &mut slot.log, faults, ports: &mut slot.ports, layer: slot.layer };
        f(node, now, &mut cx);
        self.after_rtc(i);
    }

    /// Feeds the transfer, carries node `i`'s reports to its hub and its
    /// datagrams to the network, and reschedules its wake.
    pub(super) fn after_rtc(&mut self, i: usize) {
        self.pump_transfer(i);
        let now = self.now;
        let Some(rtc) = self.rtc.as_mut() else { return };
        let slot = &mut rtc.slots[i];
        let Some(node) = slot.node.as_mut() else { return };
        let datagrams = node.take_datagrams();
        let for_hub = node.take_for_hub();
        let due = node.poll_timeout().map(|d| d.max(now));
        if let Some(due) = due
            && slot.wake.is_none_or(|w| due < w)
        {
            slot.wake = Some(due);
            self.queue.push(due, Event::RtcWake { node: i, layer: slot.layer });
        }
        for (from, to, bytes) in datagrams {
            self.send_datagram(i, from, to, bytes);
        }
        if for_hub.is_empty() {
            return;
        }
        let inc = self.slots[i].node.incarnation();
        self.with_node(i, inc, |n, now, _, out| {
            n.with_hub(now, out, |hub| {
                for input in for_hub {
                    match input {
                        ForHub::Report(rtc, report) => hub.handle_rtc_report(now, rtc, report),
                        ForHub::Answer(delivery, result) => hub.respond(now, delivery, result),
                        ForHub::LinkRefused(link) => {
                            let refused = ActrError::Unavailable("the simulation has no direct links".into());
                            hub.handle_link_closed(now, link, refused)
                        }
                    }
                }
            });
        });
    }

    fn send_datagram(&mut self, i: usize, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) {
        let now = self.now;
        let nodes = self.slots.len();
        let rtc = self.rtc.as_mut().expect("only the WebRTC layer sends datagrams");
        let Some(j) = node_of(to).filter(|j| *j < nodes) else {
            rtc.paths.stats.unroutable += 1;
            return;
        };
        if rtc.paths.stalls(i, j, &bytes) {
            return;
        }
        let arrivals = rtc.paths.schedule(&mut self.net, now, i, j);
        for at in arrivals {
            self.queue.push(at, Event::Datagram { node: j, from, to, bytes: bytes.clone() });
        }
    }
}
