//! Invariants and convergence predicates the scenarios share.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use actr_core::signaling::{ClientConfig, ClientRequest, ServerReply};
use actr_core::{ActrId, Duration, Instant};

use crate::queue::secs;
use crate::workload::parse_relay_payload;
use crate::world::Sim;

/// Current identities of the live nodes, by index (`None`: down or unregistered).
pub fn current_ids(sim: &Sim) -> Vec<Option<ActrId>> {
    sim.nodes().map(|n| n.actor().cloned()).collect()
}

/// Every live node is connected, and the server holds each one online
/// under its current identity.
pub fn all_online(sim: &Sim) -> bool {
    let online = sim.online();
    sim.nodes().filter(|n| n.is_up()).all(|n| n.is_connected() && n.actor().is_some_and(|id| online.contains(id)))
}

/// Every live node's latest answers, received at or after `since`, show
/// every other live node: `RouteCandidates` for its type names exactly its
/// current identity, and `Discover` lists every live node's type.
pub fn discovery_converged(sim: &Sim, since: Instant) -> bool {
    let live: Vec<_> = sim.nodes().filter(|n| n.is_up()).collect();
    let types: BTreeSet<_> = live.iter().map(|n| n.spec().actr_type.clone()).collect();
    live.iter().all(|me| {
        let log = me.log();
        let discovered =
            log.discovered.as_ref().is_some_and(|(at, found)| *at >= since && types.iter().all(|t| found.contains(t)));
        let routes = live.iter().filter(|p| p.index() != me.index()).all(|peer| {
            let fresh = log.candidates.get(&peer.spec().actr_type).filter(|(at, _)| *at >= since);
            fresh.is_some_and(|(_, ids)| peer.actor().is_some_and(|id| ids.as_slice() == [id.clone()]))
        });
        discovered && routes
    })
}

/// Every node's ledger: no violations, nothing overdue at the current time.
pub fn ledgers_ok(sim: &Sim) -> Result<(), String> {
    for n in sim.nodes() {
        n.log().ledger.check(sim.now()).map_err(|e| format!("node {}: {e}", n.index()))?;
    }
    Ok(())
}

/// App-level replies that failed with error `code`, over all nodes.
pub fn errors_with_code(sim: &Sim, code: u32) -> usize {
    let entries = sim.nodes().flat_map(|n| n.log().ledger.entries().map(|(_, e)| e.clone()).collect::<Vec<_>>());
    entries.filter(|e| e.error().is_some_and(|err| err.code() == code)).count()
}

/// The longest a client can take to reconnect once the server is reachable
/// again: the largest jittered backoff delay (or the cooldown, whichever is
/// longer), then the connect timeout, plus slack for the handshake.
pub fn reconnect_bound(cfg: &ClientConfig) -> Duration {
    let r = cfg.reconnect;
    let longest_wait = r.max.mul_permille(1000 + r.jitter_permille).max(cfg.cooldown);
    longest_wait + cfg.connect_timeout + Duration::from_secs(10)
}

/// What [`relay_report`] counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayReport {
    /// Relays the server acknowledged (`Relayed`).
    pub acked: usize,
    /// Acknowledged relays that arrived at their target at least once.
    pub delivered: usize,
    /// Acknowledged relays that never arrived.
    pub lost: usize,
    /// Extra copies of a relay beyond the first.
    pub duplicates: usize,
    /// Relays received out of their sender's order (sender and target fixed).
    pub reordered: usize,
}

/// Accounts for relays end to end. Fails if a relay arrived that no node
/// issued, or carrying another node's identity (integrity); counts the
/// rest for the scenario to judge.
pub fn relay_report(sim: &Sim) -> Result<RelayReport, String> {
    let owner = identity_owners(sim);
    let mut report = RelayReport::default();
    let mut received: BTreeMap<(usize, Vec<u8>), usize> = BTreeMap::new();
    for n in sim.nodes() {
        let mut last_tick: BTreeMap<usize, u64> = BTreeMap::new();
        for (_, source, payload) in &n.log().relays_in {
            let parsed = parse_relay_payload(payload);
            let Some((from, tick)) = parsed.filter(|(from, _)| owner.get(source) == Some(from)) else {
                return Err(format!("node {} received a relay {payload:?} from {source} that no node sent", n.index()));
            };
            let previous = last_tick.insert(from, tick);
            report.reordered += usize::from(previous.is_some_and(|p| p >= tick));
            *received.entry((n.index(), payload.clone())).or_default() += 1;
        }
    }
    for n in sim.nodes() {
        for (_, e) in n.log().ledger.entries() {
            let (ClientRequest::Relay { target, payload }, Some((_, Ok(ServerReply::Relayed)))) =
                (&e.request, &e.outcome)
            else {
                continue;
            };
            report.acked += 1;
            let to = owner.get(target).ok_or_else(|| format!("relay to unknown identity {target}"))?;
            match received.get(&(*to, payload.clone())).copied().unwrap_or(0) {
                0 => report.lost += 1,
                k => {
                    report.delivered += 1;
                    report.duplicates += k - 1;
                }
            }
        }
    }
    Ok(report)
}

fn identity_owners(sim: &Sim) -> BTreeMap<ActrId, usize> {
    sim.nodes().flat_map(|n| n.log().identities.iter().map(move |id| (id.clone(), n.index()))).collect()
}

/// A one-paragraph status of the world, for failure messages.
pub fn describe(sim: &Sim) -> String {
    let mut s = format!("t={:.3}s server={} online={} |", secs(sim.now()), sim.server().is_some(), sim.online().len());
    for n in sim.nodes() {
        let log = n.log();
        let c = log.ledger.counts();
        let _ = write!(
            s,
            " node{}: up={} connected={} id={} regs={} renewals={} connects={} disconnects={} requests={}/{}ok/{}err/{}pending |",
            n.index(),
            n.is_up(),
            n.is_connected(),
            n.actor().map_or("-".into(), |a| a.to_string()),
            log.identities.len(),
            log.renewals,
            log.connects.len(),
            log.disconnects.len(),
            c.issued,
            c.ok,
            c.failed,
            c.pending,
        );
    }
    s
}
