//! Column conversions shared by the SQL backends: what a stored integer
//! means, and the error for a value that cannot be what it must be.

use crate::error::{Error, Result};
use crate::id::TenantId;
use crate::store::{MAX_PAGE, Tenant};

/// A stored value that does not parse as what it must be.
pub(crate) fn corrupt(what: &str) -> Error {
    Error::storage(format!(
        "the database holds a malformed {what}; restore it from a backup"
    ))
}

/// A stored (signed) version as the row version it is.
pub(crate) fn version_from(v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| corrupt("version"))
}

/// A row version as the signed 64-bit integer SQL stores; `database` names
/// the backend in the (theoretical) error.
pub(crate) fn version_to(v: u64, database: &str) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::storage(format!("a version outgrew {database}")))
}

/// A page size as a SQL `LIMIT`, never over [`MAX_PAGE`].
pub(crate) fn limit(n: usize) -> i64 {
    i64::try_from(n.min(MAX_PAGE)).unwrap_or(i64::MAX)
}

/// A stored row tag (`NULL` before the tagging pass) as its 32 bytes.
pub(crate) fn tag_from(tag: Option<Vec<u8>>) -> Result<Option<[u8; 32]>> {
    tag.map(|t| <[u8; 32]>::try_from(t).map_err(|_| corrupt("row tag")))
        .transpose()
}

/// The tenant record `id` from its stored version and JSON body.
pub(crate) fn decode_tenant(id: TenantId, version: i64, body: &[u8]) -> Result<Tenant> {
    let mut t: Tenant = serde_json::from_slice(body).map_err(|_| corrupt("tenant record"))?;
    if t.id != id {
        return Err(corrupt("tenant record"));
    }
    t.version = version_from(version)?;
    Ok(t)
}
