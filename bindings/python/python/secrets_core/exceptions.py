"""The exceptions of secrets_core: one class per stable error kind.

Every error the core raises is a :class:`SecretsCoreError` whose ``code`` (a
snake_case string) and ``number`` are the core's stable ``ErrorKind``
contract, and whose ``http_status`` is the status a web front end answers
with. Branch on the class or on ``code``, never on the message. Messages
never contain a secret.

Classes also derive from the standard exception a Python user would expect
where one fits: ``InvalidInput`` is a ``ValueError``, ``NotFound`` a
``LookupError``, ``Forbidden`` a ``PermissionError``, and so on.

A kind this package does not know yet (a newer native module) is raised as
the base :class:`SecretsCoreError` carrying the new code and number.
"""

from __future__ import annotations

from typing import ClassVar, Dict, Type

__all__ = [
    "SecretsCoreError",
    "ForkError",
    "InvalidInput",
    "TooLarge",
    "InvalidCredentials",
    "InvalidToken",
    "Forbidden",
    "WebhookRejected",
    "OAuthFailed",
    "NotFound",
    "AlreadyExists",
    "Conflict",
    "Contended",
    "DeletionProtected",
    "DecryptionFailed",
    "UnsupportedVersion",
    "UnknownKey",
    "KeyExhausted",
    "Tampered",
    "WrongMasterKey",
    "AuditChainBroken",
    "SchemaTooNew",
    "StorageError",
    "Corrupt",
    "InternalError",
    "RngError",
    "OutcomeUnknown",
    "BY_CODE",
    "BY_NUMBER",
]


class SecretsCoreError(Exception):
    """Base of every secrets_core exception.

    ``code``, ``number`` and ``http_status`` are class attributes on each
    subclass; an instance of the base class made for an unknown kind carries
    its own. Instances pickle with their message and code.
    """

    code: ClassVar[str] = "unknown"
    number: ClassVar[int] = 0
    http_status: ClassVar[int] = 500

    def __init__(self, message: str = "") -> None:
        super().__init__(message)

    @property
    def message(self) -> str:
        """The core's message (lowercase, never a secret)."""
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        return self.message

    @property
    def is_retryable(self) -> bool:
        """Whether the same request may succeed if simply retried."""
        return self.code in ("conflict", "contended", "storage")


class ForkError(SecretsCoreError, RuntimeError):
    """A Vault created before ``fork`` was used in the child process.

    Create the Vault after fork, in each worker (gunicorn ``post_fork``,
    Celery ``worker_process_init``). Not a core error kind.
    """

    code = "fork"


class InvalidInput(SecretsCoreError, ValueError):
    """An argument is malformed, too short, or asks for weak parameters."""

    code, number, http_status = "invalid_input", 1, 400


class TooLarge(SecretsCoreError, ValueError):
    """An input is over its documented limit."""

    code, number, http_status = "too_large", 2, 413


class InvalidCredentials(SecretsCoreError, PermissionError):
    """A login failed (the same for an unknown user, a wrong password, a disabled account)."""

    code, number, http_status = "invalid_credentials", 3, 401


class InvalidToken(SecretsCoreError, PermissionError):
    """A presented token was refused."""

    code, number, http_status = "invalid_token", 4, 401


class Forbidden(SecretsCoreError, PermissionError):
    """The caller may not do this; the attempt was audited."""

    code, number, http_status = "forbidden", 5, 403


class WebhookRejected(SecretsCoreError, ValueError):
    """An inbound webhook was refused (signature, timestamp, replay)."""

    code, number, http_status = "webhook_rejected", 6, 401


class OAuthFailed(SecretsCoreError):
    """An OAuth step failed (state, exchange or refresh)."""

    code, number, http_status = "oauth_failed", 7, 400


class NotFound(SecretsCoreError, LookupError):
    """A row or tenant that must exist does not."""

    code, number, http_status = "not_found", 8, 404


class AlreadyExists(SecretsCoreError):
    """An insert collided with an existing id or unique key."""

    code, number, http_status = "already_exists", 9, 409


class Conflict(SecretsCoreError):
    """A row changed since it was read; read again and retry."""

    code, number, http_status = "conflict", 10, 409


class Contended(SecretsCoreError):
    """A race was lost after retries; retry the request later."""

    code, number, http_status = "contended", 11, 503


class DeletionProtected(SecretsCoreError):
    """The tenant has deletion protection on."""

    code, number, http_status = "deletion_protected", 12, 409


class DecryptionFailed(SecretsCoreError):
    """A ciphertext or MAC did not authenticate (wrong key, wrong context, altered bytes)."""

    code, number, http_status = "decryption_failed", 13, 500


class UnsupportedVersion(SecretsCoreError):
    """An envelope has a format version this build cannot read."""

    code, number, http_status = "unsupported_version", 14, 500


class UnknownKey(SecretsCoreError, LookupError):
    """An envelope names a key the key ring does not hold."""

    code, number, http_status = "unknown_key", 15, 500


class KeyExhausted(SecretsCoreError):
    """A data key has sealed its safe maximum of values; rotate."""

    code, number, http_status = "key_exhausted", 16, 500


class Tampered(SecretsCoreError):
    """A stored row failed its integrity check (audited)."""

    code, number, http_status = "tampered", 17, 500


class WrongMasterKey(SecretsCoreError):
    """The master key is not the one the store was created with."""

    code, number, http_status = "wrong_master_key", 18, 500


class AuditChainBroken(SecretsCoreError):
    """The audit log does not verify."""

    code, number, http_status = "audit_chain_broken", 19, 500


class SchemaTooNew(SecretsCoreError):
    """The database was written by a newer version of secrets-core."""

    code, number, http_status = "schema_too_new", 20, 500


class StorageError(SecretsCoreError, OSError):
    """The storage backend failed (I/O, connection, lock); retry later."""

    code, number, http_status = "storage", 21, 503


class Corrupt(SecretsCoreError):
    """Stored data does not parse as what it must be."""

    code, number, http_status = "corrupt", 22, 500


class InternalError(SecretsCoreError):
    """A bug or an environment failure (a task panicked, no runtime)."""

    code, number, http_status = "internal", 23, 500


class RngError(SecretsCoreError, OSError):
    """The operating system's random number generator failed."""

    code, number, http_status = "rng", 24, 500


class OutcomeUnknown(SecretsCoreError, OSError):
    """The store's connection was lost while a change was being committed:
    it may or may not have been applied. Read it back before retrying."""

    code, number, http_status = "outcome_unknown", 25, 500


_KINDS: tuple[Type[SecretsCoreError], ...] = (
    InvalidInput,
    TooLarge,
    InvalidCredentials,
    InvalidToken,
    Forbidden,
    WebhookRejected,
    OAuthFailed,
    NotFound,
    AlreadyExists,
    Conflict,
    Contended,
    DeletionProtected,
    DecryptionFailed,
    UnsupportedVersion,
    UnknownKey,
    KeyExhausted,
    Tampered,
    WrongMasterKey,
    AuditChainBroken,
    SchemaTooNew,
    StorageError,
    Corrupt,
    InternalError,
    RngError,
    OutcomeUnknown,
)

#: The class of each stable kind number.
BY_NUMBER: Dict[int, Type[SecretsCoreError]] = {cls.number: cls for cls in _KINDS}
#: The class of each stable kind code.
BY_CODE: Dict[str, Type[SecretsCoreError]] = {cls.code: cls for cls in _KINDS}


def _from_kind(number: int, code: str, message: str) -> SecretsCoreError:
    """The exception for a core error (called by the native module).

    The class is chosen by number; a number this table does not know (a
    newer native module) gives the base class carrying ``code`` and
    ``number`` on the instance, which pickle keeps.
    """
    cls = BY_NUMBER.get(number)
    if cls is not None and cls.code == code:
        return cls(message)
    exc = SecretsCoreError(message)
    exc.code = code  # type: ignore[misc]
    exc.number = number  # type: ignore[misc]
    return exc
