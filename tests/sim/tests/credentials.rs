//! Short-lived credentials under steady traffic.
//!
//! `credential_expiry_and_renewal` (ttl 120 s, 12 minutes, requests every
//! second) checks per seed:
//! - every node renewed several times (`KeeperEvent::Renewed`) and its
//!   `ActrId` never changed (one registration each);
//! - no request is lost: each got exactly one reply by its deadline; none
//!   failed with `Unauthenticated`; nearly all succeeded; every relay the
//!   server acknowledged reached its target.
//!
//! `short_lived_credentials_renew_calmly` uses a ttl (30 s) shorter than the
//! client's credential margin (60 s): renewals must still follow the
//! credential's life (about one per half-life), not storm the AIS, and
//! requests must not be starved by a credential that is always being renewed.
//!
//! `credential_refused_then_renewed` runs the server clock 90 s ahead, so
//! the server refuses credentials the nodes still think are fresh. It checks
//! that refusals really happened on the wire, that each refused request was
//! retried after the renewal and answered (never surfaced as
//! `Unauthenticated`, never lost), and that identities stayed the same.

use std::collections::BTreeSet;

use actr_core::signaling::ServerMsg;
use actr_core::{ActrError, Duration};
use actr_sim::{Sim, SimConfig, Workload, at_secs, check, ensure, sweep};

const UNAUTHENTICATED: u32 = 10012;

fn steady() -> Workload {
    Workload::Steady { every: Duration::from_secs(1), relays: true }
}

fn identities_kept(sim: &Sim, min_renewals: u32) -> Result<(), String> {
    for n in sim.nodes() {
        let log = n.log();
        ensure(log.identities.len() == 1, || format!("node {} registered {:?}", n.index(), log.identities))?;
        ensure(n.actor() == log.identities.first(), || format!("node {} changed identity", n.index()))?;
        ensure(log.renewals >= min_renewals, || format!("node {} renewed only {} times", n.index(), log.renewals))?;
    }
    Ok(())
}

fn drain_and_check(sim: &mut Sim) -> Result<(), String> {
    sim.set_workload(Workload::Idle);
    sim.run_for(sim.config().client.request_timeout + Duration::from_secs(1));
    check::ledgers_ok(sim)?;
    let refused = check::errors_with_code(sim, UNAUTHENTICATED);
    ensure(refused == 0, || format!("{refused} request(s) surfaced Unauthenticated to the application"))?;
    let relays = check::relay_report(sim)?;
    ensure(relays.lost == 0, || format!("acknowledged relays lost: {relays:?}"))
}

fn expiry_and_renewal(seed: u64) -> Result<(), String> {
    let mut sim = Sim::new(SimConfig::new(seed).nodes(3).credential_ttl_secs(120));
    sim.set_workload(steady());
    ensure(sim.run_until(at_secs(60), check::all_online), || format!("not online: {}", check::describe(&sim)))?;
    sim.run_for(Duration::from_secs(12 * 60));
    drain_and_check(&mut sim)?;
    identities_kept(&sim, 5)?;
    for n in sim.nodes() {
        let c = n.log().ledger.counts();
        ensure(c.issued >= 500 && c.ok * 100 >= c.issued * 95, || format!("node {}: {c:?}", n.index()))?;
    }
    Ok(())
}

fn short_lived(seed: u64) -> Result<(), String> {
    let ttl = 30;
    let mut sim = Sim::new(SimConfig::new(seed).nodes(3).credential_ttl_secs(ttl));
    sim.set_workload(steady());
    let run = Duration::from_secs(10 * 60);
    sim.run_for(run);
    drain_and_check(&mut sim)?;
    // At most one renewal per half-life, with slack for retries.
    let most = (run.as_secs() / (ttl / 2)) as u32 + 10;
    identities_kept(&sim, 10)?;
    for n in sim.nodes() {
        let (renewals, c) = (n.log().renewals, n.log().ledger.counts());
        ensure(renewals <= most, || {
            format!("node {} renewed {renewals} times in {run:?} (at most {most})", n.index())
        })?;
        ensure(c.ok * 100 >= c.issued * 95, || format!("node {}: requests starved: {c:?}", n.index()))?;
    }
    Ok(())
}

/// Request ids (per node) the server refused with `Unauthenticated` on the wire.
fn refused_on_wire(sim: &Sim, node: usize) -> BTreeSet<u64> {
    let refused = |msg: &ServerMsg| match msg {
        ServerMsg::Reply { id, result: Err(e) } if e.code == UNAUTHENTICATED => Some(*id),
        _ => None,
    };
    sim.node(node).log().wire.iter().filter_map(|(_, m)| refused(m)).collect()
}

fn refused_then_renewed(seed: u64) -> Result<(), String> {
    let mut config = SimConfig::new(seed).nodes(3).credential_ttl_secs(120).server_skew_secs(90);
    config.client.request_timeout = Duration::from_secs(30);
    // Rare heartbeats, so the first request to meet an expired credential is
    // an application request rather than an internal ping.
    config.server.heartbeat_interval = Duration::from_secs(300);
    config.server.heartbeat_timeout = Duration::from_secs(750);
    let mut sim = Sim::new(config);
    (0..3).for_each(|i| sim.tap(i, true));
    sim.set_workload(steady());
    sim.run_for(Duration::from_secs(10 * 60));
    drain_and_check(&mut sim)?;
    identities_kept(&sim, 3)?;
    let auth_failures = sim.server().map_or(0, |s| s.stats().auth_failures);
    ensure(auth_failures > 0, || "the skewed server never refused a credential".into())?;
    let mut retried = 0;
    for i in 0..3 {
        for id in refused_on_wire(&sim, i) {
            // Internal pings are refused too; they are not in the ledger.
            let Some(entry) = sim.node(i).log().ledger.get((1, id)) else { continue };
            let lost = entry.outcome.is_none() || matches!(entry.error(), Some(ActrError::Unauthenticated(_)));
            ensure(!lost, || format!("node {i}: refused request {id} ended as {:?}", entry.outcome))?;
            retried += usize::from(entry.is_ok());
        }
    }
    ensure(retried > 0, || "no refused request was retried and answered".into())
}

#[test]
fn credential_expiry_and_renewal() {
    sweep("credential_expiry_and_renewal", expiry_and_renewal);
}

#[test]
fn short_lived_credentials_renew_calmly() {
    sweep("short_lived_credentials_renew_calmly", short_lived);
}

#[test]
fn credential_refused_then_renewed() {
    sweep("credential_refused_then_renewed", refused_then_renewed);
}
