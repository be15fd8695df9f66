//! Runs N turns of a guest (path in argv[1]) for profiling.
use actr_core::abi::{HostFrame, InvocationContext};
use actr_core::{ActrId, ActrType, Realm};

fn main() {
    let path = std::env::args().nth(1).expect("guest path");
    let n: u64 = std::env::args().nth(2).map_or(20_000, |s| s.parse().unwrap());
    let bin = std::fs::read(path).unwrap();
    let m = actr_wasm::WasmEngine::default().load(&bin).unwrap();
    let mut i = m.instantiate().unwrap();
    let self_id = ActrId { realm: Realm(1), serial: 1, actr_type: ActrType::new("bench", "echo", "1").unwrap() };
    let t = std::time::Instant::now();
    for id in 1..=n {
        let frame = HostFrame::Request {
            ctx: InvocationContext { request_id: id, self_id: self_id.clone(), caller: None },
            route_key: "echo.Echo/Say".into(),
            payload: vec![0x5a; 64],
            tell: false,
        };
        assert_eq!(i.turn(&frame).unwrap().len(), 1);
    }
    println!("{:.2} µs/turn", t.elapsed().as_secs_f64() * 1e6 / n as f64);
}
