//! Nodes: the lifecycle and embedding API.
//!
//! ```text
//! Hyper::new(rt, HyperConfig) ─ node() ─▶ Node<Init> ─ link(workload) ─▶ Node<Attached>
//!   ─ register() ─▶ Node<Registered> ─ start() ─▶ ActrRef ─ shutdown() ─▶ stopped
//! ```
//!
//! - [`Workload`]: native actor code with async handlers and lifecycle hooks
//!   (the hook order is documented there and on [`Node::start`]).
//! - [`Context`]: what a handler may do: call, tell and discover other actors.
//! - [`ActrRef`]: the application's handle: call, tell, discover, call its
//!   own workload, shut down, wait for the stop.
//!
//! # Wires
//!
//! - In-process: a call to an actor started in the same process (and sharing
//!   it, see [`HyperConfig::share_process`]) runs that actor's handler on the
//!   caller's task with the caller's [`bytes::Bytes`]; nothing is encoded and
//!   the ACL does not apply. A tell is spawned.
//! - WebSocket direct: a node with [`HyperConfig::ws_listen`] accepts links and
//!   advertises `ws://host:port` through signaling; a caller finds it in the
//!   route candidates (or [`ActrRef::add_route`]) and dials. The dialer's first
//!   message is a hello carrying its id and AIS credential, verified with the
//!   AIS public key and the listener's clock; after a welcome, each message is
//!   one encoded `RpcEnvelope`. One `RpcEndpoint` per node does correlation,
//!   deadlines, retries of identical bytes, ACL and dedup.
//!
//! # Observability
//!
//! Every call runs in an `actr.call` span on the caller and an `actr.handle`
//! span on the callee, both with a `trace_id` field; the W3C trace context
//! travels in the envelope, so the id is the same on both nodes.

mod actr_ref;
mod config;
mod context;
mod direct;
mod drain;
pub mod hello;
mod host_gate;
mod lifecycle;
mod links;
mod ops;
mod rpc_handle;
mod rpc_io;
mod rpc_loop;
mod shared;
mod trace;
mod workload;
mod ws_link;

pub use actr_ref::ActrRef;
pub use config::{DEFAULT_CALL_TIMEOUT, Hyper, HyperConfig};
pub use context::Context;
pub use direct::{MAX_HANDSHAKING, MAX_LINKS};
pub use host_gate::MAX_LOCAL_NODES;
pub use lifecycle::{Attached, Init, Node, NodeState, Registered};
pub use ops::RpcStats;
pub use workload::{Request, Workload};
