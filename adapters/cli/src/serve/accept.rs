//! The accept loop of `actr serve`: admission by connection caps, a deadline
//! for the request head, optional TLS, and hyper's HTTP/1 connection (with
//! upgrades) serving the axum router.
//!
//! # What a connection goes through
//!
//! 1. **Admission**, at accept, before a byte is read: one counter for every
//!    open connection (plain HTTP, TLS, and the WebSocket it may become) and
//!    one per source IP address ([`ConnectionLimits`]). Over either cap the
//!    socket is closed at once (a plaintext one first gets a best-effort
//!    `503` that never waits) and counted in [`ConnectionStats`].
//! 2. **Head deadline**: from accept, the TLS handshake (when configured) and
//!    the first byte of the first request must arrive within
//!    [`ConnectionLimits::head_timeout`]; otherwise the socket is closed. Then
//!    hyper's own header-read timer, set to the same value, bounds every
//!    request head, including the wait on an idle keep-alive connection. A
//!    client dribbling its first head byte by byte therefore has at most twice
//!    the deadline.
//! 3. **Upgrade**: the admission permit travels in the request's extensions
//!    ([`ConnHold`]) into the WebSocket task, so an upgraded socket keeps
//!    counting against both caps until it ends. From there the core signaling
//!    server's `hello_timeout` bounds a socket that never says hello.
//!
//! At shutdown the loop stops accepting and asks every connection for a
//! graceful close (in-flight requests finish, idle keep-alives close).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower_service::Service;

use super::lock;

/// Answer written (without waiting) to a plaintext connection over a cap.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
/// Pause after a failed `accept` (out of file descriptors, say), so the loop
/// does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Caps and deadlines for the TCP connections of `actr serve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionLimits {
    /// From accept to the first byte of the first request (TLS handshake
    /// included); hyper's header-read timeout for every request head.
    pub head_timeout: Duration,
    /// Open connections in all, WebSockets included.
    pub max_connections: usize,
    /// Open connections from one source IP address, WebSockets included.
    pub max_connections_per_ip: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits { head_timeout: Duration::from_secs(10), max_connections: 10_000, max_connections_per_ip: 256 }
    }
}

/// Counters of the accept loop, for operators and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionStats {
    /// Connections admitted and not yet closed (WebSockets included).
    pub open: usize,
    /// Connections admitted since start.
    pub accepted: u64,
    /// Connections closed at accept because [`ConnectionLimits::max_connections`] were open.
    pub refused_total_cap: u64,
    /// Connections closed at accept because their address had
    /// [`ConnectionLimits::max_connections_per_ip`] open.
    pub refused_per_ip_cap: u64,
    /// Connections closed for sending no request (or no TLS handshake) in time.
    pub head_timeouts: u64,
    /// TLS handshakes that failed.
    pub tls_failures: u64,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    TotalCap,
    PerIpCap,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    /// Holds only addresses with an open connection, so at most `max_connections` entries.
    per_ip: HashMap<IpAddr, usize>,
}

/// The admission table: open connections in all and per address.
#[derive(Debug)]
pub(crate) struct ConnTable {
    limits: ConnectionLimits,
    counts: Mutex<Counts>,
    /// The number of open connections, for waiting until none is left.
    open: watch::Sender<usize>,
    accepted: AtomicU64,
    refused_total: AtomicU64,
    refused_per_ip: AtomicU64,
    head_timeouts: AtomicU64,
    tls_failures: AtomicU64,
}

impl ConnTable {
    pub(crate) fn new(limits: ConnectionLimits) -> Arc<ConnTable> {
        Arc::new(ConnTable {
            limits,
            counts: Mutex::new(Counts::default()),
            open: watch::Sender::new(0),
            accepted: AtomicU64::new(0),
            refused_total: AtomicU64::new(0),
            refused_per_ip: AtomicU64::new(0),
            head_timeouts: AtomicU64::new(0),
            tls_failures: AtomicU64::new(0),
        })
    }

    /// Admits a connection from `ip`, or says which cap it hit.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnPermit, Refusal> {
        let ip = ip.to_canonical();
        let mut counts = lock(&self.counts);
        if counts.total >= self.limits.max_connections {
            self.refused_total.fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::TotalCap);
        }
        let from_ip = counts.per_ip.entry(ip).or_insert(0);
        if *from_ip >= self.limits.max_connections_per_ip {
            if *from_ip == 0 {
                counts.per_ip.remove(&ip);
            }
            self.refused_per_ip.fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::PerIpCap);
        }
        *from_ip += 1;
        counts.total += 1;
        self.open.send_replace(counts.total);
        self.accepted.fetch_add(1, Ordering::Relaxed);
        Ok(ConnPermit { table: Arc::clone(self), ip })
    }

    fn release(&self, ip: IpAddr) {
        let mut counts = lock(&self.counts);
        if let Some(n) = counts.per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                counts.per_ip.remove(&ip);
            }
        }
        counts.total -= 1;
        self.open.send_replace(counts.total);
    }

    pub(crate) fn stats(&self) -> ConnectionStats {
        ConnectionStats {
            open: *self.open.borrow(),
            accepted: self.accepted.load(Ordering::Relaxed),
            refused_total_cap: self.refused_total.load(Ordering::Relaxed),
            refused_per_ip_cap: self.refused_per_ip.load(Ordering::Relaxed),
            head_timeouts: self.head_timeouts.load(Ordering::Relaxed),
            tls_failures: self.tls_failures.load(Ordering::Relaxed),
        }
    }

    /// Resolves once every admitted connection has closed.
    pub(crate) async fn wait_idle(&self) {
        let mut open = self.open.subscribe();
        // The sender lives in `self`, so this only ends when the count is zero.
        let _ = open.wait_for(|n| *n == 0).await;
    }
}

/// One admitted connection; dropping it gives its place back.
#[derive(Debug)]
struct ConnPermit {
    table: Arc<ConnTable>,
    ip: IpAddr,
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        self.table.release(self.ip);
    }
}

/// A connection's admission, shared by its HTTP task and, after an upgrade,
/// its WebSocket task: the place is given back when the last holder ends.
/// Every request carries one in its extensions.
#[derive(Debug, Clone)]
pub(crate) struct ConnHold {
    _permit: Arc<ConnPermit>,
    /// Address the connection came from.
    pub peer: SocketAddr,
}

/// Accepts until `stop` is cancelled; each admitted connection runs on its own task.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    table: Arc<ConnTable>,
    tls: Option<TlsAcceptor>,
    router: Router,
    stop: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        let permit = match table.admit(peer.ip()) {
            Ok(permit) => permit,
            Err(why) => {
                tracing::debug!(%peer, ?why, "connection refused");
                if tls.is_none() {
                    // Best effort and never blocking: the socket closes right after.
                    let _ = stream.try_write(REFUSAL);
                }
                continue;
            }
        };
        let hold = ConnHold { _permit: Arc::new(permit), peer };
        let conn = Connection { table: Arc::clone(&table), router: router.clone(), stop: stop.clone(), hold };
        tokio::spawn(conn.run(stream, tls.clone()));
    }
}

/// One admitted TCP connection, from accept to close.
struct Connection {
    table: Arc<ConnTable>,
    router: Router,
    stop: CancellationToken,
    hold: ConnHold,
}

impl Connection {
    async fn run(self, stream: TcpStream, tls: Option<TlsAcceptor>) {
        let deadline = tokio::time::Instant::now() + self.table.limits.head_timeout;
        let peer = self.hold.peer;
        match tls {
            None => {
                let mut first = [0u8; 1];
                let arrived = tokio::select! {
                    _ = self.stop.cancelled() => return,
                    got = tokio::time::timeout_at(deadline, stream.peek(&mut first)) => got,
                };
                match arrived {
                    Ok(Ok(n)) if n > 0 => self.serve_http(stream).await,
                    Ok(_) => {}
                    Err(_) => self.note_head_timeout(peer),
                }
            }
            Some(acceptor) => {
                // Pinned here, not inside the select, so the socket is still
                // open when a timeout is counted (tests read the count after EOF).
                let mut handshake = std::pin::pin!(acceptor.accept(stream));
                tokio::select! {
                    _ = self.stop.cancelled() => {}
                    _ = tokio::time::sleep_until(deadline) => self.note_head_timeout(peer),
                    done = &mut handshake => match done {
                        Ok(stream) => self.serve_http(stream).await,
                        Err(e) => {
                            self.table.tls_failures.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        }
                    },
                }
            }
        }
    }

    fn note_head_timeout(&self, peer: SocketAddr) {
        self.table.head_timeouts.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%peer, "no request within {:?}; closing", self.table.limits.head_timeout);
    }

    /// HTTP/1 with upgrades until the client leaves, a head times out, or shutdown.
    async fn serve_http<I>(self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Connection { table, router, stop, hold } = self;
        let peer = hold.peer;
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(hold.clone());
            let mut router = router.clone();
            // The router is always ready: `call` without `poll_ready` is its contract.
            async move { router.call(request).await }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(table.limits.head_timeout);
        let conn = builder.serve_connection(TokioIo::new(io), service).with_upgrades();
        let mut conn = std::pin::pin!(conn);
        let result = tokio::select! {
            result = conn.as_mut() => result,
            _ = stop.cancelled() => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = result {
            tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per_ip: usize) -> ConnectionLimits {
        ConnectionLimits {
            head_timeout: Duration::from_secs(1),
            max_connections: total,
            max_connections_per_ip: per_ip,
        }
    }

    #[test]
    fn caps_count_per_address_and_in_all() {
        let table = ConnTable::new(limits(3, 2));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = table.admit(a).unwrap();
        let _a2 = table.admit(a).unwrap();
        assert_eq!(table.admit(a).unwrap_err(), Refusal::PerIpCap);
        let _b1 = table.admit(b).unwrap();
        assert_eq!(table.admit(b).unwrap_err(), Refusal::TotalCap);
        drop(a1);
        let _b2 = table.admit(b).unwrap();
        let stats = table.stats();
        assert_eq!((stats.open, stats.accepted, stats.refused_per_ip_cap, stats.refused_total_cap), (3, 4, 1, 1));
    }

    #[test]
    fn released_addresses_leave_the_table() {
        let table = ConnTable::new(limits(4, 1));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        let plain: IpAddr = "10.0.0.1".parse().unwrap();
        let p = table.admit(mapped).unwrap();
        assert_eq!(table.admit(plain).unwrap_err(), Refusal::PerIpCap, "a v4-mapped address is the same address");
        drop(p);
        assert!(lock(&table.counts).per_ip.is_empty());
        assert_eq!(table.stats().open, 0);
    }
}
