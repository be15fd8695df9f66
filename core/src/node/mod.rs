//! The node hub: one sans-IO state machine per node.
//!
//! A [`NodeHub`] composes everything a node decides: the credential keeper
//! (AIS registration and renewal), the signaling client, the RPC endpoint
//! (correlation, deadlines, retries, ACL, dedup), the route table, one
//! session per remote peer (which wire carries its traffic, the race between
//! a WebSocket dial and a WebRTC connection, offerer and answerer roles and
//! their epochs, ICE restart and failover, WebRTC taking over from
//! WebSocket, stale-session protection), direct-link hellos, keepalives and
//! idle timeouts, the network-change debounce, and admission with in-flight
//! budgets. Every timeout is one of its timers.
//!
//! The driver moves bytes, time and events, nothing else:
//!
//! Identity is proven, not shown: the hub holds the node's [`HostKey`],
//! registers it with the AIS (which binds it into the credential), and signs
//! a fresh challenge with it in every signaling and direct-link hello and the
//! DTLS fingerprints of every WebRTC offer and answer (see [`crate::proof`]).
//!
//! 1. Feed one input with the current `now`: a `handle_*` method (socket
//!    bytes, link up or down, a WebRTC report, an AIS reply, a timer, a
//!    network change) or an application request ([`NodeHub::call`],
//!    [`NodeHub::tell`], [`NodeHub::query`], [`NodeHub::respond`]…).
//! 2. Drain [`NodeHub::poll_output`] until it returns `None`, carrying out
//!    each [`NodeOutput`]: an AIS request, work for the signaling socket, a
//!    dial, bytes for a link, a command for a str0m peer, a delivery to the
//!    workload, an answer to a caller, an event.
//! 3. Sleep until [`NodeHub::poll_timeout`] or the next input, then call
//!    [`NodeHub::handle_timeout`] when it is due; go to 1.
//!
//! Wall-clock seconds (for credentials) are `unix_origin + now` in seconds:
//! the driver's `now` counts from the moment `unix_origin` was read.
//!
//! # Wires
//!
//! A message to a peer goes on its WebRTC connection when the RPC channel
//! is open, else on an open direct link. With neither, it waits (bounded in
//! count and bytes) while both are tried at once: a WebSocket dial (to the
//! address learned from discovery, or looked up through signaling) and a
//! WebRTC connection; the first up serves what waited, and the wait fails
//! only when both failed. WebRTC takes over once up. When WebRTC loses
//! connectivity, RPC moves to the direct link while the offerer restarts
//! ICE (the answerer asks it to); past the recovery timeout the connection
//! is closed and the next message starts a new one. A connection that stays
//! up but goes quiet (calls on it hear nothing back for
//! [`HubConfig::rtc_stall_timeout`]) while a direct link is open is
//! stalled: RPC moves to the link, and the calls waiting on it are resent
//! there under the same request ids, until the connection shows life (or
//! is closed at its deadline). A response goes back on the direct link its
//! request came on while that link is open, else like any message. When
//! the last wire to a peer closes, its pending calls fail at once.

mod admission;
mod direct;
pub mod hello;
mod links;
mod output;
mod peers;
mod rtc;
pub mod signal;
mod stall;

use std::collections::{BTreeMap, VecDeque};

use crate::ais::{AisRequest, RegisterOk, RegisterRequest};
use crate::credential::KeyRing;
use crate::error::ActrError;
use crate::id::ActrId;
use crate::keeper::{CredentialKeeper, KeeperConfig, KeeperEvent};
use crate::proof::{HostKey, NonceSource};
use crate::signaling::{
    ActorProfile, ClientConfig, ClientRequest, ConnId, RequestId, ServerReply, SignalingClient, SignalingEvent,
    SignalingStats,
};
use crate::time::{Duration, Instant, UnixSecs};
use crate::transport::{
    Direction, EndpointConfig, EndpointEvent, EndpointStats, Inbound, LaneKind, Outbound, RouteDecision, RouteTable,
    RpcEndpoint, TraceContext, WireKind,
};

pub use admission::Phase;
pub use direct::MAX_HANDSHAKE_MESSAGE;
pub use output::{
    CallId, Delivery, DeliveryId, LinkId, LinkOutput, NetworkChange, NodeEvent, NodeOutput, QueryId, RtcId, RtcOutput,
    RtcReport, TellId,
};

use admission::Admission;
use links::{LinkLimits, LinkTable};
use peers::{PeerLimits, PeerTable};

/// Largest message on a direct link once its hello verified.
pub const MAX_LINK_MESSAGE: usize = crate::transport::envelope::MAX_ENVELOPE;

/// How a node hub behaves. Build with [`HubConfig::new`], then adjust.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HubConfig {
    pub register: RegisterRequest,
    pub profile: ActorProfile,
    pub client: ClientConfig,
    pub keeper: KeeperConfig,
    pub endpoint: EndpointConfig,
    /// Whether this node connects over WebRTC.
    pub webrtc: bool,
    pub rtc_setup_timeout: Duration,
    pub rtc_recovery_timeout: Duration,
    /// Calls on an up WebRTC connection that hear nothing back on it for
    /// this long, while a direct link to the peer is open, mean it stalled:
    /// RPC moves to the link until the connection shows life. Above what
    /// one lost packet costs SCTP (a retransmission after at least 1 s, the
    /// next 2 s later) and well below call deadlines, so a call caught in
    /// the stall still has time for its resend over the link.
    pub rtc_stall_timeout: Duration,
    /// Network reports closer together than this form one burst.
    pub network_debounce: Duration,
    pub max_in_flight: usize,
    pub max_in_flight_per_peer: usize,
    /// Peers the route table remembers; idle ones are forgotten first.
    pub max_routes: usize,
    /// Bound on a dial: connect, handshake, hello and welcome.
    pub dial_timeout: Duration,
    /// Bound on an accepted link's hello.
    pub hello_timeout: Duration,
    /// An open link that receives nothing for this long is closed.
    pub link_idle_timeout: Duration,
    /// An open link the hub sent nothing on for this long gets a keepalive.
    pub link_keepalive: Duration,
    pub max_links: usize,
    pub max_links_per_peer: usize,
    pub max_handshaking: usize,
    pub max_handshaking_per_source: usize,
    pub max_parked: usize,
    pub max_parked_bytes: usize,
    pub max_dials: usize,
    pub max_rtc: usize,
    /// Connections one peer may start by unsolicited offers per `offer_window`.
    pub offers_per_window: u32,
    pub offer_window: Duration,
    /// After a WebRTC attempt failed, traffic stays on the direct link this
    /// long before WebRTC is tried again.
    pub rtc_retry_after: Duration,
}

impl HubConfig {
    pub fn new(register: RegisterRequest) -> Self {
        Self {
            register,
            profile: ActorProfile::default(),
            client: ClientConfig::default(),
            keeper: KeeperConfig::default(),
            endpoint: EndpointConfig::default(),
            webrtc: true,
            rtc_setup_timeout: Duration::from_secs(10),
            rtc_recovery_timeout: Duration::from_secs(30),
            rtc_stall_timeout: Duration::from_secs(4),
            network_debounce: Duration::from_secs(2),
            max_in_flight: 1024,
            max_in_flight_per_peer: 256,
            max_routes: 4096,
            dial_timeout: Duration::from_secs(10),
            hello_timeout: Duration::from_secs(10),
            link_idle_timeout: Duration::from_secs(60),
            link_keepalive: Duration::from_secs(20),
            max_links: 256,
            max_links_per_peer: 4,
            max_handshaking: 16,
            max_handshaking_per_source: 4,
            max_parked: 1024,
            max_parked_bytes: 64 * 1024 * 1024,
            max_dials: 256,
            max_rtc: 256,
            offers_per_window: 8,
            offer_window: Duration::from_secs(60),
            rtc_retry_after: Duration::from_secs(30),
        }
    }
}

/// Counters of one hub.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HubStats {
    pub endpoint: EndpointStats,
    pub signaling: SignalingStats,
    pub ais_calls: u64,
    pub links_open: u64,
    pub accepted: u64,
    pub refused: u64,
    pub dialed: u64,
    pub dial_failures: u64,
    pub keepalives_sent: u64,
    pub links_timed_out: u64,
    pub responses_dropped: u64,
    /// Tells a WebRTC connection could not send after they were handed over.
    pub tells_lost: u64,
    pub requests_refused: u64,
    pub webrtc_connections_up: u64,
    pub webrtc_connection_failures: u64,
    pub webrtc_sent: u64,
    pub webrtc_received: u64,
    pub ice_disconnects: u64,
    pub ice_restarts: u64,
    pub ice_recovered: u64,
    /// WebRTC connections that stalled with ICE up (see
    /// [`HubConfig::rtc_stall_timeout`]): RPC moved to the direct link.
    pub webrtc_stalls: u64,
    /// Network-change bursts that settled into a recovery of every connection.
    pub network_recoveries: u64,
    pub offers_refused: u64,
    /// Offers and answers whose fingerprint proof did not hold.
    pub fingerprints_refused: u64,
    pub routes_evicted: u64,
    /// WebRTC connections closed to make room for a new one.
    pub webrtc_evicted: u64,
    pub inputs: u64,
}

/// What a signaling request made by the hub is for.
#[derive(Debug, Clone)]
enum Purpose {
    App(QueryId),
    /// A WebRTC signal of connection `rtc` to `peer`.
    Relay(ActrId, RtcId),
    /// The direct address of `peer`, for its dial.
    Lookup(ActrId),
}

/// One node; see the module docs for the drive loop.
#[derive(Debug)]
pub struct NodeHub {
    config: HubConfig,
    unix_origin: UnixSecs,
    /// The current identity; a placeholder with serial 0 until registered.
    own: ActrId,
    registration: Option<RegisterOk>,
    keeper: CredentialKeeper,
    client: SignalingClient,
    client_started: bool,
    endpoint: RpcEndpoint,
    routes: RouteTable,
    /// When each routed peer was last used, for eviction.
    route_use: BTreeMap<ActrId, Instant>,
    links: LinkTable,
    peers: PeerTable,
    ring: KeyRing,
    /// The key the AIS binds into this node's credentials; every hello and
    /// WebRTC fingerprint is signed with it.
    host_key: HostKey,
    /// Challenges for accepted links and nonces of our own hellos.
    nonces: NonceSource,
    admission: Admission,
    requests: BTreeMap<RequestId, Purpose>,
    calls: BTreeMap<u64, ActrId>,
    tells: BTreeMap<(ActrId, u64), TellId>,
    /// Requests and tells with the workload, and the direct link each came
    /// on (a response goes back on its request's link while that is open).
    deliveries: BTreeMap<DeliveryId, (Inbound, Option<LinkId>)>,
    /// The link the input being handled came on, while its answers leave.
    arrival: Option<LinkId>,
    next_delivery: u64,
    next_query: u64,
    next_tell: u64,
    debounce: Option<(Instant, NetworkChange)>,
    stopped: bool,
    out: VecDeque<NodeOutput>,
    stats: HubStats,
}

impl NodeHub {
    /// A hub for a node to register as `config.register`, proving
    /// possession of `host_key` (32 bytes from the OS; see
    /// [`crate::proof`]); `seed` drives all its other randomness;
    /// `unix_origin` is the wall clock at `now` zero.
    pub fn new(config: HubConfig, host_key: HostKey, seed: u64, unix_origin: UnixSecs) -> Self {
        let mut register = config.register.clone();
        register.sign(&host_key);
        let own = ActrId { realm: register.realm, serial: 0, actr_type: register.actr_type.clone() };
        let acl = config.profile.acl.clone();
        let links = LinkTable::new(LinkLimits {
            max_links: config.max_links,
            max_per_peer: config.max_links_per_peer,
            max_handshaking: config.max_handshaking,
            max_handshaking_per_source: config.max_handshaking_per_source,
        });
        let peers = PeerTable::new(PeerLimits {
            max_parked: config.max_parked,
            max_parked_bytes: config.max_parked_bytes,
            max_dials: config.max_dials,
            max_rtc: config.max_rtc,
            offers_per_window: config.offers_per_window,
            offer_window: config.offer_window,
        });
        Self {
            unix_origin,
            keeper: CredentialKeeper::new(config.keeper, seed, register),
            client: SignalingClient::new(
                config.client,
                seed ^ 0x5157_4e41_4c49_4e47,
                config.profile.clone(),
                host_key.clone(),
            ),
            client_started: false,
            endpoint: RpcEndpoint::new(config.endpoint, seed ^ 0x7270_6300, &own, acl),
            routes: RouteTable::new(config.max_routes),
            route_use: BTreeMap::new(),
            links,
            peers,
            ring: KeyRing::default(),
            nonces: host_key.nonces(),
            host_key,
            admission: Admission::new(config.max_in_flight, config.max_in_flight_per_peer),
            requests: BTreeMap::new(),
            calls: BTreeMap::new(),
            tells: BTreeMap::new(),
            deliveries: BTreeMap::new(),
            arrival: None,
            next_delivery: 1,
            next_query: 1,
            next_tell: 1,
            debounce: None,
            stopped: false,
            out: VecDeque::new(),
            stats: HubStats::default(),
            own,
            registration: None,
            config,
        }
    }

    /// The identity the AIS gave, once registered.
    pub fn id(&self) -> Option<&ActrId> {
        self.registration.as_ref().map(|_| &self.own)
    }

    pub fn registration(&self) -> Option<&RegisterOk> {
        self.registration.as_ref()
    }

    pub fn is_connected(&self) -> bool {
        self.client.is_connected()
    }

    pub fn phase(&self) -> Phase {
        self.admission.phase()
    }

    pub fn in_flight(&self) -> usize {
        self.admission.in_flight()
    }

    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    /// What the route table knows about reaching `peer`.
    pub fn route(&self, peer: &ActrId) -> Option<&crate::transport::PeerRoute> {
        self.routes.get(peer)
    }

    /// The current WebRTC connection to `peer` and whether its RPC channel is up.
    pub fn connection(&self, peer: &ActrId) -> Option<(RtcId, bool)> {
        self.peers.rtc_of(peer).map(|c| (c.id, c.up))
    }

    /// The signaling client, for inspection.
    pub fn signaling(&self) -> &SignalingClient {
        &self.client
    }

    /// The credential keeper, for inspection.
    pub fn keeper(&self) -> &CredentialKeeper {
        &self.keeper
    }

    pub fn stats(&self) -> HubStats {
        HubStats {
            endpoint: self.endpoint.stats(),
            signaling: self.client.stats(),
            links_open: self.links.open_count() as u64,
            ..self.stats
        }
    }

    /// The wall clock at `now`, as the hub reckons it (`unix_origin + now`).
    pub fn unix(&self, now: Instant) -> UnixSecs {
        self.unix_origin + now.as_micros() / 1_000_000
    }

    // ---- lifecycle -------------------------------------------------------

    /// Starts registering with the AIS; signaling connects once registered.
    pub fn start(&mut self, now: Instant) {
        self.stats.inputs += 1;
        self.keeper.start(now);
        self.pump(now);
    }

    /// Admits remote requests from now on (`on_start` is done).
    pub fn open(&mut self, now: Instant) {
        self.admission.set_phase(Phase::Running);
        self.pump(now);
    }

    /// Refuses new remote requests; in-flight ones finish.
    pub fn begin_drain(&mut self, now: Instant) {
        if self.admission.phase() != Phase::Stopped {
            self.admission.set_phase(Phase::Draining);
        }
        self.pump(now);
    }

    /// Fails everything pending, closes every link and connection, leaves
    /// signaling. The hub is inert after.
    pub fn stop(&mut self, now: Instant) {
        if self.stopped {
            return;
        }
        self.stats.inputs += 1;
        self.admission.set_phase(Phase::Stopped);
        self.pump(now);
        let gone = ActrError::Unavailable("the node stopped".into());
        self.drop_everything(now, &gone);
        self.client.stop(now);
        for (_, purpose) in std::mem::take(&mut self.requests) {
            if let Purpose::App(query) = purpose {
                self.out.push_back(NodeOutput::QueryDone { query, result: Err(gone.clone()) });
            }
        }
        self.pump(now);
        self.stopped = true;
    }

    /// Closes every link and connection, ends every dial and fails every
    /// pending call and tell with `error`.
    fn drop_everything(&mut self, now: Instant, error: &ActrError) {
        for link in self.links.ids() {
            self.close_link(now, link, error.clone());
        }
        for rtc in self.peers.rtc_ids() {
            self.out.push_back(NodeOutput::Rtc(RtcOutput::Close { rtc }));
            self.rtc_ended(now, rtc, error.clone());
        }
        for peer in self.peers.peers() {
            for out in self.peers.end_dial(&peer) {
                self.send_failed(now, out, error.clone());
            }
        }
        let dests: std::collections::BTreeSet<ActrId> = self.calls.values().cloned().collect();
        for dest in dests {
            self.endpoint.fail_dest(&dest, error);
        }
        for (_, tell) in std::mem::take(&mut self.tells) {
            self.out.push_back(NodeOutput::TellDone { tell, result: Err(error.clone()) });
        }
        self.pump(now);
    }

    // ---- application requests -------------------------------------------

    /// Calls `dest`; the answer comes as [`NodeOutput::CallDone`].
    pub fn call(
        &mut self,
        now: Instant,
        dest: ActrId,
        route_key: &str,
        payload: Vec<u8>,
        timeout: Duration,
        trace: Option<&TraceContext>,
    ) -> Result<CallId, ActrError> {
        self.stats.inputs += 1;
        self.check_can_send()?;
        let id = self.endpoint.call(now, dest.clone(), route_key, payload, timeout, trace)?;
        self.calls.insert(id, dest);
        self.pump(now);
        Ok(CallId(id))
    }

    /// Tells `dest`; [`NodeOutput::TellDone`] says when it left (or why not).
    pub fn tell(
        &mut self,
        now: Instant,
        dest: ActrId,
        route_key: &str,
        payload: Vec<u8>,
        trace: Option<&TraceContext>,
    ) -> Result<TellId, ActrError> {
        self.stats.inputs += 1;
        self.check_can_send()?;
        let request_id = self.endpoint.tell(dest.clone(), route_key, payload, trace)?;
        let tell = TellId(self.next_tell);
        self.next_tell += 1;
        self.tells.insert((dest, request_id), tell);
        self.pump(now);
        Ok(tell)
    }

    fn check_can_send(&self) -> Result<(), ActrError> {
        if self.stopped || self.admission.phase() == Phase::Stopped {
            return Err(ActrError::Unavailable("the node stopped".into()));
        }
        if self.registration.is_none() {
            return Err(ActrError::Unavailable("the node is not registered yet".into()));
        }
        Ok(())
    }

    /// Asks signaling; the reply comes as [`NodeOutput::QueryDone`]. Direct
    /// addresses in route candidates are learned on the way.
    pub fn query(&mut self, now: Instant, request: ClientRequest) -> Result<QueryId, ActrError> {
        self.stats.inputs += 1;
        if self.stopped {
            return Err(ActrError::Unavailable("the node stopped".into()));
        }
        let id = self.client.request(now, request)?;
        let query = QueryId(self.next_query);
        self.next_query += 1;
        self.requests.insert(id, Purpose::App(query));
        self.pump(now);
        Ok(query)
    }

    /// The workload finished `delivery` (for a tell, `result` is ignored).
    pub fn respond(&mut self, now: Instant, delivery: DeliveryId, result: Result<Vec<u8>, ActrError>) {
        self.stats.inputs += 1;
        let Some((inbound, link)) = self.deliveries.remove(&delivery) else { return };
        self.admission.release(&inbound.caller);
        if inbound.envelope.direction == Direction::Request {
            self.endpoint.respond(now, &inbound, result);
        }
        self.pump_answers(now, link);
    }

    /// Pumps the answers to an input that came on `link` (if any): they go
    /// back on it (see [`NodeHub::send`]).
    fn pump_answers(&mut self, now: Instant, link: Option<LinkId>) {
        self.arrival = link;
        self.pump(now);
        self.arrival = None;
    }

    /// Remembers `peer`'s direct address (from discovery or the application).
    pub fn add_route(&mut self, now: Instant, peer: &ActrId, ws_address: String) -> Result<(), ActrError> {
        hello::parse_ws_address(&ws_address)?;
        self.route_entry(now, peer)?;
        self.routes.set_ws_address(peer, Some(ws_address))
    }

    /// The application saw the network change; recovery follows the burst.
    pub fn handle_network_change(&mut self, now: Instant, change: NetworkChange) {
        self.stats.inputs += 1;
        self.debounce = Some((now + self.config.network_debounce, change));
    }

    /// A latency-first stream chunk for `dest`'s WebRTC stream lane;
    /// `ConnectionNotReady` when WebRTC is not up (send it as a call then).
    pub fn send_stream_chunk(&mut self, dest: &ActrId, bytes: Vec<u8>) -> Result<(), ActrError> {
        let conn = self.peers.rtc_of(dest).filter(|c| c.up);
        let Some(conn) = conn else { return Err(ActrError::ConnectionNotReady { retry_after_ms: None }) };
        self.out.push_back(NodeOutput::Rtc(RtcOutput::Send { rtc: conn.id, lane: LaneKind::Stream, bytes }));
        Ok(())
    }

    /// The WebRTC connection to `dest` for media, started if none runs.
    pub fn media_connection(&mut self, now: Instant, dest: &ActrId) -> Result<RtcId, ActrError> {
        if !self.config.webrtc {
            return Err(ActrError::NotImplemented("media needs WebRTC, which is off".into()));
        }
        self.check_can_send()?;
        let rtc = self.ensure_rtc(now, dest, true)?;
        self.pump(now);
        Ok(rtc)
    }

    // ---- AIS and signaling -----------------------------------------------

    /// The answer to [`NodeOutput::Ais`] call `id`.
    pub fn handle_ais_reply(&mut self, now: Instant, id: u64, reply: Result<crate::ais::AisReply, ActrError>) {
        self.stats.inputs += 1;
        let unix = self.unix(now);
        self.keeper.handle_reply(now, unix, id, reply);
        self.pump(now);
    }

    pub fn handle_signaling_connected(&mut self, now: Instant, conn: ConnId) {
        self.stats.inputs += 1;
        self.client.handle_connected(now, conn);
        self.pump(now);
    }

    pub fn handle_signaling_frame(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) {
        self.stats.inputs += 1;
        self.client.handle_frame(now, conn, bytes);
        self.pump(now);
    }

    pub fn handle_signaling_failed(&mut self, now: Instant, conn: ConnId, why: &str) {
        self.stats.inputs += 1;
        self.client.handle_connect_failed(now, conn, why);
        self.pump(now);
    }

    pub fn handle_signaling_closed(&mut self, now: Instant, conn: ConnId) {
        self.stats.inputs += 1;
        self.client.handle_closed(now, conn);
        self.pump(now);
    }

    // ---- time ------------------------------------------------------------

    /// The earliest moment [`NodeHub::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.stopped {
            return None;
        }
        let keepalive = self.config.link_keepalive;
        [
            self.keeper.poll_timeout(),
            self.client.poll_timeout(),
            self.endpoint.poll_timeout(),
            self.links.next_deadline(keepalive),
            self.peers.next_deadline(),
            self.debounce.map(|(at, _)| at),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.stopped {
            return;
        }
        self.stats.inputs += 1;
        let unix = self.unix(now);
        if self.keeper.poll_timeout().is_some_and(|at| at <= now) {
            self.keeper.handle_timeout(now, unix);
        }
        if self.client.poll_timeout().is_some_and(|at| at <= now) {
            self.client.handle_timeout(now);
        }
        if self.endpoint.poll_timeout().is_some_and(|at| at <= now) {
            self.endpoint.handle_timeout(now);
        }
        self.link_timers(now);
        self.rtc_timers(now);
        if let Some((at, change)) = self.debounce
            && at <= now
        {
            self.debounce = None;
            if change != NetworkChange::Lost {
                self.stats.network_recoveries += 1;
                self.recover_all(now);
            }
        }
        self.pump(now);
    }

    // ---- output ----------------------------------------------------------

    /// The next thing for the driver to do.
    pub fn poll_output(&mut self) -> Option<NodeOutput> {
        self.out.pop_front()
    }

    /// Moves the inner machines' outputs into the hub's until none has any.
    fn pump(&mut self, now: Instant) {
        loop {
            let mut moved = false;
            while let Some(mut call) = self.keeper.poll_call() {
                self.stats.ais_calls += 1;
                if let AisRequest::Renew(renew) = &mut call.request {
                    // Renewal re-proves possession, signed at the wall clock now.
                    renew.sign(&self.host_key, self.unix(now));
                }
                self.out.push_back(NodeOutput::Ais(call));
                moved = true;
            }
            while let Some(event) = self.keeper.poll_event() {
                self.on_keeper_event(now, event);
                moved = true;
            }
            while let Some(transmit) = self.client.poll_transmit() {
                self.out.push_back(NodeOutput::Signaling(transmit));
                moved = true;
            }
            while let Some(event) = self.client.poll_event() {
                self.on_signaling_event(now, event);
                moved = true;
            }
            while let Some(out) = self.endpoint.poll_outbound() {
                self.send(now, out);
                moved = true;
            }
            while let Some(event) = self.endpoint.poll_event() {
                self.on_endpoint_event(now, event);
                moved = true;
            }
            if !moved {
                return;
            }
        }
    }

    fn on_keeper_event(&mut self, now: Instant, event: KeeperEvent) {
        match event {
            KeeperEvent::Registered(ok) | KeeperEvent::Renewed(ok) => self.on_identity(now, ok),
            KeeperEvent::Failed(e) => self.out.push_back(NodeOutput::Event(NodeEvent::Failed(e))),
        }
    }

    /// A (re)issued credential: install it everywhere; a new identity closes
    /// what the old one had.
    fn on_identity(&mut self, now: Instant, ok: RegisterOk) {
        let _ = self.ring.insert_bytes(ok.signing_key_id, &ok.signing_pubkey);
        let unix = self.unix(now);
        let old = self.registration.as_ref().map(|r| r.actor.clone());
        self.client.set_identity(now, unix, ok.actor.clone(), ok.credential.clone(), ok.credential_expires_at);
        if !self.client_started {
            self.client_started = true;
            // Cannot fail: an identity was just installed.
            let _ = self.client.start(now);
        }
        self.own = ok.actor.clone();
        self.registration = Some(ok.clone());
        match old {
            Some(old) if old != ok.actor => {
                let new = ok.actor.clone();
                let gone = ActrError::Unavailable(format!("{old} was replaced by {new}"));
                self.drop_everything(now, &gone);
                self.out.push_back(NodeOutput::Event(NodeEvent::Registered(ok)));
                self.out.push_back(NodeOutput::Event(NodeEvent::Rebound { old, new }));
            }
            Some(_) => self.out.push_back(NodeOutput::Event(NodeEvent::Renewed(ok))),
            None => self.out.push_back(NodeOutput::Event(NodeEvent::Registered(ok))),
        }
    }

    fn on_signaling_event(&mut self, now: Instant, event: SignalingEvent) {
        let event = match event {
            SignalingEvent::ConnectStart { .. } | SignalingEvent::GaveUp { .. } => return,
            SignalingEvent::CredentialNeeded => return self.keeper.renew_now(now),
            SignalingEvent::Reply { id, result } => return self.on_reply(now, id, result),
            SignalingEvent::Relay { source, payload } => match signal::RelaySignal::decode(&payload) {
                Ok(signal) if self.config.webrtc => return self.on_remote_signal(now, source, signal),
                _ => NodeEvent::Relay { source, payload },
            },
            SignalingEvent::Connected { actor } => {
                self.signaling_back(now);
                NodeEvent::Connected { actor }
            }
            SignalingEvent::Disconnected { reason } => NodeEvent::Disconnected { reason },
            SignalingEvent::Presence { actor, up } => NodeEvent::Presence { actor, up },
        };
        self.out.push_back(NodeOutput::Event(event));
    }

    fn on_reply(&mut self, now: Instant, id: RequestId, result: Result<ServerReply, ActrError>) {
        if let Ok(ServerReply::Candidates(found)) = &result {
            for candidate in found {
                if let Some(address) = &candidate.ws_address {
                    let _ = self.add_route(now, &candidate.actor, address.clone());
                }
            }
        }
        match self.requests.remove(&id) {
            Some(Purpose::App(query)) => self.out.push_back(NodeOutput::QueryDone { query, result }),
            Some(Purpose::Relay(peer, rtc)) => self.on_relayed(now, &peer, rtc, result),
            Some(Purpose::Lookup(peer)) => self.on_lookup(now, &peer, result),
            None => {}
        }
    }

    fn on_endpoint_event(&mut self, now: Instant, event: EndpointEvent) {
        match event {
            EndpointEvent::Dispatch(inbound) => self.deliver(now, inbound),
            EndpointEvent::CallDone { request_id, result } => {
                if let Some(dest) = self.calls.remove(&request_id) {
                    self.watch_forget(&dest, request_id);
                }
                self.out.push_back(NodeOutput::CallDone { call: CallId(request_id), result });
            }
        }
    }

    /// Hands an admitted request to the workload, or answers it at once
    /// when the node is not serving or the caller is over its budget.
    fn deliver(&mut self, now: Instant, mut inbound: Inbound) {
        if let Err(e) = self.admission.admit(&inbound.caller, &self.own) {
            self.stats.requests_refused += 1;
            if inbound.envelope.direction == Direction::Request {
                self.endpoint.respond(now, &inbound, Err(e));
            }
            return;
        }
        let id = DeliveryId(self.next_delivery);
        self.next_delivery += 1;
        let env = &mut inbound.envelope;
        self.out.push_back(NodeOutput::Deliver(Delivery {
            id,
            caller: inbound.caller.clone(),
            request_id: env.request_id,
            route_key: env.route_key.clone(),
            payload: std::mem::take(&mut env.payload),
            trace: env.trace.clone(),
            tell: env.direction == Direction::Tell,
        }));
        self.deliveries.insert(id, (inbound, self.arrival));
    }

    // ---- routing ---------------------------------------------------------

    /// Makes room for `peer` in the route table, forgetting the least
    /// recently used peer that has no link, connection or dial.
    fn route_entry(&mut self, now: Instant, peer: &ActrId) -> Result<(), ActrError> {
        self.route_use.insert(peer.clone(), now);
        if self.routes.get(peer).is_some() || self.route_use.len() <= self.config.max_routes {
            return Ok(());
        }
        let idle = |hub: &Self| {
            let idle = hub.route_use.iter().filter(|(p, _)| *p != peer && hub.peers.get(p).is_none());
            idle.filter(|(p, _)| !hub.links.serves(p)).min_by_key(|(_, at)| **at).map(|(p, _)| p.clone())
        };
        let mut victim = idle(self);
        if victim.is_none()
            && let Some(busy) = self.peers.least_used_rtc().filter(|p| p != peer && !self.links.serves(p))
        {
            // Every remembered peer has a connection: the least used closes.
            self.stats.webrtc_evicted += 1;
            self.close_rtc(now, &busy, ActrError::Unavailable("webrtc connection closed to make room".into()));
            victim = idle(self);
        }
        match victim {
            Some(victim) => {
                self.routes.forget(&victim);
                self.route_use.remove(&victim);
                self.stats.routes_evicted += 1;
                Ok(())
            }
            None => {
                self.route_use.remove(peer);
                Err(ActrError::ResourceExhausted(format!("{} peers in use", self.config.max_routes)))
            }
        }
    }

    /// Sends `out` on the wire the route table picks (a response to a
    /// request that came on a link still open goes back on that link; a
    /// stalled WebRTC connection steps aside for an open link), or parks it
    /// while dialing.
    fn send(&mut self, now: Instant, out: Outbound) {
        if let Err(e) = self.route_entry(now, &out.dest) {
            return self.send_failed(now, out, e);
        }
        let ours = self.calls.contains_key(&out.request_id);
        let answer = !ours && (self.tells.is_empty() || !self.tells.contains_key(&(out.dest.clone(), out.request_id)));
        if let Some(link) = self.arrival.filter(|l| answer && self.links.is_open_to(*l, &out.dest)) {
            self.sent(&out);
            return self.link_send(now, link, out.bytes);
        }
        match self.routes.decide(&out.dest, LaneKind::Rpc) {
            Ok(RouteDecision::Send(WireKind::WebRtc, Some(session))) => {
                let conn = self.peers.rtc_of(&out.dest).filter(|c| c.session == Some(session) && c.up);
                let usable = conn.is_some_and(|c| !c.stall.stalled || self.open_link(&out.dest).is_none());
                if usable && let Some(conn) = self.peers.get_mut(&out.dest).and_then(|p| p.rtc.as_mut()) {
                    conn.last_used = now;
                    let rtc = conn.id;
                    self.stats.webrtc_sent += 1;
                    self.sent(&out);
                    if ours {
                        self.watch_sent(now, &out.dest, out.request_id, &out.bytes);
                    }
                    self.out.push_back(NodeOutput::Rtc(RtcOutput::Send { rtc, lane: LaneKind::Rpc, bytes: out.bytes }));
                    return;
                }
            }
            Ok(RouteDecision::Send(WireKind::WebSocket, Some(_))) => {}
            _ => return self.park(now, out),
        }
        let Some(link) = self.open_link(&out.dest) else { return self.park(now, out) };
        self.sent(&out);
        self.link_send(now, link, out.bytes);
        if ours {
            self.try_webrtc(now, &out.dest);
        }
    }

    /// Traffic goes over a direct link: start WebRTC beside it (it takes
    /// over once up), unless an attempt runs or one failed recently.
    fn try_webrtc(&mut self, now: Instant, peer: &ActrId) {
        if self.config.webrtc && self.peers.rtc_of(peer).is_none() && self.peers.rtc_allowed(peer, now) {
            let _ = self.ensure_rtc(now, peer, true);
        }
    }

    /// A tell that left: answer its teller.
    fn sent(&mut self, out: &Outbound) {
        if self.tells.is_empty() {
            return;
        }
        if let Some(tell) = self.tells.remove(&(out.dest.clone(), out.request_id)) {
            self.out.push_back(NodeOutput::TellDone { tell, result: Ok(()) });
        }
    }

    fn send_failed(&mut self, now: Instant, out: Outbound, error: ActrError) {
        if self.calls.contains_key(&out.request_id) {
            self.endpoint.handle_send_failed(now, out, error);
        } else if let Some(tell) = self.tells.remove(&(out.dest.clone(), out.request_id)) {
            self.out.push_back(NodeOutput::TellDone { tell, result: Err(error) });
        } else {
            self.stats.responses_dropped += 1;
        }
    }

    /// No wire to `out.dest`: a response is dropped (the caller's wire is
    /// gone); a call or tell waits while both wires are tried.
    fn park(&mut self, now: Instant, out: Outbound) {
        let is_request =
            self.calls.contains_key(&out.request_id) || self.tells.contains_key(&(out.dest.clone(), out.request_id));
        if !is_request {
            return self.park_response(out);
        }
        if !self.peers.is_dialing(&out.dest)
            && let Err(e) = self.begin_dial(now, &out.dest)
        {
            return self.send_failed(now, out, e);
        }
        if let Err(refused) = self.peers.park(out) {
            let (out, error) = *refused;
            self.send_failed(now, out, error);
        }
    }

    /// A response waits only for a wire that may come back (a WebRTC
    /// connection recovering, a dial under way); with none, the caller's
    /// wire is gone and so is the response.
    fn park_response(&mut self, out: Outbound) {
        let recovering = self.peers.rtc_of(&out.dest).map(|c| c.id);
        let waits = match (self.peers.is_dialing(&out.dest), recovering) {
            (true, _) => true,
            (false, Some(rtc)) => self.peers.begin_dial(&out.dest).map(|dial| dial.rtc = Some(rtc)).is_ok(),
            (false, None) => false,
        };
        if !waits || self.peers.park(out).is_err() {
            self.stats.responses_dropped += 1;
        }
    }

    /// Starts the race to `peer`: a WebSocket dial and a WebRTC connection.
    fn begin_dial(&mut self, now: Instant, peer: &ActrId) -> Result<(), ActrError> {
        self.peers.begin_dial(peer)?;
        self.start_ws_attempt(now, peer);
        if self.config.webrtc {
            match self.ensure_rtc(now, peer, true) {
                Ok(rtc) => {
                    if let Some(dial) = self.peers.dial_mut(peer) {
                        dial.rtc = Some(rtc);
                    }
                }
                Err(e) => self.debug_refusal(peer, &e),
            }
        }
        if self.peers.dial_mut(peer).is_some_and(|d| d.is_over()) {
            self.peers.end_dial(peer);
            return Err(ActrError::Unavailable(format!("no wire can reach {peer}")));
        }
        Ok(())
    }

    fn debug_refusal(&self, _peer: &ActrId, _error: &ActrError) {
        #[cfg(feature = "tracing")]
        tracing::debug!(peer = %_peer, "no webrtc attempt: {_error}");
    }

    /// A dial attempt of `peer` ended with `error`; when it was the last
    /// one, what waited fails with it.
    fn attempt_failed(&mut self, now: Instant, peer: &ActrId, error: ActrError) {
        let over = self.peers.dial_mut(peer).is_some_and(|d| d.is_over());
        if !over {
            return;
        }
        for out in self.peers.end_dial(peer) {
            self.send_failed(now, out, error.clone());
        }
    }

    /// A wire to `peer` came up: what waited goes on it.
    fn wire_up(&mut self, now: Instant, peer: &ActrId) {
        for out in self.peers.end_dial(peer) {
            self.send(now, out);
        }
    }

    /// The last wire to `peer` may have gone: its pending calls fail at once.
    fn wire_lost(&mut self, peer: &ActrId, error: &ActrError) {
        let route = self.routes.get(peer);
        let webrtc_up = route.is_some_and(|r| r.webrtc.is_some_and(|(_, ready)| ready));
        let websocket = route.is_some_and(|r| r.websocket.is_some());
        if !webrtc_up && !websocket && !self.peers.is_dialing(peer) {
            self.endpoint.fail_dest(peer, error);
        }
    }
}
