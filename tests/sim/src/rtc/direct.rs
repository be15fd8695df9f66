//! The simulated WebSocket wire: direct links between nodes that advertise
//! an address (`RtcSimConfig::direct`), for the hubs' dial race and
//! failover.
//!
//! A dial from node `i` to the address of node `j` arrives at `j` one stream
//! delay later; `j`'s hub accepts it (or refuses: the link closes) and the
//! dialer hears `handle_link_up` one delay after that. Messages then travel
//! in order in each direction, each with a fresh stream delay (a loss of the
//! model becomes delay, as TCP makes it). A cut ([`Sim::cut_direct`])
//! drops what is in flight and what is sent while it lasts, silently, as a
//! dead TCP path does: each side learns through its own keepalive and idle
//! deadlines. [`Sim::break_direct`] resets the links at once instead.

use std::collections::BTreeMap;

use actr_core::node::{LinkId, LinkOutput};
use actr_core::{ActrError, Instant};

use super::env::{node_ip, node_of};
use crate::event::Event;
use crate::net::Endpoint;
use crate::world::Sim;

/// One end of a link: the node it belongs to and that node's id for it.
pub type LinkEnd = (usize, LinkId);

#[derive(Debug, Clone, Copy)]
struct DirectLink {
    /// The other end, once accepted.
    peer: Option<LinkEnd>,
    /// When the last message this end sent arrives (keeps them in order).
    last_arrival: Instant,
}

/// All direct links of the world.
#[derive(Debug, Default)]
pub struct DirectLinks {
    ends: BTreeMap<LinkEnd, DirectLink>,
    /// Node pairs whose direct path is cut (UDP is cut separately).
    cut: std::collections::BTreeSet<(usize, usize)>,
    pub stats: DirectStats,
}

impl DirectLinks {
    fn is_cut(&self, a: usize, b: usize) -> bool {
        self.cut.contains(&(a.min(b), a.max(b)))
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectStats {
    pub dials: u64,
    pub accepted: u64,
    pub refused: u64,
    pub messages: u64,
    pub dropped: u64,
    pub resets: u64,
}

/// The address node `i` advertises.
pub fn direct_address(i: usize) -> String {
    format!("ws://{}:7000", node_ip(i))
}

fn node_of_address(address: &str) -> Option<usize> {
    let authority = address.strip_prefix("ws://")?.split('/').next()?;
    node_of(authority.parse().ok()?)
}

impl Sim {
    /// Carries a link output of node `i`'s hub.
    pub(crate) fn direct_output(&mut self, i: usize, out: LinkOutput) {
        match out {
            LinkOutput::Dial { link, address, .. } => {
                self.direct_mut().stats.dials += 1;
                let Some(j) = node_of_address(&address).filter(|j| *j < self.slots.len()) else {
                    return self.direct_closed_at((i, link), "no such address");
                };
                let at = self.now + self.net.stream_delay(Endpoint::Node(i), Endpoint::Node(j));
                let end = DirectLink { peer: None, last_arrival: self.now };
                self.direct_mut().ends.insert((i, link), end);
                self.queue.push(at, Event::DirectConnect { from: i, link, to: j });
            }
            LinkOutput::Send { link, bytes } => self.direct_send((i, link), bytes),
            LinkOutput::Authenticated { .. } => {}
            LinkOutput::Close { link } => {
                if let Some(end) = self.direct_mut().ends.remove(&(i, link))
                    && let Some(peer) = end.peer
                {
                    let at = self.direct_arrival((i, link), peer, end.last_arrival);
                    self.queue.push(at, Event::DirectClose { node: peer.0, link: peer.1 });
                }
            }
        }
    }

    /// A dial from `from` reached `to`: its hub accepts or refuses.
    pub(crate) fn on_direct_connect(&mut self, from: usize, link: LinkId, to: usize) {
        if !self.direct_mut().ends.contains_key(&(from, link)) {
            return; // the dialer gave up meanwhile
        }
        if self.direct_mut().is_cut(from, to) || !self.slots[to].node.is_up() {
            return self.direct_reset((from, link), "unreachable");
        }
        let inc = self.slots[to].node.incarnation();
        let mut accepted = None;
        self.with_node(to, inc, |n, now, _, out| {
            accepted = n.with_hub(now, out, |hub| hub.handle_link_accepted(now, node_ip(from)));
        });
        match accepted {
            Some(Ok(theirs)) => {
                self.direct_mut().stats.accepted += 1;
                let now = self.now;
                let links = self.direct_mut();
                links.ends.insert((to, theirs), DirectLink { peer: Some((from, link)), last_arrival: now });
                if let Some(end) = links.ends.get_mut(&(from, link)) {
                    end.peer = Some((to, theirs));
                }
                let at = now + self.net.stream_delay(Endpoint::Node(to), Endpoint::Node(from));
                self.queue.push(at, Event::DirectUp { node: from, link });
                // The listener's handshake completes at the same moment; its
                // challenge leaves then, so it reaches a dialer that is up.
                self.queue.push(at, Event::DirectUp { node: to, link: theirs });
            }
            _ => {
                self.direct_mut().stats.refused += 1;
                self.direct_reset((from, link), "refused");
            }
        }
    }

    fn direct_send(&mut self, from: LinkEnd, bytes: Vec<u8>) {
        let Some(end) = self.direct_mut().ends.get(&from).copied() else { return };
        let Some(to) = end.peer else { return };
        if self.direct_mut().is_cut(from.0, to.0) {
            self.direct_mut().stats.dropped += 1;
            return;
        }
        let at = self.direct_arrival(from, to, end.last_arrival);
        self.direct_mut().stats.messages += 1;
        self.queue.push(at, Event::DirectMessage { node: to.0, link: to.1, from: from.0, bytes });
    }

    /// When a message sent now from `from` to `to` arrives, in order.
    fn direct_arrival(&mut self, from: LinkEnd, to: LinkEnd, last: Instant) -> Instant {
        let at = (self.now + self.net.stream_delay(Endpoint::Node(from.0), Endpoint::Node(to.0))).max(last);
        if let Some(end) = self.direct_mut().ends.get_mut(&from) {
            end.last_arrival = at;
        }
        at
    }

    pub(crate) fn on_direct_message(&mut self, node: usize, link: LinkId, from: usize, bytes: &[u8]) {
        if self.direct_mut().is_cut(from, node) {
            self.direct_mut().stats.dropped += 1;
            return;
        }
        if !self.direct_mut().ends.contains_key(&(node, link)) {
            return;
        }
        let inc = self.slots[node].node.incarnation();
        self.with_node(node, inc, |n, now, _, out| {
            n.with_hub(now, out, |hub| hub.handle_link_message(now, link, bytes));
        });
    }

    pub(crate) fn on_direct_up(&mut self, node: usize, link: LinkId) {
        if !self.direct_mut().ends.contains_key(&(node, link)) {
            return;
        }
        let inc = self.slots[node].node.incarnation();
        self.with_node(node, inc, |n, now, _, out| {
            n.with_hub(now, out, |hub| hub.handle_link_up(now, link)).unwrap_or(())
        });
    }

    /// The other end closed (or reset) link `link` of `node`.
    pub(crate) fn on_direct_close(&mut self, node: usize, link: LinkId) {
        if self.direct_mut().ends.remove(&(node, link)).is_some() {
            self.direct_closed_at((node, link), "closed by the peer");
        }
    }

    fn direct_closed_at(&mut self, (node, link): LinkEnd, why: &str) {
        let inc = self.slots[node].node.incarnation();
        let error = ActrError::Unavailable(format!("direct link {why}"));
        self.with_node(node, inc, |n, now, _, out| {
            n.with_hub(now, out, |hub| hub.handle_link_closed(now, link, error));
        });
    }

    /// Resets `end` (and its peer) at once.
    fn direct_reset(&mut self, end: LinkEnd, why: &str) {
        let removed = self.direct_mut().ends.remove(&end);
        if let Some(peer) = removed.and_then(|e| e.peer) {
            self.direct_mut().ends.remove(&peer);
            self.direct_closed_at(peer, why);
        }
        self.direct_closed_at(end, why);
    }

    /// Resets every direct link between nodes `a` and `b`, as a crashed
    /// middlebox or a killed socket would: both hubs hear the close now.
    pub fn break_direct(&mut self, a: usize, b: usize) {
        let between: Vec<LinkEnd> = self
            .direct_mut()
            .ends
            .iter()
            .filter(|((n, _), e)| *n == a && e.peer.is_some_and(|(m, _)| m == b))
            .map(|(k, _)| *k)
            .collect();
        for end in between {
            self.direct_mut().stats.resets += 1;
            self.direct_reset(end, "reset");
        }
    }

    /// Cuts the direct path between nodes `a` and `b` (silently, see above).
    pub fn cut_direct(&mut self, a: usize, b: usize) {
        self.direct_mut().cut.insert((a.min(b), a.max(b)));
    }

    pub fn mend_direct(&mut self, a: usize, b: usize) {
        self.direct_mut().cut.remove(&(a.min(b), a.max(b)));
    }

    /// Node `i` crashed: its ends vanish; peers learn through their deadlines.
    pub(crate) fn direct_crash(&mut self, i: usize) {
        let Some(rtc) = self.rtc.as_mut() else { return };
        rtc.direct.ends.retain(|(n, _), _| *n != i);
    }

    pub fn direct_stats(&self) -> DirectStats {
        self.rtc.as_ref().map(|r| r.direct.stats).unwrap_or_default()
    }

    fn direct_mut(&mut self) -> &mut DirectLinks {
        &mut self.rtc_mut().direct
    }
}
