//! `NodeHub` driven end to end on a virtual clock: an AIS, a signaling
//! server and several hubs in one harness that carries every output at once.
//! Direct links are paired in memory; WebRTC is played by hand (the test is
//! the str0m peer), with RPC-lane sends carried to the other hub.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use actr_core::ais::{
    AisConfig, AisReply, AisRequest, AisService, MemoryDirectory, PackageAuth, RealmConfig, RegisterAuth, RegisterOk,
    RegisterRequest,
};
use actr_core::error::ErrorReply;
use actr_core::node::hello::{DirectChallenge, DirectHello, DirectReply, LinkNonces, MAX_HELLO};
use actr_core::node::signal::{RelaySignal, RtcSignal, SignalProof};
use actr_core::node::{
    CallId, Delivery, HubConfig, LinkId, LinkOutput, NetworkChange, NodeEvent, NodeHub, NodeOutput, RtcId, RtcOutput,
    RtcReport, TellId,
};
use actr_core::proof::{HostKey, Nonce, Statement, sdp_fingerprints};
use actr_core::signaling::{ClientTransmit, ServerConfig, SignalingServer, is_offerer};
use actr_core::transport::LaneKind;
use actr_core::wire::decode_message;
use actr_core::{ActrError, ActrId, Duration, Instant, Realm};

// ---- harness -----------------------------------------------------------------

const ORIGIN: u64 = 1_700_000_000;
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

struct Node {
    hub: NodeHub,
    ip: IpAddr,
    /// Answer deliveries with their payload at once; else hold them.
    echo: bool,
    /// Connect dials to the hub advertising the address; else leave them hanging.
    answer_dials: bool,
    /// Whether connections to its advertised address reach it (else they are refused).
    listens: bool,
    /// Paired direct links: this hub's link id to (other node, its link id).
    links: BTreeMap<LinkId, (usize, LinkId)>,
    held: Vec<Delivery>,
    delivered: Vec<Delivery>,
    done: BTreeMap<CallId, Result<Vec<u8>, ActrError>>,
    tells: BTreeMap<TellId, Result<(), ActrError>>,
    events: Vec<NodeEvent>,
    /// Every link and WebRTC output, in order.
    log: Vec<NodeOutput>,
    dials: Vec<(LinkId, ActrId, String)>,
    rtc_peer: BTreeMap<RtcId, ActrId>,
    rtc_closed: BTreeSet<RtcId>,
    /// Hold its RPC-lane sends instead of carrying them (a stalled data
    /// channel: nothing is lost and nothing is reported).
    rtc_hold: bool,
    rtc_held: Vec<(RtcId, Vec<u8>)>,
    /// Stopped and left out of the harness from now on (see [`World::retire`]).
    retired: bool,
}

struct World {
    now: Instant,
    ais: AisService,
    /// Nodes whose renewals the AIS refuses.
    refuse_renewals: BTreeSet<usize>,
    server: SignalingServer,
    /// Server connection to (node, client connection).
    sig: BTreeMap<u64, (usize, u64)>,
    next_sconn: u64,
    nodes: Vec<Node>,
    /// A signaling path that rewrites the WebRTC signals it relays.
    mitm: Option<fn(&mut RelaySignal)>,
    /// Manufacturers and published packages the AIS knows.
    dir: MemoryDirectory,
}

impl World {
    fn new() -> Self {
        Self::with_ais(AisConfig::default())
    }

    fn with_ais(config: AisConfig) -> Self {
        let mut ais = AisService::new([7; 32], 1, 1, config);
        ais.upsert_realm(RealmConfig::new(Realm(1), None)).unwrap();
        let server = SignalingServer::new(ServerConfig::default(), ais.key_ring(), [8; 32]);
        World {
            now: Instant::ZERO,
            ais,
            refuse_renewals: BTreeSet::new(),
            server,
            sig: BTreeMap::new(),
            next_sconn: 1,
            nodes: Vec::new(),
            mitm: None,
            dir: MemoryDirectory::default(),
        }
    }

    fn unix(&self) -> u64 {
        ORIGIN + self.now.as_micros() / 1_000_000
    }

    /// A hub of type `ty` (WebRTC off, a direct address of its own), started
    /// until registered and connected to signaling, but not yet open.
    fn add(&mut self, ty: &str, tweak: impl FnOnce(&mut HubConfig)) -> usize {
        let i = self.nodes.len();
        let register = RegisterRequest::new(ty.parse().unwrap(), Realm(1), None);
        let mut config = HubConfig::new(register);
        config.webrtc = false;
        config.profile.ws_address = Some(format!("ws://127.0.0.1:{}", 9000 + i));
        tweak(&mut config);
        self.nodes.push(Node {
            hub: NodeHub::new(config, host_key(i as u32), 1000 + i as u64, ORIGIN),
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, (i / 200) as u8, (i % 200) as u8 + 1)),
            echo: true,
            answer_dials: true,
            listens: true,
            links: BTreeMap::new(),
            held: Vec::new(),
            delivered: Vec::new(),
            done: BTreeMap::new(),
            tells: BTreeMap::new(),
            events: Vec::new(),
            log: Vec::new(),
            dials: Vec::new(),
            rtc_peer: BTreeMap::new(),
            rtc_closed: BTreeSet::new(),
            rtc_hold: false,
            rtc_held: Vec::new(),
            retired: false,
        });
        let now = self.now;
        self.nodes[i].hub.start(now);
        self.settle();
        assert!(self.nodes[i].hub.id().is_some(), "node {i} registered");
        assert!(self.nodes[i].hub.is_connected(), "node {i} connected to signaling");
        i
    }

    fn open(&mut self, i: usize) {
        let now = self.now;
        self.nodes[i].hub.open(now);
        self.settle();
    }

    fn id(&self, i: usize) -> ActrId {
        self.nodes[i].hub.id().cloned().expect("registered")
    }

    fn index_of(&self, id: &ActrId) -> Option<usize> {
        self.nodes.iter().position(|n| n.hub.id() == Some(id))
    }

    /// A fresh identity straight from the AIS, with its host key, for
    /// hand-made hellos.
    fn register_extra(&mut self, ty: &str) -> Extra {
        let unix = self.unix();
        register_with(&mut self.ais, ty, unix, 1000 + self.next_sconn as u32)
    }

    /// Node `i` accepts a connection from `ip` whose WebSocket handshake
    /// completes: returns the link and the challenge it sent.
    fn accept(&mut self, i: usize, ip: IpAddr) -> (LinkId, Nonce) {
        self.next_sconn += 1; // also keeps extra identities' keys distinct
        let since = self.mark(i);
        let link = self.nodes[i].hub.handle_link_accepted(self.now, ip).unwrap();
        self.input(i, |hub, now| hub.handle_link_up(now, link));
        let nonce = match self.link_outputs(i, link, since).as_slice() {
            [LinkOutput::Send { bytes, .. }] => DirectChallenge::decode(bytes).expect("a challenge").nonce,
            other => panic!("expected the challenge, got {other:?}"),
        };
        (link, nonce)
    }

    fn call(&mut self, from: usize, to: usize, payload: &[u8]) -> CallId {
        self.call_within(from, to, payload, CALL_TIMEOUT)
    }

    fn call_within(&mut self, from: usize, to: usize, payload: &[u8], timeout: Duration) -> CallId {
        let (now, dest) = (self.now, self.id(to));
        let call = self.nodes[from].hub.call(now, dest, "echo", payload.to_vec(), timeout, None).unwrap();
        self.settle();
        call
    }

    fn result(&self, i: usize, call: CallId) -> Option<Result<Vec<u8>, ActrError>> {
        self.nodes[i].done.get(&call).cloned()
    }

    fn respond(&mut self, i: usize, delivery: &Delivery) {
        let now = self.now;
        self.nodes[i].hub.respond(now, delivery.id, Ok(delivery.payload.clone()));
        self.settle();
    }

    /// Feeds `f` to node `i`'s hub at the current time, then carries outputs.
    fn input(&mut self, i: usize, f: impl FnOnce(&mut NodeHub, Instant)) {
        let now = self.now;
        f(&mut self.nodes[i].hub, now);
        self.settle();
    }

    fn rtc_report(&mut self, i: usize, rtc: RtcId, report: RtcReport) {
        self.input(i, |hub, now| hub.handle_rtc_report(now, rtc, report));
    }

    /// The network between the two ends of `link` (of node `i`) breaks: both hubs learn it.
    fn break_link(&mut self, i: usize, link: LinkId) {
        let (j, lj) = self.nodes[i].links.remove(&link).expect("a paired link");
        self.nodes[j].links.remove(&lj);
        let now = self.now;
        self.nodes[i].hub.handle_link_closed(now, link, ActrError::Unavailable("connection reset".into()));
        self.nodes[j].hub.handle_link_closed(now, lj, ActrError::Unavailable("connection reset".into()));
        self.settle();
    }

    /// Link outputs of node `i` for `link`, from log position `since`.
    fn link_outputs(&self, i: usize, link: LinkId, since: usize) -> Vec<LinkOutput> {
        let of = |l: &LinkOutput| match l {
            LinkOutput::Dial { link, .. }
            | LinkOutput::Send { link, .. }
            | LinkOutput::Authenticated { link, .. }
            | LinkOutput::Close { link } => *link,
        };
        self.nodes[i].log[since..]
            .iter()
            .filter_map(|o| match o {
                NodeOutput::Link(l) if of(l) == link => Some(l.clone()),
                _ => None,
            })
            .collect()
    }

    /// WebRTC outputs of node `i` from log position `since`.
    fn rtc_outputs(&self, i: usize, since: usize) -> Vec<RtcOutput> {
        self.nodes[i].log[since..]
            .iter()
            .filter_map(|o| match o {
                NodeOutput::Rtc(r) => Some(r.clone()),
                _ => None,
            })
            .collect()
    }

    /// Link sends (of any link) by node `i` from log position `since`, keepalives excluded.
    fn link_sends(&self, i: usize, since: usize) -> usize {
        self.nodes[i].log[since..]
            .iter()
            .filter(|o| matches!(o, NodeOutput::Link(LinkOutput::Send { bytes, .. }) if !bytes.is_empty()))
            .count()
    }

    fn rtc_sends(&self, i: usize, since: usize) -> usize {
        self.rtc_outputs(i, since).iter().filter(|r| matches!(r, RtcOutput::Send { lane: LaneKind::Rpc, .. })).count()
    }

    /// Node `i`'s WebRTC sends stall from now on (held, not lost).
    fn stall_rtc(&mut self, i: usize) {
        self.nodes[i].rtc_hold = true;
    }

    /// Node `i`'s stalled WebRTC sends get through, in order, and later ones too.
    fn unstall_rtc(&mut self, i: usize) {
        self.nodes[i].rtc_hold = false;
        for (rtc, bytes) in std::mem::take(&mut self.nodes[i].rtc_held) {
            self.rtc(i, RtcOutput::Send { rtc, lane: LaneKind::Rpc, bytes });
        }
        self.settle();
    }

    fn mark(&self, i: usize) -> usize {
        self.nodes[i].log.len()
    }

    /// Stops node `i` (its links and signaling close), then leaves it out:
    /// a long run can go through thousands of peers without the harness
    /// slowing down with each.
    fn retire(&mut self, i: usize) {
        let now = self.now;
        self.nodes[i].hub.stop(now);
        self.settle();
        self.nodes[i].retired = true;
    }

    /// Moves the clock by `by`, firing every timer due on the way.
    fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        for _ in 0..100_000 {
            let live = self.nodes.iter().filter(|n| !n.retired);
            let next = live.filter_map(|n| n.hub.poll_timeout()).chain(self.server.poll_timeout()).min();
            let Some(at) = next.filter(|at| *at <= target) else {
                self.now = target;
                return;
            };
            self.now = self.now.max(at);
            let now = self.now;
            for n in self.nodes.iter_mut().filter(|n| !n.retired) {
                if n.hub.poll_timeout().is_some_and(|t| t <= now) {
                    n.hub.handle_timeout(now);
                }
            }
            if self.server.poll_timeout().is_some_and(|t| t <= now) {
                self.server.handle_timeout(now);
            }
            self.settle();
        }
        panic!("timers keep firing at {:?}", self.now);
    }

    /// Carries outputs until every hub and the server are quiet.
    fn settle(&mut self) {
        for _ in 0..100_000 {
            let mut moved = false;
            for i in 0..self.nodes.len() {
                if self.nodes[i].retired {
                    continue;
                }
                while let Some(out) = self.nodes[i].hub.poll_output() {
                    moved = true;
                    self.carry(i, out);
                }
            }
            moved |= self.pump_server();
            if !moved {
                return;
            }
        }
        panic!("outputs never settle");
    }

    fn carry(&mut self, i: usize, out: NodeOutput) {
        let now = self.now;
        match out {
            NodeOutput::Ais(call) => {
                let reply = match call.request {
                    AisRequest::Renew(_) if self.refuse_renewals.contains(&i) => {
                        AisReply::Error(ErrorReply::from(ActrError::Unauthenticated("renewal token rejected".into())))
                    }
                    request => self.ais.handle_with(ORIGIN + now.as_micros() / 1_000_000, request, &mut self.dir),
                };
                self.nodes[i].hub.handle_ais_reply(now, call.id, Ok(reply));
            }
            NodeOutput::Signaling(t) => self.signaling(i, t),
            NodeOutput::Link(l) => {
                self.nodes[i].log.push(NodeOutput::Link(l.clone()));
                self.link(i, l);
            }
            NodeOutput::Rtc(r) => {
                self.nodes[i].log.push(NodeOutput::Rtc(r.clone()));
                self.rtc(i, r);
            }
            NodeOutput::Deliver(d) => {
                let node = &mut self.nodes[i];
                node.delivered.push(d.clone());
                if node.echo {
                    node.hub.respond(now, d.id, Ok(d.payload));
                } else {
                    node.held.push(d);
                }
            }
            NodeOutput::CallDone { call, result } => {
                assert!(self.nodes[i].done.insert(call, result).is_none(), "a call resolves once");
            }
            NodeOutput::Event(e) => self.nodes[i].events.push(e),
            NodeOutput::TellDone { tell, result } => {
                assert!(self.nodes[i].tells.insert(tell, result).is_none(), "a tell resolves once");
            }
            NodeOutput::QueryDone { .. } => {}
        }
    }

    fn signaling(&mut self, i: usize, t: ClientTransmit) {
        let (now, unix) = (self.now, self.unix());
        let server_conn = |w: &World, conn| w.sig.iter().find(|(_, v)| **v == (i, conn)).map(|(s, _)| *s);
        match t {
            ClientTransmit::Connect { conn } => {
                let s = self.next_sconn;
                self.next_sconn += 1;
                match self.server.handle_connect(now, s) {
                    Ok(()) => {
                        self.sig.insert(s, (i, conn));
                        self.nodes[i].hub.handle_signaling_connected(now, conn);
                    }
                    Err(e) => self.nodes[i].hub.handle_signaling_failed(now, conn, &e.to_string()),
                }
            }
            ClientTransmit::Send { conn, bytes } => {
                if let Some(s) = server_conn(self, conn) {
                    self.server.handle_frame(now, unix, s, &bytes);
                }
            }
            ClientTransmit::Close { conn } => {
                if let Some(s) = server_conn(self, conn) {
                    self.sig.remove(&s);
                    self.server.handle_disconnect(now, s);
                }
            }
        }
    }

    fn pump_server(&mut self) -> bool {
        let now = self.now;
        let mut moved = false;
        while let Some(s) = self.server.poll_wakeup() {
            while let Some(mut bytes) = self.server.pop_outbound(s) {
                moved = true;
                if let Some(rewrite) = self.mitm {
                    bytes = tamper(&bytes, rewrite);
                }
                if let Some(&(i, conn)) = self.sig.get(&s) {
                    self.nodes[i].hub.handle_signaling_frame(now, conn, &bytes);
                }
            }
        }
        while let Some((s, _reason)) = self.server.poll_close() {
            moved = true;
            while let Some(bytes) = self.server.pop_outbound(s) {
                if let Some(&(i, conn)) = self.sig.get(&s) {
                    self.nodes[i].hub.handle_signaling_frame(now, conn, &bytes);
                }
            }
            self.server.handle_disconnect(now, s);
            if let Some((i, conn)) = self.sig.remove(&s) {
                self.nodes[i].hub.handle_signaling_closed(now, conn);
            }
        }
        moved
    }

    fn link(&mut self, i: usize, out: LinkOutput) {
        let now = self.now;
        match out {
            LinkOutput::Dial { link, peer, address } => {
                self.nodes[i].dials.push((link, peer, address.clone()));
                if self.nodes[i].answer_dials {
                    self.connect_dial(i, link, &address);
                }
            }
            LinkOutput::Send { link, bytes } => {
                if let Some(&(j, lj)) = self.nodes[i].links.get(&link) {
                    self.nodes[j].hub.handle_link_message(now, lj, &bytes);
                }
            }
            LinkOutput::Authenticated { .. } => {}
            LinkOutput::Close { link } => {
                if let Some((j, lj)) = self.nodes[i].links.remove(&link) {
                    self.nodes[j].links.remove(&lj);
                    let closed = ActrError::Unavailable("closed by the other side".into());
                    self.nodes[j].hub.handle_link_closed(now, lj, closed);
                }
            }
        }
    }

    /// Completes node `i`'s dial `link` to the hub advertising `address`
    /// (refused when none does).
    fn connect_dial(&mut self, i: usize, link: LinkId, address: &str) {
        let now = self.now;
        let target = self
            .nodes
            .iter()
            .position(|n| !n.retired && n.listens && n.hub.config().profile.ws_address.as_deref() == Some(address));
        let Some(j) = target else {
            let refused = ActrError::Unavailable("connection refused".into());
            return self.nodes[i].hub.handle_link_closed(now, link, refused);
        };
        let ip = self.nodes[i].ip;
        match self.nodes[j].hub.handle_link_accepted(now, ip) {
            Ok(lj) => {
                self.nodes[i].links.insert(link, (j, lj));
                self.nodes[j].links.insert(lj, (i, link));
                self.nodes[i].hub.handle_link_up(now, link);
                self.nodes[j].hub.handle_link_up(now, lj);
            }
            Err(e) => self.nodes[i].hub.handle_link_closed(now, link, e),
        }
    }

    /// Completes the `n`th dial node `i` made (one left hanging), then settles.
    fn answer_dial(&mut self, i: usize, n: usize) -> LinkId {
        let (link, _, address) = self.nodes[i].dials[n].clone();
        self.connect_dial(i, link, &address);
        self.settle();
        link
    }

    fn rtc(&mut self, i: usize, out: RtcOutput) {
        match out {
            RtcOutput::Open { rtc, peer, .. } => {
                self.nodes[i].rtc_peer.insert(rtc, peer);
            }
            RtcOutput::Close { rtc } => {
                self.nodes[i].rtc_closed.insert(rtc);
            }
            RtcOutput::Send { rtc, lane: LaneKind::Rpc, bytes } if self.nodes[i].rtc_hold => {
                self.nodes[i].rtc_held.push((rtc, bytes));
            }
            RtcOutput::Send { rtc, lane: LaneKind::Rpc, bytes } => {
                // The data channel: to the other hub's current connection to us.
                let (Some(peer), Some(me)) =
                    (self.nodes[i].rtc_peer.get(&rtc).cloned(), self.nodes[i].hub.id().cloned())
                else {
                    return;
                };
                if self.nodes[i].rtc_closed.contains(&rtc) {
                    return;
                }
                let Some(j) = self.index_of(&peer) else { return };
                let theirs = self.nodes[j]
                    .rtc_peer
                    .iter()
                    .rev()
                    .find(|(r, p)| **p == me && !self.nodes[j].rtc_closed.contains(r))
                    .map(|(r, _)| *r);
                if let Some(rj) = theirs {
                    let now = self.now;
                    self.nodes[j].hub.handle_rtc_report(now, rj, RtcReport::Message(bytes));
                }
            }
            _ => {}
        }
    }
}

fn refusal(bytes: &[u8]) -> ActrError {
    match decode_message::<DirectReply>(bytes, MAX_HELLO).expect("a direct reply") {
        DirectReply::Refused(e) => e.into(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A server frame with its relayed WebRTC signal (if any) rewritten.
fn tamper(bytes: &[u8], rewrite: fn(&mut RelaySignal)) -> Vec<u8> {
    use actr_core::signaling::ServerMsg;
    use actr_core::signaling::messages::MAX_SIGNALING_FRAME;
    use actr_core::wire::encode_message;
    let Ok(ServerMsg::Relay { source, payload }) = decode_message(bytes, MAX_SIGNALING_FRAME) else {
        return bytes.to_vec();
    };
    let Ok(mut relay) = RelaySignal::decode(&payload) else { return bytes.to_vec() };
    rewrite(&mut relay);
    let payload = relay.encode().unwrap();
    encode_message(&ServerMsg::Relay { source, payload }, MAX_SIGNALING_FRAME).unwrap()
}

/// An identity from the AIS and the host key its credential binds.
struct Extra {
    ok: RegisterOk,
    key: HostKey,
}

fn host_key(n: u32) -> HostKey {
    let mut seed = [0; 32];
    seed[..4].copy_from_slice(&n.to_le_bytes());
    seed[31] = 0xAC;
    HostKey::from_seed(seed)
}

fn register_with(ais: &mut AisService, ty: &str, unix: u64, key_no: u32) -> Extra {
    let key = host_key(key_no);
    let mut req = RegisterRequest::new(ty.parse().unwrap(), Realm(1), None);
    req.sign(&key);
    match ais.handle(unix, AisRequest::Register(req)) {
        AisReply::Registered(ok) => Extra { ok, key },
        other => panic!("{other:?}"),
    }
}

/// The nonce hand-made hellos use for the welcome.
const DIALER_NONCE: Nonce = [0xD1; 32];

/// `caller`'s hello with `who`'s credential, signed by `who`'s key, answering `nonce`.
fn hello(caller: &ActrId, who: &Extra, target: &ActrId, nonce: &Nonce) -> Vec<u8> {
    hello_signed(caller, who, target, nonce, &who.key)
}

fn hello_signed(caller: &ActrId, who: &Extra, target: &ActrId, nonce: &Nonce, key: &HostKey) -> Vec<u8> {
    let nonces = LinkNonces { listener: *nonce, dialer: DIALER_NONCE };
    DirectHello::signed(caller, &who.ok.credential, target, nonces, key).encode().unwrap()
}

/// An SDP with a DTLS fingerprint named after `tag`.
fn sdp(tag: &str) -> String {
    let hex: String = tag.bytes().map(|b| format!("{b:02X}:")).collect();
    format!("v=0 {tag}\r\na=fingerprint:sha-256 {hex}00\r\n")
}

/// The connections a hub opened: (rtc, peer, offerer, first exchange id).
fn opens(outs: &[RtcOutput]) -> Vec<(RtcId, ActrId, bool, u64)> {
    outs.iter()
        .filter_map(|r| match r {
            RtcOutput::Open { rtc, peer, offerer, first_exchange_id } => {
                Some((*rtc, peer.clone(), *offerer, *first_exchange_id))
            }
            _ => None,
        })
        .collect()
}

fn only_link(w: &World, i: usize) -> LinkId {
    let links: Vec<LinkId> = w.nodes[i].links.keys().copied().collect();
    assert_eq!(links.len(), 1, "one paired link: {links:?}");
    links[0]
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

mod links;
mod rebind;
mod stall;
mod webrtc;
