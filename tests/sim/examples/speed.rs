//! How fast the simulator runs: three nodes for one virtual hour under
//! steady traffic (a request per node per second, a third of them relays).
//!
//! Run: `cargo run -p actr-sim --release --example speed`
//! (`ACTR_SIM_SEED` picks the seed; `SPEED_HOURS` the virtual hours).

use std::time::Instant as WallInstant;

use actr_core::Duration;
use actr_sim::{NetPreset, Sim, SimConfig, Workload, check};

fn main() {
    let seed = std::env::var("ACTR_SIM_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let hours: u64 = std::env::var("SPEED_HOURS").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    println!("actr-sim seed={seed} scenario=speed");
    let mut sim = Sim::new(SimConfig::new(seed).nodes(3).preset(NetPreset::Wan).credential_ttl_secs(600));
    sim.set_workload(Workload::Steady { every: Duration::from_secs(1), relays: true });

    let started = WallInstant::now();
    sim.run_for(Duration::from_secs(hours * 3600));
    let wall = started.elapsed().as_secs_f64();

    let virtual_secs = sim.now().as_micros() as f64 / 1e6;
    let events = sim.events_processed();
    let requests: usize = sim.nodes().map(|n| n.log().ledger.counts().issued).sum();
    let hub_inputs: u64 = sim.nodes().filter_map(|n| n.hub()).map(|h| h.stats().inputs).sum();
    println!("virtual time     {virtual_secs:.0} s");
    println!("wall time        {wall:.3} s");
    println!("speed            {:.0} simulated s per wall s", virtual_secs / wall);
    println!("events           {events} ({:.0} per wall s)", events as f64 / wall);
    println!("requests         {requests}");
    println!("hub inputs       {hub_inputs} ({:.0} per wall s)", hub_inputs as f64 / wall);
    println!("trace            {} lines, sha256 {}", sim.trace_lines(), sim.trace_hash());
    if let Err(e) = check::ledgers_ok(&sim) {
        eprintln!("ledger check failed: {e}");
        std::process::exit(1);
    }
}
