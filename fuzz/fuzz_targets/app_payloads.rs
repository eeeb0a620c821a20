#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pastry_tests::harness::app_payloads(data));
