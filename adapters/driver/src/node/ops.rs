//! The object-safe face of a running node, shared by [`crate::ActrRef`],
//! [`crate::Context`] and the in-process registry, so none of them is
//! generic over the runtime.

use std::future::Ready;
use std::sync::Arc;
use std::time::Duration;

use actr_core::transport::TraceContext;
use actr_core::{ActrError, ActrId, ActrType, Dest};
use bytes::Bytes;
use futures::future::{BoxFuture, Either};

use crate::node::stats::RpcStats;
use crate::task::io::MediaOp;

/// A tell being handed over: finished already (in-process, or refused), or
/// on its way to the node task.
pub(crate) type Tell = Either<Ready<Result<(), ActrError>>, BoxFuture<'static, Result<(), ActrError>>>;

/// Who originates an outbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The embedding application, through `ActrRef`: refused once shutdown begins.
    App,
    /// The workload, through a `Context`: allowed until the node has stopped,
    /// so draining handlers and `on_stop` can still call out.
    Workload,
}

/// One outbound call or tell.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub origin: Origin,
    pub dest: Dest,
    pub route_key: String,
    pub payload: Bytes,
    pub timeout: Duration,
    /// The trace to continue; a new root trace when `None`.
    pub parent: Option<TraceContext>,
}

/// A request delivered in-process: nothing is encoded.
#[derive(Debug, Clone)]
pub(crate) struct LocalRequest {
    pub caller: Option<ActrId>,
    pub route_key: String,
    pub payload: Bytes,
    pub trace: TraceContext,
    pub tell: bool,
}

/// What a running node offers to handles, contexts and other local nodes.
pub(crate) trait NodeOps: Send + Sync + 'static {
    fn id(&self) -> &ActrId;
    fn ws_address(&self) -> Option<&str>;
    fn default_timeout(&self) -> Duration;
    /// Counters of the attached WASM actor; `None` for a linked workload.
    fn wasm_stats(&self) -> Option<crate::node::wasm::WasmActorStats>;
    fn is_shutting_down(&self) -> bool;

    fn call(self: Arc<Self>, out: Outgoing) -> BoxFuture<'static, Result<Bytes, ActrError>>;
    /// Done at once in-process; a boxed future when the node task takes it.
    fn tell(self: Arc<Self>, out: Outgoing) -> Tell;
    fn discover(self: Arc<Self>, ty: ActrType) -> BoxFuture<'static, Result<Vec<ActrId>, ActrError>>;
    /// Remembers a direct address for `peer` (from discovery or configuration).
    fn add_route(&self, peer: ActrId, ws_address: String) -> Result<(), ActrError>;

    /// Runs this node's workload for a request from the same process.
    fn deliver(self: Arc<Self>, req: LocalRequest) -> BoxFuture<'static, Result<Bytes, ActrError>>;
    /// Queues a tell from the same process in this node's mailbox. Errors:
    /// the admission refusal (`Unavailable`, `ResourceExhausted`).
    fn post(&self, req: LocalRequest) -> Result<(), ActrError>;

    fn stats(self: Arc<Self>) -> BoxFuture<'static, Result<RpcStats, ActrError>>;
    /// Runs the shutdown sequence; concurrent and later calls wait for the first.
    fn shutdown(self: Arc<Self>) -> BoxFuture<'static, ()>;
    /// Starts the shutdown in the background (the last `ActrRef` was dropped).
    fn shutdown_in_background(self: Arc<Self>);
    fn wait_stopped(&self) -> BoxFuture<'static, ()>;

    /// A media operation towards `dest` over WebRTC, within `limit`.
    fn media(self: Arc<Self>, dest: ActrId, op: MediaOp, limit: Duration) -> BoxFuture<'static, Result<(), ActrError>>;
    /// The handlers of inbound media; `None` when WebRTC is off.
    fn media_frames(&self) -> Option<crate::dispatch::streams::MediaFrameRegistry>;

    /// Sends a latency-first chunk on WebRTC's stream lane;
    /// `ConnectionNotReady` when WebRTC to `dest` is not up.
    fn stream_chunk(self: Arc<Self>, dest: ActrId, bytes: Vec<u8>) -> BoxFuture<'static, Result<(), ActrError>>;

    /// The handlers of inbound data streams.
    fn data_streams(&self) -> crate::dispatch::streams::DataStreamRegistry;

    /// Where the application reports network changes.
    fn network(&self) -> crate::node::network::NetworkEventHandle;
    /// Test hook: drop (or stop dropping) every WebRTC datagram of this node.
    #[cfg(feature = "internals")]
    fn cut_webrtc(&self, cut: bool);
}
