//! Where a store keeps the parameters that stretch its passphrase into the
//! master key: the store-wide setting `kdf_params` (`docs/FORMATS.md`).

use crate::crypto::KdfParams;
use crate::error::{Error, Result};
use crate::store::Store;

/// The store-wide setting ([`Store::meta`]) holding the passphrase's
/// [`KdfParams`] in their byte form ([`KdfParams::to_bytes`]).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::crypto::{KdfParams, MIN_ITERATIONS};
/// use secrets_core::store::{KDF_PARAMS_META, MemoryStore, Store, passphrase_params};
///
/// let store = MemoryStore::new();
/// let params = passphrase_params(&store, MIN_ITERATIONS).await?;
/// let stored = store.meta(KDF_PARAMS_META).await?.unwrap_or_default();
/// assert_eq!(KdfParams::from_bytes(&stored)?, params);
/// # Ok(()) }
/// ```
pub const KDF_PARAMS_META: &str = "kdf_params";

/// The parameters that turn this store's passphrase into its master key:
/// read from the store-wide setting [`KDF_PARAMS_META`], or, the first time,
/// generated (a fresh 16-byte salt, `iterations`) and stored there with a
/// compare-and-set, so that two first opens at once agree on one salt.
/// `iterations` is used only then; later the stored count wins (raise it by
/// rekeying onto a new master key).
///
/// The parameters are not secret; they live beside the data they unlock,
/// so a backup of the store carries them (a key file needs none).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::crypto::{KeyRing, MIN_ITERATIONS};
/// use secrets_core::store::{MemoryStore, passphrase_params};
/// use secrets_core::SecretString;
///
/// let store = MemoryStore::new();
/// let params = passphrase_params(&store, MIN_ITERATIONS).await?;
/// // Every later open reads the same salt back.
/// assert_eq!(passphrase_params(&store, 600_000).await?, params);
/// let ring = KeyRing::from_passphrase(&SecretString::from("correct horse battery staple"), &params)?;
/// # let _ = ring;
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// [`Error::WeakKdf`] or [`Error::InvalidInput`] for an `iterations` out of
/// range (first use only); [`Error::Corrupt`] when the stored setting does
/// not parse; [`Error::Rng`]; the store's errors.
pub async fn passphrase_params(store: &dyn Store, iterations: u32) -> Result<KdfParams> {
    if let Some(stored) = store.meta(KDF_PARAMS_META).await? {
        return parse(&stored);
    }
    let fresh = KdfParams::generate_with_iterations(iterations)?;
    if store
        .set_meta(KDF_PARAMS_META, &fresh.to_bytes(), None)
        .await?
    {
        return Ok(fresh);
    }
    // Another open stored its parameters first: use those.
    match store.meta(KDF_PARAMS_META).await? {
        Some(stored) => parse(&stored),
        None => Err(Error::Internal {
            what: "the passphrase parameters vanished after being stored",
        }),
    }
}

fn parse(stored: &[u8]) -> Result<KdfParams> {
    KdfParams::from_bytes(stored).map_err(|_| Error::Corrupt {
        what: "store setting",
        id: KDF_PARAMS_META.to_owned(),
        reason: "the passphrase parameters do not parse",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MIN_ITERATIONS;
    use crate::store::MemoryStore;

    #[tokio::test(flavor = "current_thread")]
    async fn first_use_stores_later_uses_read_back() {
        let store = MemoryStore::new();
        let first = passphrase_params(&store, MIN_ITERATIONS).await.unwrap();
        assert_eq!(first.iterations(), MIN_ITERATIONS);
        assert_eq!(
            store.meta(KDF_PARAMS_META).await.unwrap(),
            Some(first.to_bytes())
        );
        let again = passphrase_params(&store, 1_000_000).await.unwrap();
        assert_eq!(again, first);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn weak_first_use_and_garbage_are_refused() {
        let store = MemoryStore::new();
        assert!(matches!(
            passphrase_params(&store, MIN_ITERATIONS - 1).await,
            Err(Error::WeakKdf { .. })
        ));
        assert_eq!(store.meta(KDF_PARAMS_META).await.unwrap(), None);
        store
            .set_meta(KDF_PARAMS_META, b"junk", None)
            .await
            .unwrap();
        assert!(matches!(
            passphrase_params(&store, MIN_ITERATIONS).await,
            Err(Error::Corrupt { .. })
        ));
    }
}
