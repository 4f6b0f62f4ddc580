//! Stored rows with their integrity tags: must never panic, never accept a
//! row whose tag does not match.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    secrets_core::fuzz::stored_row(data);
});
