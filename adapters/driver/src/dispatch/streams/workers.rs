//! One worker per key, fed by a bounded queue: the machinery both registries share.
//!
//! A worker is spawned on the first item for its key and lives until the
//! key is unregistered (then it drains its queue and exits) or the registry
//! shuts down. A new worker for a key whose old worker still drains waits
//! for it first, so a key never has two handlers running at once.

use std::collections::HashMap;
use std::hash::Hash;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use actr_core::{ActrError, ActrId};
use async_channel::{Receiver, Sender, TrySendError};
use futures::FutureExt;
use futures::future::{AbortHandle, Abortable, BoxFuture, Either, join_all, select};

use super::{RegistryConfig, RegistryError, RegistryKey, RegistryStats, Spawner};

/// A handler of items of type `T` from a sender.
pub(super) type Handler<T> = Arc<dyn Fn(T, ActrId) -> BoxFuture<'static, Result<(), ActrError>> + Send + Sync>;

/// What a full queue does to a new item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Overflow {
    /// The dispatcher waits for room: backpressure.
    Wait,
    /// The new item is dropped and counted.
    DropNewest,
}

struct Job<T> {
    handler: Handler<T>,
    item: T,
    sender: ActrId,
}

/// A job and the queue it goes into.
struct Prepared<T> {
    tx: Sender<Job<T>>,
    overflow: Overflow,
    job: Job<T>,
}

/// One spawned worker task.
struct Task {
    /// Closes when the task ends, however it ends.
    done: Receiver<()>,
    abort: AbortHandle,
}

impl Task {
    fn is_running(&self) -> bool {
        !self.done.is_closed()
    }
}

/// The worker of one key.
struct Worker<T> {
    /// `None` once the key is unregistered: the worker drains and exits.
    tx: Option<Sender<Job<T>>>,
    /// The key's running tasks, newest first; each waits for the next to end.
    tasks: Vec<Task>,
}

impl<T> Worker<T> {
    fn is_running(&self) -> bool {
        self.tasks.first().is_some_and(Task::is_running)
    }
}

struct State<K, T> {
    handlers: HashMap<K, (Handler<T>, Overflow)>,
    workers: HashMap<K, Worker<T>>,
    shut_down: bool,
}

#[derive(Default)]
struct Counters {
    shut_down: AtomicBool,
    dispatched: AtomicU64,
    handled: AtomicU64,
    handler_errors: AtomicU64,
    panics: AtomicU64,
    dropped_full: AtomicU64,
    not_registered: AtomicU64,
    dropped_on_shutdown: AtomicU64,
    aborted_workers: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Handlers and workers by key.
pub(super) struct KeyedWorkers<K, T> {
    exec: Arc<dyn Spawner>,
    config: RegistryConfig,
    state: Mutex<State<K, T>>,
    /// Shared with the workers, which must not hold the state: it owns their queues.
    counters: Arc<Counters>,
}

impl<K, T> KeyedWorkers<K, T>
where
    K: Copy + Eq + Hash + Into<RegistryKey> + Send + 'static,
    T: Send + 'static,
{
    pub(super) fn new(exec: Arc<dyn Spawner>, config: RegistryConfig) -> Self {
        let state = State { handlers: HashMap::new(), workers: HashMap::new(), shut_down: false };
        Self { exec, config, state: Mutex::new(state), counters: Arc::default() }
    }

    fn lock(&self) -> MutexGuard<'_, State<K, T>> {
        // Handlers never run under the lock, so a poisoned lock holds consistent state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the handler of `key`; items dispatched from now on use it.
    pub(super) fn register(&self, key: K, handler: Handler<T>, overflow: Overflow) -> Result<(), RegistryError> {
        let mut state = self.lock();
        if state.shut_down {
            return Err(RegistryError::ShutDown);
        }
        if !state.handlers.contains_key(&key) && state.handlers.len() >= self.config.max_handlers {
            return Err(RegistryError::TooManyHandlers { max: self.config.max_handlers });
        }
        state.handlers.insert(key, (handler, overflow));
        Ok(())
    }

    /// Removes the handler; the key's worker runs what is queued and exits.
    pub(super) fn unregister(&self, key: K) -> bool {
        let mut state = self.lock();
        if let Some(worker) = state.workers.get_mut(&key) {
            worker.tx = None;
        }
        state.handlers.remove(&key).is_some()
    }

    pub(super) fn is_registered(&self, key: K) -> bool {
        self.lock().handlers.contains_key(&key)
    }

    /// Worker tasks that have not ended, draining ones included.
    pub(super) fn live_workers(&self) -> usize {
        let mut state = self.lock();
        prune_finished(&mut state.workers)
    }

    /// Queues `item` for `key`'s handler, waiting for room if its overflow says so.
    pub(super) async fn dispatch(&self, key: K, item: T, sender: ActrId) -> Result<(), RegistryError> {
        let Prepared { tx, overflow, job } = self.prepare(key, item, sender)?;
        match overflow {
            Overflow::DropNewest => self.offer(key, &tx, job),
            Overflow::Wait => {
                tx.send(job).await.map_err(|_| RegistryError::ShutDown)?;
                bump(&self.counters.dispatched);
                Ok(())
            }
        }
    }

    /// Queues `item` without waiting: a full queue drops it, whatever the key's overflow.
    pub(super) fn try_dispatch(&self, key: K, item: T, sender: ActrId) -> Result<(), RegistryError> {
        let Prepared { tx, job, .. } = self.prepare(key, item, sender)?;
        self.offer(key, &tx, job)
    }

    fn offer(&self, key: K, tx: &Sender<Job<T>>, job: Job<T>) -> Result<(), RegistryError> {
        match tx.try_send(job) {
            Ok(()) => {
                bump(&self.counters.dispatched);
                Ok(())
            }
            Err(TrySendError::Full(_)) => {
                bump(&self.counters.dropped_full);
                Err(RegistryError::QueueFull(key.into()))
            }
            Err(TrySendError::Closed(_)) => Err(RegistryError::ShutDown),
        }
    }

    /// The job and the queue of `key`'s worker, spawned if needed.
    fn prepare(&self, key: K, item: T, sender: ActrId) -> Result<Prepared<T>, RegistryError> {
        let mut state = self.lock();
        if state.shut_down {
            return Err(RegistryError::ShutDown);
        }
        let Some((handler, overflow)) = state.handlers.get(&key).map(|(h, o)| (h.clone(), *o)) else {
            bump(&self.counters.not_registered);
            return Err(RegistryError::NotRegistered(key.into()));
        };
        let tx = self.worker_queue(&mut state, key)?;
        Ok(Prepared { tx, overflow, job: Job { handler, item, sender } })
    }

    fn worker_queue(&self, state: &mut State<K, T>, key: K) -> Result<Sender<Job<T>>, RegistryError> {
        if let Some(tx) = state.workers.get(&key).and_then(|w| w.tx.clone()) {
            return Ok(tx);
        }
        if prune_finished(&mut state.workers) >= self.config.max_handlers {
            return Err(RegistryError::TooManyHandlers { max: self.config.max_handlers });
        }
        // A draining worker of this key stays in the chain: the new one waits for it.
        let mut tasks = state.workers.remove(&key).map(|w| w.tasks).unwrap_or_default();
        tasks.retain(Task::is_running);
        let previous = tasks.first().map(|t| t.done.clone());
        let (tx, rx) = async_channel::bounded(self.config.queue_depth.max(1));
        let (done_tx, done) = async_channel::bounded(1);
        let (abort, registration) = AbortHandle::new_pair();
        let task = run_worker(rx, previous, done_tx, self.counters.clone());
        self.exec.spawn(Abortable::new(task, registration).map(|_| ()).boxed());
        tasks.insert(0, Task { done, abort });
        state.workers.insert(key, Worker { tx: Some(tx.clone()), tasks });
        Ok(tx)
    }

    /// Refuses new work, drops queued items, lets running handlers finish
    /// within the grace period and aborts the workers still running after it.
    pub(super) async fn shutdown(&self) {
        let tasks: Vec<Task> = {
            let mut state = self.lock();
            state.shut_down = true;
            // Set before the queues close, so workers drop what is queued.
            self.counters.shut_down.store(true, Ordering::SeqCst);
            state.handlers.clear();
            state.workers.drain().flat_map(|(_, w)| w.tasks).collect()
        };
        let all_done = join_all(tasks.iter().map(|t| t.done.recv()));
        if let Either::Right(_) = select(all_done, self.exec.sleep(self.config.shutdown_grace)).await {
            for task in tasks.iter().filter(|t| t.is_running()) {
                task.abort.abort();
                bump(&self.counters.aborted_workers);
            }
        }
    }

    pub(super) fn stats(&self) -> RegistryStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RegistryStats {
            dispatched: get(&c.dispatched),
            handled: get(&c.handled),
            handler_errors: get(&c.handler_errors),
            panics: get(&c.panics),
            dropped_full: get(&c.dropped_full),
            not_registered: get(&c.not_registered),
            dropped_on_shutdown: get(&c.dropped_on_shutdown),
            aborted_workers: get(&c.aborted_workers),
        }
    }
}

/// Forgets workers whose tasks have ended; returns how many tasks still run.
fn prune_finished<K: Eq + Hash, T>(workers: &mut HashMap<K, Worker<T>>) -> usize {
    workers.retain(|_, w| w.is_running());
    workers.values().map(|w| w.tasks.iter().filter(|t| t.is_running()).count()).sum()
}

/// One key's worker: waits for the key's previous worker, then runs jobs in
/// queue order until the queue is closed and empty. `_done` closes on exit.
async fn run_worker<T>(rx: Receiver<Job<T>>, previous: Option<Receiver<()>>, _done: Sender<()>, c: Arc<Counters>) {
    if let Some(previous) = previous {
        // Never sent on: returns when the previous worker's task ends.
        let _ = previous.recv().await;
    }
    while let Ok(job) = rx.recv().await {
        if c.shut_down.load(Ordering::SeqCst) {
            bump(&c.dropped_on_shutdown);
            continue;
        }
        run_job(job, &c).await;
    }
}

/// Calls the handler, catching a panic in the call or in its future.
async fn run_job<T>(job: Job<T>, c: &Counters) {
    let Job { handler, item, sender } = job;
    let outcome = match std::panic::catch_unwind(AssertUnwindSafe(|| handler(item, sender))) {
        Ok(fut) => AssertUnwindSafe(fut).catch_unwind().await,
        Err(panic) => Err(panic),
    };
    match outcome {
        Ok(Ok(())) => bump(&c.handled),
        Ok(Err(error)) => {
            bump(&c.handler_errors);
            tracing::debug!(%error, "registry handler failed");
        }
        Err(_) => {
            bump(&c.panics);
            tracing::warn!("registry handler panicked; its worker continues");
        }
    }
}
