//! The bridge under test: the driver's sans-IO `RtcPeer`.

use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc::Sender;
use std::time::Instant;

use actr_core::transport::LaneKind;
use actr_driver::webrtc::{DtlsCert, RtcEvent, RtcPeer, RtcPeerConfig, RtcSignal, SendError};

use super::{Endpoint, Mode, Progress};

/// Size of each `RtcPeer::send`; the peer fragments it.
const MESSAGE: usize = 1 << 20;

pub struct BridgePeer {
    peer: RtcPeer,
    message: Vec<u8>,
}

impl Endpoint for BridgePeer {
    /// Bulk only: `mode` is ignored (node-level echo goes through `ActrRef`).
    fn start(offerer: bool, socket: &UdpSocket, now: Instant, cert: DtlsCert, _mode: Mode) -> Self {
        let addr = socket.local_addr().expect("local address");
        let config = RtcPeerConfig { certificate: Some(cert), ..Default::default() };
        let peer = if offerer { RtcPeer::offerer(config, addr, now) } else { RtcPeer::answerer(config, addr, now) };
        Self { peer: peer.expect("peer"), message: vec![0xA5; MESSAGE] }
    }

    fn flush(&mut self, socket: &UdpSocket, signals: &Sender<Vec<u8>>, progress: &mut Progress) {
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
            let len = MESSAGE.min(total - *sent);
            match self.peer.send(LaneKind::Rpc, &self.message[..len]) {
                Ok(()) => *sent += len,
                Err(SendError::Backpressure { .. }) => return,
                Err(e) => panic!("send: {e}"),
            }
        }
    }
}
