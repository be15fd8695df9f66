//! One signaling WebSocket: TCP connect, the TLS handshake for `wss://`
//! (see [`crate::wire::tls_stream`]), the WebSocket handshake, then a
//! reader and a writer task pumping frames between the socket and the node
//! task. All of the setup is bounded by the signaling client's connect
//! deadline.
//!
//! The node task owns the outbound queue's only sender; dropping it (or sending
//! [`SocketCmd::Close`]) closes the socket gracefully. Every outcome is
//! reported to the loop tagged with the connection's id, ending with exactly
//! one `ConnectFailed` or `Closed`.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::pin;
use std::sync::{Arc, Mutex};

use actr_core::signaling::ConnId;
use actr_core::signaling::messages::MAX_SIGNALING_FRAME;
use async_channel::{Receiver, Sender};
use futures::future::{Either, select};
use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use rustls::ClientConfig;

use crate::runtime::{Runtime, run_blocking};
use crate::task::io::{ConnReport, Input, InputBudget};
use crate::wire::server_address::ServerAddress;
use crate::wire::tls_stream::{ServerStream, TlsStream};
use crate::wire::ws_codec::WsCodec;
use crate::wire::ws_pump::{Dropped, Holder, SharedWs, drop_signal, encode_close, lock, write_step};

/// Frames queued for one socket. Sized above the core's pending-request
/// bound, so a full queue means the socket is stalled.
pub(crate) const SOCKET_QUEUE: usize = 1024;
/// Most messages encoded into one flush.
const WRITE_BATCH: usize = 256;
const READ_CHUNK: usize = 64 * 1024;
/// Most resolved addresses tried for one connection.
const MAX_ADDRESSES: usize = 4;

/// What the node task asks of a socket.
#[derive(Debug)]
pub(crate) enum SocketCmd {
    Frame(Vec<u8>),
    Close,
}

/// The node task's end of one signaling socket: its command queue, and the
/// holder whose drop tells a writer stuck on a server that does not read to
/// give up ([`Dropped::then_linger`]).
#[derive(Debug)]
pub(crate) struct SocketQueue {
    tx: Sender<SocketCmd>,
    _holder: Holder,
}

impl SocketQueue {
    /// The queue, and the socket task's ends of it: commands, and the
    /// signal that the queue was dropped.
    pub fn new() -> (Self, Receiver<SocketCmd>, Dropped) {
        let (tx, outbound) = async_channel::bounded(SOCKET_QUEUE);
        let (holder, dropped) = drop_signal();
        (Self { tx, _holder: holder }, outbound, dropped)
    }

    pub fn try_send(&self, cmd: SocketCmd) -> Result<(), async_channel::TrySendError<SocketCmd>> {
        self.tx.try_send(cmd)
    }
}

/// Everything one connection attempt needs.
#[derive(Debug)]
pub(crate) struct ConnectionTask<R: Runtime> {
    pub rt: R,
    pub conn: ConnId,
    pub server: Arc<ServerAddress>,
    /// The TLS settings, when the server is `https`.
    pub tls: Option<Arc<ClientConfig>>,
    pub report: Sender<Input<R>>,
    /// Bounds the bytes of frames waiting in the node task's input queue.
    pub budget: InputBudget,
    pub outbound: Receiver<SocketCmd>,
    /// Ends when the node task drops the socket's queue.
    pub dropped: Dropped,
}

impl<R: Runtime> ConnectionTask<R> {
    pub fn spawn(self) {
        let rt = self.rt.clone();
        rt.spawn(Box::pin(self.run()));
    }

    async fn run(self) {
        let Self { rt, conn, server, tls, report, budget, outbound, dropped } = self;
        // The deadline is the signaling client's (a core timer): when it
        // passes, the node task drops this socket's queue and the attempt ends.
        let established = match select(pin!(establish(&rt, &server, tls)), pin!(outbound.recv())).await {
            Either::Left((established, _)) => established,
            Either::Right(_) => return, // given up: the client already counts it failed
        };
        let (tcp, ws) = match established {
            Ok(pair) => pair,
            Err(why) => return send_report(&report, conn, ConnReport::ConnectFailed(why)).await,
        };
        if report.send(Input::Conn(conn, ConnReport::Connected)).await.is_err() {
            return; // the loop is gone
        }
        let ws = Arc::new(Mutex::new(ws));
        let (rd, wr) = tcp.split();
        let (kick_tx, kick_rx) = async_channel::bounded(1);
        let (writer_alive, writer_gone) = async_channel::bounded::<()>(1);
        let writer = write_loop(rt.clone(), wr, ws.clone(), (outbound, dropped), kick_rx, writer_alive);
        rt.spawn(Box::pin(writer));
        read_loop(rd, &ws, conn, (&report, &budget), &kick_tx, &writer_gone).await;
        drop(kick_tx);
        send_report(&report, conn, ConnReport::Closed).await;
    }
}

async fn send_report<R: Runtime>(report: &Sender<Input<R>>, conn: ConnId, what: ConnReport) {
    // An error means the loop has ended and no longer cares.
    let _ = report.send(Input::Conn(conn, what)).await;
}

/// Resolves, connects and completes the TLS (for `https`) and WebSocket handshakes.
async fn establish<R: Runtime>(
    rt: &R,
    server: &ServerAddress,
    tls: Option<Arc<ClientConfig>>,
) -> Result<(ServerStream<R::Tcp>, WsCodec), String> {
    let tcp = connect_any(rt, &server.authority).await?;
    let mut tcp = match (&server.tls_host, tls) {
        (None, _) => ServerStream::Plain(tcp),
        (Some(host), Some(config)) => {
            ServerStream::Tls(Box::new(TlsStream::connect(config, host, tcp).await.map_err(|e| e.to_string())?))
        }
        (Some(host), None) => return Err(format!("no TLS settings for {host}")),
    };
    let mut ws = WsCodec::client(&server.ws_url, MAX_SIGNALING_FRAME).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let out = ws.take_output();
        if !out.is_empty() {
            tcp.write_all(&out).await.map_err(|e| format!("write: {e}"))?;
            tcp.flush().await.map_err(|e| format!("write: {e}"))?;
        }
        if ws.is_open() {
            return Ok((tcp, ws));
        }
        let n = tcp.read(&mut buf).await.map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("server closed during the websocket handshake".into());
        }
        ws.receive(&buf[..n]).map_err(|e| e.to_string())?;
    }
}

async fn connect_any<R: Runtime>(rt: &R, authority: &str) -> Result<R::Tcp, String> {
    let addrs = resolve(rt, authority).await?;
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{authority} resolved to no address"));
    for addr in addrs {
        match rt.connect_tcp(addr).await {
            Ok(tcp) => return Ok(tcp),
            Err(e) => last = e,
        }
    }
    Err(format!("connect {authority}: {last}"))
}

async fn resolve<R: Runtime>(rt: &R, authority: &str) -> Result<Vec<SocketAddr>, String> {
    if let Ok(addr) = authority.parse::<SocketAddr>() {
        return Ok(vec![addr]);
    }
    let owned = authority.to_owned();
    let lookup = move || owned.to_socket_addrs().map(|found| found.take(MAX_ADDRESSES).collect::<Vec<_>>());
    match run_blocking(rt, lookup).await {
        Ok(Ok(addrs)) => Ok(addrs),
        Ok(Err(e)) => Err(format!("resolve {authority}: {e}")),
        Err(e) => Err(format!("resolve {authority}: {e}")),
    }
}

/// Reads until the socket ends, fails, or the writer has gone.
async fn read_loop<R: Runtime, Rd: AsyncRead + Unpin>(
    mut rd: Rd,
    ws: &SharedWs,
    conn: ConnId,
    (report, budget): (&Sender<Input<R>>, &InputBudget),
    kick: &Sender<()>,
    writer_gone: &Receiver<()>,
) {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        // Frames left over from the handshake, or from the previous read.
        let (frames, ended) = take_frames(ws);
        for frame in frames {
            // Given back by the node task once the hub has the frame.
            budget.take(frame.len()).await;
            if report.send(Input::Conn(conn, ConnReport::Frame(frame))).await.is_err() {
                return;
            }
        }
        if lock(ws).has_output() {
            // Pongs and close replies; a full kick slot already means "write".
            let _ = kick.try_send(());
        }
        if ended {
            return;
        }
        let read = match select(pin!(rd.read(&mut buf)), pin!(writer_gone.recv())).await {
            Either::Left((read, _)) => read,
            Either::Right(_) => return,
        };
        match read {
            Ok(0) => lock(ws).receive_eof(),
            Ok(n) => {
                if let Err(e) = lock(ws).receive(&buf[..n]) {
                    tracing::debug!(conn, "signaling socket: {e}");
                    return;
                }
            }
            Err(e) => {
                tracing::debug!(conn, "signaling socket read: {e}");
                return;
            }
        }
    }
}

/// Complete messages buffered so far, and whether the socket has ended.
fn take_frames(ws: &SharedWs) -> (Vec<Vec<u8>>, bool) {
    let mut ws = lock(ws);
    let mut frames = Vec::new();
    loop {
        match ws.next_message() {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => return (frames, false),
            Err(e) => {
                tracing::debug!("signaling socket ended: {e}");
                return (frames, true);
            }
        }
    }
}

enum WriterWake {
    Cmd(Option<SocketCmd>),
    Kick(bool),
}

/// Writes batches until told to close, the socket fails, or the reader ends.
async fn write_loop<R: Runtime, Wr: AsyncWrite + Unpin>(
    rt: R,
    mut wr: Wr,
    ws: SharedWs,
    (outbound, dropped): (Receiver<SocketCmd>, Dropped),
    kick: Receiver<()>,
    _alive: Sender<()>,
) {
    loop {
        let wake = match select(pin!(outbound.recv()), pin!(kick.recv())).await {
            Either::Left((next, _)) => WriterWake::Cmd(next.ok()),
            Either::Right((kicked, _)) => WriterWake::Kick(kicked.is_ok()),
        };
        let (bytes, closing, reader_gone) = match wake {
            WriterWake::Cmd(Some(first)) => {
                let (bytes, closing) = encode_batch(&ws, first, &outbound);
                (bytes, closing, false)
            }
            WriterWake::Cmd(None) => (encode_close(&ws), true, false),
            WriterWake::Kick(alive) => (lock(&ws).take_output(), false, !alive),
        };
        if !write_step(&rt, &mut wr, (&kick, &dropped), &bytes, closing, reader_gone).await {
            return;
        }
    }
}

/// Encodes `first` and whatever else is queued, up to one batch.
fn encode_batch(ws: &SharedWs, first: SocketCmd, outbound: &Receiver<SocketCmd>) -> (Vec<u8>, bool) {
    let mut ws = lock(ws);
    let mut next = Some(first);
    let mut count = 0;
    while let Some(item) = next.take() {
        match item {
            SocketCmd::Frame(bytes) => {
                if let Err(e) = ws.send(bytes) {
                    tracing::debug!("signaling frame not sent: {e}");
                }
            }
            SocketCmd::Close => {
                ws.close();
                return (ws.take_output(), true);
            }
        }
        count += 1;
        if count < WRITE_BATCH {
            next = outbound.try_recv().ok();
        }
    }
    (ws.take_output(), false)
}
