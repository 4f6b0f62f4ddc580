//! JWS compact serialization (RFC 7515 section 7.1): `base64url(header) "."
//! base64url(payload) "." base64url(signature over base64url(header) "."
//! base64url(payload))`, base64url without padding; the signature is
//! HMAC-SHA256 for HS256 (RFC 7518 section 3.2), here, or Ed25519 for EdDSA
//! (RFC 8037, in `eddsa.rs`).

use crate::error::TokenRejection;
use std::fmt;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::de::DeserializeOwned;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::claims::{ClaimSet, check_times};
use super::config::{JwtAlgorithm, check_leeway};
use super::header::Header;
use super::rejected;
use crate::clock::Timestamp;
use crate::error::{Error, Result};

/// The longest token accepted for validation, in bytes. Longer input is
/// refused before it is decoded; [`JwtSigner::issue`](super::JwtSigner::issue)
/// refuses to mint a token this long (too many scopes).
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::jwt::{decode_hs256, MAX_TOKEN_LEN};
/// use secrets_core::{Error, Timestamp};
///
/// let huge = "a".repeat(MAX_TOKEN_LEN + 1);
/// let key = [7u8; 32];
/// let result = decode_hs256::<serde_json::Value>(&huge, &key, Timestamp::EPOCH, Default::default());
/// assert!(matches!(result, Err(Error::InvalidToken { reason: secrets_core::error::TokenRejection::TooLarge })));
/// # Ok(()) }
/// ```
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The shortest HS256 key [`decode_hs256`] accepts: 32 bytes, the size of
/// the hash output (RFC 7518 section 3.2).
///
/// ```
/// use secrets_core::jwt::{decode_hs256, MIN_KEY_LEN};
/// use secrets_core::{Error, Timestamp};
///
/// let short = [7u8; MIN_KEY_LEN - 1];
/// let result = decode_hs256::<serde_json::Value>("a.b.c", &short, Timestamp::EPOCH, Default::default());
/// assert!(matches!(result, Err(Error::InvalidInput { field: "key", .. })));
/// ```
pub const MIN_KEY_LEN: usize = 32;

/// The three segments of a compact JWS, still encoded. A token is a
/// credential: `Debug` shows none of it.
pub(super) struct Compact<'t> {
    /// The encoded header.
    pub(super) header: &'t str,
    /// The encoded payload.
    pub(super) payload: &'t str,
    /// The encoded signature.
    signature: &'t str,
    /// `header "." payload`, the bytes the signature covers.
    signing_input: &'t str,
}

impl<'t> Compact<'t> {
    /// Splits `token`: too large over [`MAX_TOKEN_LEN`] (checked first,
    /// before anything is read), malformed unless there are exactly three
    /// segments.
    pub(super) fn split(token: &'t str) -> Result<Self> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(rejected(TokenRejection::TooLarge));
        }
        let (signing_input, signature) = token
            .rsplit_once('.')
            .ok_or(rejected(TokenRejection::Malformed))?;
        let (header, payload) = signing_input
            .split_once('.')
            .ok_or(rejected(TokenRejection::Malformed))?;
        if payload.contains('.') {
            return Err(rejected(TokenRejection::Malformed));
        }
        Ok(Self {
            header,
            payload,
            signature,
            signing_input,
        })
    }

    /// The decoded header, in `buf`.
    pub(super) fn header<'b>(&self, buf: &'b mut Vec<u8>) -> Result<Header<'b>> {
        decode(self.header, buf)?;
        Header::parse(buf)
    }

    /// The decoded payload, which must be UTF-8 (the JSON text of the
    /// claims set).
    /// The payload decoded into `buf` when it fits (what an access token's
    /// does), into a new buffer otherwise, and read as UTF-8; `f` gets the
    /// text. The same checks as [`payload`](Self::payload).
    pub(super) fn with_payload<R>(
        &self,
        buf: &mut [u8],
        f: impl FnOnce(&str) -> Result<R>,
    ) -> Result<R> {
        if let Ok(n) = URL_SAFE_NO_PAD.decode_slice(self.payload, &mut *buf) {
            let bytes = buf.get(..n).ok_or(rejected(TokenRejection::Malformed))?;
            let text =
                std::str::from_utf8(bytes).map_err(|_| rejected(TokenRejection::Malformed))?;
            return f(text);
        }
        // Too long for `buf`, or not base64url: the general way tells which.
        f(&self.payload()?)
    }

    pub(super) fn payload(&self) -> Result<String> {
        let mut buf = Vec::new();
        decode(self.payload, &mut buf)?;
        String::from_utf8(buf).map_err(|_| rejected(TokenRejection::Malformed))
    }

    /// `header "." payload`, the bytes the signature covers.
    pub(super) fn signing_input(&self) -> &'t str {
        self.signing_input
    }

    /// The decoded signature: malformed unless it is strict base64url.
    pub(super) fn signature_bytes(&self) -> Result<Vec<u8>> {
        let mut signature = Vec::new();
        decode(self.signature, &mut signature)?;
        Ok(signature)
    }

    /// Checks the signature with `key`: malformed if it is not base64url,
    /// a bad signature unless it is the HMAC-SHA256 of the signing input,
    /// compared in constant time.
    pub(super) fn verify(&self, key: &HmacKey) -> Result<()> {
        // A 43-character segment is the only one that decodes to a 32-byte
        // tag: decoded on the stack; any other length the general way (and
        // then refused as a bad signature, or malformed).
        let mut tag = [0u8; 32];
        let heap;
        let signature: &[u8] = if self.signature.len() == 43 {
            let n = URL_SAFE_NO_PAD
                .decode_slice(self.signature, &mut tag)
                .map_err(|_| rejected(TokenRejection::Malformed))?;
            tag.get(..n).ok_or(rejected(TokenRejection::Malformed))?
        } else {
            heap = self.signature_bytes()?;
            &heap
        };
        let expected = key.tag(self.signing_input.as_bytes());
        // Lengths are public; the bytes are compared in constant time.
        if bool::from(expected.as_slice().ct_eq(signature)) {
            Ok(())
        } else {
            Err(rejected(TokenRejection::BadSignature))
        }
    }
}

impl fmt::Debug for Compact<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Compact([REDACTED])")
    }
}

/// Base64url without padding, strictly: no `=`, no `+` or `/`, no
/// whitespace, no unused bits set in the last symbol.
fn decode(segment: &str, buf: &mut Vec<u8>) -> Result<()> {
    URL_SAFE_NO_PAD
        .decode_vec(segment, buf)
        .map_err(|_| rejected(TokenRejection::Malformed))
}

/// An HS256 key, as HMAC-SHA256 keyed once: the state holds the hashed
/// inner and outer pads, which are as secret as the key. Zeroized on drop
/// (the `zeroize` feature of `sha2`); never printed.
pub(super) struct HmacKey(Hmac<Sha256>);

// The keyed state must be wiped on drop: HMAC-SHA256 holds two SHA-256
// block states, which zeroize themselves only with `sha2`'s `zeroize`
// feature. A build without it fails here.
const _: fn() = || {
    fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}
    wiped_on_drop::<<Sha256 as hmac::digest::block_api::CoreProxy>::Core>();
};

impl HmacKey {
    /// Keys HMAC-SHA256 with `key`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if the `hmac` crate refuses the key (it
    /// takes keys of every length, so it does not).
    pub(super) fn new(key: &[u8]) -> Result<Self> {
        Hmac::new_from_slice(key)
            .map(Self)
            .map_err(|_| Error::invalid("key", "is not a valid HMAC key"))
    }

    /// `HMAC-SHA256(key, message)`.
    pub(super) fn tag(&self, message: &[u8]) -> Zeroizing<[u8; 32]> {
        let mut mac = self.0.clone();
        mac.update(message);
        Zeroizing::new(mac.finalize().into_bytes().into())
    }
}

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacKey([REDACTED])")
    }
}

/// The compact serialization of `header` and `payload` (JSON texts, used
/// as given), signed with `key`.
pub(super) fn encode(header: &[u8], payload: &[u8], key: &HmacKey) -> String {
    encode_with(header, payload, |input| key.tag(input).to_vec())
}

/// The compact serialization of `header` and `payload` (JSON texts, used
/// as given), with the signature `sign` makes of the signing input.
pub(super) fn encode_with(
    header: &[u8],
    payload: &[u8],
    sign: impl FnOnce(&[u8]) -> Vec<u8>,
) -> String {
    let mut token = String::with_capacity((header.len() + payload.len()) * 4 / 3 + 96);
    URL_SAFE_NO_PAD.encode_string(header, &mut token);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut token);
    let signature = sign(token.as_bytes());
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
    token
}

/// Verifies an HS256 token under a raw `key` and returns its claims: the
/// primitive under [`JwtSigner::validate`](super::JwtSigner::validate), for
/// tokens that do not come from the key ring.
///
/// The rules of [`JwtSigner::validate`](super::JwtSigner::validate) apply
/// up to the signature: the size cap, three base64url segments, a header
/// object with `alg` HS256 (`EdDSA` too is refused here: see
/// [`decode_eddsa`](super::decode_eddsa)) and no `crit` and no repeated name, a constant-
/// time signature check. Then the claims must be one JSON object with no
/// repeated name that deserializes into `T`; `exp` and `nbf`, where
/// present, must be integers and are checked against `now` with `leeway`
/// (`now` before `exp` + leeway, not before `nbf` − leeway). `typ` and
/// `kid` are not required, and no other claim is checked: issuer, audience
/// and the like are the caller's to check on the returned claims.
///
/// # Errors
///
/// [`Error::InvalidInput`] for a key shorter than [`MIN_KEY_LEN`] or a
/// leeway over [`MAX_LEEWAY`](super::MAX_LEEWAY); [`Error::InvalidToken`]
/// for any refusal (`too large`, `malformed`, `algorithm not allowed`,
/// `unsupported critical header`, `bad signature`, `expired`,
/// `not yet valid`).
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use std::time::Duration;
/// use secrets_core::jwt::decode_hs256;
/// use secrets_core::{Error, Timestamp};
///
/// // RFC 7515, appendix A.1.
/// let token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.\
///     eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.\
///     dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// let key = [
///     3, 35, 53, 75, 43, 15, 165, 188, 131, 126, 6, 101, 119, 123, 166, 143, 90, 179, 40, 230, 240,
///     84, 201, 40, 169, 15, 132, 178, 210, 80, 46, 191, 211, 251, 90, 146, 210, 6, 71, 239, 150,
///     138, 180, 195, 119, 98, 61, 34, 61, 46, 33, 114, 5, 46, 79, 8, 192, 205, 154, 245, 103, 208,
///     128, 163,
/// ];
/// let leeway = Duration::from_secs(30);
/// let claims: serde_json::Value = decode_hs256(token, &key, Timestamp::from_unix_seconds(1_300_819_379), leeway)?;
/// assert_eq!(claims["iss"], "joe");
/// assert_eq!(claims["http://example.com/is_root"], true);
///
/// let late = Timestamp::from_unix_seconds(1_300_819_380 + 30);
/// let result = decode_hs256::<serde_json::Value>(token, &key, late, leeway);
/// assert!(matches!(result, Err(Error::InvalidToken { reason: secrets_core::error::TokenRejection::Expired })));
/// # Ok(()) }
/// ```
pub fn decode_hs256<T: DeserializeOwned>(
    token: &str,
    key: &[u8],
    now: Timestamp,
    leeway: Duration,
) -> Result<T> {
    if key.len() < MIN_KEY_LEN {
        return Err(Error::invalid(
            "key",
            format!("is {} bytes; HS256 needs at least {MIN_KEY_LEN}", key.len()),
        ));
    }
    check_leeway(leeway)?;
    let compact = Compact::split(token)?;
    if compact.header(&mut Vec::new())?.check()? != JwtAlgorithm::Hs256 {
        return Err(rejected(TokenRejection::AlgorithmNotAllowed));
    }
    compact.verify(&HmacKey::new(key)?)?;
    let payload = compact.payload()?;
    let times = ClaimSet::parse(&payload)?;
    let claims = serde_json::from_str(&payload).map_err(|_| rejected(TokenRejection::Malformed))?;
    check_times(now, times.exp, times.nbf, leeway)?;
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason<T: fmt::Debug>(r: Result<T>) -> &'static str {
        match r {
            Err(Error::InvalidToken { reason }) => reason.as_str(),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn split_takes_exactly_three_segments() {
        let c = Compact::split("h.p.s").unwrap();
        assert_eq!(
            (c.header, c.payload, c.signature, c.signing_input),
            ("h", "p", "s", "h.p")
        );
        let c = Compact::split("..").unwrap();
        assert_eq!((c.header, c.payload, c.signature), ("", "", ""));
        for bad in ["", "h", "h.p", "h.p.s.x", "h..p.s", "...", "h.p.s."] {
            assert_eq!(reason(Compact::split(bad)), "malformed", "{bad:?}");
        }
        assert_eq!(format!("{c:?}"), "Compact([REDACTED])");
        let cap = "a".repeat(MAX_TOKEN_LEN);
        assert_eq!(reason(Compact::split(&cap)), "malformed");
        assert_eq!(reason(Compact::split(&format!("{cap}a"))), "too large");
    }

    #[test]
    fn decoding_is_strict_base64url() {
        let mut buf = Vec::new();
        assert!(decode("e30", &mut buf).is_ok());
        assert_eq!(buf, b"{}");
        for bad in ["e30=", "e3 0", "e30\n", "+/8", "e31", "e", "é"] {
            assert!(decode(bad, &mut Vec::new()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_tag_is_hmac_sha256_rfc_4231_case_2() {
        // RFC 4231 section 4.3: key "Jefe".
        let key = HmacKey::new(b"Jefe").unwrap();
        let tag = key.tag(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(tag.as_slice()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // The keyed state is reused: a second message gets its own tag.
        assert_ne!(key.tag(b"another").as_slice(), tag.as_slice());
        assert_eq!(format!("{key:?}"), "HmacKey([REDACTED])");
    }

    #[test]
    fn verify_refuses_every_other_tag() {
        let key = HmacKey::new(&[9; 32]).unwrap();
        let token = encode(br#"{"alg":"HS256"}"#, b"{}", &key);
        let c = Compact::split(&token).unwrap();
        assert!(c.verify(&key).is_ok());
        assert_eq!(
            reason(c.verify(&HmacKey::new(&[8; 32]).unwrap())),
            "bad signature"
        );
        let tag = URL_SAFE_NO_PAD.decode(c.signature).unwrap();
        for i in 0..tag.len() {
            for bit in [0x01, 0x80] {
                let mut t = tag.clone();
                t[i] ^= bit;
                let forged = format!("{}.{}", c.signing_input, URL_SAFE_NO_PAD.encode(&t));
                let f = Compact::split(&forged).unwrap();
                assert_eq!(reason(f.verify(&key)), "bad signature");
            }
        }
        for len in [0, 1, 31, 33, 64] {
            let t: Vec<u8> = tag.iter().copied().cycle().take(len).collect();
            let forged = format!("{}.{}", c.signing_input, URL_SAFE_NO_PAD.encode(&t));
            let f = Compact::split(&forged).unwrap();
            assert_eq!(reason(f.verify(&key)), "bad signature", "{len}");
        }
        // 43 characters, read on the stack: a non-canonical last character
        // (stray low bits) or a character off the alphabet is malformed,
        // any other change of tag a bad signature.
        let sig = c.signature;
        assert_eq!(sig.len(), 43);
        let (head, last) = sig.split_at(42);
        for (swap, want) in [
            ("B", "malformed"),
            ("=", "malformed"),
            ("+", "malformed"),
            ("A", "bad signature"),
            ("Q", "bad signature"),
            ("g", "bad signature"),
            ("w", "bad signature"),
        ] {
            if swap == last {
                continue;
            }
            let forged = format!("{}.{head}{swap}", c.signing_input);
            let f = Compact::split(&forged).unwrap();
            assert_eq!(reason(f.verify(&key)), want, "{swap}");
        }
        let padded = format!("{token}=");
        assert_eq!(
            reason(Compact::split(&padded).unwrap().verify(&key)),
            "malformed"
        );
    }
}
