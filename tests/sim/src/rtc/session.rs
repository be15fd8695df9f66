//! One WebRTC connection of one node: an [`RtcPeer`] the node's hub asked
//! for (`RtcOutput::Open`), on its own simulated port, and the translation
//! of its str0m events into the hub's `RtcReport`s, the same translation
//! the driver's connection task makes. Every decision (roles, recovery,
//! deadlines, which wire carries RPC) is the hub's.

use std::net::SocketAddr;

use actr_core::node::{RtcId, RtcReport};
use actr_core::transport::LaneKind;
use actr_core::{ActrError, ActrId, Instant};
use actr_driver::webrtc::{RtcEvent, RtcPeer, RtcPeerConfig, RtcPeerError};

use super::env::std_at;
use super::ledger::RtcCounters;

#[derive(Debug)]
pub struct RtcSession {
    id: RtcId,
    remote: ActrId,
    peer: RtcPeer,
    local: SocketAddr,
    began_at: Instant,
    /// Whether the RPC channel is open and ICE is not recovering.
    up: bool,
    recovering: bool,
}

impl RtcSession {
    pub fn new(
        (id, remote): (RtcId, ActrId),
        offerer: bool,
        config: RtcPeerConfig,
        local: SocketAddr,
        now: Instant,
    ) -> Result<Self, RtcPeerError> {
        super::dtls::install();
        let peer = match offerer {
            true => RtcPeer::offerer(config, local, std_at(now))?,
            false => RtcPeer::answerer(config, local, std_at(now))?,
        };
        Ok(Self { id, remote, peer, local, began_at: now, up: false, recovering: false })
    }

    pub fn id(&self) -> RtcId {
        self.id
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
        self.local
    }

    pub fn is_up(&self) -> bool {
        self.up
    }

    pub fn is_recovering(&self) -> bool {
        self.peer.is_recovering()
    }

    /// What one str0m event means for the hub, counting it on the way.
    pub fn translate(&mut self, event: RtcEvent, c: &mut RtcCounters) -> Option<RtcReport> {
        match event {
            RtcEvent::ChannelOpen(LaneKind::Rpc) if !self.up => {
                self.up = true;
                Some(RtcReport::RpcOpen)
            }
            RtcEvent::IceRestarted | RtcEvent::IceReconnected => {
                match event {
                    RtcEvent::IceRestarted => c.ice_restarted += 1,
                    _ => c.ice_reconnected += 1,
                }
                if self.peer.is_open(LaneKind::Rpc) && !self.up {
                    self.up = true;
                    return Some(RtcReport::Recovered);
                }
                None
            }
            RtcEvent::Message { lane: LaneKind::Rpc, bytes } => Some(RtcReport::Message(bytes)),
            RtcEvent::IceDisconnected => {
                c.ice_disconnected += 1;
                self.up = false;
                Some(RtcReport::ConnectivityLost)
            }
            RtcEvent::ChannelClosed(LaneKind::Rpc) => {
                self.up = false;
                Some(RtcReport::RpcClosed)
            }
            RtcEvent::Disconnected => {
                self.up = false;
                c.sessions_closed += 1;
                Some(RtcReport::Ended(ActrError::Unavailable("webrtc connection ended".into())))
            }
            _ => None,
        }
    }

    /// `Recovering` when ICE began a restart (started by either side) while up.
    pub fn recovery_edge(&mut self) -> Option<RtcReport> {
        if self.peer.is_recovering() == self.recovering {
            return None;
        }
        self.recovering = !self.recovering;
        if self.recovering && self.up {
            self.up = false;
            return Some(RtcReport::Recovering);
        }
        None
    }
}
