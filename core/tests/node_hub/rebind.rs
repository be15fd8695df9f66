//! Rebinding to a new identity.

use super::webrtc::{first_rtc_call, negotiate, rtc_pair};
use super::*;

// ---- 9. rebind ---------------------------------------------------------------

#[test]
fn a_refused_renewal_rebinds_to_a_new_id_and_fails_pending_calls() {
    let mut w = World::with_ais(AisConfig { credential_ttl_secs: 100, ..AisConfig::default() });
    let a = w.add("acme:node:1", |_| {});
    let b = w.add("acme:node:1", |_| {});
    w.open(a);
    w.open(b);
    let (old, idb) = (w.id(a), w.id(b));
    w.nodes[b].echo = false;
    let pending = w.call_within(a, b, b"across", Duration::from_secs(600));
    assert_eq!(w.nodes[b].held.len(), 1);
    w.refuse_renewals.insert(a);
    w.advance(Duration::from_secs(90));

    let rebound: Vec<(ActrId, ActrId)> = w.nodes[a]
        .events
        .iter()
        .filter_map(|e| match e {
            NodeEvent::Rebound { old, new } => Some((old.clone(), new.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(rebound.len(), 1, "{:?}", w.nodes[a].events);
    let new = w.id(a);
    assert_eq!(rebound[0], (old.clone(), new.clone()));
    assert_ne!(new, old);
    assert!(matches!(w.result(a, pending), Some(Err(ActrError::Unavailable(_)))), "{:?}", w.result(a, pending));
    assert!(w.nodes[a].links.is_empty(), "the old identity's link is closed");
    // B renewed normally and kept its id.
    assert_eq!(w.id(b), idb);
    assert!(w.nodes[b].events.iter().any(|e| matches!(e, NodeEvent::Renewed(_))));

    // The new identity reconnected to signaling and works.
    assert!(w.nodes[a].hub.is_connected());
    assert!(w.server.online().any(|id| *id == new));
    assert!(!w.server.online().any(|id| *id == old));
    w.nodes[b].echo = true;
    let call = w.call(a, b, b"new me");
    assert_eq!(w.result(a, call), Some(Ok(b"new me".to_vec())));
    assert_eq!(w.nodes[b].delivered.last().map(|d| d.caller.clone()), Some(new.clone()));

    // B still knows A's old address: a call to the old id reaches the new
    // identity's listener, which refuses it as not the actor wanted.
    let ghost = w.nodes[b].hub.call(w.now, old, "echo", b"old".to_vec(), CALL_TIMEOUT, None).unwrap();
    w.settle();
    assert!(matches!(w.result(b, ghost), Some(Err(ActrError::NotFound(_)))), "{:?}", w.result(b, ghost));
    assert!(w.nodes[a].delivered.is_empty());
}

#[test]
fn ended_connections_still_count_against_the_offer_budget() {
    let mut w = World::new();
    let (a, b) = rtc_pair(&mut w, false, |c| c.offers_per_window = 2);
    let (_, rtc_a, _) = first_rtc_call(&mut w, a, b);
    for epoch in 1..=4u64 {
        let mb = w.mark(b);
        let offer = RtcSignal::Offer { sdp: sdp(&epoch.to_string()), exchange_id: (epoch << 32) | 1 };
        w.rtc_report(a, rtc_a, RtcReport::SignalOut(offer));
        // Whatever B's str0m peer was built for this offer fails at once.
        if let Some((rtc_b, ..)) = opens(&w.rtc_outputs(b, mb)).first().cloned() {
            w.rtc_report(b, rtc_b, RtcReport::Ended(ActrError::Unavailable("dtls failed".into())));
        }
    }
    let opened = opens(&w.rtc_outputs(b, 0)).len();
    assert_eq!((opened, w.nodes[b].hub.stats().offers_refused), (2, 2), "two connections per window, ended or not");
}

#[test]
fn the_answerer_solicits_an_offer_when_it_calls_first() {
    let mut w = World::new();
    let (a, b) = rtc_pair(&mut w, false, |_| {});
    // B registered second: it is the answerer, and it calls first.
    let mb = w.mark(b);
    let call = w.call(b, a, b"from the answerer");
    let opened = opens(&w.rtc_outputs(b, mb));
    assert_eq!(opened.len(), 1);
    let (rtc_b, peer, offerer, _) = opened[0].clone();
    assert_eq!((peer, offerer), (w.id(a), false));
    assert!(!is_offerer(&w.id(b), &w.id(a)));
    // B's hub asked A for a connection (a ConnectRequest through signaling):
    // A opened as the offerer.
    let opened = opens(&w.rtc_outputs(a, 0));
    assert_eq!(opened.len(), 1, "{:?}", w.rtc_outputs(a, 0));
    let (rtc_a, peer, offerer, x) = opened[0].clone();
    assert_eq!((peer, offerer), (w.id(b), true));
    // A's offer lands on B's existing connection; no second one.
    let mb = w.mark(b);
    let offer = RtcSignal::Offer { sdp: sdp("plain"), exchange_id: x };
    w.rtc_report(a, rtc_a, RtcReport::SignalOut(offer.clone()));
    assert_eq!(w.rtc_outputs(b, mb), vec![RtcOutput::Signal { rtc: rtc_b, signal: offer }]);
    w.rtc_report(a, rtc_a, RtcReport::RpcOpen);
    w.rtc_report(b, rtc_b, RtcReport::RpcOpen);
    assert_eq!(w.result(b, call), Some(Ok(b"from the answerer".to_vec())));
}

#[test]
fn pending_calls_fail_at_once_when_the_only_webrtc_connection_ends() {
    let mut w = World::new();
    let (a, b) = rtc_pair(&mut w, false, |_| {});
    let (first, rtc_a, x) = first_rtc_call(&mut w, a, b);
    let rtc_b = negotiate(&mut w, a, b, rtc_a, x);
    // As str0m does, the receiving side's channel is open before data arrives on it.
    w.rtc_report(b, rtc_b, RtcReport::RpcOpen);
    w.rtc_report(a, rtc_a, RtcReport::RpcOpen);
    assert_eq!(w.result(a, first), Some(Ok(b"first".to_vec())));
    w.nodes[b].echo = false;
    let pending = w.call(a, b, b"lost");
    assert_eq!(w.nodes[b].held.len(), 1);
    w.rtc_report(a, rtc_a, RtcReport::Ended(ActrError::Unavailable("sctp abort".into())));
    assert!(matches!(w.result(a, pending), Some(Err(ActrError::Unavailable(_)))), "{:?}", w.result(a, pending));
}

#[test]
fn a_call_to_an_actor_signaling_does_not_know_fails_not_found() {
    let mut w = World::new();
    let a = w.add("acme:node:1", |_| {});
    w.open(a);
    let ghost = ActrId { serial: 999, ..w.id(a) };
    let call = w.nodes[a].hub.call(w.now, ghost, "echo", b"boo".to_vec(), CALL_TIMEOUT, None).unwrap();
    w.settle();
    assert!(matches!(w.result(a, call), Some(Err(ActrError::NotFound(_)))), "{:?}", w.result(a, call));
    assert!(w.nodes[a].dials.is_empty());
}
