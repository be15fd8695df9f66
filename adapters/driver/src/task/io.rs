//! What flows into the node task: [`Command`]s from handles, [`Input`]s
//! from socket tasks, WebRTC connection tasks, AIS calls and handlers, and
//! the [`Dispatch`] sink the task hands deliveries to.
//!
//! The pumps and handles depend on this file, never on the loop itself
//! ([`crate::task`]), so the loop can depend on them.

use std::net::SocketAddr;
use std::sync::Arc;

use actr_core::ais::{AisReply, RegisterOk};
use actr_core::node::{Delivery, DeliveryId, LinkId, NetworkChange, RtcId, RtcReport};
use actr_core::signaling::{ClientRequest, ConnId, ServerReply};
use actr_core::transport::TraceContext;
use actr_core::{ActrError, ActrId};
use async_channel::Sender;

use crate::node::stats::RpcStats;
use crate::runtime::Runtime;
use crate::signaling::events::NodeStats;
use crate::wire::webrtc::{MediaSample, MediaType};

/// Capacity of the channel carrying inputs into the task.
pub(crate) const INPUT_CAPACITY: usize = 1024;

/// Requests from handles; each carries its reply channel.
#[derive(Debug)]
pub(crate) enum Command {
    Request {
        request: ClientRequest,
        reply: Sender<Result<ServerReply, ActrError>>,
    },
    WaitConnected {
        reply: Sender<Result<ActrId, ActrError>>,
    },
    WaitRegistered {
        reply: Sender<Result<RegisterOk, ActrError>>,
    },
    /// Asked by `SignalingHandle::stats` (feature `internals`).
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    Stats {
        reply: Sender<NodeStats>,
    },
    RpcStats {
        reply: Sender<RpcStats>,
    },
    Call {
        dest: ActrId,
        route_key: String,
        payload: Vec<u8>,
        timeout: actr_core::Duration,
        trace: TraceContext,
        reply: Sender<Result<Vec<u8>, ActrError>>,
    },
    Tell {
        dest: ActrId,
        route_key: String,
        payload: Vec<u8>,
        trace: TraceContext,
        reply: Sender<Result<(), ActrError>>,
    },
    AddRoute {
        peer: ActrId,
        ws_address: String,
        reply: Sender<Result<(), ActrError>>,
    },
    Network(NetworkChange),
    StreamChunk {
        dest: ActrId,
        bytes: Vec<u8>,
        reply: Sender<Result<(), ActrError>>,
    },
    Media {
        dest: ActrId,
        op: MediaOp,
        reply: Sender<Result<(), ActrError>>,
    },
    /// Refuse new remote requests; in-flight ones finish.
    Drain,
    Shutdown {
        done: Sender<()>,
    },
}

/// Reports from socket tasks, WebRTC connection tasks, AIS calls and handlers.
pub(crate) enum Input<R: Runtime> {
    Conn(ConnId, ConnReport),
    Ais {
        id: u64,
        reply: Result<AisReply, ActrError>,
    },
    /// A dialed link finished its WebSocket handshake.
    LinkUp(LinkId),
    LinkMessage(LinkId, Vec<u8>),
    LinkClosed(LinkId, ActrError),
    /// The listener accepted a connection.
    Accepted(R::Tcp, SocketAddr),
    Rtc(RtcId, RtcReport),
    /// A handler finished.
    Respond(DeliveryId, Result<Vec<u8>, ActrError>),
    /// The workload may be reached: deliveries go to `sink`, and WebRTC
    /// connections may start.
    Open {
        sink: Arc<dyn Dispatch<R>>,
    },
}

impl<R: Runtime> std::fmt::Debug for Input<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Input::Conn(..) => "Conn",
            Input::Ais { .. } => "Ais",
            Input::LinkUp(_) => "LinkUp",
            Input::LinkMessage(..) => "LinkMessage",
            Input::LinkClosed(..) => "LinkClosed",
            Input::Accepted(..) => "Accepted",
            Input::Rtc(..) => "Rtc",
            Input::Respond(..) => "Respond",
            Input::Open { .. } => "Open",
        };
        f.write_str(name)
    }
}

/// What a signaling socket tells the node task.
#[derive(Debug)]
pub(crate) enum ConnReport {
    Connected,
    ConnectFailed(String),
    Frame(Vec<u8>),
    Closed,
}

/// What an application does with media on a connection.
#[derive(Debug)]
pub(crate) enum MediaOp {
    /// Negotiate a track of this type; answered once it is usable.
    AddTrack(MediaType),
    /// Send one sample on the negotiated track of its type.
    Sample(MediaSample),
}

/// Where deliveries go: the node's workload.
pub(crate) trait Dispatch<R: Runtime>: Send + Sync + 'static {
    /// Runs the handler for `delivery` in its own task (never on the node
    /// task) and reports its result as [`Input::Respond`] on `results`
    /// (tells too, which frees their budget).
    fn dispatch(self: Arc<Self>, delivery: Delivery, results: Sender<Input<R>>);
}
