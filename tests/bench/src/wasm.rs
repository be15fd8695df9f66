//! WASM dispatch, each figure against its baseline in the same run:
//!
//! - raw wasmi round trip (the baseline): the host writes 64 bytes into a
//!   module's memory and calls its export, which hands them back through an
//!   import that copies them out; fuel metering on, as in the engine;
//! - one engine turn of the SDK's echo guest (`WasmInstance::turn`): a
//!   request frame encoded, placed and decoded, the guest's executor, its
//!   reply frame checked and decoded. Goal: within 3x of raw wasmi;
//! - `ActrRef::call_local` to an attached WASM echo against the same call to
//!   a linked native echo, on one current-thread tokio runtime: what a
//!   caller of the node pays for WASM (the hop to the actor's thread and
//!   back included).

use std::sync::Arc;
use std::time::{Duration, Instant};

use actr_cli::serve::RegistryStore;
use actr_cli::serve::mfr::add_manufacturer;
use actr_core::abi::{HostFrame, InvocationContext};
use actr_core::package::{PackageLimits, PackageSpec, pack, verify};
use actr_core::{ActrId, ActrType, Realm};
use actr_driver::bytes::Bytes;
use actr_driver::{Hyper, HyperConfig, KeySigner, PackageIdentity};
use actr_wasm::WasmEngine;
use ed25519_dalek::SigningKey;
use wasmi::{Caller, Config, Engine, Linker, Module, Store};

use crate::report::{Row, time_pair};
use crate::workload::{Wires, start_node};

const PAYLOAD: usize = 64;
const TURNS: usize = 20_000;
const ROUNDS: usize = 10;
const CALLS: usize = 20_000;

/// The baseline module: `echo(ptr, len)` calls `back(ptr, len)`.
const RAW: &str = r#"
(module
  (import "host" "back" (func $back (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "echo") (param i32 i32) (call $back (local.get 0) (local.get 1))))
"#;

pub fn rows(url: &str, server_dir: &std::path::Path) -> Vec<Row> {
    let (raw, turn) = engine_pair();
    let n = ROUNDS * TURNS;
    let base = Row::throughput(&format!("wasm: raw wasmi round trip ({PAYLOAD} B)"), "-", n, raw);
    let turn = Row::throughput(&format!("wasm: engine turn, SDK echo guest ({PAYLOAD} B)"), "-", n, turn).cost_against(
        n,
        raw,
        "time/op; goal <= 3x",
    );
    let (native, wasm) = node_pair(url, server_dir);
    let native_row = Row::throughput(&format!("wasm: call_local native echo ({PAYLOAD} B)"), "tokio-1", CALLS, native);
    let wasm_row = Row::throughput(&format!("wasm: call_local WASM echo ({PAYLOAD} B)"), "tokio-1", CALLS, wasm)
        .cost_against(CALLS, native, "time/op against the native echo");
    vec![base, turn, native_row, wasm_row]
}

/// Raw wasmi and the engine's turn, timed alternately.
fn engine_pair() -> (Duration, Duration) {
    let mut config = Config::default();
    config.consume_fuel(true);
    let engine = Engine::new(&config);
    let module = Module::new(&engine, wat::parse_str(RAW).expect("wat")).expect("raw module");
    let mut store = Store::new(&engine, Vec::<u8>::new());
    let mut linker = Linker::<Vec<u8>>::new(&engine);
    linker
        .func_wrap("host", "back", |mut caller: Caller<'_, Vec<u8>>, ptr: i32, len: i32| {
            let memory = caller.get_export("memory").and_then(|e| e.into_memory()).expect("memory");
            let (start, len) = (ptr as usize, len as usize);
            let bytes = memory.data(&caller)[start..start + len].to_vec();
            *caller.data_mut() = bytes;
        })
        .expect("import");
    let instance = linker.instantiate_and_start(&mut store, &module).expect("instantiates");
    let echo = instance.get_typed_func::<(i32, i32), ()>(&store, "echo").expect("echo");
    let memory = instance.get_memory(&store, "memory").expect("memory");
    let payload = vec![0x5a; PAYLOAD];

    let guest = WasmEngine::default().load(actr_guests::ECHO).expect("echo guest loads");
    let mut instance = guest.instantiate().expect("echo guest instantiates");
    let self_id = ActrId { realm: Realm(1), serial: 1, actr_type: ActrType::new("bench", "echo", "1").expect("type") };
    let mut next = 0u64;
    time_pair(
        ROUNDS,
        || {
            for _ in 0..TURNS {
                store.set_fuel(1_000_000).expect("fuel");
                memory.write(&mut store, 1024, &payload).expect("write");
                echo.call(&mut store, (1024, PAYLOAD as i32)).expect("round trip");
                std::hint::black_box(store.data().len());
            }
        },
        || {
            for _ in 0..TURNS {
                next += 1;
                let frame = HostFrame::Request {
                    ctx: InvocationContext { request_id: next, self_id: self_id.clone(), caller: None },
                    route_key: "echo.Echo/Say".into(),
                    payload: payload.clone(),
                    tell: false,
                };
                let sent = instance.turn(&frame).expect("turn");
                assert_eq!(sent.len(), 1, "one reply");
            }
        },
    )
}

/// Native and WASM echo behind `call_local`, on one current-thread runtime.
fn node_pair(url: &str, server_dir: &std::path::Path) -> (Duration, Duration) {
    let key = SigningKey::from_bytes(&[0xB7; 32]);
    let store = RegistryStore::open(server_dir).expect("registry");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    add_manufacturer(&store, "bench", &key.verifying_key(), now).expect("manufacturer");
    let spec = PackageSpec::new(ActrType::new("bench", "wasm-echo", "1").expect("type"), "wasm32-unknown-unknown");
    let bytes = pack(&spec.into_manifest(), actr_guests::ECHO, &[], &key, &mut |_| {}).expect("packs");
    let verified = verify(&bytes, &key.verifying_key(), &PackageLimits::default()).expect("verifies");

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");
    runtime.block_on(async {
        let rt = actr_tokio::TokioRuntime::current();
        let (native, _) =
            start_node(&rt, url, "native-echo", Wires { listen: false, share: true, webrtc: false }).await;
        let config = HyperConfig::new(url, Realm(1)).with_webrtc(false);
        let identity = PackageIdentity::signed_by(verified, Arc::new(KeySigner::new(key)));
        let node = Hyper::new(rt.clone(), config).node().attach(identity).await.expect("attaches");
        let wasm = node.register().await.expect("registers").start().await.expect("starts");
        let payload = Bytes::from(vec![0x5a; PAYLOAD]);
        let calls = |actor: &actr_driver::ActrRef, route: &'static str| {
            let (actor, payload) = (actor.clone(), payload.clone());
            async move {
                let started = Instant::now();
                for _ in 0..CALLS {
                    std::hint::black_box(actor.call_local(route, payload.clone()).await.expect("call"));
                }
                started.elapsed()
            }
        };
        calls(&native, "echo").await;
        calls(&wasm, "echo.Echo/Say").await;
        let (mut n, mut w) = (Duration::MAX, Duration::MAX);
        for _ in 0..3 {
            n = n.min(calls(&native, "echo").await);
            w = w.min(calls(&wasm, "echo.Echo/Say").await);
        }
        native.shutdown().await;
        wasm.shutdown().await;
        (n, w)
    })
}
