//! Webhooks through the Vault: outbound endpoints whose secrets are sealed
//! and shown once, signing with rotation, and inbound verification with
//! replay protection.

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::audit::{Actor, AuditDraft, Outcome};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::id::TenantId;
use crate::rbac::Permission;
use crate::secret::SecretString;
use crate::store::records::{SeenWebhook, WebhookEndpoint, WebhookPreviousSecret};
use crate::store::{Batch, Change, Kind, ListQuery, Record, StoreExt};
use crate::vault::settings::check_setting_name;
use crate::vault::{Caller, Vault, new_id};
use crate::webhook::{self, SignedHeaders, VerifiedMessage, Verifier, WebhookSecret};

/// A registered endpoint. `secret` (`whsec_...`) is shown once: give it to
/// the receiver now.
#[derive(Debug)]
pub struct RegisteredEndpoint {
    /// The endpoint's id.
    pub id: String,
    /// Its signing secret, as the receiver configures it.
    pub secret: SecretString,
}

/// An endpoint as listings show it (never its secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointInfo {
    /// Its id.
    pub id: String,
    /// Where deliveries go.
    pub url: String,
    /// Its label.
    pub description: String,
    /// When registered.
    pub created_at: Timestamp,
    /// When the previous secret stops signing, during a rotation.
    pub previous_secret_until: Option<Timestamp>,
}

/// Longest endpoint URL, in bytes.
const MAX_ENDPOINT_URL_LEN: usize = 2048;

/// Checks an endpoint URL, parsed (never by string prefix): `https://` with
/// a host, or `http://` only when the host is exactly loopback
/// (`localhost`, 127.0.0.0/8, `[::1]`) for development; no userinfo, no
/// fragment, no spaces or control characters, at most 2048 bytes.
fn check_endpoint_url(url: &str) -> Result<()> {
    if url.len() > MAX_ENDPOINT_URL_LEN {
        return Err(Error::invalid(
            "url",
            format!("is {} bytes; at most {MAX_ENDPOINT_URL_LEN}", url.len()),
        ));
    }
    crate::oauth::check_url_chars("url", url, false)?;
    let scheme = url.split_once("://").map_or("", |(s, _)| s);
    if !(scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http")) {
        return Err(Error::invalid(
            "url",
            "must be an https:// URL (http:// only to localhost, 127.0.0.0/8 or [::1], for development)",
        ));
    }
    crate::oauth::check_web_url("url", url, scheme)
}

impl Vault {
    /// Registers an outbound endpoint and generates its secret (sealed at
    /// rest, returned once). Needs `webhooks:manage`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::InvalidInput`] for a bad URL.
    pub async fn register_webhook_endpoint(
        &self,
        caller: &Caller,
        url: &str,
        description: &str,
    ) -> Result<RegisteredEndpoint> {
        check_endpoint_url(url)?;
        self.authorize(
            caller,
            Permission::ManageWebhooks,
            "webhook.register",
            "webhook",
        )
        .await?;
        let secret = WebhookSecret::generate()?;
        let endpoint = WebhookEndpoint {
            id: new_id(),
            url: url.to_owned(),
            description: description.to_owned(),
            created_at: self.now(),
            disabled: false,
        };
        let sealed = self.seal_row(
            caller.tenant,
            Kind::WebhookEndpoint,
            &endpoint.id,
            secret.expose_secret(),
        )?;
        let draft = self
            .draft(
                caller,
                "webhook.register",
                format!("webhook/{}", endpoint.id),
            )
            .detail("url", url);
        self.write(
            caller.tenant,
            Batch::new(draft).with(Change::Insert(endpoint.to_row(Some(sealed))?)),
        )
        .await?;
        Ok(RegisteredEndpoint {
            id: endpoint.id,
            secret: secret.to_text(),
        })
    }

    /// Replaces an endpoint's secret; the old one keeps signing beside the
    /// new one for `grace`, so receivers can switch without a gap. Returns
    /// the new secret (shown once). Needs `webhooks:manage`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::NotFound`].
    pub async fn rotate_webhook_secret(
        &self,
        caller: &Caller,
        endpoint: &str,
        grace: Duration,
    ) -> Result<SecretString> {
        let target = format!("webhook/{endpoint}");
        self.authorize(
            caller,
            Permission::ManageWebhooks,
            "webhook.rotate",
            &target,
        )
        .await?;
        let tenant = caller.tenant;
        let stored = self.endpoint(tenant, endpoint).await?;
        let old = self.open_row(
            tenant,
            Kind::WebhookEndpoint,
            endpoint,
            stored.sealed.as_deref(),
        )?;
        let new = WebhookSecret::generate()?;
        let previous = WebhookPreviousSecret {
            endpoint: endpoint.to_owned(),
            expires_at: self.now().saturating_add(grace),
        };
        let moved = self.seal_row(
            tenant,
            Kind::WebhookPreviousSecret,
            endpoint,
            old.expose_secret(),
        )?;
        let sealed = self.seal_row(tenant, Kind::WebhookEndpoint, endpoint, new.expose_secret())?;
        let batch = Batch::new(
            self.draft(caller, "webhook.rotate", &target)
                .detail("grace_seconds", grace.as_secs().to_string()),
        )
        .with(Change::Update {
            row: stored.record.to_row(Some(sealed))?,
            expected_version: stored.version,
        })
        .with(self.upsert(tenant, previous.to_row(Some(moved))?).await?);
        self.write(tenant, batch).await?;
        Ok(new.to_text())
    }

    /// Signs an outbound message for `endpoint`: the three Standard Webhooks
    /// headers, with the previous secret's signature beside the new one
    /// during a rotation. Needs `webhooks:manage` (the system caller has
    /// it). Not audited: signing changes nothing.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::NotFound`]; [`Error::InvalidInput`]
    /// for a bad message id or a disabled endpoint.
    pub async fn sign_webhook(
        &self,
        caller: &Caller,
        endpoint: &str,
        msg_id: &str,
        payload: &[u8],
    ) -> Result<SignedHeaders> {
        let target = format!("webhook/{endpoint}");
        self.authorize(caller, Permission::ManageWebhooks, "webhook.sign", &target)
            .await?;
        let tenant = caller.tenant;
        let stored = self.endpoint(tenant, endpoint).await?;
        if stored.record.disabled {
            return Err(Error::invalid("endpoint", "is disabled"));
        }
        let now = self.now();
        let current = WebhookSecret::from_bytes(
            self.open_row(
                tenant,
                Kind::WebhookEndpoint,
                endpoint,
                stored.sealed.as_deref(),
            )?
            .expose_secret(),
        )?;
        let mut secrets = vec![current];
        if let Some(prev) = self
            .inner
            .store
            .get_record::<WebhookPreviousSecret>(tenant, endpoint)
            .await?
            && now < prev.record.expires_at
        {
            let old = self.open_row(
                tenant,
                Kind::WebhookPreviousSecret,
                endpoint,
                prev.sealed.as_deref(),
            )?;
            secrets.push(WebhookSecret::from_bytes(old.expose_secret())?);
        }
        let refs: Vec<&WebhookSecret> = secrets.iter().collect();
        webhook::sign(&refs, msg_id, now.unix_seconds(), payload)
    }

    /// The tenant's endpoints, without secrets. Needs `webhooks:manage`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`].
    pub async fn list_webhook_endpoints(&self, caller: &Caller) -> Result<Vec<EndpointInfo>> {
        self.authorize(
            caller,
            Permission::ManageWebhooks,
            "webhook.list",
            "webhook",
        )
        .await?;
        let store = &self.inner.store;
        let endpoints = store
            .list_records::<WebhookEndpoint>(caller.tenant, ListQuery::new(Kind::WebhookEndpoint))
            .await?;
        let mut out = Vec::with_capacity(endpoints.len());
        let now = self.now();
        for e in endpoints {
            let prev = store
                .get_record::<WebhookPreviousSecret>(caller.tenant, &e.record.id)
                .await?;
            out.push(EndpointInfo {
                previous_secret_until: prev.map(|p| p.record.expires_at).filter(|t| *t > now),
                id: e.record.id,
                url: e.record.url,
                description: e.record.description,
                created_at: e.record.created_at,
            });
        }
        Ok(out)
    }

    /// Deletes an endpoint and its secrets. Needs `webhooks:manage`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::NotFound`].
    pub async fn delete_webhook_endpoint(&self, caller: &Caller, endpoint: &str) -> Result<()> {
        let target = format!("webhook/{endpoint}");
        self.authorize(
            caller,
            Permission::ManageWebhooks,
            "webhook.delete",
            &target,
        )
        .await?;
        let stored = self.endpoint(caller.tenant, endpoint).await?;
        let mut batch =
            Batch::new(self.draft(caller, "webhook.delete", &target)).with(Change::Delete {
                kind: Kind::WebhookEndpoint,
                id: endpoint.to_owned(),
                expected_version: Some(stored.version),
            });
        if self
            .inner
            .store
            .get(caller.tenant, Kind::WebhookPreviousSecret, endpoint)
            .await?
            .is_some()
        {
            batch.push(Change::Delete {
                kind: Kind::WebhookPreviousSecret,
                id: endpoint.to_owned(),
                expected_version: None,
            });
        }
        self.write(caller.tenant, batch).await.map(drop)
    }

    /// Verifies an inbound Standard Webhooks message from `source`, against
    /// the secrets in the tenant's settings `webhook/<source>` (and, during a
    /// rotation, `webhook/<source>.previous`), within the configured
    /// tolerance, and refuses a message id already seen within the window.
    /// Accepted messages and refusals are audited.
    ///
    /// # Errors
    ///
    /// [`Error::Webhook`] saying why (including `replayed message id`);
    /// [`Error::NotFound`] if no secret is configured for `source`.
    pub async fn verify_inbound_webhook(
        &self,
        tenant: TenantId,
        source: &str,
        headers: &[(&str, &str)],
        payload: &[u8],
        source_addr: Option<&str>,
    ) -> Result<VerifiedMessage> {
        let name = format!("webhook/{source}");
        check_setting_name(&name)?;
        let now = self.now();
        let mut secrets = Vec::new();
        for setting in [name.clone(), format!("{name}.previous")] {
            if let Some(row) = self
                .inner
                .store
                .get(tenant, Kind::SettingSecret, &setting)
                .await?
            {
                let text =
                    self.open_row(tenant, Kind::SettingSecret, &setting, row.sealed.as_deref())?;
                let text = std::str::from_utf8(text.expose_secret()).map_err(|_| {
                    Error::invalid("webhook secret", "is not text; store it as `whsec_...`")
                })?;
                secrets.push(WebhookSecret::parse(text)?);
            }
        }
        if secrets.is_empty() {
            return Err(Error::NotFound {
                what: "setting_secret".into(),
                id: name,
            });
        }
        let refs: Vec<&WebhookSecret> = secrets.iter().collect();
        let verifier = Verifier::default().with_tolerance(self.inner.config.webhook_tolerance);
        let draft = |outcome: Outcome| {
            let mut d = AuditDraft::new(Actor::Anonymous, "webhook.receive", name.clone(), now)
                .outcome(outcome)
                .detail("source", source);
            d.source = source_addr.map(str::to_owned);
            d
        };
        let message = match verifier.verify(headers, payload, &refs, now) {
            Ok(m) => m,
            Err(e) => {
                let reason = match &e {
                    Error::Webhook { reason } => *reason,
                    _ => "invalid",
                };
                self.record(tenant, draft(Outcome::Denied).detail("reason", reason))
                    .await;
                return Err(e);
            }
        };
        let seen = SeenWebhook {
            source: source.to_owned(),
            message_id: hex_sha256(message.id.as_bytes()),
            expires_at: Timestamp::from_unix_seconds(message.timestamp)
                .saturating_add(verifier.tolerance),
        };
        let batch = Batch::new(draft(Outcome::Allowed).detail("message_id", truncate(&message.id)))
            .with(Change::Insert(seen.to_row(None)?));
        match self.write(tenant, batch).await {
            Ok(_) => Ok(message),
            Err(Error::AlreadyExists { .. }) => {
                self.record(
                    tenant,
                    draft(Outcome::Denied).detail("reason", "replayed message id"),
                )
                .await;
                Err(Error::Webhook {
                    reason: "replayed message id",
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Verifies a GitHub-style `X-Hub-Signature-256: sha256=<hex>` delivery
    /// from `source` against the raw secret in the tenant's setting
    /// `webhook/<source>`. Refusals are audited.
    ///
    /// # Errors
    ///
    /// [`Error::Webhook`]; [`Error::NotFound`] if no secret is configured.
    pub async fn verify_github_webhook(
        &self,
        tenant: TenantId,
        source: &str,
        signature_header: &str,
        payload: &[u8],
        source_addr: Option<&str>,
    ) -> Result<()> {
        let name = format!("webhook/{source}");
        check_setting_name(&name)?;
        let row = self
            .inner
            .store
            .get(tenant, Kind::SettingSecret, &name)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "setting_secret".into(),
                id: name.clone(),
            })?;
        let secret = self.open_row(tenant, Kind::SettingSecret, &name, row.sealed.as_deref())?;
        let verifier = Verifier::default();
        if let Err(e) = verifier.verify_github(signature_header, payload, secret.expose_secret()) {
            let mut d = AuditDraft::new(
                Actor::Anonymous,
                "webhook.receive",
                name.clone(),
                self.now(),
            )
            .outcome(Outcome::Denied)
            .detail("source", source)
            .detail("style", "github");
            d.source = source_addr.map(str::to_owned);
            self.record(tenant, d).await;
            return Err(e);
        }
        Ok(())
    }

    async fn endpoint(
        &self,
        tenant: TenantId,
        endpoint: &str,
    ) -> Result<crate::store::Stored<WebhookEndpoint>> {
        self.inner
            .store
            .get_record::<WebhookEndpoint>(tenant, endpoint)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "webhook_endpoint".into(),
                id: endpoint.to_owned(),
            })
    }
}

fn hex_sha256(bytes: &[u8]) -> String {
    crate::hex32::hex_string(&Sha256::digest(bytes))
}

fn truncate(s: &str) -> String {
    s.chars().take(128).collect()
}
