//! Lanes, wires, retry policies and the route table.
//!
//! A lane is a kind of traffic (RPC, stream, media) with its own delivery
//! promise; a wire is how bytes reach a peer (in-process, WebRTC, WebSocket).
//! The route table picks a wire per destination: in-process for actors of the
//! same node, WebRTC when a session is up, WebSocket direct when the peer
//! advertised an address and WebRTC is not up.

use std::collections::BTreeMap;

use crate::error::{ActrError, Classify};
use crate::id::ActrId;
use crate::time::Duration;

/// Kinds of traffic, each with its own channel on a WebRTC connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LaneKind {
    /// Calls, tells and responses: reliable and ordered.
    Rpc,
    /// Data stream chunks: unordered, limited retransmits, latency first.
    Stream,
    /// Media samples on RTP tracks.
    Media,
}

impl LaneKind {
    /// The data channel label for this lane.
    pub fn label(self) -> &'static str {
        match self {
            LaneKind::Rpc => "actr-rpc",
            LaneKind::Stream => "actr-stream",
            LaneKind::Media => "actr-media",
        }
    }

    pub fn from_label(label: &str) -> Option<LaneKind> {
        [LaneKind::Rpc, LaneKind::Stream, LaneKind::Media].into_iter().find(|k| k.label() == label)
    }

    /// Ordered delivery and retransmit limit of the lane's channel (`None` = fully reliable).
    pub fn channel_reliability(self) -> (bool, Option<u16>) {
        match self {
            LaneKind::Rpc => (true, None),
            LaneKind::Stream => (false, Some(3)),
            LaneKind::Media => (false, Some(0)),
        }
    }

    pub fn retry_policy(self) -> RetryPolicy {
        match self {
            LaneKind::Rpc => RetryPolicy { attempts: 5, initial: Duration::from_secs(1), cap: Duration::from_secs(5) },
            LaneKind::Stream | LaneKind::Media => {
                RetryPolicy { attempts: 1, initial: Duration::ZERO, cap: Duration::ZERO }
            }
        }
    }
}

/// How bytes reach a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WireKind {
    InProcess,
    WebRtc,
    WebSocket,
}

/// Retries for one send: only transient errors, identical bytes each time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, the first included.
    pub attempts: u32,
    pub initial: Duration,
    pub cap: Duration,
}

impl RetryPolicy {
    /// The delay before attempt `attempt + 1` after attempt `attempt` (1-based)
    /// failed with `error`, or `None` to give up.
    pub fn next_delay(&self, attempt: u32, error: &ActrError) -> Option<Duration> {
        if !error.is_retryable() || attempt >= self.attempts {
            return None;
        }
        let mut d = self.initial;
        for _ in 1..attempt {
            d = d.mul_permille(2000).min(self.cap);
        }
        Some(d)
    }
}

/// A connection attempt's id; events carrying an older id are stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub u64);

/// What the node knows about reaching one peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerRoute {
    /// The peer lives in this node.
    pub local: bool,
    /// The current WebRTC session and whether its RPC channel is open.
    pub webrtc: Option<(SessionId, bool)>,
    /// An advertised `ws://` address for direct connections.
    pub ws_address: Option<String>,
    /// The current WebSocket session, when connected.
    pub websocket: Option<SessionId>,
}

/// What the caller should do to send to a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteDecision {
    /// Send now on this wire (and session, for remote wires).
    Send(WireKind, Option<SessionId>),
    /// No wire is up: start this connection and queue or retry.
    Connect(WireKind),
}

/// Per-destination routes, bounded.
#[derive(Debug)]
pub struct RouteTable {
    routes: BTreeMap<ActrId, PeerRoute>,
    capacity: usize,
    next_session: u64,
}

impl RouteTable {
    pub fn new(capacity: usize) -> Self {
        Self { routes: BTreeMap::new(), capacity, next_session: 1 }
    }

    pub fn get(&self, peer: &ActrId) -> Option<&PeerRoute> {
        self.routes.get(peer)
    }

    fn entry(&mut self, peer: &ActrId) -> Result<&mut PeerRoute, ActrError> {
        if !self.routes.contains_key(peer) && self.routes.len() >= self.capacity {
            return Err(ActrError::ResourceExhausted(format!("{} routes", self.capacity)));
        }
        Ok(self.routes.entry(peer.clone()).or_default())
    }

    pub fn set_local(&mut self, peer: &ActrId) -> Result<(), ActrError> {
        self.entry(peer)?.local = true;
        Ok(())
    }

    pub fn set_ws_address(&mut self, peer: &ActrId, address: Option<String>) -> Result<(), ActrError> {
        self.entry(peer)?.ws_address = address;
        Ok(())
    }

    /// Begins a new WebRTC session with `peer`, superseding any older one.
    pub fn begin_webrtc(&mut self, peer: &ActrId) -> Result<SessionId, ActrError> {
        let id = SessionId(self.next_session);
        self.next_session += 1;
        self.entry(peer)?.webrtc = Some((id, false));
        Ok(id)
    }

    /// Begins a new WebSocket session with `peer`.
    pub fn begin_websocket(&mut self, peer: &ActrId) -> Result<SessionId, ActrError> {
        let id = SessionId(self.next_session);
        self.next_session += 1;
        self.entry(peer)?.websocket = Some(id);
        Ok(id)
    }

    /// Marks session `id` usable. Returns false, changing nothing, if `id` is stale.
    pub fn webrtc_ready(&mut self, peer: &ActrId, id: SessionId) -> bool {
        match self.routes.get_mut(peer).and_then(|r| r.webrtc.as_mut()) {
            Some((current, ready)) if *current == id => {
                *ready = true;
                true
            }
            _ => false,
        }
    }

    /// Session `id` closed. A stale id changes nothing and returns false.
    pub fn session_closed(&mut self, peer: &ActrId, id: SessionId) -> bool {
        let Some(r) = self.routes.get_mut(peer) else { return false };
        if r.webrtc.is_some_and(|(cur, _)| cur == id) {
            r.webrtc = None;
            return true;
        }
        if r.websocket == Some(id) {
            r.websocket = None;
            return true;
        }
        false
    }

    pub fn forget(&mut self, peer: &ActrId) {
        self.routes.remove(peer);
    }

    /// Chooses how to reach `peer` for traffic of `lane`.
    pub fn decide(&self, peer: &ActrId, lane: LaneKind) -> Result<RouteDecision, ActrError> {
        let Some(r) = self.routes.get(peer) else { return Ok(RouteDecision::Connect(WireKind::WebRtc)) };
        if r.local {
            return Ok(RouteDecision::Send(WireKind::InProcess, None));
        }
        if let Some((id, true)) = r.webrtc {
            return Ok(RouteDecision::Send(WireKind::WebRtc, Some(id)));
        }
        if lane == LaneKind::Media {
            // Media needs RTP tracks: only WebRTC carries it.
            return Ok(RouteDecision::Connect(WireKind::WebRtc));
        }
        if let Some(id) = r.websocket {
            return Ok(RouteDecision::Send(WireKind::WebSocket, Some(id)));
        }
        if r.ws_address.is_some() && r.webrtc.is_none() {
            return Ok(RouteDecision::Connect(WireKind::WebSocket));
        }
        Ok(RouteDecision::Connect(WireKind::WebRtc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(n: u64) -> ActrId {
        ActrId { realm: crate::id::Realm(1), serial: n, actr_type: "a:b:1".parse().unwrap() }
    }

    #[test]
    fn lane_choice_follows_the_rules() {
        let mut t = RouteTable::new(8);
        let p = peer(1);
        assert_eq!(t.decide(&p, LaneKind::Rpc).unwrap(), RouteDecision::Connect(WireKind::WebRtc));
        t.set_ws_address(&p, Some("ws://x".into())).unwrap();
        assert_eq!(t.decide(&p, LaneKind::Rpc).unwrap(), RouteDecision::Connect(WireKind::WebSocket));
        let ws = t.begin_websocket(&p).unwrap();
        assert_eq!(t.decide(&p, LaneKind::Rpc).unwrap(), RouteDecision::Send(WireKind::WebSocket, Some(ws)));
        assert_eq!(t.decide(&p, LaneKind::Media).unwrap(), RouteDecision::Connect(WireKind::WebRtc));
        let rtc = t.begin_webrtc(&p).unwrap();
        assert_eq!(t.decide(&p, LaneKind::Rpc).unwrap(), RouteDecision::Send(WireKind::WebSocket, Some(ws)));
        assert!(t.webrtc_ready(&p, rtc));
        assert_eq!(t.decide(&p, LaneKind::Rpc).unwrap(), RouteDecision::Send(WireKind::WebRtc, Some(rtc)));
        t.set_local(&p).unwrap();
        assert_eq!(t.decide(&p, LaneKind::Rpc).unwrap(), RouteDecision::Send(WireKind::InProcess, None));
    }

    #[test]
    fn stale_sessions_change_nothing() {
        let mut t = RouteTable::new(8);
        let p = peer(1);
        let old = t.begin_webrtc(&p).unwrap();
        let new = t.begin_webrtc(&p).unwrap();
        assert!(!t.webrtc_ready(&p, old));
        assert!(!t.session_closed(&p, old));
        assert!(t.webrtc_ready(&p, new));
        assert_eq!(t.decide(&p, LaneKind::Rpc).unwrap(), RouteDecision::Send(WireKind::WebRtc, Some(new)));
        assert!(t.session_closed(&p, new));
        assert_eq!(t.decide(&p, LaneKind::Rpc).unwrap(), RouteDecision::Connect(WireKind::WebRtc));
    }

    #[test]
    fn retry_only_transient_with_capped_backoff() {
        let p = LaneKind::Rpc.retry_policy();
        let t = ActrError::Unavailable("x".into());
        let secs: Vec<u64> = (1..=5).filter_map(|a| p.next_delay(a, &t)).map(|d| d.as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 5]);
        assert_eq!(p.next_delay(1, &ActrError::PermissionDenied("x".into())), None);
        assert_eq!(LaneKind::Stream.retry_policy().next_delay(1, &t), None);
    }

    #[test]
    fn table_is_bounded_and_labels_round_trip() {
        let mut t = RouteTable::new(1);
        t.set_local(&peer(1)).unwrap();
        assert!(matches!(t.set_local(&peer(2)), Err(ActrError::ResourceExhausted(_))));
        for k in [LaneKind::Rpc, LaneKind::Stream, LaneKind::Media] {
            assert_eq!(LaneKind::from_label(k.label()), Some(k));
        }
        assert_eq!(LaneKind::from_label("nope"), None);
    }
}
