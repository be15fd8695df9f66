//! The signaling client state machine.
//!
//! # Drive loop
//!
//! 1. Build with [`SignalingClient::new`], hand it an identity with
//!    [`SignalingClient::set_identity`], then call [`SignalingClient::start`].
//! 2. Drain [`SignalingClient::poll_transmit`]: `Connect { conn }` asks the
//!    driver to open a WebSocket and answer with `handle_connected(conn)` or
//!    `handle_connect_failed(conn)`; `Send` and `Close` act on that socket.
//!    On a new socket the server speaks first with a challenge; the client's
//!    hello signs it with the host key (see [`crate::proof`]).
//! 3. Drain [`SignalingClient::poll_event`] for replies, relays, presence and
//!    connection changes.
//! 4. Sleep until [`SignalingClient::poll_timeout`] or the next input, then
//!    call the matching `handle_*` and go to 2.
//!
//! Connection ids make late events from an old socket harmless: anything
//! tagged with a `conn` that is not the current one is ignored.

use std::collections::{BTreeMap, VecDeque};

use crate::backoff::{Backoff, BackoffConfig};
use crate::credential::Credential;
use crate::error::ActrError;
use crate::id::ActrId;
use crate::proof::{HostKey, Nonce, Statement};
use crate::rng::SeededRng;
use crate::signaling::messages::*;
use crate::time::{Duration, Instant, TimerTable, UnixSecs};
use crate::wire::{decode_message, encode_message};

/// Identifies one socket attempt; allocated by the client.
pub type ConnId = u64;
/// Identifies one request; returned by [`SignalingClient::request`].
pub type RequestId = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientConfig {
    /// Deadline for each request, counted from when it was made.
    pub request_timeout: Duration,
    pub reconnect: BackoffConfig,
    /// Pause after the reconnect attempts run out, before a new cycle.
    pub cooldown: Duration,
    /// From `Connect` to `Welcome`.
    pub connect_timeout: Duration,
    /// Heartbeat until the server advises one.
    pub default_heartbeat: Duration,
    /// Silence from the server longer than this many heartbeat intervals (in
    /// thousandths) closes the connection.
    pub idle_timeout_permille: u64,
    /// Asks for a fresh credential this long before the current one expires.
    pub credential_margin: Duration,
    pub max_pending: usize,
    pub max_events: usize,
    pub max_transmits: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        let reconnect = BackoffConfig::default();
        Self {
            request_timeout: Duration::from_secs(5),
            cooldown: reconnect.max.mul_permille(2000),
            reconnect,
            connect_timeout: Duration::from_secs(10),
            default_heartbeat: Duration::from_secs(30),
            idle_timeout_permille: 2500,
            credential_margin: Duration::from_secs(60),
            max_pending: 256,
            max_events: 4096,
            max_transmits: 1024,
        }
    }
}

/// What the driver must do on the client's behalf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientTransmit {
    Connect { conn: ConnId },
    Send { conn: ConnId, bytes: Vec<u8> },
    Close { conn: ConnId },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The socket ended or the server closed it.
    StreamEnded,
    /// Nothing heard from the server within the idle timeout.
    PongTimeout,
    /// The attempt could not connect or was not welcomed in time.
    ConnectionFailed(String),
    /// The server refused the credential.
    CredentialRejected,
    /// [`SignalingClient::stop`] was called.
    Manual,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SignalingEvent {
    ConnectStart {
        attempt: u32,
    },
    Connected {
        actor: ActrId,
    },
    Disconnected {
        reason: DisconnectReason,
    },
    /// Reconnect attempts ran out; a new cycle starts after the cooldown.
    GaveUp {
        cooldown: Duration,
    },
    Reply {
        id: RequestId,
        result: Result<ServerReply, ActrError>,
    },
    Relay {
        source: ActrId,
        payload: Vec<u8>,
    },
    Presence {
        actor: ActrId,
        up: bool,
    },
    /// The credential is refused or about to expire: renew it and call
    /// [`SignalingClient::set_identity`]. Queued requests wait meanwhile.
    CredentialNeeded,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignalingStats {
    pub connections: u64,
    pub disconnections: u64,
    pub messages_sent: u64,
    pub messages_received: u64,
    pub heartbeats_sent: u64,
    pub heartbeats_received: u64,
    pub errors: u64,
    pub requests_timed_out: u64,
    pub events_dropped: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Backoff,
    Cooldown,
    Connecting(ConnId),
    Hello(ConnId),
    Connected(ConnId),
    AwaitingCredential,
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    Reconnect,
    ConnectTimeout,
    Heartbeat,
    Idle,
    Requests,
    Credential,
}

#[derive(Debug)]
struct Pending {
    request: ClientRequest,
    deadline: Instant,
    sent_on: Option<ConnId>,
    internal: bool,
}

#[derive(Debug, Clone)]
struct Identity {
    actor: ActrId,
    credential: Credential,
}

/// One actor's connection to the signaling server.
#[derive(Debug)]
pub struct SignalingClient {
    config: ClientConfig,
    rng: SeededRng,
    profile: ActorProfile,
    identity: Option<Identity>,
    phase: Phase,
    next_conn: ConnId,
    next_request: RequestId,
    backoff: Backoff,
    timers: TimerTable<Timer, 6>,
    heartbeat: Duration,
    last_rx: Instant,
    pending: BTreeMap<RequestId, Pending>,
    credential_requested: bool,
    /// Hellos refused for the credential since the last welcome.
    hello_refusals: u32,
    transmits: VecDeque<ClientTransmit>,
    events: VecDeque<SignalingEvent>,
    stats: SignalingStats,
    host_key: HostKey,
    /// The connection whose challenge was answered.
    hello_sent: Option<ConnId>,
}

impl SignalingClient {
    /// A client whose hellos prove possession of `host_key`, the key the
    /// AIS bound into the credentials it will be given.
    pub fn new(config: ClientConfig, seed: u64, profile: ActorProfile, host_key: HostKey) -> Self {
        Self {
            host_key,
            hello_sent: None,
            backoff: Backoff::new(config.reconnect),
            heartbeat: config.default_heartbeat,
            config,
            rng: SeededRng::new(seed),
            profile,
            identity: None,
            phase: Phase::Idle,
            next_conn: 1,
            next_request: 1,
            timers: TimerTable::default(),
            last_rx: Instant::ZERO,
            pending: BTreeMap::new(),
            credential_requested: false,
            hello_refusals: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: SignalingStats::default(),
        }
    }

    pub fn stats(&self) -> SignalingStats {
        self.stats
    }

    pub fn actor(&self) -> Option<&ActrId> {
        self.identity.as_ref().map(|i| &i.actor)
    }

    pub fn is_connected(&self) -> bool {
        matches!(self.phase, Phase::Connected(_))
    }

    pub fn pending_requests(&self) -> usize {
        self.pending.iter().filter(|(_, p)| !p.internal).count()
    }

    /// The current heartbeat interval (advised by the server once connected).
    pub fn heartbeat_interval(&self) -> Duration {
        self.heartbeat
    }

    /// Installs or replaces the identity. `expires_at` is the credential's
    /// expiry in Unix seconds and `unix` the wall clock at `now`.
    pub fn set_identity(
        &mut self,
        now: Instant,
        unix: UnixSecs,
        actor: ActrId,
        credential: Credential,
        expires_at: UnixSecs,
    ) {
        let life = Duration::from_secs(expires_at.saturating_sub(unix));
        let changed_actor = self.identity.as_ref().is_some_and(|i| i.actor != actor);
        self.identity = Some(Identity { actor, credential });
        self.credential_requested = false;
        // Ask `credential_margin` before expiry, but not before half the
        // credential's life (nor within a second): a credential shorter-lived
        // than the margin must not trigger a renewal at once, every time.
        let margin_before =
            Duration::from_micros(life.as_micros().saturating_sub(self.config.credential_margin.as_micros()));
        let ask_in = margin_before.max(life.mul_permille(500)).max(Duration::from_secs(1));
        self.timers.set(Timer::Credential, now + ask_in);
        if changed_actor {
            // A new identity needs a new binding on the server.
            if let Some(conn) = self.current_conn() {
                self.transmits.push_back(ClientTransmit::Close { conn });
                self.disconnected(now, DisconnectReason::Manual, false);
            }
            self.begin_attempt(now);
            return;
        }
        match self.phase {
            // A fresh credential refused again (a server clock ahead of ours,
            // or a server issuing short-lived credentials) waits for the
            // backoff instead of looping at full speed.
            Phase::AwaitingCredential if self.hello_refusals > 1 => self.schedule_reconnect(now),
            Phase::AwaitingCredential => self.begin_attempt(now),
            Phase::Connected(conn) => self.flush(now, conn),
            _ => {}
        }
    }

    /// Starts connecting. Requires an identity.
    pub fn start(&mut self, now: Instant) -> Result<(), ActrError> {
        if self.identity.is_none() {
            return Err(ActrError::InvalidArgument("set_identity before start".into()));
        }
        match self.phase {
            Phase::Idle | Phase::Stopped => {
                self.backoff.reset();
                self.begin_attempt(now);
            }
            _ => {}
        }
        Ok(())
    }

    /// Leaves: says goodbye if connected, closes, fails every pending request.
    pub fn stop(&mut self, now: Instant) {
        if let (Phase::Connected(conn), Some(id)) = (self.phase, self.identity.clone()) {
            let msg = ClientMsg::Signed { source: id.actor, credential: id.credential, body: ClientBody::Goodbye };
            self.send_msg(conn, &msg);
        }
        if let Some(conn) = self.current_conn() {
            self.transmits.push_back(ClientTransmit::Close { conn });
        }
        let was_connected = self.is_connected();
        self.phase = Phase::Stopped;
        for t in [Timer::Reconnect, Timer::ConnectTimeout, Timer::Heartbeat, Timer::Idle, Timer::Credential] {
            self.timers.stop(t);
        }
        if was_connected {
            self.stats.disconnections += 1;
        }
        self.push_event(SignalingEvent::Disconnected { reason: DisconnectReason::Manual });
        let ids: Vec<RequestId> = self.pending.keys().copied().collect();
        for id in ids {
            self.finish(id, Err(ActrError::Unavailable("signaling client stopped".into())));
        }
        self.rearm_requests(now);
    }

    /// Queues a request; its result arrives as [`SignalingEvent::Reply`] by
    /// its deadline. Requests made while disconnected go out on the next connection.
    pub fn request(&mut self, now: Instant, request: ClientRequest) -> Result<RequestId, ActrError> {
        if matches!(self.phase, Phase::Stopped) {
            return Err(ActrError::Unavailable("signaling client stopped".into()));
        }
        if let ClientRequest::Relay { payload, .. } = &request
            && payload.len() > MAX_RELAY_PAYLOAD
        {
            return Err(ActrError::InvalidArgument(format!(
                "relay payload of {} bytes exceeds {MAX_RELAY_PAYLOAD}",
                payload.len()
            )));
        }
        if self.pending_requests() >= self.config.max_pending {
            return Err(ActrError::ResourceExhausted(format!(
                "{} signaling requests pending",
                self.config.max_pending
            )));
        }
        Ok(self.enqueue(now, request, false))
    }

    fn enqueue(&mut self, now: Instant, request: ClientRequest, internal: bool) -> RequestId {
        let id = self.next_request;
        self.next_request += 1;
        let deadline = now + self.config.request_timeout;
        self.pending.insert(id, Pending { request, deadline, sent_on: None, internal });
        self.rearm_requests(now);
        if let Phase::Connected(conn) = self.phase {
            self.flush(now, conn);
        }
        id
    }

    /// The socket is open: the client waits for the server's challenge.
    pub fn handle_connected(&mut self, now: Instant, conn: ConnId) {
        if self.phase != Phase::Connecting(conn) {
            return;
        }
        self.phase = Phase::Hello(conn);
        self.last_rx = now;
    }

    /// Answers the server's challenge with a hello that proves possession
    /// of the host key; once per connection.
    fn on_challenge(&mut self, conn: ConnId, nonce: Nonce) {
        if self.phase != Phase::Hello(conn) || self.hello_sent == Some(conn) {
            self.stats.errors += 1;
            return;
        }
        let Some(id) = self.identity.clone() else { return };
        self.hello_sent = Some(conn);
        let proof = self.host_key.sign(&Statement::SignalingHello { nonce: &nonce, actor: &id.actor });
        let hello =
            ClientMsg::Hello { actor: id.actor, credential: id.credential, profile: self.profile.clone(), proof };
        self.send_msg(conn, &hello);
    }

    pub fn handle_connect_failed(&mut self, now: Instant, conn: ConnId, why: &str) {
        if self.current_conn() != Some(conn) {
            return;
        }
        self.stats.errors += 1;
        self.disconnected(now, DisconnectReason::ConnectionFailed(why.into()), true);
    }

    /// The socket closed (by the peer or after a local `Close`).
    pub fn handle_closed(&mut self, now: Instant, conn: ConnId) {
        if self.current_conn() != Some(conn) {
            return;
        }
        let reason = if matches!(self.phase, Phase::Connected(_)) {
            DisconnectReason::StreamEnded
        } else {
            DisconnectReason::ConnectionFailed("closed before welcome".into())
        };
        self.disconnected(now, reason, true);
    }

    /// One binary message from the server.
    pub fn handle_frame(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) {
        if self.current_conn() != Some(conn) {
            return;
        }
        self.last_rx = now;
        let msg: ServerMsg = match decode_message(bytes, MAX_SIGNALING_FRAME) {
            Ok(m) => m,
            Err(_) => {
                self.stats.errors += 1;
                return;
            }
        };
        self.stats.messages_received += 1;
        match msg {
            ServerMsg::Challenge { nonce } => self.on_challenge(conn, nonce),
            ServerMsg::Welcome { actor, heartbeat_interval_ms } => {
                self.on_welcome(now, conn, actor, heartbeat_interval_ms)
            }
            ServerMsg::Reply { id, result } => self.on_reply(now, id, result.map_err(ActrError::from)),
            ServerMsg::Relay { source, payload } => self.push_event(SignalingEvent::Relay { source, payload }),
            ServerMsg::Presence { actor, up } => self.push_event(SignalingEvent::Presence { actor, up }),
            ServerMsg::Error(e) => self.on_server_error(now, conn, ActrError::from(e)),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.expired(now) {
            match timer {
                Timer::Reconnect => self.begin_attempt(now),
                Timer::ConnectTimeout => {
                    if let Some(conn) = self.current_conn() {
                        self.transmits.push_back(ClientTransmit::Close { conn });
                        self.stats.errors += 1;
                        self.disconnected(
                            now,
                            DisconnectReason::ConnectionFailed("no welcome before the deadline".into()),
                            true,
                        );
                    }
                }
                Timer::Heartbeat => {
                    if self.is_connected() {
                        self.stats.heartbeats_sent += 1;
                        self.enqueue(now, ClientRequest::Ping, true);
                        self.timers.set(Timer::Heartbeat, now + self.heartbeat);
                    }
                }
                Timer::Idle => self.check_idle(now),
                Timer::Requests => self.expire_requests(now),
                Timer::Credential => self.need_credential(),
            }
        }
        if matches!(self.phase, Phase::Cooldown) && !self.timers.is_armed(Timer::Reconnect) {
            self.backoff.reset();
            self.begin_attempt(now);
        }
    }

    pub fn poll_transmit(&mut self) -> Option<ClientTransmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<SignalingEvent> {
        self.events.pop_front()
    }

    /// The next deadline; call [`SignalingClient::handle_timeout`] when it passes.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next().map(|(_, at)| at)
    }

    /// The socket the client is using (connecting, saying hello, or connected).
    pub fn current_connection(&self) -> Option<ConnId> {
        self.current_conn()
    }

    fn current_conn(&self) -> Option<ConnId> {
        match self.phase {
            Phase::Connecting(c) | Phase::Hello(c) | Phase::Connected(c) => Some(c),
            _ => None,
        }
    }

    fn begin_attempt(&mut self, now: Instant) {
        if self.identity.is_none() || matches!(self.phase, Phase::Stopped) {
            return;
        }
        let conn = self.next_conn;
        self.next_conn += 1;
        self.phase = Phase::Connecting(conn);
        self.timers.stop(Timer::Reconnect);
        self.timers.set(Timer::ConnectTimeout, now + self.config.connect_timeout);
        self.push_event(SignalingEvent::ConnectStart { attempt: self.backoff.attempts() + 1 });
        self.transmits.push_back(ClientTransmit::Connect { conn });
    }

    fn on_welcome(&mut self, now: Instant, conn: ConnId, actor: ActrId, heartbeat_ms: u64) {
        if self.phase != Phase::Hello(conn) {
            self.stats.errors += 1;
            return;
        }
        let ms = heartbeat_ms.clamp(100, 3_600_000);
        self.heartbeat = Duration::from_millis(ms);
        self.phase = Phase::Connected(conn);
        self.backoff.reset();
        self.hello_refusals = 0;
        self.stats.connections += 1;
        self.timers.stop(Timer::ConnectTimeout);
        self.timers.set(Timer::Heartbeat, now + self.heartbeat);
        self.timers.set(Timer::Idle, now + self.idle_timeout());
        self.push_event(SignalingEvent::Connected { actor });
        self.flush(now, conn);
    }

    fn on_reply(&mut self, now: Instant, id: RequestId, result: Result<ServerReply, ActrError>) {
        let Some(p) = self.pending.get_mut(&id) else {
            // Late reply to a request that already timed out.
            return;
        };
        if matches!(result, Err(ActrError::Unauthenticated(_))) {
            // Keep it: it goes out again with the renewed credential.
            p.sent_on = None;
            self.need_credential();
            return;
        }
        if p.internal {
            if result.is_ok() {
                self.stats.heartbeats_received += 1;
            }
            self.pending.remove(&id);
            self.rearm_requests(now);
            return;
        }
        self.finish(id, result);
        self.rearm_requests(now);
    }

    fn on_server_error(&mut self, now: Instant, conn: ConnId, error: ActrError) {
        self.stats.errors += 1;
        if self.phase == Phase::Hello(conn) {
            self.transmits.push_back(ClientTransmit::Close { conn });
            if matches!(error, ActrError::Unauthenticated(_)) {
                self.hello_refusals = self.hello_refusals.saturating_add(1);
                self.disconnected(now, DisconnectReason::CredentialRejected, false);
                self.phase = Phase::AwaitingCredential;
                self.need_credential();
            } else {
                self.disconnected(now, DisconnectReason::ConnectionFailed(error.to_string()), true);
            }
        }
    }

    fn need_credential(&mut self) {
        if !self.credential_requested {
            self.credential_requested = true;
            self.push_event(SignalingEvent::CredentialNeeded);
        }
    }

    fn flush(&mut self, _now: Instant, conn: ConnId) {
        if self.credential_requested {
            // Hold requests until the renewed credential arrives.
            return;
        }
        let Some(id) = self.identity.clone() else { return };
        let due: Vec<RequestId> =
            self.pending.iter().filter(|(_, p)| p.sent_on != Some(conn)).map(|(k, _)| *k).collect();
        for rid in due {
            let Some(p) = self.pending.get_mut(&rid) else { continue };
            p.sent_on = Some(conn);
            let msg = ClientMsg::Signed {
                source: id.actor.clone(),
                credential: id.credential.clone(),
                body: ClientBody::Request { id: rid, request: p.request.clone() },
            };
            self.send_msg(conn, &msg);
        }
    }

    fn send_msg(&mut self, conn: ConnId, msg: &ClientMsg) {
        match encode_message(msg, MAX_SIGNALING_FRAME) {
            Ok(bytes) if self.transmits.len() < self.config.max_transmits => {
                self.stats.messages_sent += 1;
                self.transmits.push_back(ClientTransmit::Send { conn, bytes });
            }
            _ => self.stats.errors += 1,
        }
    }

    fn idle_timeout(&self) -> Duration {
        self.heartbeat.mul_permille(self.config.idle_timeout_permille)
    }

    fn check_idle(&mut self, now: Instant) {
        let Phase::Connected(conn) = self.phase else { return };
        let silent_until = self.last_rx + self.idle_timeout();
        if now >= silent_until {
            self.transmits.push_back(ClientTransmit::Close { conn });
            self.disconnected(now, DisconnectReason::PongTimeout, true);
        } else {
            self.timers.set(Timer::Idle, silent_until);
        }
    }

    fn disconnected(&mut self, now: Instant, reason: DisconnectReason, reconnect: bool) {
        if matches!(self.phase, Phase::Connected(_)) {
            self.stats.disconnections += 1;
        }
        self.timers.stop(Timer::ConnectTimeout);
        self.timers.stop(Timer::Heartbeat);
        self.timers.stop(Timer::Idle);
        // Internal pings die with the connection; user requests wait for the next one.
        self.pending.retain(|_, p| !p.internal);
        for p in self.pending.values_mut() {
            p.sent_on = None;
        }
        self.rearm_requests(now);
        self.push_event(SignalingEvent::Disconnected { reason });
        self.phase = Phase::Idle;
        if reconnect {
            self.schedule_reconnect(now);
        }
    }

    fn schedule_reconnect(&mut self, now: Instant) {
        match self.backoff.next_delay(&mut self.rng) {
            Some(delay) => {
                self.phase = Phase::Backoff;
                self.timers.set(Timer::Reconnect, now + delay);
            }
            None => {
                self.phase = Phase::Cooldown;
                self.timers.set(Timer::Reconnect, now + self.config.cooldown);
                self.backoff.reset();
                self.push_event(SignalingEvent::GaveUp { cooldown: self.config.cooldown });
            }
        }
    }

    fn expire_requests(&mut self, now: Instant) {
        let due: Vec<(RequestId, bool)> =
            self.pending.iter().filter(|(_, p)| p.deadline <= now).map(|(k, p)| (*k, p.internal)).collect();
        for (id, internal) in due {
            if internal {
                self.pending.remove(&id);
            } else {
                self.stats.requests_timed_out += 1;
                self.finish(id, Err(ActrError::TimedOut));
            }
        }
        self.rearm_requests(now);
    }

    fn finish(&mut self, id: RequestId, result: Result<ServerReply, ActrError>) {
        if self.pending.remove(&id).is_some() {
            self.push_event(SignalingEvent::Reply { id, result });
        }
    }

    fn rearm_requests(&mut self, _now: Instant) {
        match self.pending.values().map(|p| p.deadline).min() {
            Some(at) => self.timers.set(Timer::Requests, at),
            None => self.timers.stop(Timer::Requests),
        }
    }

    fn push_event(&mut self, event: SignalingEvent) {
        if self.events.len() >= self.config.max_events {
            self.stats.events_dropped += 1;
            return;
        }
        self.events.push_back(event);
    }
}
