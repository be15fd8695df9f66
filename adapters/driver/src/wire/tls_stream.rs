//! TLS on the client side over any runtime's TCP stream: rustls'
//! sans-IO [`ClientConnection`] driven by a small adapter of our own, so
//! tokio and smol get `wss://` without a TLS crate per runtime.
//!
//! # The adapter
//!
//! 1. [`TlsStream::connect`] queues the ClientHello and drives the
//!    handshake on one task: write what rustls wants written, read and
//!    process what the server sends, until rustls is no longer handshaking.
//!    A certificate that does not verify ends it with
//!    `ActrError::Unauthenticated`; the caller bounds it in time.
//! 2. After that, [`TlsStream`] is an `AsyncRead + AsyncWrite` that a reader
//!    and a writer task may share through `futures::io::split`:
//!    `poll_read` only ever polls the socket's read side (TLS bytes in,
//!    plaintext out) and `poll_write`/`poll_flush`/`poll_close` only its
//!    write side, so neither half steals the other's waker.
//! 3. Plaintext accepted by `poll_write` may still sit in rustls as
//!    ciphertext when it returns: callers flush after writing (the pumps do).
//!    TLS records that reading produces (a key-update answer) leave with
//!    the next write or flush.
//!
//! # Bounds
//!
//! rustls buffers at most one record being received and 16 KiB of received
//! plaintext (its own limit; it is asked for more TLS bytes only once the
//! plaintext is drained), and at most [`MAX_SEND_BUFFER`] of plaintext
//! waiting to be encrypted and written; a write is accepted only after the
//! previous ciphertext has left.

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use actr_core::ActrError;
use futures::io::{AsyncRead, AsyncWrite};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};

/// Most plaintext queued in rustls for encryption.
pub const MAX_SEND_BUFFER: usize = 64 * 1024;

/// A TLS client connection over the transport `T`.
pub struct TlsStream<T> {
    io: T,
    conn: ClientConnection,
    close_sent: bool,
}

impl<T> std::fmt::Debug for TlsStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("handshaking", &self.conn.is_handshaking())
            .field("close_sent", &self.close_sent)
            .finish()
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> TlsStream<T> {
    /// Completes a TLS handshake with `host` (a DNS name or an IP address,
    /// checked against the certificate) over `io`.
    ///
    /// Errors: `InvalidArgument` for a host that is no server name,
    /// `Unauthenticated` when the server's certificate does not verify
    /// against the roots in `config`, `Unavailable` for anything else (the
    /// server closed, an I/O error, a TLS protocol failure).
    pub async fn connect(config: Arc<ClientConfig>, host: &str, io: T) -> Result<Self, ActrError> {
        let name = server_name(host)?;
        let mut conn = ClientConnection::new(config, name)
            .map_err(|e| ActrError::Internal(format!("TLS client for {host}: {e}")))?;
        conn.set_buffer_limit(Some(MAX_SEND_BUFFER));
        let mut stream = Self { io, conn, close_sent: false };
        std::future::poll_fn(|cx| stream.poll_handshake(cx, host)).await?;
        Ok(stream)
    }

    fn poll_handshake(&mut self, cx: &mut Context<'_>, host: &str) -> Poll<Result<(), ActrError>> {
        let unavailable = |what: &str, e: io::Error| ActrError::Unavailable(format!("TLS with {host}: {what}: {e}"));
        loop {
            ready!(self.poll_write_tls(cx)).map_err(|e| unavailable("write", e))?;
            if !self.conn.is_handshaking() {
                return Poll::Ready(Ok(()));
            }
            let n = ready!(self.poll_read_tls(cx)).map_err(|e| unavailable("read", e))?;
            if n == 0 {
                return Poll::Ready(Err(ActrError::Unavailable(format!(
                    "TLS with {host}: the server closed during the handshake"
                ))));
            }
            if let Err(e) = self.conn.process_new_packets() {
                // Best effort: tell the server why (rustls queued an alert).
                let _ = self.poll_write_tls(cx);
                return Poll::Ready(Err(handshake_error(host, e)));
            }
        }
    }

    /// Reads TLS bytes from the transport into rustls.
    fn poll_read_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let mut io = SyncIo { io: &mut self.io, cx };
        would_block_to_pending(self.conn.read_tls(&mut io))
    }

    /// Writes every TLS byte rustls has queued.
    fn poll_write_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.conn.wants_write() {
            let mut io = SyncIo { io: &mut self.io, cx };
            if ready!(would_block_to_pending(self.conn.write_tls(&mut io)))? == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            match this.conn.reader().read(buf) {
                // `Ok(0)`: the server sent close_notify.
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // `UnexpectedEof`: the TCP stream ended without close_notify.
                Err(e) => return Poll::Ready(Err(e)),
            }
            // No plaintext buffered: more TLS bytes are needed. At end of
            // stream rustls notes it, and the next read reports it.
            ready!(this.poll_read_tls(cx))?;
            if let Err(e) = this.conn.process_new_packets() {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
            }
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // The previous ciphertext leaves first, which bounds what waits here.
        ready!(this.poll_write_tls(cx))?;
        let n = this.conn.writer().write(buf)?;
        // Start sending now; what does not fit leaves with the next write or flush.
        if let Poll::Ready(Err(e)) = this.poll_write_tls(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_write_tls(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.close_sent {
            this.conn.send_close_notify();
            this.close_sent = true;
        }
        ready!(this.poll_write_tls(cx))?;
        Pin::new(&mut this.io).poll_close(cx)
    }
}

/// A stream to the server: plain TCP for `http://`, TLS for `https://`.
#[derive(Debug)]
pub(crate) enum ServerStream<T> {
    Plain(T),
    Tls(Box<TlsStream<T>>),
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for ServerStream<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ServerStream::Plain(io) => Pin::new(io).poll_read(cx, buf),
            ServerStream::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for ServerStream<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ServerStream::Plain(io) => Pin::new(io).poll_write(cx, buf),
            ServerStream::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerStream::Plain(io) => Pin::new(io).poll_flush(cx),
            ServerStream::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerStream::Plain(io) => Pin::new(io).poll_close(cx),
            ServerStream::Tls(tls) => Pin::new(tls.as_mut()).poll_close(cx),
        }
    }
}

/// The name the certificate must carry: a DNS name, or an IP address
/// (brackets of an IPv6 literal removed).
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, ActrError> {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    ServerName::try_from(bare.to_owned())
        .map_err(|e| ActrError::InvalidArgument(format!("TLS server name {host:?}: {e}")))
}

/// The typed error for a failed handshake: a certificate that does not
/// verify is `Unauthenticated` (retrying will not help), the rest `Unavailable`.
pub(crate) fn handshake_error(host: &str, e: rustls::Error) -> ActrError {
    match e {
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
            ActrError::Unauthenticated(format!("TLS: the certificate of {host} does not verify: {e}"))
        }
        other => ActrError::Unavailable(format!("TLS handshake with {host}: {other}")),
    }
}

/// A blocking-style view of an async transport for rustls: `Pending`
/// becomes `WouldBlock`, with the waker registered.
struct SyncIo<'a, 'b, T> {
    io: &'a mut T,
    cx: &'a mut Context<'b>,
}

impl<T: AsyncRead + Unpin> Read for SyncIo<'_, '_, T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_read(self.cx, buf) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl<T: AsyncWrite + Unpin> Write for SyncIo<'_, '_, T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_write(self.cx, buf) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match Pin::new(&mut *self.io).poll_flush(self.cx) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

fn would_block_to_pending<T>(result: io::Result<T>) -> Poll<io::Result<T>> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
        other => Poll::Ready(other),
    }
}

#[cfg(test)]
mod tests;
