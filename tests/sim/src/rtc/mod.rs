//! The simulated WebRTC layer: str0m peers between nodes, RPC on top.
//!
//! Per node, an [`RtcNode`] holds one `RpcEndpoint` (calls out, dispatch
//! in, with dedup), one `RouteTable` (which session carries traffic to each
//! peer) and one [`RtcSession`] (an `RtcPeer` over str0m) per remote node.
//! Roles follow `actr_core::signaling::is_offerer`.
//!
//! - **Signaling.** Each peer's `RtcSignal`s travel as opaque payloads of
//!   `ClientRequest::Relay` through the node's signaling client and the
//!   simulated server ([`signal`] frames them), so they suffer whatever
//!   signaling suffers: loss turned into delay, reconnects, server crashes.
//! - **Datagrams.** UDP datagrams go through the seeded network model: loss,
//!   duplication, reordering and node-to-node partitions (`Sim::cut_path`).
//!   A path keeps datagrams in order except those the model holds back to
//!   reorder.
//! - **Time.** str0m's `std::time::Instant`s are virtual ([`mod@env`]).
//! - **RPC.** Envelopes from the endpoint go out as messages on the Rpc lane
//!   of the destination's current session; a send that cannot happen (no
//!   session yet, channel not open) is handed back to the endpoint as a
//!   transient failure, which retries the identical bytes with backoff.
//!   A request is answered by [`handler`] after a seeded run time.
//! - **Faults.** On top of the network, [`faults`] fails or makes ambiguous
//!   a call's first send and loses responses, to force retries.
//!
//! The world side (events, routing between nodes, call loads, the bulk
//! transfer) is in [`world`]; invariants are in [`check`].

pub mod check;
pub mod dtls;
pub mod env;
pub mod faults;
pub mod handler;
pub mod ledger;
mod node;
mod outbound;
mod pairing;
pub mod session;
pub mod setup;
pub mod signal;
pub mod transfer;
pub mod udp;
pub mod world;

use actr_core::Duration;

pub use faults::{FaultBook, FaultConfig, FaultStats, SendFate};
pub use handler::{ECHO, SINK, SinkState};
pub use ledger::{CallCounts, CallEntry, CallLedger, RtcCounters, RtcLog};
pub use node::{CallSpec, NodeCx, RtcNode, RtcOut};
pub use session::RtcSession;
pub use transfer::{TransferReport, TransferSpec};
pub use world::{CallLoad, RtcWorld};

/// How the WebRTC layer of every node behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtcSimConfig {
    /// From creating a peer until its RPC channel is open.
    pub connect_timeout: Duration,
    /// From losing connectivity until it must be back.
    pub recovery_timeout: Duration,
    /// A request's handler runs for a uniform draw in this range.
    pub handler_delay: (Duration, Duration),
    pub faults: FaultConfig,
    /// Network-change reports within this window settle into one recovery.
    pub network_settle: Duration,
    /// Least time between two connect requests to the same offerer.
    pub connect_request_every: Duration,
}

impl Default for RtcSimConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            recovery_timeout: Duration::from_secs(60),
            handler_delay: (Duration::from_millis(1), Duration::from_millis(20)),
            faults: FaultConfig::default(),
            network_settle: Duration::from_millis(400),
            connect_request_every: Duration::from_secs(1),
        }
    }
}
