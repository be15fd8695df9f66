//! WebSocket framing with tungstenite, sans-IO.
//!
//! [`WsCodec`] owns a tungstenite handshake or socket over a
//! [`MemoryStream`]: the caller moves bytes between it and the real transport.
//!
//! 1. Create a [`WsCodec::client`] (or [`WsCodec::server`]).
//! 2. Write [`WsCodec::take_output`] to the transport whenever it is non-empty.
//! 3. Feed every chunk read from the transport to [`WsCodec::receive`]
//!    ([`WsCodec::receive_eof`] at end of stream), then drain
//!    [`WsCodec::next_message`] until it returns `Ok(None)`.
//! 4. Once [`WsCodec::is_open`], queue messages with [`WsCodec::send`];
//!    they leave in one batch at the next `take_output`.

use std::io::{self, Read, Write};

use actr_core::ActrError;
use tungstenite::handshake::client::ClientHandshake;
use tungstenite::handshake::server::{NoCallback, ServerHandshake};
use tungstenite::handshake::{HandshakeError, HandshakeRole, MidHandshake};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Error as TungError, Message, WebSocket};

/// An in-memory duplex pipe end: reads drain `input`, writes append to `output`.
///
/// Reading an empty input returns `WouldBlock`, or `Ok(0)` once the transport
/// has ended, which is how tungstenite learns to wait or to stop.
#[derive(Debug, Default)]
pub struct MemoryStream {
    input: Vec<u8>,
    read_pos: usize,
    output: Vec<u8>,
    eof: bool,
}

impl MemoryStream {
    fn push_input(&mut self, bytes: &[u8]) {
        if self.read_pos == self.input.len() {
            self.input.clear();
            self.read_pos = 0;
        }
        self.input.extend_from_slice(bytes);
    }
}

impl Read for MemoryStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = &self.input[self.read_pos..];
        if available.is_empty() {
            return if self.eof { Ok(0) } else { Err(io::ErrorKind::WouldBlock.into()) };
        }
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.read_pos += n;
        Ok(n)
    }
}

impl Write for MemoryStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Why a WebSocket stopped or could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WsError {
    #[error("websocket handshake failed: {0}")]
    Handshake(String),
    #[error("websocket closed")]
    Closed,
    #[error("websocket message too large: {0}")]
    TooLarge(String),
    #[error("websocket protocol error: {0}")]
    Protocol(String),
    #[error("websocket not open yet")]
    NotOpen,
}

impl From<WsError> for ActrError {
    fn from(e: WsError) -> Self {
        match e {
            WsError::TooLarge(_) => ActrError::InvalidArgument(e.to_string()),
            _ => ActrError::Unavailable(e.to_string()),
        }
    }
}

impl From<TungError> for WsError {
    fn from(e: TungError) -> Self {
        match e {
            TungError::ConnectionClosed | TungError::AlreadyClosed => WsError::Closed,
            TungError::Capacity(c) => WsError::TooLarge(c.to_string()),
            other => WsError::Protocol(other.to_string()),
        }
    }
}

enum State {
    Client(MidHandshake<ClientHandshake<MemoryStream>>),
    Server(MidHandshake<ServerHandshake<MemoryStream, NoCallback>>),
    Open(WebSocket<MemoryStream>),
    Failed,
}

/// One end of a WebSocket, driven by the caller's bytes.
pub struct WsCodec {
    state: State,
}

impl std::fmt::Debug for WsCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::Client(_) => "client-handshake",
            State::Server(_) => "server-handshake",
            State::Open(_) => "open",
            State::Failed => "failed",
        };
        f.debug_struct("WsCodec").field("state", &state).finish()
    }
}

/// The tungstenite settings for messages of at most `max_message` bytes.
pub fn ws_config(max_message: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message))
        .write_buffer_size(64 * 1024)
        .read_buffer_size(64 * 1024)
}

impl WsCodec {
    /// Starts a client handshake for `url` (`ws://host:port/path`).
    pub fn client(url: &str, max_message: usize) -> Result<Self, WsError> {
        let started =
            tungstenite::client::client_with_config(url, MemoryStream::default(), Some(ws_config(max_message)));
        let state = match started {
            Ok((ws, _response)) => State::Open(ws),
            Err(HandshakeError::Interrupted(mid)) => State::Client(mid),
            Err(HandshakeError::Failure(e)) => return Err(WsError::Handshake(e.to_string())),
        };
        Ok(Self { state })
    }

    /// Waits for a client's handshake request (tests, and nodes that listen).
    pub fn server(max_message: usize) -> Result<Self, WsError> {
        let started = tungstenite::accept_with_config(MemoryStream::default(), Some(ws_config(max_message)));
        let state = match started {
            Ok(ws) => State::Open(ws),
            Err(HandshakeError::Interrupted(mid)) => State::Server(mid),
            Err(HandshakeError::Failure(e)) => return Err(WsError::Handshake(e.to_string())),
        };
        Ok(Self { state })
    }

    pub fn is_open(&self) -> bool {
        matches!(self.state, State::Open(_))
    }

    /// Changes the largest message and frame accepted from now on, e.g. to
    /// raise a small pre-authentication limit once the peer is known.
    /// No effect before the handshake completes.
    pub fn set_max_message(&mut self, max_message: usize) {
        if let State::Open(ws) = &mut self.state {
            ws.set_config(|c| {
                c.max_message_size = Some(max_message);
                c.max_frame_size = Some(max_message);
            });
        }
    }

    /// Feeds bytes read from the transport; advances the handshake if one is running.
    pub fn receive(&mut self, bytes: &[u8]) -> Result<(), WsError> {
        self.stream_mut().ok_or(WsError::Closed)?.push_input(bytes);
        self.advance_handshake()
    }

    /// The transport reached end of stream.
    pub fn receive_eof(&mut self) {
        if let Some(stream) = self.stream_mut() {
            stream.eof = true;
        }
    }

    /// The next complete data message, `Ok(None)` when more bytes are needed.
    /// Control frames are answered internally; a text message is returned as
    /// its bytes (the protocol above rejects it as malformed).
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, WsError> {
        let State::Open(ws) = &mut self.state else {
            return match self.state {
                State::Failed => Err(WsError::Closed),
                _ => Ok(None),
            };
        };
        loop {
            match ws.read() {
                Ok(Message::Binary(bytes)) => return Ok(Some(bytes.into())),
                Ok(Message::Text(text)) => return Ok(Some(text.as_bytes().to_vec())),
                Ok(_) => continue,
                Err(TungError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Queues one binary message; it leaves at the next [`WsCodec::take_output`].
    pub fn send(&mut self, message: Vec<u8>) -> Result<(), WsError> {
        let State::Open(ws) = &mut self.state else { return Err(WsError::NotOpen) };
        ws.write(Message::Binary(message.into())).map_err(WsError::from)
    }

    /// Starts the closing handshake. Idempotent.
    pub fn close(&mut self) {
        if let State::Open(ws) = &mut self.state {
            // Errors only say the socket is already closing or closed.
            let _ = ws.close(None);
        }
    }

    /// Whether [`WsCodec::take_output`] would return bytes without a flush.
    pub fn has_output(&self) -> bool {
        self.stream().is_some_and(|s| !s.output.is_empty())
    }

    /// Flushes queued messages and moves every byte due on the transport to
    /// the end of `out`. Into an empty `out` the buffers are swapped, so
    /// neither side allocates or copies per message.
    pub fn append_output(&mut self, out: &mut Vec<u8>) {
        if let State::Open(ws) = &mut self.state {
            // As in take_output: whatever is buffered is worth sending.
            let _ = ws.flush();
        }
        if let Some(stream) = self.stream_mut() {
            match out.is_empty() {
                true => std::mem::swap(out, &mut stream.output),
                false => out.append(&mut stream.output),
            }
        }
    }

    /// Flushes queued messages and returns every byte due on the transport.
    pub fn take_output(&mut self) -> Vec<u8> {
        if let State::Open(ws) = &mut self.state {
            // A flush into memory cannot block; errors mean the socket is closed,
            // in which case whatever is buffered is still worth sending.
            let _ = ws.flush();
        }
        self.stream_mut().map(|s| std::mem::take(&mut s.output)).unwrap_or_default()
    }

    fn stream(&self) -> Option<&MemoryStream> {
        match &self.state {
            State::Client(mid) => Some(mid.get_ref().get_ref()),
            State::Server(mid) => Some(mid.get_ref().get_ref()),
            State::Open(ws) => Some(ws.get_ref()),
            State::Failed => None,
        }
    }

    fn stream_mut(&mut self) -> Option<&mut MemoryStream> {
        match &mut self.state {
            State::Client(mid) => Some(mid.get_mut().get_mut()),
            State::Server(mid) => Some(mid.get_mut().get_mut()),
            State::Open(ws) => Some(ws.get_mut()),
            State::Failed => None,
        }
    }

    fn advance_handshake(&mut self) -> Result<(), WsError> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        let next = match state {
            State::Client(mid) => step(mid, |(ws, _response)| ws, State::Client),
            State::Server(mid) => step(mid, |ws| ws, State::Server),
            open => Ok(open),
        };
        self.state = next?;
        Ok(())
    }
}

/// One handshake step: done, still waiting for bytes, or failed.
fn step<R: HandshakeRole<InternalStream = MemoryStream>>(
    mid: MidHandshake<R>,
    open: impl FnOnce(R::FinalResult) -> WebSocket<MemoryStream>,
    waiting: impl FnOnce(MidHandshake<R>) -> State,
) -> Result<State, WsError> {
    match mid.handshake() {
        Ok(done) => Ok(State::Open(open(done))),
        Err(HandshakeError::Interrupted(mid)) => Ok(waiting(mid)),
        Err(HandshakeError::Failure(e)) => Err(WsError::Handshake(e.to_string())),
    }
}

#[cfg(test)]
mod tests;
