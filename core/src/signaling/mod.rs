//! Signaling: how actors find and reach each other through `actr serve`.
//!
//! [`client::SignalingClient`] and [`server::SignalingServer`] are sans-IO
//! state machines over the messages in [`messages`]. See docs/protocol.md for
//! the flows.

pub mod client;
pub mod index;
pub mod limits;
pub mod messages;
pub mod server;

pub use client::{
    ClientConfig, ClientTransmit, ConnId, DisconnectReason, RequestId, SignalingClient, SignalingEvent, SignalingStats,
};
pub use limits::RateLimit;
pub use messages::{ActorProfile, Candidate, ClientBody, ClientMsg, ClientRequest, ServerMsg, ServerReply, is_offerer};
pub use server::{CloseReason, ServerConfig, ServerStats, SignalingServer};
