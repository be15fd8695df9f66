//! Two peers driven in memory on a virtual clock, for tests.
//!
//! Datagrams and signals move directly between the peers (signals through
//! their postcard encoding). When nothing moves, time jumps to the earlier of
//! the two peers' deadlines. No wall-clock sleeps.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::{DtlsCert, RtcEvent, RtcPeer, RtcPeerConfig, RtcPeerError, RtcSignal, generate_certificate};

/// One certificate for every test peer: generating one per peer is slow.
pub(super) fn shared_cert() -> DtlsCert {
    static CERT: OnceLock<DtlsCert> = OnceLock::new();
    CERT.get_or_init(|| generate_certificate().expect("certificate")).clone()
}

pub(super) fn config() -> RtcPeerConfig {
    RtcPeerConfig { certificate: Some(shared_cert()), ..Default::default() }
}

pub(super) const ADDR_A: &str = "127.0.0.1:40001";
pub(super) const ADDR_B: &str = "127.0.0.1:40002";

/// The offerer `a` and the answerer `b`.
#[derive(Debug)]
pub(super) struct Pair {
    pub a: RtcPeer,
    pub b: RtcPeer,
    pub now: Instant,
    pub start: Instant,
    pub a_events: VecDeque<RtcEvent>,
    pub b_events: VecDeque<RtcEvent>,
    /// False drops every datagram, as a broken path would.
    pub network_up: bool,
    /// While set, `b`'s signals are kept in `held_from_b` instead of delivered.
    pub hold_b_signals: bool,
    pub held_from_b: Vec<RtcSignal>,
    /// While false, `b`'s events are left unpolled.
    pub poll_b_events: bool,
    /// Datagrams `b` refused because its events were not drained.
    pub b_refusals: u64,
}

impl Pair {
    pub(super) fn new(config_a: RtcPeerConfig, config_b: RtcPeerConfig) -> Self {
        let now = Instant::now();
        let a = RtcPeer::offerer(config_a, addr(ADDR_A), now).expect("offerer");
        let b = RtcPeer::answerer(config_b, addr(ADDR_B), now).expect("answerer");
        Self {
            a,
            b,
            now,
            start: now,
            a_events: VecDeque::new(),
            b_events: VecDeque::new(),
            network_up: true,
            hold_b_signals: false,
            held_from_b: Vec::new(),
            poll_b_events: true,
            b_refusals: 0,
        }
    }

    /// Moves everything that is ready; returns whether anything moved.
    pub(super) fn step(&mut self) -> bool {
        let mut moved = self.move_signals();
        moved |= self.move_datagrams();
        while let Some(e) = self.a.poll_event() {
            self.a_events.push_back(e);
            moved = true;
        }
        while self.poll_b_events
            && let Some(e) = self.b.poll_event()
        {
            self.b_events.push_back(e);
            moved = true;
        }
        moved
    }

    fn move_signals(&mut self) -> bool {
        let mut moved = false;
        while let Some(s) = self.a.poll_signal() {
            self.b.handle_signal(self.now, relay(&s)).expect("b takes a's signal");
            moved = true;
        }
        while let Some(s) = self.b.poll_signal() {
            if self.hold_b_signals {
                self.held_from_b.push(s);
            } else {
                self.a.handle_signal(self.now, relay(&s)).expect("a takes b's signal");
            }
            moved = true;
        }
        moved
    }

    fn move_datagrams(&mut self) -> bool {
        let mut moved = false;
        while let Some((to, bytes)) = self.a.poll_transmit() {
            moved = true;
            if self.network_up {
                assert_eq!(to, addr(ADDR_B));
                match self.b.handle_datagram(self.now, addr(ADDR_A), to, &bytes) {
                    Err(RtcPeerError::EventsNotDrained { .. }) => self.b_refusals += 1,
                    other => other.expect("b takes a's datagram"),
                }
            }
        }
        while let Some((to, bytes)) = self.b.poll_transmit() {
            moved = true;
            if self.network_up {
                assert_eq!(to, addr(ADDR_A));
                self.a.handle_datagram(self.now, addr(ADDR_B), to, &bytes).expect("a takes b's datagram");
            }
        }
        moved
    }

    /// Jumps to the earlier deadline and fires both peers' timeouts.
    pub(super) fn advance(&mut self) {
        let next = self.a.poll_timeout().min(self.b.poll_timeout());
        self.now = self.now.max(next);
        self.a.handle_timeout(self.now).expect("a timeout");
        self.b.handle_timeout(self.now).expect("b timeout");
    }

    /// Runs until `done` holds; false if `limit` of virtual time passes first.
    pub(super) fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Pair) -> bool) -> bool {
        let deadline = self.now + limit;
        loop {
            if done(self) {
                return true;
            }
            if !self.step() {
                if self.now >= deadline {
                    return false;
                }
                self.advance();
            }
        }
    }

    /// Runs until both sides have the RPC and stream channels open.
    pub(super) fn connect(&mut self) {
        use actr_core::transport::LaneKind::{Rpc, Stream};
        let up = self.run_until(Duration::from_secs(10), |p| {
            p.a.is_open(Rpc) && p.a.is_open(Stream) && p.b.is_open(Rpc) && p.b.is_open(Stream)
        });
        assert!(up, "peers did not connect; a: {:?} b: {:?}", self.a_events, self.b_events);
    }

    /// Takes the first event of `side` matching `pred`.
    pub(super) fn take(events: &mut VecDeque<RtcEvent>, pred: impl Fn(&RtcEvent) -> bool) -> Option<RtcEvent> {
        let at = events.iter().position(pred)?;
        events.remove(at)
    }
}

pub(super) fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

/// What the signaling relay does: encode, carry the bytes, decode.
fn relay(signal: &RtcSignal) -> RtcSignal {
    RtcSignal::decode(&signal.encode().expect("encode")).expect("decode")
}
