//! Inbound webhooks: typed sources (a Standard Webhooks `whsec_` secret or
//! `whpk_` public key, or a GitHub secret), validated when registered,
//! rotated with a grace period, and verification by source id with replay
//! protection.
//!
//! The sender of a delivery is not authenticated until its signature
//! verifies, so what it gets back depends only on what it sent: an unknown
//! source, a source of another style, a key that cannot be used and a wrong
//! signature all give the same error after the same checks (the delivery
//! is verified against a throw-away key of the style its headers show).
//! The audit event's `reason` tells the host which it was.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::audit::{Actor, AuditDraft, Outcome};
use crate::clock::Timestamp;
use crate::crypto::random_bytes;
use crate::error::{Error, Result, WebhookRejection};
use crate::id::TenantId;
use crate::rbac::Permission;
use crate::secret::SecretBytes;
use crate::store::records::{SeenWebhook, WebhookSource};
use crate::store::{Batch, Change, Kind, ListQuery, Record, StoreExt, Stored};
use crate::vault::{Caller, Vault};
use crate::webhook::header::{Entry, parse_signature_header};
use crate::webhook::{
    GITHUB_HEADER_DELIVERY, GITHUB_HEADER_SIGNATURE, HEADER_SIGNATURE, PUBLIC_KEY_PREFIX,
    SECRET_PREFIX, SIGNING_KEY_PREFIX, Verifier, WebhookPublicKey, WebhookSecret,
    WebhookSigningKey,
};

/// How an inbound source signs its deliveries, fixed when it is registered.
///
/// ```
/// use secrets_core::vault::SourceStyle;
///
/// assert_eq!(SourceStyle::StandardV1a.as_str(), "standard_v1a");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SourceStyle {
    /// Standard Webhooks, symmetric (`v1`, HMAC-SHA256): the `whsec_` secret
    /// the sender shows, decoded as the reference libraries decode it.
    Standard,
    /// Standard Webhooks, asymmetric (`v1a`, Ed25519): the sender's `whpk_`
    /// public key. The host holds nothing that could sign.
    StandardV1a,
    /// GitHub (`X-Hub-Signature-256`, `X-GitHub-Delivery`): the secret string
    /// configured at GitHub, used as is (16 to 1024 bytes).
    Github,
}

impl SourceStyle {
    /// `standard`, `standard_v1a` or `github`: the stored and audited name.
    ///
    /// ```
    /// use secrets_core::vault::SourceStyle;
    ///
    /// assert_eq!(SourceStyle::Github.as_str(), "github");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::StandardV1a => "standard_v1a",
            Self::Github => "github",
        }
    }
}

/// An inbound source as listings show it (never its secret; the public key
/// of a `standard_v1a` source, which is not one). Serialises with times in
/// RFC 3339 ([`crate::clock`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SourceInfo {
    /// Its id.
    pub id: String,
    /// How its deliveries are signed.
    pub style: SourceStyle,
    /// When registered.
    #[serde(with = "crate::clock::rfc3339")]
    pub created_at: Timestamp,
    /// When its secret last changed, if ever.
    #[serde(default, with = "crate::clock::rfc3339::option")]
    pub rotated_at: Option<Timestamp>,
    /// Until when the previous secret is still accepted, during a rotation.
    #[serde(default, with = "crate::clock::rfc3339::option")]
    pub previous_until: Option<Timestamp>,
    /// For `standard_v1a`: the `whpk_` public key deliveries verify against.
    #[serde(default)]
    pub public_key: Option<String>,
}

/// A delivery that verified, and was not seen before. Serialises with its
/// time in RFC 3339 ([`crate::clock`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReceivedWebhook {
    /// The message id: `webhook-id`, or `X-GitHub-Delivery`.
    pub id: String,
    /// The `webhook-timestamp` (whole seconds); `None` for GitHub, which
    /// signs no time.
    #[serde(default, with = "crate::clock::rfc3339::option")]
    pub timestamp: Option<Timestamp>,
    /// The source's style.
    pub style: SourceStyle,
}

/// The longest source id, in bytes.
const MAX_SOURCE_ID_LEN: usize = 64;
/// The shortest GitHub secret accepted, in bytes: one delivery is enough to
/// test guesses offline, so a short secret is a guessable one.
const MIN_GITHUB_SECRET_LEN: usize = 16;
/// The longest GitHub secret accepted, in bytes.
const MAX_GITHUB_SECRET_LEN: usize = 1024;
/// How long a GitHub delivery id is remembered (GitHub signs no timestamp).
const GITHUB_DELIVERY_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// The start of the replay key of a GitHub delivery's signed body
/// (`body-` + hex SHA-256 of the body), beside the one of its delivery id
/// (64 hex digits, never starting so).
const GITHUB_BODY_KEY: &str = "body-";

/// A source id: 1 to 64 of `a-z`, `0-9`, `-`, `_`, `.`, starting with a
/// letter or digit (it ends URLs, and never holds the `/` that separates it
/// from a message id in replay rows).
fn check_source_id(id: &str) -> Result<()> {
    let lower_alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut chars = id.chars();
    let ok = id.len() <= MAX_SOURCE_ID_LEN
        && chars.next().is_some_and(lower_alnum)
        && chars.all(|c| lower_alnum(c) || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        let shown: String = id.chars().take(64).collect();
        Err(Error::invalid(
            "source",
            format!(
                "`{}` must be 1 to 64 of `a-z`, `0-9`, `-`, `_`, `.`, starting with a letter or digit",
                shown.escape_debug()
            ),
        ))
    }
}

/// A source's key, parsed for its style.
enum SourceKey {
    Standard(WebhookSecret),
    V1a(WebhookPublicKey),
    Github(SecretBytes),
}

impl SourceKey {
    /// The key a host registers, checked for its style with an error that
    /// names the mix-up when it is one (always about the field `secret`, the
    /// argument's name).
    fn parse(style: SourceStyle, text: &str) -> Result<Self> {
        Self::parse_style(style, text).map_err(|e| match e {
            Error::InvalidInput { reason, .. } => Error::InvalidInput {
                field: "secret",
                reason,
            },
            other => other,
        })
    }

    fn parse_style(style: SourceStyle, text: &str) -> Result<Self> {
        const FIELD: &str = "secret";
        let trimmed = text.trim();
        match style {
            SourceStyle::Standard => {
                if trimmed.starts_with(PUBLIC_KEY_PREFIX) {
                    return Err(Error::invalid(
                        FIELD,
                        "is a `whpk_` public key (the asymmetric `v1a` scheme): register the source as `SourceStyle::StandardV1a`",
                    ));
                }
                if trimmed.starts_with(SIGNING_KEY_PREFIX) {
                    return Err(Error::invalid(
                        FIELD,
                        "is a `whsk_` signing key, the sender's private key: a receiver registers the `whpk_` public key \
                         (`SourceStyle::StandardV1a`); the sender should replace a signing key that was shared",
                    ));
                }
                if !trimmed.starts_with(SECRET_PREFIX) {
                    return Err(Error::invalid(
                        FIELD,
                        "does not start with `whsec_`: register the secret as the sender shows it, `whsec_` included \
                         (put `whsec_` before a secret handed out as base64 alone); a raw string secret is GitHub style \
                         (`SourceStyle::Github`)",
                    ));
                }
                WebhookSecret::parse_lenient(trimmed).map(Self::Standard)
            }
            SourceStyle::StandardV1a => {
                if trimmed.starts_with(SECRET_PREFIX) {
                    return Err(Error::invalid(
                        FIELD,
                        "is a `whsec_` shared secret (the symmetric `v1` scheme): register the source as `SourceStyle::Standard`",
                    ));
                }
                WebhookPublicKey::parse(trimmed).map(Self::V1a)
            }
            SourceStyle::Github => {
                if [SECRET_PREFIX, PUBLIC_KEY_PREFIX, SIGNING_KEY_PREFIX]
                    .iter()
                    .any(|p| trimmed.starts_with(p))
                {
                    return Err(Error::invalid(
                        FIELD,
                        "is a Standard Webhooks key (`whsec_`, `whpk_` or `whsk_`), not a GitHub secret: \
                         register the source as `SourceStyle::Standard` (or `StandardV1a` for `whpk_`)",
                    ));
                }
                if trimmed.len() != text.len() {
                    return Err(Error::invalid(
                        FIELD,
                        "starts or ends with whitespace (a newline read from a file?); GitHub signs with the exact string it was given",
                    ));
                }
                if text.chars().any(char::is_control) {
                    return Err(Error::invalid(FIELD, "contains a control character"));
                }
                Self::github(text.as_bytes())
            }
        }
    }

    fn github(bytes: &[u8]) -> Result<Self> {
        let len = bytes.len();
        if len < MIN_GITHUB_SECRET_LEN {
            return Err(Error::invalid(
                "secret",
                format!(
                    "is {len} bytes; a GitHub webhook secret must be at least {MIN_GITHUB_SECRET_LEN} (one delivery lets anyone test guesses offline: use a long random string)"
                ),
            ));
        }
        if len > MAX_GITHUB_SECRET_LEN {
            return Err(Error::invalid(
                "secret",
                format!("is {len} bytes; at most {MAX_GITHUB_SECRET_LEN}"),
            ));
        }
        Ok(Self::Github(SecretBytes::new(bytes.to_vec())))
    }

    /// A key as stored (the bytes of [`bytes`](Self::bytes)).
    fn from_stored(style: SourceStyle, bytes: &[u8]) -> Result<Self> {
        match style {
            SourceStyle::Standard => WebhookSecret::from_key_bytes(bytes).map(Self::Standard),
            SourceStyle::StandardV1a => WebhookPublicKey::from_bytes(bytes).map(Self::V1a),
            SourceStyle::Github => Self::github(bytes),
        }
    }

    /// A throw-away key of `style`, for a delivery that has no usable one.
    fn throwaway(style: SourceStyle) -> Result<Self> {
        Ok(match style {
            SourceStyle::Standard => Self::Standard(WebhookSecret::generate()?),
            SourceStyle::StandardV1a => Self::V1a(WebhookSigningKey::generate()?.public_key()),
            SourceStyle::Github => Self::Github(SecretBytes::new(random_bytes::<32>()?.to_vec())),
        })
    }

    /// The bytes stored: the HMAC key, the public key, or the GitHub secret.
    fn bytes(&self) -> &[u8] {
        match self {
            Self::Standard(s) => s.expose_secret(),
            Self::V1a(k) => k.as_bytes(),
            Self::Github(s) => s.expose_secret(),
        }
    }
}

/// The sealed value of a source: `u16_be(len) || key`, for the current key,
/// then for the previous one during a rotation.
fn seal_keys(current: &[u8], previous: Option<&[u8]>) -> Result<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(Vec::with_capacity(
        4 + current.len() + previous.map_or(0, <[u8]>::len),
    ));
    for key in std::iter::once(current).chain(previous) {
        let len = u16::try_from(key.len()).map_err(|_| Error::Internal {
            what: "webhook source key length",
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(key);
    }
    Ok(out)
}

/// The keys of a source's sealed value: the current one, and the previous
/// one if present. `None` for anything else.
fn split_keys(sealed: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    fn one(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
        let (len, rest) = bytes.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_be_bytes(*len));
        (len > 0 && rest.len() >= len).then(|| rest.split_at(len))
    }
    let (current, rest) = one(sealed)?;
    if rest.is_empty() {
        return Some((current, None));
    }
    let (previous, rest) = one(rest)?;
    rest.is_empty().then_some((current, Some(previous)))
}

/// What a delivery's headers show about how it was signed.
struct Presented {
    /// A GitHub delivery (`X-Hub-Signature-256` or `X-GitHub-Delivery`, and
    /// no `webhook-signature`).
    github: bool,
    /// A `v1` entry in `webhook-signature`.
    v1: bool,
    /// A `v1a` entry in `webhook-signature`.
    v1a: bool,
}

impl Presented {
    fn of(headers: &[(&str, &str)]) -> Self {
        let signature = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(HEADER_SIGNATURE));
        match signature {
            Some((_, value)) => {
                let entries = parse_signature_header(value).unwrap_or_default();
                Self {
                    github: false,
                    v1: entries.iter().any(|e| matches!(e, Entry::V1(_))),
                    v1a: entries.iter().any(|e| matches!(e, Entry::V1a(_))),
                }
            }
            None => Self {
                github: headers.iter().any(|(n, _)| {
                    n.eq_ignore_ascii_case(GITHUB_HEADER_SIGNATURE)
                        || n.eq_ignore_ascii_case(GITHUB_HEADER_DELIVERY)
                }),
                v1: false,
                v1a: false,
            },
        }
    }

    /// Whether a source of `style` can verify this delivery.
    fn fits(&self, style: SourceStyle) -> bool {
        match style {
            SourceStyle::Standard => !self.github && self.v1,
            SourceStyle::StandardV1a => !self.github && self.v1a,
            SourceStyle::Github => self.github,
        }
    }

    /// The style to verify against when no source fits: the one the headers
    /// show (`v1` when they show both or neither).
    fn style(&self) -> SourceStyle {
        if self.github {
            SourceStyle::Github
        } else if self.v1a && !self.v1 {
            SourceStyle::StandardV1a
        } else {
            SourceStyle::Standard
        }
    }
}

/// A source's usable keys, or why there are none (for the audit log).
enum Lookup {
    Found(SourceStyle, Vec<SourceKey>),
    Missing(&'static str),
}

/// Audit reasons for a refusal the sender does not see.
const UNKNOWN_SOURCE: &str = "unknown source";
const MISCONFIGURED: &str = "misconfigured secret";
const UNREADABLE: &str = "secret could not be opened";
const OTHER_STYLE: &str = "signed in another style than the source's";
/// The one reason a sender gets for every signature failure, whatever the
/// configuration behind it.
const NO_MATCH: WebhookRejection = WebhookRejection::NoMatchingSignature;

impl Vault {
    /// Registers an inbound webhook source: its id (what
    /// [`verify_inbound_webhook`](Self::verify_inbound_webhook) takes), its
    /// style, and its secret, checked now rather than at the first delivery
    /// and sealed at rest:
    ///
    /// - [`SourceStyle::Standard`]: the `whsec_` secret as the sender shows
    ///   it, prefix included, its base64 decoded as the reference libraries
    ///   do ([`WebhookSecret::parse_lenient`]: padding optional, trailing
    ///   bits dropped), 24 to 64 bytes.
    /// - [`SourceStyle::StandardV1a`]: the sender's `whpk_` public key.
    /// - [`SourceStyle::Github`]: the secret string configured at GitHub, 16
    ///   to 1024 bytes, no surrounding whitespace, no control characters.
    ///
    /// A key of another style (a `whpk_` for `Standard`, a `whsec_` for
    /// `Github`, a `whsk_` private key anywhere) is refused with an error
    /// that says so. Needs `settings:manage`: a source's key decides which
    /// deliveries the host believes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `source` or `secret`);
    /// [`Error::Forbidden`]; [`Error::AlreadyExists`] for a taken id
    /// (rotate its secret instead).
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
    /// use secrets_core::vault::SourceStyle;
    ///
    /// let admin = Caller::system(TenantId::DEFAULT);
    /// vault.register_webhook_source(&admin, "billing", SourceStyle::Standard, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").await?;
    /// vault.register_webhook_source(&admin, "github", SourceStyle::Github, "It's a Secret to Everybody").await?;
    ///
    /// // Checked when saved: a raw string is not a Standard Webhooks secret.
    /// let err = vault.register_webhook_source(&admin, "crm", SourceStyle::Standard, "my-shared-secret").await.unwrap_err();
    /// assert!(err.to_string().contains("`whsec_`"));
    /// # Ok(()) }
    /// ```
    pub async fn register_webhook_source(
        &self,
        caller: &Caller,
        source: &str,
        style: SourceStyle,
        secret: &str,
    ) -> Result<()> {
        check_source_id(source)?;
        let key = SourceKey::parse(style, secret)?;
        let target = source_target(source);
        self.authorize(
            caller,
            Permission::ManageSettings,
            "webhook_source.register",
            &target,
        )
        .await?;
        let tenant = caller.tenant;
        let record = WebhookSource {
            id: source.to_owned(),
            style,
            created_at: self.now(),
            rotated_at: None,
            previous_until: None,
            public_key: public_key_text(&key),
        };
        let sealed = self
            .seal_row(
                tenant,
                Kind::WebhookSource,
                source,
                &seal_keys(key.bytes(), None)?,
            )
            .await?;
        let draft = self
            .draft(caller, "webhook_source.register", &target)
            .detail("style", style.as_str());
        self.write(
            tenant,
            Batch::new(draft).with(Change::Insert(record.to_row(Some(sealed))?)),
        )
        .await
        .map(drop)
    }

    /// Replaces a source's secret with `secret` (checked for the source's
    /// style, as at registration); the previous one is still accepted for
    /// `grace` (none for a zero grace), so the sender can switch without
    /// a gap. Needs `settings:manage`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`]; [`Error::Forbidden`]; [`Error::NotFound`];
    /// [`Error::Conflict`] if the source changed meanwhile.
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
    /// use secrets_core::vault::SourceStyle;
    ///
    /// let admin = Caller::system(TenantId::DEFAULT);
    /// vault.register_webhook_source(&admin, "github", SourceStyle::Github, "It's a Secret to Everybody").await?;
    /// vault.rotate_webhook_source(&admin, "github", "a new secret, long and random", Duration::from_secs(3600)).await?;
    /// assert!(vault.list_webhook_sources(&admin).await?[0].previous_until.is_some());
    /// # Ok(()) }
    /// ```
    pub async fn rotate_webhook_source(
        &self,
        caller: &Caller,
        source: &str,
        secret: &str,
        grace: Duration,
    ) -> Result<()> {
        check_source_id(source)?;
        let target = source_target(source);
        self.authorize(
            caller,
            Permission::ManageSettings,
            "webhook_source.rotate",
            &target,
        )
        .await?;
        let tenant = caller.tenant;
        let stored = self.source(tenant, source).await?;
        let key = SourceKey::parse(stored.record.style, secret)?;
        let old = self
            .open_row(
                tenant,
                Kind::WebhookSource,
                source,
                stored.sealed.as_deref(),
            )
            .await?;
        let (current, _) = split_keys(old.expose_secret()).ok_or_else(|| Error::Corrupt {
            what: Kind::WebhookSource.as_str(),
            id: source.to_owned(),
            reason: "its sealed keys are malformed",
        })?;
        let now = self.now();
        let previous = (!grace.is_zero()).then_some(current);
        let sealed = self
            .seal_row(
                tenant,
                Kind::WebhookSource,
                source,
                &seal_keys(key.bytes(), previous)?,
            )
            .await?;
        let record = WebhookSource {
            rotated_at: Some(now),
            previous_until: previous.map(|_| now.saturating_add(grace)),
            public_key: public_key_text(&key),
            ..stored.record
        };
        let draft = self
            .draft(caller, "webhook_source.rotate", &target)
            .detail("grace_seconds", grace.as_secs().to_string());
        self.write(
            tenant,
            Batch::new(draft).with(Change::Update {
                row: record.to_row(Some(sealed))?,
                expected_version: stored.version,
            }),
        )
        .await
        .map(drop)
    }

    /// The tenant's inbound sources, without secrets. Needs
    /// `settings:manage`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; the store's errors.
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
    /// use secrets_core::vault::SourceStyle;
    ///
    /// let admin = Caller::system(TenantId::DEFAULT);
    /// let public = "whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
    /// vault.register_webhook_source(&admin, "partner", SourceStyle::StandardV1a, public).await?;
    /// let listed = vault.list_webhook_sources(&admin).await?;
    /// assert_eq!((listed[0].style, listed[0].public_key.as_deref()), (SourceStyle::StandardV1a, Some(public)));
    /// # Ok(()) }
    /// ```
    pub async fn list_webhook_sources(&self, caller: &Caller) -> Result<Vec<SourceInfo>> {
        self.authorize(
            caller,
            Permission::ManageSettings,
            "webhook_source.list",
            "webhook_source",
        )
        .await?;
        let now = self.now();
        let sources = self
            .inner
            .store
            .list_records::<WebhookSource>(caller.tenant, ListQuery::new(Kind::WebhookSource))
            .await?;
        Ok(sources
            .into_iter()
            .map(|s| SourceInfo {
                id: s.record.id,
                style: s.record.style,
                created_at: s.record.created_at,
                rotated_at: s.record.rotated_at,
                previous_until: s.record.previous_until.filter(|t| *t > now),
                public_key: s.record.public_key,
            })
            .collect())
    }

    /// Deletes an inbound source: its deliveries are refused from then on
    /// (as an unknown source's). Needs `settings:manage`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`]; [`Error::Forbidden`]; [`Error::NotFound`].
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
    /// use secrets_core::vault::SourceStyle;
    ///
    /// let admin = Caller::system(TenantId::DEFAULT);
    /// vault.register_webhook_source(&admin, "github", SourceStyle::Github, "It's a Secret to Everybody").await?;
    /// vault.delete_webhook_source(&admin, "github").await?;
    /// assert!(vault.list_webhook_sources(&admin).await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub async fn delete_webhook_source(&self, caller: &Caller, source: &str) -> Result<()> {
        check_source_id(source)?;
        let target = source_target(source);
        self.authorize(
            caller,
            Permission::ManageSettings,
            "webhook_source.delete",
            &target,
        )
        .await?;
        let stored = self.source(caller.tenant, source).await?;
        let batch =
            Batch::new(self.draft(caller, "webhook_source.delete", &target)).with(Change::Delete {
                kind: Kind::WebhookSource,
                id: source.to_owned(),
                expected_version: Some(stored.version),
            });
        self.write(caller.tenant, batch).await.map(drop)
    }

    /// Verifies an inbound delivery for the registered `source`, in the
    /// source's style: `headers` as received (names in any case; other
    /// headers ignored), `payload` the raw body (at most 1 MiB).
    ///
    /// - Standard Webhooks (`standard`, `standard_v1a`): `webhook-id`,
    ///   `webhook-timestamp` (within the configured tolerance of now) and
    ///   `webhook-signature`, with a `v1` entry matching the source's
    ///   secret or a `v1a` entry verifying under its public key (entries of
    ///   the other kind are never checked against it).
    /// - GitHub: `X-GitHub-Delivery` and `X-Hub-Signature-256` (and no
    ///   `webhook-signature`: a delivery that carries one is a Standard
    ///   Webhooks delivery).
    ///
    /// During a rotation the previous secret is accepted too. A message id
    /// (a delivery id for GitHub) already accepted from `source` is refused
    /// as a replay: Standard Webhooks ids are remembered until the
    /// timestamp check would refuse the message anyway, GitHub delivery ids
    /// for 30 days (GitHub signs no timestamp; a delivery replayed after
    /// that is accepted again). GitHub does not sign the delivery id, so
    /// the body is remembered as long: a captured delivery sent again under
    /// a new delivery id is a replay too. Accepted deliveries and refusals
    /// are audited (`webhook.receive`).
    ///
    /// The sender is not authenticated until the signature verifies, so it
    /// learns nothing about the configuration: an unknown source, a source
    /// of another style, a secret that cannot be used and a wrong signature
    /// all give the same error after the same checks (a delivery with no
    /// usable key is verified against a throw-away key of the style its
    /// headers show). The audit event's `reason` tells the host which:
    /// `unknown source`, `signed in another style than the source's`,
    /// `misconfigured secret`, `secret could not be opened`, or the
    /// verifier's reason.
    ///
    /// # Errors
    ///
    /// [`Error::Webhook`]: `no matching signature` for all the cases above,
    /// `replayed message id` (`replayed delivery id`), or what is wrong with
    /// the headers or the timestamp (the same whether the source exists or
    /// not); [`Error::TooLarge`] for a payload over 1 MiB; the store's
    /// errors.
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
    /// use secrets_core::vault::SourceStyle;
    /// use secrets_core::webhook::sign_github;
    ///
    /// let tenant = TenantId::DEFAULT;
    /// vault.register_webhook_source(&Caller::system(tenant), "github", SourceStyle::Github, "It's a Secret to Everybody").await?;
    ///
    /// let body = br#"{"action":"opened"}"#;
    /// let sig = sign_github(body, b"It's a Secret to Everybody");
    /// let headers = [
    ///     ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
    ///     ("X-Hub-Signature-256", sig.as_str()),
    /// ];
    /// let received = vault.verify_inbound_webhook(tenant, "github", &headers, body, Some("192.0.2.9")).await?;
    /// assert_eq!((received.style, received.timestamp), (SourceStyle::Github, None));
    /// // The same delivery again is a replay.
    /// assert!(vault.verify_inbound_webhook(tenant, "github", &headers, body, None).await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn verify_inbound_webhook(
        &self,
        tenant: TenantId,
        source: &str,
        headers: &[(&str, &str)],
        payload: &[u8],
        source_addr: Option<&str>,
    ) -> Result<ReceivedWebhook> {
        let now = self.now();
        let presented = Presented::of(headers);
        let (style, keys, problem) = match self.source_keys(tenant, source, now).await? {
            Lookup::Found(style, keys) if presented.fits(style) => (style, keys, None),
            Lookup::Found(..) => {
                let style = presented.style();
                (style, vec![SourceKey::throwaway(style)?], Some(OTHER_STYLE))
            }
            Lookup::Missing(problem) => {
                let style = presented.style();
                (style, vec![SourceKey::throwaway(style)?], Some(problem))
            }
        };
        let receive = Receive {
            source,
            addr: source_addr,
            at: now,
            style,
        };
        let verifier = Verifier::default().with_tolerance(self.inner.config.webhook_tolerance);
        let verified = verify_with(&verifier, style, &keys, headers, payload, now);
        let (id, timestamp) = match (verified, problem) {
            (Ok(v), None) => v,
            (outcome, problem) => {
                return Err(self
                    .refuse_inbound(tenant, &receive, outcome.err(), problem)
                    .await);
            }
        };
        let (expires_at, replayed) = match timestamp {
            Some(ts) => (verifier.replay_window_end(ts), WebhookRejection::Replayed),
            None => (
                now.saturating_add(GITHUB_DELIVERY_RETENTION),
                WebhookRejection::ReplayedDelivery,
            ),
        };
        let mut seen = vec![SeenWebhook {
            source: source.to_owned(),
            message_id: hex_sha256(id.as_bytes()),
            expires_at,
        }];
        if timestamp.is_none() {
            // GitHub signs the body alone: its delivery id is the sender's
            // word, which anyone replaying a captured delivery rewrites. The
            // signed body is remembered too, so a copy under a fresh
            // delivery id is a replay all the same.
            seen.push(SeenWebhook {
                source: source.to_owned(),
                message_id: format!("{GITHUB_BODY_KEY}{}", hex_sha256(payload)),
                expires_at,
            });
        }
        self.remember(tenant, &receive, seen, &id, replayed).await?;
        Ok(ReceivedWebhook {
            id,
            timestamp: timestamp.map(Timestamp::from_unix_seconds),
            style,
        })
    }

    /// The usable keys of `source` (the previous one only while its grace
    /// period lasts), or why there are none.
    async fn source_keys(&self, tenant: TenantId, source: &str, now: Timestamp) -> Result<Lookup> {
        if check_source_id(source).is_err() {
            return Ok(Lookup::Missing(UNKNOWN_SOURCE));
        }
        let Some(stored) = self
            .inner
            .store
            .get_record::<WebhookSource>(tenant, source)
            .await?
        else {
            return Ok(Lookup::Missing(UNKNOWN_SOURCE));
        };
        let Ok(opened) = self
            .open_row(
                tenant,
                Kind::WebhookSource,
                source,
                stored.sealed.as_deref(),
            )
            .await
        else {
            return Ok(Lookup::Missing(UNREADABLE));
        };
        let style = stored.record.style;
        let Some((current, previous)) = split_keys(opened.expose_secret()) else {
            return Ok(Lookup::Missing(MISCONFIGURED));
        };
        let previous = previous.filter(|_| stored.record.previous_until.is_some_and(|t| now < t));
        let mut keys = Vec::with_capacity(2);
        for bytes in std::iter::once(current).chain(previous) {
            match SourceKey::from_stored(style, bytes) {
                Ok(key) => keys.push(key),
                Err(_) => return Ok(Lookup::Missing(MISCONFIGURED)),
            }
        }
        Ok(Lookup::Found(style, keys))
    }

    async fn source(&self, tenant: TenantId, source: &str) -> Result<Stored<WebhookSource>> {
        self.inner
            .store
            .get_record::<WebhookSource>(tenant, source)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "webhook_source".into(),
                id: source.to_owned(),
            })
    }

    /// Audits a refused delivery and returns what the sender gets: the
    /// verifier's own error when it is about the message (headers,
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
            None => "matched a throw-away key",
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
        seen: Vec<SeenWebhook>,
        id: &str,
        replayed: WebhookRejection,
    ) -> Result<()> {
        let mut batch = Batch::new(
            receive
                .draft(Outcome::Allowed)
                .detail("message_id", truncate(id)),
        );
        for row in seen {
            batch.push(Change::Insert(row.to_row(None)?));
        }
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
}

/// Verifies a delivery against `keys` (all of `style`), returning its id
/// and its timestamp (none for GitHub).
fn verify_with(
    verifier: &Verifier,
    style: SourceStyle,
    keys: &[SourceKey],
    headers: &[(&str, &str)],
    payload: &[u8],
    now: Timestamp,
) -> Result<(String, Option<i64>)> {
    match style {
        SourceStyle::Standard => {
            let secrets: Vec<&WebhookSecret> = keys
                .iter()
                .filter_map(|k| match k {
                    SourceKey::Standard(s) => Some(s),
                    _ => None,
                })
                .collect();
            let m = verifier.verify(headers, payload, &secrets, now)?;
            Ok((m.id, Some(m.timestamp)))
        }
        SourceStyle::StandardV1a => {
            let public: Vec<&WebhookPublicKey> = keys
                .iter()
                .filter_map(|k| match k {
                    SourceKey::V1a(p) => Some(p),
                    _ => None,
                })
                .collect();
            let m = verifier.verify_asymmetric(headers, payload, &public, now)?;
            Ok((m.id, Some(m.timestamp)))
        }
        SourceStyle::Github => {
            // Every secret is tried (no early exit), the headers once.
            let mut outcome = Err(Error::Webhook { reason: NO_MATCH });
            for key in keys {
                if let SourceKey::Github(secret) = key {
                    let r =
                        verifier.verify_github_headers(headers, payload, secret.expose_secret());
                    if outcome.is_err() {
                        outcome = r;
                    }
                }
            }
            Ok((outcome?, None))
        }
    }
}

/// The `whpk_` text of a `v1a` source's key, for its record.
fn public_key_text(key: &SourceKey) -> Option<String> {
    match key {
        SourceKey::V1a(k) => Some(k.to_text()),
        _ => None,
    }
}

fn source_target(source: &str) -> String {
    format!("webhook_source/{source}")
}

/// One inbound delivery, for its audit events.
struct Receive<'a> {
    source: &'a str,
    addr: Option<&'a str>,
    at: Timestamp,
    style: SourceStyle,
}

impl Receive<'_> {
    fn draft(&self, outcome: Outcome) -> AuditDraft {
        let mut d = AuditDraft::new(
            Actor::Anonymous,
            "webhook.receive",
            source_target(self.source),
            self.at,
        )
        .outcome(outcome)
        .detail("source", self.source)
        .detail("style", self.style.as_str());
        d.source = self.addr.map(str::to_owned);
        d
    }
}

fn hex_sha256(bytes: &[u8]) -> String {
    crate::hex32::hex_string(&Sha256::digest(bytes))
}

fn truncate(s: &str) -> String {
    s.chars().take(128).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sealed_keys_round_trip_and_refuse_anything_else() {
        let one = seal_keys(b"abc", None).unwrap();
        assert_eq!(one.as_slice(), b"\x00\x03abc");
        assert_eq!(split_keys(&one), Some((&b"abc"[..], None)));
        let two = seal_keys(b"abc", Some(b"de")).unwrap();
        assert_eq!(two.as_slice(), b"\x00\x03abc\x00\x02de");
        assert_eq!(split_keys(&two), Some((&b"abc"[..], Some(&b"de"[..]))));
        for bad in [
            &b""[..],
            b"\x00",
            b"\x00\x00",
            b"\x00\x04abc",
            b"\x00\x03abc\x00",
            b"\x00\x03abc\x00\x00",
            b"\x00\x03abc\x00\x02d",
            b"\x00\x03abc\x00\x01d\x00\x01e",
        ] {
            assert_eq!(split_keys(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn source_ids() {
        for ok in ["github", "billing", "gh-2", "a.b_c", &"a".repeat(64)] {
            assert!(check_source_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "GitHub", "-x", "a/b", "a b", "é", &"a".repeat(65)] {
            assert!(check_source_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn what_headers_present() {
        let p = Presented::of(&[("Webhook-Signature", "v1a,x v1,y")]);
        assert!(p.fits(SourceStyle::Standard) && p.fits(SourceStyle::StandardV1a));
        assert!(!p.fits(SourceStyle::Github));
        assert_eq!(p.style(), SourceStyle::Standard);
        let p = Presented::of(&[("webhook-signature", "v1a,x")]);
        assert!(!p.fits(SourceStyle::Standard) && p.fits(SourceStyle::StandardV1a));
        assert_eq!(p.style(), SourceStyle::StandardV1a);
        let p = Presented::of(&[("X-Hub-Signature-256", "sha256=00")]);
        assert!(p.fits(SourceStyle::Github) && !p.fits(SourceStyle::Standard));
        assert_eq!(p.style(), SourceStyle::Github);
        let p = Presented::of(&[("content-type", "application/json")]);
        assert!(!p.fits(SourceStyle::Standard) && !p.fits(SourceStyle::Github));
        assert_eq!(p.style(), SourceStyle::Standard);
    }
}
