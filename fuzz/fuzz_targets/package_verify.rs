#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| actr_core::fuzzing::package_verify(data));
