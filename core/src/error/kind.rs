//! Stable error kinds: the contract other languages and protocols map to.

use std::fmt;

/// What kind of failure an [`Error`](crate::Error) is, stable across
/// releases: the one thing a host, a binding or a protocol front end should
/// branch on.
///
/// Every kind has a fixed [number](Self::number) (append-only: a number is
/// never reused or renumbered), a snake_case [code](Self::code) and an HTTP
/// [status](Self::http_status). The C ABI returns the number, the Python
/// binding raises one exception class per kind, the axum front end answers
/// with the status and the code; all of them map from this table, and from
/// nowhere else.
///
/// | number | code | HTTP | meaning |
/// |---:|---|---:|---|
/// | 1 | `invalid_input` | 400 | an argument is malformed, too short, or asks for weak parameters |
/// | 2 | `too_large` | 413 | an input is over its documented limit |
/// | 3 | `invalid_credentials` | 401 | a login failed (the same for every cause) |
/// | 4 | `invalid_token` | 401 | a presented token was refused ([`TokenRejection`](crate::error::TokenRejection) says why) |
/// | 5 | `forbidden` | 403 | the caller may not do this (audited) |
/// | 6 | `webhook_rejected` | 401 | an inbound webhook was refused |
/// | 7 | `oauth_failed` | 400 | an OAuth step failed (state, exchange or refresh) |
/// | 8 | `not_found` | 404 | a row that must exist does not |
/// | 9 | `already_exists` | 409 | an insert collided with an existing id or unique key |
/// | 10 | `conflict` | 409 | a row changed since it was read; read again and retry |
/// | 11 | `contended` | 503 | a race was lost after retries; retry the request later |
/// | 12 | `deletion_protected` | 409 | the tenant has deletion protection on |
/// | 13 | `decryption_failed` | 500 | a stored ciphertext or MAC did not authenticate |
/// | 14 | `unsupported_version` | 500 | an envelope has a format version this build cannot read |
/// | 15 | `unknown_key` | 500 | an envelope names a key the key ring does not hold |
/// | 16 | `key_exhausted` | 500 | a data key has sealed its safe maximum; rotate |
/// | 17 | `tampered` | 500 | a stored row failed its integrity check (audited) |
/// | 18 | `wrong_master_key` | 500 | the master key is not the one the store was created with |
/// | 19 | `audit_chain_broken` | 500 | the audit log does not verify |
/// | 20 | `schema_too_new` | 500 | the database was written by a newer version |
/// | 21 | `storage` | 503 | the storage backend failed (I/O, connection, lock) |
/// | 22 | `corrupt` | 500 | stored data does not parse as what it must be |
/// | 23 | `internal` | 500 | a bug or an environment failure (a task panicked, no runtime) |
/// | 24 | `rng` | 500 | the operating system's random number generator failed |
/// | 25 | `outcome_unknown` | 500 | the store's connection was lost while a change was committed: it may or may not be applied; read it back before retrying |
///
/// 4xx kinds describe the request and may be shown to its sender (the axum
/// front end still sends only the code and a fixed message); 5xx kinds
/// describe the server, and their messages are for its operator only.
///
/// ```
/// use secrets_core::error::ErrorKind;
/// use secrets_core::Error;
///
/// let e = Error::invalid("region", "must be `eu` or `us`");
/// assert_eq!(e.kind(), ErrorKind::InvalidInput);
/// assert_eq!((e.kind().number(), e.kind().code(), e.kind().http_status()), (1, "invalid_input", 400));
/// assert_eq!(ErrorKind::from_number(1), Some(ErrorKind::InvalidInput));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u16)]
pub enum ErrorKind {
    /// An argument is malformed, too short, or asks for weak parameters.
    InvalidInput = 1,
    /// An input is over its documented limit.
    TooLarge = 2,
    /// A login failed (unknown user, wrong password, disabled account: the
    /// same kind for each).
    InvalidCredentials = 3,
    /// A presented token was refused.
    InvalidToken = 4,
    /// The caller may not do this; the attempt was audited.
    Forbidden = 5,
    /// An inbound webhook was refused.
    WebhookRejected = 6,
    /// An OAuth step failed.
    OAuthFailed = 7,
    /// A row or tenant that must exist does not.
    NotFound = 8,
    /// An insert collided with an existing id or unique key.
    AlreadyExists = 9,
    /// A row changed since it was read.
    Conflict = 10,
    /// A race was lost after retries; the request may be retried later.
    Contended = 11,
    /// The tenant has deletion protection on.
    DeletionProtected = 12,
    /// A ciphertext or MAC did not authenticate.
    DecryptionFailed = 13,
    /// An envelope has a format version this build cannot read.
    UnsupportedVersion = 14,
    /// An envelope names a key the key ring does not hold.
    UnknownKey = 15,
    /// A data key has sealed its safe maximum of values.
    KeyExhausted = 16,
    /// A stored row failed its integrity check.
    Tampered = 17,
    /// The master key is not the store's.
    WrongMasterKey = 18,
    /// The audit log does not verify.
    AuditChainBroken = 19,
    /// The database was written by a newer version.
    SchemaTooNew = 20,
    /// The storage backend failed.
    Storage = 21,
    /// Stored data does not parse as what it must be.
    Corrupt = 22,
    /// A bug or an environment failure.
    Internal = 23,
    /// The operating system's random number generator failed.
    Rng = 24,
    /// The connection to the store was lost while a change was being
    /// committed: it may or may not have been applied. Not retryable as
    /// is: read the change back first.
    OutcomeUnknown = 25,
}

impl ErrorKind {
    /// Every kind, in number order.
    pub const ALL: [Self; 25] = [
        Self::InvalidInput,
        Self::TooLarge,
        Self::InvalidCredentials,
        Self::InvalidToken,
        Self::Forbidden,
        Self::WebhookRejected,
        Self::OAuthFailed,
        Self::NotFound,
        Self::AlreadyExists,
        Self::Conflict,
        Self::Contended,
        Self::DeletionProtected,
        Self::DecryptionFailed,
        Self::UnsupportedVersion,
        Self::UnknownKey,
        Self::KeyExhausted,
        Self::Tampered,
        Self::WrongMasterKey,
        Self::AuditChainBroken,
        Self::SchemaTooNew,
        Self::Storage,
        Self::Corrupt,
        Self::Internal,
        Self::Rng,
        Self::OutcomeUnknown,
    ];

    /// The kind's fixed number (C result codes are this, negated or not as
    /// the binding documents).
    #[must_use]
    pub const fn number(self) -> u16 {
        self as u16
    }

    /// The kind with this number, if any.
    #[must_use]
    pub fn from_number(n: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.number() == n)
    }

    /// The kind's stable snake_case code (`invalid_token`).
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Self::InvalidInput => "invalid_input",
            Self::TooLarge => "too_large",
            Self::InvalidCredentials => "invalid_credentials",
            Self::InvalidToken => "invalid_token",
            Self::Forbidden => "forbidden",
            Self::WebhookRejected => "webhook_rejected",
            Self::OAuthFailed => "oauth_failed",
            Self::NotFound => "not_found",
            Self::AlreadyExists => "already_exists",
            Self::Conflict => "conflict",
            Self::Contended => "contended",
            Self::DeletionProtected => "deletion_protected",
            Self::DecryptionFailed => "decryption_failed",
            Self::UnsupportedVersion => "unsupported_version",
            Self::UnknownKey => "unknown_key",
            Self::KeyExhausted => "key_exhausted",
            Self::Tampered => "tampered",
            Self::WrongMasterKey => "wrong_master_key",
            Self::AuditChainBroken => "audit_chain_broken",
            Self::SchemaTooNew => "schema_too_new",
            Self::Storage => "storage",
            Self::Corrupt => "corrupt",
            Self::Internal => "internal",
            Self::Rng => "rng",
            Self::OutcomeUnknown => "outcome_unknown",
        }
    }

    /// The HTTP status a front end answers with.
    #[must_use]
    pub const fn http_status(self) -> u16 {
        match self {
            Self::InvalidInput | Self::OAuthFailed => 400,
            Self::InvalidCredentials | Self::InvalidToken | Self::WebhookRejected => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::AlreadyExists | Self::Conflict | Self::DeletionProtected => 409,
            Self::TooLarge => 413,
            Self::Contended | Self::Storage => 503,
            Self::DecryptionFailed
            | Self::UnsupportedVersion
            | Self::UnknownKey
            | Self::KeyExhausted
            | Self::Tampered
            | Self::WrongMasterKey
            | Self::AuditChainBroken
            | Self::SchemaTooNew
            | Self::Corrupt
            | Self::Internal
            | Self::Rng
            | Self::OutcomeUnknown => 500,
        }
    }

    /// Whether the same request may succeed if simply retried (a lost race,
    /// a storage hiccup), as opposed to needing a different request.
    #[must_use]
    pub const fn is_retryable(self) -> bool {
        matches!(self, Self::Conflict | Self::Contended | Self::Storage)
    }

    /// Whether the failure is the request's (a 4xx status), so its message
    /// may be shown to whoever sent it.
    #[must_use]
    pub const fn is_client_error(self) -> bool {
        self.http_status() < 500
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorKind;

    /// The numbers and codes are a published contract: this table is the
    /// test's own copy, so renumbering or renaming a kind fails here.
    #[test]
    fn numbers_and_codes_are_pinned() {
        let pinned = [
            (1, "invalid_input", 400),
            (2, "too_large", 413),
            (3, "invalid_credentials", 401),
            (4, "invalid_token", 401),
            (5, "forbidden", 403),
            (6, "webhook_rejected", 401),
            (7, "oauth_failed", 400),
            (8, "not_found", 404),
            (9, "already_exists", 409),
            (10, "conflict", 409),
            (11, "contended", 503),
            (12, "deletion_protected", 409),
            (13, "decryption_failed", 500),
            (14, "unsupported_version", 500),
            (15, "unknown_key", 500),
            (16, "key_exhausted", 500),
            (17, "tampered", 500),
            (18, "wrong_master_key", 500),
            (19, "audit_chain_broken", 500),
            (20, "schema_too_new", 500),
            (21, "storage", 503),
            (22, "corrupt", 500),
            (23, "internal", 500),
            (24, "rng", 500),
            (25, "outcome_unknown", 500),
        ];
        assert_eq!(pinned.len(), ErrorKind::ALL.len());
        for (kind, (n, code, status)) in ErrorKind::ALL.into_iter().zip(pinned) {
            assert_eq!(
                (kind.number(), kind.code(), kind.http_status()),
                (n, code, status)
            );
            assert_eq!(ErrorKind::from_number(n), Some(kind));
            assert_eq!(kind.to_string(), code);
        }
        assert_eq!(ErrorKind::from_number(0), None);
        assert_eq!(ErrorKind::from_number(26), None);
    }
}
