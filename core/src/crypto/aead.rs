//! The AES-256-GCM core under every envelope: a thin wrapper over the
//! `aes-gcm` crate that fixes the algorithm, nonce and tag sizes, and keeps the
//! expanded key schedule for the life of the key (zeroized on drop).

use aes_gcm::aead::array::Array;
use aes_gcm::{AeadInOut, Aes256Gcm, KeyInit, Tag};

use crate::error::{Error, Result};

/// Nonce length in bytes (96 bits, the GCM standard size).
pub(crate) const NONCE_LEN: usize = 12;
/// Tag length in bytes (128 bits, never truncated).
pub(crate) const TAG_LEN: usize = 16;

/// One AES-256-GCM key, ready to use.
pub(crate) struct AeadKey(Aes256Gcm);

impl AeadKey {
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        Self(Aes256Gcm::new(&Array::from(*key)))
    }

    /// Encrypts `buf[from..]` in place and appends the tag.
    pub(crate) fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut Vec<u8>,
        from: usize,
    ) -> Result<()> {
        let msg = buf
            .get_mut(from..)
            .ok_or_else(|| Error::invalid("buffer", "offset past the end"))?;
        let tag = self
            .0
            .encrypt_inout_detached(&Array::from(*nonce), aad, msg.into())
            // aes-gcm refuses only messages over 2^36 bytes, which callers bound far lower.
            .map_err(|_| Error::TooLarge {
                what: "plaintext",
                len: buf.len().saturating_sub(from),
                max: usize::MAX,
            })?;
        buf.extend_from_slice(tag.as_slice());
        Ok(())
    }

    /// Decrypts `ciphertext || tag` into a new buffer. Any failure is the one
    /// opaque [`Error::Unauthenticated`].
    pub(crate) fn open(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ciphertext_and_tag: &[u8],
    ) -> Result<Vec<u8>> {
        let split = ciphertext_and_tag
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(Error::Unauthenticated)?;
        let (ct, tag) = ciphertext_and_tag.split_at(split);
        let tag = Tag::try_from(tag).map_err(|_| Error::Unauthenticated)?;
        let mut out = ct.to_vec();
        match self.0.decrypt_inout_detached(
            &Array::from(*nonce),
            aad,
            out.as_mut_slice().into(),
            &tag,
        ) {
            Ok(()) => Ok(out),
            Err(_) => {
                // aes-gcm leaves the buffer as it was (it checks before decrypting),
                // but wipe it anyway: it never leaves this function.
                zeroize::Zeroize::zeroize(&mut out);
                Err(Error::Unauthenticated)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Project Wycheproof AES-256-GCM (96-bit IV, 128-bit tag) vectors, from
    //! `core/tests/data/aes256gcm_wycheproof.json` (source recorded inside).

    use super::*;

    fn arr<const N: usize>(hex_str: &str) -> [u8; N] {
        hex::decode(hex_str).unwrap().try_into().unwrap()
    }

    #[test]
    fn wycheproof_aes_256_gcm() {
        let file: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/data/aes256gcm_wycheproof.json"))
                .unwrap();
        let tests = file["tests"].as_array().unwrap();
        let (mut valid, mut invalid) = (0, 0);
        for t in tests {
            let id = &t["tcId"];
            let key = AeadKey::new(&arr::<32>(t["key"].as_str().unwrap()));
            let nonce = arr::<12>(t["iv"].as_str().unwrap());
            let aad = hex::decode(t["aad"].as_str().unwrap()).unwrap();
            let msg = hex::decode(t["msg"].as_str().unwrap()).unwrap();
            let mut ct_tag = hex::decode(t["ct"].as_str().unwrap()).unwrap();
            ct_tag.extend(hex::decode(t["tag"].as_str().unwrap()).unwrap());
            match t["result"].as_str().unwrap() {
                "valid" => {
                    let mut buf = msg.clone();
                    key.seal_in_place(&nonce, &aad, &mut buf, 0).unwrap();
                    assert_eq!(buf, ct_tag, "tcId {id}: seal");
                    assert_eq!(
                        key.open(&nonce, &aad, &ct_tag).unwrap(),
                        msg,
                        "tcId {id}: open"
                    );
                    valid += 1;
                }
                "invalid" => {
                    assert!(
                        matches!(key.open(&nonce, &aad, &ct_tag), Err(Error::Unauthenticated)),
                        "tcId {id}: an invalid vector opened"
                    );
                    invalid += 1;
                }
                other => panic!("tcId {id}: unexpected result {other}"),
            }
        }
        assert_eq!((valid, invalid), (39, 27), "every vector in the file ran");
    }

    #[test]
    fn short_input_is_opaque() {
        let key = AeadKey::new(&[0; 32]);
        assert!(matches!(
            key.open(&[0; 12], b"", &[0; 15]),
            Err(Error::Unauthenticated)
        ));
    }
}
