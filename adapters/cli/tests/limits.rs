//! The accept loop sheds abuse: silent and slow connections are closed at
//! the head deadline, a socket that upgrades and never says hello is closed
//! at the hello deadline, and connections over the per-address and total caps
//! are refused while a well-behaved client keeps working.
//!
//! Raw sockets are tokio streams on loopback; every wait is on the event
//! itself (end of stream) bounded by [`DEADLINE`]. Abusive clients bind to
//! 127.0.0.2 (all of 127/8 is loopback on Linux) so that the per-address cap
//! does not count the well-behaved client on 127.0.0.1.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use actr_cli::serve::ServeHandle;
use actr_core::ais::RegisterOk;
use actr_core::signaling::{ClientBody, ClientMsg, ClientRequest, ServerMsg, ServerReply};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const CLOSE_POLICY: u16 = 1008;

/// Connects from `local` (an IP on loopback) to the server.
async fn connect_from(local: &str, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{local}:0").parse().unwrap()).expect("bind a loopback source address");
    socket.connect(server).await.expect("TCP connect")
}

/// Reads until the server ends the stream; returns what it sent. A reset
/// counts as the end. Panics if the stream is still open after [`DEADLINE`].
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(DEADLINE, async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "connection still open after {DEADLINE:?}");
    got
}

/// Runs blocking client code (ureq, tungstenite) off the test's runtime.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("client code panicked")
}

fn ping(ok: &RegisterOk, id: u64) -> ClientMsg {
    ClientMsg::Signed {
        source: ok.actor.clone(),
        credential: ok.credential.clone(),
        body: ClientBody::Request { id, request: ClientRequest::Ping },
    }
}

fn expect_pong(socket: &mut Socket, id: u64) {
    match recv_msg(socket) {
        ServerMsg::Reply { id: got, result: Ok(ServerReply::Pong) } => assert_eq!(got, id),
        other => panic!("expected Pong, got {other:?}"),
    }
}

/// Registers an actor and opens its signaling socket, then pings once.
async fn well_behaved_client(addr: SocketAddr) -> (RegisterOk, Socket) {
    blocking(move || {
        let ok = register(addr);
        let mut socket = connect_as(addr, &ok);
        send_msg(&mut socket, &ping(&ok, 1));
        expect_pong(&mut socket, 1);
        (ok, socket)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_closed_at_the_head_deadline() {
    let dir = TempDir::new("limits-silent");
    let mut config = config(&dir);
    config.connections.head_timeout = Duration::from_millis(200);
    let server = ServeHandle::start(config).unwrap();
    let mut silent = TcpStream::connect(server.local_addr()).await.unwrap();
    let got = read_until_closed(&mut silent).await;
    assert!(got.is_empty(), "nothing is answered to a silent socket: {got:?}");
    assert_eq!(server.connection_stats().head_timeouts, 1);
    well_behaved_client(server.local_addr()).await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_that_never_ends_is_closed() {
    let dir = TempDir::new("limits-slow-head");
    let mut config = config(&dir);
    config.connections.head_timeout = Duration::from_millis(200);
    let server = ServeHandle::start(config).unwrap();
    let mut slow = TcpStream::connect(server.local_addr()).await.unwrap();
    // The first byte arrives in time; the rest of the head never does.
    slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n").await.unwrap();
    read_until_closed(&mut slow).await;
    assert_eq!(server.connection_stats().head_timeouts, 0, "hyper's header timer closed it, not ours");
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgraded_socket_that_never_says_hello_is_closed() {
    let dir = TempDir::new("limits-no-hello");
    let mut config = config(&dir);
    config.signaling.hello_timeout = actr_core::Duration::from_millis(200);
    let server = ServeHandle::start(config).unwrap();
    let addr = server.local_addr();
    let code = blocking(move || {
        let mut socket = connect(addr).expect("upgrade");
        expect_closed(&mut socket)
    })
    .await;
    assert_eq!(code, Some(CLOSE_POLICY));
    assert_eq!(server.signaling_stats().server.timeouts, 1);
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_per_address_cap_are_refused() {
    let dir = TempDir::new("limits-per-ip");
    let mut config = config(&dir);
    config.connections.max_connections_per_ip = 3;
    let server = ServeHandle::start(config).unwrap();
    let addr = server.local_addr();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from("127.0.0.2", addr).await);
    }
    // Accepts are taken in order, so this one finds the three above admitted.
    let mut over = connect_from("127.0.0.2", addr).await;
    let answer = read_until_closed(&mut over).await;
    assert!(answer.is_empty() || answer.starts_with(b"HTTP/1.1 503"), "{}", String::from_utf8_lossy(&answer));
    assert_eq!(server.connection_stats().refused_per_ip_cap, 1);

    // Another address is not affected: it registers, says hello and pings.
    let (_, mut good) = well_behaved_client(addr).await;
    // The held sockets are still open (the head deadline is 10 s): none was closed to make room.
    assert_eq!(server.connection_stats().head_timeouts, 0);
    assert!(server.connection_stats().open >= 4);
    blocking(move || {
        let _ = good.close(None);
    })
    .await;
    drop(held);
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_total_cap_are_refused_and_sockets_count() {
    let dir = TempDir::new("limits-total");
    let mut config = config(&dir);
    config.connections.max_connections = 4;
    let server = ServeHandle::start(config).unwrap();
    let addr = server.local_addr();
    // The well-behaved client's signaling socket holds one place after its upgrade.
    let (ok, socket) = well_behaved_client(addr).await;
    // The registration's HTTP connection closes on its own; then the socket is the only one.
    wait_until("the registration's connection to close", || server.connection_stats().open == 1);
    let mut held = Vec::new();
    for i in 0..3u8 {
        held.push(connect_from(&format!("127.0.0.{}", 3 + i), addr).await);
    }
    // Accepts are taken in order, so this one finds four places taken.
    let mut over = connect_from("127.0.0.9", addr).await;
    let answer = read_until_closed(&mut over).await;
    assert!(answer.is_empty() || answer.starts_with(b"HTTP/1.1 503"), "{}", String::from_utf8_lossy(&answer));
    assert_eq!(server.connection_stats().refused_total_cap, 1);
    assert_eq!(server.connection_stats().refused_per_ip_cap, 0);

    // The signaling socket admitted earlier still works.
    let mut socket = blocking(move || {
        let mut socket = socket;
        send_msg(&mut socket, &ping(&ok, 2));
        expect_pong(&mut socket, 2);
        socket
    })
    .await;
    // Once the abusers leave, a new client registers and connects again.
    drop(held);
    let stats = || server.connection_stats().open;
    wait_until("the abusers' places to be given back", || stats() <= 1);
    well_behaved_client(addr).await;
    blocking(move || {
        let _ = socket.close(None);
    })
    .await;
    server.stop();
}
