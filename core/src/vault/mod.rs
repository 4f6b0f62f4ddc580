//! The facade a host uses: every operation is authenticated, authorized and
//! audited in one atomic write, without the host having to remember to.
//!
//! A host builds one [`Vault`] from a store, a key ring, a clock and a
//! [`VaultConfig`], and obtains a [`Caller`] for each request by password
//! login (then access-token validation), API-token authentication or
//! agent-session authentication (all three through one call,
//! [`Vault::authenticate_bearer`], for whatever a client presents), or uses
//! [`Caller::system`] for its own jobs. Every operation takes the `Caller`;
//! a host checks its own permissions with [`Vault::require`].
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), secrets_core::Error> {
//! use std::sync::Arc;
//! use secrets_core::crypto::{KeyRing, MasterKey};
//! use secrets_core::rbac::Role;
//! use secrets_core::store::MemoryStore;
//! use secrets_core::vault::{Vault, VaultConfig};
//! use secrets_core::{Error, SecretString, SystemClock, TenantId};
//!
//! // The defaults, with a quicker bcrypt cost (never under 10).
//! let mut config = VaultConfig::default();
//! config.password_cost = 10;
//! let vault = Vault::new(
//!     Arc::new(MemoryStore::new()),
//!     Arc::new(KeyRing::new(MasterKey::generate()?)),
//!     Arc::new(SystemClock),
//!     config,
//! )
//! .await?;
//! let tenant = TenantId::DEFAULT;
//! vault.bootstrap(tenant, "acme", "ada@example.com", &SecretString::from("correct horse battery"), None).await?;
//!
//! let session = vault.login(tenant, "ada@example.com", &SecretString::from("correct horse battery"), None).await?;
//! let ada = vault.authenticate_access_token(session.access_token.expose_secret(), None).await?;
//! let bob = vault.create_user(&ada, "bob@example.com", Role::Viewer, None).await?;
//! # let _ = bob;
//! assert!(matches!(
//!     vault.login(tenant, "ada@example.com", &SecretString::from("wrong"), None).await,
//!     Err(Error::InvalidCredentials)
//! ));
//! # Ok(()) }
//! ```

mod agents;
mod audit_log;
mod bearer;
mod gate;
mod integrity;
mod keys;
mod maintenance;
mod oauth;
mod rows;
mod secrets;
mod sessions;
mod settings;
mod tenant_keys;
mod tokens;
mod users;
mod webhooks;
// Host JSON: the `Exposed` view that serialises an output with its secrets.
mod json;

use crate::error::TokenRejection;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::audit::{Actor, AuditChain, AuditDraft, AuditLinker, AuditRecord, Outcome};
use crate::clock::{Clock, Timestamp};
use crate::crypto::KeyRing;
use crate::error::{Error, Result};
use crate::id::{TenantId, UserId};
use crate::jwt::{JwtConfig, JwtSigner};
use crate::password::PasswordPolicy;
use crate::rbac::{Permission, Policy, Role, Scopes};
use crate::store::records::User;
use crate::store::{Batch, Store, StoreExt, Stored};
use crate::token::TokenFormat;

pub use agents::{AgentSessionInfo, StartedAgentSession};
pub use bearer::{Bearer, BearerKind, MAX_BEARER_LEN, TokenPrefixes, parse_bearer};
pub use json::Exposed;
pub use keys::{KeyStatus, Progress, RewrapReport};
pub use maintenance::PruneReport;
pub use oauth::{
    ConnectionInfo, OAuthCompletion, OAuthRefresher, OAuthStart, RefreshFailure, RefreshLease,
    RefreshStart,
};
pub use secrets::SecretInfo;
pub use sessions::Session;
pub use tokens::{ApiTokenInfo, MintedToken};
pub use users::{Bootstrapped, CallerKind, Profile, UserInfo};
pub use webhooks::{
    AsymmetricEndpoint, EndpointInfo, ReceivedWebhook, RegisteredEndpoint, SourceInfo, SourceStyle,
};
// The fuzz harnesses' way in (`crate::fuzz`).
#[cfg(feature = "fuzzing")]
pub(crate) use integrity::row_tag_verifies;
#[cfg(feature = "fuzzing")]
pub(crate) use webhooks::check_endpoint_url;

/// How a [`Vault`] behaves. `Default` gives the documented defaults.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct VaultConfig {
    /// bcrypt cost for new hashes (default 12, never under 10). Stored hashes
    /// below it are upgraded at the next successful login.
    pub password_cost: u32,
    /// Roles and permissions, with any the host registered.
    pub policy: Policy,
    /// Access-token issuer, audience, lifetime (15 minutes) and leeway.
    pub jwt: JwtConfig,
    /// Prefix of API tokens (default `scp`, so tokens read `scp_...`).
    pub api_token_prefix: String,
    /// Prefix of agent-session tokens (default `sca`).
    pub agent_token_prefix: String,
    /// Prefix of refresh tokens (default `scr`).
    pub refresh_token_prefix: String,
    /// A login ends this long after it began, whatever happens (default 30 days).
    pub refresh_absolute_lifetime: Duration,
    /// A login ends after this long without a refresh (default 7 days).
    pub refresh_idle_lifetime: Duration,
    /// How long after a refresh token is used it is still honoured once more,
    /// so two tabs refreshing at once do not log the user out (default 10 s).
    pub refresh_overlap: Duration,
    /// Default agent-session lifetime (1 hour).
    pub agent_session_ttl: Duration,
    /// Longest agent-session lifetime a caller may ask for (12 hours).
    pub agent_session_max_ttl: Duration,
    /// How long expired and revoked tokens are kept before pruning (30 days).
    pub token_retention: Duration,
    /// An API token's last-used time is written at most this often (1 minute).
    pub last_used_granularity: Duration,
    /// How far an inbound webhook's timestamp may be from now, either way (5 minutes).
    pub webhook_tolerance: Duration,
    /// How long an OAuth state is accepted (10 minutes).
    pub oauth_state_ttl: Duration,
    /// The longest a host refresher may take before the refresh fails (30 s;
    /// at least 100 ms: the cross-process refresh lease lasts twice this).
    pub oauth_refresh_timeout: Duration,
}

impl Default for VaultConfig {
    fn default() -> Self {
        Self {
            password_cost: crate::password::DEFAULT_COST,
            policy: Policy::new(),
            jwt: JwtConfig::default(),
            api_token_prefix: "scp".into(),
            agent_token_prefix: "sca".into(),
            refresh_token_prefix: "scr".into(),
            refresh_absolute_lifetime: Duration::from_secs(30 * 24 * 3600),
            refresh_idle_lifetime: Duration::from_secs(7 * 24 * 3600),
            refresh_overlap: Duration::from_secs(10),
            agent_session_ttl: Duration::from_secs(3600),
            agent_session_max_ttl: Duration::from_secs(12 * 3600),
            token_retention: Duration::from_secs(30 * 24 * 3600),
            last_used_granularity: Duration::from_secs(60),
            webhook_tolerance: Duration::from_secs(5 * 60),
            oauth_state_ttl: Duration::from_secs(10 * 60),
            oauth_refresh_timeout: Duration::from_secs(30),
        }
    }
}

/// Who is calling, in which tenant, from where: obtained from the Vault by
/// authentication, or [`Caller::system`] for the host's own jobs.
///
/// Serialises (for a host's request logs) as
/// `{"tenant","actor","role","source","expires_at"}`, times in RFC 3339; the
/// scopes are left out (their names belong to the Vault's policy). It never
/// deserialises: a `Caller` comes only from authentication.
///
/// ```
/// use secrets_core::{TenantId, vault::Caller};
///
/// let job = Caller::system(TenantId::DEFAULT).with_source("cron");
/// let logged = serde_json::to_value(&job).unwrap();
/// assert_eq!(logged["actor"], "system");
/// assert_eq!(logged["source"], "cron");
/// ```
///
/// ```compile_fail
/// // No forging a caller from a request body.
/// let forged: secrets_core::vault::Caller = serde_json::from_str(r#"{"actor":"system"}"#).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Caller {
    tenant: TenantId,
    actor: Actor,
    role: Role,
    #[serde(skip)]
    scopes: Scopes,
    source: Option<String>,
    /// The user's credential epoch the credential was issued under.
    #[serde(skip)]
    epoch: u64,
    /// When the credential stops working, for the credentials that end
    /// (API tokens with a lifetime, agent sessions); `None` for a human
    /// login and the system.
    #[serde(with = "crate::clock::rfc3339::option")]
    expires_at: Option<Timestamp>,
}

impl Caller {
    /// The host's own code (a scheduled job, a migration): every permission,
    /// audited as `system`.
    ///
    /// ```
    /// use secrets_core::{TenantId, audit::Actor, vault::Caller};
    ///
    /// let job = Caller::system(TenantId::DEFAULT).with_source("cron");
    /// assert_eq!(job.actor(), &Actor::System);
    /// ```
    #[must_use]
    pub fn system(tenant: TenantId) -> Self {
        Self {
            tenant,
            actor: Actor::System,
            role: Role::Admin,
            scopes: Scopes::all(),
            source: None,
            epoch: 0,
            expires_at: None,
        }
    }

    /// Sets the source address recorded in audit events.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The tenant every operation of this caller runs in.
    #[must_use]
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// Who, as the audit log records it.
    #[must_use]
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The role the user held when the credential was authenticated
    /// ([`Role::Admin`] for the system). Every operation checks the user's
    /// role anew: a demotion takes effect at once, whatever this says.
    #[must_use]
    pub fn role(&self) -> Role {
        self.role
    }

    /// When the credential stops working, if it does (an API token with a
    /// lifetime, an agent session).
    #[must_use]
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.expires_at
    }

    /// The scopes narrowing the role.
    #[must_use]
    pub fn scopes(&self) -> Scopes {
        self.scopes
    }

    /// The human accountable, if any.
    #[must_use]
    pub fn user(&self) -> Option<UserId> {
        self.actor.user()
    }

    /// The source address, if known.
    #[must_use]
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }
}

/// The facade. Cheap to clone (one `Arc`); share it across tasks.
///
/// The store it was built on is not reachable through it: every read and
/// write goes through authentication, authorization and audit.
///
/// ```compile_fail
/// # fn raw(vault: &secrets_core::vault::Vault) {
/// let _ = vault.store(); // no such method
/// # }
/// ```
#[derive(Clone)]
pub struct Vault {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    /// The same store as `store`, as its concrete type (the key lifecycle
    /// asks it which tag a row carries).
    integrity: Arc<integrity::Integrity>,
    ring: Arc<KeyRing>,
    /// The tenants' data keys (see `tenant_keys`).
    tenant_keys: Arc<tenant_keys::TenantKeys>,
    chain: Arc<AuditChain>,
    /// Chain keys of earlier key epochs, oldest first (see `keys`).
    retired_chains: Vec<AuditChain>,
    /// The store's key epoch.
    key_epoch: std::sync::atomic::AtomicU32,
    linker: Arc<dyn AuditLinker>,
    clock: Arc<dyn Clock>,
    config: VaultConfig,
    passwords: PasswordPolicy,
    dummy_hash: String,
    jwt: JwtSigner,
    api_format: TokenFormat,
    agent_format: TokenFormat,
    refresh_format: TokenFormat,
    /// The three prefixes, as [`Vault::token_prefixes`] reads them back.
    prefixes: TokenPrefixes,
    inflight: oauth::InFlight,
    /// bcrypt work done by logins, in expensive key-schedule rounds.
    bcrypt_rounds: std::sync::atomic::AtomicU64,
    /// Passwords hashed for storage (bootstrap, new users, rehashes).
    password_hashes: std::sync::atomic::AtomicU64,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("store", &self.inner.store)
            .field("ring", &self.inner.ring)
            .field("clock", &self.inner.clock)
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// Builds a vault. Computes one bcrypt hash (the dummy that makes a login
    /// for an unknown user cost as much as a wrong password), off the async
    /// worker threads.
    ///
    /// Before anything is written, the master key is checked against the
    /// store: the first open stores the key's check value (never the key,
    /// see `docs/FORMATS.md`), every later open compares it. Then rows
    /// written before row integrity tags existed are tagged, once, in
    /// audited batches (`integrity.tag`). From then on the vault reads and
    /// writes `store` only through the integrity layer: a row changed
    /// outside secrets-core is refused with [`Error::Tampered`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a bad configuration (a cost under 10, a
    /// malformed token prefix, two formats with the same prefix, a JWT
    /// lifetime or leeway out of range), or (field `key store`) for a
    /// store whose tenant keys live in a key store
    /// ([`Vault::with_key_store`]);
    /// [`Error::WrongMasterKey`] if `ring`'s master key is not the one the
    /// store was first opened with (nothing is written);
    /// [`Error::Tampered`] if the store's tagging marker was forged; the
    /// store's errors.
    pub async fn new(
        store: Arc<dyn Store>,
        ring: Arc<KeyRing>,
        clock: Arc<dyn Clock>,
        config: VaultConfig,
    ) -> Result<Self> {
        Self::build(store, None, ring, clock, config).await
    }

    /// Builds a vault, as [`Vault::new`], whose tenant data keys live in
    /// `key_store` instead of `store`: the store to keep apart from the
    /// data store's backups, so that erasing a tenant also makes a backup
    /// of `store` taken before the erase unreadable for that tenant
    /// (crypto-erasure; see `docs/THREAT_MODEL.md`, "Erasure, backups").
    ///
    /// `key_store` holds only sealed keys (one small row per tenant and
    /// ring key id, and the audit events of their creation). Back it up
    /// separately and keep its backups no longer than the erasure promise:
    /// without it, no value of `store` opens. The two are bound to each
    /// other at their first open: `store` opened later without
    /// `key_store` (by [`Vault::new`]), with another key store, or
    /// `key_store` with another data store, is refused.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// use std::sync::Arc;
    /// use secrets_core::crypto::{KeyRing, MasterKey};
    /// use secrets_core::store::{MemoryStore, Store};
    /// use secrets_core::vault::{Caller, Vault, VaultConfig};
    /// use secrets_core::{SecretString, SystemClock, TenantId};
    ///
    /// let (data, keys) = (Arc::new(MemoryStore::new()), Arc::new(MemoryStore::new()));
    /// let mut config = VaultConfig::default();
    /// config.password_cost = 10;
    /// let ring = Arc::new(KeyRing::new(MasterKey::generate()?));
    /// let vault = Vault::with_key_store(data, keys.clone(), ring, Arc::new(SystemClock), config).await?;
    /// let tenant = TenantId::DEFAULT;
    /// vault.bootstrap(tenant, "acme", "ada@example.com", &SecretString::from("correct horse battery"), None).await?;
    /// vault.set_secret(&Caller::system(tenant), "web", "DATABASE_URL", b"postgres://...").await?;
    /// // The tenant's data key is in the key store now.
    /// assert!(keys.tenant(tenant).await?.is_some());
    ///
    /// vault.erase_tenant(&Caller::system(tenant)).await?;
    /// assert!(keys.tenant(tenant).await?.is_none());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Vault::new`]; [`Error::InvalidInput`] (field `key store`) if
    /// the stores are bound elsewhere.
    pub async fn with_key_store(
        store: Arc<dyn Store>,
        key_store: Arc<dyn Store>,
        ring: Arc<KeyRing>,
        clock: Arc<dyn Clock>,
        config: VaultConfig,
    ) -> Result<Self> {
        Self::build(store, Some(key_store), ring, clock, config).await
    }

    async fn build(
        store: Arc<dyn Store>,
        key_store: Option<Arc<dyn Store>>,
        ring: Arc<KeyRing>,
        clock: Arc<dyn Clock>,
        config: VaultConfig,
    ) -> Result<Self> {
        let passwords = PasswordPolicy::new(config.password_cost)?;
        let prefixes = TokenPrefixes::new(
            &config.api_token_prefix,
            &config.agent_token_prefix,
            &config.refresh_token_prefix,
        )?;
        let [api_format, agent_format, refresh_format] = prefixes.formats().map(Clone::clone);
        // The refresh lease lives twice this long: at zero every caller
        // would take a lease over at once and present the same refresh
        // token to the provider.
        if config.oauth_refresh_timeout < Duration::from_millis(100) {
            return Err(Error::invalid(
                "oauth_refresh_timeout",
                "must be at least 100 ms (the refresh lease lasts twice as long)",
            ));
        }
        let chain = Arc::new(AuditChain::new(&ring));
        let linker: Arc<dyn AuditLinker> = chain.clone();
        let opened = keys::open(&*store, &ring, || {
            integrity::check_chain_head(&*store, linker.as_ref())
        })
        .await?;
        let jwt = JwtSigner::new(config.jwt.clone(), Arc::clone(&ring))?;
        tenant_keys::bind(&*store, key_store.as_deref()).await?;
        let tenant_keys = Arc::new(tenant_keys::TenantKeys::new(key_store));
        let integrity = Arc::new(
            integrity::Integrity::open(
                store,
                &ring,
                Arc::clone(&linker),
                Arc::clone(&clock),
                Arc::clone(&tenant_keys),
            )
            .await?,
        );
        let store: Arc<dyn Store> = integrity.clone();
        let dummy_hash = blocking(move || passwords.dummy_hash()).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                integrity,
                ring,
                tenant_keys,
                chain,
                retired_chains: opened.retired_chains,
                key_epoch: std::sync::atomic::AtomicU32::new(opened.state.epoch),
                linker,
                clock,
                config,
                passwords,
                dummy_hash,
                jwt,
                api_format,
                agent_format,
                refresh_format,
                prefixes,
                inflight: oauth::InFlight::default(),
                bcrypt_rounds: std::sync::atomic::AtomicU64::new(0),
                password_hashes: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }

    /// The policy in force.
    #[must_use]
    pub fn policy(&self) -> &Policy {
        &self.inner.config.policy
    }

    /// The configured prefixes of API, agent and refresh tokens, as
    /// [`Vault::authenticate_bearer`] routes by them (and as a leak scanner
    /// looks for them: [`TokenPrefixes::formats`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// # use std::sync::Arc;
    /// # use secrets_core::crypto::{KeyRing, MasterKey};
    /// # use secrets_core::store::MemoryStore;
    /// # use secrets_core::SystemClock;
    /// use secrets_core::vault::{Vault, VaultConfig};
    ///
    /// let mut config = VaultConfig::default();
    /// config.password_cost = 10;
    /// config.api_token_prefix = "acme".into();
    /// # let vault = Vault::new(Arc::new(MemoryStore::new()), Arc::new(KeyRing::new(MasterKey::generate()?)), Arc::new(SystemClock), config).await?;
    /// let prefixes = vault.token_prefixes();
    /// assert_eq!((prefixes.api(), prefixes.agent(), prefixes.refresh()), ("acme", "sca", "scr"));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn token_prefixes(&self) -> &TokenPrefixes {
        &self.inner.prefixes
    }

    /// Checks that `caller` holds `permission` now, as every built-in
    /// operation checks its own: a host enforces the permissions it
    /// registered ([`Policy::register`]) exactly like the Vault's.
    ///
    /// The caller's credential is checked against its user's current row
    /// (a user since disabled, deleted or demoted is refused at once), then
    /// `permission` against the user's current role narrowed by the
    /// credential's scopes. A refusal is audited just as a built-in one is:
    /// an event `action` on `target` by the caller, outcome `denied`, with
    /// the detail `permission` (or `reason` for a credential that no longer
    /// stands), in the caller's tenant.
    ///
    /// An allowed check writes nothing (it changes nothing; one read of the
    /// caller's user row is its whole cost): the audit log holds what the
    /// Vault itself did and every refusal, built-in or the host's, and a
    /// host's own successful action is the host's to log. A check that
    /// fails writes its one audit event.
    ///
    /// `action` names the host's operation in the audit log (`deploy.promote`):
    /// 1 to [`MAX_ACTION_LEN`](crate::audit::MAX_ACTION_LEN) bytes of
    /// `a-z`, `0-9`, `.`, `_`, `:`, `-`. Prefer a namespace of the host's own
    /// so its events are not mistaken for the Vault's. `target` is what is
    /// acted on (`app/web`); client-supplied text is fine there, it is
    /// escaped and cut to fit the audit event.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// use std::sync::Arc;
    /// use secrets_core::audit::Outcome;
    /// use secrets_core::crypto::{KeyRing, MasterKey};
    /// use secrets_core::rbac::Role;
    /// use secrets_core::store::{AuditQuery, MemoryStore};
    /// use secrets_core::vault::{Vault, VaultConfig};
    /// use secrets_core::{Error, SecretString, SystemClock, TenantId};
    ///
    /// let mut config = VaultConfig::default();
    /// config.password_cost = 10;
    /// let promote = config.policy.register("deploy:promote", &[Role::Admin])?;
    /// let vault = Vault::new(
    ///     Arc::new(MemoryStore::new()),
    ///     Arc::new(KeyRing::new(MasterKey::generate()?)),
    ///     Arc::new(SystemClock),
    ///     config,
    /// )
    /// .await?;
    /// let (tenant, pw) = (TenantId::DEFAULT, SecretString::from("correct horse battery"));
    /// vault.bootstrap(tenant, "acme", "ada@example.com", &pw, None).await?;
    /// let session = vault.login(tenant, "ada@example.com", &pw, None).await?;
    /// let ada = vault.authenticate_bearer(session.access_token.expose_secret(), None).await?;
    /// vault.create_user(&ada, "dev@example.com", Role::Developer, Some(&pw)).await?;
    /// let session = vault.login(tenant, "dev@example.com", &pw, None).await?;
    /// let dev = vault.authenticate_bearer(session.access_token.expose_secret(), None).await?;
    ///
    /// vault.require(&ada, promote, "deploy.promote", "app/web").await?;
    /// let denied = vault.require(&dev, promote, "deploy.promote", "app/web").await;
    /// assert!(matches!(denied, Err(Error::Forbidden { action }) if action == "deploy:promote"));
    ///
    /// // The denial is in the audit log, like a built-in one; the allowed check is not.
    /// let log = vault.audit_events(&ada, &AuditQuery::default()).await?;
    /// let promotions: Vec<_> = log.iter().filter(|e| e.event.action == "deploy.promote").collect();
    /// assert_eq!(promotions.len(), 1);
    /// assert_eq!(promotions[0].event.outcome, Outcome::Denied);
    /// assert_eq!(promotions[0].event.details["permission"], "deploy:promote");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] (audited) naming the permission's name when the
    /// caller lacks it (a permission of another policy is never held);
    /// [`Error::InvalidToken`] (audited, `revoked`) when the caller's
    /// credential no longer stands; [`Error::InvalidInput`] (not audited: a
    /// bug of the host) for an `action` outside the rule above; the store's
    /// errors.
    pub async fn require(
        &self,
        caller: &Caller,
        permission: Permission,
        action: &str,
        target: &str,
    ) -> Result<()> {
        let valid = !action.is_empty()
            && action.len() <= crate::audit::MAX_ACTION_LEN
            && action
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b".:_-".contains(&b));
        if !valid {
            return Err(Error::invalid(
                "action",
                format!(
                    "must be 1 to {} of `a-z`, `0-9`, `.`, `_`, `:`, `-`",
                    crate::audit::MAX_ACTION_LEN
                ),
            ));
        }
        if !self.inner.config.policy.knows(permission) {
            // Another policy's permission: never held here, whatever this
            // policy put at its position.
            return Err(self.deny(caller, permission, action, target).await);
        }
        self.authorize(caller, permission, action, target)
            .await
            .map(drop)
    }

    fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// An audit draft for `caller`'s action.
    fn draft(&self, caller: &Caller, action: &str, target: impl Into<String>) -> AuditDraft {
        let mut d = AuditDraft::new(caller.actor.clone(), action, target, self.now());
        d.source = caller.source.clone();
        d
    }

    /// Applies a batch in the caller's tenant. Every event the Vault writes
    /// goes through here, and is sanitized first: no client-controlled text
    /// can make the audit write fail (invariant I6).
    async fn write(&self, tenant: TenantId, mut batch: Batch) -> Result<AuditRecord> {
        batch.audit.sanitize();
        self.inner
            .store
            .apply(tenant, batch, &self.inner.linker)
            .await
    }

    /// Records an event with no change (a denied or failed attempt). If even
    /// that cannot be written, the original error still reaches the caller.
    async fn record(&self, tenant: TenantId, draft: AuditDraft) {
        let _ = self.write(tenant, Batch::new(draft)).await;
    }

    /// Audits a refused credential (revoked, expired, ...) in its tenant and
    /// returns the error the caller gets.
    async fn refuse_credential(
        &self,
        tenant: TenantId,
        actor: Actor,
        action: &str,
        target: String,
        reason: TokenRejection,
        source: Option<&str>,
    ) -> Error {
        let mut draft = AuditDraft::new(actor, action, target, self.now())
            .outcome(Outcome::Denied)
            .detail("reason", reason.as_str());
        draft.source = source.map(str::to_owned);
        self.record(tenant, draft).await;
        Error::InvalidToken { reason }
    }

    /// The scopes a stored credential carries, parsed against the policy in
    /// force (a scope the policy no longer knows refuses the credential).
    fn credential_scopes<S: AsRef<str>>(&self, names: &[S]) -> Result<Scopes> {
        Scopes::parse(&self.inner.config.policy, names).map_err(|_| Error::InvalidToken {
            reason: TokenRejection::UnknownScope,
        })
    }

    /// Audits a refusal that is not a missing permission (a rule of the
    /// operation itself) and returns [`Error::Forbidden`] naming `forbidden`.
    async fn refuse(
        &self,
        caller: &Caller,
        action: &str,
        target: &str,
        reason: &str,
        forbidden: &str,
    ) -> Error {
        let draft = self
            .draft(caller, action, target)
            .outcome(Outcome::Denied)
            .detail("reason", reason);
        self.record(caller.tenant, draft).await;
        Error::Forbidden {
            action: forbidden.to_owned(),
        }
    }

    /// The one guard of every operation: checks the caller's credential
    /// against its user's current row (refused if the user is gone,
    /// disabled, or has revoked the credentials of this epoch, or if the
    /// credential has expired since it was authenticated), then `p` against
    /// the user's current role narrowed by the credential's scopes. Every
    /// refusal is audited. Returns what the caller holds now.
    async fn authorize(
        &self,
        caller: &Caller,
        p: Permission,
        action: &str,
        target: &str,
    ) -> Result<Grant> {
        let grant = self.grant(caller, action, target).await?;
        if grant.scopes.contains(p) {
            return Ok(grant);
        }
        Err(self.deny(caller, p, action, target).await)
    }

    /// Audits `caller` lacking `p` for `action` on `target` (outcome
    /// `denied`, detail `permission`) and returns [`Error::Forbidden`]
    /// naming `p`: the one denial path of built-in and host permissions.
    async fn deny(&self, caller: &Caller, p: Permission, action: &str, target: &str) -> Error {
        let name = self.inner.config.policy.name(p).to_owned();
        let draft = self
            .draft(caller, action, target)
            .outcome(Outcome::Denied)
            .detail("permission", name.clone());
        self.record(caller.tenant, draft).await;
        Error::Forbidden { action: name }
    }

    /// What `caller` holds now: for a credential of a user, the user's
    /// current role (re-read) narrowed by the credential's scopes; refused
    /// and audited when the credential no longer stands.
    async fn grant(&self, caller: &Caller, action: &str, target: &str) -> Result<Grant> {
        let policy = &self.inner.config.policy;
        let Some(user_id) = caller.actor.user() else {
            // The system (every permission) or an anonymous caller (none).
            let role = caller.role;
            let scopes = match caller.actor {
                Actor::System => policy.effective(role, caller.scopes),
                _ => Scopes::none(),
            };
            return Ok(Grant {
                role,
                scopes,
                user: None,
            });
        };
        let user = self
            .inner
            .store
            .get_record::<User>(caller.tenant, &user_id.to_string())
            .await?;
        let refused = match &user {
            None => Some("user deleted"),
            Some(u) if u.record.disabled => Some("user disabled"),
            Some(u) if u.record.credential_epoch > caller.epoch => Some("credential revoked"),
            Some(_) if caller.expires_at.is_some_and(|e| self.now() >= e) => {
                Some("credential expired")
            }
            Some(_) => None,
        };
        match (user, refused) {
            (Some(user), None) => Ok(Grant {
                role: user.record.role,
                scopes: policy.effective(user.record.role, caller.scopes),
                user: Some(user),
            }),
            (_, reason) => {
                let reason = reason.unwrap_or("user deleted");
                let draft = self
                    .draft(caller, action, target)
                    .outcome(Outcome::Denied)
                    .detail("reason", reason);
                self.record(caller.tenant, draft).await;
                Err(Error::InvalidToken {
                    reason: TokenRejection::Revoked,
                })
            }
        }
    }
}

/// What a caller holds at the moment of an operation.
#[derive(Debug)]
struct Grant {
    /// The user's current role ([`Role::Admin`] for the system).
    role: Role,
    /// The permissions in effect: the role narrowed by the credential.
    scopes: Scopes,
    /// The user's row as read, if a user is behind the caller.
    user: Option<Stored<User>>,
}

impl Vault {
    /// The scopes a new credential gets: `requested` (`"*"` for everything
    /// the caller may grant), which must lie within what the caller holds
    /// now (else refused and audited), narrowed to what the owner's role
    /// holds now, so a later promotion of the owner never widens it
    /// (invariant I1).
    async fn delegated_scopes(
        &self,
        caller: &Caller,
        grant: &Grant,
        requested: &[&str],
        owner_role: Role,
        action: &str,
        target: &str,
    ) -> Result<Scopes> {
        let policy = &self.inner.config.policy;
        let requested = Scopes::parse(policy, requested)?;
        let wanted = if requested == Scopes::all() {
            grant.scopes
        } else {
            requested
        };
        if !wanted.is_within(grant.scopes) {
            let reason = "requested scopes exceed the caller's own";
            return Err(self.refuse(caller, action, target, reason, action).await);
        }
        let scopes = wanted.intersect(policy.role_scopes(owner_role));
        if scopes.is_empty() {
            return Err(Error::invalid(
                "scopes",
                "grant nothing the owner's role holds",
            ));
        }
        Ok(scopes)
    }

    /// When a new credential asked to live `ttl` ends: never before it
    /// starts (a zero lifetime is refused), and never after the calling
    /// credential itself ends (refused and audited otherwise, invariant I1).
    async fn delegated_expiry(
        &self,
        caller: &Caller,
        ttl: Option<Duration>,
        action: &str,
        target: &str,
    ) -> Result<Option<Timestamp>> {
        if ttl.is_some_and(|t| t < Duration::from_secs(1)) {
            return Err(Error::invalid("ttl", "must be at least 1 s"));
        }
        let now = self.now();
        let expires = ttl.map(|t| now.saturating_add(t));
        if let Some(limit) = caller.expires_at
            && expires.is_none_or(|e| e > limit)
        {
            let reason = "lifetime beyond the calling credential's own";
            return Err(self.refuse(caller, action, target, reason, action).await);
        }
        Ok(expires)
    }

    /// Refuses, audited, an agent session creating a credential: agents act
    /// for their human; they never delegate further.
    async fn refuse_agent_delegation(
        &self,
        caller: &Caller,
        action: &str,
        target: &str,
    ) -> Result<()> {
        if matches!(caller.actor, Actor::Agent { .. }) {
            let reason = "an agent session cannot create credentials";
            return Err(self.refuse(caller, action, target, reason, action).await);
        }
        Ok(())
    }
}

/// Runs slow, blocking work (bcrypt) on tokio's blocking pool, never on an
/// async worker thread.
async fn blocking<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| Error::Internal {
            what: "a blocking task panicked or was cancelled",
        })?
}

/// A fresh random id for rows (UUID v7 text).
fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
