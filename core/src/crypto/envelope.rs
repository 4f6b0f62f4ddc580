//! The sealed-value format (version, key id, nonce, ciphertext, tag) and the
//! seal / open / rewrap operations of a [`KeyRing`].

use crate::crypto::aead::{AeadKey, NONCE_LEN, TAG_LEN};
use crate::crypto::{KeyId, KeyRing, random_bytes};
use crate::error::{Error, Result};
use crate::secret::SecretBytes;

/// The version of an envelope sealed under a [`KeyRing`] data key.
pub const ENVELOPE_VERSION: u8 = 1;
/// The version of an envelope sealed under a tenant data key: what the
/// Vault writes for every tenant's values (see `docs/FORMATS.md`, "Tenant
/// keys"). The layout is version 1's; only the key differs.
pub const TENANT_ENVELOPE_VERSION: u8 = 2;
/// Bytes before the ciphertext: version (1), key id (4), nonce (12).
pub const HEADER_LEN: usize = 1 + 4 + NONCE_LEN;
/// Bytes an envelope adds to its plaintext: header and 16-byte tag.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;
/// The largest plaintext [`KeyRing::seal`] accepts (16 MiB).
pub const MAX_PLAINTEXT_LEN: usize = 16 * 1024 * 1024;
/// The largest envelope [`KeyRing::open`] accepts.
pub const MAX_ENVELOPE_LEN: usize = MAX_PLAINTEXT_LEN + OVERHEAD;

/// Where a sealed value belongs (for example tenant, kind and name), bound to
/// its envelope as associated data: an envelope opened with any other context
/// fails, so a ciphertext copied to another row or tenant is useless.
///
/// Parts are encoded unambiguously (each as a big-endian `u32` length then its
/// bytes), so `["ab", "c"]` and `["a", "bc"]` are different contexts.
///
/// ```
/// use secrets_core::crypto::Context;
///
/// let a = Context::new(["ab", "c"]);
/// let b = Context::new(["a", "bc"]);
/// assert_ne!(a, b);
/// assert_eq!(a.as_bytes(), b"\0\0\0\x02ab\0\0\0\x01c");
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Context(Vec<u8>);

impl Context {
    /// A context from its parts, in order.
    #[must_use]
    pub fn new<I, P>(parts: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: AsRef<[u8]>,
    {
        let mut out = Vec::new();
        for part in parts {
            let part = part.as_ref();
            // A part over 4 GiB cannot be held by any caller of this library;
            // saturate rather than panic.
            let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(part);
        }
        Self(out)
    }

    /// The encoded bytes, as they enter the associated data.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// A parsed envelope: a view of its fields, borrowed from the bytes. Parsing
/// checks structure only; authenticity is checked by [`KeyRing::open`].
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::crypto::{Context, Envelope, KeyRing, MasterKey};
///
/// let ring = KeyRing::new(MasterKey::generate()?);
/// let sealed = ring.seal(b"value", &Context::new(["t", "k"]))?;
/// let env = Envelope::parse(&sealed)?;
/// assert_eq!(env.key_id(), ring.active_key_id());
/// assert_eq!(env.ciphertext_and_tag().len(), 5 + 16);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Envelope<'a> {
    version: u8,
    key_id: KeyId,
    nonce: [u8; NONCE_LEN],
    ciphertext_and_tag: &'a [u8],
}

impl<'a> Envelope<'a> {
    /// Checks the structure of `bytes` and splits it into fields.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] for empty input or input shorter than
    /// [`OVERHEAD`]; [`Error::UnsupportedVersion`] for a first byte other than
    /// [`ENVELOPE_VERSION`] or [`TENANT_ENVELOPE_VERSION`]; [`Error::TooLarge`] beyond
    /// [`MAX_ENVELOPE_LEN`]; [`Error::InvalidInput`] for key id 0 or one above
    /// [`MAX_KEY_ID`](crate::crypto::MAX_KEY_ID).
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        let truncated = || Error::Truncated {
            what: "envelope",
            len: bytes.len(),
            min: OVERHEAD,
        };
        let (&version, rest) = bytes.split_first().ok_or_else(truncated)?;
        if version != ENVELOPE_VERSION && version != TENANT_ENVELOPE_VERSION {
            return Err(Error::UnsupportedVersion {
                found: version,
                supported: TENANT_ENVELOPE_VERSION,
            });
        }
        if bytes.len() < OVERHEAD {
            return Err(truncated());
        }
        if bytes.len() > MAX_ENVELOPE_LEN {
            return Err(Error::TooLarge {
                what: "envelope",
                len: bytes.len(),
                max: MAX_ENVELOPE_LEN,
            });
        }
        let (id, rest) = rest.split_first_chunk::<4>().ok_or_else(truncated)?;
        let (nonce, ciphertext_and_tag) = rest
            .split_first_chunk::<NONCE_LEN>()
            .ok_or_else(truncated)?;
        let raw_id = u32::from_be_bytes(*id);
        let key_id = KeyId::new(raw_id).ok_or_else(|| {
            Error::invalid("envelope", format!("key id `{raw_id}` is out of range"))
        })?;
        Ok(Self {
            version,
            key_id,
            nonce: *nonce,
            ciphertext_and_tag,
        })
    }

    /// The format version: [`ENVELOPE_VERSION`] (sealed under the ring's
    /// data key) or [`TENANT_ENVELOPE_VERSION`] (under a tenant's data key
    /// of that key id).
    #[must_use]
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The key that sealed this envelope: the ring's data key of this id,
    /// or (version 2) the tenant data key that belongs to it.
    #[must_use]
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The 12-byte nonce.
    #[must_use]
    pub fn nonce(&self) -> &[u8; NONCE_LEN] {
        &self.nonce
    }

    /// The ciphertext followed by the 16-byte tag.
    #[must_use]
    pub fn ciphertext_and_tag(&self) -> &'a [u8] {
        self.ciphertext_and_tag
    }
}

/// The associated data: version, key id, then the encoded context.
fn associated_data(version: u8, key_id: KeyId, context: &Context) -> Vec<u8> {
    let mut aad = Vec::with_capacity(5 + context.0.len());
    aad.push(version);
    aad.extend_from_slice(&key_id.get().to_be_bytes());
    aad.extend_from_slice(&context.0);
    aad
}

impl KeyRing {
    /// Seals `plaintext` under the active key with a fresh random nonce from
    /// the operating system, bound to `context`.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] over [`MAX_PLAINTEXT_LEN`];
    /// [`Error::KeyExhausted`] once the active key reached its
    /// [`SEAL_LIMIT`](crate::crypto::SEAL_LIMIT); [`Error::Rng`].
    pub fn seal(&self, plaintext: &[u8], context: &Context) -> Result<Vec<u8>> {
        if plaintext.len() > MAX_PLAINTEXT_LEN {
            return Err(Error::TooLarge {
                what: "plaintext",
                len: plaintext.len(),
                max: MAX_PLAINTEXT_LEN,
            });
        }
        let (key_id, slot) = self.active_slot();
        slot.reserve_seal(key_id)?;
        seal_with(&slot.key, ENVELOPE_VERSION, key_id, plaintext, context)
    }

    /// Opens an envelope sealed by this ring (under any key it holds) for
    /// exactly this `context`.
    ///
    /// # Errors
    ///
    /// The structure errors of [`Envelope::parse`]; [`Error::InvalidInput`]
    /// for a version-2 envelope (sealed under a tenant data key, which the
    /// Vault opens); [`Error::UnknownKey`] for
    /// a key the ring no longer holds (one of a master replaced by a
    /// rekey); otherwise the one opaque
    /// [`Error::Unauthenticated`] (altered bytes, wrong context, wrong master
    /// key).
    pub fn open(&self, envelope: &[u8], context: &Context) -> Result<SecretBytes> {
        let env = Envelope::parse(envelope)?;
        if env.version != ENVELOPE_VERSION {
            return Err(Error::invalid(
                "envelope",
                "is sealed under a tenant data key (version 2): open it through the Vault",
            ));
        }
        let aad = associated_data(ENVELOPE_VERSION, env.key_id, context);
        if let Some(slot) = self.slot(env.key_id) {
            let plaintext = slot.key.open(&env.nonce, &aad, env.ciphertext_and_tag)?;
            return Ok(SecretBytes::new(plaintext));
        }
        // A key newer than the active one: another process (or an earlier
        // run) rotated. Keys are derived, so derive it; once it has opened
        // a value (proof that the master's holder sealed with it) the ring
        // keeps it and seals with it.
        let slot = self.newer_slot(env.key_id).ok_or(Error::UnknownKey {
            key_id: env.key_id.get(),
        })?;
        let plaintext = slot.key.open(&env.nonce, &aad, env.ciphertext_and_tag)?;
        self.adopt(env.key_id, slot);
        Ok(SecretBytes::new(plaintext))
    }

    /// Re-seals an envelope under the active key, keeping its context; the
    /// plaintext never reaches the caller and is zeroized here.
    ///
    /// # Errors
    ///
    /// As [`KeyRing::open`], then as [`KeyRing::seal`].
    pub fn rewrap(&self, envelope: &[u8], context: &Context) -> Result<Vec<u8>> {
        let plaintext = self.open(envelope, context)?;
        self.seal(plaintext.expose_secret(), context)
    }
}

/// One tenant's data key of one key id: it seals that tenant's values in
/// version-2 envelopes (the Vault keeps it, sealed by the ring, in the
/// tenant's `tenant_key` row; see `vault/tenant_keys.rs`).
pub(crate) struct TenantKey {
    key: AeadKey,
    id: KeyId,
}

impl TenantKey {
    /// The key `bytes`, belonging to the ring's key `id`.
    pub(crate) fn new(bytes: &[u8; 32], id: KeyId) -> Self {
        Self {
            key: AeadKey::new(bytes),
            id,
        }
    }

    /// The ring key id this tenant key belongs to.
    pub(crate) fn id(&self) -> KeyId {
        self.id
    }

    /// Seals `plaintext` in a version-2 envelope, bound to `context`, with a
    /// fresh random nonce. The seal is counted on the ring's key of the same
    /// id, so [`KeyRing::needs_rotation`] and the [`SEAL_LIMIT`] cover every
    /// tenant key of that id together (a conservative bound).
    ///
    /// [`SEAL_LIMIT`]: crate::crypto::SEAL_LIMIT
    pub(crate) fn seal(
        &self,
        ring: &KeyRing,
        plaintext: &[u8],
        context: &Context,
    ) -> Result<Vec<u8>> {
        if plaintext.len() > MAX_PLAINTEXT_LEN {
            return Err(Error::TooLarge {
                what: "plaintext",
                len: plaintext.len(),
                max: MAX_PLAINTEXT_LEN,
            });
        }
        ring.count_seal(self.id)?;
        seal_with(
            &self.key,
            TENANT_ENVELOPE_VERSION,
            self.id,
            plaintext,
            context,
        )
    }

    /// Opens a version-2 envelope of this key's id for exactly `context`.
    ///
    /// # Errors
    ///
    /// The structure errors of [`Envelope::parse`]; otherwise the one opaque
    /// [`Error::Unauthenticated`] (another version or key id, altered
    /// bytes, wrong context, wrong key).
    pub(crate) fn open(&self, envelope: &[u8], context: &Context) -> Result<SecretBytes> {
        let env = Envelope::parse(envelope)?;
        if env.version != TENANT_ENVELOPE_VERSION || env.key_id != self.id {
            return Err(Error::Unauthenticated);
        }
        let aad = associated_data(TENANT_ENVELOPE_VERSION, env.key_id, context);
        let plaintext = self.key.open(&env.nonce, &aad, env.ciphertext_and_tag)?;
        Ok(SecretBytes::new(plaintext))
    }
}

fn seal_with(
    key: &AeadKey,
    version: u8,
    key_id: KeyId,
    plaintext: &[u8],
    context: &Context,
) -> Result<Vec<u8>> {
    let nonce = random_bytes::<NONCE_LEN>()?;
    // Exact capacity: the buffer never reallocates, so no stray copy of the
    // plaintext is left behind in freed memory.
    let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
    out.push(version);
    out.extend_from_slice(&key_id.get().to_be_bytes());
    out.extend_from_slice(nonce.as_ref());
    out.extend_from_slice(plaintext);
    let aad = associated_data(version, key_id, context);
    if let Err(e) = key.seal_in_place(&nonce, &aad, &mut out, HEADER_LEN) {
        zeroize::Zeroize::zeroize(&mut out);
        return Err(e);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MasterKey;

    fn ring() -> KeyRing {
        KeyRing::new(MasterKey::from_bytes(&[7; 32]).unwrap())
    }

    #[test]
    fn layout_is_as_documented() {
        let ring = ring();
        let sealed = ring.seal(b"abc", &Context::new(["t"])).unwrap();
        assert_eq!(sealed.len(), OVERHEAD + 3);
        assert_eq!(sealed[0], 1);
        assert_eq!(&sealed[1..5], &[0, 0, 0, 1]);
        // Two seals of the same value differ (fresh nonce each time).
        let again = ring.seal(b"abc", &Context::new(["t"])).unwrap();
        assert_ne!(sealed[5..17], again[5..17]);
        assert_ne!(sealed, again);
        assert_eq!(ring.sealed_count(KeyId::FIRST), Some(2));
    }

    #[test]
    fn structure_errors_are_specific() {
        let ring = ring();
        let ctx = Context::default();
        assert!(matches!(
            ring.open(&[], &ctx),
            Err(Error::Truncated { len: 0, .. })
        ));
        assert!(matches!(
            ring.open(&[3; 40], &ctx),
            Err(Error::UnsupportedVersion {
                found: 3,
                supported: 2
            })
        ));
        assert!(matches!(
            ring.open(&[1; OVERHEAD - 1], &ctx),
            Err(Error::Truncated {
                len: 32,
                min: 33,
                ..
            })
        ));
        let mut unknown = ring.seal(b"x", &ctx).unwrap();
        // A newer key is derived, and does not open what key 1 sealed.
        unknown[1..5].copy_from_slice(&9u32.to_be_bytes());
        assert!(matches!(
            ring.open(&unknown, &ctx),
            Err(Error::Unauthenticated)
        ));
        assert_eq!(ring.active_key_id(), KeyId::FIRST);
        // A key below the ring's first (a replaced master's) is unknown.
        let sealed = ring.seal(b"x", &ctx).unwrap();
        ring.configure(KeyId::new(3).unwrap(), KeyId::new(3).unwrap(), None);
        assert!(matches!(
            ring.open(&sealed, &ctx),
            Err(Error::UnknownKey { key_id: 1 })
        ));
        unknown[1..5].copy_from_slice(&0u32.to_be_bytes());
        assert!(matches!(
            ring.open(&unknown, &ctx),
            Err(Error::InvalidInput { .. })
        ));
        let mut huge = vec![0u8; MAX_ENVELOPE_LEN + 1];
        huge[0] = 1;
        assert!(matches!(
            ring.open(&huge, &ctx),
            Err(Error::TooLarge { .. })
        ));
        let big = vec![0u8; MAX_PLAINTEXT_LEN + 1];
        assert!(matches!(ring.seal(&big, &ctx), Err(Error::TooLarge { .. })));
    }

    #[test]
    fn the_largest_plaintext_round_trips() {
        let ring = ring();
        let ctx = Context::new(["big"]);
        let big = vec![0x5au8; MAX_PLAINTEXT_LEN];
        let sealed = ring.seal(&big, &ctx).unwrap();
        assert_eq!(sealed.len(), MAX_ENVELOPE_LEN);
        assert_eq!(ring.open(&sealed, &ctx).unwrap().expose_secret(), &big[..]);
    }

    #[test]
    fn the_key_id_in_the_header_is_authenticated() {
        // Relabel a key-2 envelope as key 1: key 1 must not open it, and
        // neither must key 2 once the header says 1.
        let ring = ring();
        let ctx = Context::new(["t"]);
        ring.rotate().unwrap();
        let mut sealed = ring.seal(b"secret", &ctx).unwrap();
        sealed[1..5].copy_from_slice(&1u32.to_be_bytes());
        assert!(matches!(
            ring.open(&sealed, &ctx),
            Err(Error::Unauthenticated)
        ));
    }

    #[test]
    fn exhausted_key_refuses_to_seal_until_rotated() {
        let ring = ring();
        ring.record_sealed(KeyId::FIRST, crate::crypto::SEAL_LIMIT)
            .unwrap();
        let ctx = Context::default();
        assert!(matches!(
            ring.seal(b"x", &ctx),
            Err(Error::KeyExhausted { key_id: 1, .. })
        ));
        ring.rotate().unwrap();
        let sealed = ring.seal(b"x", &ctx).unwrap();
        assert_eq!(Envelope::parse(&sealed).unwrap().key_id().get(), 2);
    }
}
