"""One scenario over every Vault operation, run through `Vault` and through
`AsyncVault` (test_vault.py, test_parity.py). `call(name, *args)` invokes
the operation `name` and returns its result (awaiting it for AsyncVault).
The scenario returns what it observed with ids, times and tokens replaced
by placeholders, so the two runs can be compared exactly."""

from __future__ import annotations

import json
import time
from typing import Any, Awaitable, Callable, Dict, List

import secrets_core as sc
from standardwebhooks.webhooks import Webhook as TheirWebhook

Call = Callable[..., Awaitable[Any]]

ADMIN, PASSWORD = "ada@example.com", "correct horse battery staple"
VOLATILE = {
    "id", "user", "owner", "tenant", "access_token", "refresh_token", "token", "secret",
    "created_at", "expires_at", "access_expires_at", "refresh_expires_at", "updated_at",
    "last_used_at", "revoked_at", "at", "state", "code_challenge", "code_verifier", "head",
    "mac", "hash", "prev_hash", "display_prefix", "public_key", "updated_by", "actor", "seq",
    "webhook-id", "webhook-timestamp", "webhook-signature", "timestamp", "details", "rotated_at",
    "previous_until", "previous_secret_until", "expires_in", "source",
}


def scrub(value: Any) -> Any:
    """`value` with volatile fields (ids, times, tokens) replaced by their type."""
    if isinstance(value, dict):
        return {k: (type(v).__name__ if k in VOLATILE else scrub(v)) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    if isinstance(value, sc.SecretValue):
        return ("secret", value.expose_secret())
    if isinstance(value, sc.Caller):
        return ("caller", value.role, value.actor.split(":")[0])
    if isinstance(value, sc.RefreshLease):
        return ("lease", value.provider)
    return value


async def scenario(call: Call, tenant: str) -> List[Any]:
    seen: List[Any] = []

    def note(label: str, value: Any) -> None:
        seen.append((label, scrub(value)))

    # Users and sessions.
    created = await call("ensure_bootstrapped", tenant, "acme", ADMIN, PASSWORD, "203.0.113.7")
    note("bootstrap", isinstance(created, str))
    note("bootstrap again", await call("ensure_bootstrapped", tenant, "acme", ADMIN, PASSWORD))
    session = await call("login", tenant, ADMIN, PASSWORD, "203.0.113.7")
    note("login", session)
    admin = await call("authenticate_bearer", "Bearer " + session["access_token"], "203.0.113.7")
    note("admin", admin)
    note("admin by access token", await call("authenticate_access_token", session["access_token"]))
    note("whoami", await call("whoami", admin))
    dev_id = await call("create_user", admin, "dev@example.com", "developer", "dev password is long")
    viewer_id = await call("create_user", admin, "viewer@example.com", "viewer", "viewer password long")
    note("users", sorted(u["login"] for u in await call("list_users", admin)))
    dev_session = await call("login", tenant, "dev@example.com", "dev password is long")
    dev = await call("authenticate_bearer", dev_session["access_token"])
    refreshed = await call("refresh", dev_session["refresh_token"])
    note("refreshed", refreshed)
    note("logout", await call("logout", refreshed["refresh_token"]))
    try:
        await call("refresh", refreshed["refresh_token"])
        note("refresh after logout", "accepted")
    except sc.InvalidToken as e:
        note("refresh after logout", e.code)
    note("change role", await call("change_role", admin, viewer_id, "developer"))
    note("disable", await call("disable_user", admin, viewer_id))
    try:
        await call("login", tenant, "viewer@example.com", "viewer password long")
    except sc.InvalidCredentials as e:
        note("disabled login", e.code)
    note("enable", await call("enable_user", admin, viewer_id))
    note("delete", await call("delete_user", admin, viewer_id))
    note("require", await call("require", admin, "users:manage", "report.export", "report/1"))
    try:
        await call("require", dev, "users:manage", "report.export", "report/1")
    except sc.Forbidden as e:
        note("require denied", e.code)

    # API tokens and agents.
    minted = await call("mint_api_token", admin, dev_id, "ci", ["apps:read", "secrets:list"], 3600.0)
    note("minted", minted)
    ci = await call("authenticate_api_token", minted["token"], "198.51.100.1")
    note("ci", ci)
    note("ci via bearer", await call("authenticate_bearer", "Bearer " + minted["token"]))
    note("tokens", [t["name"] for t in await call("list_api_tokens", admin)])
    note("own tokens", [t["name"] for t in await call("list_own_api_tokens", dev)])
    note("revoke", await call("revoke_api_token", admin, minted["id"]))
    try:
        await call("authenticate_api_token", minted["token"])
    except sc.InvalidToken as e:
        note("revoked token", e.code)
    note("agents on", await call("set_agent_sessions_enabled", admin, True))
    agent = await call("start_agent_session", dev, "deploy-bot", ["apps:read"], 600.0)
    note("agent", agent)
    note("agent caller", await call("authenticate_agent", agent["token"]))
    note("agent sessions", [a["agent"] for a in await call("list_agent_sessions", admin)])
    note("revoke agent", await call("revoke_agent_session", admin, agent["id"]))

    # App secrets.
    note("set", await call("set_secret", admin, "web", "DATABASE_URL", b"postgres://db/web"))
    note("set again", await call("set_secret", admin, "web", "DATABASE_URL", "postgres://db/web2"))
    note("set many", await call("set_secrets", admin, "web", {"A": b"1", "B": "2"}))
    note("list", await call("list_secrets", admin, "web"))
    note("inject", await call("inject", admin, "web"))
    note("rollback", await call("rollback_secret", admin, "web", "DATABASE_URL"))
    note("inject after rollback", (await call("inject", admin, "web"))["DATABASE_URL"])
    note("delete secret", await call("delete_secret", admin, "web", "B"))
    note("archive", await call("archive_app", admin, "web"))
    note("restore", await call("restore_app", admin, "web"))
    note("names after restore", sorted(s["name"] for s in await call("list_secrets", admin, "web")))

    # Settings secrets.
    note("setting set", await call("set_setting_secret", admin, "stripe", b"sk_live_x"))
    note("setting is set", await call("setting_secret_is_set", admin, "stripe"))
    note("settings", await call("list_setting_secrets", admin))
    note("setting read", await call("read_setting_secret", sc.Caller.system(tenant, source="cron"), "stripe"))
    note("setting clear", await call("clear_setting_secret", admin, "stripe"))
    note("setting is set after clear", await call("setting_secret_is_set", admin, "stripe"))

    # Webhooks out: what we sign verifies in the standardwebhooks package.
    endpoint = await call("register_webhook_endpoint", admin, "https://hooks.example/in", "billing")
    note("endpoint", endpoint)
    payload = b'{"type":"invoice.paid"}'
    headers = await call("sign_webhook", admin, endpoint["id"], "msg_1", payload)
    note("signed", headers)
    note("theirs verifies", TheirWebhook(endpoint["secret"]).verify(payload, headers))
    new_secret = await call("rotate_webhook_secret", admin, endpoint["id"], 60.0)
    note("rotated", new_secret.startswith("whsec_"))
    asym = await call("register_asymmetric_webhook_endpoint", admin, "https://hooks.example/v1a")
    note("asymmetric", asym)
    note("signing key rotated", (await call("rotate_webhook_signing_key", admin, asym["id"], 60.0)).startswith("whpk_"))
    note("endpoints", await call("list_webhook_endpoints", admin))
    note("delete endpoint", await call("delete_webhook_endpoint", admin, asym["id"]))

    # Webhooks in: Standard Webhooks and GitHub.
    source_secret = sc.Webhook.generate_secret()
    note("source", await call("register_webhook_source", admin, "billing", "standard", source_secret))
    now = int(time.time())
    inbound = dict(sc.Webhook(source_secret).sign_headers("msg_in_1", now, payload))
    note("inbound", await call("verify_inbound_webhook", tenant, "billing", inbound, payload, "192.0.2.1"))
    try:
        await call("verify_inbound_webhook", tenant, "billing", inbound, payload)
    except sc.WebhookRejected as e:
        note("replay", e.code)
    gh_secret = "It's a Secret to Everybody, really"
    note("github source", await call("register_webhook_source", admin, "gh", "github", gh_secret))
    gh_headers = {"X-Hub-Signature-256": sc.sign_github(payload, gh_secret), "X-GitHub-Delivery": "d-1"}
    note("github inbound", await call("verify_inbound_webhook", tenant, "gh", gh_headers, payload))
    note("rotate source", await call("rotate_webhook_source", admin, "billing", sc.Webhook.generate_secret(), 60.0))
    note("sources", await call("list_webhook_sources", admin))
    note("delete source", await call("delete_webhook_source", admin, "gh"))

    # OAuth: begin, complete, store, fresh token with the two-phase refresh.
    start = await call("begin_oauth", admin, "github", "https://app.example/callback")
    note("oauth start", start)
    done = await call("complete_oauth", admin, start["state"])
    note("oauth done", done)
    note("challenge matches", sc.pkce_challenge(done["code_verifier"]) == start["code_challenge"])
    try:
        await call("complete_oauth", admin, start["state"])
    except sc.OAuthFailed as e:
        note("state reused", e.code)
    admin_id = admin.user
    note("store tokens", await call("store_oauth_tokens", admin, "github", "gho_access_1", refresh_token="ghr_refresh_1", expires_at=now + 3600, scopes=["repo"]))
    fresh = await call("begin_refresh", admin, admin_id, "github")
    note("fresh", fresh)
    note("store expiring", await call("store_oauth_tokens", admin, "github", "gho_access_2", refresh_token="ghr_refresh_2", expires_at=now + 5))
    lease_start = await call("begin_refresh", admin, admin_id, "github")
    note("lease start", {k: v for k, v in lease_start.items() if k != "lease"})
    lease = lease_start["lease"]
    note("lease token", lease.expose_refresh_token())
    note("complete refresh", await call("complete_refresh", admin, lease, "gho_access_3", refresh_token="ghr_refresh_3", expires_at=now + 3600))
    note("after refresh", await call("begin_refresh", admin, admin_id, "github"))
    note("store expiring again", await call("store_oauth_tokens", admin, "github", "gho_access_4", refresh_token="ghr_refresh_4", expires_at=now + 5))
    lease2 = (await call("begin_refresh", admin, admin_id, "github"))["lease"]
    note("abandon", await call("abandon_refresh", admin, lease2, invalid_grant=True))
    note("connections", await call("list_oauth_connections", admin))
    note("disconnect", await call("disconnect_oauth", admin, "github"))

    # Deploy gate.
    critical = [{"id": "CVE-2021-44228", "package": "log4j-core", "severity": "critical", "title": "Log4Shell"}]
    note("gate", await call("evaluate_deploy", admin, "deploy-1", "hardened", critical, []))
    note("override", await call("override_gate", admin, "deploy-1", "patched in the base image"))

    # Audit and maintenance.
    note("prune", await call("prune", admin))
    events = await call("audit_events", admin, {"limit": 5})
    note("events", [e["action"] for e in events])
    note("login events", [e["outcome"] for e in await call("audit_events", admin, {"action": "auth.login"})])
    summary = await call("verify_audit_log", admin)
    note("chain", summary["count"] > 40)
    checkpoint = await call("audit_checkpoint", admin)
    note("checkpoint", checkpoint)
    note("verify checkpoint", await call("verify_checkpoint", admin, checkpoint))
    return seen


def sync_call(vault: sc.Vault) -> Call:
    async def call(name: str, *args: Any, **kwargs: Any) -> Any:
        return getattr(vault, name)(*args, **kwargs)

    return call


def async_call(vault: sc.AsyncVault) -> Call:
    async def call(name: str, *args: Any, **kwargs: Any) -> Any:
        return await getattr(vault, name)(*args, **kwargs)

    return call


def dump(seen: List[Any]) -> str:
    return json.dumps(seen, indent=1, default=repr)


__all__ = ["scenario", "sync_call", "async_call", "dump", "Dict"]
