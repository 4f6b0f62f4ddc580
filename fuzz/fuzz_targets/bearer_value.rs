//! Bearer values (`Vault::authenticate_bearer`'s parsing and routing): must
//! never panic; what is accepted and where it goes is the documented rule.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    secrets_core::fuzz::bearer_value(data);
});
