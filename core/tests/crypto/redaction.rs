//! `Debug` of every secret type never shows secret bytes.

use secrets_core::crypto::{KdfParams, KeyRing, MasterKey};
use secrets_core::{SecretBytes, SecretString};

/// A master key whose bytes are easy to spot in any rendering.
const KEY: [u8; 32] = *b"MASTER-KEY-BYTES-0123456789abcde";

fn renderings<T: std::fmt::Debug>(x: &T) -> [String; 2] {
    [format!("{x:?}"), format!("{x:#?}")]
}

#[test]
fn no_secret_type_prints_its_secret() {
    let key = MasterKey::from_bytes(&KEY).unwrap();
    let b64 = key.to_base64();
    for s in renderings(&key) {
        assert!(!s.contains("MASTER-KEY"), "{s}");
        assert!(!s.contains(b64.expose_secret()), "{s}");
    }
    for s in renderings(&b64) {
        assert!(!s.contains(b64.expose_secret()), "{s}");
    }
    let ring = KeyRing::new(MasterKey::from_bytes(&KEY).unwrap());
    for s in renderings(&ring) {
        assert!(!s.contains("MASTER-KEY"), "{s}");
        assert!(!s.contains("77, 65, 83"), "{s}"); // "MAS" as decimal bytes
    }
    let opened = ring
        .open(
            &ring.seal(b"opened-plaintext", &Default::default()).unwrap(),
            &Default::default(),
        )
        .unwrap();
    for s in renderings(&opened) {
        assert!(!s.contains("opened-plaintext"), "{s}");
    }
    for s in renderings(&SecretBytes::new(b"raw-secret".to_vec())) {
        assert!(!s.contains("raw-secret"), "{s}");
    }
    for s in renderings(&SecretString::from("passphrase-secret")) {
        assert!(!s.contains("passphrase-secret"), "{s}");
    }
}

#[test]
fn errors_never_echo_secret_input() {
    let bad = "c2VjcmV0LWtleS1tYXRlcmlhbA=="; // base64 of 20 bytes: wrong length
    let err = MasterKey::from_base64(bad).unwrap_err();
    assert!(!err.to_string().contains(bad));
    assert!(!format!("{err:?}").contains(bad));
    let not_b64 = "hunter2-not-base64!";
    let err = MasterKey::from_base64(not_b64).unwrap_err();
    assert!(!err.to_string().contains("hunter2"));
    // KDF parameters are not secret and may be shown.
    let params = KdfParams::new(100_000, vec![1; 16]).unwrap();
    assert!(format!("{params:?}").contains("100000"));
}
