//! Which wire carries a node's calls, decided by the shipped hub: the race
//! between a direct WebSocket link and WebRTC, failover, WebRTC taking
//! over, closed sessions, a new identity, and more peers than the tables
//! hold. Nodes advertise a direct address (`RtcSimConfig::direct`), so the
//! simulated WebSocket wire runs beside the simulated UDP.
//!
//! `dial_race_under_loss` — three nodes on the Lossy preset call each other
//! every 200 ms. Invariants: every call resolves exactly once by its
//! deadline; both wires were used (the first calls ride whichever came up
//! first); every pair ends up on WebRTC; at least 98 % of the calls after
//! that succeed. On 10 % datagram loss SCTP's retransmission backoff can
//! stall a connection for seconds to tens of seconds while ICE stays up;
//! the hub then moves calls, and resends those caught in the stall, to the
//! open direct link (all calls succeeded in 1,000 seeds, about a quarter of
//! which saw such a stall; the margin is for ICE really losing
//! connectivity, whose calls in flight wait for the recovery).
//!
//! `webrtc_stall_moves_calls_to_the_link` — two nodes call each other over
//! WebRTC with a direct link open; for 8 s the path drops DTLS but not
//! STUN, so SCTP stalls with ICE connected. Invariants: both hubs count a
//! stall and the link carries the calls meanwhile; the connection never
//! went down; every call succeeds, those caught in the stall included
//! (resent over the link, run once); once SCTP gets through again WebRTC
//! carries the calls and the link goes quiet.
//!
//! `failover_when_the_link_dies_mid_call` — WebRTC is cut from the start,
//! so calls ride the direct link, with handlers taking up to 2 s. The link
//! is reset while calls are in flight. Invariants: the calls in flight on
//! it fail at that instant with a typed error (none waits for its
//! deadline); calls succeed again over a new link; exactly-once.
//!
//! `webrtc_takes_over_from_websocket` — as above, then the UDP path mends.
//! Invariants: WebRTC comes up beside the link and carries the calls (the
//! direct link stops carrying requests); no call fails across the switch.
//!
//! `closed_session_fails_pending_calls_at_once` — WebRTC only; the
//! str0m peer carrying slow calls ends on the caller's side. Invariants: the
//! calls pending on it fail at once with a typed error; the next calls
//! build a new connection and succeed.
//!
//! `hard_rebind_moves_the_node_to_its_new_id` — a node partitioned from the
//! server longer than its renewal token lives comes back under a new
//! `ActrId`. Invariants: its hub reports the rebind and uses the new id;
//! calls it had pending fail with a typed error at the rebind; calls
//! between the two nodes succeed again, addressed to and from the new id;
//! the old id is no longer online.
//!
//! `more_peers_than_the_tables_hold` — with tables of 4 peers, node 0 calls
//! 9 other nodes in turn, each for a while. Invariants: every call
//! succeeds; the hub closed least-used connections and forgot idle routes
//! to make room (the step-2 node refused new peers past its table).

use actr_core::Duration;
use actr_sim::rtc::CallLoad;
use actr_sim::rtc::check as rtc_check;
use actr_sim::rtc::setup::{echo_load, quiesce, rtc_sim, wait_online, wait_paired};
use actr_sim::{NetPreset, RtcSimConfig, Sim, check, ensure, sweep};

const MS: fn(u64) -> Duration = Duration::from_millis;
const SECS: fn(u64) -> Duration = Duration::from_secs;

fn direct_config() -> RtcSimConfig {
    RtcSimConfig { direct: true, ..Default::default() }
}

/// Calls of node `i` that resolved with an error after `since`, and when.
fn failures_since(sim: &Sim, i: usize, since: actr_core::Instant) -> Vec<(actr_core::Instant, String)> {
    let Some(rtc) = sim.rtc() else { return Vec::new() };
    let entries = rtc.log(i).calls.entries();
    let failed = entries.filter_map(|(_, e)| match &e.outcome {
        Some((at, Err(err))) if *at >= since => Some((*at, format!("{err}"))),
        _ => None,
    });
    failed.collect()
}

fn dial_race(seed: u64) -> Result<(), String> {
    const NODES: usize = 3;
    let mut sim = rtc_sim(seed, NODES, NetPreset::Lossy, direct_config());
    wait_online(&mut sim, SECS(120))?;
    for i in 0..NODES {
        sim.set_call_load(i, Some(echo_load((i + 1) % NODES, MS(200), SECS(10))));
    }
    for i in 0..NODES {
        wait_paired(&mut sim, i, (i + 1) % NODES, SECS(120))?;
    }
    let paired_at = sim.now();
    sim.run_for(SECS(30));
    quiesce(&mut sim, SECS(10));
    rtc_check::calls_ok(&sim)?;
    check::ledgers_ok(&sim)?;
    let direct = sim.direct_stats();
    let webrtc_sent: u64 = (0..NODES).filter_map(|i| sim.node(i).hub()).map(|h| h.stats().webrtc_sent).sum();
    ensure(direct.accepted > 0 && direct.messages > 0 && webrtc_sent > 0, || {
        format!("both wires should have carried calls: {direct:?}, webrtc sent {webrtc_sent}")
    })?;
    let (ok, resolved) = rtc_check::calls_since(&sim, paired_at + SECS(1));
    ensure(resolved >= 300 && ok * 100 >= resolved * 98, || {
        format!("{ok} of {resolved} calls succeeded: {}", rtc_check::describe(&sim))
    })
}

/// Two direct-capable nodes with the UDP path cut: calls ride the link.
fn over_the_link(seed: u64, handler_ms: u64) -> Result<Sim, String> {
    let config = RtcSimConfig { handler_delay: (MS(1), MS(handler_ms)), ..direct_config() };
    let mut sim = rtc_sim(seed, 2, NetPreset::Lan, config);
    sim.cut_path(0, 1);
    wait_online(&mut sim, SECS(60))?;
    sim.set_call_load(0, Some(CallLoad { to: 1, every: MS(100), payload: 64, timeout: SECS(20) }));
    let bound = sim.now() + SECS(30);
    let linked = sim.run_until(bound, |s| s.node(0).hub().is_some_and(|h| h.stats().links_open > 0));
    ensure(linked, || format!("no direct link: {}", rtc_check::describe(&sim)))?;
    sim.run_for(SECS(5));
    Ok(sim)
}

fn stall(seed: u64) -> Result<(), String> {
    let mut sim = rtc_sim(seed, 2, NetPreset::Lan, direct_config());
    wait_online(&mut sim, SECS(60))?;
    sim.set_call_load(0, Some(echo_load(1, MS(100), SECS(10))));
    sim.set_call_load(1, Some(echo_load(0, MS(100), SECS(10))));
    wait_paired(&mut sim, 0, 1, SECS(30))?;
    let hub_stats = |sim: &Sim| [0, 1].map(|i| sim.node(i).hub().map(|h| h.stats()).unwrap_or_default());
    let bound = sim.now() + SECS(30);
    let linked = sim.run_until(bound, |s| hub_stats(s).iter().all(|h| h.links_open > 0));
    ensure(linked, || format!("no direct link: {}", rtc_check::describe(&sim)))?;
    sim.run_for(SECS(2));
    let started = sim.now();
    let (direct_before, webrtc_before) = (sim.direct_stats().messages, hub_stats(&sim).map(|h| h.webrtc_sent));

    sim.stall_path(0, 1);
    sim.run_for(SECS(8));
    sim.unstall_path(0, 1);
    let stats = hub_stats(&sim);
    let carried = sim.direct_stats().messages - direct_before;
    ensure(stats.iter().all(|h| h.webrtc_stalls == 1) && carried > 100, || {
        format!("stalls {:?}, {carried} messages on the link", stats.map(|h| h.webrtc_stalls))
    })?;
    ensure(stats.iter().all(|h| h.ice_disconnects == 0) && rtc_check::paired(&sim, 0, 1), || {
        format!("the stall cut ICE: {}", rtc_check::describe(&sim))
    })?;

    // SCTP's next retransmission gets through (or the connection is
    // replaced at its deadline): WebRTC takes over again.
    let bound = sim.now() + SECS(60);
    let mut quiet = false;
    while !quiet && sim.now() < bound {
        let before = sim.direct_stats().messages;
        sim.run_for(SECS(2));
        quiet = sim.direct_stats().messages - before < 5;
    }
    ensure(quiet, || format!("the link still carries the calls: {}", rtc_check::describe(&sim)))?;
    let webrtc_mid = hub_stats(&sim).map(|h| h.webrtc_sent);
    sim.run_for(SECS(5));
    let webrtc_after = hub_stats(&sim).map(|h| h.webrtc_sent);
    ensure((0..2).all(|i| webrtc_after[i] > webrtc_mid[i] + 40 && webrtc_mid[i] > webrtc_before[i]), || {
        format!("WebRTC sent {webrtc_before:?} -> {webrtc_mid:?} -> {webrtc_after:?}")
    })?;
    quiesce(&mut sim, SECS(10));
    rtc_check::calls_ok(&sim)?;
    check::ledgers_ok(&sim)?;
    let (ok, resolved) = rtc_check::calls_since(&sim, started - SECS(1));
    ensure(resolved >= 300 && ok == resolved, || format!("{ok} of {resolved} calls succeeded"))
}

fn failover(seed: u64) -> Result<(), String> {
    let mut sim = over_the_link(seed, 2000)?;
    let pending_before = rtc_check::call_counts(&sim).pending;
    ensure(pending_before > 0, || "no call was in flight".into())?;
    let broke_at = sim.now();
    sim.break_direct(0, 1);
    let failed = failures_since(&sim, 0, broke_at);
    ensure(failed.len() >= pending_before && failed.iter().all(|(at, _)| *at == broke_at), || {
        format!("{pending_before} calls were in flight; failed at once: {failed:?}")
    })?;
    sim.run_for(SECS(20));
    let (ok, resolved) = rtc_check::calls_since(&sim, broke_at + SECS(5));
    ensure(resolved >= 100 && ok == resolved, || format!("after the reset {ok} of {resolved} calls succeeded"))?;
    quiesce(&mut sim, SECS(20));
    rtc_check::calls_ok(&sim)?;
    check::ledgers_ok(&sim)
}

fn takeover(seed: u64) -> Result<(), String> {
    let mut sim = over_the_link(seed, 20)?;
    let webrtc_before = sim.node(0).hub().map_or(0, |h| h.stats().webrtc_sent);
    sim.mend_path(0, 1);
    let mended = sim.now();
    // A WebRTC attempt that failed during the cut is retried after 30 s.
    let bound = mended + SECS(60);
    let took_over = sim.run_until(bound, |s| s.ready_connection(0, 1).is_some());
    ensure(took_over, || format!("WebRTC never took over: {}", rtc_check::describe(&sim)))?;
    let switched = sim.now();
    let direct_before = sim.direct_stats().messages;
    sim.run_for(SECS(10));
    let webrtc_after = sim.node(0).hub().map_or(0, |h| h.stats().webrtc_sent);
    ensure(webrtc_after > webrtc_before + 50, || format!("WebRTC carried {} calls", webrtc_after - webrtc_before))?;
    // The link stays open (keepalives) but carries no more calls.
    let direct_after = sim.direct_stats().messages;
    ensure(direct_after - direct_before < 20, || {
        format!("{} messages still on the link", direct_after - direct_before)
    })?;
    quiesce(&mut sim, SECS(20));
    let failed = failures_since(&sim, 0, mended);
    ensure(failed.is_empty(), || format!("calls failed across the switch at {switched:?}: {failed:?}"))?;
    rtc_check::calls_ok(&sim)
}

fn closed_session(seed: u64) -> Result<(), String> {
    let config = RtcSimConfig { handler_delay: (MS(1), MS(3000)), ..Default::default() };
    let mut sim = rtc_sim(seed, 2, NetPreset::Lan, config);
    wait_online(&mut sim, SECS(60))?;
    sim.set_call_load(0, Some(CallLoad { to: 1, every: MS(100), payload: 64, timeout: SECS(30) }));
    wait_paired(&mut sim, 0, 1, SECS(30))?;
    sim.run_for(SECS(5));
    let pending = rtc_check::call_counts(&sim).pending;
    ensure(pending > 0, || "no call was in flight".into())?;
    let rtc = sim.ready_connection(0, 1).ok_or("no connection")?;
    let ended_at = sim.now();
    sim.end_connection(0, rtc);
    let failed = failures_since(&sim, 0, ended_at);
    ensure(failed.len() >= pending && failed.iter().all(|(at, _)| *at == ended_at), || {
        format!("{pending} calls were pending; failed at once: {failed:?}")
    })?;
    wait_paired(&mut sim, 0, 1, SECS(30))?;
    let repaired = sim.now();
    ensure(sim.ready_connection(0, 1) != Some(rtc), || "the ended connection is still in use".into())?;
    sim.run_for(SECS(10));
    let (ok, resolved) = rtc_check::calls_since(&sim, repaired + SECS(1));
    ensure(resolved >= 50 && ok == resolved, || format!("after the rebuild {ok} of {resolved} calls succeeded"))?;
    quiesce(&mut sim, SECS(30));
    rtc_check::calls_ok(&sim)
}

fn rebind(seed: u64) -> Result<(), String> {
    let mut config = actr_sim::SimConfig::new(seed)
        .nodes(2)
        .preset(NetPreset::Lan)
        .rtc(RtcSimConfig { handler_delay: (MS(1), MS(1500)), ..Default::default() });
    config.ais.renewal_token_ttl_secs = 200;
    config.ais.credential_ttl_secs = 120;
    let mut sim = Sim::new(config);
    wait_online(&mut sim, SECS(60))?;
    sim.set_call_load(0, Some(echo_load(1, MS(250), SECS(10))));
    sim.set_call_load(1, Some(echo_load(0, MS(250), SECS(10))));
    wait_paired(&mut sim, 0, 1, SECS(30))?;
    let old = sim.node(1).actor().cloned().ok_or("no id")?;
    sim.partition(1);
    sim.run_for(SECS(260));
    sim.heal(1);
    let bound = sim.now() + SECS(120);
    let rebound = sim.run_until(bound, |s| !s.node(1).log().rebinds.is_empty() && check::all_online(s));
    ensure(rebound, || format!("node 1 did not rebind: {}", check::describe(&sim)))?;
    let (at, from, to) = sim.node(1).log().rebinds[0].clone();
    ensure(from == old && to != old, || format!("rebind {from} -> {to}, expected from {old}"))?;
    ensure(sim.node(1).hub().and_then(|h| h.id()) == Some(&to), || "the hub kept the old id".into())?;
    ensure(!sim.online().contains(&old), || format!("{old} is still online"))?;
    let pending_failed = failures_since(&sim, 1, at).iter().filter(|(t, _)| *t == at).count();
    let pending_calls = sim.rtc().map_or(0, |r| r.log(1).calls.entries().filter(|(_, e)| e.issued_at < at).count());
    ensure(pending_calls > 0, || "node 1 made no calls".into())?;
    wait_paired(&mut sim, 0, 1, SECS(60))?;
    let repaired = sim.now();
    sim.run_for(SECS(15));
    let (ok, resolved) = rtc_check::calls_since(&sim, repaired + SECS(1));
    ensure(resolved >= 50 && ok == resolved, || {
        format!("after the rebind {ok} of {resolved} calls succeeded ({pending_failed} failed at it)")
    })?;
    quiesce(&mut sim, SECS(10));
    rtc_check::calls_ok(&sim)
}

fn many_peers(seed: u64) -> Result<(), String> {
    const NODES: usize = 10;
    let config = RtcSimConfig { max_peers: Some(4), ..Default::default() };
    let mut sim = rtc_sim(seed, NODES, NetPreset::Lan, config);
    wait_online(&mut sim, SECS(120))?;
    for to in 1..NODES {
        sim.set_call_load(0, Some(echo_load(to, MS(200), SECS(10))));
        wait_paired(&mut sim, 0, to, SECS(30))?;
        sim.run_for(SECS(3));
    }
    quiesce(&mut sim, SECS(10));
    rtc_check::calls_ok(&sim)?;
    let counts = sim.rtc().ok_or("no WebRTC")?.log(0).calls.counts();
    ensure(counts.issued >= 100 && counts.ok == counts.issued, || format!("node 0's calls: {counts:?}"))?;
    let stats = sim.node(0).hub().map(|h| h.stats()).ok_or("node 0 down")?;
    ensure(stats.webrtc_evicted >= 5 && stats.routes_evicted >= 1, || format!("no eviction: {stats:?}"))?;
    Ok(())
}

#[test]
fn dial_race_under_loss() {
    sweep("dial_race_under_loss", dial_race);
}

#[test]
fn webrtc_stall_moves_calls_to_the_link() {
    sweep("webrtc_stall_moves_calls_to_the_link", stall);
}

#[test]
fn failover_when_the_link_dies_mid_call() {
    sweep("failover_when_the_link_dies_mid_call", failover);
}

#[test]
fn webrtc_takes_over_from_websocket() {
    sweep("webrtc_takes_over_from_websocket", takeover);
}

#[test]
fn closed_session_fails_pending_calls_at_once() {
    sweep("closed_session_fails_pending_calls_at_once", closed_session);
}

#[test]
fn hard_rebind_moves_the_node_to_its_new_id() {
    sweep("hard_rebind_moves_the_node_to_its_new_id", rebind);
}

#[test]
fn more_peers_than_the_tables_hold() {
    sweep("more_peers_than_the_tables_hold", many_peers);
}
