//! The client side of the AIS: obtains a credential and keeps it fresh.
//!
//! # Drive loop
//!
//! [`CredentialKeeper::start`] queues a registration. Drain
//! [`CredentialKeeper::poll_call`] and perform each call (HTTP in the driver,
//! a message in the simulator), answering with [`CredentialKeeper::handle_reply`].
//! Drain [`CredentialKeeper::poll_event`] for new credentials, and call
//! [`CredentialKeeper::handle_timeout`] at [`CredentialKeeper::poll_timeout`].
//!
//! Renewal is scheduled at 80 % of the credential's life, or at once through
//! [`CredentialKeeper::renew_now`] when signaling reports a refusal. Transient
//! failures retry with backoff; a refused renewal token falls back to a fresh
//! registration, which yields a new actor id.

use std::collections::VecDeque;

use crate::ais::{AisReply, AisRequest, RegisterOk, RegisterRequest, RenewRequest};
use crate::backoff::{Backoff, BackoffConfig};
use crate::error::{ActrError, Classify};
use crate::rng::SeededRng;
use crate::time::{Duration, Instant, TimerTable, UnixSecs};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeeperConfig {
    /// Deadline for one AIS call.
    pub call_timeout: Duration,
    pub retry: BackoffConfig,
    /// Renew after this share of the credential's life, in thousandths.
    pub renew_at_permille: u64,
}

impl Default for KeeperConfig {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(10),
            retry: BackoffConfig {
                initial: Duration::from_millis(500),
                max: Duration::from_secs(30),
                multiplier_permille: 2000,
                jitter_permille: 250,
                max_attempts: None,
            },
            renew_at_permille: 800,
        }
    }
}

/// One AIS call the driver must perform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AisCall {
    pub id: u64,
    pub request: AisRequest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeeperEvent {
    /// A new identity (first registration, or re-registration after a refused renewal).
    Registered(RegisterOk),
    /// The same identity with a fresh credential.
    Renewed(RegisterOk),
    /// The AIS refused for a reason retrying will not fix; the keeper stops.
    Failed(ActrError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Register,
    Renew,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    CallDeadline,
    Retry,
    Renew,
}

#[derive(Debug)]
pub struct CredentialKeeper {
    config: KeeperConfig,
    rng: SeededRng,
    template: RegisterRequest,
    current: Option<RegisterOk>,
    in_flight: Option<(u64, Kind)>,
    retry_kind: Kind,
    next_id: u64,
    backoff: Backoff,
    timers: TimerTable<Timer, 3>,
    calls: VecDeque<AisCall>,
    events: VecDeque<KeeperEvent>,
    failed: bool,
}

impl CredentialKeeper {
    pub fn new(config: KeeperConfig, seed: u64, template: RegisterRequest) -> Self {
        Self {
            backoff: Backoff::new(config.retry),
            config,
            rng: SeededRng::new(seed),
            template,
            current: None,
            in_flight: None,
            retry_kind: Kind::Register,
            next_id: 1,
            timers: TimerTable::default(),
            calls: VecDeque::new(),
            events: VecDeque::new(),
            failed: false,
        }
    }

    pub fn current(&self) -> Option<&RegisterOk> {
        self.current.as_ref()
    }

    pub fn start(&mut self, now: Instant) {
        if self.in_flight.is_none() && self.current.is_none() {
            self.call(now, Kind::Register);
        }
    }

    /// Renews at once (signaling refused the credential). A no-op while a call is in flight.
    pub fn renew_now(&mut self, now: Instant) {
        if self.in_flight.is_some() || self.failed {
            return;
        }
        let kind = if self.current.is_some() { Kind::Renew } else { Kind::Register };
        self.timers.stop(Timer::Retry);
        self.call(now, kind);
    }

    /// The outcome of call `id`: the AIS reply, or a transport error.
    pub fn handle_reply(&mut self, now: Instant, unix: UnixSecs, id: u64, reply: Result<AisReply, ActrError>) {
        let Some((want, kind)) = self.in_flight else { return };
        if want != id {
            return; // a reply to a call that already timed out
        }
        self.in_flight = None;
        self.timers.stop(Timer::CallDeadline);
        let result = match reply {
            Ok(AisReply::Registered(ok)) if kind == Kind::Register => Ok(ok),
            Ok(AisReply::Renewed(ok)) if kind == Kind::Renew => Ok(ok),
            Ok(AisReply::Error(e)) => Err(ActrError::from(e)),
            Ok(other) => Err(ActrError::DecodeFailure(format!("unexpected AIS reply {other:?}"))),
            Err(e) => Err(e),
        };
        match result {
            Ok(ok) => self.accept(now, unix, kind, ok),
            Err(ActrError::Unauthenticated(_)) if kind == Kind::Renew => {
                // The renewal token is no good: register afresh.
                self.call(now, Kind::Register);
            }
            Err(e) if e.is_retryable() => self.retry_later(now, kind),
            Err(e) => {
                self.failed = true;
                self.events.push_back(KeeperEvent::Failed(e));
            }
        }
    }

    pub fn handle_timeout(&mut self, now: Instant, unix: UnixSecs) {
        while let Some(timer) = self.timers.expired(now) {
            match timer {
                Timer::CallDeadline => {
                    if let Some((id, _)) = self.in_flight {
                        self.handle_reply(now, unix, id, Err(ActrError::TimedOut));
                    }
                }
                Timer::Retry => {
                    let kind = self.retry_kind;
                    self.call(now, kind);
                }
                Timer::Renew => self.renew_now(now),
            }
        }
    }

    pub fn poll_call(&mut self) -> Option<AisCall> {
        self.calls.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<KeeperEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next().map(|(_, at)| at)
    }

    fn call(&mut self, now: Instant, kind: Kind) {
        let request = match (kind, &self.current) {
            // Unsigned: the node hub signs with its host key and wall clock
            // as the call leaves (`RenewRequest::sign`).
            (Kind::Renew, Some(cur)) => AisRequest::Renew(RenewRequest {
                actor: cur.actor.clone(),
                renewal_token: cur.renewal_token.clone(),
                renewal_token_expires_at: cur.renewal_token_expires_at,
                host_key: [0; 32],
                verified: cur.credential.peek_claims().is_ok_and(|c| c.verified),
                unix: 0,
                proof: Vec::new(),
            }),
            _ => AisRequest::Register(self.template.clone()),
        };
        let kind = if matches!(request, AisRequest::Register(_)) { Kind::Register } else { Kind::Renew };
        let id = self.next_id;
        self.next_id += 1;
        self.in_flight = Some((id, kind));
        self.timers.set(Timer::CallDeadline, now + self.config.call_timeout);
        self.calls.push_back(AisCall { id, request });
    }

    fn retry_later(&mut self, now: Instant, kind: Kind) {
        let delay = self.backoff.next_delay(&mut self.rng).unwrap_or(self.config.retry.max);
        self.retry_kind = kind;
        self.timers.set(Timer::Retry, now + delay);
    }

    fn accept(&mut self, now: Instant, unix: UnixSecs, kind: Kind, ok: RegisterOk) {
        self.backoff.reset();
        let life = Duration::from_secs(ok.credential_expires_at.saturating_sub(unix));
        let renew_in = life.mul_permille(self.config.renew_at_permille).max(Duration::from_secs(1));
        self.timers.set(Timer::Renew, now + renew_in);
        let new_identity = self.current.as_ref().is_none_or(|c| c.actor != ok.actor) || kind == Kind::Register;
        self.current = Some(ok.clone());
        self.events.push_back(if new_identity { KeeperEvent::Registered(ok) } else { KeeperEvent::Renewed(ok) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ais::{AisConfig, AisService, RealmConfig};
    use crate::id::Realm;
    use crate::proof::HostKey;

    fn key() -> HostKey {
        HostKey::from_seed([8; 32])
    }

    fn template() -> RegisterRequest {
        let mut r = RegisterRequest::new("acme:echo:1".parse().unwrap(), Realm(1), None);
        r.sign(&key());
        r
    }

    fn ais() -> AisService {
        let mut s = AisService::new([3; 32], 1, 1, AisConfig { credential_ttl_secs: 100, ..Default::default() });
        s.upsert_realm(RealmConfig::new(Realm(1), None)).unwrap();
        s
    }

    fn serve(k: &mut CredentialKeeper, s: &mut AisService, now: Instant, unix: UnixSecs) {
        while let Some(mut call) = k.poll_call() {
            // As the node hub does: renewals leave signed.
            if let AisRequest::Renew(r) = &mut call.request {
                r.sign(&key(), unix);
            }
            let reply = s.handle(unix, call.request);
            k.handle_reply(now, unix, call.id, Ok(reply));
        }
    }

    #[test]
    fn registers_then_renews_at_eighty_percent() {
        let mut k = CredentialKeeper::new(KeeperConfig::default(), 1, template());
        let mut s = ais();
        k.start(Instant::ZERO);
        serve(&mut k, &mut s, Instant::ZERO, 1000);
        let first = match k.poll_event() {
            Some(KeeperEvent::Registered(ok)) => ok,
            other => panic!("{other:?}"),
        };
        assert_eq!(k.poll_timeout(), Some(Instant::ZERO + Duration::from_secs(80)));
        let t = Instant::ZERO + Duration::from_secs(80);
        k.handle_timeout(t, 1080);
        serve(&mut k, &mut s, t, 1080);
        match k.poll_event() {
            Some(KeeperEvent::Renewed(ok)) => {
                assert_eq!(ok.actor, first.actor);
                assert_eq!(ok.credential_expires_at, 1180);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn transient_failure_retries_and_late_reply_is_ignored() {
        let mut k = CredentialKeeper::new(KeeperConfig::default(), 1, template());
        let mut s = ais();
        k.start(Instant::ZERO);
        let first = k.poll_call().unwrap();
        let deadline = k.poll_timeout().unwrap();
        k.handle_timeout(deadline, 1000);
        assert!(k.poll_call().is_none(), "waits for the backoff first");
        let retry_at = k.poll_timeout().unwrap();
        k.handle_timeout(retry_at, 1001);
        let second = k.poll_call().unwrap();
        assert_ne!(first.id, second.id);
        // The first call's reply shows up late and must not count.
        k.handle_reply(retry_at, 1001, first.id, Ok(s.handle(1001, first.request)));
        assert!(k.poll_event().is_none());
        k.handle_reply(retry_at, 1001, second.id, Ok(s.handle(1001, second.request)));
        assert!(matches!(k.poll_event(), Some(KeeperEvent::Registered(_))));
    }

    #[test]
    fn client_error_stops() {
        let mut bad = template();
        bad.realm = Realm(77);
        let mut k = CredentialKeeper::new(KeeperConfig::default(), 1, bad);
        let mut s = ais();
        k.start(Instant::ZERO);
        serve(&mut k, &mut s, Instant::ZERO, 1000);
        assert!(matches!(k.poll_event(), Some(KeeperEvent::Failed(ActrError::NotFound(_)))));
        k.renew_now(Instant::ZERO);
        assert!(k.poll_call().is_none());
    }

    #[test]
    fn rejected_renewal_falls_back_to_registration() {
        let mut k = CredentialKeeper::new(KeeperConfig::default(), 1, template());
        let mut s = ais();
        k.start(Instant::ZERO);
        serve(&mut k, &mut s, Instant::ZERO, 1000);
        let _ = k.poll_event();
        // A server with another key cannot validate the token.
        let mut other = AisService::new([4; 32], 2, 50, AisConfig::default());
        other.upsert_realm(RealmConfig::new(Realm(1), None)).unwrap();
        k.renew_now(Instant::ZERO);
        serve(&mut k, &mut other, Instant::ZERO, 1001);
        match k.poll_event() {
            Some(KeeperEvent::Registered(ok)) => assert_eq!(ok.actor.serial, 50),
            other => panic!("{other:?}"),
        }
    }
}
