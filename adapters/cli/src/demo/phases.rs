//! Timed phases: sequential calls and bursts of tells, each labelled with the
//! wire it was meant for and, from `ActrRef::stats` before and after, the
//! wires that actually carried it.

use std::time::{Duration, Instant};

use actr_core::{ActrError, Dest};
use actr_tokio::bytes::Bytes;
use actr_tokio::{ActrRef, RpcStats};

use super::echo::{ECHO, NOTE, TellCounter};
use super::report::{Latencies, Phase};

/// Bound on each call of the demo.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on waiting for tells to arrive.
const TELL_WAIT: Duration = Duration::from_secs(10);
/// Pause before retrying a tell refused by a full send queue.
const FULL_BACKOFF: Duration = Duration::from_millis(1);
/// Retries of one tell before its error is reported.
const MAX_FULL_WAITS: u64 = 5_000;

/// The wire a phase is meant to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    WebSocket,
    WebRtc,
    InProcess,
}

impl Wire {
    pub fn label(self) -> &'static str {
        match self {
            Wire::WebSocket => "websocket direct",
            Wire::WebRtc => "webrtc",
            Wire::InProcess => "in-process",
        }
    }
}

/// `count` sequential echo calls of `payload`, each timed.
pub async fn calls(
    actor: &ActrRef,
    dest: &Dest,
    wire: Wire,
    payload: &Bytes,
    count: usize,
) -> Result<Phase, ActrError> {
    let before = actor.stats().await?;
    let mut latencies = Latencies::default();
    let started = Instant::now();
    for _ in 0..count {
        let sent = Instant::now();
        let reply = actor.call(dest.clone(), ECHO, payload.clone(), CALL_TIMEOUT).await?;
        latencies.push(sent.elapsed());
        if reply.len() != payload.len() {
            return Err(ActrError::Internal(format!("echo returned {} of {} bytes", reply.len(), payload.len())));
        }
    }
    let took = started.elapsed();
    let carried = carried(&before, &actor.stats().await?, count);
    let kind = if payload.len() >= 1 << 16 { "bulk" } else { "calls" };
    let note = if kind == "bulk" { format!("{carried}; echoed, MiB/s one way") } else { carried };
    Ok(Phase { kind, wire: wire.label(), count, payload: payload.len(), took, latencies: Some(latencies), note })
}

/// `count` tells of `payload`, timed until the receiver counted them all.
pub async fn tells(
    actor: &ActrRef,
    dest: &Dest,
    counter: &TellCounter,
    wire: Wire,
    payload: &Bytes,
    count: usize,
) -> Result<Phase, ActrError> {
    let before_stats = actor.stats().await?;
    let before = counter.received();
    let started = Instant::now();
    let mut full = 0;
    for _ in 0..count {
        full += tell_when_accepted(actor, dest, payload).await?;
    }
    let arrived = counter.wait_for(before + count as u64, TELL_WAIT).await - before;
    let took = started.elapsed();
    let mut note = format!("{arrived} of {count} arrived; {}", carried(&before_stats, &actor.stats().await?, count));
    if full > 0 {
        note += &format!("; {full} waits on a full send queue");
    }
    let count = arrived as usize;
    Ok(Phase { kind: "tells", wire: wire.label(), count, payload: payload.len(), took, latencies: None, note })
}

/// Sends one tell, waiting while the link's send queue is full (a tell is
/// handed back with `ResourceExhausted` then). Returns how often it waited.
async fn tell_when_accepted(actor: &ActrRef, dest: &Dest, payload: &Bytes) -> Result<u64, ActrError> {
    let mut waits = 0;
    loop {
        match actor.tell(dest.clone(), NOTE, payload.clone()).await {
            Ok(()) => return Ok(waits),
            Err(ActrError::ResourceExhausted(_)) if waits < MAX_FULL_WAITS => {
                waits += 1;
                tokio::time::sleep(FULL_BACKOFF).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Which wires carried `ops` messages, from the sender's counters: WebRTC
/// and in-process are counted; the rest went over WebSocket direct.
pub fn carried(before: &RpcStats, after: &RpcStats, ops: usize) -> String {
    let rtc = after.webrtc_sent.saturating_sub(before.webrtc_sent);
    let local = after.in_process_delivered.saturating_sub(before.in_process_delivered);
    let ws = (ops as u64).saturating_sub(rtc + local);
    format!("carried: webrtc {rtc}, websocket {ws}, in-process {local}")
}

/// Bound on waiting for a WebRTC channel to carry calls.
const WEBRTC_WARMUP: Duration = Duration::from_secs(10);

/// Calls `route` on `dest` until a call went over WebRTC; returns how long
/// that took. The first calls may take WebSocket direct while the channel
/// opens.
pub async fn warm_up_webrtc(actor: &ActrRef, dest: &Dest, route: &str) -> Result<Duration, ActrError> {
    let before = actor.stats().await?.webrtc_sent;
    let started = Instant::now();
    while started.elapsed() < WEBRTC_WARMUP {
        actor.call(dest.clone(), route, Bytes::from_static(b"warm-up"), CALL_TIMEOUT).await?;
        if actor.stats().await?.webrtc_sent > before {
            return Ok(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Err(ActrError::TimedOut)
}
