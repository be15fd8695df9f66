//! The simulator's own contract: what each fault looks like from each side.
//!
//! - On a perfect network everyone registers and connects within 100 ms.
//! - A server crash is seen at once (`StreamEnded`) by reachable clients;
//!   a partitioned client learns only from its idle timeout (`PongTimeout`).
//! - A node crash is seen by the server one latency later (the node's OS
//!   closes the socket), and presence *down* reaches subscribers.
//! - A partitioned node's connection attempts fail after the connect timeout.

use actr_core::Duration;
use actr_core::signaling::DisconnectReason;
use actr_sim::{NetPreset, NodeSpec, Sim, SimConfig, at_secs, check, ensure, sweep};

fn perfect(seed: u64, nodes: usize) -> Sim {
    Sim::new(SimConfig::new(seed).nodes(nodes).preset(NetPreset::Perfect))
}

fn reasons(sim: &Sim, i: usize) -> Vec<DisconnectReason> {
    sim.node(i).log().disconnects.iter().map(|(_, r)| r.clone()).collect()
}

fn server_crash_visibility(seed: u64) -> Result<(), String> {
    let mut sim = perfect(seed, 2);
    let online = sim.run_until(at_secs(0) + Duration::from_millis(100), check::all_online);
    ensure(online, || format!("perfect network, not online after 100 ms: {}", check::describe(&sim)))?;
    sim.partition(1);
    sim.crash_server();
    sim.run_for(Duration::from_millis(50));
    ensure(reasons(&sim, 0) == [DisconnectReason::StreamEnded], || format!("node 0 saw {:?}", reasons(&sim, 0)))?;
    ensure(reasons(&sim, 1).is_empty(), || format!("partitioned node 1 saw {:?}", reasons(&sim, 1)))?;
    sim.run_for(sim.config().server.heartbeat_timeout);
    let first = reasons(&sim, 1).first().cloned();
    ensure(first == Some(DisconnectReason::PongTimeout), || format!("node 1 first saw {first:?}"))?;
    let failed = reasons(&sim, 1).iter().skip(1).all(|r| matches!(r, DisconnectReason::ConnectionFailed(_)));
    ensure(failed, || format!("node 1 connected across a partition: {:?}", reasons(&sim, 1)))
}

fn node_crash_seen_by_server(seed: u64) -> Result<(), String> {
    let mut config = SimConfig::new(seed).preset(NetPreset::Perfect);
    config.nodes = 0;
    let mut sim = Sim::new(config);
    let mut watcher = NodeSpec::numbered(0);
    watcher.subscribe = vec![NodeSpec::numbered(1).actr_type];
    sim.add_node(watcher);
    sim.add_node(NodeSpec::numbered(1));
    sim.run_for(Duration::from_millis(100));
    let id = sim.node(1).actor().cloned().ok_or("node 1 did not register")?;
    ensure(sim.online().contains(&id), || "node 1 not online".into())?;
    sim.crash_node(1);
    sim.run_for(Duration::from_millis(10));
    ensure(!sim.online().contains(&id), || "the server did not see node 1's socket close".into())?;
    let down = sim.node(0).log().presence.iter().any(|(_, a, up)| *a == id && !up);
    ensure(down, || "no presence down for the crashed node".into())?;
    sim.restart_node(1);
    sim.run_for(Duration::from_millis(100));
    let new = sim.node(1).actor().cloned().ok_or("restarted node 1 did not register")?;
    ensure(new != id && sim.online().contains(&new), || format!("restarted node 1 is {new}, was {id}"))?;
    ensure(sim.node(1).incarnation() == 2, || "restart is a new incarnation".into())
}

#[test]
fn harness_server_crash_visibility() {
    sweep("harness_server_crash_visibility", server_crash_visibility);
}

#[test]
fn harness_node_crash_seen_by_server() {
    sweep("harness_node_crash_seen_by_server", node_crash_seen_by_server);
}
