//! Nodes cut off from the server longer than the heartbeat timeout, then healed.
//!
//! Node 0 watches the others' types for presence. Invariants, per seed:
//! - during the partition the server drops the cut-off nodes (they leave
//!   `online()`), node 0 receives presence *down* for each, and each
//!   cut-off node reports `Disconnected`;
//! - after the heal, within the reconnect bound: everyone is online,
//!   discovery from every node sees every node, and node 0 receives
//!   presence *up* for each healed node;
//! - identities never change, and every request resolves exactly once.
//!
//! `partition_outlives_renewal_token`: a node is cut off longer than its
//! renewal token lives, so on return the AIS refuses the renewal and the
//! keeper registers afresh. Invariants: the node comes back under a new
//! `ActrId`, the old one is no longer online, discovery everywhere shows only
//! the new one, and every request resolves exactly once.

use actr_core::{ActrId, Duration, Instant};
use actr_sim::{NodeSpec, Sim, SimConfig, Workload, at_secs, check, ensure, sweep};

const NODES: usize = 4;
const CUT: [usize; 2] = [1, 2];

fn presence_since(sim: &Sim, id: &ActrId, up: bool, since: Instant) -> bool {
    sim.node(0).log().presence.iter().any(|(t, a, u)| *t >= since && a == id && *u == up)
}

fn build(seed: u64) -> Sim {
    let mut config = SimConfig::new(seed);
    config.nodes = 0;
    let mut sim = Sim::new(config);
    let mut watcher = NodeSpec::numbered(0);
    watcher.subscribe = (1..NODES).map(|i| NodeSpec::numbered(i).actr_type).collect();
    sim.add_node(watcher);
    for i in 1..NODES {
        sim.add_node(NodeSpec::numbered(i));
    }
    sim.set_workload(Workload::Discovery { every: Duration::from_secs(5) });
    sim
}

fn subscribed(sim: &Sim) -> bool {
    let ledger = &sim.node(0).log().ledger;
    let done = ledger.entries().filter(|(_, e)| e.is_ok()).count();
    check::all_online(sim) && done >= NODES - 1
}

fn scenario(seed: u64) -> Result<(), String> {
    let mut sim = build(seed);
    ensure(sim.run_until(at_secs(60), subscribed), || format!("not online: {}", check::describe(&sim)))?;
    let ids = check::current_ids(&sim);

    let cut_at = sim.now();
    CUT.iter().for_each(|&i| sim.partition(i));
    sim.run_for(sim.config().server.heartbeat_timeout + Duration::from_secs(30 + seed % 30));
    for &i in &CUT {
        let id = ids[i].clone().ok_or("cut node had no identity")?;
        ensure(!sim.online().contains(&id), || format!("server still holds node {i} online"))?;
        ensure(presence_since(&sim, &id, false, cut_at), || format!("node 0 saw no presence down for node {i}"))?;
        let noticed = sim.node(i).log().disconnects.iter().any(|(t, _)| *t >= cut_at);
        ensure(noticed, || format!("node {i} never noticed the partition"))?;
    }

    let healed_at = sim.now();
    CUT.iter().for_each(|&i| sim.heal(i));
    let bound = healed_at + check::reconnect_bound(&sim.config().client);
    let converged = sim.run_until(bound, |s| {
        let ups = CUT.iter().all(|&i| ids[i].as_ref().is_some_and(|id| presence_since(s, id, true, healed_at)));
        ups && check::all_online(s) && check::discovery_converged(s, healed_at)
    });
    ensure(converged, || format!("no convergence by {bound:?}: {}", check::describe(&sim)))?;
    ensure(check::current_ids(&sim) == ids, || "an identity changed".into())?;

    sim.set_workload(Workload::Idle);
    sim.run_for(sim.config().client.request_timeout + Duration::from_secs(1));
    check::ledgers_ok(&sim)
}

fn token_outlived(seed: u64) -> Result<(), String> {
    let mut config = SimConfig::new(seed).credential_ttl_secs(120);
    config.ais.renewal_token_ttl_secs = 200;
    let mut sim = Sim::new(config);
    sim.set_workload(Workload::Discovery { every: Duration::from_secs(5) });
    ensure(sim.run_until(at_secs(60), check::all_online), || format!("not online: {}", check::describe(&sim)))?;
    let old = sim.node(1).actor().cloned().ok_or("node 1 has no identity")?;
    sim.partition(1);
    sim.run_for(Duration::from_secs(300 + seed % 100));
    let healed_at = sim.now();
    sim.heal(1);
    let bound = healed_at + check::reconnect_bound(&sim.config().client) + Duration::from_secs(30);
    let converged = sim.run_until(bound, |s| check::all_online(s) && check::discovery_converged(s, healed_at));
    ensure(converged, || format!("no convergence by {bound:?}: {}", check::describe(&sim)))?;
    let new = sim.node(1).actor().cloned().ok_or("node 1 lost its identity")?;
    ensure(new != old && sim.node(1).log().identities.len() == 2, || format!("node 1 kept {old} ({new})"))?;
    ensure(!sim.online().contains(&old), || format!("the server still lists {old}"))?;
    sim.set_workload(Workload::Idle);
    sim.run_for(sim.config().client.request_timeout + Duration::from_secs(1));
    check::ledgers_ok(&sim)
}

#[test]
fn partition_outlives_renewal_token() {
    sweep("partition_outlives_renewal_token", token_outlived);
}

#[test]
fn partition_then_heal() {
    sweep("partition_then_heal", scenario);
}
