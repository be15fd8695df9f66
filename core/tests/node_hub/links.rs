//! Direct links: calls, hellos, pending calls, admission, parking, route
//! eviction, keepalives.

use super::*;

// ---- 1. a call over a direct link --------------------------------------------

#[test]
fn call_over_a_direct_link_found_through_signaling_returns_the_echo() {
    let mut w = World::new();
    let a = w.add("acme:node:1", |_| {});
    let b = w.add("acme:node:1", |_| {});
    w.open(a);
    w.open(b);
    let (ida, idb) = (w.id(a), w.id(b));
    assert_ne!(ida, idb);
    assert!(w.nodes[a].events.iter().any(|e| matches!(e, NodeEvent::Connected { actor } if *actor == ida)));

    let call = w.call(a, b, b"ping");
    assert_eq!(w.result(a, call), Some(Ok(b"ping".to_vec())));
    // A knew nothing of B's address: it came from the lookup through signaling.
    let b_address = w.nodes[b].hub.config().profile.ws_address.clone().unwrap();
    assert_eq!(
        w.nodes[a].dials.iter().map(|(_, p, addr)| (p.clone(), addr.clone())).collect::<Vec<_>>(),
        vec![(idb.clone(), b_address)]
    );
    let seen = &w.nodes[b].delivered;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].caller, ida, "B's handler saw A as the caller");
    assert_eq!(seen[0].payload, b"ping");
    assert!(!seen[0].tell);
    assert_eq!(w.nodes[a].hub.stats().dialed, 1);
    assert_eq!(w.nodes[b].hub.stats().accepted, 1);

    // The link stays up and carries the next call; B can call back on it too.
    let again = w.call(a, b, b"again");
    assert_eq!(w.result(a, again), Some(Ok(b"again".to_vec())));
    let back = w.call(b, a, b"back");
    assert_eq!(w.result(b, back), Some(Ok(b"back".to_vec())));
    assert_eq!(w.nodes[a].dials.len(), 1, "no second dial");
    assert!(w.nodes[b].dials.is_empty(), "B answered on the accepted link");
    assert_eq!(w.nodes[a].delivered[0].caller, idb);
}

// ---- 2. hello checks ---------------------------------------------------------

#[test]
fn forged_hellos_are_refused_and_closed() {
    let mut w = World::new();
    let b = w.add("acme:node:1", |_| {});
    w.open(b);
    let idb = w.id(b);
    let x = w.register_extra("acme:node:1");
    let y = w.register_extra("acme:node:1");
    let ip: IpAddr = "192.0.2.7".parse().unwrap();

    // Each attempt gets a fresh link and challenge; `make` builds the hello for it.
    let try_hello = |w: &mut World, make: &dyn Fn(&Nonce) -> Vec<u8>| {
        let (link, nonce) = w.accept(b, ip);
        let since = w.mark(b);
        let bytes = make(&nonce);
        w.input(b, |hub, now| hub.handle_link_message(now, link, &bytes));
        w.link_outputs(b, link, since)
    };
    let refused = |outs: Vec<LinkOutput>| match outs.as_slice() {
        [LinkOutput::Send { bytes, .. }, LinkOutput::Close { .. }] => refusal(bytes),
        other => panic!("expected a refusal then a close, got {other:?}"),
    };

    let garbage = refused(try_hello(&mut w, &|_| b"\x01 certainly not a hello".to_vec()));
    assert!(matches!(garbage, ActrError::DecodeFailure(_)), "{garbage:?}");
    let impostor = refused(try_hello(&mut w, &|n| hello(&x.ok.actor, &y, &idb, n)));
    assert!(matches!(impostor, ActrError::Unauthenticated(_)), "{impostor:?}");
    let elsewhere = refused(try_hello(&mut w, &|n| hello(&x.ok.actor, &x, &y.ok.actor, n)));
    assert!(matches!(elsewhere, ActrError::NotFound(_)), "{elsewhere:?}");
    // Signed by an AIS this node does not know.
    let mut rogue = AisService::new([99; 32], 2, 1, AisConfig::default());
    rogue.upsert_realm(RealmConfig::new(Realm(1), None)).unwrap();
    let z = register_with(&mut rogue, "acme:node:1", w.unix(), 77);
    let foreign = refused(try_hello(&mut w, &|n| hello(&z.ok.actor, &z, &idb, n)));
    assert!(matches!(foreign, ActrError::Unauthenticated(_)), "{foreign:?}");
    // Issued by the right AIS, but long expired.
    let long_ago = w.unix() - 10 * 3600;
    let old = register_with(&mut w.ais, "acme:node:1", long_ago, 78);
    let expired = refused(try_hello(&mut w, &|n| hello(&old.ok.actor, &old, &idb, n)));
    assert!(matches!(expired, ActrError::Unauthenticated(_)), "{expired:?}");
    // X's credential, captured, with the thief's own key over the challenge.
    let thief = host_key(666);
    let stolen = refused(try_hello(&mut w, &|n| hello_signed(&x.ok.actor, &x, &idb, n, &thief)));
    assert!(matches!(stolen, ActrError::Unauthenticated(ref m) if m.contains("possession")), "{stolen:?}");
    // X's honest hello, captured on one link, replayed to another's challenge.
    let captured = hello(&x.ok.actor, &x, &idb, &[0x55; 32]);
    let replayed = refused(try_hello(&mut w, &|_| captured.clone()));
    assert!(matches!(replayed, ActrError::Unauthenticated(_)), "{replayed:?}");
    assert_eq!(w.nodes[b].hub.stats().refused, 7);
    assert_eq!(w.nodes[b].hub.stats().accepted, 0);

    // The same path with an honest hello is welcomed, with B's own proof, and stays open.
    match try_hello(&mut w, &|n| hello(&x.ok.actor, &x, &idb, n)).as_slice() {
        [LinkOutput::Send { bytes, .. }, LinkOutput::Authenticated { .. }] => {
            let ring = w.ais.key_ring();
            let (challenge, unix) = (
                w.nodes[b].log.iter().rev().find_map(|o| match o {
                    NodeOutput::Link(LinkOutput::Send { bytes, .. }) => DirectChallenge::decode(bytes).ok(),
                    _ => None,
                }),
                w.unix(),
            );
            let nonces = LinkNonces { listener: challenge.expect("the challenge").nonce, dialer: DIALER_NONCE };
            let claims = DirectReply::decode_outcome(bytes, &idb, &x.ok.actor, nonces, &ring, unix).unwrap();
            assert_eq!(claims.actor, idb);
        }
        other => panic!("expected a welcome, got {other:?}"),
    }
    let stats = w.nodes[b].hub.stats();
    assert_eq!((stats.refused, stats.accepted, stats.links_open), (7, 1, 1));
}

#[test]
fn a_dialer_refuses_a_listener_that_cannot_prove_its_identity() {
    let mut w = World::new();
    let a = w.add("acme:node:1", |_| {});
    let b = w.add("acme:node:1", |c| c.profile.ws_address = Some("ws://127.0.0.1:9999".into()));
    w.open(a);
    w.open(b);
    let idb = w.id(b);
    // Something at B's address shows B's credential but holds a key of its own.
    let since = w.mark(a);
    let now = w.now;
    w.nodes[a].answer_dials = false;
    let call = w.nodes[a].hub.call(now, idb.clone(), "echo", b"x".to_vec(), CALL_TIMEOUT, None).unwrap();
    w.settle();
    let (link, _, _) = w.nodes[a].dials.last().cloned().expect("A dialed B");
    w.input(a, |hub, now| hub.handle_link_up(now, link));
    w.input(a, |hub, now| hub.handle_link_message(now, link, &DirectChallenge { nonce: [4; 32] }.encode().unwrap()));
    let sent = w.link_outputs(a, link, since);
    let [.., LinkOutput::Send { bytes, .. }] = sent.as_slice() else { panic!("A's hello: {sent:?}") };
    let hello: DirectHello = decode_message(bytes, MAX_HELLO).unwrap();
    let b_cred = w.nodes[b].hub.registration().unwrap().credential.clone();
    let nonces = LinkNonces { listener: [4; 32], dialer: hello.nonce };
    let fake = DirectReply::welcome(&idb, &b_cred, &w.id(a), nonces, &host_key(667)).encode().unwrap();
    w.input(a, |hub, now| hub.handle_link_message(now, link, &fake));
    assert!(w.link_outputs(a, link, since).contains(&LinkOutput::Close { link }), "the link is closed");
    assert_eq!(w.nodes[a].hub.stats().dialed, 0, "never counted as up");
    assert_eq!(w.nodes[a].hub.stats().dial_failures, 1);
    let _ = call;
}

#[test]
fn a_link_without_hello_is_closed_at_the_hello_timeout() {
    let mut w = World::new();
    let b = w.add("acme:node:1", |c| c.hello_timeout = Duration::from_secs(5));
    w.open(b);
    let (link, nonce) = w.accept(b, "192.0.2.7".parse().unwrap());
    let since = w.mark(b);
    w.advance(ms(4999));
    assert!(w.link_outputs(b, link, since).is_empty(), "still waiting for the hello");
    w.advance(ms(1));
    assert_eq!(w.link_outputs(b, link, since), vec![LinkOutput::Close { link }]);
    assert_eq!(w.nodes[b].hub.stats().links_timed_out, 1);
    // A hello arriving after the close changes nothing.
    let x = w.register_extra("acme:node:1");
    let idb = w.id(b);
    w.input(b, |hub, now| hub.handle_link_message(now, link, &hello(&x.ok.actor, &x, &idb, &nonce)));
    assert_eq!(w.nodes[b].hub.stats().accepted, 0);
}

#[test]
fn a_link_whose_websocket_never_completes_is_closed_at_the_hello_timeout() {
    let mut w = World::new();
    let b = w.add("acme:node:1", |c| c.hello_timeout = Duration::from_secs(5));
    w.open(b);
    let since = w.mark(b);
    let link = w.nodes[b].hub.handle_link_accepted(w.now, "192.0.2.7".parse().unwrap()).unwrap();
    w.advance(ms(5000));
    assert_eq!(w.link_outputs(b, link, since), vec![LinkOutput::Close { link }], "no challenge before the handshake");
    assert_eq!(w.nodes[b].hub.stats().refused, 1);
}

#[test]
fn handshake_slots_are_bounded_per_source_address() {
    let mut w = World::new();
    let b = w.add("acme:node:1", |c| c.max_handshaking_per_source = 2);
    w.open(b);
    let idb = w.id(b);
    let (one, two): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
    let (first, nonce) = w.accept(b, one);
    let now = w.now;
    let hub = &mut w.nodes[b].hub;
    hub.handle_link_accepted(now, one).unwrap();
    assert!(matches!(hub.handle_link_accepted(now, one), Err(ActrError::ResourceExhausted(_))));
    assert!(matches!(hub.handle_link_accepted(now, one), Err(ActrError::ResourceExhausted(_))));
    hub.handle_link_accepted(now, two).expect("another source still gets a slot");
    assert_eq!(hub.stats().refused, 2);
    // A handshake that completes frees its slot.
    let x = w.register_extra("acme:node:1");
    w.input(b, |hub, now| hub.handle_link_message(now, first, &hello(&x.ok.actor, &x, &idb, &nonce)));
    assert_eq!(w.nodes[b].hub.stats().accepted, 1);
    w.nodes[b].hub.handle_link_accepted(w.now, one).expect("a slot freed for that source");
}

#[test]
fn a_verified_only_acl_admits_the_package_and_refuses_a_linked_namesake() {
    use actr_core::acl::{Acl, RealmSelector};
    use actr_core::package::{PackageLimits, PackageSpec, pack, verify};
    let mut w = World::new();
    let mfr = ed25519_dalek::SigningKey::from_bytes(&[0x4d; 32]);
    let billing: actr_core::ActrType = "acme:billing:1".parse().unwrap();
    let bytes = pack(
        &PackageSpec::new(billing.clone(), "wasm32-unknown-unknown").into_manifest(),
        b"\0asm",
        &[],
        &mfr,
        &mut |_| {},
    )
    .unwrap();
    let package = verify(&bytes, &mfr.verifying_key(), &PackageLimits::default()).unwrap();
    w.dir.add_manufacturer("acme", mfr.verifying_key().to_bytes());
    w.dir.publish(billing.clone(), &package.manifest_raw);

    let vault = w.add("acme:vault:1", |c| {
        c.profile.acl = Some(Acl::default().allow_verified(billing.clone(), RealmSelector::Own))
    });
    let linked = w.add("acme:billing:1", |_| {});
    let signed = w.add("acme:billing:1", |c| {
        c.register.auth = RegisterAuth::Package(PackageAuth {
            manifest: package.manifest_raw.clone(),
            signature: package.signature.to_vec(),
            manufacturer_proof: None,
        })
    });
    w.open(vault);
    w.open(linked);
    w.open(signed);
    // Signaling hides the vault from the linked namesake...
    let hidden = w.call(linked, vault, b"let me in");
    assert!(matches!(w.result(linked, hidden), Some(Err(ActrError::NotFound(_)))), "{:?}", w.result(linked, hidden));
    // ...and the vault itself refuses it when it dials the address directly.
    let (idv, address) = (w.id(vault), w.nodes[vault].hub.config().profile.ws_address.clone().unwrap());
    w.input(linked, |hub, now| hub.add_route(now, &idv, address).unwrap());
    let refused = w.call(linked, vault, b"let me in");
    assert!(
        matches!(w.result(linked, refused), Some(Err(ActrError::PermissionDenied(_)))),
        "{:?}",
        w.result(linked, refused)
    );
    assert_eq!(w.nodes[vault].hub.stats().endpoint.acl_denied, 1);
    let admitted = w.call(signed, vault, b"let me in");
    assert_eq!(w.result(signed, admitted), Some(Ok(b"let me in".to_vec())));
    assert_eq!(w.nodes[vault].delivered.len(), 1, "only the verified caller reached the handler");
}

// ---- 3. pending calls fail when the last wire closes --------------------------

#[test]
fn pending_calls_fail_at_once_when_the_only_link_closes() {
    let mut w = World::new();
    let a = w.add("acme:node:1", |_| {});
    let b = w.add("acme:node:1", |_| {});
    w.open(a);
    w.open(b);
    w.nodes[b].echo = false;
    let first = w.call(a, b, b"never answered");
    let second = w.call(a, b, b"nor this");
    assert_eq!(w.nodes[b].held.len(), 2, "both reached B's handler");
    assert_eq!(w.result(a, first), None);
    let link = only_link(&w, a);
    let before = w.now;
    // The caller's socket reports the link gone; B has not noticed yet.
    let (j, lj) = w.nodes[a].links.remove(&link).unwrap();
    w.nodes[j].links.remove(&lj);
    w.input(a, |hub, now| hub.handle_link_closed(now, link, ActrError::Unavailable("reset".into())));
    assert_eq!(w.now, before);
    for call in [first, second] {
        assert!(matches!(w.result(a, call), Some(Err(ActrError::Unavailable(_)))), "{:?}", w.result(a, call));
    }
    assert_eq!(w.nodes[a].hub.stats().links_open, 0);
    // Nothing is retried later.
    w.advance(Duration::from_secs(40));
    assert_eq!(w.nodes[a].dials.len(), 1);
    assert_eq!(w.nodes[a].done.len(), 2);
}

// ---- 4. admission ------------------------------------------------------------

#[test]
fn per_caller_budget_refuses_the_busy_caller_only() {
    let mut w = World::new();
    let a = w.add("acme:node:1", |_| {});
    let b = w.add("acme:node:1", |c| c.max_in_flight_per_peer = 2);
    let c = w.add("acme:node:1", |_| {});
    for i in [a, b, c] {
        w.open(i);
    }
    w.nodes[b].echo = false;
    let calls: Vec<CallId> = (0..3).map(|n| w.call(a, b, &[n])).collect();
    assert_eq!(w.nodes[b].held.len(), 2);
    assert_eq!(w.result(a, calls[0]), None);
    assert_eq!(w.result(a, calls[1]), None);
    assert!(matches!(w.result(a, calls[2]), Some(Err(ActrError::ResourceExhausted(_)))), "{:?}", w.result(a, calls[2]));
    assert_eq!(w.nodes[b].hub.stats().requests_refused, 1);

    let other = w.call(c, b, b"other");
    assert_eq!(w.nodes[b].held.len(), 3, "another caller is still admitted");
    assert_eq!(w.nodes[b].held[2].caller, w.id(c));
    assert_eq!(w.nodes[b].hub.in_flight(), 3);

    // Answering frees A's slot.
    let d = w.nodes[b].held[0].clone();
    w.respond(b, &d);
    assert_eq!(w.result(a, calls[0]), Some(Ok(vec![0])));
    w.call(a, b, b"later");
    assert_eq!(w.nodes[b].held.len(), 4);
    assert_eq!(w.nodes[b].hub.stats().requests_refused, 1);
    let d = w.nodes[b].held[2].clone();
    w.respond(b, &d);
    assert_eq!(w.result(c, other), Some(Ok(b"other".to_vec())));
}

#[test]
fn requests_before_open_are_refused_unavailable() {
    let mut w = World::new();
    let a = w.add("acme:node:1", |_| {});
    let b = w.add("acme:node:1", |_| {});
    assert!(matches!(
        w.nodes[b].hub.handle_link_accepted(w.now, "192.0.2.1".parse().unwrap()),
        Err(ActrError::Unavailable(_))
    ));
    w.open(b);
    // A is registered but not open: it may call, and B may answer on A's link...
    let out = w.call(a, b, b"out");
    assert_eq!(w.result(a, out), Some(Ok(b"out".to_vec())));
    // ...but B's requests to A are refused before A's handler sees them.
    let early = w.call(b, a, b"early");
    assert!(matches!(w.result(b, early), Some(Err(ActrError::Unavailable(_)))), "{:?}", w.result(b, early));
    assert!(w.nodes[a].delivered.is_empty());
    assert_eq!(w.nodes[a].hub.stats().requests_refused, 1);
    w.open(a);
    let late = w.call(b, a, b"late");
    assert_eq!(w.result(b, late), Some(Ok(b"late".to_vec())));
    assert_eq!(w.nodes[a].delivered.len(), 1);
}

// ---- 5. parked messages are bounded ------------------------------------------

#[test]
fn parked_calls_are_bounded_in_count() {
    let mut w = World::new();
    let a = w.add("acme:node:1", |c| {
        c.max_parked = 3;
        c.dial_timeout = Duration::from_secs(120);
    });
    let b = w.add("acme:node:1", |_| {});
    w.open(a);
    w.open(b);
    w.nodes[a].answer_dials = false;
    let calls: Vec<CallId> = (0..5).map(|n| w.call(a, b, &[n])).collect();
    assert_eq!(w.nodes[a].dials.len(), 1, "one dial, left hanging");
    // The overflow is refused (retried with backoff while the dial is still
    // stuck, then failed); the three parked calls keep waiting.
    w.advance(Duration::from_secs(15));
    for &call in &calls[..3] {
        assert_eq!(w.result(a, call), None);
    }
    for &call in &calls[3..] {
        assert!(matches!(w.result(a, call), Some(Err(ActrError::ResourceExhausted(_)))), "{:?}", w.result(a, call));
    }
    assert!(w.nodes[b].delivered.is_empty());
    w.advance(CALL_TIMEOUT);
    for &call in &calls[..3] {
        assert_eq!(w.result(a, call), Some(Err(ActrError::TimedOut)));
    }
}

#[test]
fn parked_calls_are_bounded_in_bytes() {
    let mut w = World::new();
    let a = w.add("acme:node:1", |c| {
        c.max_parked_bytes = 1000;
        c.dial_timeout = Duration::from_secs(120);
    });
    let b = w.add("acme:node:1", |_| {});
    w.open(a);
    w.open(b);
    w.nodes[a].answer_dials = false;
    let big = w.call(a, b, &[1; 600]);
    let too_much = w.call(a, b, &[2; 600]);
    let small = w.call(a, b, &[3; 100]);
    w.advance(Duration::from_secs(15));
    assert_eq!(w.result(a, big), None);
    assert_eq!(w.result(a, small), None, "a small one still fits");
    assert!(matches!(w.result(a, too_much), Some(Err(ActrError::ResourceExhausted(_)))), "{:?}", w.result(a, too_much));
}

// ---- 7. route eviction -------------------------------------------------------

#[test]
fn a_node_talking_to_more_peers_than_routes_keeps_working() {
    let mut w = World::new();
    let a = w.add("acme:hub:1", |c| c.max_routes = 8);
    w.open(a);
    let peers: Vec<usize> = (0..20)
        .map(|_| {
            let p = w.add("acme:peer:1", |_| {});
            w.open(p);
            p
        })
        .collect();
    for (n, &p) in peers.iter().enumerate() {
        let call = w.call(a, p, &[n as u8]);
        assert_eq!(w.result(a, call), Some(Ok(vec![n as u8])), "call to peer {n}");
        w.advance(Duration::from_secs(1));
        let link = only_link(&w, a);
        w.break_link(a, link);
    }
    assert!(w.nodes[a].hub.stats().routes_evicted > 0);
    // The first peer was forgotten long ago; it is found again.
    let call = w.call(a, peers[0], b"again");
    assert_eq!(w.result(a, call), Some(Ok(b"again".to_vec())));
    assert_eq!(w.nodes[a].hub.stats().dialed, 21);
}

#[test]
fn a_node_keeps_working_past_4096_distinct_peers_with_its_default_tables() {
    let mut w = World::new();
    let a = w.add("acme:hub:1", |_| {});
    w.open(a);
    let max_routes = w.nodes[a].hub.config().max_routes;
    assert_eq!(max_routes, 4096, "the default table");
    let first = w.add("acme:peer:1", |_| {});
    w.open(first);
    let call = w.call(a, first, b"first");
    assert_eq!(w.result(a, call), Some(Ok(b"first".to_vec())));
    // Its link goes, so nothing but the route remembers the first peer.
    let link = only_link(&w, a);
    w.break_link(a, link);
    let total = max_routes + 104;
    for n in 1..total {
        let p = w.add("acme:peer:1", |_| {});
        w.open(p);
        let call = w.call(a, p, &n.to_be_bytes());
        assert_eq!(w.result(a, call), Some(Ok(n.to_be_bytes().to_vec())), "call to peer {n}");
        w.advance(Duration::from_secs(1));
        // Each peer goes away after its call, as short-lived peers do.
        w.retire(p);
    }
    let stats = w.nodes[a].hub.stats();
    assert!(stats.routes_evicted >= (total - max_routes) as u64, "{stats:?}");
    assert_eq!(stats.dialed as usize, total, "one dial per peer");
    // The first peer's route was evicted long ago; it is found again.
    let call = w.call(a, first, b"again");
    assert_eq!(w.result(a, call), Some(Ok(b"again".to_vec())));
    assert_eq!(w.nodes[a].hub.stats().dialed as usize, total + 1);
}

// ---- 8. keepalive and idle ---------------------------------------------------

#[test]
fn idle_links_get_keepalives_then_close_when_silent() {
    let mut w = World::new();
    let b = w.add("acme:node:1", |c| {
        c.link_keepalive = Duration::from_secs(20);
        c.link_idle_timeout = Duration::from_secs(60);
    });
    w.open(b);
    let idb = w.id(b);
    let x = w.register_extra("acme:node:1");
    let (silent, n1) = w.accept(b, "192.0.2.1".parse().unwrap());
    let (chatty, n2) = w.accept(b, "192.0.2.2".parse().unwrap());
    let since = w.mark(b);
    w.input(b, |hub, now| hub.handle_link_message(now, silent, &hello(&x.ok.actor, &x, &idb, &n1)));
    w.input(b, |hub, now| hub.handle_link_message(now, chatty, &hello(&x.ok.actor, &x, &idb, &n2)));
    let welcomed = |w: &World, link| w.link_outputs(b, link, since).len();
    assert_eq!((welcomed(&w, silent), welcomed(&w, chatty)), (2, 2), "welcome and authenticated");

    w.advance(ms(19999));
    assert_eq!(welcomed(&w, silent), 2, "nothing before the keepalive interval");
    w.advance(ms(1));
    assert_eq!(w.link_outputs(b, silent, since)[2..], [LinkOutput::Send { link: silent, bytes: Vec::new() }]);
    assert_eq!(w.nodes[b].hub.stats().keepalives_sent, 2, "one per link");

    // The chatty peer sends a keepalive of its own at 50 s; the silent one nothing.
    w.advance(Duration::from_secs(30));
    w.input(b, |hub, now| hub.handle_link_message(now, chatty, &[]));
    w.advance(ms(9999));
    assert!(!w.link_outputs(b, silent, since).contains(&LinkOutput::Close { link: silent }));
    w.advance(ms(1));
    assert_eq!(w.link_outputs(b, silent, since).last(), Some(&LinkOutput::Close { link: silent }), "idle 60 s");
    assert!(!w.link_outputs(b, chatty, since).contains(&LinkOutput::Close { link: chatty }));
    assert_eq!(w.nodes[b].hub.stats().links_timed_out, 1);
    w.advance(Duration::from_secs(50));
    assert_eq!(w.link_outputs(b, chatty, since).last(), Some(&LinkOutput::Close { link: chatty }));
}

#[test]
fn keepalives_keep_a_quiet_link_between_two_hubs_open() {
    let mut w = World::new();
    let a = w.add("acme:node:1", |_| {});
    let b = w.add("acme:node:1", |_| {});
    w.open(a);
    w.open(b);
    let call = w.call(a, b, b"hi");
    assert_eq!(w.result(a, call), Some(Ok(b"hi".to_vec())));
    let link = only_link(&w, a);
    w.advance(Duration::from_secs(300));
    assert_eq!(only_link(&w, a), link, "still the same link");
    assert!(w.nodes[a].hub.stats().keepalives_sent >= 10);
    assert!(w.nodes[b].hub.stats().keepalives_sent >= 10);
    assert_eq!(w.nodes[a].hub.stats().links_timed_out + w.nodes[b].hub.stats().links_timed_out, 0);
    let call = w.call(a, b, b"still");
    assert_eq!(w.result(a, call), Some(Ok(b"still".to_vec())));
    assert_eq!(w.nodes[a].dials.len(), 1);
}
