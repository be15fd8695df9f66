//! The object-safe face of a running node, shared by [`crate::ActrRef`],
//! [`crate::Context`] and the in-process registry, so none of them is
//! generic over the runtime.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use actr_core::transport::TraceContext;
use actr_core::{ActrError, ActrId, ActrType, Dest};
use bytes::Bytes;
use futures::future::{BoxFuture, Either};

use crate::dispatch::mailbox::Posted;
use crate::node::stats::RpcStats;
use crate::node::workload::Request;
use crate::task::io::MediaOp;

/// A tell being handed over: in-process (or refused), or on its way to the
/// node task.
pub(crate) type Tell = Either<Handed, BoxFuture<'static, Result<(), ActrError>>>;

/// A tell handed over in-process, or refused: ready at once, or on its
/// second poll when the callee's mailbox is backlogged, so that the sender
/// yields to the callee's worker (see [`crate::dispatch::mailbox`]).
#[derive(Debug)]
pub(crate) struct Handed {
    result: Option<Result<(), ActrError>>,
    yield_first: bool,
}

impl Handed {
    pub fn now(result: Result<(), ActrError>) -> Self {
        Self { result: Some(result), yield_first: false }
    }

    pub fn after_yield(result: Result<(), ActrError>) -> Self {
        Self { result: Some(result), yield_first: true }
    }
}

impl Future for Handed {
    type Output = Result<(), ActrError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if std::mem::take(&mut self.yield_first) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(self.result.take().expect("a tell is polled until it is ready, not after"))
    }
}

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
    fn tell(&self, out: Outgoing) -> Tell;
    fn discover(self: Arc<Self>, ty: ActrType) -> BoxFuture<'static, Result<Vec<ActrId>, ActrError>>;
    /// Remembers a direct address for `peer` (from discovery or configuration).
    fn add_route(&self, peer: ActrId, ws_address: String) -> Result<(), ActrError>;

    /// Runs this node's workload for a request from the same process
    /// (nothing is encoded).
    fn deliver(self: Arc<Self>, req: Request) -> BoxFuture<'static, Result<Bytes, ActrError>>;
    /// Queues a tell from the same process in this node's mailbox, and says
    /// whether the mailbox is backlogged. Errors: the admission refusal
    /// (`Unavailable`, `ResourceExhausted`).
    fn post(&self, req: Request) -> Result<Posted, ActrError>;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_wakes::Wakes;

    #[test]
    fn a_backlogged_tell_yields_once_then_reports() {
        let (wakes, waker) = Wakes::waker();
        let mut cx = Context::from_waker(&waker);
        let mut now = Handed::now(Ok(()));
        assert_eq!(Pin::new(&mut now).poll(&mut cx), Poll::Ready(Ok(())));
        let mut later = Handed::after_yield(Err(ActrError::TimedOut));
        assert!(Pin::new(&mut later).poll(&mut cx).is_pending());
        assert_eq!(wakes.count(), 1, "it asks to be polled again at once");
        assert_eq!(Pin::new(&mut later).poll(&mut cx), Poll::Ready(Err(ActrError::TimedOut)));
        assert_eq!(wakes.count(), 1);
    }
}
