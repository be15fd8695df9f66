//! A raw client abuses a node's direct WebSocket listener: not WebSocket at
//! all, a garbage hello, a hello for another actor, a forged credential, then
//! (authenticated) garbage, text, an orphan response, an unknown route and an
//! oversized message. Each gets a typed refusal or a clean close, and the node
//! keeps serving real callers. Then proof of possession: a real node's hello
//! captured by a listener it dialed is useless replayed whole, re-targeted,
//! re-signed, at signaling, and in WebRTC offers; an offer whose fingerprint
//! was rewritten after signing is refused with a typed error. Runs under
//! tokio and smol.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use actr_core::ais::RegisterOk;
use actr_core::node::hello::{DirectChallenge, DirectHello, DirectReply, LinkNonces, MAX_HELLO};
use actr_core::node::signal::{RelaySignal, RtcSignal, SignalProof};
use actr_core::proof::{HostKey, Nonce, Statement, sdp_fingerprints};
use actr_core::signaling::{ClientBody, ClientMsg, ClientRequest, ServerMsg};
use actr_core::transport::RpcEnvelope;
use actr_core::transport::envelope::MAX_ENVELOPE;
use actr_core::wire::decode_message;
use actr_core::{ActrError, ActrId};
use actr_driver::bytes::Bytes;
use actr_driver::{Runtime, run_blocking};
use actr_e2e::actors::{TestActor, node_config, start_actor};
use actr_e2e::raw::{
    DirectReceived, RawClient, RawDirect, Received, host_key, register, signaling_hello, ws_authority,
};
use actr_e2e::{TempDir, WAIT, base_url, on_smol, on_tokio, register_request, serve};

#[test]
fn bad_direct_input_is_refused_and_the_node_keeps_serving_on_tokio() {
    on_tokio(bad_direct_input_is_refused_and_the_node_keeps_serving);
}

#[test]
fn bad_direct_input_is_refused_and_the_node_keeps_serving_on_smol() {
    on_smol(bad_direct_input_is_refused_and_the_node_keeps_serving);
}

/// `ok`'s hello to `target` answering `nonce`, signed by `key`.
fn hello_by(ok: &RegisterOk, target: &ActrId, nonce: Nonce, key: &HostKey) -> Vec<u8> {
    let nonces = LinkNonces { listener: nonce, dialer: [7; 32] };
    DirectHello::signed(&ok.actor, &ok.credential, target, nonces, key).encode().unwrap()
}

fn hello(ok: &RegisterOk, target: &ActrId, nonce: Nonce) -> Vec<u8> {
    hello_by(ok, target, nonce, &host_key())
}

/// Sends the hello `make` builds for the link's challenge and returns the
/// refusal; the node then closes.
fn refused(address: &str, make: impl FnOnce(Nonce) -> Vec<u8>) -> ActrError {
    let mut raw = RawDirect::connect(address);
    raw.send_bytes(make(raw.challenge())).unwrap();
    let error = match raw.recv_msg::<DirectReply>() {
        DirectReply::Refused(e) => ActrError::from(e),
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert!(matches!(raw.recv(), DirectReceived::Closed));
    error
}

fn not_websocket(address: &str) {
    let mut tcp = TcpStream::connect(ws_authority(address)).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    tcp.write_all(b"\x00\x01garbage that is no HTTP request\r\n\r\n").unwrap();
    let mut rest = Vec::new();
    // The node answers nothing useful and closes (end of stream or reset).
    let _ = tcp.read_to_end(&mut rest);
}

fn refusals(address: &str, ok: &RegisterOk, target: &ActrId) {
    assert!(matches!(refused(address, |_| b"\x01garbage".to_vec()), ActrError::DecodeFailure(_)));
    assert!(matches!(refused(address, |n| hello(ok, &ok.actor, n)), ActrError::NotFound(_)));
    let mut forged = ok.clone();
    forged.credential.signature[0] ^= 1;
    assert!(matches!(refused(address, |n| hello(&forged, target, n)), ActrError::Unauthenticated(_)));
}

/// An SDP that declares `fingerprint` (the shape matters only to the proof check).
fn sdp_with(fingerprint: &str) -> String {
    format!("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=fingerprint:sha-256 {fingerprint}\r\n")
}

/// Raw signaling relays WebRTC offers to the target that it must refuse:
/// a captured credential with the thief's signature, and the thief's own
/// honest proof over a fingerprint changed afterwards. Each comes back as
/// a `Refused` relay naming the fingerprint proof.
fn forged_offers(signaling: std::net::SocketAddr, ok: &RegisterOk, target: &ActrId, captured: &DirectHello) {
    let mut raw = RawClient::connect(signaling);
    raw.hello(ok);
    let thief = HostKey::from_seed([0x67; 32]);
    let sign = |credential: &actr_core::credential::Credential, from: &ActrId, fingerprint: &str, key: &HostKey| {
        let fingerprints = sdp_fingerprints(&sdp_with(fingerprint));
        let statement =
            Statement::RtcFingerprint { from, to: target, exchange_id: 1 << 32 | 1, fingerprints: &fingerprints };
        SignalProof { credential: credential.clone(), signature: key.sign(&statement) }
    };
    let honest_fp = "AB:CD:EF";
    let offers = [
        // The caller's credential, captured from its real hello, signed by the thief.
        sign(&captured.credential, &captured.caller, honest_fp, &thief),
        // The sender's own credential and key, but the SDP was rewritten after signing.
        sign(&ok.credential, &ok.actor, honest_fp, &host_key()),
    ];
    for (i, proof) in offers.into_iter().enumerate() {
        let offer =
            RtcSignal::Offer { sdp: sdp_with(if i == 1 { "66:66:66" } else { honest_fp }), exchange_id: 1 << 32 | 1 };
        let payload = RelaySignal { signal: offer, proof: Some(proof) }.encode().unwrap();
        let request = ClientRequest::Relay { target: target.clone(), payload };
        let id = 100 + i as u64;
        raw.send_msg(&ClientMsg::Signed {
            source: ok.actor.clone(),
            credential: ok.credential.clone(),
            body: ClientBody::Request { id, request },
        });
        let mut refused = None;
        while refused.is_none() {
            match raw.recv() {
                Received::Msg(ServerMsg::Reply { id: got, result }) if got == id => {
                    assert!(result.is_ok(), "{result:?}")
                }
                Received::Msg(ServerMsg::Relay { source, payload }) if source == *target => {
                    refused = Some(RelaySignal::decode(&payload).expect("a relay signal").signal);
                }
                Received::Msg(_) => continue,
                other => panic!("offer {i}: {other:?}"),
            }
        }
        match refused {
            Some(RtcSignal::Refused { reason }) => assert!(reason.contains("fingerprint"), "offer {i}: {reason}"),
            other => panic!("offer {i}: expected a refusal, got {other:?}"),
        }
    }
}

/// A listener of our own that a real node dials: it challenges, and keeps
/// the node's real hello (credential included) as a thief would.
fn capture_hello(listener: &TcpListener) -> DirectHello {
    let (tcp, _) = listener.accept().unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let mut ws = tungstenite::accept(tcp).expect("the node's websocket");
    ws.send(tungstenite::Message::Binary(DirectChallenge { nonce: [3; 32] }.encode().unwrap().into())).unwrap();
    loop {
        match ws.read().expect("the node's hello") {
            tungstenite::Message::Binary(bytes) => return decode_message(&bytes, MAX_HELLO).expect("a hello"),
            _ => continue,
        }
    }
}

/// The captured hello and its credential get nowhere: not at another
/// node's listener (replayed whole, or re-signed by the thief) and not at
/// signaling.
fn replay_captured(address: &str, captured: &DirectHello, target: &ActrId, signaling: std::net::SocketAddr) {
    let thief = HostKey::from_seed([0x66; 32]);
    let whole = captured.encode().unwrap();
    let e = refused(address, |_| whole);
    assert!(matches!(e, ActrError::NotFound(_) | ActrError::Unauthenticated(_)), "{e:?}");
    let as_target = DirectHello { target: target.clone(), ..captured.clone() }.encode().unwrap();
    assert!(matches!(refused(address, |_| as_target), ActrError::Unauthenticated(_)), "old nonce");
    let resigned = |n: Nonce| {
        let nonces = LinkNonces { listener: n, dialer: [8; 32] };
        DirectHello::signed(&captured.caller, &captured.credential, target, nonces, &thief).encode().unwrap()
    };
    let e = refused(address, resigned);
    assert!(matches!(e, ActrError::Unauthenticated(ref m) if m.contains("possession")), "{e:?}");
    let mut raw = RawClient::connect(signaling);
    let nonce = raw.challenge();
    raw.send_msg(&signaling_hello(&captured.caller, &captured.credential, &nonce, &thief));
    match raw.recv() {
        Received::Msg(ServerMsg::Error(e)) => assert!(matches!(ActrError::from(e), ActrError::Unauthenticated(_))),
        other => panic!("signaling took a captured credential: {other:?}"),
    }
}

/// Before its hello verifies, a connection may not send more than a hello's worth.
fn oversized_hello(address: &str) {
    let mut raw = RawDirect::connect(address);
    let _ = raw.send_bytes(vec![1; MAX_HELLO + 1]);
    assert!(matches!(raw.recv(), DirectReceived::Closed));
}

fn abuse_after_welcome(address: &str, ok: &RegisterOk, target: &ActrId) {
    let mut raw = RawDirect::connect(address);
    raw.send_bytes(hello(ok, target, raw.challenge())).unwrap();
    assert!(matches!(raw.recv_msg::<DirectReply>(), DirectReply::Welcome { actor, .. } if actor == *target));
    raw.send_bytes(b"\x01not an envelope".to_vec()).unwrap();
    raw.send_text("text is not an envelope either").unwrap();
    let orphan = RpcEnvelope::request(7, "echo", vec![], 1000).respond(Ok(b"nobody asked".to_vec()));
    raw.send_bytes(orphan.encode().unwrap()).unwrap();
    raw.send_bytes(RpcEnvelope::request(8, "nope", vec![], 5000).encode().unwrap()).unwrap();
    let answer = RpcEnvelope::decode(&expect_binary(&mut raw)).unwrap();
    assert_eq!((answer.request_id, answer.into_result()), (8, Err(ActrError::UnknownRoute("nope".into()))));
    raw.send_bytes(RpcEnvelope::request(9, "echo", b"raw".to_vec(), 5000).encode().unwrap()).unwrap();
    let answer = RpcEnvelope::decode(&expect_binary(&mut raw)).unwrap();
    assert_eq!((answer.request_id, answer.into_result()), (9, Ok(b"raw".to_vec())));
    // Past the largest envelope: the node drops the link.
    let _ = raw.send_bytes(vec![1; MAX_ENVELOPE + 1]);
    assert!(matches!(raw.recv(), DirectReceived::Closed));
}

fn expect_binary(raw: &mut RawDirect) -> Vec<u8> {
    match raw.recv() {
        DirectReceived::Binary(bytes) => bytes,
        DirectReceived::Closed => panic!("the node closed the link"),
    }
}

async fn bad_direct_input_is_refused_and_the_node_keeps_serving<R: Runtime>(rt: R) {
    let dir = TempDir::new("bad-direct");
    let server = serve(&dir);
    let url = base_url(&server);
    let (target, probe) = TestActor::new("target");
    let target = start_actor(&rt, node_config(&url, 41, false), target).await;
    let address = target.ws_address().unwrap().to_owned();
    let address_again = address.clone();
    let target_id = target.id().clone();

    let raw_url = url.clone();
    run_blocking(&rt, move || {
        let ok = register(&raw_url, register_request("raw"));
        not_websocket(&address);
        refusals(&address, &ok, &target_id);
        oversized_hello(&address);
        abuse_after_welcome(&address, &ok, &target_id);
    })
    .await
    .unwrap();

    let (caller, _) = TestActor::new("caller");
    let caller = start_actor(&rt, node_config(&url, 42, false), caller).await;
    let reply = caller.call(target.id().clone(), "echo", &b"still serving"[..], WAIT).await.unwrap();
    assert_eq!(reply, Bytes::from_static(b"still serving"));

    // The caller dials a listener of ours, which keeps its real hello; the
    // credential in it is useless to us anywhere else.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let fake: ActrId = "999999@1/acme:fake:1.0.0".parse().unwrap();
    caller.add_route(fake.clone(), format!("ws://{}", listener.local_addr().unwrap())).unwrap();
    let capture = run_blocking(&rt, move || capture_hello(&listener));
    let call = caller.call(fake, "echo", &b"to the thief"[..], WAIT);
    let (captured, call) = futures::join!(capture, call);
    assert!(call.is_err(), "the thief never welcomed the caller");
    let captured = captured.unwrap();
    assert_eq!(captured.caller, *caller.id());
    let (address, target_id, signaling) = (address_again, target.id().clone(), server.local_addr());
    let raw_url = url.clone();
    run_blocking(&rt, move || {
        replay_captured(&address, &captured, &target_id, signaling);
        let ok = register(&raw_url, register_request("raw-rtc"));
        forged_offers(signaling, &ok, &target_id, &captured);
    })
    .await
    .unwrap();

    let stats = target.stats().await.unwrap();
    assert_eq!(
        stats.refused, 8,
        "not websocket, garbage, wrong target, forged, oversized hello; the captured hello replayed, re-targeted, re-signed"
    );
    assert_eq!(stats.accepted, 2, "the raw client once, the caller once");
    assert_eq!(stats.fingerprints_refused, 2, "a captured credential, a rewritten fingerprint");
    assert_eq!(stats.webrtc_connections_up, 1, "only the caller's own connection came up");
    assert_eq!(stats.endpoint.malformed, 2);
    assert_eq!(stats.endpoint.orphan_responses, 1);
    assert_eq!(probe.log(), ["start", "ready", "handle:nope", "handle:echo", "handle:echo"]);
    caller.shutdown().await;
    target.shutdown().await;
    server.stop();
}
