//! The simulated WebRTC layer: str0m peers between nodes, driven by each
//! node's shipped hub.
//!
//! Per node, an [`RtcNode`] runs what the driver's connection tasks and
//! workload run in a real process: one [`RtcSession`] (an `RtcPeer` over
//! str0m) per connection the hub opens, reporting str0m's events back to
//! the hub, and a [`handler`] that answers the hub's deliveries after a
//! seeded run time. Who offers, when to restart ICE, which connection
//! carries RPC, which events are stale: all of that is the hub's.
//!
//! - **Signaling.** The hub relays its `RtcSignal`s through its signaling
//!   client and the simulated server, so they suffer whatever signaling
//!   suffers: loss turned into delay, reconnects, server crashes.
//! - **Datagrams.** UDP datagrams go through the seeded network model: loss,
//!   duplication, reordering, node-to-node partitions (`Sim::cut_path`)
//!   and stalls that drop DTLS but not STUN (`Sim::stall_path`).
//! - **Time.** str0m's `std::time::Instant`s are virtual ([`mod@env`]).
//! - **Faults.** On top of the network, [`faults`] fails or makes ambiguous
//!   a call's first send and loses responses, where a real send can fail:
//!   on the way to the data channel; a send that fails goes back to the hub
//!   (`RtcReport::SendFailed`), whose endpoint retries it.
//!
//! The world side (events, routing between nodes, call loads, the bulk
//! transfer) is in [`world`]; invariants are in [`check`].

pub mod check;
pub mod direct;
pub mod dtls;
pub mod env;
pub mod faults;
pub mod handler;
pub mod ledger;
mod node;
pub mod session;
pub mod setup;
pub mod transfer;
pub mod udp;
pub mod world;

use actr_core::Duration;

pub use faults::{FaultBook, FaultConfig, FaultStats, SendFate};
pub use handler::{ECHO, SINK, SinkState};
pub use ledger::{CallCounts, CallEntry, CallLedger, RtcCounters, RtcLog};
pub use node::{CallSpec, ForHub, NodeCx, RtcNode};
pub use session::RtcSession;
pub use transfer::{TransferReport, TransferSpec};
pub use world::{CallLoad, RtcWorld};

/// How the WebRTC layer of every node behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtcSimConfig {
    /// From creating a peer until its RPC channel is open (the hub's setup
    /// deadline and the str0m peer's).
    pub connect_timeout: Duration,
    /// From losing connectivity until it must be back.
    pub recovery_timeout: Duration,
    /// A request's handler runs for a uniform draw in this range.
    pub handler_delay: (Duration, Duration),
    pub faults: FaultConfig,
    /// Network-change reports within this window settle into one recovery.
    pub network_settle: Duration,
    /// Nodes advertise a direct WebSocket address and dial each other's
    /// ([`direct`]); the hubs then race a direct link against WebRTC.
    pub direct: bool,
    /// Shrinks each hub's route table and WebRTC connection table to this
    /// many peers (4,096 and 256 by default), so a run can talk to more
    /// peers than the tables hold.
    pub max_peers: Option<usize>,
}

impl Default for RtcSimConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            recovery_timeout: Duration::from_secs(60),
            handler_delay: (Duration::from_millis(1), Duration::from_millis(20)),
            faults: FaultConfig::default(),
            network_settle: Duration::from_millis(400),
            direct: false,
            max_peers: None,
        }
    }
}
