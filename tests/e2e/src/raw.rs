//! A raw, blocking WebSocket client that can send anything, for tests of the
//! server's defences. Reads are bounded by a socket timeout, not by sleeping.

use std::net::{SocketAddr, TcpStream};

use actr_core::ais::{AisReply, AisRequest, RegisterOk, RegisterRequest};
use actr_core::node::hello::DirectChallenge;
use actr_core::proof::{HostKey, Nonce, Statement};
use actr_core::signaling::messages::MAX_SIGNALING_FRAME;
use actr_core::signaling::{ActorProfile, ClientMsg, ServerMsg};
use actr_core::wire::{decode_message, encode_message};
use actr_driver::AisHttpClient;
use tungstenite::{Message, WebSocket};

use crate::WAIT;

/// What the server did next.
#[derive(Debug)]
pub enum Received {
    Msg(ServerMsg),
    /// A Close frame (with its code) or the end of the stream.
    Closed(Option<u16>),
    /// A binary message that is not a server envelope.
    Undecodable(Vec<u8>),
}

/// One raw signaling connection.
#[derive(Debug)]
pub struct RawClient {
    ws: WebSocket<TcpStream>,
    nonce: Nonce,
}

/// The host key raw clients register with and sign their hellos by.
pub fn host_key() -> HostKey {
    HostKey::from_seed([0x33; 32])
}

/// A signaling hello as `actor` with `credential`, answering `nonce`, signed by `key`.
pub fn signaling_hello(
    actor: &actr_core::ActrId,
    credential: &actr_core::credential::Credential,
    nonce: &Nonce,
    key: &HostKey,
) -> ClientMsg {
    let proof = key.sign(&Statement::SignalingHello { nonce, actor });
    ClientMsg::Hello { actor: actor.clone(), credential: credential.clone(), profile: ActorProfile::default(), proof }
}

impl RawClient {
    pub fn connect(addr: SocketAddr) -> Self {
        let tcp = TcpStream::connect(addr).expect("tcp connect");
        tcp.set_read_timeout(Some(WAIT)).expect("read timeout");
        tcp.set_nodelay(true).expect("nodelay");
        let url = format!("ws://{addr}/signaling");
        let (ws, _response) = tungstenite::client(url.as_str(), tcp).expect("websocket handshake");
        let mut raw = Self { ws, nonce: [0; 32] };
        match raw.recv() {
            Received::Msg(ServerMsg::Challenge { nonce }) => raw.nonce = nonce,
            other => panic!("expected the server's challenge, got {other:?}"),
        }
        raw
    }

    /// The nonce this connection's hello must sign.
    pub fn challenge(&self) -> Nonce {
        self.nonce
    }

    /// Sends one binary message as is.
    pub fn send_bytes(&mut self, bytes: Vec<u8>) {
        self.try_send_bytes(bytes).expect("send");
    }

    /// Sends one binary message; fails if the server already hung up.
    pub fn try_send_bytes(&mut self, bytes: Vec<u8>) -> Result<(), tungstenite::Error> {
        self.ws.send(Message::Binary(bytes.into()))
    }

    pub fn send_msg(&mut self, msg: &ClientMsg) {
        self.send_bytes(encode_message(msg, MAX_SIGNALING_FRAME).expect("encode"));
    }

    /// Says hello as `ok.actor` with its credential and expects a welcome.
    /// Says hello as `ok` (registered by [`register`]) and expects the welcome.
    pub fn hello(&mut self, ok: &RegisterOk) {
        self.send_msg(&signaling_hello(&ok.actor, &ok.credential, &self.nonce, &host_key()));
        match self.recv() {
            Received::Msg(ServerMsg::Welcome { actor, .. }) => assert_eq!(actor, ok.actor),
            other => panic!("expected a welcome, got {other:?}"),
        }
    }

    /// The next message or close; panics if nothing arrives within [`WAIT`].
    pub fn recv(&mut self) -> Received {
        loop {
            match self.ws.read() {
                Ok(Message::Binary(bytes)) => {
                    return match decode_message::<ServerMsg>(&bytes, MAX_SIGNALING_FRAME) {
                        Ok(msg) => Received::Msg(msg),
                        Err(_) => Received::Undecodable(bytes.to_vec()),
                    };
                }
                Ok(Message::Close(frame)) => {
                    // Send the queued close reply so the server need not linger.
                    let _ = self.ws.flush();
                    return Received::Closed(frame.map(|f| u16::from(f.code)));
                }
                Ok(_) => continue,
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return Received::Closed(None);
                }
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
                {
                    panic!("no message from the server within {WAIT:?}");
                }
                Err(tungstenite::Error::Io(_) | tungstenite::Error::Protocol(_)) => return Received::Closed(None),
                Err(e) => panic!("websocket read: {e}"),
            }
        }
    }
}

/// Registers through the AIS over HTTP (blocking).
/// Registers `request` with the AIS at `base_url`, bound to [`host_key`].
pub fn register(base_url: &str, mut request: RegisterRequest) -> RegisterOk {
    request.sign(&host_key());
    match AisHttpClient::new(base_url).call(&AisRequest::Register(request)) {
        Ok(AisReply::Registered(ok)) => ok,
        other => panic!("registration failed: {other:?}"),
    }
}

/// What a node's direct listener did next.
#[derive(Debug)]
pub enum DirectReceived {
    Binary(Vec<u8>),
    /// A Close frame or the end of the stream.
    Closed,
}

/// A raw, blocking client of a node's direct WebSocket listener.
#[derive(Debug)]
pub struct RawDirect {
    ws: WebSocket<TcpStream>,
    nonce: Nonce,
}

/// The `host:port` of a `ws://host:port` address.
pub fn ws_authority(ws_address: &str) -> SocketAddr {
    ws_address.trim_start_matches("ws://").trim_end_matches('/').parse().expect("ws://ip:port")
}

impl RawDirect {
    pub fn connect(ws_address: &str) -> Self {
        let tcp = TcpStream::connect(ws_authority(ws_address)).expect("tcp connect");
        tcp.set_read_timeout(Some(WAIT)).expect("read timeout");
        let (ws, _response) = tungstenite::client(ws_address, tcp).expect("websocket handshake");
        let mut raw = Self { ws, nonce: [0; 32] };
        raw.nonce = raw.recv_msg::<DirectChallenge>().nonce;
        raw
    }

    /// The listener's challenge on this link.
    pub fn challenge(&self) -> Nonce {
        self.nonce
    }

    /// Sends one binary message; fails if the node already hung up.
    pub fn send_bytes(&mut self, bytes: Vec<u8>) -> Result<(), tungstenite::Error> {
        self.ws.send(Message::Binary(bytes.into()))
    }

    pub fn send_text(&mut self, text: &str) -> Result<(), tungstenite::Error> {
        self.ws.send(Message::Text(text.into()))
    }

    /// The next binary message or the close; panics if nothing arrives within [`WAIT`].
    pub fn recv(&mut self) -> DirectReceived {
        loop {
            match self.ws.read() {
                Ok(Message::Binary(bytes)) => return DirectReceived::Binary(bytes.to_vec()),
                Ok(Message::Close(_)) => {
                    let _ = self.ws.flush();
                    return DirectReceived::Closed;
                }
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
                {
                    panic!("no message from the node within {WAIT:?}");
                }
                Err(_) => return DirectReceived::Closed,
            }
        }
    }

    /// The next binary message, decoded as `T`.
    pub fn recv_msg<T: serde::de::DeserializeOwned>(&mut self) -> T {
        match self.recv() {
            DirectReceived::Binary(bytes) => decode_message(&bytes, 1 << 25).expect("decodes"),
            DirectReceived::Closed => panic!("the node closed the link"),
        }
    }
}
