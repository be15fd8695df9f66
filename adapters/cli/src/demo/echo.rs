//! [`DemoActor`]: the workload both demo nodes run.
//!
//! Routes:
//! - `demo.Echo.Say`: answers the payload itself (in-process, the same buffer);
//! - `demo.Echo.Note`: a tell target that counts what arrives.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actr_core::{ActrError, ActrType};
use actr_tokio::bytes::Bytes;
use actr_tokio::{Context, Request, Workload};
use futures::future::BoxFuture;
use tokio::sync::Notify;

/// The echo route.
pub const ECHO: &str = "demo.Echo.Say";
/// The counted tell route.
pub const NOTE: &str = "demo.Echo.Note";

/// Counts tells and wakes whoever waits for a total.
#[derive(Debug, Default)]
pub struct TellCounter {
    received: AtomicU64,
    changed: Notify,
}

impl TellCounter {
    /// Tells received so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Acquire)
    }

    /// Waits until `total` tells arrived or `limit` passed; returns the count.
    pub async fn wait_for(&self, total: u64, limit: Duration) -> u64 {
        let waiting = async {
            loop {
                let changed = self.changed.notified();
                if self.received() >= total {
                    return;
                }
                changed.await;
            }
        };
        let _ = tokio::time::timeout(limit, waiting).await;
        self.received()
    }

    fn bump(&self) {
        self.received.fetch_add(1, Ordering::AcqRel);
        self.changed.notify_waiters();
    }
}

/// An echo actor of type `demo:{name}:1.0.0`.
#[derive(Debug, Clone)]
pub struct DemoActor {
    actr_type: ActrType,
    tells: Arc<TellCounter>,
}

impl DemoActor {
    /// The actor and the counter of the tells it receives.
    pub fn new(name: &str) -> Result<(Self, Arc<TellCounter>), ActrError> {
        let tells = Arc::new(TellCounter::default());
        Ok((Self { actr_type: demo_type(name)?, tells: tells.clone() }, tells))
    }
}

/// The actor type of a demo actor called `name`.
pub fn demo_type(name: &str) -> Result<ActrType, ActrError> {
    ActrType::new("demo", name, "1.0.0").map_err(|e| ActrError::InvalidArgument(format!("{e}")))
}

impl Workload for DemoActor {
    fn actor_type(&self) -> ActrType {
        self.actr_type.clone()
    }

    fn handle(&self, _ctx: Context, req: Request) -> BoxFuture<'static, Result<Bytes, ActrError>> {
        let result = match req.route_key.as_str() {
            ECHO => Ok(req.payload),
            NOTE => {
                self.tells.bump();
                Ok(Bytes::new())
            }
            other => Err(ActrError::UnknownRoute(other.to_owned())),
        };
        Box::pin(std::future::ready(result))
    }
}
