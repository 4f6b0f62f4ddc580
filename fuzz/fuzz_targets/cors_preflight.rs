//! Origin headers and CORS preflight requests against an allowlist: must never
//! panic, never grant an origin that is not in the allowlist.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    secrets_core::fuzz::cors_preflight(data);
});
