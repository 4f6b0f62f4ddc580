//! Row plumbing shared by every area of the Vault: sealing a value for its
//! row, opening it again, moving it to another kind, and writing a row
//! whether or not it exists yet.

use crate::crypto::{Envelope, TENANT_ENVELOPE_VERSION};
use crate::error::{Error, Result};
use crate::id::TenantId;
use crate::secret::SecretBytes;
use crate::store::{Change, Kind, Row, Stored};
use crate::vault::Vault;

impl Vault {
    /// Seals `value` for the row (tenant, kind, id), under the tenant's
    /// data key of the ring's active id (see `tenant_keys`).
    pub(super) async fn seal_row(
        &self,
        tenant: TenantId,
        kind: Kind,
        id: &str,
        value: &[u8],
    ) -> Result<Vec<u8>> {
        let key = self.sealing_key(tenant).await?;
        key.seal(&self.inner.ring, value, &Row::context(tenant, kind, id))
    }

    /// Opens the sealed value of the row (tenant, kind, id): a version-2
    /// envelope with the tenant's data key of its id, one written before
    /// tenant keys (version 1) with the ring.
    pub(super) async fn open_row(
        &self,
        tenant: TenantId,
        kind: Kind,
        id: &str,
        sealed: Option<&[u8]>,
    ) -> Result<SecretBytes> {
        let sealed = sealed.ok_or_else(|| Error::Corrupt {
            what: kind.as_str(),
            id: id.to_owned(),
            reason: "it has no sealed value",
        })?;
        let context = Row::context(tenant, kind, id);
        let envelope = Envelope::parse(sealed)?;
        if envelope.version() == TENANT_ENVELOPE_VERSION {
            self.open_with_tenant_key(tenant, envelope.key_id(), sealed, &context)
                .await
        } else {
            self.inner.ring.open(sealed, &context)
        }
    }

    /// Re-seals a row's value for another kind (its context changes with it).
    pub(super) async fn move_sealed<R>(
        &self,
        tenant: TenantId,
        from: Kind,
        to: Kind,
        id: &str,
        stored: &Stored<R>,
    ) -> Result<Vec<u8>> {
        let value = self
            .open_row(tenant, from, id, stored.sealed.as_deref())
            .await?;
        self.seal_row(tenant, to, id, value.expose_secret()).await
    }

    /// An insert, or an update of the current version if the row exists.
    pub(super) async fn upsert(&self, tenant: TenantId, row: Row) -> Result<Change> {
        Ok(
            match self.inner.store.get(tenant, row.kind, &row.id).await? {
                None => Change::Insert(row),
                Some(existing) => Change::Update {
                    row,
                    expected_version: existing.version,
                },
            },
        )
    }
}
