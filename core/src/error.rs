//! The one public error type of the crate, and its stable kinds.

mod kind;
mod reason;

pub use kind::ErrorKind;
pub use reason::{ChainBreak, OAuthFailure, TokenRejection, WebhookRejection};

/// Everything that can go wrong in `secrets-core`.
///
/// Messages are lowercase, name the offending input in backticks, never contain
/// secret values, and say what to do where that helps. Failures to authenticate
/// a ciphertext or a MAC are deliberately opaque ([`Error::Unauthenticated`]):
/// a more specific message would be an oracle for an attacker.
///
/// The enum is `#[non_exhaustive]`: match the variants you handle and keep a
/// wildcard arm for the rest.
///
/// ```
/// use secrets_core::{Error, crypto::Envelope};
///
/// let err = Envelope::parse(&[1, 0, 0]).unwrap_err();
/// assert!(matches!(err, Error::Truncated { .. }));
/// assert!(err.to_string().contains("envelope"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A ciphertext or MAC did not verify: wrong key, wrong context, or the
    /// bytes were altered. Deliberately carries no detail.
    #[error("ciphertext could not be authenticated")]
    Unauthenticated,

    /// An envelope starts with a format version this build does not know.
    #[error(
        "format version `{found}` is not supported (this build reads versions up to {supported})"
    )]
    UnsupportedVersion {
        /// The version byte found.
        found: u8,
        /// The newest version this build reads.
        supported: u8,
    },

    /// An envelope names a key that is not in the key ring.
    #[error(
        "envelope was sealed with key `{key_id}`, which this key ring does not hold; load the key ring with that key before opening it"
    )]
    UnknownKey {
        /// The key id found in the envelope.
        key_id: u32,
    },

    /// Input is shorter than its format allows.
    #[error("{what} is {len} bytes, shorter than the minimum of {min}")]
    Truncated {
        /// What was being read (for example `envelope`).
        what: &'static str,
        /// The length received.
        len: usize,
        /// The smallest valid length.
        min: usize,
    },

    /// Input is longer than the documented limit.
    #[error("{what} is {len} bytes, longer than the limit of {max}")]
    TooLarge {
        /// What was being read or written.
        what: &'static str,
        /// The length received.
        len: usize,
        /// The largest accepted length.
        max: usize,
    },

    /// Key-derivation parameters below the floor this library enforces.
    #[error(
        "`iterations` is {iterations}, below the minimum of {min}; use the default (600000) unless you have measured a reason not to"
    )]
    WeakKdf {
        /// The iteration count requested.
        iterations: u32,
        /// The smallest count accepted.
        min: u32,
    },

    /// A key has sealed so many values that another random nonce would risk a
    /// collision; rotate the key ring.
    #[error(
        "key `{key_id}` has sealed {sealed} values, the safe limit for random nonces; rotate the key ring and seal again"
    )]
    KeyExhausted {
        /// The exhausted key.
        key_id: u32,
        /// How many values it has sealed.
        sealed: u64,
    },

    /// An argument is malformed; the message says which and why.
    #[error("invalid `{field}`: {reason}")]
    InvalidInput {
        /// The name of the offending argument or field.
        field: &'static str,
        /// What is wrong with it (never its value when the value is secret).
        reason: String,
    },

    /// The caller may not do this. The attempt has been audited.
    #[error("forbidden: the caller may not `{action}`")]
    Forbidden {
        /// The action or permission refused (`users:manage`).
        action: String,
    },

    /// A login failed: unknown user, wrong password or disabled account.
    /// Deliberately the same error (and the same time) for each.
    #[error("invalid credentials")]
    InvalidCredentials,

    /// A presented token (API token, agent session, access or refresh token)
    /// was refused. The reason never includes the token.
    #[error("token rejected: {reason}")]
    InvalidToken {
        /// Why ([`TokenRejection::code`] is its stable code).
        reason: TokenRejection,
    },

    /// An inbound webhook was refused. The reason names what was wrong
    /// (`missing webhook-id header`, `timestamp too old`, `no matching
    /// signature`, ...) and never includes a secret or a signature.
    #[error("webhook rejected: {reason}")]
    Webhook {
        /// Why ([`WebhookRejection::code`] is its stable code).
        reason: WebhookRejection,
    },

    /// An OAuth step failed: an unknown, expired or reused state, or a
    /// refresh that failed. Never includes a token.
    #[error("oauth: {reason}{}", .detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    OAuth {
        /// What failed ([`OAuthFailure::code`] is its stable code).
        reason: OAuthFailure,
        /// Which provider, and what the host's refresher reported, if
        /// anything (the host's own text).
        detail: Option<String>,
    },

    /// The audit log does not verify: an event was edited, deleted, inserted
    /// or reordered at or just before `seq`, or the log was truncated.
    #[error("audit log does not verify at seq {seq}: {reason}")]
    AuditChainBroken {
        /// Where verification failed.
        seq: u64,
        /// What was wrong there ([`ChainBreak::code`] is its stable code).
        reason: ChainBreak,
    },

    /// A row or tenant that must exist does not (in the caller's tenant).
    #[error("{what} `{id}` was not found")]
    NotFound {
        /// What was looked for (`user`, `app_secret`, `tenant`).
        what: String,
        /// Its id.
        id: String,
    },

    /// An insert collided with an existing id or unique lookup key.
    #[error("{what} `{id}` already exists")]
    AlreadyExists {
        /// What was inserted.
        what: String,
        /// Its id.
        id: String,
    },

    /// A compare-and-swap lost a race: the row changed since it was read.
    /// Read it again and retry, or give up.
    #[error(
        "{what} `{id}` changed concurrently (expected version {expected}, found {found}); read it again and retry"
    )]
    Conflict {
        /// What was written.
        what: String,
        /// Its id.
        id: String,
        /// The version the writer read.
        expected: u64,
        /// The version found.
        found: u64,
    },

    /// The tenant has deletion protection on.
    #[error("tenant `{tenant}` has deletion protection on; turn it off before erasing it")]
    DeletionProtected {
        /// The tenant.
        tenant: String,
    },

    /// The database was written by a newer version of this library.
    #[error(
        "the database schema is version {found}, newer than the {supported} this build knows; upgrade secrets-core"
    )]
    SchemaTooNew {
        /// The version found in the database.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },

    /// A stored row or tenant record failed its integrity check: its tag (a
    /// MAC keyed from the master key) is missing or does not match its
    /// contents. Someone wrote the database without going through
    /// secrets-core, or copied a row from elsewhere. The refusal has been
    /// audited in the row's tenant. Deliberately says nothing about which
    /// field differs.
    #[error(
        "stored `{kind}` `{id}` failed its integrity check (altered outside secrets-core); it is refused: check the audit log and restore it from a backup"
    )]
    Tampered {
        /// The kind of record (`user`, `api_token`, `tenant`, ...).
        kind: &'static str,
        /// Its id (escaped and truncated).
        id: String,
    },

    /// The master key is not the one this store is sealed under (the one
    /// it was first opened with, or the one a rekey moved it to): its key
    /// check value differs. Nothing was written. Load the right key.
    #[error(
        "the master key does not match this store (its key check value differs); nothing was written: load the store's current master key (the one it was created with, or the one its last rekey moved it to)"
    )]
    WrongMasterKey,

    /// The storage backend failed (I/O, a lock, a lost connection, a file
    /// that is not a database). The message says what was being done and
    /// never contains row values; the backend's own error, when there is
    /// one, is the [`source`](std::error::Error::source).
    #[error("storage failed: {message}")]
    Storage {
        /// What failed, for the operator.
        message: String,
        /// The backend's error (rusqlite, I/O, ...), kept for logs.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },

    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed: {0}")]
    Rng(String),

    /// The connection to the store was lost while a change was being
    /// committed (or the server ended the session then): the change may or
    /// may not have been applied, so it is not retried. Read it back before
    /// trying again: a blind retry could apply it twice (a second token, a
    /// second audit event).
    #[error(
        "{message}: the outcome is unknown (the change may or may not have been applied); read it back before retrying"
    )]
    OutcomeUnknown {
        /// What happened, for the operator.
        message: String,
        /// The backend's error, kept for logs.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },

    /// A race was lost again and again: the operation was retried and other
    /// writers kept winning. Nothing was changed; retry the request later.
    #[error("{what} kept changing concurrently; nothing was changed, retry later")]
    Contended {
        /// What was being changed (`the user`, `the refresh token`, ...).
        what: &'static str,
    },

    /// Stored data does not parse as what it must be (a record that is not
    /// its JSON, a sealed value of the wrong shape). The message names what,
    /// never its contents.
    #[error("stored `{what}` `{id}` is corrupt: {reason}")]
    Corrupt {
        /// What was read (`user`, `app_archive`, ...).
        what: &'static str,
        /// Its id (escaped and truncated when it came from the store).
        id: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A bug or an environment failure (a background task panicked, no
    /// async runtime): not the request's fault, and not the store's.
    #[error("internal error: {what}")]
    Internal {
        /// What failed.
        what: &'static str,
    },
}

impl Error {
    /// The stable kind of this error: what hosts, bindings and front ends
    /// branch on and map to codes ([`ErrorKind`] has the table).
    ///
    /// ```
    /// use secrets_core::Error;
    /// use secrets_core::error::ErrorKind;
    ///
    /// assert_eq!(Error::InvalidCredentials.kind(), ErrorKind::InvalidCredentials);
    /// assert_eq!(Error::InvalidCredentials.kind().http_status(), 401);
    /// ```
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidInput { .. } | Self::Truncated { .. } | Self::WeakKdf { .. } => {
                ErrorKind::InvalidInput
            }
            Self::TooLarge { .. } => ErrorKind::TooLarge,
            Self::InvalidCredentials => ErrorKind::InvalidCredentials,
            Self::InvalidToken { .. } => ErrorKind::InvalidToken,
            Self::Forbidden { .. } => ErrorKind::Forbidden,
            Self::Webhook { .. } => ErrorKind::WebhookRejected,
            Self::OAuth { .. } => ErrorKind::OAuthFailed,
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            Self::Conflict { .. } => ErrorKind::Conflict,
            Self::Contended { .. } => ErrorKind::Contended,
            Self::DeletionProtected { .. } => ErrorKind::DeletionProtected,
            Self::Unauthenticated => ErrorKind::DecryptionFailed,
            Self::UnsupportedVersion { .. } => ErrorKind::UnsupportedVersion,
            Self::UnknownKey { .. } => ErrorKind::UnknownKey,
            Self::KeyExhausted { .. } => ErrorKind::KeyExhausted,
            Self::Tampered { .. } => ErrorKind::Tampered,
            Self::WrongMasterKey => ErrorKind::WrongMasterKey,
            Self::AuditChainBroken { .. } => ErrorKind::AuditChainBroken,
            Self::SchemaTooNew { .. } => ErrorKind::SchemaTooNew,
            Self::Storage { .. } => ErrorKind::Storage,
            Self::Corrupt { .. } => ErrorKind::Corrupt,
            Self::Internal { .. } => ErrorKind::Internal,
            Self::Rng(_) => ErrorKind::Rng,
            Self::OutcomeUnknown { .. } => ErrorKind::OutcomeUnknown,
        }
    }

    /// [`Error::NotFound`] for `what` `id`.
    pub(crate) fn not_found(what: &str, id: impl ToString) -> Self {
        Self::NotFound {
            what: what.to_owned(),
            id: id.to_string(),
        }
    }

    /// [`Error::Storage`] with `message` and no source.
    pub(crate) fn storage(message: impl Into<String>) -> Self {
        Self::Storage {
            message: message.into(),
            source: None,
        }
    }

    /// [`Error::Storage`] with `message`, caused by `source`.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))] // the SQLite backend's
    pub(crate) fn storage_from(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Storage {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// [`Error::Conflict`] for `what` `id`.
    pub(crate) fn conflict(what: &str, id: impl ToString, expected: u64, found: u64) -> Self {
        Self::Conflict {
            what: what.to_owned(),
            id: id.to_string(),
            expected,
            found,
        }
    }

    /// Shorthand for [`Error::InvalidInput`], for host code too (a refresher,
    /// a validation of its own).
    ///
    /// ```
    /// use secrets_core::Error;
    ///
    /// let e = Error::invalid("region", "must be `eu` or `us`");
    /// assert_eq!(e.to_string(), "invalid `region`: must be `eu` or `us`");
    /// ```
    #[must_use]
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            field,
            reason: reason.into(),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::{Error, ErrorKind};
    use std::error::Error as _;

    #[test]
    fn a_storage_error_keeps_its_source_and_says_what_failed() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "read-only file");
        let e = Error::storage_from("could not open `vault.db`", io);
        assert_eq!(e.kind(), ErrorKind::Storage);
        assert_eq!(e.to_string(), "storage failed: could not open `vault.db`");
        let source = e.source().map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("read-only file"));
        assert!(Error::storage("x").source().is_none());
    }

    #[test]
    fn kinds_are_retryable_only_for_races_and_storage() {
        let lost = Error::Contended { what: "the user" };
        assert!(lost.kind().is_retryable());
        assert_eq!(lost.kind().http_status(), 503);
        assert!(!Error::InvalidCredentials.kind().is_retryable());
        assert!(Error::InvalidCredentials.kind().is_client_error());
        assert!(!Error::WrongMasterKey.kind().is_client_error());
    }
}
