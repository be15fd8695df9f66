//! The seeded network model: latency, jitter, loss, duplication, reordering
//! and partitions, with named presets.
//!
//! Two delivery disciplines share one [`LinkProfile`]:
//! - **streams** (WebSocket over TCP, used by signaling) are reliable and
//!   ordered: a loss becomes a retransmission delay, never a gap, duplicate
//!   or reordering. The world keeps per-connection ordering on top of
//!   [`Network::stream_delay`].
//! - **datagrams** ([`Network::datagram`]) may be lost, duplicated or
//!   reordered; WebRTC will run over them. AIS HTTP calls use
//!   [`Network::call_leg`]: one request leg and one reply leg, each of which
//!   may be lost (the keeper's call deadline then fires and it retries).
//!
//! A partition between two endpoints blocks everything between them; the
//! world drops traffic in flight and lets connection attempts time out.

use std::collections::{BTreeMap, BTreeSet};

use actr_core::Duration;
use actr_core::rng::SeededRng;

/// One side of a path: the server or a node by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    Server,
    Node(usize),
}

/// How one path behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkProfile {
    /// Mean one-way delay.
    pub latency: Duration,
    /// Half-width of the uniform spread around `latency`.
    pub jitter: Duration,
    pub loss_permille: u32,
    /// Datagrams only: chance of a second copy.
    pub dup_permille: u32,
    /// Datagrams only: chance of an extra delay that lets later ones overtake.
    pub reorder_permille: u32,
    /// Upper bound of that extra delay.
    pub reorder_delay: Duration,
    /// Streams only: the first retransmission timeout; it doubles per loss.
    pub retransmit_timeout: Duration,
}

/// Named network conditions, from ideal to hostile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetPreset {
    /// 1 ms, nothing lost.
    Perfect,
    /// Sub-millisecond jitter, nothing lost.
    Lan,
    /// 40 ms ± 15 ms, rare loss, duplication and reordering.
    Wan,
    /// 60 ms ± 30 ms, 10 % loss, some duplication and reordering.
    Lossy,
    /// 120 ms ± 100 ms, 25 % loss, frequent duplication and reordering.
    Chaotic,
}

impl NetPreset {
    pub const ALL: [NetPreset; 5] = [Self::Perfect, Self::Lan, Self::Wan, Self::Lossy, Self::Chaotic];

    pub fn profile(self) -> LinkProfile {
        let ms = Duration::from_millis;
        let p = |latency, jitter, loss, dup, reorder| LinkProfile {
            latency: ms(latency),
            jitter: ms(jitter),
            loss_permille: loss,
            dup_permille: dup,
            reorder_permille: reorder,
            reorder_delay: ms(latency * 2),
            retransmit_timeout: ms(200),
        };
        match self {
            Self::Perfect => p(1, 0, 0, 0, 0),
            Self::Lan => LinkProfile { jitter: Duration::from_micros(400), ..p(1, 0, 0, 0, 0) },
            Self::Wan => p(40, 15, 5, 1, 10),
            Self::Lossy => p(60, 30, 100, 10, 50),
            Self::Chaotic => p(120, 100, 250, 50, 150),
        }
    }
}

/// One copy of a datagram on its way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatagramCopy {
    pub delay: Duration,
    /// Held back by an extra delay, so later datagrams may overtake it.
    pub reordered: bool,
}

/// Most retransmissions one stream segment suffers before it gets through.
const MAX_RETRANSMITS: u32 = 8;
/// The shortest one-way delay the model produces.
const MIN_DELAY: Duration = Duration::from_micros(50);

/// The network: one seeded generator, a default profile, per-node overrides
/// and the set of partitioned endpoint pairs.
#[derive(Debug)]
pub struct Network {
    rng: SeededRng,
    default: LinkProfile,
    overrides: BTreeMap<usize, LinkProfile>,
    blocked: BTreeSet<(Endpoint, Endpoint)>,
    /// How long a connection attempt across a partition takes to fail.
    pub connect_fail_after: Duration,
}

fn pair(a: Endpoint, b: Endpoint) -> (Endpoint, Endpoint) {
    if a <= b { (a, b) } else { (b, a) }
}

impl Network {
    pub fn new(seed: u64, preset: NetPreset) -> Self {
        Self {
            rng: SeededRng::new(seed),
            default: preset.profile(),
            overrides: BTreeMap::new(),
            blocked: BTreeSet::new(),
            connect_fail_after: Duration::from_secs(5),
        }
    }

    /// Changes the profile of every path without an override.
    pub fn set_default(&mut self, profile: LinkProfile) {
        self.default = profile;
    }

    /// Gives every path touching `node` its own profile (`None` removes it).
    pub fn set_node_profile(&mut self, node: usize, profile: Option<LinkProfile>) {
        match profile {
            Some(p) => self.overrides.insert(node, p),
            None => self.overrides.remove(&node),
        };
    }

    /// The profile of the path between `a` and `b`: a node's override wins.
    pub fn profile(&self, a: Endpoint, b: Endpoint) -> LinkProfile {
        let of = |e| match e {
            Endpoint::Node(n) => self.overrides.get(&n).copied(),
            Endpoint::Server => None,
        };
        of(a).or_else(|| of(b)).unwrap_or(self.default)
    }

    /// Blocks all traffic between `a` and `b` until [`Network::heal`].
    pub fn partition(&mut self, a: Endpoint, b: Endpoint) {
        self.blocked.insert(pair(a, b));
    }

    pub fn heal(&mut self, a: Endpoint, b: Endpoint) {
        self.blocked.remove(&pair(a, b));
    }

    pub fn heal_all(&mut self) {
        self.blocked.clear();
    }

    pub fn is_partitioned(&self, a: Endpoint, b: Endpoint) -> bool {
        self.blocked.contains(&pair(a, b))
    }

    /// Delay of one stream segment from `a` to `b`: a one-way delay plus a
    /// doubling retransmission timeout per loss. Ordering is the caller's job.
    pub fn stream_delay(&mut self, a: Endpoint, b: Endpoint) -> Duration {
        let p = self.profile(a, b);
        let mut delay = self.one_way(&p);
        let mut rto = p.retransmit_timeout;
        for _ in 0..MAX_RETRANSMITS {
            if !self.rng.chance_permille(p.loss_permille) {
                break;
            }
            delay = delay + rto;
            rto = rto.mul_permille(2000);
        }
        delay
    }

    /// Deliveries of one datagram from `a` to `b`: none (lost or
    /// partitioned), one, or two (duplicated), each with its own delay.
    pub fn datagram(&mut self, a: Endpoint, b: Endpoint) -> Vec<Duration> {
        self.datagram_copies(a, b).into_iter().map(|c| c.delay).collect()
    }

    /// Like [`Network::datagram`], and says which copies were held back for
    /// reordering; a caller that keeps the rest of a path in order (as a
    /// real queue would) lets only those be overtaken.
    pub fn datagram_copies(&mut self, a: Endpoint, b: Endpoint) -> Vec<DatagramCopy> {
        if self.is_partitioned(a, b) {
            return Vec::new();
        }
        let p = self.profile(a, b);
        if self.rng.chance_permille(p.loss_permille) {
            return Vec::new();
        }
        let mut out = vec![self.datagram_delay(&p)];
        if self.rng.chance_permille(p.dup_permille) {
            out.push(self.datagram_delay(&p));
        }
        out
    }

    /// One leg of a request/response call: lost (`None`) or delivered once.
    pub fn call_leg(&mut self, a: Endpoint, b: Endpoint) -> Option<Duration> {
        if self.is_partitioned(a, b) {
            return None;
        }
        let p = self.profile(a, b);
        if self.rng.chance_permille(p.loss_permille) {
            return None;
        }
        Some(self.one_way(&p))
    }

    /// A uniform draw in `0..=max`, for callers that need seeded spread.
    pub fn spread(&mut self, max: Duration) -> Duration {
        Duration::from_micros(self.rng.below(max.as_micros() + 1))
    }

    fn datagram_delay(&mut self, p: &LinkProfile) -> DatagramCopy {
        let base = self.one_way(p);
        if self.rng.chance_permille(p.reorder_permille) {
            return DatagramCopy { delay: base + self.spread(p.reorder_delay), reordered: true };
        }
        DatagramCopy { delay: base, reordered: false }
    }

    fn one_way(&mut self, p: &LinkProfile) -> Duration {
        let j = p.jitter.as_micros();
        let lat = p.latency.as_micros();
        let draw = lat.saturating_sub(j) + self.rng.below(2 * j + 1);
        Duration::from_micros(draw).max(MIN_DELAY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Endpoint = Endpoint::Server;
    const N: Endpoint = Endpoint::Node(0);

    #[test]
    fn perfect_is_exact_and_lossless() {
        let mut net = Network::new(1, NetPreset::Perfect);
        for _ in 0..100 {
            assert_eq!(net.stream_delay(N, S), Duration::from_millis(1));
            assert_eq!(net.datagram(N, S), vec![Duration::from_millis(1)]);
        }
    }

    #[test]
    fn lossy_streams_only_slow_down_while_datagrams_vanish() {
        let mut net = Network::new(2, NetPreset::Lossy);
        let slow = (0..1000).filter(|_| net.stream_delay(N, S) > Duration::from_millis(200)).count();
        let lost = (0..1000).filter(|_| net.datagram(N, S).is_empty()).count();
        let dup = (0..1000).filter(|_| net.datagram(N, S).len() == 2).count();
        assert!((50..160).contains(&slow), "{slow}");
        assert!((50..160).contains(&lost), "{lost}");
        assert!((1..40).contains(&dup), "{dup}");
    }

    #[test]
    fn partitions_block_both_ways_until_healed() {
        let mut net = Network::new(3, NetPreset::Perfect);
        net.partition(S, N);
        assert!(net.is_partitioned(N, S));
        assert!(net.datagram(N, S).is_empty());
        assert_eq!(net.call_leg(S, N), None);
        assert!(!net.is_partitioned(S, Endpoint::Node(1)));
        net.heal(N, S);
        assert!(net.call_leg(S, N).is_some());
    }

    #[test]
    fn node_override_applies_to_its_paths() {
        let mut net = Network::new(4, NetPreset::Perfect);
        net.set_node_profile(0, Some(NetPreset::Wan.profile()));
        assert_eq!(net.profile(S, N), NetPreset::Wan.profile());
        assert_eq!(net.profile(S, Endpoint::Node(1)), NetPreset::Perfect.profile());
    }
}
