//! The one task per node: it owns the core's [`NodeHub`] and carries out
//! what the hub asks. It decides nothing.
//!
//! # The loop
//!
//! 1. Wait for a command from a handle ([`Command`]), an input from a
//!    socket, a WebRTC connection, an AIS call or a handler ([`Input`]), or
//!    the hub's next deadline.
//! 2. Hand it to the hub with [`Runtime::now`].
//! 3. Drain [`NodeHub::poll_output`]: AIS calls go to the blocking pool,
//!    signaling frames to their socket tasks, commands to WebRTC connection
//!    tasks, deliveries to the workload (handlers run on the node's mailbox
//!    worker, never on this task), answers to their callers. Link messages
//!    are framed into their link's buffer.
//! 4. After a burst of inputs (at most [`MAX_BURST`]), write each link's
//!    buffer to its socket without waiting: one write for the burst. What a
//!    socket does not take at once is left to that link's writer task.
//!
//! Socket tasks are byte pumps (see [`crate::wire::signaling_socket`] and
//! [`crate::wire::link_pump`]); WebRTC connection tasks move datagrams and
//! str0m events (see [`crate::wire::rtc_link`]).

pub(crate) mod io;

use std::collections::BTreeMap;
use std::sync::Arc;

use actr_core::ais::RegisterOk;
use actr_core::node::{
    CallId, LinkId, LinkOutput, NodeEvent as HubEvent, NodeHub, NodeOutput, QueryId, RtcId, RtcOutput, RtcReport,
    TellId,
};
use actr_core::signaling::{ClientTransmit, ConnId, ServerReply};
use actr_core::transport::LaneKind;
use actr_core::{ActrError, ActrId, Instant};
use async_channel::{Receiver, Sender, TrySendError};
use futures::future::BoxFuture;
use futures::{FutureExt, select_biased};

use crate::node::stats::RpcStats;
use crate::runtime::Runtime;
use crate::signaling::events::{NodeEvent, NodeStats};
use crate::task::io::{Command, ConnReport, Dispatch, Inlet, Input, InputBudget, MediaOp};
use crate::wire::ais_http::AisHttpClient;
use crate::wire::link_pump::{self, LinkQueue};
use crate::wire::rtc_link::{self, RpcQueue, RtcCmd};
use crate::wire::rtc_wire::RtcWire;
use crate::wire::server_address::ServerAddress;
use crate::wire::signaling_socket::{ConnectionTask, SocketCmd, SocketQueue};

/// Most tasks waiting in `wait_connected` or `wait_registered` at once.
const MAX_WAITERS: usize = 64;
/// Inputs handled back to back before the task yields to the executor.
const MAX_BURST: usize = 64;

enum Wake<R: Runtime> {
    Command(Option<Command>),
    Input(Input<R>),
    Timer,
}

/// Everything the task needs; built by [`crate::signaling::SignalingNode`].
pub(crate) struct NodeTask<R: Runtime> {
    pub rt: R,
    pub hub: NodeHub,
    pub ais: Arc<AisHttpClient>,
    /// Mints manufacturer proofs for package registrations.
    pub manufacturer: Option<Arc<dyn crate::node::ManufacturerSigner>>,
    pub server: Arc<ServerAddress>,
    /// TLS settings for a `wss://` signaling server; `None` for `ws://`.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The node's WebRTC wire, used once the workload opens; `None` when
    /// WebRTC is off.
    pub webrtc: Option<Arc<RtcWire<R>>>,
    pub commands: Receiver<Command>,
    pub inputs_tx: Sender<Input<R>>,
    pub inputs: Receiver<Input<R>>,
    /// Bounds the bytes of signaling frames, link and WebRTC messages queued in `inputs`.
    pub budget: InputBudget,
    pub events: Sender<NodeEvent>,
}

/// What the task keeps beyond the hub.
struct Running<R: Runtime> {
    parts: NodeTask<R>,
    conns: BTreeMap<ConnId, SocketQueue>,
    links: BTreeMap<LinkId, LinkQueue<R>>,
    /// Links with messages queued in this burst, written at its end.
    unflushed: Vec<LinkId>,
    rtcs: BTreeMap<RtcId, (Sender<RtcCmd>, RpcQueue)>,
    sink: Option<Arc<dyn Dispatch<R>>>,
    rtc: Option<Arc<RtcWire<R>>>,
    queries: BTreeMap<QueryId, Sender<Result<ServerReply, ActrError>>>,
    calls: BTreeMap<CallId, Sender<Result<Vec<u8>, ActrError>>>,
    tells: BTreeMap<TellId, Sender<Result<(), ActrError>>>,
    waiters: Vec<Sender<Result<ActrId, ActrError>>>,
    registration_waiters: Vec<Sender<Result<RegisterOk, ActrError>>>,
    connected: Option<ActrId>,
    failed: Option<ActrError>,
    stats: NodeStats,
    stalled_links: u64,
    timer: Option<(Instant, BoxFuture<'static, ()>)>,
    done: Option<Option<Sender<()>>>,
}

impl<R: Runtime> NodeTask<R> {
    /// Runs until a shutdown command or until every handle is dropped.
    pub async fn run(self) {
        let mut state = Running {
            parts: self,
            conns: BTreeMap::new(),
            links: BTreeMap::new(),
            unflushed: Vec::new(),
            rtcs: BTreeMap::new(),
            sink: None,
            rtc: None,
            queries: BTreeMap::new(),
            calls: BTreeMap::new(),
            tells: BTreeMap::new(),
            waiters: Vec::new(),
            registration_waiters: Vec::new(),
            connected: None,
            failed: None,
            stats: NodeStats::default(),
            stalled_links: 0,
            timer: None,
            done: None,
        };
        let now = state.parts.rt.now();
        state.parts.hub.start(now);
        state.drain();
        while state.done.is_none() {
            let wake = state.wait().await;
            state.on_wake(wake);
            for _ in 0..MAX_BURST {
                let Some(wake) = state.try_next() else { break };
                state.on_wake(wake);
            }
            state.flush_links();
        }
        state.finish();
    }
}

impl<R: Runtime> Running<R> {
    fn now(&self) -> Instant {
        self.parts.rt.now()
    }

    /// Where a new pump hands its inputs.
    fn inlet(&self) -> Inlet<R> {
        (self.parts.inputs_tx.clone(), self.parts.budget.clone())
    }

    fn on_wake(&mut self, wake: Wake<R>) {
        match wake {
            Wake::Command(Some(command)) => self.on_command(command),
            Wake::Command(None) => self.done = Some(None),
            Wake::Input(input) => self.on_input(input),
            Wake::Timer => self.timer = None,
        }
        let now = self.now();
        if self.parts.hub.poll_timeout().is_some_and(|at| at <= now) {
            self.parts.hub.handle_timeout(now);
        }
        self.drain();
    }

    /// Writes what this burst queued on each link: one socket write for
    /// all of a link's messages.
    fn flush_links(&mut self) {
        for link in std::mem::take(&mut self.unflushed) {
            if let Some(queue) = self.links.get(&link) {
                queue.flush();
            }
        }
    }

    fn try_next(&mut self) -> Option<Wake<R>> {
        if self.done.is_some() {
            return None;
        }
        if let Ok(input) = self.parts.inputs.try_recv() {
            return Some(Wake::Input(input));
        }
        self.parts.commands.try_recv().ok().map(|c| Wake::Command(Some(c)))
    }

    /// Waits for the next input or the hub's deadline; the sleep is kept
    /// across iterations while the deadline is unchanged.
    async fn wait(&mut self) -> Wake<R> {
        let deadline = self.parts.hub.poll_timeout();
        if self.timer.as_ref().map(|(at, _)| *at) != deadline {
            let now = self.now();
            let until = |at: Instant| std::time::Duration::from_micros(at.saturating_since(now).as_micros());
            self.timer = deadline.map(|at| (at, self.parts.rt.sleep(until(at))));
        }
        let timer = &mut self.timer;
        let sleep = async move {
            match timer.as_mut() {
                Some((_, sleep)) => sleep.await,
                None => futures::future::pending().await,
            }
        };
        let inputs = self.parts.inputs.recv().fuse();
        let commands = self.parts.commands.recv().fuse();
        let sleep = sleep.fuse();
        futures::pin_mut!(inputs, commands, sleep);
        select_biased! {
            input = inputs => match input {
                Ok(input) => Wake::Input(input),
                Err(_) => Wake::Timer, // unreachable: the task holds a sender
            },
            command = commands => Wake::Command(command.ok()),
            () = sleep => Wake::Timer,
        }
    }

    fn on_command(&mut self, command: Command) {
        let now = self.now();
        let hub = &mut self.parts.hub;
        match command {
            Command::Request { request, reply } => match hub.query(now, request) {
                Ok(query) => {
                    self.queries.insert(query, reply);
                }
                Err(e) => answer(&reply, Err(e)),
            },
            Command::WaitConnected { reply } => self.add_waiter(reply),
            Command::WaitRegistered { reply } => self.add_registration_waiter(reply),
            Command::Stats { reply } => {
                let hub = self.parts.hub.stats();
                let stats = NodeStats { signaling: hub.signaling, ais_calls: hub.ais_calls, ..self.stats };
                answer(&reply, stats);
            }
            Command::RpcStats { reply } => answer(&reply, self.rpc_stats()),
            Command::Call { dest, route_key, payload, timeout, trace, reply } => {
                match hub.call(now, dest, &route_key, payload, timeout, Some(&trace)) {
                    Ok(call) => {
                        self.calls.insert(call, reply);
                    }
                    Err(e) => answer(&reply, Err(e)),
                }
            }
            Command::Tell { dest, route_key, payload, trace, reply } => {
                match hub.tell(now, dest, &route_key, payload, Some(&trace)) {
                    Ok(tell) => {
                        self.tells.insert(tell, reply);
                    }
                    Err(e) => answer(&reply, Err(e)),
                }
            }
            Command::AddRoute { peer, ws_address, reply } => answer(&reply, hub.add_route(now, &peer, ws_address)),
            Command::Network(change) => hub.handle_network_change(now, change),
            Command::StreamChunk { dest, bytes, reply } => answer(&reply, hub.send_stream_chunk(&dest, bytes)),
            Command::Media { dest, op, reply } => self.media(dest, op, reply),
            Command::Drain => hub.begin_drain(now),
            Command::Shutdown { done } => self.done = Some(Some(done)),
        }
    }

    fn on_input(&mut self, input: Input<R>) {
        let now = self.now();
        let hub = &mut self.parts.hub;
        match input {
            Input::Conn(conn, ConnReport::Connected) => hub.handle_signaling_connected(now, conn),
            Input::Conn(conn, ConnReport::Frame(bytes)) => {
                hub.handle_signaling_frame(now, conn, &bytes);
                self.parts.budget.give(bytes.len());
            }
            Input::Conn(conn, ConnReport::ConnectFailed(why)) => {
                self.conns.remove(&conn);
                hub.handle_signaling_failed(now, conn, &why);
            }
            Input::Conn(conn, ConnReport::Closed) => {
                self.conns.remove(&conn);
                hub.handle_signaling_closed(now, conn);
            }
            Input::Ais { id, reply } => {
                if reply.is_err() {
                    self.stats.ais_failures += 1;
                }
                hub.handle_ais_reply(now, id, reply);
            }
            Input::LinkUp(link) => hub.handle_link_up(now, link),
            Input::LinkMessage(link, bytes) => {
                hub.handle_link_message(now, link, &bytes);
                self.parts.budget.give(bytes.len());
            }
            Input::LinkClosed(link, error) => {
                self.links.remove(&link);
                hub.handle_link_closed(now, link, error);
            }
            Input::Accepted(tcp, from) => match hub.handle_link_accepted(now, from.ip()) {
                Ok(link) => {
                    let queue = link_pump::accept(&self.parts.rt, link, tcp, self.inlet());
                    self.links.insert(link, queue);
                }
                Err(e) => tracing::debug!(%from, "direct connection refused: {e}"),
            },
            Input::Rtc(rtc, report) => {
                if let RtcReport::Message(bytes) = &report {
                    self.parts.budget.give(bytes.len());
                }
                if let RtcReport::Ended(_) = report {
                    self.rtcs.remove(&rtc);
                }
                hub.handle_rtc_report(now, rtc, report);
            }
            Input::Respond(delivery, result) => hub.respond(now, delivery, result),
            Input::Open { sink } => {
                self.sink = Some(sink);
                self.rtc = self.parts.webrtc.clone();
                hub.open(now);
            }
        }
    }

    /// Carries out the hub's outputs until it has none.
    fn drain(&mut self) {
        while let Some(output) = self.parts.hub.poll_output() {
            match output {
                NodeOutput::Ais(call) => self.start_ais_call(call),
                NodeOutput::Signaling(transmit) => self.on_transmit(transmit),
                NodeOutput::Link(out) => self.on_link(out),
                NodeOutput::Rtc(out) => self.on_rtc(out),
                NodeOutput::Deliver(delivery) => match &self.sink {
                    Some(sink) => sink.clone().dispatch(delivery, self.parts.inputs_tx.clone()),
                    None => {
                        let gone = Err(ActrError::Unavailable("the actor is not serving".into()));
                        self.parts.hub.respond(self.parts.rt.now(), delivery.id, gone);
                    }
                },
                NodeOutput::CallDone { call, result } => {
                    if let Some(reply) = self.calls.remove(&call) {
                        answer(&reply, result);
                    }
                }
                NodeOutput::TellDone { tell, result } => {
                    if let Some(reply) = self.tells.remove(&tell) {
                        answer(&reply, result);
                    }
                }
                NodeOutput::QueryDone { query, result } => {
                    if let Some(reply) = self.queries.remove(&query) {
                        answer(&reply, result);
                    }
                }
                NodeOutput::Event(event) => self.on_event(event),
            }
        }
    }

    fn start_ais_call(&mut self, call: actr_core::keeper::AisCall) {
        let ais = self.parts.ais.clone();
        let results = self.parts.inputs_tx.clone();
        let signer = self.parts.manufacturer.clone();
        // The hub's wall clock: the runtime's `now` stays the only clock.
        let unix = self.parts.hub.unix(self.parts.rt.now());
        self.parts.rt.spawn_blocking(Box::new(move || {
            let mut request = call.request;
            let reply = match crate::node::package::add_proof(&mut request, signer.as_ref(), unix) {
                Ok(()) => ais.call(&request),
                Err(e) => Err(e),
            };
            // On a blocking thread a full channel may wait; a closed one means the task is gone.
            let _ = results.send_blocking(Input::Ais { id: call.id, reply });
        }));
    }

    fn on_transmit(&mut self, transmit: ClientTransmit) {
        match transmit {
            ClientTransmit::Connect { conn } => {
                let (queue, rx, dropped) = SocketQueue::new();
                self.conns.insert(conn, queue);
                ConnectionTask {
                    rt: self.parts.rt.clone(),
                    conn,
                    server: self.parts.server.clone(),
                    tls: self.parts.tls.clone(),
                    report: self.parts.inputs_tx.clone(),
                    budget: self.parts.budget.clone(),
                    outbound: rx,
                    dropped,
                }
                .spawn();
            }
            ClientTransmit::Send { conn, bytes } => {
                let Some(tx) = self.conns.get(&conn) else { return };
                if let Err(e) = tx.try_send(SocketCmd::Frame(bytes)) {
                    // Full means the socket has stalled; closed means its task ended.
                    if matches!(e, TrySendError::Full(_)) {
                        self.stats.connections_stalled += 1;
                    }
                    self.conns.remove(&conn);
                    self.parts.hub.handle_signaling_closed(self.parts.rt.now(), conn);
                }
            }
            ClientTransmit::Close { conn } => {
                if let Some(tx) = self.conns.remove(&conn) {
                    // Dropping the sender closes the socket even if this does not fit.
                    let _ = tx.try_send(SocketCmd::Close);
                }
            }
        }
    }

    fn on_link(&mut self, out: LinkOutput) {
        match out {
            LinkOutput::Dial { link, peer: _, address } => {
                let queue = link_pump::dial(&self.parts.rt, link, address, self.inlet());
                self.links.insert(link, queue);
            }
            LinkOutput::Send { link, bytes } => {
                let Some(queue) = self.links.get(&link) else { return };
                match queue.send(bytes) {
                    Ok(true) => self.unflushed.push(link),
                    Ok(false) => {}
                    Err(e) => {
                        // A peer that does not read cannot grow this node's memory: the link closes.
                        self.stalled_links += 1;
                        self.links.remove(&link);
                        self.parts.hub.handle_link_closed(self.parts.rt.now(), link, e);
                    }
                }
            }
            LinkOutput::Authenticated { link, max_message } => {
                if let Some(queue) = self.links.get(&link) {
                    queue.set_max_message(max_message);
                }
            }
            LinkOutput::Close { link } => {
                self.links.remove(&link); // dropping the queue closes the link
            }
        }
    }

    fn on_rtc(&mut self, out: RtcOutput) {
        match out {
            RtcOutput::Open { rtc, peer, offerer, first_exchange_id } => {
                let Some(wire) = self.rtc.clone() else {
                    let off = ActrError::Unavailable("webrtc is off".into());
                    return self.parts.hub.handle_rtc_report(self.parts.rt.now(), rtc, RtcReport::Ended(off));
                };
                let channels = rtc_link::start(&wire, peer, rtc, offerer, first_exchange_id, self.inlet());
                self.rtcs.insert(rtc, channels);
            }
            RtcOutput::Send { rtc, lane: LaneKind::Rpc, bytes } => {
                if let Some((_, data)) = self.rtcs.get(&rtc)
                    && let Err(bytes) = data.send(bytes)
                {
                    // A full queue hands the envelope back: the hub retries a call's request.
                    let now = self.parts.rt.now();
                    self.parts.hub.handle_rtc_report(now, rtc, RtcReport::SendFailed(bytes));
                }
            }
            RtcOutput::Send { rtc, lane, bytes } => self.rtc_cmd(rtc, RtcCmd::Lane(lane, bytes)),
            RtcOutput::Signal { rtc, signal } => self.rtc_cmd(rtc, RtcCmd::Signal(signal)),
            RtcOutput::RestartIce { rtc } => self.rtc_cmd(rtc, RtcCmd::RestartIce),
            RtcOutput::RequestIceRestart { rtc } => self.rtc_cmd(rtc, RtcCmd::RequestIceRestart),
            RtcOutput::Close { rtc } => {
                self.rtcs.remove(&rtc); // dropping the queues ends the task
            }
        }
    }

    fn rtc_cmd(&mut self, rtc: RtcId, cmd: RtcCmd) {
        if let Some((cmds, _)) = self.rtcs.get(&rtc)
            && cmds.try_send(cmd).is_err()
        {
            tracing::debug!(?rtc, "webrtc command dropped: the connection task is busy or gone");
        }
    }

    /// Hands a media operation to the connection to `dest`, starting it if needed.
    fn media(&mut self, dest: ActrId, op: MediaOp, reply: Sender<Result<(), ActrError>>) {
        let now = self.now();
        let rtc = match self.parts.hub.media_connection(now, &dest) {
            Ok(rtc) => rtc,
            Err(e) => return answer(&reply, Err(e)),
        };
        self.drain();
        let Some((cmds, _)) = self.rtcs.get(&rtc) else {
            return answer(&reply, Err(ActrError::Unavailable("the webrtc connection ended".into())));
        };
        if let Err(refused) = cmds.try_send(RtcCmd::Media { op, reply })
            && let RtcCmd::Media { reply, .. } = refused.into_inner()
        {
            answer(&reply, Err(ActrError::ResourceExhausted("the connection is busy".into())));
        }
    }

    fn on_event(&mut self, event: HubEvent) {
        match event {
            HubEvent::Registered(ok) | HubEvent::Renewed(ok) => {
                for waiter in self.registration_waiters.drain(..) {
                    answer(&waiter, Ok(ok.clone()));
                }
            }
            HubEvent::Rebound { old, new } => tracing::info!(%old, %new, "the node has a new identity"),
            HubEvent::Connected { actor } => {
                for waiter in self.waiters.drain(..) {
                    answer(&waiter, Ok(actor.clone()));
                }
                self.connected = Some(actor.clone());
                self.emit(NodeEvent::Connected { actor });
            }
            HubEvent::Disconnected { reason } => {
                self.connected = None;
                self.emit(NodeEvent::Disconnected { reason });
            }
            HubEvent::Relay { source, payload } => self.emit(NodeEvent::Relay { source, payload }),
            HubEvent::Presence { actor, up } => self.emit(NodeEvent::Presence { actor, up }),
            HubEvent::Failed(e) => {
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
            _ => {}
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
        match (self.parts.hub.registration(), &self.failed) {
            (Some(ok), _) => answer(&reply, Ok(ok.clone())),
            (None, Some(e)) => answer(&reply, Err(e.clone())),
            (None, None) if self.registration_waiters.len() >= MAX_WAITERS => {
                answer(&reply, Err(ActrError::ResourceExhausted(format!("{MAX_WAITERS} waiters"))))
            }
            (None, None) => self.registration_waiters.push(reply),
        }
    }

    fn rpc_stats(&self) -> RpcStats {
        let hub = self.parts.hub.stats();
        let mut stats = RpcStats {
            endpoint: hub.endpoint,
            links_open: hub.links_open,
            accepted: hub.accepted,
            refused: hub.refused,
            dialed: hub.dialed,
            dial_failures: hub.dial_failures,
            responses_dropped: hub.responses_dropped,
            webrtc_connections_up: hub.webrtc_connections_up,
            webrtc_connection_failures: hub.webrtc_connection_failures,
            webrtc_sent: hub.webrtc_sent,
            webrtc_received: hub.webrtc_received,
            ice_disconnects: hub.ice_disconnects,
            ice_restarts: hub.ice_restarts,
            ice_recovered: hub.ice_recovered,
            webrtc_stalls: hub.webrtc_stalls,
            fingerprints_refused: hub.fingerprints_refused,
            ..RpcStats::default()
        };
        if let Some(rtc) = &self.rtc {
            rtc.fill(&mut stats);
        }
        stats
    }

    /// Hands an event to the application; a full queue drops it and counts it.
    fn emit(&mut self, event: NodeEvent) {
        if self.parts.events.try_send(event).is_err() {
            self.stats.events_dropped += 1;
        }
    }

    /// Sends what handlers answered meanwhile, then fails what is left.
    fn finish(&mut self) {
        self.parts.budget.close();
        while let Ok(input) = self.parts.inputs.try_recv() {
            if let Input::Respond(delivery, result) = input {
                self.parts.hub.respond(self.parts.rt.now(), delivery, result);
            }
        }
        self.drain();
        let now = self.now();
        self.parts.hub.stop(now);
        self.drain();
        let gone = ActrError::Unavailable("the node stopped".into());
        for waiter in self.waiters.drain(..) {
            answer(&waiter, Err(gone.clone()));
        }
        for waiter in self.registration_waiters.drain(..) {
            answer(&waiter, Err(gone.clone()));
        }
        for (_, reply) in std::mem::take(&mut self.queries) {
            answer(&reply, Err(gone.clone()));
        }
        for (_, reply) in std::mem::take(&mut self.calls) {
            answer(&reply, Err(gone.clone()));
        }
        for (_, reply) in std::mem::take(&mut self.tells) {
            answer(&reply, Err(gone.clone()));
        }
        for (_, tx) in std::mem::take(&mut self.conns) {
            let _ = tx.try_send(SocketCmd::Close);
        }
        self.links.clear();
        self.rtcs.clear();
        self.parts.events.close();
        if let Some(Some(done)) = self.done.take() {
            answer(&done, ());
        }
        // Commands that arrive from now on fail at once. Those already queued
        // would keep their reply channels alive as long as any handle holds
        // the channel (a queue outlives its receiver): a second shutdown
        // through another handle would wait out its bound. Answer or drop them.
        self.parts.commands.close();
        while let Ok(command) = self.parts.commands.try_recv() {
            if let Command::Shutdown { done } = command {
                answer(&done, ());
            }
        }
    }
}

/// Answers a one-shot reply channel; a caller that gave up is no error.
fn answer<T>(reply: &Sender<T>, value: T) {
    let _ = reply.try_send(value);
}
