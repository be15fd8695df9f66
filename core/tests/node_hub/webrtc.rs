//! WebRTC policy played by hand, fingerprint proofs, failover between wires,
//! the dial race and network changes.

use super::*;

// ---- 6. WebRTC policy, played by hand ----------------------------------------

pub(super) fn rtc_pair(w: &mut World, with_ws: bool, tweak: impl Fn(&mut HubConfig) + Copy) -> (usize, usize) {
    let cfg = move |c: &mut HubConfig| {
        c.webrtc = true;
        if !with_ws {
            c.profile.ws_address = None;
        }
        tweak(c);
    };
    let a = w.add("acme:node:1", cfg);
    let b = w.add("acme:node:1", cfg);
    w.open(a);
    w.open(b);
    (a, b)
}

/// Plays offer, answer and a candidate between the offerer `a` and the
/// answerer `b` for `a`'s connection `rtc_a`; returns `b`'s connection.
pub(super) fn negotiate(w: &mut World, a: usize, b: usize, rtc_a: RtcId, first_exchange_id: u64) -> RtcId {
    let since = w.mark(b);
    let offer = RtcSignal::Offer { sdp: sdp("offer"), exchange_id: first_exchange_id };
    w.rtc_report(a, rtc_a, RtcReport::SignalOut(offer.clone()));
    let outs = w.rtc_outputs(b, since);
    let opened = opens(&outs);
    assert_eq!(opened.len(), 1, "{outs:?}");
    let (rtc_b, peer, offerer, _) = opened[0].clone();
    assert_eq!((peer, offerer), (w.id(a), is_offerer(&w.id(b), &w.id(a))));
    assert!(outs.contains(&RtcOutput::Signal { rtc: rtc_b, signal: offer }), "{outs:?}");

    let since = w.mark(a);
    let answer = RtcSignal::Answer { sdp: sdp("answer"), exchange_id: first_exchange_id };
    w.rtc_report(b, rtc_b, RtcReport::SignalOut(answer.clone()));
    assert_eq!(w.rtc_outputs(a, since), vec![RtcOutput::Signal { rtc: rtc_a, signal: answer }]);
    let since = w.mark(b);
    let candidate = RtcSignal::Candidate { candidate: "candidate:1 1 udp 1 10.0.0.1 9 typ host".into() };
    w.rtc_report(a, rtc_a, RtcReport::SignalOut(candidate.clone()));
    assert_eq!(w.rtc_outputs(b, since), vec![RtcOutput::Signal { rtc: rtc_b, signal: candidate }]);
    rtc_b
}

/// A's first call opens its connection; returns (call, rtc, first exchange id).
pub(super) fn first_rtc_call(w: &mut World, a: usize, b: usize) -> (CallId, RtcId, u64) {
    let since = w.mark(a);
    let call = w.call(a, b, b"first");
    let opened = opens(&w.rtc_outputs(a, since));
    assert_eq!(opened.len(), 1, "the first call opens one connection");
    let (rtc, peer, offerer, first) = opened[0].clone();
    assert_eq!(peer, w.id(b));
    assert_eq!(offerer, is_offerer(&w.id(a), &w.id(b)));
    assert!(offerer, "A registered first: its serial is lower");
    (call, rtc, first)
}

#[test]
fn a_relay_that_rewrites_the_fingerprint_fails_the_session() {
    // The relay swaps the offer's DTLS fingerprint for its own (to sit in
    // the middle of DTLS) and keeps the proof: the answerer refuses it.
    let mut w = World::new();
    w.mitm = Some(|relay| {
        if let RtcSignal::Offer { sdp: text, .. } = &mut relay.signal {
            *text = sdp("mallory");
        }
    });
    let (a, b) = rtc_pair(&mut w, false, |_| {});
    let (call, rtc_a, first_x) = first_rtc_call(&mut w, a, b);
    let since = w.mark(b);
    w.rtc_report(a, rtc_a, RtcReport::SignalOut(RtcSignal::Offer { sdp: sdp("offer"), exchange_id: first_x }));
    assert!(opens(&w.rtc_outputs(b, since)).is_empty(), "no answerer for a forged offer");
    assert!(w.rtc_outputs(b, since).is_empty(), "the str0m peer never sees it");
    assert_eq!(w.nodes[b].hub.stats().fingerprints_refused, 1);
    assert_eq!(w.nodes[b].hub.stats().webrtc_connections_up, 0);
    // B told A at once: A's connection ends and its call, with no other
    // wire, fails with the typed error instead of waiting for a deadline.
    let failed = w.result(a, call);
    assert!(matches!(&failed, Some(Err(ActrError::Unauthenticated(m))) if m.contains("refused")), "{failed:?}");

    // The other way: the answer is rewritten; the offerer ends its
    // connection and, with no other wire, the call fails with the typed error.
    let mut w = World::new();
    w.mitm = Some(|relay| {
        if let RtcSignal::Answer { sdp: text, .. } = &mut relay.signal {
            *text = sdp("mallory");
        }
    });
    let (a, b) = rtc_pair(&mut w, false, |_| {});
    let (call2, rtc_a, first_x) = first_rtc_call(&mut w, a, b);
    let since = w.mark(b);
    w.rtc_report(a, rtc_a, RtcReport::SignalOut(RtcSignal::Offer { sdp: sdp("offer"), exchange_id: first_x }));
    let (rtc_b, ..) = opens(&w.rtc_outputs(b, since))[0].clone();
    let since = w.mark(a);
    w.rtc_report(b, rtc_b, RtcReport::SignalOut(RtcSignal::Answer { sdp: sdp("answer"), exchange_id: first_x }));
    assert_eq!(w.rtc_outputs(a, since), vec![RtcOutput::Close { rtc: rtc_a }], "closed, not signalled");
    assert_eq!(w.nodes[a].hub.stats().fingerprints_refused, 1);
    let failed = w.result(a, call2);
    assert!(matches!(&failed, Some(Err(ActrError::Unauthenticated(m))) if m.contains("fingerprint")), "{failed:?}");
    let _ = call;
}

#[test]
fn offers_with_a_captured_credential_or_no_proof_are_refused() {
    let mut w = World::new();
    let (a, b) = rtc_pair(&mut w, false, |_| {});
    let ida = w.id(a);
    let idb = w.id(b);
    let a_cred = w.nodes[a].hub.registration().unwrap().credential.clone();
    let offer = RtcSignal::Offer { sdp: sdp("offer"), exchange_id: 1 << 32 | 1 };
    // Who relays as A (the server stamps the source) but signs with its own key,
    // or sends no proof at all.
    let fingerprints = sdp_fingerprints(&sdp("offer"));
    let statement =
        Statement::RtcFingerprint { from: &ida, to: &idb, exchange_id: 1 << 32 | 1, fingerprints: &fingerprints };
    let stolen = SignalProof { credential: a_cred.clone(), signature: host_key(668).sign(&statement) };
    let since = w.mark(b);
    for proof in [Some(stolen), None] {
        let relay = RelaySignal { signal: offer.clone(), proof };
        w.input(b, |hub, now| {
            let conn = hub.signaling().current_connection().expect("connected");
            let frame =
                actr_core::signaling::ServerMsg::Relay { source: ida.clone(), payload: relay.encode().unwrap() };
            let bytes =
                actr_core::wire::encode_message(&frame, actr_core::signaling::messages::MAX_SIGNALING_FRAME).unwrap();
            hub.handle_signaling_frame(now, conn, &bytes);
        });
    }
    assert!(w.rtc_outputs(b, since).is_empty());
    assert_eq!(w.nodes[b].hub.stats().fingerprints_refused, 2);
    // A's own key makes the same offer acceptable.
    let own = SignalProof { credential: a_cred, signature: host_key(a as u32).sign(&statement) };
    let relay = RelaySignal { signal: offer, proof: Some(own) };
    w.input(b, |hub, now| {
        let conn = hub.signaling().current_connection().expect("connected");
        let frame = actr_core::signaling::ServerMsg::Relay { source: ida.clone(), payload: relay.encode().unwrap() };
        let bytes =
            actr_core::wire::encode_message(&frame, actr_core::signaling::messages::MAX_SIGNALING_FRAME).unwrap();
        hub.handle_signaling_frame(now, conn, &bytes);
    });
    assert_eq!(opens(&w.rtc_outputs(b, since)).len(), 1, "an answerer starts");
}

#[test]
fn webrtc_roles_signals_and_takeover_from_the_direct_link() {
    let mut w = World::new();
    let (a, b) = rtc_pair(&mut w, true, |_| {});
    let (first, rtc_a, first_x) = first_rtc_call(&mut w, a, b);
    // The direct link won the race and served the first call.
    assert_eq!(w.result(a, first), Some(Ok(b"first".to_vec())));
    assert_eq!(w.rtc_sends(a, 0), 0);
    let rtc_b = negotiate(&mut w, a, b, rtc_a, first_x);

    w.rtc_report(a, rtc_a, RtcReport::RpcOpen);
    w.rtc_report(b, rtc_b, RtcReport::RpcOpen);
    let (ma, mb) = (w.mark(a), w.mark(b));
    let second = w.call(a, b, b"second");
    assert_eq!(w.result(a, second), Some(Ok(b"second".to_vec())));
    assert_eq!((w.rtc_sends(a, ma), w.link_sends(a, ma)), (1, 0), "WebRTC took over from the link");
    assert_eq!((w.rtc_sends(b, mb), w.link_sends(b, mb)), (1, 0), "the answer came back on WebRTC too");
    assert_eq!(w.nodes[a].hub.stats().webrtc_connections_up, 1);
    assert_eq!(w.nodes[b].hub.stats().webrtc_received, 1);
    assert_eq!(w.nodes[a].hub.stats().links_open, 1, "the link stays open as a fallback");
}

#[test]
fn lost_connectivity_restarts_ice_and_moves_rpc_to_the_link() {
    let mut w = World::new();
    let (a, b) = rtc_pair(&mut w, true, |c| c.rtc_recovery_timeout = Duration::from_secs(20));
    let (_, rtc_a, first_x) = first_rtc_call(&mut w, a, b);
    let rtc_b = negotiate(&mut w, a, b, rtc_a, first_x);
    w.rtc_report(a, rtc_a, RtcReport::RpcOpen);
    w.rtc_report(b, rtc_b, RtcReport::RpcOpen);

    let ma = w.mark(a);
    w.rtc_report(a, rtc_a, RtcReport::ConnectivityLost);
    assert_eq!(w.rtc_outputs(a, ma), vec![RtcOutput::RestartIce { rtc: rtc_a }], "the offerer restarts ICE");
    let call = w.call(a, b, b"while down");
    assert_eq!(w.result(a, call), Some(Ok(b"while down".to_vec())));
    assert_eq!((w.rtc_sends(a, ma), w.link_sends(a, ma)), (0, 1), "RPC moved to the link");

    let mb = w.mark(b);
    w.rtc_report(b, rtc_b, RtcReport::ConnectivityLost);
    assert_eq!(w.rtc_outputs(b, mb), vec![RtcOutput::RequestIceRestart { rtc: rtc_b }], "the answerer asks");
    let back = w.call(b, a, b"back");
    assert_eq!(w.result(b, back), Some(Ok(b"back".to_vec())));
    assert_eq!((w.rtc_sends(b, mb), w.link_sends(b, mb)), (0, 1));
    assert_eq!(w.nodes[a].hub.stats().ice_restarts, 1);

    // Recovered: WebRTC carries RPC again.
    w.rtc_report(a, rtc_a, RtcReport::Recovered);
    w.rtc_report(b, rtc_b, RtcReport::Recovered);
    let ma = w.mark(a);
    let up = w.call(a, b, b"up again");
    assert_eq!(w.result(a, up), Some(Ok(b"up again".to_vec())));
    assert_eq!((w.rtc_sends(a, ma), w.link_sends(a, ma)), (1, 0));
    assert_eq!(w.nodes[a].hub.stats().ice_recovered, 1);

    // Lost for longer than the recovery timeout: closed; the link carries on.
    w.rtc_report(a, rtc_a, RtcReport::ConnectivityLost);
    let ma = w.mark(a);
    w.advance(ms(19999));
    assert!(!w.rtc_outputs(a, ma).contains(&RtcOutput::Close { rtc: rtc_a }));
    w.advance(ms(1));
    assert!(w.rtc_outputs(a, ma).contains(&RtcOutput::Close { rtc: rtc_a }));
    // B's str0m peer sees the remote close.
    w.rtc_report(b, rtc_b, RtcReport::Ended(ActrError::Unavailable("closed by the remote".into())));
    let after = w.call(a, b, b"after");
    assert_eq!(w.result(a, after), Some(Ok(b"after".to_vec())));
}

#[test]
fn a_connection_that_never_comes_up_is_closed_at_the_setup_timeout() {
    let mut w = World::new();
    let (a, b) = rtc_pair(&mut w, false, |c| c.rtc_setup_timeout = Duration::from_secs(8));
    let (call, rtc_a, _) = first_rtc_call(&mut w, a, b);
    assert_eq!(w.result(a, call), None, "waiting for WebRTC: B has no direct address");
    let ma = w.mark(a);
    w.advance(ms(7999));
    assert!(w.rtc_outputs(a, ma).is_empty());
    w.advance(ms(1));
    assert_eq!(w.rtc_outputs(a, ma).first(), Some(&RtcOutput::Close { rtc: rtc_a }));
    assert_eq!(w.nodes[a].hub.stats().webrtc_connection_failures, 1);
    assert!(w.nodes[b].delivered.is_empty());
}

#[test]
fn stale_reports_of_a_replaced_connection_change_nothing() {
    let mut w = World::new();
    let (a, b) = rtc_pair(&mut w, false, |_| {});
    let (call, rtc_a1, x1) = first_rtc_call(&mut w, a, b);
    let rtc_b1 = negotiate(&mut w, a, b, rtc_a1, x1);
    // A's first connection dies before it is up; its retry opens another.
    w.rtc_report(a, rtc_a1, RtcReport::Ended(ActrError::Unavailable("ice failed".into())));
    let ma = w.mark(a);
    w.advance(Duration::from_secs(1));
    let reopened = opens(&w.rtc_outputs(a, ma));
    assert_eq!(reopened.len(), 1, "the retry opens a new connection");
    let (rtc_a2, _, _, x2) = reopened[0].clone();
    assert_ne!(x2 >> 32, x1 >> 32, "a new epoch");
    // Its offer replaces B's answerer.
    let mb = w.mark(b);
    w.rtc_report(a, rtc_a2, RtcReport::SignalOut(RtcSignal::Offer { sdp: sdp("second"), exchange_id: x2 }));
    let outs = w.rtc_outputs(b, mb);
    assert!(outs.contains(&RtcOutput::Close { rtc: rtc_b1 }), "{outs:?}");
    let (rtc_b2, ..) = opens(&outs)[0].clone();

    // Late reports from the old connections, on both sides.
    let (ma, mb) = (w.mark(a), w.mark(b));
    let (sa, sb) = (w.nodes[a].hub.stats(), w.nodes[b].hub.stats());
    w.rtc_report(a, rtc_a1, RtcReport::RpcOpen);
    w.rtc_report(b, rtc_b1, RtcReport::RpcOpen);
    w.rtc_report(b, rtc_b1, RtcReport::Message(b"stale".to_vec()));
    w.rtc_report(b, rtc_b1, RtcReport::ConnectivityLost);
    w.rtc_report(b, rtc_b1, RtcReport::SignalOut(RtcSignal::Candidate { candidate: "candidate:stale".into() }));
    w.rtc_report(b, rtc_b1, RtcReport::Ended(ActrError::Unavailable("late".into())));
    assert!(w.nodes[a].log[ma..].is_empty() && w.nodes[b].log[mb..].is_empty(), "no output at all");
    assert_eq!(w.result(a, call), None, "still waiting on the new connection");
    let (ta, tb) = (w.nodes[a].hub.stats(), w.nodes[b].hub.stats());
    assert_eq!((ta.webrtc_connections_up, tb.webrtc_connections_up, tb.webrtc_received), (0, 0, 0));
    assert_eq!(
        (ta.ice_restarts, tb.ice_restarts, tb.webrtc_connection_failures),
        (sa.ice_restarts, sb.ice_restarts, sb.webrtc_connection_failures)
    );

    // The current connections still work.
    w.rtc_report(b, rtc_b2, RtcReport::RpcOpen);
    w.rtc_report(a, rtc_a2, RtcReport::RpcOpen);
    assert_eq!(w.result(a, call), Some(Ok(b"first".to_vec())));
    assert_eq!(w.nodes[b].delivered.len(), 1);
}

#[test]
fn unsolicited_offers_per_peer_are_bounded() {
    let mut w = World::new();
    let cfg = |c: &mut HubConfig| {
        c.webrtc = true;
        c.profile.ws_address = None;
        c.offers_per_window = 3;
        c.offer_window = Duration::from_secs(60);
        c.rtc_setup_timeout = Duration::from_secs(600);
    };
    // A and C register first: both offer to B.
    let a = w.add("acme:node:1", cfg);
    let c = w.add("acme:node:1", cfg);
    let b = w.add("acme:node:1", cfg);
    for i in [a, b, c] {
        w.open(i);
    }
    let (_, rtc_a, _) = first_rtc_call(&mut w, a, b);
    let mb = w.mark(b);
    let offer = |epoch: u64| RtcSignal::Offer { sdp: sdp(&epoch.to_string()), exchange_id: (epoch << 32) | 1 };
    for epoch in 1..=5 {
        w.rtc_report(a, rtc_a, RtcReport::SignalOut(offer(epoch)));
    }
    let outs = w.rtc_outputs(b, mb);
    assert_eq!(opens(&outs).len(), 3, "{outs:?}");
    assert_eq!(outs.iter().filter(|o| matches!(o, RtcOutput::Signal { .. })).count(), 3, "refused offers go nowhere");
    assert_eq!(w.nodes[b].hub.stats().offers_refused, 2);

    // Another peer still gets its connection.
    let (_, rtc_c, xc) = first_rtc_call(&mut w, c, b);
    let mb = w.mark(b);
    w.rtc_report(c, rtc_c, RtcReport::SignalOut(RtcSignal::Offer { sdp: sdp("c"), exchange_id: xc }));
    assert_eq!(opens(&w.rtc_outputs(b, mb)).len(), 1);
    assert_eq!(w.nodes[b].hub.stats().offers_refused, 2);

    // A new window admits A again.
    w.advance(Duration::from_secs(60));
    let mb = w.mark(b);
    w.rtc_report(a, rtc_a, RtcReport::SignalOut(offer(6)));
    assert_eq!(opens(&w.rtc_outputs(b, mb)).len(), 1);
}

// ---- failover between wires, the dial race, network changes -------------------

#[test]
fn with_two_links_losing_either_keeps_calls_alive() {
    let mut w = World::new();
    let a = w.add("acme:node:1", |_| {});
    let b = w.add("acme:node:1", |_| {});
    w.open(a);
    w.open(b);
    w.nodes[a].answer_dials = false;
    w.nodes[b].answer_dials = false;
    // Both dial each other at once.
    let ab = w.call(a, b, b"a to b");
    let ba = w.call(b, a, b"b to a");
    assert_eq!((w.nodes[a].dials.len(), w.nodes[b].dials.len()), (1, 1));
    let first = w.answer_dial(a, 0);
    assert_eq!(w.result(a, ab), Some(Ok(b"a to b".to_vec())));
    assert_eq!(w.result(b, ba), Some(Ok(b"b to a".to_vec())), "B's call went on A's link, without its own dial");
    let second = w.answer_dial(b, 0);
    let second_at_a = w.nodes[b].links[&second].1;
    assert_eq!((w.nodes[a].hub.stats().links_open, w.nodes[b].hub.stats().links_open), (2, 2));

    // A call in flight while the older link breaks: nothing fails.
    w.nodes[b].echo = false;
    let pending = w.call(a, b, b"pending");
    assert_eq!(w.nodes[b].held.len(), 1);
    w.break_link(a, first);
    assert_eq!(w.result(a, pending), None, "the other link still serves B");
    let d = w.nodes[b].held.remove(0);
    w.respond(b, &d);
    assert_eq!(w.result(a, pending), Some(Ok(b"pending".to_vec())));
    let last = w.call(a, b, b"last");
    w.break_link(a, second_at_a);
    assert!(matches!(w.result(a, last), Some(Err(ActrError::Unavailable(_)))), "{:?}", w.result(a, last));
}

#[test]
fn losing_the_current_of_two_links_moves_traffic_to_the_other() {
    let mut w = World::new();
    let a = w.add("acme:node:1", |_| {});
    let b = w.add("acme:node:1", |_| {});
    w.open(a);
    w.open(b);
    w.nodes[a].answer_dials = false;
    w.nodes[b].answer_dials = false;
    w.call(a, b, b"a");
    w.call(b, a, b"b");
    let first = w.answer_dial(a, 0);
    let second = w.answer_dial(b, 0);
    let second_at_a = w.nodes[b].links[&second].1;
    w.nodes[b].echo = false;
    let pending = w.call(a, b, b"pending");
    let ma = w.mark(a);
    // The newer link carried it; it breaks, the older one takes over.
    w.break_link(a, second_at_a);
    assert_eq!(w.result(a, pending), None);
    let d = w.nodes[b].held.remove(0);
    w.respond(b, &d);
    assert_eq!(w.result(a, pending), Some(Ok(b"pending".to_vec())), "the answer came on the older link");
    w.nodes[b].echo = true;
    let next = w.call(a, b, b"next");
    assert_eq!(w.result(a, next), Some(Ok(b"next".to_vec())));
    let on_first = w.link_outputs(a, first, ma).into_iter().filter(|o| matches!(o, LinkOutput::Send { .. })).count();
    assert_eq!((on_first, w.link_sends(a, ma)), (1, 1), "A's next call went on the older link");
    assert_eq!(w.nodes[a].dials.len(), 1, "no new dial");
}

#[test]
fn a_call_waits_while_either_wire_may_still_come_up() {
    let mut w = World::new();
    let a = w.add("acme:node:1", |c| c.webrtc = true);
    // B advertises an address nobody listens on: the dial is refused.
    let b = w.add("acme:node:1", |c| c.webrtc = true);
    w.nodes[b].listens = false;
    w.open(a);
    w.open(b);
    let (call, rtc_a, x) = first_rtc_call(&mut w, a, b);
    assert_eq!(w.nodes[a].hub.stats().dial_failures, 1);
    assert_eq!(w.result(a, call), None, "WebRTC may still come up");
    assert_eq!(w.nodes[a].hub.stats().endpoint.retries, 0, "nothing failed yet");
    let rtc_b = negotiate(&mut w, a, b, rtc_a, x);
    w.rtc_report(b, rtc_b, RtcReport::RpcOpen);
    w.rtc_report(a, rtc_a, RtcReport::RpcOpen);
    assert_eq!(w.result(a, call), Some(Ok(b"first".to_vec())), "served by WebRTC");

    // Both attempts failing fails what waited (here: handed to the retry policy).
    let c = w.add("acme:node:1", |c| c.webrtc = true);
    w.nodes[c].listens = false;
    w.open(c);
    let ma = w.mark(a);
    let call = w.call(a, c, b"to c");
    let (rtc_c, ..) = opens(&w.rtc_outputs(a, ma))[0].clone();
    assert_eq!(w.nodes[a].hub.stats().endpoint.retries, 0);
    w.rtc_report(a, rtc_c, RtcReport::Ended(ActrError::Unavailable("ice failed".into())));
    assert_eq!(w.nodes[a].hub.stats().endpoint.retries, 1, "the send failed once both wires had failed");
    assert_eq!(w.result(a, call), None, "retried with backoff");
}

#[test]
fn network_changes_are_debounced_into_one_ice_restart() {
    let mut w = World::new();
    let (a, b) = rtc_pair(&mut w, true, |c| c.network_debounce = Duration::from_secs(2));
    let (_, rtc_a, x) = first_rtc_call(&mut w, a, b);
    let rtc_b = negotiate(&mut w, a, b, rtc_a, x);
    w.rtc_report(b, rtc_b, RtcReport::RpcOpen);
    w.rtc_report(a, rtc_a, RtcReport::RpcOpen);
    let ma = w.mark(a);
    // Each report within 2 s of the previous one extends the burst.
    for change in [NetworkChange::Available, NetworkChange::Lost, NetworkChange::TypeChanged] {
        w.input(a, |hub, now| hub.handle_network_change(now, change));
        w.advance(ms(1500));
    }
    w.advance(ms(499));
    assert!(w.rtc_outputs(a, ma).is_empty(), "the burst is not over");
    w.advance(ms(1));
    assert_eq!(w.rtc_outputs(a, ma), vec![RtcOutput::RestartIce { rtc: rtc_a }], "one restart for the burst");
    // Until it recovers, RPC goes on the link.
    let call = w.call(a, b, b"meanwhile");
    assert_eq!(w.result(a, call), Some(Ok(b"meanwhile".to_vec())));
    assert_eq!(w.rtc_sends(a, ma), 0);
    // A burst ending with Lost waits for the network to come back.
    w.rtc_report(a, rtc_a, RtcReport::Recovered);
    let ma = w.mark(a);
    w.input(a, |hub, now| hub.handle_network_change(now, NetworkChange::Lost));
    w.advance(Duration::from_secs(5));
    assert!(w.rtc_outputs(a, ma).is_empty());
}

#[test]
fn calls_in_flight_fail_at_once_when_a_recovering_connection_ends_for_good() {
    let mut w = World::new();
    let (a, b) = rtc_pair(&mut w, false, |_| {});
    let (first, rtc_a, x) = first_rtc_call(&mut w, a, b);
    let rtc_b = negotiate(&mut w, a, b, rtc_a, x);
    w.rtc_report(b, rtc_b, RtcReport::RpcOpen);
    w.rtc_report(a, rtc_a, RtcReport::RpcOpen);
    assert_eq!(w.result(a, first), Some(Ok(b"first".to_vec())));
    w.nodes[b].echo = false;
    let in_flight = w.call(a, b, b"in flight");
    assert_eq!(w.nodes[b].held.len(), 1);
    // Connectivity goes; a new call waits for the recovering connection.
    w.rtc_report(a, rtc_a, RtcReport::ConnectivityLost);
    let waiting = w.call(a, b, b"waiting");
    assert_eq!(w.result(a, waiting), None);
    // The connection dies for good: it was the last wire.
    w.rtc_report(a, rtc_a, RtcReport::Ended(ActrError::Unavailable("ice failed".into())));
    for call in [in_flight, waiting] {
        assert!(matches!(w.result(a, call), Some(Err(ActrError::Unavailable(_)))), "{:?}", w.result(a, call));
    }
}

#[test]
fn a_tell_is_reported_sent_and_delivered_as_a_tell() {
    let mut w = World::new();
    let a = w.add("acme:node:1", |_| {});
    let b = w.add("acme:node:1", |c| c.max_in_flight_per_peer = 1);
    w.open(a);
    w.open(b);
    w.nodes[b].echo = false;
    let (now, idb) = (w.now, w.id(b));
    let tell = w.nodes[a].hub.tell(now, idb.clone(), "note", b"fyi".to_vec(), None).unwrap();
    w.settle();
    let delivered = w.nodes[b].held.clone();
    assert_eq!(delivered.len(), 1);
    assert!(delivered[0].tell);
    assert_eq!((delivered[0].caller.clone(), delivered[0].payload.clone()), (w.id(a), b"fyi".to_vec()));
    assert_eq!(w.nodes[a].tells.get(&tell), Some(&Ok(())), "it left on the link");
    // A tell to an actor signaling does not know fails.
    let ghost = ActrId { serial: 999, ..idb };
    let lost = w.nodes[a].hub.tell(w.now, ghost, "note", b"?".to_vec(), None).unwrap();
    w.settle();
    assert!(matches!(w.nodes[a].tells.get(&lost), Some(Err(ActrError::NotFound(_)))), "{:?}", w.nodes[a].tells);
    // The unanswered tell holds A's only slot at B; answering it frees the slot.
    let refused = w.call(a, b, b"busy");
    assert!(matches!(w.result(a, refused), Some(Err(ActrError::ResourceExhausted(_)))));
    w.respond(b, &delivered[0]);
    assert!(w.nodes[b].hub.in_flight() == 0);
    let ok = w.call(a, b, b"free");
    assert_eq!(w.nodes[b].held.len(), 2);
    let d = w.nodes[b].held[1].clone();
    w.respond(b, &d);
    assert_eq!(w.result(a, ok), Some(Ok(b"free".to_vec())));
}
