#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::fuzzing::idx(data));
