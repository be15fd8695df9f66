//! A minimal raw str0m peer with the same write tuning as the bridge.

use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc::Sender;
use std::time::Instant;

use actr_driver::webrtc::DtlsCert;
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::channel::ChannelId;
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

use super::{Endpoint, HIGH_WATER, Mode, PAYLOAD, Progress, WRITE};

pub struct RawPeer {
    rtc: Rtc,
    socket: UdpSocket,
    pending: Option<SdpPendingOffer>,
    outbox: Vec<String>,
    channel: Option<ChannelId>,
    chunk: Vec<u8>,
    timeout: Instant,
    progress: Progress,
    mode: Mode,
    offerer: bool,
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
                Output::Event(Event::ChannelData(d)) => self.on_data(d.id, &d.data),
                Output::Event(_) => {}
            }
        }
    }

    /// Counts bytes (bulk) or messages (echo); the echoing answerer writes
    /// each message back.
    fn on_data(&mut self, id: ChannelId, data: &[u8]) {
        if self.mode == Mode::Bulk {
            self.progress.received += data.len();
            return;
        }
        self.progress.received += 1;
        if !self.offerer
            && let Some(mut channel) = self.rtc.channel(id)
        {
            let _ = channel.write(true, data);
        }
    }

    /// Keeps `window` echo messages outstanding.
    fn push_echo(&mut self, id: ChannelId, window: usize, sent: &mut usize, total: usize) {
        while *sent < total && *sent - self.progress.received < window {
            let Some(mut channel) = self.rtc.channel(id) else { return };
            if !channel.write(true, &self.chunk[..PAYLOAD]).unwrap_or(false) {
                return;
            }
            *sent += 1;
            self.drain();
        }
    }
}

impl Endpoint for RawPeer {
    fn start(offerer: bool, socket: &UdpSocket, now: Instant, cert: DtlsCert, mode: Mode) -> Self {
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
            mode,
            offerer,
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

    fn flush(&mut self, _socket: &UdpSocket, signals: &Sender<Vec<u8>>, progress: &mut Progress) {
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
        if let Mode::Echo { window } = self.mode {
            return self.push_echo(id, window, sent, total);
        }
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
