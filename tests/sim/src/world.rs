//! [`Sim`]: the server, the nodes, the network and the clock in one world.
//!
//! # Loop
//!
//! [`Sim::step`] pops the earliest event, sets the clock to its time,
//! writes it to the trace and delivers it; the receiving machine's outputs
//! become new events through the network model, and its next deadline
//! becomes a wake event. [`Sim::run_until`] steps until a predicate holds or
//! a virtual deadline passes. Faults ([`Sim::partition`],
//! [`Sim::crash_server`], [`Sim::crash_node`], …) are applied between runs.

use std::collections::BTreeSet;

use actr_core::rng::SeededRng;
use actr_core::signaling::{ClientRequest, RequestId};
use actr_core::{ActrError, ActrId, Duration, Instant, UnixSecs};

use crate::config::SimConfig;
use crate::event::Event;
use crate::links::{Dir, LinkId, Links};
use crate::net::{Endpoint, Network};
use crate::node::{NodeSpec, SimNode};
use crate::queue::{EventQueue, skewed_unix, unix_at};
use crate::rtc::RtcWorld;
use crate::server::{Persisted, SimServer};
use crate::sweep::derive_seed;
use crate::trace::{Trace, TraceHash};
use crate::workload::Workload;

/// Events allowed at one instant before the run is declared a livelock.
const MAX_EVENTS_PER_INSTANT: u64 = 1_000_000;

/// A node and the world's bookkeeping for it.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) node: SimNode,
    /// The earliest pending wake event for the current incarnation.
    pub(crate) wake: Option<Instant>,
    pub(crate) workload: Workload,
    pub(crate) ticking: bool,
    pub(crate) ticks: u64,
}

/// The simulated world.
#[derive(Debug)]
pub struct Sim {
    pub(crate) config: SimConfig,
    pub(crate) now: Instant,
    pub(crate) queue: EventQueue<Event>,
    pub(crate) net: Network,
    pub(crate) rng: SeededRng,
    pub(crate) trace: Trace,
    pub(crate) server: Option<SimServer>,
    /// Written on crash; read on restart.
    pub(crate) persisted: Persisted,
    /// Server boot count; server timers and links carry it.
    pub(crate) epoch: u32,
    pub(crate) server_wake: Option<Instant>,
    pub(crate) slots: Vec<Slot>,
    pub(crate) links: Links,
    /// The WebRTC layer, when `SimConfig::rtc` asks for one.
    pub(crate) rtc: Option<RtcWorld>,
    events: u64,
    instant_events: u64,
    /// The server's relay rewrites the DTLS fingerprints of WebRTC offers
    /// and answers (a man in the middle of signaling).
    pub(crate) tamper_sdp: bool,
}

impl Sim {
    /// Boots the server and `config.nodes` nodes at time zero.
    pub fn new(config: SimConfig) -> Self {
        let seed = config.seed;
        let rtc = config.rtc.clone().map(|c| RtcWorld::new(c, seed));
        let mut sim = Sim {
            net: Network::new(derive_seed(seed, "net", 0, 0), config.preset),
            rng: SeededRng::new(derive_seed(seed, "world", 0, 0)),
            persisted: config.initial_persisted(),
            config,
            now: Instant::ZERO,
            queue: EventQueue::default(),
            trace: Trace::from_env(),
            server: None,
            epoch: 0,
            server_wake: None,
            slots: Vec::new(),
            links: Links::default(),
            rtc,
            events: 0,
            instant_events: 0,
            tamper_sdp: false,
        };
        sim.restart_server();
        for i in 0..sim.config.nodes {
            sim.add_node(NodeSpec::numbered(i));
        }
        sim
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    pub fn seed(&self) -> u64 {
        self.config.seed
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    /// The nodes' wall clock.
    pub fn unix(&self) -> UnixSecs {
        unix_at(self.now)
    }

    /// The server's wall clock, skewed by `server_skew_secs`.
    pub fn server_unix(&self) -> UnixSecs {
        skewed_unix(self.now, self.config.server_skew_secs)
    }

    pub fn events_processed(&self) -> u64 {
        self.events
    }

    /// The hash of every event line and every payload byte.
    pub fn trace_hash(&self) -> TraceHash {
        self.trace.hash()
    }

    /// The hash of the event lines alone (what happened, where and when),
    /// without payload bytes: what replays exactly when WebRTC runs (see
    /// the crate README).
    pub fn event_hash(&self) -> TraceHash {
        self.trace.event_hash()
    }

    pub fn trace_lines(&self) -> u64 {
        self.trace.lines()
    }

    /// The running server, `None` while crashed.
    pub fn server(&self) -> Option<&SimServer> {
        self.server.as_ref()
    }

    /// Actors the server has bound to live connections (empty while crashed).
    pub fn online(&self) -> BTreeSet<ActrId> {
        self.server.iter().flat_map(|s| s.online().cloned()).collect()
    }

    pub fn node(&self, i: usize) -> &SimNode {
        &self.slots[i].node
    }

    pub fn nodes(&self) -> impl Iterator<Item = &SimNode> {
        self.slots.iter().map(|s| &s.node)
    }

    pub fn node_count(&self) -> usize {
        self.slots.len()
    }

    /// Direct access to the network, for profiles; partitions go through
    /// [`Sim::partition`] so that the connections they cut are severed.
    pub fn net_mut(&mut self) -> &mut Network {
        &mut self.net
    }

    /// Records decoded server replies seen by node `i` (see `NodeLog::wire`).
    pub fn tap(&mut self, i: usize, on: bool) {
        self.slots[i].node.set_tap(on);
    }

    /// Adds and boots a node; returns its index.
    pub fn add_node(&mut self, spec: NodeSpec) -> usize {
        let index = self.slots.len();
        let node = SimNode::new(index, spec);
        self.slots.push(Slot { node, wake: None, workload: Workload::Idle, ticking: false, ticks: 0 });
        if let Some(rtc) = self.rtc.as_mut() {
            rtc.add_slot();
        }
        self.restart_node(index);
        index
    }

    /// Sets every node's workload.
    pub fn set_workload(&mut self, workload: Workload) {
        for i in 0..self.slots.len() {
            self.set_node_workload(i, workload.clone());
        }
    }

    pub fn set_node_workload(&mut self, i: usize, workload: Workload) {
        self.slots[i].workload = workload;
        self.start_ticking(i);
    }

    /// Issues one application request from node `i` now.
    pub fn request(&mut self, i: usize, request: ClientRequest) -> Result<RequestId, ActrError> {
        let (now, unix) = (self.now, self.unix());
        let mut out = Vec::new();
        let result = self.slots[i].node.request(now, unix, request, &mut out);
        self.after_node(i, out);
        result
    }

    /// Sends raw bytes on node `i`'s live connection, as a hostile node
    /// would, bypassing its signaling client.
    pub fn inject_frame(&mut self, i: usize, bytes: Vec<u8>) -> Result<(), String> {
        let id = self.links.live_of(i).ok_or_else(|| format!("node {i} has no live connection"))?;
        self.send_up(id, bytes);
        Ok(())
    }

    /// Cuts node `i` off from the server: its connections are severed
    /// silently and nothing passes either way until [`Sim::heal`].
    pub fn partition(&mut self, i: usize) {
        self.net.partition(Endpoint::Node(i), Endpoint::Server);
        for id in self.links.matching(|l| l.node == i) {
            if let Some(l) = self.links.get_mut(id) {
                l.severed = true;
            }
        }
    }

    pub fn heal(&mut self, i: usize) {
        self.net.heal(Endpoint::Node(i), Endpoint::Server);
    }

    /// Heals every partition.
    pub fn heal_all(&mut self) {
        self.net.heal_all();
    }

    pub fn is_partitioned(&self, i: usize) -> bool {
        self.net.is_partitioned(Endpoint::Node(i), Endpoint::Server)
    }

    /// Kills the server process: everything but [`Persisted`] is lost and
    /// its connections close (reachable clients see the close).
    pub fn crash_server(&mut self) {
        let Some(server) = self.server.take() else { return };
        self.persisted = server.persisted().clone();
        self.server_wake = None;
        let epoch = self.epoch;
        for id in self.links.matching(|l| l.epoch == epoch && l.server_open) {
            self.close_server_end(id);
        }
    }

    /// Boots a server from the persisted state (the first boot included).
    pub fn restart_server(&mut self) {
        if self.server.is_some() {
            return;
        }
        self.epoch += 1;
        let c = &self.config;
        // A fresh challenge key per boot, as `actr serve` draws one from the OS.
        let challenge_key = crate::sweep::derive_key(c.seed, "challenge-key", u64::from(self.epoch));
        self.server = Some(SimServer::boot(self.persisted.clone(), c.ais, c.server, c.server_skew_secs, challenge_key));
        self.after_server();
    }

    /// Kills node `i`'s process; the peer sees its connections close.
    pub fn crash_node(&mut self, i: usize) {
        for id in self.links.matching(|l| l.node == i && l.client_open) {
            self.close_client_end(id);
        }
        self.rtc_crash(i);
        let slot = &mut self.slots[i];
        slot.node.crash();
        slot.wake = None;
        slot.ticking = false;
    }

    /// Boots node `i` with fresh machines seeded from the run seed; a
    /// running node is crashed first.
    pub fn restart_node(&mut self, i: usize) {
        if self.slots[i].node.is_up() {
            self.crash_node(i);
        }
        let inc = self.slots[i].node.incarnation() + 1;
        let seed = derive_seed(self.config.seed, "node", i as u64, inc as u64);
        let (now, unix) = (self.now, self.unix());
        let mut out = Vec::new();
        let settings = self.config.hub_settings(i);
        self.slots[i].node.boot(now, unix, seed, &settings, &mut out);
        self.after_node(i, out);
        self.start_ticking(i);
    }

    /// Delivers the earliest event. Returns `false` when none is left.
    pub fn step(&mut self) -> bool {
        let Some((at, event)) = self.queue.pop() else { return false };
        self.instant_events = if at == self.now { self.instant_events + 1 } else { 0 };
        assert!(self.instant_events < MAX_EVENTS_PER_INSTANT, "livelock: {MAX_EVENTS_PER_INSTANT} events at {at:?}");
        self.now = at;
        self.events += 1;
        event.record(&mut self.trace, at);
        self.dispatch(event);
        true
    }

    /// Runs until `pred` holds (checked before every event) or `deadline`
    /// passes; the clock ends at the moment `pred` held, or at `deadline`.
    pub fn run_until(&mut self, deadline: Instant, mut pred: impl FnMut(&Sim) -> bool) -> bool {
        loop {
            if pred(self) {
                return true;
            }
            match self.queue.peek_time() {
                Some(t) if t <= deadline => {
                    self.step();
                }
                _ => {
                    self.now = self.now.max(deadline);
                    return pred(self);
                }
            }
        }
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let deadline = self.now + d;
        self.run_until(deadline, |_| false);
    }

    /// Closes the server's end of a link as the server's OS would.
    pub(crate) fn close_server_end(&mut self, id: LinkId) {
        let now = self.now;
        let delay = self.stream_delay(id, Dir::Down);
        let Some(l) = self.links.get_mut(id) else { return };
        l.server_open = false;
        if !l.severed && l.client_open {
            let at = l.ordered(Dir::Down, now + delay);
            self.queue.push(at, Event::FinToClient { link: id });
        }
        self.links.retire_if_closed(id);
    }

    /// Closes the client's end of a link as the node's OS would.
    pub(crate) fn close_client_end(&mut self, id: LinkId) {
        let now = self.now;
        let delay = self.stream_delay(id, Dir::Up);
        let Some(l) = self.links.get_mut(id) else { return };
        l.client_open = false;
        if !l.severed && l.server_open {
            let at = l.ordered(Dir::Up, now + delay);
            self.queue.push(at, Event::FinToServer { link: id });
        }
        self.links.retire_if_closed(id);
    }
}
