//! What a socket's reader, its writer and the hub share: the writer's
//! wakeup and the request to close, with the WebSocket close code for it.

use std::sync::Mutex;

use actr_core::signaling::CloseReason;
use axum::extract::ws::close_code;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::lock;

/// Longest close reason a WebSocket Close frame can carry.
const MAX_CLOSE_REASON: usize = 123;

/// A WebSocket Close frame to send: code and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CloseNote {
    pub code: u16,
    pub reason: String,
}

impl CloseNote {
    fn new(code: u16, reason: &str) -> CloseNote {
        let mut end = reason.len().min(MAX_CLOSE_REASON);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        CloseNote { code, reason: reason[..end].to_owned() }
    }

    /// The close the core asked for, as a WebSocket close code and reason.
    pub(crate) fn from_reason(reason: &CloseReason) -> CloseNote {
        match reason {
            CloseReason::Goodbye => CloseNote::new(close_code::NORMAL, "goodbye"),
            CloseReason::HelloTimeout => CloseNote::new(close_code::POLICY, "no hello in time"),
            CloseReason::HeartbeatTimeout => CloseNote::new(close_code::POLICY, "heartbeat timeout"),
            CloseReason::SlowConsumer => CloseNote::new(close_code::AGAIN, "too slow to read"),
            CloseReason::Displaced => CloseNote::new(close_code::NORMAL, "displaced by a newer connection"),
            CloseReason::Refused(why) => CloseNote::new(close_code::POLICY, why),
            CloseReason::TooManyErrors => CloseNote::new(close_code::POLICY, "too many malformed messages"),
            CloseReason::RateLimited => CloseNote::new(close_code::POLICY, "over the message rate limit"),
        }
    }

    pub(crate) fn going_away() -> CloseNote {
        CloseNote::new(close_code::AWAY, "server shutting down")
    }

    pub(crate) fn normal() -> CloseNote {
        CloseNote::new(close_code::NORMAL, "")
    }

    pub(crate) fn too_large() -> CloseNote {
        CloseNote::new(close_code::SIZE, "message too large")
    }
}

/// What one socket's tasks share: the writer's wakeup and the close request.
#[derive(Debug, Default)]
pub(crate) struct PeerLink {
    wake: Notify,
    close: Mutex<Option<CloseNote>>,
    /// Cancelled at the first close request, so the reader can bound the flush.
    closing: CancellationToken,
}

impl PeerLink {
    /// Tells the writer its queue has bytes. A wakeup sent while the writer is
    /// busy is kept (one permit), so none is lost.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Resolves at the next wakeup.
    pub(crate) async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Asks the writer to flush, send this Close and end. The first request wins.
    pub(crate) fn request_close(&self, note: CloseNote) {
        lock(&self.close).get_or_insert(note);
        self.closing.cancel();
        self.wake.notify_one();
    }

    /// Resolves once a close has been requested.
    pub(crate) async fn close_pending(&self) {
        self.closing.cancelled().await;
    }

    pub(crate) fn close_requested(&self) -> Option<CloseNote> {
        lock(&self.close).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_reasons_fit_a_close_frame() {
        let long = CloseReason::Refused("é".repeat(100));
        let note = CloseNote::from_reason(&long);
        assert!(note.reason.len() <= MAX_CLOSE_REASON);
        assert_eq!(note.code, close_code::POLICY);
    }

    #[test]
    fn first_close_request_wins() {
        let link = PeerLink::default();
        link.request_close(CloseNote::too_large());
        link.request_close(CloseNote::going_away());
        assert_eq!(link.close_requested(), Some(CloseNote::too_large()));
    }
}
