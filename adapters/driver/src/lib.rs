//! actr-driver: runs actr-core's sans-IO machines on any async executor.
//!
//! An executor plugs in through the small [`Runtime`] trait (TCP, timers,
//! tasks, blocking work); actr-tokio and actr-smol implement it. On top of it
//! this crate provides:
//!
//! - [`ws`]: WebSocket framing with tungstenite over in-memory buffers, so the
//!   same framing runs on every executor;
//! - [`ais_http`]: the identity service's HTTP client (ureq, blocking, run on
//!   the runtime's blocking pool);
//! - [`SignalingNode`]: the run loop driving a `CredentialKeeper` and a
//!   `SignalingClient`, used through a cloneable [`SignalingHandle`].
//! - [`node`]: the node lifecycle and embedding API — [`Hyper`] → [`Node`]
//!   (`Init` → `Attached` → `Registered`) → [`ActrRef`] — running a native
//!   [`Workload`], with in-process, WebRTC and WebSocket-direct RPC.
//!
//! ```no_run
//! # async fn demo<R: actr_driver::Runtime>(rt: R, register: actr_core::ais::RegisterRequest) -> Result<(), actr_core::ActrError> {
//! use std::time::Duration;
//! use actr_driver::{NodeConfig, SignalingNode};
//!
//! let node = SignalingNode::start(rt, NodeConfig::new("http://127.0.0.1:7480", register))?;
//! let me = node.wait_connected(Duration::from_secs(10)).await?;
//! let peers = node.route_candidates(me.actr_type.clone(), 8).await?;
//! if let Some(peer) = peers.first() {
//!     node.relay(peer.actor.clone(), b"hello".to_vec()).await?;
//! }
//! node.shutdown().await;
//! # Ok(()) }
//! ```

pub mod ais_http;
mod connection;
pub mod endpoint;
mod handle;
pub mod node;
mod node_task;
pub mod runtime;
pub mod streams;
pub mod webrtc;
pub mod ws;
mod ws_pump;

pub use ais_http::AisHttpClient;
pub use bytes;
pub use endpoint::ServerEndpoint;
pub use handle::{NodeConfig, NodeEvent, NodeStats, SignalingHandle, SignalingNode};
pub use node::{
    ActrRef, Attached, Context, Hyper, HyperConfig, Init, NetworkEventHandle, Node, NodeState, Registered, Request,
    RpcStats, StreamWriter, Workload,
};
pub use runtime::{Runtime, Sleeper, run_blocking, with_deadline};
