#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mdmkit_fuzz_targets::facade::audit_head(data));
