//! The events the world schedules, and how each is written to the trace.

use std::net::SocketAddr;

use actr_core::ActrError;
use actr_core::ais::AisReply;
use actr_core::keeper::AisCall;
use actr_core::signaling::ConnId;
use actr_core::{Instant, ais::AisRequest};

use crate::links::LinkId;
use crate::trace::Trace;

/// Something due at a virtual instant. Node events carry the incarnation
/// they were meant for and server timers the server epoch, so events for a
/// crashed machine are dropped instead of reaching its successor.
#[derive(Debug)]
pub enum Event {
    /// Call the node's `handle_timeout`.
    NodeWake {
        node: usize,
        inc: u32,
    },
    /// Call the server's `handle_timeout`.
    ServerWake {
        epoch: u32,
    },
    /// The node's workload issues its next requests.
    Tick {
        node: usize,
        inc: u32,
    },
    /// A connection attempt reaches the server.
    ConnectArrive {
        link: LinkId,
    },
    /// The server accepted: the client learns it is connected.
    ConnectOk {
        link: LinkId,
    },
    /// A connection attempt failed (refused, or timed out across a partition).
    ConnectFailed {
        node: usize,
        inc: u32,
        conn: ConnId,
        why: &'static str,
    },
    ToServer {
        link: LinkId,
        bytes: Vec<u8>,
    },
    ToClient {
        link: LinkId,
        bytes: Vec<u8>,
    },
    /// The client's end closed; the server learns it.
    FinToServer {
        link: LinkId,
    },
    /// The server's end closed; the client learns it.
    FinToClient {
        link: LinkId,
    },
    /// An AIS HTTP request arrives at the server.
    AisRequest {
        node: usize,
        inc: u32,
        call: AisCall,
    },
    /// The AIS reply (or a transport error) arrives at the node.
    AisReply {
        node: usize,
        inc: u32,
        id: u64,
        reply: Result<AisReply, ActrError>,
    },
    /// A UDP datagram arrives at node `node`'s address `to`.
    Datagram {
        node: usize,
        from: SocketAddr,
        to: SocketAddr,
        bytes: Vec<u8>,
    },
    /// Call the node's WebRTC layer's `handle_timeout` (`layer`: which layer).
    RtcWake {
        node: usize,
        layer: u32,
    },
    /// The node's call load makes its next call.
    CallTick {
        node: usize,
    },
    /// A direct-link dial from `from` reaches `to`.
    DirectConnect {
        from: usize,
        link: actr_core::node::LinkId,
        to: usize,
    },
    /// The dialer hears its link was accepted.
    DirectUp {
        node: usize,
        link: actr_core::node::LinkId,
    },
    DirectMessage {
        node: usize,
        link: actr_core::node::LinkId,
        from: usize,
        bytes: Vec<u8>,
    },
    DirectClose {
        node: usize,
        link: actr_core::node::LinkId,
    },
}

impl Event {
    /// Appends this event's line (and payload, if any) to `trace`.
    pub fn record(&self, trace: &mut Trace, now: Instant) {
        match self {
            Event::NodeWake { node, inc } => trace.record(now, format_args!("wake node={node}/{inc}"), &[]),
            Event::ServerWake { epoch } => trace.record(now, format_args!("wake server={epoch}"), &[]),
            Event::Tick { node, inc } => trace.record(now, format_args!("tick node={node}/{inc}"), &[]),
            Event::ConnectArrive { link } => trace.record(now, format_args!("syn link={link}"), &[]),
            Event::ConnectOk { link } => trace.record(now, format_args!("syn-ack link={link}"), &[]),
            Event::ConnectFailed { node, inc, conn, why } => {
                trace.record(now, format_args!("connect-failed node={node}/{inc} conn={conn} {why}"), &[])
            }
            Event::ToServer { link, bytes } => trace.record(now, format_args!("up link={link}"), bytes),
            Event::ToClient { link, bytes } => trace.record(now, format_args!("down link={link}"), bytes),
            Event::FinToServer { link } => trace.record(now, format_args!("fin-up link={link}"), &[]),
            Event::FinToClient { link } => trace.record(now, format_args!("fin-down link={link}"), &[]),
            Event::AisRequest { node, inc, call } => {
                let kind = match &call.request {
                    AisRequest::Register(_) => "register",
                    AisRequest::Renew(_) => "renew",
                    AisRequest::SigningKey { .. } => "signing-key",
                };
                trace.record(now, format_args!("ais-call node={node}/{inc} id={} {kind}", call.id), &[])
            }
            Event::AisReply { node, inc, id, reply } => {
                let outcome = match reply {
                    Ok(AisReply::Registered(ok)) => format!("registered {}", ok.actor),
                    Ok(AisReply::Renewed(ok)) => format!("renewed {} until {}", ok.actor, ok.credential_expires_at),
                    Ok(AisReply::SigningKey { key_id, .. }) => format!("signing-key {key_id}"),
                    Ok(AisReply::Error(e)) => format!("error {}", e.code),
                    Err(e) => format!("transport {}", e.code()),
                };
                trace.record(now, format_args!("ais-reply node={node}/{inc} id={id} {outcome}"), &[])
            }
            Event::Datagram { node, from, to, bytes } => {
                trace.record(now, format_args!("udp node={node} {from}->{to}"), bytes)
            }
            Event::RtcWake { node, layer } => trace.record(now, format_args!("rtc-wake node={node}/{layer}"), &[]),
            Event::CallTick { node } => trace.record(now, format_args!("call-tick node={node}"), &[]),
            Event::DirectConnect { from, link, to } => {
                trace.record(now, format_args!("ws-dial node={from} link={} to={to}", link.0), &[])
            }
            Event::DirectUp { node, link } => trace.record(now, format_args!("ws-up node={node} link={}", link.0), &[]),
            Event::DirectMessage { node, link, bytes, .. } => {
                trace.record(now, format_args!("ws-msg node={node} link={}", link.0), bytes)
            }
            Event::DirectClose { node, link } => {
                trace.record(now, format_args!("ws-close node={node} link={}", link.0), &[])
            }
        }
    }
}
