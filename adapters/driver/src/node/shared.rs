//! The state of one started node and the gates its messages take: the
//! in-process gate for the other nodes of its `Hyper` (nothing is encoded;
//! the ACL does not apply) and the node task for everyone else.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::Poll;
use std::time::Duration;

use actr_core::node::Delivery;
use actr_core::signaling::messages::MAX_QUERY_LIMIT;
use actr_core::transport::TraceContext;
use actr_core::{ActrError, ActrId, ActrType, Dest};
use async_channel::Sender;
use bytes::Bytes;
use futures::FutureExt;
use futures::future::{BoxFuture, Either};
use tracing::{Instrument, Span};

use crate::dispatch::mailbox::{Letter, Mailbox, Posted};
use crate::dispatch::streams::{DataStreamRegistry, MediaFrameRegistry};
use crate::gate::in_process::InProcessRegistry;
use crate::gate::remote::RpcHandle;
use crate::node::context::Context;
use crate::node::data_stream::{ChunkOrder, receive_chunk};
use crate::node::drain::{Admission, InFlight, Phase};
use crate::node::handler::Handlers;
use crate::node::network::NetworkEventHandle;
use crate::node::ops::{Handed, NodeOps, Origin, Outgoing, Tell};
use crate::node::stats::RpcStats;
use crate::node::trace::{TraceIds, call_span, handle_span};
use crate::node::wasm::{WasmActorStats, WasmStats};
use crate::node::workload::Request;
use crate::runtime::{Runtime, with_deadline};
use crate::signaling::handle::SignalingHandle;
use crate::task::io::{Dispatch, Input, MediaOp};
use crate::wire::rtc_wire::RtcWire;

/// Bounds and switches copied from the configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub call_timeout: Duration,
    pub hook_timeout: Duration,
    pub drain_timeout: Duration,
    pub share_process: bool,
}

/// A lifecycle hook, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hook {
    Start,
    Ready,
    Stop,
}

/// Where a message for a destination goes.
enum Target {
    /// This node's own workload.
    Own {
        caller: Option<ActrId>,
    },
    /// The workload of another started node of its `Hyper`, in-process.
    Local {
        node: Arc<dyn NodeOps>,
        caller: ActrId,
    },
    Remote(ActrId),
}

impl Target {
    /// The `wire` field of the caller's span.
    fn wire(&self) -> &'static str {
        match self {
            Target::Own { .. } | Target::Local { .. } => "in-process",
            Target::Remote(_) => "remote",
        }
    }
}

/// One started node.
pub(crate) struct NodeShared<R: Runtime> {
    pub rt: R,
    pub id: ActrId,
    /// The workload, with what its handlers' contexts need.
    pub handlers: Handlers,
    pub signaling: SignalingHandle,
    /// The registry of the `Hyper` that made this node.
    pub registry: Arc<InProcessRegistry>,
    pub rpc: RpcHandle,
    /// Inputs of the node task (the workload opens through it).
    pub inputs: Sender<Input<R>>,
    /// The WebRTC wire; `None` when WebRTC is off.
    pub rtc: Option<Arc<RtcWire<R>>>,
    pub network: NetworkEventHandle,
    pub streams: DataStreamRegistry,
    /// The order reliable chunks are queued in, per sender and stream.
    pub chunk_order: Arc<ChunkOrder>,
    pub admission: Arc<Admission>,
    /// Where in-process tells and remote requests for the workload queue.
    pub mailbox: Mailbox,
    pub traces: TraceIds,
    pub settings: Settings,
    pub ws_address: Option<String>,
    /// The public key of the AIS that issued `id`: scopes the registry.
    pub ais_key: Vec<u8>,
    /// Dropped to stop the listener's accept loop.
    pub listener_stop: Mutex<Option<Sender<()>>>,
    pub delivered: AtomicU64,
    /// This node, for contexts and the registry.
    pub me: Weak<NodeShared<R>>,
    /// Counters of the attached WASM actor, if it is one.
    pub wasm: Option<Arc<WasmStats>>,
}

impl<R: Runtime> NodeShared<R> {
    fn me_dyn(&self) -> Weak<dyn NodeOps> {
        self.me.clone()
    }

    fn context(&self, caller: Option<ActrId>, trace: TraceContext) -> Context {
        self.handlers.context(caller, trace)
    }

    /// Admits requests (the hub's too), and makes the node reachable
    /// in-process (when it shares the process).
    pub async fn open(&self) {
        self.admission.set_running();
        if let Some(me) = self.me.upgrade() {
            let open = Input::Open { sink: me };
            if self.inputs.send(open).await.is_err() {
                tracing::warn!(actor = %self.id, "the node task has stopped");
            }
        }
        if self.settings.share_process
            && let Err(e) = self.registry.register(&self.ais_key, &self.id, self.me_dyn())
        {
            tracing::warn!(actor = %self.id, "reachable over the network only: {e}");
        }
    }

    /// Runs `hook` within the hook bound; a panic counts as `Internal`.
    pub async fn run_hook(&self, hook: Hook) -> Result<(), ActrError> {
        let ctx = self.context(None, self.traces.root());
        let workload = self.handlers.workload();
        let started = std::panic::catch_unwind(AssertUnwindSafe(|| match hook {
            Hook::Start => workload.on_start(ctx),
            Hook::Ready => workload.on_ready(ctx),
            Hook::Stop => workload.on_stop(ctx),
        }));
        let span = tracing::info_span!("actr.hook", hook = ?hook, actor = %self.id);
        let Ok(fut) = started else { return Err(ActrError::Internal(format!("{hook:?} hook panicked"))) };
        let run = AssertUnwindSafe(fut).catch_unwind().instrument(span);
        match with_deadline(&self.rt, self.settings.hook_timeout, run).await? {
            Ok(result) => result,
            Err(_) => Err(ActrError::Internal(format!("{hook:?} hook panicked"))),
        }
    }

    /// Runs the workload's handler for `req`; a panic becomes `Internal`.
    /// `in_flight`, if any, is held until the handler has finished.
    fn run_handler(
        &self,
        req: Request,
        wire: &'static str,
        in_flight: Option<InFlight>,
    ) -> BoxFuture<'static, Result<Bytes, ActrError>> {
        if req.route_key == actr_core::transport::chunk::DATA_CHUNK_ROUTE_KEY {
            let streams = self.streams.clone();
            let sender = req.caller.clone().unwrap_or_else(|| self.id.clone());
            let (order, rt, limit) = (self.chunk_order.clone(), self.rt.clone(), self.settings.call_timeout);
            return Box::pin(async move {
                let _in_flight = in_flight;
                let ordered = (!req.tell).then_some((&*order, &rt as &dyn crate::runtime::Sleeper, limit));
                receive_chunk(&streams, ordered, &req.payload, sender).await
            });
        }
        let span = handle_span(&req.trace, &req.route_key, req.caller.as_ref(), wire);
        Box::pin(self.handlers.start(req, span, in_flight))
    }

    fn check_origin(&self, origin: Origin) -> Result<(), ActrError> {
        match (origin, self.admission.phase()) {
            (_, Phase::Running) | (Origin::Workload, Phase::Starting | Phase::Draining) => Ok(()),
            _ => Err(ActrError::Unavailable(format!("{} is shut down", self.id))),
        }
    }

    fn resolve(&self, dest: &Dest, origin: Origin) -> Result<Target, ActrError> {
        let own = || {
            let caller = match origin {
                Origin::App => None,
                Origin::Workload => Some(self.id.clone()),
            };
            Ok(Target::Own { caller })
        };
        match dest {
            Dest::Host => Err(ActrError::InvalidArgument(
                "the embedding application has no handler: address the workload or an actor id".into(),
            )),
            Dest::Workload => own(),
            Dest::Peer(id) if *id == self.id => own(),
            Dest::Peer(id) => {
                match self.settings.share_process.then(|| self.registry.lookup(&self.ais_key, id)).flatten() {
                    Some(node) => Ok(Target::Local { node, caller: self.id.clone() }),
                    None => Ok(Target::Remote(id.clone())),
                }
            }
        }
    }

    async fn call_target(
        self: &Arc<Self>,
        target: Target,
        out: Outgoing,
        trace: TraceContext,
    ) -> Result<Bytes, ActrError> {
        let (node, caller): (Arc<dyn NodeOps>, _) = match target {
            Target::Own { caller } => (self.clone(), caller),
            Target::Local { node, caller } => (node, Some(caller)),
            Target::Remote(peer) => {
                let payload = Vec::from(out.payload);
                return self.rpc.call(peer, out.route_key, payload, out.timeout, trace).await.map(Bytes::from);
            }
        };
        let req = Request { caller, route_key: out.route_key, payload: out.payload, trace, tell: false };
        let mut delivery = node.deliver(req);
        // Most handlers answer on their first poll: no timer for them.
        if let Poll::Ready(answer) = futures::poll!(delivery.as_mut()) {
            return answer;
        }
        with_deadline(&self.rt, out.timeout, delivery).await?
    }

    /// Hands a tell over: in-process at once, or to the node task. `span` is
    /// the caller's, entered while a local handler's span is made so it nests.
    fn tell_target(&self, target: Target, out: Outgoing, trace: TraceContext, span: Span) -> Tell {
        let (node, caller) = match target {
            Target::Own { caller } => (None, caller),
            Target::Local { node, caller } => (Some(node), Some(caller)),
            Target::Remote(peer) => {
                let Some(me) = self.me.upgrade() else {
                    return Either::Left(Handed::now(Err(ActrError::Unavailable(format!("{} has stopped", self.id)))));
                };
                let told = async move { me.rpc.tell(peer, out.route_key, Vec::from(out.payload), trace).await };
                return Either::Right(Box::pin(told.instrument(span)));
            }
        };
        let _entered = span.enter();
        let req = Request { caller, route_key: out.route_key, payload: out.payload, trace, tell: true };
        let posted = match node {
            Some(node) => node.post(req),
            None => self.post(req),
        };
        // Handed over is all a tell promises, as on the wire: a refusal by
        // the callee is only logged.
        match posted {
            Ok(Posted::Queued) => Either::Left(Handed::now(Ok(()))),
            Ok(Posted::Backlogged) => Either::Left(Handed::after_yield(Ok(()))),
            Err(e) => {
                tracing::debug!("in-process tell refused: {e}");
                Either::Left(Handed::now(Ok(())))
            }
        }
    }

    /// Refuses new work, drains, runs `on_stop`, then closes the wire and
    /// leaves signaling. Only the first caller runs it.
    async fn stop_sequence(&self) {
        self.registry.unregister(&self.ais_key, &self.id);
        self.listener_stop.lock().unwrap_or_else(|p| p.into_inner()).take();
        let drained = with_deadline(&self.rt, self.settings.drain_timeout, self.admission.wait_idle()).await;
        if drained.is_err() {
            tracing::warn!(actor = %self.id, in_flight = self.admission.in_flight(), "drain bound passed");
        }
        if let Err(e) = self.run_hook(Hook::Stop).await {
            tracing::warn!(actor = %self.id, "on_stop failed: {e}");
        }
        self.close().await;
    }

    /// Stops the node task and leaves signaling; the node is stopped after.
    pub async fn close(&self) {
        self.admission.begin_drain();
        self.rpc.drain();
        self.rpc.shutdown().await;
        self.signaling.clone().shutdown().await;
        self.admission.set_stopped();
    }
}

fn request_from(delivery: Delivery, traces: &TraceIds) -> Request {
    // The endpoint drops a malformed context as it decodes (W3C: start anew).
    let trace = delivery.trace.unwrap_or_else(|| traces.root());
    Request {
        route_key: delivery.route_key,
        payload: Bytes::from(delivery.payload),
        caller: Some(delivery.caller),
        trace,
        tell: delivery.tell,
    }
}

impl<R: Runtime> Dispatch<R> for NodeShared<R> {
    fn dispatch(self: Arc<Self>, delivery: Delivery, results: Sender<Input<R>>) {
        let id = delivery.id;
        let admitted = self.admission.admit();
        let handled = match &admitted {
            Ok(_) => self.run_handler(request_from(delivery, &self.traces), "remote", None),
            Err(e) => Box::pin(std::future::ready(Err(e.clone()))),
        };
        // The node's mailbox worker runs it (off the node task, with no task
        // spawned per request), as it runs in-process tells.
        let job = Box::pin(async move {
            let result = handled.await.map(Vec::from);
            let _ = results.send(Input::Respond(id, result)).await;
            drop(admitted); // counted in flight until the answer is queued
            Ok(Bytes::new())
        });
        if let Err(Letter::Job(job)) = self.mailbox.post(Letter::Job(job)) {
            // The worker is gone (the node is stopping): run it on its own.
            self.rt.spawn(Box::pin(async move {
                let _ = job.await;
            }));
        }
    }
}

impl<R: Runtime> NodeOps for NodeShared<R> {
    fn id(&self) -> &ActrId {
        &self.id
    }

    fn ws_address(&self) -> Option<&str> {
        self.ws_address.as_deref()
    }

    fn wasm_stats(&self) -> Option<WasmActorStats> {
        self.wasm.as_ref().map(|s| s.snapshot())
    }

    fn default_timeout(&self) -> Duration {
        self.settings.call_timeout
    }

    fn is_shutting_down(&self) -> bool {
        matches!(self.admission.phase(), Phase::Draining | Phase::Stopped)
    }

    fn call(self: Arc<Self>, out: Outgoing) -> BoxFuture<'static, Result<Bytes, ActrError>> {
        Box::pin(async move {
            self.check_origin(out.origin)?;
            if out.timeout.is_zero() {
                return Err(ActrError::InvalidArgument("a call needs a timeout above zero".into()));
            }
            let trace = self.traces.continue_from(out.parent.as_ref());
            let span = call_span("call", &trace, &out.dest, &out.route_key);
            let target = self.resolve(&out.dest, out.origin)?;
            span.record("wire", target.wire());
            self.call_target(target, out, trace).instrument(span).await
        })
    }

    fn tell(&self, out: Outgoing) -> Tell {
        if let Err(e) = self.check_origin(out.origin) {
            return Either::Left(Handed::now(Err(e)));
        }
        let trace = self.traces.continue_from(out.parent.as_ref());
        let span = call_span("tell", &trace, &out.dest, &out.route_key);
        match self.resolve(&out.dest, out.origin) {
            Ok(target) => {
                span.record("wire", target.wire());
                self.tell_target(target, out, trace, span)
            }
            Err(e) => Either::Left(Handed::now(Err(e))),
        }
    }

    fn discover(self: Arc<Self>, ty: ActrType) -> BoxFuture<'static, Result<Vec<ActrId>, ActrError>> {
        Box::pin(async move {
            // The hub learns the direct addresses in the reply on the way.
            let found = self.signaling.route_candidates(ty, MAX_QUERY_LIMIT).await?;
            Ok(found.into_iter().map(|c| c.actor).collect())
        })
    }

    fn add_route(&self, peer: ActrId, ws_address: String) -> Result<(), ActrError> {
        actr_core::node::hello::parse_ws_address(&ws_address)?;
        self.rpc.add_route(peer, ws_address)
    }

    fn deliver(self: Arc<Self>, req: Request) -> BoxFuture<'static, Result<Bytes, ActrError>> {
        match self.admission.admit() {
            Ok(in_flight) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
                self.run_handler(req, "in-process", Some(in_flight))
            }
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }

    fn post(&self, req: Request) -> Result<Posted, ActrError> {
        let in_flight = self.admission.admit()?;
        self.delivered.fetch_add(1, Ordering::Relaxed);
        let letter = if req.route_key == actr_core::transport::chunk::DATA_CHUNK_ROUTE_KEY {
            Letter::Job(self.run_handler(req, "in-process", Some(in_flight)))
        } else {
            let span = handle_span(&req.trace, &req.route_key, req.caller.as_ref(), "in-process");
            Letter::Tell { req, span, in_flight }
        };
        self.mailbox.post(letter).map_err(|_| ActrError::Unavailable(format!("{} has stopped", self.id)))
    }

    fn stats(self: Arc<Self>) -> BoxFuture<'static, Result<RpcStats, ActrError>> {
        Box::pin(async move {
            let stats = self.rpc.stats().await?;
            Ok(RpcStats { in_process_delivered: self.delivered.load(Ordering::Relaxed), ..stats })
        })
    }

    fn shutdown(self: Arc<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            if self.admission.begin_drain() {
                self.stop_sequence().await;
            } else {
                self.admission.wait_stopped().await;
            }
        })
    }

    fn shutdown_in_background(self: Arc<Self>) {
        let rt = self.rt.clone();
        rt.spawn(self.shutdown());
    }

    fn wait_stopped(&self) -> BoxFuture<'static, ()> {
        let admission = self.admission.clone();
        Box::pin(async move { admission.wait_stopped().await })
    }

    fn media(self: Arc<Self>, dest: ActrId, op: MediaOp, limit: Duration) -> BoxFuture<'static, Result<(), ActrError>> {
        Box::pin(async move { self.rpc.media(dest, op, limit).await })
    }

    fn media_frames(&self) -> Option<MediaFrameRegistry> {
        self.rtc.as_ref().map(|rtc| rtc.media.clone())
    }

    fn stream_chunk(self: Arc<Self>, dest: ActrId, bytes: Vec<u8>) -> BoxFuture<'static, Result<(), ActrError>> {
        Box::pin(async move { self.rpc.stream_chunk(dest, bytes).await })
    }

    fn data_streams(&self) -> DataStreamRegistry {
        self.streams.clone()
    }

    fn network(&self) -> NetworkEventHandle {
        self.network.clone()
    }

    #[cfg(feature = "internals")]
    fn cut_webrtc(&self, cut: bool) {
        if let Some(rtc) = &self.rtc {
            rtc.cut.store(cut, Ordering::Relaxed);
        }
    }
}
