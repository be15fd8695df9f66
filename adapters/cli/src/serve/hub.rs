//! The signaling hub: the shared [`SignalingServer`], the table of live
//! sockets, and step 3 of the core's drive loop.
//!
//! After every input (connect, frame, timeout, disconnect) the hub drains
//! [`SignalingServer::poll_close`] and [`SignalingServer::poll_wakeup`] while
//! it holds the server lock, then, with the lock released, tells each socket's
//! writer: a wakeup means "pop your queue", a close means "flush your queue,
//! send a Close frame and end". The socket's task calls
//! [`SignalingServer::handle_disconnect`] when it ends, through [`ConnGuard`].
//!
//! Locking: neither mutex is ever held across an `.await`. The only nesting is
//! peer table, then server (in [`SignalingHub::admit`]), so there is no cycle.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use actr_core::ActrError;
use actr_core::signaling::server::ServerConnId;
use actr_core::signaling::{CloseReason, ServerStats, SignalingServer};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::link::{CloseNote, PeerLink};
use super::{clock, lock};

/// Counters of the signaling endpoint, for operators and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignalingStats {
    /// The core server's own counters.
    pub server: ServerStats,
    /// Sockets admitted and not yet released.
    pub open_sockets: usize,
    /// Text messages received and ignored (the protocol is binary).
    pub text_frames_ignored: u64,
    /// Sockets closed for sending a message over the size limit.
    pub oversized_messages: u64,
}

/// Why a socket could not join the signaling server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum AdmitError {
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error("{0}")]
    Refused(ActrError),
}

#[derive(Debug, Default)]
struct PeerTable {
    links: HashMap<ServerConnId, Arc<PeerLink>>,
    /// Set at shutdown: no socket is admitted after it.
    closed: bool,
}

/// What one input left for the sockets.
#[derive(Debug, Default)]
struct Drained {
    closes: Vec<(ServerConnId, CloseReason)>,
    wakeups: Vec<ServerConnId>,
}

fn drain(server: &mut SignalingServer) -> Drained {
    let mut out = Drained::default();
    while let Some(close) = server.poll_close() {
        out.closes.push(close);
    }
    while let Some(id) = server.poll_wakeup() {
        out.wakeups.push(id);
    }
    out
}

/// The signaling server shared by every socket task and the timer task.
#[derive(Debug)]
pub(crate) struct SignalingHub {
    server: Mutex<SignalingServer>,
    peers: Mutex<PeerTable>,
    next_conn: AtomicU64,
    /// Re-arms the timer task when a deadline may have moved earlier.
    timer_wake: Notify,
    /// Number of sockets in the peer table, for waiting until all are gone.
    live: watch::Sender<usize>,
    text_frames: AtomicU64,
    oversized: AtomicU64,
}

impl SignalingHub {
    pub(crate) fn new(server: SignalingServer) -> Arc<SignalingHub> {
        Arc::new(SignalingHub {
            server: Mutex::new(server),
            peers: Mutex::new(PeerTable::default()),
            next_conn: AtomicU64::new(1),
            timer_wake: Notify::new(),
            live: watch::Sender::new(0),
            text_frames: AtomicU64::new(0),
            oversized: AtomicU64::new(0),
        })
    }

    /// Step 1: a new socket. The guard releases it (step 2's disconnect) when dropped.
    pub(crate) fn admit(self: &Arc<Self>) -> Result<ConnGuard, AdmitError> {
        let mut table = lock(&self.peers);
        if table.closed {
            return Err(AdmitError::ShuttingDown);
        }
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let drained = {
            let mut server = lock(&self.server);
            server.handle_connect(clock::now(), id).map_err(AdmitError::Refused)?;
            drain(&mut server)
        };
        let link = Arc::new(PeerLink::default());
        table.links.insert(id, Arc::clone(&link));
        self.live.send_replace(table.links.len());
        drop(table);
        // The new socket's hello deadline may be the earliest one.
        self.timer_wake.notify_one();
        self.dispatch(drained);
        Ok(ConnGuard { hub: Arc::clone(self), id, link })
    }

    /// Step 2: one binary message from socket `id`.
    pub(crate) fn input(&self, id: ServerConnId, bytes: &[u8]) {
        let drained = {
            let mut server = lock(&self.server);
            server.handle_frame(clock::now(), clock::unix_now(), id, bytes);
            drain(&mut server)
        };
        self.dispatch(drained);
    }

    /// Moves up to `max` queued messages for `id` into `out`.
    pub(crate) fn pop_batch(&self, id: ServerConnId, out: &mut Vec<Vec<u8>>, max: usize) {
        let mut server = lock(&self.server);
        while out.len() < max {
            match server.pop_outbound(id) {
                Some(bytes) => out.push(bytes),
                None => break,
            }
        }
    }

    /// The socket is gone: tell the server, then forget its link.
    fn release(&self, id: ServerConnId) {
        let drained = {
            let mut server = lock(&self.server);
            server.handle_disconnect(clock::now(), id);
            drain(&mut server)
        };
        {
            let mut table = lock(&self.peers);
            table.links.remove(&id);
            self.live.send_replace(table.links.len());
        }
        self.dispatch(drained);
    }

    /// Step 3's second half: tell writers to close or to pop.
    fn dispatch(&self, drained: Drained) {
        if drained.closes.is_empty() && drained.wakeups.is_empty() {
            return;
        }
        let table = lock(&self.peers);
        for (id, reason) in drained.closes {
            tracing::debug!(conn = id, ?reason, "closing signaling socket");
            if let Some(link) = table.links.get(&id) {
                link.request_close(CloseNote::from_reason(&reason));
            }
        }
        for id in drained.wakeups {
            if let Some(link) = table.links.get(&id) {
                link.wake();
            }
        }
    }

    /// Step 4: calls `handle_timeout` at every `poll_timeout` until `stop`.
    pub(crate) async fn run_timer(self: Arc<Self>, stop: CancellationToken) {
        loop {
            let deadline = lock(&self.server).poll_timeout();
            let at = deadline.map_or_else(clock::far_future, clock::to_tokio);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.timer_wake.notified() => {}
                _ = tokio::time::sleep_until(at) => self.fire_timeout(),
            }
        }
    }

    fn fire_timeout(&self) {
        let drained = {
            let mut server = lock(&self.server);
            server.handle_timeout(clock::now());
            drain(&mut server)
        };
        self.dispatch(drained);
    }

    /// Refuses new sockets and asks every open one to close.
    pub(crate) fn close_all(&self) {
        let mut table = lock(&self.peers);
        table.closed = true;
        for link in table.links.values() {
            link.request_close(CloseNote::going_away());
        }
    }

    /// Resolves once every admitted socket has been released.
    pub(crate) async fn wait_idle(&self) {
        let mut live = self.live.subscribe();
        // The sender lives in `self`, so this only ends when the count is zero.
        let _ = live.wait_for(|n| *n == 0).await;
    }

    pub(crate) fn note_text_frame(&self) {
        self.text_frames.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn note_oversized(&self) {
        self.oversized.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self) -> SignalingStats {
        SignalingStats {
            server: lock(&self.server).stats(),
            open_sockets: *self.live.borrow(),
            text_frames_ignored: self.text_frames.load(Ordering::Relaxed),
            oversized_messages: self.oversized.load(Ordering::Relaxed),
        }
    }
}

/// One admitted socket. Dropping it reports the disconnect to the server,
/// whether the socket ran, failed to upgrade, or was cancelled at shutdown.
#[derive(Debug)]
pub(crate) struct ConnGuard {
    hub: Arc<SignalingHub>,
    id: ServerConnId,
    link: Arc<PeerLink>,
}

impl ConnGuard {
    pub(crate) fn id(&self) -> ServerConnId {
        self.id
    }

    pub(crate) fn hub(&self) -> &Arc<SignalingHub> {
        &self.hub
    }

    pub(crate) fn link(&self) -> &Arc<PeerLink> {
        &self.link
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.hub.release(self.id);
    }
}
