//! The RPC endpoint of one actor: outbound calls and tells, inbound dispatch.
//!
//! # Drive loop
//!
//! - [`RpcEndpoint::call`] / [`RpcEndpoint::tell`] queue an [`Outbound`]
//!   message; the driver sends it on the lane chosen by the route table. If
//!   sending fails, hand the bytes back with [`RpcEndpoint::handle_send_failed`]:
//!   transient errors are retried with the lane's backoff, resending the
//!   identical bytes (same request id), non-transient ones fail the call.
//! - Every message received from a peer goes to [`RpcEndpoint::handle_inbound`]
//!   with the authenticated sender. Requests and tells pass the ACL, then the
//!   dedup cache, and come out as [`EndpointEvent::Dispatch`]; the driver runs
//!   the handler and answers with [`RpcEndpoint::respond`]. Responses resolve
//!   their pending call as [`EndpointEvent::CallDone`].
//! - Drain [`RpcEndpoint::poll_outbound`] and [`RpcEndpoint::poll_event`] after
//!   every input; call [`RpcEndpoint::handle_timeout`] at [`RpcEndpoint::poll_timeout`].
//!
//! Every call resolves exactly once: with its response, with a typed error
//! when sending fails for good, or with `TimedOut` at its deadline.

use std::collections::{BTreeMap, VecDeque};

use crate::acl::{Acl, Caller};
use crate::error::ActrError;
use crate::id::ActrId;
use crate::rng::SeededRng;
use crate::time::{Duration, Instant};
use crate::transport::correlation::Correlation;
use crate::transport::dedup::{DedupCache, DedupConfig, DedupVerdict};
use crate::transport::envelope::{Direction, RpcEnvelope};
use crate::transport::route::LaneKind;
use crate::transport::trace::TraceContext;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointConfig {
    pub max_pending_calls: usize,
    pub max_outbound: usize,
    pub max_events: usize,
    pub dedup: DedupConfig,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self { max_pending_calls: 4096, max_outbound: 8192, max_events: 8192, dedup: DedupConfig::default() }
    }
}

/// An encoded envelope to send to `dest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    pub dest: ActrId,
    pub lane: LaneKind,
    pub request_id: u64,
    pub bytes: Vec<u8>,
}

/// A request or tell that passed the ACL and dedup: run its handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    pub caller: ActrId,
    pub envelope: RpcEnvelope,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointEvent {
    Dispatch(Inbound),
    CallDone { request_id: u64, result: Result<Vec<u8>, ActrError> },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointStats {
    pub calls: u64,
    pub retries: u64,
    pub dispatched: u64,
    pub duplicates: u64,
    pub acl_denied: u64,
    pub malformed: u64,
    pub orphan_responses: u64,
    pub overflow: u64,
}

#[derive(Debug)]
struct CallState {
    lane: LaneKind,
    attempts: u32,
}

/// The request id first: entries of one caller then differ at the first
/// field, and a lookup compares the caller's id (three strings) only on the
/// entry that matches.
type DedupKey = (u64, ActrId);

/// Calls out, dispatch in, for one actor.
#[derive(Debug)]
pub struct RpcEndpoint {
    config: EndpointConfig,
    rng: SeededRng,
    acl: Option<Acl>,
    own_realm: crate::id::Realm,
    calls: Correlation<ActrId>,
    call_state: BTreeMap<u64, CallState>,
    retries: BTreeMap<(Instant, u64), Outbound>,
    dedup: DedupCache<DedupKey, Vec<u8>, ()>,
    outbound: VecDeque<Outbound>,
    events: VecDeque<EndpointEvent>,
    stats: EndpointStats,
}

impl RpcEndpoint {
    /// `acl` protects this actor; `None` admits callers of its own realm.
    pub fn new(config: EndpointConfig, seed: u64, own: &ActrId, acl: Option<Acl>) -> Self {
        Self {
            rng: SeededRng::new(seed),
            acl,
            own_realm: own.realm,
            calls: Correlation::new(config.max_pending_calls),
            call_state: BTreeMap::new(),
            retries: BTreeMap::new(),
            dedup: DedupCache::new(config.dedup),
            outbound: VecDeque::new(),
            events: VecDeque::new(),
            stats: EndpointStats::default(),
            config,
        }
    }

    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    pub fn pending_calls(&self) -> usize {
        self.calls.len()
    }

    /// Starts a call; its outcome arrives as [`EndpointEvent::CallDone`] with the returned id.
    pub fn call(
        &mut self,
        now: Instant,
        dest: ActrId,
        route_key: &str,
        payload: Vec<u8>,
        timeout: Duration,
        trace: Option<&TraceContext>,
    ) -> Result<u64, ActrError> {
        let timeout_ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        let request_id = self.rng.next_u64();
        let mut env = RpcEnvelope::request(request_id, route_key, payload, timeout_ms);
        env.trace = Some(self.child_trace(trace));
        env.validate()?;
        let bytes = env.encode().map_err(ActrError::from)?;
        self.reserve_outbound()?;
        self.calls.register(request_id, now + timeout, dest.clone())?;
        self.call_state.insert(request_id, CallState { lane: LaneKind::Rpc, attempts: 1 });
        self.stats.calls += 1;
        self.outbound.push_back(Outbound { dest, lane: LaneKind::Rpc, request_id, bytes });
        Ok(request_id)
    }

    /// Sends a one-way message. No reply, not even on error.
    pub fn tell(
        &mut self,
        dest: ActrId,
        route_key: &str,
        payload: Vec<u8>,
        trace: Option<&TraceContext>,
    ) -> Result<u64, ActrError> {
        let request_id = self.rng.next_u64();
        let mut env = RpcEnvelope::tell(request_id, route_key, payload);
        env.trace = Some(self.child_trace(trace));
        env.validate()?;
        let bytes = env.encode().map_err(ActrError::from)?;
        self.reserve_outbound()?;
        self.outbound.push_back(Outbound { dest, lane: LaneKind::Rpc, request_id, bytes });
        Ok(request_id)
    }

    /// The driver could not send `msg`. Transient errors schedule a resend of
    /// the same bytes; others (or exhausted attempts) fail the call.
    pub fn handle_send_failed(&mut self, now: Instant, msg: Outbound, error: ActrError) {
        let Some(state) = self.call_state.get_mut(&msg.request_id) else { return };
        match state.lane.retry_policy().next_delay(state.attempts, &error) {
            Some(delay) => {
                state.attempts += 1;
                self.stats.retries += 1;
                self.retries.insert((now + delay, msg.request_id), msg);
            }
            None => {
                if self.calls.complete(msg.request_id).is_some() {
                    self.finish(msg.request_id, Err(error));
                }
            }
        }
    }

    /// Every call to `dest` fails with `error` (its connection is gone for good).
    pub fn fail_dest(&mut self, dest: &ActrId, error: &ActrError) {
        for id in self.calls.fail_dest(dest) {
            self.finish(id, Err(error.clone()));
        }
        let ids: Vec<(Instant, u64)> = self.retries.iter().filter(|(_, m)| m.dest == *dest).map(|(k, _)| *k).collect();
        for k in ids {
            self.retries.remove(&k);
        }
    }

    /// Bytes received from `from` (already authenticated by the wire).
    pub fn handle_inbound(&mut self, now: Instant, from: &ActrId, bytes: &[u8]) {
        self.handle_inbound_from(now, from, false, bytes);
    }

    /// [`RpcEndpoint::handle_inbound`] from a caller whose type a
    /// manufacturer verified (`verified`), as its credential says: ACL rules
    /// marked `verified_only` cover it.
    pub fn handle_inbound_from(&mut self, now: Instant, from: &ActrId, verified: bool, bytes: &[u8]) {
        let env = match RpcEnvelope::decode(bytes).map_err(ActrError::from).and_then(|e| e.validate().map(|_| e)) {
            Ok(env) => env,
            Err(_) => {
                self.stats.malformed += 1;
                return;
            }
        };
        match env.direction {
            Direction::Response => self.on_response(from, env),
            Direction::Request | Direction::Tell => self.on_request(now, from, verified, env),
        }
    }

    /// The handler's result for a dispatched request. Answers the original and
    /// every duplicate that joined it; stores the response for later duplicates.
    pub fn respond(&mut self, now: Instant, inbound: &Inbound, result: Result<Vec<u8>, ActrError>) {
        if inbound.envelope.direction != Direction::Request {
            return;
        }
        let response = inbound.envelope.respond(result);
        let bytes = match response.encode() {
            Ok(b) => b,
            Err(e) => match inbound.envelope.respond(Err(ActrError::from(e))).encode() {
                Ok(b) => b,
                Err(_) => return,
            },
        };
        let key = (inbound.envelope.request_id, inbound.caller.clone());
        let waiters = self.dedup.complete(now, &key, bytes.clone(), bytes.len());
        for _ in 0..=waiters.len() {
            self.push_response(&inbound.caller, inbound.envelope.request_id, bytes.clone());
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        for id in self.calls.expire(now) {
            self.finish(id, Err(ActrError::TimedOut));
        }
        let due: Vec<(Instant, u64)> = self.retries.range(..=(now, u64::MAX)).map(|(k, _)| *k).collect();
        for k in due {
            if let Some(msg) = self.retries.remove(&k)
                && self.call_state.contains_key(&msg.request_id)
            {
                self.outbound.push_back(msg);
            }
        }
    }

    pub fn poll_outbound(&mut self) -> Option<Outbound> {
        self.outbound.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<EndpointEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let retry = self.retries.keys().next().map(|(at, _)| *at);
        [self.calls.poll_timeout(), retry].into_iter().flatten().min()
    }

    fn on_response(&mut self, from: &ActrId, env: RpcEnvelope) {
        // Only the peer the call went to may answer it.
        if self.calls.dest_of(env.request_id).is_some_and(|dest| dest != from) {
            self.stats.orphan_responses += 1;
            return;
        }
        if self.calls.complete(env.request_id).is_none() {
            self.stats.orphan_responses += 1;
            return;
        }
        let id = env.request_id;
        self.finish(id, env.into_result());
    }

    fn on_request(&mut self, now: Instant, from: &ActrId, verified: bool, env: RpcEnvelope) {
        let caller = Caller::remote(from, verified);
        let allowed = crate::acl::check_optional(self.acl.as_ref(), caller, self.own_realm).is_allowed();
        if !allowed {
            self.stats.acl_denied += 1;
            if env.direction == Direction::Request {
                let denied = env.respond(Err(ActrError::PermissionDenied(format!("{from} may not call this actor"))));
                if let Ok(bytes) = denied.encode() {
                    self.push_response(from, env.request_id, bytes);
                }
            }
            return;
        }
        let key = (env.request_id, from.clone());
        let verdict = match env.direction {
            Direction::Tell => self.dedup.on_tell(now, key, Vec::new()),
            _ => self.dedup.on_request(now, key, ()),
        };
        match verdict {
            Ok(DedupVerdict::Run) => {
                self.stats.dispatched += 1;
                self.push_event(EndpointEvent::Dispatch(Inbound { caller: from.clone(), envelope: env }));
            }
            Ok(DedupVerdict::Replay(bytes)) => {
                self.stats.duplicates += 1;
                self.push_response(from, env.request_id, bytes);
            }
            Ok(DedupVerdict::Joined) | Ok(DedupVerdict::Drop) => self.stats.duplicates += 1,
            Err(e) => {
                if env.direction == Direction::Request
                    && let Ok(bytes) = env.respond(Err(e)).encode()
                {
                    self.push_response(from, env.request_id, bytes);
                }
            }
        }
    }

    fn push_response(&mut self, to: &ActrId, request_id: u64, bytes: Vec<u8>) {
        if self.outbound.len() >= self.config.max_outbound {
            self.stats.overflow += 1;
            return;
        }
        self.outbound.push_back(Outbound { dest: to.clone(), lane: LaneKind::Rpc, request_id, bytes });
    }

    fn finish(&mut self, request_id: u64, result: Result<Vec<u8>, ActrError>) {
        self.call_state.remove(&request_id);
        self.retries.retain(|(_, id), _| *id != request_id);
        self.push_event(EndpointEvent::CallDone { request_id, result });
    }

    fn push_event(&mut self, event: EndpointEvent) {
        if self.events.len() >= self.config.max_events {
            self.stats.overflow += 1;
            return;
        }
        self.events.push_back(event);
    }

    fn reserve_outbound(&self) -> Result<(), ActrError> {
        if self.outbound.len() >= self.config.max_outbound {
            return Err(ActrError::ResourceExhausted(format!(
                "{} messages waiting to be sent",
                self.config.max_outbound
            )));
        }
        Ok(())
    }

    fn child_trace(&mut self, parent: Option<&TraceContext>) -> TraceContext {
        let span = self.rng.next_u64();
        match parent {
            Some(parent) => parent.child(span),
            None => TraceContext::root(self.rng.next_u64(), self.rng.next_u64(), span),
        }
    }
}
