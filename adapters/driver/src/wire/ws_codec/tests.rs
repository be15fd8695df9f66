use super::*;

const MAX: usize = 1024;

/// Moves bytes both ways until neither side has output left.
fn pump(a: &mut WsCodec, b: &mut WsCodec) {
    for _ in 0..16 {
        let ab = a.take_output();
        let ba = b.take_output();
        if ab.is_empty() && ba.is_empty() {
            return;
        }
        if !ab.is_empty() {
            b.receive(&ab).unwrap();
        }
        if !ba.is_empty() {
            a.receive(&ba).unwrap();
        }
    }
    panic!("endpoints never went quiet");
}

fn drain(end: &mut WsCodec) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    while let Some(m) = end.next_message().unwrap() {
        got.push(m);
    }
    got
}

fn open_pair() -> (WsCodec, WsCodec) {
    let mut client = WsCodec::client("ws://127.0.0.1:7480/signaling", MAX).unwrap();
    let mut server = WsCodec::server(MAX).unwrap();
    assert!(!client.is_open() && !server.is_open());
    pump(&mut client, &mut server);
    assert!(client.is_open() && server.is_open());
    (client, server)
}

#[test]
fn handshake_then_batched_frames_both_ways() {
    let (mut client, mut server) = open_pair();
    for i in 0..100u8 {
        client.send(vec![i; i as usize + 1]).unwrap();
    }
    let batch = client.take_output();
    assert!(!batch.is_empty(), "one flush carries the whole batch");
    server.receive(&batch).unwrap();
    let got = drain(&mut server);
    assert_eq!(got.len(), 100);
    assert_eq!(got[41], vec![41u8; 42]);

    server.send(b"welcome".to_vec()).unwrap();
    pump(&mut server, &mut client);
    assert_eq!(drain(&mut client), vec![b"welcome".to_vec()]);
}

#[test]
fn handshake_survives_small_chunks() {
    let mut client = WsCodec::client("ws://localhost:1/signaling", MAX).unwrap();
    let mut server = WsCodec::server(MAX).unwrap();
    // Small, not single-byte: tungstenite refuses a flood of tiny reads as an attack.
    for chunk in client.take_output().chunks(5) {
        server.receive(chunk).unwrap();
    }
    assert!(server.is_open());
    server.send(b"early".to_vec()).unwrap();
    // The server's response and its first message arrive in one read.
    let reply = server.take_output();
    for chunk in reply[..reply.len() - 1].chunks(5) {
        client.receive(chunk).unwrap();
        assert_eq!(client.next_message().unwrap(), None);
    }
    client.receive(&reply[reply.len() - 1..]).unwrap();
    assert!(client.is_open());
    assert_eq!(drain(&mut client), vec![b"early".to_vec()]);
}

#[test]
fn oversized_message_is_refused_by_the_receiver() {
    let mut client = WsCodec::client("ws://127.0.0.1:7480/signaling", 4 * MAX).unwrap();
    let mut server = WsCodec::server(MAX).unwrap();
    pump(&mut client, &mut server);
    client.send(vec![7; 2 * MAX]).unwrap();
    server.receive(&client.take_output()).unwrap();
    assert!(matches!(server.next_message(), Err(WsError::TooLarge(_))));
}

#[test]
fn close_handshake_ends_both_sides() {
    let (mut client, mut server) = open_pair();
    client.send(b"last".to_vec()).unwrap();
    client.close();
    server.receive(&client.take_output()).unwrap();
    assert_eq!(server.next_message().unwrap(), Some(b"last".to_vec()));
    // The server answers the close and then reports the socket closed.
    assert_eq!(server.next_message(), Err(WsError::Closed));
    client.receive(&server.take_output()).unwrap();
    client.receive_eof();
    assert_eq!(client.next_message(), Err(WsError::Closed));
    assert_eq!(client.send(b"late".to_vec()), Err(WsError::Closed));
}

#[test]
fn garbage_instead_of_a_handshake_fails() {
    let mut client = WsCodec::client("ws://127.0.0.1:7480/signaling", MAX).unwrap();
    let _request = client.take_output();
    let err = client.receive(b"HTTP/1.1 500 Nope\r\nContent-Length: 0\r\n\r\n").unwrap_err();
    assert!(matches!(err, WsError::Handshake(_)), "{err:?}");
    assert_eq!(client.receive(b"more"), Err(WsError::Closed));
}

#[test]
fn sending_before_the_handshake_is_refused() {
    let mut client = WsCodec::client("ws://127.0.0.1:7480/signaling", MAX).unwrap();
    assert_eq!(client.send(vec![1]), Err(WsError::NotOpen));
    assert_eq!(client.next_message(), Ok(None));
    let mut server = WsCodec::server(MAX).unwrap();
    server.receive_eof();
    assert!(!server.has_output());
}

#[test]
fn output_appended_in_pieces_reads_as_the_messages_in_order() {
    let (mut client, mut server) = open_pair();
    let mut out = Vec::new();
    client.send(b"one".to_vec()).unwrap();
    client.append_output(&mut out); // into an empty buffer: swapped
    client.send(b"two".to_vec()).unwrap();
    client.append_output(&mut out); // behind bytes already there: appended
    assert!(!client.has_output());
    server.receive(&out).unwrap();
    assert_eq!(drain(&mut server), vec![b"one".to_vec(), b"two".to_vec()]);
}
