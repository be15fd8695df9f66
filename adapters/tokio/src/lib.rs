//! actr on tokio: the driver's [`Runtime`] over a tokio runtime handle.
//!
//! ```no_run
//! # async fn demo(register: actr_core::ais::RegisterRequest) -> Result<(), actr_core::ActrError> {
//! let node = actr_tokio::start_node(actr_tokio::NodeConfig::new("http://127.0.0.1:7480", register))?;
//! let me = node.wait_connected(std::time::Duration::from_secs(10)).await?;
//! # let _ = me; Ok(()) }
//! ```

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::runtime::Handle;
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};

pub use actr_driver::{NodeConfig, NodeEvent, NodeStats, Runtime, SignalingHandle, SignalingNode};

/// The driver's runtime on a tokio runtime. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TokioRuntime {
    handle: Handle,
}

impl TokioRuntime {
    /// Uses the runtime whose context the caller is in.
    ///
    /// Panics outside a tokio runtime, as [`Handle::current`] does; use
    /// [`TokioRuntime::with_handle`] there.
    pub fn current() -> Self {
        Self { handle: Handle::current() }
    }

    pub fn with_handle(handle: Handle) -> Self {
        Self { handle }
    }
}

impl Runtime for TokioRuntime {
    type Tcp = Compat<tokio::net::TcpStream>;

    fn connect_tcp(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<Self::Tcp>> {
        let handle = self.handle.clone();
        Box::pin(async move {
            // Spawned so the socket registers with this runtime's reactor whoever polls.
            let connect = handle.spawn(tokio::net::TcpStream::connect(addr));
            let tcp = connect.await.map_err(io::Error::other)??;
            tcp.set_nodelay(true)?;
            Ok(tcp.compat())
        })
    }

    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        // Entering the handle lets the timer be created, and polled, from any thread.
        let _guard = self.handle.enter();
        Box::pin(tokio::time::sleep(d))
    }

    fn spawn(&self, fut: BoxFuture<'static, ()>) {
        drop(self.handle.spawn(fut));
    }

    fn spawn_blocking(&self, f: Box<dyn FnOnce() + Send>) {
        drop(self.handle.spawn_blocking(f));
    }
}

/// Starts a signaling node on the current tokio runtime (see [`TokioRuntime::current`]).
pub fn start_node(config: NodeConfig) -> Result<SignalingHandle, actr_core::ActrError> {
    SignalingNode::start(TokioRuntime::current(), config)
}
