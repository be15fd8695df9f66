//! [`RpcStats`]: what a started node counts of its messaging. The node
//! task fills it in; the in-process gate adds its own count.

use actr_core::transport::EndpointStats;

/// Counters of one node's messaging.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RpcStats {
    /// The core endpoint's counters (remote calls, dispatches, ACL denials, malformed input…).
    pub endpoint: EndpointStats,
    /// Requests and tells this node's workload received in-process.
    pub in_process_delivered: u64,
    /// Direct WebSocket links open now.
    pub links_open: u64,
    /// Direct connections authenticated and accepted / refused.
    pub accepted: u64,
    pub refused: u64,
    /// Outgoing direct connections established / failed.
    pub dialed: u64,
    pub dial_failures: u64,
    /// Responses that could not be sent (no link to the caller, or a full link).
    pub responses_dropped: u64,
    /// WebRTC connections whose RPC channel opened (again, after a recovery).
    pub webrtc_connections_up: u64,
    /// WebRTC connections that ended before their RPC channel opened.
    pub webrtc_connection_failures: u64,
    /// RPC envelopes sent / received over WebRTC data channels.
    pub webrtc_sent: u64,
    pub webrtc_received: u64,
    /// WebRTC connections that lost connectivity.
    pub ice_disconnects: u64,
    /// ICE restarts started (offerer) or asked for (answerer).
    pub ice_restarts: u64,
    /// Connections whose connectivity came back (by itself or by a restart).
    pub ice_recovered: u64,
    /// Connections that stalled with ICE up (calls on them heard nothing
    /// back for the stall timeout): RPC moved to the direct link meanwhile.
    pub webrtc_stalls: u64,
    /// WebRTC offers and answers refused because their fingerprint proof
    /// did not hold (a rewritten SDP, a captured credential, no proof).
    pub fingerprints_refused: u64,
    /// Latency-first stream chunks sent / received on WebRTC's stream lane,
    /// and dropped (full queue, or older than one already delivered).
    pub stream_chunks_sent: u64,
    pub stream_chunks_received: u64,
    pub stream_chunks_dropped: u64,
}
