//! The RPC loop's view of its links (WebSocket direct links and WebRTC
//! connections alike): open links by id, each bound to the route table's
//! current session for its peer, and dials in progress with the messages
//! waiting for them. A dial may wait on several attempts at once (a WebSocket
//! dial and a WebRTC connection); the first link up serves what waited, and
//! only when every attempt failed is it failed. Both tables are bounded.

use std::collections::{BTreeMap, VecDeque};

use actr_core::transport::{Outbound, SessionId};
use actr_core::{ActrError, ActrId};
use async_channel::Sender;

use crate::node::rpc_io::LinkId;

/// Messages waiting for one peer's link to come up.
pub(crate) const MAX_PARKED: usize = 1024;
/// Peers dialed at once.
pub(crate) const MAX_DIALS: usize = 256;

/// An open, authenticated link.
#[derive(Debug)]
pub(crate) struct Link {
    pub peer: ActrId,
    pub session: SessionId,
    /// The link writer's queue; dropping it closes the link.
    pub tx: Sender<Vec<u8>>,
}

#[derive(Debug)]
struct Dial {
    /// Attempts still under way; at most a handful.
    pending: Vec<LinkId>,
    parked: VecDeque<Outbound>,
}

#[derive(Debug, Default)]
pub(crate) struct LinkTable {
    links: BTreeMap<LinkId, Link>,
    dials: BTreeMap<ActrId, Dial>,
}

impl LinkTable {
    /// The link carrying `session` to `peer`.
    pub fn sender(&self, peer: &ActrId, session: SessionId) -> Option<(LinkId, Sender<Vec<u8>>)> {
        self.links.iter().find(|(_, l)| l.session == session && l.peer == *peer).map(|(id, l)| (*id, l.tx.clone()))
    }

    pub fn is_dialing(&self, peer: &ActrId) -> bool {
        self.dials.contains_key(peer)
    }

    /// Whether `link` is an attempt of the dial in progress to `peer`.
    pub fn is_dial(&self, peer: &ActrId, link: LinkId) -> bool {
        self.dials.get(peer).is_some_and(|d| d.pending.contains(&link))
    }

    /// Tracks attempt `link` of a dial to `peer`, joining a dial in progress;
    /// refuses a new dial beyond [`MAX_DIALS`].
    pub fn begin_dial(&mut self, peer: &ActrId, link: LinkId) -> Result<(), ActrError> {
        if let Some(dial) = self.dials.get_mut(peer) {
            if !dial.pending.contains(&link) {
                dial.pending.push(link);
            }
            return Ok(());
        }
        if self.dials.len() >= MAX_DIALS {
            return Err(ActrError::ResourceExhausted(format!("{MAX_DIALS} peers being dialed")));
        }
        self.dials.insert(peer.clone(), Dial { pending: vec![link], parked: VecDeque::new() });
        Ok(())
    }

    /// Attempt `link` to `peer` failed. When it was the last one, the dial
    /// ends and what waited is returned, to be failed; otherwise `None`.
    pub fn attempt_failed(&mut self, peer: &ActrId, link: LinkId) -> Option<VecDeque<Outbound>> {
        let dial = self.dials.get_mut(peer)?;
        let before = dial.pending.len();
        dial.pending.retain(|l| *l != link);
        if dial.pending.len() == before || !dial.pending.is_empty() {
            return None;
        }
        self.end_dial(peer).into()
    }

    /// Queues `out` behind its peer's dial; hands it back with the reason when
    /// no dial is in progress or [`MAX_PARKED`] messages already wait.
    pub fn park(&mut self, out: Outbound) -> Result<(), Box<(Outbound, ActrError)>> {
        let Some(dial) = self.dials.get_mut(&out.dest) else {
            return Err(Box::new((out, ActrError::Internal("no dial in progress".into()))));
        };
        if dial.parked.len() >= MAX_PARKED {
            let full = ActrError::ResourceExhausted(format!("{MAX_PARKED} messages wait for this peer"));
            return Err(Box::new((out, full)));
        }
        dial.parked.push_back(out);
        Ok(())
    }

    /// Ends the dial to `peer` and returns what waited for it.
    pub fn end_dial(&mut self, peer: &ActrId) -> VecDeque<Outbound> {
        self.dials.remove(peer).map(|d| d.parked).unwrap_or_default()
    }

    /// Whether link `id` is open.
    pub fn is_open(&self, id: LinkId) -> bool {
        self.links.contains_key(&id)
    }

    pub fn insert(&mut self, id: LinkId, link: Link) {
        self.links.insert(id, link);
    }

    pub fn remove(&mut self, id: LinkId) -> Option<Link> {
        self.links.remove(&id)
    }

    /// Another open link to `peer` of the same kind (WebRTC or not, as
    /// `webrtc` tells by id), to rebind to a new session.
    pub fn other_link(&mut self, peer: &ActrId, webrtc: impl Fn(LinkId) -> bool) -> Option<&mut Link> {
        self.links.iter_mut().find(|(id, l)| l.peer == *peer && !webrtc(**id)).map(|(_, l)| l)
    }

    /// Closes every link and forgets every dial.
    pub fn clear(&mut self) {
        self.links.clear();
        self.dials.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actr_core::transport::LaneKind;

    fn out(dest: &ActrId, request_id: u64) -> Outbound {
        Outbound { dest: dest.clone(), lane: LaneKind::Rpc, request_id, bytes: vec![1] }
    }

    #[test]
    fn parking_needs_a_dial_and_is_bounded() {
        let peer: ActrId = "1@1/acme:peer:1".parse().unwrap();
        let mut table = LinkTable::default();
        assert!(table.park(out(&peer, 1)).is_err(), "no dial in progress");
        let link = LinkId::next();
        table.begin_dial(&peer, link).unwrap();
        assert!(table.is_dial(&peer, link) && !table.is_dial(&peer, LinkId::next()));
        for id in 0..MAX_PARKED as u64 {
            table.park(out(&peer, id)).unwrap();
        }
        let refused = table.park(out(&peer, u64::MAX)).unwrap_err();
        assert_eq!(refused.0.request_id, u64::MAX, "the refused message is handed back");
        assert!(matches!(refused.1, ActrError::ResourceExhausted(_)));
        let parked = table.end_dial(&peer);
        assert_eq!(parked.len(), MAX_PARKED);
        assert_eq!(parked.front().map(|o| o.request_id), Some(0), "in order");
        assert!(!table.is_dialing(&peer));
    }

    #[test]
    fn a_dial_fails_only_when_every_attempt_failed() {
        let peer: ActrId = "1@1/acme:peer:1".parse().unwrap();
        let mut table = LinkTable::default();
        let (ws, rtc) = (LinkId::next(), LinkId::next());
        table.begin_dial(&peer, ws).unwrap();
        table.begin_dial(&peer, rtc).unwrap();
        table.park(out(&peer, 1)).unwrap();
        assert!(table.attempt_failed(&peer, ws).is_none(), "the WebRTC attempt still runs");
        assert!(table.attempt_failed(&peer, ws).is_none(), "a repeated report changes nothing");
        assert_eq!(table.attempt_failed(&peer, rtc).map(|p| p.len()), Some(1));
        assert!(!table.is_dialing(&peer));
    }

    #[test]
    fn links_are_found_by_session() {
        let peer: ActrId = "1@1/acme:peer:1".parse().unwrap();
        let (tx, _rx) = async_channel::bounded(1);
        let mut table = LinkTable::default();
        let id = LinkId::next();
        table.insert(id, Link { peer: peer.clone(), session: SessionId(4), tx });
        assert_eq!(table.sender(&peer, SessionId(4)).map(|(l, _)| l), Some(id));
        assert!(table.sender(&peer, SessionId(5)).is_none(), "a stale session finds nothing");
        assert!(table.other_link(&peer, |_| false).is_some());
        assert!(table.other_link(&peer, |l| l == id).is_none(), "a WebRTC link is not a direct one");
        assert!(table.remove(id).is_some());
        assert!(table.other_link(&peer, |_| false).is_none());
    }
}
