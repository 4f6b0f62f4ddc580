//! Row plumbing shared by every area of the Vault: sealing a value for its
//! row, opening it again, moving it to another kind, and writing a row
//! whether or not it exists yet.

use crate::error::{Error, Result};
use crate::id::TenantId;
use crate::secret::SecretBytes;
use crate::store::{Change, Kind, Row, Stored};
use crate::vault::Vault;

impl Vault {
    /// Seals `value` for the row (tenant, kind, id).
    pub(super) fn seal_row(
        &self,
        tenant: TenantId,
        kind: Kind,
        id: &str,
        value: &[u8],
    ) -> Result<Vec<u8>> {
        self.inner.ring.seal(value, &Row::context(tenant, kind, id))
    }

    /// Opens the sealed value of the row (tenant, kind, id).
    pub(super) fn open_row(
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
        self.inner
            .ring
            .open(sealed, &Row::context(tenant, kind, id))
    }

    /// Re-seals a row's value for another kind (its context changes with it).
    pub(super) fn move_sealed<R>(
        &self,
        tenant: TenantId,
        from: Kind,
        to: Kind,
        id: &str,
        stored: &Stored<R>,
    ) -> Result<Vec<u8>> {
        let value = self.open_row(tenant, from, id, stored.sealed.as_deref())?;
        self.seal_row(tenant, to, id, value.expose_secret())
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
