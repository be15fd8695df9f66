//! The RPC loop's WebRTC side: one connection task per remote peer, tracked
//! as an attempt in the loop and, once its RPC channel is open, as a link.
//!
//! - Who offers is `actr_core::signaling::is_offerer`. A node that needs a
//!   connection to a peer it must not offer to starts an answerer that asks
//!   the peer to offer (an `IceRestartRequest` before any offer).
//! - An unsolicited offer starts an answerer. The high 32 bits of an offer's
//!   exchange id name the offerer's connection: an offer with other high bits
//!   than the one answered replaces the old connection with a new one.
//! - Every report carries the task id; a report of a task that is not the
//!   peer's current one is stale and changes nothing. Each time a connection
//!   comes up it gets a new route-table session, so the route table ignores
//!   late closes of an older one too.

use actr_core::signaling::is_offerer;
use actr_core::transport::SessionId;
use actr_core::{ActrError, ActrId};
use async_channel::Sender;

use super::Running;
use crate::node::links::Link;
use crate::node::rpc_io::{LinkId, MediaOp};
use crate::node::rtc_link::RtcCmd;
use crate::runtime::Runtime;
use crate::webrtc::RtcSignal;

/// WebRTC connections one node keeps at once.
pub(crate) const MAX_RTC_PEERS: usize = 256;

/// A connection task to one peer, up or not.
#[derive(Debug)]
pub(super) struct RtcAttempt {
    pub(super) task: LinkId,
    /// Dropping it ends the task.
    cmds: Sender<RtcCmd>,
    /// The route-table session of the connection, in setup or up.
    session: Option<SessionId>,
    /// The offerer's connection (high bits of its exchange ids) this answers.
    remote_epoch: Option<u64>,
}

impl<R: Runtime> Running<R> {
    /// The task connecting to `peer`, started if none runs (and joined to a
    /// dial in progress); `None` with WebRTC off or too many connections.
    pub(super) fn ensure_rtc(&mut self, peer: &ActrId, solicit: bool) -> Option<LinkId> {
        let wire = self.parts.rtc.clone()?;
        if let Some(attempt) = self.rtc.get(peer) {
            return Some(attempt.task);
        }
        if self.rtc.len() >= MAX_RTC_PEERS {
            tracing::debug!(%peer, "no webrtc: {MAX_RTC_PEERS} connections");
            return None;
        }
        let task = LinkId::next();
        let cmds = wire.start(peer.clone(), task, is_offerer(&wire.own, peer), solicit);
        let session = self.parts.routes.begin_webrtc(peer).ok();
        self.rtc.insert(peer.clone(), RtcAttempt { task, cmds, session, remote_epoch: None });
        if self.links.is_dialing(peer) {
            let _ = self.links.begin_dial(peer, task);
        }
        Some(task)
    }

    /// Whether `link` is a WebRTC connection task.
    pub(super) fn is_rtc(&self, link: LinkId) -> bool {
        self.rtc.values().any(|a| a.task == link)
    }

    pub(super) fn on_rtc_up(&mut self, peer: ActrId, task: LinkId, tx: Sender<Vec<u8>>) {
        let Some(attempt) = self.rtc.get_mut(&peer).filter(|a| a.task == task) else { return };
        let session = match self.parts.routes.begin_webrtc(&peer) {
            Ok(session) => session,
            Err(e) => return tracing::debug!(%peer, "webrtc route not stored: {e}"),
        };
        self.parts.routes.webrtc_ready(&peer, session);
        attempt.session = Some(session);
        self.links.remove(task);
        self.links.insert(task, Link { peer: peer.clone(), session, tx });
        for out in self.links.end_dial(&peer) {
            self.send(out);
        }
    }

    /// Connectivity lost (`terminal` false: recovering) or the connection
    /// ended. RPC moves to the WebSocket direct link if there is one.
    pub(super) fn on_rtc_down(&mut self, peer: ActrId, task: LinkId, error: ActrError, terminal: bool) {
        let Some(attempt) = self.rtc.get_mut(&peer).filter(|a| a.task == task) else { return };
        tracing::debug!(%peer, terminal, "webrtc down: {error}");
        if let Some(session) = attempt.session.take() {
            self.parts.routes.session_closed(&peer, session);
        }
        self.links.remove(task);
        if !terminal {
            return;
        }
        self.rtc.remove(&peer);
        for out in self.links.attempt_failed(&peer, task).into_iter().flatten() {
            self.send_failed(out, error.clone());
        }
    }

    /// Ends the connection to `peer` (its task stops when its queue closes).
    pub(super) fn drop_rtc(&mut self, peer: &ActrId) {
        let Some(attempt) = self.rtc.remove(peer) else { return };
        if let Some(session) = attempt.session {
            self.parts.routes.session_closed(peer, session);
        }
        self.links.remove(attempt.task);
        let gone = ActrError::Unavailable(format!("webrtc connection to {peer} replaced"));
        for out in self.links.attempt_failed(peer, attempt.task).into_iter().flatten() {
            self.send_failed(out, gone.clone());
        }
    }

    /// Routes a relayed signaling message to its connection task.
    pub(super) fn on_rtc_signal(&mut self, source: ActrId, signal: RtcSignal) {
        let Some(wire) = self.parts.rtc.clone() else { return };
        let we_offer = is_offerer(&wire.own, &source);
        match &signal {
            RtcSignal::Offer { exchange_id, .. } if !we_offer => {
                let epoch = exchange_id >> 32;
                if self.rtc.get(&source).is_some_and(|a| a.remote_epoch.is_some_and(|e| e != epoch)) {
                    // Start the new answerer first, so a dial waiting on the old one carries on.
                    let old = self.rtc.remove(&source);
                    self.ensure_rtc(&source, false);
                    if let Some(old) = old {
                        self.links.remove(old.task);
                        let _ = self.links.attempt_failed(&source, old.task);
                    }
                }
                self.ensure_rtc(&source, false);
                if let Some(attempt) = self.rtc.get_mut(&source) {
                    attempt.remote_epoch = Some(epoch);
                }
            }
            RtcSignal::IceRestartRequest if we_offer && !self.rtc.contains_key(&source) => {
                // The peer wants a connection: offer one.
                self.ensure_rtc(&source, false);
                return;
            }
            _ => {}
        }
        let Some(attempt) = self.rtc.get(&source) else { return };
        if attempt.cmds.try_send(RtcCmd::Signal(signal)).is_err() {
            tracing::debug!(peer = %source, "webrtc signal dropped: the connection task is busy or gone");
        }
    }

    /// Hands a media operation to the connection to `dest`, starting it if
    /// needed. `NotImplemented` when WebRTC is off: media has no other wire.
    pub(super) fn media(&mut self, dest: ActrId, op: MediaOp, reply: Sender<Result<(), ActrError>>) {
        if self.parts.rtc.is_none() {
            let _ = reply.try_send(Err(ActrError::NotImplemented("media needs WebRTC, which is off".into())));
            return;
        }
        if self.ensure_rtc(&dest, true).is_none() {
            let _ = reply.try_send(Err(ActrError::ResourceExhausted("no room for another connection".into())));
            return;
        }
        let Some(attempt) = self.rtc.get(&dest) else { return };
        if let Err(refused) = attempt.cmds.try_send(RtcCmd::Media { op, reply })
            && let RtcCmd::Media { reply, .. } = refused.into_inner()
        {
            let _ = reply.try_send(Err(ActrError::ResourceExhausted("the connection is busy".into())));
        }
    }

    /// Hands a latency-first chunk to the WebRTC connection to `dest` if its
    /// RPC channel is open (the stream lane opens with it).
    pub(super) fn stream_chunk(&mut self, dest: ActrId, bytes: Vec<u8>) -> Result<(), ActrError> {
        let not_ready = || ActrError::ConnectionNotReady { retry_after_ms: None };
        let attempt = self.rtc.get(&dest).filter(|a| self.links.is_open(a.task)).ok_or_else(not_ready)?;
        attempt.cmds.try_send(RtcCmd::StreamChunk(bytes)).map_err(|_| not_ready())
    }

    /// Asks every connection to recover after a network change.
    pub(super) fn recover_network(&mut self) {
        for attempt in self.rtc.values() {
            let _ = attempt.cmds.try_send(RtcCmd::Recover);
        }
    }
}
