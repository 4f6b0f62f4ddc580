//! Arbitrary bytes into webhook verification (Standard Webhooks headers and
//! payload, GitHub signatures, secret text): must never panic, never accept
//! what the fixed secrets did not sign.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    secrets_core::fuzz::webhook_verify(data);
});
