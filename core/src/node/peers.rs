//! The hub's per-peer state besides links: a dial in progress (the
//! WebSocket attempt and the WebRTC attempt racing, and the messages waiting
//! for whichever comes up first) and the WebRTC connection, if any.
//!
//! Bounded: messages waiting per peer (in count and bytes), copies of the
//! calls awaiting an answer on a connection (likewise, see
//! [`super::stall`]), peers dialed at once, WebRTC connections at once, and
//! connections a remote peer may start by unsolicited offers per window.

use std::collections::{BTreeMap, VecDeque};

use crate::error::ActrError;
use crate::id::ActrId;
use crate::node::output::{LinkId, RtcId};
use crate::node::stall::StallWatch;
use crate::signaling::RequestId;
use crate::time::{Duration, Instant};
use crate::transport::{Outbound, SessionId};

/// How the WebSocket side of a dial is getting on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WsAttempt {
    /// Asking signaling for the peer's direct address.
    Lookup(RequestId),
    Link(LinkId),
}

/// A dial in progress to one peer.
#[derive(Debug, Default)]
pub(crate) struct Dial {
    pub ws: Option<WsAttempt>,
    pub rtc: Option<RtcId>,
    parked: VecDeque<Outbound>,
    parked_bytes: usize,
}

impl Dial {
    pub fn is_over(&self) -> bool {
        self.ws.is_none() && self.rtc.is_none()
    }
}

/// One WebRTC connection to a peer.
#[derive(Debug)]
pub(crate) struct RtcConn {
    pub id: RtcId,
    pub offerer: bool,
    /// The route-table session while its RPC channel is open.
    pub session: Option<SessionId>,
    pub up: bool,
    pub ever_up: bool,
    /// The offerer's connection (high bits of its exchange ids) this answers.
    pub remote_epoch: Option<u64>,
    /// Setup deadline before the first `up`; recovery deadline while down after.
    pub deadline: Option<Instant>,
    /// While recovering: when to ask for the next ICE restart, and how many
    /// were asked for (a restart during an outage cannot complete, so it is
    /// repeated with backoff until connectivity is back or the deadline).
    pub next_restart: Option<(Instant, u32)>,
    /// When RPC last went out or came in on it (the least recently used is
    /// closed first when the table is full).
    pub last_used: Instant,
    /// The peer's proven credential says a manufacturer verified its type.
    pub verified: bool,
    /// Calls awaiting an answer on it, and whether it stalled.
    pub stall: StallWatch,
}

#[derive(Debug, Default)]
pub(crate) struct PeerState {
    pub dial: Option<Dial>,
    pub rtc: Option<RtcConn>,
}

impl PeerState {
    fn is_idle(&self) -> bool {
        self.dial.is_none() && self.rtc.is_none()
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerLimits {
    pub max_parked: usize,
    pub max_parked_bytes: usize,
    pub max_dials: usize,
    pub max_rtc: usize,
    pub offers_per_window: u32,
    pub offer_window: Duration,
}

#[derive(Debug)]
pub(crate) struct PeerTable {
    peers: BTreeMap<ActrId, PeerState>,
    /// After a WebRTC attempt to a peer failed: no new one before then.
    rtc_retry: BTreeMap<ActrId, Instant>,
    /// Connections each peer started by unsolicited offers in its current
    /// window. Kept apart from `peers`, whose entries go when a connection
    /// ends: an ended connection still counts.
    offers: BTreeMap<ActrId, (Instant, u32)>,
    rtc_index: BTreeMap<RtcId, ActrId>,
    next_rtc: u64,
    limits: PeerLimits,
}

impl PeerTable {
    pub fn new(limits: PeerLimits) -> Self {
        let (peers, offers, rtc_retry, rtc_index) =
            (BTreeMap::new(), BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
        Self { peers, offers, rtc_retry, rtc_index, next_rtc: 1, limits }
    }

    pub fn get(&self, peer: &ActrId) -> Option<&PeerState> {
        self.peers.get(peer)
    }

    pub fn get_mut(&mut self, peer: &ActrId) -> Option<&mut PeerState> {
        self.peers.get_mut(peer)
    }

    /// Drops `peer`'s state if nothing is left in it.
    pub fn tidy(&mut self, peer: &ActrId) {
        if self.peers.get(peer).is_some_and(|p| p.is_idle()) {
            self.peers.remove(peer);
        }
    }

    pub fn is_dialing(&self, peer: &ActrId) -> bool {
        self.peers.get(peer).is_some_and(|p| p.dial.is_some())
    }

    pub fn dial_mut(&mut self, peer: &ActrId) -> Option<&mut Dial> {
        self.peers.get_mut(peer).and_then(|p| p.dial.as_mut())
    }

    /// Starts a dial to `peer` (none may be in progress).
    pub fn begin_dial(&mut self, peer: &ActrId) -> Result<&mut Dial, ActrError> {
        let dials = self.peers.values().filter(|p| p.dial.is_some()).count();
        if dials >= self.limits.max_dials {
            return Err(ActrError::ResourceExhausted(format!("{dials} peers being dialed")));
        }
        let state = self.peers.entry(peer.clone()).or_default();
        Ok(state.dial.get_or_insert_with(Dial::default))
    }

    /// Parks `out` on the dial to its destination; a full dial hands it back.
    pub fn park(&mut self, out: Outbound) -> Result<(), Box<(Outbound, ActrError)>> {
        let limits = self.limits;
        let Some(dial) = self.dial_mut(&out.dest) else {
            let e = ActrError::Internal("no dial to wait on".into());
            return Err(Box::new((out, e)));
        };
        if dial.parked.len() >= limits.max_parked || dial.parked_bytes + out.bytes.len() > limits.max_parked_bytes {
            let e = ActrError::ResourceExhausted(format!(
                "{} messages ({} bytes) wait for a link to {}",
                dial.parked.len(),
                dial.parked_bytes,
                out.dest
            ));
            return Err(Box::new((out, e)));
        }
        dial.parked_bytes += out.bytes.len();
        dial.parked.push_back(out);
        Ok(())
    }

    /// Ends the dial to `peer`, returning what waited on it.
    pub fn end_dial(&mut self, peer: &ActrId) -> VecDeque<Outbound> {
        let parked = self.peers.get_mut(peer).and_then(|p| p.dial.take()).map(|d| d.parked).unwrap_or_default();
        self.tidy(peer);
        parked
    }

    /// A WebRTC attempt to `peer` failed: hold off new ones until `until`.
    pub fn hold_rtc(&mut self, peer: &ActrId, now: Instant, until: Instant) {
        self.rtc_retry.retain(|_, at| *at > now);
        if self.rtc_retry.len() < self.limits.max_dials {
            self.rtc_retry.insert(peer.clone(), until);
        }
    }

    /// Whether a new WebRTC attempt to `peer` may start now.
    pub fn rtc_allowed(&self, peer: &ActrId, now: Instant) -> bool {
        self.rtc_retry.get(peer).is_none_or(|at| *at <= now)
    }

    /// The peer of the least recently used connection no dial waits on.
    pub fn least_used_rtc(&self) -> Option<ActrId> {
        let idle = self.peers.iter().filter(|(_, p)| p.dial.is_none());
        idle.filter_map(|(id, p)| p.rtc.as_ref().map(|c| (c.last_used, id))).min().map(|(_, id)| id.clone())
    }

    /// Whether another WebRTC connection may start.
    pub fn rtc_room(&self) -> Result<(), ActrError> {
        match self.rtc_index.len() >= self.limits.max_rtc {
            true => Err(ActrError::ResourceExhausted(format!("{} webrtc connections", self.limits.max_rtc))),
            false => Ok(()),
        }
    }

    /// Counts one connection started by `peer`'s unsolicited offer; `false`
    /// when the peer has used up its window.
    pub fn admit_offer(&mut self, peer: &ActrId, now: Instant) -> bool {
        let limits = self.limits;
        // Windows that are over are forgotten, which bounds the map.
        self.offers.retain(|_, (start, _)| now.saturating_since(*start) < limits.offer_window);
        let (_, count) = self.offers.entry(peer.clone()).or_insert((now, 0));
        if *count >= limits.offers_per_window {
            return false;
        }
        *count += 1;
        true
    }

    /// Records a new connection to `peer` (replacing none: remove first).
    pub fn insert_rtc(&mut self, peer: &ActrId, offerer: bool, (now, deadline): (Instant, Instant)) -> RtcId {
        let id = RtcId(self.next_rtc);
        self.next_rtc += 1;
        self.rtc_index.insert(id, peer.clone());
        let conn = RtcConn {
            id,
            offerer,
            session: None,
            up: false,
            ever_up: false,
            remote_epoch: None,
            deadline: Some(deadline),
            next_restart: None,
            last_used: now,
            verified: false,
            stall: StallWatch::default(),
        };
        self.peers.entry(peer.clone()).or_default().rtc = Some(conn);
        id
    }

    /// The peer and connection `rtc` names, if it is still current.
    pub fn rtc_mut(&mut self, rtc: RtcId) -> Option<(ActrId, &mut RtcConn)> {
        let peer = self.rtc_index.get(&rtc)?.clone();
        let conn = self.peers.get_mut(&peer)?.rtc.as_mut().filter(|c| c.id == rtc)?;
        Some((peer, conn))
    }

    pub fn rtc_of(&self, peer: &ActrId) -> Option<&RtcConn> {
        self.peers.get(peer).and_then(|p| p.rtc.as_ref())
    }

    /// Forgets `peer`'s connection.
    pub fn remove_rtc(&mut self, peer: &ActrId) -> Option<RtcConn> {
        let conn = self.peers.get_mut(peer)?.rtc.take()?;
        self.rtc_index.remove(&conn.id);
        Some(conn)
    }

    pub fn rtc_ids(&self) -> Vec<RtcId> {
        self.rtc_index.keys().copied().collect()
    }

    pub fn peers(&self) -> Vec<ActrId> {
        self.peers.keys().cloned().collect()
    }

    /// The earliest WebRTC setup, recovery or stall deadline, or restart due.
    pub fn next_deadline(&self) -> Option<Instant> {
        let conns = self.peers.values().filter_map(|p| p.rtc.as_ref());
        conns.flat_map(|c| [c.deadline, c.next_restart.map(|(at, _)| at), c.stall.due()]).flatten().min()
    }

    /// Connections whose calls have waited for a sign of life too long.
    pub fn stalls_due(&self, now: Instant) -> Vec<RtcId> {
        let conns = self.peers.values().filter_map(|p| p.rtc.as_ref());
        conns.filter(|c| c.stall.due().is_some_and(|at| at <= now)).map(|c| c.id).collect()
    }

    /// Connections due another ICE restart.
    pub fn restarts_due(&self, now: Instant) -> Vec<RtcId> {
        let conns = self.peers.values().filter_map(|p| p.rtc.as_ref());
        conns.filter(|c| c.next_restart.is_some_and(|(at, _)| at <= now)).map(|c| c.id).collect()
    }

    /// Connections whose setup or recovery deadline has passed.
    pub fn expired(&self, now: Instant) -> Vec<RtcId> {
        self.peers
            .values()
            .filter_map(|p| p.rtc.as_ref())
            .filter(|c| c.deadline.is_some_and(|d| d <= now))
            .map(|c| c.id)
            .collect()
    }
}
