//! What an async executor provides to the driver, and nothing more.
//!
//! [`Runtime`] is implemented by actr-tokio and actr-smol. Everything else in
//! the driver (the node task, WebSocket framing, HTTP) is written once against it.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;

use actr_core::ActrError;
use futures::future::{BoxFuture, Either, select};
use futures::io::{AsyncRead, AsyncWrite};

/// An async executor: TCP, UDP, timers, tasks and a pool for blocking work.
///
/// Futures returned here must work when polled from any task of the same
/// runtime; they need not work on a foreign executor, except `sleep`, which
/// handles use for their deadlines and which should work anywhere.
pub trait Runtime: Clone + Send + Sync + 'static {
    /// A connected TCP stream with Nagle's algorithm disabled.
    type Tcp: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// A bound TCP listener, for nodes that accept direct WebSocket connections.
    type Listener: Send + Sync + 'static;

    /// A bound UDP socket, for WebRTC.
    type Udp: Send + Sync + 'static;

    /// Opens a TCP connection to `addr`.
    fn connect_tcp(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<Self::Tcp>>;

    /// Binds a listener to `addr`; port 0 picks a free port.
    fn bind_tcp(&self, addr: SocketAddr) -> io::Result<Self::Listener>;

    /// The address `listener` is bound to (with the real port).
    fn listener_addr(&self, listener: &Self::Listener) -> io::Result<SocketAddr>;

    /// The next connection on `listener`, with Nagle's algorithm disabled.
    fn accept<'a>(&self, listener: &'a Self::Listener) -> BoxFuture<'a, io::Result<(Self::Tcp, SocketAddr)>>;

    /// Binds a UDP socket to `addr`; port 0 picks a free port.
    fn bind_udp(&self, addr: SocketAddr) -> io::Result<Self::Udp>;

    /// The address `socket` is bound to (with the real port).
    fn udp_addr(&self, socket: &Self::Udp) -> io::Result<SocketAddr>;

    /// Sends one datagram from `socket` to `to`.
    fn send_to<'a>(&self, socket: &'a Self::Udp, buf: &'a [u8], to: SocketAddr) -> BoxFuture<'a, io::Result<usize>>;

    /// Receives one datagram into `buf`. Dropping the future before it
    /// completes loses no datagram.
    fn recv_from<'a>(&self, socket: &'a Self::Udp, buf: &'a mut [u8])
    -> BoxFuture<'a, io::Result<(usize, SocketAddr)>>;

    /// Completes after `d`.
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()>;

    /// The monotonic clock the node hubs run on: microseconds since a
    /// process-wide origin. The only clock the driver's protocol code reads.
    fn now(&self) -> actr_core::Instant {
        actr_core::Instant::from_micros(clock_origin().elapsed().as_micros().min(u64::MAX as u128) as u64)
    }

    /// [`Runtime::now`] as a `std::time::Instant`, for str0m, whose API
    /// takes one: the WebRTC connection tasks read no other clock.
    fn std_now(&self) -> std::time::Instant {
        clock_origin() + Duration::from_micros(self.now().as_micros())
    }

    /// Runs `fut` to completion in the background.
    fn spawn(&self, fut: BoxFuture<'static, ()>);

    /// Runs `f` on a thread where blocking is allowed.
    fn spawn_blocking(&self, f: Box<dyn FnOnce() + Send>);
}

/// Where [`Runtime::now`] counts from: the first time any runtime asked.
fn clock_origin() -> std::time::Instant {
    static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *ORIGIN.get_or_init(std::time::Instant::now)
}

/// The timer of a runtime, object safe, for types that are not generic over it.
pub trait Sleeper: Send + Sync + 'static {
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()>;
}

impl<R: Runtime> Sleeper for R {
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        Runtime::sleep(self, d)
    }
}

/// Awaits `fut` for at most `limit`; `Err(ActrError::TimedOut)` after that.
pub async fn with_deadline<F: Future>(timer: &dyn Sleeper, limit: Duration, fut: F) -> Result<F::Output, ActrError> {
    let sleep = timer.sleep(limit);
    match select(pin!(fut), sleep).await {
        Either::Left((value, _)) => Ok(value),
        Either::Right(_) => Err(ActrError::TimedOut),
    }
}

/// Runs `f` on the runtime's blocking pool and awaits its result.
///
/// Fails with `ActrError::Internal` only if the pool dropped the job unrun.
pub async fn run_blocking<R, T, F>(rt: &R, f: F) -> Result<T, ActrError>
where
    R: Runtime,
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = async_channel::bounded(1);
    rt.spawn_blocking(Box::new(move || {
        // Capacity 1 and a single send: this never fails for lack of room.
        let _ = tx.try_send(f());
    }));
    rx.recv().await.map_err(|_| ActrError::Internal("blocking job ended without a result".into()))
}
