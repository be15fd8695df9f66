//! Self-check with WebRTC: the same seed replays the same events.
//!
//! One busy run (three nodes calling each other on the Lossy preset with
//! injected send faults, a cut datagram path, a server crash and restart,
//! a network change) is executed twice per seed. The event hash (every
//! event's line: kind, time, nodes, links, addresses) and the line count
//! must match; another seed must differ. Payload bytes are not compared:
//! str0m draws ICE credentials, SCTP tags and DTLS keys from its own
//! unseeded generators, so the bytes differ from run to run even though
//! everything that happens, and when, is the same (see the crate README).

use actr_core::Duration;
use actr_sim::rtc::FaultConfig;
use actr_sim::rtc::setup::{echo_load, rtc_sim};
use actr_sim::{NetPreset, RtcSimConfig, TraceHash, ensure, sweep};

fn busy_run(seed: u64) -> (TraceHash, u64) {
    let faults = FaultConfig { fail_first_permille: 20, ambiguous_first_permille: 20, lose_response_permille: 500 };
    let config = RtcSimConfig { faults, recovery_timeout: Duration::from_secs(20), ..Default::default() };
    let mut sim = rtc_sim(seed, 3, NetPreset::Lossy, config);
    for i in 0..3 {
        sim.set_call_load(i, Some(echo_load((i + 1) % 3, Duration::from_millis(300), Duration::from_secs(10))));
    }
    sim.run_for(Duration::from_secs(15));
    sim.cut_path(0, 1);
    sim.run_for(Duration::from_secs(10));
    sim.crash_server();
    sim.run_for(Duration::from_secs(5));
    sim.restart_server();
    sim.mend_path(0, 1);
    sim.network_change(2);
    sim.run_for(Duration::from_secs(20));
    (sim.event_hash(), sim.trace_lines())
}

fn scenario(seed: u64) -> Result<(), String> {
    let first = busy_run(seed);
    println!("  event hash {} over {} lines", first.0, first.1);
    let second = busy_run(seed);
    ensure(first == second, || format!("same seed, different events: {first:?} vs {second:?}"))?;
    ensure(first.1 > 1500, || format!("the run is too quiet to prove anything: {} lines", first.1))?;
    let other = busy_run(seed.wrapping_add(1));
    ensure(other.0 != first.0, || format!("seeds {seed} and {} gave the same events", seed.wrapping_add(1)))
}

#[test]
fn rtc_same_seed_same_events() {
    sweep("rtc_same_seed_same_events", scenario);
}
