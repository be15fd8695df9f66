//! UDP paths between nodes on top of the network model.
//!
//! The model decides each datagram's fate (lost, delivered once or twice,
//! delay, held back). A path is a queue: a datagram that was not held back
//! never arrives before one sent earlier on the same path, as on a real
//! link where jitter is queueing; only held-back copies are overtaken.
//! A partition between the two nodes drops what is sent and, checked again
//! on arrival, what was in flight. A *stalled* path drops only DTLS records
//! (first byte 20 to 63, RFC 7983), so STUN gets through: ICE stays
//! connected while SCTP, inside DTLS, backs off retransmitting.

use std::collections::{BTreeMap, BTreeSet};

use actr_core::Instant;

use crate::net::{Endpoint, Network};

/// Datagram counts across all paths.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UdpStats {
    pub sent: u64,
    /// Lost by the model or sent into a partition.
    pub lost: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub delivered: u64,
    /// In flight when a partition cut the path.
    pub cut_in_flight: u64,
    /// Addressed to no node.
    pub unroutable: u64,
    /// DTLS records dropped on a stalled path.
    pub stalled: u64,
}

/// The last arrival scheduled on each directed path, and the counters.
#[derive(Debug, Default)]
pub struct UdpPaths {
    last: BTreeMap<(usize, usize), Instant>,
    /// Node pairs (lower index first) whose DTLS records are dropped.
    stalled: BTreeSet<(usize, usize)>,
    pub stats: UdpStats,
}

impl UdpPaths {
    /// Starts (`on`) or ends a stall of the path between nodes `a` and `b`.
    pub fn set_stalled(&mut self, a: usize, b: usize, on: bool) {
        let pair = (a.min(b), a.max(b));
        if on {
            self.stalled.insert(pair);
        } else {
            self.stalled.remove(&pair);
        }
    }

    /// Whether a stall drops `bytes` sent from node `from` to node `to`.
    pub fn stalls(&mut self, from: usize, to: usize, bytes: &[u8]) -> bool {
        let dtls = bytes.first().is_some_and(|b| (20..64).contains(b));
        let stalled = dtls && self.stalled.contains(&(from.min(to), from.max(to)));
        if stalled {
            self.stats.sent += 1;
            self.stats.stalled += 1;
        }
        stalled
    }

    /// Arrival times of one datagram sent now from node `from` to node `to`.
    pub fn schedule(&mut self, net: &mut Network, now: Instant, from: usize, to: usize) -> Vec<Instant> {
        self.stats.sent += 1;
        let copies = net.datagram_copies(Endpoint::Node(from), Endpoint::Node(to));
        match copies.len() {
            0 => self.stats.lost += 1,
            2 => self.stats.duplicated += 1,
            _ => {}
        }
        let last = self.last.entry((from, to)).or_insert(now);
        copies
            .into_iter()
            .map(|c| {
                let at = now + c.delay;
                if c.reordered {
                    self.stats.reordered += 1;
                    return at;
                }
                *last = at.max(*last);
                *last
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::NetPreset;
    use crate::queue::at_secs;

    fn arrivals(reorder_permille: u32) -> (Vec<Instant>, UdpStats) {
        let mut net = Network::new(5, NetPreset::Wan);
        net.set_default(crate::net::LinkProfile { reorder_permille, ..NetPreset::Wan.profile() });
        let mut paths = UdpPaths::default();
        let times = (0..2000u64)
            .flat_map(|i| paths.schedule(&mut net, at_secs(0) + actr_core::Duration::from_micros(i * 100), 0, 1))
            .collect();
        (times, paths.stats)
    }

    #[test]
    fn a_path_keeps_order_unless_held_back() {
        let (ordered, s) = arrivals(0);
        assert!(ordered.windows(2).all(|w| w[0] <= w[1]), "jitter alone never reorders");
        assert!(s.lost > 0 && s.reordered == 0 && s.sent == 2000, "{s:?}");
        let (held, s) = arrivals(100);
        assert!(held.windows(2).any(|w| w[0] > w[1]) && s.reordered > 0, "{s:?}");
    }
}
