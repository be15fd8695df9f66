//! The `actr` binary: `demo` runs its server and three nodes, reports which
//! wire carried what, and exits 0.

use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Bound on the whole demo run (a debug build; the demo itself takes seconds).
const DEADLINE: Duration = Duration::from_secs(120);

/// Runs `actr demo` with `args`, waiting at most [`DEADLINE`].
fn run_demo(args: &[&str]) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_actr"))
        .arg("demo")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn actr demo");
    let id = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(output) => output.expect("wait for actr demo"),
        Err(_) => {
            // Only the child this test started.
            let _ = Command::new("kill").arg(id.to_string()).status();
            panic!("actr demo did not exit within {DEADLINE:?}");
        }
    }
}

#[test]
fn demo_calls_between_two_nodes_reports_and_exits_zero() {
    let output = run_demo(&["--calls", "200", "--tells", "2000", "--bulk", "4", "--stream-mib", "2", "--frames", "50"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", output.status);

    let has = |needle: &str| stdout.lines().any(|l| l.contains(needle));
    assert!(has("actr demo: actr serve on http://127.0.0.1:"), "{stdout}");
    assert!(has("caller-ws discovered"), "{stdout}");
    assert!(has("WebRTC data channel open after"), "{stdout}");
    let phase = |start: &str| stdout.lines().find(|l| l.trim_start().starts_with(start)).unwrap_or_default();
    for (start, carried) in [
        ("calls  websocket direct", "webrtc 0, websocket 200, in-process 0"),
        ("bulk   websocket direct", "webrtc 0, websocket 4, in-process 0"),
        ("tells  websocket direct", "webrtc 0, websocket 2000, in-process 0"),
        ("calls  webrtc", "webrtc 200, websocket 0, in-process 0"),
        ("bulk   webrtc", "webrtc 4, websocket 0, in-process 0"),
        ("tells  webrtc", "webrtc 2000, websocket 0, in-process 0"),
        ("calls  in-process", "webrtc 0, websocket 0, in-process 200"),
        ("tells  in-process", "webrtc 0, websocket 0, in-process 2000"),
    ] {
        let line = phase(start);
        assert!(line.contains(&format!("carried: {carried}")), "{start}: {stdout}");
    }
    assert!(phase("calls  webrtc").contains("p99"), "{stdout}");
    // The WASM phase: both guests attached, called over WebRTC and in-process.
    assert!(has("wasm node:       demo:wasm-echo:1.0.0 (WASM"), "{stdout}");
    assert!(has("wasm node:       demo:counter:1.0.0 (WASM"), "{stdout}");
    assert!(phase("calls  webrtc → wasm").contains("carried: webrtc 200, websocket 0, in-process 0"), "{stdout}");
    assert!(phase("calls  in-process → wasm").contains("carried: webrtc 0, websocket 0, in-process 200"), "{stdout}");
    assert!(has("counter increments in the guest's store: 0 → 200"), "{stdout}");
    assert!(has("WASM actors (guest turns"), "{stdout}");
    assert!(stdout.lines().any(|l| l.contains("demo:wasm-echo:1.0.0") && l.contains("guest turns")), "{stdout}");
    let stream = phase("stream webrtc");
    assert!(stream.contains("2 MiB arrived in order, end seen; carried: webrtc "), "{stdout}");
    assert!(stream.contains("websocket 0, in-process 0"), "{stdout}");
    let media = phase("media  webrtc");
    assert!(media.contains(" of 50 frames arrived on an Opus RTP track"), "{stdout}");
    assert!(!media.contains(" 0 of 50 "), "frames reach the receiver: {stdout}");
    assert_eq!(stdout.matches("2000 of 2000 arrived").count(), 3, "every tell arrives: {stdout}");
    assert!(has("errors: 0 retries, 0 duplicates, 0 malformed, 0 ACL denials, 0 responses dropped"), "{stdout}");
    assert!(stdout.lines().last().is_some_and(|l| l.starts_with("actr demo: ok in ")), "{stdout}");
}
