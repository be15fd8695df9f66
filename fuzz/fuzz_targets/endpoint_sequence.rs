#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| actr_core::fuzzing::endpoint_sequence(data));
