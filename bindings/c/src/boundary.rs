//! The boundary every export goes through: the panic guard, the calling
//! thread's last error message, and the conversions of borrowed C inputs
//! and caller-provided outputs (NULL checks, UTF-8, the size-query
//! convention). Nothing here knows what a vault is.

use std::cell::RefCell;
use std::ffi::c_char;
use std::panic::{AssertUnwindSafe, catch_unwind};

use core_lib::Error;

use crate::result::sc_result;

/// A borrowed piece of text or bytes: `len` bytes at `ptr` (no terminating
/// NUL needed). Used for arrays of strings (scopes, headers, context parts).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct sc_str {
    /// The first byte; may be NULL only when `len` is 0.
    pub ptr: *const c_char,
    /// The length in bytes.
    pub len: usize,
}

/// Why a call failed, before it becomes an `sc_result` and a message.
#[derive(Debug)]
pub(crate) enum Fail {
    /// A required pointer was NULL (the argument's name).
    Null(&'static str),
    /// A text argument is not UTF-8.
    Utf8(&'static str),
    /// A text argument holds a NUL byte.
    Nul(&'static str),
    /// An output buffer is too small: this many bytes are needed.
    TooSmall(&'static str, usize),
    /// A handle from before `fork()` used in the child.
    Fork(&'static str),
    /// The core refused.
    Core(Error),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Self::Core(e)
    }
}

/// What an export's body returns.
pub(crate) type Outcome = Result<(), Fail>;

impl Fail {
    fn into_parts(self) -> (sc_result, String) {
        match self {
            Self::Null(arg) => (
                sc_result::SC_NULL_PARAMETER,
                format!("`{arg}` must not be NULL"),
            ),
            Self::Utf8(arg) => (sc_result::SC_INVALID_UTF8, format!("`{arg}` is not UTF-8")),
            Self::Nul(arg) => (
                sc_result::SC_EMBEDDED_NUL,
                format!("`{arg}` contains a NUL byte"),
            ),
            Self::TooSmall(arg, needed) => (
                sc_result::SC_BUFFER_TOO_SMALL,
                format!("`{arg}` is too small: {needed} bytes are needed"),
            ),
            Self::Fork(handle) => (
                sc_result::SC_USED_AFTER_FORK,
                format!(
                    "this `{handle}` was created in another process (before fork()); create a new one in this process"
                ),
            ),
            // The core's messages never hold a secret (its rule): passed on as is.
            Self::Core(e) => (sc_result::from_kind(e.kind()), e.to_string()),
        }
    }
}

thread_local! {
    /// The detailed message of the last failed call on this thread.
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

fn set_last_error(message: String) {
    LAST_ERROR.with(|m| *m.borrow_mut() = message);
}

/// Runs an export's body: clears the thread's last error, turns a failure
/// into its code (and message), and a panic into `SC_PANIC` instead of an
/// unwind across `extern "C"` (which aborts the host). `name` is the
/// export's, for the message; the panic's own payload is not shown (it
/// could quote anything).
pub(crate) fn guard(name: &'static str, body: impl FnOnce() -> Outcome) -> sc_result {
    set_last_error(String::new());
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => sc_result::SC_OK,
        Ok(Err(fail)) => {
            let (code, message) = fail.into_parts();
            set_last_error(message);
            code
        }
        Err(payload) => {
            // Dropping a payload can itself panic (a payload type with a
            // panicking Drop); keep that inside the boundary too.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            set_last_error(format!(
                "a panic was caught in `{name}` (a bug of secrets-core: please report it); the handles are still usable"
            ));
            sc_result::SC_PANIC
        }
    }
}

/// Runs a `_free` function's body: a panic is caught (and dropped: a free
/// has no result), and the thread's last error is left as it was, so that
/// freeing the outputs of a failed call does not erase its message.
pub(crate) fn free_guard(body: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(body)) {
        let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
    }
}

/// Copies the calling thread's last error message (the detail of the last
/// call on this thread that failed; empty after a success) into `buf`, with
/// its terminating NUL, following the size-query convention: `*out_len`
/// receives the size the text needs, NUL included; when `buf_len` is
/// smaller, nothing is written to `buf` and the result is
/// `SC_BUFFER_TOO_SMALL` (pass `buf = NULL, buf_len = 0` to ask the size).
/// This call does not change the last error. Messages never contain a
/// secret.
///
/// # Safety
///
/// `buf` is NULL or valid for `buf_len` bytes of writes; `out_len` is valid
/// for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_last_error_message(
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> sc_result {
    let message = LAST_ERROR.with(|m| m.borrow().clone());
    let body = || {
        // SAFETY: the caller's contract above.
        let out = unsafe { TextOut::new(buf, buf_len, out_len) }?;
        out.write(&message)
    };
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => sc_result::SC_OK,
        Ok(Err(fail)) => fail.into_parts().0,
        Err(_) => sc_result::SC_PANIC,
    }
}

/// The largest length a slice may have (`slice::from_raw_parts` requires it).
const MAX_LEN: usize = isize::MAX as usize;

/// `len` bytes at `ptr`, borrowed for the call. NULL is refused whatever
/// the length.
///
/// # Safety
///
/// `ptr` is NULL or valid for `len` bytes of reads for the call's duration.
pub(crate) unsafe fn bytes<'a>(
    name: &'static str,
    ptr: *const u8,
    len: usize,
) -> Result<&'a [u8], Fail> {
    if ptr.is_null() {
        return Err(Fail::Null(name));
    }
    if len > MAX_LEN {
        return Err(Error::invalid(name, "has an impossible length (over isize::MAX)").into());
    }
    // SAFETY: non-null, and the caller guarantees `len` readable bytes that
    // stay unchanged during the call; `len` fits in isize.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// UTF-8 text without NUL, `len` bytes at `ptr`.
///
/// # Safety
///
/// As [`bytes`].
pub(crate) unsafe fn text<'a>(
    name: &'static str,
    ptr: *const c_char,
    len: usize,
) -> Result<&'a str, Fail> {
    // SAFETY: the caller's contract, passed on.
    let b = unsafe { bytes(name, ptr.cast(), len) }?;
    let s = std::str::from_utf8(b).map_err(|_| Fail::Utf8(name))?;
    if s.contains('\0') {
        return Err(Fail::Nul(name));
    }
    Ok(s)
}

/// Optional text: NULL is `None` (its length is then ignored).
///
/// # Safety
///
/// As [`bytes`].
pub(crate) unsafe fn opt_text<'a>(
    name: &'static str,
    ptr: *const c_char,
    len: usize,
) -> Result<Option<&'a str>, Fail> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: the caller's contract, passed on.
    unsafe { text(name, ptr, len) }.map(Some)
}

/// An array of `count` [`sc_str`] at `items`; NULL is accepted only when
/// `count` is 0.
///
/// # Safety
///
/// `items` is NULL or valid for `count` reads, and each element's `ptr` for
/// its `len` bytes.
pub(crate) unsafe fn str_array<'a>(
    name: &'static str,
    items: *const sc_str,
    count: usize,
) -> Result<Vec<&'a str>, Fail> {
    if items.is_null() {
        return if count == 0 {
            Ok(Vec::new())
        } else {
            Err(Fail::Null(name))
        };
    }
    if count > MAX_LEN / std::mem::size_of::<sc_str>() {
        return Err(Error::invalid(name, "has an impossible length").into());
    }
    // SAFETY: non-null, `count` elements readable per the caller.
    let items = unsafe { std::slice::from_raw_parts(items, count) };
    items
        .iter()
        // SAFETY: each element's contract, per the caller.
        .map(|s| unsafe { text(name, s.ptr, s.len) })
        .collect()
}

/// An array of `count` `T` at `items`, borrowed; NULL is accepted only
/// when `count` is 0.
///
/// # Safety
///
/// `items` is NULL or valid for `count` reads of `T`.
pub(crate) unsafe fn raw_array<'a, T>(
    name: &'static str,
    items: *const T,
    count: usize,
) -> Result<&'a [T], Fail> {
    if items.is_null() {
        return if count == 0 {
            Ok(&[])
        } else {
            Err(Fail::Null(name))
        };
    }
    if count > MAX_LEN / std::mem::size_of::<T>().max(1) {
        return Err(Error::invalid(name, "has an impossible length").into());
    }
    // SAFETY: non-null, `count` elements readable per the caller.
    Ok(unsafe { std::slice::from_raw_parts(items, count) })
}

/// A required reference to a handle.
///
/// # Safety
///
/// `ptr` is NULL or a live handle of this type, from this library.
pub(crate) unsafe fn handle<'a, T>(name: &'static str, ptr: *const T) -> Result<&'a T, Fail> {
    // SAFETY: per the caller, a non-null `ptr` points to a live `T` that
    // this library allocated and only reads through shared references.
    unsafe { ptr.as_ref() }.ok_or(Fail::Null(name))
}

/// Where a handle or value is written on success: checked for NULL before
/// any work, written only at the end.
pub(crate) struct Out<T>(*mut T);

impl<T> Out<T> {
    /// # Safety
    ///
    /// `ptr` is NULL or valid for one write of `T`.
    pub(crate) unsafe fn new(name: &'static str, ptr: *mut T) -> Result<Self, Fail> {
        if ptr.is_null() {
            return Err(Fail::Null(name));
        }
        Ok(Self(ptr))
    }

    pub(crate) fn write(self, value: T) {
        // SAFETY: non-null and writable, per `new`'s contract; `T` here is a
        // plain value or a raw pointer, so nothing is dropped in its place.
        unsafe { self.0.write(value) }
    }
}

impl<T> Out<*mut T> {
    /// Boxes `value` and hands the pointer to the caller, who frees it with
    /// the type's `sc_*_free`.
    pub(crate) fn write_box(self, value: T) {
        self.write(Box::into_raw(Box::new(value)));
    }
}

/// A caller-provided text buffer with the size-query convention.
pub(crate) struct TextOut {
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
}

impl TextOut {
    /// Checks the pointers before any work: `out_len` is required; `buf`
    /// may be NULL only with `buf_len` 0 (a size query).
    ///
    /// # Safety
    ///
    /// `buf` is NULL or valid for `buf_len` bytes of writes; `out_len` NULL
    /// or valid for one write.
    pub(crate) unsafe fn new(
        buf: *mut c_char,
        buf_len: usize,
        out_len: *mut usize,
    ) -> Result<Self, Fail> {
        if out_len.is_null() {
            return Err(Fail::Null("out_len"));
        }
        if buf.is_null() && buf_len != 0 {
            return Err(Fail::Null("buf"));
        }
        Ok(Self {
            buf,
            cap: buf_len,
            out_len,
        })
    }

    /// Refuses, before any work, a buffer under `min` bytes (for outputs
    /// of operations with a side effect, whose size has a known bound).
    pub(crate) fn require(self, min: usize) -> Result<Self, Fail> {
        if self.cap < min {
            // SAFETY: `out_len` was checked non-null; the caller made it writable.
            unsafe { self.out_len.write(min) };
            return Err(Fail::TooSmall("buf", min));
        }
        Ok(self)
    }

    /// Writes `text` and its NUL if they fit; `*out_len` gets the size
    /// needed (NUL included) in either case.
    pub(crate) fn write(self, text: &str) -> Outcome {
        let needed = text.len() + 1;
        // SAFETY: `out_len` was checked non-null; the caller made it writable.
        unsafe { self.out_len.write(needed) };
        if self.cap < needed {
            return Err(Fail::TooSmall("buf", needed));
        }
        // SAFETY: `buf` is non-null (cap >= needed > 0) and writable for
        // `cap >= needed` bytes; the source is a distinct Rust allocation.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr(), self.buf.cast::<u8>(), text.len());
            self.buf.add(text.len()).write(0);
        }
        Ok(())
    }

    /// Serialises `value` as JSON into the buffer.
    pub(crate) fn json<T: serde::Serialize>(self, value: &T) -> Outcome {
        let text = serde_json::to_string(value).map_err(|_| Error::Internal {
            what: "an output did not serialise as JSON",
        })?;
        self.write(&text)
    }
}

/// The size of a buffer that holds any id this library returns (a UUID in
/// its 36-character text form, and a NUL).
pub const SC_ID_SIZE: usize = 37;

/// A caller-provided buffer for an id, of at least [`SC_ID_SIZE`] bytes:
/// checked before any work, so an operation with a side effect never runs
/// only to find its output does not fit.
pub(crate) struct IdOut(*mut c_char);

impl IdOut {
    /// # Safety
    ///
    /// `buf` is NULL or valid for `buf_len` bytes of writes.
    pub(crate) unsafe fn new(buf: *mut c_char, buf_len: usize) -> Result<Self, Fail> {
        if buf.is_null() {
            return Err(Fail::Null("id_buf"));
        }
        if buf_len < SC_ID_SIZE {
            return Err(Fail::TooSmall("id_buf", SC_ID_SIZE));
        }
        Ok(Self(buf))
    }

    pub(crate) fn write(self, id: &str) -> Outcome {
        let mut len = 0usize;
        let out = TextOut {
            buf: self.0,
            cap: SC_ID_SIZE,
            out_len: &raw mut len,
        };
        out.write(id)
    }
}

/// Serialising a core type for C: JSON in and out, with the core's serde.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    name: &'static str,
    text: &str,
) -> Result<T, Fail> {
    serde_json::from_str(text)
        // serde's own message can quote the input: only where it failed.
        .map_err(|e| {
            Error::invalid(
                name,
                format!(
                    "is not the expected JSON (at line {}, column {})",
                    e.line(),
                    e.column()
                ),
            )
            .into()
        })
}

/// A caller-provided byte buffer whose needed size is known before the
/// work (a sealed envelope is its plaintext plus a fixed overhead): checked
/// first, so a seal never runs only to be thrown away.
pub(crate) struct BytesOut {
    buf: *mut u8,
    out_len: *mut usize,
}

impl BytesOut {
    /// `*out_len` receives `needed`; a `buf_len` below it is
    /// `SC_BUFFER_TOO_SMALL` before any work.
    ///
    /// # Safety
    ///
    /// `buf` is NULL or valid for `buf_len` bytes of writes; `out_len` NULL
    /// or valid for one write.
    pub(crate) unsafe fn new(
        buf: *mut u8,
        buf_len: usize,
        out_len: *mut usize,
        needed: usize,
    ) -> Result<Self, Fail> {
        if out_len.is_null() {
            return Err(Fail::Null("out_len"));
        }
        if buf.is_null() && buf_len != 0 {
            return Err(Fail::Null("buf"));
        }
        // SAFETY: non-null and writable per the caller.
        unsafe { out_len.write(needed) };
        if buf_len < needed {
            return Err(Fail::TooSmall("buf", needed));
        }
        Ok(Self { buf, out_len })
    }

    /// Writes `bytes` (at most the `needed` checked in `new`) and their
    /// exact length.
    pub(crate) fn write(self, bytes: &[u8], needed: usize) -> Outcome {
        if bytes.len() > needed {
            return Err(Error::Internal {
                what: "an output was longer than announced",
            }
            .into());
        }
        // SAFETY: `buf` holds at least `needed >= bytes.len()` writable
        // bytes (checked in `new`; non-null unless `needed` is 0, and
        // copying 0 bytes to a dangling or null pointer is not done).
        unsafe {
            if !bytes.is_empty() {
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.buf, bytes.len());
            }
            self.out_len.write(bytes.len());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{Fail, parse_json};

    #[test]
    fn a_json_input_that_does_not_parse_is_not_quoted_back() {
        for bad in [r#""hunter2-secret""#, r#"{"a": "hunter2-secret""#] {
            let r = parse_json::<u32>("query_json", bad);
            let message = match r {
                Err(Fail::Core(e)) => e.to_string(),
                other => format!("not a core error: {other:?}"),
            };
            assert!(message.starts_with("invalid"), "{message}");
            assert!(message.contains("query_json"), "{message}");
            assert!(message.contains("line 1"), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
    }
}
