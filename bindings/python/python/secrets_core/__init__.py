"""secrets_core: the security core of a self-hosted platform or multi-tenant SaaS.

Passwords (bcrypt), API tokens, JWT sessions, RBAC, a tamper-evident audit
log, sealed secrets, Standard Webhooks and GitHub webhooks, OAuth PKCE, over
SQLite, memory or PostgreSQL: one Rust core, here as

- :class:`Vault`, synchronous: every call releases the GIL while it runs;
- :class:`AsyncVault`, for asyncio: every operation returns an awaitable;
- plain functions and small classes for the primitives that need no Vault.

Errors are :class:`~secrets_core.exceptions.SecretsCoreError` subclasses,
one per stable kind.

Secrets in Python: passwords may be given as ``str`` or ``bytes``; tokens
are returned once, as ``str``; opened secret values come back as
:class:`SecretValue` (``repr`` redacted, ``expose_secret()`` gives
``bytes``). The native side wipes its own copies, but Python ``str`` and
``bytes`` objects cannot be wiped: keep them short-lived and never log them.

Fork safety: create each Vault after ``fork`` (gunicorn ``post_fork``,
Celery ``worker_process_init``). A Vault made before a fork raises
:class:`~secrets_core.exceptions.ForkError` in the child instead of hanging.
"""

from __future__ import annotations

import os as _os

from . import exceptions
from ._native import (
    DEFAULT_TENANT,
    AsyncVault,
    Caller,
    Cors,
    JwtSigner,
    KeyRing,
    Policy,
    RefreshLease,
    SecretValue,
    TokenFormat,
    Vault,
    Webhook,
    __version__,
    _after_fork_in_child,
    evaluate_gate,
    generate_master_key,
    generate_webhook_signing_key,
    hash_password,
    needs_rehash,
    pkce_challenge,
    pkce_verifier,
    postgres_migrate,
    scan,
    security_headers,
    sign_github,
    token_hash,
    verify_github,
    verify_password,
)
from .exceptions import (
    AlreadyExists,
    AuditChainBroken,
    Conflict,
    Contended,
    Corrupt,
    DecryptionFailed,
    DeletionProtected,
    Forbidden,
    ForkError,
    InternalError,
    InvalidCredentials,
    InvalidInput,
    InvalidToken,
    KeyExhausted,
    NotFound,
    OAuthFailed,
    OutcomeUnknown,
    RngError,
    SchemaTooNew,
    SecretsCoreError,
    StorageError,
    Tampered,
    TooLarge,
    UnknownKey,
    UnsupportedVersion,
    WebhookRejected,
    WrongMasterKey,
)

# The child of a fork forgets the parent's async runtime at once (its
# threads did not survive the fork); Vaults made before the fork raise
# ForkError there.
if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_after_fork_in_child)

__all__ = [
    "DEFAULT_TENANT",
    "AsyncVault",
    "Caller",
    "Cors",
    "JwtSigner",
    "KeyRing",
    "Policy",
    "RefreshLease",
    "SecretValue",
    "TokenFormat",
    "Vault",
    "Webhook",
    "__version__",
    "evaluate_gate",
    "exceptions",
    "generate_master_key",
    "generate_webhook_signing_key",
    "hash_password",
    "needs_rehash",
    "pkce_challenge",
    "pkce_verifier",
    "postgres_migrate",
    "scan",
    "security_headers",
    "sign_github",
    "token_hash",
    "verify_github",
    "verify_password",
    "AlreadyExists",
    "AuditChainBroken",
    "Conflict",
    "Contended",
    "Corrupt",
    "DecryptionFailed",
    "DeletionProtected",
    "Forbidden",
    "ForkError",
    "InternalError",
    "InvalidCredentials",
    "InvalidInput",
    "InvalidToken",
    "KeyExhausted",
    "NotFound",
    "OAuthFailed",
    "OutcomeUnknown",
    "RngError",
    "SchemaTooNew",
    "SecretsCoreError",
    "StorageError",
    "Tampered",
    "TooLarge",
    "UnknownKey",
    "UnsupportedVersion",
    "WebhookRejected",
    "WrongMasterKey",
]
