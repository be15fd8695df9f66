//! One WebRTC session with one remote node: an [`RtcPeer`] plus the
//! identifiers that protect it from stale input, and its ICE recovery.
//!
//! - `id` is this node's [`SessionId`] from its `RouteTable`; events carry it,
//!   so the table can tell a superseded session's events from the current
//!   one's.
//! - `conn` is the id both sides tag the session's signals with (the
//!   offerer's `SessionId`; see [`super::signal`]).
//! - **Recovery.** After `IceDisconnected` the offerer restarts ICE and the
//!   answerer asks it to; both repeat at 1, 2, 4, 5, 5 … s until
//!   connectivity is back (`IceRestarted` / `IceReconnected`) or the peer's
//!   recovery timeout ends the session (`Disconnected`).

use std::net::SocketAddr;

use actr_core::transport::SessionId;
use actr_core::{ActrId, Duration, Instant};
use actr_driver::webrtc::{RtcEvent, RtcPeer, RtcPeerConfig, RtcPeerError, RtcSignal};

use super::env::{core_at, std_at};

/// Delays between recovery attempts; the last repeats.
const RECOVERY_BACKOFF_SECS: [u64; 4] = [1, 2, 4, 5];

#[derive(Debug, Clone, Copy)]
struct Recovery {
    attempts: u32,
    next_at: Instant,
}

/// One peer connection and its bookkeeping.
#[derive(Debug)]
pub struct RtcSession {
    id: SessionId,
    conn: u64,
    remote: ActrId,
    peer: RtcPeer,
    began_at: Instant,
    recovery: Option<Recovery>,
}

impl RtcSession {
    /// Creates the peer: an offerer builds its first offer on the next drain.
    pub fn new(
        offerer: bool,
        (id, conn): (SessionId, u64),
        remote: ActrId,
        config: RtcPeerConfig,
        local: SocketAddr,
        now: Instant,
    ) -> Result<Self, RtcPeerError> {
        super::dtls::install();
        let peer = if offerer {
            RtcPeer::offerer(config, local, std_at(now))?
        } else {
            RtcPeer::answerer(config, local, std_at(now))?
        };
        Ok(Self { id, conn, remote, peer, began_at: now, recovery: None })
    }

    pub fn id(&self) -> SessionId {
        self.id
    }

    pub fn conn(&self) -> u64 {
        self.conn
    }

    pub fn remote(&self) -> &ActrId {
        &self.remote
    }

    pub fn began_at(&self) -> Instant {
        self.began_at
    }

    pub fn peer(&self) -> &RtcPeer {
        &self.peer
    }

    pub fn peer_mut(&mut self) -> &mut RtcPeer {
        &mut self.peer
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.peer.local_addr()
    }

    pub fn is_recovering(&self) -> bool {
        self.recovery.is_some()
    }

    /// When [`RtcSession::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Instant {
        let peer = core_at(self.peer.poll_timeout());
        self.recovery.map_or(peer, |r| peer.min(r.next_at))
    }

    /// Advances the peer and repeats a due recovery attempt. Returns whether
    /// a recovery attempt was made.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<bool, RtcPeerError> {
        let peer_due = core_at(self.peer.poll_timeout()) <= now;
        if peer_due {
            self.peer.handle_timeout(std_at(now))?;
        }
        match self.recovery {
            Some(r) if r.next_at <= now && !self.peer.is_closed() => self.recover(now).map(|()| true),
            _ => Ok(false),
        }
    }

    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        to: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), RtcPeerError> {
        self.peer.handle_datagram(std_at(now), from, to, bytes)
    }

    pub fn handle_signal(&mut self, now: Instant, signal: RtcSignal) -> Result<(), RtcPeerError> {
        self.peer.handle_signal(std_at(now), signal)
    }

    /// Connectivity is gone (an ICE event) or suspect (the application
    /// reported a network change, `force`): start recovering now. Without
    /// `force`, a recovery under way carries on. A session that never
    /// connected has nothing to recover (its setup deadline covers it).
    pub fn begin_recovery(&mut self, now: Instant, force: bool) -> Result<(), RtcPeerError> {
        if !self.peer.is_connected() || (self.recovery.is_some() && !force) {
            return Ok(());
        }
        self.recovery = Some(Recovery { attempts: 0, next_at: now });
        self.recover(now)
    }

    /// Connectivity is back: stop recovering.
    pub fn recovered(&mut self) {
        self.recovery = None;
    }

    /// The event ends recovery if it reports connectivity back.
    pub fn note_event(&mut self, event: &RtcEvent) {
        if matches!(event, RtcEvent::IceRestarted | RtcEvent::IceReconnected | RtcEvent::Disconnected) {
            self.recovered();
        }
    }

    /// One attempt: the offerer restarts ICE, the answerer asks for it.
    fn recover(&mut self, now: Instant) -> Result<(), RtcPeerError> {
        let Some(r) = self.recovery.as_mut() else { return Ok(()) };
        let step = RECOVERY_BACKOFF_SECS[(r.attempts as usize).min(RECOVERY_BACKOFF_SECS.len() - 1)];
        r.attempts += 1;
        r.next_at = now + Duration::from_secs(step);
        self.peer.request_ice_restart()
    }
}
