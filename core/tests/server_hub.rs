//! The server hub's drive loop: what it yields, in which order, and what a
//! host must persist.

use actr_core::ais::{
    AisConfig, AisReply, AisRequest, AisService, NoPackages, RealmConfig, RegisterOk, RegisterRequest,
};
use actr_core::proof::{HostKey, Statement};
use actr_core::server::{AisAnswer, ServerHub, ServerOutput};
use actr_core::signaling::messages::*;
use actr_core::signaling::{CloseReason, ServerConfig};
use actr_core::wire::{decode_message, encode_message};
use actr_core::{ActrError, Duration, Instant, Realm};

const UNIX: u64 = 10_000;

fn hub_from(next_serial: u64, config: ServerConfig) -> ServerHub {
    let mut ais = AisService::new([1; 32], 1, next_serial, AisConfig::default());
    ais.upsert_realm(RealmConfig::new(Realm(1), None)).unwrap();
    ServerHub::new(ais, config, [3; 32])
}

fn hub() -> ServerHub {
    hub_from(1, ServerConfig::default())
}

fn register_request(ty: &str, key: &HostKey) -> AisRequest {
    let mut req = RegisterRequest::new(ty.parse().unwrap(), Realm(1), None);
    req.sign(key);
    AisRequest::Register(req)
}

/// Registers `ty` and returns the reply with the key it binds.
fn register(hub: &mut ServerHub, ty: &str, seed: u8) -> (RegisterOk, HostKey) {
    let key = HostKey::from_seed([seed; 32]);
    match hub.handle_ais(UNIX, register_request(ty, &key), &mut NoPackages).into_reply() {
        AisReply::Registered(ok) => (ok, key),
        other => panic!("{other:?}"),
    }
}

fn drain(hub: &mut ServerHub) -> Vec<ServerOutput> {
    std::iter::from_fn(|| hub.poll_output()).collect()
}

fn pop_all(hub: &mut ServerHub, conn: u64) -> Vec<ServerMsg> {
    std::iter::from_fn(|| hub.pop_outbound(conn)).map(|b| decode_message(&b, MAX_SIGNALING_FRAME).unwrap()).collect()
}

fn send(hub: &mut ServerHub, now: Instant, conn: u64, msg: &ClientMsg) {
    hub.handle_frame(now, UNIX, conn, &encode_message(msg, MAX_SIGNALING_FRAME).unwrap());
}

/// Opens `conn`, checks it is woken for its challenge, and returns the nonce.
fn open(hub: &mut ServerHub, now: Instant, conn: u64) -> [u8; 32] {
    hub.handle_connect(now, conn).unwrap();
    assert_eq!(drain(hub), vec![ServerOutput::Wake(conn)]);
    match pop_all(hub, conn).as_slice() {
        [ServerMsg::Challenge { nonce }] => *nonce,
        other => panic!("expected a challenge, got {other:?}"),
    }
}

fn hello(who: &RegisterOk, key: &HostKey, nonce: &[u8; 32]) -> ClientMsg {
    let proof = key.sign(&Statement::SignalingHello { nonce, actor: &who.actor });
    ClientMsg::Hello {
        actor: who.actor.clone(),
        credential: who.credential.clone(),
        profile: Default::default(),
        proof,
    }
}

fn signed(who: &RegisterOk, body: ClientBody) -> ClientMsg {
    ClientMsg::Signed { source: who.actor.clone(), credential: who.credential.clone(), body }
}

/// Opens `conn` and binds it to `who`.
fn bind(hub: &mut ServerHub, now: Instant, conn: u64, who: &RegisterOk, key: &HostKey) {
    let nonce = open(hub, now, conn);
    send(hub, now, conn, &hello(who, key, &nonce));
    assert_eq!(drain(hub), vec![ServerOutput::Wake(conn)]);
    assert!(matches!(pop_all(hub, conn).as_slice(), [ServerMsg::Welcome { .. }]));
}

#[test]
fn a_refusal_is_flushed_before_its_close() {
    let mut hub = hub();
    let (alice, _) = register(&mut hub, "acme:a:1", 1);
    let nonce = open(&mut hub, Instant::ZERO, 1);
    // Signed with a key the credential does not bind: the hello is refused.
    send(&mut hub, Instant::ZERO, 1, &hello(&alice, &HostKey::from_seed([9; 32]), &nonce));
    let out = drain(&mut hub);
    assert!(matches!(out.as_slice(), [ServerOutput::Close(1, CloseReason::Refused(_))]), "one close, no wake: {out:?}");
    // The close left the refusal in the queue for the host to flush first.
    assert!(matches!(pop_all(&mut hub, 1).as_slice(), [ServerMsg::Error(_)]));
    assert_eq!(hub.signaling().connection_count(), 1, "closed, not yet disconnected");
    hub.handle_disconnect(Instant::ZERO, 1);
    assert_eq!(hub.signaling().connection_count(), 0);
    assert!(drain(&mut hub).is_empty());
}

/// Subscribes `who` on `conn` to `target`'s type and takes the reply.
fn subscribe(hub: &mut ServerHub, conn: u64, who: &RegisterOk, target: &RegisterOk) {
    let request = ClientRequest::Subscribe { target_type: target.actor.actr_type.clone() };
    send(hub, Instant::ZERO, conn, &signed(who, ClientBody::Request { id: 1, request }));
    assert_eq!(drain(hub), vec![ServerOutput::Wake(conn)]);
    pop_all(hub, conn);
}

#[test]
fn closes_come_before_wakeups() {
    let mut hub = hub();
    let (alice, alice_key) = register(&mut hub, "acme:a:1", 1);
    let (watcher, watcher_key) = register(&mut hub, "acme:w:1", 2);
    bind(&mut hub, Instant::ZERO, 1, &alice, &alice_key);
    // The watcher's id sorts before alice's, so only the rule puts the close first.
    bind(&mut hub, Instant::ZERO, 0, &watcher, &watcher_key);
    subscribe(&mut hub, 0, &watcher, &alice);
    send(&mut hub, Instant::ZERO, 1, &signed(&alice, ClientBody::Goodbye));
    assert_eq!(drain(&mut hub), vec![ServerOutput::Close(1, CloseReason::Goodbye), ServerOutput::Wake(0)]);
    assert!(matches!(pop_all(&mut hub, 0).as_slice(), [ServerMsg::Presence { up: false, .. }]));
}

#[test]
fn a_closed_connections_disconnect_is_recorded_once() {
    let mut hub = hub();
    let (alice, alice_key) = register(&mut hub, "acme:a:1", 1);
    let (watcher, watcher_key) = register(&mut hub, "acme:w:1", 2);
    bind(&mut hub, Instant::ZERO, 1, &watcher, &watcher_key);
    subscribe(&mut hub, 1, &watcher, &alice);
    let nonce = open(&mut hub, Instant::ZERO, 2);
    send(&mut hub, Instant::ZERO, 2, &hello(&alice, &alice_key, &nonce));
    assert_eq!(drain(&mut hub), vec![ServerOutput::Wake(1), ServerOutput::Wake(2)]);
    assert!(matches!(pop_all(&mut hub, 1).as_slice(), [ServerMsg::Presence { up: true, .. }]));
    pop_all(&mut hub, 2);

    send(&mut hub, Instant::ZERO, 2, &signed(&alice, ClientBody::Goodbye));
    assert_eq!(drain(&mut hub), vec![ServerOutput::Close(2, CloseReason::Goodbye), ServerOutput::Wake(1)]);
    assert!(hub.online().all(|a| *a != alice.actor), "alice is offline once closing");
    // The host reports the socket gone twice (its task and its guard, say).
    for _ in 0..2 {
        hub.handle_disconnect(Instant::ZERO, 2);
        assert_eq!(drain(&mut hub), vec![]);
    }
    let presence = pop_all(&mut hub, 1);
    assert!(matches!(presence.as_slice(), [ServerMsg::Presence { up: false, .. }]), "one down event: {presence:?}");
    assert_eq!(hub.signaling().connection_count(), 1);
    // Nothing more is taken from, or queued for, the gone connection.
    send(&mut hub, Instant::ZERO, 2, &signed(&alice, ClientBody::Request { id: 2, request: ClientRequest::Ping }));
    assert_eq!(drain(&mut hub), vec![]);
    assert_eq!(hub.pop_outbound(2), None);
}

#[test]
fn a_dropped_socket_is_announced_down_once() {
    let mut hub = hub();
    let (alice, alice_key) = register(&mut hub, "acme:a:1", 1);
    let (watcher, watcher_key) = register(&mut hub, "acme:w:1", 2);
    bind(&mut hub, Instant::ZERO, 2, &alice, &alice_key);
    bind(&mut hub, Instant::ZERO, 1, &watcher, &watcher_key);
    subscribe(&mut hub, 1, &watcher, &alice);
    // The client vanished: no close was asked for, the host just reports it.
    hub.handle_disconnect(Instant::ZERO, 2);
    assert_eq!(drain(&mut hub), vec![ServerOutput::Wake(1)]);
    hub.handle_disconnect(Instant::ZERO, 2);
    assert_eq!(drain(&mut hub), vec![]);
    assert!(matches!(pop_all(&mut hub, 1).as_slice(), [ServerMsg::Presence { up: false, .. }]));
}

#[test]
fn a_socket_gone_before_the_drain_is_not_closed() {
    let mut hub = hub();
    let (alice, _) = register(&mut hub, "acme:a:1", 1);
    let nonce = open(&mut hub, Instant::ZERO, 1);
    send(&mut hub, Instant::ZERO, 1, &hello(&alice, &HostKey::from_seed([9; 32]), &nonce));
    hub.handle_disconnect(Instant::ZERO, 1);
    assert_eq!(drain(&mut hub), vec![]);
}

#[test]
fn hello_and_heartbeat_timeouts_close_at_their_deadlines() {
    let config = ServerConfig {
        hello_timeout: Duration::from_secs(10),
        heartbeat_timeout: Duration::from_secs(75),
        ..ServerConfig::default()
    };
    let mut hub = hub_from(1, config);
    assert_eq!(hub.poll_timeout(), None);
    let (alice, key) = register(&mut hub, "acme:a:1", 1);
    let t0 = Instant::ZERO;
    open(&mut hub, t0, 1);
    let hello_due = t0 + Duration::from_secs(10);
    assert_eq!(hub.poll_timeout(), Some(hello_due));
    hub.handle_timeout(hello_due - Duration::from_micros(1));
    assert_eq!(drain(&mut hub), vec![]);
    hub.handle_timeout(hello_due);
    assert_eq!(drain(&mut hub), vec![ServerOutput::Close(1, CloseReason::HelloTimeout)]);
    assert_eq!(hub.poll_timeout(), None, "a closing connection has no deadline");
    hub.handle_disconnect(hello_due, 1);

    let t1 = hello_due + Duration::from_secs(1);
    bind(&mut hub, t1, 2, &alice, &key);
    assert_eq!(hub.poll_timeout(), Some(t1 + Duration::from_secs(75)));
    let t2 = t1 + Duration::from_secs(30);
    send(&mut hub, t2, 2, &signed(&alice, ClientBody::Request { id: 1, request: ClientRequest::Ping }));
    assert_eq!(drain(&mut hub), vec![ServerOutput::Wake(2)]);
    assert_eq!(hub.poll_timeout(), Some(t2 + Duration::from_secs(75)), "traffic pushes the deadline");
    hub.handle_timeout(t2 + Duration::from_secs(75));
    assert_eq!(drain(&mut hub), vec![ServerOutput::Close(2, CloseReason::HeartbeatTimeout)]);
    assert_eq!(hub.stats().timeouts, 2);
}

#[test]
fn a_registration_asks_for_its_serial_to_be_persisted() {
    let mut hub = hub();
    let key = HostKey::from_seed([1; 32]);
    let AisAnswer::PersistThenReply { next_serial, reply: AisReply::Registered(first) } =
        hub.handle_ais(UNIX, register_request("acme:a:1", &key), &mut NoPackages)
    else {
        panic!("a registration must be persisted first")
    };
    assert_eq!((first.actor.serial, next_serial), (1, 2));
    // Nothing else moves the mark.
    let ask_key = AisRequest::SigningKey { key_id: 1 };
    assert!(matches!(hub.handle_ais(UNIX, ask_key, &mut NoPackages), AisAnswer::Reply(AisReply::SigningKey { .. })));
    let mut bad = register_request("acme:a:1", &key);
    if let AisRequest::Register(r) = &mut bad {
        r.realm = Realm(7);
    }
    assert!(matches!(hub.handle_ais(UNIX, bad, &mut NoPackages), AisAnswer::Reply(AisReply::Error(_))));
    // A restart from the persisted mark never hands the serial out again.
    let mut restarted = hub_from(next_serial, ServerConfig::default());
    let (again, _) = register(&mut restarted, "acme:a:1", 2);
    assert!(again.actor.serial > first.actor.serial);
    let unavailable = ActrError::Unavailable(String::new()).code();
    assert!(matches!(AisAnswer::unrecorded(), AisReply::Error(e) if e.code == unavailable));
}

#[test]
fn the_signaling_server_trusts_the_hubs_identity_service() {
    let mut hub = hub();
    let (alice, key) = register(&mut hub, "acme:a:1", 1);
    bind(&mut hub, Instant::ZERO, 1, &alice, &key);
    assert_eq!(hub.online().collect::<Vec<_>>(), vec![&alice.actor]);
    // A credential from another identity service is refused.
    let mut other = AisService::new([2; 32], 1, 1, AisConfig::default());
    other.upsert_realm(RealmConfig::new(Realm(1), None)).unwrap();
    let key = HostKey::from_seed([5; 32]);
    let AisReply::Registered(foreign) = other.handle(UNIX, register_request("acme:a:1", &key)) else { panic!() };
    let nonce = open(&mut hub, Instant::ZERO, 2);
    send(&mut hub, Instant::ZERO, 2, &hello(&foreign, &key, &nonce));
    assert!(matches!(drain(&mut hub).as_slice(), [ServerOutput::Close(2, CloseReason::Refused(_))]));
}
