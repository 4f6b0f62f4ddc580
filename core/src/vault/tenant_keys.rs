//! Tenant data keys: every tenant's values are sealed under keys of its own,
//! so that erasing the tenant can destroy them (crypto-erasure).
//!
//! For each ring key id *n* a tenant that seals anything under *n* gets a
//! random 256-bit key, created on its first seal and stored in the
//! tenant's `tenant_key` row *n*, sealed by the ring (so it is rotated and
//! rekeyed with the ring). The tenant's values are version-2 envelopes
//! under that key (`docs/FORMATS.md`, "Tenant keys").
//!
//! Where the rows live decides what an erase reaches:
//!
//! - in the data store (the default, [`Vault::new`]): the erase deletes the
//!   keys in the same write as the rest of the tenant, so the live store
//!   (SQLite with `secure_delete`) holds nothing that opens the tenant's
//!   values; a backup taken before the erase still holds the sealed key;
//! - in a separate key store ([`Vault::with_key_store`]): the erase deletes
//!   them there too, so a backup of the data store taken before the erase
//!   no longer opens the tenant's values with the key material in force,
//!   as long as the key store's own backups are kept no longer than the
//!   erasure promise (`docs/THREAT_MODEL.md`).
//!
//! Keys are cached per process. An erase is final: a process that still
//! writes to a tenant erased elsewhere seals under a key that no longer
//! exists, and those values are lost with the tenant.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use crate::clock::Timestamp;

use crate::crypto::{KeyId, TenantKey, random_bytes};
use crate::error::{Error, Result};
use crate::id::TenantId;
use crate::store::page::Pages;
use crate::store::{Batch, Change, Kind, ListQuery, Row, Store, Tenant};
use crate::vault::Vault;

/// Keys held in memory, at most; past it the cache starts again empty.
const CACHE_LIMIT: usize = 65_536;

/// Reads and creations of one tenant key before giving up on a race.
const CREATE_ATTEMPTS: u32 = 4;

/// Where the tenant keys live, and those this process has opened.
pub(super) struct TenantKeys {
    /// The separate key store, if the host gave one; else the data store.
    home: Option<Arc<dyn Store>>,
    cache: RwLock<HashMap<(TenantId, KeyId), Cached>>,
}

/// A tenant key this process opened, the sealed bytes it came from, and
/// when it last checked them against the store.
struct Cached {
    key: Arc<TenantKey>,
    sealed: Vec<u8>,
    checked: Timestamp,
}

/// How long (on the vault's clock) a cached key seals before its row is
/// read again: bounds how long a process keeps sealing under a key erased
/// (and maybe re-created) by another process.
const REVALIDATE: Duration = Duration::from_secs(30);

impl TenantKeys {
    pub(super) fn new(home: Option<Arc<dyn Store>>) -> Self {
        Self {
            home,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// The separate key store, if there is one.
    pub(super) fn separate(&self) -> Option<&Arc<dyn Store>> {
        self.home.as_ref()
    }

    /// The cached key, if any, and whether it was checked within
    /// [`REVALIDATE`] of `now`.
    fn cached(
        &self,
        tenant: TenantId,
        id: KeyId,
        now: Timestamp,
    ) -> Option<(Arc<TenantKey>, bool)> {
        let cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
        cache.get(&(tenant, id)).map(|c| {
            let recent = now < c.checked.saturating_add(REVALIDATE) && c.checked <= now;
            (Arc::clone(&c.key), recent)
        })
    }

    /// Whether the cached key of (`tenant`, `id`) came from `sealed`; if
    /// so it counts as checked now.
    fn confirm(&self, tenant: TenantId, id: KeyId, sealed: &[u8], now: Timestamp) -> bool {
        let mut cache = self.cache.write().unwrap_or_else(PoisonError::into_inner);
        match cache.get_mut(&(tenant, id)) {
            Some(c) if c.sealed == sealed => {
                c.checked = now;
                true
            }
            _ => false,
        }
    }

    fn remember(&self, tenant: TenantId, key: &Arc<TenantKey>, sealed: &[u8], now: Timestamp) {
        let mut cache = self.cache.write().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        let entry = Cached {
            key: Arc::clone(key),
            sealed: sealed.to_vec(),
            checked: now,
        };
        cache.insert((tenant, key.id()), entry);
    }

    fn forget_one(&self, tenant: TenantId, id: KeyId) {
        let mut cache = self.cache.write().unwrap_or_else(PoisonError::into_inner);
        cache.remove(&(tenant, id));
    }

    /// Drops every key of `tenant` this process holds (after its erase).
    pub(super) fn forget(&self, tenant: TenantId) {
        let mut cache = self.cache.write().unwrap_or_else(PoisonError::into_inner);
        cache.retain(|(t, _), _| *t != tenant);
    }

    /// Deletes `tenant`'s keys from the separate key store, if there is
    /// one (the data store's go with the tenant's erase), and forgets them;
    /// whether the key store held any.
    ///
    /// # Errors
    ///
    /// The key store's errors.
    pub(super) async fn erase(&self, tenant: TenantId) -> Result<bool> {
        self.forget(tenant);
        let erased = match &self.home {
            Some(home) => match home.erase_tenant(tenant).await {
                Ok(()) => true,
                Err(Error::NotFound { .. }) => false,
                Err(e) => return Err(e),
            },
            None => false,
        };
        // Again: a seal racing the erase may have cached a key meanwhile.
        self.forget(tenant);
        Ok(erased)
    }
}

/// Data-store setting: where its tenant keys live (`store`, or
/// `key-store:<id>` naming the key store).
pub(super) const TENANT_KEYS_META: &str = "tenant_keys";
/// Data-store setting: the store's random id (what its key store names).
const STORE_ID_META: &str = "store_id";
/// Key-store setting: the key store's random id.
const KEY_STORE_ID_META: &str = "key_store_id";
/// Key-store setting: the id of the one data store it serves.
const KEY_STORE_OF_META: &str = "key_store_of";

/// Binds `data` to where its tenant keys live, at the first open, and
/// refuses every later open that names another place: a process started
/// without the key store (or with another one, or a key store shared by
/// two data stores) would otherwise create keys the others cannot find.
///
/// # Errors
///
/// [`Error::InvalidInput`] naming the mismatch; the stores' errors.
pub(super) async fn bind(data: &dyn Store, keys: Option<&dyn Store>) -> Result<()> {
    let mode = match keys {
        None => "store".to_owned(),
        Some(keys) => {
            let data_id = random_id(data, STORE_ID_META).await?;
            let served = settle(keys, KEY_STORE_OF_META, data_id.as_bytes()).await?;
            if served != data_id.as_bytes() {
                return Err(Error::invalid(
                    "key store",
                    "serves another store: each store needs a key store of its own",
                ));
            }
            format!("key-store:{}", random_id(keys, KEY_STORE_ID_META).await?)
        }
    };
    let bound = settle(data, TENANT_KEYS_META, mode.as_bytes()).await?;
    if bound == mode.as_bytes() {
        return Ok(());
    }
    Err(Error::invalid(
        "key store",
        match (keys.is_some(), bound.starts_with(b"key-store:")) {
            (false, _) => {
                "this store keeps its tenant keys in a key store: open it with that key store (Vault::with_key_store, --key-store)"
            }
            (true, false) => {
                "this store keeps its tenant keys in itself: open it without a key store (moving them to one is not built)"
            }
            (true, true) => "this store keeps its tenant keys in another key store",
        },
    ))
}

/// The value of setting `name`, set to `value` if it had none.
async fn settle(store: &dyn Store, name: &str, value: &[u8]) -> Result<Vec<u8>> {
    if let Some(v) = store.meta(name).await? {
        return Ok(v);
    }
    if store.set_meta(name, value, None).await? {
        return Ok(value.to_vec());
    }
    // Another process set it first.
    store.meta(name).await?.ok_or_else(|| Error::Corrupt {
        what: "setting",
        id: name.to_owned(),
        reason: "it was set and is gone",
    })
}

/// The store's random id in setting `name`, made at the first call.
async fn random_id(store: &dyn Store, name: &str) -> Result<String> {
    let fresh = uuid::Uuid::from_bytes(*random_bytes::<16>()?)
        .simple()
        .to_string();
    let id = settle(store, name, fresh.as_bytes()).await?;
    String::from_utf8(id).map_err(|_| Error::Corrupt {
        what: "setting",
        id: name.to_owned(),
        reason: "it is not text",
    })
}

impl Vault {
    /// The store that holds the tenant keys.
    fn key_home(&self) -> &dyn Store {
        match &self.inner.tenant_keys.home {
            Some(home) => &**home,
            None => &*self.inner.store,
        }
    }

    /// The key that seals `tenant`'s values now: its key of the ring's
    /// active id, created (and stored, audited) on first use.
    pub(super) async fn sealing_key(&self, tenant: TenantId) -> Result<Arc<TenantKey>> {
        let id = self.inner.ring.active_key_id();
        let keys = &self.inner.tenant_keys;
        let now = self.now();
        match keys.cached(tenant, id, now) {
            Some((key, true)) => return Ok(key),
            // Checked long ago: the row must still be the one it came from
            // (an erase elsewhere may have destroyed it since).
            Some((key, false)) => {
                let row = self
                    .key_home()
                    .get(tenant, Kind::TenantKey, &id.to_string())
                    .await?;
                if row
                    .and_then(|r| r.sealed)
                    .is_some_and(|sealed| keys.confirm(tenant, id, &sealed, now))
                {
                    return Ok(key);
                }
                keys.forget_one(tenant, id);
            }
            None => {}
        }
        for _ in 0..CREATE_ATTEMPTS {
            if let Some(key) = self.load_tenant_key(tenant, id).await? {
                return Ok(key);
            }
            if let Some(key) = self.create_tenant_key(tenant, id).await? {
                return Ok(key);
            }
        }
        Err(Error::Contended {
            what: "the tenant key",
        })
    }

    /// `tenant`'s key of ring key id `id`, to open a value with.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] (`tenant_key`) if it does not exist: destroyed
    /// by the tenant's erase, or kept in a key store this vault was not
    /// given; the ring's errors opening it.
    pub(super) async fn opening_key(&self, tenant: TenantId, id: KeyId) -> Result<Arc<TenantKey>> {
        if let Some((key, _)) = self.inner.tenant_keys.cached(tenant, id, self.now()) {
            return Ok(key);
        }
        self.load_tenant_key(tenant, id)
            .await?
            .ok_or_else(|| Error::Corrupt {
                what: "tenant_key",
                id: format!("{tenant}/{id}"),
                reason: "it does not exist: destroyed by the tenant's erase, or kept in a key store this vault was not given",
            })
    }

    async fn load_tenant_key(&self, tenant: TenantId, id: KeyId) -> Result<Option<Arc<TenantKey>>> {
        let row_id = id.to_string();
        let Some(row) = self
            .key_home()
            .get(tenant, Kind::TenantKey, &row_id)
            .await?
        else {
            return Ok(None);
        };
        let sealed = row.sealed.as_deref().ok_or_else(|| Error::Corrupt {
            what: "tenant_key",
            id: format!("{tenant}/{id}"),
            reason: "it has no sealed value",
        })?;
        let bytes = self
            .inner
            .ring
            .open(sealed, &Row::context(tenant, Kind::TenantKey, &row_id))?;
        let bytes: &[u8; 32] = bytes
            .expose_secret()
            .try_into()
            .map_err(|_| Error::Corrupt {
                what: "tenant_key",
                id: format!("{tenant}/{id}"),
                reason: "it is not 32 bytes",
            })?;
        let key = Arc::new(TenantKey::new(bytes, id));
        self.inner
            .tenant_keys
            .remember(tenant, &key, sealed, self.now());
        Ok(Some(key))
    }

    /// Opens `sealed` (a version-2 envelope of key id `id`) for `context`:
    /// with the cached key, and if that fails, once more with the key read
    /// again (another process may have replaced it since).
    pub(super) async fn open_with_tenant_key(
        &self,
        tenant: TenantId,
        id: KeyId,
        sealed: &[u8],
        context: &crate::crypto::Context,
    ) -> Result<crate::secret::SecretBytes> {
        let keys = &self.inner.tenant_keys;
        let Some((cached, _)) = keys.cached(tenant, id, self.now()) else {
            return self.opening_key(tenant, id).await?.open(sealed, context);
        };
        match cached.open(sealed, context) {
            Err(Error::Unauthenticated) => {
                keys.forget_one(tenant, id);
                self.opening_key(tenant, id).await?.open(sealed, context)
            }
            other => other,
        }
    }

    /// Creates `tenant`'s key of id `id`; `None` if another writer's
    /// creation (of this key, or of the tenant's mirror in the key store)
    /// came first: read it again.
    async fn create_tenant_key(
        &self,
        tenant: TenantId,
        id: KeyId,
    ) -> Result<Option<Arc<TenantKey>>> {
        let bytes = random_bytes::<32>()?;
        let row_id = id.to_string();
        let mut row = Row::new(Kind::TenantKey, row_id.clone(), Vec::new());
        let sealed = self
            .inner
            .ring
            .seal(&*bytes, &Row::context(tenant, Kind::TenantKey, &row_id))?;
        row.sealed = Some(sealed.clone());
        let home = self.key_home();
        let mut batch =
            Batch::new(self.system_draft("tenant_key.created", format!("tenant_key/{id}")));
        if self.inner.tenant_keys.separate().is_some() && home.tenant(tenant).await?.is_none() {
            // The key store mirrors the tenant (a record of its own), so
            // that the erase removes it there as here.
            let name = tenant.to_string();
            batch.push(Change::CreateTenant(Tenant::new(tenant, name, self.now())?));
        }
        batch.push(Change::Insert(row));
        match home.apply(tenant, batch, &self.inner.linker).await {
            Ok(_) => {
                let key = Arc::new(TenantKey::new(&bytes, id));
                self.inner
                    .tenant_keys
                    .remember(tenant, &key, &sealed, self.now());
                Ok(Some(key))
            }
            Err(Error::AlreadyExists { .. } | Error::Conflict { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Destroys `tenant`'s keys of the ids below `below` (those of a
    /// master a rekey replaced, once no value is sealed under them), in one
    /// audited write; returns how many.
    pub(super) async fn destroy_tenant_keys_below(
        &self,
        tenant: TenantId,
        below: KeyId,
    ) -> Result<u64> {
        let home = self.key_home();
        let mut batch = Batch::new(
            self.system_draft("tenant_key.destroyed", format!("tenant_key/below/{below}")),
        );
        let mut pages = Pages::rows(home, tenant, ListQuery::new(Kind::TenantKey));
        while let Some(page) = pages.next().await? {
            for row in page {
                let old = row
                    .id
                    .parse::<u32>()
                    .ok()
                    .and_then(KeyId::new)
                    .is_some_and(|id| id < below);
                if old {
                    batch.push(Change::Delete {
                        kind: Kind::TenantKey,
                        id: row.id,
                        expected_version: Some(row.version),
                    });
                }
            }
        }
        let n = batch.changes.len() as u64;
        if n > 0 {
            batch.audit = batch.audit.detail("keys", n.to_string());
            home.apply(tenant, batch, &self.inner.linker).await?;
            self.inner.tenant_keys.forget(tenant);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use crate::crypto::{KeyRing, MasterKey};

    /// The vectors of an independent Python implementation
    /// (`core/tests/data/make_tenant_key_vectors.py`).
    #[test]
    fn published_vectors_open() {
        let file: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/data/tenant_keys_v2.json")).unwrap();
        let tests = file["tests"].as_array().unwrap();
        assert_eq!(tests.len(), 2);
        for t in tests {
            let name = t["name"].as_str().unwrap();
            let hex = |k: &str| hex::decode(t[k].as_str().unwrap()).unwrap();
            let text = |k: &str| t[k].as_str().unwrap();
            let tenant: TenantId = text("tenant").parse().unwrap();
            let id = KeyId::new(u32::try_from(t["key_id"].as_u64().unwrap()).unwrap()).unwrap();
            let kind = Kind::parse(text("kind")).unwrap();
            let ring =
                KeyRing::with_active(MasterKey::from_bytes(&hex("master_key_hex")).unwrap(), id);

            let key_context = Row::context(tenant, Kind::TenantKey, &id.to_string());
            let key = ring
                .open(&hex("tenant_key_row_sealed_hex"), &key_context)
                .unwrap();
            assert_eq!(key.expose_secret(), hex("tenant_key_hex"), "{name}");
            let key = TenantKey::new(key.expose_secret().try_into().unwrap(), id);

            let sealed = hex("sealed_hex");
            let context = Row::context(tenant, kind, text("row_id"));
            let opened = key.open(&sealed, &context).unwrap();
            assert_eq!(opened.expose_secret(), hex("plaintext_hex"), "{name}");
            // Bound to its row, its key id and its version.
            let elsewhere = Row::context(tenant, kind, "other");
            assert!(matches!(
                key.open(&sealed, &elsewhere),
                Err(Error::Unauthenticated)
            ));
            let mut relabelled = sealed.clone();
            relabelled[0] = 1;
            assert!(matches!(
                key.open(&relabelled, &context),
                Err(Error::Unauthenticated)
            ));
            assert!(ring.open(&relabelled, &context).is_err(), "{name}");
            assert!(matches!(
                ring.open(&sealed, &context),
                Err(Error::InvalidInput { .. })
            ));

            // And what Rust seals, the same key opens (fresh nonce each time).
            let again = key.seal(&ring, b"round trip", &context).unwrap();
            assert_eq!(again[0], 2);
            assert_eq!(&again[1..5], &id.get().to_be_bytes());
            assert_eq!(
                key.open(&again, &context).unwrap().expose_secret(),
                b"round trip"
            );
        }
    }
}
