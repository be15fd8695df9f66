//! The RPC loop's links: waiting for a wire while it is set up, and links
//! coming up and going down. A child of the loop's module, so it shares its
//! state.

use actr_core::transport::Outbound;
use actr_core::{ActrError, ActrId};
use async_channel::Sender;

use super::{Kind, Running};
use crate::node::links::Link;
use crate::node::rpc_io::LinkId;
use crate::runtime::Runtime;

impl<R: Runtime> Running<R> {
    /// No link to `out.dest`: a response is dropped (the caller's link is gone);
    /// a call or tell waits while the peer is dialed and connected over WebRTC.
    pub(super) fn park(&mut self, out: Outbound) {
        if matches!(self.kind(&out), Kind::Response) {
            self.responses_dropped += 1;
            return;
        }
        if !self.links.is_dialing(&out.dest) {
            let link = LinkId::next();
            if let Err(busy) = self.links.begin_dial(&out.dest, link) {
                return self.send_failed(out, busy);
            }
            let address = self.parts.routes.get(&out.dest).and_then(|r| r.ws_address.clone());
            self.parts.wire.dial(out.dest.clone(), address, link);
            if let Some(task) = self.ensure_rtc(&out.dest, true) {
                let _ = self.links.begin_dial(&out.dest, task);
            }
        }
        if let Err(refused) = self.links.park(out) {
            let (out, full) = *refused;
            self.send_failed(out, full);
        }
    }

    pub(super) fn link_up(&mut self, peer: ActrId, link: LinkId, tx: Sender<Vec<u8>>) {
        let session = match self.parts.routes.begin_websocket(&peer) {
            Ok(session) => session,
            Err(e) => {
                tracing::debug!(%peer, "link refused: {e}");
                return; // dropping `tx` closes the link
            }
        };
        self.links.insert(link, Link { peer: peer.clone(), session, tx });
        // Whichever link came up first (dialed or accepted) serves what waited.
        for out in self.links.end_dial(&peer) {
            self.send(out);
        }
    }

    pub(super) fn link_down(&mut self, peer: ActrId, link: LinkId, error: ActrError) {
        if self.links.is_dial(&peer, link) {
            tracing::debug!(%peer, "dial failed: {error}");
            let parked = if matches!(error, ActrError::NotFound(_)) {
                // Signaling does not know the peer: WebRTC cannot reach it either.
                let parked = self.links.end_dial(&peer);
                self.drop_rtc(&peer);
                Some(parked)
            } else {
                self.links.attempt_failed(&peer, link)
            };
            for out in parked.into_iter().flatten() {
                self.send_failed(out, error.clone());
            }
            return;
        }
        let Some(gone) = self.links.remove(link) else { return };
        if !self.parts.routes.session_closed(&peer, gone.session) {
            return; // an older link; the current one carries on
        }
        let rtc_tasks: Vec<LinkId> = self.rtc.values().map(|a| a.task).collect();
        let is_rtc = |id: LinkId| rtc_tasks.contains(&id);
        if self.is_rtc(link) {
            return; // a WebRTC link: its task reports how it ends
        }
        if self.links.other_link(&peer, is_rtc).is_some()
            && let Ok(session) = self.parts.routes.begin_websocket(&peer)
            && let Some(other) = self.links.other_link(&peer, is_rtc)
        {
            other.session = session;
            return;
        }
        if self.parts.routes.get(&peer).is_some_and(|r| r.webrtc.is_some_and(|(_, ready)| ready)) {
            return; // WebRTC carries on
        }
        self.parts.endpoint.fail_dest(&peer, &ActrError::Unavailable(format!("link to {peer} lost")));
    }
}
