//! What every store can do through the [`Store`] trait alone, written once:
//! typed reads, tenant export, and online rewrap onto the active key. Their
//! loops page with [`Pages`] and retry lost races with [`retry`].

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::json;
use tokio::io::{AsyncWrite, AsyncWriteExt as _};

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
#[non_exhaustive]
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
    /// `out` is an async writer (a `tokio::fs::File`, `tokio::io::stdout()`,
    /// a socket, a `Vec<u8>`): lines are gathered into chunks of about
    /// 64 KiB, each written with one awaited `write_all`, and `out` is
    /// flushed at the end, so a slow disk or pipe never blocks the runtime's
    /// worker thread.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// # use std::sync::Arc;
    /// # use secrets_core::audit::{Actor, AuditChain, AuditDraft, AuditLinker};
    /// # use secrets_core::crypto::{KeyRing, MasterKey};
    /// # use secrets_core::store::{Batch, Change, Tenant};
    /// # use secrets_core::Timestamp;
    /// use secrets_core::TenantId;
    /// use secrets_core::store::{MemoryStore, Store, StoreExt};
    ///
    /// let store = MemoryStore::new();
    /// # let chain: Arc<dyn AuditLinker> = Arc::new(AuditChain::new(&KeyRing::new(MasterKey::generate()?)));
    /// # let now = Timestamp::from_unix_seconds(1_700_000_000);
    /// # let draft = AuditDraft::new(Actor::System, "tenant.create", "tenant/acme", now);
    /// # let tenant = Tenant::new(TenantId::DEFAULT, "acme", now)?;
    /// # store.apply(TenantId::DEFAULT, Batch::new(draft).with(Change::CreateTenant(tenant)), &chain).await?;
    /// // In a host: tokio::fs::File::create("acme.jsonl").await?
    /// let mut out = Vec::new();
    /// let lines = store.export_jsonl(TenantId::DEFAULT, &mut out).await?;
    /// assert_eq!(lines, 2); // the tenant, and the audit event that created it
    /// let text = String::from_utf8(out).unwrap_or_default();
    /// assert!(text.lines().next().is_some_and(|l| l.contains(r#""type":"tenant""#)));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for an unknown tenant, the store's errors, and
    /// [`Error::Storage`] when `out` fails.
    async fn export_jsonl(
        &self,
        tenant: TenantId,
        out: &mut (dyn AsyncWrite + Unpin + Send),
    ) -> Result<u64> {
        let t = self.tenant(tenant).await?.ok_or_else(|| Error::NotFound {
            what: "tenant".into(),
            id: tenant.to_string(),
        })?;
        let mut lines = JsonLines::new(out);
        lines.push(&json!({"type": "tenant", "tenant": t})).await?;
        for kind in Kind::ALL {
            let mut pages = Pages::rows(self, tenant, ListQuery::new(kind));
            while let Some(page) = pages.next().await? {
                for row in &page {
                    lines.push(&row_json(tenant, row)).await?;
                }
            }
        }
        let mut pages = Pages::events(self, tenant, AuditQuery::default());
        while let Some(page) = pages.next().await? {
            for event in &page {
                lines
                    .push(&json!({"type": "audit", "event": audit_json(event)}))
                    .await?;
            }
        }
        lines.finish().await
    }

    /// For a store used without a [`Vault`](crate::vault::Vault): the
    /// Vault tags every row it writes (a MAC this function cannot compute)
    /// and refuses a row whose tag no longer matches, so a store a Vault
    /// uses is rewrapped with [`Vault::rewrap`](crate::vault::Vault::rewrap).
    ///
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
            Error::Unauthenticated => Error::Corrupt {
                what: kind.as_str(),
                id: row.id.clone(),
                reason: "its sealed value could not be authenticated; rewrap stopped",
            },
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

/// An audit event as the export writes it: its host JSON with `at` in
/// integer milliseconds, the stored form (hosts see RFC 3339; the export
/// keeps the format docs/FORMATS.md gives it).
fn audit_json(event: &crate::audit::AuditRecord) -> serde_json::Value {
    let mut v = json!(event);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("at".to_owned(), json!(event.event.at.unix_millis()));
    }
    v
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

/// About how many bytes of lines [`StoreExt::export_jsonl`] gathers before
/// each write: few enough awaits for a file, little enough memory.
const EXPORT_CHUNK: usize = 64 * 1024;

/// JSON lines gathered into chunks of [`EXPORT_CHUNK`] bytes (more when one
/// line is longer), each written to `out` with one awaited `write_all`.
struct JsonLines<'a> {
    out: &'a mut (dyn AsyncWrite + Unpin + Send),
    buf: Vec<u8>,
    count: u64,
}

impl<'a> JsonLines<'a> {
    fn new(out: &'a mut (dyn AsyncWrite + Unpin + Send)) -> Self {
        Self {
            out,
            buf: Vec::with_capacity(EXPORT_CHUNK),
            count: 0,
        }
    }

    async fn push(&mut self, value: &serde_json::Value) -> Result<()> {
        serde_json::to_writer(&mut self.buf, value).map_err(export_failed)?;
        self.buf.push(b'\n');
        self.count += 1;
        if self.buf.len() >= EXPORT_CHUNK {
            self.write_buf().await?;
        }
        Ok(())
    }

    async fn write_buf(&mut self) -> Result<()> {
        self.out.write_all(&self.buf).await.map_err(export_failed)?;
        self.buf.clear();
        Ok(())
    }

    /// Writes what is left, flushes `out`, and returns the number of lines.
    async fn finish(mut self) -> Result<u64> {
        self.write_buf().await?;
        self.out.flush().await.map_err(export_failed)?;
        Ok(self.count)
    }
}

fn export_failed(e: impl std::fmt::Display) -> Error {
    Error::storage(format!("export failed: {e}"))
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt as _;

    use super::*;
    use crate::audit::AuditChain;
    use crate::crypto::MasterKey;
    use crate::store::records::SettingSecret;
    use crate::store::{MemoryStore, Tenant};

    /// The export goes through a 64-byte pipe whose reader runs on the same
    /// single thread: it finishes only if every write that fills the pipe
    /// yields to the reader instead of blocking the thread.
    #[tokio::test(flavor = "current_thread")]
    async fn export_streams_through_a_small_pipe_on_one_thread() {
        let store = MemoryStore::new();
        let ring = KeyRing::new(MasterKey::from_array([7; 32]));
        let chain: Arc<dyn AuditLinker> = Arc::new(AuditChain::new(&ring));
        let now = Timestamp::from_unix_seconds(1_700_000_000);
        let tenant = TenantId::generate();
        let draft = |action: &str| AuditDraft::new(Actor::System, action, "test", now);
        store
            .apply(
                tenant,
                Batch::new(draft("tenant.create")).with(Change::CreateTenant(
                    Tenant::new(tenant, "acme", now).unwrap(),
                )),
                &chain,
            )
            .await
            .unwrap();
        // More rows than one page and more bytes than one chunk.
        let rows = MAX_PAGE + 10;
        let mut batch = Batch::new(draft("setting.set"));
        for i in 0..rows {
            let record = SettingSecret {
                name: format!("provider/p{i:04}"),
                updated_by: Actor::System,
                updated_at: now,
            };
            let sealed = ring
                .seal(
                    &[0x42; 64],
                    &Row::context(tenant, Kind::SettingSecret, &record.name),
                )
                .unwrap();
            batch.push(Change::Insert(record.to_row(Some(sealed)).unwrap()));
            if batch.changes.len() == crate::store::MAX_BATCH {
                store.apply(tenant, batch, &chain).await.unwrap();
                batch = Batch::new(draft("setting.set"));
            }
        }
        if !batch.changes.is_empty() {
            store.apply(tenant, batch, &chain).await.unwrap();
        }

        let (mut writer, mut reader) = tokio::io::duplex(64);
        let read = tokio::spawn(async move {
            let mut text = String::new();
            reader.read_to_string(&mut text).await.unwrap();
            text
        });
        let lines = store.export_jsonl(tenant, &mut writer).await.unwrap();
        drop(writer);
        let text = read.await.unwrap();

        assert!(text.len() > EXPORT_CHUNK, "{} bytes", text.len());
        let parsed: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(parsed.len() as u64, lines);
        assert_eq!(parsed[0]["type"], "tenant");
        let row_lines = parsed.iter().filter(|v| v["type"] == "row").count();
        assert_eq!(row_lines, rows);
        assert!(parsed.last().is_some_and(|v| v["type"] == "audit"));
    }
}
