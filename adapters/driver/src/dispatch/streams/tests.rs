//! Registry tests on a single-threaded pool: deterministic, no wall clock.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use actr_core::transport::{DataChunk, DeliveryPolicy};
use actr_core::{ActrError, ActrId, Classify};
use async_channel::{Receiver, Sender};
use futures::FutureExt;
use futures::executor::{LocalPool, block_on};
use futures::future::BoxFuture;
use futures::task::{LocalSpawnExt, SpawnExt};

use super::*;
use crate::wire::webrtc::{MediaSample, MediaType};

/// Spawns onto a [`TestPool`]; its timer either fires at once or never.
#[derive(Clone)]
struct TestExec {
    tasks: Sender<BoxFuture<'static, ()>>,
    instant_timer: bool,
}

impl Spawner for TestExec {
    fn spawn(&self, fut: BoxFuture<'static, ()>) {
        self.tasks.try_send(fut).expect("the pool is alive");
    }

    fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> {
        if self.instant_timer { futures::future::ready(()).boxed() } else { futures::future::pending().boxed() }
    }
}

struct TestPool {
    pool: LocalPool,
}

impl TestPool {
    fn new(instant_timer: bool) -> (TestPool, TestExec) {
        let (tasks, incoming) = async_channel::unbounded::<BoxFuture<'static, ()>>();
        let pool = LocalPool::new();
        let spawner = pool.spawner();
        let forward = spawner.clone();
        spawner
            .spawn_local(async move {
                while let Ok(task) = incoming.recv().await {
                    forward.spawn(task).expect("pool alive");
                }
            })
            .expect("pool alive");
        (TestPool { pool }, TestExec { tasks, instant_timer })
    }

    /// Runs every task until none can make progress.
    fn settle(&mut self) {
        self.pool.run_until_stalled();
    }

    fn run<F: Future>(&mut self, fut: F) -> F::Output {
        self.pool.run_until(fut)
    }
}

/// Pending once, then ready: lets other tasks run in between.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

type Log = Arc<Mutex<Vec<(u64, u64)>>>;

fn sender() -> ActrId {
    "1@1/fz:node:1".parse().expect("valid id")
}

fn chunk(stream_id: u64, sequence: u64) -> DataChunk {
    DataChunk { stream_id, sequence, payload: vec![1, 2], end: false }
}

fn config(queue_depth: usize) -> RegistryConfig {
    RegistryConfig { queue_depth, ..RegistryConfig::default() }
}

/// A handler that waits for a gate token (if any), then logs the chunk.
fn logger(
    log: &Log,
    gate: Option<&Receiver<()>>,
) -> impl Fn(DataChunk, ActrId) -> BoxFuture<'static, Result<(), ActrError>> + Send + Sync + 'static {
    let (log, gate) = (log.clone(), gate.cloned());
    move |c, _| {
        let (log, gate) = (log.clone(), gate.clone());
        async move {
            if let Some(gate) = gate {
                let _ = gate.recv().await;
            }
            log.lock().unwrap().push((c.stream_id, c.sequence));
            Ok(())
        }
        .boxed()
    }
}

fn logged(log: &Log) -> Vec<(u64, u64)> {
    log.lock().unwrap().clone()
}

#[test]
fn one_stream_is_fifo_and_one_call_at_a_time() {
    let (mut pool, exec) = TestPool::new(false);
    let reg = DataStreamRegistry::new(exec, config(64));
    let (active, peak, log) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Log::default());
    let (a, p, l) = (active.clone(), peak.clone(), log.clone());
    let handler = move |c: DataChunk, _| {
        let (a, p, l) = (a.clone(), p.clone(), l.clone());
        async move {
            p.fetch_max(a.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
            YieldNow(false).await;
            l.lock().unwrap().push((c.stream_id, c.sequence));
            a.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        }
        .boxed()
    };
    reg.register(1, DeliveryPolicy::Reliable, handler).unwrap();
    for seq in 0..20 {
        pool.run(reg.dispatch(chunk(1, seq), sender())).unwrap();
    }
    pool.settle();
    assert_eq!(logged(&log), (0..20).map(|s| (1, s)).collect::<Vec<_>>());
    assert_eq!(peak.load(Ordering::SeqCst), 1);
    assert_eq!(reg.stats().handled, 20);
    assert_eq!(reg.live_workers(), 1);
}

#[test]
fn streams_do_not_wait_for_each_other() {
    let (mut pool, exec) = TestPool::new(false);
    let reg = DataStreamRegistry::new(exec, config(64));
    let (log, (open, gate)) = (Log::default(), async_channel::unbounded());
    reg.register(1, DeliveryPolicy::Reliable, logger(&log, Some(&gate))).unwrap();
    reg.register(2, DeliveryPolicy::LatencyFirst, logger(&log, None)).unwrap();
    pool.run(reg.dispatch(chunk(1, 0), sender())).unwrap();
    pool.run(reg.dispatch(chunk(2, 0), sender())).unwrap();
    pool.run(reg.dispatch(chunk(2, 1), sender())).unwrap();
    pool.settle();
    assert_eq!(logged(&log), vec![(2, 0), (2, 1)], "stream 1 is stuck, stream 2 is not");
    open.close();
    pool.settle();
    assert_eq!(logged(&log).last(), Some(&(1, 0)));
}

#[test]
fn latency_first_drops_the_newest_when_full() {
    let (mut pool, exec) = TestPool::new(false);
    let reg = DataStreamRegistry::new(exec, config(2));
    let log = Log::default();
    reg.register(3, DeliveryPolicy::LatencyFirst, logger(&log, None)).unwrap();
    // The pool does not run yet, so nothing leaves the queue.
    assert_eq!(block_on(reg.dispatch(chunk(3, 0), sender())), Ok(()));
    assert_eq!(block_on(reg.dispatch(chunk(3, 1), sender())), Ok(()));
    let full = block_on(reg.dispatch(chunk(3, 2), sender())).unwrap_err();
    assert_eq!(full, RegistryError::QueueFull(RegistryKey::Stream(3)));
    assert!(full.is_retryable());
    pool.settle();
    assert_eq!(logged(&log), vec![(3, 0), (3, 1)]);
    let stats = reg.stats();
    assert_eq!((stats.dispatched, stats.dropped_full, stats.handled), (2, 1, 2));
}

#[test]
fn reliable_streams_apply_backpressure() {
    let (mut pool, exec) = TestPool::new(false);
    let reg = DataStreamRegistry::new(exec.clone(), config(1));
    let (log, (open, gate)) = (Log::default(), async_channel::unbounded());
    reg.register(4, DeliveryPolicy::Reliable, logger(&log, Some(&gate))).unwrap();
    let sent = Arc::new(AtomicUsize::new(0));
    let (producer, progress) = (reg.clone(), sent.clone());
    exec.spawn(
        async move {
            for seq in 0..5 {
                producer.dispatch(chunk(4, seq), sender()).await.unwrap();
                progress.fetch_add(1, Ordering::SeqCst);
            }
        }
        .boxed(),
    );
    pool.settle();
    let early = sent.load(Ordering::SeqCst);
    assert!(early < 5, "the producer waits for room ({early} sent)");
    assert!(logged(&log).is_empty());
    open.close();
    pool.settle();
    assert_eq!(sent.load(Ordering::SeqCst), 5);
    assert_eq!(logged(&log), (0..5).map(|s| (4, s)).collect::<Vec<_>>());
    assert_eq!(reg.stats().dropped_full, 0);
}

#[test]
fn panics_and_errors_are_counted_and_the_worker_continues() {
    let (mut pool, exec) = TestPool::new(false);
    let reg = DataStreamRegistry::new(exec, config(64));
    let log = Log::default();
    let l = log.clone();
    let handler = move |c: DataChunk, _| -> BoxFuture<'static, Result<(), ActrError>> {
        assert_ne!(c.sequence, 1, "a panic while making the future");
        let l = l.clone();
        async move {
            assert_ne!(c.sequence, 2, "a panic inside the future");
            if c.sequence == 3 {
                return Err(ActrError::Internal("handler says no".into()));
            }
            l.lock().unwrap().push((c.stream_id, c.sequence));
            Ok(())
        }
        .boxed()
    };
    reg.register(5, DeliveryPolicy::Reliable, handler).unwrap();
    for seq in 0..5 {
        pool.run(reg.dispatch(chunk(5, seq), sender())).unwrap();
    }
    pool.settle();
    assert_eq!(logged(&log), vec![(5, 0), (5, 4)]);
    let stats = reg.stats();
    assert_eq!((stats.panics, stats.handler_errors, stats.handled), (2, 1, 2));
}

#[test]
fn unregister_drains_the_queue_then_the_worker_exits() {
    let (mut pool, exec) = TestPool::new(false);
    let reg = DataStreamRegistry::new(exec, config(64));
    let log = Log::default();
    reg.register(6, DeliveryPolicy::Reliable, logger(&log, None)).unwrap();
    for seq in 0..3 {
        block_on(reg.dispatch(chunk(6, seq), sender())).unwrap();
    }
    assert!(reg.unregister(6));
    assert!(!reg.unregister(6));
    assert!(!reg.is_registered(6));
    let late = block_on(reg.dispatch(chunk(6, 3), sender()));
    assert_eq!(late, Err(RegistryError::NotRegistered(RegistryKey::Stream(6))));
    pool.settle();
    assert_eq!(logged(&log), vec![(6, 0), (6, 1), (6, 2)]);
    assert_eq!(reg.live_workers(), 0);
    assert_eq!(reg.stats().not_registered, 1);
}

#[test]
fn a_new_worker_waits_for_the_draining_one() {
    let (mut pool, exec) = TestPool::new(false);
    let reg = DataStreamRegistry::new(exec, config(64));
    let (old_log, new_log, (open, gate)) = (Log::default(), Log::default(), async_channel::unbounded());
    reg.register(7, DeliveryPolicy::Reliable, logger(&old_log, Some(&gate))).unwrap();
    pool.run(reg.dispatch(chunk(7, 0), sender())).unwrap();
    pool.run(reg.dispatch(chunk(7, 1), sender())).unwrap();
    reg.unregister(7);
    let order = Log::default();
    let shared = order.clone();
    let after = move |c: DataChunk, _| {
        let (order, new_log) = (shared.clone(), new_log.clone());
        async move {
            order.lock().unwrap().push((99, c.sequence));
            new_log.lock().unwrap().push((c.stream_id, c.sequence));
            Ok(())
        }
        .boxed()
    };
    reg.register(7, DeliveryPolicy::Reliable, after).unwrap();
    pool.run(reg.dispatch(chunk(7, 2), sender())).unwrap();
    pool.settle();
    assert!(logged(&order).is_empty(), "the new worker waits while the old one is busy");
    assert_eq!(reg.live_workers(), 2, "the draining worker and the one waiting for it");
    open.close();
    pool.settle();
    assert_eq!(logged(&old_log), vec![(7, 0), (7, 1)]);
    assert_eq!(logged(&order), vec![(99, 2)]);
    assert_eq!(reg.live_workers(), 1);
}

#[test]
fn re_registering_swaps_the_handler_from_the_next_chunk() {
    let (mut pool, exec) = TestPool::new(false);
    let reg = DataStreamRegistry::new(exec, config(64));
    let (first, second) = (Log::default(), Log::default());
    reg.register(8, DeliveryPolicy::LatencyFirst, logger(&first, None)).unwrap();
    block_on(reg.dispatch(chunk(8, 0), sender())).unwrap();
    reg.register(8, DeliveryPolicy::LatencyFirst, logger(&second, None)).unwrap();
    block_on(reg.dispatch(chunk(8, 1), sender())).unwrap();
    pool.settle();
    assert_eq!((logged(&first), logged(&second)), (vec![(8, 0)], vec![(8, 1)]));
    assert_eq!(reg.live_workers(), 1, "one worker served both handlers");
}

#[test]
fn handlers_are_bounded() {
    let (_pool, exec) = TestPool::new(false);
    let reg = DataStreamRegistry::new(exec, RegistryConfig { max_handlers: 2, ..RegistryConfig::default() });
    let log = Log::default();
    reg.register(1, DeliveryPolicy::Reliable, logger(&log, None)).unwrap();
    reg.register(2, DeliveryPolicy::Reliable, logger(&log, None)).unwrap();
    reg.register(2, DeliveryPolicy::LatencyFirst, logger(&log, None)).expect("replacing needs no room");
    let e = reg.register(3, DeliveryPolicy::Reliable, logger(&log, None)).unwrap_err();
    assert_eq!(e, RegistryError::TooManyHandlers { max: 2 });
    assert!(matches!(ActrError::from(e), ActrError::ResourceExhausted(_)));
}

#[test]
fn shutdown_drops_queued_chunks_and_lets_running_ones_finish() {
    let (mut pool, exec) = TestPool::new(false);
    let reg = DataStreamRegistry::new(exec.clone(), config(64));
    let (log, (open, gate)) = (Log::default(), async_channel::unbounded());
    reg.register(9, DeliveryPolicy::Reliable, logger(&log, Some(&gate))).unwrap();
    for seq in 0..3 {
        pool.run(reg.dispatch(chunk(9, seq), sender())).unwrap();
    }
    pool.settle();
    let finished = Arc::new(AtomicUsize::new(0));
    let (closing, flag) = (reg.clone(), finished.clone());
    exec.spawn(
        async move {
            closing.shutdown().await;
            flag.store(1, Ordering::SeqCst);
        }
        .boxed(),
    );
    pool.settle();
    assert_eq!(finished.load(Ordering::SeqCst), 0, "chunk 0 is still running");
    open.close();
    pool.settle();
    assert_eq!(finished.load(Ordering::SeqCst), 1);
    assert_eq!(logged(&log), vec![(9, 0)]);
    let stats = reg.stats();
    assert_eq!((stats.dropped_on_shutdown, stats.aborted_workers), (2, 0));
    assert_eq!(block_on(reg.dispatch(chunk(9, 3), sender())), Err(RegistryError::ShutDown));
    assert_eq!(reg.register(10, DeliveryPolicy::Reliable, logger(&log, None)), Err(RegistryError::ShutDown));
    assert_eq!(reg.live_workers(), 0);
}

#[test]
fn shutdown_aborts_handlers_that_outlive_the_grace() {
    let (mut pool, exec) = TestPool::new(true);
    let reg = DataStreamRegistry::new(exec, config(64));
    let (log, (_open, gate)) = (Log::default(), async_channel::unbounded());
    reg.register(11, DeliveryPolicy::Reliable, logger(&log, Some(&gate))).unwrap();
    pool.run(reg.dispatch(chunk(11, 0), sender())).unwrap();
    reg.unregister(11);
    reg.register(11, DeliveryPolicy::Reliable, logger(&log, None)).unwrap();
    pool.run(reg.dispatch(chunk(11, 1), sender())).unwrap();
    pool.settle();
    assert_eq!(reg.live_workers(), 2, "a stuck worker and its successor");
    pool.run(reg.shutdown());
    pool.settle();
    assert_eq!(reg.stats().aborted_workers, 2);
    assert!(logged(&log).is_empty());
    assert_eq!(reg.live_workers(), 0);
}

#[test]
fn dropping_the_registry_lets_workers_drain_and_exit() {
    let (mut pool, exec) = TestPool::new(false);
    let reg = DataStreamRegistry::new(exec, config(64));
    let log = Log::default();
    reg.register(12, DeliveryPolicy::LatencyFirst, logger(&log, None)).unwrap();
    block_on(reg.dispatch(chunk(12, 0), sender())).unwrap();
    drop(reg);
    pool.settle();
    assert_eq!(logged(&log), vec![(12, 0)]);
    assert_eq!(Arc::strong_count(&log), 1, "the worker and its handler are gone");
}

fn sample(media_type: MediaType, timestamp: u32) -> MediaSample {
    MediaSample { media_type, timestamp, data: vec![0; 4] }
}

type MediaLog = Arc<Mutex<Vec<(MediaType, u32, ActrId)>>>;

fn media_logger(
    log: &MediaLog,
) -> impl Fn(MediaSample, ActrId) -> BoxFuture<'static, Result<(), ActrError>> + Send + Sync + 'static {
    let log = log.clone();
    move |s, from| {
        let log = log.clone();
        async move {
            YieldNow(false).await;
            log.lock().unwrap().push((s.media_type, s.timestamp, from));
            Ok(())
        }
        .boxed()
    }
}

#[test]
fn media_samples_keep_their_order_per_track() {
    let (mut pool, exec) = TestPool::new(false);
    let media = MediaFrameRegistry::new(exec, config(64));
    let log = MediaLog::default();
    media.register(MediaType::Audio, media_logger(&log)).unwrap();
    media.register(MediaType::Video, media_logger(&log)).unwrap();
    for ts in 0..10 {
        media.dispatch(sample(MediaType::Audio, ts), sender()).unwrap();
        media.dispatch(sample(MediaType::Video, ts * 3000), sender()).unwrap();
    }
    pool.settle();
    let got = log.lock().unwrap().clone();
    let of = |t: MediaType| got.iter().filter(|e| e.0 == t).map(|e| e.1).collect::<Vec<u32>>();
    assert_eq!(of(MediaType::Audio), (0..10).collect::<Vec<u32>>());
    assert_eq!(of(MediaType::Video), (0..10).map(|t| t * 3000).collect::<Vec<u32>>());
    assert!(got.iter().all(|e| e.2 == sender()), "the sender is forwarded");
    assert_eq!(media.stats().handled, 20);
}

#[test]
fn media_for_an_unknown_track_is_counted_and_dropped() {
    let (mut pool, exec) = TestPool::new(false);
    let media = MediaFrameRegistry::new(exec, config(64));
    let log = MediaLog::default();
    media.register(MediaType::Audio, media_logger(&log)).unwrap();
    let e = media.dispatch(sample(MediaType::Video, 1), sender()).unwrap_err();
    assert_eq!(e, RegistryError::NotRegistered(RegistryKey::Track(MediaType::Video)));
    assert!(e.to_string().contains("Video track"));
    assert!(media.unregister(MediaType::Audio));
    assert!(media.dispatch(sample(MediaType::Audio, 2), sender()).is_err(), "unregister silences the track");
    pool.settle();
    assert!(log.lock().unwrap().is_empty());
    assert_eq!(media.stats().not_registered, 2);
}

#[test]
fn a_full_media_track_drops_the_newest_sample() {
    let (mut pool, exec) = TestPool::new(false);
    let media = MediaFrameRegistry::new(exec, config(2));
    let log = MediaLog::default();
    media.register(MediaType::Video, media_logger(&log)).unwrap();
    for ts in 0..4 {
        let _ = media.dispatch(sample(MediaType::Video, ts), sender());
    }
    pool.settle();
    let got: Vec<u32> = log.lock().unwrap().iter().map(|e| e.1).collect();
    assert_eq!(got, vec![0, 1]);
    assert_eq!(media.stats().dropped_full, 2);
    pool.run(media.shutdown());
    assert_eq!(media.dispatch(sample(MediaType::Video, 9), sender()), Err(RegistryError::ShutDown));
}
