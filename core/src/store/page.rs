//! Reading a listing page by page, written once.
//!
//! Three listings are paged with a cursor: rows ([`Store::list`], after the
//! last id), audit events ([`Store::audit_events`], after the last `seq`)
//! and tenant ids ([`Store::directory_tenants`], after the last id). The
//! rule every loop over them shares lives here: the next page starts after
//! the last item of this one, and a page shorter than the page size is the
//! last (no extra read to find an empty page).

use std::future::Future;

use crate::audit::AuditRecord;
use crate::error::Result;
use crate::id::TenantId;
use crate::store::{AuditQuery, ListQuery, MAX_PAGE, Row, Store};

/// One paged listing: how to read the page at the cursor, and how to move
/// the cursor past an item.
pub(crate) trait Listing: Send + Sync {
    /// What a page holds.
    type Item: Send;

    /// How many items a full page holds.
    fn page_size(&self) -> usize;

    /// Moves the cursor past `last`.
    fn advance(&mut self, last: &Self::Item);

    /// The page at the cursor.
    fn read<'a, S: Store + ?Sized>(
        &'a self,
        store: &'a S,
    ) -> impl Future<Output = Result<Vec<Self::Item>>> + Send + 'a;
}

/// Rows of one tenant matching a [`ListQuery`] (its `after` and `limit` are
/// the cursor and the page size).
#[derive(Clone, Debug)]
pub(crate) struct Rows {
    tenant: TenantId,
    query: ListQuery,
}

impl Listing for Rows {
    type Item = Row;

    fn page_size(&self) -> usize {
        self.query.effective_limit()
    }

    fn advance(&mut self, last: &Row) {
        self.query.after = Some(last.id.clone());
    }

    fn read<'a, S: Store + ?Sized>(
        &'a self,
        store: &'a S,
    ) -> impl Future<Output = Result<Vec<Row>>> + Send + 'a {
        store.list(self.tenant, &self.query)
    }
}

/// Audit events of one tenant matching an [`AuditQuery`] (its `after_seq`
/// and `limit` are the cursor and the page size).
#[derive(Debug)]
pub(crate) struct Events {
    tenant: TenantId,
    query: AuditQuery,
}

impl Listing for Events {
    type Item = AuditRecord;

    fn page_size(&self) -> usize {
        self.query.effective_limit()
    }

    fn advance(&mut self, last: &AuditRecord) {
        self.query.after_seq = Some(last.seq);
    }

    fn read<'a, S: Store + ?Sized>(
        &'a self,
        store: &'a S,
    ) -> impl Future<Output = Result<Vec<AuditRecord>>> + Send + 'a {
        store.audit_events(self.tenant, &self.query)
    }
}

/// Every tenant id, from the tenant directory (a privileged read).
#[derive(Debug)]
pub(crate) struct TenantIds {
    after: Option<TenantId>,
}

impl Listing for TenantIds {
    type Item = TenantId;

    fn page_size(&self) -> usize {
        MAX_PAGE
    }

    fn advance(&mut self, last: &TenantId) {
        self.after = Some(*last);
    }

    fn read<'a, S: Store + ?Sized>(
        &'a self,
        store: &'a S,
    ) -> impl Future<Output = Result<Vec<TenantId>>> + Send + 'a {
        store.directory_tenants(self.after, MAX_PAGE)
    }
}

/// A cursor over a listing of `store`.
///
/// `next` reads a page and moves past it. A loop whose attempt may need to
/// read the same page again (after losing a race) reads it with `current`
/// and moves past it with `step` once the attempt succeeded.
#[derive(Debug)]
pub(crate) struct Pages<'s, S: ?Sized, L> {
    store: &'s S,
    listing: L,
    done: bool,
}

// By hand: a derive would ask `S: Clone`, and only the reference is copied.
impl<S: ?Sized, L: Clone> Clone for Pages<'_, S, L> {
    fn clone(&self) -> Self {
        Self {
            store: self.store,
            listing: self.listing.clone(),
            done: self.done,
        }
    }
}

impl<'s, S: Store + ?Sized> Pages<'s, S, Rows> {
    /// The rows of `tenant` matching `query`, from its cursor on.
    pub(crate) fn rows(store: &'s S, tenant: TenantId, query: ListQuery) -> Self {
        Self::new(store, Rows { tenant, query })
    }
}

impl<'s, S: Store + ?Sized> Pages<'s, S, Events> {
    /// The audit events of `tenant` matching `query`, from its cursor on.
    pub(crate) fn events(store: &'s S, tenant: TenantId, query: AuditQuery) -> Self {
        Self::new(store, Events { tenant, query })
    }
}

impl<'s, S: Store + ?Sized> Pages<'s, S, TenantIds> {
    /// Every tenant id, in ascending order.
    pub(crate) fn tenants(store: &'s S) -> Self {
        Self::new(store, TenantIds { after: None })
    }
}

impl<'s, S: Store + ?Sized, L: Listing> Pages<'s, S, L> {
    fn new(store: &'s S, listing: L) -> Self {
        Self {
            store,
            listing,
            done: false,
        }
    }

    /// The next page, or `None` once the listing is exhausted.
    ///
    /// # Errors
    ///
    /// The store's errors.
    pub(crate) async fn next(&mut self) -> Result<Option<Vec<L::Item>>> {
        if self.done {
            return Ok(None);
        }
        let page = self.current().await?;
        self.step(&page);
        Ok(Some(page).filter(|p| !p.is_empty()))
    }

    /// The page at the cursor, without moving past it (empty once the
    /// listing is exhausted).
    ///
    /// # Errors
    ///
    /// The store's errors.
    pub(crate) async fn current(&self) -> Result<Vec<L::Item>> {
        if self.done {
            return Ok(Vec::new());
        }
        self.listing.read(self.store).await
    }

    /// Moves past `page`, the page `current` returned: after its last item,
    /// or to the end if it was short.
    pub(crate) fn step(&mut self, page: &[L::Item]) {
        match page.last() {
            Some(last) if page.len() >= self.listing.page_size() => self.listing.advance(last),
            _ => self.done = true,
        }
    }

    /// Whether the listing is exhausted.
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// Every remaining item, all pages concatenated.
    ///
    /// # Errors
    ///
    /// The store's errors.
    pub(crate) async fn collect(mut self) -> Result<Vec<L::Item>> {
        let mut out = Vec::new();
        while let Some(page) = self.next().await? {
            out.extend(page);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use super::*;
    use crate::audit::{Actor, AuditChain, AuditDraft, AuditLinker};
    use crate::clock::Timestamp;
    use crate::crypto::{KeyRing, MasterKey};
    use crate::store::{Batch, Change, Kind, MemoryStore, Tenant};

    async fn store_with(rows: usize) -> (MemoryStore, TenantId) {
        let store = MemoryStore::new();
        let chain: Arc<dyn AuditLinker> = Arc::new(AuditChain::new(&KeyRing::new(
            MasterKey::from_bytes(&[1; 32]).unwrap(),
        )));
        let now = Timestamp::from_unix_seconds(1_700_000_000);
        let t = TenantId::generate();
        let mut batch = Batch::new(AuditDraft::new(Actor::System, "setup", "t", now))
            .with(Change::CreateTenant(Tenant::new(t, "t", now).unwrap()));
        for i in 0..rows {
            batch.push(Change::Insert(Row::new(
                Kind::SeenWebhook,
                format!("m{i:03}"),
                b"{}".to_vec(),
            )));
        }
        store.apply(t, batch, &chain).await.unwrap();
        (store, t)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn pages_cover_every_row_once_and_stop_on_a_short_page() {
        for (rows, size) in [(10, 3), (9, 3), (0, 3), (5, 100)] {
            let (store, t) = store_with(rows).await;
            let mut pages = Pages::rows(&store, t, ListQuery::new(Kind::SeenWebhook).limit(size));
            let mut seen = Vec::new();
            let mut reads = 0;
            while let Some(page) = pages.next().await.unwrap() {
                reads += 1;
                assert!(page.len() <= size);
                seen.extend(page.into_iter().map(|r| r.id));
            }
            let want: Vec<String> = (0..rows).map(|i| format!("m{i:03}")).collect();
            assert_eq!(seen, want, "{rows} rows by {size}");
            // A short page ends it; an exact multiple needs one empty read.
            assert_eq!(reads, rows / size + usize::from(rows % size != 0));
            assert!(pages.is_done());
            assert!(pages.next().await.unwrap().is_none());
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn current_reads_the_same_page_until_stepped_past() {
        let (store, t) = store_with(5).await;
        let mut pages = Pages::rows(&store, t, ListQuery::new(Kind::SeenWebhook).limit(2));
        let first = pages.current().await.unwrap();
        assert_eq!(pages.current().await.unwrap(), first);
        pages.step(&first);
        let second = pages.current().await.unwrap();
        assert_eq!(second[0].id, "m002");
        let all = Pages::events(&store, t, AuditQuery::default())
            .collect()
            .await
            .unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(Pages::tenants(&store).collect().await.unwrap(), vec![t]);
    }
}
