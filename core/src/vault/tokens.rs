//! API tokens: minted once, stored as SHA-256, authenticated with one read.

use crate::error::TokenRejection;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::Duration;

use crate::audit::Actor;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::rbac::Permission;
use crate::secret::SecretString;
use crate::store::records::{ApiToken, User};
use crate::store::retry::{Race, retry};
use crate::store::{Batch, Change, Kind, ListQuery, Record, Row, StoreExt, Stored};
use crate::vault::{Caller, Vault, new_id};

/// A freshly minted API token. `token` is shown once: only its hash is kept.
///
/// Serialising it leaves the token out (`{"id","display_prefix","expires_at"}`),
/// so logging or caching the value leaks nothing; the response that hands the
/// token to its user serialises [`expose_secrets`](Self::expose_secrets)
/// instead, which adds `"token"`.
#[derive(Debug, serde::Serialize)]
#[non_exhaustive]
pub struct MintedToken {
    /// The token's id (for listing and revoking).
    pub id: String,
    /// The token itself. Give it to its user now; it cannot be shown again.
    #[serde(skip)]
    pub token: SecretString,
    /// A non-secret prefix to recognise it by (`scp_AbCd`).
    pub display_prefix: String,
    /// When it expires, if ever.
    #[serde(default, with = "crate::clock::rfc3339::option")]
    pub expires_at: Option<Timestamp>,
}

/// An API token as listings show it: never the token, never its hash.
/// Serialises with times in RFC 3339 ([`crate::clock`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct ApiTokenInfo {
    /// Its id.
    pub id: String,
    /// The user it acts for.
    pub owner: UserId,
    /// Its label.
    pub name: String,
    /// Its display prefix.
    pub display_prefix: String,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// When minted.
    #[serde(with = "crate::clock::rfc3339")]
    pub created_at: Timestamp,
    /// When it expires, if ever.
    #[serde(default, with = "crate::clock::rfc3339::option")]
    pub expires_at: Option<Timestamp>,
    /// When last used (to within a minute).
    #[serde(default, with = "crate::clock::rfc3339::option")]
    pub last_used_at: Option<Timestamp>,
    /// When revoked.
    #[serde(default, with = "crate::clock::rfc3339::option")]
    pub revoked_at: Option<Timestamp>,
}

impl From<&ApiToken> for ApiTokenInfo {
    fn from(t: &ApiToken) -> Self {
        Self {
            id: t.id.clone(),
            owner: t.owner,
            name: t.name.clone(),
            display_prefix: t.display_prefix.clone(),
            scopes: t.scopes.clone(),
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

impl Vault {
    /// Mints an API token acting for `owner`, narrowed to `scopes`
    /// (permission names, or `"*"` for everything the caller may grant),
    /// living `ttl` (forever if `None`). Needs `tokens:manage` (an Admin,
    /// for anyone), or `tokens:own` when `owner` is the caller's own user
    /// (a Developer's personal token). The event is attributed to the
    /// caller.
    ///
    /// A token never grants more than the caller holds when minting it, nor
    /// more than its owner's role held then, nor more than the owner holds
    /// when it is used; it never outlives the calling credential; an agent
    /// session cannot mint one (an API token can, within those bounds).
    /// `"*"` is stored as the explicit permissions it meant then, so a
    /// later promotion does not widen the token.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use secrets_core::crypto::{KeyRing, MasterKey};
    /// use secrets_core::rbac::Role;
    /// use secrets_core::store::MemoryStore;
    /// use secrets_core::vault::{Vault, VaultConfig};
    /// use secrets_core::{Error, SecretString, SystemClock, TenantId};
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
    /// let ada_id = vault.bootstrap(tenant, "acme", "ada@example.com", &pw, None).await?;
    /// let session = vault.login(tenant, "ada@example.com", &pw, None).await?;
    /// let ada = vault.authenticate_bearer(session.access_token.expose_secret(), None).await?;
    /// let dev_id = vault.create_user(&ada, "dev@example.com", Role::Developer, Some(&pw)).await?;
    /// let session = vault.login(tenant, "dev@example.com", &pw, None).await?;
    /// let dev = vault.authenticate_bearer(session.access_token.expose_secret(), None).await?;
    ///
    /// // A Developer mints their own token, within what they hold...
    /// let day = Some(Duration::from_secs(24 * 3600));
    /// let mine = vault.mint_api_token(&dev, dev_id, "laptop", &["secrets:write"], day).await?;
    /// # let _ = mine;
    /// // ...but not one for someone else, nor one that manages users.
    /// let theirs = vault.mint_api_token(&dev, ada_id, "x", &["*"], None).await;
    /// assert!(matches!(theirs, Err(Error::Forbidden { action }) if action == "tokens:manage"));
    /// let wider = vault.mint_api_token(&dev, dev_id, "x", &["users:manage"], None).await;
    /// assert!(matches!(wider, Err(Error::Forbidden { .. })));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] (audited) without the permission (naming
    /// `tokens:own` for one's own token, `tokens:manage` for another's), for
    /// scopes beyond the caller's, a lifetime beyond the calling
    /// credential's, or an agent caller; [`Error::NotFound`] or
    /// [`Error::InvalidInput`] for an unknown or disabled owner, an unknown
    /// scope, scopes that grant the owner nothing, a lifetime under 1 s, or
    /// an empty name.
    pub async fn mint_api_token(
        &self,
        caller: &Caller,
        owner: UserId,
        name: &str,
        scopes: &[&str],
        ttl: Option<Duration>,
    ) -> Result<MintedToken> {
        let (action, target) = ("api_token.mint", "api_token");
        let grant = self
            .authorize_token_owner(caller, owner, action, target)
            .await?;
        self.refuse_agent_delegation(caller, action, target).await?;
        let expires_at = self.delegated_expiry(caller, ttl, action, target).await?;
        let user = self.load_user(caller.tenant, owner).await?;
        if user.record.disabled {
            return Err(Error::invalid("owner", "is disabled"));
        }
        let policy = &self.inner.config.policy;
        let parsed_scopes = self
            .delegated_scopes(caller, &grant, scopes, user.record.role, action, target)
            .await?;
        let now = self.now();
        let token = self.inner.api_format.generate()?;
        let parsed = self.inner.api_format.parse(token.expose_secret())?;
        let record = ApiToken {
            id: new_id(),
            owner,
            name: name.to_owned(),
            hash: parsed.hash,
            display_prefix: parsed.display_prefix.clone(),
            scopes: parsed_scopes.names(policy),
            created_at: now,
            expires_at,
            last_used_at: None,
            revoked_at: None,
            epoch: user.record.credential_epoch,
        };
        let draft = self
            .draft(caller, "api_token.mint", format!("api_token/{}", record.id))
            .detail("owner", owner.to_string())
            .detail("name", name)
            .detail("display_prefix", record.display_prefix.clone())
            .detail("scopes", record.scopes.join(" "));
        let row = record.to_row(None)?;
        retry("the minting api token", Race::Conflict, || async {
            let mut batch = Batch::new(draft.clone()).with(Change::Insert(row.clone()));
            if let Some(guard) = self.minting_token_guard(caller, action, target).await? {
                batch.push(guard);
            }
            self.write(caller.tenant, batch).await.map(drop)
        })
        .await?;
        Ok(MintedToken {
            id: record.id,
            token,
            display_prefix: record.display_prefix,
            expires_at: record.expires_at,
        })
    }

    /// The tenant's API tokens, everyone's, without secrets, a page at a
    /// time. Needs `tokens:manage`; [`Vault::list_own_api_tokens`] lists
    /// the caller's own.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; the store's errors.
    pub async fn list_api_tokens(
        &self,
        caller: &Caller,
        after: Option<&str>,
    ) -> Result<Vec<ApiTokenInfo>> {
        self.authorize(
            caller,
            Permission::ManageApiTokens,
            "api_token.list",
            "api_token",
        )
        .await?;
        let mut q = ListQuery::new(Kind::ApiToken);
        q.after = after.map(str::to_owned);
        self.token_infos(caller, q).await
    }

    /// The caller's own API tokens (those acting for the caller's user),
    /// without secrets, a page at a time. Needs `tokens:own` or
    /// `tokens:manage`. For an API token or agent caller, its human's
    /// tokens; the system has none of its own.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// # use std::sync::Arc;
    /// # use secrets_core::crypto::{KeyRing, MasterKey};
    /// # use secrets_core::rbac::Role;
    /// # use secrets_core::store::MemoryStore;
    /// # use secrets_core::vault::{Vault, VaultConfig};
    /// # use secrets_core::{SecretString, SystemClock, TenantId};
    /// # let mut config = VaultConfig::default();
    /// # config.password_cost = 10;
    /// # let vault = Vault::new(Arc::new(MemoryStore::new()), Arc::new(KeyRing::new(MasterKey::generate()?)), Arc::new(SystemClock), config).await?;
    /// # let (tenant, pw) = (TenantId::DEFAULT, SecretString::from("correct horse battery"));
    /// let ada_id = vault.bootstrap(tenant, "acme", "ada@example.com", &pw, None).await?;
    /// # let s = vault.login(tenant, "ada@example.com", &pw, None).await?;
    /// # let ada = vault.authenticate_bearer(s.access_token.expose_secret(), None).await?;
    /// let dev_id = vault.create_user(&ada, "dev@example.com", Role::Developer, Some(&pw)).await?;
    /// # let s = vault.login(tenant, "dev@example.com", &pw, None).await?;
    /// # let dev = vault.authenticate_bearer(s.access_token.expose_secret(), None).await?;
    /// vault.mint_api_token(&ada, ada_id, "admin's", &["*"], None).await?;
    /// let mine = vault.mint_api_token(&dev, dev_id, "laptop", &["*"], None).await?;
    /// let listed = vault.list_own_api_tokens(&dev, None).await?;
    /// assert_eq!(listed.len(), 1);
    /// assert_eq!(listed[0].id, mine.id);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] (audited) without either permission, or for
    /// the system; the store's errors.
    pub async fn list_own_api_tokens(
        &self,
        caller: &Caller,
        after: Option<&str>,
    ) -> Result<Vec<ApiTokenInfo>> {
        let (action, target) = ("api_token.list_own", "api_token");
        let grant = self.grant(caller, action, target).await?;
        let Some(user) = caller.user() else {
            let reason = "only a user has API tokens of their own";
            return Err(self
                .refuse(caller, action, target, reason, "tokens:own")
                .await);
        };
        if !grant.scopes.contains(Permission::ManageOwnApiTokens)
            && !grant.scopes.contains(Permission::ManageApiTokens)
        {
            return Err(self
                .deny(caller, Permission::ManageOwnApiTokens, action, target)
                .await);
        }
        let mut q = ListQuery::new(Kind::ApiToken).owner(user);
        q.after = after.map(str::to_owned);
        self.token_infos(caller, q).await
    }

    /// A page of token rows as listings show them.
    async fn token_infos(&self, caller: &Caller, q: ListQuery) -> Result<Vec<ApiTokenInfo>> {
        let store = &self.inner.store;
        let rows = store.list_records::<ApiToken>(caller.tenant, q).await?;
        // A token whose owner revoked its epoch (by being disabled) shows as
        // revoked since then, though its own row was never written.
        let mut owners: HashMap<UserId, Option<Stored<User>>> = HashMap::new();
        let mut out = Vec::with_capacity(rows.len());
        for s in rows {
            let owner = match owners.entry(s.record.owner) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => e.insert(
                    store
                        .get_record::<User>(caller.tenant, &s.record.owner.to_string())
                        .await?,
                ),
            };
            let mut info = ApiTokenInfo::from(&s.record);
            if info.revoked_at.is_none()
                && let Some(u) = owner
                && u.record.credential_epoch > s.record.epoch
            {
                info.revoked_at = u.record.credentials_revoked_at;
            }
            out.push(info);
        }
        Ok(out)
    }

    /// Revokes an API token at once. Needs `tokens:manage`, or
    /// `tokens:own` for a token of the caller's own user. Revoking a
    /// revoked token again is a no-op.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// # use std::sync::Arc;
    /// # use secrets_core::crypto::{KeyRing, MasterKey};
    /// # use secrets_core::rbac::Role;
    /// # use secrets_core::store::MemoryStore;
    /// # use secrets_core::vault::{Vault, VaultConfig};
    /// # use secrets_core::{Error, SecretString, SystemClock, TenantId};
    /// # let mut config = VaultConfig::default();
    /// # config.password_cost = 10;
    /// # let vault = Vault::new(Arc::new(MemoryStore::new()), Arc::new(KeyRing::new(MasterKey::generate()?)), Arc::new(SystemClock), config).await?;
    /// # let (tenant, pw) = (TenantId::DEFAULT, SecretString::from("correct horse battery"));
    /// let ada_id = vault.bootstrap(tenant, "acme", "ada@example.com", &pw, None).await?;
    /// # let s = vault.login(tenant, "ada@example.com", &pw, None).await?;
    /// # let ada = vault.authenticate_bearer(s.access_token.expose_secret(), None).await?;
    /// let dev_id = vault.create_user(&ada, "dev@example.com", Role::Developer, Some(&pw)).await?;
    /// # let s = vault.login(tenant, "dev@example.com", &pw, None).await?;
    /// # let dev = vault.authenticate_bearer(s.access_token.expose_secret(), None).await?;
    /// let admins = vault.mint_api_token(&ada, ada_id, "ci", &["*"], None).await?;
    /// let mine = vault.mint_api_token(&dev, dev_id, "laptop", &["*"], None).await?;
    /// vault.revoke_api_token(&dev, &mine.id).await?;
    /// let r = vault.revoke_api_token(&dev, &admins.id).await;
    /// assert!(matches!(r, Err(Error::Forbidden { action }) if action == "tokens:manage"));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] (audited) without the permission, or with only
    /// `tokens:own` for another user's token; [`Error::NotFound`] for an
    /// unknown id (after the caller is known to hold one of the two).
    pub async fn revoke_api_token(&self, caller: &Caller, id: &str) -> Result<()> {
        let target = format!("api_token/{id}");
        let action = "api_token.revoke";
        let grant = self.grant(caller, action, &target).await?;
        let manage = grant.scopes.contains(Permission::ManageApiTokens);
        if !manage && !grant.scopes.contains(Permission::ManageOwnApiTokens) {
            return Err(self
                .deny(caller, Permission::ManageApiTokens, action, &target)
                .await);
        }
        retry("the api token", Race::Conflict, || async {
            let stored = self
                .inner
                .store
                .get_record::<ApiToken>(caller.tenant, id)
                .await?
                .ok_or_else(|| Error::not_found("api_token", id))?;
            if !manage && caller.user() != Some(stored.record.owner) {
                return Err(self
                    .deny(caller, Permission::ManageApiTokens, action, &target)
                    .await);
            }
            if stored.record.revoked_at.is_some() {
                return Ok(());
            }
            let mut record = stored.record;
            record.revoked_at = Some(self.now());
            let batch =
                Batch::new(self.draft(caller, "api_token.revoke", &target)).with(Change::Update {
                    row: record.to_row(None)?,
                    expected_version: stored.version,
                });
            self.write(caller.tenant, batch).await.map(drop)
        })
        .await
    }

    /// Authenticates an API token and returns its caller. A token with a
    /// bad checksum is refused before storage is touched; a valid one costs
    /// one indexed read, and a write only when its last-used time is more
    /// than [`VaultConfig::last_used_granularity`](crate::vault::VaultConfig)
    /// old.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidToken`] (`malformed`, `bad checksum`, `unknown`,
    /// `revoked`, `expired`).
    pub async fn authenticate_api_token(
        &self,
        token: &str,
        source: Option<&str>,
    ) -> Result<Caller> {
        let parsed = self.inner.api_format.parse(token)?;
        // The token and its owner's user row in one read (one round trip
        // on PostgreSQL); the checks below are the same as when they were
        // two.
        let found = self
            .inner
            .store
            .find_credential(Kind::ApiToken, &parsed.hash, false)
            .await?
            .ok_or(Error::InvalidToken {
                reason: TokenRejection::Unknown,
            })?;
        let tenant = found.tenant;
        let row_owner = found.row.owner;
        let stored = ApiToken::from_row(found.row)?;
        let t = &stored.record;
        let now = self.now();
        let actor = Actor::ApiToken {
            token: t.id.clone(),
            owner: t.owner,
        };
        let owner = credential_owner(found.owner, row_owner, t.owner)?;
        let refused = if t.revoked_at.is_some() {
            Some(TokenRejection::Revoked)
        } else if t.expires_at.is_some_and(|e| now >= e) {
            Some(TokenRejection::Expired)
        } else {
            owner_refusal(owner.as_ref(), t.epoch)
        };
        if let Some(reason) = refused {
            let target = format!("api_token/{}", t.id);
            return Err(self
                .refuse_credential(
                    tenant,
                    actor,
                    "api_token.authenticate",
                    target,
                    reason,
                    source,
                )
                .await);
        }
        let scopes = self.credential_scopes(&t.scopes)?;
        let role = owner.map_or(crate::rbac::Role::Viewer, |u| u.record.role);
        let caller = Caller {
            tenant,
            actor,
            role,
            scopes,
            source: source.map(str::to_owned),
            epoch: t.epoch,
            expires_at: t.expires_at,
        };
        let stale = t
            .last_used_at
            .is_none_or(|last| now.duration_since(last) >= self.inner.config.last_used_granularity);
        if stale {
            self.touch_api_token(&caller, stored.record.clone(), stored.version, now)
                .await;
        }
        Ok(caller)
    }

    /// The authorization of minting a token for `owner`: `tokens:manage`,
    /// or `tokens:own` when `owner` is the caller's own user; otherwise
    /// refused and audited, naming the one that was needed.
    async fn authorize_token_owner(
        &self,
        caller: &Caller,
        owner: UserId,
        action: &str,
        target: &str,
    ) -> Result<super::Grant> {
        let grant = self.grant(caller, action, target).await?;
        let own = caller.user() == Some(owner);
        if grant.scopes.contains(Permission::ManageApiTokens)
            || (own && grant.scopes.contains(Permission::ManageOwnApiTokens))
        {
            return Ok(grant);
        }
        let needed = if own {
            Permission::ManageOwnApiTokens
        } else {
            Permission::ManageApiTokens
        };
        Err(self.deny(caller, needed, action, target).await)
    }

    /// For a token minted by an API token: that token's row, re-read now,
    /// rewritten unchanged under its version, so that no token is minted
    /// after the revocation of the token minting it (invariant I4): a
    /// token revoked (or expired) since its caller was authenticated is
    /// refused, audited, and a revocation committed between this read and
    /// the write makes the write conflict and read again. `None` for any
    /// other caller.
    async fn minting_token_guard(
        &self,
        caller: &Caller,
        action: &str,
        target: &str,
    ) -> Result<Option<Change>> {
        let Actor::ApiToken { token, .. } = &caller.actor else {
            return Ok(None);
        };
        let stored = self
            .inner
            .store
            .get_record::<ApiToken>(caller.tenant, token)
            .await?;
        let refused = match &stored {
            None => Some(TokenRejection::Revoked),
            Some(t) if t.record.revoked_at.is_some() => Some(TokenRejection::Revoked),
            Some(t) if t.record.expires_at.is_some_and(|e| self.now() >= e) => {
                Some(TokenRejection::Expired)
            }
            Some(_) => None,
        };
        match (stored, refused) {
            (Some(t), None) => Ok(Some(Change::Update {
                row: t.record.to_row(None)?,
                expected_version: t.version,
            })),
            (_, reason) => Err(self
                .refuse_credential(
                    caller.tenant,
                    caller.actor.clone(),
                    action,
                    target.to_owned(),
                    reason.unwrap_or(TokenRejection::Revoked),
                    caller.source.as_deref(),
                )
                .await),
        }
    }

    /// Records a token's use (coalesced). A lost race means another request
    /// just recorded it: nothing to do.
    async fn touch_api_token(
        &self,
        caller: &Caller,
        mut record: ApiToken,
        version: u64,
        now: Timestamp,
    ) {
        record.last_used_at = Some(now);
        let Ok(row) = record.to_row(None) else { return };
        let batch =
            Batch::new(self.draft(caller, "api_token.use", format!("api_token/{}", record.id)))
                .with(Change::Update {
                    row,
                    expected_version: version,
                });
        let _ = self.write(caller.tenant, batch).await;
    }
}

/// The owner's user record as [`Store::find_credential`](crate::store::Store::find_credential)
/// read it beside a credential whose record names `owner`: read by the
/// row's owner column (`row_owner`), so it is taken only when that column
/// names the same user; otherwise (a row that does not say whose it is)
/// there is no owner, and the credential is refused.
pub(super) fn credential_owner(
    read: Option<Row>,
    row_owner: Option<UserId>,
    owner: UserId,
) -> Result<Option<Stored<User>>> {
    if row_owner != Some(owner) {
        return Ok(None);
    }
    read.map(User::from_row).transpose()
}

/// Why a credential of `owner` issued under `epoch` no longer stands, if it
/// does not: its user is gone, disabled, or has had the credentials of that
/// epoch revoked (invariant I3).
pub(super) fn owner_refusal(owner: Option<&Stored<User>>, epoch: u64) -> Option<TokenRejection> {
    match owner {
        None => Some(TokenRejection::Revoked),
        Some(u) if u.record.credential_epoch > epoch => Some(TokenRejection::Revoked),
        Some(u) if u.record.disabled => Some(TokenRejection::Disabled),
        Some(_) => None,
    }
}
