//! Webhooks through the Vault: outbound endpoints whose secrets are sealed
//! and shown once, signing with rotation, and inbound verification with
//! replay protection.

use crate::error::WebhookRejection;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::audit::{Actor, AuditDraft, Outcome};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::id::TenantId;
use crate::rbac::Permission;
use crate::secret::{SecretBytes, SecretString};
use crate::store::records::{SeenWebhook, WebhookEndpoint, WebhookPreviousSecret};
use crate::store::{Batch, Change, Kind, ListQuery, Record, StoreExt};
use crate::vault::settings::check_setting_name;
use crate::vault::{Caller, Vault, new_id};
use crate::webhook::{self, SignedHeaders, VerifiedMessage, Verifier, WebhookSecret};

/// A registered endpoint. `secret` (`whsec_...`) is shown once: give it to
/// the receiver now.
#[derive(Debug)]
#[non_exhaustive]
pub struct RegisteredEndpoint {
    /// The endpoint's id.
    pub id: String,
    /// Its signing secret, as the receiver configures it.
    pub secret: SecretString,
}

/// An endpoint as listings show it (never its secret).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
pub(crate) fn check_endpoint_url(url: &str) -> Result<()> {
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
    /// tolerance, and refuses a message id already seen from `source` within
    /// the window. Accepted messages and refusals are audited.
    ///
    /// The sender is not authenticated until the signature verifies, so it
    /// learns nothing about the configuration: an unknown source (including
    /// a name ending in `.previous`, which is a secret's slot and never a
    /// source), a secret that cannot be used, and a wrong signature all give
    /// the same error, after the same checks (a configuration problem is
    /// verified against a throw-away secret). The host tells them apart in
    /// the audit event's `reason`: `unknown source`, `misconfigured secret`,
    /// `secret could not be opened`, or the verifier's reason.
    ///
    /// # Errors
    ///
    /// [`Error::Webhook`]: `no matching signature` for all three cases
    /// above, `replayed message id`, or what is wrong with the headers or
    /// the timestamp (the same whether the source exists or not);
    /// [`Error::TooLarge`] for a payload over 1 MiB; the store's errors.
    pub async fn verify_inbound_webhook(
        &self,
        tenant: TenantId,
        source: &str,
        headers: &[(&str, &str)],
        payload: &[u8],
        source_addr: Option<&str>,
    ) -> Result<VerifiedMessage> {
        let now = self.now();
        let receive = Receive::new(source, source_addr, now, "standard");
        let (secrets, problem) = self.inbound_secrets(tenant, source).await?;
        let secrets = match secrets {
            Some(s) => s,
            None => vec![WebhookSecret::generate()?],
        };
        let refs: Vec<&WebhookSecret> = secrets.iter().collect();
        let verifier = Verifier::default().with_tolerance(self.inner.config.webhook_tolerance);
        let verified = verifier.verify(headers, payload, &refs, now);
        let message = match (verified, problem) {
            (Ok(m), None) => m,
            (outcome, problem) => {
                return Err(self
                    .refuse_inbound(tenant, &receive, outcome.err(), problem)
                    .await);
            }
        };
        let seen = SeenWebhook {
            source: source.to_owned(),
            message_id: hex_sha256(message.id.as_bytes()),
            expires_at: verifier.replay_window_end(message.timestamp),
        };
        self.remember(
            tenant,
            &receive,
            seen,
            &message.id,
            WebhookRejection::Replayed,
        )
        .await?;
        Ok(message)
    }

    /// Verifies a GitHub-style delivery from `source`: `delivery` is the
    /// `X-GitHub-Delivery` header (its id), `signature_header` the
    /// `X-Hub-Signature-256` header (`sha256=<hex>`), checked against the
    /// raw secret in the tenant's setting `webhook/<source>`.
    ///
    /// GitHub signs no timestamp, so the delivery id is the only replay
    /// protection: it is remembered, in the same store as Standard Webhooks
    /// ids, for 30 days, and a delivery whose id was seen from `source` is
    /// refused. (A captured delivery replayed after 30 days is accepted
    /// again; a host that cannot allow that must also check the payload's
    /// own dates.) Accepted deliveries and refusals are audited; the sender
    /// learns nothing about the configuration, as for
    /// [`verify_inbound_webhook`](Self::verify_inbound_webhook).
    ///
    /// # Errors
    ///
    /// [`Error::Webhook`]: `missing X-GitHub-Delivery header` (or
    /// `malformed ...`), `no matching signature` (also for an unknown source
    /// or a misconfigured secret), `replayed delivery id`, or a malformed
    /// signature header; [`Error::TooLarge`]; the store's errors.
    pub async fn verify_github_webhook(
        &self,
        tenant: TenantId,
        source: &str,
        delivery: &str,
        signature_header: &str,
        payload: &[u8],
        source_addr: Option<&str>,
    ) -> Result<()> {
        let now = self.now();
        let receive = Receive::new(source, source_addr, now, "github");
        if let Err(e) = check_delivery_id(delivery) {
            return Err(self.refuse_inbound(tenant, &receive, Some(e), None).await);
        }
        let (secret, problem) = self.github_secret(tenant, source).await?;
        let secret = match secret {
            Some(s) => s,
            None => SecretBytes::new(WebhookSecret::generate()?.expose_secret().to_vec()),
        };
        let verified =
            Verifier::default().verify_github(signature_header, payload, secret.expose_secret());
        match (verified, problem) {
            (Ok(()), None) => {}
            (outcome, problem) => {
                return Err(self
                    .refuse_inbound(tenant, &receive, outcome.err(), problem)
                    .await);
            }
        }
        let seen = SeenWebhook {
            source: source.to_owned(),
            message_id: hex_sha256(delivery.as_bytes()),
            expires_at: now.saturating_add(GITHUB_DELIVERY_RETENTION),
        };
        self.remember(
            tenant,
            &receive,
            seen,
            delivery,
            WebhookRejection::ReplayedDelivery,
        )
        .await
    }

    /// The usable Standard Webhooks secrets of `source`, or `None` and the
    /// reason for the audit log.
    async fn inbound_secrets(
        &self,
        tenant: TenantId,
        source: &str,
    ) -> Result<(Option<Vec<WebhookSecret>>, Option<&'static str>)> {
        if !is_source(source) {
            return Ok((None, Some(UNKNOWN_SOURCE)));
        }
        let name = format!("webhook/{source}");
        let mut secrets = Vec::new();
        let mut found = None;
        for setting in [name.clone(), format!("{name}.previous")] {
            match self.setting_value(tenant, &setting).await? {
                Setting::Absent => {}
                Setting::Unreadable => found = found.or(Some(UNREADABLE)),
                Setting::Value(text) => {
                    let parsed = std::str::from_utf8(text.expose_secret())
                        .ok()
                        .and_then(|t| WebhookSecret::parse(t).ok());
                    match parsed {
                        Some(s) => secrets.push(s),
                        None => found = found.or(Some(MISCONFIGURED)),
                    }
                }
            }
        }
        Ok(if !secrets.is_empty() {
            (Some(secrets), None)
        } else {
            (None, Some(found.unwrap_or(UNKNOWN_SOURCE)))
        })
    }

    /// The raw GitHub secret of `source`, or `None` and the reason for the
    /// audit log.
    async fn github_secret(
        &self,
        tenant: TenantId,
        source: &str,
    ) -> Result<(Option<SecretBytes>, Option<&'static str>)> {
        if !is_source(source) {
            return Ok((None, Some(UNKNOWN_SOURCE)));
        }
        Ok(
            match self
                .setting_value(tenant, &format!("webhook/{source}"))
                .await?
            {
                Setting::Absent => (None, Some(UNKNOWN_SOURCE)),
                Setting::Unreadable => (None, Some(UNREADABLE)),
                Setting::Value(v) if v.expose_secret().is_empty() => (None, Some(MISCONFIGURED)),
                Setting::Value(v) => (Some(v), None),
            },
        )
    }

    /// A settings secret's value, for verification.
    async fn setting_value(&self, tenant: TenantId, name: &str) -> Result<Setting> {
        let Some(row) = self
            .inner
            .store
            .get(tenant, Kind::SettingSecret, name)
            .await?
        else {
            return Ok(Setting::Absent);
        };
        Ok(
            match self.open_row(tenant, Kind::SettingSecret, name, row.sealed.as_deref()) {
                Ok(v) => Setting::Value(v),
                Err(_) => Setting::Unreadable,
            },
        )
    }

    /// Audits a refused inbound message and returns what the sender gets:
    /// the verifier's own error when it is about the message (headers,
    /// timestamp, size), otherwise the one generic signature failure.
    async fn refuse_inbound(
        &self,
        tenant: TenantId,
        receive: &Receive<'_>,
        error: Option<Error>,
        problem: Option<&'static str>,
    ) -> Error {
        let check = match &error {
            Some(Error::Webhook { reason }) => reason.as_str(),
            Some(Error::TooLarge { .. }) => "payload too large",
            Some(_) => "invalid",
            None => "matched a throw-away secret",
        };
        let mut draft = receive
            .draft(Outcome::Denied)
            .detail("reason", problem.unwrap_or(check));
        if problem.is_some() {
            draft = draft.detail("check", check);
        }
        self.record(tenant, draft).await;
        match error {
            Some(e @ (Error::TooLarge { .. } | Error::Webhook { .. }))
                if !matches!(e, Error::Webhook { reason: NO_MATCH }) =>
            {
                e
            }
            _ => Error::Webhook { reason: NO_MATCH },
        }
    }

    /// Stores a verified message's id with its audit event; an id already
    /// there is a replay, refused and audited.
    async fn remember(
        &self,
        tenant: TenantId,
        receive: &Receive<'_>,
        seen: SeenWebhook,
        id: &str,
        replayed: WebhookRejection,
    ) -> Result<()> {
        let batch = Batch::new(
            receive
                .draft(Outcome::Allowed)
                .detail("message_id", truncate(id)),
        )
        .with(Change::Insert(seen.to_row(None)?));
        match self.write(tenant, batch).await {
            Ok(_) => Ok(()),
            Err(Error::AlreadyExists { .. }) => {
                self.record(
                    tenant,
                    receive
                        .draft(Outcome::Denied)
                        .detail("reason", replayed.as_str())
                        .detail("message_id", truncate(id)),
                )
                .await;
                Err(Error::Webhook { reason: replayed })
            }
            Err(e) => Err(e),
        }
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

/// The one reason a sender gets for every signature failure, whatever the
/// configuration behind it.
const NO_MATCH: WebhookRejection = WebhookRejection::NoMatchingSignature;
/// Audit reasons for a refusal the sender does not see.
const UNKNOWN_SOURCE: &str = "unknown source";
const MISCONFIGURED: &str = "misconfigured secret";
const UNREADABLE: &str = "secret could not be opened";

/// How long a GitHub delivery id is remembered (GitHub signs no timestamp).
const GITHUB_DELIVERY_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// Longest `X-GitHub-Delivery` id, in bytes (GitHub's are 36-byte GUIDs).
const MAX_DELIVERY_LEN: usize = 255;

/// A settings secret as verification sees it.
enum Setting {
    Absent,
    Unreadable,
    Value(SecretBytes),
}

/// One inbound delivery, for its audit events.
struct Receive<'a> {
    source: &'a str,
    addr: Option<&'a str>,
    at: Timestamp,
    style: &'static str,
}

impl<'a> Receive<'a> {
    fn new(source: &'a str, addr: Option<&'a str>, at: Timestamp, style: &'static str) -> Self {
        Self {
            source,
            addr,
            at,
            style,
        }
    }

    fn draft(&self, outcome: Outcome) -> AuditDraft {
        let mut d = AuditDraft::new(
            Actor::Anonymous,
            "webhook.receive",
            format!("webhook/{}", self.source),
            self.at,
        )
        .outcome(outcome)
        .detail("source", self.source)
        .detail("style", self.style);
        d.source = self.addr.map(str::to_owned);
        d
    }
}

/// Whether `source` can name an inbound source: its setting name is valid,
/// and it is not a rotation slot (`<source>.previous` holds a secret of
/// `<source>`, and must not be a second source with its own replay store).
fn is_source(source: &str) -> bool {
    !source.ends_with(".previous") && check_setting_name(&format!("webhook/{source}")).is_ok()
}

/// `X-GitHub-Delivery`: present, 1 to 255 printable ASCII bytes.
fn check_delivery_id(delivery: &str) -> Result<()> {
    if delivery.is_empty() {
        return Err(Error::Webhook {
            reason: WebhookRejection::MissingDelivery,
        });
    }
    if delivery.len() > MAX_DELIVERY_LEN || !delivery.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::Webhook {
            reason: WebhookRejection::MalformedDelivery,
        });
    }
    Ok(())
}

fn hex_sha256(bytes: &[u8]) -> String {
    crate::hex32::hex_string(&Sha256::digest(bytes))
}

fn truncate(s: &str) -> String {
    s.chars().take(128).collect()
}
