//! Building blocks the WebRTC scenarios share.

use actr_core::{Duration, Instant};

use super::{CallLoad, RtcSimConfig, check as rtc_check};
use crate::net::NetPreset;
use crate::world::Sim;
use crate::{SimConfig, check};

/// `nodes` nodes with a WebRTC layer each, on `preset`.
pub fn rtc_sim(seed: u64, nodes: usize, preset: NetPreset, rtc: RtcSimConfig) -> Sim {
    Sim::new(SimConfig::new(seed).nodes(nodes).preset(preset).rtc(rtc))
}

/// Runs until every node is registered and connected to signaling.
pub fn wait_online(sim: &mut Sim, within: Duration) -> Result<(), String> {
    let bound = sim.now() + within;
    match sim.run_until(bound, check::all_online) {
        true => Ok(()),
        false => Err(format!("not online by {bound:?}: {}", check::describe(sim))),
    }
}

/// Runs until nodes `a` and `b` route to each other over an open session;
/// returns when that happened.
pub fn wait_paired(sim: &mut Sim, a: usize, b: usize, within: Duration) -> Result<Instant, String> {
    let bound = sim.now() + within;
    match sim.run_until(bound, |s| rtc_check::paired(s, a, b)) {
        true => Ok(sim.now()),
        false => Err(format!("nodes {a} and {b} not paired by {bound:?}: {}", rtc_check::describe(sim))),
    }
}

/// Echo calls to `to` every `every`, 64-byte payloads, `timeout` each.
pub fn echo_load(to: usize, every: Duration, timeout: Duration) -> CallLoad {
    CallLoad { to, every, payload: 64, timeout }
}

/// Stops every node's call load and runs until every call made so far is
/// past its deadline (`longest` is the longest timeout used), so that the
/// ledgers can be checked in full.
pub fn quiesce(sim: &mut Sim, longest: Duration) {
    for i in 0..sim.node_count() {
        sim.set_call_load(i, None);
    }
    sim.run_for(longest + Duration::from_secs(1));
}

/// The index of the offerer of the pair `(a, b)`.
pub fn offerer_of(sim: &Sim, a: usize, b: usize) -> Result<usize, String> {
    let (Some(x), Some(y)) = (sim.node(a).actor(), sim.node(b).actor()) else {
        return Err("a node has no identity".into());
    };
    Ok(if actr_core::signaling::is_offerer(x, y) { a } else { b })
}
