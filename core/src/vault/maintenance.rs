//! Maintenance: pruning what has expired, optionally as a background task.

use std::time::Duration;

use crate::error::Result;
use crate::id::TenantId;
use crate::rbac::Permission;
use crate::store::records::RefreshFamily;
use crate::store::{Batch, Change, Kind, ListQuery, MAX_PAGE, Record};
use crate::vault::{Caller, Vault};

/// What a prune removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Rows deleted.
    pub deleted: u64,
}

/// Kinds pruned once expired, and whether they wait out the retention period
/// (tokens, kept for a while so an admin can still see them revoked) or go
/// at once (states, seen message ids, old webhook secrets).
const PRUNABLE: [(Kind, bool); 6] = [
    (Kind::ApiToken, true),
    (Kind::AgentSession, true),
    (Kind::RefreshFamily, true),
    (Kind::OAuthState, false),
    (Kind::SeenWebhook, false),
    (Kind::WebhookPreviousSecret, false),
];

impl Vault {
    /// Deletes expired and revoked tokens, sessions and logins older than the
    /// retention period, and expired OAuth states, seen webhook ids and old
    /// webhook secrets, in the caller's tenant. Needs `settings:manage` (the
    /// system caller has it). Each batch is audited.
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
            loop {
                // Always the first page: what is deleted no longer matches.
                let q = ListQuery::new(kind)
                    .expires_before(cutoff)
                    .limit(MAX_PAGE / 2);
                let page = store.list(caller.tenant, &q).await?;
                if page.is_empty() {
                    break;
                }
                let mut batch = Batch::new(
                    self.draft(
                        caller,
                        "maintenance.prune",
                        format!("tenant/{}", caller.tenant),
                    )
                    .detail("kind", kind.as_str()),
                );
                for row in &page {
                    if kind == RefreshFamily::KIND {
                        // A family's tokens go with it.
                        let tokens = store
                            .list(
                                caller.tenant,
                                &ListQuery::new(Kind::RefreshToken).parent(row.id.clone()),
                            )
                            .await?;
                        for t in tokens {
                            batch.push(Change::Delete {
                                kind: t.kind,
                                id: t.id,
                                expected_version: None,
                            });
                        }
                    }
                    batch.push(Change::Delete {
                        kind,
                        id: row.id.clone(),
                        expected_version: Some(row.version),
                    });
                }
                let n = page.len() as u64;
                batch.audit = batch.audit.detail("rows", n.to_string());
                self.write(caller.tenant, batch).await?;
                report.deleted += n;
            }
        }
        Ok(report)
    }

    /// Prunes every tenant now and then every `every`, on the current tokio
    /// runtime, until the returned handle is aborted. Errors are retried at
    /// the next round.
    #[must_use]
    pub fn spawn_maintenance(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let vault = self.clone();
        tokio::spawn(async move {
            loop {
                let _ = vault.prune_all_tenants().await;
                tokio::time::sleep(every).await;
            }
        })
    }

    /// Prunes every tenant as the system caller.
    ///
    /// # Errors
    ///
    /// The first store error.
    pub async fn prune_all_tenants(&self) -> Result<PruneReport> {
        let mut total = PruneReport::default();
        let mut after: Option<TenantId> = None;
        loop {
            let tenants = self.inner.store.tenants(after, MAX_PAGE).await?;
            let Some(last) = tenants.last() else {
                return Ok(total);
            };
            after = Some(last.id);
            for t in &tenants {
                total.deleted += self
                    .prune(&Caller::system(t.id).with_source("maintenance"))
                    .await?
                    .deleted;
            }
        }
    }
}
