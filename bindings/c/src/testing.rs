//! Test-only exports (feature `testing`): never in a release build.

use crate::boundary::guard;
use crate::result::sc_result;
use crate::vault::{sc_vault, vault_arg};

/// Panics inside the boundary, after checking `vault` (test-only: built
/// with the `testing` feature). Returns `SC_PANIC`; the vault stays usable.
///
/// # Safety
///
/// `vault` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_test_panic(vault: *const sc_vault) -> sc_result {
    guard("sc_test_panic", || {
        // SAFETY: the caller's contract above.
        let _vault = unsafe { vault_arg(vault) }?;
        #[allow(clippy::panic)]
        {
            panic!("sc_test_panic: a deliberate panic");
        }
    })
}
