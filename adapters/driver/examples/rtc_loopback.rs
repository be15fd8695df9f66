//! Two `RtcPeer`s over real UDP sockets on 127.0.0.1, then a raw str0m pair
//! with the same tuning, so the cost of the bridge is visible as a ratio.
//!
//! ```text
//! cargo run --release -p actr-driver --example rtc_loopback [MiB, default 100]
//! ```
//!
//! Each peer runs in its own thread with its own socket; signaling travels
//! over an in-process channel. The offerer sends, the answerer counts.
//! Tuning on both sides: 16 KiB data channel writes, no writes while the
//! channel buffers more than 64 KiB, str0m's default 128 KiB send buffer.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use actr_core::transport::LaneKind;
use actr_driver::webrtc::{DtlsCert, RtcEvent, RtcPeer, RtcPeerConfig, RtcSignal, SendError, generate_certificate};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::channel::ChannelId;
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

const WRITE: usize = 16 * 1024;
const HIGH_WATER: usize = 64 * 1024;
const MESSAGE: usize = 1 << 20;

/// What one side saw.
#[derive(Debug, Default, Clone, Copy)]
struct Progress {
    opened_at: Option<Instant>,
    received: usize,
    finished_at: Option<Instant>,
}

/// One side of a pair, driven by [`run_side`].
trait Endpoint: Sized {
    fn start(offerer: bool, socket: &UdpSocket, now: Instant, cert: DtlsCert) -> Self;
    /// Sends datagrams and signals, records events.
    fn flush(&mut self, socket: &UdpSocket, signals: &Sender<Vec<u8>>, now: Instant, progress: &mut Progress);
    fn on_signal(&mut self, now: Instant, bytes: &[u8]);
    fn on_datagram(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, bytes: &[u8]);
    fn on_timeout(&mut self, now: Instant);
    fn timeout(&self) -> Instant;
    /// Writes bulk data while the transport takes it; adds to `sent`.
    fn push(&mut self, sent: &mut usize, total: usize);
}

struct Link {
    socket: UdpSocket,
    signals_out: Sender<Vec<u8>>,
    signals_in: Receiver<Vec<u8>>,
}

fn run_side<E: Endpoint>(offerer: bool, link: Link, total: usize, cert: DtlsCert, done: &AtomicBool) -> Progress {
    let local = link.socket.local_addr().expect("local address");
    link.socket.set_read_timeout(Some(Duration::from_millis(1))).expect("read timeout");
    let mut endpoint = E::start(offerer, &link.socket, Instant::now(), cert);
    let (mut progress, mut sent, mut buf) = (Progress::default(), 0usize, vec![0u8; 2048]);
    while !done.load(Ordering::Relaxed) {
        let now = Instant::now();
        endpoint.flush(&link.socket, &link.signals_out, now, &mut progress);
        if !offerer && progress.received >= total {
            progress.finished_at = Some(now);
            done.store(true, Ordering::Relaxed);
            break;
        }
        if offerer && progress.opened_at.is_some() && sent < total {
            endpoint.push(&mut sent, total);
            endpoint.flush(&link.socket, &link.signals_out, now, &mut progress);
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

/// Runs one pair; returns (connect time, MiB/s).
fn run_pair<E: Endpoint>(mib: usize, cert: &DtlsCert) -> (Duration, f64) {
    let total = mib * MESSAGE;
    let bind = || UdpSocket::bind("127.0.0.1:0").expect("bind");
    let (sa, sb) = (bind(), bind());
    let ((a_tx, b_rx), (b_tx, a_rx)) = (channel(), channel());
    let done = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let spawn = |offerer: bool, link: Link| {
        let (cert, done) = (cert.clone(), done.clone());
        std::thread::spawn(move || run_side::<E>(offerer, link, total, cert, &done))
    };
    let a = spawn(true, Link { socket: sa, signals_out: a_tx, signals_in: a_rx });
    let b = spawn(false, Link { socket: sb, signals_out: b_tx, signals_in: b_rx });
    let (a, b) = (a.join().expect("offerer thread"), b.join().expect("answerer thread"));
    let (Some(a_open), Some(b_open), Some(end)) = (a.opened_at, b.opened_at, b.finished_at) else {
        panic!("incomplete run: offerer {a:?} answerer {b:?}");
    };
    let connect = a_open.max(b_open) - start;
    let mibs = mib as f64 / (end - a_open).as_secs_f64();
    (connect, mibs)
}

/// The bridge under test.
struct BridgePeer {
    peer: RtcPeer,
    message: Vec<u8>,
}

impl Endpoint for BridgePeer {
    fn start(offerer: bool, socket: &UdpSocket, now: Instant, cert: DtlsCert) -> Self {
        let addr = socket.local_addr().expect("local address");
        let config = RtcPeerConfig { certificate: Some(cert), ..Default::default() };
        let peer = if offerer { RtcPeer::offerer(config, addr, now) } else { RtcPeer::answerer(config, addr, now) };
        Self { peer: peer.expect("peer"), message: vec![0xA5; MESSAGE] }
    }

    fn flush(&mut self, socket: &UdpSocket, signals: &Sender<Vec<u8>>, _now: Instant, progress: &mut Progress) {
        while let Some(signal) = self.peer.poll_signal() {
            let _ = signals.send(signal.encode().expect("encode signal"));
        }
        while let Some((to, bytes)) = self.peer.poll_transmit() {
            let _ = socket.send_to(&bytes, to);
        }
        while let Some(event) = self.peer.poll_event() {
            match event {
                RtcEvent::ChannelOpen(LaneKind::Rpc) => progress.opened_at = Some(Instant::now()),
                RtcEvent::Message { bytes, .. } => progress.received += bytes.len(),
                RtcEvent::Disconnected => panic!("peer disconnected"),
                _ => {}
            }
        }
    }

    fn on_signal(&mut self, now: Instant, bytes: &[u8]) {
        let signal = RtcSignal::decode(bytes).expect("decode signal");
        self.peer.handle_signal(now, signal).expect("signal");
    }

    fn on_datagram(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
        if let Err(e) = self.peer.handle_datagram(now, from, to, bytes) {
            eprintln!("datagram: {e}");
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        let _ = self.peer.handle_timeout(now);
    }

    fn timeout(&self) -> Instant {
        self.peer.poll_timeout()
    }

    fn push(&mut self, sent: &mut usize, total: usize) {
        while *sent < total {
            match self.peer.send(LaneKind::Rpc, &self.message) {
                Ok(()) => *sent += MESSAGE,
                Err(SendError::Backpressure { .. }) => return,
                Err(e) => panic!("send: {e}"),
            }
        }
    }
}

/// A minimal raw str0m peer with the same write tuning.
struct RawPeer {
    rtc: Rtc,
    socket: UdpSocket,
    pending: Option<SdpPendingOffer>,
    outbox: Vec<String>,
    channel: Option<ChannelId>,
    chunk: Vec<u8>,
    timeout: Instant,
    progress: Progress,
}

impl RawPeer {
    /// Drains str0m after every mutation; datagrams leave at once.
    fn drain(&mut self) {
        loop {
            match self.rtc.poll_output().expect("poll_output") {
                Output::Timeout(t) => return self.timeout = t,
                Output::Transmit(t) => {
                    let _ = self.socket.send_to(&t.contents, t.destination);
                }
                Output::Event(Event::ChannelOpen(id, _)) => {
                    self.channel = Some(id);
                    self.progress.opened_at = Some(Instant::now());
                }
                Output::Event(Event::ChannelData(d)) => self.progress.received += d.data.len(),
                Output::Event(_) => {}
            }
        }
    }
}

impl Endpoint for RawPeer {
    fn start(offerer: bool, socket: &UdpSocket, now: Instant, cert: DtlsCert) -> Self {
        let addr = socket.local_addr().expect("local address");
        let mut rtc = Rtc::builder().set_dtls_cert(cert).build(now);
        rtc.add_local_candidate(Candidate::host(addr, "udp").expect("candidate"));
        let mut peer = Self {
            rtc,
            socket: socket.try_clone().expect("socket clone"),
            pending: None,
            outbox: Vec::new(),
            channel: None,
            chunk: vec![0x5A; WRITE],
            timeout: now,
            progress: Progress::default(),
        };
        peer.drain();
        if offerer {
            let mut api = peer.rtc.sdp_api();
            api.add_channel("bulk".into());
            let (offer, pending) = api.apply().expect("offer");
            peer.outbox.push(offer.to_sdp_string());
            peer.pending = Some(pending);
            peer.drain();
        }
        peer
    }

    fn flush(&mut self, _socket: &UdpSocket, signals: &Sender<Vec<u8>>, _now: Instant, progress: &mut Progress) {
        for sdp in self.outbox.drain(..) {
            let _ = signals.send(sdp.into_bytes());
        }
        progress.opened_at = self.progress.opened_at;
        progress.received = self.progress.received;
    }

    fn on_signal(&mut self, _now: Instant, bytes: &[u8]) {
        let sdp = String::from_utf8_lossy(bytes);
        match self.pending.take() {
            Some(pending) => {
                let answer = SdpAnswer::from_sdp_string(&sdp).expect("answer");
                self.rtc.sdp_api().accept_answer(pending, answer).expect("accept answer");
            }
            None => {
                let offer = SdpOffer::from_sdp_string(&sdp).expect("offer");
                let answer = self.rtc.sdp_api().accept_offer(offer).expect("accept offer");
                self.outbox.push(answer.to_sdp_string());
            }
        }
        self.drain();
    }

    fn on_datagram(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
        if let Ok(receive) = Receive::new(Protocol::Udp, from, to, bytes) {
            let _ = self.rtc.handle_input(Input::Receive(now, receive));
        }
        self.drain();
    }

    fn on_timeout(&mut self, now: Instant) {
        let _ = self.rtc.handle_input(Input::Timeout(now));
        self.drain();
    }

    fn timeout(&self) -> Instant {
        self.timeout
    }

    fn push(&mut self, sent: &mut usize, total: usize) {
        let Some(id) = self.channel else { return };
        while *sent < total {
            let Some(mut channel) = self.rtc.channel(id) else { return };
            if channel.buffered_amount() > HIGH_WATER || !channel.write(true, &self.chunk).unwrap_or(false) {
                return;
            }
            *sent += WRITE;
            self.drain();
        }
    }
}

fn main() {
    let mib: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100);
    let cert = generate_certificate().expect("certificate");
    let (bridge_connect, bridge_rate) = run_pair::<BridgePeer>(mib, &cert);
    let (raw_connect, raw_rate) = run_pair::<RawPeer>(mib, &cert);
    println!("{mib} MiB over one reliable ordered data channel, 127.0.0.1, two threads");
    println!("{:<14} {:>12} {:>10}", "", "connect ms", "MiB/s");
    println!("{:<14} {:>12.1} {:>10.1}", "RtcPeer", ms(bridge_connect), bridge_rate);
    println!("{:<14} {:>12.1} {:>10.1}", "raw str0m", ms(raw_connect), raw_rate);
    println!("ratio RtcPeer / raw: throughput {:.2}", bridge_rate / raw_rate);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
