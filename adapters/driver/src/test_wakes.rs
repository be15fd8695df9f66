//! Test doubles for the unit tests of wake paths: a waker that counts its
//! wake-ups, and a timer whose sleeps end when the test says so.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Wake, Waker};
use std::time::Duration;

use futures::future::BoxFuture;

use crate::runtime::Sleeper;

/// Counts wake-ups.
#[derive(Debug, Default)]
pub(crate) struct Wakes(AtomicUsize);

impl Wakes {
    /// The counter and a waker that bumps it.
    pub fn waker() -> (Arc<Wakes>, Waker) {
        let wakes = Arc::new(Wakes::default());
        (wakes.clone(), Waker::from(wakes))
    }

    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Wake for Wakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A timer whose sleeps all end when the test fires it.
#[derive(Debug)]
pub(crate) struct ManualTimer(async_channel::Receiver<()>);

impl ManualTimer {
    /// The timer and what fires it.
    pub fn new() -> (Self, impl Fn()) {
        let (fire, fired) = async_channel::bounded(1);
        (Self(fired), move || {
            fire.close();
        })
    }
}

impl Sleeper for ManualTimer {
    fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> {
        let fired = self.0.clone();
        Box::pin(async move {
            let _ = fired.recv().await;
        })
    }
}
