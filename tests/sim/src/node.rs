//! A simulated node: the shipped node hub (`actr_core::node::NodeHub`),
//! driven by the simulator in place of a runtime, plus a record of what it
//! saw.
//!
//! The hub wires its credential keeper and signaling client itself; the
//! simulator carries its outputs: AIS calls and signaling transmits go out
//! as [`NodeOut`] for the network, WebRTC commands and deliveries for the
//! node's WebRTC layer. On `Connected` the node subscribes once per type in
//! [`NodeSpec::subscribe`] (subscriptions live on the server's connection,
//! so every new connection subscribes again).
//!
//! A crash drops the hub (and the requests pending in it); a restart builds
//! a new one from a fresh seed. The [`NodeLog`] spans incarnations.

use std::collections::BTreeMap;

use actr_core::ais::{RegisterOk, RegisterRequest};
use actr_core::keeper::{AisCall, CredentialKeeper, KeeperConfig};
use actr_core::node::{HubConfig, NodeEvent, NodeHub, NodeOutput};
use actr_core::proof::HostKey;
use actr_core::rng::SeededRng;
use actr_core::signaling::{
    ClientConfig, ClientRequest, ClientTransmit, ConnId, DisconnectReason, RequestId, ServerMsg, ServerReply,
    SignalingClient,
};
use actr_core::wire::decode_message;
use actr_core::{ActrError, ActrId, ActrType, Instant, Realm, UnixSecs};

use crate::ledger::RequestLedger;

/// What a node is: its type, realm, and the types it watches for presence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    pub actr_type: ActrType,
    pub realm: Realm,
    pub subscribe: Vec<ActrType>,
}

impl NodeSpec {
    /// Node `index` of the default layout: type `sim:node-<index>:1` in realm 1.
    pub fn numbered(index: usize) -> Self {
        let actr_type = ActrType::new("sim", &format!("node-{index}"), "1").expect("valid generated type");
        Self { actr_type, realm: Realm(1), subscribe: Vec::new() }
    }
}

/// Output of a node: for the network, or for its WebRTC layer.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeOut {
    Ais(AisCall),
    Transmit(ClientTransmit),
    /// Work for the node's WebRTC layer: str0m commands, deliveries,
    /// call outcomes, links.
    Hub(NodeOutput),
}

/// Everything a node observed, across incarnations.
#[derive(Debug, Default)]
pub struct NodeLog {
    /// Each identity the keeper registered, in order.
    pub identities: Vec<ActrId>,
    pub renewals: u32,
    pub keeper_failures: Vec<ActrError>,
    pub connects: Vec<Instant>,
    pub disconnects: Vec<(Instant, DisconnectReason)>,
    /// Identity changes the hub reported (old, new).
    pub rebinds: Vec<(Instant, ActrId, ActrId)>,
    pub presence: Vec<(Instant, ActrId, bool)>,
    pub relays_in: Vec<(Instant, ActrId, Vec<u8>)>,
    pub ledger: RequestLedger,
    /// Latest successful `RouteCandidates` answer per target type.
    pub candidates: BTreeMap<ActrType, (Instant, Vec<ActrId>)>,
    /// Latest successful `Discover` answer.
    pub discovered: Option<(Instant, Vec<ActrType>)>,
    /// Replies and errors seen on the wire, when tapped (see [`SimNode::set_tap`]).
    pub wire: Vec<(Instant, ServerMsg)>,
}

#[derive(Debug)]
struct Machines {
    hub: NodeHub,
    request_timeout: actr_core::Duration,
}

/// One node slot: alive (a hub present) or crashed.
#[derive(Debug)]
pub struct SimNode {
    index: usize,
    spec: NodeSpec,
    incarnation: u32,
    machines: Option<Machines>,
    log: NodeLog,
    tap: bool,
}

/// How a node's hub is configured beyond its identity.
#[derive(Debug, Clone)]
pub struct HubSettings {
    pub keeper: KeeperConfig,
    pub client: ClientConfig,
    /// With WebRTC (the simulation's WebRTC layer): its setup and recovery
    /// deadlines and the network-change debounce.
    pub webrtc: Option<(actr_core::Duration, actr_core::Duration, actr_core::Duration)>,
    /// The direct WebSocket address the node advertises, if any.
    pub ws_address: Option<String>,
    /// Smaller route and WebRTC tables than the hub's defaults.
    pub max_peers: Option<usize>,
}

impl SimNode {
    /// A node that has not booted yet.
    pub fn new(index: usize, spec: NodeSpec) -> Self {
        Self { index, spec, incarnation: 0, machines: None, log: NodeLog::default(), tap: false }
    }

    pub fn index(&self) -> usize {
        self.index
    }

    pub fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    pub fn log(&self) -> &NodeLog {
        &self.log
    }

    /// Starts at 1 with the first boot and grows with each restart.
    pub fn incarnation(&self) -> u32 {
        self.incarnation
    }

    pub fn is_up(&self) -> bool {
        self.machines.is_some()
    }

    /// The identity the signaling client currently uses.
    pub fn actor(&self) -> Option<&ActrId> {
        self.machines.as_ref()?.hub.signaling().actor()
    }

    pub fn is_connected(&self) -> bool {
        self.machines.as_ref().is_some_and(|m| m.hub.is_connected())
    }

    pub fn keeper(&self) -> Option<&CredentialKeeper> {
        self.machines.as_ref().map(|m| m.hub.keeper())
    }

    pub fn client(&self) -> Option<&SignalingClient> {
        self.machines.as_ref().map(|m| m.hub.signaling())
    }

    /// The node's hub, while it is up.
    pub fn hub(&self) -> Option<&NodeHub> {
        self.machines.as_ref().map(|m| &m.hub)
    }

    /// The current registration, while up and registered.
    pub fn registration(&self) -> Option<&RegisterOk> {
        self.machines.as_ref()?.hub.registration()
    }

    /// Records decoded server replies and errors in [`NodeLog::wire`].
    pub fn set_tap(&mut self, on: bool) {
        self.tap = on;
    }

    /// Builds a fresh hub from `seed` and starts registration.
    pub fn boot(&mut self, now: Instant, unix: UnixSecs, seed: u64, settings: &HubSettings, out: &mut Vec<NodeOut>) {
        let mut rng = SeededRng::new(seed);
        let template = RegisterRequest::new(self.spec.actr_type.clone(), self.spec.realm, None);
        let mut config = HubConfig::new(template);
        config.keeper = settings.keeper;
        config.client = settings.client;
        config.webrtc = settings.webrtc.is_some();
        config.profile.ws_address = settings.ws_address.clone();
        if let Some(n) = settings.max_peers {
            config.max_routes = n;
            config.max_rtc = n;
        }
        if let Some((setup, recovery, debounce)) = settings.webrtc {
            config.rtc_setup_timeout = setup;
            config.rtc_recovery_timeout = recovery;
            config.network_debounce = debounce;
        }
        let unix_origin = unix.saturating_sub(now.as_micros() / 1_000_000);
        let hub_seed = rng.next_u64();
        // A new process, a new host key (drawn after the hub's seed, so the
        // rest of the run's draws are as before).
        let mut key = [0u8; 32];
        for chunk in key.chunks_mut(8) {
            chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
        }
        let mut hub = NodeHub::new(config, HostKey::from_seed(key), hub_seed, unix_origin);
        hub.start(now);
        hub.open(now);
        self.incarnation += 1;
        self.machines = Some(Machines { hub, request_timeout: settings.client.request_timeout });
        self.drain(now, out);
    }

    /// Drops the hub; requests pending in it die with the process.
    pub fn crash(&mut self) {
        self.machines = None;
        self.log.ledger.abandon(self.incarnation);
    }

    /// The hub's earliest deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.machines.as_ref()?.hub.poll_timeout()
    }

    pub fn handle_timeout(&mut self, now: Instant, _unix: UnixSecs, out: &mut Vec<NodeOut>) {
        self.input(now, out, |hub| hub.handle_timeout(now));
    }

    pub fn handle_ais_reply(
        &mut self,
        now: Instant,
        _unix: UnixSecs,
        id: u64,
        reply: Result<actr_core::ais::AisReply, ActrError>,
        out: &mut Vec<NodeOut>,
    ) {
        self.input(now, out, |hub| hub.handle_ais_reply(now, id, reply));
    }

    pub fn handle_connected(&mut self, now: Instant, _unix: UnixSecs, conn: ConnId, out: &mut Vec<NodeOut>) {
        self.input(now, out, |hub| hub.handle_signaling_connected(now, conn));
    }

    pub fn handle_connect_failed(
        &mut self,
        now: Instant,
        _unix: UnixSecs,
        conn: ConnId,
        why: &str,
        out: &mut Vec<NodeOut>,
    ) {
        self.input(now, out, |hub| hub.handle_signaling_failed(now, conn, why));
    }

    pub fn handle_closed(&mut self, now: Instant, _unix: UnixSecs, conn: ConnId, out: &mut Vec<NodeOut>) {
        self.input(now, out, |hub| hub.handle_signaling_closed(now, conn));
    }

    pub fn handle_frame(&mut self, now: Instant, _unix: UnixSecs, conn: ConnId, bytes: &[u8], out: &mut Vec<NodeOut>) {
        if self.tap {
            self.tap_frame(now, bytes);
        }
        self.input(now, out, |hub| hub.handle_signaling_frame(now, conn, bytes));
    }

    /// Issues an application request and records it in the ledger.
    pub fn request(
        &mut self,
        now: Instant,
        _unix: UnixSecs,
        request: ClientRequest,
        out: &mut Vec<NodeOut>,
    ) -> Result<RequestId, ActrError> {
        let inc = self.incarnation;
        let m = self.machines.as_mut().ok_or_else(|| ActrError::Unavailable("node is down".into()))?;
        let id = issue(m, &mut self.log, inc, now, request)?;
        self.drain(now, out);
        Ok(id)
    }

    /// Feeds any input to the hub (the WebRTC layer's reports, calls,
    /// answers) and routes what comes out.
    pub fn with_hub<T>(
        &mut self,
        now: Instant,
        out: &mut Vec<NodeOut>,
        f: impl FnOnce(&mut NodeHub) -> T,
    ) -> Option<T> {
        let m = self.machines.as_mut()?;
        let result = f(&mut m.hub);
        self.drain(now, out);
        Some(result)
    }

    fn input(&mut self, now: Instant, out: &mut Vec<NodeOut>, f: impl FnOnce(&mut NodeHub)) {
        let Some(m) = self.machines.as_mut() else { return };
        f(&mut m.hub);
        self.drain(now, out);
    }

    fn tap_frame(&mut self, now: Instant, bytes: &[u8]) {
        let max = actr_core::signaling::messages::MAX_SIGNALING_FRAME;
        if let Ok(msg @ (ServerMsg::Reply { .. } | ServerMsg::Error(_))) = decode_message::<ServerMsg>(bytes, max) {
            self.log.wire.push((now, msg));
        }
    }

    /// Carries the hub's outputs until it has none.
    fn drain(&mut self, now: Instant, out: &mut Vec<NodeOut>) {
        let inc = self.incarnation;
        let Some(m) = self.machines.as_mut() else { return };
        let log = &mut self.log;
        while let Some(output) = m.hub.poll_output() {
            match output {
                NodeOutput::Ais(call) => out.push(NodeOut::Ais(call)),
                NodeOutput::Signaling(t) => out.push(NodeOut::Transmit(t)),
                NodeOutput::QueryDone { query, result } => on_reply(log, inc, now, query.0, result),
                NodeOutput::Event(event) => on_event(m, log, &self.spec, inc, now, event),
                other => out.push(NodeOut::Hub(other)),
            }
        }
    }
}

fn issue(
    m: &mut Machines,
    log: &mut NodeLog,
    inc: u32,
    now: Instant,
    request: ClientRequest,
) -> Result<RequestId, ActrError> {
    let id = m.hub.query(now, request.clone())?.0;
    log.ledger.issue((inc, id), request, now, now + m.request_timeout);
    Ok(id)
}

fn on_event(m: &mut Machines, log: &mut NodeLog, spec: &NodeSpec, inc: u32, now: Instant, event: NodeEvent) {
    match event {
        NodeEvent::Registered(ok) => log.identities.push(ok.actor),
        NodeEvent::Renewed(_) => log.renewals += 1,
        NodeEvent::Failed(e) => log.keeper_failures.push(e),
        NodeEvent::Rebound { old, new } => log.rebinds.push((now, old, new)),
        NodeEvent::Connected { .. } => {
            log.connects.push(now);
            for target_type in spec.subscribe.clone() {
                // The pending table is far from full right after connecting;
                // a refusal would show up as a missing subscription.
                let _ = issue(m, log, inc, now, ClientRequest::Subscribe { target_type });
            }
        }
        NodeEvent::Disconnected { reason } => log.disconnects.push((now, reason)),
        NodeEvent::Relay { source, payload } => log.relays_in.push((now, source, payload)),
        NodeEvent::Presence { actor, up } => log.presence.push((now, actor, up)),
        _ => {}
    }
}

fn on_reply(log: &mut NodeLog, inc: u32, now: Instant, id: RequestId, result: Result<ServerReply, ActrError>) {
    let Some(entry) = log.ledger.resolve((inc, id), now, result) else { return };
    let Some((_, Ok(reply))) = &entry.outcome else { return };
    match (&entry.request, reply) {
        (ClientRequest::RouteCandidates { target_type, .. }, ServerReply::Candidates(found)) => {
            let ids = found.iter().map(|c| c.actor.clone()).collect();
            log.candidates.insert(target_type.clone(), (now, ids));
        }
        (ClientRequest::Discover { .. }, ServerReply::Discovered(types)) => log.discovered = Some((now, types.clone())),
        _ => {}
    }
}
