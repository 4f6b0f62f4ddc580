//! Exit codes, and the one mapping from a failure to its code.

use secrets_core::Error;
use secrets_core::error::ErrorKind;

/// The exit codes of `secrets-core`, as `--help` lists them.
///
/// ```
/// use secrets_core_cli::Exit;
///
/// assert_eq!(Exit::Refused as u8, 4);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Done.
    Ok = 0,
    /// Failed (storage, I/O, invalid input, anything not below).
    Failed = 1,
    /// Usage: a bad flag or value (clap's own), or a command that does not
    /// apply to this store (backup on PostgreSQL).
    Usage = 2,
    /// An integrity finding: a broken audit chain, a forged checkpoint, a
    /// tampered row, a doctor finding.
    Integrity = 3,
    /// Refused: deletion protection, already exists, not confirmed,
    /// forbidden.
    Refused = 4,
    /// A key or authentication error: wrong master key or passphrase.
    Key = 5,
}

/// The `Exit codes` section of every command's `--help`.
pub(crate) const EXIT_CODES: &str = "\
Exit codes:
  0  ok
  1  failed (storage, I/O, invalid input)
  2  usage (a bad flag or value; backup or restore on PostgreSQL)
  3  integrity finding (broken audit chain, forged checkpoint, doctor finding)
  4  refused (deletion protection, already exists, not confirmed)
  5  key or authentication error (wrong master key, wrong passphrase)";

/// The exit code of a core error kind: the one table (every failure of the
/// core reaches the shell through here).
#[must_use]
pub(crate) fn exit_for(kind: ErrorKind) -> Exit {
    match kind {
        ErrorKind::AuditChainBroken
        | ErrorKind::Tampered
        | ErrorKind::DecryptionFailed
        | ErrorKind::Corrupt => Exit::Integrity,
        ErrorKind::AlreadyExists | ErrorKind::DeletionProtected | ErrorKind::Forbidden => {
            Exit::Refused
        }
        ErrorKind::WrongMasterKey
        | ErrorKind::UnknownKey
        | ErrorKind::InvalidCredentials
        | ErrorKind::InvalidToken => Exit::Key,
        _ => Exit::Failed,
    }
}

/// Why a command did not succeed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The core refused or failed: its kind decides the exit code, its
    /// stable code is the JSON `code`.
    Core(Error),
    /// The command line asks for something this store or build cannot do
    /// (exit 2, code `usage`).
    Usage(String),
    /// The operator did not confirm a destructive command (exit 4, code
    /// `not_confirmed`).
    NotConfirmed(String),
    /// Reading or writing a local file or stream failed (exit 1, code `io`).
    Io(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Self::Core(e)
    }
}

impl Failure {
    /// The exit code.
    pub(crate) fn exit(&self) -> Exit {
        match self {
            Self::Core(e) => exit_for(e.kind()),
            Self::Usage(_) => Exit::Usage,
            Self::NotConfirmed(_) => Exit::Refused,
            Self::Io(_) => Exit::Failed,
        }
    }

    /// The stable code: the core's for its errors, else `usage`,
    /// `not_confirmed` or `io`.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Self::Core(e) => e.kind().code(),
            Self::Usage(_) => "usage",
            Self::NotConfirmed(_) => "not_confirmed",
            Self::Io(_) => "io",
        }
    }

    /// The message (never a secret: the core's messages hold none, and
    /// ours name only paths and ids).
    pub(crate) fn message(&self) -> String {
        match self {
            Self::Core(e) => e.to_string(),
            Self::Usage(m) | Self::NotConfirmed(m) | Self::Io(m) => m.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table of the issue, kind by kind (every kind has a row).
    #[test]
    fn every_kind_has_its_exit_code() {
        for kind in ErrorKind::ALL {
            let expected = match kind.code() {
                "audit_chain_broken" | "tampered" | "decryption_failed" | "corrupt" => 3,
                "already_exists" | "deletion_protected" | "forbidden" => 4,
                "wrong_master_key" | "unknown_key" | "invalid_credentials" | "invalid_token" => 5,
                _ => 1,
            };
            assert_eq!(exit_for(kind) as u8, expected, "{}", kind.code());
        }
        assert_eq!(Failure::Usage(String::new()).exit(), Exit::Usage);
        assert_eq!(Failure::NotConfirmed(String::new()).exit(), Exit::Refused);
    }
}
