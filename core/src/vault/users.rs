//! Bootstrap and user management.

use crate::audit::{Actor, AuditDraft};
use crate::error::{Error, Result};
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

impl Vault {
    /// Creates the tenant if needed and its first Admin. Refused once the
    /// tenant has any user; two racing bootstraps cannot both succeed.
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
        let hash = self.hash_password(password).await?;
        let now = self.now();
        let user = User {
            id: UserId::generate(),
            login: crate::login::normalize(login)?,
            role: Role::Admin,
            password_hash: Some(hash),
            disabled: false,
            created_at: now,
            credential_epoch: 0,
            credentials_revoked_at: None,
        };
        let row = user.to_row(None)?;
        let store = &self.inner.store;
        let existing = store.tenant(tenant).await?;
        if existing.is_some() {
            let any = store
                .list(tenant, &ListQuery::new(crate::store::Kind::User).limit(1))
                .await?;
            if !any.is_empty() {
                return Err(Error::AlreadyExists {
                    what: "first admin of tenant".into(),
                    id: tenant.to_string(),
                });
            }
        }
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
        blocking(move || policy.hash(&password)).await
    }
}
