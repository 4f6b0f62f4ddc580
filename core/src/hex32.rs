//! Serde for 32-byte digests (token hashes, audit links) as lowercase hex.

use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

pub(crate) fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex_string(v))
}

pub(crate) fn hex_string(v: &[u8]) -> String {
    use std::fmt::Write as _;
    v.iter()
        .fold(String::with_capacity(2 * v.len()), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
    let s = String::deserialize(d)?;
    let bytes: Vec<u8> = (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| D::Error::custom("bad hex"))
        })
        .collect::<Result<_, _>>()?;
    bytes
        .try_into()
        .map_err(|_| D::Error::custom("expected 32 bytes"))
}
