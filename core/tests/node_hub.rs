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

    fn mark(&self, i: usize) -> usize {
        self.nodes[i].log.len()
    }

    /// Moves the clock by `by`, firing every timer due on the way.
    fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        for _ in 0..100_000 {
            let next = self.nodes.iter().filter_map(|n| n.hub.poll_timeout()).chain(self.server.poll_timeout()).min();
            let Some(at) = next.filter(|at| *at <= target) else {
                self.now = target;
                return;
            };
            self.now = self.now.max(at);
            let now = self.now;
            for n in &mut self.nodes {
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
        let target =
            self.nodes.iter().position(|n| n.listens && n.hub.config().profile.ws_address.as_deref() == Some(address));
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

// ---- 1. a call over a direct link --------------------------------------------

#[test]
fn call_over_a_direct_link_found_through_signaling_returns_the_echo() {
    let mut w = World::new();
    let a = w.add("acme:node:1", |_| {});
    let b = w.add("acme:node:1", |_| {});
    w.open(a);
    w.open(b);
    let (ida, idb) = (w.id(a), w.id(b));
    assert_ne!(ida, idb);
    assert!(w.nodes[a].events.iter().any(|e| matches!(e, NodeEvent::Connected { actor } if *actor == ida)));

    let call = w.call(a, b, b"ping");
    assert_eq!(w.result(a, call), Some(Ok(b"ping".to_vec())));
    // A knew nothing of B's address: it came from the lookup through signaling.
    let b_address = w.nodes[b].hub.config().profile.ws_address.clone().unwrap();
    assert_eq!(
        w.nodes[a].dials.iter().map(|(_, p, addr)| (p.clone(), addr.clone())).collect::<Vec<_>>(),
        vec![(idb.clone(), b_address)]
    );
    let seen = &w.nodes[b].delivered;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].caller, ida, "B's handler saw A as the caller");
    assert_eq!(seen[0].payload, b"ping");
    assert!(!seen[0].tell);
    assert_eq!(w.nodes[a].hub.stats().dialed, 1);
    assert_eq!(w.nodes[b].hub.stats().accepted, 1);

    // The link stays up and carries the next call; B can call back on it too.
    let again = w.call(a, b, b"again");
    assert_eq!(w.result(a, again), Some(Ok(b"again".to_vec())));
    let back = w.call(b, a, b"back");
    assert_eq!(w.result(b, back), Some(Ok(b"back".to_vec())));
    assert_eq!(w.nodes[a].dials.len(), 1, "no second dial");
    assert!(w.nodes[b].dials.is_empty(), "B answered on the accepted link");
    assert_eq!(w.nodes[a].delivered[0].caller, idb);
}

// ---- 2. hello checks ---------------------------------------------------------

#[test]
fn forged_hellos_are_refused_and_closed() {
    let mut w = World::new();
    let b = w.add("acme:node:1", |_| {});
    w.open(b);
    let idb = w.id(b);
    let x = w.register_extra("acme:node:1");
    let y = w.register_extra("acme:node:1");
    let ip: IpAddr = "192.0.2.7".parse().unwrap();

    // Each attempt gets a fresh link and challenge; `make` builds the hello for it.
    let try_hello = |w: &mut World, make: &dyn Fn(&Nonce) -> Vec<u8>| {
        let (link, nonce) = w.accept(b, ip);
        let since = w.mark(b);
        let bytes = make(&nonce);
        w.input(b, |hub, now| hub.handle_link_message(now, link, &bytes));
        w.link_outputs(b, link, since)
    };
    let refused = |outs: Vec<LinkOutput>| match outs.as_slice() {
        [LinkOutput::Send { bytes, .. }, LinkOutput::Close { .. }] => refusal(bytes),
        other => panic!("expected a refusal then a close, got {other:?}"),
    };

    let garbage = refused(try_hello(&mut w, &|_| b"\x01 certainly not a hello".to_vec()));
    assert!(matches!(garbage, ActrError::DecodeFailure(_)), "{garbage:?}");
    let impostor = refused(try_hello(&mut w, &|n| hello(&x.ok.actor, &y, &idb, n)));
    assert!(matches!(impostor, ActrError::Unauthenticated(_)), "{impostor:?}");
    let elsewhere = refused(try_hello(&mut w, &|n| hello(&x.ok.actor, &x, &y.ok.actor, n)));
    assert!(matches!(elsewhere, ActrError::NotFound(_)), "{elsewhere:?}");
    // Signed by an AIS this node does not know.
    let mut rogue = AisService::new([99; 32], 2, 1, AisConfig::default());
    rogue.upsert_realm(RealmConfig::new(Realm(1), None)).unwrap();
    let z = register_with(&mut rogue, "acme:node:1", w.unix(), 77);
    let foreign = refused(try_hello(&mut w, &|n| hello(&z.ok.actor, &z, &idb, n)));
    assert!(matches!(foreign, ActrError::Unauthenticated(_)), "{foreign:?}");
    // Issued by the right AIS, but long expired.
    let long_ago = w.unix() - 10 * 3600;
    let old = register_with(&mut w.ais, "acme:node:1", long_ago, 78);
    let expired = refused(try_hello(&mut w, &|n| hello(&old.ok.actor, &old, &idb, n)));
    assert!(matches!(expired, ActrError::Unauthenticated(_)), "{expired:?}");
    // X's credential, captured, with the thief's own key over the challenge.
    let thief = host_key(666);
    let stolen = refused(try_hello(&mut w, &|n| hello_signed(&x.ok.actor, &x, &idb, n, &thief)));
    assert!(matches!(stolen, ActrError::Unauthenticated(ref m) if m.contains("possession")), "{stolen:?}");
    // X's honest hello, captured on one link, replayed to another's challenge.
    let captured = hello(&x.ok.actor, &x, &idb, &[0x55; 32]);
    let replayed = refused(try_hello(&mut w, &|_| captured.clone()));
    assert!(matches!(replayed, ActrError::Unauthenticated(_)), "{replayed:?}");
    assert_eq!(w.nodes[b].hub.stats().refused, 7);
    assert_eq!(w.nodes[b].hub.stats().accepted, 0);

    // The same path with an honest hello is welcomed, with B's own proof, and stays open.
    match try_hello(&mut w, &|n| hello(&x.ok.actor, &x, &idb, n)).as_slice() {
        [LinkOutput::Send { bytes, .. }, LinkOutput::Authenticated { .. }] => {
            let ring = w.ais.key_ring();
            let (challenge, unix) = (
                w.nodes[b].log.iter().rev().find_map(|o| match o {
                    NodeOutput::Link(LinkOutput::Send { bytes, .. }) => DirectChallenge::decode(bytes).ok(),
                    _ => None,
                }),
                w.unix(),
            );
            let nonces = LinkNonces { listener: challenge.expect("the challenge").nonce, dialer: DIALER_NONCE };
            let claims = DirectReply::decode_outcome(bytes, &idb, &x.ok.actor, nonces, &ring, unix).unwrap();
            assert_eq!(claims.actor, idb);
        }
        other => panic!("expected a welcome, got {other:?}"),
    }
    let stats = w.nodes[b].hub.stats();
    assert_eq!((stats.refused, stats.accepted, stats.links_open), (7, 1, 1));
}

#[test]
fn a_dialer_refuses_a_listener_that_cannot_prove_its_identity() {
    let mut w = World::new();
    let a = w.add("acme:node:1", |_| {});
    let b = w.add("acme:node:1", |c| c.profile.ws_address = Some("ws://127.0.0.1:9999".into()));
    w.open(a);
    w.open(b);
    let idb = w.id(b);
    // Something at B's address shows B's credential but holds a key of its own.
    let since = w.mark(a);
    let now = w.now;
    w.nodes[a].answer_dials = false;
    let call = w.nodes[a].hub.call(now, idb.clone(), "echo", b"x".to_vec(), CALL_TIMEOUT, None).unwrap();
    w.settle();
    let (link, _, _) = w.nodes[a].dials.last().cloned().expect("A dialed B");
    w.input(a, |hub, now| hub.handle_link_up(now, link));
    w.input(a, |hub, now| hub.handle_link_message(now, link, &DirectChallenge { nonce: [4; 32] }.encode().unwrap()));
    let sent = w.link_outputs(a, link, since);
    let [.., LinkOutput::Send { bytes, .. }] = sent.as_slice() else { panic!("A's hello: {sent:?}") };
    let hello: DirectHello = decode_message(bytes, MAX_HELLO).unwrap();
    let b_cred = w.nodes[b].hub.registration().unwrap().credential.clone();
    let nonces = LinkNonces { listener: [4; 32], dialer: hello.nonce };
    let fake = DirectReply::welcome(&idb, &b_cred, &w.id(a), nonces, &host_key(667)).encode().unwrap();
    w.input(a, |hub, now| hub.handle_link_message(now, link, &fake));
    assert!(w.link_outputs(a, link, since).contains(&LinkOutput::Close { link }), "the link is closed");
    assert_eq!(w.nodes[a].hub.stats().dialed, 0, "never counted as up");
    assert_eq!(w.nodes[a].hub.stats().dial_failures, 1);
    let _ = call;
}

#[test]
fn a_link_without_hello_is_closed_at_the_hello_timeout() {
    let mut w = World::new();
    let b = w.add("acme:node:1", |c| c.hello_timeout = Duration::from_secs(5));
    w.open(b);
    let (link, nonce) = w.accept(b, "192.0.2.7".parse().unwrap());
    let since = w.mark(b);
    w.advance(ms(4999));
    assert!(w.link_outputs(b, link, since).is_empty(), "still waiting for the hello");
    w.advance(ms(1));
    assert_eq!(w.link_outputs(b, link, since), vec![LinkOutput::Close { link }]);
    assert_eq!(w.nodes[b].hub.stats().links_timed_out, 1);
    // A hello arriving after the close changes nothing.
    let x = w.register_extra("acme:node:1");
    let idb = w.id(b);
    w.input(b, |hub, now| hub.handle_link_message(now, link, &hello(&x.ok.actor, &x, &idb, &nonce)));
    assert_eq!(w.nodes[b].hub.stats().accepted, 0);
}

#[test]
fn a_link_whose_websocket_never_completes_is_closed_at_the_hello_timeout() {
    let mut w = World::new();
    let b = w.add("acme:node:1", |c| c.hello_timeout = Duration::from_secs(5));
    w.open(b);
    let since = w.mark(b);
    let link = w.nodes[b].hub.handle_link_accepted(w.now, "192.0.2.7".parse().unwrap()).unwrap();
    w.advance(ms(5000));
    assert_eq!(w.link_outputs(b, link, since), vec![LinkOutput::Close { link }], "no challenge before the handshake");
    assert_eq!(w.nodes[b].hub.stats().refused, 1);
}

#[test]
fn handshake_slots_are_bounded_per_source_address() {
    let mut w = World::new();
    let b = w.add("acme:node:1", |c| c.max_handshaking_per_source = 2);
    w.open(b);
    let idb = w.id(b);
    let (one, two): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
    let (first, nonce) = w.accept(b, one);
    let now = w.now;
    let hub = &mut w.nodes[b].hub;
    hub.handle_link_accepted(now, one).unwrap();
    assert!(matches!(hub.handle_link_accepted(now, one), Err(ActrError::ResourceExhausted(_))));
    assert!(matches!(hub.handle_link_accepted(now, one), Err(ActrError::ResourceExhausted(_))));
    hub.handle_link_accepted(now, two).expect("another source still gets a slot");
    assert_eq!(hub.stats().refused, 2);
    // A handshake that completes frees its slot.
    let x = w.register_extra("acme:node:1");
    w.input(b, |hub, now| hub.handle_link_message(now, first, &hello(&x.ok.actor, &x, &idb, &nonce)));
    assert_eq!(w.nodes[b].hub.stats().accepted, 1);
    w.nodes[b].hub.handle_link_accepted(w.now, one).expect("a slot freed for that source");
}

#[test]
fn a_verified_only_acl_admits_the_package_and_refuses_a_linked_namesake() {
    use actr_core::acl::{Acl, RealmSelector};
    use actr_core::package::{PackageLimits, PackageSpec, pack, verify};
    let mut w = World::new();
    let mfr = ed25519_dalek::SigningKey::from_bytes(&[0x4d; 32]);
    let billing: actr_core::ActrType = "acme:billing:1".parse().unwrap();
    let bytes = pack(
        &PackageSpec::new(billing.clone(), "wasm32-unknown-unknown").into_manifest(),
        b"\0asm",
        &[],
        &mfr,
        &mut |_| {},
    )
    .unwrap();
    let package = verify(&bytes, &mfr.verifying_key(), &PackageLimits::default()).unwrap();
    w.dir.add_manufacturer("acme", mfr.verifying_key().to_bytes());
    w.dir.publish(billing.clone(), &package.manifest_raw);

    let vault = w.add("acme:vault:1", |c| {
        c.profile.acl = Some(Acl::default().allow_verified(billing.clone(), RealmSelector::Own))
    });
    let linked = w.add("acme:billing:1", |_| {});
    let signed = w.add("acme:billing:1", |c| {
        c.register.auth = RegisterAuth::Package(PackageAuth {
            manifest: package.manifest_raw.clone(),
            signature: package.signature.to_vec(),
            manufacturer_proof: None,
        })
    });
    w.open(vault);
    w.open(linked);
    w.open(signed);
    // Signaling hides the vault from the linked namesake...
    let hidden = w.call(linked, vault, b"let me in");
    assert!(matches!(w.result(linked, hidden), Some(Err(ActrError::NotFound(_)))), "{:?}", w.result(linked, hidden));
    // ...and the vault itself refuses it when it dials the address directly.
    let (idv, address) = (w.id(vault), w.nodes[vault].hub.config().profile.ws_address.clone().unwrap());
    w.input(linked, |hub, now| hub.add_route(now, &idv, address).unwrap());
    let refused = w.call(linked, vault, b"let me in");
    assert!(
        matches!(w.result(linked, refused), Some(Err(ActrError::PermissionDenied(_)))),
        "{:?}",
        w.result(linked, refused)
    );
    assert_eq!(w.nodes[vault].hub.stats().endpoint.acl_denied, 1);
    let admitted = w.call(signed, vault, b"let me in");
    assert_eq!(w.result(signed, admitted), Some(Ok(b"let me in".to_vec())));
    assert_eq!(w.nodes[vault].delivered.len(), 1, "only the verified caller reached the handler");
}

// ---- 3. pending calls fail when the last wire closes --------------------------

#[test]
fn pending_calls_fail_at_once_when_the_only_link_closes() {
    let mut w = World::new();
    let a = w.add("acme:node:1", |_| {});
    let b = w.add("acme:node:1", |_| {});
    w.open(a);
    w.open(b);
    w.nodes[b].echo = false;
    let first = w.call(a, b, b"never answered");
    let second = w.call(a, b, b"nor this");
    assert_eq!(w.nodes[b].held.len(), 2, "both reached B's handler");
    assert_eq!(w.result(a, first), None);
    let link = only_link(&w, a);
    let before = w.now;
    // The caller's socket reports the link gone; B has not noticed yet.
    let (j, lj) = w.nodes[a].links.remove(&link).unwrap();
    w.nodes[j].links.remove(&lj);
    w.input(a, |hub, now| hub.handle_link_closed(now, link, ActrError::Unavailable("reset".into())));
    assert_eq!(w.now, before);
    for call in [first, second] {
        assert!(matches!(w.result(a, call), Some(Err(ActrError::Unavailable(_)))), "{:?}", w.result(a, call));
    }
    assert_eq!(w.nodes[a].hub.stats().links_open, 0);
    // Nothing is retried later.
    w.advance(Duration::from_secs(40));
    assert_eq!(w.nodes[a].dials.len(), 1);
    assert_eq!(w.nodes[a].done.len(), 2);
}

// ---- 4. admission ------------------------------------------------------------

#[test]
fn per_caller_budget_refuses_the_busy_caller_only() {
    let mut w = World::new();
    let a = w.add("acme:node:1", |_| {});
    let b = w.add("acme:node:1", |c| c.max_in_flight_per_peer = 2);
    let c = w.add("acme:node:1", |_| {});
    for i in [a, b, c] {
        w.open(i);
    }
    w.nodes[b].echo = false;
    let calls: Vec<CallId> = (0..3).map(|n| w.call(a, b, &[n])).collect();
    assert_eq!(w.nodes[b].held.len(), 2);
    assert_eq!(w.result(a, calls[0]), None);
    assert_eq!(w.result(a, calls[1]), None);
    assert!(matches!(w.result(a, calls[2]), Some(Err(ActrError::ResourceExhausted(_)))), "{:?}", w.result(a, calls[2]));
    assert_eq!(w.nodes[b].hub.stats().requests_refused, 1);

    let other = w.call(c, b, b"other");
    assert_eq!(w.nodes[b].held.len(), 3, "another caller is still admitted");
    assert_eq!(w.nodes[b].held[2].caller, w.id(c));
    assert_eq!(w.nodes[b].hub.in_flight(), 3);

    // Answering frees A's slot.
    let d = w.nodes[b].held[0].clone();
    w.respond(b, &d);
    assert_eq!(w.result(a, calls[0]), Some(Ok(vec![0])));
    w.call(a, b, b"later");
    assert_eq!(w.nodes[b].held.len(), 4);
    assert_eq!(w.nodes[b].hub.stats().requests_refused, 1);
    let d = w.nodes[b].held[2].clone();
    w.respond(b, &d);
    assert_eq!(w.result(c, other), Some(Ok(b"other".to_vec())));
}

#[test]
fn requests_before_open_are_refused_unavailable() {
    let mut w = World::new();
    let a = w.add("acme:node:1", |_| {});
    let b = w.add("acme:node:1", |_| {});
    assert!(matches!(
        w.nodes[b].hub.handle_link_accepted(w.now, "192.0.2.1".parse().unwrap()),
        Err(ActrError::Unavailable(_))
    ));
    w.open(b);
    // A is registered but not open: it may call, and B may answer on A's link...
    let out = w.call(a, b, b"out");
    assert_eq!(w.result(a, out), Some(Ok(b"out".to_vec())));
    // ...but B's requests to A are refused before A's handler sees them.
    let early = w.call(b, a, b"early");
    assert!(matches!(w.result(b, early), Some(Err(ActrError::Unavailable(_)))), "{:?}", w.result(b, early));
    assert!(w.nodes[a].delivered.is_empty());
    assert_eq!(w.nodes[a].hub.stats().requests_refused, 1);
    w.open(a);
    let late = w.call(b, a, b"late");
    assert_eq!(w.result(b, late), Some(Ok(b"late".to_vec())));
    assert_eq!(w.nodes[a].delivered.len(), 1);
}

// ---- 5. parked messages are bounded ------------------------------------------

#[test]
fn parked_calls_are_bounded_in_count() {
    let mut w = World::new();
    let a = w.add("acme:node:1", |c| {
        c.max_parked = 3;
        c.dial_timeout = Duration::from_secs(120);
    });
    let b = w.add("acme:node:1", |_| {});
    w.open(a);
    w.open(b);
    w.nodes[a].answer_dials = false;
    let calls: Vec<CallId> = (0..5).map(|n| w.call(a, b, &[n])).collect();
    assert_eq!(w.nodes[a].dials.len(), 1, "one dial, left hanging");
    // The overflow is refused (retried with backoff while the dial is still
    // stuck, then failed); the three parked calls keep waiting.
    w.advance(Duration::from_secs(15));
    for &call in &calls[..3] {
        assert_eq!(w.result(a, call), None);
    }
    for &call in &calls[3..] {
        assert!(matches!(w.result(a, call), Some(Err(ActrError::ResourceExhausted(_)))), "{:?}", w.result(a, call));
    }
    assert!(w.nodes[b].delivered.is_empty());
    w.advance(CALL_TIMEOUT);
    for &call in &calls[..3] {
        assert_eq!(w.result(a, call), Some(Err(ActrError::TimedOut)));
    }
}

#[test]
fn parked_calls_are_bounded_in_bytes() {
    let mut w = World::new();
    let a = w.add("acme:node:1", |c| {
        c.max_parked_bytes = 1000;
        c.dial_timeout = Duration::from_secs(120);
    });
    let b = w.add("acme:node:1", |_| {});
    w.open(a);
    w.open(b);
    w.nodes[a].answer_dials = false;
    let big = w.call(a, b, &[1; 600]);
    let too_much = w.call(a, b, &[2; 600]);
    let small = w.call(a, b, &[3; 100]);
    w.advance(Duration::from_secs(15));
    assert_eq!(w.result(a, big), None);
    assert_eq!(w.result(a, small), None, "a small one still fits");
    assert!(matches!(w.result(a, too_much), Some(Err(ActrError::ResourceExhausted(_)))), "{:?}", w.result(a, too_much));
}

// ---- 6. WebRTC policy, played by hand ----------------------------------------

fn rtc_pair(w: &mut World, with_ws: bool, tweak: impl Fn(&mut HubConfig) + Copy) -> (usize, usize) {
    let cfg = move |c: &mut HubConfig| {
        c.webrtc = true;
        if !with_ws {
            c.profile.ws_address = None;
        }
        tweak(c);
    };
    let a = w.add("acme:node:1", cfg);
    let b = w.add("acme:node:1", cfg);
    w.open(a);
    w.open(b);
    (a, b)
}

/// Plays offer, answer and a candidate between the offerer `a` and the
/// answerer `b` for `a`'s connection `rtc_a`; returns `b`'s connection.
fn negotiate(w: &mut World, a: usize, b: usize, rtc_a: RtcId, first_exchange_id: u64) -> RtcId {
    let since = w.mark(b);
    let offer = RtcSignal::Offer { sdp: sdp("offer"), exchange_id: first_exchange_id };
    w.rtc_report(a, rtc_a, RtcReport::SignalOut(offer.clone()));
    let outs = w.rtc_outputs(b, since);
    let opened = opens(&outs);
    assert_eq!(opened.len(), 1, "{outs:?}");
    let (rtc_b, peer, offerer, _) = opened[0].clone();
    assert_eq!((peer, offerer), (w.id(a), is_offerer(&w.id(b), &w.id(a))));
    assert!(outs.contains(&RtcOutput::Signal { rtc: rtc_b, signal: offer }), "{outs:?}");

    let since = w.mark(a);
    let answer = RtcSignal::Answer { sdp: sdp("answer"), exchange_id: first_exchange_id };
    w.rtc_report(b, rtc_b, RtcReport::SignalOut(answer.clone()));
    assert_eq!(w.rtc_outputs(a, since), vec![RtcOutput::Signal { rtc: rtc_a, signal: answer }]);
    let since = w.mark(b);
    let candidate = RtcSignal::Candidate { candidate: "candidate:1 1 udp 1 10.0.0.1 9 typ host".into() };
    w.rtc_report(a, rtc_a, RtcReport::SignalOut(candidate.clone()));
    assert_eq!(w.rtc_outputs(b, since), vec![RtcOutput::Signal { rtc: rtc_b, signal: candidate }]);
    rtc_b
}

/// A's first call opens its connection; returns (call, rtc, first exchange id).
fn first_rtc_call(w: &mut World, a: usize, b: usize) -> (CallId, RtcId, u64) {
    let since = w.mark(a);
    let call = w.call(a, b, b"first");
    let opened = opens(&w.rtc_outputs(a, since));
    assert_eq!(opened.len(), 1, "the first call opens one connection");
    let (rtc, peer, offerer, first) = opened[0].clone();
    assert_eq!(peer, w.id(b));
    assert_eq!(offerer, is_offerer(&w.id(a), &w.id(b)));
    assert!(offerer, "A registered first: its serial is lower");
    (call, rtc, first)
}

#[test]
fn a_relay_that_rewrites_the_fingerprint_fails_the_session() {
    // The relay swaps the offer's DTLS fingerprint for its own (to sit in
    // the middle of DTLS) and keeps the proof: the answerer refuses it.
    let mut w = World::new();
    w.mitm = Some(|relay| {
        if let RtcSignal::Offer { sdp: text, .. } = &mut relay.signal {
            *text = sdp("mallory");
        }
    });
    let (a, b) = rtc_pair(&mut w, false, |_| {});
    let (call, rtc_a, first_x) = first_rtc_call(&mut w, a, b);
    let since = w.mark(b);
    w.rtc_report(a, rtc_a, RtcReport::SignalOut(RtcSignal::Offer { sdp: sdp("offer"), exchange_id: first_x }));
    assert!(opens(&w.rtc_outputs(b, since)).is_empty(), "no answerer for a forged offer");
    assert!(w.rtc_outputs(b, since).is_empty(), "the str0m peer never sees it");
    assert_eq!(w.nodes[b].hub.stats().fingerprints_refused, 1);
    assert_eq!(w.nodes[b].hub.stats().webrtc_connections_up, 0);
    // B told A at once: A's connection ends and its call, with no other
    // wire, fails with the typed error instead of waiting for a deadline.
    let failed = w.result(a, call);
    assert!(matches!(&failed, Some(Err(ActrError::Unauthenticated(m))) if m.contains("refused")), "{failed:?}");

    // The other way: the answer is rewritten; the offerer ends its
    // connection and, with no other wire, the call fails with the typed error.
    let mut w = World::new();
    w.mitm = Some(|relay| {
        if let RtcSignal::Answer { sdp: text, .. } = &mut relay.signal {
            *text = sdp("mallory");
        }
    });
    let (a, b) = rtc_pair(&mut w, false, |_| {});
    let (call2, rtc_a, first_x) = first_rtc_call(&mut w, a, b);
    let since = w.mark(b);
    w.rtc_report(a, rtc_a, RtcReport::SignalOut(RtcSignal::Offer { sdp: sdp("offer"), exchange_id: first_x }));
    let (rtc_b, ..) = opens(&w.rtc_outputs(b, since))[0].clone();
    let since = w.mark(a);
    w.rtc_report(b, rtc_b, RtcReport::SignalOut(RtcSignal::Answer { sdp: sdp("answer"), exchange_id: first_x }));
    assert_eq!(w.rtc_outputs(a, since), vec![RtcOutput::Close { rtc: rtc_a }], "closed, not signalled");
    assert_eq!(w.nodes[a].hub.stats().fingerprints_refused, 1);
    let failed = w.result(a, call2);
    assert!(matches!(&failed, Some(Err(ActrError::Unauthenticated(m))) if m.contains("fingerprint")), "{failed:?}");
    let _ = call;
}

#[test]
fn offers_with_a_captured_credential_or_no_proof_are_refused() {
    let mut w = World::new();
    let (a, b) = rtc_pair(&mut w, false, |_| {});
    let ida = w.id(a);
    let idb = w.id(b);
    let a_cred = w.nodes[a].hub.registration().unwrap().credential.clone();
    let offer = RtcSignal::Offer { sdp: sdp("offer"), exchange_id: 1 << 32 | 1 };
    // Who relays as A (the server stamps the source) but signs with its own key,
    // or sends no proof at all.
    let fingerprints = sdp_fingerprints(&sdp("offer"));
    let statement =
        Statement::RtcFingerprint { from: &ida, to: &idb, exchange_id: 1 << 32 | 1, fingerprints: &fingerprints };
    let stolen = SignalProof { credential: a_cred.clone(), signature: host_key(668).sign(&statement) };
    let since = w.mark(b);
    for proof in [Some(stolen), None] {
        let relay = RelaySignal { signal: offer.clone(), proof };
        w.input(b, |hub, now| {
            let conn = hub.signaling().current_connection().expect("connected");
            let frame =
                actr_core::signaling::ServerMsg::Relay { source: ida.clone(), payload: relay.encode().unwrap() };
            let bytes =
                actr_core::wire::encode_message(&frame, actr_core::signaling::messages::MAX_SIGNALING_FRAME).unwrap();
            hub.handle_signaling_frame(now, conn, &bytes);
        });
    }
    assert!(w.rtc_outputs(b, since).is_empty());
    assert_eq!(w.nodes[b].hub.stats().fingerprints_refused, 2);
    // A's own key makes the same offer acceptable.
    let own = SignalProof { credential: a_cred, signature: host_key(a as u32).sign(&statement) };
    let relay = RelaySignal { signal: offer, proof: Some(own) };
    w.input(b, |hub, now| {
        let conn = hub.signaling().current_connection().expect("connected");
        let frame = actr_core::signaling::ServerMsg::Relay { source: ida.clone(), payload: relay.encode().unwrap() };
        let bytes =
            actr_core::wire::encode_message(&frame, actr_core::signaling::messages::MAX_SIGNALING_FRAME).unwrap();
        hub.handle_signaling_frame(now, conn, &bytes);
    });
    assert_eq!(opens(&w.rtc_outputs(b, since)).len(), 1, "an answerer starts");
}

#[test]
fn webrtc_roles_signals_and_takeover_from_the_direct_link() {
    let mut w = World::new();
    let (a, b) = rtc_pair(&mut w, true, |_| {});
    let (first, rtc_a, first_x) = first_rtc_call(&mut w, a, b);
    // The direct link won the race and served the first call.
    assert_eq!(w.result(a, first), Some(Ok(b"first".to_vec())));
    assert_eq!(w.rtc_sends(a, 0), 0);
    let rtc_b = negotiate(&mut w, a, b, rtc_a, first_x);

    w.rtc_report(a, rtc_a, RtcReport::RpcOpen);
    w.rtc_report(b, rtc_b, RtcReport::RpcOpen);
    let (ma, mb) = (w.mark(a), w.mark(b));
    let second = w.call(a, b, b"second");
    assert_eq!(w.result(a, second), Some(Ok(b"second".to_vec())));
    assert_eq!((w.rtc_sends(a, ma), w.link_sends(a, ma)), (1, 0), "WebRTC took over from the link");
    assert_eq!((w.rtc_sends(b, mb), w.link_sends(b, mb)), (1, 0), "the answer came back on WebRTC too");
    assert_eq!(w.nodes[a].hub.stats().webrtc_connections_up, 1);
    assert_eq!(w.nodes[b].hub.stats().webrtc_received, 1);
    assert_eq!(w.nodes[a].hub.stats().links_open, 1, "the link stays open as a fallback");
}

#[test]
fn lost_connectivity_restarts_ice_and_moves_rpc_to_the_link() {
    let mut w = World::new();
    let (a, b) = rtc_pair(&mut w, true, |c| c.rtc_recovery_timeout = Duration::from_secs(20));
    let (_, rtc_a, first_x) = first_rtc_call(&mut w, a, b);
    let rtc_b = negotiate(&mut w, a, b, rtc_a, first_x);
    w.rtc_report(a, rtc_a, RtcReport::RpcOpen);
    w.rtc_report(b, rtc_b, RtcReport::RpcOpen);

    let ma = w.mark(a);
    w.rtc_report(a, rtc_a, RtcReport::ConnectivityLost);
    assert_eq!(w.rtc_outputs(a, ma), vec![RtcOutput::RestartIce { rtc: rtc_a }], "the offerer restarts ICE");
    let call = w.call(a, b, b"while down");
    assert_eq!(w.result(a, call), Some(Ok(b"while down".to_vec())));
    assert_eq!((w.rtc_sends(a, ma), w.link_sends(a, ma)), (0, 1), "RPC moved to the link");

    let mb = w.mark(b);
    w.rtc_report(b, rtc_b, RtcReport::ConnectivityLost);
    assert_eq!(w.rtc_outputs(b, mb), vec![RtcOutput::RequestIceRestart { rtc: rtc_b }], "the answerer asks");
    let back = w.call(b, a, b"back");
    assert_eq!(w.result(b, back), Some(Ok(b"back".to_vec())));
    assert_eq!((w.rtc_sends(b, mb), w.link_sends(b, mb)), (0, 1));
    assert_eq!(w.nodes[a].hub.stats().ice_restarts, 1);

    // Recovered: WebRTC carries RPC again.
    w.rtc_report(a, rtc_a, RtcReport::Recovered);
    w.rtc_report(b, rtc_b, RtcReport::Recovered);
    let ma = w.mark(a);
    let up = w.call(a, b, b"up again");
    assert_eq!(w.result(a, up), Some(Ok(b"up again".to_vec())));
    assert_eq!((w.rtc_sends(a, ma), w.link_sends(a, ma)), (1, 0));
    assert_eq!(w.nodes[a].hub.stats().ice_recovered, 1);

    // Lost for longer than the recovery timeout: closed; the link carries on.
    w.rtc_report(a, rtc_a, RtcReport::ConnectivityLost);
    let ma = w.mark(a);
    w.advance(ms(19999));
    assert!(!w.rtc_outputs(a, ma).contains(&RtcOutput::Close { rtc: rtc_a }));
    w.advance(ms(1));
    assert!(w.rtc_outputs(a, ma).contains(&RtcOutput::Close { rtc: rtc_a }));
    // B's str0m peer sees the remote close.
    w.rtc_report(b, rtc_b, RtcReport::Ended(ActrError::Unavailable("closed by the remote".into())));
    let after = w.call(a, b, b"after");
    assert_eq!(w.result(a, after), Some(Ok(b"after".to_vec())));
}

#[test]
fn a_connection_that_never_comes_up_is_closed_at_the_setup_timeout() {
    let mut w = World::new();
    let (a, b) = rtc_pair(&mut w, false, |c| c.rtc_setup_timeout = Duration::from_secs(8));
    let (call, rtc_a, _) = first_rtc_call(&mut w, a, b);
    assert_eq!(w.result(a, call), None, "waiting for WebRTC: B has no direct address");
    let ma = w.mark(a);
    w.advance(ms(7999));
    assert!(w.rtc_outputs(a, ma).is_empty());
    w.advance(ms(1));
    assert_eq!(w.rtc_outputs(a, ma).first(), Some(&RtcOutput::Close { rtc: rtc_a }));
    assert_eq!(w.nodes[a].hub.stats().webrtc_connection_failures, 1);
    assert!(w.nodes[b].delivered.is_empty());
}

#[test]
fn stale_reports_of_a_replaced_connection_change_nothing() {
    let mut w = World::new();
    let (a, b) = rtc_pair(&mut w, false, |_| {});
    let (call, rtc_a1, x1) = first_rtc_call(&mut w, a, b);
    let rtc_b1 = negotiate(&mut w, a, b, rtc_a1, x1);
    // A's first connection dies before it is up; its retry opens another.
    w.rtc_report(a, rtc_a1, RtcReport::Ended(ActrError::Unavailable("ice failed".into())));
    let ma = w.mark(a);
    w.advance(Duration::from_secs(1));
    let reopened = opens(&w.rtc_outputs(a, ma));
    assert_eq!(reopened.len(), 1, "the retry opens a new connection");
    let (rtc_a2, _, _, x2) = reopened[0].clone();
    assert_ne!(x2 >> 32, x1 >> 32, "a new epoch");
    // Its offer replaces B's answerer.
    let mb = w.mark(b);
    w.rtc_report(a, rtc_a2, RtcReport::SignalOut(RtcSignal::Offer { sdp: sdp("second"), exchange_id: x2 }));
    let outs = w.rtc_outputs(b, mb);
    assert!(outs.contains(&RtcOutput::Close { rtc: rtc_b1 }), "{outs:?}");
    let (rtc_b2, ..) = opens(&outs)[0].clone();

    // Late reports from the old connections, on both sides.
    let (ma, mb) = (w.mark(a), w.mark(b));
    let (sa, sb) = (w.nodes[a].hub.stats(), w.nodes[b].hub.stats());
    w.rtc_report(a, rtc_a1, RtcReport::RpcOpen);
    w.rtc_report(b, rtc_b1, RtcReport::RpcOpen);
    w.rtc_report(b, rtc_b1, RtcReport::Message(b"stale".to_vec()));
    w.rtc_report(b, rtc_b1, RtcReport::ConnectivityLost);
    w.rtc_report(b, rtc_b1, RtcReport::SignalOut(RtcSignal::Candidate { candidate: "candidate:stale".into() }));
    w.rtc_report(b, rtc_b1, RtcReport::Ended(ActrError::Unavailable("late".into())));
    assert!(w.nodes[a].log[ma..].is_empty() && w.nodes[b].log[mb..].is_empty(), "no output at all");
    assert_eq!(w.result(a, call), None, "still waiting on the new connection");
    let (ta, tb) = (w.nodes[a].hub.stats(), w.nodes[b].hub.stats());
    assert_eq!((ta.webrtc_connections_up, tb.webrtc_connections_up, tb.webrtc_received), (0, 0, 0));
    assert_eq!(
        (ta.ice_restarts, tb.ice_restarts, tb.webrtc_connection_failures),
        (sa.ice_restarts, sb.ice_restarts, sb.webrtc_connection_failures)
    );

    // The current connections still work.
    w.rtc_report(b, rtc_b2, RtcReport::RpcOpen);
    w.rtc_report(a, rtc_a2, RtcReport::RpcOpen);
    assert_eq!(w.result(a, call), Some(Ok(b"first".to_vec())));
    assert_eq!(w.nodes[b].delivered.len(), 1);
}

#[test]
fn unsolicited_offers_per_peer_are_bounded() {
    let mut w = World::new();
    let cfg = |c: &mut HubConfig| {
        c.webrtc = true;
        c.profile.ws_address = None;
        c.offers_per_window = 3;
        c.offer_window = Duration::from_secs(60);
        c.rtc_setup_timeout = Duration::from_secs(600);
    };
    // A and C register first: both offer to B.
    let a = w.add("acme:node:1", cfg);
    let c = w.add("acme:node:1", cfg);
    let b = w.add("acme:node:1", cfg);
    for i in [a, b, c] {
        w.open(i);
    }
    let (_, rtc_a, _) = first_rtc_call(&mut w, a, b);
    let mb = w.mark(b);
    let offer = |epoch: u64| RtcSignal::Offer { sdp: sdp(&epoch.to_string()), exchange_id: (epoch << 32) | 1 };
    for epoch in 1..=5 {
        w.rtc_report(a, rtc_a, RtcReport::SignalOut(offer(epoch)));
    }
    let outs = w.rtc_outputs(b, mb);
    assert_eq!(opens(&outs).len(), 3, "{outs:?}");
    assert_eq!(outs.iter().filter(|o| matches!(o, RtcOutput::Signal { .. })).count(), 3, "refused offers go nowhere");
    assert_eq!(w.nodes[b].hub.stats().offers_refused, 2);

    // Another peer still gets its connection.
    let (_, rtc_c, xc) = first_rtc_call(&mut w, c, b);
    let mb = w.mark(b);
    w.rtc_report(c, rtc_c, RtcReport::SignalOut(RtcSignal::Offer { sdp: sdp("c"), exchange_id: xc }));
    assert_eq!(opens(&w.rtc_outputs(b, mb)).len(), 1);
    assert_eq!(w.nodes[b].hub.stats().offers_refused, 2);

    // A new window admits A again.
    w.advance(Duration::from_secs(60));
    let mb = w.mark(b);
    w.rtc_report(a, rtc_a, RtcReport::SignalOut(offer(6)));
    assert_eq!(opens(&w.rtc_outputs(b, mb)).len(), 1);
}

// ---- 7. route eviction -------------------------------------------------------

#[test]
fn a_node_talking_to_more_peers_than_routes_keeps_working() {
    let mut w = World::new();
    let a = w.add("acme:hub:1", |c| c.max_routes = 8);
    w.open(a);
    let peers: Vec<usize> = (0..20)
        .map(|_| {
            let p = w.add("acme:peer:1", |_| {});
            w.open(p);
            p
        })
        .collect();
    for (n, &p) in peers.iter().enumerate() {
        let call = w.call(a, p, &[n as u8]);
        assert_eq!(w.result(a, call), Some(Ok(vec![n as u8])), "call to peer {n}");
        w.advance(Duration::from_secs(1));
        let link = only_link(&w, a);
        w.break_link(a, link);
    }
    assert!(w.nodes[a].hub.stats().routes_evicted > 0);
    // The first peer was forgotten long ago; it is found again.
    let call = w.call(a, peers[0], b"again");
    assert_eq!(w.result(a, call), Some(Ok(b"again".to_vec())));
    assert_eq!(w.nodes[a].hub.stats().dialed, 21);
}

// ---- 8. keepalive and idle ---------------------------------------------------

#[test]
fn idle_links_get_keepalives_then_close_when_silent() {
    let mut w = World::new();
    let b = w.add("acme:node:1", |c| {
        c.link_keepalive = Duration::from_secs(20);
        c.link_idle_timeout = Duration::from_secs(60);
    });
    w.open(b);
    let idb = w.id(b);
    let x = w.register_extra("acme:node:1");
    let (silent, n1) = w.accept(b, "192.0.2.1".parse().unwrap());
    let (chatty, n2) = w.accept(b, "192.0.2.2".parse().unwrap());
    let since = w.mark(b);
    w.input(b, |hub, now| hub.handle_link_message(now, silent, &hello(&x.ok.actor, &x, &idb, &n1)));
    w.input(b, |hub, now| hub.handle_link_message(now, chatty, &hello(&x.ok.actor, &x, &idb, &n2)));
    let welcomed = |w: &World, link| w.link_outputs(b, link, since).len();
    assert_eq!((welcomed(&w, silent), welcomed(&w, chatty)), (2, 2), "welcome and authenticated");

    w.advance(ms(19999));
    assert_eq!(welcomed(&w, silent), 2, "nothing before the keepalive interval");
    w.advance(ms(1));
    assert_eq!(w.link_outputs(b, silent, since)[2..], [LinkOutput::Send { link: silent, bytes: Vec::new() }]);
    assert_eq!(w.nodes[b].hub.stats().keepalives_sent, 2, "one per link");

    // The chatty peer sends a keepalive of its own at 50 s; the silent one nothing.
    w.advance(Duration::from_secs(30));
    w.input(b, |hub, now| hub.handle_link_message(now, chatty, &[]));
    w.advance(ms(9999));
    assert!(!w.link_outputs(b, silent, since).contains(&LinkOutput::Close { link: silent }));
    w.advance(ms(1));
    assert_eq!(w.link_outputs(b, silent, since).last(), Some(&LinkOutput::Close { link: silent }), "idle 60 s");
    assert!(!w.link_outputs(b, chatty, since).contains(&LinkOutput::Close { link: chatty }));
    assert_eq!(w.nodes[b].hub.stats().links_timed_out, 1);
    w.advance(Duration::from_secs(50));
    assert_eq!(w.link_outputs(b, chatty, since).last(), Some(&LinkOutput::Close { link: chatty }));
}

#[test]
fn keepalives_keep_a_quiet_link_between_two_hubs_open() {
    let mut w = World::new();
    let a = w.add("acme:node:1", |_| {});
    let b = w.add("acme:node:1", |_| {});
    w.open(a);
    w.open(b);
    let call = w.call(a, b, b"hi");
    assert_eq!(w.result(a, call), Some(Ok(b"hi".to_vec())));
    let link = only_link(&w, a);
    w.advance(Duration::from_secs(300));
    assert_eq!(only_link(&w, a), link, "still the same link");
    assert!(w.nodes[a].hub.stats().keepalives_sent >= 10);
    assert!(w.nodes[b].hub.stats().keepalives_sent >= 10);
    assert_eq!(w.nodes[a].hub.stats().links_timed_out + w.nodes[b].hub.stats().links_timed_out, 0);
    let call = w.call(a, b, b"still");
    assert_eq!(w.result(a, call), Some(Ok(b"still".to_vec())));
    assert_eq!(w.nodes[a].dials.len(), 1);
}

// ---- 9. rebind ---------------------------------------------------------------

#[test]
fn a_refused_renewal_rebinds_to_a_new_id_and_fails_pending_calls() {
    let mut w = World::with_ais(AisConfig { credential_ttl_secs: 100, ..AisConfig::default() });
    let a = w.add("acme:node:1", |_| {});
    let b = w.add("acme:node:1", |_| {});
    w.open(a);
    w.open(b);
    let (old, idb) = (w.id(a), w.id(b));
    w.nodes[b].echo = false;
    let pending = w.call_within(a, b, b"across", Duration::from_secs(600));
    assert_eq!(w.nodes[b].held.len(), 1);
    w.refuse_renewals.insert(a);
    w.advance(Duration::from_secs(90));

    let rebound: Vec<(ActrId, ActrId)> = w.nodes[a]
        .events
        .iter()
        .filter_map(|e| match e {
            NodeEvent::Rebound { old, new } => Some((old.clone(), new.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(rebound.len(), 1, "{:?}", w.nodes[a].events);
    let new = w.id(a);
    assert_eq!(rebound[0], (old.clone(), new.clone()));
    assert_ne!(new, old);
    assert!(matches!(w.result(a, pending), Some(Err(ActrError::Unavailable(_)))), "{:?}", w.result(a, pending));
    assert!(w.nodes[a].links.is_empty(), "the old identity's link is closed");
    // B renewed normally and kept its id.
    assert_eq!(w.id(b), idb);
    assert!(w.nodes[b].events.iter().any(|e| matches!(e, NodeEvent::Renewed(_))));

    // The new identity reconnected to signaling and works.
    assert!(w.nodes[a].hub.is_connected());
    assert!(w.server.online().any(|id| *id == new));
    assert!(!w.server.online().any(|id| *id == old));
    w.nodes[b].echo = true;
    let call = w.call(a, b, b"new me");
    assert_eq!(w.result(a, call), Some(Ok(b"new me".to_vec())));
    assert_eq!(w.nodes[b].delivered.last().map(|d| d.caller.clone()), Some(new.clone()));

    // B still knows A's old address: a call to the old id reaches the new
    // identity's listener, which refuses it as not the actor wanted.
    let ghost = w.nodes[b].hub.call(w.now, old, "echo", b"old".to_vec(), CALL_TIMEOUT, None).unwrap();
    w.settle();
    assert!(matches!(w.result(b, ghost), Some(Err(ActrError::NotFound(_)))), "{:?}", w.result(b, ghost));
    assert!(w.nodes[a].delivered.is_empty());
}

#[test]
fn ended_connections_still_count_against_the_offer_budget() {
    let mut w = World::new();
    let (a, b) = rtc_pair(&mut w, false, |c| c.offers_per_window = 2);
    let (_, rtc_a, _) = first_rtc_call(&mut w, a, b);
    for epoch in 1..=4u64 {
        let mb = w.mark(b);
        let offer = RtcSignal::Offer { sdp: sdp(&epoch.to_string()), exchange_id: (epoch << 32) | 1 };
        w.rtc_report(a, rtc_a, RtcReport::SignalOut(offer));
        // Whatever B's str0m peer was built for this offer fails at once.
        if let Some((rtc_b, ..)) = opens(&w.rtc_outputs(b, mb)).first().cloned() {
            w.rtc_report(b, rtc_b, RtcReport::Ended(ActrError::Unavailable("dtls failed".into())));
        }
    }
    let opened = opens(&w.rtc_outputs(b, 0)).len();
    assert_eq!((opened, w.nodes[b].hub.stats().offers_refused), (2, 2), "two connections per window, ended or not");
}

#[test]
fn the_answerer_solicits_an_offer_when_it_calls_first() {
    let mut w = World::new();
    let (a, b) = rtc_pair(&mut w, false, |_| {});
    // B registered second: it is the answerer, and it calls first.
    let mb = w.mark(b);
    let call = w.call(b, a, b"from the answerer");
    let opened = opens(&w.rtc_outputs(b, mb));
    assert_eq!(opened.len(), 1);
    let (rtc_b, peer, offerer, _) = opened[0].clone();
    assert_eq!((peer, offerer), (w.id(a), false));
    assert!(!is_offerer(&w.id(b), &w.id(a)));
    // B's hub asked A for a connection (a ConnectRequest through signaling):
    // A opened as the offerer.
    let opened = opens(&w.rtc_outputs(a, 0));
    assert_eq!(opened.len(), 1, "{:?}", w.rtc_outputs(a, 0));
    let (rtc_a, peer, offerer, x) = opened[0].clone();
    assert_eq!((peer, offerer), (w.id(b), true));
    // A's offer lands on B's existing connection; no second one.
    let mb = w.mark(b);
    let offer = RtcSignal::Offer { sdp: sdp("plain"), exchange_id: x };
    w.rtc_report(a, rtc_a, RtcReport::SignalOut(offer.clone()));
    assert_eq!(w.rtc_outputs(b, mb), vec![RtcOutput::Signal { rtc: rtc_b, signal: offer }]);
    w.rtc_report(a, rtc_a, RtcReport::RpcOpen);
    w.rtc_report(b, rtc_b, RtcReport::RpcOpen);
    assert_eq!(w.result(b, call), Some(Ok(b"from the answerer".to_vec())));
}

#[test]
fn pending_calls_fail_at_once_when_the_only_webrtc_connection_ends() {
    let mut w = World::new();
    let (a, b) = rtc_pair(&mut w, false, |_| {});
    let (first, rtc_a, x) = first_rtc_call(&mut w, a, b);
    let rtc_b = negotiate(&mut w, a, b, rtc_a, x);
    // As str0m does, the receiving side's channel is open before data arrives on it.
    w.rtc_report(b, rtc_b, RtcReport::RpcOpen);
    w.rtc_report(a, rtc_a, RtcReport::RpcOpen);
    assert_eq!(w.result(a, first), Some(Ok(b"first".to_vec())));
    w.nodes[b].echo = false;
    let pending = w.call(a, b, b"lost");
    assert_eq!(w.nodes[b].held.len(), 1);
    w.rtc_report(a, rtc_a, RtcReport::Ended(ActrError::Unavailable("sctp abort".into())));
    assert!(matches!(w.result(a, pending), Some(Err(ActrError::Unavailable(_)))), "{:?}", w.result(a, pending));
}

#[test]
fn a_call_to_an_actor_signaling_does_not_know_fails_not_found() {
    let mut w = World::new();
    let a = w.add("acme:node:1", |_| {});
    w.open(a);
    let ghost = ActrId { serial: 999, ..w.id(a) };
    let call = w.nodes[a].hub.call(w.now, ghost, "echo", b"boo".to_vec(), CALL_TIMEOUT, None).unwrap();
    w.settle();
    assert!(matches!(w.result(a, call), Some(Err(ActrError::NotFound(_)))), "{:?}", w.result(a, call));
    assert!(w.nodes[a].dials.is_empty());
}

// ---- failover between wires, the dial race, network changes -------------------

#[test]
fn with_two_links_losing_either_keeps_calls_alive() {
    let mut w = World::new();
    let a = w.add("acme:node:1", |_| {});
    let b = w.add("acme:node:1", |_| {});
    w.open(a);
    w.open(b);
    w.nodes[a].answer_dials = false;
    w.nodes[b].answer_dials = false;
    // Both dial each other at once.
    let ab = w.call(a, b, b"a to b");
    let ba = w.call(b, a, b"b to a");
    assert_eq!((w.nodes[a].dials.len(), w.nodes[b].dials.len()), (1, 1));
    let first = w.answer_dial(a, 0);
    assert_eq!(w.result(a, ab), Some(Ok(b"a to b".to_vec())));
    assert_eq!(w.result(b, ba), Some(Ok(b"b to a".to_vec())), "B's call went on A's link, without its own dial");
    let second = w.answer_dial(b, 0);
    let second_at_a = w.nodes[b].links[&second].1;
    assert_eq!((w.nodes[a].hub.stats().links_open, w.nodes[b].hub.stats().links_open), (2, 2));

    // A call in flight while the older link breaks: nothing fails.
    w.nodes[b].echo = false;
    let pending = w.call(a, b, b"pending");
    assert_eq!(w.nodes[b].held.len(), 1);
    w.break_link(a, first);
    assert_eq!(w.result(a, pending), None, "the other link still serves B");
    let d = w.nodes[b].held.remove(0);
    w.respond(b, &d);
    assert_eq!(w.result(a, pending), Some(Ok(b"pending".to_vec())));
    let last = w.call(a, b, b"last");
    w.break_link(a, second_at_a);
    assert!(matches!(w.result(a, last), Some(Err(ActrError::Unavailable(_)))), "{:?}", w.result(a, last));
}

#[test]
fn losing_the_current_of_two_links_moves_traffic_to_the_other() {
    let mut w = World::new();
    let a = w.add("acme:node:1", |_| {});
    let b = w.add("acme:node:1", |_| {});
    w.open(a);
    w.open(b);
    w.nodes[a].answer_dials = false;
    w.nodes[b].answer_dials = false;
    w.call(a, b, b"a");
    w.call(b, a, b"b");
    let first = w.answer_dial(a, 0);
    let second = w.answer_dial(b, 0);
    let second_at_a = w.nodes[b].links[&second].1;
    w.nodes[b].echo = false;
    let pending = w.call(a, b, b"pending");
    let ma = w.mark(a);
    // The newer link carried it; it breaks, the older one takes over.
    w.break_link(a, second_at_a);
    assert_eq!(w.result(a, pending), None);
    let d = w.nodes[b].held.remove(0);
    w.respond(b, &d);
    assert_eq!(w.result(a, pending), Some(Ok(b"pending".to_vec())), "the answer came on the older link");
    w.nodes[b].echo = true;
    let next = w.call(a, b, b"next");
    assert_eq!(w.result(a, next), Some(Ok(b"next".to_vec())));
    let on_first = w.link_outputs(a, first, ma).into_iter().filter(|o| matches!(o, LinkOutput::Send { .. })).count();
    assert_eq!((on_first, w.link_sends(a, ma)), (1, 1), "A's next call went on the older link");
    assert_eq!(w.nodes[a].dials.len(), 1, "no new dial");
}

#[test]
fn a_call_waits_while_either_wire_may_still_come_up() {
    let mut w = World::new();
    let a = w.add("acme:node:1", |c| c.webrtc = true);
    // B advertises an address nobody listens on: the dial is refused.
    let b = w.add("acme:node:1", |c| c.webrtc = true);
    w.nodes[b].listens = false;
    w.open(a);
    w.open(b);
    let (call, rtc_a, x) = first_rtc_call(&mut w, a, b);
    assert_eq!(w.nodes[a].hub.stats().dial_failures, 1);
    assert_eq!(w.result(a, call), None, "WebRTC may still come up");
    assert_eq!(w.nodes[a].hub.stats().endpoint.retries, 0, "nothing failed yet");
    let rtc_b = negotiate(&mut w, a, b, rtc_a, x);
    w.rtc_report(b, rtc_b, RtcReport::RpcOpen);
    w.rtc_report(a, rtc_a, RtcReport::RpcOpen);
    assert_eq!(w.result(a, call), Some(Ok(b"first".to_vec())), "served by WebRTC");

    // Both attempts failing fails what waited (here: handed to the retry policy).
    let c = w.add("acme:node:1", |c| c.webrtc = true);
    w.nodes[c].listens = false;
    w.open(c);
    let ma = w.mark(a);
    let call = w.call(a, c, b"to c");
    let (rtc_c, ..) = opens(&w.rtc_outputs(a, ma))[0].clone();
    assert_eq!(w.nodes[a].hub.stats().endpoint.retries, 0);
    w.rtc_report(a, rtc_c, RtcReport::Ended(ActrError::Unavailable("ice failed".into())));
    assert_eq!(w.nodes[a].hub.stats().endpoint.retries, 1, "the send failed once both wires had failed");
    assert_eq!(w.result(a, call), None, "retried with backoff");
}

#[test]
fn network_changes_are_debounced_into_one_ice_restart() {
    let mut w = World::new();
    let (a, b) = rtc_pair(&mut w, true, |c| c.network_debounce = Duration::from_secs(2));
    let (_, rtc_a, x) = first_rtc_call(&mut w, a, b);
    let rtc_b = negotiate(&mut w, a, b, rtc_a, x);
    w.rtc_report(b, rtc_b, RtcReport::RpcOpen);
    w.rtc_report(a, rtc_a, RtcReport::RpcOpen);
    let ma = w.mark(a);
    // Each report within 2 s of the previous one extends the burst.
    for change in [NetworkChange::Available, NetworkChange::Lost, NetworkChange::TypeChanged] {
        w.input(a, |hub, now| hub.handle_network_change(now, change));
        w.advance(ms(1500));
    }
    w.advance(ms(499));
    assert!(w.rtc_outputs(a, ma).is_empty(), "the burst is not over");
    w.advance(ms(1));
    assert_eq!(w.rtc_outputs(a, ma), vec![RtcOutput::RestartIce { rtc: rtc_a }], "one restart for the burst");
    // Until it recovers, RPC goes on the link.
    let call = w.call(a, b, b"meanwhile");
    assert_eq!(w.result(a, call), Some(Ok(b"meanwhile".to_vec())));
    assert_eq!(w.rtc_sends(a, ma), 0);
    // A burst ending with Lost waits for the network to come back.
    w.rtc_report(a, rtc_a, RtcReport::Recovered);
    let ma = w.mark(a);
    w.input(a, |hub, now| hub.handle_network_change(now, NetworkChange::Lost));
    w.advance(Duration::from_secs(5));
    assert!(w.rtc_outputs(a, ma).is_empty());
}

#[test]
fn calls_in_flight_fail_at_once_when_a_recovering_connection_ends_for_good() {
    let mut w = World::new();
    let (a, b) = rtc_pair(&mut w, false, |_| {});
    let (first, rtc_a, x) = first_rtc_call(&mut w, a, b);
    let rtc_b = negotiate(&mut w, a, b, rtc_a, x);
    w.rtc_report(b, rtc_b, RtcReport::RpcOpen);
    w.rtc_report(a, rtc_a, RtcReport::RpcOpen);
    assert_eq!(w.result(a, first), Some(Ok(b"first".to_vec())));
    w.nodes[b].echo = false;
    let in_flight = w.call(a, b, b"in flight");
    assert_eq!(w.nodes[b].held.len(), 1);
    // Connectivity goes; a new call waits for the recovering connection.
    w.rtc_report(a, rtc_a, RtcReport::ConnectivityLost);
    let waiting = w.call(a, b, b"waiting");
    assert_eq!(w.result(a, waiting), None);
    // The connection dies for good: it was the last wire.
    w.rtc_report(a, rtc_a, RtcReport::Ended(ActrError::Unavailable("ice failed".into())));
    for call in [in_flight, waiting] {
        assert!(matches!(w.result(a, call), Some(Err(ActrError::Unavailable(_)))), "{:?}", w.result(a, call));
    }
}

#[test]
fn a_tell_is_reported_sent_and_delivered_as_a_tell() {
    let mut w = World::new();
    let a = w.add("acme:node:1", |_| {});
    let b = w.add("acme:node:1", |c| c.max_in_flight_per_peer = 1);
    w.open(a);
    w.open(b);
    w.nodes[b].echo = false;
    let (now, idb) = (w.now, w.id(b));
    let tell = w.nodes[a].hub.tell(now, idb.clone(), "note", b"fyi".to_vec(), None).unwrap();
    w.settle();
    let delivered = w.nodes[b].held.clone();
    assert_eq!(delivered.len(), 1);
    assert!(delivered[0].tell);
    assert_eq!((delivered[0].caller.clone(), delivered[0].payload.clone()), (w.id(a), b"fyi".to_vec()));
    assert_eq!(w.nodes[a].tells.get(&tell), Some(&Ok(())), "it left on the link");
    // A tell to an actor signaling does not know fails.
    let ghost = ActrId { serial: 999, ..idb };
    let lost = w.nodes[a].hub.tell(w.now, ghost, "note", b"?".to_vec(), None).unwrap();
    w.settle();
    assert!(matches!(w.nodes[a].tells.get(&lost), Some(Err(ActrError::NotFound(_)))), "{:?}", w.nodes[a].tells);
    // The unanswered tell holds A's only slot at B; answering it frees the slot.
    let refused = w.call(a, b, b"busy");
    assert!(matches!(w.result(a, refused), Some(Err(ActrError::ResourceExhausted(_)))));
    w.respond(b, &delivered[0]);
    assert!(w.nodes[b].hub.in_flight() == 0);
    let ok = w.call(a, b, b"free");
    assert_eq!(w.nodes[b].held.len(), 2);
    let d = w.nodes[b].held[1].clone();
    w.respond(b, &d);
    assert_eq!(w.result(a, ok), Some(Ok(b"free".to_vec())));
}
