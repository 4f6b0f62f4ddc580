//! The shape every backend stores: [`Tenant`]s, and [`Row`]s of a [`Kind`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::crypto::{Context, Envelope, KeyId, MAX_ENVELOPE_LEN};
use crate::error::{Error, Result};
use crate::id::{TenantId, UserId};

/// Longest row id or parent, in bytes.
pub const MAX_ID_LEN: usize = 256;
/// Longest lookup key, in bytes.
pub const MAX_LOOKUP_LEN: usize = 256;
/// Largest row body (the serialized record), in bytes.
pub const MAX_BODY_LEN: usize = 64 * 1024;
/// Largest sealed value on a row, in bytes (1 MiB of plaintext plus the
/// envelope overhead).
pub const MAX_SEALED_LEN: usize = 1024 * 1024 + crate::crypto::OVERHEAD;

// MAX_SEALED_LEN must stay within what an envelope may be.
const _: () = assert!(MAX_SEALED_LEN <= MAX_ENVELOPE_LEN);

/// What a row holds. Each kind is one record type (a user, an API token, ...).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Kind {
    /// A human user.
    User,
    /// An API token (its hash).
    ApiToken,
    /// An agent session (its token's hash).
    AgentSession,
    /// A family of rotating refresh tokens.
    RefreshFamily,
    /// One refresh token of a family (its hash).
    RefreshToken,
    /// An application secret (sealed).
    AppSecret,
    /// The previous value of an application secret, for one-step rollback.
    AppSecretPrevious,
    /// A sealed snapshot of an archived application's secrets.
    AppArchive,
    /// A provider key or webhook secret in the tenant's settings (sealed).
    SettingSecret,
    /// An outbound webhook endpoint (its secret sealed).
    WebhookEndpoint,
    /// A webhook endpoint's previous secret during its rotation grace period.
    WebhookPreviousSecret,
    /// A pending OAuth authorization (its PKCE verifier sealed).
    #[serde(rename = "oauth_state")]
    OAuthState,
    /// An OAuth connection (its tokens sealed).
    #[serde(rename = "oauth_connection")]
    OAuthConnection,
    /// An inbound webhook message id already seen (replay protection).
    SeenWebhook,
    /// A deploy gate evaluation, and the override of its hold if any.
    DeployEvaluation,
    /// An inbound webhook source (its key, and its previous key during a
    /// rotation, sealed).
    WebhookSource,
    /// A tenant data key (sealed by the key ring): the key of the tenant's
    /// values sealed under one ring key id, which is the row's id. The
    /// Vault writes it; an erase destroys it (see `docs/FORMATS.md`,
    /// "Tenant keys").
    TenantKey,
}

impl Kind {
    /// Every kind, in a fixed order.
    pub const ALL: [Self; 17] = [
        Self::User,
        Self::ApiToken,
        Self::AgentSession,
        Self::RefreshFamily,
        Self::RefreshToken,
        Self::AppSecret,
        Self::AppSecretPrevious,
        Self::AppArchive,
        Self::SettingSecret,
        Self::WebhookEndpoint,
        Self::WebhookPreviousSecret,
        Self::OAuthState,
        Self::OAuthConnection,
        Self::SeenWebhook,
        Self::DeployEvaluation,
        Self::WebhookSource,
        Self::TenantKey,
    ];

    /// The stored name (`user`, `api_token`, ...).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::ApiToken => "api_token",
            Self::AgentSession => "agent_session",
            Self::RefreshFamily => "refresh_family",
            Self::RefreshToken => "refresh_token",
            Self::AppSecret => "app_secret",
            Self::AppSecretPrevious => "app_secret_previous",
            Self::AppArchive => "app_archive",
            Self::SettingSecret => "setting_secret",
            Self::WebhookEndpoint => "webhook_endpoint",
            Self::WebhookPreviousSecret => "webhook_previous_secret",
            Self::OAuthState => "oauth_state",
            Self::OAuthConnection => "oauth_connection",
            Self::SeenWebhook => "seen_webhook",
            Self::DeployEvaluation => "deploy_evaluation",
            Self::WebhookSource => "webhook_source",
            Self::TenantKey => "tenant_key",
        }
    }

    /// Parses a stored name.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an unknown name.
    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| Error::invalid("kind", format!("`{s}` is not a record kind")))
    }

    /// Whether this kind's lookup key is unique across all tenants (the hash
    /// of a random secret), so that [`Store::find_by_lookup`](crate::store::Store::find_by_lookup)
    /// may search by it. Other kinds' lookup keys are unique per tenant.
    #[must_use]
    pub fn has_global_lookup(self) -> bool {
        matches!(
            self,
            Self::ApiToken | Self::AgentSession | Self::RefreshToken | Self::OAuthState
        )
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored record, as a backend sees it: indexed columns beside an opaque
/// body (the serialized record) and at most one sealed value.
#[derive(Clone, PartialEq, Eq)]
pub struct Row {
    /// What the row holds.
    pub kind: Kind,
    /// Unique within (tenant, kind); lists are ordered by it.
    pub id: String,
    /// A grouping key for lists (an app's name, a token family's id).
    pub parent: Option<String>,
    /// The user who owns the row; it must be a user of the same tenant, and
    /// deleting the user deletes the row.
    pub owner: Option<UserId>,
    /// A secondary unique key: per tenant, or across tenants for kinds with
    /// [`Kind::has_global_lookup`].
    pub lookup: Option<Vec<u8>>,
    /// When the row stops mattering (expired or revoked), for pruning.
    pub expires_at: Option<Timestamp>,
    /// Set by the store: 1 on insert, +1 on every update.
    pub version: u64,
    /// The serialized record (JSON). It holds no secret value (those are
    /// sealed), but may hold a hash of one (a user's bcrypt hash), so
    /// `Debug` prints only its length.
    pub body: Vec<u8>,
    /// A sealed value ([`Envelope`] bytes), bound to [`Row::context`].
    pub sealed: Option<Vec<u8>>,
    /// The row's integrity tag: a MAC over every other field, the tenant and
    /// the version the row is stored at, keyed from the master key (see
    /// `docs/FORMATS.md`). Set by the Vault on every write and checked on
    /// every read; a backend stores it as given and never computes it.
    pub tag: Option<[u8; 32]>,
}

impl Row {
    /// A row with only kind, id and body set.
    #[must_use]
    pub fn new(kind: Kind, id: impl Into<String>, body: Vec<u8>) -> Self {
        Self {
            kind,
            id: id.into(),
            parent: None,
            owner: None,
            lookup: None,
            expires_at: None,
            version: 0,
            body,
            sealed: None,
            tag: None,
        }
    }

    /// The context a row's sealed value is bound to: tenant, kind and id. A
    /// sealed value copied to another row or tenant does not open.
    #[must_use]
    pub fn context(tenant: TenantId, kind: Kind, id: &str) -> Context {
        Context::new([
            tenant.as_bytes().as_slice(),
            kind.as_str().as_bytes(),
            id.as_bytes(),
        ])
    }

    /// The key that sealed this row's value, if it has one.
    ///
    /// # Errors
    ///
    /// The structure errors of [`Envelope::parse`].
    pub fn sealed_key(&self) -> Result<Option<KeyId>> {
        self.sealed
            .as_deref()
            .map(|s| Envelope::parse(s).map(|e| e.key_id()))
            .transpose()
    }

    /// Checks the documented limits; every backend calls it before writing.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] or [`Error::TooLarge`] naming the field.
    pub fn validate(&self) -> Result<()> {
        check_id("id", &self.id)?;
        if let Some(p) = &self.parent {
            check_id("parent", p)?;
        }
        if let Some(l) = &self.lookup {
            if l.is_empty() {
                return Err(Error::invalid("lookup", "is empty"));
            }
            if l.len() > MAX_LOOKUP_LEN {
                return Err(too_large("lookup", l.len(), MAX_LOOKUP_LEN));
            }
        }
        if self.body.len() > MAX_BODY_LEN {
            return Err(too_large("body", self.body.len(), MAX_BODY_LEN));
        }
        if let Some(s) = &self.sealed {
            if s.len() > MAX_SEALED_LEN {
                return Err(too_large("sealed value", s.len(), MAX_SEALED_LEN));
            }
            Envelope::parse(s)?;
        }
        if self.kind == Kind::User && self.owner.is_some() {
            return Err(Error::invalid("owner", "a user row cannot have an owner"));
        }
        Ok(())
    }
}

fn too_large(what: &'static str, len: usize, max: usize) -> Error {
    Error::TooLarge { what, len, max }
}

/// Ids and parents: non-empty, at most [`MAX_ID_LEN`] bytes, no control
/// characters.
pub(crate) fn check_id(field: &'static str, s: &str) -> Result<()> {
    if s.is_empty() {
        return Err(Error::invalid(field, "is empty"));
    }
    if s.len() > MAX_ID_LEN {
        return Err(too_large(field, s.len(), MAX_ID_LEN));
    }
    if s.chars().any(char::is_control) {
        return Err(Error::invalid(field, "contains control characters"));
    }
    Ok(())
}

impl fmt::Debug for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Row")
            .field("kind", &self.kind)
            .field("id", &self.id)
            .field("parent", &self.parent)
            .field("owner", &self.owner)
            .field("lookup_len", &self.lookup.as_ref().map(Vec::len))
            .field("expires_at", &self.expires_at)
            .field("version", &self.version)
            .field("body_len", &self.body.len())
            .field("sealed_len", &self.sealed.as_ref().map(Vec::len))
            .field("tagged", &self.tag.is_some())
            .finish()
    }
}

/// A tenant: its name and switches.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Tenant {
    /// The id every row of the tenant carries.
    pub id: TenantId,
    /// A display name.
    pub name: String,
    /// While on, [`Store::erase_tenant`](crate::store::Store::erase_tenant) refuses.
    pub deletion_protection: bool,
    /// Whether agent sessions may be started in this tenant.
    pub agent_sessions_enabled: bool,
    /// When it was created.
    pub created_at: Timestamp,
    /// Set by the store: 1 on creation, +1 on every update.
    #[serde(default)]
    pub version: u64,
}

impl Tenant {
    /// A tenant with deletion protection off and agent sessions enabled.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty name, one over [`MAX_ID_LEN`]
    /// bytes, or one with control characters.
    pub fn new(id: TenantId, name: impl Into<String>, created_at: Timestamp) -> Result<Self> {
        let t = Self {
            id,
            name: name.into(),
            deletion_protection: false,
            agent_sessions_enabled: true,
            created_at,
            version: 0,
        };
        t.validate()?;
        Ok(t)
    }

    /// Checks the name.
    ///
    /// # Errors
    ///
    /// As [`Tenant::new`].
    pub fn validate(&self) -> Result<()> {
        check_id("tenant name", &self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()).unwrap(), k);
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{k}\""));
        }
        assert!(Kind::parse("nope").is_err());
    }

    #[test]
    fn row_limits() {
        let ok = Row::new(Kind::AppSecret, "web/DATABASE_URL", b"{}".to_vec());
        ok.validate().unwrap();
        let mut r = ok.clone();
        r.id = String::new();
        assert!(r.validate().is_err());
        let mut r = ok.clone();
        r.id = "x".repeat(MAX_ID_LEN + 1);
        assert!(matches!(
            r.validate(),
            Err(Error::TooLarge { what: "id", .. })
        ));
        let mut r = ok.clone();
        r.body = vec![b' '; MAX_BODY_LEN + 1];
        assert!(matches!(
            r.validate(),
            Err(Error::TooLarge { what: "body", .. })
        ));
        let mut r = ok.clone();
        r.sealed = Some(vec![1, 2, 3]);
        assert!(matches!(r.validate(), Err(Error::Truncated { .. })));
        let mut r = ok.clone();
        r.lookup = Some(Vec::new());
        assert!(r.validate().is_err());
        let mut r = ok;
        r.kind = Kind::User;
        r.owner = Some(UserId::generate());
        assert!(r.validate().is_err());
    }

    #[test]
    fn debug_shows_lengths_not_bodies_or_sealed_bytes() {
        let body =
            br#"{"password_hash":"$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"}"#;
        let mut row = Row::new(Kind::User, "u1", body.to_vec());
        row.sealed = Some(vec![0xcd; 48]);
        row.lookup = Some(b"ada@example.com".to_vec());
        row.tag = Some([0xef; 32]);
        for text in [format!("{row:?}"), format!("{row:#?}")] {
            assert!(!text.contains("$2b$"), "{text}");
            assert!(!text.contains("password_hash"), "{text}");
            assert!(!text.contains("205"), "{text}"); // 0xcd, a sealed byte
            assert!(!text.contains("239"), "{text}"); // 0xef, a tag byte
            assert!(!text.contains("ada@example.com"), "{text}");
        }
        let text = format!("{row:?}");
        assert!(
            text.contains(&format!("body_len: {}", body.len())),
            "{text}"
        );
        assert!(text.contains("sealed_len: Some(48)"), "{text}");
    }
}
