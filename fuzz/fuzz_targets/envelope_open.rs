//! Arbitrary bytes into `KeyRing::open`: must never panic, never open.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    secrets_core::fuzz::envelope_open(data);
});
