//! actr on tokio: the driver's [`Runtime`] over a tokio runtime handle.
//!
//! An actor: link a [`Workload`], register it with the identity service,
//! start it, and call it through the returned [`ActrRef`]:
//!
//! ```no_run
//! # async fn demo(echo: impl actr_tokio::Workload) -> Result<(), actr_core::ActrError> {
//! use actr_tokio::{HyperConfig, hyper};
//! let config = HyperConfig::new("http://127.0.0.1:7480", actr_core::Realm(1));
//! let actor = hyper(config).node().link(echo).register().await?.start().await?;
//! let reply = actor.call_local("echo.Echo.Say", b"hi".to_vec()).await?;
//! actor.shutdown().await;
//! # let _ = reply; Ok(()) }
//! ```
//!
//! With the `internals` feature, a bare signaling node (no workload) is
//! `start_node`:
//!
//! ```ignore
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

pub use actr_driver::{
    ActrRef, Attached, ChainTrust, Context, DataChunk, DeliveryPolicy, HyperConfig, Init, KeySigner,
    ManufacturerSigner, MediaSample, MediaType, NetworkEventHandle, NodeState, PackageError, PackageIdentity,
    PackageLimits, Registered, RegistryTrust, Request, RpcStats, Runtime, StaticTrust, StreamWriter, TlsRoots,
    TrustProvider, TrustedBy, VerifiedPackage, Workload, bytes,
};
#[cfg(feature = "internals")]
pub use actr_driver::{NodeConfig, NodeEvent, NodeStats, SignalingHandle, SignalingNode};

/// Makes nodes on tokio: `hyper.node().link(workload).register().await?.start().await?`.
pub type Hyper = actr_driver::Hyper<TokioRuntime>;
/// A node on tokio in lifecycle state `S` ([`Init`], [`Attached`], [`Registered`]).
pub type Node<S> = actr_driver::Node<TokioRuntime, S>;

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
    type Listener = tokio::net::TcpListener;
    type Udp = tokio::net::UdpSocket;

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

    fn bind_tcp(&self, addr: SocketAddr) -> io::Result<Self::Listener> {
        // Entering the handle registers the listener with this runtime's reactor.
        let _guard = self.handle.enter();
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        tokio::net::TcpListener::from_std(listener)
    }

    fn listener_addr(&self, listener: &Self::Listener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    fn accept<'a>(&self, listener: &'a Self::Listener) -> BoxFuture<'a, io::Result<(Self::Tcp, SocketAddr)>> {
        Box::pin(async move {
            let (tcp, from) = listener.accept().await?;
            tcp.set_nodelay(true)?;
            Ok((tcp.compat(), from))
        })
    }

    fn bind_udp(&self, addr: SocketAddr) -> io::Result<Self::Udp> {
        let _guard = self.handle.enter();
        let socket = std::net::UdpSocket::bind(addr)?;
        socket.set_nonblocking(true)?;
        tokio::net::UdpSocket::from_std(socket)
    }

    fn udp_addr(&self, socket: &Self::Udp) -> io::Result<SocketAddr> {
        socket.local_addr()
    }

    fn send_to<'a>(&self, socket: &'a Self::Udp, buf: &'a [u8], to: SocketAddr) -> BoxFuture<'a, io::Result<usize>> {
        Box::pin(socket.send_to(buf, to))
    }

    fn recv_from<'a>(
        &self,
        socket: &'a Self::Udp,
        buf: &'a mut [u8],
    ) -> BoxFuture<'a, io::Result<(usize, SocketAddr)>> {
        Box::pin(socket.recv_from(buf))
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

#[cfg(feature = "internals")]
/// Starts a signaling node on the current tokio runtime (see [`TokioRuntime::current`]).
pub fn start_node(config: NodeConfig) -> Result<SignalingHandle, actr_core::ActrError> {
    SignalingNode::start(TokioRuntime::current(), config)
}

/// A [`Hyper`] on the current tokio runtime (see [`TokioRuntime::current`]).
pub fn hyper(config: HyperConfig) -> Hyper {
    Hyper::new(TokioRuntime::current(), config)
}
