//! What every store can do through the [`Store`] trait alone, written once:
//! typed reads, tenant export, and online rewrap onto the active key. Their
//! loops page with [`Pages`] and retry lost races with [`retry`].

use std::io::Write;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::json;

use crate::audit::{Actor, AuditDraft, AuditLinker};
use crate::clock::Timestamp;
use crate::crypto::{KeyId, KeyRing};
use crate::error::{Error, Result};
use crate::id::TenantId;
use crate::store::page::Pages;
use crate::store::retry::{Race, retry};
use crate::store::{
    AuditQuery, Batch, Change, Kind, ListQuery, MAX_PAGE, Record, Row, Store, Stored,
};

/// How far a [`StoreExt::rewrap`] has got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RewrapProgress {
    /// The key values are being moved onto.
    pub active_key: KeyId,
    /// Tenants fully processed.
    pub tenants_done: u64,
    /// Values re-sealed so far.
    pub rows_rewrapped: u64,
}

/// Conveniences over any [`Store`], implemented once for all of them.
#[async_trait]
pub trait StoreExt: Store {
    /// A typed record by id.
    ///
    /// # Errors
    ///
    /// The store's errors, or a body that does not parse.
    async fn get_record<R: Record + 'static>(
        &self,
        tenant: TenantId,
        id: &str,
    ) -> Result<Option<Stored<R>>> {
        self.get(tenant, R::KIND, id)
            .await?
            .map(R::from_row)
            .transpose()
    }

    /// A page of typed records; `query.kind` is set to `R::KIND`.
    ///
    /// # Errors
    ///
    /// The store's errors, or a body that does not parse.
    async fn list_records<R: Record + 'static>(
        &self,
        tenant: TenantId,
        mut query: ListQuery,
    ) -> Result<Vec<Stored<R>>> {
        query.kind = R::KIND;
        self.list(tenant, &query)
            .await?
            .into_iter()
            .map(R::from_row)
            .collect()
    }

    /// Every typed record matching `query`, across all pages (the query's
    /// cursor and limit are the starting point and the page size).
    ///
    /// # Errors
    ///
    /// The store's errors, or a body that does not parse.
    async fn list_all_records<R: Record + 'static>(
        &self,
        tenant: TenantId,
        mut query: ListQuery,
    ) -> Result<Vec<Stored<R>>> {
        query.kind = R::KIND;
        Pages::rows(self, tenant, query)
            .collect()
            .await?
            .into_iter()
            .map(R::from_row)
            .collect()
    }

    /// Writes every record of `tenant` as JSON lines to `out`: one `tenant`
    /// line, then a `row` line per row (sealed values stay sealed, as
    /// base64), then an `audit` line per event. Returns the number of lines.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for an unknown tenant, the store's errors, and
    /// [`Error::Store`] when `out` fails.
    async fn export_jsonl(&self, tenant: TenantId, out: &mut (dyn Write + Send)) -> Result<u64> {
        let t = self.tenant(tenant).await?.ok_or_else(|| Error::NotFound {
            what: "tenant".into(),
            id: tenant.to_string(),
        })?;
        let mut lines = 0u64;
        write_line(out, &json!({"type": "tenant", "tenant": t}))?;
        lines += 1;
        for kind in Kind::ALL {
            let mut pages = Pages::rows(self, tenant, ListQuery::new(kind));
            while let Some(page) = pages.next().await? {
                for row in &page {
                    write_line(out, &row_json(tenant, row))?;
                    lines += 1;
                }
            }
        }
        let mut pages = Pages::events(self, tenant, AuditQuery::default());
        while let Some(page) = pages.next().await? {
            for event in &page {
                write_line(out, &json!({"type": "audit", "event": event}))?;
                lines += 1;
            }
        }
        Ok(lines)
    }

    /// Re-seals every sealed value of every tenant onto `ring`'s active key,
    /// `batch_size` rows per atomic batch, each batch with its audit event
    /// (`keyring.rewrap`, actor `system`). Online: other writers carry on; a
    /// row changed meanwhile is simply picked up again. Resumable: values
    /// already under the active key are skipped, so running it again after an
    /// interruption finishes the job. `progress` is called after each batch.
    ///
    /// # Errors
    ///
    /// The store's errors; the first value that does not open, named by kind
    /// and id (nothing after it in that batch is written).
    async fn rewrap(
        &self,
        ring: &KeyRing,
        linker: &Arc<dyn AuditLinker>,
        now: Timestamp,
        batch_size: usize,
        progress: &mut (dyn FnMut(RewrapProgress) + Send),
    ) -> Result<RewrapProgress> {
        let active = ring.active_key_id();
        let batch_size = batch_size.clamp(1, MAX_PAGE);
        let mut done = RewrapProgress {
            active_key: active,
            tenants_done: 0,
            rows_rewrapped: 0,
        };
        let mut tenants = Pages::tenants(self);
        while let Some(page) = tenants.next().await? {
            for tenant in page {
                for kind in Kind::ALL {
                    rewrap_kind(
                        self, ring, linker, now, tenant, kind, batch_size, &mut done, progress,
                    )
                    .await?;
                }
                done.tenants_done += 1;
                progress(done);
            }
        }
        Ok(done)
    }
}

impl<T: Store + ?Sized> StoreExt for T {}

#[allow(clippy::too_many_arguments)]
async fn rewrap_kind<S: Store + ?Sized>(
    store: &S,
    ring: &KeyRing,
    linker: &Arc<dyn AuditLinker>,
    now: Timestamp,
    tenant: TenantId,
    kind: Kind,
    batch_size: usize,
    done: &mut RewrapProgress,
    progress: &mut (dyn FnMut(RewrapProgress) + Send),
) -> Result<()> {
    let active = done.active_key;
    let query = ListQuery::new(kind)
        .sealed_not_under(active)
        .limit(batch_size);
    let mut pages = Pages::rows(store, tenant, query);
    while !pages.is_done() {
        // A row of the page changed meanwhile: read the page again.
        let (page, n) = retry("a row being rewrapped", Race::Conflict, || async {
            let page = pages.current().await?;
            let n = rewrap_page(store, ring, linker, now, tenant, kind, active, &page).await?;
            Ok((page, n))
        })
        .await?;
        if n > 0 {
            done.rows_rewrapped += n;
            progress(*done);
        }
        pages.step(&page);
    }
    Ok(())
}

/// Re-seals the sealed values of `page` in one audited batch; returns how
/// many (none written for an empty page).
#[allow(clippy::too_many_arguments)]
async fn rewrap_page<S: Store + ?Sized>(
    store: &S,
    ring: &KeyRing,
    linker: &Arc<dyn AuditLinker>,
    now: Timestamp,
    tenant: TenantId,
    kind: Kind,
    active: KeyId,
    page: &[Row],
) -> Result<u64> {
    if page.is_empty() {
        return Ok(0);
    }
    let mut batch = Batch::new(
        AuditDraft::new(
            Actor::System,
            "keyring.rewrap",
            format!("tenant/{tenant}"),
            now,
        )
        .detail("kind", kind.as_str())
        .detail("key", active.to_string())
        .detail("rows", page.len().to_string()),
    );
    for row in page {
        let Some(sealed) = &row.sealed else { continue };
        let context = Row::context(tenant, kind, &row.id);
        let resealed = ring.rewrap(sealed, &context).map_err(|e| match e {
            Error::Unauthenticated => Error::Store(format!(
                "sealed value of `{kind}` `{}` could not be authenticated; rewrap stopped",
                row.id
            )),
            other => other,
        })?;
        let mut new_row = row.clone();
        new_row.sealed = Some(resealed);
        batch.push(Change::Update {
            row: new_row,
            expected_version: row.version,
        });
    }
    let n = batch.changes.len() as u64;
    store.apply(tenant, batch, linker).await?;
    Ok(n)
}

fn row_json(tenant: TenantId, row: &Row) -> serde_json::Value {
    let body: serde_json::Value = serde_json::from_slice(&row.body)
        .unwrap_or_else(|_| serde_json::Value::String(B64.encode(&row.body)));
    json!({
        "type": "row",
        "tenant": tenant,
        "kind": row.kind,
        "id": row.id,
        "parent": row.parent,
        "owner": row.owner,
        "lookup": row.lookup.as_deref().map(crate::hex32::hex_string),
        "expires_at": row.expires_at,
        "version": row.version,
        "body": body,
        "sealed": row.sealed.as_deref().map(|s| B64.encode(s)),
    })
}

fn write_line(out: &mut (dyn Write + Send), value: &serde_json::Value) -> Result<()> {
    serde_json::to_writer(&mut *out, value)
        .map_err(|e| Error::Store(format!("export failed: {e}")))?;
    out.write_all(b"\n")
        .map_err(|e| Error::Store(format!("export failed: {e}")))
}
