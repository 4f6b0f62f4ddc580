"""The shapes of the dicts the Vault and the primitives return.

Each is a :class:`typing.TypedDict`, for type checkers and editors; at run
time the values are plain ``dict`` objects. Times are RFC 3339 strings
(UTC), ids are strings. A value whose key names a token or a secret
(``access_token``, ``token``, ``secret``...) is shown once: store it or hand
it over, never log it.
"""

from __future__ import annotations

import sys
from typing import Any, Dict, List, Optional, Tuple

if sys.version_info >= (3, 11):
    from typing import NotRequired, TypedDict
else:  # pragma: no cover - older Pythons
    from typing_extensions import NotRequired, TypedDict

__all__ = [
    "AccessClaims",
    "AgentSessionInfo",
    "ApiTokenInfo",
    "AsymmetricEndpoint",
    "AuditRecord",
    "ChainSummary",
    "Checkpoint",
    "ConnectionInfo",
    "EndpointInfo",
    "Found",
    "MintedToken",
    "OAuthCompletion",
    "OAuthStart",
    "Profile",
    "PruneReport",
    "ReceivedWebhook",
    "RefreshStart",
    "RegisteredEndpoint",
    "SecretInfo",
    "Session",
    "SourceInfo",
    "StartedAgentSession",
    "UserInfo",
    "Verdict",
    "VerifiedMessage",
]


class Session(TypedDict):
    """A login or a refresh: the tokens are shown once."""

    tenant: str
    user: str
    access_token: str
    token_type: str
    access_expires_at: str
    expires_in: int
    refresh_token: str
    refresh_expires_at: str


class MintedToken(TypedDict):
    """A new API token: ``token`` is shown once."""

    id: str
    token: str
    display_prefix: str
    expires_at: Optional[str]


class StartedAgentSession(TypedDict):
    """A new agent session: ``token`` is shown once."""

    id: str
    token: str
    expires_at: str


class RegisteredEndpoint(TypedDict):
    """A new webhook endpoint: ``secret`` (``whsec_...``) is shown once."""

    id: str
    secret: str


class AsymmetricEndpoint(TypedDict):
    """A new Ed25519 webhook endpoint and its public key (``whpk_...``)."""

    id: str
    public_key: str


class UserInfo(TypedDict):
    id: str
    login: str
    role: str
    disabled: bool


class Profile(TypedDict):
    """``whoami``: who the caller is and what it may do."""

    tenant: str
    kind: str
    actor: str
    user: Optional[str]
    login: Optional[str]
    role: str
    permissions: List[str]
    scopes: List[str]
    expires_at: Optional[str]


class ApiTokenInfo(TypedDict):
    id: str
    owner: str
    name: str
    display_prefix: str
    scopes: List[str]
    created_at: str
    expires_at: Optional[str]
    last_used_at: Optional[str]
    revoked_at: Optional[str]


class AgentSessionInfo(TypedDict):
    id: str
    user: str
    agent: str
    scopes: List[str]
    created_at: str
    expires_at: str
    revoked_at: Optional[str]


class SecretInfo(TypedDict):
    """An app secret's name and version; never its value."""

    name: str
    version: int
    updated_by: str
    updated_at: str
    has_previous: bool


class EndpointInfo(TypedDict):
    id: str
    url: str
    description: str
    created_at: str
    previous_secret_until: Optional[str]
    version: str
    public_key: Optional[str]


class SourceInfo(TypedDict):
    id: str
    style: str
    created_at: str
    rotated_at: Optional[str]
    previous_until: Optional[str]
    public_key: Optional[str]


class ReceivedWebhook(TypedDict):
    """An inbound delivery that verified."""

    id: str
    timestamp: Optional[str]
    style: str


class VerifiedMessage(TypedDict):
    """A Standard Webhooks message that verified (``Webhook.verify``)."""

    id: str
    timestamp: int


class OAuthStart(TypedDict):
    state: str
    code_challenge: str
    expires_at: str


class OAuthCompletion(TypedDict):
    """The consumed state: send ``code_verifier`` with the code exchange."""

    provider: str
    redirect_uri: str
    code_verifier: str


class ConnectionInfo(TypedDict):
    provider: str
    scopes: List[str]
    access_expires_at: Optional[str]
    last_refresh_error: Optional[str]
    needs_reconnect: bool
    refreshing_until: Optional[str]


class RefreshStart(TypedDict):
    """``begin_refresh``: ``status`` is ``fresh``, ``refresh`` or ``busy``."""

    status: str
    access_token: NotRequired[str]
    lease: NotRequired[Any]
    retry_after: NotRequired[float]


class ChainSummary(TypedDict):
    count: int
    head: str


class Checkpoint(TypedDict):
    tenant: str
    count: int
    head: str
    at: str
    mac: str


class AuditRecord(TypedDict):
    tenant: str
    seq: int
    actor: str
    action: str
    target: str
    source: Optional[str]
    outcome: str
    at: str
    details: Dict[str, str]
    prev_hash: str
    hash: str


class PruneReport(TypedDict):
    deleted: int
    failures: List[Tuple[str, str]]


class Verdict(TypedDict):
    """The deploy gate's decision: ``proceed`` or ``hold``."""

    decision: str
    warnings: List[str]
    reasons: NotRequired[List[str]]


class Found(TypedDict):
    """A token found by ``scan``: where, and its non-secret prefix."""

    start: int
    end: int
    prefix: str
    display_prefix: str


class AccessClaims(TypedDict):
    sub: str
    tid: str
    role: str
    scopes: List[str]
    epoch: int
    jti: str
    iat: int
    nbf: int
    exp: int
    iss: str
    aud: str
