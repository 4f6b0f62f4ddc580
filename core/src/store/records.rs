//! Typed records, one per [`Kind`]: what the Vault stores, defined once.
//!
//! Each implements [`Record`], which maps it to a [`Row`]: the indexed
//! columns (id, parent, owner, lookup, expiry) come from the record, the rest
//! is its JSON body, and a secret travels beside it as a sealed value bound
//! to [`Row::context`].
//!
//! ```
//! # fn main() -> Result<(), secrets_core::Error> {
//! use secrets_core::store::records::{AppSecret, SecretName};
//! use secrets_core::store::{Kind, Record};
//! use secrets_core::{Timestamp, audit::Actor};
//!
//! let s = AppSecret::new("web", SecretName::parse("DATABASE_URL")?, Actor::System, Timestamp::EPOCH)?;
//! let row = s.to_row(None)?;
//! assert_eq!((row.kind, row.id.as_str(), row.parent.as_deref()), (Kind::AppSecret, "web/DATABASE_URL", Some("web")));
//! assert!(SecretName::parse("1BAD").is_err());
//! # Ok(()) }
//! ```

// Crate-private unless `conformance` exposes them (see `store/mod.rs`).
#![cfg_attr(not(feature = "conformance"), allow(unreachable_pub, dead_code))]

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::audit::Actor;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::rbac::Role;
use crate::store::row::check_id;
use crate::store::{Kind, Row};
use crate::vault::SourceStyle;
use crate::webhook::SignatureVersion;

/// Longest secret name, in bytes.
pub const MAX_SECRET_NAME_LEN: usize = 128;
/// Largest app-secret value, in bytes (plaintext, before sealing).
pub const MAX_SECRET_VALUE_LEN: usize = 64 * 1024;
/// Longest app name, in bytes.
pub const MAX_APP_NAME_LEN: usize = 64;
/// Longest user login name, in bytes.
pub const MAX_LOGIN_LEN: usize = 254;

/// A typed record stored as a [`Row`].
pub trait Record: Serialize + DeserializeOwned + Send + Sync {
    /// Its kind.
    const KIND: Kind;
    /// Its id, unique within (tenant, kind).
    fn id(&self) -> String;
    /// Its grouping key, if any.
    fn parent(&self) -> Option<String> {
        None
    }
    /// The user who owns it, if any.
    fn owner(&self) -> Option<UserId> {
        None
    }
    /// Its secondary unique key, if any.
    fn lookup(&self) -> Option<Vec<u8>> {
        None
    }
    /// When it stops mattering, if ever.
    fn expires_at(&self) -> Option<Timestamp> {
        None
    }
    /// Checks its fields.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming the bad field.
    fn validate(&self) -> Result<()> {
        Ok(())
    }

    /// The row for this record, with `sealed` beside it.
    ///
    /// # Errors
    ///
    /// As [`Record::validate`] and [`Row::validate`].
    fn to_row(&self, sealed: Option<Vec<u8>>) -> Result<Row> {
        self.validate()?;
        let body = serde_json::to_vec(self)
            .map_err(|e| Error::invalid("record", format!("cannot be serialized: {e}")))?;
        let row = Row {
            kind: Self::KIND,
            id: self.id(),
            parent: self.parent(),
            owner: self.owner(),
            lookup: self.lookup(),
            expires_at: self.expires_at(),
            version: 0,
            body,
            sealed,
            tag: None,
        };
        row.validate()?;
        Ok(row)
    }

    /// The record in `row`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if the row is of another kind or its body does
    /// not parse as this record.
    fn from_row(row: Row) -> Result<Stored<Self>>
    where
        Self: Sized,
    {
        if row.kind != Self::KIND {
            return Err(Error::invalid(
                "row",
                format!("is a `{}`, not a `{}`", row.kind, Self::KIND),
            ));
        }
        let record = serde_json::from_slice(&row.body).map_err(|_| Error::Corrupt {
            what: row.kind.as_str(),
            id: row.id.chars().take(128).collect(),
            reason: "its body does not parse",
        })?;
        Ok(Stored {
            record,
            version: row.version,
            sealed: row.sealed,
        })
    }
}

/// A record as stored: with its version (for compare-and-swap) and its
/// sealed value. `Debug` shows the sealed value's length, not its bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Stored<R> {
    /// The record.
    pub record: R,
    /// The row version, for [`Change::Update`](crate::store::Change::Update).
    pub version: u64,
    /// The sealed value, if the record has one.
    pub sealed: Option<Vec<u8>>,
}

/// A valid environment-variable name, `[A-Za-z_][A-Za-z0-9_]*`, at most
/// [`MAX_SECRET_NAME_LEN`] bytes.
///
/// ```
/// use secrets_core::store::records::SecretName;
///
/// assert!(SecretName::parse("STRIPE_KEY").is_ok());
/// assert!(SecretName::parse("stripe-key").is_err());
/// assert!(SecretName::from_utf8(b"\xff\xfe").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SecretName(String);

impl SecretName {
    /// Validates a name.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (or [`Error::TooLarge`]) explaining the rule.
    pub fn parse(name: &str) -> Result<Self> {
        if name.len() > MAX_SECRET_NAME_LEN {
            return Err(Error::TooLarge {
                what: "secret name",
                len: name.len(),
                max: MAX_SECRET_NAME_LEN,
            });
        }
        let mut chars = name.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Error::invalid(
                "secret name",
                format!(
                    "`{}` is not an environment-variable name: use letters, digits and `_`, not starting with a digit",
                    name.escape_debug()
                ),
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// Validates a name given as bytes (from a binding or the wire).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for invalid UTF-8, then as [`SecretName::parse`].
    pub fn from_utf8(name: &[u8]) -> Result<Self> {
        let s = std::str::from_utf8(name)
            .map_err(|_| Error::invalid("secret name", "is not valid UTF-8"))?;
        Self::parse(s)
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SecretName {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Self::parse(&s)
    }
}

impl From<SecretName> for String {
    fn from(n: SecretName) -> Self {
        n.0
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks an app name ([`crate::names::AppName`]'s rule).
///
/// # Errors
///
/// [`Error::InvalidInput`] explaining the rule.
pub fn check_app_name(app: &str) -> Result<()> {
    crate::names::AppName::new(app).map(drop)
}

/// Checks an app-secret value's size before sealing.
///
/// # Errors
///
/// [`Error::TooLarge`] over [`MAX_SECRET_VALUE_LEN`].
pub fn check_secret_value(value: &[u8]) -> Result<()> {
    if value.len() > MAX_SECRET_VALUE_LEN {
        return Err(Error::TooLarge {
            what: "secret value",
            len: value.len(),
            max: MAX_SECRET_VALUE_LEN,
        });
    }
    Ok(())
}

/// A human user of a tenant.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Its id.
    pub id: UserId,
    /// Login name (an email, say), unique within the tenant; stored lowercase.
    pub login: String,
    /// Role.
    pub role: Role,
    /// The bcrypt hash, if the user logs in with a password (`Debug` prints
    /// `[REDACTED]`).
    pub password_hash: Option<String>,
    /// Disabled users cannot log in and their tokens stop working.
    pub disabled: bool,
    /// When created.
    pub created_at: Timestamp,
    /// Raised when the user is disabled: every credential minted under a
    /// lower epoch (API token, agent session, login) is dead at once,
    /// however many there are, with this one row written.
    #[serde(default)]
    pub credential_epoch: u64,
    /// When the credential epoch last moved on (for listings and pruning).
    #[serde(default)]
    pub credentials_revoked_at: Option<Timestamp>,
}

impl Record for User {
    const KIND: Kind = Kind::User;
    fn id(&self) -> String {
        self.id.to_string()
    }
    /// The login lower-cased. New rows hold the normal form of
    /// [`crate::login::normalize`] (already lower case), so this is it; a row
    /// written by an earlier version keeps the key it was written under, so
    /// rewriting it (disabling the user, say) can never collide with another
    /// row and fail. Logins find such rows by that key too
    /// ([`crate::login::legacy_key`]).
    fn lookup(&self) -> Option<Vec<u8>> {
        Some(self.login.to_lowercase().into_bytes())
    }
    /// Checks only what every version enforced (1 to [`MAX_LOGIN_LEN`]
    /// bytes, no control or space characters), not the normal form: new
    /// logins are normalized where they enter (creating a user, bootstrap),
    /// and a row written before normal forms existed must stay writable, or
    /// its user could not be disabled.
    fn validate(&self) -> Result<()> {
        if self.login.is_empty()
            || self.login.len() > MAX_LOGIN_LEN
            || self
                .login
                .chars()
                .any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(Error::invalid(
                "login",
                format!("must be 1 to {MAX_LOGIN_LEN} bytes without spaces or control characters"),
            ));
        }
        Ok(())
    }
}

/// An API token: only its SHA-256 and a display prefix are stored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// Its id (not secret).
    pub id: String,
    /// The user it acts for.
    pub owner: UserId,
    /// A label.
    pub name: String,
    /// SHA-256 of the token.
    #[serde(with = "crate::hex32")]
    pub hash: [u8; 32],
    /// The first characters of the token, for display (not enough to use it).
    pub display_prefix: String,
    /// Scopes narrowing the owner's current role: explicit permission
    /// names, fixed when minted (see [`Vault::mint_api_token`](crate::vault::Vault::mint_api_token)).
    pub scopes: Vec<String>,
    /// When minted.
    pub created_at: Timestamp,
    /// When it stops working, if ever.
    pub expires_at: Option<Timestamp>,
    /// When last used (coalesced).
    pub last_used_at: Option<Timestamp>,
    /// When revoked.
    pub revoked_at: Option<Timestamp>,
    /// The owner's [`User::credential_epoch`] when minted; the token is
    /// dead once the owner's epoch has moved past it.
    #[serde(default)]
    pub epoch: u64,
}

/// The earlier of two optional times.
fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Record for ApiToken {
    const KIND: Kind = Kind::ApiToken;
    fn id(&self) -> String {
        self.id.clone()
    }
    fn owner(&self) -> Option<UserId> {
        Some(self.owner)
    }
    fn lookup(&self) -> Option<Vec<u8>> {
        Some(self.hash.to_vec())
    }
    fn expires_at(&self) -> Option<Timestamp> {
        earliest(self.expires_at, self.revoked_at)
    }
    fn validate(&self) -> Result<()> {
        check_id("token name", &self.name)
    }
}

/// An agent session: scoped, expiring, acting for the human who started it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSession {
    /// Its id (not secret).
    pub id: String,
    /// The human it acts for.
    pub user: UserId,
    /// Which agent (a label).
    pub agent: String,
    /// SHA-256 of the session token.
    #[serde(with = "crate::hex32")]
    pub token_hash: [u8; 32],
    /// Scopes narrowing the user's current role, fixed when started.
    pub scopes: Vec<String>,
    /// When started.
    pub created_at: Timestamp,
    /// When it ends.
    pub expires_at: Timestamp,
    /// When revoked.
    pub revoked_at: Option<Timestamp>,
    /// The user's [`User::credential_epoch`] when started.
    #[serde(default)]
    pub epoch: u64,
}

impl Record for AgentSession {
    const KIND: Kind = Kind::AgentSession;
    fn id(&self) -> String {
        self.id.clone()
    }
    fn owner(&self) -> Option<UserId> {
        Some(self.user)
    }
    fn lookup(&self) -> Option<Vec<u8>> {
        Some(self.token_hash.to_vec())
    }
    fn expires_at(&self) -> Option<Timestamp> {
        earliest(Some(self.expires_at), self.revoked_at)
    }
    fn validate(&self) -> Result<()> {
        check_id("agent", &self.agent)
    }
}

/// A family of rotating refresh tokens (one login).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct RefreshFamily {
    /// Its id.
    pub id: String,
    /// The user logged in.
    pub user: UserId,
    /// When the login happened.
    pub created_at: Timestamp,
    /// When a token of it was last used.
    pub last_used_at: Timestamp,
    /// The absolute end of the login.
    pub absolute_expiry: Timestamp,
    /// The newest generation issued.
    pub generation: u32,
    /// When the family last moved to a new generation.
    pub rotated_at: Timestamp,
    /// When revoked (logout, or a replayed token).
    pub revoked_at: Option<Timestamp>,
    /// The user's [`User::credential_epoch`] at login.
    #[serde(default)]
    pub epoch: u64,
}

impl Record for RefreshFamily {
    const KIND: Kind = Kind::RefreshFamily;
    fn id(&self) -> String {
        self.id.clone()
    }
    fn owner(&self) -> Option<UserId> {
        Some(self.user)
    }
    fn expires_at(&self) -> Option<Timestamp> {
        earliest(Some(self.absolute_expiry), self.revoked_at)
    }
}

/// One refresh token of a family: only its hash is stored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshToken {
    /// Its id (random; two tokens of one generation exist when a concurrent
    /// refresh was honoured within the overlap window).
    pub id: String,
    /// The family.
    pub family: String,
    /// Its generation within the family, from 1.
    pub generation: u32,
    /// The user.
    pub user: UserId,
    /// SHA-256 of the token.
    #[serde(with = "crate::hex32")]
    pub hash: [u8; 32],
    /// When issued.
    pub created_at: Timestamp,
    /// When it was used (each token is used once).
    pub used_at: Option<Timestamp>,
    /// Whether it was already honoured once after being superseded (within
    /// the overlap window); a second time revokes the family.
    #[serde(default)]
    pub overlap_used: bool,
}

impl Record for RefreshToken {
    const KIND: Kind = Kind::RefreshToken;
    fn id(&self) -> String {
        self.id.clone()
    }
    fn parent(&self) -> Option<String> {
        Some(self.family.clone())
    }
    fn owner(&self) -> Option<UserId> {
        Some(self.user)
    }
    fn lookup(&self) -> Option<Vec<u8>> {
        Some(self.hash.to_vec())
    }
}

/// An application secret; its value is the row's sealed value.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct AppSecret {
    /// The app.
    pub app: String,
    /// The variable name.
    pub name: SecretName,
    /// Who set it last.
    pub updated_by: Actor,
    /// When.
    pub updated_at: Timestamp,
}

impl AppSecret {
    /// A validated record.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a bad app name.
    pub fn new(
        app: &str,
        name: SecretName,
        updated_by: Actor,
        updated_at: Timestamp,
    ) -> Result<Self> {
        check_app_name(app)?;
        Ok(Self {
            app: app.to_owned(),
            name,
            updated_by,
            updated_at,
        })
    }
}

impl Record for AppSecret {
    const KIND: Kind = Kind::AppSecret;
    fn id(&self) -> String {
        format!("{}/{}", self.app, self.name)
    }
    fn parent(&self) -> Option<String> {
        Some(self.app.clone())
    }
    fn validate(&self) -> Result<()> {
        check_app_name(&self.app)
    }
}

/// The value an app secret had before its last change (sealed), for rollback.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct AppSecretPrevious {
    /// The app.
    pub app: String,
    /// The variable name.
    pub name: SecretName,
    /// When it was replaced.
    pub replaced_at: Timestamp,
}

impl Record for AppSecretPrevious {
    const KIND: Kind = Kind::AppSecretPrevious;
    fn id(&self) -> String {
        format!("{}/{}", self.app, self.name)
    }
    fn parent(&self) -> Option<String> {
        Some(self.app.clone())
    }
    fn validate(&self) -> Result<()> {
        check_app_name(&self.app)
    }
}

/// A sealed snapshot of an archived app's secrets.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct AppArchive {
    /// The app.
    pub app: String,
    /// The names it held (not secret).
    pub names: Vec<SecretName>,
    /// Who archived it.
    pub archived_by: Actor,
    /// When.
    pub archived_at: Timestamp,
}

impl Record for AppArchive {
    const KIND: Kind = Kind::AppArchive;
    fn id(&self) -> String {
        self.app.clone()
    }
    fn validate(&self) -> Result<()> {
        check_app_name(&self.app)
    }
}

/// A settings secret (a provider key, a webhook secret); sealed.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SettingSecret {
    /// Its name (`provider/openai`, `webhook/github`).
    pub name: String,
    /// Who set it.
    pub updated_by: Actor,
    /// When.
    pub updated_at: Timestamp,
}

impl Record for SettingSecret {
    const KIND: Kind = Kind::SettingSecret;
    fn id(&self) -> String {
        self.name.clone()
    }
    fn validate(&self) -> Result<()> {
        check_id("setting name", &self.name)
    }
}

/// An outbound webhook endpoint; its signing secret (`v1`: the HMAC key
/// bytes; `v1a`: the 32-byte Ed25519 seed) is sealed.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    /// Its id.
    pub id: String,
    /// Where deliveries go.
    pub url: String,
    /// A label.
    pub description: String,
    /// When created.
    pub created_at: Timestamp,
    /// Whether deliveries are paused.
    pub disabled: bool,
    /// The signature scheme, fixed at registration (`v1` in rows written
    /// before `v1a` existed).
    #[serde(default = "signature_v1")]
    pub version: SignatureVersion,
    /// For `v1a`: the `whpk_` public key of the sealed signing key (not
    /// secret; kept beside it so listings need not open the seal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
}

fn signature_v1() -> SignatureVersion {
    SignatureVersion::V1
}

impl Record for WebhookEndpoint {
    const KIND: Kind = Kind::WebhookEndpoint;
    fn id(&self) -> String {
        self.id.clone()
    }
    fn validate(&self) -> Result<()> {
        check_id("url", &self.url)
    }
}

/// An endpoint's previous secret, still signing until `expires_at`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct WebhookPreviousSecret {
    /// The endpoint.
    pub endpoint: String,
    /// When it stops signing.
    pub expires_at: Timestamp,
}

impl Record for WebhookPreviousSecret {
    const KIND: Kind = Kind::WebhookPreviousSecret;
    fn id(&self) -> String {
        self.endpoint.clone()
    }
    fn expires_at(&self) -> Option<Timestamp> {
        Some(self.expires_at)
    }
}

/// An inbound webhook source: how its deliveries are signed. The sealed
/// value holds its key, and during a rotation the previous one too (see
/// `docs/FORMATS.md`, "Inbound webhook sources").
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct WebhookSource {
    /// Its id, the name the host verifies deliveries against.
    pub id: String,
    /// How deliveries are signed, fixed at registration.
    pub style: SourceStyle,
    /// When registered.
    pub created_at: Timestamp,
    /// When its key last changed, if ever.
    pub rotated_at: Option<Timestamp>,
    /// Until when the previous key is still accepted, during a rotation.
    pub previous_until: Option<Timestamp>,
    /// For `standard_v1a`: the `whpk_` public key (not secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
}

impl Record for WebhookSource {
    const KIND: Kind = Kind::WebhookSource;
    fn id(&self) -> String {
        self.id.clone()
    }
    fn validate(&self) -> Result<()> {
        check_id("source", &self.id)
    }
}

/// A pending OAuth authorization; the PKCE verifier is sealed.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct OAuthState {
    /// The state parameter (a random UUID v4).
    pub state: String,
    /// Who started it.
    pub user: UserId,
    /// Which provider.
    pub provider: String,
    /// Where the provider sends the user back.
    pub redirect_uri: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it stops being accepted.
    pub expires_at: Timestamp,
}

impl Record for OAuthState {
    const KIND: Kind = Kind::OAuthState;
    fn id(&self) -> String {
        self.state.clone()
    }
    fn owner(&self) -> Option<UserId> {
        Some(self.user)
    }
    fn lookup(&self) -> Option<Vec<u8>> {
        Some(self.state.as_bytes().to_vec())
    }
    fn expires_at(&self) -> Option<Timestamp> {
        Some(self.expires_at)
    }
    fn validate(&self) -> Result<()> {
        check_id("provider", &self.provider)?;
        check_id("redirect uri", &self.redirect_uri)
    }
}

/// A user's connection to a provider; the token set is sealed.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct OAuthConnection {
    /// The user.
    pub user: UserId,
    /// The provider.
    pub provider: String,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// When the access token expires, if known.
    pub access_expires_at: Option<Timestamp>,
    /// When the tokens last changed.
    pub updated_at: Timestamp,
    /// The last refresh failure, if the last refresh failed (no secrets).
    pub last_refresh_error: Option<String>,
    /// The provider rotated the tokens but the new set could not be stored:
    /// the stored refresh token is dead, and the user must connect again.
    /// Absent (false) in rows written before it existed.
    #[serde(default)]
    pub needs_reconnect: bool,
    /// The refresh in flight, if one is: whoever holds this lease is the
    /// one refresher of the connection, in every process sharing the store,
    /// until it completes, abandons or lapses. Absent when none is (and in
    /// rows written before leases existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_lease: Option<OAuthLease>,
}

impl Record for OAuthConnection {
    const KIND: Kind = Kind::OAuthConnection;
    fn id(&self) -> String {
        format!("{}/{}", self.user, self.provider)
    }
    fn parent(&self) -> Option<String> {
        Some(self.provider.clone())
    }
    fn owner(&self) -> Option<UserId> {
        Some(self.user)
    }
    fn validate(&self) -> Result<()> {
        check_id("provider", &self.provider)?;
        match &self.refresh_lease {
            Some(lease) => lease.validate(),
            None => Ok(()),
        }
    }
}

/// A refresh lease on an [`OAuthConnection`], taken by compare-and-swap on
/// the row's version. Not secret: it names an attempt, and completing that
/// attempt still needs a caller allowed to refresh the connection.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct OAuthLease {
    /// The attempt holding it: a random UUID v4, new for every attempt, so
    /// that a holder whose lease lapsed and was taken over cannot mistake
    /// the new lease for its own.
    pub holder: String,
    /// When it was taken.
    pub taken_at: Timestamp,
    /// When it lapses: from then on another refresher may take it over.
    pub expires_at: Timestamp,
}

impl OAuthLease {
    /// Checks that `holder` is a hyphenated UUID and the lease ends after
    /// it starts.
    fn validate(&self) -> Result<()> {
        let holder_ok = self.holder.len() == 36 && uuid::Uuid::try_parse(&self.holder).is_ok();
        if !holder_ok {
            return Err(Error::invalid(
                "refresh lease",
                "`holder` is not a hyphenated UUID",
            ));
        }
        if self.expires_at <= self.taken_at {
            return Err(Error::invalid(
                "refresh lease",
                "`expires_at` is not after `taken_at`",
            ));
        }
        Ok(())
    }
}

/// An inbound webhook message id seen within the tolerance window.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SeenWebhook {
    /// Which source (an endpoint or integration name).
    pub source: String,
    /// The `webhook-id`.
    pub message_id: String,
    /// When it may be forgotten.
    pub expires_at: Timestamp,
}

impl Record for SeenWebhook {
    const KIND: Kind = Kind::SeenWebhook;
    fn id(&self) -> String {
        format!("{}/{}", self.source, self.message_id)
    }
    fn parent(&self) -> Option<String> {
        Some(self.source.clone())
    }
    fn expires_at(&self) -> Option<Timestamp> {
        Some(self.expires_at)
    }
}

/// A deploy gate evaluation: the verdict a deploy got, kept so that an
/// override lifts a recorded hold, once.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct DeployEvaluation {
    /// The deploy.
    pub deploy: String,
    /// The profile it was weighed under.
    pub profile: crate::gate::Profile,
    /// Whether the verdict was to hold it.
    pub held: bool,
    /// The hold's reasons (or the warnings of a verdict to proceed), the
    /// first [`DeployEvaluation::MAX_REASONS`], each cut to
    /// [`DeployEvaluation::MAX_REASON_LEN`] bytes.
    pub reasons: Vec<String>,
    /// How many there were in all.
    pub reason_count: u64,
    /// Who evaluated it.
    pub evaluated_by: Actor,
    /// When.
    pub evaluated_at: Timestamp,
    /// When an override of this evaluation is no longer accepted (and the
    /// row may be pruned).
    pub expires_at: Timestamp,
    /// The override of the hold, once it is lifted.
    pub overridden: Option<GateOverride>,
}

impl DeployEvaluation {
    /// Most reasons stored.
    pub const MAX_REASONS: usize = 32;
    /// Longest stored reason, in bytes.
    pub const MAX_REASON_LEN: usize = 512;
}

/// Who lifted a hold, when and why.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct GateOverride {
    /// Who.
    pub by: Actor,
    /// When.
    pub at: Timestamp,
    /// Why the hold is safe to lift.
    pub justification: String,
}

impl Record for DeployEvaluation {
    const KIND: Kind = Kind::DeployEvaluation;
    fn id(&self) -> String {
        self.deploy.clone()
    }
    fn expires_at(&self) -> Option<Timestamp> {
        Some(self.expires_at)
    }
    fn validate(&self) -> Result<()> {
        check_app_name(&self.deploy)?;
        if self.reasons.len() > Self::MAX_REASONS
            || self.reasons.iter().any(|r| r.len() > Self::MAX_REASON_LEN)
        {
            return Err(Error::invalid(
                "reasons",
                format!(
                    "at most {} reasons of at most {} bytes are stored",
                    Self::MAX_REASONS,
                    Self::MAX_REASON_LEN
                ),
            ));
        }
        Ok(())
    }
}

// Debug: never a password hash, a token hash or sealed bytes, so that a
// record or a row in a log or a panic message gives nothing to guess against
// or to look up. Each impl destructures its record, so that a new field has
// to be placed here on purpose.

/// Printed in place of a hash.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl<R: fmt::Debug> fmt::Debug for Stored<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            record,
            version,
            sealed,
        } = self;
        f.debug_struct("Stored")
            .field("record", record)
            .field("version", version)
            .field("sealed_len", &sealed.as_ref().map(Vec::len))
            .finish()
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            id,
            login,
            role,
            password_hash,
            disabled,
            created_at,
            credential_epoch,
            credentials_revoked_at,
        } = self;
        f.debug_struct("User")
            .field("id", id)
            .field("login", login)
            .field("role", role)
            .field("password_hash", &password_hash.as_ref().map(|_| Redacted))
            .field("disabled", disabled)
            .field("created_at", created_at)
            .field("credential_epoch", credential_epoch)
            .field("credentials_revoked_at", credentials_revoked_at)
            .finish()
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            id,
            owner,
            name,
            hash: _,
            display_prefix,
            scopes,
            created_at,
            expires_at,
            last_used_at,
            revoked_at,
            epoch,
        } = self;
        f.debug_struct("ApiToken")
            .field("id", id)
            .field("owner", owner)
            .field("name", name)
            .field("hash", &Redacted)
            .field("display_prefix", display_prefix)
            .field("scopes", scopes)
            .field("created_at", created_at)
            .field("expires_at", expires_at)
            .field("last_used_at", last_used_at)
            .field("revoked_at", revoked_at)
            .field("epoch", epoch)
            .finish()
    }
}

impl fmt::Debug for AgentSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            id,
            user,
            agent,
            token_hash: _,
            scopes,
            created_at,
            expires_at,
            revoked_at,
            epoch,
        } = self;
        f.debug_struct("AgentSession")
            .field("id", id)
            .field("user", user)
            .field("agent", agent)
            .field("token_hash", &Redacted)
            .field("scopes", scopes)
            .field("created_at", created_at)
            .field("expires_at", expires_at)
            .field("revoked_at", revoked_at)
            .field("epoch", epoch)
            .finish()
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            id,
            family,
            generation,
            user,
            hash: _,
            created_at,
            used_at,
            overlap_used,
        } = self;
        f.debug_struct("RefreshToken")
            .field("id", id)
            .field("family", family)
            .field("generation", generation)
            .field("user", user)
            .field("hash", &Redacted)
            .field("created_at", created_at)
            .field("used_at", used_at)
            .field("overlap_used", overlap_used)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_follow_env_var_rules() {
        for ok in ["A", "_", "DATABASE_URL", "a1", "_9"] {
            SecretName::parse(ok).unwrap();
        }
        for bad in ["", "1A", "A-B", "A B", "É", "A\0"] {
            assert!(SecretName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(
            SecretName::parse(&"A".repeat(MAX_SECRET_NAME_LEN + 1)),
            Err(Error::TooLarge { .. })
        ));
        assert!(SecretName::from_utf8(b"OK_NAME").is_ok());
        let err = SecretName::from_utf8(b"BAD\xc3").unwrap_err();
        assert!(err.to_string().contains("UTF-8"));
        // A name arriving through JSON is validated too.
        assert!(serde_json::from_str::<SecretName>("\"9X\"").is_err());
    }

    #[test]
    fn app_names_and_values() {
        check_app_name("web-1.prod_a").unwrap();
        for bad in ["", "-web", "a/b", "a b", &"a".repeat(MAX_APP_NAME_LEN + 1)] {
            assert!(check_app_name(bad).is_err(), "{bad:?}");
        }
        check_secret_value(&vec![0; MAX_SECRET_VALUE_LEN]).unwrap();
        assert!(check_secret_value(&vec![0; MAX_SECRET_VALUE_LEN + 1]).is_err());
    }

    #[test]
    fn rows_round_trip_and_carry_their_indexes() {
        let user = UserId::generate();
        let t = ApiToken {
            id: "tok1".into(),
            owner: user,
            name: "ci".into(),
            hash: [9; 32],
            display_prefix: "sc_abcd".into(),
            scopes: vec!["read".into()],
            created_at: Timestamp::from_unix_seconds(1),
            expires_at: Some(Timestamp::from_unix_seconds(100)),
            last_used_at: None,
            revoked_at: Some(Timestamp::from_unix_seconds(50)),
            epoch: 0,
        };
        let mut row = t.to_row(None).unwrap();
        assert_eq!(row.owner, Some(user));
        assert_eq!(row.lookup.as_deref(), Some(&[9u8; 32][..]));
        assert_eq!(row.expires_at, Some(Timestamp::from_unix_seconds(50)));
        row.version = 3;
        let back = ApiToken::from_row(row.clone()).unwrap();
        assert_eq!((back.record, back.version), (t, 3));
        row.kind = Kind::AgentSession;
        assert!(ApiToken::from_row(row).is_err());

        let rt = RefreshToken {
            id: "r1".into(),
            family: "f".into(),
            generation: 12,
            user,
            hash: [1; 32],
            created_at: Timestamp::EPOCH,
            used_at: None,
            overlap_used: false,
        };
        assert_eq!(
            (rt.id().as_str(), rt.parent().as_deref()),
            ("r1", Some("f"))
        );
    }

    #[test]
    fn user_login_is_case_insensitive_in_the_lookup() {
        let u = User {
            id: UserId::generate(),
            login: "Ada@Example.com".into(),
            role: Role::Admin,
            password_hash: None,
            disabled: false,
            created_at: Timestamp::EPOCH,
            credential_epoch: 0,
            credentials_revoked_at: None,
        };
        assert_eq!(u.lookup().unwrap(), b"ada@example.com");
        let mut bad = u;
        bad.login = "two words".into();
        assert!(bad.to_row(None).is_err());
    }

    /// Pins the connection row's body (docs/FORMATS.md, "Connection row
    /// body"): member names and order, the lease's shape, and that a row
    /// without a lease (or written before leases existed) has no member.
    #[test]
    fn connection_body_with_and_without_a_lease() {
        let user = UserId::from_uuid(uuid::Uuid::from_u128(
            0x0192_0000_0000_7000_8000_0000_0000_0001,
        ));
        let mut c = OAuthConnection {
            user,
            provider: "github".into(),
            scopes: vec!["repo".into()],
            access_expires_at: Some(Timestamp::from_unix_millis(1_700_003_600_000)),
            updated_at: Timestamp::from_unix_millis(1_700_000_000_000),
            last_refresh_error: None,
            needs_reconnect: false,
            refresh_lease: Some(OAuthLease {
                holder: "0b1e6b5e-3c1f-4b7e-9a5d-2f9c8e7d6a5b".into(),
                taken_at: Timestamp::from_unix_millis(1_700_000_000_000),
                expires_at: Timestamp::from_unix_millis(1_700_000_060_000),
            }),
        };
        let body = String::from_utf8(c.to_row(None).unwrap().body).unwrap();
        assert_eq!(
            body,
            r#"{"user":"01920000-0000-7000-8000-000000000001","provider":"github","scopes":["repo"],"access_expires_at":1700003600000,"updated_at":1700000000000,"last_refresh_error":null,"needs_reconnect":false,"refresh_lease":{"holder":"0b1e6b5e-3c1f-4b7e-9a5d-2f9c8e7d6a5b","taken_at":1700000000000,"expires_at":1700000060000}}"#
        );
        let back: OAuthConnection = serde_json::from_str(&body).unwrap();
        assert_eq!(back, c);

        c.refresh_lease = None;
        let body = String::from_utf8(c.to_row(None).unwrap().body).unwrap();
        assert!(!body.contains("refresh_lease"), "{body}");
        // A row written before `needs_reconnect` and leases existed.
        let old = r#"{"user":"01920000-0000-7000-8000-000000000001","provider":"github","scopes":[],"access_expires_at":null,"updated_at":0,"last_refresh_error":null}"#;
        let old: OAuthConnection = serde_json::from_str(old).unwrap();
        assert_eq!((old.needs_reconnect, old.refresh_lease), (false, None));
    }

    #[test]
    fn a_malformed_lease_is_refused() {
        let lease = |holder: &str, taken: i64, expires: i64| OAuthConnection {
            user: UserId::from_uuid(uuid::Uuid::from_u128(1)),
            provider: "github".into(),
            scopes: vec![],
            access_expires_at: None,
            updated_at: Timestamp::EPOCH,
            last_refresh_error: None,
            needs_reconnect: false,
            refresh_lease: Some(OAuthLease {
                holder: holder.into(),
                taken_at: Timestamp::from_unix_millis(taken),
                expires_at: Timestamp::from_unix_millis(expires),
            }),
        };
        let good = "0b1e6b5e-3c1f-4b7e-9a5d-2f9c8e7d6a5b";
        assert!(lease(good, 1, 2).to_row(None).is_ok());
        assert!(lease(good, 2, 2).to_row(None).is_err());
        assert!(
            lease("0b1e6b5e3c1f4b7e9a5d2f9c8e7d6a5b", 1, 2)
                .to_row(None)
                .is_err()
        );
        assert!(lease("", 1, 2).to_row(None).is_err());
    }

    /// Formats `value` both ways `{:?}` and `{:#?}` can show it.
    fn shown(value: &impl fmt::Debug) -> [String; 2] {
        [format!("{value:?}"), format!("{value:#?}")]
    }

    #[test]
    fn debug_never_shows_a_password_hash() {
        let hash = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW";
        let user = User {
            id: UserId::generate(),
            login: "ada@example.com".into(),
            role: Role::Admin,
            password_hash: Some(hash.into()),
            disabled: false,
            created_at: Timestamp::EPOCH,
            credential_epoch: 0,
            credentials_revoked_at: None,
        };
        let row = user.to_row(None).unwrap();
        let stored = User::from_row(row.clone()).unwrap();
        let texts = [shown(&user), shown(&row), shown(&stored)];
        for text in texts.iter().flatten() {
            // Not the hash, nor its salt-and-digest part on its own.
            assert!(!text.contains(hash), "{text}");
            assert!(!text.contains("R9h/cIPz0gi"), "{text}");
        }
        // Still useful: whether a password is set, and who the user is.
        for text in shown(&user) {
            assert!(text.contains("[REDACTED]"), "{text}");
            assert!(text.contains("ada@example.com"), "{text}");
        }
        let without = User {
            password_hash: None,
            ..user
        };
        assert!(format!("{without:?}").contains("password_hash: None"));
    }

    #[test]
    fn debug_never_shows_a_token_hash_or_sealed_bytes() {
        // A fixed id, so that no random digit can match the checks below.
        let user: UserId = "22222222-2222-4222-8222-222222222222".parse().unwrap();
        let api = ApiToken {
            id: "tok1".into(),
            owner: user,
            name: "ci".into(),
            hash: [0xab; 32],
            display_prefix: "scp_abcd".into(),
            scopes: Vec::new(),
            created_at: Timestamp::EPOCH,
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
            epoch: 0,
        };
        let agent = AgentSession {
            id: "s1".into(),
            user,
            agent: "claude".into(),
            token_hash: [0xab; 32],
            scopes: Vec::new(),
            created_at: Timestamp::EPOCH,
            expires_at: Timestamp::EPOCH,
            revoked_at: None,
            epoch: 0,
        };
        let refresh = RefreshToken {
            id: "r1".into(),
            family: "f".into(),
            generation: 1,
            user,
            hash: [0xab; 32],
            created_at: Timestamp::EPOCH,
            used_at: None,
            overlap_used: false,
        };
        let mut row = api.to_row(None).unwrap();
        row.sealed = Some(vec![0xab; 40]);
        let stored = ApiToken::from_row(row.clone()).unwrap();
        let texts = [
            shown(&api),
            shown(&agent),
            shown(&refresh),
            shown(&row),
            shown(&stored),
        ];
        for text in texts.iter().flatten() {
            // The bytes as `{:?}` of an array prints them, and as hex.
            assert!(!text.contains("171"), "{text}");
            assert!(!text.to_ascii_lowercase().contains("abab"), "{text}");
        }
        assert!(format!("{api:?}").contains("scp_abcd"));
        assert!(format!("{stored:?}").contains("sealed_len: Some(40)"));
    }
}
