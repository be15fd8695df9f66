//! Invariants of the WebRTC scenarios.

use std::fmt::Write as _;

use actr_core::Instant;

use super::ledger::CallCounts;
use crate::queue::secs;
use crate::world::Sim;

/// Every node's calls: no violation (second or late outcome, wrong reply),
/// nothing unresolved past its deadline, and no handler ran twice for one
/// request.
pub fn calls_ok(sim: &Sim) -> Result<(), String> {
    let rtc = sim.rtc().ok_or("the WebRTC layer is off")?;
    for (i, log) in rtc.logs().enumerate() {
        log.calls.check(sim.now()).map_err(|e| format!("node {i}: {e}"))?;
        if let Some(((caller, id), runs)) = log.repeated_runs().first() {
            return Err(format!("node {i} ran request {id:x} from {caller} {runs} times"));
        }
    }
    Ok(())
}

/// Call totals over every node.
pub fn call_counts(sim: &Sim) -> CallCounts {
    let mut total = CallCounts::default();
    for log in sim.rtc().into_iter().flat_map(|r| r.logs()) {
        let c = log.calls.counts();
        total.issued += c.issued;
        total.ok += c.ok;
        total.failed += c.failed;
        total.pending += c.pending;
        total.abandoned += c.abandoned;
    }
    total
}

/// Calls issued at or after `since` (by any node): `(ok, all resolved)`.
pub fn calls_since(sim: &Sim, since: Instant) -> (usize, usize) {
    let logs = sim.rtc().into_iter().flat_map(|r| r.logs());
    let entries: Vec<_> = logs.flat_map(|l| l.calls.entries().map(|(_, e)| e.clone()).collect::<Vec<_>>()).collect();
    let resolved: Vec<_> = entries.iter().filter(|e| e.issued_at >= since && e.outcome.is_some()).collect();
    (resolved.iter().filter(|e| e.is_ok()).count(), resolved.len())
}

/// Once every node has a successful call issued at or after `since`: the
/// latest of the nodes' earliest such calls. After an outage each SCTP
/// direction resumes on its own timer; from this moment on both have.
pub fn all_nodes_ok_since(sim: &Sim, since: Instant) -> Option<Instant> {
    let first = |l: &super::RtcLog| {
        l.calls.entries().filter(|(_, e)| e.is_ok() && e.issued_at >= since).map(|(_, e)| e.issued_at).min()
    };
    let firsts: Option<Vec<Instant>> = sim.rtc()?.logs().map(first).collect();
    firsts?.into_iter().max()
}

/// Both nodes route to each other over an open WebRTC session.
pub fn paired(sim: &Sim, a: usize, b: usize) -> bool {
    sim.ready_connection(a, b).is_some() && sim.ready_connection(b, a).is_some()
}

/// A one-paragraph status of the WebRTC layer, for failure messages.
pub fn describe(sim: &Sim) -> String {
    let mut s = format!("t={:.3}s", secs(sim.now()));
    let Some(rtc) = sim.rtc() else { return s };
    let _ = write!(s, " udp={:?} faults={:?} |", rtc.udp_stats(), rtc.fault_stats());
    for (i, log) in rtc.logs().enumerate() {
        let sessions: Vec<String> = rtc
            .node(i)
            .map_or(Vec::new(), |n| n.sessions().map(|x| format!("{}{}", x.id().0, state(x.peer()))).collect());
        let stats = sim.node(i).hub().map(|h| h.stats());
        let _ = write!(
            s,
            " node{i}: calls={:?} sessions=[{}] {:?} hub={stats:?} |",
            log.calls.counts(),
            sessions.join(","),
            log.counters
        );
    }
    s
}

fn state(peer: &actr_driver::webrtc::RtcPeer) -> &'static str {
    match (peer.is_closed(), peer.is_connected(), peer.is_open(actr_core::transport::LaneKind::Rpc)) {
        (true, _, _) => "/closed",
        (_, true, true) => "/open",
        (_, true, false) => "/connected",
        _ => "/setup",
    }
}
