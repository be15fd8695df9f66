//! What a node task reports to its handles: [`NodeEvent`]s on the event
//! queue and [`NodeStats`] on request.

use actr_core::signaling::{DisconnectReason, SignalingStats};
use actr_core::{ActrError, ActrId};

/// What a node tells its application.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum NodeEvent {
    /// Welcomed by the server as `actor`.
    Connected {
        actor: ActrId,
    },
    Disconnected {
        reason: DisconnectReason,
    },
    Relay {
        source: ActrId,
        payload: Vec<u8>,
    },
    Presence {
        actor: ActrId,
        up: bool,
    },
    /// The identity service refused for good; the node cannot renew its credential.
    Failed(ActrError),
}

/// Counters of the core client and of the driver around it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeStats {
    pub signaling: SignalingStats,
    /// Events not delivered because the event queue was full.
    pub events_dropped: u64,
    pub ais_calls: u64,
    pub ais_failures: u64,
    /// Sockets closed because their outbound queue stayed full.
    pub connections_stalled: u64,
}
