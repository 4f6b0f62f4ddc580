//! PKCE code verifiers: must never panic, accept exactly RFC 7636 verifiers.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    secrets_core::fuzz::pkce_verifier(data);
});
