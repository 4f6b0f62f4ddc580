//! Maintenance: pruning what has expired, optionally as a background task.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::error::Result;
use crate::id::TenantId;
use crate::rbac::Permission;
use crate::store::page::Pages;
use crate::store::records::{AgentSession, ApiToken, RefreshFamily, User};
use crate::store::{Batch, Change, Kind, ListQuery, MAX_BATCH, Record, Row, StoreExt};
use crate::vault::{Caller, Vault};

/// What a prune removed, and where it failed.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct PruneReport {
    /// Rows deleted.
    pub deleted: u64,
    /// Tenants whose prune failed, with the error's message (across
    /// tenants only: [`Vault::prune`] returns its error instead). The other
    /// tenants were still pruned.
    pub failures: Vec<(TenantId, String)>,
}

/// Kinds pruned once expired, and whether they wait out the retention period
/// (tokens, kept for a while so an admin can still see them revoked) or go
/// at once (states, seen message ids, old webhook secrets).
const PRUNABLE: [(Kind, bool); 7] = [
    (Kind::ApiToken, true),
    (Kind::AgentSession, true),
    (Kind::RefreshFamily, true),
    (Kind::OAuthState, false),
    (Kind::SeenWebhook, false),
    (Kind::WebhookPreviousSecret, false),
    (Kind::DeployEvaluation, false),
];

/// Rows deleted per write: well under [`MAX_BATCH`], so a write never grows
/// past the limit whatever a tenant holds.
const CHUNK: usize = MAX_BATCH / 4;

impl Vault {
    /// Deletes expired and revoked tokens, sessions and logins older than the
    /// retention period (also those revoked by disabling their user), and
    /// expired OAuth states, seen webhook ids and old webhook secrets, in
    /// the caller's tenant. Needs `settings:manage` (the system caller has
    /// it). Works in audited chunks, so it succeeds however much there is
    /// (a login refreshed a million times included).
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`](crate::Error::Forbidden); the store's errors.
    pub async fn prune(&self, caller: &Caller) -> Result<PruneReport> {
        self.authorize(
            caller,
            Permission::ManageSettings,
            "maintenance.prune",
            "tenant",
        )
        .await?;
        let now = self.now();
        let retained = now.saturating_sub(self.inner.config.token_retention);
        let store = &self.inner.store;
        let mut report = PruneReport::default();
        for (kind, retain) in PRUNABLE {
            let cutoff = if retain { retained } else { now };
            let q = ListQuery::new(kind).expires_before(cutoff).limit(CHUNK);
            let mut pages = Pages::rows(&**store, caller.tenant, q);
            while let Some(page) = pages.next().await? {
                report.deleted += self.delete_rows(caller, kind, &page).await?;
            }
        }
        report.deleted += self.prune_revoked_by_epoch(caller, retained).await?;
        Ok(report)
    }

    /// Deletes credentials that died with their user's credential epoch
    /// (the user was disabled) before `cutoff`.
    async fn prune_revoked_by_epoch(&self, caller: &Caller, cutoff: Timestamp) -> Result<u64> {
        let store = &self.inner.store;
        let users = store
            .list_all_records::<User>(caller.tenant, ListQuery::new(Kind::User))
            .await?;
        let mut deleted = 0;
        for user in users {
            let u = &user.record;
            if u.credentials_revoked_at.is_none_or(|t| t >= cutoff) {
                continue;
            }
            let epoch = u.credential_epoch;
            deleted += self
                .prune_owned::<ApiToken>(caller, u, |t| t.epoch < epoch)
                .await?;
            deleted += self
                .prune_owned::<AgentSession>(caller, u, |s| s.epoch < epoch)
                .await?;
            deleted += self
                .prune_owned::<RefreshFamily>(caller, u, |f| f.epoch < epoch)
                .await?;
        }
        Ok(deleted)
    }

    /// Deletes the rows of kind `R` owned by `user` that `dead` says are.
    async fn prune_owned<R: Record + 'static>(
        &self,
        caller: &Caller,
        user: &User,
        dead: impl Fn(&R) -> bool,
    ) -> Result<u64> {
        let q = ListQuery::new(R::KIND).owner(user.id).limit(CHUNK);
        let mut rows = Pages::rows(&*self.inner.store, caller.tenant, q);
        let mut deleted = 0;
        while let Some(page) = rows.next().await? {
            let mut doomed = Vec::new();
            for row in page {
                if dead(&R::from_row(row.clone())?.record) {
                    doomed.push(row);
                }
            }
            deleted += self.delete_rows(caller, R::KIND, &doomed).await?;
        }
        Ok(deleted)
    }

    /// Deletes `rows` (at most [`CHUNK`]) of `kind` in one audited write; a
    /// refresh family's tokens go first, in writes of their own.
    async fn delete_rows(&self, caller: &Caller, kind: Kind, rows: &[Row]) -> Result<u64> {
        if rows.is_empty() {
            return Ok(0);
        }
        let mut n = 0;
        if kind == RefreshFamily::KIND {
            for family in rows {
                n += self.prune_family_tokens(caller, &family.id).await?;
            }
        }
        let mut batch = self.prune_batch(caller, kind);
        for row in rows {
            batch.push(Change::Delete {
                kind,
                id: row.id.clone(),
                expected_version: Some(row.version),
            });
        }
        batch.audit = batch.audit.detail("rows", rows.len().to_string());
        self.write(caller.tenant, batch).await?;
        Ok(n + rows.len() as u64)
    }

    /// Deletes every token of a refresh family, a chunk per write.
    async fn prune_family_tokens(&self, caller: &Caller, family: &str) -> Result<u64> {
        let q = ListQuery::new(Kind::RefreshToken)
            .parent(family)
            .limit(CHUNK);
        let mut pages = Pages::rows(&*self.inner.store, caller.tenant, q);
        let mut deleted = 0;
        while let Some(tokens) = pages.next().await? {
            deleted += tokens.len() as u64;
            let mut batch = self.prune_batch(caller, Kind::RefreshToken);
            batch.audit = batch.audit.detail("rows", tokens.len().to_string());
            for t in tokens {
                batch.push(Change::Delete {
                    kind: t.kind,
                    id: t.id,
                    expected_version: None,
                });
            }
            self.write(caller.tenant, batch).await?;
        }
        Ok(deleted)
    }

    fn prune_batch(&self, caller: &Caller, kind: Kind) -> Batch {
        Batch::new(
            self.draft(
                caller,
                "maintenance.prune",
                format!("tenant/{}", caller.tenant),
            )
            .detail("kind", kind.as_str()),
        )
    }

    /// Prunes every tenant now and then every `every`, on the current tokio
    /// runtime, until the returned handle is aborted. Each round's outcome
    /// goes to `on_round`: the host logs or alerts on failures (a tenant that
    /// could not be pruned is in [`PruneReport::failures`]; a round that
    /// could not even list the tenants is an `Err`). Failed work is tried
    /// again at the next round.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// # use std::{sync::Arc, time::Duration};
    /// # use secrets_core::{crypto::{KeyRing, MasterKey}, store::MemoryStore, SystemClock};
    /// # use secrets_core::vault::{Vault, VaultConfig};
    /// # let mut config = VaultConfig::default();
    /// # config.password_cost = 10;
    /// # let vault = Vault::new(Arc::new(MemoryStore::new()), Arc::new(KeyRing::new(MasterKey::generate()?)),
    /// #     Arc::new(SystemClock), config).await?;
    /// let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    /// let task = vault.spawn_maintenance(Duration::from_secs(3600), move |round| {
    ///     // A real host logs `round` (never a secret: errors hold none).
    ///     let _ = tx.send(round.map(|r| r.failures.len()));
    /// });
    /// assert_eq!(rx.recv().await.map(|r| r.ok()), Some(Some(0)));
    /// task.abort();
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn spawn_maintenance<F>(
        &self,
        every: Duration,
        mut on_round: F,
    ) -> tokio::task::JoinHandle<()>
    where
        F: FnMut(Result<PruneReport>) + Send + 'static,
    {
        let vault = self.clone();
        tokio::spawn(async move {
            loop {
                on_round(vault.prune_all_tenants().await);
                tokio::time::sleep(every).await;
            }
        })
    }

    /// Prunes every tenant as the system caller. A tenant whose prune fails
    /// is reported in [`PruneReport::failures`] and the others are still
    /// pruned.
    ///
    /// # Errors
    ///
    /// A store error listing the tenants.
    pub async fn prune_all_tenants(&self) -> Result<PruneReport> {
        let mut total = PruneReport::default();
        let mut tenants = Pages::tenants(&*self.inner.store);
        while let Some(page) = tenants.next().await? {
            for t in page {
                match self
                    .prune(&Caller::system(t).with_source("maintenance"))
                    .await
                {
                    Ok(r) => total.deleted += r.deleted,
                    Err(e) => total.failures.push((t, e.to_string())),
                }
            }
        }
        Ok(total)
    }
}
