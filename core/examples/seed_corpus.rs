//! Writes seed inputs for the fuzz targets into `fuzz/corpus/<target>/`.
//!
//! Run from the workspace root: `cargo run -p actr-core --example seed_corpus`.

use std::fs;
use std::path::Path;

use actr_core::ais::{AisConfig, AisReply, AisRequest, AisService, RealmConfig, RegisterRequest};
use actr_core::credential::Credential;
use actr_core::fuzzing::{FUZZ_AIS_SEED, FUZZ_UNIX};
use actr_core::proof::{HostKey, NonceSource, Statement};
use actr_core::signaling::messages::*;
use actr_core::wire::{WIRE_VERSION, encode_message};
use actr_core::{ActrId, Realm};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("fuzz/corpus").join(target);
    fs::create_dir_all(&dir).expect("create corpus dir");
    fs::write(dir.join(name), bytes).expect("write seed");
}

/// One operation for the sequence targets: op byte, length, payload.
fn op(out: &mut Vec<u8>, op: u8, payload: &[u8]) {
    let len = payload.len().min(255);
    out.push(op);
    out.push(len as u8);
    out.extend_from_slice(&payload[..len]);
}

fn main() {
    let mut ais = AisService::new(FUZZ_AIS_SEED, 1, 1, AisConfig::default());
    ais.upsert_realm(RealmConfig::new(Realm(1), None)).expect("realm");
    let host_key = HostKey::from_seed([21; 32]);
    let mut request = RegisterRequest::new("fz:node:1".parse().expect("type"), Realm(1), None);
    request.sign(&host_key);
    let AisReply::Registered(ok) = ais.handle(FUZZ_UNIX, AisRequest::Register(request)) else {
        panic!("registration failed")
    };
    let actor: ActrId = ok.actor;
    let credential: Credential = ok.credential;
    // server_sequence's server keys its challenges with [5; 32]: the first
    // connection's nonce is the first of that source, so this hello verifies.
    let nonce = NonceSource::new([5; 32]).next_nonce();
    let proof = host_key.sign(&Statement::SignalingHello { nonce: &nonce, actor: &actor });
    let hello = ClientMsg::Hello {
        actor: actor.clone(),
        credential: credential.clone(),
        profile: ActorProfile::default(),
        proof,
    };
    let signed = |request| ClientMsg::Signed {
        source: actor.clone(),
        credential: credential.clone(),
        body: ClientBody::Request { id: 1, request },
    };
    let client_msgs = [
        hello,
        signed(ClientRequest::Ping),
        signed(ClientRequest::Discover { manufacturer: Some("fz".into()), limit: 4 }),
        signed(ClientRequest::Relay { target: actor.clone(), payload: vec![9; 40] }),
    ];
    let server_msgs = [
        ServerMsg::Challenge { nonce: [3; 32] },
        ServerMsg::Welcome { actor: actor.clone(), heartbeat_interval_ms: 1000 },
        ServerMsg::Reply { id: 1, result: Ok(ServerReply::Pong) },
        ServerMsg::Presence { actor: actor.clone(), up: true },
    ];
    for (i, m) in client_msgs.iter().enumerate() {
        let bytes = encode_message(m, usize::MAX).expect("encode");
        write("envelope_decode", &format!("client-{i}"), &bytes);
        let mut seq = Vec::new();
        op(&mut seq, 0x10, &[]);
        op(&mut seq, 0x15, &bytes);
        op(&mut seq, 0x13, &[30]);
        write("server_sequence", &format!("seq-{i}"), &seq);
    }
    for (i, m) in server_msgs.iter().enumerate() {
        let bytes = encode_message(m, usize::MAX).expect("encode");
        write("envelope_decode", &format!("server-{i}"), &bytes);
        let mut seq = Vec::new();
        op(&mut seq, 0, &[]);
        op(&mut seq, 1, &bytes);
        op(&mut seq, 4, &[]);
        op(&mut seq, 3, &[200]);
        write("client_sequence", &format!("seq-{i}"), &seq);
    }
    write("envelope_decode", "bad-version", &[WIRE_VERSION + 1, 0, 0]);
    write("envelope_decode", "empty", &[]);
    rpc_seeds();
    stream_seeds();
}

/// Seeds for the RPC envelope target (called from `main`).
fn rpc_seeds() {
    use actr_core::transport::{RpcEnvelope, TraceContext};
    let mut req = RpcEnvelope::request(1, "echo.Echo.Say", b"hello".to_vec(), 30_000);
    req.trace = Some(TraceContext::root(1, 2, 3));
    let resp = req.respond(Err(actr_core::ActrError::TimedOut));
    for (name, env) in [("request", req), ("error-response", resp), ("tell", RpcEnvelope::tell(2, "x.Y.z", vec![]))] {
        write("rpc_envelope_decode", name, &env.encode().expect("encode"));
    }
}

/// Seeds for the stream target (called from `main`): a setup byte, then
/// `(op, arg)` pairs; see `actr_core::fuzzing::stream_sequence`.
fn stream_seeds() {
    // Reliable stream 0 in order, with a duplicate, then its end.
    let in_order = [3, 0x20, 0, 0x20, 1, 0x20, 1, 0x30, 2, 0x03, 0];
    // Latency-first stream 1 out of order, a skipped gap, a late chunk, the end.
    let gap = [7, 0x24, 2, 0x24, 0, 0x24, 4, 0x02, 20, 0x24, 1, 0x34, 5, 0x03, 0];
    // Both streams at once: held events, a reliable gap timeout, a close,
    // a wrong policy, a chunk past the window, and idle timeouts.
    let mixed = [2, 0xa0, 0, 0xa4, 3, 0x20, 4, 0x64, 9, 0x24, 40, 0x02, 40, 0x07, 0, 0x2c, 1, 0x02, 120, 0x03, 0];
    for (name, seed) in [("in-order", &in_order[..]), ("gap", &gap[..]), ("mixed", &mixed[..])] {
        write("stream_sequence", name, seed);
    }
}
