//! The run loop of one signaling node: a [`CredentialKeeper`] and a
//! [`SignalingClient`] driven by real sockets, HTTP and a timer.
//!
//! # The loop
//!
//! 1. Wait for a command from a handle, a report from a socket or an AIS
//!    call, or the earliest core deadline.
//! 2. Hand the input to the core with `now` (microseconds since the loop
//!    started) and, where credentials need it, Unix seconds.
//! 3. Drain both machines until neither has output: AIS calls go to the
//!    blocking pool, transmits to socket tasks, events to callers.
//!
//! Keeper and client are wired so that a new credential reaches the client
//! (`set_identity`, then `start` the first time) and a refused one makes the
//! keeper renew at once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use actr_core::ais::{AisReply, RegisterOk};
use actr_core::keeper::{AisCall, CredentialKeeper, KeeperEvent};
use actr_core::signaling::{ClientTransmit, ConnId, RequestId, ServerReply, SignalingClient, SignalingEvent};
use actr_core::{ActrError, ActrId, Instant, UnixSecs};
use async_channel::{Receiver, Sender, TrySendError};
use futures::future::{BoxFuture, FutureExt};

use crate::ais_http::AisHttpClient;
use crate::connection::{ConnReport, ConnectionTask, OUTBOUND_CAPACITY, Outbound};
use crate::endpoint::ServerEndpoint;
use crate::handle::{Command, NodeEvent, NodeStats};
use crate::runtime::Runtime;

/// Inputs produced by the loop's own helpers (sockets and AIS calls).
#[derive(Debug)]
pub(crate) enum LoopInput {
    Conn(ConnId, ConnReport),
    Ais { id: u64, reply: Result<AisReply, ActrError> },
}

/// Capacity of the channel carrying socket reports and AIS results.
pub(crate) const INTERNAL_CAPACITY: usize = 1024;
/// Most tasks waiting in `wait_connected` at once.
const MAX_WAITERS: usize = 64;
/// Inputs handled back to back before the loop yields to the executor.
const MAX_BURST: usize = 64;

enum Wake {
    Command(Option<Command>),
    Internal(LoopInput),
    Timer,
}

/// Monotonic and wall clocks, read only by the loop.
#[derive(Debug)]
struct Clock {
    origin: std::time::Instant,
}

impl Clock {
    fn now(&self) -> Instant {
        Instant::from_micros(self.origin.elapsed().as_micros().min(u64::MAX as u128) as u64)
    }

    fn unix(&self) -> UnixSecs {
        SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
    }

    fn until(&self, at: Instant) -> std::time::Duration {
        std::time::Duration::from_micros(at.saturating_since(self.now()).as_micros())
    }
}

/// The state the loop owns. Built by [`crate::SignalingNode::start`].
pub(crate) struct NodeLoop<R: Runtime> {
    pub rt: R,
    pub clock_origin: std::time::Instant,
    pub keeper: CredentialKeeper,
    pub client: SignalingClient,
    pub ais: Arc<AisHttpClient>,
    pub endpoint: Arc<ServerEndpoint>,
    pub connect_timeout: std::time::Duration,
    pub commands: Receiver<Command>,
    pub internal_tx: Sender<LoopInput>,
    pub internal_rx: Receiver<LoopInput>,
    pub events: Sender<NodeEvent>,
}

/// Loop state beyond the inputs it was built with.
struct Running<R: Runtime> {
    parts: NodeLoop<R>,
    clock: Clock,
    started: bool,
    conns: BTreeMap<ConnId, Sender<Outbound>>,
    replies: BTreeMap<RequestId, Sender<Result<ServerReply, ActrError>>>,
    waiters: Vec<Sender<Result<ActrId, ActrError>>>,
    registration_waiters: Vec<Sender<Result<RegisterOk, ActrError>>>,
    registration: Option<RegisterOk>,
    connected: Option<ActrId>,
    failed: Option<ActrError>,
    stats: NodeStats,
    timer: Option<(Instant, BoxFuture<'static, ()>)>,
    shutdown: Option<Option<Sender<()>>>,
}

impl<R: Runtime> NodeLoop<R> {
    /// Runs until a shutdown command or until every handle is dropped.
    pub async fn run(self) {
        let clock = Clock { origin: self.clock_origin };
        let mut state = Running {
            parts: self,
            clock,
            started: false,
            conns: BTreeMap::new(),
            replies: BTreeMap::new(),
            waiters: Vec::new(),
            registration_waiters: Vec::new(),
            registration: None,
            connected: None,
            failed: None,
            stats: NodeStats::default(),
            timer: None,
            shutdown: None,
        };
        state.run().await;
    }
}

impl<R: Runtime> Running<R> {
    async fn run(&mut self) {
        let now = self.clock.now();
        self.parts.keeper.start(now);
        self.drain();
        while self.shutdown.is_none() {
            let wake = self.wait().await;
            self.on_wake(wake);
            for _ in 0..MAX_BURST {
                let Some(wake) = self.try_next() else { break };
                self.on_wake(wake);
            }
        }
        self.finish();
    }

    fn on_wake(&mut self, wake: Wake) {
        match wake {
            Wake::Command(Some(command)) => self.on_command(command),
            Wake::Command(None) => self.begin_shutdown(None),
            Wake::Internal(input) => self.on_internal(input),
            Wake::Timer => self.timer = None,
        }
        self.on_timers();
        self.drain();
    }

    fn try_next(&mut self) -> Option<Wake> {
        if self.shutdown.is_some() {
            return None;
        }
        if let Ok(input) = self.parts.internal_rx.try_recv() {
            return Some(Wake::Internal(input));
        }
        self.parts.commands.try_recv().ok().map(|c| Wake::Command(Some(c)))
    }

    /// Waits for the next input or the earliest core deadline. The sleep is
    /// kept across iterations while the deadline is unchanged.
    async fn wait(&mut self) -> Wake {
        let deadline = match (self.parts.keeper.poll_timeout(), self.parts.client.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if self.timer.as_ref().map(|(at, _)| Some(*at)) != Some(deadline) {
            self.timer = deadline.map(|at| (at, self.parts.rt.sleep(self.clock.until(at))));
        }
        let timer = &mut self.timer;
        let sleep = async move {
            match timer.as_mut() {
                Some((_, sleep)) => sleep.await,
                None => futures::future::pending().await,
            }
        };
        let internal = self.parts.internal_rx.recv().fuse();
        let commands = self.parts.commands.recv().fuse();
        let sleep = sleep.fuse();
        futures::pin_mut!(internal, commands, sleep);
        futures::select_biased! {
            input = internal => match input {
                Ok(input) => Wake::Internal(input),
                Err(_) => Wake::Timer, // unreachable: the loop holds a sender
            },
            command = commands => Wake::Command(command.ok()),
            () = sleep => Wake::Timer,
        }
    }

    fn on_timers(&mut self) {
        let now = self.clock.now();
        if self.parts.keeper.poll_timeout().is_some_and(|at| at <= now) {
            self.parts.keeper.handle_timeout(now, self.clock.unix());
        }
        if self.parts.client.poll_timeout().is_some_and(|at| at <= now) {
            self.parts.client.handle_timeout(now);
        }
    }

    fn on_command(&mut self, command: Command) {
        let now = self.clock.now();
        match command {
            Command::Request { request, reply } => match self.parts.client.request(now, request) {
                Ok(id) => {
                    self.replies.insert(id, reply);
                }
                Err(e) => answer(&reply, Err(e)),
            },
            Command::WaitConnected { reply } => self.add_waiter(reply),
            Command::WaitRegistered { reply } => self.add_registration_waiter(reply),
            Command::Stats { reply } => {
                let stats = NodeStats { signaling: self.parts.client.stats(), ..self.stats };
                answer(&reply, stats);
            }
            Command::Shutdown { done } => self.begin_shutdown(Some(done)),
        }
    }

    fn add_waiter(&mut self, reply: Sender<Result<ActrId, ActrError>>) {
        // Callers that timed out leave closed channels behind; forget them first.
        self.waiters.retain(|w| !w.is_closed());
        match (&self.connected, &self.failed) {
            (Some(actor), _) => answer(&reply, Ok(actor.clone())),
            (None, Some(e)) => answer(&reply, Err(e.clone())),
            (None, None) if self.waiters.len() >= MAX_WAITERS => {
                answer(&reply, Err(ActrError::ResourceExhausted(format!("{MAX_WAITERS} waiters"))))
            }
            (None, None) => self.waiters.push(reply),
        }
    }

    fn add_registration_waiter(&mut self, reply: Sender<Result<RegisterOk, ActrError>>) {
        self.registration_waiters.retain(|w| !w.is_closed());
        match (&self.registration, &self.failed) {
            (Some(ok), _) => answer(&reply, Ok(ok.clone())),
            (None, Some(e)) => answer(&reply, Err(e.clone())),
            (None, None) if self.registration_waiters.len() >= MAX_WAITERS => {
                answer(&reply, Err(ActrError::ResourceExhausted(format!("{MAX_WAITERS} waiters"))))
            }
            (None, None) => self.registration_waiters.push(reply),
        }
    }

    fn on_internal(&mut self, input: LoopInput) {
        let now = self.clock.now();
        let client = &mut self.parts.client;
        match input {
            LoopInput::Conn(conn, ConnReport::Connected) => client.handle_connected(now, conn),
            LoopInput::Conn(conn, ConnReport::Frame(bytes)) => client.handle_frame(now, conn, &bytes),
            LoopInput::Conn(conn, ConnReport::ConnectFailed(why)) => {
                self.conns.remove(&conn);
                client.handle_connect_failed(now, conn, &why);
            }
            LoopInput::Conn(conn, ConnReport::Closed) => {
                self.conns.remove(&conn);
                client.handle_closed(now, conn);
            }
            LoopInput::Ais { id, reply } => {
                if reply.is_err() {
                    self.stats.ais_failures += 1;
                }
                self.parts.keeper.handle_reply(now, self.clock.unix(), id, reply);
            }
        }
    }

    /// Drains both machines until a full pass produces nothing.
    fn drain(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(call) = self.parts.keeper.poll_call() {
                self.start_ais_call(call);
                progressed = true;
            }
            while let Some(event) = self.parts.keeper.poll_event() {
                self.on_keeper_event(event);
                progressed = true;
            }
            while let Some(transmit) = self.parts.client.poll_transmit() {
                self.on_transmit(transmit);
                progressed = true;
            }
            while let Some(event) = self.parts.client.poll_event() {
                self.on_signaling_event(event);
                progressed = true;
            }
            if !progressed {
                return;
            }
        }
    }

    fn start_ais_call(&mut self, call: AisCall) {
        self.stats.ais_calls += 1;
        let ais = self.parts.ais.clone();
        let results = self.parts.internal_tx.clone();
        self.parts.rt.spawn_blocking(Box::new(move || {
            let reply = ais.call(&call.request);
            // On a blocking thread a full channel may wait; a closed one means the loop is gone.
            let _ = results.send_blocking(LoopInput::Ais { id: call.id, reply });
        }));
    }

    fn on_keeper_event(&mut self, event: KeeperEvent) {
        let now = self.clock.now();
        match event {
            KeeperEvent::Registered(ok) | KeeperEvent::Renewed(ok) => {
                let unix = self.clock.unix();
                for waiter in self.registration_waiters.drain(..) {
                    answer(&waiter, Ok(ok.clone()));
                }
                self.registration = Some(ok.clone());
                self.parts.client.set_identity(now, unix, ok.actor, ok.credential, ok.credential_expires_at);
                if !self.started {
                    self.started = true;
                    // Cannot fail: an identity was just installed.
                    let _ = self.parts.client.start(now);
                }
            }
            KeeperEvent::Failed(e) => {
                tracing::warn!("credential keeper stopped: {e}");
                for waiter in self.waiters.drain(..) {
                    answer(&waiter, Err(e.clone()));
                }
                for waiter in self.registration_waiters.drain(..) {
                    answer(&waiter, Err(e.clone()));
                }
                self.failed = Some(e.clone());
                self.emit(NodeEvent::Failed(e));
            }
        }
    }

    fn on_signaling_event(&mut self, event: SignalingEvent) {
        match event {
            SignalingEvent::ConnectStart { attempt } => tracing::debug!(attempt, "signaling connecting"),
            SignalingEvent::GaveUp { cooldown } => tracing::debug!(?cooldown, "signaling gave up for now"),
            SignalingEvent::Connected { actor } => {
                for waiter in self.waiters.drain(..) {
                    answer(&waiter, Ok(actor.clone()));
                }
                self.connected = Some(actor.clone());
                self.emit(NodeEvent::Connected { actor });
            }
            SignalingEvent::Disconnected { reason } => {
                self.connected = None;
                self.emit(NodeEvent::Disconnected { reason });
            }
            SignalingEvent::Reply { id, result } => {
                if let Some(reply) = self.replies.remove(&id) {
                    answer(&reply, result);
                }
            }
            SignalingEvent::Relay { source, payload } => self.emit(NodeEvent::Relay { source, payload }),
            SignalingEvent::Presence { actor, up } => self.emit(NodeEvent::Presence { actor, up }),
            SignalingEvent::CredentialNeeded => self.parts.keeper.renew_now(self.clock.now()),
        }
    }

    fn on_transmit(&mut self, transmit: ClientTransmit) {
        match transmit {
            ClientTransmit::Connect { conn } => {
                let (tx, rx) = async_channel::bounded(OUTBOUND_CAPACITY);
                self.conns.insert(conn, tx);
                ConnectionTask {
                    rt: self.parts.rt.clone(),
                    conn,
                    endpoint: self.parts.endpoint.clone(),
                    connect_timeout: self.parts.connect_timeout,
                    report: self.parts.internal_tx.clone(),
                    outbound: rx,
                }
                .spawn();
            }
            ClientTransmit::Send { conn, bytes } => {
                let Some(tx) = self.conns.get(&conn) else { return };
                if let Err(e) = tx.try_send(Outbound::Frame(bytes)) {
                    // Full means the socket has stalled; closed means its task ended.
                    if matches!(e, TrySendError::Full(_)) {
                        self.stats.connections_stalled += 1;
                    }
                    self.conns.remove(&conn);
                    self.parts.client.handle_closed(self.clock.now(), conn);
                }
            }
            ClientTransmit::Close { conn } => {
                if let Some(tx) = self.conns.remove(&conn) {
                    // Dropping the sender closes the socket even if this does not fit.
                    let _ = tx.try_send(Outbound::Close);
                }
            }
        }
    }

    /// Hands an event to the application; a full queue drops it and counts it.
    fn emit(&mut self, event: NodeEvent) {
        if self.parts.events.try_send(event).is_err() {
            self.stats.events_dropped += 1;
        }
    }

    fn begin_shutdown(&mut self, done: Option<Sender<()>>) {
        if self.shutdown.is_some() {
            return;
        }
        self.parts.client.stop(self.clock.now());
        self.drain();
        self.shutdown = Some(done);
    }

    fn finish(&mut self) {
        let gone = ActrError::Unavailable("signaling node stopped".into());
        for waiter in self.waiters.drain(..) {
            answer(&waiter, Err(gone.clone()));
        }
        for waiter in self.registration_waiters.drain(..) {
            answer(&waiter, Err(gone.clone()));
        }
        for (_, reply) in std::mem::take(&mut self.replies) {
            answer(&reply, Err(gone.clone()));
        }
        for (_, tx) in std::mem::take(&mut self.conns) {
            let _ = tx.try_send(Outbound::Close);
        }
        self.parts.events.close();
        if let Some(Some(done)) = self.shutdown.take() {
            answer(&done, ());
        }
    }
}

/// Answers a one-shot reply channel; a caller that gave up is no error.
fn answer<T>(reply: &Sender<T>, value: T) {
    let _ = reply.try_send(value);
}
