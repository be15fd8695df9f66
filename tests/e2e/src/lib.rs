//! Support for the end-to-end tests: temporary servers, node settings that
//! reconnect quickly, bounded waits on events, and the two runtimes every
//! scenario runs on.
//!
//! Nothing here sleeps on the wall clock: every wait is for an event, bounded
//! by [`WAIT`].

pub mod actors;
pub mod raw;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actr_cli::serve::{ServeConfig, ServeHandle};
use actr_core::ais::RegisterRequest;
use actr_core::backoff::BackoffConfig;
use actr_core::signaling::ClientConfig;
use actr_core::{ActrError, ActrType, Realm};
use actr_driver::{NodeConfig, NodeEvent, Runtime, SignalingHandle, SignalingNode, with_deadline};
use async_channel::Receiver;

/// Bound on every wait in these tests.
pub const WAIT: Duration = Duration::from_secs(10);

/// A directory removed when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("actr-e2e-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts `actr serve` on loopback with a free port and default settings.
pub fn serve(dir: &TempDir) -> ServeHandle {
    serve_with(ServeConfig::new("127.0.0.1:0".parse().expect("addr"), dir.path().to_owned()))
}

pub fn serve_with(config: ServeConfig) -> ServeHandle {
    ServeHandle::start(config).expect("actr serve starts")
}

/// The server's base URL for nodes.
pub fn base_url(server: &ServeHandle) -> String {
    format!("http://{}", server.local_addr())
}

pub fn actr_type(name: &str) -> ActrType {
    ActrType::new("acme", name, "1.0.0").expect("valid type")
}

pub fn register_request(name: &str) -> RegisterRequest {
    RegisterRequest::new(actr_type(name), Realm(1), None)
}

/// Client settings for tests: quick reconnects that never give up.
pub fn test_client_config() -> ClientConfig {
    ClientConfig {
        reconnect: BackoffConfig {
            initial: actr_core::Duration::from_millis(50),
            max: actr_core::Duration::from_secs(1),
            multiplier_permille: 2000,
            jitter_permille: 200,
            max_attempts: None,
        },
        connect_timeout: actr_core::Duration::from_secs(5),
        ..ClientConfig::default()
    }
}

/// Starts a node of type `acme:{name}:1.0.0` in realm 1 and waits until it is connected.
pub async fn start_node<R: Runtime>(rt: &R, server: &str, name: &str, seed: u64) -> SignalingHandle {
    let config = NodeConfig::new(server, register_request(name)).with_client(test_client_config()).with_seed(seed);
    let node = SignalingNode::start(rt.clone(), config).expect("node starts");
    node.wait_connected(WAIT).await.expect("node connects");
    node
}

/// Waits for the first event `pick` accepts, skipping others; fails after [`WAIT`].
pub async fn wait_event<T, R: Runtime>(
    rt: &R,
    events: &Receiver<NodeEvent>,
    mut pick: impl FnMut(NodeEvent) -> Option<T>,
) -> Result<T, ActrError> {
    let search = async {
        loop {
            let event = events.recv().await.map_err(|_| ActrError::Unavailable("event queue closed".into()))?;
            if let Some(found) = pick(event) {
                return Ok(found);
            }
        }
    };
    with_deadline(rt, WAIT, search).await?
}

/// Runs a scenario on a fresh multi-threaded tokio runtime.
pub fn on_tokio<F, Fut>(scenario: F)
where
    F: FnOnce(actr_tokio::TokioRuntime) -> Fut,
    Fut: Future<Output = ()>,
{
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime");
    let rt = actr_tokio::TokioRuntime::with_handle(runtime.handle().clone());
    runtime.block_on(scenario(rt));
}

/// Runs a scenario on smol.
pub fn on_smol<F, Fut>(scenario: F)
where
    F: FnOnce(actr_smol::SmolRuntime) -> Fut,
    Fut: Future<Output = ()>,
{
    smol::block_on(scenario(actr_smol::SmolRuntime));
}
