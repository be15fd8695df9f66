#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| actr_core::fuzzing::stream_sequence(data));
