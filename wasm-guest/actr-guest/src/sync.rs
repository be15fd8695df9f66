//! Coordination between the handlers of one instance.
//!
//! Handlers interleave at their `.await` points, so a read-modify-write of
//! storage (get, then set) by two requests at once can lose an update. A
//! [`Mutex`] held across the awaits makes such a sequence one step.

use std::cell::{RefCell, RefMut};
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// An async mutex for one instance (one thread). Waiters are woken all at
/// once on unlock and race for it, so a waiter that was dropped cannot leave
/// the lock stuck.
#[derive(Debug, Default)]
pub struct Mutex<T> {
    /// Mutably borrowed exactly while a guard exists: the borrow is the lock.
    value: RefCell<T>,
    waiters: RefCell<Vec<Waker>>,
}

impl<T> Mutex<T> {
    pub fn new(value: T) -> Self {
        Mutex { value: RefCell::new(value), waiters: RefCell::new(Vec::new()) }
    }

    /// Waits until the lock is free and takes it.
    pub fn lock(&self) -> Lock<'_, T> {
        Lock { mutex: self }
    }

    /// Takes the lock if it is free.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        let value = self.value.try_borrow_mut().ok()?;
        Some(MutexGuard { value, waiters: &self.waiters })
    }
}

/// The future of [`Mutex::lock`].
#[derive(Debug)]
#[must_use = "the lock is taken only when awaited"]
pub struct Lock<'a, T> {
    mutex: &'a Mutex<T>,
}

impl<'a, T> Future for Lock<'a, T> {
    type Output = MutexGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.mutex.try_lock() {
            Some(guard) => Poll::Ready(guard),
            None => {
                self.mutex.waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Access to the value until dropped, which unlocks.
#[derive(Debug)]
pub struct MutexGuard<'a, T> {
    value: RefMut<'a, T>,
    waiters: &'a RefCell<Vec<Waker>>,
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        // Waking only queues the waiters; they poll after this guard (and its
        // borrow) is gone.
        for waker in self.waiters.take() {
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell as StdRefCell;
    use std::rc::Rc;

    use crate::executor::{Executor, run_until_stalled};

    #[test]
    fn a_second_locker_waits_for_the_first() {
        let executor = StdRefCell::new(Executor::new(8));
        let mutex = Rc::new(Mutex::new(0u32));
        let gate = Rc::new(Mutex::new(()));
        let held = gate.try_lock().unwrap();
        let order = Rc::new(StdRefCell::new(Vec::new()));
        for id in 0..2u32 {
            let (mutex, gate, order) = (mutex.clone(), gate.clone(), order.clone());
            let task = async move {
                let mut value = mutex.lock().await;
                order.borrow_mut().push(id);
                // Holds the lock across an await: the other task must wait.
                drop(gate.lock().await);
                *value += 1;
            };
            assert!(executor.borrow_mut().spawn(u64::from(id) + 1, Box::pin(task)).is_ok());
        }
        run_until_stalled(&executor);
        assert_eq!(*order.borrow(), vec![0], "task 1 waits for the lock");
        drop(held);
        run_until_stalled(&executor);
        assert_eq!(*order.borrow(), vec![0, 1]);
        assert_eq!(*mutex.try_lock().unwrap(), 2);
    }
}
