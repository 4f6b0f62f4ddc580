//! `sc_result`: what every function of the C ABI returns, with numbers fixed
//! for good (append-only, never reused or renumbered).
//!
//! - `0` is success;
//! - `1` to `99` are the boundary's own failures (a NULL pointer, a caught
//!   panic, text that is not UTF-8, a buffer too small, a handle used in a
//!   forked child, a NUL inside a text);
//! - `100 + n` is the core's [`ErrorKind`] number `n` (`101`
//!   `invalid_input` to `125` `outcome_unknown`), so the table follows the core's own
//!   stable numbers; `100` itself is a kind this build does not know (the
//!   core's `ErrorKind` is `#[non_exhaustive]`).

use std::ffi::c_char;

use core_lib::error::ErrorKind;

/// The result of every `sc_*` function that can fail. Numbers are fixed and
/// append-only: `0` success, `1`-`99` the boundary's own codes, `100 + n`
/// the core's error kind number `n`, `100` a kind this build does not know.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum sc_result {
    /// Success.
    SC_OK = 0,
    /// A required pointer argument was NULL.
    SC_NULL_PARAMETER = 1,
    /// The library panicked (a bug); the panic was caught at the boundary.
    /// The handles stay usable.
    SC_PANIC = 2,
    /// A text argument was not UTF-8.
    SC_INVALID_UTF8 = 3,
    /// An output buffer was too small; the size needed was written to the
    /// size output and nothing else was written.
    SC_BUFFER_TOO_SMALL = 4,
    /// A handle created before `fork()` was used in the child process.
    SC_USED_AFTER_FORK = 5,
    /// A text argument contained a NUL byte.
    SC_EMBEDDED_NUL = 6,
    /// An error kind this build of the library does not know.
    SC_ERR_UNKNOWN = 100,
    /// `invalid_input`: an argument is malformed, too short, or asks for weak parameters.
    SC_ERR_INVALID_INPUT = 101,
    /// `too_large`: an input is over its documented limit.
    SC_ERR_TOO_LARGE = 102,
    /// `invalid_credentials`: a login failed (the same for every cause).
    SC_ERR_INVALID_CREDENTIALS = 103,
    /// `invalid_token`: a presented token was refused.
    SC_ERR_INVALID_TOKEN = 104,
    /// `forbidden`: the caller may not do this (audited).
    SC_ERR_FORBIDDEN = 105,
    /// `webhook_rejected`: an inbound webhook was refused.
    SC_ERR_WEBHOOK_REJECTED = 106,
    /// `oauth_failed`: an OAuth step failed.
    SC_ERR_OAUTH_FAILED = 107,
    /// `not_found`: a row that must exist does not.
    SC_ERR_NOT_FOUND = 108,
    /// `already_exists`: an insert collided with an existing id or unique key.
    SC_ERR_ALREADY_EXISTS = 109,
    /// `conflict`: a row changed since it was read; read again and retry.
    SC_ERR_CONFLICT = 110,
    /// `contended`: a race was lost after retries; retry later.
    SC_ERR_CONTENDED = 111,
    /// `deletion_protected`: the tenant has deletion protection on.
    SC_ERR_DELETION_PROTECTED = 112,
    /// `decryption_failed`: a ciphertext or MAC did not authenticate.
    SC_ERR_DECRYPTION_FAILED = 113,
    /// `unsupported_version`: an envelope version this build cannot read.
    SC_ERR_UNSUPPORTED_VERSION = 114,
    /// `unknown_key`: an envelope names a key the key ring does not hold.
    SC_ERR_UNKNOWN_KEY = 115,
    /// `key_exhausted`: a data key has sealed its safe maximum; rotate.
    SC_ERR_KEY_EXHAUSTED = 116,
    /// `tampered`: a stored row failed its integrity check (audited).
    SC_ERR_TAMPERED = 117,
    /// `wrong_master_key`: the master key is not the store's.
    SC_ERR_WRONG_MASTER_KEY = 118,
    /// `audit_chain_broken`: the audit log does not verify.
    SC_ERR_AUDIT_CHAIN_BROKEN = 119,
    /// `schema_too_new`: the database was written by a newer version.
    SC_ERR_SCHEMA_TOO_NEW = 120,
    /// `storage`: the storage backend failed (I/O, connection, lock).
    SC_ERR_STORAGE = 121,
    /// `corrupt`: stored data does not parse as what it must be.
    SC_ERR_CORRUPT = 122,
    /// `internal`: a bug or an environment failure.
    SC_ERR_INTERNAL = 123,
    /// `rng`: the operating system's random number generator failed.
    SC_ERR_RNG = 124,
    /// `outcome_unknown`: the store's connection was lost while a change
    /// was committed; it may or may not be applied: read it back before
    /// retrying.
    SC_ERR_OUTCOME_UNKNOWN = 125,
}

impl sc_result {
    /// Every code, in number order (the test's and the docs' table).
    pub const ALL: [Self; 33] = [
        Self::SC_OK,
        Self::SC_NULL_PARAMETER,
        Self::SC_PANIC,
        Self::SC_INVALID_UTF8,
        Self::SC_BUFFER_TOO_SMALL,
        Self::SC_USED_AFTER_FORK,
        Self::SC_EMBEDDED_NUL,
        Self::SC_ERR_UNKNOWN,
        Self::SC_ERR_INVALID_INPUT,
        Self::SC_ERR_TOO_LARGE,
        Self::SC_ERR_INVALID_CREDENTIALS,
        Self::SC_ERR_INVALID_TOKEN,
        Self::SC_ERR_FORBIDDEN,
        Self::SC_ERR_WEBHOOK_REJECTED,
        Self::SC_ERR_OAUTH_FAILED,
        Self::SC_ERR_NOT_FOUND,
        Self::SC_ERR_ALREADY_EXISTS,
        Self::SC_ERR_CONFLICT,
        Self::SC_ERR_CONTENDED,
        Self::SC_ERR_DELETION_PROTECTED,
        Self::SC_ERR_DECRYPTION_FAILED,
        Self::SC_ERR_UNSUPPORTED_VERSION,
        Self::SC_ERR_UNKNOWN_KEY,
        Self::SC_ERR_KEY_EXHAUSTED,
        Self::SC_ERR_TAMPERED,
        Self::SC_ERR_WRONG_MASTER_KEY,
        Self::SC_ERR_AUDIT_CHAIN_BROKEN,
        Self::SC_ERR_SCHEMA_TOO_NEW,
        Self::SC_ERR_STORAGE,
        Self::SC_ERR_CORRUPT,
        Self::SC_ERR_INTERNAL,
        Self::SC_ERR_RNG,
        Self::SC_ERR_OUTCOME_UNKNOWN,
    ];

    /// The code for a core error kind: `100 +` its number; `SC_ERR_UNKNOWN`
    /// for a kind added to the core after this table.
    #[must_use]
    pub fn from_kind(kind: ErrorKind) -> Self {
        let n = 100 + u32::from(kind.number());
        Self::ALL
            .into_iter()
            .find(|r| *r as u32 == n)
            .unwrap_or(Self::SC_ERR_UNKNOWN)
    }

    /// The core kind behind a code, if it is one.
    fn kind(self) -> Option<ErrorKind> {
        let n = (self as u32).checked_sub(100)?;
        ErrorKind::from_number(u16::try_from(n).ok()?)
    }

    /// The constant's name, NUL-terminated (`SC_ERR_NOT_FOUND\0`).
    fn name(self) -> &'static str {
        match self {
            Self::SC_OK => "SC_OK\0",
            Self::SC_NULL_PARAMETER => "SC_NULL_PARAMETER\0",
            Self::SC_PANIC => "SC_PANIC\0",
            Self::SC_INVALID_UTF8 => "SC_INVALID_UTF8\0",
            Self::SC_BUFFER_TOO_SMALL => "SC_BUFFER_TOO_SMALL\0",
            Self::SC_USED_AFTER_FORK => "SC_USED_AFTER_FORK\0",
            Self::SC_EMBEDDED_NUL => "SC_EMBEDDED_NUL\0",
            Self::SC_ERR_UNKNOWN => "SC_ERR_UNKNOWN\0",
            Self::SC_ERR_INVALID_INPUT => "SC_ERR_INVALID_INPUT\0",
            Self::SC_ERR_TOO_LARGE => "SC_ERR_TOO_LARGE\0",
            Self::SC_ERR_INVALID_CREDENTIALS => "SC_ERR_INVALID_CREDENTIALS\0",
            Self::SC_ERR_INVALID_TOKEN => "SC_ERR_INVALID_TOKEN\0",
            Self::SC_ERR_FORBIDDEN => "SC_ERR_FORBIDDEN\0",
            Self::SC_ERR_WEBHOOK_REJECTED => "SC_ERR_WEBHOOK_REJECTED\0",
            Self::SC_ERR_OAUTH_FAILED => "SC_ERR_OAUTH_FAILED\0",
            Self::SC_ERR_NOT_FOUND => "SC_ERR_NOT_FOUND\0",
            Self::SC_ERR_ALREADY_EXISTS => "SC_ERR_ALREADY_EXISTS\0",
            Self::SC_ERR_CONFLICT => "SC_ERR_CONFLICT\0",
            Self::SC_ERR_CONTENDED => "SC_ERR_CONTENDED\0",
            Self::SC_ERR_DELETION_PROTECTED => "SC_ERR_DELETION_PROTECTED\0",
            Self::SC_ERR_DECRYPTION_FAILED => "SC_ERR_DECRYPTION_FAILED\0",
            Self::SC_ERR_UNSUPPORTED_VERSION => "SC_ERR_UNSUPPORTED_VERSION\0",
            Self::SC_ERR_UNKNOWN_KEY => "SC_ERR_UNKNOWN_KEY\0",
            Self::SC_ERR_KEY_EXHAUSTED => "SC_ERR_KEY_EXHAUSTED\0",
            Self::SC_ERR_TAMPERED => "SC_ERR_TAMPERED\0",
            Self::SC_ERR_WRONG_MASTER_KEY => "SC_ERR_WRONG_MASTER_KEY\0",
            Self::SC_ERR_AUDIT_CHAIN_BROKEN => "SC_ERR_AUDIT_CHAIN_BROKEN\0",
            Self::SC_ERR_SCHEMA_TOO_NEW => "SC_ERR_SCHEMA_TOO_NEW\0",
            Self::SC_ERR_STORAGE => "SC_ERR_STORAGE\0",
            Self::SC_ERR_CORRUPT => "SC_ERR_CORRUPT\0",
            Self::SC_ERR_INTERNAL => "SC_ERR_INTERNAL\0",
            Self::SC_ERR_RNG => "SC_ERR_RNG\0",
            Self::SC_ERR_OUTCOME_UNKNOWN => "SC_ERR_OUTCOME_UNKNOWN\0",
        }
    }

    /// A fixed one-line description, NUL-terminated. The kinds' texts are
    /// the meanings of the core's `ErrorKind` table.
    fn message(self) -> &'static str {
        match self {
            Self::SC_OK => "success\0",
            Self::SC_NULL_PARAMETER => "a required pointer argument was NULL\0",
            Self::SC_PANIC => "the library panicked (a bug); the panic was caught\0",
            Self::SC_INVALID_UTF8 => "a text argument is not UTF-8\0",
            Self::SC_BUFFER_TOO_SMALL => {
                "an output buffer is too small; the size needed was written\0"
            }
            Self::SC_USED_AFTER_FORK => "a handle created before fork() was used in the child\0",
            Self::SC_EMBEDDED_NUL => "a text argument contains a NUL byte\0",
            Self::SC_ERR_UNKNOWN => "an error of a kind this build does not know\0",
            Self::SC_ERR_INVALID_INPUT => {
                "an argument is malformed, too short, or asks for weak parameters\0"
            }
            Self::SC_ERR_TOO_LARGE => "an input is over its documented limit\0",
            Self::SC_ERR_INVALID_CREDENTIALS => "invalid credentials\0",
            Self::SC_ERR_INVALID_TOKEN => "a presented token was refused\0",
            Self::SC_ERR_FORBIDDEN => "the caller may not do this (audited)\0",
            Self::SC_ERR_WEBHOOK_REJECTED => "an inbound webhook was refused\0",
            Self::SC_ERR_OAUTH_FAILED => "an OAuth step failed\0",
            Self::SC_ERR_NOT_FOUND => "a row that must exist does not\0",
            Self::SC_ERR_ALREADY_EXISTS => "an insert collided with an existing id or unique key\0",
            Self::SC_ERR_CONFLICT => "a row changed since it was read; read again and retry\0",
            Self::SC_ERR_CONTENDED => "a race was lost after retries; retry later\0",
            Self::SC_ERR_DELETION_PROTECTED => "the tenant has deletion protection on\0",
            Self::SC_ERR_DECRYPTION_FAILED => "a stored ciphertext or MAC did not authenticate\0",
            Self::SC_ERR_UNSUPPORTED_VERSION => {
                "an envelope has a format version this build cannot read\0"
            }
            Self::SC_ERR_UNKNOWN_KEY => "an envelope names a key the key ring does not hold\0",
            Self::SC_ERR_KEY_EXHAUSTED => "a data key has sealed its safe maximum; rotate\0",
            Self::SC_ERR_TAMPERED => "a stored row failed its integrity check (audited)\0",
            Self::SC_ERR_WRONG_MASTER_KEY => {
                "the master key is not the one the store was created with\0"
            }
            Self::SC_ERR_AUDIT_CHAIN_BROKEN => "the audit log does not verify\0",
            Self::SC_ERR_SCHEMA_TOO_NEW => "the database was written by a newer version\0",
            Self::SC_ERR_STORAGE => "the storage backend failed (I/O, connection, lock)\0",
            Self::SC_ERR_CORRUPT => "stored data does not parse as what it must be\0",
            Self::SC_ERR_INTERNAL => "a bug or an environment failure\0",
            Self::SC_ERR_RNG => "the operating system's random number generator failed\0",
            Self::SC_ERR_OUTCOME_UNKNOWN => {
                "the store's connection was lost during a commit: the change may or may not be applied\0"
            }
        }
    }
}

/// The result code with this number, if there is one.
fn from_number(n: u32) -> Option<sc_result> {
    sc_result::ALL.into_iter().find(|r| *r as u32 == n)
}

/// The name of a result code (`"SC_ERR_NOT_FOUND"`), or `"SC_UNKNOWN_RESULT"`
/// for a number that is no code. A static string: never free it.
#[unsafe(no_mangle)]
pub extern "C" fn sc_result_name(result: u32) -> *const c_char {
    from_number(result)
        .map_or("SC_UNKNOWN_RESULT\0", sc_result::name)
        .as_ptr()
        .cast()
}

/// A fixed one-line description of a result code, without any detail of the
/// call (see `sc_last_error_message` for that). A static string: never free
/// it.
#[unsafe(no_mangle)]
pub extern "C" fn sc_result_message(result: u32) -> *const c_char {
    from_number(result)
        .map_or("not a result code of this library\0", sc_result::message)
        .as_ptr()
        .cast()
}

/// The core's snake_case code of the error kind behind a result
/// (`"not_found"`), or NULL when the result is not a core error kind. A
/// static string: never free it.
#[unsafe(no_mangle)]
pub extern "C" fn sc_result_kind_code(result: u32) -> *const c_char {
    match from_number(result).and_then(sc_result::kind) {
        Some(kind) => kind_code(kind).as_ptr().cast(),
        None => std::ptr::null(),
    }
}

/// The kind's code, NUL-terminated (the core's strings are not).
fn kind_code(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidInput => "invalid_input\0",
        ErrorKind::TooLarge => "too_large\0",
        ErrorKind::InvalidCredentials => "invalid_credentials\0",
        ErrorKind::InvalidToken => "invalid_token\0",
        ErrorKind::Forbidden => "forbidden\0",
        ErrorKind::WebhookRejected => "webhook_rejected\0",
        ErrorKind::OAuthFailed => "oauth_failed\0",
        ErrorKind::NotFound => "not_found\0",
        ErrorKind::AlreadyExists => "already_exists\0",
        ErrorKind::Conflict => "conflict\0",
        ErrorKind::Contended => "contended\0",
        ErrorKind::DeletionProtected => "deletion_protected\0",
        ErrorKind::DecryptionFailed => "decryption_failed\0",
        ErrorKind::UnsupportedVersion => "unsupported_version\0",
        ErrorKind::UnknownKey => "unknown_key\0",
        ErrorKind::KeyExhausted => "key_exhausted\0",
        ErrorKind::Tampered => "tampered\0",
        ErrorKind::WrongMasterKey => "wrong_master_key\0",
        ErrorKind::AuditChainBroken => "audit_chain_broken\0",
        ErrorKind::SchemaTooNew => "schema_too_new\0",
        ErrorKind::Storage => "storage\0",
        ErrorKind::Corrupt => "corrupt\0",
        ErrorKind::Internal => "internal\0",
        ErrorKind::Rng => "rng\0",
        ErrorKind::OutcomeUnknown => "outcome_unknown\0",
        _ => "unknown\0",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every core kind has its code at `100 + number`, named after the
    /// kind's code, with the kind's code text: the table cannot drift from
    /// the core's.
    #[test]
    fn kinds_map_to_100_plus_their_number() {
        for kind in ErrorKind::ALL {
            let r = sc_result::from_kind(kind);
            assert_eq!(r as u32, 100 + u32::from(kind.number()), "{kind:?}");
            assert_eq!(r.kind(), Some(kind));
            let name = r.name().trim_end_matches('\0');
            assert_eq!(name, format!("SC_ERR_{}", kind.code().to_uppercase()));
            assert_eq!(kind_code(kind).trim_end_matches('\0'), kind.code());
        }
        assert_eq!(
            sc_result::ALL.len(),
            7 + 1 + ErrorKind::ALL.len(),
            "a new core kind needs its SC_ERR_ code"
        );
    }

    /// The published numbers, as a copy of their own: renumbering fails here.
    #[test]
    fn boundary_numbers_are_pinned() {
        let pinned = [
            (sc_result::SC_OK, 0),
            (sc_result::SC_NULL_PARAMETER, 1),
            (sc_result::SC_PANIC, 2),
            (sc_result::SC_INVALID_UTF8, 3),
            (sc_result::SC_BUFFER_TOO_SMALL, 4),
            (sc_result::SC_USED_AFTER_FORK, 5),
            (sc_result::SC_EMBEDDED_NUL, 6),
            (sc_result::SC_ERR_UNKNOWN, 100),
        ];
        for (r, n) in pinned {
            assert_eq!(r as u32, n);
        }
    }

    #[test]
    fn every_name_and_message_is_nul_terminated_once() {
        for r in sc_result::ALL {
            for s in [r.name(), r.message()] {
                assert!(s.ends_with('\0'));
                assert_eq!(s.matches('\0').count(), 1);
            }
            assert_eq!(from_number(r as u32), Some(r));
        }
        assert_eq!(from_number(7), None);
        assert_eq!(from_number(126), None);
    }
}
