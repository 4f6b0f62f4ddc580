//! cargo-fuzz target: see `secrets_core::fuzz::jwt_decode`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| secrets_core::fuzz::jwt_decode(data));
