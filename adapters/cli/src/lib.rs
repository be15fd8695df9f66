//! actr-cli: the `actr` command and the servers it hosts.
//!
//! [`demo`] runs `actr demo`: an embedded server and three nodes that call,
//! tell, stream and send media to each other in-process, over WebSocket direct
//! and over WebRTC, measured.
//!
//! [`pkg`] runs `actr keygen`, `pack`, `inspect`, `verify` and `mfr`: signed
//! `.actr` packages.
//!
//! [`serve`] hosts actr-core's sans-IO [`ServerHub`] (the signaling server
//! and the AIS, the hub the simulator drives) over real sockets: HTTP and
//! WebSocket on one address (hyper and axum behind an accept loop that caps
//! connections and bounds the request head), state in SQLite. Tests and
//! benchmarks start it in-process with [`serve::ServeHandle::start`]; the
//! binary runs it with [`serve::run`].
//!
//! [`ServerHub`]: actr_core::server::ServerHub

pub mod demo;
pub mod host;
pub mod pkg;
pub mod serve;
