//! Node-hub inputs handled per wall second in the simulator: three nodes on
//! the WAN preset with WebRTC and direct links, calling each other in a
//! ring every 100 ms for two virtual minutes. Every input of every hub
//! counts (signaling frames, AIS replies, timers, WebRTC reports, link
//! messages, calls, answers); the rate is what the whole simulation,
//! str0m peers included, sustains on one core.

use std::time::Instant;

use actr_core::Duration;
use actr_sim::rtc::setup::{echo_load, rtc_sim, wait_online};
use actr_sim::{NetPreset, RtcSimConfig};

use crate::report::Row;

const NODES: usize = 3;

pub fn rows() -> Vec<Row> {
    let config = RtcSimConfig { direct: true, ..Default::default() };
    let mut sim = rtc_sim(1, NODES, NetPreset::Wan, config);
    let started = Instant::now();
    if let Err(e) = wait_online(&mut sim, Duration::from_secs(60)) {
        eprintln!("sim_hub: {e}");
        return Vec::new();
    }
    for i in 0..NODES {
        sim.set_call_load(i, Some(echo_load((i + 1) % NODES, Duration::from_millis(100), Duration::from_secs(10))));
    }
    sim.run_for(Duration::from_secs(120));
    let took = started.elapsed();
    let inputs: u64 = sim.nodes().filter_map(|n| n.hub()).map(|h| h.stats().inputs).sum();
    let virtual_secs = sim.now().as_micros() as f64 / 1e6;
    let mut row = Row::throughput("sim: node-hub inputs handled", "sim", inputs as usize, took);
    row.note = format!("{virtual_secs:.0} virtual s in {:.2} wall s", took.as_secs_f64());
    vec![row]
}
