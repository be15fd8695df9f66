//! Simulated signaling connections (WebSocket over TCP).
//!
//! A [`Link`] joins one client connection attempt to one server connection.
//! Each direction is ordered: [`Link::ordered`] never lets a segment arrive
//! before one sent earlier in the same direction (equal times keep send
//! order through the queue's sequence numbers), so a loss, which the network
//! turns into a retransmission delay, holds back everything behind it, just
//! as TCP's head-of-line blocking does.
//!
//! A link is *severed* when a partition cuts it: neither side is told, all
//! traffic on it is dropped from then on, and each side learns only through
//! its own timeouts (the server's heartbeat timeout, the client's idle timeout).

use std::collections::BTreeMap;

use actr_core::Instant;
use actr_core::signaling::ConnId;

/// A link id; the server sees it as its `ServerConnId`.
pub type LinkId = u64;

/// Which way a segment travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Client to server.
    Up,
    /// Server to client.
    Down,
}

#[derive(Debug, Clone)]
pub struct Link {
    pub node: usize,
    /// The node incarnation that opened it.
    pub inc: u32,
    /// The client's id for this attempt.
    pub conn: ConnId,
    /// The server epoch (boot count) it was opened against.
    pub epoch: u32,
    /// The client still holds its end.
    pub client_open: bool,
    /// The server accepted it and still holds its end.
    pub server_open: bool,
    pub severed: bool,
    up_at: Instant,
    down_at: Instant,
}

impl Link {
    /// The arrival time of a segment sent now with delay arriving at `at`:
    /// no earlier than the last one scheduled in the same direction.
    pub fn ordered(&mut self, dir: Dir, at: Instant) -> Instant {
        let last = match dir {
            Dir::Up => &mut self.up_at,
            Dir::Down => &mut self.down_at,
        };
        let t = at.max(*last);
        *last = t;
        t
    }

    /// Both ends usable and the path intact.
    pub fn is_live(&self) -> bool {
        self.client_open && self.server_open && !self.severed
    }
}

/// All links that at least one side still holds.
#[derive(Debug, Default)]
pub struct Links {
    map: BTreeMap<LinkId, Link>,
    by_client: BTreeMap<(usize, u32, ConnId), LinkId>,
    next: LinkId,
}

impl Links {
    /// A new link held by the client only; the server side opens on arrival.
    pub fn open(&mut self, node: usize, inc: u32, conn: ConnId, epoch: u32, now: Instant) -> LinkId {
        self.next += 1;
        let id = self.next;
        let link = Link {
            node,
            inc,
            conn,
            epoch,
            client_open: true,
            server_open: false,
            severed: false,
            up_at: now,
            down_at: now,
        };
        self.map.insert(id, link);
        self.by_client.insert((node, inc, conn), id);
        id
    }

    pub fn get(&self, id: LinkId) -> Option<&Link> {
        self.map.get(&id)
    }

    pub fn get_mut(&mut self, id: LinkId) -> Option<&mut Link> {
        self.map.get_mut(&id)
    }

    /// The link a client connection id names.
    pub fn find(&self, node: usize, inc: u32, conn: ConnId) -> Option<LinkId> {
        self.by_client.get(&(node, inc, conn)).copied()
    }

    /// Ids of links matching `f`, in id order.
    pub fn matching(&self, f: impl Fn(&Link) -> bool) -> Vec<LinkId> {
        self.map.iter().filter(|(_, l)| f(l)).map(|(id, _)| *id).collect()
    }

    /// The newest live link of `node`.
    pub fn live_of(&self, node: usize) -> Option<LinkId> {
        self.map.iter().rev().find(|(_, l)| l.node == node && l.is_live()).map(|(id, _)| *id)
    }

    /// Forgets a link once neither side holds it.
    pub fn retire_if_closed(&mut self, id: LinkId) {
        let Some(l) = self.map.get(&id) else { return };
        if !l.client_open && !l.server_open {
            self.by_client.remove(&(l.node, l.inc, l.conn));
            self.map.remove(&id);
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::at_secs;

    #[test]
    fn each_direction_keeps_send_order() {
        let mut links = Links::default();
        let id = links.open(0, 1, 1, 1, Instant::ZERO);
        let l = links.get_mut(id).unwrap();
        assert_eq!(l.ordered(Dir::Up, at_secs(5)), at_secs(5));
        assert_eq!(l.ordered(Dir::Up, at_secs(2)), at_secs(5), "a later segment never overtakes");
        assert_eq!(l.ordered(Dir::Down, at_secs(2)), at_secs(2), "directions are independent");
    }

    #[test]
    fn retired_once_both_sides_close() {
        let mut links = Links::default();
        let id = links.open(0, 1, 1, 1, Instant::ZERO);
        links.get_mut(id).unwrap().server_open = true;
        assert_eq!(links.live_of(0), Some(id));
        links.get_mut(id).unwrap().client_open = false;
        links.retire_if_closed(id);
        assert_eq!(links.len(), 1);
        links.get_mut(id).unwrap().server_open = false;
        links.retire_if_closed(id);
        assert!(links.is_empty());
        assert_eq!(links.find(0, 1, 1), None);
    }
}
