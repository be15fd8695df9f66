//! Registration and discovery on a lossy network.
//!
//! Invariants, per seed:
//! - every node registers exactly once, and no two share an `ActrId`;
//! - within 180 s of virtual time all nodes are online and every node's
//!   `RouteCandidates` for each peer type names exactly that peer, and its
//!   `Discover` lists every type;
//! - every request resolves exactly once, no later than its deadline, and
//!   queries of each kind succeed at least once per node.

use std::collections::BTreeSet;

use actr_core::Duration;
use actr_core::signaling::ClientRequest;
use actr_sim::{NetPreset, Sim, SimConfig, Workload, at_secs, check, ensure, sweep};

const NODES: usize = 4;

fn scenario(seed: u64) -> Result<(), String> {
    let mut sim = Sim::new(SimConfig::new(seed).nodes(NODES).preset(NetPreset::Lossy));
    sim.set_workload(Workload::Discovery { every: Duration::from_secs(2) });
    let converged = sim.run_until(at_secs(180), |s| check::all_online(s) && check::discovery_converged(s, at_secs(0)));
    ensure(converged, || format!("no convergence by 180 s: {}", check::describe(&sim)))?;

    let ids: BTreeSet<_> = check::current_ids(&sim).into_iter().flatten().collect();
    ensure(ids.len() == NODES, || format!("ActrIds are not distinct: {ids:?}"))?;
    for n in sim.nodes() {
        ensure(n.log().identities.len() == 1, || format!("node {} registered {:?}", n.index(), n.log().identities))?;
    }

    sim.set_workload(Workload::Idle);
    sim.run_for(sim.config().client.request_timeout + Duration::from_secs(1));
    check::ledgers_ok(&sim)?;
    for n in sim.nodes() {
        let ok =
            |want: fn(&ClientRequest) -> bool| n.log().ledger.entries().any(|(_, e)| want(&e.request) && e.is_ok());
        ensure(ok(|r| matches!(r, ClientRequest::Discover { .. })), || {
            format!("node {}: no Discover answered", n.index())
        })?;
        ensure(ok(|r| matches!(r, ClientRequest::RouteCandidates { .. })), || {
            format!("node {}: no RouteCandidates answered", n.index())
        })?;
    }
    Ok(())
}

#[test]
fn registration_and_discovery_under_loss() {
    sweep("registration_and_discovery_under_loss", scenario);
}
