//! WebRTC and the signaling server: established sessions do not need it,
//! and recovery waits for it.
//!
//! `signaling_down_webrtc_keeps_flowing` — two nodes paired over WebRTC,
//! calling each other every 250 ms; the server crashes for 30 s, then
//! restarts. Invariants:
//! - both nodes lose their signaling connection, yet every call issued
//!   while the server is down succeeds over the data channel, on the same
//!   sessions (nothing is rebuilt);
//! - once the server is back, every node is online again within the
//!   client's reconnect bound, under the same identity;
//! - every call and every signaling request resolved exactly once by its
//!   deadline.
//!
//! `ice_restart_waits_for_signaling` — the server crashes and the datagram
//! path is cut at once; the offerer notices, and its restart offers cannot
//! be relayed. The path heals after 30 s, the server restarts 5 s later.
//! Invariants: no restart completes while the server is down; within the
//! reconnect bound plus 30 s of the server's return both sides report the
//! restart done on the same sessions; calls then succeed again (within the
//! SCTP backoff bound) and every call issued after that succeeds;
//! exactly-once throughout.

use actr_core::node::RtcId;
use actr_core::{Duration, Instant};
use actr_sim::rtc::check as rtc_check;
use actr_sim::rtc::setup::{echo_load, quiesce, rtc_sim, wait_online, wait_paired};
use actr_sim::{NetPreset, RtcSimConfig, Sim, check, ensure, sweep};

const SECS: fn(u64) -> Duration = Duration::from_secs;

/// How long SCTP may take to send again after a long cut (see rtc_recovery.rs).
const SCTP_RESUME: Duration = Duration::from_secs(3 * 60 + 30);

fn paired_pair(seed: u64, rtc: RtcSimConfig) -> Result<Sim, String> {
    let mut sim = rtc_sim(seed, 2, NetPreset::Wan, rtc);
    wait_online(&mut sim, SECS(60))?;
    sim.set_call_load(0, Some(echo_load(1, Duration::from_millis(250), SECS(10))));
    sim.set_call_load(1, Some(echo_load(0, Duration::from_millis(250), SECS(10))));
    wait_paired(&mut sim, 0, 1, SECS(30))?;
    sim.run_for(SECS(5));
    Ok(sim)
}

fn sessions(sim: &Sim) -> [Option<RtcId>; 2] {
    [sim.ready_connection(0, 1), sim.ready_connection(1, 0)]
}

/// Calls issued in `[from, to)`: `(ok, all)`.
fn calls_between(sim: &Sim, from: Instant, to: Instant) -> (usize, usize) {
    let (ok_from, all_from) = rtc_check::calls_since(sim, from);
    let (ok_to, all_to) = rtc_check::calls_since(sim, to);
    (ok_from - ok_to, all_from - all_to)
}

fn signaling_down(seed: u64) -> Result<(), String> {
    let mut sim = paired_pair(seed, RtcSimConfig::default())?;
    let ids = check::current_ids(&sim);
    let before = sessions(&sim);
    let down_at = sim.now();
    sim.crash_server();
    sim.run_for(SECS(30));
    let up_at = sim.now();
    for i in 0..2 {
        let lost = sim.node(i).log().disconnects.iter().any(|(t, _)| *t >= down_at);
        ensure(lost && !sim.node(i).is_connected(), || format!("node {i} kept its signaling connection"))?;
    }
    ensure(sessions(&sim) == before, || format!("sessions changed: {before:?} -> {:?}", sessions(&sim)))?;
    sim.restart_server();
    let bound = up_at + check::reconnect_bound(&sim.config().client);
    ensure(sim.run_until(bound, check::all_online), || {
        format!("not back online by {bound:?}: {}", check::describe(&sim))
    })?;
    ensure(check::current_ids(&sim) == ids, || "an identity changed".into())?;
    sim.run_for(SECS(10));
    quiesce(&mut sim, SECS(10));
    rtc_check::calls_ok(&sim)?;
    check::ledgers_ok(&sim)?;
    // Calls made before the outage ended, so their deadlines were in it too.
    let (ok, all) = calls_between(&sim, down_at, up_at);
    ensure(all >= 200 && ok == all, || format!("{ok} of {all} calls during the outage succeeded"))
}

fn restart_waits(seed: u64) -> Result<(), String> {
    let rtc = RtcSimConfig { recovery_timeout: SECS(180), ..Default::default() };
    let mut sim = paired_pair(seed, rtc)?;
    let before = sessions(&sim);
    sim.crash_server();
    sim.cut_path(0, 1);
    sim.run_for(SECS(30));
    sim.mend_path(0, 1);
    sim.run_for(SECS(5));
    let restarted = |s: &Sim, i: usize| s.rtc().map_or(0, |r| r.log(i).counters.ice_restarted);
    ensure(restarted(&sim, 0) + restarted(&sim, 1) == 0, || "ICE restarted without signaling".into())?;
    let detected = sim.rtc().map_or(0, |r| r.log(0).counters.ice_disconnected + r.log(1).counters.ice_disconnected);
    ensure(detected >= 1, || format!("nobody noticed the cut: {}", rtc_check::describe(&sim)))?;

    sim.restart_server();
    let up_at = sim.now();
    let bound = up_at + check::reconnect_bound(&sim.config().client) + SECS(30);
    let done = sim.run_until(bound, |s| restarted(s, 0) >= 1 && restarted(s, 1) >= 1 && rtc_check::paired(s, 0, 1));
    ensure(done, || format!("no restart by {bound:?}: {}", rtc_check::describe(&sim)))?;
    ensure(sessions(&sim) == before, || format!("sessions changed: {before:?} -> {:?}", sessions(&sim)))?;
    let bound = sim.now() + SCTP_RESUME;
    let mut first = None;
    let resumed = sim.run_until(bound, |s| {
        first = rtc_check::all_nodes_ok_since(s, up_at);
        first.is_some()
    });
    ensure(resumed, || format!("calls did not resume by {bound:?}: {}", rtc_check::describe(&sim)))?;
    let first = first.ok_or("lost the first success")?;
    sim.run_for(SECS(20));
    quiesce(&mut sim, SECS(10));
    rtc_check::calls_ok(&sim)?;
    check::ledgers_ok(&sim)?;
    let (ok, all) = rtc_check::calls_since(&sim, first);
    ensure(all >= 20 && ok == all, || format!("{ok} of {all} calls after recovery succeeded"))
}

#[test]
fn signaling_down_webrtc_keeps_flowing() {
    sweep("signaling_down_webrtc_keeps_flowing", signaling_down);
}

#[test]
fn ice_restart_waits_for_signaling() {
    sweep("ice_restart_waits_for_signaling", restart_waits);
}
