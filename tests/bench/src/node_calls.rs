//! Small calls between two nodes over one wire against a raw echo over the
//! same kind of wire, timed one at a time and pipelined; shared by the
//! WebSocket and WebRTC rows.
//!
//! Rounds alternate raw and node, and the fastest round of each counts, so
//! both sides see the same load on a shared machine.
//!
//! The node's calls are made from a task on the runtime the nodes run on,
//! as an actor's calls are, not from the thread blocked in `block_on`:
//! every call would otherwise cross two extra thread wake-ups (to the
//! runtime and back) that no actor pays.

use std::time::{Duration, Instant};

use actr_driver::ActrRef;
use actr_driver::bytes::Bytes;
use futures::StreamExt;

use crate::workload::{Wires, start_node};

/// Calls one at a time, and calls with [`WINDOW`] in flight.
pub const SEQUENTIAL: usize = 10_000;
pub const PIPELINED: usize = 50_000;
pub const WINDOW: usize = 64;
pub const PAYLOAD: usize = 64;
/// Alternating rounds of raw and node measurements.
pub const ROUNDS: usize = 4;
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
const WARM_UP: usize = 1_000;

/// Best times of [`SEQUENTIAL`] echoes one at a time and [`PIPELINED`]
/// echoes [`WINDOW`] at a time, for the node and for the raw baseline.
#[derive(Debug, Clone, Copy)]
pub struct Rates {
    pub node_one: Duration,
    pub node_window: Duration,
    pub raw_one: Duration,
    pub raw_window: Duration,
    /// How many of the node's timed calls went over WebRTC (the rest over WebSocket).
    pub over_webrtc: u64,
}

impl Rates {
    /// Says which wire carried the node's timed calls.
    pub fn carried(&self) -> String {
        format!("{} of {} over WebRTC", self.over_webrtc, ROUNDS * (SEQUENTIAL + PIPELINED))
    }
}

/// Runs [`ROUNDS`] of `raw(total, window)` and of node calls, alternating.
/// The nodes talk over WebRTC when `webrtc`, else over WebSocket direct.
pub fn measure(url: &str, webrtc: bool, mut raw: impl FnMut(usize, usize) -> Duration) -> Rates {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio");
    let (caller, echo) = runtime.block_on(start_pair(url, webrtc));
    let before = runtime.block_on(caller.stats()).expect("stats").webrtc_sent;
    let max = Duration::MAX;
    let mut rates = Rates { node_one: max, node_window: max, raw_one: max, raw_window: max, over_webrtc: 0 };
    for _ in 0..ROUNDS {
        rates.raw_one = rates.raw_one.min(raw(SEQUENTIAL, 1));
        rates.raw_window = rates.raw_window.min(raw(PIPELINED, WINDOW));
        let (c, e) = (caller.clone(), echo.clone());
        let (one, window) = on_worker(&runtime, async move { timed(&c, &e).await });
        rates.node_one = rates.node_one.min(one);
        rates.node_window = rates.node_window.min(window);
    }
    rates.over_webrtc = runtime.block_on(caller.stats()).expect("stats").webrtc_sent - before;
    runtime.block_on(async {
        caller.shutdown().await;
        echo.shutdown().await;
    });
    rates
}

/// Runs `job` as a task on one of `runtime`'s workers and waits for it.
fn on_worker<T: Send + 'static>(runtime: &tokio::runtime::Runtime, job: impl Future<Output = T> + Send + 'static) -> T {
    runtime.block_on(runtime.spawn(job)).expect("the timed task runs to its end")
}

/// Two nodes off the process registry, warmed up.
async fn start_pair(url: &str, webrtc: bool) -> (ActrRef, ActrRef) {
    let rt = actr_tokio::TokioRuntime::current();
    let (echo, _) = start_node(&rt, url, "echo", Wires { listen: true, share: false, webrtc }).await;
    let (caller, _) = start_node(&rt, url, "caller", Wires { listen: false, share: false, webrtc }).await;
    caller.add_route(echo.id().clone(), echo.ws_address().expect("listens")).expect("route");
    warm_up(&caller, &echo, webrtc).await;
    (caller, echo)
}

async fn call(caller: &ActrRef, echo: &ActrRef, payload: Bytes) {
    let reply = caller.call(echo.id().clone(), "echo", payload, CALL_TIMEOUT).await.expect("call");
    assert_eq!(reply.len(), PAYLOAD);
}

/// Dials the link, and over WebRTC waits for its channel to carry calls.
async fn warm_up(caller: &ActrRef, echo: &ActrRef, webrtc: bool) {
    let payload = Bytes::from(vec![0x5a; PAYLOAD]);
    for _ in 0..WARM_UP {
        call(caller, echo, payload.clone()).await;
    }
    let give_up = Instant::now() + Duration::from_secs(10);
    while webrtc && caller.stats().await.expect("stats").webrtc_sent == 0 {
        assert!(Instant::now() < give_up, "no WebRTC channel after 10 s");
        call(caller, echo, payload.clone()).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Times the sequential calls, then the pipelined ones.
async fn timed(caller: &ActrRef, echo: &ActrRef) -> (Duration, Duration) {
    let payload = Bytes::from(vec![0x5a; PAYLOAD]);
    let started = Instant::now();
    for _ in 0..SEQUENTIAL {
        call(caller, echo, payload.clone()).await;
    }
    let one = started.elapsed();
    let started = Instant::now();
    futures::stream::iter(0..PIPELINED).for_each_concurrent(WINDOW, |_| call(caller, echo, payload.clone())).await;
    (one, started.elapsed())
}

/// Best time, of [`ROUNDS`], for `hops` one-way hand-offs between two tasks
/// over bounded(1) async channels (ping-pong) on the runtime the node rows
/// use: the cost of one channel hop between a node's tasks.
pub fn task_hops(hops: usize) -> Duration {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio");
    let mut best = Duration::MAX;
    for _ in 0..ROUNDS {
        let took = on_worker(&runtime, async move {
            let (ping_tx, ping_rx) = async_channel::bounded::<u64>(1);
            let (pong_tx, pong_rx) = async_channel::bounded::<u64>(1);
            let echo = tokio::spawn(async move {
                while let Ok(n) = ping_rx.recv().await {
                    if pong_tx.send(n).await.is_err() {
                        break;
                    }
                }
            });
            let started = Instant::now();
            for n in 0..(hops / 2) as u64 {
                ping_tx.send(n).await.expect("echo task runs");
                assert_eq!(pong_rx.recv().await.expect("echo task runs"), n);
            }
            let took = started.elapsed();
            drop(ping_tx);
            echo.await.expect("echo task ends");
            took
        });
        best = best.min(took);
    }
    best
}

/// Best time, of `rounds`, to send `mib` calls of 1 MiB one at a time from
/// one node to another over WebRTC (`ActrRef::call` to the `note` route,
/// which answers an empty reply), so the bytes go one way as in raw bulk.
pub fn webrtc_calls_1mib(url: &str, mib: usize, rounds: usize) -> Duration {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio");
    let url = url.to_owned();
    on_worker(&runtime, async move {
        let (caller, echo) = start_pair(&url, true).await;
        let before = caller.stats().await.expect("stats").webrtc_sent;
        let block = Bytes::from(vec![0x3c; 1 << 20]);
        let mut best = Duration::MAX;
        for _ in 0..rounds {
            let started = Instant::now();
            for _ in 0..mib {
                let reply = caller.call(echo.id().clone(), "note", block.clone(), CALL_TIMEOUT).await.expect("call");
                assert!(reply.is_empty());
            }
            best = best.min(started.elapsed());
        }
        let over = caller.stats().await.expect("stats").webrtc_sent - before;
        assert!(over >= (mib * rounds) as u64, "the calls went over WebRTC: {over} sent");
        caller.shutdown().await;
        echo.shutdown().await;
        best
    })
}

/// Best time, of `rounds`, to send `mib` MiB on a reliable data stream from
/// one node to another over WebRTC (`ActrRef::open_stream`, 1 MiB per
/// `send`), until the receiver's handler has seen the end.
pub fn webrtc_stream(url: &str, mib: usize, rounds: usize) -> Duration {
    use actr_driver::DeliveryPolicy;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio");
    let url = url.to_owned();
    on_worker(&runtime, async move {
        let (caller, echo) = start_pair(&url, true).await;
        let block = vec![0x3c; 1 << 20];
        let mut best = Duration::MAX;
        for _ in 0..rounds {
            let mut writer = caller.open_stream(echo.id().clone(), DeliveryPolicy::Reliable).expect("opens");
            let (done_tx, done_rx) = async_channel::bounded(1);
            echo.register_stream_handler(writer.stream_id(), move |chunk, _| {
                if chunk.end {
                    let _ = done_tx.try_send(());
                }
                Box::pin(async { Ok(()) })
            })
            .expect("registers");
            let started = Instant::now();
            for _ in 0..mib {
                writer.send(&block).await.expect("stream send");
            }
            writer.finish(&[]).await.expect("stream end");
            done_rx.recv().await.expect("the end arrives");
            best = best.min(started.elapsed());
        }
        let over = caller.stats().await.expect("stats");
        assert!(over.webrtc_sent > (mib * rounds) as u64, "the stream went over WebRTC: {over:?}");
        caller.shutdown().await;
        echo.shutdown().await;
        best
    })
}
