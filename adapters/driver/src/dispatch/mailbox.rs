//! The in-process mailbox: tells for this node's workload queue here and one
//! worker task runs them, instead of one spawned task per tell.
//!
//! A tell is admitted (counted in flight, see [`crate::node::drain`]) before
//! it is posted, so the queue never holds more than the node's
//! `max_in_flight`: admission is the bound and its refusal the overflow
//! answer. The worker polls each handler once as it arrives; handlers that
//! are not done at once keep running concurrently on the worker, so a
//! handler that waits (even for another tell to this node) blocks no other.
//! The worker ends once the node is dropped and every handler has finished.

use std::pin::Pin;
use std::task::{Context, Poll};

use actr_core::ActrError;
use async_channel::{Receiver, Sender};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};

use crate::runtime::Runtime;

/// One queued tell: the handler's future, with its in-flight guard inside.
pub(crate) type Job = BoxFuture<'static, Result<Bytes, ActrError>>;

/// Most new jobs the worker starts in one turn before it yields.
const TURN: usize = 256;

/// The sending side, held by the node.
pub(crate) struct Mailbox {
    tx: Sender<Job>,
}

impl Mailbox {
    /// Opens the mailbox and spawns its worker on `rt`.
    pub fn start<R: Runtime>(rt: &R) -> Self {
        let (mailbox, worker) = Self::open();
        rt.spawn(Box::pin(worker));
        mailbox
    }

    fn open() -> (Self, Worker) {
        // Unbounded here because admission bounds it (see the module docs).
        let (tx, rx) = async_channel::unbounded();
        (Self { tx }, Worker { inbox: Box::pin(rx), running: FuturesUnordered::new(), closed: false })
    }

    /// Queues `job`; hands it back if the worker is gone (the runtime shut down).
    pub fn post(&self, job: Job) -> Result<(), Job> {
        self.tx.try_send(job).map_err(|e| e.into_inner())
    }
}

/// Starts queued jobs and drives the unfinished ones.
struct Worker {
    /// Boxed: the receiver is not `Unpin`.
    inbox: Pin<Box<Receiver<Job>>>,
    running: FuturesUnordered<Job>,
    closed: bool,
}

impl Future for Worker {
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
            match this.inbox.poll_next_unpin(cx) {
                Poll::Ready(Some(mut job)) => {
                    started += 1;
                    // Most handlers finish on their first poll: no slot needed.
                    match job.as_mut().poll(cx) {
                        Poll::Ready(result) => report(result),
                        Poll::Pending => this.running.push(job),
                    }
                }
                Poll::Ready(None) => this.closed = true,
                Poll::Pending => break,
            }
        }
        while let Poll::Ready(Some(result)) = this.running.poll_next_unpin(cx) {
            report(result);
        }
        if this.closed && this.running.is_empty() { Poll::Ready(()) } else { Poll::Pending }
    }
}

/// A tell has no caller to answer: its error is only logged.
fn report(result: Result<Bytes, ActrError>) {
    if let Err(e) = result {
        tracing::debug!("in-process tell failed: {e}");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures::channel::oneshot;
    use futures::executor::block_on;

    use super::*;

    #[test]
    fn a_waiting_handler_blocks_no_other_and_the_worker_ends_after_the_last() {
        let (mailbox, worker) = Mailbox::open();
        let done = Arc::new(AtomicUsize::new(0));
        let (release, released) = oneshot::channel::<()>();
        let counted = done.clone();
        // The first job waits for one queued after it.
        let waiting: Job = Box::pin(async move {
            released.await.expect("released");
            counted.fetch_add(1, Ordering::SeqCst);
            Ok(Bytes::new())
        });
        assert!(mailbox.post(waiting).is_ok());
        for _ in 0..3 * TURN {
            let counted = done.clone();
            let ready: Job = Box::pin(async move {
                counted.fetch_add(1, Ordering::SeqCst);
                Err(ActrError::Internal("only logged".into()))
            });
            assert!(mailbox.post(ready).is_ok());
        }
        let releasing: Job = Box::pin(async move {
            release.send(()).expect("the waiting job listens");
            Ok(Bytes::new())
        });
        assert!(mailbox.post(releasing).is_ok());
        drop(mailbox);
        block_on(worker);
        assert_eq!(done.load(Ordering::SeqCst), 3 * TURN + 1, "every job ran, over several turns");
    }

    #[test]
    fn a_job_for_a_gone_worker_is_handed_back() {
        let (mailbox, worker) = Mailbox::open();
        drop(worker);
        assert!(mailbox.post(Box::pin(async { Ok(Bytes::new()) })).is_err());
    }
}
