//! cargo-fuzz target: see `secrets_core::fuzz::stored_hash_parse`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| secrets_core::fuzz::stored_hash_parse(data));
