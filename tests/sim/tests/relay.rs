//! Relays between two nodes on a lossy network.
//!
//! What is asserted, per seed:
//! - integrity: every relay that arrives was issued by the node whose
//!   identity it carries (nothing forged, nothing invented);
//! - no acknowledged relay is lost: each relay the server answered with
//!   `Relayed` reached its target;
//! - at most once per connection: signaling is a reliable ordered stream, so
//!   while neither node reconnected, each relay arrives exactly once and in
//!   its sender's order. Across a reconnect the client resends requests whose
//!   reply it did not see, so a relay may then arrive twice (at least once);
//! - every request resolves exactly once, and at least 95 % of relays are
//!   acknowledged (loss on a stream only delays).

use actr_core::Duration;
use actr_core::signaling::ClientRequest;
use actr_sim::{NetPreset, Sim, SimConfig, Workload, at_secs, check, ensure, sweep};

fn scenario(seed: u64) -> Result<(), String> {
    let mut sim = Sim::new(SimConfig::new(seed).nodes(2).preset(NetPreset::Lossy));
    sim.set_workload(Workload::Steady { every: Duration::from_millis(200), relays: true });
    ensure(sim.run_until(at_secs(120), check::all_online), || format!("not online: {}", check::describe(&sim)))?;
    sim.run_for(Duration::from_secs(4 * 60));
    sim.set_workload(Workload::Idle);
    sim.run_for(sim.config().client.request_timeout + Duration::from_secs(1));
    check::ledgers_ok(&sim)?;

    let report = check::relay_report(&sim)?;
    ensure(report.lost == 0, || format!("acknowledged relays lost: {report:?}"))?;
    let reconnected = sim.nodes().any(|n| n.log().connects.len() > 1);
    ensure(reconnected || (report.duplicates == 0 && report.reordered == 0), || {
        format!("duplicates or reordering without a reconnect: {report:?}")
    })?;
    let issued: usize = sim
        .nodes()
        .map(|n| n.log().ledger.entries().filter(|(_, e)| matches!(e.request, ClientRequest::Relay { .. })).count())
        .sum();
    ensure(issued >= 500 && report.acked * 100 >= issued * 95, || format!("{issued} relays issued: {report:?}"))
}

#[test]
fn relay_exactly_once_under_loss() {
    sweep("relay_exactly_once_under_loss", scenario);
}
