//! The engine against hand-written modules: ABI checks at load, turns,
//! fuel, memory and bad pointers. The SDK's guests are tested in actr-driver
//! and the e2e tests.

use actr_core::abi::{GuestFrame, HostFrame, HostOperation, InvocationContext, status};
use actr_core::{ActrError, ActrId, ActrType, Realm};
use actr_wasm::{WasmEngine, WasmError, WasmLimits};

/// Replies to request 4+ with "hi"; request 1 spins, 2 grows memory without
/// bound, 3 sends a frame from outside its memory and replies with the
/// status it got.
const GUEST: &str = r#"
(module
  (import "actr" "hyper_send" (func $send (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 1024) "\00\00\00\00\02hi")
  (func (export "actr_abi_version") (result i32) (i32.const 1))
  (func (export "actr_alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "actr_free") (param i32 i32))
  (func (export "actr_recv") (param $p i32) (param $l i32) (result i32)
    (local $rid i32)
    (local.set $rid (i32.load8_u offset=1 (local.get $p)))
    (if (i32.eq (local.get $rid) (i32.const 1)) (then (loop $spin (br $spin))))
    (if (i32.eq (local.get $rid) (i32.const 2))
      (then (loop $grow (drop (memory.grow (i32.const 16))) (br $grow))))
    (if (i32.eq (local.get $rid) (i32.const 3))
      (then
        (i32.store8 (i32.const 1029) (call $send (i32.const 0x7ffffff0) (i32.const 100)))
        (i32.store8 (i32.const 1028) (i32.const 1))
        (i32.store8 (i32.const 1024) (local.get $rid))
        (return (call $send (i32.const 1024) (i32.const 6)))))
    (i32.store8 (i32.const 1024) (local.get $rid))
    (call $send (i32.const 1024) (i32.const 7)))
)"#;

fn engine() -> WasmEngine {
    WasmEngine::new(WasmLimits::default().with_fuel_per_turn(2_000_000).with_max_memory_bytes(4 * 1024 * 1024))
}

fn module(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).expect("test module parses")
}

fn request(id: u64) -> HostFrame {
    let self_id = ActrId { realm: Realm(1), serial: 1, actr_type: ActrType::new("acme", "t", "1").unwrap() };
    HostFrame::Request {
        ctx: InvocationContext { request_id: id, self_id, caller: None },
        route_key: "r".into(),
        payload: vec![],
        tell: false,
    }
}

fn reply(frames: &[GuestFrame]) -> (u64, Result<Vec<u8>, ActrError>) {
    match frames {
        [GuestFrame { request_id, op: HostOperation::Reply { result }, .. }] => (*request_id, result.clone()),
        other => panic!("expected one reply, got {other:?}"),
    }
}

#[test]
fn a_turn_returns_the_guests_reply_and_closes_the_request() {
    let m = engine().load(&module(GUEST)).unwrap();
    let mut i = m.instantiate().unwrap();
    let out = i.turn(&request(4)).unwrap();
    assert_eq!(reply(&out), (4, Ok(b"hi".to_vec())));
    assert_eq!(i.open_requests(), 0);
    // The id is free again once replied.
    assert_eq!(reply(&i.turn(&request(4)).unwrap()).0, 4);
}

#[test]
fn a_request_id_in_flight_or_zero_is_refused_without_running_the_guest() {
    let m = engine().load(&module(GUEST)).unwrap();
    let mut i = m.instantiate().unwrap();
    assert!(matches!(i.turn(&request(0)), Err(WasmError::Refused(_))));
    let stray = HostFrame::OpResult { request_id: 9, op_id: 1, result: actr_wasm::HostOperationResult::Done };
    assert!(matches!(i.turn(&stray), Err(WasmError::Refused(_))));
    assert!(!i.is_poisoned());
}

#[test]
fn an_infinite_loop_runs_out_of_fuel_and_a_new_instance_works() {
    let m = engine().load(&module(GUEST)).unwrap();
    let mut i = m.instantiate().unwrap();
    let err = i.turn(&request(1)).unwrap_err();
    assert_eq!(err, WasmError::OutOfFuel { fuel: 2_000_000 });
    assert!(i.is_poisoned());
    assert_eq!(i.turn(&request(4)).unwrap_err(), WasmError::Poisoned);
    assert!(matches!(ActrError::from(err), ActrError::ResourceExhausted(_)));
    let mut fresh = m.instantiate().unwrap();
    assert_eq!(reply(&fresh.turn(&request(4)).unwrap()).1, Ok(b"hi".to_vec()));
}

#[test]
fn a_memory_bomb_hits_the_memory_limit() {
    let m = engine().load(&module(GUEST)).unwrap();
    let mut i = m.instantiate().unwrap();
    assert_eq!(i.turn(&request(2)).unwrap_err(), WasmError::MemoryLimit { limit: 4 * 1024 * 1024 });
    assert!(i.is_poisoned());
}

#[test]
fn a_frame_from_outside_guest_memory_gets_bad_pointer_and_the_instance_lives() {
    let m = engine().load(&module(GUEST)).unwrap();
    let mut i = m.instantiate().unwrap();
    let out = i.turn(&request(3)).unwrap();
    assert_eq!(reply(&out), (3, Ok(vec![status::BAD_POINTER as u8])));
    assert_eq!(i.refused_frames(), 1);
    assert!(!i.is_poisoned());
}

#[test]
fn an_allocator_returning_a_pointer_outside_memory_is_a_guest_error() {
    let bad = GUEST.replace("(i32.const 4096))", "(i32.const 0x7fffff00))");
    let m = engine().load(&module(&bad)).unwrap();
    let mut i = m.instantiate().unwrap();
    assert!(matches!(i.turn(&request(4)), Err(WasmError::Guest(m)) if m.contains("outside")));
    assert!(i.is_poisoned());
    let zero = GUEST.replace("(i32.const 4096))", "(i32.const 0))");
    let mut i = engine().load(&module(&zero)).unwrap().instantiate().unwrap();
    assert!(matches!(i.turn(&request(4)), Err(WasmError::Guest(_))));
}

#[test]
fn modules_that_do_not_speak_the_abi_are_refused_at_load() {
    let e = engine();
    assert!(matches!(e.load(b"not wasm"), Err(WasmError::Load(_))));
    let wasi = GUEST.replace(
        r#"(import "actr" "hyper_send""#,
        r#"(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (import "actr" "hyper_send""#,
    );
    assert!(matches!(e.load(&module(&wasi)), Err(WasmError::Load(m)) if m.contains("fd_write")));
    let no_recv = GUEST.replace(r#"(export "actr_recv")"#, "");
    assert!(matches!(e.load(&module(&no_recv)), Err(WasmError::Load(m)) if m.contains("actr_recv")));
    let wrong_sig =
        GUEST.replace(r#"(func (export "actr_free") (param i32 i32))"#, r#"(func (export "actr_free") (param i32))"#);
    assert!(matches!(e.load(&module(&wrong_sig)), Err(WasmError::Load(m)) if m.contains("actr_free")));
    let v2 = GUEST.replace("(result i32) (i32.const 1))", "(result i32) (i32.const 2))");
    let m = e.load(&module(&v2)).unwrap();
    assert!(matches!(m.instantiate(), Err(WasmError::Load(m)) if m.contains("ABI 2")));
    let small = WasmEngine::new(WasmLimits::default().with_max_module_bytes(8));
    assert!(matches!(small.load(&module(GUEST)), Err(WasmError::Load(m)) if m.contains("limit")));
}

#[test]
fn a_module_is_compiled_once_per_binary() {
    let e = engine();
    let bin = module(GUEST);
    let a = e.load(&bin).unwrap();
    let b = e.load(&bin).unwrap();
    assert_eq!(a.hash(), b.hash());
    assert_eq!(e.cached(), 1);
    e.load(&module(&GUEST.replace("\\02hi", "\\02ho"))).unwrap();
    assert_eq!(e.cached(), 2);
}

#[test]
fn initial_memory_over_the_limit_fails_at_instantiation() {
    let big = GUEST.replace("(memory (export \"memory\") 1)", "(memory (export \"memory\") 128)");
    let m = engine().load(&module(&big)).unwrap();
    assert!(m.instantiate().is_err());
}

#[test]
fn a_cancel_ends_the_request_before_the_guest_runs() {
    let m = engine().load(&module(GUEST)).unwrap();
    let mut i = m.instantiate().unwrap();
    // This guest answers any frame with a reply for the id in its second
    // byte and returns what `hyper_send` said: after the cancel, that reply
    // is for a request no longer open, so the host refused it.
    let refused = i.turn(&HostFrame::Cancel { request_id: 4 }).unwrap_err();
    let code = status::UNKNOWN_REQUEST;
    assert_eq!(refused, WasmError::Guest(format!("actr_recv returned status {code}")));
    assert_eq!((i.refused_frames(), i.open_requests()), (1, 0));
}
