//! Application traffic: what each node asks the server on every tick.
//!
//! A workload only issues requests while its node is connected, as an
//! application that watches its connection would; requests still in flight
//! when a connection drops wait in the client for the next one.

use actr_core::signaling::ClientRequest;
use actr_core::{ActrId, ActrType, Duration};

/// Most results one query asks for.
const QUERY_LIMIT: u32 = 64;

/// A node's periodic requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workload {
    /// No application traffic.
    Idle,
    /// Every `every`: one `Discover` and one `RouteCandidates` per peer type.
    Discovery { every: Duration },
    /// Every `every`: one request, rotating `Discover`, `RouteCandidates`
    /// for the next peer type and, when `relays` is set, a `Relay` to the
    /// next peer whose payload is [`relay_payload`].
    Steady { every: Duration, relays: bool },
}

impl Workload {
    /// The interval between ticks, `None` when idle.
    pub fn every(&self) -> Option<Duration> {
        match self {
            Workload::Idle => None,
            Workload::Discovery { every } | Workload::Steady { every, .. } => Some(*every),
        }
    }
}

/// Another node as the workload sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub index: usize,
    pub actr_type: ActrType,
    /// Its current identity, if it has one.
    pub actor: Option<ActrId>,
}

/// The payload of relay number `tick` from node `from`; see [`parse_relay_payload`].
pub fn relay_payload(from: usize, tick: u64) -> Vec<u8> {
    format!("relay {from} {tick}").into_bytes()
}

/// `(from, tick)` back from a [`relay_payload`], `None` for anything else.
pub fn parse_relay_payload(bytes: &[u8]) -> Option<(usize, u64)> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut parts = text.strip_prefix("relay ")?.split(' ');
    let from = parts.next()?.parse().ok()?;
    let tick = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((from, tick))
}

/// The requests node `me` issues on its `tick`-th tick.
pub fn plan(workload: &Workload, me: usize, tick: u64, peers: &[Peer]) -> Vec<ClientRequest> {
    let discover = ClientRequest::Discover { manufacturer: None, limit: QUERY_LIMIT };
    let route = |p: &Peer| ClientRequest::RouteCandidates { target_type: p.actr_type.clone(), limit: QUERY_LIMIT };
    match workload {
        Workload::Idle => Vec::new(),
        Workload::Discovery { .. } => std::iter::once(discover).chain(peers.iter().map(route)).collect(),
        Workload::Steady { relays, .. } => {
            let kinds = if *relays { 3 } else { 2 };
            let round = tick / kinds;
            let peer = (!peers.is_empty()).then(|| &peers[(round % peers.len() as u64) as usize]);
            match (tick % kinds, peer) {
                (1, Some(p)) => vec![route(p)],
                (2, Some(Peer { actor: Some(target), .. })) => {
                    vec![ClientRequest::Relay { target: target.clone(), payload: relay_payload(me, tick) }]
                }
                _ => vec![discover],
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers() -> Vec<Peer> {
        let ty: ActrType = "sim:node-1:1".parse().unwrap();
        let actor = ActrId { realm: actr_core::Realm(1), serial: 7, actr_type: ty.clone() };
        vec![Peer { index: 1, actr_type: ty, actor: Some(actor) }]
    }

    #[test]
    fn relay_payload_round_trips() {
        assert_eq!(parse_relay_payload(&relay_payload(3, 99)), Some((3, 99)));
        assert_eq!(parse_relay_payload(b"forged"), None);
        assert_eq!(parse_relay_payload(b"relay 1 2 3"), None);
    }

    #[test]
    fn steady_rotates_through_request_kinds() {
        let w = Workload::Steady { every: Duration::from_secs(1), relays: true };
        let kinds: Vec<&'static str> = (0..3)
            .map(|t| match plan(&w, 0, t, &peers()).as_slice() {
                [ClientRequest::Discover { .. }] => "discover",
                [ClientRequest::RouteCandidates { .. }] => "route",
                [ClientRequest::Relay { .. }] => "relay",
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(kinds, ["discover", "route", "relay"]);
    }

    #[test]
    fn discovery_asks_for_every_peer() {
        let w = Workload::Discovery { every: Duration::from_secs(1) };
        assert_eq!(plan(&w, 0, 0, &peers()).len(), 2);
        assert!(plan(&Workload::Idle, 0, 0, &peers()).is_empty());
    }
}
