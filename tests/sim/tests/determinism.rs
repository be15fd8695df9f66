//! Self-check: the same seed replays the same run, byte for byte.
//!
//! One busy run (chaotic network, a partition, a server crash and restart,
//! a node restart, steady traffic with relays) is executed twice per seed;
//! the trace hashes and line counts must match. A different seed must give
//! a different hash.

use actr_core::Duration;
use actr_sim::{NetPreset, Sim, SimConfig, TraceHash, Workload, ensure, sweep};

fn busy_run(seed: u64) -> (TraceHash, u64) {
    let mut sim = Sim::new(SimConfig::new(seed).nodes(3).preset(NetPreset::Chaotic));
    sim.set_workload(Workload::Steady { every: Duration::from_millis(700), relays: true });
    sim.run_for(Duration::from_secs(40));
    sim.partition(1);
    sim.run_for(Duration::from_secs(30));
    sim.crash_server();
    sim.run_for(Duration::from_secs(10));
    sim.restart_server();
    sim.heal(1);
    sim.restart_node(2);
    sim.run_for(Duration::from_secs(120));
    (sim.trace_hash(), sim.trace_lines())
}

fn scenario(seed: u64) -> Result<(), String> {
    let first = busy_run(seed);
    let second = busy_run(seed);
    ensure(first == second, || format!("same seed, different traces: {first:?} vs {second:?}"))?;
    ensure(first.1 > 500, || format!("the run is too quiet to prove anything: {} lines", first.1))?;
    let other = busy_run(seed.wrapping_add(1));
    ensure(other.0 != first.0, || format!("seeds {seed} and {} gave the same trace {}", seed.wrapping_add(1), first.0))
}

#[test]
fn same_seed_same_trace() {
    sweep("same_seed_same_trace", scenario);
}
