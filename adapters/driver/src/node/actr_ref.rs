//! [`ActrRef`]: the embedding application's handle to a started node.

use std::sync::Arc;
use std::time::Duration;

use actr_core::transport::{DataChunk, DeliveryPolicy};
use actr_core::{ActrError, ActrId, ActrType, Dest};
use bytes::Bytes;
use futures::future::BoxFuture;

use crate::node::data_stream::StreamWriter;
use crate::node::network::NetworkEventHandle;
use crate::node::ops::{NodeOps, Origin, Outgoing};
use crate::node::stats::RpcStats;
use crate::node::wasm::WasmActorStats;
use crate::task::io::MediaOp;
use crate::wire::webrtc::{MediaSample, MediaType};

/// A cloneable handle to a running actor.
///
/// Calls to an actor of the same `Hyper` go in-process; others go over the
/// node's wires. When the last clone is dropped the node shuts down in the
/// background, as if [`ActrRef::shutdown`] had been called.
#[derive(Clone)]
pub struct ActrRef {
    inner: Arc<LastRef>,
}

/// Shuts the node down when the last `ActrRef` goes away.
struct LastRef(Arc<dyn NodeOps>);

impl Drop for LastRef {
    fn drop(&mut self) {
        if !self.0.is_shutting_down() {
            self.0.clone().shutdown_in_background();
        }
    }
}

impl std::fmt::Debug for ActrRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActrRef").field("id", self.id()).field("shutting_down", &self.is_shutting_down()).finish()
    }
}

impl ActrRef {
    pub(crate) fn new(node: Arc<dyn NodeOps>) -> Self {
        Self { inner: Arc::new(LastRef(node)) }
    }

    fn node(&self) -> Arc<dyn NodeOps> {
        self.inner.0.clone()
    }

    /// This actor's identity.
    pub fn id(&self) -> &ActrId {
        self.inner.0.id()
    }

    /// The `ws://host:port` this node advertises, when it listens.
    pub fn ws_address(&self) -> Option<&str> {
        self.inner.0.ws_address()
    }

    /// Calls `dest` (an [`ActrId`], or [`Dest::Workload`] for this node's own
    /// workload) and waits at most `timeout`. The app is the caller: its own
    /// workload sees `caller == None`, other actors see this actor's id.
    ///
    /// Errors: the callee's error as is; `TimedOut` at the deadline;
    /// `Unavailable` once shutdown has begun; `InvalidArgument` for a zero timeout.
    pub async fn call(
        &self,
        dest: impl Into<Dest>,
        route_key: &str,
        payload: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<Bytes, ActrError> {
        self.node().call(self.outgoing(dest.into(), route_key, payload.into(), timeout)).await
    }

    /// Calls this node's own workload in-process with the default deadline;
    /// the handler sees `payload` itself, not a copy.
    pub async fn call_local(&self, route_key: &str, payload: impl Into<Bytes>) -> Result<Bytes, ActrError> {
        let timeout = self.inner.0.default_timeout();
        self.call(Dest::Workload, route_key, payload, timeout).await
    }

    /// Sends a one-way message: `Ok` once it is handed to the wire (or, in
    /// process, to the callee). No reply, not even on error.
    pub async fn tell(
        &self,
        dest: impl Into<Dest>,
        route_key: &str,
        payload: impl Into<Bytes>,
    ) -> Result<(), ActrError> {
        self.inner.0.tell(self.outgoing(dest.into(), route_key, payload.into(), Duration::ZERO)).await
    }

    /// Live actors of type `ty` this actor may reach, newest first; their
    /// direct addresses are remembered for later calls.
    pub async fn discover(&self, ty: &ActrType) -> Result<Vec<ActrId>, ActrError> {
        self.node().discover(ty.clone()).await
    }

    /// Remembers `ws_address` (`ws://host:port`) as the direct address of
    /// `peer`, e.g. from configuration, instead of asking signaling.
    pub fn add_route(&self, peer: ActrId, ws_address: impl Into<String>) -> Result<(), ActrError> {
        self.inner.0.add_route(peer, ws_address.into())
    }

    /// What the node's WASM actor did: guest turns, the time they took,
    /// instances rebuilt after a trap. `None` for a linked workload.
    pub fn wasm_stats(&self) -> Option<WasmActorStats> {
        self.inner.0.wasm_stats()
    }

    /// Counters of this node's messaging.
    pub async fn stats(&self) -> Result<RpcStats, ActrError> {
        self.node().stats().await
    }

    /// Shuts the node down and returns once it has stopped:
    ///
    /// 1. new calls through any `ActrRef` and new requests (in-process or
    ///    remote) are refused with `Unavailable`; the listener stops accepting;
    /// 2. requests in flight finish, for at most `drain_timeout`;
    /// 3. `on_stop` runs (it may still call out);
    /// 4. pending outbound calls fail with `Unavailable`, links close, and the
    ///    node says goodbye to signaling.
    ///
    /// Idempotent: later and concurrent calls wait for the first.
    pub async fn shutdown(&self) {
        self.node().shutdown().await;
    }

    /// Opens a data stream to `dest` (see [`StreamWriter`]); the receiver
    /// registers a handler for [`StreamWriter::stream_id`] first.
    pub fn open_stream(&self, dest: ActrId, policy: DeliveryPolicy) -> Result<StreamWriter, ActrError> {
        let node = self.node();
        if node.is_shutting_down() {
            return Err(ActrError::Unavailable(format!("{} is shut down", node.id())));
        }
        Ok(StreamWriter::new(node, Origin::App, dest, policy))
    }

    /// Delivers the chunks of stream `stream_id` to `handler`, in order, one
    /// at a time. Errors: `ResourceExhausted` when too many streams are
    /// registered, `Unavailable` after shutdown.
    pub fn register_stream_handler<F>(&self, stream_id: u64, handler: F) -> Result<(), ActrError>
    where
        F: Fn(DataChunk, ActrId) -> BoxFuture<'static, Result<(), ActrError>> + Send + Sync + 'static,
    {
        Ok(self.inner.0.data_streams().register(stream_id, DeliveryPolicy::Reliable, handler)?)
    }

    /// Negotiates a media track of `media_type` with `dest` over WebRTC
    /// (connecting first if needed); returns once samples can be sent.
    /// Only the offering side of a connection
    /// (`actr_core::signaling::is_offerer`) can add tracks; both sides can
    /// send on them. Errors: `NotImplemented` with WebRTC off,
    /// `InvalidArgument` on the answering side, `TimedOut` after the default
    /// call deadline.
    pub async fn add_media_track(&self, dest: ActrId, media_type: MediaType) -> Result<(), ActrError> {
        let limit = self.inner.0.default_timeout();
        self.node().media(dest, MediaOp::AddTrack(media_type), limit).await
    }

    /// Sends one media sample to `dest` on its negotiated track. Errors:
    /// `InvalidArgument` without a track of the sample's type (see
    /// [`ActrRef::add_media_track`]), `ConnectionNotReady` while WebRTC is not up.
    pub async fn send_media(&self, dest: ActrId, sample: MediaSample) -> Result<(), ActrError> {
        let limit = self.inner.0.default_timeout();
        self.node().media(dest, MediaOp::Sample(sample), limit).await
    }

    /// Delivers samples of `media_type` from any peer to `handler`, in
    /// arrival order. `NotImplemented` with WebRTC off.
    pub fn register_media_handler<F>(&self, media_type: MediaType, handler: F) -> Result<(), ActrError>
    where
        F: Fn(MediaSample, ActrId) -> BoxFuture<'static, Result<(), ActrError>> + Send + Sync + 'static,
    {
        let frames = self.inner.0.media_frames();
        let frames = frames.ok_or_else(|| ActrError::NotImplemented("media needs WebRTC, which is off".into()))?;
        Ok(frames.register(media_type, handler)?)
    }

    /// Where the application reports network changes (see [`NetworkEventHandle`]).
    pub fn network_events(&self) -> NetworkEventHandle {
        self.inner.0.network()
    }

    /// Test hook: while `cut`, every WebRTC datagram of this node is dropped
    /// in both directions, as a broken network path would. Feature `internals`.
    #[cfg(feature = "internals")]
    pub fn debug_cut_webrtc(&self, cut: bool) {
        self.inner.0.cut_webrtc(cut);
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.0.is_shutting_down()
    }

    /// Completes once the node has stopped (after a shutdown from any clone).
    pub async fn wait_for_stop(&self) {
        self.inner.0.wait_stopped().await;
    }

    fn outgoing(&self, dest: Dest, route_key: &str, payload: Bytes, timeout: Duration) -> Outgoing {
        Outgoing { origin: Origin::App, dest, route_key: route_key.to_owned(), payload, timeout, parent: None }
    }
}
