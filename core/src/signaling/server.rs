//! The signaling server state machine.
//!
//! `actr serve` and the simulator drive it through
//! [`crate::server::ServerHub`], which owns it next to the identity service
//! and follows the loop below for them (step 3 becomes one output stream).
//!
//! # Drive loop
//!
//! 1. On a new socket call [`SignalingServer::handle_connect`]; if it refuses,
//!    close the socket. An accepted socket gets a [`ServerMsg::Challenge`]
//!    at once: its hello must sign that nonce with the host key its
//!    credential binds, so a credential captured elsewhere binds nothing.
//! 2. Feed every binary message to [`SignalingServer::handle_frame`] and report
//!    the end of a socket with [`SignalingServer::handle_disconnect`].
//! 3. After each input, drain [`SignalingServer::poll_close`] (close those
//!    sockets) and [`SignalingServer::poll_wakeup`] (those connections have
//!    output); a connection's writer takes its bytes with
//!    [`SignalingServer::pop_outbound`] as fast as its socket allows.
//! 4. Call [`SignalingServer::handle_timeout`] at [`SignalingServer::poll_timeout`].
//!
//! # Bounds
//!
//! - Every connection's outbound queue is bounded in messages and bytes.
//!   Traffic from other actors (relays, presence) may fill only three
//!   quarters of it; the last quarter is kept for the connection's own
//!   replies. A relay that does not fit is refused to its *sender* with
//!   `ResourceExhausted` (never `Relayed`), a presence event that does not
//!   fit is dropped and counted ([`ServerStats::presence_dropped`]; route
//!   candidates are the truth, presence is a hint), so no actor's traffic can
//!   get another actor disconnected. Only a client that does not read its own
//!   replies overflows its queue and is closed as a slow consumer.
//! - Each connection's messages are rate limited by a token bucket
//!   ([`RateLimit`], see [`super::limits`]).
//! - Malformed messages, forged sources and credentials that fail a full
//!   verification are strikes; [`ServerConfig::max_strikes`] of them close
//!   the connection. A refused hello closes it at once. The server knows
//!   connections, not addresses: per-address limits are the driver's (the
//!   accept loop of `actr serve` caps connections per address).
//! - Profile fields and subscribed types have size limits
//!   ([`super::limits::check_profile`]); discovery and route queries use an
//!   index by type and examine a bounded number of instances
//!   ([`super::index::MAX_EXAMINED`]).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::acl::{Caller, check_optional};
use crate::credential::{Credential, KeyRing};
use crate::error::{ActrError, ErrorReply};
use crate::id::{ActrId, ActrType};
use crate::proof::{Nonce, NonceSource, Statement};
use crate::signaling::index::{ActorIndex, MAX_EXAMINED};
use crate::signaling::limits::{RateBucket, RateLimit, RateVerdict, check_profile, check_type};
use crate::signaling::messages::*;
use crate::time::{Duration, Instant, UnixSecs};
use crate::wire::{decode_message, encode_message};

/// A server-side connection id, allocated by the driver.
pub type ServerConnId = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerConfig {
    pub max_connections: usize,
    pub max_queue_messages: usize,
    pub max_queue_bytes: usize,
    pub heartbeat_interval: Duration,
    /// Silence after which a connection is dropped.
    pub heartbeat_timeout: Duration,
    /// Time a new socket has to say hello (10 s by default).
    pub hello_timeout: Duration,
    pub max_subscriptions: usize,
    /// Malformed messages, forged sources and failed credential checks
    /// tolerated per connection before it is closed.
    pub max_strikes: u32,
    /// Messages per connection: burst, rate, and refusals before a close.
    pub rate: RateLimit,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_queue_messages: 512,
            max_queue_bytes: 4 << 20,
            heartbeat_interval: Duration::from_secs(30),
            heartbeat_timeout: Duration::from_secs(75),
            hello_timeout: Duration::from_secs(10),
            max_subscriptions: 64,
            max_strikes: 8,
            rate: RateLimit::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    HelloTimeout,
    HeartbeatTimeout,
    SlowConsumer,
    Displaced,
    Refused(String),
    TooManyErrors,
    /// Kept sending over the rate limit after being told.
    RateLimited,
    Goodbye,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    pub connections_accepted: u64,
    pub connections_refused: u64,
    pub hellos_accepted: u64,
    pub messages_received: u64,
    pub malformed: u64,
    pub auth_failures: u64,
    pub forged_relays: u64,
    pub relays_forwarded: u64,
    pub slow_consumers: u64,
    pub timeouts: u64,
    /// Messages refused by the rate limit.
    pub rate_limited: u64,
    /// Relays refused because the target's queue had no room for them.
    pub relays_refused: u64,
    /// Presence events not queued because the subscriber's queue was full.
    pub presence_dropped: u64,
}

#[derive(Debug)]
struct Bound {
    actor: ActrId,
    profile: ActorProfile,
    /// The credential last verified in full; equal bytes need only an expiry check.
    verified: Credential,
    expires_at: UnixSecs,
    /// The host key the hello proved possession of.
    host_key: [u8; 32],
    /// The credential says a manufacturer verified the actor's type.
    type_verified: bool,
}

#[derive(Debug)]
struct Conn {
    bound: Option<Bound>,
    opened: Instant,
    last_rx: Instant,
    queue: VecDeque<Vec<u8>>,
    queued_bytes: usize,
    subscriptions: BTreeSet<ActrType>,
    strikes: u32,
    closing: bool,
    bucket: RateBucket,
    /// The nonce this connection's hello must sign.
    challenge: Nonce,
}

/// Registry of connected actors and the relay between them.
#[derive(Debug)]
pub struct SignalingServer {
    config: ServerConfig,
    ring: KeyRing,
    conns: BTreeMap<ServerConnId, Conn>,
    by_actor: BTreeMap<ActrId, ServerConnId>,
    index: ActorIndex,
    subscribers: BTreeMap<ActrType, BTreeSet<ServerConnId>>,
    wakeups: BTreeSet<ServerConnId>,
    closes: VecDeque<(ServerConnId, CloseReason)>,
    nonces: NonceSource,
    stats: ServerStats,
}

/// Why a signed message's source or credential was refused, and whether it
/// counts as a strike.
#[derive(Debug)]
struct AuthFailure {
    error: ActrError,
    strike: bool,
}

impl AuthFailure {
    fn strike(error: ActrError) -> Self {
        AuthFailure { error, strike: true }
    }

    fn quiet(error: ActrError) -> Self {
        AuthFailure { error, strike: false }
    }
}

fn err_reply(e: &ActrError) -> ErrorReply {
    ErrorReply::from(e)
}

impl SignalingServer {
    /// A server checking credentials against `ring`. `challenge_key` (32
    /// bytes from the OS; from the world's seed in the simulator) keys the
    /// hello challenges, so nobody can predict the next one.
    pub fn new(config: ServerConfig, ring: KeyRing, challenge_key: [u8; 32]) -> Self {
        Self {
            config,
            ring,
            nonces: NonceSource::new(challenge_key),
            conns: BTreeMap::new(),
            by_actor: BTreeMap::new(),
            index: ActorIndex::default(),
            subscribers: BTreeMap::new(),
            wakeups: BTreeSet::new(),
            closes: VecDeque::new(),
            stats: ServerStats::default(),
        }
    }

    pub fn stats(&self) -> ServerStats {
        self.stats
    }

    pub fn key_ring_mut(&mut self) -> &mut KeyRing {
        &mut self.ring
    }

    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Whether `conn` was accepted and its disconnect not yet reported.
    pub fn is_connected(&self, conn: ServerConnId) -> bool {
        self.conns.contains_key(&conn)
    }

    /// Actors currently bound to a live connection.
    pub fn online(&self) -> impl Iterator<Item = &ActrId> {
        self.by_actor.keys()
    }

    /// Bytes waiting in all outbound queues.
    pub fn queued_bytes(&self) -> usize {
        self.conns.values().map(|c| c.queued_bytes).sum()
    }

    /// A new socket. Refused when the registry is full.
    pub fn handle_connect(&mut self, now: Instant, conn: ServerConnId) -> Result<(), ActrError> {
        if self.conns.len() >= self.config.max_connections || self.conns.contains_key(&conn) {
            self.stats.connections_refused += 1;
            return Err(ActrError::ResourceExhausted(format!("{} connections", self.config.max_connections)));
        }
        self.stats.connections_accepted += 1;
        let challenge = self.nonces.next_nonce();
        self.conns.insert(
            conn,
            Conn {
                bound: None,
                opened: now,
                last_rx: now,
                queue: VecDeque::new(),
                queued_bytes: 0,
                subscriptions: BTreeSet::new(),
                strikes: 0,
                closing: false,
                bucket: RateBucket::new(now, &self.config.rate),
                challenge,
            },
        );
        self.send(conn, &ServerMsg::Challenge { nonce: challenge });
        Ok(())
    }

    /// The socket is gone; forget it and tell subscribers its actor is down.
    pub fn handle_disconnect(&mut self, _now: Instant, conn: ServerConnId) {
        let Some(c) = self.conns.remove(&conn) else { return };
        self.wakeups.remove(&conn);
        for ty in &c.subscriptions {
            if let Some(set) = self.subscribers.get_mut(ty) {
                set.remove(&conn);
                if set.is_empty() {
                    self.subscribers.remove(ty);
                }
            }
        }
        if let Some(b) = c.bound
            && self.by_actor.get(&b.actor) == Some(&conn)
        {
            self.unbind(&b.actor);
            self.announce(&b.actor, b.profile.acl.as_ref(), false);
        }
    }

    /// One binary message from `conn`, at monotonic `now` and wall-clock `unix`.
    pub fn handle_frame(&mut self, now: Instant, unix: UnixSecs, conn: ServerConnId, bytes: &[u8]) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        if c.closing {
            return;
        }
        c.last_rx = now;
        self.stats.messages_received += 1;
        match c.bucket.take(now, &self.config.rate) {
            RateVerdict::Allowed => {}
            RateVerdict::Refused => {
                self.stats.rate_limited += 1;
                let limit = self.config.rate;
                let e = ActrError::ResourceExhausted(format!(
                    "rate limit: {} messages per second, bursts of {}",
                    limit.per_second, limit.burst
                ));
                // A refused request is answered under its id, so the caller
                // fails at once instead of waiting for its deadline. Only
                // refused frames are decoded for that: the decode is bounded
                // by the frame size and nothing else is done with them.
                let refused = match decode_message::<ClientMsg>(bytes, MAX_SIGNALING_FRAME) {
                    Ok(ClientMsg::Signed { body: ClientBody::Request { id, .. }, .. }) => {
                        ServerMsg::Reply { id, result: Err(err_reply(&e)) }
                    }
                    _ => ServerMsg::Error(err_reply(&e)),
                };
                self.send(conn, &refused);
                return;
            }
            RateVerdict::Exhausted => {
                self.stats.rate_limited += 1;
                self.close(conn, CloseReason::RateLimited);
                return;
            }
        }
        let msg: ClientMsg = match decode_message(bytes, MAX_SIGNALING_FRAME) {
            Ok(m) => m,
            Err(e) => {
                self.stats.malformed += 1;
                let e = ActrError::from(e);
                self.strike(conn, &e);
                return;
            }
        };
        match msg {
            ClientMsg::Hello { actor, credential, profile, proof } => {
                self.on_hello(unix, conn, actor, credential, profile, &proof)
            }
            ClientMsg::Signed { source, credential, body } => self.on_signed(unix, conn, source, credential, body),
        }
    }

    /// Drops connections that said nothing for too long.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut expired = Vec::new();
        for (&id, c) in &self.conns {
            if c.closing {
                continue;
            }
            if c.bound.is_none() && now >= c.opened + self.config.hello_timeout {
                expired.push((id, CloseReason::HelloTimeout));
            } else if now >= c.last_rx + self.config.heartbeat_timeout {
                expired.push((id, CloseReason::HeartbeatTimeout));
            }
        }
        for (id, reason) in expired {
            self.stats.timeouts += 1;
            self.close(id, reason);
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.conns
            .values()
            .filter(|c| !c.closing)
            .map(|c| match c.bound {
                None => c.opened + self.config.hello_timeout,
                Some(_) => c.last_rx + self.config.heartbeat_timeout,
            })
            .min()
    }

    /// A connection whose writer should call [`SignalingServer::pop_outbound`].
    pub fn poll_wakeup(&mut self) -> Option<ServerConnId> {
        self.wakeups.pop_first()
    }

    pub fn pop_outbound(&mut self, conn: ServerConnId) -> Option<Vec<u8>> {
        let c = self.conns.get_mut(&conn)?;
        let bytes = c.queue.pop_front()?;
        c.queued_bytes -= bytes.len();
        Some(bytes)
    }

    /// A connection to close. Its queued messages are still delivered first
    /// when the reason is a refusal, so the client learns why.
    pub fn poll_close(&mut self) -> Option<(ServerConnId, CloseReason)> {
        self.closes.pop_front()
    }

    fn on_hello(
        &mut self,
        unix: UnixSecs,
        conn: ServerConnId,
        actor: ActrId,
        credential: Credential,
        profile: ActorProfile,
        proof: &[u8],
    ) {
        let Some(c) = self.conns.get(&conn) else { return };
        if c.bound.is_some() {
            let e = ActrError::InvalidArgument("hello on an already bound connection".into());
            self.strike(conn, &e);
            return;
        }
        let statement = Statement::SignalingHello { nonce: &c.challenge, actor: &actor };
        let claims = match credential.verify_possession(&self.ring, unix, Some(&actor), &statement, proof) {
            Ok(c) => c,
            Err(e) => {
                self.stats.auth_failures += 1;
                let e = ActrError::from(e);
                self.send(conn, &ServerMsg::Error(err_reply(&e)));
                self.close(conn, CloseReason::Refused(e.to_string()));
                return;
            }
        };
        if let Err(e) = check_profile(&profile) {
            self.send(conn, &ServerMsg::Error(err_reply(&e)));
            self.close(conn, CloseReason::Refused(e.to_string()));
            return;
        }
        let old = self.by_actor.insert(actor.clone(), conn);
        self.index.insert(&actor);
        if let Some(old) = old
            && old != conn
        {
            // The newest connection of an actor wins; the old one is closed.
            if let Some(c) = self.conns.get_mut(&old) {
                c.bound = None;
            }
            self.close(old, CloseReason::Displaced);
        }
        let acl = profile.acl.clone();
        if let Some(c) = self.conns.get_mut(&conn) {
            c.bound = Some(Bound {
                actor: actor.clone(),
                profile,
                verified: credential,
                expires_at: claims.expires_at,
                host_key: claims.host_key,
                type_verified: claims.verified,
            });
        }
        self.stats.hellos_accepted += 1;
        let welcome = ServerMsg::Welcome {
            actor: actor.clone(),
            heartbeat_interval_ms: self.config.heartbeat_interval.as_millis(),
        };
        self.send(conn, &welcome);
        self.announce(&actor, acl.as_ref(), true);
    }

    fn on_signed(
        &mut self,
        unix: UnixSecs,
        conn: ServerConnId,
        source: ActrId,
        credential: Credential,
        body: ClientBody,
    ) {
        let request_id = match &body {
            ClientBody::Request { id, .. } => Some(*id),
            ClientBody::Goodbye => None,
        };
        if let Err(AuthFailure { error, strike }) = self.authenticate(unix, conn, &source, credential) {
            let reply = match request_id {
                Some(id) => ServerMsg::Reply { id, result: Err(err_reply(&error)) },
                None => ServerMsg::Error(err_reply(&error)),
            };
            self.send(conn, &reply);
            if strike {
                // The reply above already told the client why; just count it.
                self.count_strike(conn);
            }
            return;
        }
        match body {
            ClientBody::Goodbye => self.close(conn, CloseReason::Goodbye),
            ClientBody::Request { id, request } => {
                let result = self.answer(conn, &source, request);
                self.send(conn, &ServerMsg::Reply { id, result: result.map_err(|e| err_reply(&e)) });
            }
        }
    }

    /// Checks the credential (cached when unchanged) and that `source` is the
    /// actor this connection is bound to. A forged source and a credential
    /// that fails a full verification (the costly check) are strikes; an
    /// expired cached credential is not (the client renews it).
    fn authenticate(
        &mut self,
        unix: UnixSecs,
        conn: ServerConnId,
        source: &ActrId,
        credential: Credential,
    ) -> Result<(), AuthFailure> {
        let Some(bound) = self.conns.get(&conn).and_then(|c| c.bound.as_ref()) else {
            return Err(AuthFailure::quiet(ActrError::Unauthenticated("say hello first".into())));
        };
        if *source != bound.actor {
            self.stats.forged_relays += 1;
            let e = ActrError::PermissionDenied(format!("connection is bound to {}, not {source}", bound.actor));
            return Err(AuthFailure::strike(e));
        }
        if credential == bound.verified {
            if bound.expires_at <= unix {
                self.stats.auth_failures += 1;
                return Err(AuthFailure::quiet(ActrError::Unauthenticated("credential expired".into())));
            }
            return Ok(());
        }
        match credential.verify(&self.ring, unix, Some(source)) {
            Ok(claims) if claims.host_key != bound.host_key => {
                // A renewal keeps the host key; another key means another host.
                self.stats.auth_failures += 1;
                let e =
                    ActrError::Unauthenticated("the credential binds another host key than the hello proved".into());
                Err(AuthFailure::strike(e))
            }
            Ok(claims) => {
                if let Some(b) = self.conns.get_mut(&conn).and_then(|c| c.bound.as_mut()) {
                    b.verified = credential;
                    b.expires_at = claims.expires_at;
                }
                Ok(())
            }
            Err(e) => {
                self.stats.auth_failures += 1;
                Err(AuthFailure::strike(e.into()))
            }
        }
    }

    fn answer(
        &mut self,
        conn: ServerConnId,
        source: &ActrId,
        request: ClientRequest,
    ) -> Result<ServerReply, ActrError> {
        match request {
            ClientRequest::Ping => Ok(ServerReply::Pong),
            ClientRequest::Discover { manufacturer, limit } => {
                let limit = limit.clamp(1, MAX_QUERY_LIMIT) as usize;
                Ok(ServerReply::Discovered(self.discover(source, manufacturer.as_deref(), limit)))
            }
            ClientRequest::RouteCandidates { target_type, limit } => {
                let limit = limit.clamp(1, MAX_QUERY_LIMIT) as usize;
                Ok(ServerReply::Candidates(self.route_candidates(source, &target_type, limit)))
            }
            ClientRequest::Subscribe { target_type } => {
                check_type("target_type", &target_type)?;
                let c = self.conns.get_mut(&conn).ok_or_else(|| ActrError::Internal("connection vanished".into()))?;
                if !c.subscriptions.contains(&target_type) && c.subscriptions.len() >= self.config.max_subscriptions {
                    return Err(ActrError::ResourceExhausted(format!(
                        "{} subscriptions",
                        self.config.max_subscriptions
                    )));
                }
                c.subscriptions.insert(target_type.clone());
                self.subscribers.entry(target_type).or_default().insert(conn);
                Ok(ServerReply::Subscribed)
            }
            ClientRequest::Unsubscribe { target_type } => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.subscriptions.remove(&target_type);
                }
                if let Some(set) = self.subscribers.get_mut(&target_type) {
                    set.remove(&conn);
                    if set.is_empty() {
                        self.subscribers.remove(&target_type);
                    }
                }
                Ok(ServerReply::Unsubscribed)
            }
            ClientRequest::Relay { target, payload } => {
                if payload.len() > MAX_RELAY_PAYLOAD {
                    return Err(ActrError::InvalidArgument("relay payload too large".into()));
                }
                let target_conn = *self
                    .by_actor
                    .get(&target)
                    .ok_or_else(|| ActrError::NotFound(format!("{target} is not online")))?;
                if !self.visible(target_conn, &target, self.caller(source)) {
                    return Err(ActrError::PermissionDenied(format!("{source} may not reach {target}")));
                }
                if !self.offer(target_conn, &ServerMsg::Relay { source: source.clone(), payload }) {
                    self.stats.relays_refused += 1;
                    return Err(ActrError::ResourceExhausted(format!("{target} has no room for more; retry later")));
                }
                self.stats.relays_forwarded += 1;
                Ok(ServerReply::Relayed)
            }
        }
    }

    /// Types with an instance visible to `viewer`, from the index.
    fn discover(&self, viewer: &ActrId, manufacturer: Option<&str>, limit: usize) -> Vec<ActrType> {
        let caller = self.caller(viewer);
        let mut examined = 0;
        let mut types = Vec::new();
        for ty in self.index.types(manufacturer) {
            if types.len() >= limit || examined >= MAX_EXAMINED {
                break;
            }
            for actor in self.index.instances(ty) {
                examined += 1;
                if self.by_actor.get(actor).is_some_and(|&c| self.visible(c, actor, caller)) {
                    types.push(ty.clone());
                    break;
                }
                if examined >= MAX_EXAMINED {
                    break;
                }
            }
        }
        types
    }

    /// Instances of `ty` that `viewer` may reach, newest first, from the index.
    fn route_candidates(&self, viewer: &ActrId, ty: &ActrType, limit: usize) -> Vec<Candidate> {
        let caller = self.caller(viewer);
        self.index
            .instances(ty)
            .take(MAX_EXAMINED)
            .filter(|a| *a != viewer)
            .filter_map(|a| self.by_actor.get(a).map(|&c| (a, c)))
            .filter(|(a, c)| self.visible(*c, a, caller))
            .map(|(a, c)| Candidate {
                actor: a.clone(),
                ws_address: self.profile(c).and_then(|p| p.ws_address.clone()),
            })
            .take(limit)
            .collect()
    }

    fn profile(&self, conn: ServerConnId) -> Option<&ActorProfile> {
        self.conns.get(&conn)?.bound.as_ref().map(|b| &b.profile)
    }

    /// Whether `viewer` may discover or reach `target` (bound on `target_conn`).
    fn visible(&self, target_conn: ServerConnId, target: &ActrId, viewer: Caller<'_>) -> bool {
        let acl = self.profile(target_conn).and_then(|p| p.acl.as_ref());
        check_optional(acl, viewer, target.realm).is_allowed()
    }

    /// `viewer` as an ACL caller: verified when its bound credential says so.
    /// Looked up once per request, not once per candidate.
    fn caller<'a>(&self, viewer: &'a ActrId) -> Caller<'a> {
        let bound = self.by_actor.get(viewer).and_then(|c| self.conns.get(c)).and_then(|c| c.bound.as_ref());
        Caller::remote(viewer, bound.is_some_and(|b| b.type_verified))
    }

    fn announce(&mut self, actor: &ActrId, acl: Option<&crate::acl::Acl>, up: bool) {
        let Some(subs) = self.subscribers.get(&actor.actr_type) else { return };
        let targets: Vec<ServerConnId> = subs
            .iter()
            .copied()
            .filter(|s| {
                let viewer = self.conns.get(s).and_then(|c| c.bound.as_ref());
                viewer.is_some_and(|b| {
                    let caller = Caller::remote(&b.actor, b.type_verified);
                    b.actor != *actor && check_optional(acl, caller, actor.realm).is_allowed()
                })
            })
            .collect();
        let presence = ServerMsg::Presence { actor: actor.clone(), up };
        for s in targets {
            if !self.offer(s, &presence) {
                self.stats.presence_dropped += 1;
            }
        }
    }

    fn strike(&mut self, conn: ServerConnId, e: &ActrError) {
        self.send(conn, &ServerMsg::Error(err_reply(e)));
        self.count_strike(conn);
    }

    /// Counts a protocol violation; too many close the connection.
    fn count_strike(&mut self, conn: ServerConnId) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        c.strikes += 1;
        if c.strikes >= self.config.max_strikes {
            self.close(conn, CloseReason::TooManyErrors);
        }
    }

    /// Queues another actor's traffic for `conn` if it fits in the share of
    /// the queue such traffic may use; false (and nothing queued) if not. A
    /// closing or vanished connection takes it silently, as [`Self::send`] does.
    fn offer(&mut self, conn: ServerConnId, msg: &ServerMsg) -> bool {
        let Ok(bytes) = encode_message(msg, MAX_SIGNALING_FRAME) else { return false };
        let Some(c) = self.conns.get_mut(&conn) else { return true };
        if c.closing {
            return true;
        }
        let max_messages = self.config.max_queue_messages - self.config.max_queue_messages / 4;
        let max_bytes = self.config.max_queue_bytes - self.config.max_queue_bytes / 4;
        if c.queue.len() >= max_messages || c.queued_bytes + bytes.len() > max_bytes {
            return false;
        }
        c.queued_bytes += bytes.len();
        c.queue.push_back(bytes);
        self.wakeups.insert(conn);
        true
    }

    /// Queues the connection's own reply; one that overflows the queue closes
    /// the connection as a slow consumer (it is not reading its replies).
    fn send(&mut self, conn: ServerConnId, msg: &ServerMsg) {
        let Ok(bytes) = encode_message(msg, MAX_SIGNALING_FRAME) else { return };
        let Some(c) = self.conns.get_mut(&conn) else { return };
        if c.closing {
            return;
        }
        if c.queue.len() >= self.config.max_queue_messages || c.queued_bytes + bytes.len() > self.config.max_queue_bytes
        {
            self.stats.slow_consumers += 1;
            self.close(conn, CloseReason::SlowConsumer);
            return;
        }
        c.queued_bytes += bytes.len();
        c.queue.push_back(bytes);
        self.wakeups.insert(conn);
    }

    /// Marks a connection closing: it takes no more input or output, and the
    /// driver closes the socket once its queue is flushed, then calls
    /// [`SignalingServer::handle_disconnect`].
    fn close(&mut self, conn: ServerConnId, reason: CloseReason) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        if c.closing {
            return;
        }
        c.closing = true;
        if reason == CloseReason::SlowConsumer {
            c.queue.clear();
            c.queued_bytes = 0;
        }
        let gone = c.bound.as_ref().map(|b| (b.actor.clone(), b.profile.acl.clone()));
        self.closes.push_back((conn, reason));
        if let Some((actor, acl)) = gone
            && self.by_actor.get(&actor) == Some(&conn)
        {
            self.unbind(&actor);
            self.announce(&actor, acl.as_ref(), false);
        }
    }

    /// Forgets that `actor` is online.
    fn unbind(&mut self, actor: &ActrId) {
        self.by_actor.remove(actor);
        self.index.remove(actor);
    }
}
