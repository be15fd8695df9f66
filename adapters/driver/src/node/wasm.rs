//! A WASM actor as a [`Workload`]: the node sees the same trait a linked
//! native actor implements, so lanes, ACL, in-process calls and the hub are
//! the same for both.
//!
//! Each attached actor gets a thread of its own (`actr-wasm:<type>`) that
//! owns the instance and runs its turns, so guest code never runs on the
//! node's protocol task nor on an async executor's worker. Storage
//! operations run on that thread too, at once; calls, tells and discoveries
//! the guest asks for go back to the async side, to the future of the
//! request they belong to, which makes them through the request's
//! [`Context`] (so they carry its trace and its actor's identity) and sends
//! the result back to the thread as the next turn.
//!
//! ```text
//! handle(ctx, req) ──Request──▶ actor thread: turn ─▶ Reply ──────────────▶ caller
//!        ▲                                     │  └─▶ Storage*: KvStore, next turn
//!        └───────── Call/Tell/Discover ◀───────┘
//!        ctx.call(..).await ──OpDone──▶ actor thread: turn …
//! ```
//!
//! Bounds: requests in flight per actor ([`WasmLimits::max_requests`]; more
//! is `ResourceExhausted`), the thread's input queue, each request's event
//! queue (at most the pending operations the engine allows), and each
//! request's deadline (the node's call timeout) after which it is forgotten.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actr_core::abi::{HostFrame, HostOperation, HostOperationResult, InvocationContext, LogLevel};
use actr_core::acl::Acl;
use actr_core::platform::{KvStore, MAX_LIST_KEYS};
use actr_core::{ActrError, ActrType};
use actr_wasm::{WasmInstance, WasmModule};
use async_channel::{Receiver, Sender, TrySendError};
use bytes::Bytes;
use futures::future::{BoxFuture, Either, select};
use futures::stream::{FuturesUnordered, StreamExt};

use crate::node::context::Context;
use crate::node::workload::{Request, Workload};
use crate::runtime::{Sleeper, with_deadline};

/// Inputs of an actor thread.
enum ThreadInput {
    Request(Box<NewRequest>),
    OpDone { id: u64, op_id: u32, result: HostOperationResult },
    Forget { id: u64 },
}

/// A request for the actor thread, and where its events go.
struct NewRequest {
    id: u64,
    ctx: InvocationContext,
    req: Request,
    events: Sender<Event>,
}

/// What the actor thread tells the future of one request.
enum Event {
    Op { op_id: u32, op: HostOperation },
    Done(Result<Bytes, ActrError>),
}

/// Counters of one WASM actor.
#[derive(Debug, Default)]
pub(crate) struct WasmStats {
    pub turns: AtomicU64,
    pub turn_micros: AtomicU64,
    pub rebuilds: AtomicU64,
}

impl WasmStats {
    pub(crate) fn snapshot(&self) -> WasmActorStats {
        let turns = self.turns.load(Ordering::Relaxed);
        WasmActorStats {
            turns,
            turn_time: Duration::from_micros(self.turn_micros.load(Ordering::Relaxed)),
            rebuilds: self.rebuilds.load(Ordering::Relaxed),
        }
    }
}

/// What one attached WASM actor did ([`crate::ActrRef::wasm_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WasmActorStats {
    /// Guest turns run: one per request, plus one per result of an operation it waited for.
    pub turns: u64,
    /// Time spent inside the guest, all turns together.
    pub turn_time: Duration,
    /// Instances built after one was discarded (a trap, fuel, the memory cap).
    pub rebuilds: u64,
}

/// A verified WASM package running as a workload.
pub(crate) struct WasmWorkload {
    actr_type: ActrType,
    acl: Option<Acl>,
    inputs: Sender<ThreadInput>,
    next_id: AtomicU64,
    timer: Arc<dyn Sleeper>,
    timeout: Duration,
    stats: Arc<WasmStats>,
}

impl std::fmt::Debug for WasmWorkload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmWorkload").field("actr_type", &self.actr_type).finish_non_exhaustive()
    }
}

/// Queued inputs per allowed request: a request's own input, and its operations' results.
const INPUTS_PER_REQUEST: usize = 8;

impl WasmWorkload {
    /// Starts the actor thread around `first`, an instance of `module`
    /// already made (so that a module that cannot instantiate fails the
    /// attach, not the first request).
    pub(crate) fn start(
        module: WasmModule,
        first: WasmInstance,
        store: Option<Arc<dyn KvStore>>,
        actr_type: ActrType,
        acl: Option<Acl>,
        timer: Arc<dyn Sleeper>,
        timeout: Duration,
    ) -> Result<Self, ActrError> {
        let limits = *module.limits();
        let (inputs, rx) = async_channel::bounded(limits.max_requests * INPUTS_PER_REQUEST);
        let stats = Arc::new(WasmStats::default());
        let mut thread = ActorThread {
            module,
            instance: Some(first),
            store,
            live: HashMap::new(),
            actr_type: actr_type.clone(),
            stats: stats.clone(),
        };
        std::thread::Builder::new()
            .name(format!("actr-wasm:{actr_type}"))
            .spawn(move || thread.run(rx))
            .map_err(|e| ActrError::Unavailable(format!("cannot start the actor thread: {e}")))?;
        Ok(Self { actr_type, acl, inputs, next_id: AtomicU64::new(1), timer, timeout, stats })
    }

    pub(crate) fn stats(&self) -> Arc<WasmStats> {
        self.stats.clone()
    }
}

impl Workload for WasmWorkload {
    fn actor_type(&self) -> ActrType {
        self.actr_type.clone()
    }

    fn acl(&self) -> Option<Acl> {
        self.acl.clone()
    }

    fn handle(&self, ctx: Context, req: Request) -> BoxFuture<'static, Result<Bytes, ActrError>> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let inputs = self.inputs.clone();
        let timer = self.timer.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            let (events, rx) = async_channel::bounded(INPUTS_PER_REQUEST * 4);
            let invocation =
                InvocationContext { request_id: id, self_id: ctx.self_id().clone(), caller: ctx.caller().cloned() };
            let request = NewRequest { id, ctx: invocation, req, events };
            match inputs.try_send(ThreadInput::Request(Box::new(request))) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    return Err(ActrError::ResourceExhausted("the WASM actor's input queue is full".into()));
                }
                Err(TrySendError::Closed(_)) => return Err(ActrError::Unavailable("the WASM actor stopped".into())),
            }
            let result = with_deadline(&*timer, timeout, serve(id, ctx, rx, inputs.clone())).await;
            if result.is_err() {
                // Best effort: a full queue means the thread is busy and the
                // request's events channel is gone, which it notices too.
                let _ = inputs.try_send(ThreadInput::Forget { id });
            }
            result?
        })
    }
}

/// The async half of one request: runs the operations the guest asks for
/// and feeds their results back, until the reply.
async fn serve(
    id: u64,
    ctx: Context,
    events: Receiver<Event>,
    inputs: Sender<ThreadInput>,
) -> Result<Bytes, ActrError> {
    let mut ops = FuturesUnordered::new();
    loop {
        let next = if ops.is_empty() {
            Either::Left(events.recv().await)
        } else {
            let recv = std::pin::pin!(events.recv());
            match select(recv, ops.next()).await {
                Either::Left((ev, _)) => Either::Left(ev),
                Either::Right((done, _)) => Either::Right(done),
            }
        };
        match next {
            Either::Left(Ok(Event::Done(result))) => return result,
            Either::Left(Ok(Event::Op { op_id, op })) => ops.push(perform(ctx.clone(), op_id, op)),
            Either::Left(Err(_)) => return Err(ActrError::Unavailable("the WASM actor stopped".into())),
            Either::Right(Some((op_id, result))) => {
                if inputs.send(ThreadInput::OpDone { id, op_id, result }).await.is_err() {
                    return Err(ActrError::Unavailable("the WASM actor stopped".into()));
                }
            }
            Either::Right(None) => {}
        }
    }
}

/// Carries out an operation that needs the node.
async fn perform(ctx: Context, op_id: u32, op: HostOperation) -> (u32, HostOperationResult) {
    let result = match op {
        HostOperation::Call { dest, route_key, payload, timeout_ms } => {
            let limit = match timeout_ms {
                0 => ctx.default_timeout(),
                ms => Duration::from_millis(u64::from(ms)),
            };
            match ctx.call(dest, &route_key, payload, limit).await {
                Ok(bytes) => HostOperationResult::Bytes(bytes.to_vec()),
                Err(e) => HostOperationResult::Error(e),
            }
        }
        HostOperation::Tell { dest, route_key, payload } => match ctx.tell(dest, &route_key, payload).await {
            Ok(()) => HostOperationResult::Done,
            Err(e) => HostOperationResult::Error(e),
        },
        HostOperation::Discover { actr_type } => match ctx.discover(&actr_type).await {
            Ok(ids) => HostOperationResult::Actors(ids),
            Err(e) => HostOperationResult::Error(e),
        },
        other => HostOperationResult::Error(ActrError::Internal(format!("not an async operation: {other:?}"))),
    };
    (op_id, result)
}

/// The thread that owns the instance.
struct ActorThread {
    module: WasmModule,
    instance: Option<WasmInstance>,
    store: Option<Arc<dyn KvStore>>,
    /// Requests in flight, by id.
    live: HashMap<u64, Sender<Event>>,
    actr_type: ActrType,
    stats: Arc<WasmStats>,
}

impl ActorThread {
    fn run(&mut self, inputs: Receiver<ThreadInput>) {
        while let Ok(input) = inputs.recv_blocking() {
            match input {
                ThreadInput::Request(request) => {
                    let NewRequest { id, ctx, req, events } = *request;
                    // The instance bounds requests in flight (`WasmError::Busy`).
                    self.live.insert(id, events);
                    let frame = HostFrame::Request {
                        ctx,
                        route_key: req.route_key,
                        payload: req.payload.to_vec(),
                        tell: req.tell,
                    };
                    self.run_turns(frame);
                }
                ThreadInput::OpDone { id, op_id, result } => {
                    if self.live.contains_key(&id) {
                        self.run_turns(HostFrame::OpResult { request_id: id, op_id, result });
                    }
                }
                ThreadInput::Forget { id } => self.forget(id),
            }
        }
    }

    /// Request `id` is over without its reply: the guest drops its handler
    /// (and what the handler held), so a request that hung costs nothing
    /// once its deadline passed.
    fn forget(&mut self, id: u64) {
        self.live.remove(&id);
        if self.instance.is_some() {
            self.run_turns(HostFrame::Cancel { request_id: id });
        }
    }

    /// Runs `first` and every turn it leads to on this thread (storage results).
    fn run_turns(&mut self, first: HostFrame) {
        let mut queue = VecDeque::from([first]);
        while let Some(frame) = queue.pop_front() {
            let request = frame_request(&frame);
            if self.instance.is_none() {
                self.stats.rebuilds.fetch_add(1, Ordering::Relaxed);
                match self.module.instantiate() {
                    Ok(i) => self.instance = Some(i),
                    Err(e) => {
                        tracing::warn!(actor = %self.actr_type, "cannot rebuild the instance: {e}");
                        self.finish(request, Err(e.into()));
                        continue;
                    }
                }
            }
            let Some(instance) = self.instance.as_mut() else { continue };
            let started = Instant::now();
            let turn = instance.turn(&frame);
            self.stats.turns.fetch_add(1, Ordering::Relaxed);
            let micros = started.elapsed().as_micros().min(u64::MAX as u128) as u64;
            self.stats.turn_micros.fetch_add(micros, Ordering::Relaxed);
            match turn {
                Ok(sent) => {
                    for f in sent {
                        self.take(f.request_id, f.op_id, f.op, &mut queue);
                    }
                }
                Err(e) if !e.poisons() => {
                    if matches!(frame, HostFrame::Request { .. }) {
                        self.finish(request, Err(e.into()));
                    }
                }
                Err(e) => {
                    tracing::warn!(actor = %self.actr_type, "instance discarded: {e}");
                    self.instance = None;
                    queue.clear();
                    let error = ActrError::from(e);
                    for (_, events) in self.live.drain() {
                        let _ = events.try_send(Event::Done(Err(error.clone())));
                    }
                }
            }
        }
    }

    /// One frame the guest sent.
    fn take(&mut self, id: u64, op_id: u32, op: HostOperation, queue: &mut VecDeque<HostFrame>) {
        let mut storage = |result| queue_result(queue, id, op_id, result);
        match op {
            HostOperation::Reply { result } => self.finish(id, result.map(Bytes::from)),
            HostOperation::Log { level, message } => self.log(level, &message),
            HostOperation::StorageGet { key } => storage(self.kv(|s| s.get(&key).map(HostOperationResult::Value))),
            HostOperation::StorageSet { key, value } => {
                storage(self.kv(|s| s.set(&key, &value).map(|()| HostOperationResult::Done)))
            }
            HostOperation::StorageDelete { key } => {
                storage(self.kv(|s| s.delete(&key).map(HostOperationResult::Removed)))
            }
            HostOperation::StorageList { prefix, limit } => {
                let limit = (limit as usize).min(MAX_LIST_KEYS);
                storage(self.kv(|s| s.list(&prefix, limit).map(HostOperationResult::Keys)))
            }
            HostOperation::StorageBatch { ops } => {
                storage(self.kv(|s| s.batch(&ops).map(|()| HostOperationResult::Done)))
            }
            op @ (HostOperation::Call { .. } | HostOperation::Tell { .. } | HostOperation::Discover { .. }) => {
                let failed = self.live.get(&id).map(|events| events.try_send(Event::Op { op_id, op }).is_err());
                if failed == Some(true) {
                    // Its future is gone or hopelessly behind: the request is over.
                    self.live.remove(&id);
                    queue.push_back(HostFrame::Cancel { request_id: id });
                }
            }
        }
    }

    fn kv(
        &self,
        f: impl FnOnce(&dyn KvStore) -> Result<HostOperationResult, actr_core::platform::PlatformError>,
    ) -> HostOperationResult {
        match &self.store {
            Some(store) => f(&**store).unwrap_or_else(|e| HostOperationResult::Error(e.into())),
            None => HostOperationResult::Error(ActrError::Unavailable(
                "this host gives actors no storage (no data directory configured)".into(),
            )),
        }
    }

    fn finish(&mut self, id: u64, result: Result<Bytes, ActrError>) {
        if let Some(events) = self.live.remove(&id) {
            let _ = events.try_send(Event::Done(result));
        }
    }

    fn log(&self, level: LogLevel, message: &str) {
        let actor = &self.actr_type;
        match level {
            LogLevel::Error => tracing::error!(%actor, "guest: {message}"),
            LogLevel::Warn => tracing::warn!(%actor, "guest: {message}"),
            LogLevel::Info => tracing::info!(%actor, "guest: {message}"),
            LogLevel::Debug => tracing::debug!(%actor, "guest: {message}"),
            LogLevel::Trace => tracing::trace!(%actor, "guest: {message}"),
        }
    }
}

fn queue_result(queue: &mut VecDeque<HostFrame>, request_id: u64, op_id: u32, result: HostOperationResult) {
    queue.push_back(HostFrame::OpResult { request_id, op_id, result });
}

fn frame_request(frame: &HostFrame) -> u64 {
    match frame {
        HostFrame::Request { ctx, .. } => ctx.request_id,
        HostFrame::OpResult { request_id, .. } | HostFrame::Cancel { request_id } => *request_id,
    }
}
