//! cargo-fuzz target: see `secrets_core::fuzz::token_parse`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| secrets_core::fuzz::token_parse(data));
