//! Standard Webhooks secrets (`whsec_...`), strict and lenient: must never
//! panic; a secret read round-trips through its text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    secrets_core::fuzz::webhook_secret(data);
});
