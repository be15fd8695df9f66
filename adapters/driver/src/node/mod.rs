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
//!   own workload, data streams ([`StreamWriter`]), media, network-change
//!   reports ([`NetworkEventHandle`]), shut down, wait for the stop.
//!
//! # Wires
//!
//! - In-process: a call to an actor started in the same process (and sharing
//!   it, see [`HyperConfig::share_process`]) runs that actor's handler on the
//!   caller's task with the caller's [`bytes::Bytes`]; nothing is encoded and
//!   the ACL does not apply. A tell is queued in the callee's mailbox, whose
//!   one worker task runs the handlers concurrently.
//! - WebSocket direct: a node with [`HyperConfig::ws_listen`] accepts links and
//!   advertises `ws://host:port` through signaling; a caller finds it in the
//!   route candidates (or [`ActrRef::add_route`]) and dials. The dialer's first
//!   message is a hello carrying its id and AIS credential, verified with the
//!   AIS public key and the listener's clock; after a welcome, each message is
//!   one encoded `RpcEnvelope`. One `RpcEndpoint` per node does correlation,
//!   deadlines, retries of identical bytes, ACL and dedup. The RPC loop polls
//!   each remote request's handler once and answers at once if it is done;
//!   a handler still pending goes on in its own task.
//! - WebRTC (on unless [`HyperConfig::webrtc`] is off), preferred for remote
//!   actors: one str0m connection per peer, on its own UDP socket bound to
//!   [`HyperConfig::webrtc_ip`] (its host candidate), negotiated through the
//!   signaling relay; the offerer is `actr_core::signaling::is_offerer`. RPC
//!   envelopes ride the reliable, ordered RPC data channel. The first message
//!   to a peer starts WebRTC and a WebSocket dial together; whichever is up
//!   first carries it, and WebRTC takes over once up. Setup is bounded by
//!   [`HyperConfig::webrtc_setup_timeout`]. When connectivity is lost (ICE
//!   reports it, or the app reports a network change through
//!   [`NetworkEventHandle`]) RPC moves to the direct link while the offerer
//!   restarts ICE (the answerer asks it to); after
//!   [`HyperConfig::webrtc_recovery_timeout`] the connection is given up and
//!   the next message starts a new one. Late reports of a replaced
//!   connection are ignored (each carries its task id; each time a
//!   connection comes up it gets a new route-table session).
//! - Data streams: reliable chunks are calls with a reserved route key
//!   (ordered, flow-controlled); latency-first chunks take WebRTC's stream
//!   lane. Media samples travel only on WebRTC's RTP tracks.
//!
//! # Observability
//!
//! Every call runs in an `actr.call` span on the caller and an `actr.handle`
//! span on the callee, both with a `trace_id` field; the W3C trace context
//! travels in the envelope, so the id is the same on both nodes.

mod actr_ref;
mod config;
mod context;
mod data_stream;
mod drain;
pub use actr_core::node::hello;
mod host_gate;
mod lifecycle;
pub(crate) mod link_pump;
mod mailbox;
mod network;
pub(crate) mod ops;
mod rpc_handle;
pub(crate) mod rpc_io;
pub(crate) mod rtc_link;
mod rtc_streams;
pub(crate) mod rtc_wire;
mod shared;
mod trace;
mod workload;
pub(crate) mod ws_link;

pub use actr_ref::ActrRef;
pub use config::{DEFAULT_CALL_TIMEOUT, Hyper, HyperConfig};
pub use context::Context;
pub use data_stream::{STREAM_CHUNK_BYTES, StreamWriter};
pub use host_gate::MAX_LOCAL_NODES;
pub use lifecycle::{Attached, Init, Node, NodeState, Registered};
pub use network::NetworkEventHandle;
pub use ops::RpcStats;
pub use workload::{Request, Workload};
