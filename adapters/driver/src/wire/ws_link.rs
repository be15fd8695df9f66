//! One direct WebSocket link over a TCP stream: the handshake and opening
//! exchange in the setting-up task, then a reader (that same task) and a
//! writer task.
//!
//! Writes do not wait for a task hop: the node task frames each message
//! ([`LinkWriter::send`]) and, once per burst of inputs, writes what it
//! framed to the socket itself, without blocking ([`LinkWriter::flush`]):
//! one write for all the messages of a burst. Only what the socket does not
//! take at once is left to the link's writer task, which finishes it when
//! the socket is writable. Every byte goes
//! through one buffer under one lock, so frames leave in the order the node
//! task sent them, whoever writes them.
//!
//! The node task owns the link's only wake sender; dropping it closes the
//! socket gracefully after the queued frames are written. The reader
//! reports every message as [`Input::LinkMessage`] (awaiting room in the
//! task's queue, which slows a fast peer down) and ends with exactly one
//! [`Input::LinkClosed`].

use std::collections::VecDeque;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use actr_core::ActrError;
use actr_core::node::LinkId;
use actr_core::node::hello::MAX_HELLO;
use async_channel::{Receiver, Sender};
use futures::future::{Either, poll_fn, select};
use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, WriteHalf};

use crate::runtime::{Runtime, Sleeper};
use crate::task::io::{Input, InputBudget};
use crate::wire::ws_codec::WsCodec;
use crate::wire::ws_pump::{Dropped, Holder, SharedWs, drop_signal, linger_for_reader, lock};

/// Messages a link may hold unwritten.
pub(crate) const LINK_QUEUE: usize = 256;
/// Bytes a link may hold unwritten before the link counts as stalled.
pub const MAX_LINK_QUEUE_BYTES: usize = 32 * 1024 * 1024;
/// Capacity a link's write buffer keeps once written out.
const RETAINED_BUFFER: usize = 64 * 1024;
/// Largest message on a link: one maximal RPC envelope.
const READ_CHUNK: usize = 64 * 1024;

fn io_error(what: &str, e: std::io::Error) -> ActrError {
    ActrError::Unavailable(format!("direct link {what}: {e}"))
}

/// The write side of one link, shared by the node task and the link's
/// writer task.
pub(crate) struct LinkWriter<W> {
    state: Mutex<WriterState<W>>,
}

struct WriterState<W> {
    /// Messages sent before the WebSocket opened; framed once it does.
    early: Vec<Vec<u8>>,
    early_bytes: usize,
    /// The socket's framing (shared with the reader) and its write half.
    open: Option<(SharedWs, W)>,
    /// Framed bytes the socket has not taken yet, from `written` on.
    out: Vec<u8>,
    written: usize,
    /// Where each framed message not yet written whole ends in `out`.
    ends: VecDeque<usize>,
    /// Set by the hub once the hello verified; applied when the socket opens.
    max_message: Option<usize>,
    /// A write failed: the link is over and the writer task ends.
    failed: bool,
    /// Messages were queued since the node task last flushed.
    unflushed: bool,
    /// The writer task is on the bytes: woken for them, or waiting for
    /// the socket to take them.
    writer_owns: bool,
}

impl<W> LinkWriter<W> {
    fn lock(&self) -> MutexGuard<'_, WriterState<W>> {
        // A panic while holding the lock leaves a buffer we can still write or drop.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<W> std::fmt::Debug for LinkWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("LinkWriter")
            .field("open", &s.open.is_some())
            .field("queued", &s.queued_bytes())
            .field("failed", &s.failed)
            .finish()
    }
}

impl<W> WriterState<W> {
    fn queued_bytes(&self) -> usize {
        self.early_bytes + self.out.len() - self.written
    }

    /// Moves whatever the codec has to send (frames, pongs, a close) into `out`.
    fn take_codec_output(&mut self) {
        let Some((ws, _)) = &self.open else { return };
        if self.written == self.out.len() {
            self.out.clear();
            self.written = 0;
            self.ends.clear();
        } else if self.written >= self.out.len() / 2 {
            // A socket that keeps taking part of the buffer never empties
            // it: drop the written half so `out` stays within what waits.
            let written = std::mem::take(&mut self.written);
            self.out.drain(..written);
            self.ends.iter_mut().for_each(|end| *end -= written);
        }
        lock(ws).append_output(&mut self.out);
    }
}

impl<W: AsyncWrite + Unpin> LinkWriter<W> {
    pub fn new() -> Self {
        let state = WriterState {
            early: Vec::new(),
            early_bytes: 0,
            open: None,
            out: Vec::new(),
            written: 0,
            ends: VecDeque::new(),
            max_message: None,
            failed: false,
            unflushed: false,
            writer_owns: false,
        };
        Self { state: Mutex::new(state) }
    }

    /// Queues `message`, framed once the socket is open; [`LinkWriter::flush`]
    /// writes it. Returns whether the link had nothing unflushed before. A
    /// full queue (in messages or bytes) is a peer that does not read.
    pub fn send(&self, message: Vec<u8>) -> Result<bool, ActrError> {
        let mut s = self.lock();
        if s.failed {
            return Err(ActrError::Unavailable("direct link closed".into()));
        }
        let queued = s.queued_bytes();
        if queued > 0 && queued + message.len() > MAX_LINK_QUEUE_BYTES {
            return Err(ActrError::ResourceExhausted(format!(
                "{queued} bytes wait on the link: the peer does not read"
            )));
        }
        if s.early.len() + s.ends.len() >= LINK_QUEUE {
            return Err(ActrError::ResourceExhausted("the link's send queue is full".into()));
        }
        let Some((ws, _)) = &s.open else {
            s.early_bytes += message.len();
            s.early.push(message);
            return Ok(false);
        };
        if let Err(e) = lock(ws).send(message) {
            tracing::debug!("direct frame not sent: {e}");
        }
        s.take_codec_output();
        let end = s.out.len();
        s.ends.push_back(end);
        Ok(!std::mem::replace(&mut s.unflushed, true))
    }

    /// Writes what is queued as far as the socket takes it now, without
    /// waiting. Returns whether the writer task must finish the job. While
    /// the writer task waits for the socket (with its own waker, which a
    /// poll here would replace), this leaves the bytes to it.
    pub fn flush(&self) -> bool {
        let mut s = self.lock();
        s.unflushed = false;
        if s.open.is_none() || s.writer_owns || s.written == s.out.len() {
            return false;
        }
        let mut cx = Context::from_waker(Waker::noop());
        let done = matches!(s.poll_write_out(&mut cx), Poll::Ready(Ok(())));
        s.writer_owns = !done;
        !done
    }

    /// Raises the largest message the peer may send, now or once the socket opens.
    pub fn set_max_message(&self, max_message: usize) {
        let mut s = self.lock();
        match &s.open {
            Some((ws, _)) => lock(ws).set_max_message(max_message),
            None => s.max_message = Some(max_message),
        }
    }

    /// The WebSocket is open: frames what was sent before.
    fn install(&self, ws: SharedWs, wr: W) {
        let mut s = self.lock();
        let early;
        {
            let mut codec = lock(&ws);
            if let Some(max) = s.max_message.take() {
                codec.set_max_message(max);
            }
            early = s.early.len();
            for message in std::mem::take(&mut s.early) {
                if let Err(e) = codec.send(message) {
                    tracing::debug!("direct frame not sent: {e}");
                }
            }
        }
        s.early_bytes = 0;
        s.open = Some((ws, wr));
        s.take_codec_output();
        // The early messages leave in one piece; each counts until it has.
        let (count, end) = (early, s.out.len());
        s.ends.extend(std::iter::repeat_n(end, count));
    }

    /// Writes everything queued (and what the codec has), then flushes.
    fn poll_out(&self, cx: &mut Context<'_>) -> Poll<Result<(), ()>> {
        let mut s = self.lock();
        s.take_codec_output();
        let polled = s.poll_write_out(cx);
        s.writer_owns = polled.is_pending();
        polled
    }

    /// Starts the closing handshake after what is queued.
    fn start_close(&self) {
        let s = self.lock();
        if let Some((ws, _)) = &s.open {
            lock(ws).close();
        }
    }

    fn poll_close(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = self.lock();
        match &mut s.open {
            Some((_, wr)) => Pin::new(wr).poll_close(cx).map(drop),
            None => Poll::Ready(()),
        }
    }
}

impl<W: AsyncWrite + Unpin> WriterState<W> {
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ()>> {
        let Self { open, out, written, failed, .. } = self;
        let Some((_, wr)) = open else { return Poll::Ready(Ok(())) };
        if *failed {
            return Poll::Ready(Err(()));
        }
        while *written < out.len() {
            match Pin::new(&mut *wr).poll_write(cx, &out[*written..]) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => {
                    *failed = true;
                    return Poll::Ready(Err(()));
                }
                Poll::Ready(Ok(n)) => {
                    *written += n;
                    while self.ends.front().is_some_and(|end| end <= written) {
                        self.ends.pop_front();
                    }
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        out.clear();
        if out.capacity() > RETAINED_BUFFER {
            // After a burst of large messages, give the memory back.
            *out = Vec::new();
        }
        *written = 0;
        self.ends.clear();
        // A plain TCP stream flushes at once; anything else may hold bytes.
        match Pin::new(wr).poll_flush(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Ready(Err(_)) => {
                self.failed = true;
                Poll::Ready(Err(()))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The node task's end of one link: its writer, the writer task's wake,
/// and the holder whose drop closes the link.
#[derive(Debug)]
pub(crate) struct LinkEnd<W> {
    pub writer: Arc<LinkWriter<W>>,
    wake: Sender<()>,
    _holder: Holder,
}

/// The link task's side of a [`LinkEnd`].
pub(crate) struct LinkWake {
    /// Bytes are left for the writer task.
    pub kicks: Receiver<()>,
    /// The node task dropped the link.
    pub dropped: Dropped,
}

impl<W: AsyncWrite + Unpin> LinkEnd<W> {
    pub fn new() -> (Self, LinkWake) {
        let (wake, kicks) = async_channel::bounded(1);
        let (holder, dropped) = drop_signal();
        (Self { writer: Arc::new(LinkWriter::new()), wake, _holder: holder }, LinkWake { kicks, dropped })
    }

    /// The hello verified: larger messages may come.
    pub fn set_max_message(&self, max_message: usize) {
        self.writer.set_max_message(max_message);
    }

    /// Queues `message`; `Ok(true)` if the link needs a [`LinkEnd::flush`]
    /// it was not yet due.
    pub fn send(&self, message: Vec<u8>) -> Result<bool, ActrError> {
        self.writer.send(message)
    }

    /// Writes what is queued; what the socket does not take at once goes to
    /// the writer task.
    pub fn flush(&self) {
        if self.writer.flush() {
            // Full means a wake is already pending.
            let _ = self.wake.try_send(());
        }
    }
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
    /// messages of at most `max_message` bytes until [`LinkWriter::set_max_message`].
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

    /// Pumps the link until it ends: installs the write half in `writer`
    /// (the node task writes through it), spawns the writer task that
    /// finishes what the socket did not take, reports what is read to
    /// `events` as `LinkMessage`, then one `LinkClosed`. Dropping the sender
    /// of `wake` closes the link.
    pub async fn run<R: Runtime>(
        self,
        rt: &R,
        link: LinkId,
        writer: Arc<LinkWriter<WriteHalf<T>>>,
        wake: LinkWake,
        (events, budget): (&Sender<Input<R>>, &InputBudget),
    ) {
        let Self { tcp, ws, .. } = self;
        let ws = Arc::new(Mutex::new(ws));
        let (rd, wr) = tcp.split();
        writer.install(ws.clone(), wr);
        let (kick_tx, kick_rx) = async_channel::bounded(1);
        let (writer_alive, writer_gone) = async_channel::bounded::<()>(1);
        rt.spawn(Box::pin(write_loop(rt.clone(), writer, wake, kick_rx, writer_alive)));
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

/// Finishes what the node task could not write at once, and writes the
/// reader's control frames, until the node task drops the link (then closes
/// gracefully), a write fails, or the reader ends.
///
/// A socket the peer does not read holds the writer only until the node
/// task drops the link (its write and idle deadlines do) and then
/// [`crate::wire::ws_pump::CLOSE_LINGER`]: the writer ends, so does the
/// reader, and the socket and its buffer are freed.
async fn write_loop<Wr: AsyncWrite + Unpin>(
    timer: impl Sleeper,
    writer: Arc<LinkWriter<Wr>>,
    wake: LinkWake,
    kick: Receiver<()>,
    _alive: Sender<()>,
) {
    // The first pass writes the messages sent before the socket opened.
    let mut closing = false;
    let mut reader_gone = false;
    loop {
        if closing {
            writer.start_close();
        }
        let flushed = poll_fn(|cx| writer.poll_out(cx));
        match select(pin!(flushed), pin!(wake.dropped.then_linger(&timer))).await {
            Either::Left((Ok(()), _)) => {}
            Either::Left((Err(()), _)) | Either::Right(_) => return,
        }
        if reader_gone {
            return;
        }
        if closing {
            poll_fn(|cx| writer.poll_close(cx)).await;
            linger_for_reader(&kick, &timer).await;
            return;
        }
        match select(pin!(wake.kicks.recv()), pin!(kick.recv())).await {
            Either::Left((Ok(()), _)) => {}
            Either::Left((Err(_), _)) => closing = true,
            Either::Right((kicked, _)) => reader_gone = kicked.is_err(),
        }
    }
}

#[cfg(test)]
mod tests;
