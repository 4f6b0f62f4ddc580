"""secrets_core quick start: a Vault on SQLite, from bootstrap to a verified audit chain.

    pip install ./bindings/python      # or the built wheel
    python examples/python/quickstart.py

It keeps the database and the master key apart, as you should: a backup
holding both opens every sealed secret in it.

    data/quickstart.db   the database: back it up
    keys/master.key      the master key (directory 0700, file 0600); or set
                         SECRETS_CORE_MASTER_KEY (base64 of 32 bytes) from a
                         secret manager and no file is written
"""

from __future__ import annotations

import os
import pathlib
import time

import secrets_core as sc


def master_key() -> sc.KeyRing:
    """The master key from the environment, else from keys/master.key (made once)."""
    from_env = os.environ.get("SECRETS_CORE_MASTER_KEY")
    if from_env:
        return sc.KeyRing.from_base64(from_env)
    keys = pathlib.Path("keys")
    keys.mkdir(mode=0o700, exist_ok=True)
    path = keys / "master.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(sc.generate_master_key())
    return sc.KeyRing.from_base64(path.read_text().strip())


def main() -> None:
    pathlib.Path("data").mkdir(exist_ok=True)
    # Open (or create) the store. Create the Vault after fork in a
    # pre-forking server: gunicorn `post_fork`, Celery `worker_process_init`.
    vault = sc.Vault("data/quickstart.db", master_key(), password_cost=10)  # bcrypt cost 12 by default

    # The first Admin, once; a second run finds the tenant and changes nothing.
    tenant = sc.DEFAULT_TENANT
    vault.ensure_bootstrapped(tenant, "acme", "ada@example.com", "correct horse battery staple")

    # Log in; the client sends the access token back as a bearer.
    session = vault.login(tenant, "ada@example.com", "correct horse battery staple", "203.0.113.7")
    header = "Bearer " + session["access_token"]

    # Every request: whatever the client sends becomes a Caller, or an
    # exception with a stable code (401 InvalidToken, 403 Forbidden...).
    ada = vault.authenticate_bearer(header, "203.0.113.7")
    print(f"authenticated {ada.actor} as {ada.role}")

    # App secrets are write-only: listed by name, injected into a runtime.
    vault.set_secret(ada, "web", "DATABASE_URL", b"postgres://db/web")
    print("secrets of web:", [s["name"] for s in vault.list_secrets(ada, "web")])
    env = vault.inject(ada, "web")
    print("injected:", env["DATABASE_URL"])  # SecretValue([REDACTED], ...)
    assert env["DATABASE_URL"].expose_secret() == b"postgres://db/web"

    # Inbound webhooks: register the sender's secret, verify each delivery.
    sender_secret = sc.Webhook.generate_secret()
    try:
        vault.register_webhook_source(ada, "billing", "standard", sender_secret)
    except sc.AlreadyExists:
        vault.rotate_webhook_source(ada, "billing", sender_secret, 0)
    payload = b'{"type":"invoice.paid"}'
    headers = dict(sc.Webhook(sender_secret).sign_headers(f"msg_{time.time_ns()}", int(time.time()), payload))
    received = vault.verify_inbound_webhook(tenant, "billing", headers, payload)
    print("webhook verified:", received["id"])
    try:
        vault.verify_inbound_webhook(tenant, "billing", headers, payload)
    except sc.WebhookRejected as e:
        print("replay refused:", e.code)

    # Each step above is in the audit log, an HMAC chain only Admins read.
    for event in vault.audit_events(ada, {"limit": 5}):
        print(f"  #{event['seq']} {event['action']} {event['outcome']} by {event['actor']}")
    chain = vault.verify_audit_log(ada)
    print(f"audit chain verified: {chain['count']} events")


if __name__ == "__main__":
    main()
