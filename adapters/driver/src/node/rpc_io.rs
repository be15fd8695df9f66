//! What goes in and out of a node's RPC loop: commands from the node (each
//! with its reply channel), reports from links and handlers, and the
//! [`Dispatch`] sink that runs the workload for requests the endpoint admits.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use actr_core::transport::{Inbound, TraceContext};
use actr_core::{ActrError, ActrId};
use async_channel::Sender;

use crate::node::ops::RpcStats;

/// Identifies one direct link (dialed or accepted) for its whole life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct LinkId(pub u64);

impl LinkId {
    pub fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        LinkId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// Requests from the node to its loop; each carries its reply channel.
#[derive(Debug)]
pub(crate) enum LoopCmd {
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
    },
    Stats {
        reply: Sender<RpcStats>,
    },
    /// The network changed (after debouncing): recover every WebRTC connection.
    RecoverNetwork,
    /// A latency-first stream chunk for the WebRTC stream lane to `dest`;
    /// `ConnectionNotReady` when WebRTC is not up (the writer then uses RPC).
    StreamChunk {
        dest: ActrId,
        bytes: Vec<u8>,
        reply: Sender<Result<(), ActrError>>,
    },
    /// A media operation on the WebRTC connection to `dest` (started if needed).
    Media {
        dest: ActrId,
        op: MediaOp,
        reply: Sender<Result<(), ActrError>>,
    },
    Shutdown {
        done: Sender<()>,
    },
}

/// What an application does with media on a connection.
#[derive(Debug)]
pub(crate) enum MediaOp {
    /// Negotiate a track of this type; answered once it is usable.
    AddTrack(crate::webrtc::MediaType),
    /// Send one sample on the negotiated track of its type.
    Sample(crate::webrtc::MediaSample),
}

/// Reports from links and handlers.
#[derive(Debug)]
pub(crate) enum LoopInput {
    /// A link to `peer` is authenticated; frames for it go to `tx`.
    LinkUp {
        peer: ActrId,
        link: LinkId,
        tx: Sender<Vec<u8>>,
    },
    Frame {
        peer: ActrId,
        bytes: Vec<u8>,
    },
    /// The link ended, or the dial failed with `error`.
    LinkDown {
        peer: ActrId,
        link: LinkId,
        error: ActrError,
    },
    /// Discovery found `peer`'s direct address.
    Learned {
        peer: ActrId,
        ws_address: String,
    },
    /// The WebRTC connection run by `task` has its RPC channel open (again);
    /// RPC envelopes for it go to `tx`.
    RtcUp {
        peer: ActrId,
        task: LinkId,
        tx: Sender<Vec<u8>>,
    },
    /// The WebRTC connection run by `task` lost connectivity (`terminal`
    /// false: it is recovering) or ended for good.
    RtcDown {
        peer: ActrId,
        task: LinkId,
        error: ActrError,
        terminal: bool,
    },
    /// A WebRTC signaling message relayed from `source`.
    RtcSignal {
        source: ActrId,
        signal: crate::webrtc::RtcSignal,
    },
    /// A handler finished.
    Respond {
        inbound: Box<Inbound>,
        result: Result<Vec<u8>, ActrError>,
    },
}

/// A request answered during [`Dispatch::dispatch`], and its result.
pub(crate) type Answered = (Inbound, Result<Vec<u8>, ActrError>);

/// Where dispatched requests go: the node's workload.
pub(crate) trait Dispatch: Send + Sync + 'static {
    /// Runs the handler for `inbound`. A request whose handler is done on its
    /// first poll comes back with the result, for the loop to answer at once;
    /// otherwise the handler goes on in its own task and reports its result
    /// as [`LoopInput::Respond`] on `results` (a tell reports nothing).
    fn dispatch(self: Arc<Self>, inbound: Inbound, results: Sender<LoopInput>) -> Option<Answered>;
}
