//! Two RPC endpoints over an in-memory link that loses, duplicates and
//! reorders messages: every call resolves exactly once, and a handler runs
//! once per request however many copies arrive.

use std::collections::{BTreeMap, BTreeSet};

use actr_core::acl::{Acl, RealmSelector};
use actr_core::rng::SeededRng;
use actr_core::transport::{EndpointConfig, EndpointEvent, Outbound, RpcEndpoint};
use actr_core::{ActrError, ActrId, Duration, Instant};

fn id(s: &str) -> ActrId {
    s.parse().unwrap()
}

struct Pair {
    a: RpcEndpoint,
    b: RpcEndpoint,
    a_id: ActrId,
    b_id: ActrId,
    now: Instant,
    rng: SeededRng,
    /// (deliver at, seq, to_b, bytes)
    in_flight: BTreeMap<(Instant, u64), (bool, Vec<u8>)>,
    seq: u64,
    handler_runs: BTreeMap<u64, u32>,
    done: BTreeMap<u64, Result<Vec<u8>, ActrError>>,
    loss_permille: u32,
    dup_permille: u32,
    /// Sends that fail before reaching the link (a wire that is down).
    fail_permille: u32,
    last_resolution: Instant,
}

impl Pair {
    fn new(seed: u64, loss: u32, dup: u32, fail: u32) -> Self {
        let a_id = id("1@1/acme:caller:1");
        let b_id = id("2@1/acme:echo:1");
        Pair {
            a: RpcEndpoint::new(EndpointConfig::default(), seed, &a_id, None),
            b: RpcEndpoint::new(EndpointConfig::default(), seed + 1, &b_id, None),
            a_id,
            b_id,
            now: Instant::ZERO,
            rng: SeededRng::new(seed ^ 0xabc),
            in_flight: BTreeMap::new(),
            seq: 0,
            handler_runs: BTreeMap::new(),
            done: BTreeMap::new(),
            loss_permille: loss,
            dup_permille: dup,
            fail_permille: fail,
            last_resolution: Instant::ZERO,
        }
    }

    fn pump(&mut self) {
        loop {
            let mut moved = false;
            for from_a in [true, false] {
                let ep = if from_a { &mut self.a } else { &mut self.b };
                let mut failed: Vec<Outbound> = Vec::new();
                while let Some(out) = ep.poll_outbound() {
                    moved = true;
                    if self.rng.chance_permille(self.fail_permille) {
                        failed.push(out);
                        continue;
                    }
                    let copies = if self.rng.chance_permille(self.dup_permille) { 2 } else { 1 };
                    for _ in 0..copies {
                        if self.rng.chance_permille(self.loss_permille) {
                            continue;
                        }
                        let delay = Duration::from_millis(1 + self.rng.below(50));
                        self.seq += 1;
                        self.in_flight.insert((self.now + delay, self.seq), (from_a, out.bytes.clone()));
                    }
                }
                for out in failed {
                    ep.handle_send_failed(self.now, out, ActrError::Unavailable("wire down".into()));
                }
            }
            while let Some(ev) = self.b.poll_event() {
                moved = true;
                if let EndpointEvent::Dispatch(inbound) = ev {
                    *self.handler_runs.entry(inbound.envelope.request_id).or_default() += 1;
                    let reply = inbound.envelope.payload.clone();
                    self.b.respond(self.now, &inbound, Ok(reply));
                }
            }
            while let Some(ev) = self.a.poll_event() {
                moved = true;
                if let EndpointEvent::CallDone { request_id, result } = ev {
                    assert!(self.done.insert(request_id, result).is_none(), "call {request_id} resolved twice");
                    self.last_resolution = self.now;
                }
            }
            if !moved {
                return;
            }
        }
    }

    /// Advances to the next event; false when nothing is left.
    fn step(&mut self) -> bool {
        self.pump();
        let next_msg = self.in_flight.keys().next().map(|(t, _)| *t);
        let next = [next_msg, self.a.poll_timeout(), self.b.poll_timeout()].into_iter().flatten().min();
        let Some(t) = next else { return false };
        self.now = self.now.max(t);
        while let Some((&(at, seq), _)) = self.in_flight.iter().next() {
            if at > self.now {
                break;
            }
            let (to_b, bytes) = self.in_flight.remove(&(at, seq)).unwrap();
            if to_b {
                self.b.handle_inbound(self.now, &self.a_id.clone(), &bytes);
            } else {
                self.a.handle_inbound(self.now, &self.b_id.clone(), &bytes);
            }
        }
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
        true
    }
}

#[test]
fn every_call_resolves_exactly_once_under_loss_dup_and_send_failures() {
    for seed in 0..20 {
        let mut p = Pair::new(seed, 100, 150, 150);
        let mut issued = BTreeSet::new();
        for i in 0..50u32 {
            let call = p.a.call(
                p.now,
                p.b_id.clone(),
                "echo.Echo.Say",
                i.to_be_bytes().to_vec(),
                Duration::from_secs(10),
                None,
            );
            issued.insert(call.unwrap());
        }
        let mut steps = 0;
        while p.step() {
            steps += 1;
            assert!(steps < 100_000, "seed {seed}: did not settle");
        }
        let resolved: BTreeSet<u64> = p.done.keys().copied().collect();
        assert_eq!(resolved, issued, "seed {seed}: every call resolves");
        for (rid, runs) in &p.handler_runs {
            assert_eq!(*runs, 1, "seed {seed}: request {rid} ran {runs} times");
        }
        for (rid, r) in &p.done {
            match r {
                Ok(_) => assert!(p.handler_runs.contains_key(rid)),
                Err(ActrError::TimedOut) | Err(ActrError::Unavailable(_)) => {}
                Err(other) => panic!("seed {seed}: unexpected error {other:?}"),
            }
        }
        assert!(p.last_resolution <= Instant::ZERO + Duration::from_secs(10), "seed {seed}: resolved by the deadline");
        assert_eq!(p.a.pending_calls(), 0);
    }
}

#[test]
fn retried_request_executes_once_and_gets_the_same_answer() {
    let mut p = Pair::new(7, 0, 1000, 0); // every message duplicated
    let rid = p.a.call(p.now, p.b_id.clone(), "echo.Echo.Say", b"x".to_vec(), Duration::from_secs(5), None).unwrap();
    while p.step() {}
    assert_eq!(p.handler_runs.get(&rid), Some(&1));
    assert_eq!(p.done.get(&rid), Some(&Ok(b"x".to_vec())));
    assert!(p.b.stats().duplicates >= 1);
    assert!(p.a.stats().orphan_responses >= 1, "the duplicate response finds no waiter");
}

#[test]
fn acl_denied_caller_gets_permission_denied_and_handler_never_runs() {
    let mut p = Pair::new(1, 0, 0, 0);
    let only_ops = Acl::default().allow("acme:ops:1".parse().unwrap(), RealmSelector::Own);
    p.b = RpcEndpoint::new(EndpointConfig::default(), 9, &p.b_id.clone(), Some(only_ops));
    let rid = p.a.call(p.now, p.b_id.clone(), "echo.Echo.Say", vec![], Duration::from_secs(5), None).unwrap();
    p.a.tell(p.b_id.clone(), "echo.Echo.Note", vec![], None).unwrap();
    while p.step() {}
    assert!(matches!(p.done.get(&rid), Some(Err(ActrError::PermissionDenied(_)))));
    assert!(p.handler_runs.is_empty());
    assert_eq!(p.b.stats().acl_denied, 2);
}

#[test]
fn permanent_send_failure_fails_fast_and_transient_exhausts_attempts() {
    let mut a = RpcEndpoint::new(EndpointConfig::default(), 1, &id("1@1/a:b:1"), None);
    let dest = id("2@1/a:c:1");
    let rid = a.call(Instant::ZERO, dest.clone(), "k", vec![], Duration::from_secs(60), None).unwrap();
    let out = a.poll_outbound().unwrap();
    a.handle_send_failed(Instant::ZERO, out, ActrError::NotFound("no route".into()));
    assert_eq!(
        a.poll_event(),
        Some(EndpointEvent::CallDone { request_id: rid, result: Err(ActrError::NotFound("no route".into())) })
    );

    let rid = a.call(Instant::ZERO, dest, "k", vec![], Duration::from_secs(60), None).unwrap();
    let first = a.poll_outbound().unwrap();
    let mut bytes_seen = vec![first.bytes.clone()];
    let mut out = first;
    let mut now = Instant::ZERO;
    loop {
        a.handle_send_failed(now, out, ActrError::Unavailable("down".into()));
        if let Some(ev) = a.poll_event() {
            assert_eq!(
                ev,
                EndpointEvent::CallDone { request_id: rid, result: Err(ActrError::Unavailable("down".into())) }
            );
            break;
        }
        now = a.poll_timeout().unwrap();
        a.handle_timeout(now);
        out = a.poll_outbound().unwrap();
        bytes_seen.push(out.bytes.clone());
    }
    assert_eq!(bytes_seen.len(), 5, "five attempts in all");
    assert!(bytes_seen.windows(2).all(|w| w[0] == w[1]), "retries resend identical bytes");
    assert_eq!(now, Instant::ZERO + Duration::from_secs(1 + 2 + 4 + 5));
}

#[test]
fn malformed_inbound_is_counted_and_ignored() {
    let mut b = RpcEndpoint::new(EndpointConfig::default(), 1, &id("1@1/a:b:1"), None);
    b.handle_inbound(Instant::ZERO, &id("2@1/a:c:1"), &[1, 2, 3, 4]);
    b.handle_inbound(Instant::ZERO, &id("2@1/a:c:1"), &[]);
    assert_eq!(b.stats().malformed, 2);
    assert!(b.poll_event().is_none());
    assert!(b.poll_outbound().is_none());
}

#[test]
fn trace_id_crosses_the_call() {
    let mut p = Pair::new(3, 0, 0, 0);
    let parent = actr_core::transport::TraceContext::root(0x1111, 0x2222, 1);
    p.a.call(p.now, p.b_id.clone(), "k", vec![], Duration::from_secs(5), Some(&parent)).unwrap();
    p.pump();
    let (_, (_, bytes)) = p.in_flight.iter().next().unwrap();
    let env = actr_core::transport::RpcEnvelope::decode(bytes).unwrap();
    assert_eq!(env.trace.unwrap().trace_id(), parent.trace_id());
}

#[test]
fn a_response_from_another_peer_does_not_resolve_the_call() {
    let mut a = RpcEndpoint::new(EndpointConfig::default(), 1, &id("1@1/a:b:1"), None);
    let dest = id("2@1/a:c:1");
    let rid = a.call(Instant::ZERO, dest.clone(), "k", vec![], Duration::from_secs(5), None).unwrap();
    let out = a.poll_outbound().unwrap();
    let request = actr_core::transport::RpcEnvelope::decode(&out.bytes).unwrap();
    let forged = request.respond(Ok(b"forged".to_vec())).encode().unwrap();
    a.handle_inbound(Instant::ZERO, &id("3@1/a:evil:1"), &forged);
    assert!(a.poll_event().is_none(), "a third party cannot answer");
    assert_eq!(a.stats().orphan_responses, 1);
    let real = request.respond(Ok(b"real".to_vec())).encode().unwrap();
    a.handle_inbound(Instant::ZERO, &dest, &real);
    assert_eq!(a.poll_event(), Some(EndpointEvent::CallDone { request_id: rid, result: Ok(b"real".to_vec()) }));
}
