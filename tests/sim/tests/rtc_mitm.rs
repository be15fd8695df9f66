//! A man in the middle of signaling: the server's relay swaps the DTLS
//! fingerprints of every WebRTC offer and answer for its own, as it would to
//! sit in the middle of DTLS. It cannot redo the proofs (the host keys sign
//! the original fingerprints), so the hubs refuse the rewritten SDP before
//! any str0m peer sees it.
//!
//! `mitm_rewriting_sdp_is_caught_and_calls_take_the_direct_link` — two
//! nodes with direct addresses call each other. Invariants: no WebRTC
//! connection ever comes up; each hub counts refused fingerprints; every
//! call resolves exactly once, and once the direct link is up every call
//! succeeds over it.
//!
//! `mitm_without_another_wire_fails_calls_with_a_typed_error` — WebRTC
//! only. Invariants: no call succeeds; every call resolves exactly once by
//! its deadline; the failures name the refused fingerprint proof.

use actr_core::Duration;
use actr_sim::rtc::check as rtc_check;
use actr_sim::rtc::setup::{echo_load, quiesce, rtc_sim, wait_online};
use actr_sim::{NetPreset, RtcSimConfig, Sim, check, ensure, sweep};

const SECS: fn(u64) -> Duration = Duration::from_secs;
const MS: fn(u64) -> Duration = Duration::from_millis;

fn no_webrtc_came_up(sim: &Sim, nodes: usize) -> Result<u64, String> {
    let mut refused = 0;
    for i in 0..nodes {
        let stats = sim.node(i).hub().ok_or(format!("node {i} is down"))?.stats();
        ensure(stats.webrtc_connections_up == 0, || format!("node {i} brought WebRTC up through a forged SDP"))?;
        refused += stats.fingerprints_refused;
    }
    Ok(refused)
}

fn with_direct(seed: u64) -> Result<(), String> {
    let mut sim = rtc_sim(seed, 2, NetPreset::Lan, RtcSimConfig { direct: true, ..Default::default() });
    sim.tamper_relayed_sdp(true);
    wait_online(&mut sim, SECS(60))?;
    sim.set_call_load(0, Some(echo_load(1, MS(200), SECS(10))));
    sim.set_call_load(1, Some(echo_load(0, MS(200), SECS(10))));
    let bound = sim.now() + SECS(30);
    let linked = sim.run_until(bound, |s| s.node(0).hub().is_some_and(|h| h.stats().links_open > 0));
    ensure(linked, || format!("no direct link: {}", rtc_check::describe(&sim)))?;
    let linked_at = sim.now();
    sim.run_for(SECS(40));
    quiesce(&mut sim, SECS(15));
    let refused = no_webrtc_came_up(&sim, 2)?;
    ensure(refused > 0, || "no forged offer or answer was refused".into())?;
    rtc_check::calls_ok(&sim)?;
    check::ledgers_ok(&sim)?;
    let (ok, resolved) = rtc_check::calls_since(&sim, linked_at + SECS(1));
    ensure(resolved >= 200 && ok == resolved, || format!("over the direct link {ok} of {resolved} calls succeeded"))
}

fn webrtc_only(seed: u64) -> Result<(), String> {
    let mut sim = rtc_sim(seed, 2, NetPreset::Lan, RtcSimConfig::default());
    sim.tamper_relayed_sdp(true);
    wait_online(&mut sim, SECS(60))?;
    let started = sim.now();
    sim.set_call_load(0, Some(echo_load(1, MS(500), SECS(5))));
    sim.run_for(SECS(30));
    sim.set_call_load(0, None);
    quiesce(&mut sim, SECS(15));
    no_webrtc_came_up(&sim, 2)?;
    rtc_check::calls_ok(&sim)?;
    let (ok, resolved) = rtc_check::calls_since(&sim, started);
    ensure(resolved >= 20 && ok == 0, || format!("{ok} of {resolved} calls got through a forged SDP"))?;
    let rtc = sim.rtc().ok_or("no rtc layer")?;
    let named = rtc.log(0).calls.entries().any(|(_, e)| match &e.outcome {
        Some((_, Err(err))) => err.to_string().contains("fingerprint"),
        _ => false,
    });
    ensure(named, || "no failure named the refused fingerprint proof".into())
}

#[test]
fn mitm_rewriting_sdp_is_caught_and_calls_take_the_direct_link() {
    sweep("mitm_rewriting_sdp_is_caught_and_calls_take_the_direct_link", with_direct);
}

#[test]
fn mitm_without_another_wire_fails_calls_with_a_typed_error() {
    sweep("mitm_without_another_wire_fails_calls_with_a_typed_error", webrtc_only);
}
