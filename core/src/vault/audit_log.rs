//! The audit log, for Admins: query, verify, checkpoint.

use crate::audit::{AuditLinker, AuditRecord, ChainSummary, ChainVerifier, Checkpoint};
use crate::error::{ChainBreak, Error, Result};
use crate::rbac::Permission;
use crate::store::AuditQuery;
use crate::store::page::Pages;
use crate::vault::{Caller, Vault};

impl Vault {
    /// A page of the caller's tenant's audit log. Needs `audit:read` (Admins).
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] (and the refusal is itself audited).
    pub async fn audit_events(
        &self,
        caller: &Caller,
        query: &AuditQuery,
    ) -> Result<Vec<AuditRecord>> {
        self.authorize(caller, Permission::ReadAuditLog, "audit.query", "audit")
            .await?;
        self.inner.store.audit_events(caller.tenant, query).await
    }

    /// Verifies the whole chain of the caller's tenant: every event's link,
    /// in order, with no gap. Needs `audit:read`.
    ///
    /// # Errors
    ///
    /// [`Error::AuditChainBroken`] saying where; [`Error::Forbidden`].
    pub async fn verify_audit_log(&self, caller: &Caller) -> Result<ChainSummary> {
        self.authorize(caller, Permission::ReadAuditLog, "audit.verify", "audit")
            .await?;
        let earlier = self
            .inner
            .retired_chains
            .iter()
            .map(|c| c as &dyn AuditLinker)
            .collect();
        let mut verifier =
            ChainVerifier::with_earlier(self.inner.chain.as_ref(), earlier, caller.tenant);
        let mut events = Pages::events(&*self.inner.store, caller.tenant, AuditQuery::default());
        while let Some(page) = events.next().await? {
            for event in &page {
                verifier.push(event)?;
            }
        }
        // After a rekey every tenant's log continues under the new key (the
        // rekey wrote a `key.rekeyed` event in each): one that ends under a
        // retired key lost its events from there on.
        if !self.inner.ring.is_rekeying() && !verifier.ends_in_current_epoch() {
            let summary = verifier.finish();
            return Err(Error::AuditChainBroken {
                seq: summary.count + 1,
                reason: ChainBreak::Truncated,
            });
        }
        Ok(verifier.finish())
    }

    /// Verifies the log and returns a signed checkpoint of its head and
    /// length. Keep it off the database host: [`Vault::verify_checkpoint`]
    /// later proves the log was not truncated or rewritten since. Needs
    /// `audit:read`.
    ///
    /// # Errors
    ///
    /// As [`Vault::verify_audit_log`].
    pub async fn audit_checkpoint(&self, caller: &Caller) -> Result<Checkpoint> {
        let summary = self.verify_audit_log(caller).await?;
        Ok(self
            .inner
            .chain
            .checkpoint(caller.tenant, summary.count, summary.head, self.now()))
    }

    /// Checks a checkpoint against the log: its signature, that the log
    /// verifies, and that it still holds event `count` with the same hash
    /// (so nothing up to the checkpoint was removed or rewritten, even with
    /// the chain re-linked). Needs `audit:read`.
    ///
    /// # Errors
    ///
    /// [`Error::Unauthenticated`] for a forged checkpoint;
    /// [`Error::AuditChainBroken`] for a truncated or rewritten log.
    pub async fn verify_checkpoint(
        &self,
        caller: &Caller,
        checkpoint: &Checkpoint,
    ) -> Result<ChainSummary> {
        // A checkpoint signed before a rekey is signed under a retired key.
        let signed = std::iter::once(self.inner.chain.as_ref())
            .chain(self.inner.retired_chains.iter())
            .any(|chain| chain.verify_checkpoint(checkpoint).is_ok());
        if !signed {
            return Err(Error::Unauthenticated);
        }
        if checkpoint.tenant != caller.tenant {
            return Err(Error::invalid("checkpoint", "belongs to another tenant"));
        }
        let summary = self.verify_audit_log(caller).await?;
        if summary.count < checkpoint.count {
            return Err(Error::AuditChainBroken {
                seq: summary.count + 1,
                reason: ChainBreak::Truncated,
            });
        }
        if checkpoint.count > 0 {
            let query = AuditQuery {
                after_seq: Some(checkpoint.count - 1),
                limit: 1,
                ..AuditQuery::default()
            };
            let at = self.inner.store.audit_events(caller.tenant, &query).await?;
            if at.first().map(|e| e.hash) != Some(checkpoint.head) {
                return Err(Error::AuditChainBroken {
                    seq: checkpoint.count,
                    reason: ChainBreak::Rewritten,
                });
            }
        }
        Ok(summary)
    }
}
