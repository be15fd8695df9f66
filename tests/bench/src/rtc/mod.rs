//! WebRTC on loopback: the driver's `RtcPeer` against a raw str0m pair with
//! the same tuning (16 KiB writes, no writes above 64 KiB buffered).
//!
//! Each side runs in its own thread with its own UDP socket on 127.0.0.1;
//! signaling travels over an in-process channel, and both sides share one
//! DTLS certificate so certificate generation is not timed. Two figures:
//!
//! - connect: from creating the peers until the answerer sees the data
//!   channel open (ICE, DTLS, SCTP, channel open), p50 and p99;
//! - bulk: [`BULK_MIB`] MiB over one reliable ordered channel, from the
//!   offerer's channel open to the last byte at the answerer (best of
//!   [`BULK_ROUNDS`], alternating);
//! - node-level stream: the same bytes on a reliable data stream between two
//!   nodes (`StreamWriter`, a window of chunks in flight) against raw bulk;
//! - node-level calls: the same bytes as 1 MiB calls one at a time
//!   (`ActrRef::call`, an empty reply) against raw bulk;
//! - small messages: node calls over WebRTC (`ActrRef::call`, 64 B) against a
//!   raw str0m echo of 64 B messages, one at a time and 64 in flight
//!   (alternating rounds, see [`crate::node_calls`]).

mod bridge;
mod raw;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use actr_driver::webrtc::{DtlsCert, generate_certificate};

use crate::node_calls::{PAYLOAD, PIPELINED, SEQUENTIAL, WINDOW, measure};
use crate::report::{Row, Sample};

/// Data channel write size on both sides.
const WRITE: usize = 16 * 1024;
/// No writes while the channel buffers more than this.
const HIGH_WATER: usize = 64 * 1024;
const BULK_MIB: usize = 64;
const CONNECTS: usize = 15;
/// Bulk transfers of each kind, alternating; the fastest counts.
const BULK_ROUNDS: usize = 3;

/// What a pair does once its channel is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The offerer sends `total` bytes; the answerer counts bytes.
    Bulk,
    /// The offerer keeps `window` messages of [`PAYLOAD`] bytes outstanding
    /// until `total` came back; the answerer echoes each. Raw str0m only.
    Echo { window: usize },
}

/// What one side saw.
#[derive(Debug, Default, Clone, Copy)]
struct Progress {
    opened_at: Option<Instant>,
    received: usize,
    finished_at: Option<Instant>,
}

/// One side of a pair, driven by [`run_side`].
trait Endpoint: Sized {
    fn start(offerer: bool, socket: &UdpSocket, now: Instant, cert: DtlsCert, mode: Mode) -> Self;
    /// Sends datagrams and signals, records events.
    fn flush(&mut self, socket: &UdpSocket, signals: &Sender<Vec<u8>>, progress: &mut Progress);
    fn on_signal(&mut self, now: Instant, bytes: &[u8]);
    fn on_datagram(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, bytes: &[u8]);
    fn on_timeout(&mut self, now: Instant);
    fn timeout(&self) -> Instant;
    /// Writes while the transport (and, echoing, the window) takes it; adds
    /// bytes (bulk) or messages (echo) to `sent`.
    fn push(&mut self, sent: &mut usize, total: usize);
}

struct Link {
    socket: UdpSocket,
    signals_out: Sender<Vec<u8>>,
    signals_in: Receiver<Vec<u8>>,
}

/// The WebRTC rows: connect time, bulk throughput, small calls.
pub fn rows(url: &str) -> Vec<Row> {
    let cert = generate_certificate().expect("certificate");
    let (bridge_connect, raw_connect) = connects(&cert);
    let total = BULK_MIB << 20;
    let (mut bridge_bulk, mut raw_bulk) = (Duration::MAX, Duration::MAX);
    for _ in 0..BULK_ROUNDS {
        bridge_bulk = bridge_bulk.min(run_pair::<bridge::BridgePeer>(total, &cert, Mode::Bulk).1);
        raw_bulk = raw_bulk.min(run_pair::<raw::RawPeer>(total, &cert, Mode::Bulk).1);
    }
    let bulk = |who: &str, took: Duration| {
        let mut row = Row::throughput(&format!("webrtc bulk {BULK_MIB} MiB: {who}"), "threads", BULK_MIB, took);
        row.unit = "MiB/s";
        row
    };
    let raw_bulk = bulk("raw str0m (baseline)", raw_bulk);
    let stream = crate::node_calls::webrtc_stream(url, BULK_MIB, BULK_ROUNDS);
    let node_stream =
        Row::throughput(&format!("webrtc stream {BULK_MIB} MiB: node (StreamWriter)"), "tokio", BULK_MIB, stream);
    let node_stream = Row { unit: "MiB/s", ..node_stream }.rate_against(&raw_bulk, "MiB/s; goal >= 0.8x");
    let calls = crate::node_calls::webrtc_calls_1mib(url, BULK_MIB, BULK_ROUNDS);
    let node_calls =
        Row::throughput(&format!("webrtc calls {BULK_MIB} x 1 MiB: node (ActrRef::call)"), "tokio", BULK_MIB, calls);
    let node_calls = Row { unit: "MiB/s", ..node_calls }.rate_against(&raw_bulk, "MiB/s one way; goal >= 0.8x");
    let mut rows = vec![
        Row::latency("webrtc connect: raw str0m (baseline)", "threads", raw_connect.clone()),
        Row::latency("webrtc connect: RtcPeer", "threads", bridge_connect).against(&raw_connect),
        bulk("RtcPeer", bridge_bulk).rate_against(&raw_bulk, "MiB/s; goal >= 0.9x"),
        node_stream,
        node_calls,
        raw_bulk,
    ];
    rows.extend(small_messages(url, &cert));
    rows
}

/// The small-call rows alone (no connect or bulk rounds).
pub fn call_rows(url: &str) -> Vec<Row> {
    small_messages(url, &generate_certificate().expect("certificate"))
}

/// Node calls over WebRTC against a raw str0m echo, 1 and [`WINDOW`] in flight.
fn small_messages(url: &str, cert: &DtlsCert) -> Vec<Row> {
    let raw = |total, window| run_pair::<raw::RawPeer>(total, cert, Mode::Echo { window }).1;
    let rates = measure(url, true, raw);
    let raw_one =
        Row::throughput("webrtc echo 1 at a time: raw str0m (baseline)", "threads", SEQUENTIAL, rates.raw_one);
    let raw_window = Row::throughput(
        &format!("webrtc echo {WINDOW} in flight: raw str0m (baseline)"),
        "threads",
        PIPELINED,
        rates.raw_window,
    );
    let goal = format!("msg/s; goal >= 0.8x; {}", rates.carried());
    vec![
        Row::throughput("webrtc call 1 at a time: node (ActrRef::call)", "tokio", SEQUENTIAL, rates.node_one)
            .rate_against(&raw_one, &goal),
        raw_one,
        Row::throughput(&format!("webrtc call {WINDOW} in flight: node"), "tokio", PIPELINED, rates.node_window)
            .rate_against(&raw_window, &goal),
        raw_window,
    ]
}

/// Connect times of the bridge and of raw str0m, alternating, after one
/// warm-up pair of each.
fn connects(cert: &DtlsCert) -> (Sample, Sample) {
    let (mut bridge, mut raw) = (Sample::default(), Sample::default());
    for i in 0..=CONNECTS {
        let b = run_pair::<bridge::BridgePeer>(0, cert, Mode::Bulk).0;
        let r = run_pair::<raw::RawPeer>(0, cert, Mode::Bulk).0;
        if i > 0 {
            bridge.push(b);
            raw.push(r);
        }
    }
    (bridge, raw)
}

/// Runs one pair until `total` bytes (bulk) or echoes arrived; returns the
/// connect time and the transfer time from the offerer's channel open.
fn run_pair<E: Endpoint>(total: usize, cert: &DtlsCert, mode: Mode) -> (Duration, Duration) {
    let bind = || UdpSocket::bind("127.0.0.1:0").expect("bind");
    let (sa, sb) = (bind(), bind());
    let ((a_tx, b_rx), (b_tx, a_rx)) = (channel(), channel());
    let done = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let spawn = |offerer: bool, link: Link| {
        let (cert, done) = (cert.clone(), done.clone());
        std::thread::spawn(move || run_side::<E>(offerer, link, total, cert, mode, &done))
    };
    let a = spawn(true, Link { socket: sa, signals_out: a_tx, signals_in: a_rx });
    let b = spawn(false, Link { socket: sb, signals_out: b_tx, signals_in: b_rx });
    let (a, b) = (a.join().expect("offerer thread"), b.join().expect("answerer thread"));
    let finisher = if mode == Mode::Bulk { b } else { a };
    let (Some(b_open), Some(end)) = (b.opened_at, finisher.finished_at) else {
        panic!("incomplete run: offerer {a:?} answerer {b:?}");
    };
    let transfer_start = a.opened_at.unwrap_or(b_open);
    (b_open - start, end.saturating_duration_since(transfer_start))
}

fn run_side<E: Endpoint>(
    offerer: bool,
    link: Link,
    total: usize,
    cert: DtlsCert,
    mode: Mode,
    done: &AtomicBool,
) -> Progress {
    let finisher = offerer == (mode != Mode::Bulk);
    let local = link.socket.local_addr().expect("local address");
    link.socket.set_read_timeout(Some(Duration::from_millis(1))).expect("read timeout");
    let mut endpoint = E::start(offerer, &link.socket, Instant::now(), cert, mode);
    let (mut progress, mut sent, mut buf) = (Progress::default(), 0usize, vec![0u8; 2048]);
    while !done.load(Ordering::Relaxed) {
        let now = Instant::now();
        endpoint.flush(&link.socket, &link.signals_out, &mut progress);
        if finisher && progress.opened_at.is_some() && progress.received >= total {
            progress.finished_at = Some(now);
            done.store(true, Ordering::Relaxed);
            break;
        }
        if offerer && progress.opened_at.is_some() && sent < total {
            endpoint.push(&mut sent, total);
            endpoint.flush(&link.socket, &link.signals_out, &mut progress);
        }
        while let Ok(bytes) = link.signals_in.try_recv() {
            endpoint.on_signal(now, &bytes);
        }
        if endpoint.timeout() <= now {
            endpoint.on_timeout(now);
            continue;
        }
        if let Ok((n, from)) = link.socket.recv_from(&mut buf) {
            endpoint.on_datagram(Instant::now(), from, local, &buf[..n]);
        }
    }
    progress
}
