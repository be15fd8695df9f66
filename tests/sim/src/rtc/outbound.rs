//! The outbound path of an [`RtcNode`]: every message the endpoint wants
//! sent is routed to the destination's current session, after the injected
//! faults had their say; whatever cannot be sent goes back to the endpoint
//! as a failure (transient ones are retried there with backoff, resending
//! the identical bytes).

use actr_core::transport::{Outbound, RouteDecision, WireKind};
use actr_core::{ActrError, Instant};

use super::faults::SendFate;
use super::node::{NodeCx, RtcNode};

impl RtcNode {
    /// Sends the endpoint's outbound messages, applying injected faults and
    /// handing every failure back to the endpoint.
    pub(super) fn flush_outbound(&mut self, now: Instant, cx: &mut NodeCx<'_>) -> bool {
        let mut moved = false;
        while let Some(msg) = self.endpoint.poll_outbound() {
            moved = true;
            let fate = match self.attempts.get_mut(&msg.request_id) {
                Some(sent) => {
                    *sent += 1;
                    cx.faults.request(msg.request_id, *sent)
                }
                None => cx.faults.response(msg.request_id),
            };
            let injected = || ActrError::Unavailable("injected send failure".into());
            let result = match fate {
                SendFate::Lose => Ok(()),
                SendFate::FailBeforeSend => Err(injected()),
                SendFate::Send => self.send(now, &msg, cx),
                SendFate::SendThenFail => match self.send(now, &msg, cx) {
                    Ok(()) => Err(injected()),
                    Err(e) => {
                        cx.faults.not_delivered(msg.request_id);
                        Err(e)
                    }
                },
            };
            if let Err(e) = result {
                self.endpoint.handle_send_failed(now, msg, e);
            }
        }
        moved
    }

    fn send(&mut self, now: Instant, msg: &Outbound, cx: &mut NodeCx<'_>) -> Result<(), ActrError> {
        let not_ready = ActrError::ConnectionNotReady { retry_after_ms: None };
        match self.routes.decide(&msg.dest, msg.lane)? {
            RouteDecision::Send(WireKind::WebRtc, Some(id)) => match self.sessions.get_mut(&id) {
                Some(s) => s.peer_mut().send(msg.lane, &msg.bytes).map_err(ActrError::from),
                None => Err(not_ready),
            },
            RouteDecision::Connect(WireKind::WebRtc) => {
                self.connect(now, &msg.dest, cx);
                Err(not_ready)
            }
            other => Err(ActrError::Internal(format!("the simulator has no wire for {other:?}"))),
        }
    }
}
