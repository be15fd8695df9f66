//! One WebRTC connection to one remote peer: a task that owns a UDP socket
//! and an [`RtcPeer`] and drives it as the `webrtc` module docs describe.
//!
//! # The loop
//!
//! 1. Drain the peer: signals go to the signaling relay (bounded by
//!    [`RELAY_TIMEOUT`]), datagrams to the socket, events to the RPC loop.
//! 2. Wait for the first of: a command ([`RtcCmd`]), a datagram, an RPC
//!    envelope to send (only while the RPC channel is open and no earlier
//!    envelope waits for room), or the peer's deadline.
//! 3. Feed it to the peer with the current time; go to 1.
//!
//! The task reports `RtcUp` when the RPC channel opens (and again after a
//! recovery), `RtcDown { terminal: false }` when connectivity is lost, and
//! ends with `RtcDown { terminal: true }` (sent by [`RtcWire::start`]) when
//! the peer is closed, setup or recovery timed out, or the loop dropped its
//! command queue. Only the offerer restarts ICE; the answerer asks it to.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use actr_core::transport::LaneKind;
use actr_core::{ActrError, ActrId};
use async_channel::{Receiver, Sender};
use futures::{FutureExt, select_biased};

use crate::node::rpc_io::{LinkId, LoopInput, MediaOp};
use crate::node::rtc_streams::LatencyInbox;
use crate::node::rtc_wire::{RELAY_TIMEOUT, RtcWire};
use crate::runtime::{Runtime, with_deadline};
use crate::webrtc::{MediaType, RtcEvent, RtcPeer, RtcSignal, SendError};

/// Bound of a task's command queue.
pub(crate) const TASK_COMMANDS: usize = 64;
/// Bound of RPC envelopes waiting for the peer task.
const OUTBOUND_QUEUE: usize = 256;
/// Tracks being negotiated with callers waiting for them.
const MAX_TRACK_WAITERS: usize = 16;
/// Receive buffer: larger than any datagram str0m sends.
const DATAGRAM_BUFFER: usize = 2048;

/// What the RPC loop asks of a connection task.
#[derive(Debug)]
pub(crate) enum RtcCmd {
    /// A signaling message from the remote peer.
    Signal(RtcSignal),
    /// The network changed: RPC leaves this connection until ICE is back;
    /// the offerer restarts ICE, the answerer asks it to.
    Recover,
    /// A latency-first stream chunk for the stream lane; dropped when the
    /// lane has no room.
    StreamChunk(Vec<u8>),
    /// A media operation, answered on `reply`.
    Media { op: MediaOp, reply: Sender<Result<(), ActrError>> },
}

enum Wake {
    Cmd(Option<RtcCmd>),
    Datagram(std::io::Result<(usize, SocketAddr)>),
    Out(Vec<u8>),
    Timer,
}

/// The state of one connection task.
pub(crate) struct PeerTask<R: Runtime> {
    wire: Arc<RtcWire<R>>,
    remote: ActrId,
    task: LinkId,
    peer: RtcPeer,
    socket: R::Udp,
    local: SocketAddr,
    cmds: Receiver<RtcCmd>,
    out_tx: Sender<Vec<u8>>,
    out_rx: Receiver<Vec<u8>>,
    /// An envelope the peer refused for lack of room; retried after each input.
    stalled: Option<Vec<u8>>,
    /// Whether the loop currently routes RPC to this connection.
    up: bool,
    /// Latency-first chunks from the stream lane.
    inbox: LatencyInbox<R>,
    /// Callers of `add_media_track` waiting for their track.
    track_waiters: Vec<(MediaType, Sender<Result<(), ActrError>>)>,
}

impl<R: Runtime> PeerTask<R> {
    /// Binds the socket and builds the peer; an answerer that `solicit`s asks
    /// the remote (the offerer) to connect.
    pub fn open(
        wire: Arc<RtcWire<R>>,
        remote: ActrId,
        task: LinkId,
        offerer: bool,
        solicit: bool,
        cmds: Receiver<RtcCmd>,
    ) -> Result<Self, ActrError> {
        let unavailable = |e: std::io::Error| ActrError::Unavailable(format!("webrtc socket: {e}"));
        let socket = wire.rt.bind_udp(SocketAddr::new(wire.settings.ip, 0)).map_err(unavailable)?;
        let local = wire.rt.udp_addr(&socket).map_err(unavailable)?;
        let config = wire.peer_config(task);
        let now = Instant::now();
        let built = if offerer { RtcPeer::offerer(config, local, now) } else { RtcPeer::answerer(config, local, now) };
        let mut peer = built.map_err(|e| ActrError::Internal(format!("webrtc peer: {e}")))?;
        if solicit && !offerer {
            peer.request_ice_restart().map_err(|e| ActrError::Internal(e.to_string()))?;
        }
        let (out_tx, out_rx) = async_channel::bounded(OUTBOUND_QUEUE);
        let inbox = LatencyInbox::new(wire.clone(), remote.clone());
        Ok(Self {
            wire,
            remote,
            task,
            peer,
            socket,
            local,
            cmds,
            out_tx,
            out_rx,
            stalled: None,
            up: false,
            inbox,
            track_waiters: Vec::new(),
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
            let now = Instant::now();
            let fed = match wake {
                Wake::Cmd(None) => {
                    self.peer.close();
                    return ActrError::Unavailable("the node closed the webrtc connection".into());
                }
                Wake::Cmd(Some(RtcCmd::Signal(signal))) => {
                    self.peer.handle_signal(now, signal).map_err(|e| e.to_string())
                }
                Wake::Cmd(Some(RtcCmd::StreamChunk(bytes))) => {
                    let counter = match self.peer.send(LaneKind::Stream, &bytes) {
                        Ok(()) => &self.wire.counters.stream_chunks_sent,
                        Err(_) => &self.wire.counters.stream_chunks_dropped,
                    };
                    RtcWire::<R>::bump(counter);
                    Ok(())
                }
                Wake::Cmd(Some(RtcCmd::Media { op, reply })) => {
                    self.on_media(op, reply);
                    Ok(())
                }
                Wake::Cmd(Some(RtcCmd::Recover)) => {
                    // The path may be gone: RPC moves to the direct link until ICE is back.
                    self.report_down(ActrError::Unavailable("network changed".into())).await;
                    self.recover().map_err(|e| e.to_string())
                }
                Wake::Datagram(Ok((n, from))) if !self.wire.cut.load(Ordering::Relaxed) => {
                    self.peer.handle_datagram(now, from, self.local, &buf[..n]).map_err(|e| e.to_string())
                }
                Wake::Datagram(_) => Ok(()),
                Wake::Out(bytes) => {
                    self.send(bytes);
                    Ok(())
                }
                Wake::Timer => self.peer.handle_timeout(now).map_err(|e| e.to_string()),
            };
            if let Err(e) = fed {
                tracing::debug!(peer = %self.remote, "webrtc input refused: {e}");
            }
            if let Some(bytes) = self.stalled.take() {
                self.send(bytes);
            }
            if self.peer.is_recovering() {
                // Both sides see an ICE restart: RPC leaves the path until it is back.
                self.report_down(ActrError::Unavailable("webrtc recovering".into())).await;
            }
        }
    }

    async fn wait(&mut self, buf: &mut [u8]) -> Wake {
        let sleep = self.wire.rt.sleep(self.peer.poll_timeout().saturating_duration_since(Instant::now())).fuse();
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
            out = outs => match out {
                Some(bytes) => Wake::Out(bytes),
                None => Wake::Timer, // unreachable: the task holds a sender
            },
            () = sleep => Wake::Timer,
        }
    }

    /// The offerer restarts ICE; the answerer asks the offerer to.
    fn recover(&mut self) -> Result<(), crate::webrtc::RtcPeerError> {
        RtcWire::<R>::bump(&self.wire.counters.ice_restarts);
        match self.peer.is_offerer() {
            true => self.peer.restart_ice(),
            false => self.peer.request_ice_restart(),
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
            Ok(()) => RtcWire::<R>::bump(&self.wire.counters.sent),
            Err(SendError::Backpressure { .. }) => self.stalled = Some(bytes),
            // The envelope is lost; the endpoint's deadline answers its caller.
            Err(e) => tracing::debug!(peer = %self.remote, "webrtc send failed: {e}"),
        }
    }

    /// Step 1 of the loop; `Err` ends the task.
    async fn flush(&mut self) -> Result<(), ActrError> {
        loop {
            let mut moved = false;
            while let Some(signal) = self.peer.poll_signal() {
                moved = true;
                self.relay(signal).await?;
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
            if !moved {
                return Ok(());
            }
        }
    }

    /// Relays `signal`; before the first connection, a failure ends the task
    /// (the remote is unknown or signaling is down), later it is logged.
    async fn relay(&mut self, signal: RtcSignal) -> Result<(), ActrError> {
        let bytes = signal.encode().map_err(|e| ActrError::Internal(format!("signal: {e}")))?;
        let relay = self.wire.signaling.relay(self.remote.clone(), bytes);
        match with_deadline(&self.wire.rt, RELAY_TIMEOUT, relay).await.and_then(|r| r) {
            Ok(()) => Ok(()),
            Err(e) if !self.peer.is_connected() => Err(e),
            Err(e) => {
                tracing::debug!(peer = %self.remote, "relay of {} failed: {e}", signal.name());
                Ok(())
            }
        }
    }

    async fn on_event(&mut self, event: RtcEvent) -> Result<(), ActrError> {
        match event {
            RtcEvent::ChannelOpen(LaneKind::Rpc) => self.report_up().await,
            RtcEvent::IceReconnected | RtcEvent::IceRestarted if self.peer.is_open(LaneKind::Rpc) && !self.up => {
                RtcWire::<R>::bump(&self.wire.counters.ice_recovered);
                self.report_up().await;
            }
            RtcEvent::Message { lane: LaneKind::Rpc, bytes } => {
                RtcWire::<R>::bump(&self.wire.counters.received);
                let frame = LoopInput::Frame { peer: self.remote.clone(), bytes };
                if self.wire.inputs.send(frame).await.is_err() {
                    return Err(ActrError::Unavailable("the node stopped".into()));
                }
            }
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
                RtcWire::<R>::bump(&self.wire.counters.ice_disconnects);
                self.report_down(ActrError::Unavailable("webrtc connectivity lost".into())).await;
                if let Err(e) = self.recover() {
                    tracing::debug!(peer = %self.remote, "ice recovery not started: {e}");
                }
            }
            RtcEvent::ChannelClosed(LaneKind::Rpc) => {
                self.report_down(ActrError::Unavailable("webrtc rpc channel closed".into())).await;
            }
            RtcEvent::Disconnected => {
                if !self.up && !self.peer.is_connected() {
                    RtcWire::<R>::bump(&self.wire.counters.connection_failures);
                }
                return Err(ActrError::Unavailable("webrtc connection ended".into()));
            }
            _ => {}
        }
        Ok(())
    }

    async fn report_up(&mut self) {
        if self.up {
            return;
        }
        self.up = true;
        RtcWire::<R>::bump(&self.wire.counters.connections_up);
        let up = LoopInput::RtcUp { peer: self.remote.clone(), task: self.task, tx: self.out_tx.clone() };
        let _ = self.wire.inputs.send(up).await;
    }

    async fn report_down(&mut self, error: ActrError) {
        if !self.up {
            return;
        }
        self.up = false;
        let down = LoopInput::RtcDown { peer: self.remote.clone(), task: self.task, error, terminal: false };
        let _ = self.wire.inputs.send(down).await;
    }
}
