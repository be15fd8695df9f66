//! The peer actor frameworks' tells, for the in-process table: `n` tells of
//! one payload to a counting actor, timed until it counted them all.
//!
//! - kameo: `ActorRef::tell(…).await` into a bounded mailbox of `n` slots
//!   (like the mpsc baseline's channel, so no send waits for room);
//! - ractor: `ActorRef::cast(…)` into its (unbounded) mailbox.
//!
//! Each round spawns a fresh actor and waits for its start before the clock
//! starts, and stops it after the clock stops.

use std::time::{Duration, Instant};

use actr_driver::bytes::Bytes;
use tokio::sync::oneshot;

/// Counts payloads; says so once `target` arrived.
#[derive(Debug)]
struct Tally {
    count: usize,
    target: usize,
    done: Option<oneshot::Sender<()>>,
}

impl Tally {
    fn new(target: usize) -> (Tally, oneshot::Receiver<()>) {
        let (done, reached) = oneshot::channel();
        (Tally { count: 0, target, done: Some(done) }, reached)
    }

    fn note(&mut self, message: Bytes) {
        self.count += std::hint::black_box(message).len().min(1);
        if self.count == self.target
            && let Some(done) = self.done.take()
        {
            let _ = done.send(());
        }
    }
}

/// The kameo counting actor: its state is the [`Tally`].
#[derive(Debug)]
struct KameoCounter(Tally);

impl kameo::Actor for KameoCounter {
    type Args = Self;
    type Error = kameo::error::Infallible;

    async fn on_start(state: Self, _: kameo::actor::ActorRef<Self>) -> Result<Self, Self::Error> {
        Ok(state)
    }
}

impl kameo::message::Message<Bytes> for KameoCounter {
    type Reply = ();

    async fn handle(&mut self, message: Bytes, _: &mut kameo::message::Context<Self, ()>) {
        self.0.note(message);
    }
}

/// `n` kameo tells of `payload`, until the actor counted them all.
pub async fn kameo_tells(payload: Bytes, n: usize) -> Duration {
    use kameo::actor::Spawn;

    let (tally, reached) = Tally::new(n);
    let actor = KameoCounter::spawn_with_mailbox(KameoCounter(tally), kameo::mailbox::bounded(n));
    actor.wait_for_startup().await;
    let started = Instant::now();
    for _ in 0..n {
        actor.tell(payload.clone()).await.expect("kameo mailbox open");
    }
    reached.await.expect("kameo counted all");
    let took = started.elapsed();
    actor.kill();
    actor.wait_for_shutdown().await;
    took
}

/// The ractor counting actor: stateless handler, [`Tally`] as its state.
#[derive(Debug)]
struct RactorCounter;

impl ractor::Actor for RactorCounter {
    type Msg = Bytes;
    type State = Tally;
    type Arguments = Tally;

    async fn pre_start(&self, _: ractor::ActorRef<Bytes>, tally: Tally) -> Result<Tally, ractor::ActorProcessingErr> {
        Ok(tally)
    }

    async fn handle(
        &self,
        _: ractor::ActorRef<Bytes>,
        message: Bytes,
        tally: &mut Tally,
    ) -> Result<(), ractor::ActorProcessingErr> {
        tally.note(message);
        Ok(())
    }
}

/// `n` ractor casts of `payload`, until the actor counted them all.
pub async fn ractor_casts(payload: Bytes, n: usize) -> Duration {
    use ractor::Actor;

    let (tally, reached) = Tally::new(n);
    let (actor, ended) = RactorCounter::spawn(None, RactorCounter, tally).await.expect("ractor actor starts");
    let started = Instant::now();
    for _ in 0..n {
        actor.cast(payload.clone()).expect("ractor mailbox open");
    }
    reached.await.expect("ractor counted all");
    let took = started.elapsed();
    actor.stop(None);
    ended.await.expect("ractor actor ends");
    took
}
