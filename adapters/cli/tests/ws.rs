//! The signaling WebSocket: malformed, oversized and text input, timeouts,
//! the connection limit, and shutdown, each checked from a raw client.

mod common;

use std::time::Duration;

use actr_core::error::ActrError;
use actr_core::signaling::messages::MAX_SIGNALING_FRAME;
use actr_core::signaling::{ClientBody, ClientMsg, ClientRequest, ServerMsg, ServerReply};
use common::*;
use tungstenite::Message;

const CLOSE_NORMAL: u16 = 1000;
const CLOSE_AWAY: u16 = 1001;
const CLOSE_POLICY: u16 = 1008;
const CLOSE_SIZE: u16 = 1009;

fn ping(ok: &actr_core::ais::RegisterOk, id: u64) -> ClientMsg {
    ClientMsg::Signed {
        source: ok.actor.clone(),
        credential: ok.credential.clone(),
        body: ClientBody::Request { id, request: ClientRequest::Ping },
    }
}

fn expect_error(socket: &mut Socket) -> ActrError {
    match recv_msg(socket) {
        ServerMsg::Error(e) => e.into(),
        other => panic!("expected an Error, got {other:?}"),
    }
}

fn expect_pong(socket: &mut Socket, id: u64) {
    match recv_msg(socket) {
        ServerMsg::Reply { id: got, result: Ok(ServerReply::Pong) } => assert_eq!(got, id),
        other => panic!("expected Pong, got {other:?}"),
    }
}

#[test]
fn garbage_gets_an_error_reply_and_the_server_serves_others() {
    let dir = TempDir::new("ws-garbage");
    let server = start(&dir);
    let addr = server.local_addr();
    let ok = register(addr);

    let mut bad = connect(addr).unwrap();
    bad.send(Message::Binary(b"\x01\xff\xfe garbage".to_vec().into())).unwrap();
    assert!(matches!(expect_error(&mut bad), ActrError::DecodeFailure(_)));

    let mut good = connect_as(addr, &ok);
    send_msg(&mut good, &ping(&ok, 1));
    expect_pong(&mut good, 1);
    assert_eq!(server.signaling_stats().server.malformed, 1);
    server.stop();
}

#[test]
fn oversized_message_closes_only_that_socket() {
    let dir = TempDir::new("ws-oversized");
    let server = start(&dir);
    let addr = server.local_addr();
    let ok = register(addr);
    let mut good = connect_as(addr, &ok);

    let mut big = connect(addr).unwrap();
    // The server may close before the whole message is written; that is fine.
    let _ = big.send(Message::Binary(vec![1u8; MAX_SIGNALING_FRAME + 1].into()));
    let code = expect_closed(&mut big);
    assert!(code.is_none() || code == Some(CLOSE_SIZE), "close code {code:?}");
    assert_eq!(server.signaling_stats().oversized_messages, 1);

    send_msg(&mut good, &ping(&ok, 7));
    expect_pong(&mut good, 7);
    let mut another = connect(addr).expect("new sockets are still accepted");
    another.send(Message::Binary(vec![0u8].into())).unwrap();
    expect_error(&mut another);
    server.stop();
}

#[test]
fn a_message_of_exactly_the_limit_is_read() {
    let dir = TempDir::new("ws-limit");
    let server = start(&dir);
    let mut socket = connect(server.local_addr()).unwrap();
    socket.send(Message::Binary(vec![9u8; MAX_SIGNALING_FRAME].into())).unwrap();
    // Version byte 9 is unknown: the server read the message and said why it refused it.
    assert!(matches!(expect_error(&mut socket), ActrError::InvalidArgument(_)));
    server.stop();
}

#[test]
fn text_frames_get_no_answer() {
    let dir = TempDir::new("ws-text");
    let server = start(&dir);
    let mut socket = connect(server.local_addr()).unwrap();
    socket.send(Message::Text("hello?".into())).unwrap();
    socket.send(Message::Binary(vec![].into())).unwrap();
    // The first reply answers the empty binary message: the text got none.
    assert!(matches!(expect_error(&mut socket), ActrError::DecodeFailure(_)));
    assert_eq!(server.signaling_stats().text_frames_ignored, 1);
    server.stop();
}

#[test]
fn a_silent_socket_is_closed_at_the_hello_timeout() {
    let dir = TempDir::new("ws-hello-timeout");
    let mut config = config(&dir);
    config.signaling.hello_timeout = actr_core::Duration::from_millis(100);
    let server = actr_cli::serve::ServeHandle::start(config).unwrap();
    let mut socket = connect(server.local_addr()).unwrap();
    assert_eq!(expect_closed(&mut socket), Some(CLOSE_POLICY));
    assert_eq!(server.signaling_stats().server.timeouts, 1);
    server.stop();
}

#[test]
fn goodbye_closes_normally() {
    let dir = TempDir::new("ws-goodbye");
    let server = start(&dir);
    let ok = register(server.local_addr());
    let mut socket = connect_as(server.local_addr(), &ok);
    let bye =
        ClientMsg::Signed { source: ok.actor.clone(), credential: ok.credential.clone(), body: ClientBody::Goodbye };
    send_msg(&mut socket, &bye);
    assert_eq!(expect_closed(&mut socket), Some(CLOSE_NORMAL));
    server.stop();
}

#[test]
fn relays_to_a_client_that_stops_reading_are_refused_to_the_sender() {
    let dir = TempDir::new("ws-slow");
    let mut config = config(&dir);
    config.signaling.max_queue_messages = 8;
    config.signaling.max_queue_bytes = 1 << 20;
    let server = actr_cli::serve::ServeHandle::start(config).unwrap();
    let addr = server.local_addr();
    let (sleeper, sender) = (register(addr), register(addr));
    let slow = connect_as(addr, &sleeper);
    let mut fast = connect_as(addr, &sender);
    let payload = vec![7u8; 128 * 1024];
    // Relay to an actor that never reads: its socket buffers fill, then the
    // share of its queue others may use; from then on the sender is told.
    let mut relayed = 0u64;
    loop {
        let relay = ClientRequest::Relay { target: sleeper.actor.clone(), payload: payload.clone() };
        let id = relayed + 1;
        let body = ClientBody::Request { id, request: relay };
        send_msg(
            &mut fast,
            &ClientMsg::Signed { source: sender.actor.clone(), credential: sender.credential.clone(), body },
        );
        match recv_msg(&mut fast) {
            ServerMsg::Reply { result: Ok(ServerReply::Relayed), .. } => relayed += 1,
            ServerMsg::Reply { result: Err(e), .. } => {
                let e = ActrError::from(e);
                assert!(matches!(e, ActrError::ResourceExhausted(_)), "the target's queue is full: {e:?}");
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(relayed < 2_000, "relays were never refused");
    }
    let stats = server.signaling_stats();
    assert_eq!(stats.server.relays_refused, 1);
    assert_eq!(stats.server.slow_consumers, 0, "the target is not dropped for the sender's traffic");
    assert_eq!(stats.open_sockets, 2);
    send_msg(&mut fast, &ping(&sender, 99));
    expect_pong(&mut fast, 99);
    drop(slow);
    server.stop();
}

#[test]
fn a_full_server_refuses_the_upgrade_with_503() {
    let dir = TempDir::new("ws-full");
    let mut config = config(&dir);
    config.signaling.max_connections = 1;
    let server = actr_cli::serve::ServeHandle::start(config).unwrap();
    let _first = connect(server.local_addr()).unwrap();
    match connect(server.local_addr()) {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status().as_u16(), 503),
        other => panic!("expected a 503, got {:?}", other.map(|_| "a socket")),
    }
    assert_eq!(server.signaling_stats().server.connections_refused, 1);
    server.stop();
}

#[test]
fn stop_closes_open_sockets_with_going_away() {
    let dir = TempDir::new("ws-stop");
    let server = start(&dir);
    let addr = server.local_addr();
    let ok = register(addr);
    let mut socket = connect_as(addr, &ok);
    let stopper = std::thread::spawn(move || server.stop());
    assert_eq!(expect_closed(&mut socket), Some(CLOSE_AWAY));
    stopper.join().unwrap();
    assert!(std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err(), "nothing listens after stop");
}
