//! One direct WebSocket link over a TCP stream: the handshake and opening
//! exchange in the setting-up task, then a reader (that same task) and a
//! writer task pumping messages between the socket and the node's RPC loop.
//!
//! The RPC loop owns the link's only frame sender; dropping it closes the
//! socket gracefully after the queued frames are written. The reader reports
//! every message as [`LoopInput::Frame`] (awaiting room in the loop's queue,
//! which slows a fast peer down) and ends with exactly one [`LoopInput::LinkDown`].

use std::pin::pin;
use std::sync::{Arc, Mutex};

use actr_core::transport::envelope::MAX_ENVELOPE;
use actr_core::{ActrError, ActrId};
use async_channel::{Receiver, Sender};
use futures::future::{Either, select};
use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::node::rpc_loop::{LinkId, LoopInput};
use crate::runtime::Runtime;
use crate::ws::WsEndpoint;
use crate::ws_pump::{SharedWs, encode_close, lock, write_step};

/// Frames queued for one link's writer.
pub(crate) const LINK_QUEUE: usize = 256;
/// Largest message on a link: one maximal RPC envelope.
pub(crate) const MAX_LINK_MESSAGE: usize = MAX_ENVELOPE;
const READ_CHUNK: usize = 64 * 1024;
const WRITE_BATCH: usize = 64;

fn io_error(what: &str, e: std::io::Error) -> ActrError {
    ActrError::Unavailable(format!("direct link {what}: {e}"))
}

/// A TCP stream with its WebSocket framing, before the pump tasks start.
pub(crate) struct WsStream<T> {
    tcp: T,
    ws: WsEndpoint,
    buf: Vec<u8>,
}

impl<T> std::fmt::Debug for WsStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsStream").field("ws", &self.ws).finish()
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> WsStream<T> {
    /// Completes the client handshake for `url` on `tcp`.
    pub async fn client(tcp: T, url: &str) -> Result<Self, ActrError> {
        let ws = WsEndpoint::client(url, MAX_LINK_MESSAGE)?;
        Self { tcp, ws, buf: vec![0; READ_CHUNK] }.handshake().await
    }

    /// Completes the server handshake on an accepted `tcp`, accepting
    /// messages of at most `max_message` bytes until [`WsStream::set_max_message`].
    pub async fn server(tcp: T, max_message: usize) -> Result<Self, ActrError> {
        let ws = WsEndpoint::server(max_message)?;
        Self { tcp, ws, buf: vec![0; READ_CHUNK] }.handshake().await
    }

    /// Changes the largest message accepted from now on.
    pub fn set_max_message(&mut self, max_message: usize) {
        self.ws.set_max_message(max_message);
    }

    async fn handshake(mut self) -> Result<Self, ActrError> {
        loop {
            self.flush().await?;
            if self.ws.is_open() {
                return Ok(self);
            }
            let n = self.tcp.read(&mut self.buf).await.map_err(|e| io_error("read", e))?;
            if n == 0 {
                return Err(ActrError::Unavailable("peer closed during the websocket handshake".into()));
            }
            self.ws.receive(&self.buf[..n])?;
        }
    }

    async fn flush(&mut self) -> Result<(), ActrError> {
        let out = self.ws.take_output();
        if !out.is_empty() {
            self.tcp.write_all(&out).await.map_err(|e| io_error("write", e))?;
        }
        Ok(())
    }

    /// Sends one message before the pump runs (the opening exchange).
    pub async fn send(&mut self, message: Vec<u8>) -> Result<(), ActrError> {
        self.ws.send(message)?;
        self.flush().await
    }

    /// Receives one message before the pump runs (the opening exchange).
    pub async fn recv(&mut self) -> Result<Vec<u8>, ActrError> {
        loop {
            if let Some(message) = self.ws.next_message()? {
                return Ok(message);
            }
            self.flush().await?;
            let n = self.tcp.read(&mut self.buf).await.map_err(|e| io_error("read", e))?;
            if n == 0 {
                self.ws.receive_eof();
            } else {
                self.ws.receive(&self.buf[..n])?;
            }
        }
    }

    /// Starts the closing handshake and lets go of the socket.
    pub async fn close(mut self) {
        self.ws.close();
        let _ = self.flush().await;
        let _ = self.tcp.close().await;
    }

    /// Pumps the link until it ends: writes what arrives on `frames` from a
    /// spawned writer, reports what is read to `events`, then reports `LinkDown`.
    pub async fn run<R: Runtime>(
        self,
        rt: &R,
        link: (ActrId, LinkId),
        frames: Receiver<Vec<u8>>,
        events: &Sender<LoopInput>,
    ) {
        let Self { tcp, ws, .. } = self;
        let ws = Arc::new(Mutex::new(ws));
        let (rd, wr) = tcp.split();
        let (kick_tx, kick_rx) = async_channel::bounded(1);
        let (writer_alive, writer_gone) = async_channel::bounded::<()>(1);
        rt.spawn(Box::pin(write_loop(rt.clone(), wr, ws.clone(), frames, kick_rx, writer_alive)));
        let error = read_loop(rd, &ws, &link, events, &kick_tx, &writer_gone).await;
        drop(kick_tx);
        let (peer, id) = link;
        let _ = events.send(LoopInput::LinkDown { peer, link: id, error }).await;
    }
}

/// Reads until the socket ends, fails, the writer has gone, or the loop is gone.
async fn read_loop<Rd: AsyncRead + Unpin>(
    mut rd: Rd,
    ws: &SharedWs,
    (peer, _): &(ActrId, LinkId),
    events: &Sender<LoopInput>,
    kick: &Sender<()>,
    writer_gone: &Receiver<()>,
) -> ActrError {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let (messages, ended) = take_messages(ws);
        for bytes in messages {
            let frame = LoopInput::Frame { peer: peer.clone(), bytes };
            if events.send(frame).await.is_err() {
                return ActrError::Unavailable("the node stopped".into());
            }
        }
        if lock(ws).has_output() {
            // Pongs and close replies; a full kick slot already means "write".
            let _ = kick.try_send(());
        }
        if let Some(error) = ended {
            return error;
        }
        let read = match select(pin!(rd.read(&mut buf)), pin!(writer_gone.recv())).await {
            Either::Left((read, _)) => read,
            Either::Right(_) => return ActrError::Unavailable("direct link closed".into()),
        };
        match read {
            Ok(0) => lock(ws).receive_eof(),
            Ok(n) => {
                if let Err(e) = lock(ws).receive(&buf[..n]) {
                    return e.into();
                }
            }
            Err(e) => return io_error("read", e),
        }
    }
}

/// Complete messages buffered so far, and why the socket ended if it did.
fn take_messages(ws: &SharedWs) -> (Vec<Vec<u8>>, Option<ActrError>) {
    let mut ws = lock(ws);
    let mut messages = Vec::new();
    loop {
        match ws.next_message() {
            Ok(Some(m)) => messages.push(m),
            Ok(None) => return (messages, None),
            Err(e) => return (messages, Some(e.into())),
        }
    }
}

/// Writes batches until the loop drops the frame sender, the socket fails,
/// or the reader ends.
async fn write_loop<R: Runtime, Wr: AsyncWrite + Unpin>(
    rt: R,
    mut wr: Wr,
    ws: SharedWs,
    frames: Receiver<Vec<u8>>,
    kick: Receiver<()>,
    _alive: Sender<()>,
) {
    loop {
        let (bytes, closing, reader_gone) = match select(pin!(frames.recv()), pin!(kick.recv())).await {
            Either::Left((Ok(first), _)) => (encode_batch(&ws, first, &frames), false, false),
            Either::Left((Err(_), _)) => (encode_close(&ws), true, false),
            Either::Right((kicked, _)) => (lock(&ws).take_output(), false, kicked.is_err()),
        };
        if !write_step(&rt, &mut wr, &kick, &bytes, closing, reader_gone).await {
            return;
        }
    }
}

/// Encodes `first` and whatever else is queued, up to one batch.
fn encode_batch(ws: &SharedWs, first: Vec<u8>, frames: &Receiver<Vec<u8>>) -> Vec<u8> {
    let mut ws = lock(ws);
    let mut next = Some(first);
    let mut count = 0;
    while let Some(bytes) = next.take() {
        if let Err(e) = ws.send(bytes) {
            tracing::debug!("direct frame not sent: {e}");
        }
        count += 1;
        if count < WRITE_BATCH {
            next = frames.try_recv().ok();
        }
    }
    ws.take_output()
}
