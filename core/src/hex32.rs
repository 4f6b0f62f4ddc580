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
    let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    let bytes = s.as_bytes();
    if bytes.len() != 64 {
        return Err(D::Error::custom("expected 64 hex digits"));
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let (Some(&hi), Some(&lo)) = (pair.first(), pair.get(1)) else {
            return Err(D::Error::custom("expected 64 hex digits"));
        };
        *o = (nibble(hi).ok_or_else(|| D::Error::custom("bad hex"))? << 4)
            | nibble(lo).ok_or_else(|| D::Error::custom("bad hex"))?;
    }
    Ok(out)
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct H(#[serde(with = "super")] [u8; 32]);

    #[test]
    fn round_trips_and_refuses_bad_hex() {
        let h = H(core::array::from_fn(|i| i as u8 * 7));
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<H>(&json).unwrap(), h);
        assert_eq!(serde_json::from_str::<H>(&json.to_uppercase()).unwrap(), h);
        for bad in [
            "\"00\"",
            &format!("\"{}\"", "g".repeat(64)),
            &format!("\"{}\"", "0".repeat(63)),
        ] {
            assert!(serde_json::from_str::<H>(bad).is_err(), "{bad}");
        }
    }
}
