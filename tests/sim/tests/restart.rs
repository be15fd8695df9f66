//! The server crashes and restarts; nodes come back without re-registering.
//!
//! Invariants, per seed:
//! - every node notices the crash (a `Disconnected` event after it);
//! - after the restart, within the reconnect bound computed from the client's
//!   backoff settings, every node is connected and `server.online()` holds
//!   exactly the nodes' identities;
//! - the credentials issued before the crash are accepted: no node registers
//!   again and every `ActrId` is unchanged;
//! - a node registering after the restart gets a serial never handed out
//!   before (the persisted high-water mark survives);
//! - every request resolves exactly once by its deadline.

use std::collections::BTreeSet;

use actr_core::Duration;
use actr_sim::{NodeSpec, Sim, SimConfig, Workload, at_secs, check, ensure, sweep};

fn scenario(seed: u64) -> Result<(), String> {
    let mut sim = Sim::new(SimConfig::new(seed).nodes(3));
    sim.set_workload(Workload::Steady { every: Duration::from_secs(1), relays: true });
    ensure(sim.run_until(at_secs(60), check::all_online), || format!("not online: {}", check::describe(&sim)))?;
    sim.run_for(Duration::from_secs(5));
    let ids_before = check::current_ids(&sim);
    let max_serial = sim.server().map_or(0, |s| s.ais().next_serial());

    let crashed_at = sim.now();
    sim.crash_server();
    let downtime = Duration::from_secs(10 + seed % 40);
    sim.run_for(downtime);
    for n in sim.nodes() {
        let noticed = n.log().disconnects.iter().any(|(t, _)| *t >= crashed_at);
        ensure(noticed, || format!("node {} did not notice the crash", n.index()))?;
    }

    sim.restart_server();
    let bound = sim.now() + check::reconnect_bound(&sim.config().client);
    ensure(sim.run_until(bound, check::all_online), || {
        format!("not back online by {bound:?}: {}", check::describe(&sim))
    })?;
    let want: BTreeSet<_> = ids_before.iter().flatten().cloned().collect();
    ensure(sim.online() == want, || format!("online {:?}, want {want:?}", sim.online()))?;
    ensure(check::current_ids(&sim) == ids_before, || "an ActrId changed across the restart".into())?;
    for n in sim.nodes() {
        ensure(n.log().identities.len() == 1, || format!("node {} registered again", n.index()))?;
    }

    let late = sim.add_node(NodeSpec::numbered(3));
    let bound = sim.now() + Duration::from_secs(60);
    ensure(sim.run_until(bound, check::all_online), || format!("late node not online: {}", check::describe(&sim)))?;
    let serial = sim.node(late).actor().map_or(0, |a| a.serial);
    ensure(serial >= max_serial, || format!("serial {serial} reused (high-water mark was {max_serial})"))?;

    sim.set_workload(Workload::Idle);
    sim.run_for(sim.config().client.request_timeout + Duration::from_secs(1));
    check::ledgers_ok(&sim)
}

#[test]
fn server_restart() {
    sweep("server_restart", scenario);
}
