//! Delivering events to machines and turning their output into new events.
//!
//! Delivery rules, checked when an event arrives (not when it was sent):
//! - anything on a severed link is dropped;
//! - a segment reaches the server only if it still holds its end and is the
//!   epoch the link was opened against; it reaches a client only if the
//!   client still holds its end;
//! - AIS legs to or from a partitioned node are dropped; a call to a crashed
//!   server is refused (`Unavailable`) one round trip later.

use actr_core::ActrError;
use actr_core::ais::AisReply;
use actr_core::keeper::AisCall;
use actr_core::signaling::{ClientTransmit, ConnId};
use actr_core::{Duration, Instant, UnixSecs};

use crate::event::Event;
use crate::links::{Dir, LinkId};
use crate::net::Endpoint;
use crate::node::{NodeOut, SimNode};
use crate::server::{ServerOut, SimServer};
use crate::workload::{Peer, plan};
use crate::world::{Sim, Slot};

impl Sim {
    pub(crate) fn dispatch(&mut self, event: Event) {
        match event {
            Event::NodeWake { node, inc } => self.on_node_wake(node, inc),
            Event::ServerWake { epoch } => self.on_server_wake(epoch),
            Event::Tick { node, inc } => self.on_tick(node, inc),
            Event::ConnectArrive { link } => self.on_connect_arrive(link),
            Event::ConnectOk { link } => {
                self.on_client_link(link, |n, now, unix, conn, out| n.handle_connected(now, unix, conn, out))
            }
            Event::ConnectFailed { node, inc, conn, why } => {
                self.with_node(node, inc, |n, now, unix, out| n.handle_connect_failed(now, unix, conn, why, out))
            }
            Event::ToServer { link, bytes } => {
                self.on_server_link(link, false, |s, now, unix, id| s.handle_frame(now, unix, id, &bytes))
            }
            Event::ToClient { link, bytes } => {
                self.on_client_link(link, |n, now, unix, conn, out| n.handle_frame(now, unix, conn, &bytes, out))
            }
            Event::FinToServer { link } => {
                self.on_server_link(link, true, |s, now, _, id| s.handle_disconnect(now, id))
            }
            Event::FinToClient { link } => self.on_fin_to_client(link),
            Event::AisRequest { node, inc, call } => self.on_ais_request(node, inc, call),
            Event::AisReply { node, inc, id, reply } => {
                if !self.is_partitioned(node) {
                    self.with_node(node, inc, |n, now, unix, out| n.handle_ais_reply(now, unix, id, reply, out));
                }
            }
            Event::Datagram { node, from, to, bytes } => self.on_datagram(node, from, to, &bytes),
            Event::RtcWake { node, layer } => self.on_rtc_wake(node, layer),
            Event::CallTick { node } => self.on_call_tick(node),
            Event::DirectConnect { from, link, to } => self.on_direct_connect(from, link, to),
            Event::DirectUp { node, link } => self.on_direct_up(node, link),
            Event::DirectMessage { node, link, from, bytes } => self.on_direct_message(node, link, from, &bytes),
            Event::DirectClose { node, link } => self.on_direct_close(node, link),
        }
    }

    fn on_node_wake(&mut self, node: usize, inc: u32) {
        let slot = &mut self.slots[node];
        if slot.wake == Some(self.now) {
            slot.wake = None;
        }
        self.with_node(node, inc, |n, now, unix, out| n.handle_timeout(now, unix, out));
    }

    fn on_server_wake(&mut self, epoch: u32) {
        if epoch != self.epoch {
            return;
        }
        if self.server_wake == Some(self.now) {
            self.server_wake = None;
        }
        let now = self.now;
        if let Some(s) = self.server.as_mut() {
            s.handle_timeout(now);
            self.after_server();
        }
    }

    fn on_tick(&mut self, node: usize, inc: u32) {
        let slot = &self.slots[node];
        if slot.node.incarnation() != inc || !slot.node.is_up() {
            return;
        }
        let Some(every) = slot.workload.every() else {
            self.slots[node].ticking = false;
            return;
        };
        if slot.node.is_connected() {
            let requests = plan(&slot.workload, node, slot.ticks, &self.peers_of(node));
            self.slots[node].ticks += 1;
            for r in requests {
                // A full pending table is the client's typed refusal; the
                // workload just skips this request.
                let _ = self.request(node, r);
            }
        }
        let jitter = Duration::from_micros(self.rng.below(every.as_micros() / 10 + 1));
        self.queue.push(self.now + every + jitter, Event::Tick { node, inc });
    }

    fn peers_of(&self, me: usize) -> Vec<Peer> {
        let others = self.slots.iter().filter(|s| s.node.index() != me);
        let peer = |s: &Slot| Peer {
            index: s.node.index(),
            actr_type: s.node.spec().actr_type.clone(),
            actor: s.node.actor().cloned(),
        };
        others.map(peer).collect()
    }

    pub(crate) fn start_ticking(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        if slot.ticking || !slot.node.is_up() || slot.workload.every().is_none() {
            return;
        }
        slot.ticking = true;
        let inc = slot.node.incarnation();
        self.queue.push(self.now, Event::Tick { node: i, inc });
    }

    fn on_connect_arrive(&mut self, id: LinkId) {
        let Some(l) = self.links.get(id) else { return };
        if l.severed || !l.client_open {
            return;
        }
        let (now, accepting) = (self.now, l.epoch == self.epoch && self.server.is_some());
        let accepted = accepting && self.server.as_mut().is_some_and(|s| s.handle_connect(now, id).is_ok());
        let delay = self.stream_delay(id, Dir::Down);
        let Some(l) = self.links.get_mut(id) else { return };
        let at = l.ordered(Dir::Down, now + delay);
        if accepted {
            l.server_open = true;
            self.queue.push(at, Event::ConnectOk { link: id });
        } else {
            let (node, inc, conn) = (l.node, l.inc, l.conn);
            l.client_open = false;
            self.links.retire_if_closed(id);
            self.queue.push(at, Event::ConnectFailed { node, inc, conn, why: "connection refused" });
        }
        if accepting {
            self.after_server();
        }
    }

    fn on_fin_to_client(&mut self, id: LinkId) {
        let Some(l) = self.links.get_mut(id) else { return };
        if l.severed || !l.client_open {
            return;
        }
        l.client_open = false;
        let (node, inc, conn) = (l.node, l.inc, l.conn);
        self.links.retire_if_closed(id);
        self.with_node(node, inc, |n, now, unix, out| n.handle_closed(now, unix, conn, out));
    }

    /// Delivers to the client end of a live-for-the-client link.
    fn on_client_link(
        &mut self,
        id: LinkId,
        f: impl FnOnce(&mut SimNode, Instant, UnixSecs, ConnId, &mut Vec<NodeOut>),
    ) {
        let Some(l) = self.links.get(id) else { return };
        if l.severed || !l.client_open {
            return;
        }
        let (node, inc, conn) = (l.node, l.inc, l.conn);
        self.with_node(node, inc, |n, now, unix, out| f(n, now, unix, conn, out));
    }

    /// Delivers to the server end; `closing` marks the end as closed first.
    fn on_server_link(&mut self, id: LinkId, closing: bool, f: impl FnOnce(&mut SimServer, Instant, UnixSecs, LinkId)) {
        let epoch = self.epoch;
        let Some(l) = self.links.get_mut(id) else { return };
        if l.severed || !l.server_open || l.epoch != epoch {
            return;
        }
        if closing {
            l.server_open = false;
            self.links.retire_if_closed(id);
        }
        let (now, unix) = (self.now, self.server_unix());
        let Some(s) = self.server.as_mut() else { return };
        f(s, now, unix, id);
        self.after_server();
    }

    fn on_ais_request(&mut self, node: usize, inc: u32, call: AisCall) {
        if self.is_partitioned(node) {
            return;
        }
        let unix = self.server_unix();
        let reply = match self.server.as_mut() {
            Some(s) => Ok(s.handle_ais(unix, call.request)),
            None => Err(ActrError::Unavailable("connection refused".into())),
        };
        self.send_ais_reply(node, inc, call.id, reply);
    }

    fn send_ais_reply(&mut self, node: usize, inc: u32, id: u64, reply: Result<AisReply, ActrError>) {
        if let Some(d) = self.net.call_leg(Endpoint::Server, Endpoint::Node(node)) {
            self.queue.push(self.now + d, Event::AisReply { node, inc, id, reply });
        }
    }

    /// Runs `f` on node `node` if incarnation `inc` is alive, then routes its output.
    pub(crate) fn with_node(
        &mut self,
        node: usize,
        inc: u32,
        f: impl FnOnce(&mut SimNode, Instant, UnixSecs, &mut Vec<NodeOut>),
    ) {
        let (now, unix) = (self.now, self.unix());
        let n = &mut self.slots[node].node;
        if n.incarnation() != inc || !n.is_up() {
            return;
        }
        let mut out = Vec::new();
        f(n, now, unix, &mut out);
        self.after_node(node, out);
    }

    /// Routes node output into the network (relays to its WebRTC layer) and
    /// reschedules its wake.
    pub(crate) fn after_node(&mut self, node: usize, out: Vec<NodeOut>) {
        let inc = self.slots[node].node.incarnation();
        self.rtc_sync(node);
        for o in out {
            match o {
                NodeOut::Ais(call) => self.send_ais_call(node, inc, call),
                NodeOut::Transmit(ClientTransmit::Connect { conn }) => self.connect(node, inc, conn),
                NodeOut::Transmit(ClientTransmit::Send { conn, bytes }) => {
                    if let Some(id) = self.links.find(node, inc, conn) {
                        self.send_up(id, bytes);
                    }
                }
                NodeOut::Transmit(ClientTransmit::Close { conn }) => {
                    if let Some(id) = self.links.find(node, inc, conn) {
                        self.close_client_end(id);
                    }
                }
                NodeOut::Hub(output) => self.rtc_hub_output(node, output),
            }
        }
        self.schedule_node(node);
    }

    fn schedule_node(&mut self, node: usize) {
        let now = self.now;
        let slot = &mut self.slots[node];
        let Some(due) = slot.node.poll_timeout() else { return };
        let due = due.max(now);
        if slot.wake.is_none_or(|w| due < w) {
            slot.wake = Some(due);
            let inc = slot.node.incarnation();
            self.queue.push(due, Event::NodeWake { node, inc });
        }
    }

    fn send_ais_call(&mut self, node: usize, inc: u32, call: AisCall) {
        if let Some(d) = self.net.call_leg(Endpoint::Node(node), Endpoint::Server) {
            self.queue.push(self.now + d, Event::AisRequest { node, inc, call });
        }
    }

    fn connect(&mut self, node: usize, inc: u32, conn: ConnId) {
        let now = self.now;
        let fail = |after: Duration, why| (now + after, Event::ConnectFailed { node, inc, conn, why });
        if self.is_partitioned(node) {
            let (at, ev) = fail(self.net.connect_fail_after, "unreachable");
            return self.queue.push(at, ev);
        }
        let (a, b) = (Endpoint::Node(node), Endpoint::Server);
        if self.server.is_none() {
            let rtt = self.net.stream_delay(a, b) + self.net.stream_delay(b, a);
            let (at, ev) = fail(rtt, "connection refused");
            return self.queue.push(at, ev);
        }
        let id = self.links.open(node, inc, conn, self.epoch, now);
        let delay = self.net.stream_delay(a, b);
        if let Some(l) = self.links.get_mut(id) {
            let at = l.ordered(Dir::Up, now + delay);
            self.queue.push(at, Event::ConnectArrive { link: id });
        }
    }

    /// Sends one segment client → server on link `id`, if the client holds it.
    pub(crate) fn send_up(&mut self, id: LinkId, bytes: Vec<u8>) {
        let now = self.now;
        let delay = self.stream_delay(id, Dir::Up);
        let Some(l) = self.links.get_mut(id) else { return };
        if l.client_open && !l.severed {
            let at = l.ordered(Dir::Up, now + delay);
            self.queue.push(at, Event::ToServer { link: id, bytes });
        }
    }

    /// Drains the server's output, routes it, and reschedules its wake.
    pub(crate) fn after_server(&mut self) {
        let now = self.now;
        let Some(s) = self.server.as_mut() else { return };
        let mut out = Vec::new();
        s.drain(now, &mut out);
        let due = s.poll_timeout();
        for o in out {
            match o {
                ServerOut::Send(id, bytes) => self.send_down(id, bytes),
                ServerOut::Close(id, _) => self.close_server_end(id),
            }
        }
        let Some(due) = due.map(|d| d.max(now)) else { return };
        if self.server_wake.is_none_or(|w| due < w) {
            self.server_wake = Some(due);
            self.queue.push(due, Event::ServerWake { epoch: self.epoch });
        }
    }

    /// From now on the server's relay swaps the DTLS fingerprints of WebRTC
    /// offers and answers for its own, as a man in the middle of signaling
    /// would to sit in the middle of DTLS (the proofs it cannot redo stay).
    pub fn tamper_relayed_sdp(&mut self, on: bool) {
        self.tamper_sdp = on;
    }

    fn send_down(&mut self, id: LinkId, bytes: Vec<u8>) {
        let bytes = if self.tamper_sdp { rewrite_fingerprints(bytes) } else { bytes };
        let now = self.now;
        let delay = self.stream_delay(id, Dir::Down);
        let Some(l) = self.links.get_mut(id) else { return };
        if l.server_open && !l.severed {
            let at = l.ordered(Dir::Down, now + delay);
            self.queue.push(at, Event::ToClient { link: id, bytes });
        }
    }

    /// A fresh stream delay for link `id` in direction `dir`.
    pub(crate) fn stream_delay(&mut self, id: LinkId, dir: Dir) -> Duration {
        let node = self.links.get(id).map_or(0, |l| l.node);
        let (a, b) = (Endpoint::Node(node), Endpoint::Server);
        match dir {
            Dir::Up => self.net.stream_delay(a, b),
            Dir::Down => self.net.stream_delay(b, a),
        }
    }
}

/// A server frame whose relayed offer or answer carries another fingerprint.
fn rewrite_fingerprints(bytes: Vec<u8>) -> Vec<u8> {
    use actr_core::node::signal::{RelaySignal, RtcSignal};
    use actr_core::signaling::ServerMsg;
    use actr_core::signaling::messages::MAX_SIGNALING_FRAME;
    use actr_core::wire::{decode_message, encode_message};
    let Ok(ServerMsg::Relay { source, payload }) = decode_message(&bytes, MAX_SIGNALING_FRAME) else { return bytes };
    let Ok(mut relay) = RelaySignal::decode(&payload) else { return bytes };
    let (RtcSignal::Offer { sdp, .. } | RtcSignal::Answer { sdp, .. }) = &mut relay.signal else { return bytes };
    let forged: String = (0..32).map(|_| "6D:").collect::<String>().trim_end_matches(':').to_owned();
    *sdp = sdp
        .split("\r\n")
        .map(|line| match line.strip_prefix("a=fingerprint:") {
            Some(_) => format!("a=fingerprint:sha-256 {forged}"),
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\r\n");
    let Ok(payload) = relay.encode() else { return bytes };
    encode_message(&ServerMsg::Relay { source, payload }, MAX_SIGNALING_FRAME).unwrap_or(bytes)
}
