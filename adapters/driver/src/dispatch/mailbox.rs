//! The mailbox: in-process tells for this node's workload queue here as
//! plain requests, and one worker task calls the handler for each, instead
//! of one spawned task per tell. Remote requests queue here too, as jobs
//! (futures the dispatch made), so they run off the node task.
//!
//! Every letter is admitted (counted in flight, see [`crate::node::drain`])
//! before it is posted, so the queue never holds more than the node's
//! `max_in_flight`: admission is the bound and its refusal the overflow
//! answer. Once [`BACKLOG`] letters wait for the worker, [`Mailbox::post`]
//! says so, and an in-process tell yields once before it returns: on a
//! single-threaded runtime the worker then gets to run, so a burst of tells
//! does not pile up ahead of the handlers (as tokio's own channels yield
//! once their task has used its budget).
//!
//! The worker takes all waiting letters at once (one lock per batch, not per
//! letter), and polls each handler once as it starts; handlers that are not
//! done at once keep running concurrently on the worker, so a handler that
//! waits (even for another tell to this node) blocks no other. The worker
//! ends once the mailbox is dropped and every handler has finished.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use actr_core::ActrError;
use bytes::Bytes;
use futures::future::{BoxFuture, Either};
use futures::stream::{FuturesUnordered, StreamExt};
use tracing::Span;

use crate::Request;
use crate::node::drain::InFlight;
use crate::runtime::Runtime;

/// Work that is a future already: a remote request with its answer, a
/// stream chunk.
pub(crate) type Job = BoxFuture<'static, Result<Bytes, ActrError>>;

/// One queued item.
#[allow(clippy::large_enum_variant, reason = "a tell is queued unboxed: no allocation per tell")]
pub(crate) enum Letter {
    /// A tell for the workload. `span` is the handler's, made on the
    /// caller's side so it nests under the caller's span.
    Tell {
        req: Request,
        span: Span,
        in_flight: InFlight,
    },
    Job(Job),
}

/// Whom the tells are for: starts the handler of one (see
/// [`crate::node::handler::Handlers`]).
pub(crate) trait Recipient: Send + Unpin + 'static {
    /// The handler running; it releases `in_flight` once it has finished.
    type Running: Future<Output = Result<Bytes, ActrError>> + Unpin + Send + 'static;

    fn start(&self, req: Request, span: Span, in_flight: InFlight) -> Self::Running;
}

/// How full the mailbox was after a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Posted {
    Queued,
    /// [`BACKLOG`] or more letters wait for the worker: the sender should
    /// yield before it posts again.
    Backlogged,
}

/// Most letters the worker starts in one turn before it yields.
const TURN: usize = 256;
/// Waiting letters from which a post reports [`Posted::Backlogged`].
pub(crate) const BACKLOG: usize = 128;
/// Queue capacity kept once the worker goes idle, in letters: a burst's
/// buffers do not stay allocated.
const IDLE_CAPACITY: usize = 2 * TURN;

/// The sending side, held by the node. Dropping it closes the mailbox.
pub(crate) struct Mailbox {
    inbox: Arc<Mutex<Inbox>>,
}

/// What the sending side and the worker share.
struct Inbox {
    letters: VecDeque<Letter>,
    /// The worker, when it found no letter.
    idle: Option<Waker>,
    /// The mailbox still exists: more letters may come.
    open: bool,
    /// The worker still exists: letters will be read.
    read: bool,
}

impl Mailbox {
    /// Opens the mailbox and spawns its worker on `rt`.
    pub fn start<R: Runtime>(rt: &R, recipient: impl Recipient) -> Self {
        let (mailbox, worker) = Self::open(recipient);
        rt.spawn(Box::pin(worker));
        mailbox
    }

    fn open<T: Recipient>(recipient: T) -> (Self, Worker<T>) {
        let inbox = Inbox { letters: VecDeque::new(), idle: None, open: true, read: true };
        let inbox = Arc::new(Mutex::new(inbox));
        let worker = Worker {
            inbox: inbox.clone(),
            recipient,
            batch: VecDeque::new(),
            running: FuturesUnordered::new(),
            closed: false,
        };
        (Self { inbox }, worker)
    }

    /// Queues `letter`; hands it back if the worker is gone (the runtime shut down).
    #[allow(clippy::result_large_err, reason = "the letter handed back, as it came")]
    pub fn post(&self, letter: Letter) -> Result<Posted, Letter> {
        let (idle, waiting) = {
            let mut inbox = lock(&self.inbox);
            if !inbox.read {
                return Err(letter);
            }
            inbox.letters.push_back(letter);
            (inbox.idle.take(), inbox.letters.len())
        };
        if let Some(worker) = idle {
            worker.wake();
        }
        Ok(if waiting >= BACKLOG { Posted::Backlogged } else { Posted::Queued })
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        let idle = {
            let mut inbox = lock(&self.inbox);
            inbox.open = false;
            inbox.idle.take()
        };
        if let Some(worker) = idle {
            worker.wake();
        }
    }
}

/// Starts queued letters and drives the unfinished ones.
struct Worker<T: Recipient> {
    inbox: Arc<Mutex<Inbox>>,
    recipient: T,
    /// Letters taken from the inbox, not started yet.
    batch: VecDeque<Letter>,
    running: FuturesUnordered<Either<T::Running, Job>>,
    /// The mailbox is gone and its last letters are taken.
    closed: bool,
}

impl<T: Recipient> Worker<T> {
    /// Takes every waiting letter into `batch` (which is empty); false if
    /// there was none, after registering to be woken for the next.
    fn refill(&mut self, cx: &mut Context<'_>) -> bool {
        let mut inbox = lock(&self.inbox);
        if !inbox.letters.is_empty() {
            // Swapped, not copied: the inbox gets the empty buffer back.
            std::mem::swap(&mut inbox.letters, &mut self.batch);
            return true;
        }
        if !inbox.open {
            self.closed = true;
        } else if !inbox.idle.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            inbox.idle = Some(cx.waker().clone());
        }
        inbox.letters.shrink_to(IDLE_CAPACITY);
        drop(inbox);
        self.batch.shrink_to(IDLE_CAPACITY);
        false
    }

    fn start(&self, letter: Letter) -> Either<T::Running, Job> {
        match letter {
            Letter::Tell { req, span, in_flight } => Either::Left(self.recipient.start(req, span, in_flight)),
            Letter::Job(job) => Either::Right(job),
        }
    }
}

impl<T: Recipient> Future for Worker<T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut started = 0;
        while !this.closed {
            if started == TURN {
                // Let other tasks run; come back for the rest.
                cx.waker().wake_by_ref();
                break;
            }
            let Some(letter) = this.batch.pop_front() else {
                if this.refill(cx) {
                    continue;
                }
                break;
            };
            started += 1;
            // Most handlers finish on their first poll: no slot needed.
            let mut running = this.start(letter);
            match Pin::new(&mut running).poll(cx) {
                Poll::Ready(result) => report(result),
                Poll::Pending => this.running.push(running),
            }
        }
        while let Poll::Ready(Some(result)) = this.running.poll_next_unpin(cx) {
            report(result);
        }
        if this.closed && this.running.is_empty() { Poll::Ready(()) } else { Poll::Pending }
    }
}

impl<T: Recipient> Drop for Worker<T> {
    fn drop(&mut self) {
        let unread = {
            let mut inbox = lock(&self.inbox);
            inbox.read = false;
            std::mem::take(&mut inbox.letters)
        };
        // Dropped outside the lock: a letter's drop may post again.
        drop(unread);
    }
}

/// A tell has no caller to answer: its error is only logged.
fn report(result: Result<Bytes, ActrError>) {
    if let Err(e) = result {
        tracing::debug!("in-process tell failed: {e}");
    }
}

fn lock(inbox: &Mutex<Inbox>) -> MutexGuard<'_, Inbox> {
    inbox.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {

    use actr_core::transport::TraceContext;
    use futures::channel::oneshot;
    use futures::executor::block_on;

    use super::*;
    use crate::node::drain::Admission;
    use crate::test_wakes::Wakes;

    /// Logs each tell's route key as it starts; `wait` waits for the gate.
    struct Logger {
        started: Arc<Mutex<Vec<String>>>,
        gate: Mutex<Option<oneshot::Receiver<()>>>,
    }

    impl Recipient for Logger {
        type Running = Job;

        fn start(&self, req: Request, _span: Span, in_flight: InFlight) -> Job {
            self.started.lock().unwrap().push(req.route_key.clone());
            let gate = (req.route_key == "wait").then(|| self.gate.lock().unwrap().take().expect("one wait"));
            Box::pin(async move {
                let _in_flight = in_flight;
                if let Some(gate) = gate {
                    gate.await.map_err(|_| ActrError::Internal("gate dropped".into()))?;
                }
                Ok(Bytes::new())
            })
        }
    }

    fn tell(admission: &Arc<Admission>, route_key: &str) -> Letter {
        let trace = TraceContext::root(1, 2, 3);
        let req = Request { route_key: route_key.into(), payload: Bytes::new(), caller: None, trace, tell: true };
        Letter::Tell { req, span: Span::none(), in_flight: admission.admit().expect("admitted") }
    }

    fn logger() -> (Logger, Arc<Mutex<Vec<String>>>, oneshot::Sender<()>) {
        let (open, gate) = oneshot::channel();
        let started = Arc::default();
        (Logger { started: Arc::clone(&started), gate: Mutex::new(Some(gate)) }, started, open)
    }

    fn running_admission() -> Arc<Admission> {
        let admission = Admission::new(1 << 20);
        admission.set_running();
        admission
    }

    #[test]
    fn tells_start_in_order_and_a_waiting_one_blocks_no_other() {
        let (recipient, started, open) = logger();
        let (mailbox, worker) = Mailbox::open(recipient);
        let admission = running_admission();
        assert!(mailbox.post(tell(&admission, "wait")).is_ok());
        for i in 0..3 * TURN {
            assert!(mailbox.post(tell(&admission, &i.to_string())).is_ok());
        }
        let release: Job = Box::pin(async move {
            open.send(()).expect("the waiting tell listens");
            Ok(Bytes::new())
        });
        assert!(mailbox.post(Letter::Job(release)).is_ok());
        drop(mailbox);
        block_on(worker);
        let expected: Vec<String> =
            std::iter::once("wait".to_owned()).chain((0..3 * TURN).map(|i| i.to_string())).collect();
        assert_eq!(*started.lock().unwrap(), expected, "every tell started, in order, over several turns");
        assert_eq!(admission.in_flight(), 0, "each finished tell released its count");
    }

    #[test]
    fn the_idle_worker_is_woken_once_and_a_backlog_is_reported() {
        let (recipient, started, _open) = logger();
        let (mailbox, mut worker) = Mailbox::open(recipient);
        let admission = running_admission();
        let (wakes, waker) = Wakes::waker();
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut worker).poll(&mut cx).is_pending(), "nothing to do yet");
        for _ in 1..BACKLOG {
            assert_eq!(mailbox.post(tell(&admission, "x")).ok(), Some(Posted::Queued));
        }
        assert_eq!(mailbox.post(tell(&admission, "x")).ok(), Some(Posted::Backlogged));
        assert_eq!(wakes.count(), 1, "only the first post wakes the worker");
        assert!(Pin::new(&mut worker).poll(&mut cx).is_pending());
        assert_eq!(started.lock().unwrap().len(), BACKLOG);
        assert_eq!(admission.in_flight(), 0);
        assert_eq!(mailbox.post(tell(&admission, "x")).ok(), Some(Posted::Queued), "the backlog was taken");
        assert_eq!(wakes.count(), 2, "the worker went idle again");
        assert!(Pin::new(&mut worker).poll(&mut cx).is_pending());
        drop(mailbox);
        assert_eq!(wakes.count(), 3, "closing wakes the worker");
        assert!(Pin::new(&mut worker).poll(&mut cx).is_ready(), "the worker ended");
        assert_eq!(started.lock().unwrap().len(), BACKLOG + 1);
    }

    #[test]
    fn a_letter_for_a_gone_worker_is_handed_back() {
        let (recipient, _, _) = logger();
        let (mailbox, worker) = Mailbox::open(recipient);
        drop(worker);
        assert!(mailbox.post(Letter::Job(Box::pin(async { Ok(Bytes::new()) }))).is_err());
    }
}
