//! What str0m needs from its surroundings, supplied deterministically:
//! `std::time::Instant`s, DTLS certificates and socket addresses.
//!
//! - **Time.** str0m takes `std::time::Instant`, which cannot be built from a
//!   number. Virtual time `t` maps to `BASE + t`, where `BASE` is the OS
//!   clock read once per process plus [`BASE_AHEAD`]. Only offsets from it
//!   matter, with one exception it is placed to neutralise: sctp-proto's
//!   `Endpoint::connect` stamps a new association with the real
//!   `Instant::now()`, which would start the first INIT's retransmission
//!   timer on the wall clock. Far ahead of the OS clock, every virtual
//!   instant is later than any real one, so that timer is always already
//!   due (the INIT is resent at once, then backs off on virtual time):
//!   the same on every run.
//! - **Certificates.** Generating a DTLS certificate takes tens of
//!   milliseconds, so each node index gets one per process, shared by all its
//!   sessions and all runs (its bytes are random; see the crate README on
//!   what that means for replay).
//! - **Randomness.** str0m draws its non-cryptographic randomness (ICE
//!   role tie-breakers, STUN transaction ids, ICE credentials) from
//!   fastrand's thread-local generator; [`seed_thread_rng`] seeds it from the
//!   run seed when a world is built, so those draws replay (a sim runs on
//!   one thread).
//! - **Addresses.** Node `i` lives at `10.0.x.y` with `x.y` = `i + 1`;
//!   each WebRTC session binds its own port, so datagrams for a finished
//!   session find no socket.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration as StdDuration, Instant as StdInstant};

use actr_core::Instant;
use actr_driver::webrtc::{DtlsCert, generate_certificate};

/// How far virtual time zero lies ahead of the OS clock (see the module docs).
pub const BASE_AHEAD: StdDuration = StdDuration::from_secs(400 * 24 * 3600);

fn base() -> StdInstant {
    static BASE: OnceLock<StdInstant> = OnceLock::new();
    // The one read of the OS clock: an origin for the mapping, nothing more.
    *BASE.get_or_init(|| StdInstant::now() + BASE_AHEAD)
}

/// The `std::time::Instant` str0m sees at virtual time `t`.
pub fn std_at(t: Instant) -> StdInstant {
    base() + StdDuration::from_micros(t.as_micros())
}

/// Virtual time of a str0m deadline, rounded up to the next microsecond so
/// that waking at it never arrives before str0m's own deadline.
pub fn core_at(t: StdInstant) -> Instant {
    let nanos = t.saturating_duration_since(base()).as_nanos();
    Instant::from_micros(u64::try_from(nanos.div_ceil(1000)).unwrap_or(u64::MAX))
}

/// Seeds the calling thread's fastrand generator, which str0m draws from.
pub fn seed_thread_rng(seed: u64) {
    fastrand::seed(seed);
}

/// Node `index`'s DTLS certificate, generated once per process.
pub fn certificate(index: usize) -> DtlsCert {
    static CERTS: OnceLock<Mutex<BTreeMap<usize, DtlsCert>>> = OnceLock::new();
    let certs = CERTS.get_or_init(Default::default);
    let mut certs = certs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    certs
        .entry(index)
        .or_insert_with(|| generate_certificate().expect("the crypto provider makes certificates"))
        .clone()
}

/// The first port a node's sessions bind.
pub const FIRST_PORT: u16 = 20_000;

/// Node `index`'s IP address (`index + 1` in the last two octets).
pub fn node_ip(index: usize) -> IpAddr {
    let n = u16::try_from(index + 1).expect("fewer than 65535 nodes");
    IpAddr::V4(Ipv4Addr::new(10, 0, (n >> 8) as u8, (n & 0xff) as u8))
}

/// The node an address belongs to, if it is one of ours.
pub fn node_of(addr: SocketAddr) -> Option<usize> {
    match addr.ip() {
        IpAddr::V4(ip) => {
            let [ten, zero, hi, lo] = ip.octets();
            let n = usize::from(hi) << 8 | usize::from(lo);
            ((ten, zero) == (10, 0) && n > 0).then(|| n - 1)
        }
        IpAddr::V6(_) => None,
    }
}

/// Hands out the ports of one node slot, never twice (not even across
/// restarts), so late datagrams of an old session never reach a new one.
#[derive(Debug, Clone)]
pub struct Ports {
    index: usize,
    next: u16,
}

impl Ports {
    pub fn new(index: usize) -> Self {
        Self { index, next: FIRST_PORT }
    }

    /// A fresh local address for a new session.
    pub fn bind(&mut self) -> SocketAddr {
        let port = self.next;
        self.next = self.next.checked_add(1).expect("a node opened over 45000 sessions");
        SocketAddr::new(node_ip(self.index), port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_round_trips_and_rounds_up() {
        let t = Instant::from_micros(1_234_567);
        assert_eq!(core_at(std_at(t)), t);
        assert_eq!(core_at(std_at(t) + StdDuration::from_nanos(1)), Instant::from_micros(1_234_568));
        assert_eq!(core_at(std_at(Instant::ZERO)), Instant::ZERO);
    }

    #[test]
    fn addresses_name_their_node_and_ports_are_fresh() {
        let mut ports = Ports::new(300);
        let (a, b) = (ports.bind(), ports.bind());
        assert_ne!(a, b);
        assert_eq!(node_of(a), Some(300));
        assert_eq!(node_of("192.168.0.1:5".parse().unwrap()), None);
    }
}
