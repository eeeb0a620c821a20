#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pastry_peerlet::fuzzing::inputs(data));
