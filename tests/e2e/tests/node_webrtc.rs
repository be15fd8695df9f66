//! Two nodes over WebRTC (str0m on real loopback UDP sockets), negotiated
//! through `actr serve`'s signaling relay: calls both ways on the WebRTC
//! wire alone, a reliable data stream compared by SHA-256 (size from
//! `ACTR_E2E_STREAM_MIB`; 100 MiB by default),
//! a latency-first stream on the stream lane, media samples on an audio track, and a cut WebRTC path that falls back to the WebSocket direct link and
//! then recovers with an ICE restart. Each scenario runs under tokio
//! and smol. Nothing sleeps: every wait is a call or an event with a deadline.

use std::time::{Duration, Instant};

use actr_core::transport::DeliveryPolicy;
use actr_driver::bytes::Bytes;
use actr_driver::{ActrRef, HyperConfig, RpcStats, Runtime};
use actr_e2e::actors::{TestActor, node_config, start_actor};
use actr_e2e::{TempDir, WAIT, base_url, on_smol, on_tokio, serve};

/// Bound on ICE noticing a dead path, and on recovering after it heals.
const ICE_WAIT: Duration = Duration::from_secs(45);
/// The deadline of each probing call while the path may be dead.
const PROBE: Duration = Duration::from_secs(1);

#[test]
fn rpc_goes_over_webrtc_on_tokio() {
    on_tokio(rpc_goes_over_webrtc);
}

#[test]
fn rpc_goes_over_webrtc_on_smol() {
    on_smol(rpc_goes_over_webrtc);
}

#[test]
fn reliable_stream_arrives_intact_on_tokio() {
    on_tokio(reliable_stream_arrives_intact);
}

#[test]
fn reliable_stream_arrives_intact_on_smol() {
    on_smol(reliable_stream_arrives_intact);
}

#[test]
fn latency_first_stream_uses_the_stream_lane_on_tokio() {
    on_tokio(latency_first_stream_uses_the_stream_lane);
}

#[test]
fn latency_first_stream_uses_the_stream_lane_on_smol() {
    on_smol(latency_first_stream_uses_the_stream_lane);
}

#[test]
fn media_samples_reach_the_handler_on_tokio() {
    on_tokio(media_samples_reach_the_handler);
}

#[test]
fn media_samples_reach_the_handler_on_smol() {
    on_smol(media_samples_reach_the_handler);
}

#[test]
fn network_change_falls_back_then_recovers_on_tokio() {
    on_tokio(network_change_falls_back_then_recovers);
}

#[test]
fn network_change_falls_back_then_recovers_on_smol() {
    on_smol(network_change_falls_back_then_recovers);
}

#[test]
#[ignore = "ICE takes about 20 s to notice a dead path; run with --ignored"]
fn cut_path_falls_back_then_recovers_on_tokio() {
    on_tokio(cut_path_falls_back_then_recovers);
}

#[test]
#[ignore = "ICE takes about 20 s to notice a dead path; run with --ignored"]
fn cut_path_falls_back_then_recovers_on_smol() {
    on_smol(cut_path_falls_back_then_recovers);
}

/// A node with WebRTC and no WebSocket listener (`direct` false), so a call
/// that succeeds between two such nodes went over WebRTC.
fn config(url: &str, seed: u64, direct: bool) -> HyperConfig {
    let mut config = node_config(url, seed, false)
        .with_network_debounce(Duration::from_millis(200))
        .with_webrtc_recovery_timeout(Duration::from_secs(60));
    if !direct {
        config = config.without_ws_listen();
    }
    config
}

async fn stats(node: &ActrRef) -> RpcStats {
    node.stats().await.expect("stats")
}

async fn rpc_goes_over_webrtc<R: Runtime>(rt: R) {
    let dir = TempDir::new("webrtc-rpc");
    let server = serve(&dir);
    let url = base_url(&server);
    let alpha = start_actor(&rt, config(&url, 41, false), TestActor::new("alpha").0).await;
    let beta = start_actor(&rt, config(&url, 42, false), TestActor::new("beta").0).await;

    let big: Vec<u8> = (0..1u32 << 20).map(|i| (i % 253) as u8).collect();
    let reply = alpha.call(beta.id().clone(), "echo", big.clone(), WAIT).await.expect("call over webrtc");
    assert!(reply == big, "1 MiB came back intact");
    let back = beta.call(alpha.id().clone(), "echo", &b"back"[..], WAIT).await.expect("call back");
    assert_eq!(back, Bytes::from_static(b"back"));
    for i in 0..20u32 {
        let n = alpha.call(beta.id().clone(), "echo", i.to_be_bytes().to_vec(), WAIT).await.unwrap();
        assert_eq!(n, Bytes::from(i.to_be_bytes().to_vec()));
    }

    let (a, b) = (stats(&alpha).await, stats(&beta).await);
    assert_eq!((a.dialed, a.accepted, b.dialed, b.accepted), (0, 0, 0, 0), "no direct link: {a:?}");
    assert_eq!(a.webrtc_connections_up, 1, "one connection, reused both ways: {a:?}");
    assert_eq!(b.webrtc_connections_up, 1, "{b:?}");
    assert_eq!(a.webrtc_sent, 22, "21 calls and 1 response: {a:?}");
    assert_eq!(b.webrtc_received, 22, "{b:?}");
    assert_eq!(b.endpoint.dispatched, 21);
    alpha.shutdown().await;
    beta.shutdown().await;
    server.stop();
}

/// Calls `alpha` → `beta` with `PROBE` deadlines until `done` holds for
/// alpha's stats after a successful call; panics after `limit`.
async fn probe_until(alpha: &ActrRef, beta: &ActrRef, limit: Duration, what: &str, done: impl Fn(&RpcStats) -> bool) {
    let start = Instant::now();
    loop {
        let call = alpha.call(beta.id().clone(), "echo", &b"probe"[..], PROBE).await;
        let ok = call.is_ok();
        let now = stats(alpha).await;
        if ok && done(&now) {
            return;
        }
        assert!(start.elapsed() < limit, "{what} not reached within {limit:?}: {now:?}");
    }
}

async fn cut_path_falls_back_then_recovers<R: Runtime>(rt: R) {
    let dir = TempDir::new("webrtc-cut");
    let server = serve(&dir);
    let url = base_url(&server);
    let alpha = start_actor(&rt, config(&url, 43, true), TestActor::new("alpha").0).await;
    let beta = start_actor(&rt, config(&url, 44, true), TestActor::new("beta").0).await;

    // Both wires start at the first call; WebRTC takes over once it is up.
    probe_until(&alpha, &beta, WAIT, "webrtc carrying calls", |s| s.webrtc_sent > 0).await;

    beta.debug_cut_webrtc(true);
    probe_until(&alpha, &beta, ICE_WAIT, "ice noticing the cut", |s| s.ice_disconnects > 0).await;
    let before = stats(&alpha).await;
    let reply = alpha.call(beta.id().clone(), "echo", &b"fallback"[..], WAIT).await.expect("falls back");
    assert_eq!(reply, Bytes::from_static(b"fallback"));
    let after = stats(&alpha).await;
    assert_eq!(after.webrtc_sent, before.webrtc_sent, "the call went over the direct link");
    assert!(after.dialed + after.accepted >= 1, "a direct link exists: {after:?}");

    // The path heals; the application reports it and the offerer restarts ICE.
    beta.debug_cut_webrtc(false);
    alpha.network_events().network_available().expect("alpha is running");
    beta.network_events().network_available().expect("beta is running");
    let sent = after.webrtc_sent;
    probe_until(&alpha, &beta, ICE_WAIT, "webrtc recovering", |s| s.ice_recovered > 0 && s.webrtc_sent > sent).await;
    alpha.shutdown().await;
    beta.shutdown().await;
    server.stop();
}

/// The app reports that the network changed while the WebRTC path is cut:
/// calls move to the direct link at once; when the path heals and the app
/// reports the network available, ICE restarts and WebRTC takes over again.
async fn network_change_falls_back_then_recovers<R: Runtime>(rt: R) {
    let dir = TempDir::new("webrtc-net");
    let server = serve(&dir);
    let url = base_url(&server);
    let alpha = start_actor(&rt, config(&url, 45, true), TestActor::new("alpha").0).await;
    let beta = start_actor(&rt, config(&url, 46, true), TestActor::new("beta").0).await;
    probe_until(&alpha, &beta, WAIT, "webrtc carrying calls", |s| s.webrtc_sent > 0).await;

    beta.debug_cut_webrtc(true);
    alpha.network_events().network_type_changed().expect("alpha is running");
    probe_until(&alpha, &beta, WAIT, "recovery started", |s| s.ice_restarts > 0).await;
    let before = stats(&alpha).await;
    let reply = alpha.call(beta.id().clone(), "echo", &b"fallback"[..], WAIT).await.expect("falls back");
    assert_eq!(reply, Bytes::from_static(b"fallback"));
    assert_eq!(stats(&alpha).await.webrtc_sent, before.webrtc_sent, "the call went over the direct link");

    beta.debug_cut_webrtc(false);
    alpha.network_events().network_available().expect("alpha is running");
    let sent = before.webrtc_sent;
    probe_until(&alpha, &beta, ICE_WAIT, "webrtc recovering", |s| s.ice_recovered > 0 && s.webrtc_sent > sent).await;
    alpha.shutdown().await;
    beta.shutdown().await;
    server.stop();
}

/// Stream size in MiB: `ACTR_E2E_STREAM_MIB`, else 100 (about 10 s per runtime in a debug build).
fn stream_mib() -> usize {
    std::env::var("ACTR_E2E_STREAM_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(100)
}

/// Deterministic, non-repeating test data: block `i` of 1 MiB.
fn block(i: usize) -> Vec<u8> {
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

async fn reliable_stream_arrives_intact<R: Runtime>(rt: R) {
    use sha2::{Digest, Sha256};
    use std::sync::{Arc, Mutex};

    let dir = TempDir::new("webrtc-stream");
    let server = serve(&dir);
    let url = base_url(&server);
    let alpha = start_actor(&rt, config(&url, 47, false), TestActor::new("alpha").0).await;
    let beta = start_actor(&rt, config(&url, 48, false), TestActor::new("beta").0).await;

    let mut writer = alpha.open_stream(beta.id().clone(), DeliveryPolicy::Reliable).expect("opens");
    let hasher = Arc::new(Mutex::new((Sha256::new(), 0u64)));
    let (done_tx, done_rx) = async_channel::bounded(1);
    let (sink, from_alpha) = (hasher.clone(), alpha.id().clone());
    beta.register_stream_handler(writer.stream_id(), move |chunk, from| {
        assert_eq!(from, from_alpha, "chunks come from the writer");
        let mut state = sink.lock().unwrap();
        assert_eq!(chunk.sequence, state.1, "chunks arrive in order");
        state.0.update(&chunk.payload);
        state.1 += 1;
        if chunk.end {
            let _ = done_tx.try_send(state.0.clone().finalize().to_vec());
        }
        Box::pin(async { Ok(()) })
    })
    .expect("registers");

    let mib = stream_mib();
    let mut sent = Sha256::new();
    for i in 0..mib {
        let data = block(i);
        sent.update(&data);
        writer.send(&data).await.expect("chunk accepted");
    }
    writer.finish(&[]).await.expect("finished");
    let digest = actr_driver::with_deadline(&rt, WAIT, done_rx.recv()).await.expect("end arrives").unwrap();
    assert_eq!(digest, sent.finalize().to_vec(), "{mib} MiB arrived intact");
    let a = stats(&alpha).await;
    assert!(a.webrtc_sent as usize > mib * 4, "the chunks went over webrtc: {a:?}");
    alpha.shutdown().await;
    beta.shutdown().await;
    server.stop();
}

/// The offering side adds an audio track; samples reach the other side's
/// handler in order. Media without WebRTC is a typed error.
async fn media_samples_reach_the_handler<R: Runtime>(rt: R) {
    use actr_driver::{MediaSample, MediaType};

    let dir = TempDir::new("webrtc-media");
    let server = serve(&dir);
    let url = base_url(&server);
    let alpha = start_actor(&rt, config(&url, 49, false), TestActor::new("alpha").0).await;
    let beta = start_actor(&rt, config(&url, 50, false), TestActor::new("beta").0).await;
    let (sender, receiver) = match actr_core::signaling::is_offerer(alpha.id(), beta.id()) {
        true => (&alpha, &beta),
        false => (&beta, &alpha),
    };
    let (got_tx, got_rx) = async_channel::bounded(64);
    let from_sender = sender.id().clone();
    receiver
        .register_media_handler(MediaType::Audio, move |sample, from| {
            assert_eq!(from, from_sender);
            let _ = got_tx.try_send(sample);
            Box::pin(async { Ok(()) })
        })
        .expect("registers");

    sender.add_media_track(receiver.id().clone(), MediaType::Audio).await.expect("track negotiated");
    let frame = |i: u32| MediaSample { media_type: MediaType::Audio, timestamp: i * 960, data: vec![i as u8; 160] };
    for i in 0..10 {
        sender.send_media(receiver.id().clone(), frame(i)).await.expect("sample sent");
    }
    for i in 0..10 {
        let got = actr_driver::with_deadline(&rt, WAIT, got_rx.recv()).await.expect("sample arrives").unwrap();
        assert_eq!((got.timestamp, got.data), (frame(i).timestamp, frame(i).data), "in order, intact");
    }

    let off = start_actor(&rt, config(&url, 51, false).with_webrtc(false), TestActor::new("off").0).await;
    let refused = off.add_media_track(alpha.id().clone(), MediaType::Audio).await.unwrap_err();
    assert!(matches!(refused, actr_core::ActrError::NotImplemented(_)), "{refused:?}");
    for node in [alpha, beta, off] {
        node.shutdown().await;
    }
    server.stop();
}

/// With WebRTC up, latency-first chunks take the stream lane; whatever
/// arrives reaches the handler in increasing sequence order.
async fn latency_first_stream_uses_the_stream_lane<R: Runtime>(rt: R) {
    let dir = TempDir::new("webrtc-latency");
    let server = serve(&dir);
    let url = base_url(&server);
    let alpha = start_actor(&rt, config(&url, 52, false), TestActor::new("alpha").0).await;
    let beta = start_actor(&rt, config(&url, 53, false), TestActor::new("beta").0).await;
    alpha.call(beta.id().clone(), "echo", &b"connect"[..], WAIT).await.expect("webrtc up");

    let mut writer = alpha.open_stream(beta.id().clone(), DeliveryPolicy::LatencyFirst).expect("opens");
    let (got_tx, got_rx) = async_channel::bounded(256);
    beta.register_stream_handler(writer.stream_id(), move |chunk, _| {
        let _ = got_tx.try_send((chunk.sequence, chunk.end, chunk.payload.len()));
        Box::pin(async { Ok(()) })
    })
    .expect("registers");
    for i in 0..50u8 {
        writer.send(&[i; 1024]).await.expect("chunk handed to the lane");
    }
    writer.finish(b"last").await.expect("end handed to the lane");

    let mut last = None;
    loop {
        let (sequence, end, len) = actr_driver::with_deadline(&rt, WAIT, got_rx.recv()).await.expect("chunks").unwrap();
        assert!(last.is_none_or(|l| sequence > l), "in increasing order: {sequence} after {last:?}");
        last = Some(sequence);
        if end {
            assert_eq!((sequence, len), (50, 4), "the end chunk");
            break;
        }
        assert_eq!(len, 1024);
    }
    let (a, b) = (stats(&alpha).await, stats(&beta).await);
    assert_eq!(a.stream_chunks_sent, 51, "every chunk took the stream lane: {a:?}");
    assert!(b.stream_chunks_received > 0, "{b:?}");
    alpha.shutdown().await;
    beta.shutdown().await;
    server.stop();
}
