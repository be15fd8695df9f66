//! The WebRTC wire of one node: what its connection tasks (see
//! [`crate::wire::rtc_link`]) share: the runtime, one DTLS certificate, the
//! settings, the media and stream handlers, and counters of the data plane.
//! The node task starts a task per connection when the hub asks
//! ([`crate::wire::rtc_link::start`]).

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::dispatch::streams::{DataStreamRegistry, MediaFrameRegistry, RegistryConfig};
use crate::node::stats::RpcStats;
use crate::runtime::Runtime;
use crate::wire::webrtc::{DtlsCert, RtcPeerConfig};

/// How the node's WebRTC connections are set up.
#[derive(Debug, Clone)]
pub(crate) struct RtcSettings {
    pub ip: IpAddr,
    pub setup_timeout: Duration,
    pub recovery_timeout: Duration,
}

/// Counters of the data plane (connection-level counts are the hub's).
#[derive(Debug, Default)]
pub(crate) struct RtcCounters {
    pub stream_chunks_sent: AtomicU64,
    pub stream_chunks_received: AtomicU64,
    pub stream_chunks_dropped: AtomicU64,
}

/// What one node's WebRTC connections share.
pub(crate) struct RtcWire<R: Runtime> {
    pub rt: R,
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
        f.debug_struct("RtcWire").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl<R: Runtime> RtcWire<R> {
    /// One DTLS certificate serves all of the node's connections.
    pub fn new(rt: R, streams: DataStreamRegistry, settings: RtcSettings) -> Self {
        let cert = crate::wire::webrtc::generate_certificate()
            .inspect_err(|e| tracing::warn!("no shared DTLS certificate, one per connection: {e}"))
            .ok();
        let counters = RtcCounters::default();
        let media = MediaFrameRegistry::new(rt.clone(), RegistryConfig::default());
        let cut = AtomicBool::new(false);
        Self { rt, settings, counters, cut, media, streams, cert }
    }

    /// The peer configuration for a connection whose offers start at
    /// `first_exchange_id` (the hub makes them unique per connection).
    pub fn peer_config(&self, first_exchange_id: u64) -> RtcPeerConfig {
        RtcPeerConfig {
            certificate: self.cert.clone(),
            connect_timeout: self.settings.setup_timeout,
            recovery_timeout: self.settings.recovery_timeout,
            first_exchange_id,
            ..RtcPeerConfig::default()
        }
    }

    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds the wire's counters to `stats`.
    pub fn fill(&self, stats: &mut RpcStats) {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        stats.stream_chunks_sent = get(&c.stream_chunks_sent);
        stats.stream_chunks_received = get(&c.stream_chunks_received);
        stats.stream_chunks_dropped = get(&c.stream_chunks_dropped);
    }
}
