//! Bootstrap and user management.

use std::sync::atomic::Ordering;

use crate::audit::{Actor, AuditDraft};
use crate::clock::Timestamp;
use crate::error::{Error, Result, TokenRejection};
use crate::id::{TenantId, UserId};
use crate::rbac::{Permission, Role};
use crate::secret::SecretString;
use crate::store::page::Pages;
use crate::store::records::User;
use crate::store::retry::{Race, retry};
use crate::store::{Batch, Change, ListQuery, Record, StoreExt, Stored, Tenant};
use crate::vault::{Caller, Grant, Vault, blocking};

/// A change to a user, authorized and read, ready to write.
struct UserChange {
    /// The tenant's row as read first.
    tenant: Tenant,
    /// What the caller holds now.
    grant: Grant,
    /// The user as read.
    stored: Stored<User>,
}

impl UserChange {
    /// A no-op update of the tenant's row at the version read: the guard
    /// that makes two changes of the tenant's Admins conflict.
    fn tenant_guard(&self) -> Result<Change> {
        Ok(Change::UpdateTenant {
            tenant: self.tenant.clone(),
            expected_version: self.tenant.version,
        })
    }
}

/// A user as the API shows it: never the password hash. Serialises as
/// `{"id","login","role","disabled"}`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct UserInfo {
    /// Its id.
    pub id: UserId,
    /// Login name.
    pub login: String,
    /// Role.
    pub role: Role,
    /// Whether disabled.
    pub disabled: bool,
}

impl From<&User> for UserInfo {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            login: u.login.clone(),
            role: u.role,
            disabled: u.disabled,
        }
    }
}

/// What [`Vault::ensure_bootstrapped`] did.
///
/// ```
/// use secrets_core::UserId;
/// use secrets_core::vault::Bootstrapped;
///
/// let id = UserId::generate();
/// assert_eq!(Bootstrapped::Created(id).created(), Some(id));
/// assert_eq!(Bootstrapped::Existing.created(), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Bootstrapped {
    /// This call created the first Admin (and the tenant, if it was new):
    /// their id.
    Created(UserId),
    /// The tenant already had users: nothing was written or hashed.
    Existing,
}

impl Bootstrapped {
    /// The first Admin's id if this call created them.
    #[must_use]
    pub fn created(self) -> Option<UserId> {
        match self {
            Self::Created(id) => Some(id),
            Self::Existing => None,
        }
    }
}

/// What kind of credential a [`Caller`] presented.
///
/// ```
/// use secrets_core::vault::CallerKind;
///
/// assert_eq!(CallerKind::ApiToken.as_str(), "api_token");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallerKind {
    /// A human, by password login and access token.
    User,
    /// An API token, acting for its owner.
    ApiToken,
    /// An agent session, acting for the human who started it.
    Agent,
    /// The host's own code ([`Caller::system`]).
    System,
}

impl CallerKind {
    /// `user`, `api_token`, `agent` or `system`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::ApiToken => "api_token",
            Self::Agent => "agent",
            Self::System => "system",
        }
    }
}

/// A caller's own profile, as [`Vault::whoami`] gives it: who they are
/// and what they may do now. Never a secret, never a hash.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), secrets_core::Error> {
/// # use std::sync::Arc;
/// # use secrets_core::crypto::{KeyRing, MasterKey};
/// # use secrets_core::store::MemoryStore;
/// # use secrets_core::SystemClock;
/// use secrets_core::rbac::Role;
/// use secrets_core::vault::{Caller, CallerKind, Vault, VaultConfig};
/// use secrets_core::TenantId;
///
/// # let mut config = VaultConfig::default();
/// # config.password_cost = 10;
/// # let vault = Vault::new(Arc::new(MemoryStore::new()), Arc::new(KeyRing::new(MasterKey::generate()?)), Arc::new(SystemClock), config).await?;
/// let job = vault.whoami(&Caller::system(TenantId::DEFAULT)).await?;
/// assert_eq!((job.kind, job.role, job.login), (CallerKind::System, Role::Admin, None));
/// assert!(job.permissions.iter().any(|p| p == "users:manage"));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Profile {
    /// The tenant every operation of the caller runs in.
    pub tenant: TenantId,
    /// What kind of credential the caller presented.
    pub kind: CallerKind,
    /// Who, as the audit log records the caller (with the API token's or
    /// agent session's id).
    pub actor: Actor,
    /// The human accountable (the token's owner, the agent's human); `None`
    /// for the system.
    pub user: Option<UserId>,
    /// That human's login name; `None` for the system.
    pub login: Option<String>,
    /// That human's role now ([`Role::Admin`] for the system).
    pub role: Role,
    /// The permissions in effect now, by name, in the policy's order: the
    /// role narrowed by the credential's scopes.
    pub permissions: Vec<String>,
    /// The credential's scopes, by name (`["*"]` when it does not narrow
    /// the role: a login, the system).
    pub scopes: Vec<String>,
    /// When the credential stops working, for those that end (an API
    /// token with a lifetime, an agent session); `None` for a login (its
    /// access token's own expiry is in the token) and the system.
    pub expires_at: Option<Timestamp>,
}

impl Vault {
    /// Creates the tenant if needed and its first Admin. Refused once the
    /// tenant has any user, before any password is hashed; two racing
    /// bootstraps cannot both succeed. For start-up code that runs on
    /// every boot, [`Vault::ensure_bootstrapped`] is the idempotent form.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyExists`] if the tenant already has users; password
    /// and login validation errors.
    pub async fn bootstrap(
        &self,
        tenant: TenantId,
        tenant_name: &str,
        login: &str,
        password: &SecretString,
        source: Option<&str>,
    ) -> Result<UserId> {
        let login = crate::login::normalize(login)?;
        let (existing, users) = self.tenant_state(tenant).await?;
        if users {
            return Err(Error::AlreadyExists {
                what: "first admin of tenant".into(),
                id: tenant.to_string(),
            });
        }
        // Checked before the hash: a repeat costs two reads, not a bcrypt
        // hash. A bootstrap racing this one is caught by the write below.
        let hash = self.hash_password(password).await?;
        let now = self.now();
        let user = User {
            id: UserId::generate(),
            login,
            role: Role::Admin,
            password_hash: Some(hash),
            disabled: false,
            created_at: now,
            credential_epoch: 0,
            credentials_revoked_at: None,
        };
        let row = user.to_row(None)?;
        let mut draft = AuditDraft::new(
            Actor::System,
            "tenant.bootstrap",
            format!("user/{}", user.id),
            now,
        )
        .detail("login", user.login.clone());
        draft.source = source.map(str::to_owned);
        let mut batch = Batch::new(draft);
        match existing {
            None => batch.push(Change::CreateTenant(Tenant::new(tenant, tenant_name, now)?)),
            // Bump the tenant's version so a concurrent bootstrap conflicts.
            Some(t) => {
                let v = t.version;
                batch.push(Change::UpdateTenant {
                    tenant: t,
                    expected_version: v,
                });
            }
        }
        batch.push(Change::Insert(row));
        match self.write(tenant, batch).await {
            Ok(_) => Ok(user.id),
            Err(Error::Conflict { .. } | Error::AlreadyExists { .. }) => {
                Err(Error::AlreadyExists {
                    what: "first admin of tenant".into(),
                    id: tenant.to_string(),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// The tenant's row, if it exists, and whether it has any user: two
    /// reads at most, nothing hashed.
    async fn tenant_state(&self, tenant: TenantId) -> Result<(Option<Tenant>, bool)> {
        let store = &self.inner.store;
        let Some(existing) = store.tenant(tenant).await? else {
            return Ok((None, false));
        };
        let any = store
            .list(tenant, &ListQuery::new(User::KIND).limit(1))
            .await?;
        Ok((Some(existing), !any.is_empty()))
    }

    /// Makes sure the tenant exists and has a first Admin: what start-up
    /// code calls on every boot. When the tenant already has users it
    /// returns [`Bootstrapped::Existing`] after two reads, hashing nothing
    /// and writing nothing; otherwise it is [`Vault::bootstrap`] and
    /// returns [`Bootstrapped::Created`] with the new Admin's id.
    ///
    /// Concurrent calls, in one process or several on one database, create
    /// exactly one Admin: the others return [`Bootstrapped::Existing`].
    ///
    /// It does not check `login` or `password` against an existing tenant:
    /// they are used only to create the first Admin, once, and changing
    /// them later in the host's configuration changes no account.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// use std::sync::Arc;
    /// use secrets_core::crypto::{KeyRing, MasterKey};
    /// use secrets_core::store::MemoryStore;
    /// use secrets_core::vault::{Bootstrapped, Vault, VaultConfig};
    /// use secrets_core::{SecretString, SystemClock, TenantId};
    ///
    /// let mut config = VaultConfig::default();
    /// config.password_cost = 10;
    /// let vault = Vault::new(
    ///     Arc::new(MemoryStore::new()),
    ///     Arc::new(KeyRing::new(MasterKey::generate()?)),
    ///     Arc::new(SystemClock),
    ///     config,
    /// )
    /// .await?;
    /// let pw = SecretString::from("correct horse battery");
    /// let first = vault.ensure_bootstrapped(TenantId::DEFAULT, "acme", "ada@example.com", &pw, None).await?;
    /// assert!(matches!(first, Bootstrapped::Created(_)));
    /// // Every later boot: cheap, and nothing changes.
    /// let again = vault.ensure_bootstrapped(TenantId::DEFAULT, "acme", "ada@example.com", &pw, None).await?;
    /// assert_eq!(again, Bootstrapped::Existing);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// When it creates: password and login validation errors, the store's
    /// errors. Never [`Error::AlreadyExists`].
    pub async fn ensure_bootstrapped(
        &self,
        tenant: TenantId,
        tenant_name: &str,
        login: &str,
        password: &SecretString,
        source: Option<&str>,
    ) -> Result<Bootstrapped> {
        if self.tenant_state(tenant).await?.1 {
            return Ok(Bootstrapped::Existing);
        }
        match self
            .bootstrap(tenant, tenant_name, login, password, source)
            .await
        {
            Ok(id) => Ok(Bootstrapped::Created(id)),
            // Another bootstrap won the race: the tenant has its Admin.
            Err(Error::AlreadyExists { .. }) if self.tenant_state(tenant).await?.1 => {
                Ok(Bootstrapped::Existing)
            }
            Err(e) => Err(e),
        }
    }

    /// The caller's own profile: who they are (login, tenant, kind of
    /// credential), their role now, the permissions in effect now by name,
    /// the credential's scopes and expiry. Any caller may ask, a Viewer
    /// too: it needs no permission, and is not audited (it changes
    /// nothing). The credential is checked as for any operation: one that
    /// no longer stands is refused (and that refusal is audited).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// use std::sync::Arc;
    /// use secrets_core::crypto::{KeyRing, MasterKey};
    /// use secrets_core::rbac::Role;
    /// use secrets_core::store::MemoryStore;
    /// use secrets_core::vault::{CallerKind, Vault, VaultConfig};
    /// use secrets_core::{SecretString, SystemClock, TenantId};
    ///
    /// let mut config = VaultConfig::default();
    /// config.password_cost = 10;
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
    /// vault.create_user(&ada, "viv@example.com", Role::Viewer, Some(&pw)).await?;
    /// let session = vault.login(tenant, "viv@example.com", &pw, None).await?;
    /// let viv = vault.authenticate_bearer(session.access_token.expose_secret(), None).await?;
    ///
    /// let me = vault.whoami(&viv).await?;
    /// assert_eq!(me.login.as_deref(), Some("viv@example.com"));
    /// assert_eq!((me.kind, me.role), (CallerKind::User, Role::Viewer));
    /// assert_eq!(me.permissions, ["apps:read", "secrets:list"]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidToken`] (audited) for a credential that no longer
    /// stands; the store's errors.
    pub async fn whoami(&self, caller: &Caller) -> Result<Profile> {
        let kind = match caller.actor {
            Actor::User(_) => CallerKind::User,
            Actor::ApiToken { .. } => CallerKind::ApiToken,
            Actor::Agent { .. } => CallerKind::Agent,
            Actor::System => CallerKind::System,
            // No authentication makes an anonymous caller.
            Actor::Anonymous => {
                return Err(Error::InvalidToken {
                    reason: TokenRejection::Unknown,
                });
            }
        };
        let grant = self.grant(caller, "user.whoami", "user").await?;
        let policy = &self.inner.config.policy;
        Ok(Profile {
            tenant: caller.tenant,
            kind,
            actor: caller.actor.clone(),
            user: grant.user.as_ref().map(|u| u.record.id),
            login: grant.user.as_ref().map(|u| u.record.login.clone()),
            role: grant.role,
            permissions: grant.scopes.names(policy),
            scopes: caller.scopes.names(policy),
            expires_at: caller.expires_at,
        })
    }

    /// Creates a user. Needs `users:manage`, and every permission of `role`
    /// (no one grants what they do not hold: a token scoped to
    /// `users:manage` alone cannot create an Admin, nor even a Viewer).
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] (audited); [`Error::AlreadyExists`] for a taken
    /// login; password and login validation errors.
    pub async fn create_user(
        &self,
        caller: &Caller,
        login: &str,
        role: Role,
        password: Option<&SecretString>,
    ) -> Result<UserId> {
        let (action, target) = ("user.create", "user");
        let grant = self
            .authorize(caller, Permission::ManageUsers, action, target)
            .await?;
        self.require_roles(caller, &grant, &[role], action, target)
            .await?;
        let password_hash = match password {
            Some(p) => Some(self.hash_password(p).await?),
            None => None,
        };
        let user = User {
            id: UserId::generate(),
            login: crate::login::normalize(login)?,
            role,
            password_hash,
            disabled: false,
            created_at: self.now(),
            credential_epoch: 0,
            credentials_revoked_at: None,
        };
        let draft = self
            .draft(caller, action, format!("user/{}", user.id))
            .detail("login", user.login.clone())
            .detail("role", role.as_str());
        self.write(
            caller.tenant,
            Batch::new(draft).with(Change::Insert(user.to_row(None)?)),
        )
        .await?;
        Ok(user.id)
    }

    /// The users of the caller's tenant, a page at a time (after `after`).
    /// Needs `users:manage`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; the store's errors.
    pub async fn list_users(
        &self,
        caller: &Caller,
        after: Option<UserId>,
    ) -> Result<Vec<UserInfo>> {
        self.authorize(caller, Permission::ManageUsers, "user.list", "user")
            .await?;
        let mut q = ListQuery::new(User::KIND);
        q.after = after.map(|u| u.to_string());
        let users = self
            .inner
            .store
            .list_records::<User>(caller.tenant, q)
            .await?;
        Ok(users.iter().map(|s| UserInfo::from(&s.record)).collect())
    }

    /// Changes a user's role. Needs `users:manage` and every permission of
    /// both the user's current role and the new one. Takes effect at once
    /// for every credential of the user (each grants at most the user's
    /// current role). The tenant's last enabled Admin cannot be demoted,
    /// also when two Admins demote each other at the same moment.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] (audited); [`Error::NotFound`];
    /// [`Error::InvalidInput`] for the last Admin.
    pub async fn change_role(&self, caller: &Caller, user: UserId, role: Role) -> Result<()> {
        retry("the user", Race::Conflict, || {
            self.change_role_once(caller, user, role)
        })
        .await
    }

    async fn change_role_once(&self, caller: &Caller, user: UserId, role: Role) -> Result<()> {
        let target = format!("user/{user}");
        let change = self.user_change(caller, user, "user.role", &target).await?;
        self.require_roles(caller, &change.grant, &[role], "user.role", &target)
            .await?;
        let from = change.stored.record.role;
        let mut updated = change.stored.record.clone();
        updated.role = role;
        let draft = self
            .draft(caller, "user.role", &target)
            .detail("from", from.as_str())
            .detail("to", role.as_str());
        let leaves_admins = from == Role::Admin && role != Role::Admin;
        self.write_user_change(caller, change, updated, draft, leaves_admins)
            .await
    }

    /// Disables a user: they can no longer log in, and every credential of
    /// theirs (logins, API tokens, agent sessions, however many, including
    /// ones minted at the same moment) stops at once: one row is written,
    /// raising the user's credential epoch. Needs `users:manage` and every
    /// permission of the user's role. The last enabled Admin cannot be
    /// disabled.
    ///
    /// # Errors
    ///
    /// As [`Vault::change_role`].
    pub async fn disable_user(&self, caller: &Caller, user: UserId) -> Result<()> {
        retry("the user", Race::Conflict, || {
            self.disable_user_once(caller, user)
        })
        .await
    }

    async fn disable_user_once(&self, caller: &Caller, user: UserId) -> Result<()> {
        let target = format!("user/{user}");
        let change = self
            .user_change(caller, user, "user.disable", &target)
            .await?;
        let mut updated = change.stored.record.clone();
        updated.disabled = true;
        updated.credential_epoch = updated.credential_epoch.saturating_add(1);
        updated.credentials_revoked_at = Some(self.now());
        let draft = self
            .draft(caller, "user.disable", &target)
            .detail("credential_epoch", updated.credential_epoch.to_string());
        let leaves_admins =
            change.stored.record.role == Role::Admin && !change.stored.record.disabled;
        self.write_user_change(caller, change, updated, draft, leaves_admins)
            .await
    }

    /// Lets a disabled user log in again. Credentials revoked by the
    /// disable stay revoked. Needs `users:manage` and every permission of
    /// the user's role.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::NotFound`].
    pub async fn enable_user(&self, caller: &Caller, user: UserId) -> Result<()> {
        retry("the user", Race::Conflict, || {
            self.enable_user_once(caller, user)
        })
        .await
    }

    async fn enable_user_once(&self, caller: &Caller, user: UserId) -> Result<()> {
        let target = format!("user/{user}");
        let change = self
            .user_change(caller, user, "user.enable", &target)
            .await?;
        let mut updated = change.stored.record.clone();
        updated.disabled = false;
        let draft = self.draft(caller, "user.enable", &target);
        self.write_user_change(caller, change, updated, draft, false)
            .await
    }

    /// Deletes a user and everything they own (tokens, sessions, logins,
    /// connections), however much. Needs `users:manage` and every
    /// permission of the user's role. The last enabled Admin cannot be
    /// deleted.
    ///
    /// # Errors
    ///
    /// As [`Vault::change_role`].
    pub async fn delete_user(&self, caller: &Caller, user: UserId) -> Result<()> {
        retry("the user", Race::Conflict, || {
            self.delete_user_once(caller, user)
        })
        .await
    }

    async fn delete_user_once(&self, caller: &Caller, user: UserId) -> Result<()> {
        let target = format!("user/{user}");
        let change = self
            .user_change(caller, user, "user.delete", &target)
            .await?;
        let record = &change.stored.record;
        let leaves_admins = record.role == Role::Admin && !record.disabled;
        let mut batch = Batch::new(
            self.draft(caller, "user.delete", &target)
                .detail("login", record.login.clone()),
        )
        .with(Change::Delete {
            kind: User::KIND,
            id: user.to_string(),
            expected_version: Some(change.stored.version),
        });
        if leaves_admins {
            self.ensure_not_last_admin(caller.tenant, user).await?;
            batch.push(change.tenant_guard()?);
        }
        self.write(caller.tenant, batch).await.map(drop)
    }

    /// The first half of every change to a user: `users:manage`, the
    /// target read, every permission of the target's current role (no one
    /// acts on a user more powerful than themselves), and the tenant's row,
    /// read before anything else the change depends on.
    async fn user_change(
        &self,
        caller: &Caller,
        user: UserId,
        action: &str,
        target: &str,
    ) -> Result<UserChange> {
        let tenant = self
            .inner
            .store
            .tenant(caller.tenant)
            .await?
            .ok_or_else(|| Error::not_found("tenant", caller.tenant))?;
        let grant = self
            .authorize(caller, Permission::ManageUsers, action, target)
            .await?;
        let stored = self.load_user(caller.tenant, user).await?;
        self.require_roles(caller, &grant, &[stored.record.role], action, target)
            .await?;
        Ok(UserChange {
            tenant,
            grant,
            stored,
        })
    }

    /// The second half: writes `updated` at the version read, after making
    /// sure a change that takes an enabled Admin away leaves another. Such
    /// changes also move the tenant's row on, so two of them at the same
    /// moment conflict and the retry sees the other's effect (invariant I5).
    async fn write_user_change(
        &self,
        caller: &Caller,
        change: UserChange,
        updated: User,
        draft: crate::audit::AuditDraft,
        leaves_admins: bool,
    ) -> Result<()> {
        let mut batch = Batch::new(draft).with(Change::Update {
            row: updated.to_row(None)?,
            expected_version: change.stored.version,
        });
        if leaves_admins {
            self.ensure_not_last_admin(caller.tenant, updated.id)
                .await?;
            batch.push(change.tenant_guard()?);
        }
        self.write(caller.tenant, batch).await.map(drop)
    }

    /// Refuses, audited, unless the caller holds every permission of each
    /// of `roles` (invariant I2).
    async fn require_roles(
        &self,
        caller: &Caller,
        grant: &Grant,
        roles: &[Role],
        action: &str,
        target: &str,
    ) -> Result<()> {
        let policy = &self.inner.config.policy;
        for role in roles {
            if !policy.role_scopes(*role).is_within(grant.scopes) {
                let reason = format!("the caller does not hold every permission of `{role}`");
                return Err(self.refuse(caller, action, target, &reason, action).await);
            }
        }
        Ok(())
    }

    pub(super) async fn load_user(&self, tenant: TenantId, user: UserId) -> Result<Stored<User>> {
        self.inner
            .store
            .get_record::<User>(tenant, &user.to_string())
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "user".into(),
                id: user.to_string(),
            })
    }

    /// Every record of type `R` owned by `user` (all pages).
    pub(super) async fn owned<R: Record + 'static>(
        &self,
        tenant: TenantId,
        user: UserId,
    ) -> Result<Vec<Stored<R>>> {
        self.inner
            .store
            .list_all_records(tenant, ListQuery::new(R::KIND).owner(user))
            .await
    }

    async fn ensure_not_last_admin(&self, tenant: TenantId, leaving: UserId) -> Result<()> {
        let mut users = Pages::rows(&*self.inner.store, tenant, ListQuery::new(User::KIND));
        while let Some(page) = users.next().await? {
            for row in page {
                let u = User::from_row(row)?.record;
                if u.id != leaving && u.role == Role::Admin && !u.disabled {
                    return Ok(());
                }
            }
        }
        Err(Error::invalid(
            "user",
            "is the tenant's last enabled Admin; make another Admin first",
        ))
    }

    pub(super) async fn hash_password(&self, password: &SecretString) -> Result<String> {
        let policy = self.inner.passwords;
        let password = password.clone();
        self.inner.password_hashes.fetch_add(1, Ordering::Relaxed);
        blocking(move || policy.hash(&password)).await
    }

    /// Passwords this vault has hashed for storage so far (bootstrap, new
    /// users, upgrades at login), whether the hash succeeded or not; a
    /// test hook: it shows a path did no bcrypt work by counting, never by
    /// timing.
    #[doc(hidden)]
    #[must_use]
    pub fn password_hashes(&self) -> u64 {
        self.inner.password_hashes.load(Ordering::Relaxed)
    }
}
