//! Endpoint and redirect URLs (OAuth, webhook endpoints): must never panic,
//! never accept a URL that is not https (or http to loopback) as parsed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    secrets_core::fuzz::endpoint_url(data);
});
