//! `actr serve` over TLS: a self-signed certificate made by the test, a
//! rustls client (aws-lc-rs provider) for HTTPS and WSS, and the head
//! deadline covering the handshake.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use actr_cli::serve::{ServeHandle, TlsFiles};
use actr_core::ais::{self, AisReply, MAX_AIS_BODY};
use actr_core::signaling::messages::MAX_SIGNALING_FRAME;
use actr_core::signaling::{ClientMsg, ServerMsg};
use actr_core::wire::{decode_message, encode_message};
use common::*;
use rustls::pki_types::ServerName;
use tungstenite::Message;

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A server with a fresh self-signed certificate for `localhost`, and a
/// client configuration that trusts exactly that certificate.
fn start_tls(dir: &TempDir, head_timeout: Duration) -> (ServeHandle, Arc<rustls::ClientConfig>) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("self-signed certificate");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let mut config = config(dir);
    config.tls = Some(TlsFiles { cert, key });
    config.connections.head_timeout = head_timeout;
    let server = ServeHandle::start(config).expect("server starts with TLS");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(made.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (server, Arc::new(client))
}

fn tls_connect(addr: SocketAddr, client: &Arc<rustls::ClientConfig>) -> TlsStream {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(DEADLINE)).unwrap();
    tcp.set_write_timeout(Some(DEADLINE)).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::clone(client), name).unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

/// One HTTP/1.1 request over TLS with `connection: close`; status and body.
fn https(
    addr: SocketAddr,
    client: &Arc<rustls::ClientConfig>,
    method: &str,
    path: &str,
    body: &[u8],
) -> (u16, Vec<u8>) {
    let mut stream = tls_connect(addr, client);
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-type: {}\r\ncontent-length: {}\r\n\r\n",
        ais::CONTENT_TYPE,
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    stream.flush().unwrap();
    let mut response = Vec::new();
    // The server may end without close_notify; what matters is the response read before it.
    let _ = stream.read_to_end(&mut response);
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete response head");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status code");
    let length = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>()))
        .expect("a content-length")
        .unwrap();
    let body = response[split + 4..].to_vec();
    assert_eq!(body.len(), length, "the whole body arrived");
    (status, body)
}

fn read_msg(socket: &mut tungstenite::WebSocket<TlsStream>) -> ServerMsg {
    loop {
        match socket.read().expect("a server message") {
            Message::Binary(bytes) => return decode_message(&bytes, MAX_SIGNALING_FRAME).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn healthz_and_signaling_over_tls() {
    let dir = TempDir::new("tls-serve");
    let (server, client) = start_tls(&dir, Duration::from_secs(10));
    let addr = server.local_addr();
    assert_eq!(https(addr, &client, "GET", "/healthz", b""), (200, b"ok".to_vec()));

    let request = encode_message(&register_request(1, None), MAX_AIS_BODY).unwrap();
    let (status, body) = https(addr, &client, "POST", ais::REGISTER_PATH, &request);
    assert_eq!(status, 200);
    let AisReply::Registered(ok) = decode_message(&body, MAX_AIS_BODY).unwrap() else { panic!("not registered") };

    let stream = tls_connect(addr, &client);
    let (mut socket, _) = tungstenite::client("wss://localhost/signaling", stream).expect("WSS upgrade");
    let ServerMsg::Challenge { nonce } = read_msg(&mut socket) else { panic!("expected the challenge first") };
    let hello = encode_message(&hello(&ok.actor, &ok.credential, &nonce, &host_key()), MAX_SIGNALING_FRAME).unwrap();
    socket.send(Message::Binary(hello.into())).unwrap();
    let reply = read_msg(&mut socket);
    assert!(matches!(reply, ServerMsg::Welcome { actor, .. } if actor == ok.actor));
    let bye = ClientMsg::Signed {
        source: ok.actor.clone(),
        credential: ok.credential.clone(),
        body: actr_core::signaling::ClientBody::Goodbye,
    };
    socket.send(Message::Binary(encode_message(&bye, MAX_SIGNALING_FRAME).unwrap().into())).unwrap();
    assert_eq!(server.signaling_stats().server.hellos_accepted, 1);
    server.stop();
}

#[test]
fn a_connection_that_never_starts_the_handshake_is_closed() {
    let dir = TempDir::new("tls-silent");
    let (server, client) = start_tls(&dir, Duration::from_millis(200));
    let addr = server.local_addr();
    let mut silent = TcpStream::connect(addr).unwrap();
    silent.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut buf = [0u8; 16];
    match silent.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("{n} bytes to a client that sent nothing"),
        Err(e) => assert!(
            !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
            "still open after {DEADLINE:?}"
        ),
    }
    assert_eq!(server.connection_stats().head_timeouts, 1);
    // Plain text on the TLS port is a failed handshake, not a served request.
    let mut plain = TcpStream::connect(addr).unwrap();
    plain.set_read_timeout(Some(DEADLINE)).unwrap();
    plain.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"HTTP/1.1 200"), "no plaintext answer on the TLS port");
    assert_eq!(https(addr, &client, "GET", "/healthz", b"").0, 200, "others are still served");
    server.stop();
}
