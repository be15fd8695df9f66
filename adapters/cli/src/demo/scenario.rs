//! The demo's async part: three nodes, found through signaling, then calls,
//! bulk calls and tells over each wire, timed.
//!
//! - `echo` listens for WebSocket direct links and accepts WebRTC;
//! - `caller-ws` has WebRTC turned off, so it reaches `echo` over WebSocket direct;
//! - `caller-rtc` reaches `echo` over a WebRTC data channel negotiated through
//!   signaling (after a warm-up that waits for the channel to open), streams
//!   data and sends media frames to it there, and calls its own workload
//!   in-process.
//!
//! All stay off the process-local registry, so calls between them take the
//! network, as between machines.

use std::sync::Arc;
use std::time::Duration;

use actr_core::{ActrError, Dest, Realm};
use actr_tokio::bytes::Bytes;
use actr_tokio::{ActrRef, HyperConfig};

use super::DemoOptions;
use super::echo::{DemoActor, ECHO, TellCounter, demo_type};
use super::phases::{Wire, calls, tells, warm_up_webrtc};
use super::report::{Phase, WireStats};
use super::{streams, wasm};

/// Requests a demo node handles at once: tells arrive in bursts.
const MAX_IN_FLIGHT: usize = 1 << 16;

/// A started demo node and the counter of tells its workload received.
pub struct DemoNode {
    pub actor: ActrRef,
    pub tells: Arc<TellCounter>,
}

/// What the scenario hands back to be printed.
#[derive(Debug)]
pub struct Outcome {
    pub phases: Vec<Phase>,
    pub stats: WireStats,
    /// Which actors were WASM, and their guest turns.
    pub wasm: Vec<String>,
}

/// Starts the nodes, runs every phase, shuts the nodes down.
pub async fn run(
    server: String,
    dirs: (&std::path::Path, &std::path::Path),
    options: &DemoOptions,
    say: impl Fn(String),
) -> Result<Outcome, ActrError> {
    let echo = start_node(&server, "echo", 1, true, true).await?;
    say(format!("echo node:       {} listening on {}", echo.actor.id(), echo.actor.ws_address().unwrap_or("-")));
    let ws_caller = start_node(&server, "caller-ws", 2, false, false).await?;
    say(format!("caller-ws node:  {} (WebRTC off)", ws_caller.actor.id()));
    let rtc_caller = start_node(&server, "caller-rtc", 3, false, true).await?;
    say(format!("caller-rtc node: {} (WebRTC on)", rtc_caller.actor.id()));
    let wasm_nodes = wasm::start(&server, dirs.0, dirs.1).await?;
    for line in &wasm_nodes.described {
        say(format!("wasm node:       {line}"));
    }
    let outcome = async {
        let mut phases = all_phases(&echo, &ws_caller, &rtc_caller, options, &say).await?;
        let small = Bytes::from(vec![0x5a; options.payload]);
        phases.extend(wasm::phases(&wasm_nodes, &rtc_caller.actor, &small, options.wasm_calls).await?);
        let wasm = wasm::describe(&wasm_nodes);
        let stats = WireStats {
            ws_caller: ws_caller.actor.stats().await?,
            rtc_caller: rtc_caller.actor.stats().await?,
            echo: echo.actor.stats().await?,
        };
        Ok(Outcome { phases, stats, wasm })
    }
    .await;
    for node in [&ws_caller, &rtc_caller, &echo] {
        node.actor.shutdown().await;
    }
    wasm_nodes.echo.shutdown().await;
    wasm_nodes.counter.shutdown().await;
    outcome
}

async fn all_phases(
    echo: &DemoNode,
    ws_caller: &DemoNode,
    rtc_caller: &DemoNode,
    options: &DemoOptions,
    say: &impl Fn(String),
) -> Result<Vec<Phase>, ActrError> {
    let echo_type = demo_type("echo")?;
    let small = Bytes::from(vec![0x5a; options.payload]);
    let big = Bytes::from(vec![0xa5; options.bulk_size]);
    let mut phases = Vec::new();

    let target = discover(&ws_caller.actor, &echo_type).await?;
    say(format!("caller-ws discovered {target} through signaling"));
    let remote = Dest::Peer(target.clone());
    let ws = Wire::WebSocket;
    phases.push(calls(&ws_caller.actor, &remote, ws, &small, options.calls).await?);
    phases.push(calls(&ws_caller.actor, &remote, ws, &big, options.bulk_calls).await?);
    phases.push(tells(&ws_caller.actor, &remote, &echo.tells, ws, &small, options.tells).await?);

    let found = discover(&rtc_caller.actor, &echo_type).await?;
    let opened = warm_up_webrtc(&rtc_caller.actor, &Dest::Peer(found), ECHO).await?;
    say(format!("caller-rtc discovered {target}; WebRTC data channel open after {:.1} ms", opened.as_secs_f64() * 1e3));
    let rtc = Wire::WebRtc;
    phases.push(calls(&rtc_caller.actor, &remote, rtc, &small, options.calls).await?);
    phases.push(calls(&rtc_caller.actor, &remote, rtc, &big, options.bulk_calls).await?);
    phases.push(tells(&rtc_caller.actor, &remote, &echo.tells, rtc, &small, options.tells).await?);

    phases.push(streams::stream(&rtc_caller.actor, &echo.actor, options.stream_mib).await?);
    phases.push(streams::media(&rtc_caller.actor, &echo.actor, options.media_frames).await?);

    let own = Dest::Workload;
    phases.push(calls(&rtc_caller.actor, &own, Wire::InProcess, &small, options.calls).await?);
    phases.push(tells(&rtc_caller.actor, &own, &rtc_caller.tells, Wire::InProcess, &small, options.tells).await?);
    Ok(phases)
}

async fn discover(actor: &ActrRef, ty: &actr_core::ActrType) -> Result<actr_core::ActrId, ActrError> {
    let found = actor.discover(ty).await?;
    found.first().cloned().ok_or_else(|| ActrError::NotFound(format!("no actor of type {ty}")))
}

/// Links, registers and starts a demo actor; `listen` opens a WebSocket
/// listener; `webrtc` lets it reach peers over WebRTC.
async fn start_node(server: &str, name: &str, seed: u64, listen: bool, webrtc: bool) -> Result<DemoNode, ActrError> {
    let (actor, tells) = DemoActor::new(name)?;
    let mut config = HyperConfig::new(server, Realm(1)).with_seed(seed).with_share_process(false).with_webrtc(webrtc);
    if listen {
        config = config.with_ws_listen(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    }
    let config = config.with_max_in_flight(MAX_IN_FLIGHT).with_drain_timeout(Duration::from_secs(2));
    let actor = actr_tokio::hyper(config).node().link(actor).register().await?.start().await?;
    Ok(DemoNode { actor, tells })
}
