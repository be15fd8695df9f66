//! [`Context`]: what a handler or hook may do — call, tell and discover
//! other actors — on behalf of the actor it runs in.

use std::sync::{Arc, Weak};
use std::time::Duration;

use actr_core::transport::{DataChunk, DeliveryPolicy, TraceContext, TraceId};
use actr_core::{ActrError, ActrId, ActrType, Dest};
use bytes::Bytes;
use futures::future::BoxFuture;

use crate::node::data_stream::StreamWriter;
use crate::node::ops::{NodeOps, Origin, Outgoing};
use crate::task::io::MediaOp;
use crate::wire::webrtc::{MediaSample, MediaType};

/// The invocation context of one handler or hook.
///
/// Calls made through it continue the current trace, so every hop of a call
/// chain shares one trace id. It holds its node weakly: once the node has
/// stopped, calls fail with `Unavailable`.
#[derive(Clone)]
pub struct Context {
    home: Arc<Home>,
    caller: Option<ActrId>,
    trace: TraceContext,
}

/// The node a context acts for, shared by all its contexts (one is made per
/// request: one reference count, not a copy of the id's strings).
pub(crate) struct Home {
    node: Weak<dyn NodeOps>,
    id: ActrId,
}

impl Home {
    pub fn new(node: Weak<dyn NodeOps>, id: ActrId) -> Arc<Self> {
        Arc::new(Self { node, id })
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("self_id", &self.home.id)
            .field("caller", &self.caller)
            .field("trace", &self.trace)
            .finish()
    }
}

impl Context {
    pub(crate) fn new(home: Arc<Home>, caller: Option<ActrId>, trace: TraceContext) -> Self {
        Self { home, caller, trace }
    }

    /// The actor this code runs as.
    pub fn self_id(&self) -> &ActrId {
        &self.home.id
    }

    /// Who sent the request being handled; `None` for the embedding
    /// application and for lifecycle hooks.
    pub fn caller(&self) -> Option<&ActrId> {
        self.caller.as_ref()
    }

    /// The trace this invocation belongs to.
    pub fn trace(&self) -> &TraceContext {
        &self.trace
    }

    /// The trace id shared by the whole call chain (displays as 32 hex digits).
    pub fn trace_id(&self) -> TraceId {
        self.trace.trace_id()
    }

    /// The node's default call deadline.
    pub fn default_timeout(&self) -> Duration {
        self.home.node.upgrade().map(|n| n.default_timeout()).unwrap_or_default()
    }

    /// Calls `dest` and waits at most `timeout` for the reply. An actor of the
    /// same `Hyper` is called in-process, without copying `payload`.
    pub async fn call(
        &self,
        dest: impl Into<Dest>,
        route_key: &str,
        payload: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<Bytes, ActrError> {
        let out = self.outgoing(dest.into(), route_key, payload.into(), timeout);
        self.node()?.call(out).await
    }

    /// Sends a one-way message; `Ok` once it is handed to the wire (or to the
    /// local actor). No reply, not even on error.
    pub async fn tell(
        &self,
        dest: impl Into<Dest>,
        route_key: &str,
        payload: impl Into<Bytes>,
    ) -> Result<(), ActrError> {
        let out = self.outgoing(dest.into(), route_key, payload.into(), Duration::ZERO);
        self.node()?.tell(out).await
    }

    /// Live actors of type `ty` this actor may reach, newest first.
    pub async fn discover(&self, ty: &ActrType) -> Result<Vec<ActrId>, ActrError> {
        self.node()?.discover(ty.clone()).await
    }

    /// Opens a data stream to `dest` from this actor (see [`StreamWriter`]).
    pub fn open_stream(&self, dest: ActrId, policy: DeliveryPolicy) -> Result<StreamWriter, ActrError> {
        Ok(StreamWriter::new(self.node()?, Origin::Workload, dest, policy))
    }

    /// Delivers the chunks of stream `stream_id` to `handler` (as
    /// [`crate::ActrRef::register_stream_handler`]).
    pub fn register_stream_handler<F>(&self, stream_id: u64, handler: F) -> Result<(), ActrError>
    where
        F: Fn(DataChunk, ActrId) -> BoxFuture<'static, Result<(), ActrError>> + Send + Sync + 'static,
    {
        Ok(self.node()?.data_streams().register(stream_id, DeliveryPolicy::Reliable, handler)?)
    }

    /// As [`crate::ActrRef::add_media_track`], from this actor.
    pub async fn add_media_track(&self, dest: ActrId, media_type: MediaType) -> Result<(), ActrError> {
        let node = self.node()?;
        let limit = node.default_timeout();
        node.media(dest, MediaOp::AddTrack(media_type), limit).await
    }

    /// As [`crate::ActrRef::send_media`], from this actor.
    pub async fn send_media(&self, dest: ActrId, sample: MediaSample) -> Result<(), ActrError> {
        let node = self.node()?;
        let limit = node.default_timeout();
        node.media(dest, MediaOp::Sample(sample), limit).await
    }

    /// As [`crate::ActrRef::register_media_handler`].
    pub fn register_media_handler<F>(&self, media_type: MediaType, handler: F) -> Result<(), ActrError>
    where
        F: Fn(MediaSample, ActrId) -> BoxFuture<'static, Result<(), ActrError>> + Send + Sync + 'static,
    {
        let frames = self.node()?.media_frames();
        let frames = frames.ok_or_else(|| ActrError::NotImplemented("media needs WebRTC, which is off".into()))?;
        Ok(frames.register(media_type, handler)?)
    }

    fn node(&self) -> Result<Arc<dyn NodeOps>, ActrError> {
        self.home.node.upgrade().ok_or_else(|| ActrError::Unavailable("the node has stopped".into()))
    }

    fn outgoing(&self, dest: Dest, route_key: &str, payload: Bytes, timeout: Duration) -> Outgoing {
        Outgoing {
            origin: Origin::Workload,
            dest,
            route_key: route_key.to_owned(),
            payload,
            timeout,
            parent: Some(self.trace.clone()),
        }
    }
}
