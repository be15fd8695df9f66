//! `actr demo`: everything in one process, in a few seconds.
//!
//! 1. starts `actr serve` on 127.0.0.1 with a free port and a temporary data
//!    directory ([`crate::serve::ServeHandle`]);
//! 2. starts three nodes under tokio, each running a native echo
//!    `DemoActor`: `echo` (WebSocket listener, WebRTC on), `caller-ws`
//!    (WebRTC off) and `caller-rtc` (WebRTC on), all off the process-local
//!    registry as if on separate machines; the callers find `echo` through
//!    signaling;
//! 3. measures calls (latency p50/p99), 1 MiB calls and tells over WebSocket
//!    direct, then over a WebRTC data channel negotiated through signaling,
//!    then in-process to `caller-rtc`'s own workload; streams data and sends
//!    audio frames from `caller-rtc` to `echo` over WebRTC;
//! 4. prints which wire carried each phase and what each lane carried (from
//!    `ActrRef::stats`);
//! 5. packs and signs the bundled echo and counter WASM guests with a
//!    throwaway manufacturer key, verifies them, attaches them to two nodes
//!    and calls them over WebRTC from `caller-rtc` and in-process; reports
//!    which actors were WASM and how long their guest turns took;
//! 6. shuts the nodes and the server down and removes the directory.

mod echo;
mod phases;
mod report;
mod scenario;
mod streams;
mod wasm;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use actr_core::ActrError;

use crate::serve::{ServeConfig, ServeError, ServeHandle};

/// Bound on the whole demo once the server is up.
const DEMO_DEADLINE: Duration = Duration::from_secs(60);

/// How much the demo sends.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Sequential small calls per wire.
    pub calls: usize,
    /// Tells per wire.
    pub tells: usize,
    /// Size of each small call and tell.
    pub payload: usize,
    /// Sequential bulk calls over the network, and the size of each.
    pub bulk_calls: usize,
    pub bulk_size: usize,
    /// MiB sent on the data stream.
    pub stream_mib: usize,
    /// Audio frames sent on the media track.
    pub media_frames: usize,
    /// Calls to each WASM actor.
    pub wasm_calls: usize,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            calls: 1000,
            tells: 10_000,
            payload: 64,
            bulk_calls: 32,
            bulk_size: 1 << 20,
            stream_mib: 16,
            media_frames: 200,
            wasm_calls: 200,
        }
    }
}

/// Why the demo failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    #[error("cannot start the embedded actr serve: {0}")]
    Serve(#[from] ServeError),
    #[error("cannot start the tokio runtime: {0}")]
    Runtime(std::io::Error),
    #[error("{0}")]
    Actr(#[from] ActrError),
    #[error("the demo did not finish within {0:?}")]
    TimedOut(Duration),
}

/// Runs the demo, printing to stdout as it goes.
pub fn run(options: &DemoOptions) -> Result<(), DemoError> {
    let started = Instant::now();
    let dir = TempDir::new();
    let server = ServeHandle::start(ServeConfig::new(([127, 0, 0, 1], 0).into(), dir.0.clone()))?;
    let url = format!("http://{}", server.local_addr());
    println!("actr demo: actr serve on {url} (data in {})", dir.0.display());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(DemoError::Runtime)?;
    let outcome = runtime.block_on(async {
        let host_dir = dir.0.join("wasm-host");
        let scenario = scenario::run(url, (&dir.0, &host_dir), options, |line| println!("actr demo: {line}"));
        tokio::time::timeout(DEMO_DEADLINE, scenario).await
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    server.stop();
    let outcome = outcome.map_err(|_| DemoError::TimedOut(DEMO_DEADLINE))??;
    println!();
    println!("measurements:");
    outcome.phases.iter().for_each(|p| println!("{}", p.line()));
    println!();
    println!("wires and lanes (from ActrRef::stats):");
    outcome.stats.lines().iter().for_each(|l| println!("{l}"));
    println!();
    println!("WASM actors (guest turns from ActrRef::wasm_stats):");
    outcome.wasm.iter().for_each(|l| println!("{l}"));
    println!("actr demo: ok in {:.2} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The server's data directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("actr-demo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
