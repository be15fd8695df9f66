//! In-process tell and call through the node API against a bare tokio
//! channel, both on one current-thread runtime.
//!
//! - tell: `N` `ActrRef::tell(Dest::Workload, …)` then wait until the handler
//!   counted them all, against `N` sends on a `tokio::sync::mpsc` channel to a
//!   counting task, and the peer frameworks' tells to a counting actor on the
//!   same runtime against the same baseline ([`peers`]): kameo's `tell` and
//!   ractor's `cast`;
//! - call: `N` sequential `ActrRef::call_local`, against `N` sequential
//!   requests over mpsc, each answered through a `oneshot`.
//!
//! Each figure is the best of a few rounds; the ratio is time per operation
//! of the node over the channel (lower is better).

use std::time::{Duration, Instant};

use actr_core::Dest;
use actr_driver::ActrRef;
use actr_driver::bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::peers;
use crate::report::Row;
use crate::workload::{Arrivals, Wires, start_node};

const TELLS: usize = 100_000;
const CALLS: usize = 100_000;
const ROUNDS: usize = 5;
const PAYLOAD: usize = 64;

/// Runs the six figures on a fresh current-thread runtime.
pub fn rows(url: &str) -> Vec<Row> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");
    runtime.block_on(async {
        let rt = actr_tokio::TokioRuntime::current();
        let (actor, arrivals) =
            start_node(&rt, url, "local", Wires { listen: false, share: true, webrtc: false }).await;
        let payload = Bytes::from(vec![0x5a; PAYLOAD]);
        let tell_base = best(|| channel_tells(payload.clone())).await;
        let tell_node = best(|| node_tells(&actor, &arrivals, payload.clone())).await;
        let tell_kameo = best(|| peers::kameo_tells(payload.clone(), TELLS)).await;
        let tell_ractor = best(|| peers::ractor_casts(payload.clone(), TELLS)).await;
        let call_base = best(|| channel_calls(payload.clone())).await;
        let call_node = best(|| node_calls(&actor, payload.clone())).await;
        actor.shutdown().await;
        let what = |s: &str| format!("{s} ({PAYLOAD} B)");
        vec![
            Row::throughput(&what("tell: tokio mpsc (baseline)"), "tokio-1", TELLS, tell_base),
            Row::throughput(&what("tell: ActrRef::tell in-process"), "tokio-1", TELLS, tell_node).cost_against(
                TELLS,
                tell_base,
                "time/op; goal <= 1.2x",
            ),
            Row::throughput(&what("tell: kameo tell"), "tokio-1", TELLS, tell_kameo)
                .cost_against(TELLS, tell_base, "time/op"),
            Row::throughput(&what("tell: ractor cast"), "tokio-1", TELLS, tell_ractor)
                .cost_against(TELLS, tell_base, "time/op"),
            Row::throughput(&what("call: mpsc + oneshot (baseline)"), "tokio-1", CALLS, call_base),
            Row::throughput(&what("call: ActrRef::call_local"), "tokio-1", CALLS, call_node).cost_against(
                CALLS,
                call_base,
                "time/op; goal <= 1.5x",
            ),
        ]
    })
}

/// The shortest of a warm-up round and [`ROUNDS`] measured rounds.
async fn best<F, Fut>(mut round: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Duration>,
{
    round().await;
    let mut best = Duration::MAX;
    for _ in 0..ROUNDS {
        best = best.min(round().await);
    }
    best
}

async fn channel_tells(payload: Bytes) -> Duration {
    let (tx, mut rx) = mpsc::channel::<Bytes>(TELLS);
    let (done_tx, done_rx) = oneshot::channel();
    tokio::spawn(async move {
        let mut count = 0;
        while let Some(message) = rx.recv().await {
            count += std::hint::black_box(message).len().min(1);
            if count == TELLS {
                break;
            }
        }
        let _ = done_tx.send(());
    });
    let started = Instant::now();
    for _ in 0..TELLS {
        tx.send(payload.clone()).await.expect("receiver alive");
    }
    done_rx.await.expect("all received");
    started.elapsed()
}

async fn node_tells(actor: &ActrRef, arrivals: &Arrivals, payload: Bytes) -> Duration {
    let total = arrivals.count() + TELLS as u64;
    let started = Instant::now();
    for _ in 0..TELLS {
        actor.tell(Dest::Workload, "note", payload.clone()).await.expect("tell");
    }
    arrivals.wait_for(total).await;
    started.elapsed()
}

type CallRequest = (Bytes, oneshot::Sender<Bytes>);

async fn channel_calls(payload: Bytes) -> Duration {
    let (tx, mut rx) = mpsc::channel::<CallRequest>(64);
    tokio::spawn(async move {
        while let Some((message, reply)) = rx.recv().await {
            let _ = reply.send(message);
        }
    });
    let started = Instant::now();
    for _ in 0..CALLS {
        let (reply_tx, reply_rx) = oneshot::channel();
        tx.send((payload.clone(), reply_tx)).await.expect("server alive");
        std::hint::black_box(reply_rx.await.expect("reply"));
    }
    started.elapsed()
}

async fn node_calls(actor: &ActrRef, payload: Bytes) -> Duration {
    let started = Instant::now();
    for _ in 0..CALLS {
        std::hint::black_box(actor.call_local("echo", payload.clone()).await.expect("call"));
    }
    started.elapsed()
}
