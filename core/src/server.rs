//! The server hub: the identity service (AIS) and the signaling server as
//! one sans-IO value. `actr serve` runs it over real sockets and the
//! simulator drives it over its virtual network; both follow the loop below
//! and keep every decision in here.
//!
//! # Drive loop
//!
//! 1. Build the [`AisService`] from what the host persisted (signing seed,
//!    key id, next serial, realms), then [`ServerHub::new`]: the signaling
//!    server trusts that service's signing key.
//! 2. Feed one input with the current `now` (and wall-clock `unix` where
//!    credentials are checked):
//!    - [`ServerHub::handle_connect`] for a new socket; if it refuses, close
//!      the socket without a word;
//!    - [`ServerHub::handle_frame`] for each binary message;
//!    - [`ServerHub::handle_disconnect`] once a socket is gone, whoever ended
//!      it (a second report, or one for an unknown socket, is ignored);
//!    - [`ServerHub::handle_timeout`] when [`ServerHub::poll_timeout`] is due.
//! 3. Drain [`ServerHub::poll_output`] until it returns `None`. Closes come
//!    before wakeups:
//!    - [`ServerOutput::Close`]: take what is left in that connection's queue
//!      with [`ServerHub::pop_outbound`] until `None` and send it (a refusal's
//!      error tells the client why), then close the socket, then report
//!      step 2's disconnect. No [`ServerOutput::Wake`] follows for it.
//!    - [`ServerOutput::Wake`]: the connection's queue has bytes; its writer
//!      takes them with [`ServerHub::pop_outbound`] as fast as its socket
//!      allows. The queue is the core's, bounded in messages and bytes, so a
//!      slow reader fills its own queue, never the server's memory.
//! 4. An AIS HTTP call is [`ServerHub::handle_ais`]. Its [`AisAnswer`] says
//!    whether the serial high-water mark must be made durable before the
//!    reply may leave the process.
//! 5. Sleep until [`ServerHub::poll_timeout`] or the next input; go to 2.
//!
//! `pop_outbound` is not an input: it never produces output.

use std::collections::BTreeSet;

use crate::ais::{AisReply, AisRequest, AisService, PackageDirectory};
use crate::error::ActrError;
use crate::id::ActrId;
use crate::signaling::server::ServerConnId;
use crate::signaling::{CloseReason, ServerConfig, ServerStats, SignalingServer};
use crate::time::{Instant, UnixSecs};

/// What the host does for the server after an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerOutput {
    /// `conn` has queued bytes: pop them with [`ServerHub::pop_outbound`].
    Wake(ServerConnId),
    /// Flush `conn`'s queue, close its socket, then call
    /// [`ServerHub::handle_disconnect`].
    Close(ServerConnId, CloseReason),
}

/// One AIS reply and what must be durable before it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a registration's serial must be persisted before its reply is sent"]
pub enum AisAnswer {
    /// Send `reply` as it is.
    Reply(AisReply),
    /// A serial was handed out: raise the stored high-water mark to
    /// `next_serial` (never lower it) and make it durable, then send `reply`.
    /// If that fails, send [`AisAnswer::unrecorded`] instead, so no identity
    /// leaves the process whose serial a restart could hand out again.
    PersistThenReply { next_serial: u64, reply: AisReply },
}

impl AisAnswer {
    /// The reply to send when the high-water mark could not be persisted.
    pub fn unrecorded() -> AisReply {
        AisReply::Error(ActrError::Unavailable("cannot record the registration; try again".into()).into())
    }

    /// The reply, for a host that persists nothing (tests, benchmarks).
    pub fn into_reply(self) -> AisReply {
        match self {
            AisAnswer::Reply(reply) | AisAnswer::PersistThenReply { reply, .. } => reply,
        }
    }
}

/// The identity service and the signaling server of one server process.
#[derive(Debug)]
pub struct ServerHub {
    ais: AisService,
    signaling: SignalingServer,
    /// Connections whose [`ServerOutput::Close`] was yielded and whose
    /// disconnect is not yet reported. Bounded by the signaling server's
    /// connection limit: each is still one of its connections.
    closing: BTreeSet<ServerConnId>,
}

impl ServerHub {
    /// A hub whose signaling server trusts `ais`'s signing key.
    /// `challenge_key` (32 bytes from the OS, or from the simulator's seed)
    /// keys the hello challenges; draw a fresh one on every start.
    pub fn new(ais: AisService, signaling: ServerConfig, challenge_key: [u8; 32]) -> Self {
        let signaling = SignalingServer::new(signaling, ais.key_ring(), challenge_key);
        ServerHub { ais, signaling, closing: BTreeSet::new() }
    }

    pub fn ais(&self) -> &AisService {
        &self.ais
    }

    pub fn signaling(&self) -> &SignalingServer {
        &self.signaling
    }

    /// The signaling server's counters.
    pub fn stats(&self) -> ServerStats {
        self.signaling.stats()
    }

    /// Actors bound to a live connection.
    pub fn online(&self) -> impl Iterator<Item = &ActrId> {
        self.signaling.online()
    }

    // ---- AIS -------------------------------------------------------------

    /// One AIS call at wall-clock `unix`; package registrations are checked
    /// against `directory`. Carry out the answer as [`AisAnswer`] says.
    pub fn handle_ais(
        &mut self,
        unix: UnixSecs,
        request: AisRequest,
        directory: &mut dyn PackageDirectory,
    ) -> AisAnswer {
        let before = self.ais.next_serial();
        let reply = self.ais.handle_with(unix, request, directory);
        let next_serial = self.ais.next_serial();
        if next_serial == before { AisAnswer::Reply(reply) } else { AisAnswer::PersistThenReply { next_serial, reply } }
    }

    // ---- signaling inputs ------------------------------------------------

    /// A new socket `conn` (an id not in use). Refused when the server is
    /// full or the id is taken; close the socket then.
    pub fn handle_connect(&mut self, now: Instant, conn: ServerConnId) -> Result<(), ActrError> {
        self.signaling.handle_connect(now, conn)
    }

    /// One binary message from `conn`.
    pub fn handle_frame(&mut self, now: Instant, unix: UnixSecs, conn: ServerConnId, bytes: &[u8]) {
        self.signaling.handle_frame(now, unix, conn, bytes);
    }

    /// Socket `conn` is gone. Recorded once: a repeated or unknown report
    /// changes nothing.
    pub fn handle_disconnect(&mut self, now: Instant, conn: ServerConnId) {
        self.closing.remove(&conn);
        self.signaling.handle_disconnect(now, conn);
    }

    /// Closes connections past their hello or heartbeat deadline.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.signaling.handle_timeout(now);
    }

    // ---- outputs ---------------------------------------------------------

    /// The next thing for the host to do: closes first, then wakeups.
    pub fn poll_output(&mut self) -> Option<ServerOutput> {
        while let Some((conn, reason)) = self.signaling.poll_close() {
            // A socket reported gone before the drain has nothing to close.
            if self.signaling.is_connected(conn) {
                self.closing.insert(conn);
                return Some(ServerOutput::Close(conn, reason));
            }
        }
        while let Some(conn) = self.signaling.poll_wakeup() {
            // A closing connection's writer flushes on the Close itself.
            if !self.closing.contains(&conn) {
                return Some(ServerOutput::Wake(conn));
            }
        }
        None
    }

    /// The next queued message for `conn`, oldest first.
    pub fn pop_outbound(&mut self, conn: ServerConnId) -> Option<Vec<u8>> {
        self.signaling.pop_outbound(conn)
    }

    /// When to call [`ServerHub::handle_timeout`]; `None` while no
    /// connection has a deadline (closing ones have none).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.signaling.poll_timeout()
    }
}
