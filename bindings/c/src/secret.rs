//! `sc_secret`: an owned buffer of secret bytes (a minted token, an opened
//! value, an injected environment) that is zeroized when freed.

use zeroize::Zeroizing;

use crate::boundary::{Out, free_guard, guard, handle};
use crate::result::sc_result;

/// Secret bytes handed to the caller: read them with `sc_secret_expose`,
/// free them with `sc_secret_free` (which zeroizes them), never `free()`.
/// Immutable: a `sc_secret` may be read from several threads at once.
#[allow(non_camel_case_types)]
pub struct sc_secret {
    /// The bytes, then one NUL that is not counted in their length (so a
    /// text secret is also a C string).
    bytes: Zeroizing<Vec<u8>>,
}

impl sc_secret {
    /// A copy of `value` (the original is zeroized by its own type).
    pub(crate) fn new(value: &[u8]) -> Self {
        let mut bytes = Zeroizing::new(Vec::with_capacity(value.len() + 1));
        bytes.extend_from_slice(value);
        bytes.push(0);
        Self { bytes }
    }

    fn len(&self) -> usize {
        self.bytes.len().saturating_sub(1)
    }
}

impl std::fmt::Debug for sc_secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("sc_secret([REDACTED])")
    }
}

/// The bytes of `secret`: `*data_out` points to them (followed by a NUL not
/// counted in `*len_out`), valid until `sc_secret_free(secret)`.
///
/// # Safety
///
/// `secret` is NULL or a live `sc_secret`; `data_out` and `len_out` are
/// NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_secret_expose(
    secret: *const sc_secret,
    data_out: *mut *const u8,
    len_out: *mut usize,
) -> sc_result {
    guard("sc_secret_expose", || {
        // SAFETY: the caller's contract above.
        let secret = unsafe { handle("secret", secret) }?;
        // SAFETY: as above.
        let data = unsafe { Out::new("data_out", data_out) }?;
        // SAFETY: as above.
        let len = unsafe { Out::new("len_out", len_out) }?;
        data.write(secret.bytes.as_ptr());
        len.write(secret.len());
        Ok(())
    })
}

/// Zeroizes and frees `secret`. NULL is a no-op.
///
/// # Safety
///
/// `secret` is NULL or a live `sc_secret` from this library, not used
/// afterwards (use after free is the caller's bug).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_secret_free(secret: *mut sc_secret) {
    free_guard(|| {
        if !secret.is_null() {
            // SAFETY: allocated by `Box::into_raw` in this library, handed
            // back once by the caller.
            drop(unsafe { Box::from_raw(secret) });
        }
    });
}
