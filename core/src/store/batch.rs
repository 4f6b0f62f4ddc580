//! Writes ([`Batch`] of [`Change`]s) and queries ([`ListQuery`], [`AuditQuery`]).

use crate::audit::{Actor, AuditDraft};
use crate::clock::Timestamp;
use crate::crypto::KeyId;
use crate::error::{Error, Result};
use crate::id::{TenantId, UserId};
use crate::store::{Kind, Row, Tenant};

/// Most changes in one batch.
pub const MAX_BATCH: usize = 1000;
/// Most rows or events one query returns.
pub const MAX_PAGE: usize = 1000;

/// One change in a [`Batch`].
#[derive(Clone, Debug)]
pub enum Change {
    /// Creates the batch's tenant. Fails with
    /// [`Error::AlreadyExists`] if it exists.
    CreateTenant(Tenant),
    /// Replaces the batch's tenant record if its version is still
    /// `expected_version` ([`Error::Conflict`] otherwise).
    UpdateTenant {
        /// The new record (its `version` is ignored).
        tenant: Tenant,
        /// The version read before.
        expected_version: u64,
    },
    /// Inserts a row (version 1). [`Error::AlreadyExists`] if the id or the
    /// lookup key is taken.
    Insert(Row),
    /// Replaces a row if its version is still `expected_version`
    /// ([`Error::Conflict`] otherwise, [`Error::NotFound`] if gone).
    Update {
        /// The new row (its `version` is ignored).
        row: Row,
        /// The version read before.
        expected_version: u64,
    },
    /// Deletes a row; with `expected_version`, only if unchanged. Deleting a
    /// user deletes every row it owns. [`Error::NotFound`] if absent.
    Delete {
        /// The row's kind.
        kind: Kind,
        /// The row's id.
        id: String,
        /// The version read before, to make the delete a compare-and-swap.
        expected_version: Option<u64>,
    },
}

/// Changes applied together with their audit event, all or nothing.
///
/// A batch with no changes records an event alone (a denied attempt, a
/// failed login).
#[derive(Clone, Debug)]
pub struct Batch {
    /// The changes, applied in order.
    pub changes: Vec<Change>,
    /// The event recorded with them.
    pub audit: AuditDraft,
}

impl Batch {
    /// A batch with no changes yet.
    #[must_use]
    pub fn new(audit: AuditDraft) -> Self {
        Self {
            changes: Vec::new(),
            audit,
        }
    }

    /// Adds a change.
    #[must_use]
    pub fn with(mut self, change: Change) -> Self {
        self.changes.push(change);
        self
    }

    /// Adds a change in place.
    pub fn push(&mut self, change: Change) {
        self.changes.push(change);
    }

    /// Checks everything that can be checked without the store: the audit
    /// event, every row, tenant ids. Backends call it first.
    ///
    /// # Errors
    ///
    /// The first problem found, naming the field.
    pub fn validate(&self, tenant: TenantId) -> Result<()> {
        self.audit.validate()?;
        if self.changes.len() > MAX_BATCH {
            return Err(Error::TooLarge {
                what: "batch",
                len: self.changes.len(),
                max: MAX_BATCH,
            });
        }
        for change in &self.changes {
            match change {
                Change::CreateTenant(t) | Change::UpdateTenant { tenant: t, .. } => {
                    if t.id != tenant {
                        return Err(Error::invalid(
                            "tenant",
                            format!(
                                "a batch for tenant `{tenant}` cannot change tenant `{}`",
                                t.id
                            ),
                        ));
                    }
                    t.validate()?;
                }
                Change::Insert(row) | Change::Update { row, .. } => row.validate()?,
                Change::Delete { id, .. } => crate::store::row::check_id("id", id)?,
            }
        }
        Ok(())
    }
}

/// Which rows [`Store::list`](crate::store::Store::list) returns.
///
/// ```
/// use secrets_core::store::{Kind, ListQuery};
///
/// let page = ListQuery::new(Kind::AppSecret).parent("web").limit(50);
/// let next = page.clone().after("web/LAST_NAME_SEEN");
/// # let _ = next;
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ListQuery {
    /// The kind.
    pub kind: Kind,
    /// Only rows with this parent.
    pub parent: Option<String>,
    /// Only rows owned by this user.
    pub owner: Option<UserId>,
    /// Only rows whose `expires_at` is before this time.
    pub expires_before: Option<Timestamp>,
    /// Only rows with a sealed value under a key other than this one.
    pub sealed_not_under: Option<KeyId>,
    /// Only rows whose id sorts after this one (the previous page's last id).
    pub after: Option<String>,
    /// At most this many rows (capped at [`MAX_PAGE`]).
    pub limit: usize,
}

impl ListQuery {
    /// All rows of `kind`, first page of [`MAX_PAGE`].
    #[must_use]
    pub fn new(kind: Kind) -> Self {
        Self {
            kind,
            parent: None,
            owner: None,
            expires_before: None,
            sealed_not_under: None,
            after: None,
            limit: MAX_PAGE,
        }
    }

    /// Only rows with this parent.
    #[must_use]
    pub fn parent(mut self, parent: impl Into<String>) -> Self {
        self.parent = Some(parent.into());
        self
    }

    /// Only rows owned by `user`.
    #[must_use]
    pub fn owner(mut self, user: UserId) -> Self {
        self.owner = Some(user);
        self
    }

    /// Only rows that expired before `t`.
    #[must_use]
    pub fn expires_before(mut self, t: Timestamp) -> Self {
        self.expires_before = Some(t);
        self
    }

    /// Only rows sealed under a key other than `key`.
    #[must_use]
    pub fn sealed_not_under(mut self, key: KeyId) -> Self {
        self.sealed_not_under = Some(key);
        self
    }

    /// The page after the row with id `id`.
    #[must_use]
    pub fn after(mut self, id: impl Into<String>) -> Self {
        self.after = Some(id.into());
        self
    }

    /// At most `n` rows (capped at [`MAX_PAGE`]).
    #[must_use]
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = n;
        self
    }

    /// The limit, capped.
    #[must_use]
    pub fn effective_limit(&self) -> usize {
        self.limit.min(MAX_PAGE)
    }

    /// Whether `row` passes every filter (the cursor and limit aside): the
    /// one definition backends without a query language use.
    ///
    /// # Errors
    ///
    /// A malformed sealed value when filtering on its key.
    pub fn matches(&self, row: &Row) -> Result<bool> {
        if row.kind != self.kind {
            return Ok(false);
        }
        if self.parent.is_some() && row.parent != self.parent {
            return Ok(false);
        }
        if self.owner.is_some() && row.owner != self.owner {
            return Ok(false);
        }
        if let Some(t) = self.expires_before
            && row.expires_at.is_none_or(|e| e >= t)
        {
            return Ok(false);
        }
        if let Some(k) = self.sealed_not_under {
            match row.sealed_key()? {
                Some(key) if key != k => {}
                _ => return Ok(false),
            }
        }
        Ok(true)
    }
}

/// Which audit events [`Store::audit_events`](crate::store::Store::audit_events) returns.
///
/// Serde: every field optional on the way in, times in RFC 3339
/// ([`crate::clock`]), so a host reads a query from a request as is.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AuditQuery {
    /// Only this actor.
    pub actor: Option<Actor>,
    /// Only this action.
    pub action: Option<String>,
    /// Only this target.
    pub target: Option<String>,
    /// Only events at or after this time.
    #[serde(with = "crate::clock::rfc3339::option")]
    pub from: Option<Timestamp>,
    /// Only events before this time.
    #[serde(with = "crate::clock::rfc3339::option")]
    pub until: Option<Timestamp>,
    /// Only events after this sequence number (the previous page's last).
    pub after_seq: Option<u64>,
    /// At most this many (0 means [`MAX_PAGE`]; capped at it).
    pub limit: usize,
}

impl AuditQuery {
    /// The limit, defaulted and capped.
    #[must_use]
    pub fn effective_limit(&self) -> usize {
        if self.limit == 0 {
            MAX_PAGE
        } else {
            self.limit.min(MAX_PAGE)
        }
    }

    /// Whether `record` passes every filter (the cursor and limit aside).
    #[must_use]
    pub fn matches(&self, record: &crate::audit::AuditRecord) -> bool {
        let e = &record.event;
        self.actor.as_ref().is_none_or(|a| *a == e.actor)
            && self.action.as_ref().is_none_or(|a| *a == e.action)
            && self.target.as_ref().is_none_or(|t| *t == e.target)
            && self.from.is_none_or(|f| e.at >= f)
            && self.until.is_none_or(|u| e.at < u)
    }
}
