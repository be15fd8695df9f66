//! actr on smol: the driver's [`Runtime`] over smol's global executor.
//!
//! An actor: link a [`Workload`], register it with the identity service,
//! start it, and call it through the returned [`ActrRef`]:
//!
//! ```no_run
//! # async fn demo(echo: impl actr_smol::Workload) -> Result<(), actr_core::ActrError> {
//! use actr_smol::{HyperConfig, hyper};
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
//! let node = actr_smol::start_node(actr_smol::NodeConfig::new("http://127.0.0.1:7480", register))?;
//! let me = node.wait_connected(std::time::Duration::from_secs(10)).await?;
//! # let _ = me; Ok(()) }
//! ```

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use futures::future::BoxFuture;

pub use actr_driver::{
    ActrRef, Attached, ChainTrust, Context, DataChunk, DeliveryPolicy, HyperConfig, Init, KeySigner,
    ManufacturerSigner, MediaSample, MediaType, NetworkEventHandle, NodeState, PackageError, PackageIdentity,
    PackageLimits, Registered, RegistryTrust, Request, RpcStats, Runtime, StaticTrust, StreamWriter, TlsRoots,
    TrustProvider, TrustedBy, VerifiedPackage, Workload, bytes,
};
#[cfg(feature = "internals")]
pub use actr_driver::{NodeConfig, NodeEvent, NodeStats, SignalingHandle, SignalingNode};

/// Makes nodes on smol: `hyper.node().link(workload).register().await?.start().await?`.
pub type Hyper = actr_driver::Hyper<SmolRuntime>;
/// A node on smol in lifecycle state `S` ([`Init`], [`Attached`], [`Registered`]).
pub type Node<S> = actr_driver::Node<SmolRuntime, S>;

/// The driver's runtime on smol: tasks on the global executor, timers and
/// sockets on async-io's reactor, blocking work on the `blocking` pool.
#[derive(Debug, Clone, Copy, Default)]
pub struct SmolRuntime;

impl Runtime for SmolRuntime {
    type Tcp = smol::net::TcpStream;
    type Listener = smol::net::TcpListener;
    type Udp = smol::net::UdpSocket;

    fn connect_tcp(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<Self::Tcp>> {
        Box::pin(async move {
            let tcp = smol::net::TcpStream::connect(addr).await?;
            tcp.set_nodelay(true)?;
            Ok(tcp)
        })
    }

    fn bind_tcp(&self, addr: SocketAddr) -> io::Result<Self::Listener> {
        smol::net::TcpListener::try_from(std::net::TcpListener::bind(addr)?)
    }

    fn listener_addr(&self, listener: &Self::Listener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    fn accept<'a>(&self, listener: &'a Self::Listener) -> BoxFuture<'a, io::Result<(Self::Tcp, SocketAddr)>> {
        Box::pin(async move {
            let (tcp, from) = listener.accept().await?;
            tcp.set_nodelay(true)?;
            Ok((tcp, from))
        })
    }

    fn bind_udp(&self, addr: SocketAddr) -> io::Result<Self::Udp> {
        smol::net::UdpSocket::try_from(std::net::UdpSocket::bind(addr)?)
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

#[cfg(feature = "internals")]
/// Starts a signaling node on smol.
pub fn start_node(config: NodeConfig) -> Result<SignalingHandle, actr_core::ActrError> {
    SignalingNode::start(SmolRuntime, config)
}

/// A [`Hyper`] on smol.
pub fn hyper(config: HyperConfig) -> Hyper {
    Hyper::new(SmolRuntime, config)
}
