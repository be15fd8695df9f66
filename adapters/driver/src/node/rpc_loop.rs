//! The RPC loop of one node: the core's `RpcEndpoint` (correlation with
//! deadlines, retries of identical bytes, ACL and dedup on inbound) and
//! `RouteTable`, driven by commands from the node, by its links, and by a timer.
//!
//! # The loop
//!
//! 1. Wait for a command ([`LoopCmd`]), a link or handler report
//!    ([`LoopInput`]), or the endpoint's next deadline.
//! 2. Hand it to the endpoint with `now`.
//! 3. Drain the endpoint: each outbound message goes to its peer's link, or
//!    waits (bounded) while a link is dialed; each dispatch goes to the
//!    workload through [`Dispatch`]; each finished call answers its caller.
//!
//! A message that cannot be sent is handed back to the endpoint with
//! `handle_send_failed`: transient failures are retried with the lane's
//! backoff (and redial), others fail the call at once.
//!
//! # Wires
//!
//! The route table picks the wire: a WebRTC connection whose RPC channel is
//! open, else an open WebSocket direct link. With neither, the message waits
//! (bounded) while both are tried at once: a WebRTC connection (see
//! `rpc_rtc`) and a WebSocket dial; whichever comes up first serves it, and
//! it fails only when both failed (at once when signaling does not know the
//! peer). When WebRTC comes up later it takes over; when it is lost, traffic
//! moves to the direct link while the connection recovers.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

use actr_core::transport::{EndpointEvent, LaneKind, Outbound, RouteDecision, RouteTable, RpcEndpoint, WireKind};
use actr_core::{ActrError, ActrId, Instant};
use async_channel::{Receiver, Sender, TrySendError};
use futures::future::BoxFuture;
use futures::{FutureExt, select_biased};

use crate::node::direct::DirectWire;
use crate::node::links::LinkTable;
use crate::node::ops::RpcStats;
pub(crate) use crate::node::rpc_io::{Dispatch, LinkId, LoopCmd, LoopInput};
use crate::node::rtc_wire::RtcWire;
use crate::runtime::Runtime;

#[path = "rpc_links.rs"]
mod rpc_links;
#[path = "rpc_rtc.rs"]
mod rpc_rtc;

/// Inputs handled back to back before the loop yields to the executor.
const MAX_BURST: usize = 64;

/// What an outbound message is, which decides what a failure to send means.
enum Kind {
    Call,
    Tell,
    Response,
}

/// Everything the loop owns. Built by the node at start.
pub(crate) struct RpcLoop<R: Runtime> {
    pub rt: R,
    pub endpoint: RpcEndpoint,
    pub routes: RouteTable,
    pub commands: Receiver<LoopCmd>,
    pub inputs: Receiver<LoopInput>,
    pub inputs_tx: Sender<LoopInput>,
    pub wire: Arc<DirectWire<R>>,
    /// The WebRTC wire; `None` when WebRTC is off.
    pub rtc: Option<Arc<RtcWire<R>>>,
    pub sink: Weak<dyn Dispatch>,
}

struct Running<R: Runtime> {
    parts: RpcLoop<R>,
    origin: std::time::Instant,
    links: LinkTable,
    rtc: BTreeMap<ActrId, rpc_rtc::RtcAttempt>,
    calls: BTreeMap<u64, Sender<Result<Vec<u8>, ActrError>>>,
    tells: BTreeMap<(ActrId, u64), Sender<Result<(), ActrError>>>,
    responses_dropped: u64,
    timer: Option<(Instant, BoxFuture<'static, ()>)>,
    done: Option<Option<Sender<()>>>,
}

enum Wake {
    Command(Option<LoopCmd>),
    Input(LoopInput),
    Timer,
}

impl<R: Runtime> RpcLoop<R> {
    /// Runs until a shutdown command or until every command sender is dropped.
    pub async fn run(self) {
        let mut state = Running {
            parts: self,
            origin: std::time::Instant::now(),
            links: LinkTable::default(),
            rtc: BTreeMap::new(),
            calls: BTreeMap::new(),
            tells: BTreeMap::new(),
            responses_dropped: 0,
            timer: None,
            done: None,
        };
        while state.done.is_none() {
            let wake = state.wait().await;
            state.on_wake(wake);
            for _ in 0..MAX_BURST {
                let Some(wake) = state.try_next() else { break };
                state.on_wake(wake);
            }
        }
        state.finish();
    }
}

impl<R: Runtime> Running<R> {
    fn now(&self) -> Instant {
        Instant::from_micros(self.origin.elapsed().as_micros().min(u64::MAX as u128) as u64)
    }

    fn on_wake(&mut self, wake: Wake) {
        match wake {
            Wake::Command(Some(cmd)) => self.on_command(cmd),
            Wake::Command(None) => self.done = Some(None),
            Wake::Input(input) => self.on_input(input),
            Wake::Timer => self.timer = None,
        }
        let now = self.now();
        if self.parts.endpoint.poll_timeout().is_some_and(|at| at <= now) {
            self.parts.endpoint.handle_timeout(now);
        }
        self.drain();
    }

    fn try_next(&mut self) -> Option<Wake> {
        if self.done.is_some() {
            return None;
        }
        if let Ok(input) = self.parts.inputs.try_recv() {
            return Some(Wake::Input(input));
        }
        self.parts.commands.try_recv().ok().map(|c| Wake::Command(Some(c)))
    }

    /// Waits for the next input or the endpoint's deadline; the sleep is kept
    /// across iterations while the deadline is unchanged.
    async fn wait(&mut self) -> Wake {
        let deadline = self.parts.endpoint.poll_timeout();
        if self.timer.as_ref().map(|(at, _)| *at) != deadline {
            let until = |at: Instant| std::time::Duration::from_micros(at.saturating_since(self.now()).as_micros());
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
                Err(_) => Wake::Timer, // unreachable: the loop holds a sender
            },
            command = commands => Wake::Command(command.ok()),
            () = sleep => Wake::Timer,
        }
    }

    fn on_command(&mut self, cmd: LoopCmd) {
        let now = self.now();
        let endpoint = &mut self.parts.endpoint;
        match cmd {
            LoopCmd::Call { dest, route_key, payload, timeout, trace, reply } => {
                match endpoint.call(now, dest, &route_key, payload, timeout, Some(&trace)) {
                    Ok(id) => {
                        self.calls.insert(id, reply);
                    }
                    Err(e) => answer(&reply, Err(e)),
                }
            }
            LoopCmd::Tell { dest, route_key, payload, trace, reply } => {
                match endpoint.tell(dest.clone(), &route_key, payload, Some(&trace)) {
                    Ok(id) => {
                        self.tells.insert((dest, id), reply);
                    }
                    Err(e) => answer(&reply, Err(e)),
                }
            }
            LoopCmd::AddRoute { peer, ws_address } => self.learn(peer, ws_address),
            LoopCmd::Stats { reply } => answer(&reply, self.stats()),
            LoopCmd::RecoverNetwork => self.recover_network(),
            LoopCmd::Media { dest, op, reply } => self.media(dest, op, reply),
            LoopCmd::StreamChunk { dest, bytes, reply } => answer(&reply, self.stream_chunk(dest, bytes)),
            LoopCmd::Shutdown { done } => self.done = Some(Some(done)),
        }
    }

    fn on_input(&mut self, input: LoopInput) {
        let now = self.now();
        match input {
            LoopInput::LinkUp { peer, link, tx } => self.link_up(peer, link, tx),
            LoopInput::Frame { peer, bytes } => self.parts.endpoint.handle_inbound(now, &peer, &bytes),
            LoopInput::LinkDown { peer, link, error } => self.link_down(peer, link, error),
            LoopInput::Learned { peer, ws_address } => self.learn(peer, ws_address),
            LoopInput::Respond { inbound, result } => self.parts.endpoint.respond(now, &inbound, result),
            LoopInput::RtcUp { peer, task, tx } => self.on_rtc_up(peer, task, tx),
            LoopInput::RtcDown { peer, task, error, terminal } => self.on_rtc_down(peer, task, error, terminal),
            LoopInput::RtcSignal { source, signal } => self.on_rtc_signal(source, signal),
        }
    }

    fn learn(&mut self, peer: ActrId, ws_address: String) {
        if let Err(e) = self.parts.routes.set_ws_address(&peer, Some(ws_address)) {
            tracing::debug!(%peer, "route not stored: {e}");
        }
    }

    /// Drains the endpoint until a full pass produces nothing.
    fn drain(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(out) = self.parts.endpoint.poll_outbound() {
                self.send(out);
                progressed = true;
            }
            while let Some(event) = self.parts.endpoint.poll_event() {
                self.on_endpoint_event(event);
                progressed = true;
            }
            if !progressed {
                return;
            }
        }
    }

    fn on_endpoint_event(&mut self, event: EndpointEvent) {
        match event {
            EndpointEvent::Dispatch(inbound) => match self.parts.sink.upgrade() {
                Some(sink) => {
                    if let Some((inbound, result)) = sink.dispatch(inbound, self.parts.inputs_tx.clone()) {
                        self.parts.endpoint.respond(self.now(), &inbound, result);
                    }
                }
                None => {
                    let gone = Err(ActrError::Unavailable("the actor has stopped".into()));
                    self.parts.endpoint.respond(self.now(), &inbound, gone);
                }
            },
            EndpointEvent::CallDone { request_id, result } => {
                if let Some(reply) = self.calls.remove(&request_id) {
                    answer(&reply, result);
                }
            }
        }
    }

    fn kind(&self, out: &Outbound) -> Kind {
        if self.calls.contains_key(&out.request_id) {
            Kind::Call
        } else if self.tells.contains_key(&(out.dest.clone(), out.request_id)) {
            Kind::Tell
        } else {
            Kind::Response
        }
    }

    /// Sends `out` on the wire the route table picks, or parks it while dialing.
    fn send(&mut self, out: Outbound) {
        let link = match self.parts.routes.decide(&out.dest, LaneKind::Rpc) {
            Ok(RouteDecision::Send(WireKind::WebSocket | WireKind::WebRtc, Some(session))) => {
                self.links.sender(&out.dest, session)
            }
            _ => None,
        };
        let Some((link, tx)) = link else { return self.park(out) };
        match tx.try_send(out.bytes) {
            Ok(()) => self.sent(&out.dest, out.request_id),
            Err(TrySendError::Full(bytes)) => {
                let full = ActrError::ResourceExhausted("the link's send queue is full".into());
                self.send_failed(Outbound { bytes, ..out }, full);
            }
            Err(TrySendError::Closed(bytes)) => {
                // The writer ended before the reader reported it: the link is down.
                let gone = ActrError::Unavailable("direct link closed".into());
                self.link_down(out.dest.clone(), link, gone.clone());
                self.send_failed(Outbound { bytes, ..out }, gone);
            }
        }
    }

    fn sent(&mut self, dest: &ActrId, request_id: u64) {
        // Most sends are calls and responses: spare them the key's clone.
        if self.tells.is_empty() {
            return;
        }
        if let Some(reply) = self.tells.remove(&(dest.clone(), request_id)) {
            answer(&reply, Ok(()));
        }
    }

    fn send_failed(&mut self, out: Outbound, error: ActrError) {
        match self.kind(&out) {
            Kind::Call => self.parts.endpoint.handle_send_failed(self.now(), out, error),
            Kind::Tell => {
                if let Some(reply) = self.tells.remove(&(out.dest, out.request_id)) {
                    answer(&reply, Err(error));
                }
            }
            Kind::Response => self.responses_dropped += 1,
        }
    }

    fn stats(&self) -> RpcStats {
        let mut stats = RpcStats {
            endpoint: self.parts.endpoint.stats(),
            responses_dropped: self.responses_dropped,
            ..self.parts.wire.counters()
        };
        if let Some(rtc) = &self.parts.rtc {
            rtc.fill(&mut stats);
        }
        stats
    }

    /// Sends what handlers answered meanwhile, then fails what is left and closes every link.
    fn finish(&mut self) {
        while let Ok(input) = self.parts.inputs.try_recv() {
            if let LoopInput::Respond { inbound, result } = input {
                self.parts.endpoint.respond(self.now(), &inbound, result);
            }
        }
        self.drain();
        let gone = ActrError::Unavailable("the node stopped".into());
        for (_, reply) in std::mem::take(&mut self.calls) {
            answer(&reply, Err(gone.clone()));
        }
        for (_, reply) in std::mem::take(&mut self.tells) {
            answer(&reply, Err(gone.clone()));
        }
        self.links.clear();
        self.rtc.clear();
        if let Some(Some(done)) = self.done.take() {
            answer(&done, ());
        }
    }
}

/// Answers a one-shot reply channel; a caller that gave up is no error.
fn answer<T>(reply: &Sender<T>, value: T) {
    let _ = reply.try_send(value);
}
