//! OAuth token endpoint responses and sealed token sets: must never panic; what
//! parses round-trips and no error repeats token text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    secrets_core::fuzz::oauth_token_response(data);
});
