//! Webhooks through the Vault. Outbound (this file): endpoints whose
//! signing secrets (`v1`, HMAC) or signing keys (`v1a`, Ed25519) are sealed,
//! signing with rotation. Inbound ([`inbound`]): typed sources, verification
//! by source id with replay protection.
//!
//! Who may do what (defaults: see `rbac`):
//!
//! | operation | permission | default roles |
//! |---|---|---|
//! | register, list, delete an endpoint | `webhooks:manage` | Developer, Admin |
//! | rotate an endpoint's secret or key | `webhooks:rotate` | Admin |
//! | sign a payload for an endpoint | `webhooks:sign` | Admin (and the system caller) |
//! | register, rotate, list, delete an inbound source | `settings:manage` | Admin |
//! | verify an inbound delivery | none (the sender is not a caller) | |
//!
//! Rotating a `v1` secret reveals the new one, and a signature is a message
//! every receiver trusts as the platform's: both are Admin-only. An inbound
//! source's key decides which deliveries the host believes, so it is managed
//! like the settings secrets it replaces.

mod inbound;

pub use inbound::{ReceivedWebhook, SourceInfo, SourceStyle};

use std::time::Duration;

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::id::TenantId;
use crate::rbac::Permission;
use crate::secret::SecretString;
use crate::store::records::{WebhookEndpoint, WebhookPreviousSecret};
use crate::store::{Batch, Change, Kind, ListQuery, Record, StoreExt, Stored};
use crate::vault::{Caller, Vault, new_id};
use crate::webhook::{
    self, SignatureVersion, SignedHeaders, WebhookPublicKey, WebhookSecret, WebhookSigningKey,
};

/// A registered `v1` endpoint. `secret` (`whsec_...`) is shown once: give it
/// to the receiver now.
///
/// Serialising it leaves the secret out; serialise
/// [`expose_secrets`](Self::expose_secrets) to add `"secret"`.
#[derive(Debug, serde::Serialize)]
#[non_exhaustive]
pub struct RegisteredEndpoint {
    /// The endpoint's id.
    pub id: String,
    /// Its signing secret, as the receiver configures it.
    #[serde(skip)]
    pub secret: SecretString,
}

/// A registered `v1a` endpoint: its signing key stays sealed in the Vault;
/// receivers verify with `public_key` (not secret, listed again by
/// [`Vault::list_webhook_endpoints`]). Serialises the key as its `whpk_`
/// text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct AsymmetricEndpoint {
    /// The endpoint's id.
    pub id: String,
    /// The `whpk_` public key receivers verify with.
    pub public_key: WebhookPublicKey,
}

/// An endpoint as listings show it (never its secret). Serialises with times
/// in RFC 3339 ([`crate::clock`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct EndpointInfo {
    /// Its id.
    pub id: String,
    /// Where deliveries go.
    pub url: String,
    /// Its label.
    pub description: String,
    /// When registered.
    #[serde(with = "crate::clock::rfc3339")]
    pub created_at: Timestamp,
    /// When the previous secret stops signing, during a rotation.
    #[serde(default, with = "crate::clock::rfc3339::option")]
    pub previous_secret_until: Option<Timestamp>,
    /// Its signature scheme: `v1` (shared secret) or `v1a` (Ed25519).
    pub version: SignatureVersion,
    /// For `v1a`: the current `whpk_` public key receivers verify with.
    #[serde(default)]
    pub public_key: Option<String>,
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

/// An endpoint's signing material, opened.
enum EndpointKey {
    V1(WebhookSecret),
    V1a(WebhookSigningKey),
}

impl EndpointKey {
    fn open(version: SignatureVersion, bytes: &[u8]) -> Result<Self> {
        Ok(match version {
            SignatureVersion::V1 => Self::V1(WebhookSecret::from_bytes(bytes)?),
            SignatureVersion::V1a => Self::V1a(WebhookSigningKey::from_bytes(bytes)?),
        })
    }
}

impl Vault {
    /// Registers an outbound endpoint signing with the symmetric scheme
    /// (`v1`, HMAC-SHA256) and generates its secret (sealed at rest,
    /// returned once). Needs `webhooks:manage`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::InvalidInput`] for a bad URL.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// # use std::sync::Arc;
    /// # use secrets_core::crypto::{KeyRing, MasterKey};
    /// # use secrets_core::store::MemoryStore;
    /// # use secrets_core::vault::{Caller, Vault, VaultConfig};
    /// # use secrets_core::{SystemClock, TenantId};
    /// # let mut config = VaultConfig::default();
    /// # config.password_cost = 10;
    /// # let vault = Vault::new(Arc::new(MemoryStore::new()), Arc::new(KeyRing::new(MasterKey::generate()?)), Arc::new(SystemClock), config).await?;
    /// # vault.bootstrap(TenantId::DEFAULT, "acme", "ada@example.com", &secrets_core::SecretString::from("correct horse battery"), None).await?;
    /// let system = Caller::system(TenantId::DEFAULT);
    /// let ep = vault.register_webhook_endpoint(&system, "https://hooks.example.com/in", "deploys").await?;
    /// assert!(ep.secret.expose_secret().starts_with("whsec_"));
    /// # Ok(()) }
    /// ```
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
        let id = self
            .insert_endpoint(
                caller,
                url,
                description,
                SignatureVersion::V1,
                None,
                secret.expose_secret(),
            )
            .await?;
        Ok(RegisteredEndpoint {
            id,
            secret: secret.to_text(),
        })
    }

    /// Registers an outbound endpoint signing with the asymmetric scheme
    /// (`v1a`, Ed25519) and generates its key pair: the `whsk_` signing key
    /// is sealed and never leaves the Vault; the `whpk_` public key is
    /// returned (and listed) for receivers, who can then verify deliveries
    /// but not forge them. Needs `webhooks:manage`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::InvalidInput`] for a bad URL.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// # use std::sync::Arc;
    /// # use secrets_core::crypto::{KeyRing, MasterKey};
    /// # use secrets_core::store::MemoryStore;
    /// # use secrets_core::vault::{Caller, Vault, VaultConfig};
    /// # use secrets_core::{SystemClock, TenantId, Timestamp};
    /// # let mut config = VaultConfig::default();
    /// # config.password_cost = 10;
    /// # let vault = Vault::new(Arc::new(MemoryStore::new()), Arc::new(KeyRing::new(MasterKey::generate()?)), Arc::new(SystemClock), config).await?;
    /// # vault.bootstrap(TenantId::DEFAULT, "acme", "ada@example.com", &secrets_core::SecretString::from("correct horse battery"), None).await?;
    /// use secrets_core::webhook;
    ///
    /// let system = Caller::system(TenantId::DEFAULT);
    /// let ep = vault.register_asymmetric_webhook_endpoint(&system, "https://hooks.example.com/in", "deploys").await?;
    /// let signed = vault.sign_webhook(&system, &ep.id, "msg_1", b"{}").await?;
    /// assert!(signed.signature.starts_with("v1a,"));
    ///
    /// // The receiver holds only the public key.
    /// let pairs = signed.pairs();
    /// let headers: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
    /// let now = Timestamp::from_unix_seconds(signed.timestamp);
    /// webhook::verify_asymmetric(&headers, b"{}", &[&ep.public_key], now)?;
    /// # Ok(()) }
    /// ```
    pub async fn register_asymmetric_webhook_endpoint(
        &self,
        caller: &Caller,
        url: &str,
        description: &str,
    ) -> Result<AsymmetricEndpoint> {
        check_endpoint_url(url)?;
        self.authorize(
            caller,
            Permission::ManageWebhooks,
            "webhook.register",
            "webhook",
        )
        .await?;
        let key = WebhookSigningKey::generate()?;
        let public_key = key.public_key();
        let id = self
            .insert_endpoint(
                caller,
                url,
                description,
                SignatureVersion::V1a,
                Some(public_key.to_text()),
                key.expose_secret(),
            )
            .await?;
        Ok(AsymmetricEndpoint { id, public_key })
    }

    /// Stores a new endpoint with its sealed key, audited.
    async fn insert_endpoint(
        &self,
        caller: &Caller,
        url: &str,
        description: &str,
        version: SignatureVersion,
        public_key: Option<String>,
        key: &[u8],
    ) -> Result<String> {
        let endpoint = WebhookEndpoint {
            id: new_id(),
            url: url.to_owned(),
            description: description.to_owned(),
            created_at: self.now(),
            disabled: false,
            version,
            public_key,
        };
        let sealed = self
            .seal_row(caller.tenant, Kind::WebhookEndpoint, &endpoint.id, key)
            .await?;
        let draft = self
            .draft(
                caller,
                "webhook.register",
                format!("webhook/{}", endpoint.id),
            )
            .detail("url", url)
            .detail("version", version.as_str());
        self.write(
            caller.tenant,
            Batch::new(draft).with(Change::Insert(endpoint.to_row(Some(sealed))?)),
        )
        .await?;
        Ok(endpoint.id)
    }

    /// Replaces a `v1` endpoint's secret; the old one keeps signing beside
    /// the new one for `grace`, so receivers can switch without a gap.
    /// Returns the new secret (shown once). Needs `webhooks:rotate`, which
    /// only Admins hold by default: the new secret is revealed to the caller.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::NotFound`]; [`Error::InvalidInput`]
    /// for a `v1a` endpoint (rotate its key with
    /// [`rotate_webhook_signing_key`](Self::rotate_webhook_signing_key)).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// # use std::sync::Arc;
    /// # use secrets_core::crypto::{KeyRing, MasterKey};
    /// # use secrets_core::store::MemoryStore;
    /// # use secrets_core::vault::{Caller, Vault, VaultConfig};
    /// # use secrets_core::{SystemClock, TenantId};
    /// # let mut config = VaultConfig::default();
    /// # config.password_cost = 10;
    /// # let vault = Vault::new(Arc::new(MemoryStore::new()), Arc::new(KeyRing::new(MasterKey::generate()?)), Arc::new(SystemClock), config).await?;
    /// # vault.bootstrap(TenantId::DEFAULT, "acme", "ada@example.com", &secrets_core::SecretString::from("correct horse battery"), None).await?;
    /// use std::time::Duration;
    ///
    /// let system = Caller::system(TenantId::DEFAULT);
    /// let ep = vault.register_webhook_endpoint(&system, "https://hooks.example.com/in", "deploys").await?;
    /// let new = vault.rotate_webhook_secret(&system, &ep.id, Duration::from_secs(3600)).await?;
    /// assert_ne!(new.expose_secret(), ep.secret.expose_secret());
    /// // During the grace period both secrets sign.
    /// let signed = vault.sign_webhook(&system, &ep.id, "msg_1", b"{}").await?;
    /// assert_eq!(signed.signature.split(' ').count(), 2);
    /// # Ok(()) }
    /// ```
    pub async fn rotate_webhook_secret(
        &self,
        caller: &Caller,
        endpoint: &str,
        grace: Duration,
    ) -> Result<SecretString> {
        let new = WebhookSecret::generate()?;
        self.rotate_endpoint(
            caller,
            endpoint,
            grace,
            SignatureVersion::V1,
            new.expose_secret(),
            None,
        )
        .await?;
        Ok(new.to_text())
    }

    /// Replaces a `v1a` endpoint's signing key with a fresh key pair; the old
    /// key keeps signing beside the new one for `grace`, so receivers can
    /// add the new public key without a gap. Returns the new public key.
    /// Needs `webhooks:rotate`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::NotFound`]; [`Error::InvalidInput`]
    /// for a `v1` endpoint (rotate its secret with
    /// [`rotate_webhook_secret`](Self::rotate_webhook_secret)).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// # use std::sync::Arc;
    /// # use secrets_core::crypto::{KeyRing, MasterKey};
    /// # use secrets_core::store::MemoryStore;
    /// # use secrets_core::vault::{Caller, Vault, VaultConfig};
    /// # use secrets_core::{SystemClock, TenantId};
    /// # let mut config = VaultConfig::default();
    /// # config.password_cost = 10;
    /// # let vault = Vault::new(Arc::new(MemoryStore::new()), Arc::new(KeyRing::new(MasterKey::generate()?)), Arc::new(SystemClock), config).await?;
    /// # vault.bootstrap(TenantId::DEFAULT, "acme", "ada@example.com", &secrets_core::SecretString::from("correct horse battery"), None).await?;
    /// use std::time::Duration;
    ///
    /// let system = Caller::system(TenantId::DEFAULT);
    /// let ep = vault.register_asymmetric_webhook_endpoint(&system, "https://hooks.example.com/in", "x").await?;
    /// let new = vault.rotate_webhook_signing_key(&system, &ep.id, Duration::ZERO).await?;
    /// assert_ne!(new, ep.public_key);
    /// # Ok(()) }
    /// ```
    pub async fn rotate_webhook_signing_key(
        &self,
        caller: &Caller,
        endpoint: &str,
        grace: Duration,
    ) -> Result<WebhookPublicKey> {
        let new = WebhookSigningKey::generate()?;
        let public_key = new.public_key();
        self.rotate_endpoint(
            caller,
            endpoint,
            grace,
            SignatureVersion::V1a,
            new.expose_secret(),
            Some(public_key.to_text()),
        )
        .await?;
        Ok(public_key)
    }

    /// Moves an endpoint's key to its previous-secret row (signing until
    /// now + `grace`) and seals `new` in its place, in one audited write.
    async fn rotate_endpoint(
        &self,
        caller: &Caller,
        endpoint: &str,
        grace: Duration,
        version: SignatureVersion,
        new: &[u8],
        public_key: Option<String>,
    ) -> Result<()> {
        let target = format!("webhook/{endpoint}");
        self.authorize(
            caller,
            Permission::RotateWebhookSecrets,
            "webhook.rotate",
            &target,
        )
        .await?;
        let tenant = caller.tenant;
        let stored = self.endpoint(tenant, endpoint).await?;
        if stored.record.version != version {
            return Err(wrong_version(endpoint, stored.record.version));
        }
        let old = self
            .open_row(
                tenant,
                Kind::WebhookEndpoint,
                endpoint,
                stored.sealed.as_deref(),
            )
            .await?;
        let previous = WebhookPreviousSecret {
            endpoint: endpoint.to_owned(),
            expires_at: self.now().saturating_add(grace),
        };
        let moved = self
            .seal_row(
                tenant,
                Kind::WebhookPreviousSecret,
                endpoint,
                old.expose_secret(),
            )
            .await?;
        let sealed = self
            .seal_row(tenant, Kind::WebhookEndpoint, endpoint, new)
            .await?;
        let record = WebhookEndpoint {
            public_key,
            ..stored.record
        };
        let batch = Batch::new(
            self.draft(caller, "webhook.rotate", &target)
                .detail("grace_seconds", grace.as_secs().to_string())
                .detail("version", version.as_str()),
        )
        .with(Change::Update {
            row: record.to_row(Some(sealed))?,
            expected_version: stored.version,
        })
        .with(self.upsert(tenant, previous.to_row(Some(moved))?).await?);
        self.write(tenant, batch).await.map(drop)
    }

    /// Signs an outbound message for `endpoint`: the three Standard Webhooks
    /// headers, `v1` or `v1a` as the endpoint was registered, with the
    /// previous secret's or key's signature beside the current one during a
    /// rotation. Needs `webhooks:sign`, which only Admins (and the system
    /// caller a delivery worker runs as) hold by default: the signature
    /// makes any payload a message receivers trust as the platform's. Not
    /// audited: signing changes nothing.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::NotFound`]; [`Error::InvalidInput`]
    /// for a bad message id or a disabled endpoint.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// # use std::sync::Arc;
    /// # use secrets_core::crypto::{KeyRing, MasterKey};
    /// # use secrets_core::store::MemoryStore;
    /// # use secrets_core::vault::{Caller, Vault, VaultConfig};
    /// # use secrets_core::{SystemClock, TenantId};
    /// # let mut config = VaultConfig::default();
    /// # config.password_cost = 10;
    /// # let vault = Vault::new(Arc::new(MemoryStore::new()), Arc::new(KeyRing::new(MasterKey::generate()?)), Arc::new(SystemClock), config).await?;
    /// # vault.bootstrap(TenantId::DEFAULT, "acme", "ada@example.com", &secrets_core::SecretString::from("correct horse battery"), None).await?;
    /// let system = Caller::system(TenantId::DEFAULT);
    /// let ep = vault.register_webhook_endpoint(&system, "https://hooks.example.com/in", "deploys").await?;
    /// let signed = vault.sign_webhook(&system, &ep.id, "msg_1", br#"{"type":"ping"}"#).await?;
    /// assert!(signed.signature.starts_with("v1,"));
    /// # Ok(()) }
    /// ```
    pub async fn sign_webhook(
        &self,
        caller: &Caller,
        endpoint: &str,
        msg_id: &str,
        payload: &[u8],
    ) -> Result<SignedHeaders> {
        let target = format!("webhook/{endpoint}");
        self.authorize(caller, Permission::SignWebhooks, "webhook.sign", &target)
            .await?;
        let tenant = caller.tenant;
        let stored = self.endpoint(tenant, endpoint).await?;
        if stored.record.disabled {
            return Err(Error::invalid("endpoint", "is disabled"));
        }
        let version = stored.record.version;
        let now = self.now();
        let current = self
            .open_row(
                tenant,
                Kind::WebhookEndpoint,
                endpoint,
                stored.sealed.as_deref(),
            )
            .await?;
        let mut keys = vec![EndpointKey::open(version, current.expose_secret())?];
        if let Some(prev) = self
            .inner
            .store
            .get_record::<WebhookPreviousSecret>(tenant, endpoint)
            .await?
            && now < prev.record.expires_at
        {
            let old = self
                .open_row(
                    tenant,
                    Kind::WebhookPreviousSecret,
                    endpoint,
                    prev.sealed.as_deref(),
                )
                .await?;
            keys.push(EndpointKey::open(version, old.expose_secret())?);
        }
        let ts = now.unix_seconds();
        match version {
            SignatureVersion::V1 => {
                let secrets: Vec<&WebhookSecret> = keys
                    .iter()
                    .filter_map(|k| match k {
                        EndpointKey::V1(s) => Some(s),
                        EndpointKey::V1a(_) => None,
                    })
                    .collect();
                webhook::sign(&secrets, msg_id, ts, payload)
            }
            SignatureVersion::V1a => {
                let signing: Vec<&WebhookSigningKey> = keys
                    .iter()
                    .filter_map(|k| match k {
                        EndpointKey::V1a(s) => Some(s),
                        EndpointKey::V1(_) => None,
                    })
                    .collect();
                webhook::sign_asymmetric(&signing, msg_id, ts, payload)
            }
        }
    }

    /// The tenant's endpoints, without secrets (with the public key of a
    /// `v1a` endpoint). Needs `webhooks:manage`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// # use std::sync::Arc;
    /// # use secrets_core::crypto::{KeyRing, MasterKey};
    /// # use secrets_core::store::MemoryStore;
    /// # use secrets_core::vault::{Caller, Vault, VaultConfig};
    /// # use secrets_core::{SystemClock, TenantId};
    /// # let mut config = VaultConfig::default();
    /// # config.password_cost = 10;
    /// # let vault = Vault::new(Arc::new(MemoryStore::new()), Arc::new(KeyRing::new(MasterKey::generate()?)), Arc::new(SystemClock), config).await?;
    /// # vault.bootstrap(TenantId::DEFAULT, "acme", "ada@example.com", &secrets_core::SecretString::from("correct horse battery"), None).await?;
    /// use secrets_core::webhook::SignatureVersion;
    ///
    /// let system = Caller::system(TenantId::DEFAULT);
    /// let ep = vault.register_asymmetric_webhook_endpoint(&system, "https://hooks.example.com/in", "x").await?;
    /// let listed = vault.list_webhook_endpoints(&system).await?;
    /// assert_eq!(listed[0].version, SignatureVersion::V1a);
    /// assert_eq!(listed[0].public_key, Some(ep.public_key.to_text()));
    /// # Ok(()) }
    /// ```
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
                version: e.record.version,
                public_key: e.record.public_key,
            });
        }
        Ok(out)
    }

    /// Deletes an endpoint and its secrets. Needs `webhooks:manage`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::NotFound`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// # use std::sync::Arc;
    /// # use secrets_core::crypto::{KeyRing, MasterKey};
    /// # use secrets_core::store::MemoryStore;
    /// # use secrets_core::vault::{Caller, Vault, VaultConfig};
    /// # use secrets_core::{SystemClock, TenantId};
    /// # let mut config = VaultConfig::default();
    /// # config.password_cost = 10;
    /// # let vault = Vault::new(Arc::new(MemoryStore::new()), Arc::new(KeyRing::new(MasterKey::generate()?)), Arc::new(SystemClock), config).await?;
    /// # vault.bootstrap(TenantId::DEFAULT, "acme", "ada@example.com", &secrets_core::SecretString::from("correct horse battery"), None).await?;
    /// let system = Caller::system(TenantId::DEFAULT);
    /// let ep = vault.register_webhook_endpoint(&system, "https://hooks.example.com/in", "x").await?;
    /// vault.delete_webhook_endpoint(&system, &ep.id).await?;
    /// assert!(vault.list_webhook_endpoints(&system).await?.is_empty());
    /// # Ok(()) }
    /// ```
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

    async fn endpoint(&self, tenant: TenantId, endpoint: &str) -> Result<Stored<WebhookEndpoint>> {
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

/// The error for rotating an endpoint with the other scheme's call.
fn wrong_version(endpoint: &str, version: SignatureVersion) -> Error {
    let reason = match version {
        SignatureVersion::V1 => {
            "signs with `v1` (a shared secret): rotate it with `rotate_webhook_secret`"
        }
        SignatureVersion::V1a => {
            "signs with `v1a` (an Ed25519 key): rotate it with `rotate_webhook_signing_key`"
        }
    };
    Error::invalid(
        "endpoint",
        format!("`{}` {reason}", endpoint.escape_debug()),
    )
}
