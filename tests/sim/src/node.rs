//! A simulated node: one [`CredentialKeeper`] and one [`SignalingClient`],
//! wired the way a real node wires them, plus a record of what it saw.
//!
//! Wiring, applied by [`SimNode::drain`] after every input until both
//! machines are quiet:
//! - keeper `Registered` / `Renewed` → `client.set_identity(..)`, and
//!   `client.start` after the first identity;
//! - client `CredentialNeeded` → `keeper.renew_now`;
//! - client `Connected` → one `Subscribe` per type in [`NodeSpec::subscribe`]
//!   (subscriptions live on the server's connection, so every new
//!   connection subscribes again);
//! - keeper calls and client transmits go out as [`NodeOut`] for the network,
//!   received relays as [`NodeOut::Relay`] for the node's WebRTC layer.
//!
//! A crash drops the machines (and the requests pending in them); a restart
//! builds new ones from a fresh seed. The [`NodeLog`] spans incarnations.

use std::collections::BTreeMap;

use actr_core::ais::{RegisterAuth, RegisterRequest};
use actr_core::keeper::{AisCall, CredentialKeeper, KeeperConfig, KeeperEvent};
use actr_core::rng::SeededRng;
use actr_core::signaling::{
    ActorProfile, ClientConfig, ClientRequest, ClientTransmit, ConnId, DisconnectReason, RequestId, ServerMsg,
    ServerReply, SignalingClient, SignalingEvent,
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

/// Output of a node: for the network, or a relay for its WebRTC layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeOut {
    Ais(AisCall),
    Transmit(ClientTransmit),
    /// A relay arrived (it is also logged in [`NodeLog::relays_in`]).
    Relay {
        source: ActrId,
        payload: Vec<u8>,
    },
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
    pub gave_up: u32,
    pub credential_needed: u32,
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
    keeper: CredentialKeeper,
    client: SignalingClient,
    request_timeout: actr_core::Duration,
    started: bool,
}

/// One node slot: alive (machines present) or crashed.
#[derive(Debug)]
pub struct SimNode {
    index: usize,
    spec: NodeSpec,
    incarnation: u32,
    machines: Option<Machines>,
    log: NodeLog,
    tap: bool,
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
        self.machines.as_ref()?.client.actor()
    }

    pub fn is_connected(&self) -> bool {
        self.machines.as_ref().is_some_and(|m| m.client.is_connected())
    }

    pub fn keeper(&self) -> Option<&CredentialKeeper> {
        self.machines.as_ref().map(|m| &m.keeper)
    }

    pub fn client(&self) -> Option<&SignalingClient> {
        self.machines.as_ref().map(|m| &m.client)
    }

    /// Records decoded server replies and errors in [`NodeLog::wire`].
    pub fn set_tap(&mut self, on: bool) {
        self.tap = on;
    }

    /// Builds fresh machines from `seed` and starts registration.
    pub fn boot(
        &mut self,
        now: Instant,
        unix: UnixSecs,
        seed: u64,
        configs: (KeeperConfig, ClientConfig),
        out: &mut Vec<NodeOut>,
    ) {
        let mut rng = SeededRng::new(seed);
        let template = RegisterRequest {
            actr_type: self.spec.actr_type.clone(),
            realm: self.spec.realm,
            realm_secret: None,
            auth: RegisterAuth::Linked,
        };
        let (keeper_cfg, client_cfg) = configs;
        let mut keeper = CredentialKeeper::new(keeper_cfg, rng.next_u64(), template);
        keeper.start(now);
        let client = SignalingClient::new(client_cfg, rng.next_u64(), ActorProfile::default());
        self.incarnation += 1;
        self.machines = Some(Machines { keeper, client, request_timeout: client_cfg.request_timeout, started: false });
        self.drain(now, unix, out);
    }

    /// Drops the machines; requests pending in them die with the process.
    pub fn crash(&mut self) {
        self.machines = None;
        self.log.ledger.abandon(self.incarnation);
    }

    /// The earliest deadline of either machine.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let m = self.machines.as_ref()?;
        [m.keeper.poll_timeout(), m.client.poll_timeout()].into_iter().flatten().min()
    }

    pub fn handle_timeout(&mut self, now: Instant, unix: UnixSecs, out: &mut Vec<NodeOut>) {
        self.input(now, unix, out, |m| {
            m.keeper.handle_timeout(now, unix);
            m.client.handle_timeout(now);
        });
    }

    pub fn handle_ais_reply(
        &mut self,
        now: Instant,
        unix: UnixSecs,
        id: u64,
        reply: Result<actr_core::ais::AisReply, ActrError>,
        out: &mut Vec<NodeOut>,
    ) {
        self.input(now, unix, out, |m| m.keeper.handle_reply(now, unix, id, reply));
    }

    pub fn handle_connected(&mut self, now: Instant, unix: UnixSecs, conn: ConnId, out: &mut Vec<NodeOut>) {
        self.input(now, unix, out, |m| m.client.handle_connected(now, conn));
    }

    pub fn handle_connect_failed(
        &mut self,
        now: Instant,
        unix: UnixSecs,
        conn: ConnId,
        why: &str,
        out: &mut Vec<NodeOut>,
    ) {
        self.input(now, unix, out, |m| m.client.handle_connect_failed(now, conn, why));
    }

    pub fn handle_closed(&mut self, now: Instant, unix: UnixSecs, conn: ConnId, out: &mut Vec<NodeOut>) {
        self.input(now, unix, out, |m| m.client.handle_closed(now, conn));
    }

    pub fn handle_frame(&mut self, now: Instant, unix: UnixSecs, conn: ConnId, bytes: &[u8], out: &mut Vec<NodeOut>) {
        if self.tap {
            self.tap_frame(now, bytes);
        }
        self.input(now, unix, out, |m| m.client.handle_frame(now, conn, bytes));
    }

    /// Issues an application request and records it in the ledger.
    pub fn request(
        &mut self,
        now: Instant,
        unix: UnixSecs,
        request: ClientRequest,
        out: &mut Vec<NodeOut>,
    ) -> Result<RequestId, ActrError> {
        let inc = self.incarnation;
        let m = self.machines.as_mut().ok_or_else(|| ActrError::Unavailable("node is down".into()))?;
        let id = issue(m, &mut self.log, inc, now, request)?;
        self.drain(now, unix, out);
        Ok(id)
    }

    fn input(&mut self, now: Instant, unix: UnixSecs, out: &mut Vec<NodeOut>, f: impl FnOnce(&mut Machines)) {
        let Some(m) = self.machines.as_mut() else { return };
        f(m);
        self.drain(now, unix, out);
    }

    fn tap_frame(&mut self, now: Instant, bytes: &[u8]) {
        let max = actr_core::signaling::messages::MAX_SIGNALING_FRAME;
        if let Ok(msg @ (ServerMsg::Reply { .. } | ServerMsg::Error(_))) = decode_message::<ServerMsg>(bytes, max) {
            self.log.wire.push((now, msg));
        }
    }

    /// Applies the wiring until neither machine has output left.
    fn drain(&mut self, now: Instant, unix: UnixSecs, out: &mut Vec<NodeOut>) {
        let inc = self.incarnation;
        let Some(m) = self.machines.as_mut() else { return };
        let log = &mut self.log;
        let spec = &self.spec;
        loop {
            let mut progressed = false;
            while let Some(event) = m.keeper.poll_event() {
                progressed = true;
                on_keeper_event(m, log, now, unix, event);
            }
            while let Some(event) = m.client.poll_event() {
                progressed = true;
                if let SignalingEvent::Relay { source, payload } = &event {
                    out.push(NodeOut::Relay { source: source.clone(), payload: payload.clone() });
                }
                on_client_event(m, log, spec, inc, now, event);
            }
            while let Some(call) = m.keeper.poll_call() {
                progressed = true;
                out.push(NodeOut::Ais(call));
            }
            while let Some(t) = m.client.poll_transmit() {
                progressed = true;
                out.push(NodeOut::Transmit(t));
            }
            if !progressed {
                return;
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
    let id = m.client.request(now, request.clone())?;
    log.ledger.issue((inc, id), request, now, now + m.request_timeout);
    Ok(id)
}

fn on_keeper_event(m: &mut Machines, log: &mut NodeLog, now: Instant, unix: UnixSecs, event: KeeperEvent) {
    let ok = match event {
        KeeperEvent::Registered(ok) => {
            log.identities.push(ok.actor.clone());
            ok
        }
        KeeperEvent::Renewed(ok) => {
            log.renewals += 1;
            ok
        }
        KeeperEvent::Failed(e) => {
            log.keeper_failures.push(e);
            return;
        }
    };
    m.client.set_identity(now, unix, ok.actor, ok.credential, ok.credential_expires_at);
    if !m.started {
        m.started = true;
        // set_identity just ran, so start cannot fail.
        m.client.start(now).expect("identity is set");
    }
}

fn on_client_event(
    m: &mut Machines,
    log: &mut NodeLog,
    spec: &NodeSpec,
    inc: u32,
    now: Instant,
    event: SignalingEvent,
) {
    match event {
        SignalingEvent::ConnectStart { .. } => {}
        SignalingEvent::Connected { .. } => {
            log.connects.push(now);
            for target_type in spec.subscribe.clone() {
                // The pending table is far from full right after connecting;
                // a refusal would show up as a missing subscription.
                let _ = issue(m, log, inc, now, ClientRequest::Subscribe { target_type });
            }
        }
        SignalingEvent::Disconnected { reason } => log.disconnects.push((now, reason)),
        SignalingEvent::GaveUp { .. } => log.gave_up += 1,
        SignalingEvent::Reply { id, result } => on_reply(log, inc, now, id, result),
        SignalingEvent::Relay { source, payload } => log.relays_in.push((now, source, payload)),
        SignalingEvent::Presence { actor, up } => log.presence.push((now, actor, up)),
        SignalingEvent::CredentialNeeded => {
            log.credential_needed += 1;
            m.keeper.renew_now(now);
        }
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
