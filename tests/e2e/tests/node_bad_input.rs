//! A raw client abuses a node's direct WebSocket listener: not WebSocket at
//! all, a garbage hello, a hello for another actor, a forged credential, then
//! (authenticated) garbage, text, an orphan response, an unknown route and an
//! oversized message. Each gets a typed refusal or a clean close, and the node
//! keeps serving real callers. Runs under tokio and smol.

use std::io::{Read, Write};
use std::net::TcpStream;

use actr_core::ais::RegisterOk;
use actr_core::node::hello::{DirectHello, DirectReply, MAX_HELLO};
use actr_core::transport::RpcEnvelope;
use actr_core::transport::envelope::MAX_ENVELOPE;
use actr_core::{ActrError, ActrId};
use actr_driver::bytes::Bytes;
use actr_driver::{Runtime, run_blocking};
use actr_e2e::actors::{TestActor, node_config, start_actor};
use actr_e2e::raw::{DirectReceived, RawDirect, register, ws_authority};
use actr_e2e::{TempDir, WAIT, base_url, on_smol, on_tokio, register_request, serve};

#[test]
fn bad_direct_input_is_refused_and_the_node_keeps_serving_on_tokio() {
    on_tokio(bad_direct_input_is_refused_and_the_node_keeps_serving);
}

#[test]
fn bad_direct_input_is_refused_and_the_node_keeps_serving_on_smol() {
    on_smol(bad_direct_input_is_refused_and_the_node_keeps_serving);
}

fn hello(ok: &RegisterOk, target: &ActrId) -> Vec<u8> {
    let hello = DirectHello { caller: ok.actor.clone(), credential: ok.credential.clone(), target: target.clone() };
    hello.encode().unwrap()
}

/// Sends `hello` and returns the refusal; the node then closes.
fn refused(address: &str, hello: Vec<u8>) -> ActrError {
    let mut raw = RawDirect::connect(address);
    raw.send_bytes(hello).unwrap();
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
    assert!(matches!(refused(address, b"\x01garbage".to_vec()), ActrError::DecodeFailure(_)));
    assert!(matches!(refused(address, hello(ok, &ok.actor)), ActrError::NotFound(_)));
    let mut forged = ok.clone();
    forged.credential.signature[0] ^= 1;
    assert!(matches!(refused(address, hello(&forged, target)), ActrError::Unauthenticated(_)));
}

/// Before its hello verifies, a connection may not send more than a hello's worth.
fn oversized_hello(address: &str) {
    let mut raw = RawDirect::connect(address);
    let _ = raw.send_bytes(vec![1; MAX_HELLO + 1]);
    assert!(matches!(raw.recv(), DirectReceived::Closed));
}

fn abuse_after_welcome(address: &str, ok: &RegisterOk, target: &ActrId) {
    let mut raw = RawDirect::connect(address);
    raw.send_bytes(hello(ok, target)).unwrap();
    assert_eq!(raw.recv_msg::<DirectReply>(), DirectReply::Welcome { actor: target.clone() });
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
    let stats = target.stats().await.unwrap();
    assert_eq!(stats.refused, 5, "not websocket, garbage, wrong target, forged, oversized hello");
    assert_eq!(stats.accepted, 2, "the raw client once, the caller once");
    assert_eq!(stats.endpoint.malformed, 2);
    assert_eq!(stats.endpoint.orphan_responses, 1);
    assert_eq!(probe.log(), ["start", "ready", "handle:nope", "handle:echo", "handle:echo"]);
    caller.shutdown().await;
    target.shutdown().await;
    server.stop();
}
