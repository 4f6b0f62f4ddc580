//! Standard Webhooks headers (v1) and payloads: must never panic; a verified
//! message is the one signed, over exactly this payload.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    secrets_core::fuzz::webhook_headers(data);
});
