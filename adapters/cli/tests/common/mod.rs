//! Helpers shared by the integration tests: a temp dir, a server on a free
//! port, raw HTTP calls to the AIS, and a raw WebSocket client.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actr_cli::serve::{ServeConfig, ServeHandle};
use actr_core::ais::{self, AisReply, AisRequest, MAX_AIS_BODY, RegisterOk, RegisterRequest};
use actr_core::credential::Credential;
use actr_core::proof::{HostKey, Nonce, Statement};
use actr_core::signaling::messages::MAX_SIGNALING_FRAME;
use actr_core::signaling::{ActorProfile, ClientMsg, ServerMsg};
use actr_core::wire::{decode_message, encode_message};
use actr_core::{ActrId, Realm};
use tungstenite::{Message, WebSocket};

/// Every blocking wait in the tests gives up after this long.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A directory under the system temp dir, removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let name = format!("actr-cli-{tag}-{}-{}-{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A config on a free loopback port with its data in `dir`.
pub fn config(dir: &TempDir) -> ServeConfig {
    ServeConfig::new("127.0.0.1:0".parse().unwrap(), dir.path().join("data"))
}

pub fn start(dir: &TempDir) -> ServeHandle {
    ServeHandle::start(config(dir)).expect("server starts")
}

fn agent() -> ureq::Agent {
    let config = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(DEADLINE)).build();
    ureq::Agent::new_with_config(config)
}

/// POSTs raw bytes; returns the status and the body.
pub fn post(addr: SocketAddr, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut resp = agent()
        .post(format!("http://{addr}{path}"))
        .header("content-type", ais::CONTENT_TYPE)
        .send(body)
        .expect("HTTP exchange");
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_vec().expect("read body"))
}

pub fn get(addr: SocketAddr, path: &str) -> (u16, Vec<u8>) {
    let mut resp = agent().get(format!("http://{addr}{path}")).call().expect("HTTP exchange");
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_vec().expect("read body"))
}

/// Sends one AIS request to `path`, expects 200, decodes the reply.
pub fn ais_call(addr: SocketAddr, path: &str, request: &AisRequest) -> AisReply {
    let (status, body) = post(addr, path, &encode_message(request, MAX_AIS_BODY).unwrap());
    assert_eq!(status, 200, "body: {}", String::from_utf8_lossy(&body));
    decode_message(&body, MAX_AIS_BODY).expect("AIS reply decodes")
}

/// The host key every test actor registers with.
pub fn host_key() -> HostKey {
    HostKey::from_seed([0x11; 32])
}

pub fn register_request(realm: u32, secret: Option<&str>) -> AisRequest {
    let mut request = RegisterRequest::new("acme:echo:1".parse().unwrap(), Realm(realm), secret.map(Into::into));
    request.sign(&host_key());
    AisRequest::Register(request)
}

/// Registers an `acme:echo:1` actor in realm 1.
pub fn register(addr: SocketAddr) -> RegisterOk {
    match ais_call(addr, ais::REGISTER_PATH, &register_request(1, None)) {
        AisReply::Registered(ok) => ok,
        other => panic!("expected Registered, got {other:?}"),
    }
}

/// Waits until a server-side condition holds, checking every few
/// milliseconds; panics after [`DEADLINE`]. For state no client can observe
/// (a socket the server dropped while its client was not reading).
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let give_up = std::time::Instant::now() + DEADLINE;
    while !condition() {
        assert!(std::time::Instant::now() < give_up, "still waiting for {what} after {DEADLINE:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

pub type Socket = WebSocket<TcpStream>;

/// Opens a signaling WebSocket whose reads and writes give up after
/// [`DEADLINE`], and reads the server's challenge.
pub fn connect(addr: SocketAddr) -> Result<Socket, tungstenite::Error> {
    connect_challenged(addr).map(|(socket, _)| socket)
}

/// [`connect`], returning the challenge nonce a hello must sign.
pub fn connect_challenged(addr: SocketAddr) -> Result<(Socket, Nonce), tungstenite::Error> {
    let stream = TcpStream::connect(addr).expect("TCP connect");
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream.set_write_timeout(Some(DEADLINE)).unwrap();
    let mut socket = match tungstenite::client(format!("ws://{addr}/signaling"), stream) {
        Ok((socket, _)) => socket,
        Err(tungstenite::HandshakeError::Failure(e)) => return Err(e),
        Err(tungstenite::HandshakeError::Interrupted(_)) => panic!("handshake interrupted on a blocking socket"),
    };
    match recv_msg(&mut socket) {
        ServerMsg::Challenge { nonce } => Ok((socket, nonce)),
        other => panic!("expected the challenge first, got {other:?}"),
    }
}

pub fn send_msg(socket: &mut Socket, msg: &ClientMsg) {
    let bytes = encode_message(msg, MAX_SIGNALING_FRAME).unwrap();
    socket.send(Message::Binary(bytes.into())).expect("send");
}

/// The next binary message, decoded. Panics on close or timeout.
pub fn recv_msg(socket: &mut Socket) -> ServerMsg {
    loop {
        match socket.read().expect("read a server message") {
            Message::Binary(bytes) => {
                return decode_message(&bytes, MAX_SIGNALING_FRAME).expect("server message decodes");
            }
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a binary message, got {other:?}"),
        }
    }
}

/// Reads until the server closes the socket; returns the Close code if a
/// Close frame came. Panics on a data message or on timeout.
pub fn expect_closed(socket: &mut Socket) -> Option<u16> {
    loop {
        match socket.read() {
            Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => continue,
            Ok(other) => panic!("expected a close, got {other:?}"),
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
            {
                panic!("socket still open after {DEADLINE:?}")
            }
            Err(_) => return None,
        }
    }
}

/// A hello answering `nonce`, signed by `key`.
pub fn hello(actor: &ActrId, credential: &Credential, nonce: &Nonce, key: &HostKey) -> ClientMsg {
    let proof = key.sign(&Statement::SignalingHello { nonce, actor });
    ClientMsg::Hello { actor: actor.clone(), credential: credential.clone(), profile: ActorProfile::default(), proof }
}

/// Connects and says hello as a freshly registered actor; returns the
/// socket once the Welcome is in.
pub fn connect_as(addr: SocketAddr, ok: &RegisterOk) -> Socket {
    let (mut socket, nonce) = connect_challenged(addr).expect("upgrade");
    send_msg(&mut socket, &hello(&ok.actor, &ok.credential, &nonce, &host_key()));
    match recv_msg(&mut socket) {
        ServerMsg::Welcome { actor, .. } => assert_eq!(actor, ok.actor),
        other => panic!("expected Welcome, got {other:?}"),
    }
    socket
}
