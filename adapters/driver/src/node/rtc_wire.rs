//! The WebRTC wire of one node: starts one connection task per remote peer
//! (see [`crate::node::rtc_link`]), carries their signaling through the
//! signaling server's relay, and counts what they do.
//!
//! Signaling messages from remote peers arrive as `NodeEvent::Relay`; the
//! relay pump decodes those that are [`RtcSignal`]s and hands them to the RPC
//! loop, which routes them to the peer's task (or starts an answerer for an
//! unsolicited offer).

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use actr_core::ActrId;
use async_channel::Sender;

use crate::handle::{NodeEvent, SignalingHandle};
use crate::node::ops::RpcStats;
use crate::node::rpc_io::{LinkId, LoopInput};
use crate::node::rtc_link::{PeerTask, RtcCmd, TASK_COMMANDS};
use crate::runtime::Runtime;
use crate::streams::{DataStreamRegistry, MediaFrameRegistry, RegistryConfig};
use crate::webrtc::{DtlsCert, RtcPeerConfig, RtcSignal};

/// Bound on relaying one signaling message.
pub(crate) const RELAY_TIMEOUT: Duration = Duration::from_secs(5);

/// How the node's WebRTC connections are set up.
#[derive(Debug, Clone)]
pub(crate) struct RtcSettings {
    pub ip: IpAddr,
    pub setup_timeout: Duration,
    pub recovery_timeout: Duration,
}

/// Counters of the WebRTC wire, read by the RPC loop's stats.
#[derive(Debug, Default)]
pub(crate) struct RtcCounters {
    pub connections_up: AtomicU64,
    pub connection_failures: AtomicU64,
    pub sent: AtomicU64,
    pub received: AtomicU64,
    pub ice_disconnects: AtomicU64,
    pub ice_restarts: AtomicU64,
    pub ice_recovered: AtomicU64,
    pub stream_chunks_sent: AtomicU64,
    pub stream_chunks_received: AtomicU64,
    pub stream_chunks_dropped: AtomicU64,
}

/// Starts and serves one node's WebRTC connections.
pub(crate) struct RtcWire<R: Runtime> {
    pub rt: R,
    pub own: ActrId,
    pub signaling: SignalingHandle,
    pub inputs: Sender<LoopInput>,
    pub settings: RtcSettings,
    pub counters: RtcCounters,
    /// Test hook: while set, every datagram of this node's connections is
    /// dropped in both directions, as a broken network path would.
    pub cut: AtomicBool,
    /// Handlers of inbound media samples.
    pub media: MediaFrameRegistry,
    /// Handlers of inbound data streams (latency-first chunks arrive here).
    pub streams: DataStreamRegistry,
    cert: Option<DtlsCert>,
}

impl<R: Runtime> std::fmt::Debug for RtcWire<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtcWire").field("own", &self.own).field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl<R: Runtime> RtcWire<R> {
    /// One DTLS certificate serves all of the node's connections.
    /// `loop_io`: the RPC loop's input and the node's stream handlers.
    pub fn new(
        rt: R,
        own: ActrId,
        signaling: SignalingHandle,
        loop_io: (Sender<LoopInput>, DataStreamRegistry),
        settings: RtcSettings,
    ) -> Self {
        let (inputs, streams) = loop_io;
        let cert = crate::webrtc::generate_certificate()
            .inspect_err(|e| tracing::warn!("no shared DTLS certificate, one per connection: {e}"))
            .ok();
        let counters = RtcCounters::default();
        let media = MediaFrameRegistry::new(rt.clone(), RegistryConfig::default());
        let cut = AtomicBool::new(false);
        Self { rt, own, signaling, inputs, settings, counters, cut, media, streams, cert }
    }

    /// The peer configuration for task `task`: its id makes the exchange ids
    /// of its offers unique, so the remote can tell a new connection from a
    /// renegotiation of the old one.
    pub fn peer_config(&self, task: LinkId) -> RtcPeerConfig {
        RtcPeerConfig {
            certificate: self.cert.clone(),
            connect_timeout: self.settings.setup_timeout,
            recovery_timeout: self.settings.recovery_timeout,
            first_exchange_id: (task.0 << 32) | 1,
            ..RtcPeerConfig::default()
        }
    }

    /// Starts task `task` for a connection to `remote`; it offers when
    /// `offerer`, and otherwise, if `solicit`, asks the remote to offer.
    /// Returns the task's command queue; dropping it closes the connection.
    pub fn start(self: &Arc<Self>, remote: ActrId, task: LinkId, offerer: bool, solicit: bool) -> Sender<RtcCmd> {
        let (tx, rx) = async_channel::bounded(TASK_COMMANDS);
        let wire = self.clone();
        self.rt.spawn(Box::pin(async move {
            let error = match PeerTask::open(wire.clone(), remote.clone(), task, offerer, solicit, rx) {
                Ok(peer) => peer.run().await,
                Err(e) => e,
            };
            tracing::debug!(peer = %remote, "webrtc connection ended: {error}");
            let down = LoopInput::RtcDown { peer: remote, task, error, terminal: true };
            let _ = wire.inputs.send(down).await;
        }));
        tx
    }

    /// Spawns the pump of relayed signaling messages into the RPC loop; it
    /// ends when signaling stops or the loop is gone.
    pub fn pump_relays(self: &Arc<Self>) {
        let events = self.signaling.events();
        let inputs = self.inputs.clone();
        self.rt.spawn(Box::pin(async move {
            while let Ok(event) = events.recv().await {
                let NodeEvent::Relay { source, payload } = event else { continue };
                let Ok(signal) = RtcSignal::decode(&payload) else { continue };
                if inputs.send(LoopInput::RtcSignal { source, signal }).await.is_err() {
                    return;
                }
            }
        }));
    }

    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds the wire's counters to `stats`.
    pub fn fill(&self, stats: &mut RpcStats) {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        stats.webrtc_connections_up = get(&c.connections_up);
        stats.webrtc_connection_failures = get(&c.connection_failures);
        stats.webrtc_sent = get(&c.sent);
        stats.webrtc_received = get(&c.received);
        stats.ice_disconnects = get(&c.ice_disconnects);
        stats.ice_restarts = get(&c.ice_restarts);
        stats.ice_recovered = get(&c.ice_recovered);
        stats.stream_chunks_sent = get(&c.stream_chunks_sent);
        stats.stream_chunks_received = get(&c.stream_chunks_received);
        stats.stream_chunks_dropped = get(&c.stream_chunks_dropped);
    }
}
