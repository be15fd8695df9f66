//! A WebRTC connection that is up but carries nothing: SCTP's
//! retransmission backoff (its timeout doubles up to a minute) can hold a
//! connection's data for tens of seconds while ICE, which has its own
//! consent checks, stays connected, so no report says anything is wrong.
//!
//! The hub watches for it where it has somewhere else to go. While a direct
//! link to the peer is open, every call sent on the connection is noted
//! (with a copy of its bytes, bounded like parked messages); any RPC message
//! arriving on the connection is a sign of life that restarts the clock.
//! When calls have waited `rtc_stall_timeout` since the last sign of life,
//! the connection is stalled:
//!
//! - RPC to the peer goes on the open link (the route table still names
//!   WebRTC; the hub's send steps aside while the stall lasts);
//! - the calls noted are handed back to the endpoint as failed sends, so
//!   they are retried with its usual backoff, over the link, with the same
//!   request id: the callee's dedup cache runs each at most once;
//! - the first message that arrives on the connection ends the stall, and
//!   WebRTC carries RPC again;
//! - a connection still stalled at its deadline is closed, as one whose
//!   connectivity did not come back; the next call over the link starts a
//!   new one. The deadline is the recovery timeout, but never later than the
//!   dedup TTL: a copy stuck in the stalled connection cannot reach the
//!   callee after the entry that dedups its resend expired (peers are
//!   assumed to keep entries as long as this node does).
//!
//! Without an open link nothing is noted and nothing changes: calls wait
//! for WebRTC or their deadline.

use std::collections::BTreeMap;

use crate::error::ActrError;
use crate::id::ActrId;
use crate::node::{LinkId, NodeHub, RtcId};
use crate::time::{Duration, Instant};
use crate::transport::{LaneKind, Outbound};

/// Calls sent on one connection since it last showed life.
#[derive(Debug, Default)]
pub(crate) struct StallWatch {
    /// Unanswered calls by request id, with the bytes a resend needs.
    unanswered: BTreeMap<u64, Vec<u8>>,
    bytes: usize,
    /// When the connection stalls unless something arrives first.
    due: Option<Instant>,
    /// Stalled: RPC to the peer goes on an open direct link.
    pub stalled: bool,
}

/// Bounds on the copies one connection keeps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WatchLimits {
    pub max_calls: usize,
    pub max_bytes: usize,
    pub timeout: Duration,
}

impl StallWatch {
    /// Call `request_id` left on the connection; a call past the bounds is
    /// not noted (it waits for WebRTC or its deadline).
    pub fn sent(&mut self, now: Instant, request_id: u64, bytes: &[u8], limits: WatchLimits) {
        self.forget(request_id);
        if self.unanswered.len() >= limits.max_calls || self.bytes + bytes.len() > limits.max_bytes {
            return;
        }
        self.bytes += bytes.len();
        self.unanswered.insert(request_id, bytes.to_vec());
        self.due.get_or_insert(now + limits.timeout);
    }

    /// Call `request_id` resolved or went back to the endpoint.
    pub fn forget(&mut self, request_id: u64) {
        if let Some(bytes) = self.unanswered.remove(&request_id) {
            self.bytes -= bytes.len();
        }
        if self.unanswered.is_empty() {
            self.due = None;
        }
    }

    /// Something arrived: the clock restarts, a stall ends. Returns whether
    /// one did.
    pub fn heard(&mut self, now: Instant, timeout: Duration) -> bool {
        self.due = (!self.unanswered.is_empty()).then_some(now + timeout);
        std::mem::replace(&mut self.stalled, false)
    }

    /// The calls noted, taken out (the clock stops until the next one).
    fn take(&mut self) -> BTreeMap<u64, Vec<u8>> {
        self.due = None;
        self.bytes = 0;
        std::mem::take(&mut self.unanswered)
    }

    /// Forgets everything: the connection went down or came up anew.
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    pub fn due(&self) -> Option<Instant> {
        self.due
    }
}

impl NodeHub {
    fn watch_limits(&self) -> WatchLimits {
        WatchLimits {
            max_calls: self.config.max_parked,
            max_bytes: self.config.max_parked_bytes,
            timeout: self.config.rtc_stall_timeout,
        }
    }

    /// The open direct link the route table names for `peer`.
    pub(super) fn open_link(&self, peer: &ActrId) -> Option<LinkId> {
        let session = self.routes.get(peer)?.websocket?;
        self.links.by_session(peer, session)
    }

    /// Notes call `request_id` sent on `peer`'s connection, when a link
    /// could take over should it stall.
    pub(super) fn watch_sent(&mut self, now: Instant, peer: &ActrId, request_id: u64, bytes: &[u8]) {
        if self.open_link(peer).is_none() {
            return;
        }
        let limits = self.watch_limits();
        if let Some(conn) = self.peers.get_mut(peer).and_then(|p| p.rtc.as_mut()) {
            conn.stall.sent(now, request_id, bytes, limits);
        }
    }

    /// Call `request_id` to `peer` needs no resend any more.
    pub(super) fn watch_forget(&mut self, peer: &ActrId, request_id: u64) {
        if let Some(conn) = self.peers.get_mut(peer).and_then(|p| p.rtc.as_mut()) {
            conn.stall.forget(request_id);
        }
    }

    /// An RPC message arrived on `rtc`: it is alive.
    pub(super) fn watch_heard(&mut self, now: Instant, rtc: RtcId) {
        let timeout = self.config.rtc_stall_timeout;
        if let Some((_, conn)) = self.peers.rtc_mut(rtc)
            && conn.stall.heard(now, timeout)
        {
            conn.deadline = None;
        }
    }

    /// Connections whose calls waited too long: stalled, if a link is open.
    pub(super) fn stall_timers(&mut self, now: Instant) {
        for rtc in self.peers.stalls_due(now) {
            self.rtc_stalled(now, rtc);
        }
    }

    fn rtc_stalled(&mut self, now: Instant, rtc: RtcId) {
        let close_after = self.config.rtc_recovery_timeout.min(self.config.endpoint.dedup.ttl);
        let Some((peer, conn)) = self.peers.rtc_mut(rtc) else { return };
        let unanswered = conn.stall.take();
        if self.open_link(&peer).is_none() {
            return; // the link went meanwhile: nothing to move to
        }
        let Some((_, conn)) = self.peers.rtc_mut(rtc) else { return };
        conn.stall.stalled = true;
        conn.deadline = Some(now + close_after);
        self.stats.webrtc_stalls += 1;
        let error = ActrError::Unavailable(format!("webrtc to {peer} stalled"));
        for (request_id, bytes) in unanswered {
            let out = Outbound { dest: peer.clone(), lane: LaneKind::Rpc, request_id, bytes };
            self.send_failed(now, out, error.clone());
        }
    }
}
