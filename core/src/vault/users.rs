//! Bootstrap and user management.

use crate::audit::{Actor, AuditDraft};
use crate::error::{Error, Result};
use crate::id::{TenantId, UserId};
use crate::rbac::{Permission, Role};
use crate::secret::SecretString;
use crate::store::records::{AgentSession, ApiToken, RefreshFamily, User};
use crate::store::{Batch, Change, ListQuery, MAX_PAGE, Record, StoreExt, Stored, Tenant};
use crate::vault::{Caller, Vault, blocking};

/// A user as the API shows it: never the password hash.
#[derive(Clone, Debug, PartialEq, Eq)]
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
            login: login.to_lowercase(),
            role: Role::Admin,
            password_hash: Some(hash),
            disabled: false,
            created_at: now,
            credential_epoch: 0,
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

    /// Creates a user. Needs `users:manage`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::AlreadyExists`] for a taken login;
    /// password and login validation errors.
    pub async fn create_user(
        &self,
        caller: &Caller,
        login: &str,
        role: Role,
        password: Option<&SecretString>,
    ) -> Result<UserId> {
        self.authorize(caller, Permission::ManageUsers, "user.create", "user")
            .await?;
        let password_hash = match password {
            Some(p) => Some(self.hash_password(p).await?),
            None => None,
        };
        let user = User {
            id: UserId::generate(),
            login: login.to_lowercase(),
            role,
            password_hash,
            disabled: false,
            created_at: self.now(),
            credential_epoch: 0,
        };
        let draft = self
            .draft(caller, "user.create", format!("user/{}", user.id))
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

    /// Changes a user's role, and the role carried by their API tokens and
    /// agent sessions, in one write. Needs `users:manage`. The last Admin
    /// cannot be demoted.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::NotFound`]; [`Error::InvalidInput`]
    /// for the last Admin.
    pub async fn change_role(&self, caller: &Caller, user: UserId, role: Role) -> Result<()> {
        let target = format!("user/{user}");
        self.authorize(caller, Permission::ManageUsers, "user.role", &target)
            .await?;
        let stored = self.load_user(caller.tenant, user).await?;
        if stored.record.role == Role::Admin && role != Role::Admin {
            self.ensure_not_last_admin(caller.tenant, user).await?;
        }
        let mut batch = Batch::new(
            self.draft(caller, "user.role", &target)
                .detail("from", stored.record.role.as_str())
                .detail("to", role.as_str()),
        );
        let mut updated = stored.record.clone();
        updated.role = role;
        batch.push(Change::Update {
            row: updated.to_row(None)?,
            expected_version: stored.version,
        });
        for t in self.owned::<ApiToken>(caller.tenant, user).await? {
            let mut r = t.record;
            r.role = role;
            batch.push(Change::Update {
                row: r.to_row(None)?,
                expected_version: t.version,
            });
        }
        for s in self.owned::<AgentSession>(caller.tenant, user).await? {
            let mut r = s.record;
            r.role = role;
            batch.push(Change::Update {
                row: r.to_row(None)?,
                expected_version: s.version,
            });
        }
        self.write(caller.tenant, batch).await.map(drop)
    }

    /// Disables a user: they can no longer log in, and every login, API
    /// token and agent session of theirs is revoked, in one write. Needs
    /// `users:manage`. The last Admin cannot be disabled.
    ///
    /// # Errors
    ///
    /// As [`Vault::change_role`].
    pub async fn disable_user(&self, caller: &Caller, user: UserId) -> Result<()> {
        let target = format!("user/{user}");
        self.authorize(caller, Permission::ManageUsers, "user.disable", &target)
            .await?;
        let stored = self.load_user(caller.tenant, user).await?;
        if stored.record.role == Role::Admin {
            self.ensure_not_last_admin(caller.tenant, user).await?;
        }
        let now = self.now();
        let mut batch = Batch::new(self.draft(caller, "user.disable", &target));
        let mut updated = stored.record.clone();
        updated.disabled = true;
        batch.push(Change::Update {
            row: updated.to_row(None)?,
            expected_version: stored.version,
        });
        let mut revoked = 0usize;
        for t in self.owned::<ApiToken>(caller.tenant, user).await? {
            if t.record.revoked_at.is_none() {
                let mut r = t.record;
                r.revoked_at = Some(now);
                batch.push(Change::Update {
                    row: r.to_row(None)?,
                    expected_version: t.version,
                });
                revoked += 1;
            }
        }
        for s in self.owned::<AgentSession>(caller.tenant, user).await? {
            if s.record.revoked_at.is_none() {
                let mut r = s.record;
                r.revoked_at = Some(now);
                batch.push(Change::Update {
                    row: r.to_row(None)?,
                    expected_version: s.version,
                });
                revoked += 1;
            }
        }
        for f in self.owned::<RefreshFamily>(caller.tenant, user).await? {
            if f.record.revoked_at.is_none() {
                let mut r = f.record;
                r.revoked_at = Some(now);
                batch.push(Change::Update {
                    row: r.to_row(None)?,
                    expected_version: f.version,
                });
                revoked += 1;
            }
        }
        batch.audit = batch.audit.detail("revoked", revoked.to_string());
        self.write(caller.tenant, batch).await.map(drop)
    }

    /// Lets a disabled user log in again (their revoked credentials stay
    /// revoked). Needs `users:manage`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::NotFound`].
    pub async fn enable_user(&self, caller: &Caller, user: UserId) -> Result<()> {
        let target = format!("user/{user}");
        self.authorize(caller, Permission::ManageUsers, "user.enable", &target)
            .await?;
        let stored = self.load_user(caller.tenant, user).await?;
        let mut updated = stored.record;
        updated.disabled = false;
        let batch = Batch::new(self.draft(caller, "user.enable", &target)).with(Change::Update {
            row: updated.to_row(None)?,
            expected_version: stored.version,
        });
        self.write(caller.tenant, batch).await.map(drop)
    }

    /// Deletes a user and everything they own (tokens, sessions, logins,
    /// connections). Needs `users:manage`. The last Admin cannot be deleted.
    ///
    /// # Errors
    ///
    /// As [`Vault::change_role`].
    pub async fn delete_user(&self, caller: &Caller, user: UserId) -> Result<()> {
        let target = format!("user/{user}");
        self.authorize(caller, Permission::ManageUsers, "user.delete", &target)
            .await?;
        let stored = self.load_user(caller.tenant, user).await?;
        if stored.record.role == Role::Admin {
            self.ensure_not_last_admin(caller.tenant, user).await?;
        }
        let batch = Batch::new(
            self.draft(caller, "user.delete", &target)
                .detail("login", stored.record.login),
        )
        .with(Change::Delete {
            kind: User::KIND,
            id: user.to_string(),
            expected_version: Some(stored.version),
        });
        self.write(caller.tenant, batch).await.map(drop)
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
        let mut q = ListQuery::new(User::KIND);
        loop {
            let page = self
                .inner
                .store
                .list_records::<User>(tenant, q.clone())
                .await?;
            if page.iter().any(|u| {
                u.record.id != leaving && u.record.role == Role::Admin && !u.record.disabled
            }) {
                return Ok(());
            }
            match page.last() {
                Some(last) if page.len() >= MAX_PAGE => q.after = Some(last.record.id.to_string()),
                _ => {
                    return Err(Error::invalid(
                        "user",
                        "is the tenant's last enabled Admin; make another Admin first",
                    ));
                }
            }
        }
    }

    pub(super) async fn hash_password(&self, password: &SecretString) -> Result<String> {
        let policy = self.inner.passwords;
        let password = password.clone();
        blocking(move || policy.hash(&password)).await
    }
}
