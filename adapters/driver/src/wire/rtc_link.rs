//! One WebRTC connection to one remote peer: a task that owns a UDP socket
//! and an [`RtcPeer`] and drives it as the `webrtc` module docs describe.
//! It moves datagrams, str0m events and the hub's commands; every decision
//! (roles, recovery, deadlines, which wire carries RPC) is the hub's.
//!
//! # The loop
//!
//! 1. Drain the peer: signals and events go to the node task as
//!    [`RtcReport`]s, datagrams to the socket.
//! 2. Wait for the first of: a command ([`RtcCmd`]), a datagram, an RPC
//!    envelope to send (only while the RPC channel is open and no earlier
//!    envelope waits for room), or the peer's deadline.
//! 3. Feed it to the peer with the current time; go to 1.
//!
//! The task ends when the node task drops its queues or the peer ends, and
//! then reports [`RtcReport::Ended`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use actr_core::node::signal::RtcSignal;
use actr_core::node::{RtcId, RtcReport};
use actr_core::transport::LaneKind;
use actr_core::{ActrError, ActrId};
use async_channel::{Receiver, Sender};
use futures::future::BoxFuture;
use futures::{FutureExt, select_biased};

use crate::runtime::Runtime;
use crate::task::io::{Inlet, Input, InputBudget, MediaOp};
use crate::wire::rtc_streams::LatencyInbox;
use crate::wire::rtc_wire::RtcWire;
use crate::wire::webrtc::{MediaType, RtcEvent, RtcPeer, SendError};

/// Bytes waiting in a connection's RPC queue, shared by the node task's
/// [`RpcQueue`] and the connection task.
type QueuedBytes = Arc<std::sync::atomic::AtomicUsize>;

fn release(queued: &QueuedBytes, n: usize) {
    queued.fetch_sub(n, Ordering::Relaxed);
}

/// Bound of a task's command queue.
const TASK_COMMANDS: usize = 64;
/// Bound of RPC envelopes waiting for the peer task.
const OUTBOUND_QUEUE: usize = 4096;
/// Bytes of RPC envelopes waiting for the connection task.
pub(crate) const MAX_RPC_QUEUE_BYTES: usize = 32 * 1024 * 1024;

/// The node task's end of a connection's RPC queue, bounded in envelopes
/// and in bytes. A full queue hands the envelope back (the hub retries it).
#[derive(Debug)]
pub(crate) struct RpcQueue {
    tx: Sender<Vec<u8>>,
    queued: QueuedBytes,
}

impl RpcQueue {
    pub fn send(&self, bytes: Vec<u8>) -> Result<(), Vec<u8>> {
        let len = bytes.len();
        let queued = self.queued.load(std::sync::atomic::Ordering::Relaxed);
        if queued > 0 && queued + len > MAX_RPC_QUEUE_BYTES {
            return Err(bytes);
        }
        self.queued.fetch_add(len, std::sync::atomic::Ordering::Relaxed);
        self.tx.try_send(bytes).map_err(|e| {
            release(&self.queued, len);
            e.into_inner()
        })
    }
}
/// Tracks being negotiated with callers waiting for them.
const MAX_TRACK_WAITERS: usize = 16;
/// Receive buffer: larger than any datagram str0m sends.
const DATAGRAM_BUFFER: usize = 2048;

/// What the node task asks of a connection task.
#[derive(Debug)]
pub(crate) enum RtcCmd {
    /// A signaling message from the remote peer.
    Signal(RtcSignal),
    /// The offerer restarts ICE.
    RestartIce,
    /// The answerer asks the offerer to restart ICE.
    RequestIceRestart,
    /// A message for a lane other than RPC (latency-first stream chunks);
    /// dropped when the lane has no room.
    Lane(LaneKind, Vec<u8>),
    /// A media operation, answered on `reply`.
    Media { op: MediaOp, reply: Sender<Result<(), ActrError>> },
}

enum Wake {
    Cmd(Option<RtcCmd>),
    Datagram(std::io::Result<(usize, SocketAddr)>),
    Out(Option<Vec<u8>>),
    Timer,
}

/// Starts the task of connection `rtc` to `remote`. Returns its command
/// and RPC queues; dropping them closes the connection. It ends with
/// `RtcReport::Ended` on `reports`.
pub(crate) fn start<R: Runtime>(
    wire: &Arc<RtcWire<R>>,
    remote: ActrId,
    rtc: RtcId,
    offerer: bool,
    first_exchange_id: u64,
    (reports, budget): Inlet<R>,
) -> (Sender<RtcCmd>, RpcQueue) {
    let (tx, rx) = async_channel::bounded(TASK_COMMANDS);
    let (out_tx, out_rx) = async_channel::bounded(OUTBOUND_QUEUE);
    let queued = QueuedBytes::default();
    let task_wire = wire.clone();
    let task_queued = queued.clone();
    wire.rt.spawn(Box::pin(async move {
        let open = RtcOpen { rtc, remote: remote.clone(), offerer, first_exchange_id };
        let error = match PeerTask::open(task_wire, open, rx, (out_rx, task_queued), (reports.clone(), budget)) {
            Ok(peer) => peer.run().await,
            Err(e) => e,
        };
        tracing::debug!(peer = %remote, "webrtc connection ended: {error}");
        let _ = reports.send(Input::Rtc(rtc, RtcReport::Ended(error))).await;
    }));
    (tx, RpcQueue { tx: out_tx, queued })
}

/// How a connection task is opened; see [`actr_core::node::RtcOutput::Open`].
#[derive(Debug, Clone)]
struct RtcOpen {
    pub rtc: RtcId,
    pub remote: ActrId,
    pub offerer: bool,
    pub first_exchange_id: u64,
}

/// The state of one connection task.
struct PeerTask<R: Runtime> {
    wire: Arc<RtcWire<R>>,
    remote: ActrId,
    rtc: RtcId,
    peer: RtcPeer,
    socket: R::Udp,
    local: SocketAddr,
    cmds: Receiver<RtcCmd>,
    out_rx: Receiver<Vec<u8>>,
    /// Bytes waiting in `out_rx`, shared with the node task's [`RpcQueue`].
    queued: QueuedBytes,
    reports: Sender<Input<R>>,
    budget: InputBudget,
    /// Envelopes the peer could not send, for the hub to retry.
    failed: Vec<Vec<u8>>,
    /// An envelope the peer refused for lack of room; retried after each input.
    stalled: Option<Vec<u8>>,
    /// Whether the RPC channel is open and ICE is not recovering.
    up: bool,
    recovering: bool,
    /// Latency-first chunks from the stream lane.
    inbox: LatencyInbox<R>,
    /// Callers of `add_media_track` waiting for their track.
    track_waiters: Vec<(MediaType, Sender<Result<(), ActrError>>)>,
    /// The sleep until the peer's deadline, kept while the deadline stays.
    timer: Option<(Instant, BoxFuture<'static, ()>)>,
}

impl<R: Runtime> PeerTask<R> {
    /// Binds the socket and builds the peer.
    pub fn open(
        wire: Arc<RtcWire<R>>,
        open: RtcOpen,
        cmds: Receiver<RtcCmd>,
        (out_rx, queued): (Receiver<Vec<u8>>, QueuedBytes),
        (reports, budget): Inlet<R>,
    ) -> Result<Self, ActrError> {
        let unavailable = |e: std::io::Error| ActrError::Unavailable(format!("webrtc socket: {e}"));
        let socket = wire.rt.bind_udp(SocketAddr::new(wire.settings.ip, 0)).map_err(unavailable)?;
        let local = wire.rt.udp_addr(&socket).map_err(unavailable)?;
        let config = wire.peer_config(open.first_exchange_id);
        let now = wire.rt.std_now();
        let built = match open.offerer {
            true => RtcPeer::offerer(config, local, now),
            false => RtcPeer::answerer(config, local, now),
        };
        let peer = built.map_err(|e| ActrError::Internal(format!("webrtc peer: {e}")))?;
        let inbox = LatencyInbox::new(wire.clone(), open.remote.clone());
        Ok(Self {
            wire,
            remote: open.remote,
            rtc: open.rtc,
            peer,
            socket,
            local,
            cmds,
            out_rx,
            queued,
            budget,
            failed: Vec::new(),
            reports,
            stalled: None,
            up: false,
            recovering: false,
            inbox,
            track_waiters: Vec::new(),
            timer: None,
        })
    }

    /// Drives the connection until it ends; returns why.
    pub async fn run(mut self) -> ActrError {
        let mut buf = vec![0u8; DATAGRAM_BUFFER];
        loop {
            if let Err(end) = self.flush().await {
                self.peer.close();
                return end;
            }
            let wake = self.wait(&mut buf).await;
            let now = self.wire.rt.std_now();
            let fed = match wake {
                Wake::Cmd(None) | Wake::Out(None) => {
                    self.peer.close();
                    return ActrError::Unavailable("the node closed the webrtc connection".into());
                }
                Wake::Cmd(Some(cmd)) => self.on_cmd(now, cmd),
                Wake::Datagram(Ok((n, from))) if !self.wire.cut.load(Ordering::Relaxed) => {
                    self.peer.handle_datagram(now, from, self.local, &buf[..n]).map_err(|e| e.to_string())
                }
                Wake::Datagram(_) => Ok(()),
                Wake::Out(Some(bytes)) => {
                    release(&self.queued, bytes.len());
                    self.send(bytes);
                    Ok(())
                }
                Wake::Timer => {
                    self.timer = None;
                    self.peer.handle_timeout(now).map_err(|e| e.to_string())
                }
            };
            if let Err(e) = fed {
                tracing::debug!(peer = %self.remote, "webrtc input refused: {e}");
            }
            if let Some(bytes) = self.stalled.take() {
                self.send(bytes);
            }
        }
    }

    fn on_cmd(&mut self, now: Instant, cmd: RtcCmd) -> Result<(), String> {
        match cmd {
            RtcCmd::Signal(signal) => self.peer.handle_signal(now, signal).map_err(|e| e.to_string()),
            RtcCmd::Lane(lane, bytes) => {
                let counter = match self.peer.send(lane, &bytes) {
                    Ok(()) => &self.wire.counters.stream_chunks_sent,
                    Err(_) => &self.wire.counters.stream_chunks_dropped,
                };
                RtcWire::<R>::bump(counter);
                Ok(())
            }
            RtcCmd::Media { op, reply } => {
                self.on_media(op, reply);
                Ok(())
            }
            RtcCmd::RestartIce => self.peer.restart_ice().map_err(|e| e.to_string()),
            RtcCmd::RequestIceRestart => self.peer.request_ice_restart().map_err(|e| e.to_string()),
        }
    }

    async fn wait(&mut self, buf: &mut [u8]) -> Wake {
        let deadline = self.peer.poll_timeout();
        if self.timer.as_ref().map(|(at, _)| *at) != Some(deadline) {
            let sleep = self.wire.rt.sleep(deadline.saturating_duration_since(self.wire.rt.std_now()));
            self.timer = Some((deadline, sleep));
        }
        let timer = &mut self.timer;
        let sleep = async move {
            match timer.as_mut() {
                Some((_, sleep)) => sleep.await,
                None => futures::future::pending().await,
            }
        }
        .fuse();
        let recv = self.wire.rt.recv_from(&self.socket, buf).fuse();
        let cmds = self.cmds.recv().fuse();
        let ready = self.up && self.stalled.is_none();
        let out_rx = &self.out_rx;
        let outs = async move {
            match ready {
                true => out_rx.recv().await.ok(),
                false => futures::future::pending().await,
            }
        }
        .fuse();
        futures::pin_mut!(sleep, recv, cmds, outs);
        select_biased! {
            cmd = cmds => Wake::Cmd(cmd.ok()),
            got = recv => Wake::Datagram(got),
            out = outs => Wake::Out(out),
            () = sleep => Wake::Timer,
        }
    }

    /// Starts negotiating a track (answered when it is usable) or sends a sample.
    fn on_media(&mut self, op: MediaOp, reply: Sender<Result<(), ActrError>>) {
        let result = match op {
            MediaOp::AddTrack(media_type) if self.peer.has_media_track(media_type) => Ok(()),
            MediaOp::AddTrack(_) if self.track_waiters.len() >= MAX_TRACK_WAITERS => {
                Err(ActrError::ResourceExhausted(format!("{MAX_TRACK_WAITERS} tracks being negotiated")))
            }
            MediaOp::AddTrack(media_type) => match self.peer.add_media_track(media_type) {
                Ok(()) => return self.track_waiters.push((media_type, reply)),
                Err(e) => Err(ActrError::InvalidArgument(format!("media track: {e}"))),
            },
            MediaOp::Sample(sample) => self.peer.send_media(sample).map_err(ActrError::from),
        };
        let _ = reply.try_send(result);
    }

    fn send(&mut self, bytes: Vec<u8>) {
        match self.peer.send(LaneKind::Rpc, &bytes) {
            Ok(()) => {}
            Err(SendError::Backpressure { .. }) => self.stalled = Some(bytes),
            // Handed back to the hub, whose endpoint retries a call's request.
            Err(e) => {
                tracing::debug!(peer = %self.remote, "webrtc send failed: {e}");
                self.failed.push(bytes);
            }
        }
    }

    /// Step 1 of the loop; `Err` ends the task.
    async fn flush(&mut self) -> Result<(), ActrError> {
        for bytes in std::mem::take(&mut self.failed) {
            self.report(RtcReport::SendFailed(bytes)).await?;
        }
        loop {
            let mut moved = false;
            while let Some(signal) = self.peer.poll_signal() {
                moved = true;
                self.report(RtcReport::SignalOut(signal)).await?;
            }
            while let Some((to, bytes)) = self.peer.poll_transmit() {
                moved = true;
                if !self.wire.cut.load(Ordering::Relaxed) {
                    // A datagram that cannot be sent is lost, as on any network.
                    let _ = self.wire.rt.send_to(&self.socket, &bytes, to).await;
                }
            }
            while let Some(event) = self.peer.poll_event() {
                moved = true;
                self.on_event(event).await?;
            }
            if self.peer.is_recovering() != self.recovering {
                self.recovering = !self.recovering;
                if self.recovering && self.up {
                    self.up = false;
                    self.report(RtcReport::Recovering).await?;
                }
            }
            if !moved {
                return Ok(());
            }
        }
    }

    async fn report(&mut self, report: RtcReport) -> Result<(), ActrError> {
        if let RtcReport::Message(bytes) = &report {
            self.budget.take(bytes.len()).await;
        }
        match self.reports.send(Input::Rtc(self.rtc, report)).await {
            Ok(()) => Ok(()),
            Err(_) => Err(ActrError::Unavailable("the node stopped".into())),
        }
    }

    async fn on_event(&mut self, event: RtcEvent) -> Result<(), ActrError> {
        match event {
            RtcEvent::ChannelOpen(LaneKind::Rpc) if !self.up => {
                self.up = true;
                self.report(RtcReport::RpcOpen).await?;
            }
            RtcEvent::IceReconnected | RtcEvent::IceRestarted if self.peer.is_open(LaneKind::Rpc) && !self.up => {
                self.up = true;
                self.report(RtcReport::Recovered).await?;
            }
            RtcEvent::Message { lane: LaneKind::Rpc, bytes } => self.report(RtcReport::Message(bytes)).await?,
            RtcEvent::Message { lane: LaneKind::Stream, bytes } => self.inbox.accept(&bytes),
            RtcEvent::MediaTrack(media_type) => {
                for (_, reply) in self.track_waiters.extract_if(.., |(t, _)| *t == media_type) {
                    let _ = reply.try_send(Ok(()));
                }
            }
            RtcEvent::MediaSample(sample) => {
                if let Err(e) = self.wire.media.dispatch(sample, self.remote.clone()) {
                    tracing::debug!(peer = %self.remote, "media sample dropped: {e}");
                }
            }
            RtcEvent::IceDisconnected => {
                self.up = false;
                self.report(RtcReport::ConnectivityLost).await?;
            }
            RtcEvent::ChannelClosed(LaneKind::Rpc) => {
                self.up = false;
                self.report(RtcReport::RpcClosed).await?;
            }
            RtcEvent::Disconnected => return Err(ActrError::Unavailable("webrtc connection ended".into())),
            _ => {}
        }
        Ok(())
    }
}
