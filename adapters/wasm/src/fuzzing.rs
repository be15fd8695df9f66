//! Fuzzing the host side of the ABI with guest frames as they arrive from a
//! guest: a tiny forwarding guest hands whatever bytes it is given to
//! `hyper_send`, so every frame goes through the real import, its bounds
//! and its request bookkeeping. The fuzz target `guest_frames` and the
//! corpus replay in the tests call [`guest_frames`].

use actr_core::abi::{HostFrame, HostOperationResult, InvocationContext};
use actr_core::{ActrId, ActrType, Realm};

use crate::{WasmEngine, WasmLimits};

/// The forwarding guest, [`FORWARDER_WAT`] compiled (a test checks that they agree).
pub const FORWARDER: &[u8] = &[
    0, 97, 115, 109, 1, 0, 0, 0, 1, 21, 4, 96, 2, 127, 127, 1, 127, 96, 0, 1, 127, 96, 1, 127, 1, 127, 96, 2, 127, 127,
    0, 2, 19, 1, 4, 97, 99, 116, 114, 10, 104, 121, 112, 101, 114, 95, 115, 101, 110, 100, 0, 0, 3, 5, 4, 1, 2, 3, 0,
    5, 3, 1, 0, 2, 7, 66, 5, 6, 109, 101, 109, 111, 114, 121, 2, 0, 16, 97, 99, 116, 114, 95, 97, 98, 105, 95, 118,
    101, 114, 115, 105, 111, 110, 0, 1, 10, 97, 99, 116, 114, 95, 97, 108, 108, 111, 99, 0, 2, 9, 97, 99, 116, 114, 95,
    102, 114, 101, 101, 0, 3, 9, 97, 99, 116, 114, 95, 114, 101, 99, 118, 0, 4, 10, 65, 4, 4, 0, 65, 1, 11, 5, 0, 65,
    128, 8, 11, 2, 0, 11, 49, 1, 1, 127, 32, 0, 45, 0, 0, 65, 0, 71, 4, 64, 65, 0, 15, 11, 32, 0, 32, 1, 106, 65, 5,
    107, 40, 2, 0, 33, 2, 32, 0, 32, 2, 106, 32, 1, 65, 5, 107, 32, 2, 107, 16, 0, 26, 65, 0, 11, 0, 30, 4, 110, 97,
    109, 101, 1, 7, 1, 0, 4, 115, 101, 110, 100, 2, 14, 1, 4, 3, 0, 1, 112, 1, 1, 108, 2, 3, 111, 102, 102,
];

/// Its source: on a request, it sends the bytes at the offset stored in the
/// frame's last-but-one four bytes (inside the payload), up to the payload's end.
pub const FORWARDER_WAT: &str = r#"(module
  (import "actr" "hyper_send" (func $send (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "actr_abi_version") (result i32) (i32.const 1))
  (func (export "actr_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "actr_free") (param i32 i32))
  (func (export "actr_recv") (param $p i32) (param $l i32) (result i32)
    (local $off i32)
    (if (i32.ne (i32.load8_u (local.get $p)) (i32.const 0)) (then (return (i32.const 0))))
    (local.set $off (i32.load (i32.sub (i32.add (local.get $p) (local.get $l)) (i32.const 5))))
    (drop (call $send
      (i32.add (local.get $p) (local.get $off))
      (i32.sub (i32.sub (local.get $l) (i32.const 5)) (local.get $off))))
    (i32.const 0))
)"#;

/// Largest chunk forwarded: the guest's memory is two pages.
const MAX_CHUNK: usize = 64 * 1024;

/// `data` is a sequence of chunks, each a little-endian `u16` length and
/// that many bytes. Each chunk goes to the guest in a new request, and the
/// guest hands it to the host as a frame. Operations the host accepted get
/// a result back. Panics if the host misbehaves: a trap of the guest, which
/// only forwards, or more requests open than the limit. Returns how many
/// frames the host accepted.
pub fn guest_frames(data: &[u8]) -> usize {
    let limits = WasmLimits::default().with_max_requests(8);
    let engine = WasmEngine::new(limits);
    let module = engine.load(FORWARDER).expect("the forwarder loads");
    let mut instance = module.instantiate().expect("the forwarder instantiates");
    let self_id = ActrId { realm: Realm(1), serial: 1, actr_type: ActrType::new("fuzz", "guest", "1").expect("type") };
    let mut rest = data;
    let mut next_id = 1u64;
    let mut accepted = 0;
    while rest.len() >= 2 {
        let len = (usize::from(u16::from_le_bytes([rest[0], rest[1]]))).min(rest.len() - 2).min(MAX_CHUNK);
        let chunk = &rest[2..2 + len];
        rest = &rest[2 + len..];
        let id = next_id;
        next_id += 1;
        let ctx = InvocationContext { request_id: id, self_id: self_id.clone(), caller: None };
        let mut payload = chunk.to_vec();
        payload.extend_from_slice(&[0; 4]);
        let frame =
            |payload: Vec<u8>| HostFrame::Request { ctx: ctx.clone(), route_key: String::new(), payload, tell: false };
        let encoded = frame(payload.clone()).encode();
        let offset = (encoded.len() - 1 - 4 - chunk.len()) as u32;
        let at = payload.len() - 4;
        payload[at..].copy_from_slice(&offset.to_le_bytes());
        let sent = match instance.turn(&frame(payload)) {
            Ok(sent) => sent,
            Err(crate::WasmError::Refused(_) | crate::WasmError::Busy { .. }) => continue,
            Err(e) => panic!("the forwarder only forwards, yet: {e}"),
        };
        assert!(instance.open_requests() <= 8, "more requests open than the limit");
        accepted += sent.len();
        for f in sent {
            if f.op.has_result() {
                let result =
                    HostFrame::OpResult { request_id: f.request_id, op_id: f.op_id, result: HostOperationResult::Done };
                match instance.turn(&result) {
                    Ok(_) | Err(crate::WasmError::Refused(_)) => {}
                    Err(e) => panic!("an operation's result broke the instance: {e}"),
                }
            }
        }
    }
    assert!(!instance.is_poisoned());
    accepted
}
