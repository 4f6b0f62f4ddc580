//! `sc_keyring`: the key ring (a master key and its derived, rotating data
//! keys), alone (seal, open, rotate, rewrap) or given to `sc_vault_open`.

use std::sync::Arc;

use core_lib::Error;
use core_lib::crypto::{Context, KeyId, KeyRing, MasterKey, OVERHEAD};

use crate::boundary::{BytesOut, Out, bytes, free_guard, guard, handle, sc_str, str_array, text};
use crate::result::sc_result;
use crate::secret::sc_secret;

/// A key ring. Thread-safe: seal, open and rotate may run on several
/// threads at once. Free with `sc_keyring_free`; a vault opened with it
/// keeps its own reference, so the ring may be freed right after.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct sc_keyring {
    pub(crate) ring: Arc<KeyRing>,
}

fn key_id(active_key_id: u32) -> Result<KeyId, Error> {
    let id = if active_key_id == 0 { 1 } else { active_key_id };
    KeyId::new(id).ok_or_else(|| Error::invalid("active_key_id", "is not a valid key id"))
}

/// A key ring on a fresh random master key (for tests and ephemeral use:
/// the key cannot be read back, so nothing sealed survives the process).
///
/// # Safety
///
/// `ring_out` is NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_keyring_generate(ring_out: *mut *mut sc_keyring) -> sc_result {
    guard("sc_keyring_generate", || {
        // SAFETY: the caller's contract above.
        let out = unsafe { Out::new("ring_out", ring_out) }?;
        let ring = KeyRing::new(MasterKey::generate()?);
        out.write_box(sc_keyring {
            ring: Arc::new(ring),
        });
        Ok(())
    })
}

/// A key ring on the 32-byte master key `key` (copied; zeroize your copy),
/// with `active_key_id` the active data key (0 for the first, 1; pass what
/// `sc_keyring_rotate` returned last to reopen a rotated ring).
///
/// # Safety
///
/// `key` is NULL or valid for `key_len` bytes; `ring_out` NULL or valid for
/// one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_keyring_from_key(
    key: *const u8,
    key_len: usize,
    active_key_id: u32,
    ring_out: *mut *mut sc_keyring,
) -> sc_result {
    guard("sc_keyring_from_key", || {
        // SAFETY: the caller's contract above.
        let key = unsafe { bytes("key", key, key_len) }?;
        // SAFETY: as above.
        let out = unsafe { Out::new("ring_out", ring_out) }?;
        let ring = KeyRing::with_active(MasterKey::from_bytes(key)?, key_id(active_key_id)?);
        out.write_box(sc_keyring {
            ring: Arc::new(ring),
        });
        Ok(())
    })
}

/// As `sc_keyring_from_key`, the master key given as base64 text (as
/// `SECRETS_CORE_MASTER_KEY` holds it).
///
/// # Safety
///
/// `key_b64` is NULL or valid for `key_b64_len` bytes; `ring_out` NULL or
/// valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_keyring_from_base64(
    key_b64: *const std::ffi::c_char,
    key_b64_len: usize,
    active_key_id: u32,
    ring_out: *mut *mut sc_keyring,
) -> sc_result {
    guard("sc_keyring_from_base64", || {
        // SAFETY: the caller's contract above.
        let key = unsafe { text("key_b64", key_b64, key_b64_len) }?;
        // SAFETY: as above.
        let out = unsafe { Out::new("ring_out", ring_out) }?;
        let ring = KeyRing::with_active(MasterKey::from_base64(key)?, key_id(active_key_id)?);
        out.write_box(sc_keyring {
            ring: Arc::new(ring),
        });
        Ok(())
    })
}

/// Frees `ring`. NULL is a no-op. Vaults opened with it keep working.
///
/// # Safety
///
/// `ring` is NULL or a live `sc_keyring`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_keyring_free(ring: *mut sc_keyring) {
    free_guard(|| {
        if !ring.is_null() {
            // SAFETY: from `Box::into_raw` here, handed back once.
            drop(unsafe { Box::from_raw(ring) });
        }
    });
}

/// The number of bytes `sc_keyring_seal` adds to a plaintext.
pub const SC_SEAL_OVERHEAD: usize = 33;
// A literal above, so that the header can carry it; equal to the core's.
const _: () = assert!(SC_SEAL_OVERHEAD == OVERHEAD);

/// Seals `plaintext` under the active key, bound to `context` (its parts,
/// in order: where the value belongs, for example tenant, kind, name).
/// The envelope is `plaintext_len + SC_SEAL_OVERHEAD` bytes: `*out_len`
/// receives that size, and a smaller `buf_len` is `SC_BUFFER_TOO_SMALL`
/// before anything is sealed.
///
/// # Safety
///
/// `ring` NULL or live; `context` NULL (with `context_len` 0) or valid for
/// `context_len` elements; `plaintext` valid for `plaintext_len` bytes;
/// `buf` NULL or valid for `buf_len` bytes; `out_len` valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_keyring_seal(
    ring: *const sc_keyring,
    context: *const sc_str,
    context_len: usize,
    plaintext: *const u8,
    plaintext_len: usize,
    buf: *mut u8,
    buf_len: usize,
    out_len: *mut usize,
) -> sc_result {
    guard("sc_keyring_seal", || {
        // SAFETY: the caller's contract above (for each call below).
        let ring = unsafe { handle("ring", ring) }?;
        // SAFETY: as above.
        let parts = unsafe { str_array("context", context, context_len) }?;
        // SAFETY: as above.
        let plaintext = unsafe { bytes("plaintext", plaintext, plaintext_len) }?;
        let needed = plaintext.len().saturating_add(OVERHEAD);
        // SAFETY: as above.
        let out = unsafe { BytesOut::new(buf, buf_len, out_len, needed) }?;
        let sealed = ring.ring.seal(plaintext, &Context::new(parts))?;
        out.write(&sealed, needed)
    })
}

/// Opens an envelope sealed with `context`; the plaintext comes in a new
/// `sc_secret`.
///
/// # Safety
///
/// As `sc_keyring_seal` for the inputs; `plaintext_out` NULL or valid for
/// one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_keyring_open(
    ring: *const sc_keyring,
    context: *const sc_str,
    context_len: usize,
    envelope: *const u8,
    envelope_len: usize,
    plaintext_out: *mut *mut sc_secret,
) -> sc_result {
    guard("sc_keyring_open", || {
        // SAFETY: the caller's contract above.
        let ring = unsafe { handle("ring", ring) }?;
        // SAFETY: as above.
        let parts = unsafe { str_array("context", context, context_len) }?;
        // SAFETY: as above.
        let envelope = unsafe { bytes("envelope", envelope, envelope_len) }?;
        // SAFETY: as above.
        let out = unsafe { Out::new("plaintext_out", plaintext_out) }?;
        let opened = ring.ring.open(envelope, &Context::new(parts))?;
        out.write_box(sc_secret::new(opened.expose_secret()));
        Ok(())
    })
}

/// Re-seals an envelope under the active key, same context; the result has
/// the same length as `envelope` (`*out_len` receives it, checked first).
///
/// # Safety
///
/// As `sc_keyring_seal`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_keyring_rewrap(
    ring: *const sc_keyring,
    context: *const sc_str,
    context_len: usize,
    envelope: *const u8,
    envelope_len: usize,
    buf: *mut u8,
    buf_len: usize,
    out_len: *mut usize,
) -> sc_result {
    guard("sc_keyring_rewrap", || {
        // SAFETY: the caller's contract above.
        let ring = unsafe { handle("ring", ring) }?;
        // SAFETY: as above.
        let parts = unsafe { str_array("context", context, context_len) }?;
        // SAFETY: as above.
        let envelope = unsafe { bytes("envelope", envelope, envelope_len) }?;
        let needed = envelope.len();
        // SAFETY: as above.
        let out = unsafe { BytesOut::new(buf, buf_len, out_len, needed) }?;
        let rewrapped = ring.ring.rewrap(envelope, &Context::new(parts))?;
        out.write(&rewrapped, needed)
    })
}

/// Adds a data key and makes it active; `*key_id_out` receives its id
/// (keep it: `sc_keyring_from_key` needs it to rebuild the ring).
///
/// # Safety
///
/// `ring` NULL or live; `key_id_out` NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_keyring_rotate(
    ring: *const sc_keyring,
    key_id_out: *mut u32,
) -> sc_result {
    guard("sc_keyring_rotate", || {
        // SAFETY: the caller's contract above.
        let ring = unsafe { handle("ring", ring) }?;
        // SAFETY: as above.
        let out = unsafe { Out::new("key_id_out", key_id_out) }?;
        out.write(ring.ring.rotate()?.get());
        Ok(())
    })
}

/// The id of the active data key.
///
/// # Safety
///
/// `ring` NULL or live; `key_id_out` NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_keyring_active_key_id(
    ring: *const sc_keyring,
    key_id_out: *mut u32,
) -> sc_result {
    guard("sc_keyring_active_key_id", || {
        // SAFETY: the caller's contract above.
        let ring = unsafe { handle("ring", ring) }?;
        // SAFETY: as above.
        let out = unsafe { Out::new("key_id_out", key_id_out) }?;
        out.write(ring.ring.active_key_id().get());
        Ok(())
    })
}
