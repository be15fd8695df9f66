//! The hub's table of WebSocket direct links: each link's phase (connecting,
//! challenging or answering a challenge, waiting for a welcome, open), the peer it serves
//! once authenticated, its route-table session and its deadlines. Bounded:
//! open links in all, links per peer, handshakes in all and per source
//! address.

use core::net::IpAddr;
use std::collections::BTreeMap;

use crate::error::ActrError;
use crate::id::ActrId;
use crate::node::hello::LinkNonces;
use crate::node::output::LinkId;
use crate::time::{Duration, Instant};
use crate::transport::SessionId;

/// Where a link is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkPhase {
    /// Dialed: TCP and the WebSocket handshake are under way.
    Connecting,
    /// Dialed: the WebSocket is up, the listener's challenge is awaited.
    AwaitChallenge,
    /// Dialed: our hello is sent, the listener's welcome is awaited.
    AwaitWelcome,
    /// Accepted: the WebSocket handshake is under way.
    Accepting,
    /// Accepted: our challenge is sent, the dialer's hello is awaited.
    AwaitHello,
    /// Authenticated; carries RPC envelopes.
    Open,
}

#[derive(Debug)]
pub(crate) struct Link {
    pub phase: LinkPhase,
    /// The peer dialed, or once authenticated, the peer on the other side.
    pub peer: Option<ActrId>,
    pub session: Option<SessionId>,
    /// Source address of an accepted link.
    pub source: Option<IpAddr>,
    /// Handshake deadline before `Open`; idle deadline after.
    pub deadline: Instant,
    /// When the hub last sent on it (keepalives are sent when idle).
    pub last_sent: Instant,
    /// The nonces of the hello exchange, as far as it got.
    pub nonces: Option<LinkNonces>,
    /// The peer's proven credential says a manufacturer verified its type.
    pub verified: bool,
}

impl Link {
    pub fn is_handshaking(&self) -> bool {
        self.phase != LinkPhase::Open
    }
}

/// Bounds of the table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LinkLimits {
    pub max_links: usize,
    pub max_per_peer: usize,
    pub max_handshaking: usize,
    pub max_handshaking_per_source: usize,
}

#[derive(Debug)]
pub(crate) struct LinkTable {
    links: BTreeMap<LinkId, Link>,
    next: u64,
    limits: LinkLimits,
}

impl LinkTable {
    pub fn new(limits: LinkLimits) -> Self {
        Self { links: BTreeMap::new(), next: 1, limits }
    }

    pub fn get(&self, id: LinkId) -> Option<&Link> {
        self.links.get(&id)
    }

    pub fn get_mut(&mut self, id: LinkId) -> Option<&mut Link> {
        self.links.get_mut(&id)
    }

    pub fn remove(&mut self, id: LinkId) -> Option<Link> {
        self.links.remove(&id)
    }

    pub fn open_count(&self) -> usize {
        self.links.values().filter(|l| l.phase == LinkPhase::Open).count()
    }

    fn handshaking(&self) -> usize {
        self.links.values().filter(|l| l.is_handshaking()).count()
    }

    /// A new dialed link to `peer`, connecting until `deadline`.
    pub fn dial(&mut self, peer: &ActrId, now: Instant, deadline: Instant) -> Result<LinkId, ActrError> {
        self.check_room()?;
        if self.for_peer(peer).count() >= self.limits.max_per_peer {
            return Err(ActrError::ResourceExhausted(format!("{} links to {peer}", self.limits.max_per_peer)));
        }
        Ok(self.insert(Link {
            phase: LinkPhase::Connecting,
            peer: Some(peer.clone()),
            session: None,
            source: None,
            deadline,
            last_sent: now,
            nonces: None,
            verified: false,
        }))
    }

    /// A new accepted link from `source`, waiting for its hello until `deadline`.
    pub fn accept(&mut self, source: IpAddr, now: Instant, deadline: Instant) -> Result<LinkId, ActrError> {
        self.check_room()?;
        let from_source = self.links.values().filter(|l| l.is_handshaking() && l.source == Some(source)).count();
        if from_source >= self.limits.max_handshaking_per_source {
            return Err(ActrError::ResourceExhausted(format!("{from_source} handshakes from {source}")));
        }
        Ok(self.insert(Link {
            phase: LinkPhase::Accepting,
            peer: None,
            session: None,
            source: Some(source),
            deadline,
            last_sent: now,
            nonces: None,
            verified: false,
        }))
    }

    fn check_room(&self) -> Result<(), ActrError> {
        if self.links.len() >= self.limits.max_links + self.limits.max_handshaking {
            return Err(ActrError::ResourceExhausted(format!("{} links", self.links.len())));
        }
        if self.handshaking() >= self.limits.max_handshaking {
            return Err(ActrError::ResourceExhausted(format!("{} handshakes", self.limits.max_handshaking)));
        }
        Ok(())
    }

    /// Whether one more link may open (after its hello) to or from `peer`.
    pub fn may_open(&self, peer: &ActrId, except: LinkId) -> Result<(), ActrError> {
        if self.open_count() >= self.limits.max_links {
            return Err(ActrError::ResourceExhausted(format!("{} open links", self.limits.max_links)));
        }
        let to_peer = self.for_peer(peer).filter(|(id, l)| **id != except && l.phase == LinkPhase::Open).count();
        if to_peer >= self.limits.max_per_peer {
            return Err(ActrError::ResourceExhausted(format!("{to_peer} links to {peer}")));
        }
        Ok(())
    }

    fn insert(&mut self, link: Link) -> LinkId {
        let id = LinkId(self.next);
        self.next += 1;
        self.links.insert(id, link);
        id
    }

    fn for_peer<'a>(&'a self, peer: &'a ActrId) -> impl Iterator<Item = (&'a LinkId, &'a Link)> + 'a {
        self.links.iter().filter(move |(_, l)| l.peer.as_ref() == Some(peer))
    }

    /// The open link carrying `session` to `peer`.
    pub fn by_session(&self, peer: &ActrId, session: SessionId) -> Option<LinkId> {
        self.for_peer(peer).find(|(_, l)| l.session == Some(session)).map(|(id, _)| *id)
    }

    /// Whether `link` is open and serves `peer`.
    pub fn is_open_to(&self, link: LinkId, peer: &ActrId) -> bool {
        self.links.get(&link).is_some_and(|l| l.phase == LinkPhase::Open && l.peer.as_ref() == Some(peer))
    }

    /// Another open link to `peer` than `except`.
    pub fn other_open(&self, peer: &ActrId, except: LinkId) -> Option<LinkId> {
        self.for_peer(peer).find(|(id, l)| **id != except && l.phase == LinkPhase::Open).map(|(id, _)| *id)
    }

    /// The earliest deadline of any link.
    pub fn next_deadline(&self, keepalive: Duration) -> Option<Instant> {
        self.links
            .values()
            .map(|l| match l.phase {
                LinkPhase::Open => l.deadline.min(l.last_sent + keepalive),
                _ => l.deadline,
            })
            .min()
    }

    /// Links whose deadline passed, and open links due a keepalive.
    pub fn expired(&self, now: Instant, keepalive: Duration) -> (Vec<LinkId>, Vec<LinkId>) {
        let dead = self.links.iter().filter(|(_, l)| l.deadline <= now).map(|(id, _)| *id).collect();
        let idle = self
            .links
            .iter()
            .filter(|(_, l)| l.phase == LinkPhase::Open && l.deadline > now && l.last_sent + keepalive <= now)
            .map(|(id, _)| *id)
            .collect();
        (dead, idle)
    }

    pub fn ids(&self) -> Vec<LinkId> {
        self.links.keys().copied().collect()
    }

    /// Whether any link (any phase) serves `peer`.
    pub fn serves(&self, peer: &ActrId) -> bool {
        self.for_peer(peer).next().is_some()
    }
}
