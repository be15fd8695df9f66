//! Admission and draining: which phase a node is in, how many requests it
//! is handling, and a latch that says when it has stopped.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use actr_core::ActrError;
use async_channel::{Receiver, Sender};

const STARTING: u8 = 0;
const RUNNING: u8 = 1;
const DRAINING: u8 = 2;
const STOPPED: u8 = 3;

/// Where a node is in its life after `start`: the hub's phases, so the
/// in-process side and the remote side speak of one thing.
pub(crate) use actr_core::node::Phase;

/// Phase, in-flight count and the stopped latch of one node.
#[derive(Debug)]
pub(crate) struct Admission {
    phase: AtomicU8,
    max_in_flight: usize,
    /// Requests admitted and not finished; atomic, as every message counts.
    in_flight: AtomicUsize,
    /// Woken (dropped) when `in_flight` comes down to zero. Registered under
    /// this lock after a look at `in_flight`, and cleared under it after the
    /// count reached zero, so no waiter misses the moment.
    idle_waiters: Mutex<Vec<Sender<()>>>,
    /// Closed when the node has stopped; every receiver then wakes.
    stopped_tx: Mutex<Option<Sender<()>>>,
    stopped_rx: Receiver<()>,
}

/// Counts one admitted request until dropped.
#[derive(Debug)]
pub(crate) struct InFlight {
    admission: Arc<Admission>,
}

impl Admission {
    pub fn new(max_in_flight: usize) -> Arc<Self> {
        let (tx, rx) = async_channel::bounded(1);
        Arc::new(Self {
            phase: AtomicU8::new(STARTING),
            max_in_flight: max_in_flight.max(1),
            in_flight: AtomicUsize::new(0),
            idle_waiters: Mutex::new(Vec::new()),
            stopped_tx: Mutex::new(Some(tx)),
            stopped_rx: rx,
        })
    }

    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::SeqCst) {
            STARTING => Phase::Starting,
            RUNNING => Phase::Running,
            DRAINING => Phase::Draining,
            _ => Phase::Stopped,
        }
    }

    /// `on_start` succeeded: requests are admitted from now on.
    pub fn set_running(&self) {
        let _ = self.phase.compare_exchange(STARTING, RUNNING, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Moves from running to draining. Only the first caller gets `true`.
    pub fn begin_drain(&self) -> bool {
        self.phase.compare_exchange(RUNNING, DRAINING, Ordering::SeqCst, Ordering::SeqCst).is_ok()
    }

    /// Marks the node stopped and wakes every [`Admission::wait_stopped`].
    pub fn set_stopped(&self) {
        self.phase.store(STOPPED, Ordering::SeqCst);
        lock(&self.stopped_tx).take();
    }

    /// Admits one request, or refuses it: the node is draining or stopped
    /// (`Unavailable`), or already handles its maximum (`ResourceExhausted`).
    pub fn admit(self: &Arc<Self>) -> Result<InFlight, ActrError> {
        let full = |n: usize| n >= self.max_in_flight;
        let counted = self.in_flight.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (!full(n)).then_some(n + 1));
        if counted.is_err() {
            return Err(ActrError::ResourceExhausted(format!("{} requests in flight", self.max_in_flight)));
        }
        // Counted before the phase check: a drain that starts now waits for it.
        let guard = InFlight { admission: self.clone() };
        match self.phase() {
            Phase::Running => Ok(guard),
            Phase::Starting => Err(ActrError::Unavailable("the actor is starting".into())),
            _ => Err(ActrError::Unavailable("the actor is shutting down".into())),
        }
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Completes once nothing is in flight.
    pub async fn wait_idle(&self) {
        let rx = {
            let mut waiters = lock(&self.idle_waiters);
            if self.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            let (tx, rx) = async_channel::bounded(1);
            waiters.push(tx);
            rx
        };
        // Woken by a message or by the sender being dropped; both mean idle.
        let _ = rx.recv().await;
    }

    /// Completes once the node has stopped.
    pub async fn wait_stopped(&self) {
        let _ = self.stopped_rx.recv().await;
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.admission.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            lock(&self.admission.idle_waiters).clear();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_follows_the_phase_and_the_bound() {
        let a = Admission::new(1);
        assert!(matches!(a.admit(), Err(ActrError::Unavailable(_))), "refused while starting");
        assert!(!a.begin_drain(), "a starting node has nothing to drain");
        a.set_running();
        let first = a.admit().unwrap();
        assert!(matches!(a.admit(), Err(ActrError::ResourceExhausted(_))));
        drop(first);
        assert!(a.begin_drain());
        assert!(!a.begin_drain(), "only the first drain wins");
        assert!(matches!(a.admit(), Err(ActrError::Unavailable(_))));
        assert_eq!(a.in_flight(), 0, "a refused request is not counted");
    }

    #[test]
    fn idle_and_stopped_wake_their_waiters() {
        let a = Admission::new(4);
        a.set_running();
        let guard = a.admit().unwrap();
        let waiter = {
            let a = a.clone();
            std::thread::spawn(move || futures::executor::block_on(a.wait_idle()))
        };
        drop(guard);
        waiter.join().unwrap();
        futures::executor::block_on(a.wait_idle());
        a.set_stopped();
        futures::executor::block_on(a.wait_stopped());
        assert_eq!(a.phase(), Phase::Stopped);
    }
}
