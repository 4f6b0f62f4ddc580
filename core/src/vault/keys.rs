//! The key lifecycle: the store's key state, data-key rotation, rewrap, and
//! replacing the master key (rekey).
//!
//! # The key state
//!
//! The store setting `key_check` holds the check value of the master key
//! that owns the store, which data keys it uses (`base..=active`), its
//! epoch (1, plus one per completed rekey) and, while a rekey is in
//! progress, the new master's check value and first key id. It is MACed
//! under the owning master (format in `docs/FORMATS.md`, "Key state"). A
//! store written before this format holds the bare 32-byte check value; it
//! is read as epoch 1, keys from 1, and upgraded at the first rotation or
//! rekey.
//!
//! # Rekey
//!
//! A rekey replaces the master key (after a leak, or a change of custody):
//!
//! 1. The host opens the vault with `KeyRing::new(new).with_retiring(old)`.
//!    [`Vault::new`] records that a rekey began: the new master's keys start
//!    after the old master's last id, so every envelope's key id names one
//!    master. From then on this vault seals, tags rows and links audit
//!    events only under the new master; it still opens and verifies what the
//!    old one wrote.
//! 2. [`Vault::rekey`] re-seals every stored value and re-tags every row
//!    under the new master, several tenants at once, in audited batches; it is
//!    resumable (a row already moved is skipped) and runs while other tasks
//!    write. Each tenant's log gets a `key.rekeyed` event linked under the
//!    new chain key, so that it continues under the new key.
//! 3. When the pass is done, the key state moves to the new master in one
//!    compare-and-swap: from then on a vault opened with the old master is
//!    refused ([`Error::WrongMasterKey`]), and the old master opens nothing
//!    stored.
//!
//! The old audit chain key is kept, sealed under a key derived from the new
//! master (setting `audit_keys`), so that the whole log verifies with the
//! new master alone: events linked before the rekey began under the old
//! chain key, the rest (the `key.rekeyed` event among them) under the new
//! one. An event edited before the rekey is still detected, even by
//! someone who holds the old master: the first event under the new key
//! covers the hash of the last one under the old.
//!
//! Access tokens are signed with keys derived from the master, so those
//! issued before the rekey began are refused from then on (a leaked master
//! could have forged them); refresh tokens, API tokens and agent tokens are
//! stored as hashes and are untouched.

use std::sync::Arc;

use hmac::Mac as _;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::audit::{Actor, AuditChain, AuditDraft, Outcome};
use crate::crypto::aead::{AeadKey, NONCE_LEN, TAG_LEN};
use crate::crypto::keyring::derive_subkey;
use crate::crypto::{Envelope, KeyId, KeyRing, MasterKey, TENANT_ENVELOPE_VERSION, random_bytes};
use crate::error::{Error, Result};
use crate::id::TenantId;
use crate::store::page::{Pages, Rows};
use crate::store::retry::{MAX_ATTEMPTS, Race, gave_up, retry};
use crate::store::{AuditQuery, Batch, Change, Kind, ListQuery, MAX_BATCH, Row, Store};
use crate::vault::Vault;
use tokio::sync::mpsc::error::TrySendError;

/// The store setting holding the key state.
pub(crate) const KEY_CHECK: &str = "key_check";
/// The store setting holding retired audit chain keys.
pub(crate) const AUDIT_KEYS: &str = "audit_keys";

/// Subkey label of the key check key.
const CHECK_KEY_LABEL: &str = "key-check";
/// What the key check value is a MAC of.
const CHECK_LABEL: &[u8] = b"secrets-core/v1/key-check";
/// Subkey label, and MAC label, of the key state.
const STATE_KEY_LABEL: &str = "key-state";
const STATE_LABEL: &[u8] = b"secrets-core/v1/key-state";
/// Subkey label, and associated data, of the retired audit chain keys.
const AUDIT_KEYS_LABEL: &str = "audit-keys";
const AUDIT_KEYS_AAD: &[u8] = b"secrets-core/v1/audit-keys";
/// Subkey label of an audit chain key (as `AuditChain::new` derives it).
const CHAIN_KEY_LABEL: &str = "audit-chain";

/// Format version of the key state.
const STATE_VERSION: u8 = 2;

/// The kinds a rewrap or rekey pass goes through: all but the tenant keys,
/// which stay sealed under the ring key of their own id (a rekey destroys
/// the replaced master's once their tenant is done).
fn pass_kinds() -> impl Iterator<Item = Kind> {
    Kind::ALL.into_iter().filter(|k| *k != Kind::TenantKey)
}
/// Format version of the retired audit keys.
const AUDIT_KEYS_VERSION: u8 = 1;

/// Rows per page of a rewrap or rekey pass. A batch takes in pages until
/// it holds this many rows: fewer than twice as many in all, within what a
/// store applies at once.
const PASS_BATCH: usize = 500;
const _: () = assert!(2 * PASS_BATCH - 1 <= MAX_BATCH);

/// A kind a pass goes through, and its cursor.
type KindPages<'s> = (Kind, Pages<'s, dyn Store + 's, Rows>);

/// A batch of a pass, read and prepared: the page each cursor gave it, in
/// order, and its write (`None` when none of their rows needed one).
struct Prepared {
    pages: Vec<Vec<Row>>,
    batch: Option<Batch>,
}

/// Moves `cursors` past `pages`, the pages a batch read (one per cursor,
/// from the first), and drops the cursors that are done: all that read a
/// page but the last (a batch goes on to the next cursor only after a
/// short page), and the last too if its page was short.
fn step_past(cursors: &mut Vec<KindPages<'_>>, pages: &[Vec<Row>]) {
    for ((_, cursor), page) in cursors.iter_mut().zip(pages) {
        cursor.step(page);
    }
    let done = cursors
        .iter()
        .take_while(|(_, cursor)| cursor.is_done())
        .count();
    cursors.drain(..done);
}

/// Tenants a rewrap or rekey pass works on at once, each in a task: their
/// batches share commits (SQLite's group commit) and their round trips
/// overlap (PostgreSQL); within a tenant the pass goes batch by batch.
const PASS_TENANTS: usize = 4;

/// What a pass reads of `kind`: a rewrap only the rows sealed under another
/// key than `active` (the store filters them); a rekey every row (each must
/// be re-tagged).
fn pass_query(kind: Kind, rekey: bool, active: KeyId) -> ListQuery {
    let query = ListQuery::new(kind).limit(PASS_BATCH);
    if rekey {
        query
    } else {
        query.sealed_not_under(active)
    }
}

/// What a pass waits for next.
enum Next {
    /// A tenant's task reported a page: rows examined, rows rewritten.
    Page(u64, u64),
    /// A tenant's task ended.
    Finished(std::result::Result<Result<()>, tokio::task::JoinError>),
    /// Every task ended and every report was read.
    Idle,
}

/// Stops the other tenants' tasks after one failed, and waits until they
/// have (a batch a task had handed to the store is committed whole or not
/// at all), so that nothing is written after the pass returns.
async fn stop(tasks: &mut tokio::task::JoinSet<Result<()>>) {
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
}

/// The next report of `pages` or, when none is waiting, the next task of
/// `tasks` to end (reports first: a task's pages are counted before its
/// end).
async fn next_of(
    pages: &mut tokio::sync::mpsc::Receiver<(u64, u64)>,
    tasks: &mut tokio::task::JoinSet<Result<()>>,
) -> Next {
    std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(Some((examined, rewritten))) = pages.poll_recv(cx) {
            return std::task::Poll::Ready(Next::Page(examined, rewritten));
        }
        match tasks.poll_join_next(cx) {
            std::task::Poll::Ready(Some(ended)) => std::task::Poll::Ready(Next::Finished(ended)),
            std::task::Poll::Ready(None) => std::task::Poll::Ready(Next::Idle),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    })
    .await
}

/// The check value of a master key: `HMAC-SHA256(subkey("key-check"),
/// "secrets-core/v1/key-check")`. Reveals nothing of the key.
pub(crate) fn key_check_value(master: &MasterKey) -> [u8; 32] {
    let key = derive_subkey(master, CHECK_KEY_LABEL);
    let mut mac = crate::crypto::hmac_sha256(&key);
    mac.update(CHECK_LABEL);
    mac.finalize().into_bytes().into()
}

/// A rekey in progress: the new master's check value and first key id.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Pending {
    pub(crate) kcv: [u8; 32],
    pub(crate) base: KeyId,
}

/// The store's key state (see the module documentation).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct KeyState {
    /// The check value of the master that owns the store.
    pub(crate) kcv: [u8; 32],
    /// 1, plus one per completed rekey.
    pub(crate) epoch: u32,
    /// The owning master's first key id.
    pub(crate) base: KeyId,
    /// The key that seals (the new master's, during a rekey).
    pub(crate) active: KeyId,
    /// A rekey in progress.
    pub(crate) pending: Option<Pending>,
}

/// What the `key_check` setting holds.
enum Stored {
    /// The bare check value, before key states existed.
    Legacy([u8; 32]),
    /// A key state and its MAC (checked once the owner's key is known).
    State {
        state: KeyState,
        signed: Vec<u8>,
        mac: [u8; 32],
    },
}

fn corrupt_state(reason: &'static str) -> Error {
    Error::Corrupt {
        what: "store setting",
        id: KEY_CHECK.into(),
        reason,
    }
}

impl KeyState {
    /// The bytes the MAC covers.
    fn signed_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + 32 + 12 + 1 + 36);
        out.push(STATE_VERSION);
        out.extend_from_slice(&self.kcv);
        out.extend_from_slice(&self.epoch.to_be_bytes());
        out.extend_from_slice(&self.base.get().to_be_bytes());
        out.extend_from_slice(&self.active.get().to_be_bytes());
        match self.pending {
            None => out.push(0),
            Some(p) => {
                out.push(1);
                out.extend_from_slice(&p.kcv);
                out.extend_from_slice(&p.base.get().to_be_bytes());
            }
        }
        out
    }

    /// The setting's value, MACed under `owner` (the master whose check
    /// value is `kcv`).
    pub(crate) fn encode(&self, owner: &MasterKey) -> Vec<u8> {
        let mut out = self.signed_bytes();
        let mac = state_mac(owner, &out);
        out.extend_from_slice(&mac);
        out
    }

    fn decode(bytes: &[u8]) -> Result<Stored> {
        if let Ok(kcv) = <[u8; 32]>::try_from(bytes) {
            return Ok(Stored::Legacy(kcv));
        }
        let (signed, mac) = bytes
            .split_last_chunk::<32>()
            .ok_or_else(|| corrupt_state("it is too short"))?;
        let mut r = Reader(signed);
        if r.u8()? != STATE_VERSION {
            return Err(corrupt_state("its format version is unknown"));
        }
        let kcv = r.array()?;
        let epoch = r.u32()?;
        let base = r.key_id()?;
        let active = r.key_id()?;
        let pending = match r.u8()? {
            0 => None,
            1 => Some(Pending {
                kcv: r.array()?,
                base: r.key_id()?,
            }),
            _ => return Err(corrupt_state("its rekey flag is neither 0 nor 1")),
        };
        if !r.0.is_empty() {
            return Err(corrupt_state("it has trailing bytes"));
        }
        if epoch == 0 || active < base || pending.is_some_and(|p| p.base <= base || active < p.base)
        {
            return Err(corrupt_state("its key ids are inconsistent"));
        }
        Ok(Stored::State {
            state: KeyState {
                kcv,
                epoch,
                base,
                active,
                pending,
            },
            signed: signed.to_vec(),
            mac: *mac,
        })
    }
}

fn state_mac(owner: &MasterKey, signed: &[u8]) -> [u8; 32] {
    let mut mac = crate::crypto::hmac_sha256(&derive_subkey(owner, STATE_KEY_LABEL));
    mac.update(STATE_LABEL);
    mac.update(signed);
    mac.finalize().into_bytes().into()
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        let (head, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or_else(|| corrupt_state("it is truncated"))?;
        self.0 = rest;
        Ok(*head)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take::<1>()?[0])
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.take()?))
    }
    fn array(&mut self) -> Result<[u8; 32]> {
        self.take()
    }
    fn key_id(&mut self) -> Result<KeyId> {
        KeyId::new(self.u32()?).ok_or_else(|| corrupt_state("a key id is out of range"))
    }
}

/// The state and the exact bytes it was read from (for compare-and-swap).
pub(crate) struct Loaded {
    pub(crate) state: KeyState,
    pub(crate) raw: Option<Vec<u8>>,
}

/// Reads the key state as `ring` sees it: a legacy value is read as epoch
/// 1 with `ring`'s active key. Checks the MAC under whichever of `ring`'s
/// masters owns the store; a state owned by neither is
/// [`Error::WrongMasterKey`].
pub(crate) async fn read_state(store: &dyn Store, ring: &KeyRing) -> Result<Option<Loaded>> {
    let Some(raw) = store.meta(KEY_CHECK).await? else {
        return Ok(None);
    };
    let current = ring_master_kcv(ring);
    let retiring = ring.retiring_master();
    let owner_of = |kcv: &[u8; 32]| -> Option<Arc<MasterKey>> {
        if bool::from(kcv.ct_eq(&current.0)) {
            Some(Arc::clone(&current.1))
        } else {
            retiring
                .as_ref()
                .filter(|m| bool::from(kcv.ct_eq(&key_check_value(m))))
                .cloned()
        }
    };
    let state = match KeyState::decode(&raw)? {
        Stored::Legacy(kcv) => {
            if owner_of(&kcv).is_none() {
                return Err(Error::WrongMasterKey);
            }
            KeyState {
                kcv,
                epoch: 1,
                base: KeyId::FIRST,
                active: ring.active_key_id().max(ring.base_key_id()),
                pending: None,
            }
        }
        Stored::State { state, signed, mac } => {
            let Some(owner) = owner_of(&state.kcv) else {
                // The new master of a rekey in progress, without the old one.
                return Err(match state.pending {
                    Some(p) if bool::from(p.kcv.ct_eq(&current.0)) => rekey_needs_both(),
                    _ => Error::WrongMasterKey,
                });
            };
            if !bool::from(state_mac(&owner, &signed).ct_eq(&mac)) {
                return Err(Error::Tampered {
                    kind: "store setting",
                    id: KEY_CHECK.into(),
                });
            }
            state
        }
    };
    Ok(Some(Loaded {
        state,
        raw: Some(raw),
    }))
}

/// The current master's check value, and the master itself.
fn ring_master_kcv(ring: &KeyRing) -> ([u8; 32], Arc<MasterKey>) {
    let master = ring.master_arc();
    (key_check_value(&master), master)
}

/// What opening found: the state in force and the retired chains.
pub(crate) struct Opened {
    pub(crate) state: KeyState,
    /// Audit chain keys of earlier epochs, oldest first.
    pub(crate) retired_chains: Vec<AuditChain>,
}

/// Runs once in `Vault::new`, before anything is written: checks `ring`
/// against the store's key state, stores the state on first use, begins or
/// resumes a rekey when `ring` holds a retiring master, and configures the
/// ring's key ids from the state.
///
/// `check_legacy` is called for a store without any key check value,
/// before one is stored (it compares the head of an audit chain).
pub(crate) async fn open<F, Fut>(
    store: &dyn Store,
    ring: &KeyRing,
    check_legacy: F,
) -> Result<Opened>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let (current_kcv, current) = ring_master_kcv(ring);
    let loaded = match read_state(store, ring).await? {
        Some(l) => l,
        None => {
            check_legacy().await?;
            // A store never opened: owned by the current master. A retiring
            // master given for a store that never knew it has nothing to do.
            let state = KeyState {
                kcv: current_kcv,
                epoch: 1,
                base: KeyId::FIRST,
                active: ring.active_key_id(),
                pending: None,
            };
            if store
                .set_meta(KEY_CHECK, &state.encode(&current), None)
                .await?
            {
                Loaded { state, raw: None }
            } else {
                // Another process stored one first: read it as any other.
                read_state(store, ring)
                    .await?
                    .ok_or_else(|| corrupt_state("it vanished while being read"))?
            }
        }
    };
    let owned_by_current = bool::from(loaded.state.kcv.ct_eq(&current_kcv));
    let state = match (loaded.state.pending, owned_by_current) {
        (None, true) => {
            // Not rekeying (or a rekey finished): the retiring master, if
            // given, is not needed.
            ring.drop_retiring();
            let mut state = loaded.state;
            if ring.active_key_id() > state.active {
                // The host rotated outside the store: record it.
                state.active = ring.active_key_id();
                store_state(store, &current, &state, loaded.raw.as_deref()).await?;
            }
            state
        }
        (None, false) => begin_rekey(store, ring, &loaded).await?,
        (Some(p), _) => {
            if !bool::from(p.kcv.ct_eq(&current_kcv)) || !ring.is_rekeying() {
                return Err(rekey_needs_both());
            }
            loaded.state
        }
    };
    configure(ring, &state);
    let retired_chains = if state.pending.is_some() {
        let old = ring.retiring_master().ok_or_else(rekey_needs_both)?;
        let mut chains = ensure_retired(store, ring, &old, state.epoch).await?;
        chains.sort_by_key(|(epoch, _)| *epoch);
        chains.into_iter().map(|(_, c)| c).collect()
    } else {
        load_retired(store, &current, None)
            .await?
            .into_iter()
            .map(|(_, c)| c)
            .collect()
    };
    Ok(Opened {
        state,
        retired_chains,
    })
}

fn rekey_needs_both() -> Error {
    Error::invalid(
        "key ring",
        "a rekey of this store is in progress: open it with the new master key and the retiring one (KeyRing::new(new).with_retiring(old)) and finish it",
    )
}

/// Sets `ring`'s key ids from `state`.
fn configure(ring: &KeyRing, state: &KeyState) {
    match state.pending {
        None => ring.configure(state.base, state.active, None),
        Some(p) => {
            let last_old = KeyId::new(p.base.get().saturating_sub(1)).unwrap_or(KeyId::FIRST);
            ring.configure(p.base, state.active, Some((state.base, last_old)));
        }
    }
}

/// Records a rekey from the store's owner (the ring's retiring master) to
/// the ring's current master.
async fn begin_rekey(store: &dyn Store, ring: &KeyRing, loaded: &Loaded) -> Result<KeyState> {
    let old = ring.retiring_master().ok_or(Error::WrongMasterKey)?;
    if !bool::from(loaded.state.kcv.ct_eq(&key_check_value(&old))) {
        return Err(Error::WrongMasterKey);
    }
    let base = loaded.state.active.next()?;
    // The old chain key first, so that the log verifies from the moment
    // the first event is linked under the new key.
    ensure_retired(store, ring, &old, loaded.state.epoch).await?;
    let state = KeyState {
        pending: Some(Pending {
            kcv: key_check_value(&ring.master_arc()),
            base,
        }),
        active: base,
        ..loaded.state
    };
    store_state(store, &old, &state, loaded.raw.as_deref()).await?;
    Ok(state)
}

/// Writes `state` (MACed under `owner`) if the setting still holds
/// `expected`; a lost race is [`Error::Contended`].
async fn store_state(
    store: &dyn Store,
    owner: &MasterKey,
    state: &KeyState,
    expected: Option<&[u8]>,
) -> Result<()> {
    if store
        .set_meta(KEY_CHECK, &state.encode(owner), expected)
        .await?
    {
        Ok(())
    } else {
        // Another process changed it: the caller reads it again.
        Err(Error::conflict("store setting", KEY_CHECK, 0, 0))
    }
}

/// The retired chain keys stored under `owner`'s key (or under
/// `fallback`'s, for a list not yet moved), with their epochs.
async fn load_retired(
    store: &dyn Store,
    owner: &MasterKey,
    fallback: Option<&MasterKey>,
) -> Result<Vec<(u32, AuditChain)>> {
    let Some(raw) = store.meta(AUDIT_KEYS).await? else {
        return Ok(Vec::new());
    };
    let plain = match open_audit_keys(owner, &raw) {
        Ok(p) => p,
        Err(e) => match fallback {
            Some(f) => open_audit_keys(f, &raw)?,
            None => return Err(e),
        },
    };
    let mut out = Vec::new();
    for entry in plain.chunks(36) {
        let (epoch, key) = entry
            .split_first_chunk::<4>()
            .ok_or_else(|| corrupt_audit_keys("an entry is truncated"))?;
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| corrupt_audit_keys("an entry is truncated"))?;
        out.push((
            u32::from_be_bytes(*epoch),
            AuditChain::from_key(Zeroizing::new(key)),
        ));
    }
    Ok(out)
}

fn corrupt_audit_keys(reason: &'static str) -> Error {
    Error::Corrupt {
        what: "store setting",
        id: AUDIT_KEYS.into(),
        reason,
    }
}

fn open_audit_keys(owner: &MasterKey, raw: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let (&version, rest) = raw
        .split_first()
        .ok_or_else(|| corrupt_audit_keys("it is empty"))?;
    if version != AUDIT_KEYS_VERSION {
        return Err(corrupt_audit_keys("its format version is unknown"));
    }
    let (nonce, ct) = rest
        .split_first_chunk::<NONCE_LEN>()
        .ok_or_else(|| corrupt_audit_keys("it is truncated"))?;
    if ct.len() < TAG_LEN {
        return Err(corrupt_audit_keys("it is truncated"));
    }
    let key = AeadKey::new(&derive_subkey(owner, AUDIT_KEYS_LABEL));
    let plain =
        Zeroizing::new(
            key.open(nonce, AUDIT_KEYS_AAD, ct)
                .map_err(|_| Error::Tampered {
                    kind: "store setting",
                    id: AUDIT_KEYS.into(),
                })?,
        );
    if plain.len() % 36 != 0 {
        return Err(corrupt_audit_keys(
            "its length is not a whole number of entries",
        ));
    }
    Ok(plain)
}

fn seal_audit_keys(owner: &MasterKey, entries: &[(u32, [u8; 32])]) -> Result<Vec<u8>> {
    let mut plain = Zeroizing::new(Vec::with_capacity(entries.len() * 36));
    for (epoch, key) in entries {
        plain.extend_from_slice(&epoch.to_be_bytes());
        plain.extend_from_slice(key);
    }
    let nonce = random_bytes::<NONCE_LEN>()?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + plain.len() + TAG_LEN);
    out.push(AUDIT_KEYS_VERSION);
    out.extend_from_slice(nonce.as_ref());
    let from = out.len();
    out.extend_from_slice(&plain);
    AeadKey::new(&derive_subkey(owner, AUDIT_KEYS_LABEL)).seal_in_place(
        &nonce,
        AUDIT_KEYS_AAD,
        &mut out,
        from,
    )?;
    Ok(out)
}

/// Makes sure the retired chain keys are stored under the ring's current
/// master and include `old`'s chain key as epoch `old_epoch`; returns them.
async fn ensure_retired(
    store: &dyn Store,
    ring: &KeyRing,
    old: &MasterKey,
    old_epoch: u32,
) -> Result<Vec<(u32, AuditChain)>> {
    let current = ring.master_arc();
    for _ in 0..8 {
        let raw = store.meta(AUDIT_KEYS).await?;
        let (entries, under_current) = match raw.as_deref() {
            None => (Vec::new(), false),
            Some(raw) => match open_audit_keys(&current, raw) {
                Ok(p) => (raw_entries(&p), true),
                Err(_) => (raw_entries(&open_audit_keys(old, raw)?), false),
            },
        };
        let has_old = entries.iter().any(|(e, _)| *e == old_epoch);
        if under_current && has_old {
            return load_retired(store, &current, None).await;
        }
        let mut entries = entries;
        if !has_old {
            entries.push((old_epoch, *derive_subkey(old, CHAIN_KEY_LABEL)));
        }
        entries.sort_by_key(|(e, _)| *e);
        let sealed = seal_audit_keys(&current, &entries)?;
        for (_, key) in &mut entries {
            zeroize::Zeroize::zeroize(key);
        }
        if store.set_meta(AUDIT_KEYS, &sealed, raw.as_deref()).await? {
            return load_retired(store, &current, None).await;
        }
    }
    Err(Error::Contended {
        what: "the store's retired audit keys",
    })
}

fn raw_entries(plain: &[u8]) -> Vec<(u32, [u8; 32])> {
    plain
        .chunks_exact(36)
        .filter_map(|c| {
            let (e, k) = c.split_first_chunk::<4>()?;
            Some((u32::from_be_bytes(*e), <[u8; 32]>::try_from(k).ok()?))
        })
        .collect()
}

/// Where a rewrap or rekey pass stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[non_exhaustive]
pub struct Progress {
    /// Rows examined so far.
    pub done: u64,
    /// Rows the pass will examine (counted before it starts; rows written
    /// meanwhile may make `done` end a little above or below it).
    pub total: u64,
}

/// What a rewrap or rekey pass did.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, serde::Serialize)]
#[non_exhaustive]
pub struct RewrapReport {
    /// Tenants visited.
    pub tenants: u64,
    /// Rows examined.
    pub examined: u64,
    /// Rows re-sealed or re-tagged (0 on a second run).
    pub rewrapped: u64,
    /// The key that seals now.
    pub active_key: u32,
    /// The store's key epoch (1, plus one per completed rekey).
    pub epoch: u32,
}

/// The key state of a vault, for operators (`secrets-core doctor`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize)]
#[non_exhaustive]
pub struct KeyStatus {
    /// The key that seals.
    pub active_key: u32,
    /// The lowest key id of the current master.
    pub base_key: u32,
    /// 1, plus one per completed rekey.
    pub epoch: u32,
    /// Whether a rekey is in progress.
    pub rekeying: bool,
}

impl Vault {
    /// The store's key state as this vault holds it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// # use std::sync::Arc;
    /// # use secrets_core::crypto::{KeyRing, MasterKey};
    /// # use secrets_core::store::MemoryStore;
    /// # use secrets_core::SystemClock;
    /// # use secrets_core::vault::{Vault, VaultConfig};
    /// # let mut config = VaultConfig::default();
    /// # config.password_cost = 10;
    /// let vault = Vault::new(
    ///     Arc::new(MemoryStore::new()),
    ///     Arc::new(KeyRing::new(MasterKey::generate()?)),
    ///     Arc::new(SystemClock),
    ///     config,
    /// )
    /// .await?;
    /// let status = vault.key_status();
    /// assert_eq!((status.active_key, status.epoch, status.rekeying), (1, 1, false));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn key_status(&self) -> KeyStatus {
        let ring = &self.inner.ring;
        KeyStatus {
            active_key: ring.active_key_id().get(),
            base_key: ring.base_key_id().get(),
            epoch: self
                .inner
                .key_epoch
                .load(std::sync::atomic::Ordering::Relaxed),
            rekeying: ring.is_rekeying(),
        }
    }

    /// Adds the next data key and makes it the one that seals, recorded in
    /// the store so that every vault opened later (with `KeyRing::new` and
    /// the same master) seals with it too. Values sealed under older keys
    /// still open; [`Vault::rewrap`] moves them over. Audited in every
    /// tenant (`key.rotated`). The host's own code runs it (there is no
    /// caller: whoever holds the master key is the operator).
    ///
    /// Another process that opened the store before the rotation keeps
    /// sealing with its key until it opens a value sealed with the new one
    /// or is restarted; both keys open everywhere.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] during a rekey (finish it first) or past
    /// [`MAX_KEY_ID`](crate::crypto::MAX_KEY_ID); [`Error::Contended`] if the key state kept changing;
    /// the store's errors.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// # use std::sync::Arc;
    /// # use secrets_core::crypto::{KeyRing, MasterKey};
    /// # use secrets_core::store::MemoryStore;
    /// # use secrets_core::SystemClock;
    /// # use secrets_core::vault::{Vault, VaultConfig};
    /// # let mut config = VaultConfig::default();
    /// # config.password_cost = 10;
    /// let master = || MasterKey::from_bytes(&[7; 32]);
    /// let store = Arc::new(MemoryStore::new());
    /// let ring = Arc::new(KeyRing::new(master()?));
    /// let vault = Vault::new(store.clone(), ring, Arc::new(SystemClock), config.clone()).await?;
    /// assert_eq!(vault.rotate_key().await?.get(), 2);
    ///
    /// // A vault opened later with the same master seals with key 2.
    /// let again = Vault::new(store, Arc::new(KeyRing::new(master()?)), Arc::new(SystemClock), config).await?;
    /// assert_eq!(again.key_status().active_key, 2);
    /// # Ok(()) }
    /// ```
    pub async fn rotate_key(&self) -> Result<KeyId> {
        let ring = &self.inner.ring;
        let store = &*self.inner.store;
        let next = retry("the store's key state", Race::Conflict, || async {
            let loaded = read_state(store, ring)
                .await?
                .ok_or_else(|| corrupt_state("it is missing"))?;
            if loaded.state.pending.is_some() || ring.is_rekeying() {
                return Err(Error::invalid(
                    "key ring",
                    "a rekey is in progress: finish it (Vault::rekey) before rotating",
                ));
            }
            let next = loaded.state.active.max(ring.active_key_id()).next()?;
            let state = KeyState {
                active: next,
                ..loaded.state
            };
            store_state(store, &ring.master_arc(), &state, loaded.raw.as_deref()).await?;
            Ok(next)
        })
        .await?;
        ring.advance_to(next);
        self.audit_everywhere(
            "key.rotated",
            &format!("key/{next}"),
            &[("key_id", next.to_string())],
        )
        .await?;
        Ok(next)
    }

    /// Re-seals every stored value sealed under a key other than the active
    /// one, in audited batches of at most 999 rows (`key.rewrapped`; a batch
    /// takes in the next kind's page while it holds fewer than 500), up to
    /// four tenants at once (each in a task spawned on the current tokio
    /// runtime, batch after batch within a tenant, the next one read while
    /// the last is written). Resumable and idempotent:
    /// a row already under the active key is skipped, so a second run
    /// rewraps nothing and an interrupted run finishes when run again. Runs
    /// while other tasks read and write (a row changed meanwhile is read
    /// again). `progress` is called after each batch, from the calling
    /// task. When a tenant fails, the others are stopped before the error
    /// is returned (each batch committed whole or not at all); when the
    /// future is dropped instead, they are aborted, and a batch one of them
    /// had already handed to the store may still commit after the drop.
    ///
    /// During a rekey it also re-tags rows under the new master; use
    /// [`Vault::rekey`], which also finishes the rekey.
    ///
    /// # Errors
    ///
    /// The store's errors; [`Error::Tampered`] for a row that fails its
    /// integrity check; [`Error::Unauthenticated`] for a value that does
    /// not open.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// # use std::sync::Arc;
    /// # use secrets_core::crypto::{KeyRing, MasterKey};
    /// # use secrets_core::store::MemoryStore;
    /// # use secrets_core::{SecretString, SystemClock, TenantId};
    /// # use secrets_core::vault::{Vault, VaultConfig};
    /// # let mut config = VaultConfig::default();
    /// # config.password_cost = 10;
    /// # let vault = Vault::new(Arc::new(MemoryStore::new()), Arc::new(KeyRing::new(MasterKey::generate()?)), Arc::new(SystemClock), config).await?;
    /// # let pw = SecretString::from("correct horse battery");
    /// # vault.bootstrap(TenantId::DEFAULT, "acme", "ada@example.com", &pw, None).await?;
    /// # let session = vault.login(TenantId::DEFAULT, "ada@example.com", &pw, None).await?;
    /// # let ada = vault.authenticate_bearer(session.access_token.expose_secret(), None).await?;
    /// vault.set_secret(&ada, "web", "DATABASE_URL", b"postgres://...").await?;
    /// vault.rotate_key().await?;
    /// let report = vault.rewrap(&mut |_| {}).await?;
    /// assert_eq!(report.rewrapped, 1);
    /// assert_eq!(vault.rewrap(&mut |_| {}).await?.rewrapped, 0);
    /// # Ok(()) }
    /// ```
    pub async fn rewrap(
        &self,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<RewrapReport> {
        self.refresh_key_state().await?;
        self.pass(progress, false).await
    }

    /// Finishes a rekey begun by opening this vault with
    /// `KeyRing::new(new).with_retiring(old)`: re-seals every stored value
    /// and re-tags every row under the new master (as [`Vault::rewrap`],
    /// resumable, while other tasks write), writes each tenant's
    /// `key.rekeyed` event, then records in the store that only the new
    /// master is needed. From then on a vault opened with the old master is
    /// refused with [`Error::WrongMasterKey`], and the audit log verifies
    /// with the new master alone. Access tokens issued before the rekey
    /// began are refused; refresh, API and agent tokens keep working.
    ///
    /// Every other process using the store must be stopped, or opened with
    /// the same two masters, before the rekey begins: one still holding only
    /// the old master would keep writing under it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if no rekey is in progress (the ring holds no
    /// retiring master); as [`Vault::rewrap`]; [`Error::Contended`] if the
    /// key state changed meanwhile.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// use std::sync::Arc;
    /// use secrets_core::crypto::{KeyRing, MasterKey};
    /// use secrets_core::store::MemoryStore;
    /// use secrets_core::vault::{Vault, VaultConfig};
    /// use secrets_core::{Error, SystemClock};
    ///
    /// # let mut config = VaultConfig::default();
    /// # config.password_cost = 10;
    /// let old = || MasterKey::from_bytes(&[1; 32]);
    /// let new = || MasterKey::from_bytes(&[2; 32]);
    /// let store = Arc::new(MemoryStore::new());
    /// let open = |ring: KeyRing| Vault::new(store.clone(), Arc::new(ring), Arc::new(SystemClock), config.clone());
    /// open(KeyRing::new(old()?)).await?;
    ///
    /// let vault = open(KeyRing::new(new()?).with_retiring(old()?)).await?;
    /// let report = vault.rekey(&mut |_| {}).await?;
    /// assert_eq!(report.epoch, 2);
    ///
    /// assert!(matches!(open(KeyRing::new(old()?)).await, Err(Error::WrongMasterKey)));
    /// open(KeyRing::new(new()?)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn rekey(&self, progress: &mut (dyn FnMut(Progress) + Send)) -> Result<RewrapReport> {
        let ring = &self.inner.ring;
        let store = &*self.inner.store;
        let loaded = read_state(store, ring)
            .await?
            .ok_or_else(|| corrupt_state("it is missing"))?;
        let Some(pending) = loaded.state.pending else {
            return Err(Error::invalid(
                "key ring",
                "no rekey is in progress: open the vault with KeyRing::new(new).with_retiring(old) first",
            ));
        };
        let mut report = self.pass(progress, true).await?;
        // Every row is under the new master: move the store to it.
        let next_epoch = loaded.state.epoch.saturating_add(1);
        let done = KeyState {
            kcv: pending.kcv,
            epoch: next_epoch,
            base: pending.base,
            active: loaded.state.active.max(ring.active_key_id()),
            pending: None,
        };
        let current = ring.master_arc();
        self.inner.integrity.finish_rekey(&current).await?;
        store_state(store, &current, &done, loaded.raw.as_deref()).await?;
        ring.drop_retiring();
        self.inner.integrity.drop_retiring();
        self.inner
            .key_epoch
            .store(next_epoch, std::sync::atomic::Ordering::Relaxed);
        report.epoch = next_epoch;
        Ok(report)
    }

    /// Picks up a rotation made by another process.
    pub(super) async fn refresh_key_state(&self) -> Result<()> {
        let ring = &self.inner.ring;
        if let Some(loaded) = read_state(&*self.inner.store, ring).await?
            && loaded.state.pending.is_none()
            && !ring.is_rekeying()
        {
            ring.advance_to(loaded.state.active);
        }
        Ok(())
    }

    /// The rewrap pass (and, with `rekey`, the anchors of a rekey): up to
    /// [`PASS_TENANTS`] tenants at once, each in a task of its own.
    async fn pass(
        &self,
        progress: &mut (dyn FnMut(Progress) + Send),
        rekey: bool,
    ) -> Result<RewrapReport> {
        let store = &*self.inner.store;
        let active = self.inner.ring.active_key_id();
        let tenants = Pages::tenants(store).collect().await?;
        // The total only sizes the progress bar: counted on the store
        // beneath the integrity layer (no row read, nothing trusted).
        let unchecked = self.inner.integrity.unchecked();
        let mut total = 0u64;
        for &tenant in &tenants {
            for kind in pass_kinds() {
                let query = pass_query(kind, rekey, active);
                total = total.saturating_add(unchecked.count(tenant, &query).await?);
            }
        }
        let mut report = RewrapReport {
            tenants: tenants.len() as u64,
            ..RewrapReport::default()
        };
        let mut at = Progress { done: 0, total };
        progress(at);
        // Batches reported by the tenants' tasks. The channel holds one a
        // task: a task that committed a batch while its last report is
        // still unread waits until it is read, so the tasks are at most a
        // batch or two each ahead of `progress` and of a caller that stops
        // there.
        let (sender, mut pages) = tokio::sync::mpsc::channel::<(u64, u64)>(PASS_TENANTS);
        let mut tasks = tokio::task::JoinSet::new();
        let mut waiting = tenants.into_iter();
        loop {
            while tasks.len() < PASS_TENANTS {
                let Some(tenant) = waiting.next() else { break };
                let (vault, sender) = (self.clone(), sender.clone());
                tasks.spawn(async move { vault.pass_tenant(tenant, rekey, active, &sender).await });
            }
            match next_of(&mut pages, &mut tasks).await {
                Next::Page(examined, rewrapped) => {
                    report.examined += examined;
                    report.rewrapped += rewrapped;
                    at.done += examined;
                    progress(at);
                }
                Next::Finished(Ok(Ok(()))) => {}
                Next::Finished(Ok(Err(e))) => {
                    stop(&mut tasks).await;
                    return Err(e);
                }
                Next::Finished(Err(e)) => {
                    stop(&mut tasks).await;
                    match e.try_into_panic() {
                        Ok(panic) => std::panic::resume_unwind(panic),
                        Err(e) => {
                            return Err(Error::storage(format!("a tenant's pass stopped: {e}")));
                        }
                    }
                }
                Next::Idle => break,
            }
        }
        report.active_key = self.inner.ring.active_key_id().get();
        report.epoch = self
            .inner
            .key_epoch
            .load(std::sync::atomic::Ordering::Relaxed);
        Ok(report)
    }

    /// One tenant's part of a pass; reports each batch (rows examined,
    /// rows rewritten) on `reports`, and stops when nobody reads them.
    async fn pass_tenant(
        &self,
        tenant: TenantId,
        rekey: bool,
        active: KeyId,
        reports: &tokio::sync::mpsc::Sender<(u64, u64)>,
    ) -> Result<()> {
        let rows = self.pass_rows(tenant, rekey, active, reports);
        if !rekey {
            return rows.await;
        }
        // The anchor is written beside the first batch (and the tenant's
        // new key before it), not before: the writes share a commit.
        tokio::try_join!(self.anchor(tenant), rows)?;
        // Every value of the tenant is under the new master's tenant keys
        // now: the old master's go.
        self.destroy_tenant_keys_below(tenant, self.inner.ring.base_key_id())
            .await?;
        Ok(())
    }

    /// The rows of `tenant` a pass rewrites, kind after kind, in batches
    /// that take in the next kind's page while they hold fewer than
    /// [`PASS_BATCH`] rows: a tenant's few users and tokens share a batch
    /// (and a commit) with its first page of secrets.
    ///
    /// While a batch is written, the next one is read and prepared (from
    /// the rows after it, which its write does not touch). It is used once
    /// the batch is written; if the write lost a race instead, the batch is
    /// read again and the one read ahead is dropped, so that every row is
    /// read after the writes before it, as without reading ahead. Nor is it
    /// kept while the task waits for the caller to take its report: a row
    /// is written at most a commit after it was read, as without reading
    /// ahead. (That window matters: a row deleted and inserted again in
    /// it is back at version 1, and a write expecting version 1 would
    /// replace it.)
    async fn pass_rows(
        &self,
        tenant: TenantId,
        rekey: bool,
        active: KeyId,
        reports: &tokio::sync::mpsc::Sender<(u64, u64)>,
    ) -> Result<()> {
        let unchecked = self.inner.integrity.unchecked();
        // The cursors of the kinds not done yet.
        let mut cursors: Vec<KindPages<'_>> = pass_kinds()
            .map(|kind| {
                let query = pass_query(kind, rekey, active);
                (kind, Pages::rows(unchecked, tenant, query))
            })
            .collect();
        let mut ahead = None;
        let mut lost = 0;
        while !cursors.is_empty() {
            let prepared = match ahead.take() {
                Some(prepared) => prepared,
                None => self.prepare_batch(tenant, &cursors).await?,
            };
            let mut after = cursors.clone();
            step_past(&mut after, &prepared.pages);
            let examined = prepared.pages.iter().map(Vec::len).sum::<usize>() as u64;
            let (written, next) = tokio::join!(self.write_batch(tenant, prepared.batch), async {
                if after.is_empty() {
                    None
                } else {
                    Some(self.prepare_batch(tenant, &after).await)
                }
            });
            let rewritten = match written {
                Ok(n) => n,
                // A row changed or deleted since it was read.
                Err(e) if Race::Vanishing.lost(&e) => {
                    lost += 1;
                    if lost >= MAX_ATTEMPTS {
                        return Err(gave_up("a row being rewrapped"));
                    }
                    tokio::task::yield_now().await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            lost = 0;
            cursors = after;
            // A failed read ahead is read again, and fails then if it must.
            ahead = next.and_then(Result::ok);
            if examined > 0 {
                let report = (examined, rewritten);
                let sent = match reports.try_send(report) {
                    Ok(()) => Ok(()),
                    Err(TrySendError::Full(report)) => {
                        // Read again once the caller took the report.
                        ahead = None;
                        reports.send(report).await.map_err(drop)
                    }
                    Err(TrySendError::Closed(_)) => Err(()),
                };
                if sent.is_err() {
                    return Err(Error::storage("the rewrap pass stopped"));
                }
            }
        }
        Ok(())
    }

    /// One batch of a pass: the pages at `cursors`, one after the other
    /// until they hold [`PASS_BATCH`] rows, read beneath the integrity layer
    /// and checked once here, row by row as any read is (the check also says
    /// which rows are still tagged under the retiring master); and the write
    /// of the rows that need it, re-sealed (and re-tagged), audited.
    async fn prepare_batch(&self, tenant: TenantId, cursors: &[KindPages<'_>]) -> Result<Prepared> {
        let active = self.inner.ring.active_key_id();
        let mut batch = Batch::new(self.system_draft("key.rewrapped", format!("tenant/{tenant}")));
        let mut kinds = Vec::new();
        let mut pages = Vec::new();
        let mut read = 0;
        for (kind, cursor) in cursors {
            let page = cursor.current().await?;
            let current = self.inner.integrity.check_page(tenant, &page).await?;
            let before = batch.changes.len();
            self.rewrap_page(tenant, *kind, &page, &current, &mut batch)
                .await?;
            if batch.changes.len() > before {
                kinds.push(kind.as_str());
            }
            read += page.len();
            pages.push(page);
            if read >= PASS_BATCH {
                break;
            }
        }
        let n = batch.changes.len();
        batch.audit = batch
            .audit
            .detail("kinds", kinds.join(","))
            .detail("rows", n.to_string())
            .detail("key_id", active.to_string());
        Ok(Prepared {
            pages,
            batch: (n > 0).then_some(batch),
        })
    }

    /// Applies a batch [`Vault::prepare_batch`] prepared, if any; returns
    /// how many rows it rewrote.
    async fn write_batch(&self, tenant: TenantId, batch: Option<Batch>) -> Result<u64> {
        let Some(batch) = batch else { return Ok(0) };
        let n = batch.changes.len() as u64;
        self.inner
            .store
            .apply(tenant, batch, &self.inner.linker)
            .await?;
        Ok(n)
    }

    /// Adds to `batch` the rows of `page` that need it, re-sealed (and
    /// re-tagged). `current` says, row by row, whether the row's tag
    /// (checked) is under the current master's key.
    async fn rewrap_page(
        &self,
        tenant: TenantId,
        kind: Kind,
        page: &[Row],
        current: &[bool],
        batch: &mut Batch,
    ) -> Result<()> {
        let active = self.inner.ring.active_key_id();
        for (row, &tagged_current) in page.iter().zip(current) {
            let stale_seal = match row.sealed.as_deref() {
                Some(sealed) => {
                    let envelope = Envelope::parse(sealed)?;
                    envelope.key_id() != active || envelope.version() != TENANT_ENVELOPE_VERSION
                }
                None => false,
            };
            if !stale_seal && tagged_current {
                continue;
            }
            let mut row = row.clone();
            if stale_seal {
                let value = self
                    .open_row(tenant, kind, &row.id, row.sealed.as_deref())
                    .await?;
                row.sealed = Some(
                    self.seal_row(tenant, kind, &row.id, value.expose_secret())
                        .await?,
                );
            }
            let expected_version = row.version;
            batch.push(Change::Update {
                row,
                expected_version,
            });
        }
        Ok(())
    }

    /// Writes `tenant`'s `key.rekeyed` event for the epoch being entered,
    /// once: linked under the new chain key, so that the tenant's log has
    /// an event under it even if the tenant writes nothing else, as its
    /// verification asks once the rekey is done (see
    /// [`Vault::verify_audit_log`]).
    async fn anchor(&self, tenant: TenantId) -> Result<()> {
        let epoch = self
            .inner
            .key_epoch
            .load(std::sync::atomic::Ordering::Relaxed)
            .saturating_add(1);
        let target = format!("epoch/{epoch}");
        let query = AuditQuery {
            action: Some("key.rekeyed".into()),
            target: Some(target.clone()),
            limit: 1,
            ..AuditQuery::default()
        };
        if !self
            .inner
            .store
            .audit_events(tenant, &query)
            .await?
            .is_empty()
        {
            return Ok(());
        }
        let draft = self
            .system_draft("key.rekeyed", target)
            .detail("epoch", epoch.to_string());
        self.inner
            .store
            .apply(tenant, Batch::new(draft), &self.inner.linker)
            .await?;
        Ok(())
    }

    /// One event in every tenant's log.
    async fn audit_everywhere(
        &self,
        action: &str,
        target: &str,
        details: &[(&str, String)],
    ) -> Result<()> {
        let store = &*self.inner.store;
        let mut tenants = Pages::tenants(store);
        while let Some(page) = tenants.next().await? {
            for tenant in page {
                let mut draft = self.system_draft(action, target.to_owned());
                for (k, v) in details {
                    draft = draft.detail(*k, v.clone());
                }
                store
                    .apply(tenant, Batch::new(draft), &self.inner.linker)
                    .await?;
            }
        }
        Ok(())
    }

    pub(super) fn system_draft(&self, action: &str, target: String) -> AuditDraft {
        AuditDraft::new(Actor::System, action, target, self.now()).outcome(Outcome::Allowed)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn master(byte: u8) -> MasterKey {
        MasterKey::from_bytes(&[byte; 32]).unwrap()
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // The vectors of docs/FORMATS.md ("Key state"), computed independently
    // with Python's hmac, struct and cryptography modules.
    const STATE: &str = "0294b7fbc2d01b340f16e94ebe192ef495391213c2e689a026dee743d74a9434e8000000010000000100000003001635f88f5b8a29f56b83074bad0ac626d5ad7f0102d83cb3338a86d10b5fd221";
    const REKEYING: &str = "0294b7fbc2d01b340f16e94ebe192ef495391213c2e689a026dee743d74a9434e80000000100000001000000040101b1124e24a7a239b6c40f517cd56cd82d566bbe0f64a7e144fed1e375f154a900000004197d80570bbca9318fd8a83d6ab46f2dd2c6ca26ec590a5b244863e8f7e2fe52";
    const AUDIT_KEYS_VECTOR: &str = "01000102030405060708090a0ba2d04d51217824a00f2a4b701f3d2db3d4f3e9554f0f4617d2ac000c1d4a8888b0fac485120f7f20ff180b173f147da770dd9355";

    fn id(n: u32) -> KeyId {
        KeyId::new(n).unwrap()
    }

    #[test]
    fn key_states_match_the_documented_vectors() {
        let (m, n) = (master(0x42), master(0x43));
        let plain = KeyState {
            kcv: key_check_value(&m),
            epoch: 1,
            base: id(1),
            active: id(3),
            pending: None,
        };
        assert_eq!(plain.encode(&m), unhex(STATE));
        let rekeying = KeyState {
            active: id(4),
            pending: Some(Pending {
                kcv: key_check_value(&n),
                base: id(4),
            }),
            ..plain
        };
        assert_eq!(rekeying.encode(&m), unhex(REKEYING));
        for (bytes, state) in [(STATE, plain), (REKEYING, rekeying)] {
            let Stored::State {
                state: got,
                signed,
                mac,
            } = KeyState::decode(&unhex(bytes)).unwrap()
            else {
                panic!("not a key state");
            };
            assert_eq!(got, state);
            assert_eq!(state_mac(&m, &signed), mac);
        }
    }

    #[test]
    fn malformed_key_states_are_corrupt_never_a_panic() {
        let good = unhex(REKEYING);
        for len in 0..good.len() {
            if len == 32 {
                continue; // the legacy bare check value
            }
            assert!(
                matches!(KeyState::decode(&good[..len]), Err(Error::Corrupt { .. })),
                "length {len}"
            );
        }
        let mut bad_flag = unhex(STATE);
        bad_flag[45] = 2;
        assert!(matches!(
            KeyState::decode(&bad_flag),
            Err(Error::Corrupt { .. })
        ));
        let mut bad_version = unhex(STATE);
        bad_version[0] = 3;
        assert!(matches!(
            KeyState::decode(&bad_version),
            Err(Error::Corrupt { .. })
        ));
        // A new base at or below the old one is inconsistent.
        let n = master(0x43);
        let inconsistent = KeyState {
            kcv: key_check_value(&master(0x42)),
            epoch: 1,
            base: id(2),
            active: id(2),
            pending: Some(Pending {
                kcv: key_check_value(&n),
                base: id(2),
            }),
        };
        assert!(matches!(
            KeyState::decode(&inconsistent.encode(&master(0x42))),
            Err(Error::Corrupt { .. })
        ));
    }

    #[test]
    fn retired_audit_keys_match_the_documented_vector() {
        let (m, n) = (master(0x42), master(0x43));
        let plain = open_audit_keys(&n, &unhex(AUDIT_KEYS_VECTOR)).unwrap();
        let entries = raw_entries(&plain);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].0, 1);
        assert_eq!(entries[0].1, *derive_subkey(&m, CHAIN_KEY_LABEL));
        // Round trip, and a wrong owner or a flipped byte is refused.
        let sealed = seal_audit_keys(&n, &entries).unwrap();
        assert_eq!(raw_entries(&open_audit_keys(&n, &sealed).unwrap()), entries);
        assert!(matches!(
            open_audit_keys(&m, &sealed),
            Err(Error::Tampered { .. })
        ));
        let mut flipped = sealed.clone();
        flipped[20] ^= 1;
        assert!(matches!(
            open_audit_keys(&n, &flipped),
            Err(Error::Tampered { .. })
        ));
        assert!(matches!(
            open_audit_keys(&n, &sealed[..20]),
            Err(Error::Corrupt { .. })
        ));
    }
}
