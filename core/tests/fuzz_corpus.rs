//! Replays every file under `fuzz/corpus/<target>/` through the function the
//! fuzz target calls, so the normal test run covers what fuzzing found.

use std::fs;
use std::path::PathBuf;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()));
    let mut count = 0;
    for entry in entries {
        let path = entry.expect("corpus entry").path();
        let data = fs::read(&path).expect("read corpus file");
        run(&data);
        count += 1;
    }
    assert!(count > 0, "corpus {target} is empty");
}

#[test]
fn envelope_decode_corpus() {
    replay("envelope_decode", actr_core::fuzzing::decode_envelopes);
}

#[test]
fn server_sequence_corpus() {
    replay("server_sequence", actr_core::fuzzing::server_sequence);
}

#[test]
fn client_sequence_corpus() {
    replay("client_sequence", actr_core::fuzzing::client_sequence);
}

#[test]
fn rpc_envelope_decode_corpus() {
    replay("rpc_envelope_decode", actr_core::fuzzing::rpc_envelope_decode);
}

#[test]
fn reassembly_sequence_corpus() {
    replay("reassembly_sequence", actr_core::fuzzing::reassembly_sequence);
}

#[test]
fn stream_sequence_corpus() {
    replay("stream_sequence", actr_core::fuzzing::stream_sequence);
}

#[test]
fn endpoint_sequence_corpus() {
    replay("endpoint_sequence", actr_core::fuzzing::endpoint_sequence);
}

#[test]
fn node_sequence_corpus() {
    replay("node_sequence", actr_core::fuzzing::node_sequence);
}

#[test]
fn package_verify_corpus() {
    replay("package_verify", actr_core::fuzzing::package_verify);
}

#[test]
fn manifest_parse_corpus() {
    replay("manifest_parse", actr_core::fuzzing::manifest_parse);
}
