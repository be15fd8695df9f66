//! RPC calls over simulated WebRTC under loss, duplication, reordering and
//! injected send faults.
//!
//! `calls_under_loss_dup_reorder` — three nodes on the Lossy preset (10 %
//! datagram loss, 1 % duplication, 5 % reordering; signaling equally lossy),
//! each calling the next every 200 ms for a minute; 3 % of first sends fail
//! and 3 % are ambiguous (delivered yet reported failed, half of them also
//! losing their first response), handlers take up to 1.5 s. Invariants:
//! - every call resolves exactly once, by its deadline, with either the
//!   echo of its payload or a typed error;
//! - every request's handler ran at most once, although retries happened
//!   and duplicates reached the receivers;
//! - once the pairs are up, at least 90 % of calls succeed;
//! - every signaling request (the relayed offers, answers and candidates
//!   among them) resolved exactly once by its deadline.
//!
//! `retried_request_executes_once` — every first send of a call fails
//! (30 %) or is ambiguous (70 %, half of those losing the first response),
//! and handlers run 50 ms to 2.5 s, so a retry finds the original either
//! still running (it joins and shares the result) or finished (it gets the
//! stored result). Invariants: every call succeeds with its echo, every
//! request ran exactly once, every call was retried, and every lost
//! response was fetched again by a duplicate.

use actr_core::Duration;
use actr_sim::rtc::setup::{echo_load, quiesce, rtc_sim, wait_online, wait_paired};
use actr_sim::rtc::{FaultConfig, check as rtc_check};
use actr_sim::{NetPreset, RtcSimConfig, check, ensure, sweep};

const MS: fn(u64) -> Duration = Duration::from_millis;
const SECS: fn(u64) -> Duration = Duration::from_secs;

fn lossy(seed: u64) -> Result<(), String> {
    const NODES: usize = 3;
    let faults = FaultConfig { fail_first_permille: 30, ambiguous_first_permille: 30, lose_response_permille: 500 };
    let config = RtcSimConfig { handler_delay: (MS(1), MS(1500)), faults, ..Default::default() };
    let mut sim = rtc_sim(seed, NODES, NetPreset::Lossy, config);
    wait_online(&mut sim, SECS(120))?;
    for i in 0..NODES {
        sim.set_call_load(i, Some(echo_load((i + 1) % NODES, MS(200), SECS(10))));
    }
    for i in 0..NODES {
        wait_paired(&mut sim, i, (i + 1) % NODES, SECS(90))?;
    }
    let paired_at = sim.now();
    sim.run_for(SECS(60));
    quiesce(&mut sim, SECS(10));

    rtc_check::calls_ok(&sim)?;
    check::ledgers_ok(&sim)?;
    let rtc = sim.rtc().ok_or("no WebRTC layer")?;
    let stats: Vec<_> = (0..NODES).filter_map(|i| sim.node(i).hub().map(|h| h.stats().endpoint)).collect();
    let retries: u64 = stats.iter().map(|s| s.retries).sum();
    let duplicates: u64 = stats.iter().map(|s| s.duplicates).sum();
    ensure(retries > 0 && duplicates > 0, || format!("no retry reached a receiver: {}", rtc_check::describe(&sim)))?;
    let udp = rtc.udp_stats();
    ensure(udp.lost > 0 && udp.duplicated > 0 && udp.reordered > 0, || format!("the network was too kind: {udp:?}"))?;
    let (ok, resolved) = rtc_check::calls_since(&sim, paired_at + SECS(1));
    ensure(resolved >= 600 && ok * 100 >= resolved * 90, || {
        format!("{ok} of {resolved} calls succeeded: {}", rtc_check::describe(&sim))
    })
}

fn retried(seed: u64) -> Result<(), String> {
    let faults = FaultConfig { fail_first_permille: 300, ambiguous_first_permille: 700, lose_response_permille: 500 };
    let config = RtcSimConfig { handler_delay: (MS(50), MS(2500)), faults, ..Default::default() };
    let mut sim = rtc_sim(seed, 2, NetPreset::Wan, config);
    wait_online(&mut sim, SECS(60))?;
    sim.set_call_load(0, Some(echo_load(1, MS(300), SECS(15))));
    wait_paired(&mut sim, 0, 1, SECS(30))?;
    sim.run_for(SECS(30));
    quiesce(&mut sim, SECS(15));

    rtc_check::calls_ok(&sim)?;
    let rtc = sim.rtc().ok_or("no WebRTC layer")?;
    let counts = rtc.log(0).calls.counts();
    ensure(counts.issued >= 90 && counts.ok == counts.issued, || {
        format!("not every call succeeded: {counts:?}: {}", rtc_check::describe(&sim))
    })?;
    let runs = &rtc.log(1).handler_runs;
    ensure(runs.len() == counts.issued && runs.values().all(|n| *n == 1), || {
        format!("{} requests ran for {} calls", runs.len(), counts.issued)
    })?;
    let endpoint = |i: usize| sim.node(i).hub().map(|h| h.stats().endpoint).ok_or(format!("node {i} down"));
    let (caller, callee) = (endpoint(0)?, endpoint(1)?);
    let faults = rtc.fault_stats();
    ensure(caller.retries >= counts.issued as u64, || format!("{:?}", caller))?;
    // A lost response can only have been fetched again by a duplicate.
    ensure(callee.duplicates >= faults.responses_lost && faults.responses_lost > 0, || {
        format!("duplicates {:?}, faults {faults:?}", callee)
    })
}

#[test]
fn calls_under_loss_dup_reorder() {
    sweep("calls_under_loss_dup_reorder", lossy);
}

#[test]
fn retried_request_executes_once() {
    sweep("retried_request_executes_once", retried);
}
