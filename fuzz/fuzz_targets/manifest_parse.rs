#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| actr_core::fuzzing::manifest_parse(data));
