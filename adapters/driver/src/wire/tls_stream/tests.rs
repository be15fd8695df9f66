//! The TLS adapter against a real rustls server on loopback: a blocking
//! echo server on a thread, the client on `futures::executor::block_on`
//! over a non-blocking socket whose `Pending` wakes at once (so every
//! `WouldBlock` path of the adapter runs).

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::thread::JoinHandle;

use futures::executor::block_on;
use futures::io::{AsyncReadExt, AsyncWriteExt};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use super::*;
use crate::wire::tls_roots::TlsRoots;

/// A non-blocking TCP stream as an async transport that polls by spinning.
struct SpinIo(TcpStream);

fn spin<T>(cx: &mut Context<'_>, result: io::Result<T>) -> Poll<io::Result<T>> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        other => Poll::Ready(other),
    }
}

impl AsyncRead for SpinIo {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let result = self.get_mut().0.read(buf);
        spin(cx, result)
    }
}

impl AsyncWrite for SpinIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let result = self.get_mut().0.write(buf);
        spin(cx, result)
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.0.shutdown(std::net::Shutdown::Write))
    }
}

type Identity = rcgen::CertifiedKey<rcgen::KeyPair>;

fn identity(name: &str) -> Identity {
    rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap()
}

fn roots_of(id: &Identity) -> Arc<ClientConfig> {
    TlsRoots::from_pem(id.cert.pem().as_bytes()).unwrap().client_config().unwrap()
}

/// Serves one TLS connection as `id`, echoing until the client's
/// close_notify, then closing cleanly; returns the bytes echoed.
fn echo_server(id: &Identity) -> (u16, JoinHandle<io::Result<usize>>) {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(id.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![id.cert.der().clone()], key)
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (tcp, _) = listener.accept()?;
        let conn = ServerConnection::new(Arc::new(config)).map_err(io::Error::other)?;
        let mut tls = StreamOwned::new(conn, tcp);
        let mut buf = vec![0u8; 32 * 1024];
        let mut echoed = 0;
        loop {
            let n = tls.read(&mut buf)?;
            if n == 0 {
                tls.conn.send_close_notify();
                tls.flush()?;
                return Ok(echoed);
            }
            tls.write_all(&buf[..n])?;
            echoed += n;
        }
    });
    (port, server)
}

fn dial(port: u16) -> SpinIo {
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_nonblocking(true).unwrap();
    SpinIo(tcp)
}

#[test]
fn bytes_round_trip_through_split_halves_and_close_cleanly() {
    let id = identity("127.0.0.1");
    let (port, server) = echo_server(&id);
    let sent: Vec<u8> = (0..(1 << 20) + 7).map(|i| (i * 31 % 251) as u8).collect();
    let received = block_on(async {
        let tls = TlsStream::connect(roots_of(&id), "127.0.0.1", dial(port)).await.unwrap();
        let (mut rd, mut wr) = tls.split();
        let write = async {
            for chunk in sent.chunks(10_000) {
                wr.write_all(chunk).await.unwrap();
                wr.flush().await.unwrap();
            }
            wr.close().await.unwrap();
        };
        let read = async {
            let mut got = Vec::new();
            rd.read_to_end(&mut got).await.expect("a clean close_notify ends the stream");
            got
        };
        futures::join!(write, read).1
    });
    assert_eq!(received.len(), sent.len());
    assert!(received == sent, "the echo differs");
    assert_eq!(server.join().unwrap().unwrap(), sent.len());
}

#[test]
fn an_untrusted_certificate_is_unauthenticated() {
    let (server_id, other) = (identity("127.0.0.1"), identity("127.0.0.1"));
    let (port, server) = echo_server(&server_id);
    let result = block_on(TlsStream::connect(roots_of(&other), "127.0.0.1", dial(port)));
    assert!(matches!(result, Err(ActrError::Unauthenticated(_))), "{result:?}");
    assert!(server.join().unwrap().is_err(), "the server sees the handshake fail");
}

#[test]
fn a_certificate_for_another_name_is_unauthenticated() {
    let id = identity("localhost");
    let (port, server) = echo_server(&id);
    let result = block_on(TlsStream::connect(roots_of(&id), "actr.invalid", dial(port)));
    let Err(ActrError::Unauthenticated(why)) = result else { panic!("{result:?}") };
    assert!(why.contains("actr.invalid"), "{why}");
    let _ = server.join();
}

#[test]
fn a_server_that_hangs_up_is_unavailable() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || drop(listener.accept()));
    let result = block_on(TlsStream::connect(roots_of(&identity("x.test")), "x.test", dial(port)));
    assert!(matches!(result, Err(ActrError::Unavailable(_))), "{result:?}");
    server.join().unwrap();
}

#[test]
fn plaintext_from_the_server_is_a_protocol_failure() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut tcp, _) = listener.accept().unwrap();
        let _ = tcp.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
    });
    let result = block_on(TlsStream::connect(roots_of(&identity("x.test")), "x.test", dial(port)));
    assert!(matches!(result, Err(ActrError::Unavailable(_))), "{result:?}");
    server.join().unwrap();
}

#[test]
fn server_names_are_dns_names_or_ip_addresses() {
    assert!(matches!(server_name("node.example").unwrap(), ServerName::DnsName(_)));
    assert!(matches!(server_name("127.0.0.1").unwrap(), ServerName::IpAddress(_)));
    assert!(matches!(server_name("[::1]").unwrap(), ServerName::IpAddress(_)));
    assert!(matches!(server_name("not a name"), Err(ActrError::InvalidArgument(_))));
}
