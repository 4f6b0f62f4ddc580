//! Stored rows cannot be forged (invariant I7), and a wrong master key is
//! refused before anything is written (attack 14).
//!
//! [`Integrity`] is the [`Store`] the Vault writes and reads through: it
//! wraps the host's store. On every write it sets each inserted or updated
//! row's [`Row::tag`], a MAC keyed from the master key over a canonical
//! encoding of the row, its tenant and the version the store will give it;
//! on every read it checks the tag in constant time and refuses a row whose
//! tag is missing or wrong with [`Error::Tampered`], audited in the row's
//! tenant. A database writer without the master key can therefore neither
//! edit a row (a Viewer made Admin), nor insert one (a token hash of their
//! choosing), nor move one to another tenant or id: the tag covers all of
//! them. What such a writer can still do is in `docs/THREAT_MODEL.md`.
//!
//! [`Integrity::open`] runs once, in `Vault::new`, before anything else
//! touches the store:
//!
//! 1. the key check: the store's `key_check` setting must equal this master
//!    key's check value (it is stored on the first open); otherwise
//!    [`Error::WrongMasterKey`], with nothing written;
//! 2. the tagging pass: rows written before tags existed are tagged, tenant
//!    by tenant, in audited batches, and the `row_tags` setting then records
//!    that the pass is complete. After that an untagged row is refused like
//!    a bad tag.
//!
//! Both formats are in `docs/FORMATS.md`.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use hmac::Mac as _;
use subtle::ConstantTimeEq;

use crate::audit::{Actor, AuditDraft, AuditLinker, AuditRecord, Outcome};
use crate::clock::Clock;
use crate::crypto::KeyRing;
use crate::error::{Error, Result};
use crate::id::TenantId;
use crate::store::page::Pages;
use crate::store::retry::{Race, retry};
use crate::store::{AuditQuery, Batch, Change, Credential, Kind, ListQuery, Row, Store, Tenant};
use crate::vault::tenant_keys::TenantKeys;

/// The store setting saying the tagging pass is complete.
pub(crate) const ROW_TAGS: &str = "row_tags";

/// Subkey label (`KeyRing::derive_subkey`) of the row MAC key.
const ROW_KEY_LABEL: &str = "row-integrity";

/// Domain label and format version of a row tag's input.
const ROW_LABEL: &[u8] = b"secrets-core/v1/row";
/// What the `row_tags` marker is a MAC of.
const MARKER_LABEL: &[u8] = b"secrets-core/v1/row-tags-complete";

/// The audit detail the creation event of a tenant carries when its rows
/// have been tagged from the start: the tagging pass never tags such a
/// tenant's untagged rows (they can only be forgeries).
const CREATED_TAGGED: &str = "row_tags";

/// Rows per batch of the tagging pass.
const TAG_BATCH: usize = 500;

/// The row MAC key, derived from the master key, held as the HMAC state
/// already keyed with it (each tag clones it: the two key blocks are hashed
/// once, not per row).
struct RowKey(hmac::Hmac<sha2::Sha256>);

impl RowKey {
    fn new(ring: &KeyRing) -> Self {
        Self::from_subkey(&ring.derive_subkey(ROW_KEY_LABEL))
    }

    /// The retiring master's row key, while a rekey is in progress.
    fn retiring(ring: &KeyRing) -> Option<Self> {
        ring.derive_retiring_subkey(ROW_KEY_LABEL)
            .map(|k| Self::from_subkey(&k))
    }

    fn from_subkey(key: &[u8; 32]) -> Self {
        Self(crate::crypto::hmac_sha256(key))
    }

    /// The tag of `row` in `tenant` when stored at `version` (the row's own
    /// `version` and `tag` fields are ignored).
    fn tag(&self, tenant: TenantId, row: &Row, version: u64) -> [u8; 32] {
        let mut mac = self.0.clone();
        canonical(tenant, row, version, |bytes| mac.update(bytes));
        mac.finalize().into_bytes().into()
    }

    /// Whether `row`'s tag is present and right, in constant time.
    fn verifies(&self, tenant: TenantId, row: &Row) -> bool {
        row.tag
            .as_ref()
            .is_some_and(|tag| bool::from(self.tag(tenant, row, row.version).ct_eq(tag.as_slice())))
    }

    /// The `row_tags` marker value.
    fn marker(&self) -> [u8; 32] {
        let mut mac = self.0.clone();
        mac.update(MARKER_LABEL);
        mac.finalize().into_bytes().into()
    }
}

/// Feeds the canonical bytes a row tag authenticates (`docs/FORMATS.md`,
/// "Row tag") to `out`, piece by piece (no buffer): every field
/// length-prefixed or flagged, so no two rows share an encoding.
fn canonical(tenant: TenantId, row: &Row, version: u64, mut out: impl FnMut(&[u8])) {
    fn put(out: &mut impl FnMut(&[u8]), bytes: &[u8]) {
        // Every field is bounded far below 4 GiB by `Row::validate`.
        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        out(&len.to_be_bytes());
        out(bytes);
    }
    fn opt(out: &mut impl FnMut(&[u8]), bytes: Option<&[u8]>) {
        match bytes {
            None => out(&[0]),
            Some(b) => {
                out(&[1]);
                put(out, b);
            }
        }
    }
    put(&mut out, ROW_LABEL);
    out(tenant.as_bytes());
    put(&mut out, row.kind.as_str().as_bytes());
    put(&mut out, row.id.as_bytes());
    opt(&mut out, row.parent.as_deref().map(str::as_bytes));
    opt(
        &mut out,
        row.owner.as_ref().map(|o| o.as_bytes().as_slice()),
    );
    opt(&mut out, row.lookup.as_deref());
    match row.expires_at {
        None => out(&[0]),
        Some(t) => {
            out(&[1]);
            out(&t.unix_millis().to_be_bytes());
        }
    }
    out(&version.to_be_bytes());
    put(&mut out, &row.body);
    opt(&mut out, row.sealed.as_deref());
}

/// Whether `row`'s tag verifies in `tenant` under `ring`'s row key: the
/// check of every read, for the fuzz harness (`crate::fuzz::stored_row`).
#[cfg(feature = "fuzzing")]
pub(crate) fn row_tag_verifies(ring: &KeyRing, tenant: TenantId, row: &Row) -> bool {
    RowKey::new(ring).verifies(tenant, row)
}

/// The decorator: tags rows on write, verifies them on read.
pub(crate) struct Integrity {
    inner: Arc<dyn Store>,
    key: RowKey,
    /// The retiring master's row key during a rekey: rows it tagged still
    /// verify until the rekey pass has re-tagged them.
    retiring: std::sync::RwLock<Option<RowKey>>,
    linker: Arc<dyn AuditLinker>,
    clock: Arc<dyn Clock>,
    /// The tenants' data keys: an erase destroys them (`tenant_keys`).
    tenant_keys: Arc<TenantKeys>,
}

impl fmt::Debug for Integrity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Integrity")
            .field("inner", &self.inner)
            .field("key", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

impl Integrity {
    /// Tags rows written before tags existed and returns the decorated
    /// store. The key check ([`keys::open`](super::keys::open)) runs first,
    /// with [`check_chain_head`] for a store that has none.
    ///
    /// # Errors
    ///
    /// [`Error::Tampered`] if the tagging marker is not this key's; the
    /// store's errors.
    pub(crate) async fn open(
        inner: Arc<dyn Store>,
        ring: &KeyRing,
        linker: Arc<dyn AuditLinker>,
        clock: Arc<dyn Clock>,
        tenant_keys: Arc<TenantKeys>,
    ) -> Result<Self> {
        let me = Self {
            inner,
            tenant_keys,
            key: RowKey::new(ring),
            retiring: std::sync::RwLock::new(RowKey::retiring(ring)),
            linker,
            clock,
        };
        me.tag_untagged().await?;
        Ok(me)
    }

    /// The store beneath, whose reads are not checked: for what needs no
    /// trust (counting rows for a progress bar).
    pub(crate) fn unchecked(&self) -> &dyn Store {
        self.inner.as_ref()
    }

    /// Checks every row of `page` (read from [`Integrity::unchecked`]) as
    /// every read through this layer does, and says for each whether its
    /// tag is under the current master's key: what a rewrap or rekey pass
    /// needs to know, found with the tag computations of the check itself
    /// instead of repeating one. The first row whose tag verifies under
    /// neither key fails the page, refused and audited as in a read.
    ///
    /// During a rekey the retiring key is tried first: the rows a pass
    /// reads are mostly still under it, so most take one tag computation.
    ///
    /// # Errors
    ///
    /// [`Error::Tampered`] for a row under neither key.
    pub(crate) async fn check_page(&self, tenant: TenantId, page: &[Row]) -> Result<Vec<bool>> {
        let mut current = Vec::with_capacity(page.len());
        {
            let retiring = self
                .retiring
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for row in page {
                let under = match retiring.as_ref() {
                    Some(old) if old.verifies(tenant, row) => Some(false),
                    _ => self.key.verifies(tenant, row).then_some(true),
                };
                match under {
                    Some(is_current) => current.push(is_current),
                    None => break,
                }
            }
        }
        match page.get(current.len()) {
            Some(bad) => Err(self.refuse(tenant, bad).await),
            None => Ok(current),
        }
    }

    /// Before the key state moves to the new master: the `row_tags` marker
    /// must be the new master's (set when the rekey began).
    pub(crate) async fn finish_rekey(&self, _current: &crate::crypto::MasterKey) -> Result<()> {
        self.move_marker().await
    }

    /// Forgets the retiring row key: the rekey is complete.
    pub(crate) fn drop_retiring(&self) {
        *self
            .retiring
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    fn retiring_verifies(&self, tenant: TenantId, row: &Row) -> bool {
        self.retiring
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .is_some_and(|k| k.verifies(tenant, row))
    }

    /// During a rekey: replaces a `row_tags` marker under the retiring key
    /// with the current key's.
    async fn move_marker(&self) -> Result<()> {
        let marker = self.key.marker();
        let old = self
            .retiring
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(RowKey::marker);
        match (self.inner.meta(ROW_TAGS).await?, old) {
            (Some(v), _) if bool::from(marker.as_slice().ct_eq(&v)) => Ok(()),
            (Some(v), Some(old)) if bool::from(old.as_slice().ct_eq(&v)) => {
                if self.inner.set_meta(ROW_TAGS, &marker, Some(&v)).await?
                    || self.inner.meta(ROW_TAGS).await?.as_deref() == Some(marker.as_slice())
                {
                    Ok(())
                } else {
                    Err(Error::conflict("store setting", ROW_TAGS, 0, 0))
                }
            }
            (None, _) => Ok(()),
            (Some(_), _) => Err(Error::Tampered {
                kind: "store setting",
                id: ROW_TAGS.into(),
            }),
        }
    }

    /// The tagging pass (a no-op once the `row_tags` marker is set).
    async fn tag_untagged(&self) -> Result<()> {
        let marker = self.key.marker();
        self.move_marker().await?;
        match self.inner.meta(ROW_TAGS).await? {
            Some(v) if bool::from(marker.as_slice().ct_eq(&v)) => return Ok(()),
            Some(_) => {
                return Err(Error::Tampered {
                    kind: "store setting",
                    id: ROW_TAGS.into(),
                });
            }
            None => {}
        }
        let mut tenants = Pages::tenants(self.inner.as_ref());
        while let Some(page) = tenants.next().await? {
            for tenant in page {
                if self.is_legacy(tenant).await? {
                    self.tag_tenant(tenant).await?;
                }
            }
        }
        // Set once; a concurrent opener setting the same value is fine.
        if !self.inner.set_meta(ROW_TAGS, &marker, None).await?
            && self.inner.meta(ROW_TAGS).await?.as_deref() != Some(marker.as_slice())
        {
            return Err(Error::Tampered {
                kind: "store setting",
                id: ROW_TAGS.into(),
            });
        }
        Ok(())
    }

    /// Whether `tenant` predates row tags and has not been tagged yet. A
    /// tenant created with tags (its creation event, seq 1, says so) or
    /// already tagged (an `integrity.migrated` event) is not: its untagged
    /// rows are never tagged, whatever the store-wide marker says, so that
    /// deleting the marker does not launder forged rows. Both events are in
    /// the tenant's keyed audit chain: removing them breaks the chain.
    async fn is_legacy(&self, tenant: TenantId) -> Result<bool> {
        let first = self
            .inner
            .audit_events(
                tenant,
                &AuditQuery {
                    limit: 1,
                    ..AuditQuery::default()
                },
            )
            .await?;
        if first
            .first()
            .is_some_and(|r| r.event.details.contains_key(CREATED_TAGGED))
        {
            return Ok(false);
        }
        let migrated = self
            .inner
            .audit_events(
                tenant,
                &AuditQuery {
                    action: Some("integrity.migrated".into()),
                    limit: 1,
                    ..AuditQuery::default()
                },
            )
            .await?;
        Ok(migrated.is_empty())
    }

    /// Tags every untagged row of a legacy tenant, one audited batch per
    /// page, then records `integrity.migrated` in its log.
    async fn tag_tenant(&self, tenant: TenantId) -> Result<()> {
        let mut total = 0u64;
        for kind in Kind::ALL {
            let mut pages = Pages::rows(
                self.inner.as_ref(),
                tenant,
                ListQuery::new(kind).limit(TAG_BATCH),
            );
            while !pages.is_done() {
                // A row changed meanwhile: read the page again.
                let (page, n) = retry("a row being tagged", Race::Conflict, || async {
                    let page = pages.current().await?;
                    let n = self.tag_page(tenant, kind, &page).await?;
                    Ok((page, n))
                })
                .await?;
                total += n;
                pages.step(&page);
            }
        }
        let done = self
            .system_draft(
                "integrity.migrated",
                format!("tenant/{tenant}"),
                Outcome::Allowed,
            )
            .detail("rows", total.to_string());
        self.inner
            .apply(tenant, Batch::new(done), &self.linker)
            .await?;
        Ok(())
    }

    /// Tags the untagged rows of `page` in one audited batch; returns how
    /// many (nothing is written when none is untagged).
    async fn tag_page(&self, tenant: TenantId, kind: Kind, page: &[Row]) -> Result<u64> {
        let mut batch = Batch::new(self.system_draft(
            "integrity.tag",
            format!("tenant/{tenant}"),
            Outcome::Allowed,
        ));
        for row in page.iter().filter(|r| r.tag.is_none()) {
            let mut row = row.clone();
            let expected_version = row.version;
            let version = expected_version.saturating_add(1);
            row.tag = Some(self.key.tag(tenant, &row, version));
            batch.push(Change::Update {
                row,
                expected_version,
            });
        }
        let n = batch.changes.len() as u64;
        if n == 0 {
            return Ok(0);
        }
        batch.audit = batch
            .audit
            .detail("kind", kind.as_str())
            .detail("rows", n.to_string());
        self.inner.apply(tenant, batch, &self.linker).await?;
        Ok(n)
    }

    fn system_draft(&self, action: &str, target: String, outcome: Outcome) -> AuditDraft {
        AuditDraft::new(Actor::System, action, target, self.clock.now()).outcome(outcome)
    }

    /// `row` if its tag verifies; otherwise the refusal, audited in `tenant`.
    async fn verified(&self, tenant: TenantId, row: Row) -> Result<Row> {
        if self.key.verifies(tenant, &row) || self.retiring_verifies(tenant, &row) {
            return Ok(row);
        }
        Err(self.refuse(tenant, &row).await)
    }

    /// The refusal of `row`, whose tag verifies under no key, audited in
    /// `tenant`.
    async fn refuse(&self, tenant: TenantId, row: &Row) -> Error {
        let id = printable(&row.id);
        let draft = self
            .system_draft(
                "integrity.refused",
                format!("{}/{id}", row.kind),
                Outcome::Denied,
            )
            .detail("kind", row.kind.as_str())
            .detail("id", id.clone())
            .detail("reason", "row tag missing or wrong");
        // Through the inner store: the event needs no tag. If the tenant is
        // gone (a row planted under a made-up tenant) there is no log to
        // write to; the refusal stands either way.
        let _ = self
            .inner
            .apply(tenant, Batch::new(draft), &self.linker)
            .await;
        Error::Tampered {
            kind: row.kind.as_str(),
            id,
        }
    }

    async fn verified_opt(&self, tenant: TenantId, row: Option<Row>) -> Result<Option<Row>> {
        match row {
            Some(row) => self.verified(tenant, row).await.map(Some),
            None => Ok(None),
        }
    }
}

/// Attack 14, for a store from before key check values: its audit chains
/// were linked under the master key, so the head of the first tenant's log
/// tells a wrong key apart before the check value is stored.
pub(crate) async fn check_chain_head(store: &dyn Store, linker: &dyn AuditLinker) -> Result<()> {
    let Some(first) = store.directory_tenants(None, 1).await?.into_iter().next() else {
        return Ok(());
    };
    let mut events = Pages::events(store, first, AuditQuery::default());
    let mut head = None;
    while let Some(page) = events.next().await? {
        head = page.into_iter().last();
    }
    match head {
        Some(record) if !bool::from(linker.link(&record)?.ct_eq(&record.hash)) => {
            Err(Error::WrongMasterKey)
        }
        _ => Ok(()),
    }
}

/// A stored id as it may appear in an event and an error: at most 128
/// characters, control characters escaped (a forged row's id is attacker
/// text).
fn printable(id: &str) -> String {
    let mut out = String::new();
    for c in id.chars().take(128) {
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

#[async_trait]
impl Store for Integrity {
    async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>> {
        self.inner.tenant(id).await
    }

    async fn directory_tenants(
        &self,
        after: Option<TenantId>,
        limit: usize,
    ) -> Result<Vec<TenantId>> {
        self.inner.directory_tenants(after, limit).await
    }

    async fn tenants(&self, after: Option<TenantId>, limit: usize) -> Result<Vec<Tenant>> {
        self.inner.tenants(after, limit).await
    }

    async fn get(&self, tenant: TenantId, kind: Kind, id: &str) -> Result<Option<Row>> {
        let row = self.inner.get(tenant, kind, id).await?;
        self.verified_opt(tenant, row).await
    }

    async fn get_by_lookup(
        &self,
        tenant: TenantId,
        kind: Kind,
        lookup: &[u8],
    ) -> Result<Option<Row>> {
        let row = self.inner.get_by_lookup(tenant, kind, lookup).await?;
        self.verified_opt(tenant, row).await
    }

    async fn directory_lookup(&self, kind: Kind, lookup: &[u8]) -> Result<Option<TenantId>> {
        self.inner.directory_lookup(kind, lookup).await
    }

    async fn find_by_lookup(&self, kind: Kind, lookup: &[u8]) -> Result<Option<(TenantId, Row)>> {
        match self.inner.find_by_lookup(kind, lookup).await? {
            Some((tenant, row)) => Ok(Some((tenant, self.verified(tenant, row).await?))),
            None => Ok(None),
        }
    }

    async fn find_credential(
        &self,
        kind: Kind,
        lookup: &[u8],
        with_tenant: bool,
    ) -> Result<Option<Credential>> {
        // The backend's fused read (one round trip on PostgreSQL), then the
        // same checks as the separate reads: both rows' tags.
        let Some(mut found) = self
            .inner
            .find_credential(kind, lookup, with_tenant)
            .await?
        else {
            return Ok(None);
        };
        found.row = self.verified(found.tenant, found.row).await?;
        found.owner = self.verified_opt(found.tenant, found.owner).await?;
        Ok(Some(found))
    }

    async fn list(&self, tenant: TenantId, query: &ListQuery) -> Result<Vec<Row>> {
        // Fail closed on the first bad row: skipping it would shorten the
        // page, which callers read as the last page.
        let rows = self.inner.list(tenant, query).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.verified(tenant, row).await?);
        }
        Ok(out)
    }

    /// A count reads no row's content: nothing to check.
    async fn count(&self, tenant: TenantId, query: &ListQuery) -> Result<u64> {
        self.inner.count(tenant, query).await
    }

    async fn apply(
        &self,
        tenant: TenantId,
        mut batch: Batch,
        linker: &Arc<dyn AuditLinker>,
    ) -> Result<AuditRecord> {
        let mut creates = false;
        for change in &mut batch.changes {
            match change {
                Change::Insert(row) => row.tag = Some(self.key.tag(tenant, row, 1)),
                Change::Update {
                    row,
                    expected_version,
                } => {
                    // The store writes it at `expected_version + 1` or not
                    // at all; at `u64::MAX` it fails with a conflict.
                    let version = expected_version.saturating_add(1);
                    row.tag = Some(self.key.tag(tenant, row, version));
                }
                Change::CreateTenant(_) => creates = true,
                Change::UpdateTenant { .. } | Change::Delete { .. } => {}
            }
        }
        if creates {
            batch.audit = batch.audit.detail(CREATED_TAGGED, "v1");
        }
        self.inner.apply(tenant, batch, linker).await
    }

    async fn audit_events(&self, tenant: TenantId, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        self.inner.audit_events(tenant, query).await
    }

    /// Erases the tenant, then its data keys in the separate key store if
    /// the vault has one (after the data: deletion protection is checked
    /// there, atomically). Run again after a failure, it finishes: a tenant
    /// already gone from the data store still has its keys destroyed.
    async fn erase_tenant(&self, tenant: TenantId) -> Result<()> {
        match self.inner.erase_tenant(tenant).await {
            Ok(()) => self.tenant_keys.erase(tenant).await.map(drop),
            // Gone already: an earlier erase whose key store failed.
            Err(e @ Error::NotFound { .. }) => match self.tenant_keys.erase(tenant).await? {
                true => Ok(()),
                false => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    async fn meta(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.inner.meta(name).await
    }

    async fn set_meta(&self, name: &str, value: &[u8], expected: Option<&[u8]>) -> Result<bool> {
        self.inner.set_meta(name, value, expected).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use crate::clock::Timestamp;
    use crate::crypto::MasterKey;
    use crate::id::UserId;

    fn ring() -> KeyRing {
        KeyRing::new(MasterKey::from_bytes(&[0x42; 32]).unwrap())
    }

    /// The row of the vector in `docs/FORMATS.md` ("Row tag").
    fn vector_row() -> (TenantId, Row) {
        let tenant = TenantId::from_slice(&(0u8..16).collect::<Vec<_>>()).unwrap();
        let mut row = Row::new(Kind::ApiToken, "tok-1", br#"{"role":"admin"}"#.to_vec());
        row.owner = Some(UserId::from_slice(&[0x11; 16]).unwrap());
        row.lookup = Some(vec![0xab; 32]);
        row.expires_at = Some(Timestamp::from_unix_millis(1_700_000_000_000));
        (tenant, row)
    }

    fn hex(bytes: &[u8]) -> String {
        crate::hex32::hex_string(bytes)
    }

    // The vectors were computed by an independent implementation (Python's
    // hmac and struct modules) from the description in docs/FORMATS.md.
    #[test]
    fn row_tag_key_check_and_marker_match_the_documented_vectors() {
        let ring = ring();
        let key = RowKey::new(&ring);
        let (tenant, row) = vector_row();
        let mut len = 0;
        canonical(tenant, &row, 2, |b| len += b.len());
        assert_eq!(len, 158);
        assert_eq!(
            hex(&key.tag(tenant, &row, 2)),
            "6130de691ed5e7e8513ce8667918d21dfd3186f596954cc97618a8584c7bdd63"
        );
        assert_eq!(
            hex(&super::super::keys::key_check_value(&ring.master_arc())),
            "94b7fbc2d01b340f16e94ebe192ef495391213c2e689a026dee743d74a9434e8"
        );
        assert_eq!(
            hex(&key.marker()),
            "c7730785d383fe05dd4aa66a746cf03e7211587963353707ac9d148655487c1d"
        );
    }

    #[test]
    fn every_field_tenant_and_version_change_the_tag() {
        let key = RowKey::new(&ring());
        let (tenant, row) = vector_row();
        let base = key.tag(tenant, &row, 2);
        let mut variants: Vec<(TenantId, Row, u64)> = vec![
            (TenantId::generate(), row.clone(), 2),
            (tenant, row.clone(), 3),
        ];
        let edits: Vec<fn(&mut Row)> = vec![
            |r| r.kind = Kind::AgentSession,
            |r| r.id = "tok-2".into(),
            |r| r.parent = Some("p".into()),
            |r| r.owner = None,
            |r| r.lookup = Some(vec![0xac; 32]),
            |r| r.lookup = None,
            |r| r.expires_at = None,
            |r| r.expires_at = Some(Timestamp::from_unix_millis(1_700_000_000_001)),
            |r| r.body = br#"{"role":"viewer"}"#.to_vec(),
            |r| r.sealed = Some(vec![1]),
        ];
        for edit in edits {
            let mut r = row.clone();
            edit(&mut r);
            variants.push((tenant, r, 2));
        }
        for (t, r, v) in &variants {
            assert_ne!(key.tag(*t, r, *v), base, "{r:?} at {v}");
        }
        // Length prefixes: moving bytes between id and parent changes it.
        let mut a = row.clone();
        a.id = "ab".into();
        a.parent = Some("c".into());
        let mut b = row;
        b.id = "a".into();
        b.parent = Some("bc".into());
        assert_ne!(key.tag(tenant, &a, 1), key.tag(tenant, &b, 1));
    }

    /// A decorated memory store holding one tenant, the layer's key that
    /// of `ring`.
    async fn layer(ring: &KeyRing, tenant: TenantId) -> (Arc<dyn Store>, Integrity) {
        let inner: Arc<dyn Store> = Arc::new(crate::store::MemoryStore::new());
        let linker: Arc<dyn AuditLinker> = Arc::new(crate::audit::AuditChain::new(ring));
        let now = Timestamp::from_unix_seconds(1_750_000_000);
        let create = Batch::new(AuditDraft::new(Actor::System, "test", "tenant", now))
            .with(Change::CreateTenant(Tenant::new(tenant, "t", now).unwrap()));
        inner.apply(tenant, create, &linker).await.unwrap();
        let integrity = Integrity::open(
            Arc::clone(&inner),
            ring,
            linker,
            Arc::new(crate::clock::ManualClock::new(now)),
            Arc::new(TenantKeys::new(None)),
        )
        .await
        .unwrap();
        (inner, integrity)
    }

    /// What a pass relies on: every row checked, each one's key told apart
    /// (the retiring key's rows are the ones left to re-tag), and a row
    /// under neither key refused and audited instead of being re-tagged.
    #[tokio::test(flavor = "current_thread")]
    async fn check_page_checks_every_row_and_tells_the_keys_apart() {
        let old = || MasterKey::from_bytes(&[0x42; 32]).unwrap();
        let new = || MasterKey::from_bytes(&[0x43; 32]).unwrap();
        let (tenant, base) = vector_row();
        let tagged = |key: &RowKey, id: &str| {
            let mut row = base.clone();
            row.id = id.into();
            row.version = 1;
            row.tag = Some(key.tag(tenant, &row, 1));
            row
        };
        let (old_key, new_key) = (
            RowKey::new(&KeyRing::new(old())),
            RowKey::new(&KeyRing::new(new())),
        );
        let page = vec![
            tagged(&old_key, "a"),
            tagged(&new_key, "b"),
            tagged(&old_key, "c"),
        ];

        // Rekeying: both keys accepted, told apart.
        let rekeying = KeyRing::new(new()).with_retiring(old());
        let (inner, integrity) = layer(&rekeying, tenant).await;
        assert_eq!(
            integrity.check_page(tenant, &page).await.unwrap(),
            [false, true, false]
        );
        assert_eq!(
            integrity.check_page(tenant, &[]).await.unwrap(),
            Vec::<bool>::new()
        );

        // An edited row (a byte of the body, its tag kept) anywhere in the
        // page fails the whole page, audited in the tenant.
        let refused = || AuditQuery {
            action: Some("integrity.refused".into()),
            ..AuditQuery::default()
        };
        for at in 0..page.len() {
            let mut forged = page.clone();
            forged[at].body.push(b' ');
            let err = integrity.check_page(tenant, &forged).await.unwrap_err();
            assert!(matches!(err, Error::Tampered { .. }), "{err:?}");
            let events = inner.audit_events(tenant, &refused()).await.unwrap();
            assert_eq!(events.len(), at + 1);
            assert_eq!(
                events[at].event.target,
                format!("api_token/{}", page[at].id)
            );
        }

        // Once the rekey is over, the old master's rows are refused.
        integrity.drop_retiring();
        assert!(matches!(
            integrity.check_page(tenant, &page).await,
            Err(Error::Tampered { .. })
        ));
        assert_eq!(
            integrity.check_page(tenant, &page[1..2]).await.unwrap(),
            [true]
        );

        // Not rekeying: only the ring's own key.
        let (_, plain) = layer(&KeyRing::new(old()), tenant).await;
        assert_eq!(
            plain
                .check_page(tenant, &[page[0].clone(), page[2].clone()])
                .await
                .unwrap(),
            [true, true]
        );
        assert!(plain.check_page(tenant, &page).await.is_err());
    }

    #[test]
    fn verification_needs_the_tag_of_the_stored_version() {
        let key = RowKey::new(&ring());
        let (tenant, mut row) = vector_row();
        assert!(!key.verifies(tenant, &row), "untagged");
        row.version = 2;
        row.tag = Some(key.tag(tenant, &row, 2));
        assert!(key.verifies(tenant, &row));
        row.version = 3;
        assert!(!key.verifies(tenant, &row));
        let other = RowKey::new(&KeyRing::new(MasterKey::from_bytes(&[0x43; 32]).unwrap()));
        row.version = 2;
        assert!(!other.verifies(tenant, &row), "another master key");
    }

    #[test]
    fn printable_escapes_and_truncates_attacker_ids() {
        assert_eq!(printable("tok-1"), "tok-1");
        assert_eq!(printable("a\nb"), "a\\u{a}b");
        assert_eq!(printable(&"x".repeat(500)).len(), 128);
    }
}
