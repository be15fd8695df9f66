//! actr-driver: runs actr-core's sans-IO machines on any async executor.
//!
//! An executor plugs in through the small [`Runtime`] trait (TCP, UDP,
//! timers, tasks, blocking work); actr-tokio and actr-smol implement it. On
//! top of it this crate offers one API: [`Hyper`] → [`Node`] (`Init` →
//! `Attached` → `Registered`) → [`ActrRef`], running a native [`Workload`]
//! with in-process, WebRTC and WebSocket-direct RPC.
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
//! - In-process: a call to an actor started by the same [`Hyper`] (and
//!   sharing it, see [`HyperConfig::share_process`]) runs that actor's handler on the
//!   caller's task with the caller's [`bytes::Bytes`]; nothing is encoded and
//!   the ACL does not apply. A tell is queued in the callee's mailbox as a
//!   plain request; its one worker task calls the handlers and runs them
//!   concurrently. Once the mailbox is backlogged, a tell yields once before
//!   it returns, so the worker gets to run.
//! - WebSocket direct: a node with [`HyperConfig::ws_listen`] accepts links and
//!   advertises `ws://host:port` through signaling; a caller finds it in the
//!   route candidates (or [`ActrRef::add_route`]) and dials. The dialer's first
//!   message is a hello carrying its id and AIS credential, verified with the
//!   AIS public key and the listener's clock; after a welcome, each message is
//!   one encoded `RpcEnvelope`. One `RpcEndpoint` per node does correlation,
//!   deadlines, retries of identical bytes, ACL and dedup. Each remote
//!   request's handler runs on the node's mailbox worker, never on the node task.
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
//! - Data streams: reliable chunks are calls with a reserved route key,
//!   [`STREAM_WINDOW`] of them in flight, queued at the receiver strictly by
//!   sequence (flow-controlled by the receiver's queue); latency-first chunks take WebRTC's stream
//!   lane. Media samples travel only on WebRTC's RTP tracks.
//!
//! # TLS to the server
//!
//! With an `https://` base address ([`HyperConfig::server`]) the AIS is
//! reached over HTTPS (ureq) and signaling over `wss://` (rustls'
//! sans-IO client driven over the [`Runtime`]'s TCP stream, so every
//! runtime gets it), both with the aws-lc-rs provider. The certificate is
//! checked for the URL's host against [`HyperConfig::tls_roots`]
//! ([`TlsRoots`]: Mozilla's roots unless set); one that does not verify is
//! `ActrError::Unauthenticated`. `http://` stays plain TCP. Direct
//! WebSocket links are plain `ws://`.
//!
//! # Observability
//!
//! Every call runs in an `actr.call` span on the caller and an `actr.handle`
//! span on the callee, both with a `trace_id` field; the W3C trace context
//! travels in the envelope, so the id is the same on both nodes. The spans
//! are made only while a subscriber takes `info` spans; otherwise a message
//! costs no span at all. The trace context is held as numbers and written
//! as `traceparent` text only on the wire.
//!
//! # Inside
//!
//! The source follows the data path. `node/` is the API above; a message
//! leaves through a gate (`gate/`: in-process, or remote to the node task);
//! the node task (`task/`, one per node) drives the core's `NodeHub`; the
//! socket and WebRTC tasks (`wire/`) pump bytes; what arrives for a handler
//! runs through `dispatch/`. `signaling/` starts a node's task and is, on
//! its own, a signaling-only node. See docs/architecture.md.
//!
//! # Feature `internals`
//!
//! Off by default. It makes public what tests, the simulator and the
//! benchmarks drive directly: the signaling-only node (`SignalingNode`,
//! `SignalingHandle`, `NodeConfig`, `NodeEvent`, `NodeStats`), the modules
//! `webrtc` (the str0m bridge), `ws_codec`, `ais_http` and `streams` (the
//! stream and media handler registries), and the test hook
//! `ActrRef::debug_cut_webrtc`. None of it is a stable API.

mod dispatch;
mod gate;
mod node;
mod runtime;
mod signaling;
mod task;
#[cfg(test)]
mod test_wakes;
mod trust;
mod wire;

pub use bytes;

pub use actr_core::package::{PackageError, PackageLimits, TrustProvider, TrustedBy, VerifiedPackage};
pub use actr_core::transport::{DataChunk, DeliveryPolicy};
pub use actr_wasm::{WasmError, WasmLimits};
pub use gate::in_process::MAX_LOCAL_NODES;
pub use node::{
    ActrRef, Attached, Context, DEFAULT_CALL_TIMEOUT, Hyper, HyperConfig, Init, KeySigner, ManufacturerSigner,
    NetworkEventHandle, Node, NodeState, PackageIdentity, Registered, Request, RpcStats, STREAM_CHUNK_BYTES,
    STREAM_WINDOW, StreamWriter, WasmActorStats, Workload,
};
pub use runtime::{Runtime, Sleeper, run_blocking, with_deadline};
pub use trust::{ChainTrust, MFR_HTTP_TIMEOUT, RegistryTrust, StaticTrust};
pub use wire::tls_roots::{MAX_TLS_ROOTS, TlsRoots};
pub use wire::webrtc::{MediaSample, MediaType};

#[cfg(feature = "internals")]
pub use dispatch::streams;
#[cfg(feature = "internals")]
pub use signaling::events::{NodeEvent, NodeStats};
#[cfg(feature = "internals")]
pub use signaling::handle::{NodeConfig, SignalingHandle, SignalingNode};
#[cfg(feature = "internals")]
pub use wire::ais_http::{self, AisHttpClient};
#[cfg(feature = "internals")]
pub use wire::{webrtc, ws_codec};
