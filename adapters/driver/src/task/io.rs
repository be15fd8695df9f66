//! What flows into the node task: [`Command`]s from handles, [`Input`]s
//! from socket tasks, WebRTC connection tasks, AIS calls and handlers, and
//! the [`Dispatch`] sink the task hands deliveries to.
//!
//! The pumps and handles depend on this file, never on the loop itself
//! ([`crate::task`]), so the loop can depend on them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::Poll;

use actr_core::ais::{AisReply, RegisterOk};
use actr_core::node::{Delivery, DeliveryId, LinkId, NetworkChange, RtcId, RtcReport};
use actr_core::signaling::{ClientRequest, ConnId, ServerReply};
use actr_core::transport::TraceContext;
use actr_core::{ActrError, ActrId};
use async_channel::{Receiver, Sender};
use futures::task::AtomicWaker;

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
    /// Runs the handler for `delivery` on the node's mailbox worker (never
    /// on the node task) and reports its result as [`Input::Respond`] on `results`
    /// (tells too, which frees their budget).
    fn dispatch(self: Arc<Self>, delivery: Delivery, results: Sender<Input<R>>);
}

/// Sends `command` to the node task and awaits its one reply, both within
/// `limit`; `stopped` is the error once the task is gone. Shared by every
/// handle on a node task.
pub(crate) async fn ask<T>(
    (commands, timer): (&Sender<Command>, &dyn crate::runtime::Sleeper),
    limit: std::time::Duration,
    command: impl FnOnce(Sender<T>) -> Command,
    stopped: fn() -> ActrError,
) -> Result<T, ActrError> {
    let (tx, rx) = async_channel::bounded(1);
    let command = command(tx);
    let exchange = async move {
        commands.send(command).await.map_err(|_| stopped())?;
        rx.recv().await.map_err(|_| stopped())
    };
    crate::runtime::with_deadline(timer, limit, exchange).await?
}

/// Where a pump hands its inputs: the node task's queue and its budget.
pub(crate) type Inlet<R> = (Sender<Input<R>>, InputBudget);

/// Bytes of messages on their way into the node task, bounded: a reader
/// takes permits for a message before handing it over, and the node task
/// gives them back once the hub has it. Readers wait (and so stop reading
/// their socket) while the node task is behind, so a flood of large
/// messages cannot grow the node's memory past [`MAX_INPUT_BYTES`].
///
/// A message takes all of its permits at once or none, so two large
/// messages cannot each hold half of what both need. While permits are
/// free a reader takes them with one atomic operation; a reader that must
/// wait first takes the turn (one waiter at a time, so the node task wakes
/// exactly one), and while someone waits, nobody passes it on the fast path.
#[derive(Debug, Clone)]
pub(crate) struct InputBudget {
    inner: Arc<BudgetInner>,
}

#[derive(Debug)]
struct BudgetInner {
    free: AtomicUsize,
    /// A reader waits in the slow path; the node task must wake it.
    waiting: AtomicBool,
    closed: AtomicBool,
    waker: AtomicWaker,
    /// Held by the one reader that waits.
    turn: (Sender<()>, Receiver<()>),
}

/// Bytes one permit stands for.
const PERMIT_BYTES: usize = 64 * 1024;
/// What the node task's input queue may hold in message bytes (about).
pub(crate) const MAX_INPUT_BYTES: usize = 64 * 1024 * 1024;
const PERMITS: usize = MAX_INPUT_BYTES / PERMIT_BYTES;

impl BudgetInner {
    fn try_take(&self, permits: usize) -> bool {
        self.free.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |free| free.checked_sub(permits)).is_ok()
    }
}

impl InputBudget {
    pub fn new() -> Self {
        let turn = async_channel::bounded(1);
        let _ = turn.0.try_send(());
        let inner = BudgetInner {
            free: AtomicUsize::new(PERMITS),
            waiting: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            waker: AtomicWaker::new(),
            turn,
        };
        Self { inner: Arc::new(inner) }
    }

    fn permits_for(len: usize) -> usize {
        (1 + len / PERMIT_BYTES).min(PERMITS)
    }

    /// Waits until a message of `len` bytes fits. Returns at once once the
    /// node task has stopped.
    pub async fn take(&self, len: usize) {
        let permits = Self::permits_for(len);
        let inner = &*self.inner;
        if !inner.waiting.load(Ordering::SeqCst) && inner.try_take(permits) {
            return;
        }
        if inner.turn.1.recv().await.is_err() {
            return;
        }
        inner.waiting.store(true, Ordering::SeqCst);
        std::future::poll_fn(|cx| {
            if inner.closed.load(Ordering::SeqCst) || inner.try_take(permits) {
                return Poll::Ready(());
            }
            inner.waker.register(cx.waker());
            // Permits given back between the check and the registration.
            match inner.closed.load(Ordering::SeqCst) || inner.try_take(permits) {
                true => Poll::Ready(()),
                false => Poll::Pending,
            }
        })
        .await;
        inner.waiting.store(false, Ordering::SeqCst);
        let _ = inner.turn.0.try_send(());
    }

    /// The node task handled a message of `len` bytes.
    pub fn give(&self, len: usize) {
        self.inner.free.fetch_add(Self::permits_for(len), Ordering::SeqCst);
        if self.inner.waiting.load(Ordering::SeqCst) {
            self.inner.waker.wake();
        }
    }

    /// The node task stopped: nobody waits any more.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner.turn.0.close();
        self.inner.waker.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[test]
    fn a_full_budget_holds_readers_back_until_the_node_task_catches_up() {
        let budget = InputBudget::new();
        // Four 16 MiB messages fill the budget.
        for _ in 0..4 {
            assert!(budget.take(16 * 1024 * 1024 - 1).now_or_never().is_some());
        }
        let mut fifth = Box::pin(budget.take(100));
        assert!(fifth.as_mut().now_or_never().is_none(), "the fifth message waits");
        budget.give(16 * 1024 * 1024 - 1);
        assert!(fifth.as_mut().now_or_never().is_some(), "it goes once one was handled");
        let mut waiting = Box::pin(budget.take(MAX_INPUT_BYTES));
        assert!(waiting.as_mut().now_or_never().is_none());
        budget.close();
        assert!(waiting.as_mut().now_or_never().is_some(), "a stopped node lets every reader go");
    }

    #[test]
    fn a_waiting_reader_is_woken_by_give_and_not_overtaken() {
        let (woken, waker) = crate::test_wakes::Wakes::waker();
        let mut cx = std::task::Context::from_waker(&waker);
        let budget = InputBudget::new();
        assert!(budget.take(MAX_INPUT_BYTES).now_or_never().is_some(), "one message takes every permit");
        // Two permits' worth waits; one permit given back is not enough.
        let mut large = Box::pin(budget.take(PERMIT_BYTES));
        assert!(large.as_mut().poll(&mut cx).is_pending());
        budget.give(0);
        assert_eq!(woken.count(), 1, "giving back wakes the waiting reader");
        assert!(large.as_mut().poll(&mut cx).is_pending());
        let mut small = Box::pin(budget.take(1));
        assert!(small.as_mut().now_or_never().is_none(), "a small message does not pass the waiting one");
        budget.give(0);
        assert!(large.as_mut().poll(&mut cx).is_ready(), "two permits back: the large message goes");
        assert!(small.as_mut().now_or_never().is_none(), "nothing is left for the small one yet");
        budget.give(0);
        assert!(small.as_mut().now_or_never().is_some());
    }
}
