//! A bulk transfer over the Rpc lane arrives byte-identical, with bounded
//! queues.
//!
//! Node 0 sends `ACTR_SIM_TRANSFER_MIB` MiB (default: 100 in release
//! builds, 4 in debug builds; one more test sends 100 MiB in every build) to node 1 on the WAN preset (loss,
//! duplication, reordering), as 256 KiB chunk calls with at most 8 in
//! flight; each call's envelope is fragmented into 16 KiB data channel
//! messages. Invariants:
//! - every chunk is acknowledged and the receiver's SHA-256 over the chunks
//!   in order equals the sender's; the receiver took exactly the bytes sent;
//! - the queues on the way stayed within their bounds: the sender's lane
//!   queue within `max_queued_bytes`, the receiver's reassembly within
//!   `reassembly.max_buffered`, chunks waiting at the sink within the window;
//! - every call resolved exactly once by its deadline.

use actr_core::Duration;
use actr_driver::webrtc::RtcPeerConfig;
use actr_sim::rtc::check as rtc_check;
use actr_sim::rtc::setup::{rtc_sim, wait_online};
use actr_sim::{NetPreset, RtcSimConfig, TransferSpec, ensure, sweep};

const MIB_VAR: &str = "ACTR_SIM_TRANSFER_MIB";
const CHUNK: usize = 256 * 1024;
const WINDOW: usize = 8;

fn transfer_mib() -> u64 {
    let default = if cfg!(debug_assertions) { 4 } else { 100 };
    std::env::var(MIB_VAR).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

fn scenario(seed: u64, mib: u64) -> Result<(), String> {
    let mut sim = rtc_sim(seed, 2, NetPreset::Wan, RtcSimConfig::default());
    wait_online(&mut sim, Duration::from_secs(60))?;
    let total = mib << 20;
    let spec = TransferSpec {
        from: 0,
        to: 1,
        total_bytes: total,
        chunk_bytes: CHUNK,
        window: WINDOW,
        timeout: Duration::from_secs(30),
        max_attempts: 3,
    };
    sim.start_transfer(spec);
    let bound = sim.now() + Duration::from_secs(60 + total / (64 << 10));
    let finished =
        sim.run_until(bound, |s| s.rtc().and_then(|r| r.transfer()).is_some_and(|t| t.complete || t.failed.is_some()));
    let report = sim.rtc().and_then(|r| r.transfer()).cloned().ok_or("no transfer")?;
    ensure(finished && report.complete, || {
        format!("transfer unfinished by {bound:?}: {report:?}: {}", rtc_check::describe(&sim))
    })?;

    let sender = sim.node(0).actor().cloned().ok_or("node 0 has no identity")?;
    let rtc = sim.rtc().ok_or("no WebRTC layer")?;
    let sink = rtc.node(1).and_then(|n| n.handler().sink(&sender)).ok_or("nothing arrived")?;
    ensure(sink.bytes == total && sink.digest() == report.sender_digest, || {
        format!("received {} of {total} bytes; digests equal: {}", sink.bytes, sink.digest() == report.sender_digest)
    })?;
    let limits = RtcPeerConfig::default();
    let q = report.queues;
    ensure(q.lane_queue <= limits.max_queued_bytes, || {
        format!("lane queue {} > {}", q.lane_queue, limits.max_queued_bytes)
    })?;
    ensure(q.reassembly <= limits.reassembly.max_buffered, || format!("reassembly {}", q.reassembly))?;
    ensure(q.in_flight <= WINDOW && sink.held_high_water <= WINDOW, || format!("window overrun: {q:?}"))?;
    let secs = report.finished_at.map_or(0.0, |t| (t.as_micros() - report.started_at.as_micros()) as f64 / 1e6);
    println!("  {} MiB in {secs:.1} virtual s, {} chunks resent, queues {q:?}", total >> 20, report.resent);
    sim.run_for(Duration::from_secs(31));
    rtc_check::calls_ok(&sim)
}

#[test]
fn large_transfer_intact() {
    sweep("large_transfer_intact", |seed| scenario(seed, transfer_mib()));
}

/// The full 100 MiB, on one seed, in every build (the sweep above uses
/// smaller transfers in debug builds to stay fast).
#[test]
fn hundred_mib_transfer_intact() {
    let seed = std::env::var("ACTR_SIM_SEED").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(100);
    println!("actr-sim seed={seed} scenario=hundred_mib_transfer_intact");
    if let Err(e) = scenario(seed, 100) {
        panic!("seed {seed}: {e}\nreplay: ACTR_SIM_SEED={seed} cargo test -p actr-sim hundred_mib_transfer_intact");
    }
}
