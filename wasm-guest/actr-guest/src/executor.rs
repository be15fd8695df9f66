//! A single-threaded executor: tasks in a slab, a ready queue, and wakers
//! that put their task's key back on the queue.
//!
//! The drive loop, once per turn ([`run_until_stalled`]):
//!
//! 1. [`Executor::next_ready`] takes the next ready task out of its slot;
//! 2. the task is polled with no borrow of the executor held, so a task may
//!    reach the executor (or anything else) while it runs;
//! 3. [`Executor::finish`] frees the slot or puts the task back;
//! 4. until no task is ready.
//!
//! A waker holds the task's key, slot index and generation, so a waker that
//! outlives its task can never poll the task that reuses the slot.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

/// Most tasks (requests in flight) one instance holds; a request past it is
/// answered with `ResourceExhausted`.
pub const MAX_TASKS: usize = 1024;

/// A task's future: runs a handler and sends its reply.
pub(crate) type TaskFuture = Pin<Box<dyn Future<Output = ()>>>;

/// Names a task: its slot and the slot's generation when it was spawned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TaskKey {
    index: u32,
    generation: u32,
}

/// Keys of woken tasks. Behind an `Arc<Mutex>` because `Waker` must be
/// `Send + Sync`; on wasm32 there is one thread and the lock is free.
#[derive(Debug, Default)]
struct ReadyQueue(Mutex<VecDeque<TaskKey>>);

impl ReadyQueue {
    fn push(&self, key: TaskKey) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push_back(key);
    }

    fn pop(&self) -> Option<TaskKey> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).pop_front()
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn clear(&self) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

/// The waker of one task. `queued` keeps a task on the queue at most once.
#[derive(Debug)]
struct TaskWaker {
    key: TaskKey,
    queue: Arc<ReadyQueue>,
    queued: AtomicBool,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.queue.push(self.key);
        }
    }
}

struct Task {
    future: TaskFuture,
    waker: Arc<TaskWaker>,
    request_id: u64,
}

enum Slot {
    Free {
        generation: u32,
    },
    Idle {
        generation: u32,
        task: Task,
    },
    /// Taken out by [`Executor::next_ready`], not yet given back.
    Running {
        generation: u32,
    },
}

impl Slot {
    fn generation(&self) -> u32 {
        match self {
            Slot::Free { generation } | Slot::Idle { generation, .. } | Slot::Running { generation } => *generation,
        }
    }
}

/// A task taken out of the executor to be polled.
pub(crate) struct Job {
    key: TaskKey,
    task: Task,
}

impl Job {
    /// The request the task works for.
    pub(crate) fn request_id(&self) -> u64 {
        self.task.request_id
    }

    /// Polls the task once; wakes during the poll queue it again.
    pub(crate) fn poll(&mut self) -> Poll<()> {
        self.task.waker.queued.store(false, Ordering::Release);
        let waker = Waker::from(self.task.waker.clone());
        self.task.future.as_mut().poll(&mut Context::from_waker(&waker))
    }
}

/// Tasks of one instance.
pub(crate) struct Executor {
    slots: Vec<Slot>,
    free: Vec<u32>,
    queue: Arc<ReadyQueue>,
    live: usize,
    max_tasks: usize,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor").field("live", &self.live).field("slots", &self.slots.len()).finish()
    }
}

impl Executor {
    pub(crate) fn new(max_tasks: usize) -> Self {
        Executor { slots: Vec::new(), free: Vec::new(), queue: Arc::default(), live: 0, max_tasks }
    }

    /// Tasks spawned and not finished.
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    /// Takes out the waiting task of `request_id`, if any, freeing its slot;
    /// the caller drops it (outside any borrow of the executor).
    pub(crate) fn cancel(&mut self, request_id: u64) -> Option<TaskFuture> {
        let index = self
            .slots
            .iter()
            .position(|slot| matches!(slot, Slot::Idle { task, .. } if task.request_id == request_id))?;
        let generation = self.slots[index].generation();
        let Slot::Idle { task, .. } =
            std::mem::replace(&mut self.slots[index], Slot::Free { generation: generation.wrapping_add(1) })
        else {
            return None;
        };
        self.free.push(index as u32);
        self.live -= 1;
        Some(task.future)
    }

    /// Adds a ready task, or hands the future back when the executor is full.
    pub(crate) fn spawn(&mut self, request_id: u64, future: TaskFuture) -> Result<(), TaskFuture> {
        if self.live >= self.max_tasks {
            return Err(future);
        }
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.slots.push(Slot::Free { generation: 0 });
                // max_tasks bounds the slab far below u32::MAX.
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        let key = TaskKey { index, generation: slot.generation() };
        let waker = Arc::new(TaskWaker { key, queue: self.queue.clone(), queued: AtomicBool::new(true) });
        *slot = Slot::Idle { generation: key.generation, task: Task { future, waker, request_id } };
        self.queue.push(key);
        self.live += 1;
        Ok(())
    }

    /// The next ready task, taken out of its slot; stale keys are skipped.
    pub(crate) fn next_ready(&mut self) -> Option<Job> {
        while let Some(key) = self.queue.pop() {
            let Some(slot) = self.slots.get_mut(key.index as usize) else { continue };
            if !matches!(slot, Slot::Idle { generation, .. } if *generation == key.generation) {
                continue;
            }
            let Slot::Idle { task, .. } = std::mem::replace(slot, Slot::Running { generation: key.generation }) else {
                continue;
            };
            return Some(Job { key, task });
        }
        None
    }

    /// Gives a polled task back: its slot is freed when it finished.
    pub(crate) fn finish(&mut self, job: Job, poll: Poll<()>) {
        let Some(slot) = self.slots.get_mut(job.key.index as usize) else { return };
        if !matches!(slot, Slot::Running { generation } if *generation == job.key.generation) {
            return;
        }
        match poll {
            Poll::Pending => *slot = Slot::Idle { generation: job.key.generation, task: job.task },
            Poll::Ready(()) => {
                *slot = Slot::Free { generation: job.key.generation.wrapping_add(1) };
                self.free.push(job.key.index);
                self.live -= 1;
            }
        }
    }

    /// Drops every task (and so every handler in flight).
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn clear(&mut self) {
        self.queue.clear();
        self.slots.clear();
        self.free.clear();
        self.live = 0;
    }
}

thread_local! {
    static CURRENT_REQUEST: Cell<u64> = const { Cell::new(0) };
}

/// The request of the task being polled, or 0 outside any task.
pub(crate) fn current_request() -> u64 {
    CURRENT_REQUEST.get()
}

/// Polls every ready task of `executor` until none is ready.
pub(crate) fn run_until_stalled(executor: &RefCell<Executor>) {
    loop {
        let next = executor.borrow_mut().next_ready();
        let Some(mut job) = next else { break };
        let outer = CURRENT_REQUEST.replace(job.request_id());
        let poll = job.poll();
        CURRENT_REQUEST.set(outer);
        executor.borrow_mut().finish(job, poll);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    /// What a test sees of a [`Gate`].
    #[derive(Default)]
    struct GateState {
        open: Cell<bool>,
        waker: RefCell<Option<Waker>>,
        polls: Cell<u32>,
    }

    impl GateState {
        /// Opens the gate and wakes its task.
        fn open(&self) {
            self.open.set(true);
            self.wake();
        }

        fn wake(&self) {
            self.waker.borrow().as_ref().expect("polled once").wake_by_ref();
        }
    }

    /// A future that parks until its state is opened, counting its polls.
    struct Gate(Rc<GateState>);

    impl Future for Gate {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.0.polls.set(self.0.polls.get() + 1);
            if self.0.open.get() {
                return Poll::Ready(());
            }
            *self.0.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    fn gate() -> (Gate, Rc<GateState>) {
        let state = Rc::new(GateState::default());
        (Gate(state.clone()), state)
    }

    fn spawn(executor: &RefCell<Executor>, request_id: u64, future: impl Future<Output = ()> + 'static) -> bool {
        executor.borrow_mut().spawn(request_id, Box::pin(future)).is_ok()
    }

    #[test]
    fn a_parked_task_runs_again_only_when_woken() {
        let executor = RefCell::new(Executor::new(8));
        let (gate, state) = gate();
        let done = Rc::new(Cell::new(false));
        let flag = done.clone();
        assert!(spawn(&executor, 7, async move {
            gate.await;
            flag.set(true)
        }));
        run_until_stalled(&executor);
        assert_eq!((state.polls.get(), done.get(), executor.borrow().live()), (1, false, 1));
        run_until_stalled(&executor);
        assert_eq!(state.polls.get(), 1, "nobody woke it");

        state.open();
        state.wake();
        run_until_stalled(&executor);
        assert_eq!((state.polls.get(), done.get(), executor.borrow().live()), (2, true, 0), "two wakes, one poll");
    }

    #[test]
    fn a_stale_waker_never_polls_the_task_that_reuses_its_slot() {
        let executor = RefCell::new(Executor::new(8));
        let (first, stale) = gate();
        assert!(spawn(&executor, 1, first));
        run_until_stalled(&executor);
        stale.open();
        run_until_stalled(&executor);
        assert_eq!(executor.borrow().live(), 0);

        let (second, state) = gate();
        assert!(spawn(&executor, 2, second));
        run_until_stalled(&executor);
        assert_eq!(state.polls.get(), 1);
        stale.wake();
        run_until_stalled(&executor);
        assert_eq!(state.polls.get(), 1, "the old waker names the old generation");
    }

    #[test]
    fn a_full_executor_hands_the_task_back_and_a_slot_frees_up() {
        let executor = RefCell::new(Executor::new(2));
        let (a, state_a) = gate();
        assert!(spawn(&executor, 1, a));
        assert!(spawn(&executor, 2, gate().0));
        assert!(!spawn(&executor, 3, gate().0));
        run_until_stalled(&executor);
        state_a.open();
        run_until_stalled(&executor);
        let (d, state_d) = gate();
        assert!(spawn(&executor, 4, d));
        run_until_stalled(&executor);
        assert_eq!((executor.borrow().live(), state_d.polls.get()), (2, 1));
    }

    #[test]
    fn a_task_knows_its_request_and_may_spawn_while_polled() {
        let executor = Rc::new(RefCell::new(Executor::new(8)));
        let seen = Rc::new(RefCell::new(Vec::new()));
        let (inner_exec, inner_seen, outer_seen) = (executor.clone(), seen.clone(), seen.clone());
        assert!(spawn(&executor, 5, async move {
            outer_seen.borrow_mut().push(current_request());
            assert!(spawn(&inner_exec, 6, async move { inner_seen.borrow_mut().push(current_request()) }));
        }));
        run_until_stalled(&executor);
        assert_eq!(*seen.borrow(), vec![5, 6]);
        assert_eq!((current_request(), executor.borrow().live()), (0, 0));
    }
}
