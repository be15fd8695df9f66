//! actr on smol: the driver's [`Runtime`] over smol's global executor.
//!
//! ```no_run
//! # async fn demo(register: actr_core::ais::RegisterRequest) -> Result<(), actr_core::ActrError> {
//! let node = actr_smol::start_node(actr_smol::NodeConfig::new("http://127.0.0.1:7480", register))?;
//! let me = node.wait_connected(std::time::Duration::from_secs(10)).await?;
//! # let _ = me; Ok(()) }
//! ```

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use futures::future::BoxFuture;

pub use actr_driver::{NodeConfig, NodeEvent, NodeStats, Runtime, SignalingHandle, SignalingNode};

/// The driver's runtime on smol: tasks on the global executor, timers and
/// sockets on async-io's reactor, blocking work on the `blocking` pool.
#[derive(Debug, Clone, Copy, Default)]
pub struct SmolRuntime;

impl Runtime for SmolRuntime {
    type Tcp = smol::net::TcpStream;

    fn connect_tcp(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<Self::Tcp>> {
        Box::pin(async move {
            let tcp = smol::net::TcpStream::connect(addr).await?;
            tcp.set_nodelay(true)?;
            Ok(tcp)
        })
    }

    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            smol::Timer::after(d).await;
        })
    }

    fn spawn(&self, fut: BoxFuture<'static, ()>) {
        smol::spawn(fut).detach();
    }

    fn spawn_blocking(&self, f: Box<dyn FnOnce() + Send>) {
        smol::unblock(f).detach();
    }
}

/// Starts a signaling node on smol.
pub fn start_node(config: NodeConfig) -> Result<SignalingHandle, actr_core::ActrError> {
    SignalingNode::start(SmolRuntime, config)
}
