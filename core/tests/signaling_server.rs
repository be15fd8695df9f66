//! The signaling server state machine driven directly, one rule per test.

use actr_core::acl::{Acl, RealmSelector};
use std::collections::BTreeMap;

use actr_core::ais::{AisConfig, AisReply, AisRequest, AisService, RealmConfig, RegisterOk, RegisterRequest};
use actr_core::id::{ActrType, ServiceSpec};
use actr_core::proof::{HostKey, Statement};
use actr_core::signaling::messages::*;
use actr_core::signaling::{CloseReason, RateLimit, ServerConfig, SignalingServer};
use actr_core::wire::{decode_message, encode_message};
use actr_core::{ActrError, ActrId, Duration, Instant, Realm};

const UNIX: u64 = 10_000;

struct World {
    ais: AisService,
    server: SignalingServer,
    keys: BTreeMap<ActrId, HostKey>,
}

fn world(config: ServerConfig) -> World {
    let mut ais = AisService::new([1; 32], 1, 1, AisConfig::default());
    for r in [1, 2] {
        ais.upsert_realm(RealmConfig::new(Realm(r), None)).unwrap();
    }
    let server = SignalingServer::new(config, ais.key_ring(), [3; 32]);
    World { ais, server, keys: BTreeMap::new() }
}

fn signed_request(ty: &str, realm: u32, key: &HostKey) -> RegisterRequest {
    let mut req = RegisterRequest::new(ty.parse().unwrap(), Realm(realm), None);
    req.sign(key);
    req
}

impl World {
    fn register(&mut self, ty: &str, realm: u32) -> RegisterOk {
        let key = HostKey::from_seed([self.keys.len() as u8 + 1; 32]);
        match self.ais.handle(UNIX, AisRequest::Register(signed_request(ty, realm, &key))) {
            AisReply::Registered(ok) => {
                self.keys.insert(ok.actor.clone(), key);
                ok
            }
            other => panic!("{other:?}"),
        }
    }

    /// Opens `conn` and takes the server's challenge.
    fn open(&mut self, conn: u64) -> [u8; 32] {
        self.server.handle_connect(Instant::ZERO, conn).unwrap();
        match self.recv(conn).as_slice() {
            [ServerMsg::Challenge { nonce }] => *nonce,
            other => panic!("expected a challenge first, got {other:?}"),
        }
    }

    /// `who`'s hello answering `nonce`, signed with `key`.
    fn hello(who: &RegisterOk, nonce: &[u8; 32], key: &HostKey, profile: ActorProfile) -> ClientMsg {
        let proof = key.sign(&Statement::SignalingHello { nonce, actor: &who.actor });
        ClientMsg::Hello { actor: who.actor.clone(), credential: who.credential.clone(), profile, proof }
    }

    fn connect(&mut self, conn: u64, who: &RegisterOk, acl: Option<Acl>) {
        let nonce = self.open(conn);
        let profile = ActorProfile { acl, ..Default::default() };
        let hello = World::hello(who, &nonce, &self.keys[&who.actor], profile);
        self.send(conn, &hello);
        assert!(matches!(self.recv(conn).as_slice(), [ServerMsg::Welcome { .. }]));
    }

    fn send(&mut self, conn: u64, msg: &ClientMsg) {
        let bytes = encode_message(msg, MAX_SIGNALING_FRAME).unwrap();
        self.server.handle_frame(Instant::ZERO, UNIX, conn, &bytes);
    }

    fn request(
        &mut self,
        conn: u64,
        who: &RegisterOk,
        id: u64,
        request: ClientRequest,
    ) -> Result<ServerReply, ActrError> {
        let msg = ClientMsg::Signed {
            source: who.actor.clone(),
            credential: who.credential.clone(),
            body: ClientBody::Request { id, request },
        };
        self.send(conn, &msg);
        let replies = self.recv(conn);
        match replies.as_slice() {
            [ServerMsg::Reply { id: got, result }] if *got == id => result.clone().map_err(ActrError::from),
            other => panic!("expected one reply, got {other:?}"),
        }
    }

    fn recv(&mut self, conn: u64) -> Vec<ServerMsg> {
        let mut out = Vec::new();
        while let Some(bytes) = self.server.pop_outbound(conn) {
            out.push(decode_message(&bytes, MAX_SIGNALING_FRAME).unwrap());
        }
        out
    }
}

#[test]
fn discovery_and_route_candidates_follow_acl() {
    let mut w = world(ServerConfig::default());
    let echo = w.register("acme:echo:1", 1);
    let caller = w.register("acme:caller:1", 1);
    let stranger = w.register("acme:caller:1", 2);
    let private = w.register("acme:vault:1", 1);
    w.connect(1, &echo, None);
    w.connect(2, &caller, None);
    w.connect(3, &stranger, None);
    let only_ops = Acl::default().allow("acme:ops:1".parse().unwrap(), RealmSelector::Own);
    w.connect(4, &private, Some(only_ops));

    let found = w.request(2, &caller, 1, ClientRequest::Discover { manufacturer: None, limit: 10 }).unwrap();
    let ServerReply::Discovered(types) = found else { panic!() };
    let names: Vec<String> = types.iter().map(|t| t.name.clone()).collect();
    assert!(names.contains(&"echo".to_string()));
    assert!(!names.contains(&"vault".to_string()), "ACL hides the vault: {names:?}");

    let route = ClientRequest::RouteCandidates { target_type: "acme:echo:1".parse().unwrap(), limit: 5 };
    let ServerReply::Candidates(c) = w.request(2, &caller, 2, route.clone()).unwrap() else { panic!() };
    assert_eq!(c.iter().map(|c| &c.actor).collect::<Vec<_>>(), vec![&echo.actor]);
    // Without an ACL an actor is visible to its own realm only.
    let ServerReply::Candidates(c) = w.request(3, &stranger, 3, route).unwrap() else { panic!() };
    assert!(c.is_empty());
}

#[test]
fn forged_source_is_refused_and_nothing_is_relayed() {
    let mut w = world(ServerConfig::default());
    let alice = w.register("acme:a:1", 1);
    let bob = w.register("acme:b:1", 1);
    let mallory = w.register("acme:m:1", 1);
    w.connect(1, &alice, None);
    w.connect(2, &bob, None);
    w.connect(3, &mallory, None);
    // Mallory claims to be Alice but holds only her own credential.
    let forged = ClientMsg::Signed {
        source: alice.actor.clone(),
        credential: mallory.credential.clone(),
        body: ClientBody::Request {
            id: 9,
            request: ClientRequest::Relay { target: bob.actor.clone(), payload: vec![1] },
        },
    };
    w.send(3, &forged);
    match w.recv(3).as_slice() {
        [ServerMsg::Reply { id: 9, result: Err(e) }] => assert_eq!(e.code, 10004),
        other => panic!("{other:?}"),
    }
    assert!(w.recv(2).is_empty(), "bob received nothing");
    assert_eq!(w.server.stats().forged_relays, 1);
    // Using Alice's credential on Mallory's connection is refused as well.
    let stolen = ClientMsg::Signed {
        source: alice.actor.clone(),
        credential: alice.credential.clone(),
        body: ClientBody::Request {
            id: 10,
            request: ClientRequest::Relay { target: bob.actor.clone(), payload: vec![1] },
        },
    };
    w.send(3, &stolen);
    assert!(matches!(w.recv(3).as_slice(), [ServerMsg::Reply { id: 10, result: Err(e) }] if e.code == 10004));
    assert!(w.recv(2).is_empty());
    // A genuine relay still works.
    assert_eq!(
        w.request(1, &alice, 1, ClientRequest::Relay { target: bob.actor.clone(), payload: vec![7] }),
        Ok(ServerReply::Relayed)
    );
    assert!(
        matches!(w.recv(2).as_slice(), [ServerMsg::Relay { source, payload }] if *source == alice.actor && payload == &vec![7])
    );
}

#[test]
fn expired_or_foreign_credentials_are_refused() {
    let mut w = world(ServerConfig::default());
    let alice = w.register("acme:a:1", 1);
    let nonce = w.open(1);
    let hello = World::hello(&alice, &nonce, &w.keys[&alice.actor], ActorProfile::default());
    let bytes = encode_message(&hello, MAX_SIGNALING_FRAME).unwrap();
    w.server.handle_frame(Instant::ZERO, alice.credential_expires_at, 1, &bytes);
    assert!(matches!(w.recv(1).as_slice(), [ServerMsg::Error(e)] if e.code == 10012));
    assert!(matches!(w.server.poll_close(), Some((1, CloseReason::Refused(_)))));

    let mut other = AisService::new([2; 32], 1, 1, AisConfig::default());
    other.upsert_realm(RealmConfig::new(Realm(1), None)).unwrap();
    let key = HostKey::from_seed([99; 32]);
    let req = signed_request("acme:a:1", 1, &key);
    let AisReply::Registered(foreign) = other.handle(UNIX, AisRequest::Register(req)) else { panic!() };
    let nonce = w.open(2);
    w.send(2, &World::hello(&foreign, &nonce, &key, ActorProfile::default()));
    assert!(matches!(w.recv(2).as_slice(), [ServerMsg::Error(e)] if e.code == 10012));
}

#[test]
fn a_captured_credential_or_hello_binds_nothing() {
    let mut w = world(ServerConfig::default());
    let alice = w.register("acme:a:1", 1);
    let bob = w.register("acme:b:1", 1);
    w.connect(1, &alice, None);
    w.connect(2, &bob, None);
    // Mallory saw Alice's credential (in a hello, a log, a proxy) and signs
    // the challenge with a key of her own.
    let mallory = HostKey::from_seed([66; 32]);
    let nonce = w.open(3);
    w.send(3, &World::hello(&alice, &nonce, &mallory, ActorProfile::default()));
    let refused = w.recv(3);
    assert!(
        matches!(refused.as_slice(), [ServerMsg::Error(e)] if e.code == 10012 && e.message.contains("possession")),
        "{refused:?}"
    );
    assert!(matches!(w.server.poll_close(), Some((3, CloseReason::Refused(_)))));
    // She replays Alice's whole hello, captured on connection 1: it signs
    // connection 1's challenge, not this one's.
    let old_nonce = [0; 32]; // any nonce other than connection 4's
    let captured = World::hello(&alice, &old_nonce, &w.keys[&alice.actor], ActorProfile::default());
    let _ = w.open(4);
    w.send(4, &captured);
    assert!(matches!(w.recv(4).as_slice(), [ServerMsg::Error(e)] if e.code == 10012));
    // Alice was never displaced, and still gets her relays.
    assert_eq!(w.server.stats().hellos_accepted, 2);
    let relay = ClientRequest::Relay { target: alice.actor.clone(), payload: vec![1] };
    assert_eq!(w.request(2, &bob, 1, relay), Ok(ServerReply::Relayed));
    assert!(matches!(w.recv(1).as_slice(), [ServerMsg::Relay { source, .. }] if *source == bob.actor));
}

#[test]
fn request_after_expiry_on_live_connection_is_unauthenticated() {
    let mut w = world(ServerConfig::default());
    let alice = w.register("acme:a:1", 1);
    w.connect(1, &alice, None);
    let ping = ClientMsg::Signed {
        source: alice.actor.clone(),
        credential: alice.credential.clone(),
        body: ClientBody::Request { id: 1, request: ClientRequest::Ping },
    };
    let bytes = encode_message(&ping, MAX_SIGNALING_FRAME).unwrap();
    w.server.handle_frame(Instant::ZERO, alice.credential_expires_at + 1, 1, &bytes);
    assert!(matches!(w.recv(1).as_slice(), [ServerMsg::Reply { id: 1, result: Err(e) }] if e.code == 10012));
}

#[test]
fn presence_up_and_down_reach_subscribers() {
    let mut w = world(ServerConfig::default());
    let watcher = w.register("acme:w:1", 1);
    let echo = w.register("acme:echo:1", 1);
    w.connect(1, &watcher, None);
    let sub = ClientRequest::Subscribe { target_type: echo.actor.actr_type.clone() };
    assert_eq!(w.request(1, &watcher, 1, sub), Ok(ServerReply::Subscribed));
    w.connect(2, &echo, None);
    assert!(matches!(w.recv(1).as_slice(), [ServerMsg::Presence { actor, up: true }] if *actor == echo.actor));
    w.server.handle_disconnect(Instant::ZERO, 2);
    assert!(matches!(w.recv(1).as_slice(), [ServerMsg::Presence { actor, up: false }] if *actor == echo.actor));
}

#[test]
fn silent_connections_time_out() {
    let config = ServerConfig::default();
    let mut w = world(config);
    let alice = w.register("acme:a:1", 1);
    w.connect(1, &alice, None);
    w.server.handle_connect(Instant::ZERO, 2).unwrap(); // never says hello
    w.server.handle_timeout(Instant::ZERO + config.hello_timeout);
    assert_eq!(w.server.poll_close(), Some((2, CloseReason::HelloTimeout)));
    assert_eq!(w.server.poll_close(), None);
    w.server.handle_timeout(Instant::ZERO + config.heartbeat_timeout);
    assert_eq!(w.server.poll_close(), Some((1, CloseReason::HeartbeatTimeout)));
    assert_eq!(w.server.online().count(), 0, "a closing connection is no longer a route");
}

fn relay(from: &RegisterOk, to: &RegisterOk, id: u64, size: usize) -> ClientMsg {
    ClientMsg::Signed {
        source: from.actor.clone(),
        credential: from.credential.clone(),
        body: ClientBody::Request {
            id,
            request: ClientRequest::Relay { target: to.actor.clone(), payload: vec![0; size] },
        },
    }
}

fn ping(who: &RegisterOk, id: u64) -> ClientMsg {
    ClientMsg::Signed {
        source: who.actor.clone(),
        credential: who.credential.clone(),
        body: ClientBody::Request { id, request: ClientRequest::Ping },
    }
}

#[test]
fn relay_to_a_full_target_is_an_error_to_the_sender_and_the_target_stays() {
    let config = ServerConfig { max_queue_messages: 8, ..Default::default() };
    let mut w = world(config);
    let alice = w.register("acme:a:1", 1);
    let bob = w.register("acme:b:1", 1);
    w.connect(1, &alice, None);
    w.connect(2, &bob, None);
    let mut results = Vec::new();
    for id in 0..10 {
        w.send(1, &relay(&alice, &bob, id, 1000));
        match w.recv(1).as_slice() {
            [ServerMsg::Reply { result, .. }] => results.push(result.clone().map_err(ActrError::from)),
            other => panic!("{other:?}"),
        }
    }
    // Others may fill three quarters of bob's queue: six relays, then refusals.
    assert!(results[..6].iter().all(|r| *r == Ok(ServerReply::Relayed)), "{results:?}");
    assert!(results[6..].iter().all(|r| matches!(r, Err(ActrError::ResourceExhausted(_)))), "{results:?}");
    assert_eq!(w.server.poll_close(), None, "bob is not disconnected for alice's traffic");
    assert_eq!(w.server.stats().relays_refused, 4);
    assert_eq!(w.server.stats().slow_consumers, 0);
    // Bob's own request still has room for its reply, and once he reads, relays flow again.
    w.send(2, &ping(&bob, 1));
    let got = w.recv(2);
    assert_eq!(got.iter().filter(|m| matches!(m, ServerMsg::Relay { .. })).count(), 6);
    assert!(matches!(got.last(), Some(ServerMsg::Reply { id: 1, result: Ok(ServerReply::Pong) })));
    w.send(1, &relay(&alice, &bob, 20, 1000));
    assert!(matches!(w.recv(1).as_slice(), [ServerMsg::Reply { result: Ok(ServerReply::Relayed), .. }]));
}

#[test]
fn a_client_that_does_not_read_its_replies_is_a_slow_consumer() {
    let config = ServerConfig { max_queue_messages: 4, ..Default::default() };
    let mut w = world(config);
    let alice = w.register("acme:a:1", 1);
    let bob = w.register("acme:b:1", 1);
    w.connect(1, &alice, None);
    w.connect(2, &bob, None);
    for id in 0..5 {
        w.send(1, &ping(&alice, id));
    }
    assert_eq!(w.server.poll_close(), Some((1, CloseReason::SlowConsumer)));
    assert!(w.server.queued_bytes() < 8_000);
    assert_eq!(w.server.stats().slow_consumers, 1);
    assert_eq!(w.request(2, &bob, 9, ClientRequest::Ping), Ok(ServerReply::Pong), "bob is still served");
}

#[test]
fn messages_over_the_rate_are_refused_then_the_sender_is_closed() {
    let rate = RateLimit { burst: 4, per_second: 10, max_refusals: 3 };
    let mut w = world(ServerConfig { rate, ..Default::default() });
    let alice = w.register("acme:a:1", 1);
    let bob = w.register("acme:b:1", 1);
    w.connect(1, &alice, None); // the hello takes one token
    w.connect(2, &bob, None);
    for id in 0..3 {
        w.send(1, &ping(&alice, id));
        assert!(matches!(w.recv(1).as_slice(), [ServerMsg::Reply { result: Ok(ServerReply::Pong), .. }]));
    }
    w.send(1, &ping(&alice, 3));
    // Refused under the request's id: the caller's request fails at once.
    match w.recv(1).as_slice() {
        [ServerMsg::Reply { id: 3, result: Err(e) }] => {
            assert!(matches!(ActrError::from(e.clone()), ActrError::ResourceExhausted(_)))
        }
        other => panic!("expected a rate-limit error for request 3, got {other:?}"),
    }
    // A client that waits is served again.
    let later = Instant::ZERO + Duration::from_millis(100);
    let bytes = encode_message(&ping(&alice, 4), MAX_SIGNALING_FRAME).unwrap();
    w.server.handle_frame(later, UNIX, 1, &bytes);
    assert!(matches!(w.recv(1).as_slice(), [ServerMsg::Reply { id: 4, result: Ok(ServerReply::Pong) }]));
    // One that keeps going is closed after three refusals in a row.
    for _ in 0..3 {
        w.server.handle_frame(later, UNIX, 1, &bytes);
    }
    assert_eq!(w.server.poll_close(), Some((1, CloseReason::RateLimited)));
    assert_eq!(w.server.stats().rate_limited, 4);
    assert_eq!(w.request(2, &bob, 1, ClientRequest::Ping), Ok(ServerReply::Pong), "bob has his own bucket");
}

#[test]
fn credentials_that_fail_verification_are_strikes() {
    let config = ServerConfig::default();
    let mut w = world(config);
    let alice = w.register("acme:a:1", 1);
    let bob = w.register("acme:b:1", 1);
    w.connect(1, &alice, None);
    w.connect(2, &bob, None);
    // Alice's source with bob's credential: a full verification that fails, each time.
    let bad = ClientMsg::Signed {
        source: alice.actor.clone(),
        credential: bob.credential.clone(),
        body: ClientBody::Request { id: 1, request: ClientRequest::Ping },
    };
    for n in 1..=config.max_strikes {
        w.send(1, &bad);
        match w.recv(1).as_slice() {
            [ServerMsg::Reply { result: Err(e), .. }] => assert_eq!(e.code, 10012),
            other => panic!("{other:?}"),
        }
        let expected = if n < config.max_strikes { None } else { Some((1, CloseReason::TooManyErrors)) };
        assert_eq!(w.server.poll_close(), expected, "after {n} refusals");
    }
    assert_eq!(w.server.stats().auth_failures, u64::from(config.max_strikes));
    assert_eq!(w.request(2, &bob, 3, ClientRequest::Ping), Ok(ServerReply::Pong));
}

#[test]
fn an_oversized_profile_field_refuses_the_hello_and_names_the_field() {
    let mut w = world(ServerConfig::default());
    let alice = w.register("acme:a:1", 1);
    let nonce = w.open(1);
    let service = ServiceSpec { tags: vec!["t".repeat(1000)], ..Default::default() };
    let profile = ActorProfile { service: Some(service), ..Default::default() };
    let hello = World::hello(&alice, &nonce, &w.keys[&alice.actor], profile);
    w.send(1, &hello);
    match w.recv(1).as_slice() {
        [ServerMsg::Error(e)] => {
            assert_eq!(e.code, 10005);
            assert!(e.message.starts_with("profile.service.tags"), "{}", e.message);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(w.server.poll_close(), Some((1, CloseReason::Refused(_)))));
    assert_eq!(w.server.online().count(), 0);
    w.connect(2, &alice, None);
}

#[test]
fn a_subscription_to_an_oversized_type_is_refused() {
    let mut w = world(ServerConfig::default());
    let alice = w.register("acme:a:1", 1);
    w.connect(1, &alice, None);
    let target_type = ActrType { manufacturer: "m".repeat(200), name: "n".into(), version: "1".into() };
    match w.request(1, &alice, 1, ClientRequest::Subscribe { target_type }) {
        Err(ActrError::InvalidArgument(m)) => assert!(m.starts_with("target_type.manufacturer"), "{m}"),
        other => panic!("{other:?}"),
    }
    let fine = ClientRequest::Subscribe { target_type: "acme:b:1".parse().unwrap() };
    assert_eq!(w.request(1, &alice, 2, fine), Ok(ServerReply::Subscribed));
}

#[test]
fn presence_to_a_full_subscriber_is_dropped_not_a_disconnect() {
    let config = ServerConfig { max_queue_messages: 4, ..Default::default() };
    let mut w = world(config);
    let watcher = w.register("acme:w:1", 1);
    w.connect(1, &watcher, None);
    let sub = ClientRequest::Subscribe { target_type: "acme:echo:1".parse().unwrap() };
    assert_eq!(w.request(1, &watcher, 1, sub), Ok(ServerReply::Subscribed));
    // Five echo actors come up while the watcher does not read: three fit.
    for conn in 10..15 {
        let echo = w.register("acme:echo:1", 1);
        w.connect(conn, &echo, None);
    }
    assert_eq!(w.server.poll_close(), None);
    assert_eq!(w.server.stats().presence_dropped, 2);
    assert_eq!(w.recv(1).len(), 3);
    let route = ClientRequest::RouteCandidates { target_type: "acme:echo:1".parse().unwrap(), limit: 10 };
    let Ok(ServerReply::Candidates(c)) = w.request(1, &watcher, 2, route) else { panic!() };
    assert_eq!(c.len(), 5, "route candidates are the truth");
    assert!(c.windows(2).all(|p| p[0].actor.serial > p[1].actor.serial), "newest first");
}

#[test]
fn newer_connection_displaces_older() {
    let mut w = world(ServerConfig::default());
    let alice = w.register("acme:a:1", 1);
    w.connect(1, &alice, None);
    w.connect(2, &alice, None);
    assert_eq!(w.server.poll_close(), Some((1, CloseReason::Displaced)));
    assert_eq!(w.server.online().count(), 1);
}

#[test]
fn garbage_gets_typed_errors_then_close_after_strikes() {
    let config = ServerConfig::default();
    let mut w = world(config);
    let _challenge = w.open(1);
    w.server.handle_frame(Instant::ZERO, UNIX, 1, &[0xde, 0xad]);
    assert!(matches!(w.recv(1).as_slice(), [ServerMsg::Error(e)] if e.code == 10005));
    w.server.handle_frame(Instant::ZERO, UNIX, 1, &[1, 0xff, 0xff, 0xff]);
    assert!(matches!(w.recv(1).as_slice(), [ServerMsg::Error(e)] if e.code == 10008));
    for _ in 2..config.max_strikes {
        w.server.handle_frame(Instant::ZERO, UNIX, 1, &[1, 0xff]);
    }
    assert_eq!(w.server.poll_close(), Some((1, CloseReason::TooManyErrors)));
}

#[test]
fn connection_table_is_bounded() {
    let mut w = world(ServerConfig { max_connections: 2, ..Default::default() });
    w.server.handle_connect(Instant::ZERO, 1).unwrap();
    w.server.handle_connect(Instant::ZERO, 2).unwrap();
    assert!(matches!(w.server.handle_connect(Instant::ZERO, 3), Err(ActrError::ResourceExhausted(_))));
    w.server.handle_disconnect(Instant::ZERO + Duration::from_secs(1), 1);
    assert!(w.server.handle_connect(Instant::ZERO, 3).is_ok());
}
