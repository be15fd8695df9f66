//! [`BenchActor`]: the workload of every node-level benchmark.
//!
//! - `echo`: answers the payload itself;
//! - `note`: counts, for tells; [`Arrivals`] wakes whoever waits for a total.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use actr_core::{ActrError, ActrType, Realm};
use actr_driver::bytes::Bytes;
use actr_driver::{ActrRef, Context, Hyper, HyperConfig, Request, Runtime, Workload};
use futures::future::BoxFuture;
use tokio::sync::Notify;

/// Counts tells; [`Arrivals::wait_for`] returns once a total arrived.
#[derive(Debug, Default)]
pub struct Arrivals {
    count: AtomicU64,
    reached: Notify,
    target: AtomicU64,
}

impl Arrivals {
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }

    /// Waits (unbounded: the caller bounds it) until `total` tells arrived.
    pub async fn wait_for(&self, total: u64) {
        self.target.store(total, Ordering::SeqCst);
        loop {
            let reached = self.reached.notified();
            if self.count() >= total {
                return;
            }
            reached.await;
        }
    }

    fn bump(&self) {
        // Wake only at the target, so counting costs an atomic add, not a wake-up.
        if self.count.fetch_add(1, Ordering::SeqCst) + 1 == self.target.load(Ordering::SeqCst) {
            self.reached.notify_waiters();
        }
    }
}

#[derive(Debug, Clone)]
pub struct BenchActor {
    actr_type: ActrType,
    arrivals: Arc<Arrivals>,
}

impl Workload for BenchActor {
    fn actor_type(&self) -> ActrType {
        self.actr_type.clone()
    }

    fn handle(&self, _ctx: Context, req: Request) -> BoxFuture<'static, Result<Bytes, ActrError>> {
        let result = match req.route_key.as_str() {
            "echo" => Ok(req.payload),
            "note" => {
                self.arrivals.bump();
                Ok(Bytes::new())
            }
            other => Err(ActrError::UnknownRoute(other.to_owned())),
        };
        Box::pin(std::future::ready(result))
    }
}

/// How a bench node reaches and is reached by others.
#[derive(Debug, Clone, Copy)]
pub struct Wires {
    /// Open a WebSocket direct listener.
    pub listen: bool,
    /// Join the process-local registry.
    pub share: bool,
    /// Reach remote actors over WebRTC first.
    pub webrtc: bool,
}

/// Starts a node of type `bench:{name}:1` on `rt`.
pub async fn start_node<R: Runtime>(rt: &R, url: &str, name: &str, wires: Wires) -> (ActrRef, Arc<Arrivals>) {
    let arrivals = Arc::new(Arrivals::default());
    let actr_type = ActrType::new("bench", name, "1").expect("valid type");
    let actor = BenchActor { actr_type, arrivals: arrivals.clone() };
    let mut config = HyperConfig::new(url, Realm(1)).with_share_process(wires.share).with_webrtc(wires.webrtc);
    if wires.listen {
        config = config.with_ws_listen("127.0.0.1:0".parse().expect("addr"));
    }
    // Tells arrive in bursts larger than the default bound.
    let config = config.with_max_in_flight(1 << 20);
    let registered = Hyper::new(rt.clone(), config).node().link(actor).register().await.expect("registers");
    (registered.start().await.expect("starts"), arrivals)
}
