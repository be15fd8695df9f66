//! WebRTC recovery: ICE restarts, session rebuilds, network changes, and
//! late reports of replaced connections, all decided by the shipped hub.
//!
//! `partition_ice_restart_calls_resume` — two nodes call each other every
//! 250 ms; their datagram path is cut for 30–44 s (signaling stays up),
//! long enough for the offerer's ICE to report `IceDisconnected` (str0m's
//! answerer mostly does not notice a silent path by itself; when its
//! consent checks fire first it asks for the restart). In odd seeds the
//! answerer's application also reports a network change 5 s into the cut,
//! so the answerer asks for a restart. Invariants:
//! - the cut was noticed: the offerer saw `IceDisconnected`, or the
//!   answerer noticed (its own ICE, or the app's report) and asked for a
//!   restart; the offerer restarted ICE; the answerer never offered; in odd
//!   seeds it asked for a restart;
//! - within 30 s of the heal both sides report the restart done and the
//!   same sessions carry on (no rebuild);
//! - calls succeed again in both directions once SCTP retransmits (its
//!   timer backed off during the cut to str0m's 60 s cap, so this can take
//!   a minute or two after the heal), and every call issued once one more
//!   such period (60 s) has passed succeeds;
//! - every call of the run resolved exactly once by its deadline.
//!
//! `stale_session_events_ignored` — the same cut, held past the offerer's
//! 15 s recovery timeout, so sessions are rebuilt (the answerer's old one
//! is superseded by a newer offer and closed, and its late `Disconnected`
//! arrives while the new session is current). After the heal, every
//! kind of report is injected on both hubs tagged with the old connection's
//! id. Invariants: both sides run new connections; every stale report
//! changed nothing (the route still names the new session, no recovery
//! started, calls issued after the injection all succeed); exactly-once.
//!
//! `network_change_restarts_ice_once` — three bursts of five network-change
//! reports 50 ms apart (alternately on the offerer and the answerer), each
//! with a 1 s cut of the path. Invariants: each burst settles into exactly
//! one recovery; the offerer restarts ICE for each and the restart
//! completes; every call succeeds.

use actr_core::ActrError;
use actr_core::Duration;
use actr_core::node::{RtcId, RtcReport};
use actr_sim::rtc::check as rtc_check;
use actr_sim::rtc::setup::{echo_load, offerer_of, quiesce, rtc_sim, wait_online, wait_paired};
use actr_sim::{NetPreset, RtcSimConfig, Sim, ensure, sweep};

const MS: fn(u64) -> Duration = Duration::from_millis;
const SECS: fn(u64) -> Duration = Duration::from_secs;

/// str0m's cap on SCTP's retransmission timer.
const SCTP_MAX_RTO: Duration = Duration::from_secs(60);

/// How long after a heal SCTP may take to send again: its retransmission
/// timer backed off during the cut to str0m's cap of 60 s, and on the WAN
/// preset the first retransmission after the heal may itself be lost
/// (then the next is 60 s later). Three periods plus slack.
const SCTP_RESUME: Duration = Duration::from_secs(3 * 60 + 30);

/// Two paired nodes calling each other every 250 ms.
fn paired_pair(seed: u64, rtc: RtcSimConfig) -> Result<Sim, String> {
    let mut sim = rtc_sim(seed, 2, NetPreset::Wan, rtc);
    wait_online(&mut sim, SECS(60))?;
    sim.set_call_load(0, Some(echo_load(1, MS(250), SECS(10))));
    sim.set_call_load(1, Some(echo_load(0, MS(250), SECS(10))));
    wait_paired(&mut sim, 0, 1, SECS(30))?;
    Ok(sim)
}

/// The connection node `i`'s hub currently sends to node `peer` on.
fn session(sim: &Sim, i: usize, peer: usize) -> Option<RtcId> {
    sim.ready_connection(i, peer)
}

fn ice_restarts(sim: &Sim, i: usize, peer: usize) -> u64 {
    let rtc = sim.current_connection(i, peer);
    let node = sim.rtc().and_then(|r| r.node(i));
    node.zip(rtc).and_then(|(n, rtc)| n.session(rtc)).map_or(0, |s| s.peer().stats().ice_restarts)
}

/// All calls issued at or after `since` succeeded (and there were some).
fn all_ok_since(sim: &Sim, since: actr_core::Instant) -> Result<(), String> {
    let (ok, resolved) = rtc_check::calls_since(sim, since);
    ensure(resolved >= 20 && ok == resolved, || format!("{ok} of {resolved} calls ok: {}", rtc_check::describe(sim)))
}

fn restart(seed: u64) -> Result<(), String> {
    let mut sim = paired_pair(seed, RtcSimConfig::default())?;
    sim.run_for(SECS(10));
    let off = offerer_of(&sim, 0, 1)?;
    let ans = 1 - off;
    let before = (session(&sim, off, ans), session(&sim, ans, off));
    let answerer_reports = seed % 2 == 1;
    sim.cut_path(0, 1);
    let heal_at = sim.now() + SECS(30 + seed % 15);
    if answerer_reports {
        sim.run_for(SECS(5));
        sim.network_change(ans);
    }
    sim.run_until(heal_at, |_| false);
    let rtc = sim.rtc().ok_or("no WebRTC layer")?;
    let (o, a) = (rtc.log(off).counters, rtc.log(ans).counters);
    // Someone noticed the cut: the offerer's ICE, or the answerer (its own
    // ICE, or its application's report) which then asked for a restart.
    // str0m's answerer usually stays quiet on a silent path, but its
    // consent checks can fire first (seed 16449980): the offerer then
    // restarts on the request, and its own agent never reports the loss.
    let noticed =
        o.ice_disconnected >= 1 || (a.ice_disconnected + a.network_changes >= 1 && a.restart_requests_sent >= 1);
    ensure(noticed, || {
        format!(
            "nobody noticed the cut: offerer {o:?} answerer {a:?} hubs {:?} {:?}",
            sim.node(off).hub().map(|h| h.stats()),
            sim.node(ans).hub().map(|h| h.stats())
        )
    })?;
    ensure(a.offers_sent == 0, || format!("the answerer offered: {a:?}"))?;
    ensure(!answerer_reports || a.restart_requests_sent >= 1, || format!("the answerer did not ask: {a:?}"))?;
    ensure(ice_restarts(&sim, off, ans) >= 1, || format!("no restart: {}", rtc_check::describe(&sim)))?;

    sim.mend_path(0, 1);
    let healed = sim.now();
    let bound = healed + SECS(30);
    let recovered = sim.run_until(bound, |s| {
        let done = |i| s.rtc().is_some_and(|r| r.log(i).counters.ice_restarted >= 1);
        done(off) && done(ans) && rtc_check::paired(s, 0, 1)
    });
    ensure(recovered, || format!("no recovery by {bound:?}: {}", rtc_check::describe(&sim)))?;
    let after = (session(&sim, off, ans), session(&sim, ans, off));
    ensure(after == before, || format!("sessions changed from {before:?} to {after:?}"))?;
    let bound = healed + SCTP_RESUME;
    let resumed = sim.run_until(bound, |s| rtc_check::all_nodes_ok_since(s, healed).is_some());
    ensure(resumed, || format!("calls did not succeed both ways by {bound:?}: {}", rtc_check::describe(&sim)))?;
    let first = rtc_check::all_nodes_ok_since(&sim, healed).ok_or("lost the first successes")?;
    // Right after both directions resumed, a lost packet may still wait out
    // a retransmission timer backed off during the cut (seed 247896219: a
    // call issued at that very moment missed its 10 s deadline). Once one
    // such period has passed, every call must succeed.
    let settled = first + SCTP_MAX_RTO;
    sim.run_until(settled + SECS(20), |_| false);
    quiesce(&mut sim, SECS(10));
    rtc_check::calls_ok(&sim)?;
    all_ok_since(&sim, settled)
}

fn stale(seed: u64) -> Result<(), String> {
    let rtc = RtcSimConfig { recovery_timeout: SECS(15), ..Default::default() };
    let mut sim = paired_pair(seed, rtc)?;
    sim.run_for(SECS(5));
    let old = [session(&sim, 0, 1).ok_or("no session 0")?, session(&sim, 1, 0).ok_or("no session 1")?];
    sim.cut_path(0, 1);
    sim.run_for(SECS(50 + seed % 10));
    sim.mend_path(0, 1);
    wait_paired(&mut sim, 0, 1, SECS(30))?;
    let new = [session(&sim, 0, 1).ok_or("no session 0")?, session(&sim, 1, 0).ok_or("no session 1")?];
    ensure(new[0] != old[0] && new[1] != old[1], || format!("no rebuild: {old:?} -> {new:?}"))?;

    let asked = |sim: &Sim, i: usize| sim.rtc().map_or(0, |r| r.log(i).counters.recoveries_asked);
    let asked_before = [asked(&sim, 0), asked(&sim, 1)];
    let stale_reports = [
        RtcReport::RpcOpen,
        RtcReport::ConnectivityLost,
        RtcReport::Recovering,
        RtcReport::Recovered,
        RtcReport::RpcClosed,
        RtcReport::Message(b"stale".to_vec()),
        RtcReport::Ended(ActrError::Unavailable("stale".into())),
    ];
    for (i, old_id) in old.iter().enumerate() {
        for report in stale_reports.iter().cloned() {
            sim.inject_rtc_report(i, *old_id, report);
        }
    }
    let injected = sim.now();
    let now = [session(&sim, 0, 1), session(&sim, 1, 0)];
    ensure(now == [Some(new[0]), Some(new[1])], || format!("a stale report moved the route: {new:?} -> {now:?}"))?;
    let asked_after = [asked(&sim, 0), asked(&sim, 1)];
    ensure(asked_after == asked_before, || {
        format!("a stale report started a recovery: {asked_before:?} -> {asked_after:?}")
    })?;
    sim.run_for(SECS(10));
    ensure([session(&sim, 0, 1), session(&sim, 1, 0)] == now, || "the new sessions did not last".into())?;
    quiesce(&mut sim, SECS(10));
    rtc_check::calls_ok(&sim)?;
    all_ok_since(&sim, injected)
}

fn network_change(seed: u64) -> Result<(), String> {
    let mut sim = paired_pair(seed, RtcSimConfig::default())?;
    let started = sim.now();
    let off = offerer_of(&sim, 0, 1)?;
    for burst in 0..3u64 {
        sim.run_for(SECS(5));
        let node = if (burst + seed).is_multiple_of(2) { off } else { 1 - off };
        let restarts_before = ice_restarts(&sim, off, 1 - off);
        let done_before = sim.rtc().map_or(0, |r| r.log(off).counters.ice_restarted);
        sim.cut_path(0, 1);
        for _ in 0..5 {
            sim.network_change(node);
            sim.run_for(MS(50));
        }
        sim.run_for(MS(750));
        sim.mend_path(0, 1);
        let bound = sim.now() + SECS(20);
        let restarted =
            sim.run_until(bound, |s| s.rtc().is_some_and(|r| r.log(off).counters.ice_restarted > done_before));
        ensure(restarted, || format!("burst {burst} on node {node}: no restart: {}", rtc_check::describe(&sim)))?;
        ensure(ice_restarts(&sim, off, 1 - off) > restarts_before, || {
            format!("burst {burst}: offerer did not restart")
        })?;
        let c = sim.rtc().ok_or("no WebRTC layer")?.log(node).counters;
        let settled = sim.node(node).hub().map_or(0, |h| h.stats().network_recoveries);
        let bursts_here = (0..=burst).filter(|b| (b + seed) % 2 == (burst + seed) % 2).count() as u64;
        ensure(c.network_changes == 5 * bursts_here && settled == bursts_here, || {
            format!("burst {burst}: reports did not settle into one recovery each: {settled} for {c:?}")
        })?;
    }
    quiesce(&mut sim, SECS(10));
    rtc_check::calls_ok(&sim)?;
    all_ok_since(&sim, started)
}

#[test]
fn partition_ice_restart_calls_resume() {
    sweep("partition_ice_restart_calls_resume", restart);
}

#[test]
fn stale_session_events_ignored() {
    sweep("stale_session_events_ignored", stale);
}

#[test]
fn network_change_restarts_ice_once() {
    sweep("network_change_restarts_ice_once", network_change);
}
