//! GitHub `X-Hub-Signature-256` values: must never panic, verify exactly the
//! payload's own signature under the secret.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    secrets_core::fuzz::github_signature(data);
});
