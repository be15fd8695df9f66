//! A WebRTC connection that stays up but stops carrying RPC (SCTP backing
//! off with ICE connected): the test holds one side's data-channel sends,
//! which nothing loses and nothing reports.

use super::webrtc::{first_rtc_call, negotiate, rtc_pair};
use super::*;

const SECS: fn(u64) -> Duration = Duration::from_secs;

/// A and B talking over WebRTC (with the direct link that won the race
/// still open, if `with_ws`): returns A, B and A's connection.
fn on_webrtc(w: &mut World, with_ws: bool) -> (usize, usize, RtcId) {
    let (a, b) = rtc_pair(w, with_ws, |_| {});
    let (first, rtc_a, x) = first_rtc_call(w, a, b);
    let rtc_b = negotiate(w, a, b, rtc_a, x);
    w.rtc_report(a, rtc_a, RtcReport::RpcOpen);
    w.rtc_report(b, rtc_b, RtcReport::RpcOpen);
    assert_eq!(w.result(a, first), Some(Ok(b"first".to_vec())));
    let ma = w.mark(a);
    let call = w.call(a, b, b"on webrtc");
    assert_eq!(w.result(a, call), Some(Ok(b"on webrtc".to_vec())));
    assert_eq!((w.rtc_sends(a, ma), w.link_sends(a, ma)), (1, 0));
    (a, b, rtc_a)
}

#[test]
fn a_stalled_connection_moves_calls_to_the_link_until_it_shows_life() {
    let mut w = World::new();
    let (a, b, rtc_a) = on_webrtc(&mut w, true);
    assert_eq!(w.nodes[a].hub.config().rtc_stall_timeout, SECS(4));
    w.stall_rtc(a);
    let (ma, mb) = (w.mark(a), w.mark(b));
    let stuck = w.call(a, b, b"stuck");
    assert_eq!(w.rtc_sends(a, ma), 1, "it went on WebRTC, which holds it");
    w.advance(ms(3999));
    assert_eq!(w.result(a, stuck), None);
    assert_eq!(w.nodes[a].hub.stats().webrtc_stalls, 0);
    w.advance(ms(1));
    let stats = w.nodes[a].hub.stats();
    assert_eq!(stats.webrtc_stalls, 1, "nothing came back for the stall timeout");
    assert_eq!(stats.endpoint.retries, 1, "the stuck call went back to the endpoint");
    assert_eq!(w.nodes[a].hub.connection(&w.id(b)), Some((rtc_a, true)), "ICE is up all along");

    // New calls go on the link at once; the stuck one is resent there
    // after the endpoint's backoff, under its request id.
    let fresh = w.call(a, b, b"fresh");
    assert_eq!(w.result(a, fresh), Some(Ok(b"fresh".to_vec())));
    assert_eq!(w.result(a, stuck), None);
    w.advance(SECS(1));
    assert_eq!(w.result(a, stuck), Some(Ok(b"stuck".to_vec())));
    assert_eq!((w.rtc_sends(a, ma), w.link_sends(a, ma)), (1, 2));
    // B's WebRTC looks fine to B, yet it answers on the link the requests came on.
    assert_eq!((w.rtc_sends(b, mb), w.link_sends(b, mb)), (0, 2));

    // The data channel catches up: B sees the stuck request a second time
    // and its dedup cache answers without running it. That answer, on
    // WebRTC, is a sign of life: WebRTC takes over again.
    let runs = w.nodes[b].delivered.len();
    w.unstall_rtc(a);
    assert_eq!(w.nodes[b].delivered.len(), runs, "the stuck copy did not run again");
    assert_eq!(w.nodes[b].hub.stats().endpoint.duplicates, 1);
    assert_eq!(w.nodes[a].hub.stats().endpoint.orphan_responses, 1, "the call had its answer already");
    let (ma, mb) = (w.mark(a), w.mark(b));
    let back = w.call(a, b, b"back");
    assert_eq!(w.result(a, back), Some(Ok(b"back".to_vec())));
    assert_eq!((w.rtc_sends(a, ma), w.link_sends(a, ma)), (1, 0), "WebRTC carries the calls again");
    assert_eq!((w.rtc_sends(b, mb), w.link_sends(b, mb)), (1, 0));
    assert_eq!(w.nodes[a].hub.stats().webrtc_stalls, 1);
}

#[test]
fn without_a_direct_link_a_stalled_connection_changes_nothing() {
    let mut w = World::new();
    let (a, b, rtc_a) = on_webrtc(&mut w, false);
    assert_eq!(w.nodes[a].hub.stats().links_open, 0);
    w.stall_rtc(a);
    let ma = w.mark(a);
    let waits = w.call(a, b, b"waits");
    let expires = w.call_within(a, b, b"expires", SECS(6));
    w.advance(SECS(5));
    assert_eq!((w.result(a, waits), w.result(a, expires)), (None, None), "both wait for WebRTC");
    let stats = w.nodes[a].hub.stats();
    assert_eq!((stats.webrtc_stalls, stats.endpoint.retries), (0, 0));
    w.advance(SECS(1));
    assert_eq!(w.result(a, expires), Some(Err(ActrError::TimedOut)), "at its deadline");
    w.unstall_rtc(a);
    assert_eq!(w.result(a, waits), Some(Ok(b"waits".to_vec())), "WebRTC delivered after all");
    assert_eq!(w.rtc_outputs(a, ma).len(), 2, "two sends, no close: {:?}", w.rtc_outputs(a, ma));
    assert_eq!(w.nodes[a].hub.connection(&w.id(b)), Some((rtc_a, true)));
}

#[test]
fn a_connection_stalled_past_its_deadline_is_closed_and_replaced() {
    let mut w = World::new();
    let (a, b, rtc_a) = on_webrtc(&mut w, true);
    w.stall_rtc(a);
    let stuck = w.call(a, b, b"stuck");
    w.advance(SECS(4));
    assert_eq!(w.nodes[a].hub.stats().webrtc_stalls, 1);
    w.advance(SECS(1));
    assert_eq!(w.result(a, stuck), Some(Ok(b"stuck".to_vec())), "resent over the link");
    // Still silent at the recovery timeout (which the dedup TTL caps, both
    // 30 s), counted from the stall: closed, so no copy stuck in it can
    // reach B once B forgot the request.
    let ma = w.mark(a);
    w.advance(ms(28_999));
    assert!(w.rtc_outputs(a, ma).is_empty());
    w.advance(ms(1));
    assert_eq!(w.rtc_outputs(a, ma), vec![RtcOutput::Close { rtc: rtc_a }]);
    // The link carries on, and the next call over it starts a new connection.
    let ma = w.mark(a);
    let next = w.call(a, b, b"next");
    assert_eq!(w.result(a, next), Some(Ok(b"next".to_vec())));
    assert_eq!(w.link_sends(a, ma), 1);
    let opened = opens(&w.rtc_outputs(a, ma));
    assert_eq!(opened.len(), 1, "a new connection: {opened:?}");
    assert_ne!(opened[0].0, rtc_a);
}
