#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    actr_wasm::fuzzing::guest_frames(data);
});
