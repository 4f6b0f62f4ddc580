//! Envelopes made by an independent implementation of `docs/FORMATS.md`
//! (`core/tests/data/make_envelope_vectors.py`) open here, byte for byte.

use secrets_core::crypto::{Context, Envelope, KeyId, KeyRing, MasterKey};

#[test]
fn independent_envelopes_open() {
    let file: serde_json::Value =
        serde_json::from_str(include_str!("../data/envelope_v1.json")).unwrap();
    let tests = file["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 4);
    for t in tests {
        let name = t["name"].as_str().unwrap();
        let hex = |k: &str| hex::decode(t[k].as_str().unwrap()).unwrap();
        let master = MasterKey::from_bytes(&hex("master_key_hex")).unwrap();
        let key_id = KeyId::new(u32::try_from(t["key_id"].as_u64().unwrap()).unwrap()).unwrap();
        let ring = KeyRing::with_active(master, key_id);
        let parts: Vec<Vec<u8>> = t["context_parts_hex"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| hex::decode(p.as_str().unwrap()).unwrap())
            .collect();
        let ctx = Context::new(&parts);
        let envelope = hex("envelope_hex");

        let parsed = Envelope::parse(&envelope).unwrap();
        assert_eq!(parsed.key_id(), key_id, "{name}");
        assert_eq!(parsed.nonce().as_slice(), hex("nonce_hex"), "{name}");
        let opened = ring.open(&envelope, &ctx).unwrap();
        assert_eq!(opened.expose_secret(), hex("plaintext_hex"), "{name}");

        // And the context is really bound: one more part and it fails.
        let mut more = parts.clone();
        more.push(b"extra".to_vec());
        assert!(
            ring.open(&envelope, &Context::new(&more)).is_err(),
            "{name}"
        );
    }
}
