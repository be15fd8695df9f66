//! What goes in and out of a [`NodeHub`](super::NodeHub) besides plain
//! bytes: ids of the things it asks the driver to run, the reports the
//! driver brings back, and the outputs it drains.

use crate::ais::RegisterOk;
use crate::error::ActrError;
use crate::id::ActrId;
use crate::keeper::AisCall;
use crate::node::signal::RtcSignal;
use crate::signaling::{ClientTransmit, DisconnectReason, ServerReply};
use crate::transport::{LaneKind, TraceContext};

/// One WebSocket direct link, dialed or accepted, for its whole life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(pub u64);

/// One WebRTC connection (one str0m peer) to one remote actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RtcId(pub u64);

/// A signaling request made by the application (discovery, relay…).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueryId(pub u64);

/// A request or tell handed to the workload, until it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeliveryId(pub u64);

/// A call made through the hub; its [`NodeOutput::CallDone`] carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallId(pub u64);

/// A tell made through the hub; its [`NodeOutput::TellDone`] carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TellId(pub u64);

/// A change of the host's network the application observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkChange {
    /// The network went away: recovery waits until it is available again.
    Lost,
    /// The network is (back) up.
    Available,
    /// The network changed type (Wi-Fi to cellular…).
    TypeChanged,
}

/// What a WebRTC connection reports, translated by the driver from its
/// str0m peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtcReport {
    /// A signaling message for the remote peer: the hub relays it.
    SignalOut(RtcSignal),
    /// The RPC channel opened.
    RpcOpen,
    /// Connectivity is back after an ICE restart or reconnect, RPC channel open.
    Recovered,
    /// ICE lost connectivity: the hub starts recovery.
    ConnectivityLost,
    /// An ICE restart began (started by either side).
    Recovering,
    /// The RPC channel closed.
    RpcClosed,
    /// An RPC envelope arrived on the RPC lane.
    Message(Vec<u8>),
    /// An RPC envelope the hub asked to send could not be (it is handed
    /// back: a call's request is retried with backoff, as on any wire).
    SendFailed(Vec<u8>),
    /// The connection ended for good.
    Ended(ActrError),
}

/// What the hub asks of a WebSocket direct link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOutput {
    /// Connect to `address` (`ws://host:port/path`: TCP, then the client
    /// handshake), then report [`super::NodeHub::handle_link_up`], or
    /// [`super::NodeHub::handle_link_closed`] if it fails.
    Dial { link: LinkId, peer: ActrId, address: String },
    /// One WebSocket binary message.
    Send { link: LinkId, bytes: Vec<u8> },
    /// The hello verified: the link may now carry messages up to `max_message`.
    Authenticated { link: LinkId, max_message: usize },
    /// Close the link (after what was sent before).
    Close { link: LinkId },
}

/// What the hub asks of a WebRTC connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtcOutput {
    /// Build a str0m peer. The offerer offers at once; an answerer waits
    /// for an offer (the hub asks for one itself when it wants the
    /// connection). Exchange ids of its offers start at `first_exchange_id`,
    /// whose high 32 bits name this connection.
    Open { rtc: RtcId, peer: ActrId, offerer: bool, first_exchange_id: u64 },
    /// A signaling message from the remote peer.
    Signal { rtc: RtcId, signal: RtcSignal },
    /// A message for a lane's data channel.
    Send { rtc: RtcId, lane: LaneKind, bytes: Vec<u8> },
    /// The offerer restarts ICE.
    RestartIce { rtc: RtcId },
    /// The answerer asks the offerer to restart ICE.
    RequestIceRestart { rtc: RtcId },
    /// Close the connection.
    Close { rtc: RtcId },
}

/// A request or tell for the workload. Answer it with
/// [`super::NodeHub::respond`] (tells too: that frees its budget).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub caller: ActrId,
    /// The caller's request id (the same for every retry of one call).
    pub request_id: u64,
    pub route_key: String,
    pub payload: Vec<u8>,
    pub trace: Option<TraceContext>,
    pub tell: bool,
}

/// Something the application may want to know.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum NodeEvent {
    /// A credential for a (new) identity: the first registration, or a
    /// re-registration after a refused renewal.
    Registered(RegisterOk),
    /// The same identity with a fresh credential.
    Renewed(RegisterOk),
    /// The AIS gave the node another identity after its old one was refused:
    /// links and connections of the old one are closed, its calls failed.
    Rebound {
        old: ActrId,
        new: ActrId,
    },
    /// Signaling welcomed the node.
    Connected {
        actor: ActrId,
    },
    Disconnected {
        reason: DisconnectReason,
    },
    /// An opaque relayed payload that is no WebRTC signal.
    Relay {
        source: ActrId,
        payload: Vec<u8>,
    },
    Presence {
        actor: ActrId,
        up: bool,
    },
    /// The AIS refused for a reason retrying will not fix.
    Failed(ActrError),
}

/// One output of the hub; drain with [`super::NodeHub::poll_output`].
#[derive(Debug, Clone, PartialEq)]
pub enum NodeOutput {
    /// An identity-service request to run (over HTTP); answer with
    /// [`super::NodeHub::handle_ais_reply`].
    Ais(AisCall),
    /// Work for the signaling connection.
    Signaling(ClientTransmit),
    Link(LinkOutput),
    Rtc(RtcOutput),
    /// Run the workload's handler.
    Deliver(Delivery),
    CallDone {
        call: CallId,
        result: Result<Vec<u8>, ActrError>,
    },
    /// The tell left on a wire, or could not.
    TellDone {
        tell: TellId,
        result: Result<(), ActrError>,
    },
    QueryDone {
        query: QueryId,
        result: Result<ServerReply, ActrError>,
    },
    Event(NodeEvent),
}
