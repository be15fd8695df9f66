//! Entry points shared by the fuzz targets and the corpus replay test.
//!
//! Each function takes arbitrary bytes and must never panic; the sequence
//! targets also check invariants against a simple model.

use std::collections::BTreeSet;

use crate::server::{ServerHub, ServerOutput};
use crate::signaling::messages::{ClientMsg, MAX_SIGNALING_FRAME, ServerMsg};
use crate::signaling::{ActorProfile, ClientConfig, ClientTransmit, ServerConfig, SignalingClient};
use crate::time::{Duration, Instant};
use crate::wire::{FrameDecoder, decode_message, encode_message};

/// Decodes bytes as every envelope type; a message that decodes must re-encode
/// to bytes that decode to the same value.
pub fn decode_envelopes(data: &[u8]) {
    if let Ok(msg) = decode_message::<ClientMsg>(data, MAX_SIGNALING_FRAME) {
        let again = encode_message(&msg, usize::MAX).expect("a decoded message re-encodes");
        assert_eq!(decode_message::<ClientMsg>(&again, usize::MAX).ok(), Some(msg));
    }
    if let Ok(msg) = decode_message::<ServerMsg>(data, MAX_SIGNALING_FRAME) {
        let again = encode_message(&msg, usize::MAX).expect("a decoded message re-encodes");
        assert_eq!(decode_message::<ServerMsg>(&again, usize::MAX).ok(), Some(msg));
    }
    let mut frames = FrameDecoder::new(4096);
    frames.push(data);
    for _ in 0..64 {
        match frames.next_frame() {
            Ok(Some(f)) => assert!(f.len() <= 4096),
            Ok(None) | Err(_) => break,
        }
    }
}

/// The AIS key the server target trusts; seeds sign with it (see `examples/seed_corpus.rs`).
pub const FUZZ_AIS_SEED: [u8; 32] = [5; 32];
/// Wall-clock seconds the server target runs at.
pub const FUZZ_UNIX: u64 = 1_000;

/// Splits `data` into chunks: the first byte of each picks an operation.
fn ops(data: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let mut rest = data;
    std::iter::from_fn(move || {
        let (&op, tail) = rest.split_first()?;
        let len = (tail.first().copied().unwrap_or(0) as usize).min(tail.len().saturating_sub(1));
        let chunk = tail.get(1..1 + len).unwrap_or(&[]);
        rest = tail.get(1 + len..).unwrap_or(&[]);
        Some((op, chunk))
    })
}

/// Full-size frames one [`server_sequence`] input may send; each costs about
/// as much as a thousand small ones.
const MAX_BIG_FRAMES: usize = 8;

/// Drives the server hub with connects, frames, disconnects and timeouts;
/// checks that queues stay within their bounds, that its outputs keep the
/// drive loop's promises (one `Close` per open connection, no `Wake` for a
/// closed or unknown one), and that nothing panics.
///
/// Each op (see `ops`): the low two bits pick connect, frame, disconnect or
/// timeout, bit 2 pops every woken or closed queue afterwards (else the
/// bytes stay queued), the high nibble names the connection. A closed
/// connection stays until a disconnect op reports it gone. A frame op with
/// bit 3 set sends a frame of up to a little over [`MAX_SIGNALING_FRAME`]
/// built from its chunk by `big_server_frame`, at most `MAX_BIG_FRAMES` per
/// input; past that it sends the chunk as it is.
pub fn server_sequence(data: &[u8]) {
    // Queues hold one full-size frame and some small ones: a large relay can
    // be delivered, and two of them undrained overflow the byte bound.
    let config = ServerConfig {
        max_connections: 4,
        max_queue_messages: 8,
        max_queue_bytes: MAX_SIGNALING_FRAME + 4096,
        ..Default::default()
    };
    let ais = crate::ais::AisService::new(FUZZ_AIS_SEED, 1, 1, crate::ais::AisConfig::default());
    let mut hub = ServerHub::new(ais, config, [5; 32]);
    // The model: sockets the host holds, and those the hub asked to close.
    let mut open = BTreeSet::new();
    let mut closed = BTreeSet::new();
    let mut now = Instant::ZERO;
    let mut big_frames = 0;
    for (op, chunk) in ops(data) {
        let conn = u64::from(op >> 4);
        match op & 0x3 {
            0 => {
                if hub.handle_connect(now, conn).is_ok() {
                    assert!(open.insert(conn), "an open id is accepted twice");
                }
            }
            1 if op & 0x8 != 0 && big_frames < MAX_BIG_FRAMES => {
                big_frames += 1;
                hub.handle_frame(now, FUZZ_UNIX, conn, &big_server_frame(chunk));
            }
            1 => hub.handle_frame(now, FUZZ_UNIX, conn, chunk),
            2 => {
                hub.handle_disconnect(now, conn);
                open.remove(&conn);
                closed.remove(&conn);
            }
            _ => {
                now = now + Duration::from_secs(u64::from(chunk.first().copied().unwrap_or(1)));
                hub.handle_timeout(now);
            }
        }
        while let Some(output) = hub.poll_output() {
            let c = match output {
                ServerOutput::Close(c, _) => {
                    assert!(open.contains(&c) && closed.insert(c), "one close per open connection");
                    c
                }
                ServerOutput::Wake(c) => {
                    assert!(open.contains(&c) && !closed.contains(&c), "a wake for a closed or unknown connection");
                    c
                }
            };
            if op & 0x4 != 0 {
                while hub.pop_outbound(c).is_some() {}
            }
        }
        assert_eq!(hub.signaling().connection_count(), open.len());
        assert!(open.len() <= config.max_connections);
        assert!(hub.signaling().queued_bytes() <= config.max_queue_bytes * config.max_connections);
    }
}

/// A large frame for [`server_sequence`] from a chunk laid out as
/// `pick: u8 | size: u24 LE | message`, where `size` is taken modulo
/// `MAX_SIGNALING_FRAME + 1025` so both sides of the limit are reachable.
///
/// When the message decodes as a [`ClientMsg`], one field is grown to `size`
/// bytes and it is re-encoded: a relay's payload (up to and past
/// `MAX_RELAY_PAYLOAD`), a discovery's manufacturer, or by `pick` a hello's
/// service description (the hello still verifies), its ws_address, or the
/// credential's signature. Anything else is repeated to `size` bytes.
fn big_server_frame(chunk: &[u8]) -> Vec<u8> {
    use crate::signaling::messages::{ClientBody, ClientRequest};
    let mut head = [0u8; 4];
    let n = chunk.len().min(4);
    head[..n].copy_from_slice(&chunk[..n]);
    let [pick, s0, s1, s2] = head;
    let size = u32::from_le_bytes([s0, s1, s2, 0]) as usize % (MAX_SIGNALING_FRAME + 1025);
    let body = &chunk[n..];
    let Ok(mut msg) = decode_message::<ClientMsg>(body, MAX_SIGNALING_FRAME) else {
        return body.iter().copied().cycle().take(size).collect();
    };
    let text = || char::from(b'a' + pick % 26).to_string().repeat(size);
    match &mut msg {
        ClientMsg::Signed {
            body: ClientBody::Request { request: ClientRequest::Relay { payload, .. }, .. }, ..
        } => payload.resize(size, pick),
        ClientMsg::Signed {
            body: ClientBody::Request { request: ClientRequest::Discover { manufacturer, .. }, .. },
            ..
        } => *manufacturer = Some(text()),
        ClientMsg::Hello { profile, .. } if pick % 3 == 0 => {
            profile.service.get_or_insert_with(Default::default).description = Some(text());
        }
        ClientMsg::Hello { profile, .. } if pick % 3 == 1 => profile.ws_address = Some(text()),
        ClientMsg::Hello { credential, .. } | ClientMsg::Signed { credential, .. } => {
            credential.signature.resize(size, pick);
        }
    }
    encode_message(&msg, usize::MAX).unwrap_or_default()
}

/// Drives a client with arbitrary server frames, connection events and
/// timeouts; checks the pending table and output queues stay bounded.
pub fn client_sequence(data: &[u8]) {
    let config = ClientConfig { max_pending: 8, max_events: 64, max_transmits: 64, ..Default::default() };
    let host_key = crate::proof::HostKey::from_seed([6; 32]);
    let mut client = SignalingClient::new(config, 7, ActorProfile::default(), host_key);
    let actor: crate::ActrId = "1@1/fz:node:1".parse().expect("valid id");
    let cred = crate::credential::Credential { key_id: 1, claims: vec![], signature: vec![] };
    let mut now = Instant::ZERO;
    client.set_identity(now, 1_000, actor, cred, 10_000);
    let _ = client.start(now);
    let mut conn = 0;
    for (op, chunk) in ops(data) {
        match op % 6 {
            0 => client.handle_connected(now, conn),
            1 => client.handle_frame(now, conn, chunk),
            2 => client.handle_closed(now, conn),
            3 => {
                now = now + Duration::from_millis(u64::from(chunk.first().copied().unwrap_or(1)) * 100);
                client.handle_timeout(now);
            }
            4 => {
                let _ = client.request(now, crate::signaling::ClientRequest::Ping);
            }
            _ => {
                let _ = client.request(now, crate::signaling::ClientRequest::Discover { manufacturer: None, limit: 5 });
            }
        }
        while let Some(t) = client.poll_transmit() {
            if let ClientTransmit::Connect { conn: c } = t {
                conn = c;
            }
        }
        let mut events = 0;
        while client.poll_event().is_some() {
            events += 1;
        }
        assert!(events <= config.max_events);
        assert!(client.pending_requests() <= config.max_pending);
    }
}

/// Decodes bytes as an RPC envelope; one that decodes re-encodes identically.
pub fn rpc_envelope_decode(data: &[u8]) {
    use crate::transport::RpcEnvelope;
    if let Ok(env) = RpcEnvelope::decode(data) {
        let again = env.encode().expect("a decoded envelope re-encodes");
        assert_eq!(RpcEnvelope::decode(&again).ok(), Some(env));
    }
}

/// Checks reassembly against a model: messages split by a [`Fragmenter`](crate::transport::Fragmenter),
/// delivered in an order, with duplicates and losses chosen by `data`, plus
/// raw garbage fragments. Every message whose fragments all arrive comes out
/// intact, nothing else comes out, and buffered bytes stay within the bound.
pub fn reassembly_sequence(data: &[u8]) {
    use crate::transport::{Fragmenter, Reassembler, ReassemblyConfig};
    let Some((&sizes_seed, rest)) = data.split_first() else { return };
    let config =
        ReassemblyConfig { max_message: 4096, max_partial: 4, max_buffered: 8192, timeout: Duration::from_secs(5) };
    let mut fragmenter = Fragmenter::new(24, config.max_message).expect("valid sizes");
    let mut reassembler = Reassembler::new(config);
    let messages: Vec<Vec<u8>> = (0..3u8)
        .map(|m| (0..(usize::from(sizes_seed) * (usize::from(m) + 1)) % 200).map(|i| i as u8 ^ m).collect())
        .collect();
    let mut frags: Vec<(usize, Vec<u8>)> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        frags.extend(fragmenter.split(m).expect("fits").map(|f| (i, f)));
    }
    let mut delivered = vec![0usize; frags.len()];
    let mut now = Instant::ZERO;
    let mut out = Vec::new();
    for (step, &b) in rest.iter().enumerate() {
        if b == 0xff {
            // Garbage fragment built from the following bytes.
            let junk = rest.get(step + 1..(step + 12).min(rest.len())).unwrap_or(&[]);
            let _ = reassembler.push(now, junk);
            continue;
        }
        if b == 0xfe {
            now = now + Duration::from_secs(6);
            reassembler.handle_timeout(now);
            continue;
        }
        let idx = usize::from(b) % frags.len().max(1);
        if let Some((_, f)) = frags.get(idx) {
            delivered[idx] += 1;
            if let Ok(Some(m)) = reassembler.push(now, f) {
                out.push(m);
            }
        }
        assert!(reassembler.buffered_bytes() <= config.max_buffered);
        assert!(reassembler.partial_messages() <= config.max_partial);
    }
    for m in &out {
        assert!(m.is_empty() || messages.contains(m), "reassembled bytes are one of the messages sent");
    }
}

/// What the stream model knows about one stream id.
#[derive(Debug, Default, Clone, Copy)]
struct ModelStream {
    /// Every sequence number below this was delivered or skipped, in order.
    next: u64,
    closed: bool,
    policy: Option<crate::transport::DeliveryPolicy>,
}

/// Payload byte of chunk `seq` of stream `id`, so delivered bytes can be checked.
fn model_byte(id: u64, seq: u64) -> u8 {
    (seq as u8) ^ (id as u8).wrapping_mul(37)
}

/// Feeds a [`StreamReceiver`](crate::transport::StreamReceiver) arbitrary
/// arrivals (any order, duplicates, losses, wrong policies, bogus ends),
/// timeouts and closes, and checks every event against a model: per stream,
/// delivered chunks and skipped gaps tile the sequence numbers from 0 with
/// no overlap (so delivery is strictly increasing and nothing comes twice),
/// delivered bytes are what was sent, nothing follows the end or a failure,
/// reliable streams never skip, and every bound holds.
pub fn stream_sequence(data: &[u8]) {
    use crate::transport::{Arrival, DataChunk, DeliveryPolicy, StreamConfig, StreamReceiver};
    let Some((&setup, rest)) = data.split_first() else { return };
    let config = StreamConfig {
        window: 1 + u64::from(setup % 16),
        max_streams: 3,
        max_buffered_bytes: 40,
        max_chunk_payload: 5,
        max_events: 32,
        max_closed: 16,
        latency_gap_timeout: Duration::from_millis(100),
        reliable_gap_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_secs(1),
    };
    let mut receiver = StreamReceiver::new(config).expect("valid config");
    let mut model = [ModelStream::default(); 4];
    let mut sent = std::collections::BTreeSet::new();
    let mut now = Instant::ZERO;
    for pair in rest.chunks_exact(2) {
        let (op, arg) = (pair[0], pair[1]);
        let id = u64::from((op >> 2) & 0x3);
        match op & 0x3 {
            0 | 1 => {
                let home = if id & 1 == 0 { DeliveryPolicy::Reliable } else { DeliveryPolicy::LatencyFirst };
                let flip = op & 0x60 == 0x60;
                let policy = match (home, flip) {
                    (DeliveryPolicy::Reliable, true) => DeliveryPolicy::LatencyFirst,
                    (DeliveryPolicy::LatencyFirst, true) => DeliveryPolicy::Reliable,
                    (p, false) => p,
                };
                let seq = u64::from(arg);
                let len = usize::from(op >> 5);
                let end = op & 0x10 != 0;
                sent.insert((id, seq));
                let chunk = DataChunk { stream_id: id, sequence: seq, payload: vec![model_byte(id, seq); len], end };
                // A duplicate may be for a closed stream, whose policy is forgotten.
                if let Ok(Arrival::Delivered | Arrival::Buffered) = receiver.handle_chunk(now, policy, chunk) {
                    let known = model[id as usize].policy.get_or_insert(policy);
                    assert_eq!(*known, policy, "an accepted chunk has its stream's policy");
                }
            }
            2 => {
                now = now + Duration::from_millis(u64::from(arg) * 10);
                receiver.handle_timeout(now);
                assert!(receiver.poll_timeout().is_none_or(|t| t > now), "every due timer was handled");
            }
            _ => {
                check_stream_events(&mut receiver, &mut model, &sent);
                if op & 0x4 != 0 && receiver.close_stream(id) {
                    model[id as usize].closed = true;
                }
            }
        }
        if op & 0x80 == 0 {
            check_stream_events(&mut receiver, &mut model, &sent);
        }
        assert!(receiver.open_streams() <= config.max_streams);
        assert!(receiver.buffered_bytes() <= config.max_buffered_bytes);
        assert!(receiver.pending_events() <= config.max_events + config.max_streams + config.window as usize);
        assert!(receiver.open_streams() > 0 || receiver.buffered_bytes() == 0);
    }
}

/// Drains the receiver's events, checking each against the model.
fn check_stream_events(
    receiver: &mut crate::transport::StreamReceiver,
    model: &mut [ModelStream; 4],
    sent: &std::collections::BTreeSet<(u64, u64)>,
) {
    use crate::transport::{DeliveryPolicy, StreamError, StreamEvent};
    while let Some(event) = receiver.poll_event() {
        match event {
            StreamEvent::Chunk(c) => {
                let m = &mut model[c.stream_id as usize];
                assert!(!m.closed, "nothing is delivered after the end or a failure");
                assert_eq!(c.sequence, m.next, "chunks come in order, each once");
                assert!(sent.contains(&(c.stream_id, c.sequence)), "only sent chunks are delivered");
                assert!(c.payload.iter().all(|&b| b == model_byte(c.stream_id, c.sequence)));
                m.next = c.sequence + 1;
                m.closed = c.end;
            }
            StreamEvent::Gap { stream_id, missing } => {
                let m = &mut model[stream_id as usize];
                assert!(
                    !m.closed && m.policy != Some(DeliveryPolicy::Reliable),
                    "only open latency-first streams skip"
                );
                assert!(missing.start == m.next && missing.end > missing.start, "a gap starts where delivery stopped");
                m.next = missing.end;
            }
            StreamEvent::Failed { stream_id, error } => {
                let m = &mut model[stream_id as usize];
                assert!(!m.closed, "a stream fails at most once");
                if matches!(error, StreamError::GapTimeout { .. }) {
                    assert_ne!(m.policy, Some(DeliveryPolicy::LatencyFirst), "latency-first gaps are skipped");
                }
                m.closed = true;
            }
        }
    }
}

/// Drives an RPC endpoint with arbitrary inbound bytes from a few peers,
/// calls, send failures and timeouts. Checks: a call resolves at most once,
/// only calls that were made resolve, and the pending table stays bounded.
pub fn endpoint_sequence(data: &[u8]) {
    use crate::error::ActrError;
    use crate::transport::{EndpointConfig, EndpointEvent, RpcEndpoint, RpcEnvelope};
    let config = EndpointConfig { max_pending_calls: 8, max_outbound: 16, max_events: 32, ..Default::default() };
    let me: crate::ActrId = "1@1/fz:me:1".parse().expect("valid id");
    let peers: [crate::ActrId; 2] =
        ["2@1/fz:peer:1".parse().expect("valid id"), "3@2/fz:peer:1".parse().expect("valid id")];
    let mut ep = RpcEndpoint::new(config, 11, &me, None);
    let mut now = Instant::ZERO;
    let mut made = std::collections::BTreeSet::new();
    let mut resolved = std::collections::BTreeSet::new();
    let mut sent: Vec<RpcEnvelope> = Vec::new();
    for (op, chunk) in ops(data) {
        let peer = &peers[usize::from(op >> 7)];
        match op % 6 {
            0 => {
                if let Ok(id) = ep.call(now, peer.clone(), "fz.Svc.M", chunk.to_vec(), Duration::from_secs(3), None) {
                    made.insert(id);
                }
            }
            1 => ep.handle_inbound(now, peer, chunk),
            2 => {
                // Answer (or re-answer) a request we sent, from the peer given by the op.
                if let Some(req) = sent.get(usize::from(chunk.first().copied().unwrap_or(0)) % sent.len().max(1))
                    && let Ok(bytes) = req.respond(Ok(chunk.to_vec())).encode()
                {
                    ep.handle_inbound(now, peer, &bytes);
                }
            }
            3 => {
                now = now + Duration::from_millis(u64::from(chunk.first().copied().unwrap_or(1)) * 50);
                ep.handle_timeout(now);
            }
            4 => {
                if let Some(out) = ep.poll_outbound() {
                    ep.handle_send_failed(now, out, ActrError::Unavailable("fuzz".into()));
                }
            }
            _ => {
                let _ = ep.tell(peer.clone(), "fz.Svc.T", chunk.to_vec(), None);
            }
        }
        while let Some(out) = ep.poll_outbound() {
            if let Ok(env) = RpcEnvelope::decode(&out.bytes)
                && sent.len() < 64
            {
                sent.push(env);
            }
        }
        while let Some(ev) = ep.poll_event() {
            if let EndpointEvent::CallDone { request_id, .. } = ev {
                assert!(made.contains(&request_id), "only calls that were made resolve");
                assert!(resolved.insert(request_id), "a call resolves at most once");
            }
        }
        assert!(ep.pending_calls() <= config.max_pending_calls);
    }
}

/// Drives a registered [`crate::node::NodeHub`] with inputs in any order:
/// accepted links with garbage, valid and forged hellos, frames, closes,
/// calls, WebRTC reports and relayed signals, network changes, handler
/// answers and timers. Checks that every call resolves at most once and
/// only if it was made, that the in-flight budget holds, and that nothing
/// panics.
pub fn node_sequence(data: &[u8]) {
    use crate::ais::{AisConfig, AisReply, AisRequest, AisService, RegisterRequest};
    use crate::node::hello::{DirectHello, LinkNonces};
    use crate::node::signal::{RelaySignal, RtcSignal, SignalProof};
    use crate::node::{HubConfig, NetworkChange, NodeHub, RtcReport};
    use crate::proof::{HostKey, Statement, sdp_fingerprints};

    let mut ais = AisService::new(FUZZ_AIS_SEED, 1, 1, AisConfig::default());
    let request =
        |name: &str| RegisterRequest::new(format!("fz:{name}:1").parse().expect("valid type"), crate::Realm(1), None);
    let peer_key = HostKey::from_seed([21; 32]);
    let thief_key = HostKey::from_seed([22; 32]);
    let mut peer_request = request("peer");
    peer_request.sign(&peer_key);
    let AisReply::Registered(peer) = ais.handle(FUZZ_UNIX, AisRequest::Register(peer_request)) else { return };
    let mut config = HubConfig::new(request("me"));
    config.max_in_flight = 4;
    config.max_in_flight_per_peer = 2;
    config.max_parked = 4;
    config.max_handshaking = 4;
    let mut hub = NodeHub::new(config, HostKey::from_seed([20; 32]), 7, FUZZ_UNIX);
    let mut now = Instant::ZERO;
    let mut seen = NodeSeen::default();
    hub.start(now);
    seen.step(&mut hub, &mut ais, now);
    hub.open(now);
    let me = hub.id().cloned();
    assert!(me.is_some(), "the hub registered before the first op");
    for (op, chunk) in ops(data) {
        let pick = |v: usize| usize::from(chunk.first().copied().unwrap_or(0)) % v.max(1);
        match op % 12 {
            0 => {
                if let Ok(link) = hub.handle_link_accepted(now, core::net::IpAddr::from([10, 0, 0, op >> 6])) {
                    seen.links.push(link);
                    if op & 0x20 == 0 {
                        hub.handle_link_up(now, link);
                    }
                }
            }
            1 => {
                if let Some(&link) = seen.links.get(pick(seen.links.len())) {
                    hub.handle_link_message(now, link, chunk.get(1..).unwrap_or(&[]));
                }
            }
            2 => {
                // A hello answering the link's challenge: by the peer's own
                // key, or by a thief's with the peer's credential.
                let target = if op & 0x80 == 0 { me.clone() } else { Some(peer.actor.clone()) };
                if let (Some(&link), Some(target)) = (seen.links.get(pick(seen.links.len())), target) {
                    let listener = seen.challenges.get(&link).copied().unwrap_or([0; 32]);
                    let nonces = LinkNonces { listener, dialer: [op; 32] };
                    let key = if op & 0x40 == 0 { &peer_key } else { &thief_key };
                    let hello = DirectHello::signed(&peer.actor, &peer.credential, &target, nonces, key);
                    if let Ok(bytes) = hello.encode() {
                        hub.handle_link_message(now, link, &bytes);
                    }
                }
            }
            3 => {
                if let Some(&link) = seen.links.get(pick(seen.links.len())) {
                    hub.handle_link_closed(now, link, crate::ActrError::Unavailable("fuzz".into()));
                }
            }
            4 => {
                let timeout = Duration::from_millis(200 + 100 * u64::from(op >> 4));
                if let Ok(call) = hub.call(now, peer.actor.clone(), "fz.Svc.M", chunk.to_vec(), timeout, None) {
                    seen.made.insert(call.0);
                }
            }
            5 => {
                if let Some(&rtc) = seen.rtcs.get(pick(seen.rtcs.len())) {
                    let report = match op >> 5 {
                        0 => RtcReport::RpcOpen,
                        1 => RtcReport::ConnectivityLost,
                        2 => RtcReport::Recovering,
                        3 => RtcReport::Recovered,
                        4 => RtcReport::RpcClosed,
                        5 => RtcReport::Message(chunk.to_vec()),
                        6 => RtcReport::SignalOut(RtcSignal::Candidate { candidate: "candidate:fz".into() }),
                        _ => RtcReport::Ended(crate::ActrError::Unavailable("fuzz".into())),
                    };
                    hub.handle_rtc_report(now, rtc, report);
                }
            }
            6 => {
                let change = [NetworkChange::Lost, NetworkChange::Available, NetworkChange::TypeChanged];
                hub.handle_network_change(now, change[usize::from(op >> 4) % 3]);
            }
            7 => {
                now = now + Duration::from_millis(u64::from(chunk.first().copied().unwrap_or(1)) * 100);
                hub.handle_timeout(now);
            }
            8 => {
                if let (Some(&conn), Some(me)) = (seen.conns.last(), &me) {
                    hub.handle_signaling_connected(now, conn);
                    let challenge = ServerMsg::Challenge { nonce: [op; 32] };
                    if let Ok(bytes) = encode_message(&challenge, MAX_SIGNALING_FRAME) {
                        hub.handle_signaling_frame(now, conn, &bytes);
                    }
                    let welcome = ServerMsg::Welcome { actor: me.clone(), heartbeat_interval_ms: 10_000 };
                    if let Ok(bytes) = encode_message(&welcome, MAX_SIGNALING_FRAME) {
                        hub.handle_signaling_frame(now, conn, &bytes);
                    }
                }
            }
            9 => {
                if let Some(&conn) = seen.conns.last() {
                    let exchange_id = u64::from(op >> 4) << 32 | 1;
                    let signal = match op >> 6 {
                        0 => RtcSignal::Offer { sdp: String::from_utf8_lossy(chunk).into(), exchange_id },
                        1 => RtcSignal::IceRestartRequest,
                        2 => RtcSignal::Answer { sdp: "v=0".into(), exchange_id },
                        _ => RtcSignal::Candidate { candidate: "candidate:fz".into() },
                    };
                    // Offers and answers signed by the peer, by a thief, or not at all.
                    let proof = signal.sdp().filter(|_| op & 0x8 == 0).map(|(sdp, exchange_id)| {
                        let fingerprints = sdp_fingerprints(sdp);
                        let (from, to) = (&peer.actor, me.as_ref().unwrap_or(&peer.actor));
                        let statement =
                            Statement::RtcFingerprint { from, to, exchange_id, fingerprints: &fingerprints };
                        let key = if op & 0x4 == 0 { &peer_key } else { &thief_key };
                        SignalProof { credential: peer.credential.clone(), signature: key.sign(&statement) }
                    });
                    let Ok(payload) = (RelaySignal { signal, proof }).encode() else { continue };
                    let relay = ServerMsg::Relay { source: peer.actor.clone(), payload };
                    if let Ok(bytes) = encode_message(&relay, MAX_SIGNALING_FRAME) {
                        hub.handle_signaling_frame(now, conn, &bytes);
                    }
                }
            }
            10 => {
                if !seen.deliveries.is_empty() {
                    let id = seen.deliveries.swap_remove(pick(seen.deliveries.len()));
                    hub.respond(now, id, Ok(chunk.to_vec()));
                }
            }
            _ => {
                if let Some(&conn) = seen.conns.last() {
                    hub.handle_signaling_frame(now, conn, chunk);
                }
            }
        }
        seen.step(&mut hub, &mut ais, now);
        assert!(hub.in_flight() <= 4, "the in-flight budget holds");
    }
    hub.stop(now);
    seen.step(&mut hub, &mut ais, now);
    assert!(seen.made.iter().all(|id| seen.resolved.contains(id)), "stopping resolves every call");
}

/// What [`node_sequence`] saw of its hub's outputs.
#[derive(Default)]
struct NodeSeen {
    links: Vec<crate::node::LinkId>,
    rtcs: Vec<crate::node::RtcId>,
    deliveries: Vec<crate::node::DeliveryId>,
    conns: Vec<crate::signaling::ConnId>,
    /// The challenge each accepted link sent.
    challenges: std::collections::BTreeMap<crate::node::LinkId, crate::proof::Nonce>,
    made: std::collections::BTreeSet<u64>,
    resolved: std::collections::BTreeSet<u64>,
}

impl NodeSeen {
    /// Drains the hub, answering AIS calls and checking call outcomes.
    fn step(&mut self, hub: &mut crate::node::NodeHub, ais: &mut crate::ais::AisService, now: Instant) {
        use crate::node::{LinkOutput, NodeOutput, RtcOutput};
        while let Some(out) = hub.poll_output() {
            match out {
                NodeOutput::Ais(call) => {
                    let reply = ais.handle(FUZZ_UNIX + now.as_micros() / 1_000_000, call.request);
                    hub.handle_ais_reply(now, call.id, Ok(reply));
                }
                NodeOutput::Signaling(ClientTransmit::Connect { conn }) => self.conns.push(conn),
                NodeOutput::Link(LinkOutput::Dial { link, .. }) => self.links.push(link),
                NodeOutput::Link(LinkOutput::Send { link, bytes }) => {
                    if let Ok(challenge) = crate::node::hello::DirectChallenge::decode(&bytes) {
                        self.challenges.insert(link, challenge.nonce);
                    }
                }
                NodeOutput::Rtc(RtcOutput::Open { rtc, .. }) => self.rtcs.push(rtc),
                NodeOutput::Deliver(d) if self.deliveries.len() < 64 => self.deliveries.push(d.id),
                NodeOutput::CallDone { call, .. } => {
                    assert!(self.made.contains(&call.0), "a call nobody made resolved");
                    assert!(self.resolved.insert(call.0), "a call resolved twice");
                }
                _ => {}
            }
        }
    }
}

/// The package every [`package_verify`] mutation starts from, and its key.
fn sample_package() -> &'static (Vec<u8>, ed25519_dalek::VerifyingKey) {
    static SAMPLE: std::sync::OnceLock<(Vec<u8>, ed25519_dalek::VerifyingKey)> = std::sync::OnceLock::new();
    SAMPLE.get_or_init(|| {
        use crate::package::{PackageSpec, pack};
        let key = ed25519_dalek::SigningKey::from_bytes(&[42u8; 32]);
        let mut spec =
            PackageSpec::new(crate::ActrType::new("acme", "echo", "1.0.0").expect("valid"), "wasm32-unknown-unknown");
        spec.resource_paths = vec!["resources/a.txt".into()];
        let resources = vec![("resources/a.txt".to_owned(), b"resource".to_vec())];
        let bytes = pack(&spec.into_manifest(), &[7u8; 300], &resources, &key, &mut |_| {}).expect("packs");
        (bytes, key.verifying_key())
    })
}

/// Package verification under small limits. First byte 0: the rest is the
/// archive. Otherwise the rest is `(offset u16 LE, xor u8)` edits applied to a
/// good package: whatever still verifies must say exactly what the original
/// said (same signed manifest, same binary hash), or tampering went unseen.
pub fn package_verify(data: &[u8]) {
    use crate::package::{PackageLimits, verify};
    let limits = PackageLimits { max_entry_bytes: 1 << 16, max_total_bytes: 1 << 17, max_entries: 16 };
    let (good, key) = sample_package();
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode == 0 {
        if let Ok(v) = verify(rest, key, &limits) {
            assert!(v.checked.bytes <= limits.max_total_bytes);
        }
        return;
    }
    let original = verify(good, key, &limits).expect("the sample verifies");
    let mut bytes = good.clone();
    for edit in rest.chunks_exact(3) {
        let at = usize::from(u16::from_le_bytes([edit[0], edit[1]])) % bytes.len();
        bytes[at] ^= edit[2];
    }
    if let Ok(v) = verify(&bytes, key, &limits) {
        assert_eq!(v.manifest_raw, original.manifest_raw, "a changed manifest verified");
        assert_eq!(v.binary_hash, original.binary_hash, "a changed binary verified");
    }
}

/// Manifest parsing: a manifest that parses serialises to text that parses
/// back to the same value, and its checks never panic.
pub fn manifest_parse(data: &[u8]) {
    let Ok(m) = crate::package::Manifest::parse(data) else { return };
    let _ = m.check_integrity_fields();
    let _ = m.acl();
    let _ = m.service_spec();
    let again = crate::package::Manifest::parse(m.to_toml().as_bytes()).expect("serialised manifest parses");
    assert_eq!(again, m);
}
