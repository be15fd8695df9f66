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
    Shutdown {
        done: Sender<()>,
    },
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
    /// A handler finished.
    Respond {
        inbound: Box<Inbound>,
        result: Result<Vec<u8>, ActrError>,
    },
}

/// Where dispatched requests go: the node's workload.
pub(crate) trait Dispatch: Send + Sync + 'static {
    /// Runs the handler for `inbound` and reports its result as [`LoopInput::Respond`] on `results`.
    fn dispatch(self: Arc<Self>, inbound: Inbound, results: Sender<LoopInput>);
}
