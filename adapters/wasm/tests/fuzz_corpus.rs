//! Replays `fuzz/corpus/guest_frames/` through the function the fuzz
//! target calls, and checks the forwarding guest's bytes against its source.

use std::fs;
use std::path::PathBuf;

use actr_wasm::fuzzing::{FORWARDER, FORWARDER_WAT, guest_frames};

#[test]
fn the_forwarder_is_its_source_compiled() {
    assert_eq!(wat::parse_str(FORWARDER_WAT).unwrap(), FORWARDER);
}

#[test]
fn guest_frames_corpus() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/guest_frames");
    let mut count = 0;
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display())) {
        guest_frames(&fs::read(entry.unwrap().path()).unwrap());
        count += 1;
    }
    assert!(count > 0, "the corpus is empty");
}

#[test]
fn the_harness_hands_the_host_exactly_the_chunks() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/guest_frames");
    let seed = |name: &str| fs::read(dir.join(name)).unwrap();
    assert_eq!(guest_frames(&seed("one_reply")), 1);
    // A call, three storage operations for request 1 (still open), then its reply.
    assert_eq!(guest_frames(&seed("ops_then_reply")), 5);
    // Only the log line is a frame; garbage, nothing and trailing bytes are not.
    assert_eq!(guest_frames(&seed("log_and_garbage")), 1);
}

#[test]
fn random_chunks_never_break_the_host() {
    // A fixed xorshift sequence: varied frames, the same every run.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..200 {
        let mut data = Vec::new();
        for _ in 0..6 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 40) as u16;
            data.extend_from_slice(&len.to_le_bytes());
            // Small values make short varints and valid discriminants likely.
            data.extend((0..len).map(|i| ((x >> (i % 56)) % 12) as u8));
        }
        guest_frames(&data);
    }
}
