//! One direct WebSocket link over a TCP stream: the handshake and opening
//! exchange in the setting-up task, then a reader (that same task) and a
//! writer task pumping messages between the socket and the node task.
//!
//! The node task owns the link's only command sender ([`LinkCmd`]);
//! dropping it closes the socket gracefully after the queued frames are
//! written. The reader reports every message as [`Input::LinkMessage`]
//! (awaiting room in the task's queue, which slows a fast peer down) and
//! ends with exactly one [`Input::LinkClosed`].

use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actr_core::ActrError;
use actr_core::node::hello::MAX_HELLO;
use async_channel::{Receiver, Sender};
use futures::future::{Either, select};
use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use actr_core::node::LinkId;

use crate::runtime::Runtime;
use crate::task::io::{Input, InputBudget};
use crate::wire::ws_codec::WsCodec;
use crate::wire::ws_pump::{SharedWs, encode_close, lock, write_step};

/// What the node task asks of a link's writer.
#[derive(Debug)]
pub(crate) enum LinkCmd {
    Send(Vec<u8>),
    /// The hello verified: larger messages may come.
    SetMaxMessage(usize),
}

/// Bytes queued on one link's writer and not yet written.
pub(crate) type QueuedBytes = Arc<AtomicUsize>;

pub(crate) fn release(queued: &QueuedBytes, n: usize) {
    queued.fetch_sub(n, Ordering::Relaxed);
}

/// Frames queued for one link's writer.
pub(crate) const LINK_QUEUE: usize = 256;
/// Largest message on a link: one maximal RPC envelope.
const READ_CHUNK: usize = 64 * 1024;
const WRITE_BATCH: usize = 64;

fn io_error(what: &str, e: std::io::Error) -> ActrError {
    ActrError::Unavailable(format!("direct link {what}: {e}"))
}

/// A TCP stream with its WebSocket framing, before the pump tasks start.
pub(crate) struct WsStream<T> {
    tcp: T,
    ws: WsCodec,
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
        // Until the welcome, the listener may send no more than a hello's worth.
        let ws = WsCodec::client(url, MAX_HELLO)?;
        Self { tcp, ws, buf: vec![0; READ_CHUNK] }.handshake().await
    }

    /// Completes the server handshake on an accepted `tcp`, accepting
    /// messages of at most `max_message` bytes until [`WsStream::set_max_message`].
    pub async fn server(tcp: T, max_message: usize) -> Result<Self, ActrError> {
        let ws = WsCodec::server(max_message)?;
        Self { tcp, ws, buf: vec![0; READ_CHUNK] }.handshake().await
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
            self.tcp.flush().await.map_err(|e| io_error("write", e))?;
        }
        Ok(())
    }

    /// Starts the closing handshake and lets go of the socket.
    pub async fn close(mut self) {
        self.ws.close();
        let _ = self.flush().await;
        let _ = self.tcp.close().await;
    }

    /// Pumps the link until it ends: writes what arrives on `frames` from a
    /// spawned writer, reports what is read to `events`, then reports `LinkDown`.
    /// Pumps messages both ways until either side ends: `cmds` to the
    /// socket, received messages to the node task as `LinkMessage`, ending
    /// with one `LinkClosed`. Dropping the sender of `cmds` closes the link.
    pub async fn run<R: Runtime>(
        self,
        rt: &R,
        link: LinkId,
        cmds: Receiver<LinkCmd>,
        queued: QueuedBytes,
        (events, budget): (&Sender<Input<R>>, &InputBudget),
    ) {
        let Self { tcp, ws, .. } = self;
        let ws = Arc::new(Mutex::new(ws));
        let (rd, wr) = tcp.split();
        let (kick_tx, kick_rx) = async_channel::bounded(1);
        let (writer_alive, writer_gone) = async_channel::bounded::<()>(1);
        rt.spawn(Box::pin(write_loop(rt.clone(), wr, ws.clone(), cmds, queued, kick_rx, writer_alive)));
        let error = read_loop(rd, &ws, link, (events, budget), &kick_tx, &writer_gone).await;
        drop(kick_tx);
        let _ = events.send(Input::LinkClosed(link, error)).await;
    }
}

/// Reads until the socket ends, fails, or the writer has gone; returns why.
async fn read_loop<R: Runtime, Rd: AsyncRead + Unpin>(
    mut rd: Rd,
    ws: &SharedWs,
    link: LinkId,
    (events, budget): (&Sender<Input<R>>, &InputBudget),
    kick: &Sender<()>,
    writer_gone: &Receiver<()>,
) -> ActrError {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let (messages, ended) = take_messages(ws);
        for bytes in messages {
            budget.take(bytes.len()).await;
            if events.send(Input::LinkMessage(link, bytes)).await.is_err() {
                return ActrError::Unavailable("the node stopped".into());
            }
        }
        if lock(ws).has_output() {
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
    cmds: Receiver<LinkCmd>,
    queued: QueuedBytes,
    kick: Receiver<()>,
    _alive: Sender<()>,
) {
    loop {
        let (bytes, closing, reader_gone) = match select(pin!(cmds.recv()), pin!(kick.recv())).await {
            Either::Left((Ok(first), _)) => (encode_batch(&ws, first, &cmds, &queued), false, false),
            Either::Left((Err(_), _)) => (encode_close(&ws), true, false),
            Either::Right((kicked, _)) => (lock(&ws).take_output(), false, kicked.is_err()),
        };
        if !write_step(&rt, &mut wr, &kick, &bytes, closing, reader_gone).await {
            return;
        }
    }
}

/// Encodes `first` and whatever else is queued, up to one batch.
fn encode_batch(ws: &SharedWs, first: LinkCmd, cmds: &Receiver<LinkCmd>, queued: &QueuedBytes) -> Vec<u8> {
    let mut ws = lock(ws);
    let mut next = Some(first);
    let mut count = 0;
    while let Some(cmd) = next.take() {
        match cmd {
            LinkCmd::Send(bytes) => {
                release(queued, bytes.len());
                if let Err(e) = ws.send(bytes) {
                    tracing::debug!("direct frame not sent: {e}");
                }
            }
            LinkCmd::SetMaxMessage(max) => ws.set_max_message(max),
        }
        count += 1;
        if count < WRITE_BATCH {
            next = cmds.try_recv().ok();
        }
    }
    ws.take_output()
}
