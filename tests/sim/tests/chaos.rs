//! A fault phase on a chaotic network, then a heal phase that must converge.
//!
//! Fault phase (5 minutes, Chaotic preset): every 10–30 s one seeded fault
//! — partition or heal a node, crash or restart the server, crash and
//! restart a node — under steady traffic with relays.
//! Heal phase: partitions healed, the server and every node up, the network
//! calmed to the Lossy preset. Invariants, per seed:
//! - within the reconnect bound plus registration time, every node is online
//!   and discovery from every node sees every node's current identity;
//! - every request of every incarnation resolved exactly once by its deadline;
//! - every relay that arrived was sent by the identity it carries.

use actr_core::Duration;
use actr_core::rng::SeededRng;
use actr_sim::{NetPreset, Sim, SimConfig, Workload, check, ensure, sweep};

const NODES: usize = 4;

fn fault(sim: &mut Sim, rng: &mut SeededRng) {
    let node = rng.below(NODES as u64) as usize;
    match rng.below(4) {
        0 if sim.is_partitioned(node) => sim.heal(node),
        0 => sim.partition(node),
        1 if sim.server().is_some() => sim.crash_server(),
        1 => sim.restart_server(),
        2 => sim.restart_node(node),
        _ => sim.heal_all(),
    }
}

fn scenario(seed: u64) -> Result<(), String> {
    let mut sim = Sim::new(SimConfig::new(seed).nodes(NODES).preset(NetPreset::Chaotic));
    sim.set_workload(Workload::Steady { every: Duration::from_millis(500), relays: true });
    let mut rng = SeededRng::new(seed ^ 0xC4A0_5000);
    let fault_end = sim.now() + Duration::from_secs(5 * 60);
    while sim.now() < fault_end {
        sim.run_for(Duration::from_secs(10 + rng.below(21)));
        fault(&mut sim, &mut rng);
    }

    sim.heal_all();
    sim.restart_server();
    sim.net_mut().set_default(NetPreset::Lossy.profile());
    let healed_at = sim.now();
    sim.set_workload(Workload::Discovery { every: Duration::from_secs(3) });
    let bound = healed_at + check::reconnect_bound(&sim.config().client) + Duration::from_secs(60);
    let converged = sim.run_until(bound, |s| check::all_online(s) && check::discovery_converged(s, healed_at));
    ensure(converged, || format!("no convergence by {bound:?}: {}", check::describe(&sim)))?;

    sim.set_workload(Workload::Idle);
    sim.run_for(sim.config().client.request_timeout + Duration::from_secs(1));
    check::ledgers_ok(&sim)?;
    check::relay_report(&sim).map(|_| ())
}

#[test]
fn chaos_then_converge() {
    sweep("chaos_then_converge", scenario);
}
