//! A test workload and helpers to start nodes with it.
//!
//! [`TestActor`] records its lifecycle hooks and handled routes, and serves:
//! - `echo`: the payload itself (the same buffer, so zero-copy shows);
//! - `trace`: the request's trace id (a tell also reports `Traced(id)`);
//! - `caller`: the caller's id, or `app`;
//! - `relay`: calls `trace` on the actor whose id is the payload, answers
//!   `<own trace id>|<callee's trace id>`;
//! - `block`: reports `Entered`, waits for the test to release it, logs `done:block`;
//! - `note`: reports `Noted(payload)` (used with tell);
//! - `panic`: panics;
//! - anything else: `UnknownRoute`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actr_core::acl::Acl;
use actr_core::{ActrError, ActrId, ActrType, Realm};
use actr_driver::bytes::Bytes;
use actr_driver::{ActrRef, Context, Hyper, HyperConfig, Request, Runtime, Workload};
use async_channel::{Receiver, Sender};
use futures::future::BoxFuture;

use crate::{WAIT, actr_type, test_client_config};

/// What the actor tells the test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// A `block` request started.
    Entered,
    /// A `note` arrived with this payload.
    Noted(Vec<u8>),
    /// A `trace` tell arrived with this trace id.
    Traced(String),
}

/// The shared state of a [`TestActor`] that the test keeps.
#[derive(Debug, Clone)]
pub struct Probe {
    log: Arc<Mutex<Vec<String>>>,
    pub seen: Receiver<Seen>,
    seen_tx: Sender<Seen>,
    release_tx: Sender<()>,
    release: Receiver<()>,
}

impl Probe {
    /// Hook calls and handled routes, in order.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().expect("log lock").clone()
    }

    /// Lets one `block` request finish.
    pub fn release(&self) {
        self.release_tx.try_send(()).expect("release");
    }

    fn push(&self, entry: impl Into<String>) {
        self.log.lock().expect("log lock").push(entry.into());
    }
}

#[derive(Debug, Clone)]
pub struct TestActor {
    actr_type: ActrType,
    acl: Option<Acl>,
    fail_start: bool,
    probe: Probe,
}

impl TestActor {
    /// An actor of type `acme:{name}:1.0.0` with no ACL (its realm only).
    pub fn new(name: &str) -> (Self, Probe) {
        let (seen_tx, seen) = async_channel::bounded(64);
        let (release_tx, release) = async_channel::bounded(64);
        let probe = Probe { log: Arc::default(), seen, seen_tx, release_tx, release };
        (Self { actr_type: actr_type(name), acl: None, fail_start: false, probe: probe.clone() }, probe)
    }

    pub fn with_acl(mut self, acl: Acl) -> Self {
        self.acl = Some(acl);
        self
    }

    /// `on_start` fails with `InvalidArgument`.
    pub fn failing_start(mut self) -> Self {
        self.fail_start = true;
        self
    }

    fn hook(&self, name: &str) -> BoxFuture<'static, Result<(), ActrError>> {
        self.probe.push(name);
        let fail = self.fail_start && name == "start";
        Box::pin(async move {
            if fail {
                return Err(ActrError::InvalidArgument("refused to start".into()));
            }
            Ok(())
        })
    }
}

impl Workload for TestActor {
    fn actor_type(&self) -> ActrType {
        self.actr_type.clone()
    }

    fn acl(&self) -> Option<Acl> {
        self.acl.clone()
    }

    fn handle(&self, ctx: Context, req: Request) -> BoxFuture<'static, Result<Bytes, ActrError>> {
        self.probe.push(format!("handle:{}", req.route_key));
        let probe = self.probe.clone();
        Box::pin(async move {
            match req.route_key.as_str() {
                "echo" => Ok(req.payload),
                "trace" => {
                    let id = req.trace_id().to_string();
                    if req.tell {
                        let _ = probe.seen_tx.send(Seen::Traced(id.clone())).await;
                    }
                    Ok(Bytes::from(id))
                }
                "caller" => Ok(Bytes::from(req.caller.map(|c| c.to_string()).unwrap_or_else(|| "app".into()))),
                "relay" => relay(ctx, &req).await,
                "block" => {
                    let _ = probe.seen_tx.send(Seen::Entered).await;
                    probe.release.recv().await.map_err(|_| ActrError::Internal("probe dropped".into()))?;
                    probe.push("done:block");
                    Ok(Bytes::from_static(b"released"))
                }
                "note" => {
                    let _ = probe.seen_tx.send(Seen::Noted(req.payload.to_vec())).await;
                    Ok(Bytes::new())
                }
                "panic" => panic!("the test asked for a panic"),
                other => Err(ActrError::UnknownRoute(other.to_owned())),
            }
        })
    }

    fn on_start(&self, _ctx: Context) -> BoxFuture<'static, Result<(), ActrError>> {
        self.hook("start")
    }

    fn on_ready(&self, _ctx: Context) -> BoxFuture<'static, Result<(), ActrError>> {
        self.hook("ready")
    }

    fn on_stop(&self, _ctx: Context) -> BoxFuture<'static, Result<(), ActrError>> {
        self.hook("stop")
    }
}

async fn relay(ctx: Context, req: &Request) -> Result<Bytes, ActrError> {
    let text = std::str::from_utf8(&req.payload).map_err(|e| ActrError::InvalidArgument(e.to_string()))?;
    let target: ActrId = text.parse().map_err(|e| ActrError::InvalidArgument(format!("{e}")))?;
    let theirs = ctx.call(target, "trace", Bytes::new(), WAIT).await?;
    let mine = ctx.trace_id().to_string();
    Ok(Bytes::from(format!("{mine}|{}", String::from_utf8_lossy(&theirs))))
}

/// A node configuration for tests: quick reconnects, a seed, a WebSocket
/// listener on a free loopback port, and off the process-local registry
/// unless `share_process`.
pub fn node_config(server: &str, seed: u64, share_process: bool) -> HyperConfig {
    HyperConfig::new(server, Realm(1))
        .with_seed(seed)
        .with_ws_listen("127.0.0.1:0".parse().expect("addr"))
        .with_share_process(share_process)
        .with_signaling(test_client_config())
        .with_drain_timeout(Duration::from_secs(5))
}

/// Links, registers and starts `actor`.
pub async fn start_actor<R: Runtime>(rt: &R, config: HyperConfig, actor: TestActor) -> ActrRef {
    let registered = Hyper::new(rt.clone(), config).node().link(actor).register().await.expect("registers");
    registered.start().await.expect("starts")
}
