//! Versioned data keys derived from one master key: exactly one active key
//! seals, every known key opens, and rotation adds a key without downtime.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use hmac::Mac;
use zeroize::Zeroizing;

use crate::crypto::aead::AeadKey;
use crate::crypto::{KdfParams, MasterKey};
use crate::error::{Error, Result};
use crate::secret::SecretString;

/// After this many seals [`KeyRing::needs_rotation`] says to rotate: a quarter
/// of the [`SEAL_LIMIT`], so there is ample time to act.
pub const ROTATE_AFTER: u64 = 1 << 30;

/// The most values one key may seal. With random 96-bit nonces the chance of
/// a repeated nonce stays below 2^-32 up to 2^32 seals (NIST SP 800-38D,
/// section 8.3); past it [`KeyRing::seal`] refuses with
/// [`Error::KeyExhausted`].
pub const SEAL_LIMIT: u64 = 1 << 32;

/// The highest key id a ring accepts; every id from 1 up to the active one is
/// derived at load, so this bounds the work of a load.
pub const MAX_KEY_ID: u32 = 65_535;

const DATA_KEY_LABEL: &[u8] = b"secrets-core/v1/data-key";
const SUBKEY_LABEL: &[u8] = b"secrets-core/v1/subkey/";

/// The number of a data key, written into every envelope it seals. Ids start
/// at 1 and grow by one at each rotation.
///
/// ```
/// use secrets_core::crypto::KeyId;
///
/// assert_eq!(KeyId::new(3).map(KeyId::get), Some(3));
/// assert!(KeyId::new(0).is_none());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct KeyId(u32);

impl KeyId {
    /// The first key of every ring.
    pub const FIRST: Self = Self(1);

    /// A key id, if `id` is in `1..=MAX_KEY_ID`.
    #[must_use]
    pub fn new(id: u32) -> Option<Self> {
        (1..=MAX_KEY_ID).contains(&id).then_some(Self(id))
    }

    /// The number.
    #[must_use]
    pub fn get(self) -> u32 {
        self.0
    }

    /// The id after this one: what a rotation (or a rekey's first key)
    /// takes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] past [`MAX_KEY_ID`].
    pub(crate) fn next(self) -> Result<Self> {
        self.0.checked_add(1).and_then(Self::new).ok_or_else(|| {
            Error::invalid(
                "key ring",
                format!("already holds {MAX_KEY_ID} keys, the most it can"),
            )
        })
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One data key and the count of values it sealed.
pub(crate) struct Slot {
    pub(crate) key: AeadKey,
    sealed: AtomicU64,
}

impl Slot {
    /// Counts one seal, refusing once the key is exhausted.
    pub(crate) fn reserve_seal(&self, id: KeyId) -> Result<()> {
        let previous = self.sealed.fetch_add(1, Ordering::Relaxed);
        if previous >= SEAL_LIMIT {
            // Undo, so the count keeps meaning "values sealed".
            self.sealed.fetch_sub(1, Ordering::Relaxed);
            return Err(Error::KeyExhausted {
                key_id: id.get(),
                sealed: previous,
            });
        }
        Ok(())
    }
}

struct Keys {
    slots: BTreeMap<KeyId, Arc<Slot>>,
    active: KeyId,
    /// The lowest id derived from the current master; ids below it (while
    /// a rekey is in progress) are the retiring master's.
    base: KeyId,
}

/// The keys that seal and open [envelopes](crate::crypto::Envelope).
///
/// Data key *n* is `HMAC-SHA256(master key, "secrets-core/v1/data-key" ||
/// u32_be(n))` (see `docs/FORMATS.md`), derived once when the ring is built or
/// rotated, never per value. The host keeps only the master key and the
/// number of the active key; [`KeyRing::with_active`] rebuilds the ring from
/// them.
///
/// A `KeyRing` is `Send + Sync`: share one behind an `Arc`. Rotation takes
/// `&self`, so it happens while other tasks seal and open.
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::crypto::{Context, KeyRing, MasterKey};
///
/// let ring = KeyRing::new(MasterKey::generate()?);
/// let ctx = Context::new(["tenant-1", "provider_key", "openai"]);
/// let sealed = ring.seal(b"sk-live-123", &ctx)?;
/// assert_eq!(ring.open(&sealed, &ctx)?.expose_secret(), b"sk-live-123");
///
/// let new_id = ring.rotate()?;
/// let rewrapped = ring.rewrap(&sealed, &ctx)?; // now under `new_id`
/// assert_eq!(ring.open(&rewrapped, &ctx)?.expose_secret(), b"sk-live-123");
/// assert!(ring.open(&sealed, &ctx).is_ok()); // the old key still opens
/// # let _ = new_id;
/// # Ok(()) }
/// ```
pub struct KeyRing {
    master: Arc<MasterKey>,
    /// The master being replaced, while a rekey is in progress: it opens,
    /// it never seals (see [`KeyRing::with_retiring`]).
    retiring: RwLock<Option<Arc<MasterKey>>>,
    keys: RwLock<Keys>,
}

impl KeyRing {
    /// A ring whose only key, id 1, is active.
    #[must_use]
    pub fn new(master: MasterKey) -> Self {
        let first = Arc::new(derive_slot(&master, KeyId::FIRST));
        Self {
            master: Arc::new(master),
            retiring: RwLock::new(None),
            keys: RwLock::new(Keys {
                slots: BTreeMap::from([(KeyId::FIRST, first)]),
                active: KeyId::FIRST,
                base: KeyId::FIRST,
            }),
        }
    }

    /// A ring holding keys 1 to `active`, with `active` sealing: what a host
    /// loads after earlier rotations.
    #[must_use]
    pub fn with_active(master: MasterKey, active: KeyId) -> Self {
        let slots = (1..=active.get())
            .map(|n| {
                let id = KeyId(n);
                (id, Arc::new(derive_slot(&master, id)))
            })
            .collect();
        Self {
            master: Arc::new(master),
            retiring: RwLock::new(None),
            keys: RwLock::new(Keys {
                slots,
                active,
                base: KeyId::FIRST,
            }),
        }
    }

    /// This ring, holding also `retiring`: the master key being replaced by
    /// a rekey ([`Vault::rekey`](crate::vault::Vault::rekey)). Build the
    /// ring of the *new* master, add the old one here, and open the vault
    /// with it: the vault then begins (or resumes) the rekey, opening what
    /// the old master sealed and sealing only under the new one. The key
    /// ids of both are set from the store when the vault opens; after the
    /// rekey the old master is dropped and refused.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::crypto::{KeyRing, MasterKey};
    ///
    /// let ring = KeyRing::new(MasterKey::generate()?).with_retiring(MasterKey::generate()?);
    /// assert!(ring.is_rekeying());
    /// assert!(!KeyRing::new(MasterKey::generate()?).is_rekeying());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn with_retiring(self, retiring: MasterKey) -> Self {
        *self
            .retiring
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(retiring));
        self
    }

    /// Whether this ring holds a retiring master (a rekey is under way).
    #[must_use]
    pub fn is_rekeying(&self) -> bool {
        self.retiring_master().is_some()
    }

    /// The current master.
    pub(crate) fn master_arc(&self) -> Arc<MasterKey> {
        Arc::clone(&self.master)
    }

    /// The retiring master, if any.
    pub(crate) fn retiring_master(&self) -> Option<Arc<MasterKey>> {
        self.retiring
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sets the ring's ids from the store's key state: the current master's
    /// keys `base..=active` and, while `retiring` is given, the retiring
    /// master's keys `retiring.0..=retiring.1`. Seal counts start again
    /// (they are restored with [`KeyRing::record_sealed`]).
    pub(crate) fn configure(&self, base: KeyId, active: KeyId, retiring: Option<(KeyId, KeyId)>) {
        let old = self.retiring_master();
        let mut slots = BTreeMap::new();
        if let (Some(old), Some((first, last))) = (old.as_deref(), retiring) {
            for n in first.get()..=last.get() {
                let id = KeyId(n);
                slots.insert(id, Arc::new(derive_slot(old, id)));
            }
        }
        for n in base.get()..=active.get() {
            let id = KeyId(n);
            slots.insert(id, Arc::new(derive_slot(&self.master, id)));
        }
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        *keys = Keys {
            slots,
            active,
            base,
        };
    }

    /// Adds keys up to `active` (derived from the current master) and makes
    /// it the one that seals, if it is newer than the active one: what
    /// another process rotated to.
    pub(crate) fn advance_to(&self, active: KeyId) {
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        if active <= keys.active {
            return;
        }
        for n in keys.active.get().saturating_add(1)..=active.get() {
            let id = KeyId(n);
            keys.slots
                .insert(id, Arc::new(derive_slot(&self.master, id)));
        }
        keys.active = active;
    }

    /// Forgets the retiring master and its keys: the rekey is complete.
    pub(crate) fn drop_retiring(&self) {
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        let base = keys.base;
        keys.slots.retain(|id, _| *id >= base);
        drop(keys);
        *self
            .retiring
            .write()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// The lowest key id of the current master.
    pub(crate) fn base_key_id(&self) -> KeyId {
        self.read().base
    }

    /// A ring (key 1 active) from a passphrase stretched with `params`. Slow by
    /// design: do it once at start-up, off any async worker thread.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty passphrase.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::SecretString;
    /// use secrets_core::crypto::{KdfParams, KeyRing, MIN_ITERATIONS};
    ///
    /// let params = KdfParams::generate_with_iterations(MIN_ITERATIONS)?; // store these
    /// let ring = KeyRing::from_passphrase(&SecretString::from("a long passphrase"), &params)?;
    /// assert_eq!(ring.active_key_id().get(), 1);
    /// # Ok(()) }
    /// ```
    pub fn from_passphrase(passphrase: &SecretString, params: &KdfParams) -> Result<Self> {
        Ok(Self::new(params.derive(passphrase)?))
    }

    /// The id of the key that seals.
    #[must_use]
    pub fn active_key_id(&self) -> KeyId {
        self.read().active
    }

    /// Every key id this ring can open, ascending.
    #[must_use]
    pub fn key_ids(&self) -> Vec<KeyId> {
        self.read().slots.keys().copied().collect()
    }

    /// Adds the next key and makes it the one that seals. Envelopes sealed
    /// under older keys still open; [`KeyRing::rewrap`] moves them over.
    /// Record the returned id: it is what [`KeyRing::with_active`] needs.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] once [`MAX_KEY_ID`] is reached.
    pub fn rotate(&self) -> Result<KeyId> {
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        let next = keys.active.next()?;
        let slot = Arc::new(derive_slot(&self.master, next));
        keys.slots.insert(next, slot);
        keys.active = next;
        Ok(next)
    }

    /// How many values key `id` has sealed (in this process, plus what
    /// [`KeyRing::record_sealed`] restored); `None` for an unknown key.
    #[must_use]
    pub fn sealed_count(&self, id: KeyId) -> Option<u64> {
        self.read()
            .slots
            .get(&id)
            .map(|s| s.sealed.load(Ordering::Relaxed))
    }

    /// Restores a seal count persisted by an earlier process, so that
    /// [`KeyRing::needs_rotation`] sees the key's whole history. The count
    /// only ever grows: a lower value than the current one is ignored.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownKey`] if the ring does not hold `id`.
    pub fn record_sealed(&self, id: KeyId, count: u64) -> Result<()> {
        let keys = self.read();
        let slot = keys
            .slots
            .get(&id)
            .ok_or(Error::UnknownKey { key_id: id.get() })?;
        slot.sealed.fetch_max(count, Ordering::Relaxed);
        Ok(())
    }

    /// Whether the active key has sealed [`ROTATE_AFTER`] values or more.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::crypto::{KeyRing, MasterKey, ROTATE_AFTER};
    ///
    /// let ring = KeyRing::new(MasterKey::generate()?);
    /// assert!(!ring.needs_rotation());
    /// ring.record_sealed(ring.active_key_id(), ROTATE_AFTER)?;
    /// assert!(ring.needs_rotation());
    /// ring.rotate()?;
    /// assert!(!ring.needs_rotation());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn needs_rotation(&self) -> bool {
        let (_, slot) = self.active_slot();
        slot.sealed.load(Ordering::Relaxed) >= ROTATE_AFTER
    }

    /// A 32-byte key for a purpose other than sealing (the audit chain's MAC
    /// key, say): `HMAC-SHA256(master, "secrets-core/v1/subkey/" || label)`,
    /// independent of every data key.
    pub(crate) fn derive_subkey(&self, label: &str) -> Zeroizing<[u8; 32]> {
        derive_subkey(&self.master, label)
    }

    /// [`KeyRing::derive_subkey`] of the retiring master, if one is held.
    pub(crate) fn derive_retiring_subkey(&self, label: &str) -> Option<Zeroizing<[u8; 32]>> {
        self.retiring_master().map(|m| derive_subkey(&m, label))
    }

    pub(crate) fn active_slot(&self) -> (KeyId, Arc<Slot>) {
        let keys = self.read();
        let active = keys.active;
        // The active id is always inserted before it is made active.
        let slot = keys.slots.get(&active).cloned();
        drop(keys);
        match slot {
            Some(slot) => (active, slot),
            None => (active, Arc::new(derive_slot(&self.master, active))),
        }
    }

    /// Counts one seal by a tenant key of id `id` on the ring's key of
    /// that id (see `TenantKey::seal`), refusing past the [`SEAL_LIMIT`].
    pub(crate) fn count_seal(&self, id: KeyId) -> Result<()> {
        match self.slot(id) {
            Some(slot) => slot.reserve_seal(id),
            None => Err(Error::UnknownKey { key_id: id.get() }),
        }
    }

    pub(crate) fn slot(&self, id: KeyId) -> Option<Arc<Slot>> {
        self.read().slots.get(&id).cloned()
    }

    /// Key `id` of the current master, if it is newer than the active one
    /// (not yet held: see [`KeyRing::adopt`]).
    pub(crate) fn newer_slot(&self, id: KeyId) -> Option<Arc<Slot>> {
        (id > self.read().active).then(|| Arc::new(derive_slot(&self.master, id)))
    }

    /// Holds `slot` as key `id` and seals with it if it is newer than the
    /// active key: it opened a value, so the master's holder rotated to it.
    pub(crate) fn adopt(&self, id: KeyId, slot: Arc<Slot>) {
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        keys.slots.entry(id).or_insert(slot);
        if id > keys.active {
            for n in keys.active.get().saturating_add(1)..id.get() {
                let between = KeyId(n);
                keys.slots
                    .entry(between)
                    .or_insert_with(|| Arc::new(derive_slot(&self.master, between)));
            }
            keys.active = id;
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Keys> {
        // A panic while holding the lock cannot leave `Keys` half-updated
        // (rotate inserts, then switches), so a poisoned lock is still sound.
        self.keys.read().unwrap_or_else(PoisonError::into_inner)
    }
}

fn hmac_sha256(master: &MasterKey, parts: &[&[u8]]) -> Zeroizing<[u8; 32]> {
    let mut mac = crate::crypto::hmac_sha256(master.expose_secret());
    for part in parts {
        mac.update(part);
    }
    Zeroizing::new(mac.finalize().into_bytes().into())
}

/// `HMAC-SHA256(master, "secrets-core/v1/subkey/" || label)`.
pub(crate) fn derive_subkey(master: &MasterKey, label: &str) -> Zeroizing<[u8; 32]> {
    hmac_sha256(master, &[SUBKEY_LABEL, label.as_bytes()])
}

fn derive_slot(master: &MasterKey, id: KeyId) -> Slot {
    let key = hmac_sha256(master, &[DATA_KEY_LABEL, &id.get().to_be_bytes()]);
    Slot {
        key: AeadKey::new(&key),
        sealed: AtomicU64::new(0),
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self.read();
        f.debug_struct("KeyRing")
            .field("active", &keys.active.get())
            .field(
                "keys",
                &keys.slots.keys().map(|k| k.get()).collect::<Vec<_>>(),
            )
            .field("master", &self.master)
            .field("rekeying", &self.is_rekeying())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master() -> MasterKey {
        MasterKey::from_bytes(&[0x42; 32]).unwrap()
    }

    #[test]
    fn subkeys_differ_by_label_and_from_data_keys() {
        let ring = KeyRing::new(master());
        let a = ring.derive_subkey("audit-chain");
        let b = ring.derive_subkey("audit-chain2");
        assert_ne!(*a, *b);
        assert_ne!(
            *a,
            *hmac_sha256(&master(), &[DATA_KEY_LABEL, &1u32.to_be_bytes()])
        );
    }

    #[test]
    fn data_keys_match_the_documented_derivation() {
        // docs/FORMATS.md: key n = HMAC-SHA256(master, label || u32_be(n)).
        // Recomputed here with the hmac crate directly, independent of derive_slot.
        use hmac::{Hmac, KeyInit};
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&[0x42; 32]).unwrap();
        mac.update(b"secrets-core/v1/data-key\x00\x00\x00\x01");
        let expected: [u8; 32] = mac.finalize().into_bytes().into();
        assert_eq!(
            *hmac_sha256(&master(), &[DATA_KEY_LABEL, &1u32.to_be_bytes()]),
            expected
        );
    }

    #[test]
    fn rotation_adds_keys_and_with_active_rebuilds_them() {
        let ring = KeyRing::new(master());
        assert_eq!(ring.key_ids(), vec![KeyId(1)]);
        assert_eq!(ring.rotate().unwrap(), KeyId(2));
        assert_eq!(ring.rotate().unwrap(), KeyId(3));
        assert_eq!(ring.active_key_id(), KeyId(3));
        let again = KeyRing::with_active(master(), KeyId(3));
        assert_eq!(again.key_ids(), vec![KeyId(1), KeyId(2), KeyId(3)]);
    }

    #[test]
    fn rotation_stops_at_the_maximum() {
        let ring = KeyRing::with_active(master(), KeyId::new(MAX_KEY_ID).unwrap());
        assert!(matches!(ring.rotate(), Err(Error::InvalidInput { .. })));
        assert_eq!(ring.active_key_id().get(), MAX_KEY_ID);
    }

    #[test]
    fn seal_counting_refuses_past_the_limit() {
        let ring = KeyRing::new(master());
        ring.record_sealed(KeyId(1), SEAL_LIMIT - 1).unwrap();
        let (id, slot) = ring.active_slot();
        slot.reserve_seal(id).unwrap();
        assert!(matches!(
            slot.reserve_seal(id),
            Err(Error::KeyExhausted {
                key_id: 1,
                sealed: SEAL_LIMIT
            })
        ));
        assert_eq!(ring.sealed_count(id), Some(SEAL_LIMIT));
        // A lower persisted count never lowers the live one.
        ring.record_sealed(id, 5).unwrap();
        assert_eq!(ring.sealed_count(id), Some(SEAL_LIMIT));
        assert!(matches!(
            ring.record_sealed(KeyId(9), 1),
            Err(Error::UnknownKey { key_id: 9 })
        ));
    }

    #[test]
    fn debug_shows_ids_not_keys() {
        let ring = KeyRing::new(master());
        let shown = format!("{ring:?}");
        assert!(shown.contains("active: 1"));
        assert!(shown.contains("[REDACTED]"));
        assert!(!shown.contains("42"));
        assert!(!shown.contains("66")); // 0x42 in decimal
    }
}
