//! actr-cli: the `actr` command and the servers it hosts.
//!
//! [`demo`] runs `actr demo`: an embedded server and three nodes that call,
//! tell, stream and send media to each other in-process, over WebSocket direct
//! and over WebRTC, measured.
//!
//! [`pkg`] runs `actr keygen`, `pack`, `inspect`, `verify` and `mfr`: signed
//! `.actr` packages.
//!
//! [`serve`] hosts actr-core's sans-IO [`SignalingServer`] and [`AisService`]
//! over real sockets: HTTP and WebSocket on one address (hyper and axum behind
//! an accept loop that caps connections and bounds the request head), state in
//! SQLite. Tests and benchmarks start it in-process with
//! [`serve::ServeHandle::start`]; the binary runs it with [`serve::run`].
//!
//! [`SignalingServer`]: actr_core::signaling::SignalingServer
//! [`AisService`]: actr_core::ais::AisService

pub mod demo;
pub mod host;
pub mod pkg;
pub mod serve;
