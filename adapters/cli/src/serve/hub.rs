//! The server hub of `actr serve`: actr-core's [`ServerHub`] (the AIS and
//! the signaling server) behind one mutex, the table of live sockets, and
//! the carrying out of the hub's outputs.
//!
//! After every input (connect, frame, timeout, disconnect, AIS call) the
//! shared hub drains [`ServerHub::poll_output`] while it holds the lock,
//! then, with the lock released, tells each socket's writer: a
//! [`ServerOutput::Wake`] means "pop your queue", a [`ServerOutput::Close`]
//! means "flush your queue, send a Close frame and end". The socket's task
//! reports the disconnect when it ends, through [`ConnGuard`]. Every rule
//! (the order, what a close flushes, timeouts, the serial to persist) is the
//! core hub's; this file only moves its outputs to tasks.
//!
//! Locking: no mutex is ever held across an `.await`. The nesting is peer
//! table, then server hub (in [`SharedHub::admit`]); and the registry store,
//! then server hub, then peer table (an AIS call). Nothing takes the store
//! or the peer table while holding the server hub, so there is no cycle.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use actr_core::ais::{AisRequest, PackageDirectory};
use actr_core::server::{AisAnswer, ServerHub, ServerOutput};
use actr_core::signaling::ServerStats;
use actr_core::signaling::server::ServerConnId;
use actr_core::{ActrError, UnixSecs};
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

/// Everything one input left for the sockets, in the hub's order.
fn drain(hub: &mut ServerHub) -> Vec<ServerOutput> {
    std::iter::from_fn(|| hub.poll_output()).collect()
}

/// The server hub shared by every socket task, the AIS handlers and the
/// timer task.
#[derive(Debug)]
pub(crate) struct SharedHub {
    server: Mutex<ServerHub>,
    peers: Mutex<PeerTable>,
    next_conn: AtomicU64,
    /// Re-arms the timer task when a deadline may have moved earlier.
    timer_wake: Notify,
    /// Number of sockets in the peer table, for waiting until all are gone.
    live: watch::Sender<usize>,
    text_frames: AtomicU64,
    oversized: AtomicU64,
}

impl SharedHub {
    pub(crate) fn new(server: ServerHub) -> Arc<SharedHub> {
        Arc::new(SharedHub {
            server: Mutex::new(server),
            peers: Mutex::new(PeerTable::default()),
            next_conn: AtomicU64::new(1),
            timer_wake: Notify::new(),
            live: watch::Sender::new(0),
            text_frames: AtomicU64::new(0),
            oversized: AtomicU64::new(0),
        })
    }

    /// A new socket. The guard reports its disconnect when dropped.
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

    /// One binary message from socket `id`.
    pub(crate) fn input(&self, id: ServerConnId, bytes: &[u8]) {
        let drained = {
            let mut server = lock(&self.server);
            server.handle_frame(clock::now(), clock::unix_now(), id, bytes);
            drain(&mut server)
        };
        self.dispatch(drained);
    }

    /// One AIS call at wall-clock `unix`; the caller persists what the
    /// answer asks before replying.
    pub(crate) fn handle_ais(
        &self,
        unix: UnixSecs,
        request: AisRequest,
        directory: &mut dyn PackageDirectory,
    ) -> AisAnswer {
        let (answer, drained) = {
            let mut server = lock(&self.server);
            let answer = server.handle_ais(unix, request, directory);
            (answer, drain(&mut server))
        };
        self.dispatch(drained);
        answer
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

    /// Tells writers to close or to pop; the server hub is not locked here.
    fn dispatch(&self, drained: Vec<ServerOutput>) {
        if drained.is_empty() {
            return;
        }
        let table = lock(&self.peers);
        for output in drained {
            match output {
                ServerOutput::Close(id, reason) => {
                    tracing::debug!(conn = id, ?reason, "closing signaling socket");
                    if let Some(link) = table.links.get(&id) {
                        link.request_close(CloseNote::from_reason(&reason));
                    }
                }
                ServerOutput::Wake(id) => {
                    if let Some(link) = table.links.get(&id) {
                        link.wake();
                    }
                }
            }
        }
    }

    /// Calls `handle_timeout` at every `poll_timeout` until `stop`.
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
    hub: Arc<SharedHub>,
    id: ServerConnId,
    link: Arc<PeerLink>,
}

impl ConnGuard {
    pub(crate) fn id(&self) -> ServerConnId {
        self.id
    }

    pub(crate) fn hub(&self) -> &Arc<SharedHub> {
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
