//! `cargo run -p actr-bench --release`: signaling and AIS figures on loopback.
//!
//! Starts `actr serve` in-process and measures, on the same machine and run:
//! - AIS registration round trips over HTTP (blocking client);
//! - signaling round trips through a connected node, ping as the baseline
//!   and `route_candidates` against it;
//! - relay throughput between two nodes through the server, pipelined.
//!
//! The signaling figures are taken under tokio and under smol. Then step 2's
//! messaging figures, each next to its baseline measured in the same run:
//! - [`in_process`]: node tell and call in-process against tokio mpsc (+ oneshot),
//!   with kameo's and ractor's tells against the same mpsc ([`peers`]);
//! - [`ws_rpc`]: RPC over the WebSocket direct link against a raw tungstenite echo;
//! - [`rtc`]: WebRTC connect time and bulk throughput, `RtcPeer` against raw str0m;
//! - [`sim_hub`]: node-hub inputs handled per second in the simulator;
//! - [`package`]: package verification against SHA-256 of the same bytes;
//! - [`storage`]: `ActorStore` set and get against raw rusqlite with the same SQL;
//! - [`wasm`]: a WASM echo's dispatch against a raw wasmi round trip and
//!   against a native echo.
//!
//! Plain figures, no assertions: numbers depend on the machine. The whole run
//! takes about a minute in release. `ACTR_BENCH_ONLY=in_process,ws` runs only
//! the listed sections (`signaling`, `in_process`, `ws`, `rtc`, `sim`, `hello`, `package`,
//! `storage`, `wasm`; `rtc_calls` is the small-call rows of `rtc` alone, for profiling).

mod hello;
mod in_process;
mod node_calls;
mod package;
mod peers;
mod report;
mod rtc;
mod sim_hub;
mod storage;
mod wasm;
mod workload;
mod ws_rpc;

use std::future::Future;
use std::time::{Duration, Instant};

use actr_cli::serve::{ServeConfig, ServeHandle};
use actr_core::ais::{AisReply, AisRequest, RegisterRequest};
use actr_core::signaling::RateLimit;
use actr_core::{ActrType, Realm};
use actr_driver::{AisHttpClient, NodeConfig, NodeEvent, Runtime, SignalingHandle, SignalingNode, with_deadline};
use futures::StreamExt;

use report::{Row, Sample};

const REGISTRATIONS: usize = 500;
const ROUND_TRIPS: usize = 2_000;
const RELAYS: usize = 20_000;
const RELAY_PAYLOAD: usize = 32;
/// Relays in flight at once; below the client's 256 pending requests.
const IN_FLIGHT: usize = 200;
const WAIT: Duration = Duration::from_secs(120);

fn main() {
    let dir = std::env::temp_dir().join(format!("actr-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = ServeConfig::new("127.0.0.1:0".parse().expect("addr"), dir.clone());
    // The rows time signaling round trips back to back, far over the
    // per-connection rate a deployment allows (the limiter has its own tests).
    config.signaling.rate = RateLimit { burst: 1 << 24, per_second: 1 << 24, ..RateLimit::default() };
    let server = ServeHandle::start(config).expect("actr serve starts");
    let url = format!("http://{}", server.local_addr());
    println!("actr-bench: actr serve on {url}, {} build", if cfg!(debug_assertions) { "debug" } else { "release" });

    let mut rows = Vec::new();
    if selected("signaling") {
        rows.extend(step1_figures(&url));
    }
    if selected("in_process") {
        rows.extend(in_process::rows(&url));
    }
    if selected("ws") {
        rows.extend(ws_rpc::rows(&url));
    }
    if selected("rtc") {
        rows.extend(rtc::rows(&url));
    } else if selected("rtc_calls") {
        rows.extend(rtc::call_rows(&url));
    }
    if selected("sim") {
        rows.extend(sim_hub::rows());
    }
    if selected("hello") {
        rows.extend(hello::rows());
    }
    if selected("package") {
        rows.extend(package::rows());
    }
    if selected("storage") {
        rows.extend(storage::rows());
    }
    if selected("wasm") {
        rows.extend(wasm::rows(&url, &dir));
    }
    report::print(&rows);

    server.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whether section `name` runs: all do unless `ACTR_BENCH_ONLY` lists some
/// (comma-separated: `signaling`, `in_process`, `ws`, `rtc`), e.g. to profile one.
fn selected(name: &str) -> bool {
    std::env::var("ACTR_BENCH_ONLY").map_or(true, |only| only.split(',').any(|s| s.trim() == name))
}

/// Step 1: AIS registration, then signaling under tokio and under smol.
fn step1_figures(url: &str) -> Vec<Row> {
    let mut rows = vec![register_round_trips(url)];
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio");
    let tokio_rt = actr_tokio::TokioRuntime::with_handle(runtime.handle().clone());
    rows.extend(runtime.block_on(signaling_figures(tokio_rt, "tokio", url.to_owned(), 100)));
    rows.extend(smol::block_on(signaling_figures(actr_smol::SmolRuntime, "smol", url.to_owned(), 200)));
    rows
}

fn actr_type(name: &str) -> ActrType {
    ActrType::new("bench", name, "1").expect("valid type")
}

fn register_request(name: &str) -> RegisterRequest {
    RegisterRequest::new(actr_type(name), Realm(1), None)
}

/// Sequential `POST /ais/register` calls.
fn register_round_trips(url: &str) -> Row {
    let client = AisHttpClient::new(url);
    let mut request = register_request("reg");
    request.sign(&actr_core::proof::HostKey::from_seed([0xBE; 32]));
    let request = AisRequest::Register(request);
    let mut sample = Sample::default();
    for i in 0..REGISTRATIONS + 20 {
        let started = Instant::now();
        let reply = client.call(&request);
        assert!(matches!(reply, Ok(AisReply::Registered(_))), "registration failed: {reply:?}");
        if i >= 20 {
            sample.push(started.elapsed());
        }
    }
    Row::latency("AIS register round trip (HTTP)", "-", sample)
}

async fn signaling_figures<R: Runtime>(rt: R, name: &str, url: String, seed: u64) -> Vec<Row> {
    let alpha = start(&rt, &url, "alpha", seed).await;
    let beta = start(&rt, &url, "beta", seed + 1).await;
    let beta_id = beta.wait_connected(WAIT).await.expect("beta connected");
    let ping = round_trips(|| alpha.ping()).await;
    let route = round_trips(|| async {
        let found = alpha.route_candidates(actr_type("beta"), 8).await?;
        assert!(!found.is_empty(), "beta is online");
        Ok(())
    })
    .await;
    let relay = relay_throughput(&rt, name, &alpha, &beta, beta_id).await;
    alpha.shutdown().await;
    beta.shutdown().await;
    vec![
        Row::latency("signaling ping round trip (baseline)", name, ping.clone()),
        Row::latency("route_candidates round trip", name, route).against(&ping),
        relay,
    ]
}

async fn start<R: Runtime>(rt: &R, url: &str, name: &str, seed: u64) -> SignalingHandle {
    let config = NodeConfig::new(url, register_request(name)).with_seed(seed).with_event_capacity(RELAYS + 1024);
    let node = SignalingNode::start(rt.clone(), config).expect("node starts");
    node.wait_connected(WAIT).await.expect("node connects");
    node
}

async fn round_trips<F, Fut>(mut call: F) -> Sample
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), actr_core::ActrError>>,
{
    let mut sample = Sample::default();
    for i in 0..ROUND_TRIPS + 100 {
        let started = Instant::now();
        call().await.expect("round trip");
        if i >= 100 {
            sample.push(started.elapsed());
        }
    }
    sample
}

/// `RELAYS` small relays from alpha to beta, `IN_FLIGHT` at a time, timed
/// until beta has received the last one.
async fn relay_throughput<R: Runtime>(
    rt: &R,
    runtime_name: &str,
    alpha: &SignalingHandle,
    beta: &SignalingHandle,
    beta_id: actr_core::ActrId,
) -> Row {
    let events = beta.events();
    let (done_tx, done_rx) = async_channel::bounded(1);
    rt.spawn(Box::pin(async move {
        let mut received = 0;
        while received < RELAYS {
            match events.recv().await {
                Ok(NodeEvent::Relay { .. }) => received += 1,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let _ = done_tx.try_send((received, Instant::now()));
    }));
    let started = Instant::now();
    let payload = vec![0x5a; RELAY_PAYLOAD];
    let sends = futures::stream::iter(0..RELAYS).for_each_concurrent(IN_FLIGHT, |_| {
        let (target, payload) = (beta_id.clone(), payload.clone());
        async move { alpha.relay(target, payload).await.expect("relay accepted") }
    });
    with_deadline(rt, WAIT, sends).await.expect("relays sent in time");
    let (received, finished) =
        with_deadline(rt, WAIT, done_rx.recv()).await.expect("relays received in time").expect("counter");
    let stats = beta.stats().await.expect("stats");
    let name = format!("relay throughput ({RELAY_PAYLOAD} B, {IN_FLIGHT} in flight)");
    let mut row = Row::throughput(&name, runtime_name, received, finished - started);
    row.note = format!("{} dropped", stats.events_dropped);
    row
}
