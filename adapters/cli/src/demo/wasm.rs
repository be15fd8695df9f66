//! The demo's WASM phase: the bundled echo and counter guests (actr-guests,
//! built for wasm32 with the CLI) are packed and signed with a throwaway
//! manufacturer key, verified, attached to nodes of one `Hyper` and called
//! over WebRTC from `caller-rtc` and in-process.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use actr_core::package::{PackageSpec, StaticTrust, pack};
use actr_core::{ActrError, ActrType, Dest, Realm};
use actr_tokio::bytes::Bytes;
use actr_tokio::{ActrRef, HyperConfig, KeySigner, PackageIdentity};
use ed25519_dalek::SigningKey;

use super::phases::{CALL_TIMEOUT, Wire, calls, warm_up_webrtc};
use super::report::Phase;
use crate::serve::RegistryStore;
use crate::serve::mfr::add_manufacturer;

/// The echo guest's route (it answers every route with the payload).
const ECHO_ROUTE: &str = "echo.Echo/Say";
const INCREMENT: &str = "counter.Counter/Increment";
const GET: &str = "counter.Counter/Get";
/// Manufacturer of the demo's packages.
const MFR: &str = "demo";

/// The two WASM nodes, and what they were made from.
pub struct WasmNodes {
    pub echo: ActrRef,
    pub counter: ActrRef,
    /// One line per actor: type, binary size, who signed it.
    pub described: Vec<String>,
}

fn ty(name: &str) -> Result<ActrType, ActrError> {
    ActrType::new(MFR, name, "1.0.0").map_err(|e| ActrError::InvalidArgument(e.to_string()))
}

/// Packs, verifies, attaches, registers and starts the two guests.
pub async fn start(server: &str, server_dir: &Path, host_dir: &Path) -> Result<WasmNodes, ActrError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| ActrError::Internal(format!("no OS randomness: {e}")))?;
    let key = SigningKey::from_bytes(&seed);
    let store = RegistryStore::open(server_dir).map_err(|e| ActrError::Internal(e.to_string()))?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    add_manufacturer(&store, MFR, &key.verifying_key(), now).map_err(|e| ActrError::Internal(e.to_string()))?;
    let config = HyperConfig::new(server, Realm(1))
        .with_seed(7)
        .with_data_dir(host_dir)
        .with_trust(StaticTrust::new(key.verifying_key()));
    let hyper = actr_tokio::hyper(config);
    let mut described = Vec::new();
    let mut nodes = Vec::new();
    for (name, binary, routes) in
        [("wasm-echo", actr_guests::ECHO, vec![ECHO_ROUTE]), ("counter", actr_guests::COUNTER, vec![INCREMENT, GET])]
    {
        let mut spec = PackageSpec::new(ty(name)?, "wasm32-unknown-unknown");
        spec.service.routes = routes.into_iter().map(String::from).collect();
        let bytes = pack(&spec.into_manifest(), binary, &[], &key, &mut |_| {})
            .map_err(|e| ActrError::Internal(format!("packing {name}: {e}")))?;
        let verified = hyper.verify_package(bytes).await.map_err(|e| ActrError::InvalidArgument(e.to_string()))?;
        described.push(format!(
            "{} (WASM, {:.1} KiB, signed by {})",
            verified.actr_type,
            binary.len() as f64 / 1024.0,
            verified.key_id
        ));
        let identity = PackageIdentity::signed_by(verified, Arc::new(KeySigner::new(key.clone())));
        let actor = hyper.node().attach(identity).await?.register().await?.start().await?;
        nodes.push(actor);
    }
    let counter = nodes.pop().ok_or_else(|| ActrError::Internal("no counter node".into()))?;
    let echo = nodes.pop().ok_or_else(|| ActrError::Internal("no echo node".into()))?;
    Ok(WasmNodes { echo, counter, described })
}

/// Echo calls over WebRTC from `caller` and in-process on the echo node,
/// then `count` increments of the counter, checked against its total.
pub async fn phases(
    nodes: &WasmNodes,
    caller: &ActrRef,
    payload: &Bytes,
    count: usize,
) -> Result<Vec<Phase>, ActrError> {
    let echo = Dest::Peer(nodes.echo.id().clone());
    warm_up_webrtc(caller, &echo, ECHO_ROUTE).await?;
    let mut out = Vec::new();
    let mut rtc = calls(caller, &echo, Wire::WebRtc, payload, count).await?;
    rtc.wire = "webrtc → wasm";
    out.push(rtc);
    let mut local = calls(&nodes.echo, &Dest::Workload, Wire::InProcess, payload, count).await?;
    local.wire = "in-process → wasm";
    out.push(local);

    let counter = Dest::Peer(nodes.counter.id().clone());
    let before = counter_value(caller, &counter).await?;
    let started = Instant::now();
    for _ in 0..count {
        caller.call(counter.clone(), INCREMENT, Bytes::new(), CALL_TIMEOUT).await?;
    }
    let took = started.elapsed();
    let after = counter_value(caller, &counter).await?;
    if after != before + count as u64 {
        return Err(ActrError::Internal(format!("counter went from {before} to {after} after {count} increments")));
    }
    out.push(Phase {
        kind: "calls",
        wire: "webrtc → wasm",
        count,
        payload: 0,
        took,
        latencies: None,
        note: format!("counter increments in the guest's store: {before} → {after}"),
    });
    Ok(out)
}

/// Lines for the report: which actors were WASM, how long their turns took.
pub fn describe(nodes: &WasmNodes) -> Vec<String> {
    let mut lines = Vec::new();
    for (actor, what) in [&nodes.echo, &nodes.counter].into_iter().zip(&nodes.described) {
        let stats = actor.wasm_stats().unwrap_or_default();
        let mean = stats.turn_time.as_secs_f64() * 1e6 / stats.turns.max(1) as f64;
        lines.push(format!(
            "  {} {what}: {} guest turns, {mean:.1} µs each on average, {} rebuilds",
            actor.id(),
            stats.turns,
            stats.rebuilds
        ));
    }
    lines
}

async fn counter_value(caller: &ActrRef, counter: &Dest) -> Result<u64, ActrError> {
    let reply = caller.call(counter.clone(), GET, Bytes::new(), CALL_TIMEOUT).await?;
    let bytes: [u8; 8] = reply
        .as_ref()
        .try_into()
        .map_err(|_| ActrError::DecodeFailure(format!("counter replied {} bytes, not 8", reply.len())))?;
    Ok(u64::from_le_bytes(bytes))
}
