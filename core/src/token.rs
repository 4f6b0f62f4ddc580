//! API tokens: a typed prefix, 30 random characters and a CRC32 checksum,
//! so that a typo is refused without a storage lookup and a leaked token is
//! found in any text by [`scan_all`] with no false positives.
//!
//! A token is shown once, at creation; only its SHA-256 ([`hash`]) and a
//! short [display prefix](ParsedToken::display_prefix) are stored.
//!
//! # Format
//!
//! ```text
//! token    = prefix "_" random checksum        ; 39 to 47 ASCII characters
//! prefix   = 2 to 10 of [a-z0-9], the first one a letter
//! random   = 30 base62 characters               ; about 178.6 bits
//! checksum = 6 base62 characters
//! ```
//!
//! - **base62** digits are, in order of value 0 to 61: `0`-`9` (0-9),
//!   `A`-`Z` (10-35), `a`-`z` (36-61).
//! - **random**: each character is drawn uniformly from the 62 digits, from
//!   the operating system's random number generator by rejection sampling:
//!   a random byte `b` is used when `b < 248` (= 4 × 62), as digit `b mod 62`,
//!   and skipped otherwise, so every digit has probability exactly 1/62.
//! - **checksum**: `crc = CRC-32/ISO-HDLC` (the IEEE 802.3 CRC of zlib,
//!   PNG and `crc32fast`: polynomial `0x04C11DB7` reflected, initial value and
//!   final XOR `0xFFFFFFFF`) of the ASCII bytes of `prefix "_" random` (the
//!   first 34 to 42 characters: the prefix is covered too). `crc` (0 to
//!   2^32 − 1) is written as exactly 6 base62 digits, most significant first,
//!   zero-padded on the left (62^6 > 2^32, so 6 digits always suffice; the
//!   largest possible checksum is `4gfFC3`).
//! - **display prefix**: `prefix "_"` and the first 4 random characters
//!   (`scp_Ab3x`); it names a token in a list without being usable (26
//!   random characters, about 154 bits, remain unknown).
//! - **stored hash**: SHA-256 of the token's ASCII bytes (all of them).
//! - **parsing** checks, in this order and before any storage lookup: the
//!   shape (length, one valid prefix, `_`, 36 base62 characters; otherwise
//!   `malformed`), the prefix (`wrong prefix`), then the checksum (`bad
//!   checksum`). Nothing is trimmed or case-folded.
//! - **in text** ([`scan_all`]): a token is found when it is a whole word:
//!   the characters just before and after it (if any) are not
//!   `[A-Za-z0-9_]`.
//!
//! In Python: `zlib.crc32(b"scp_" + random)` gives `crc`, and
//! `"".join(ALPHABET[crc // 62**i % 62] for i in range(5, -1, -1))` the
//! checksum.
//!
//! The three formats of the Vault ([`TokenFormat::api`] `scp`,
//! [`TokenFormat::agent`] `sca`, [`TokenFormat::refresh`] `scr`) make a
//! leaked token's kind visible; a host may define its own prefix.
//!
//! ```
//! # fn main() -> Result<(), secrets_core::Error> {
//! use secrets_core::Error;
//! use secrets_core::token::{self, TokenFormat};
//!
//! let format = TokenFormat::api();
//! let token = format.generate()?; // show once; store only the hash
//! let parsed = format.parse(token.expose_secret())?;
//! assert_eq!(parsed.hash, token::hash(token.expose_secret()));
//! assert!(parsed.display_prefix.starts_with("scp_"));
//!
//! // A typo is refused before any storage lookup.
//! let mut typo = token.expose_secret().to_owned();
//! let last = if typo.ends_with('0') { "1" } else { "0" };
//! typo.replace_range(typo.len() - 1.., last);
//! assert!(matches!(format.parse(&typo), Err(Error::InvalidToken { reason: "bad checksum" })));
//! # Ok(()) }
//! ```

use std::fmt;
use std::ops::Range;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::crypto::random_bytes;
use crate::error::{Error, Result};
use crate::secret::SecretString;

/// The number of random base62 characters in a token.
pub const RANDOM_LEN: usize = 30;

/// The number of base62 characters of the checksum.
pub const CHECKSUM_LEN: usize = 6;

/// The shortest prefix.
pub const MIN_PREFIX_LEN: usize = 2;

/// The longest prefix.
pub const MAX_PREFIX_LEN: usize = 10;

/// The number of random characters in a display prefix.
pub const DISPLAY_RANDOM_LEN: usize = 4;

/// The shortest token (a 2-character prefix): 39 characters.
pub const MIN_TOKEN_LEN: usize = MIN_PREFIX_LEN + 1 + RANDOM_LEN + CHECKSUM_LEN;

/// The longest token (a 10-character prefix): 47 characters.
pub const MAX_TOKEN_LEN: usize = MAX_PREFIX_LEN + 1 + RANDOM_LEN + CHECKSUM_LEN;

/// Random bytes drawn per batch while generating (about 30 / (248/256) ≈ 31
/// are needed on average).
const BATCH: usize = 64;

/// Batches to draw before declaring the random number generator broken (the
/// chance that a working one needs more than one is below 10^-13).
const MAX_BATCHES: usize = 16;

/// A token format: its prefix, which says what kind of token it is.
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::token::TokenFormat;
///
/// let format = TokenFormat::new("acme")?;
/// assert_eq!(format.prefix(), "acme");
/// assert_eq!(format.token_len(), 41);
/// assert!(TokenFormat::new("Acme").is_err());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TokenFormat {
    prefix: String,
}

impl TokenFormat {
    /// A format with `prefix`: 2 to 10 characters of `[a-z0-9]`, starting
    /// with a letter.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::token::TokenFormat;
    ///
    /// let format = TokenFormat::new("ghx2")?;
    /// assert!(format.generate()?.expose_secret().starts_with("ghx2_"));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `prefix`) when the prefix is too short,
    /// too long, does not start with a lowercase ASCII letter, or has a
    /// character outside `[a-z0-9]`.
    pub fn new(prefix: &str) -> Result<Self> {
        if !is_prefix(prefix.as_bytes()) {
            return Err(Error::invalid(
                "prefix",
                format!(
                    "must be {MIN_PREFIX_LEN} to {MAX_PREFIX_LEN} characters of `a-z` and `0-9`, starting with a letter (like `scp`)"
                ),
            ));
        }
        Ok(Self {
            prefix: prefix.to_owned(),
        })
    }

    /// The Vault's API tokens: prefix `scp`.
    ///
    /// ```
    /// use secrets_core::token::TokenFormat;
    ///
    /// assert_eq!(TokenFormat::api().prefix(), "scp");
    /// ```
    #[must_use]
    pub fn api() -> Self {
        Self {
            prefix: "scp".to_owned(),
        }
    }

    /// The Vault's agent session tokens: prefix `sca`.
    ///
    /// ```
    /// use secrets_core::token::TokenFormat;
    ///
    /// assert_eq!(TokenFormat::agent().prefix(), "sca");
    /// ```
    #[must_use]
    pub fn agent() -> Self {
        Self {
            prefix: "sca".to_owned(),
        }
    }

    /// The Vault's refresh tokens: prefix `scr`.
    ///
    /// ```
    /// use secrets_core::token::TokenFormat;
    ///
    /// assert_eq!(TokenFormat::refresh().prefix(), "scr");
    /// ```
    #[must_use]
    pub fn refresh() -> Self {
        Self {
            prefix: "scr".to_owned(),
        }
    }

    /// The prefix, without the `_`.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::token::TokenFormat;
    ///
    /// assert_eq!(TokenFormat::new("abc")?.prefix(), "abc");
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The length of every token of this format, in bytes (= characters).
    ///
    /// ```
    /// use secrets_core::token::TokenFormat;
    ///
    /// assert_eq!(TokenFormat::api().token_len(), 3 + 1 + 30 + 6);
    /// ```
    #[must_use]
    pub fn token_len(&self) -> usize {
        self.prefix.len() + 1 + RANDOM_LEN + CHECKSUM_LEN
    }

    /// A new token of this format, from the operating system's random number
    /// generator. Return it to its owner once; store only [`hash`] of it and
    /// its [display prefix](ParsedToken::display_prefix).
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::token::TokenFormat;
    ///
    /// let format = TokenFormat::api();
    /// let token = format.generate()?;
    /// assert_eq!(token.len(), format.token_len());
    /// assert!(!format!("{token:?}").contains(token.expose_secret()));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Rng`] when the operating system's random number generator
    /// fails.
    pub fn generate(&self) -> Result<SecretString> {
        // Exact capacity: the string never reallocates, so no copy of the
        // secret is left behind in freed memory.
        let mut token = Zeroizing::new(String::with_capacity(self.token_len()));
        token.push_str(&self.prefix);
        token.push('_');
        let mut drawn = 0;
        for _ in 0..MAX_BATCHES {
            let bytes = random_bytes::<BATCH>()?;
            for &b in bytes.iter() {
                if drawn == RANDOM_LEN {
                    break;
                }
                // 248 = 4 × 62: bytes 248..=255 would bias the low digits.
                if b < 248 {
                    token.push(char::from(digit(b % 62)));
                    drawn += 1;
                }
            }
            if drawn == RANDOM_LEN {
                for c in checksum(token.as_bytes()) {
                    token.push(char::from(c));
                }
                return Ok(SecretString::new(std::mem::take(&mut *token)));
            }
        }
        Err(Error::Rng(
            "it returned too many bytes above 247 in a row to be working".to_owned(),
        ))
    }

    /// Checks that `token` is a token of this format, by its prefix, length,
    /// characters and checksum, without touching storage; returns what the
    /// store needs to look it up.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::Error;
    /// use secrets_core::token::TokenFormat;
    ///
    /// let token = TokenFormat::api().generate()?;
    /// let parsed = TokenFormat::api().parse(token.expose_secret())?;
    /// assert_eq!(parsed.display_prefix, &token.expose_secret()[..8]);
    ///
    /// let err = TokenFormat::agent().parse(token.expose_secret()).unwrap_err();
    /// assert!(matches!(err, Error::InvalidToken { reason: "wrong prefix" }));
    /// assert!(!err.to_string().contains(token.expose_secret()));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidToken`], whose message never contains the token, with
    /// reason:
    /// - `malformed`: not `prefix "_"` + 36 base62 characters, with a valid
    ///   prefix (any length, character or UTF-8 problem);
    /// - `wrong prefix`: well formed, but another format's prefix;
    /// - `bad checksum`: the checksum does not match (a typo, a truncated
    ///   copy, or a forgery).
    pub fn parse(&self, token: &str) -> Result<ParsedToken> {
        let parts = Parts::split(token).ok_or(Error::InvalidToken {
            reason: "malformed",
        })?;
        if parts.prefix != self.prefix {
            return Err(Error::InvalidToken {
                reason: "wrong prefix",
            });
        }
        if !parts.checksum_ok() {
            return Err(Error::InvalidToken {
                reason: "bad checksum",
            });
        }
        Ok(ParsedToken {
            hash: hash(token),
            display_prefix: parts.display_prefix(),
        })
    }

    /// Every token of this format in `text`; see [`scan_all`].
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::token::TokenFormat;
    ///
    /// let format = TokenFormat::api();
    /// let token = format.generate()?;
    /// let log = format!("GET /v1/apps?token={} 200", token.expose_secret());
    /// let found = format.scan(&log);
    /// assert_eq!(found.len(), 1);
    /// assert_eq!(&log[found[0].range()], token.expose_secret());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn scan(&self, text: &str) -> Vec<Found> {
        scan_all(text, &[self])
    }
}

/// SHA-256 of the token's bytes: what is stored and looked up.
///
/// ```
/// use secrets_core::token;
///
/// let h = token::hash("scp_anything");
/// assert_eq!(h.len(), 32);
/// assert_eq!(h, token::hash("scp_anything"));
/// ```
#[must_use]
pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Every token of any of `formats` in `text` (logs, a commit, a paste), in
/// order: each is a whole word (the characters around it are not
/// `[A-Za-z0-9_]`) with a valid checksum, so random base62 of the same shape
/// is a false positive only with probability 62^-6 ≈ 1.8 × 10^-11 per
/// candidate. Linear in the length of `text`; never panics on any UTF-8.
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::token::{self, TokenFormat};
///
/// let (api, agent) = (TokenFormat::api(), TokenFormat::agent());
/// let a = api.generate()?;
/// let b = agent.generate()?;
/// let text = format!(
///     r#"{{"key":"{}"}} and Authorization: Bearer {}; not x{}"#,
///     a.expose_secret(),
///     b.expose_secret(),
///     a.expose_secret(),
/// );
/// let found = token::scan_all(&text, &[&api, &agent]);
/// assert_eq!(found.len(), 2);
/// assert_eq!(found[0].hash(), token::hash(a.expose_secret()));
/// assert_eq!(found[1].prefix(), "sca");
/// # Ok(()) }
/// ```
#[must_use]
pub fn scan_all(text: &str, formats: &[&TokenFormat]) -> Vec<Found> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    let mut word_start = None;
    // A sentinel non-word byte at the end closes the last word.
    for (i, &b) in bytes.iter().enumerate().chain([(bytes.len(), &b' ')]) {
        if is_word_byte(b) {
            word_start.get_or_insert(i);
        } else if let Some(start) = word_start.take() {
            let len = i - start;
            if !(MIN_TOKEN_LEN..=MAX_TOKEN_LEN).contains(&len) {
                continue;
            }
            // A word is ASCII, so `start..i` lies on character boundaries.
            let Some(word) = text.get(start..i) else {
                continue;
            };
            let Some(parts) = Parts::split(word) else {
                continue;
            };
            if formats.iter().any(|f| f.prefix == parts.prefix) && parts.checksum_ok() {
                found.push(Found {
                    range: start..i,
                    display_prefix: parts.display_prefix(),
                    hash: hash(word),
                });
            }
        }
    }
    found
}

/// A token that passed [`TokenFormat::parse`]: its hash, to look it up, and
/// its display prefix. Its `Debug` shows the display prefix and the first 4
/// bytes of the hash only. (`non_exhaustive`: made only by `parse`.)
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::token::{self, TokenFormat};
///
/// let token = TokenFormat::api().generate()?;
/// let parsed = TokenFormat::api().parse(token.expose_secret())?;
/// assert_eq!(parsed.hash, token::hash(token.expose_secret()));
/// assert_eq!(parsed.display_prefix, &token.expose_secret()[..8]);
/// assert!(format!("{parsed:?}").starts_with("ParsedToken { display_prefix: \"scp_"));
/// # Ok(()) }
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParsedToken {
    /// SHA-256 of the token (as [`hash`] computes it): the lookup key.
    pub hash: [u8; 32],
    /// The prefix, `_` and the first 4 random characters (`scp_Ab3x`): shown
    /// in token lists, not enough to use the token.
    pub display_prefix: String,
}

impl fmt::Debug for ParsedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedToken")
            .field("display_prefix", &self.display_prefix)
            .field("hash", &ShortHash(&self.hash))
            .finish()
    }
}

/// A token found in text by [`scan_all`]: where, which, and its hash (to look
/// it up and revoke it). Its `Debug` never shows the token.
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::token::TokenFormat;
///
/// let token = TokenFormat::refresh().generate()?;
/// let text = format!("leaked: {}\n", token.expose_secret());
/// let found = TokenFormat::refresh().scan(&text);
/// assert_eq!(found[0].range(), 8..48);
/// assert!(!format!("{:?}", found[0]).contains(token.expose_secret()));
/// # Ok(()) }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Found {
    range: Range<usize>,
    display_prefix: String,
    hash: [u8; 32],
}

impl Found {
    /// The token's byte range in the scanned text (on character
    /// boundaries).
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::token::TokenFormat;
    ///
    /// let t = TokenFormat::api().generate()?;
    /// let text = format!("é {}", t.expose_secret());
    /// assert_eq!(TokenFormat::api().scan(&text)[0].range(), 3..43);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn range(&self) -> Range<usize> {
        self.range.clone()
    }

    /// The token's display prefix (`scp_Ab3x`).
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::token::TokenFormat;
    ///
    /// let t = TokenFormat::api().generate()?;
    /// let found = TokenFormat::api().scan(t.expose_secret());
    /// assert_eq!(found[0].display_prefix(), &t.expose_secret()[..8]);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn display_prefix(&self) -> &str {
        &self.display_prefix
    }

    /// The token's prefix (its format), without the `_`.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::token::TokenFormat;
    ///
    /// let t = TokenFormat::agent().generate()?;
    /// assert_eq!(TokenFormat::agent().scan(t.expose_secret())[0].prefix(), "sca");
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn prefix(&self) -> &str {
        self.display_prefix
            .split_once('_')
            .map_or(self.display_prefix.as_str(), |(p, _)| p)
    }

    /// SHA-256 of the token, as [`hash`] computes it.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::token::{self, TokenFormat};
    ///
    /// let t = TokenFormat::api().generate()?;
    /// let found = TokenFormat::api().scan(t.expose_secret());
    /// assert_eq!(found[0].hash(), token::hash(t.expose_secret()));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn hash(&self) -> [u8; 32] {
        self.hash
    }
}

impl fmt::Debug for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Found")
            .field("range", &self.range)
            .field("display_prefix", &self.display_prefix)
            .finish_non_exhaustive()
    }
}

/// The first 4 bytes of a hash in hex, then `…`.
struct ShortHash<'a>(&'a [u8; 32]);

impl fmt::Debug for ShortHash<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for b in self.0.iter().take(4) {
            write!(f, "{b:02x}")?;
        }
        f.write_str("…\"")
    }
}

/// A token's three fields, once its shape is known to be right: a valid
/// prefix, `_`, and 36 base62 characters (so all of it is ASCII).
struct Parts<'a> {
    prefix: &'a str,
    /// `prefix "_" random`: what the checksum covers.
    body: &'a str,
    random: &'a str,
    checksum: &'a str,
}

impl<'a> Parts<'a> {
    fn split(token: &'a str) -> Option<Self> {
        if !(MIN_TOKEN_LEN..=MAX_TOKEN_LEN).contains(&token.len()) {
            return None;
        }
        let (prefix, rest) = token.split_once('_')?;
        if !is_prefix(prefix.as_bytes())
            || rest.len() != RANDOM_LEN + CHECKSUM_LEN
            || !rest.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return None;
        }
        let (random, checksum) = rest.split_at_checked(RANDOM_LEN)?;
        let body = token.get(..prefix.len() + 1 + RANDOM_LEN)?;
        Some(Self {
            prefix,
            body,
            random,
            checksum,
        })
    }

    fn checksum_ok(&self) -> bool {
        checksum(self.body.as_bytes()) == self.checksum.as_bytes()
    }

    fn display_prefix(&self) -> String {
        let shown = self.random.get(..DISPLAY_RANDOM_LEN).unwrap_or_default();
        format!("{}_{shown}", self.prefix)
    }
}

/// 2 to 10 of `[a-z0-9]`, the first a letter.
fn is_prefix(p: &[u8]) -> bool {
    (MIN_PREFIX_LEN..=MAX_PREFIX_LEN).contains(&p.len())
        && p.first().is_some_and(u8::is_ascii_lowercase)
        && p.iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// `[A-Za-z0-9_]`: what may not touch a token found in text.
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The base62 digit of value `v` (0 to 61): `0-9A-Za-z`.
fn digit(v: u8) -> u8 {
    match v {
        0..=9 => b'0' + v,
        10..=35 => b'A' + (v - 10),
        _ => b'a' + (v - 36),
    }
}

/// CRC32 (IEEE) of `body`, as 6 base62 digits, most significant first.
fn checksum(body: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut n = crc32fast::hash(body);
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        // `n % 62` < 62, so the cast is lossless.
        *slot = digit((n % 62) as u8);
        n /= 62;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    fn reason(r: Result<ParsedToken>) -> &'static str {
        match r {
            Err(Error::InvalidToken { reason }) => reason,
            other => panic!("expected InvalidToken, got {other:?}"),
        }
    }

    #[test]
    fn digits_are_the_documented_alphabet() {
        for v in 0..62u8 {
            assert_eq!(digit(v), ALPHABET[v as usize]);
        }
        assert_eq!(&checksum_of_value(0), b"000000");
        assert_eq!(&checksum_of_value(u32::MAX), b"4gfFC3");
        assert_eq!(&checksum_of_value(61), b"00000z");
        assert_eq!(&checksum_of_value(62), b"000010");
    }

    /// The encoding half of `checksum`, for a given CRC value.
    fn checksum_of_value(mut n: u32) -> [u8; 6] {
        let mut out = [b'0'; 6];
        for slot in out.iter_mut().rev() {
            *slot = digit((n % 62) as u8);
            n /= 62;
        }
        out
    }

    #[test]
    fn prefixes() {
        for ok in ["ab", "scp", "a1", "abcdefghij", "z9z9z9z9z9"] {
            assert_eq!(TokenFormat::new(ok).unwrap().prefix(), ok);
        }
        for bad in [
            "",
            "a",
            "abcdefghijk",
            "1ab",
            "Scp",
            "sCp",
            "s_p",
            "s-p",
            "sc p",
            "scé",
            "_sc",
            "sc_",
        ] {
            let err = TokenFormat::new(bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InvalidInput {
                        field: "prefix",
                        ..
                    }
                ),
                "{bad:?}"
            );
        }
        for f in [
            TokenFormat::api(),
            TokenFormat::agent(),
            TokenFormat::refresh(),
        ] {
            assert_eq!(TokenFormat::new(f.prefix()).unwrap(), f);
        }
        assert_eq!(MIN_TOKEN_LEN, 39);
        assert_eq!(MAX_TOKEN_LEN, 47);
    }

    #[test]
    fn generate_parse_round_trip() {
        for prefix in ["ab", "scp", "abcdefghij"] {
            let f = TokenFormat::new(prefix).unwrap();
            let t = f.generate().unwrap();
            let t = t.expose_secret();
            assert_eq!(t.len(), f.token_len());
            assert!(t.starts_with(&format!("{prefix}_")));
            assert!(
                t[prefix.len() + 1..]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric())
            );
            let p = f.parse(t).unwrap();
            assert_eq!(p.hash, hash(t));
            assert_eq!(p.display_prefix, &t[..prefix.len() + 5]);
        }
    }

    #[test]
    fn random_characters_look_uniform() {
        // 2,000 tokens × 30 characters: each digit is expected 967.7 times
        // (σ ≈ 30.9); a modulo bias of 256 mod 62 would put digits 0-7 about
        // 25% above the others. Bounds at ±6σ.
        let f = TokenFormat::api();
        let mut counts = [0u32; 62];
        for _ in 0..2000 {
            let t = f.generate().unwrap();
            for b in t.expose_secret()[4..34].bytes() {
                counts[ALPHABET.iter().position(|&a| a == b).unwrap()] += 1;
            }
        }
        for (i, &c) in counts.iter().enumerate() {
            assert!((782..=1153).contains(&c), "digit {i}: {c}");
        }
    }

    #[test]
    fn every_single_substitution_is_rejected() {
        let f = TokenFormat::api();
        let t = f.generate().unwrap();
        let t = t.expose_secret();
        // Every position × every base62 digit and a few other characters.
        let mut replacements = ALPHABET.to_vec();
        replacements.extend_from_slice(b"_- .+/=\0");
        let mut checked = 0;
        for pos in 0..t.len() {
            for &r in &replacements {
                let mut bytes = t.as_bytes().to_vec();
                if bytes[pos] == r {
                    continue;
                }
                bytes[pos] = r;
                let typo = String::from_utf8(bytes).unwrap();
                let why = reason(f.parse(&typo));
                if pos >= 4 && r.is_ascii_alphanumeric() {
                    // CRC32 detects every error confined to 32 bits.
                    assert_eq!(why, "bad checksum", "{pos} {}", r as char);
                }
                assert!(f.scan(&typo).is_empty(), "{pos} {}", r as char);
                checked += 1;
            }
        }
        assert!(checked > 40 * 65, "{checked}");
    }

    #[test]
    fn wrong_prefix_and_lengths() {
        let api = TokenFormat::api();
        let t = api.generate().unwrap();
        let t = t.expose_secret();
        assert_eq!(reason(TokenFormat::agent().parse(t)), "wrong prefix");
        assert_eq!(
            reason(TokenFormat::new("scpx").unwrap().parse(t)),
            "wrong prefix"
        );
        // The same random part and checksum under another prefix: the
        // checksum covers the prefix.
        let moved = format!("sca{}", &t[3..]);
        assert_eq!(reason(TokenFormat::agent().parse(&moved)), "bad checksum");

        assert_eq!(reason(api.parse(&t[..t.len() - 1])), "malformed");
        assert_eq!(reason(api.parse(&format!("{t}0"))), "malformed");
        // One character less or more at the front: well formed, but the
        // prefix becomes `cp` or `sscp`.
        assert_eq!(reason(api.parse(&t[1..])), "wrong prefix");
        assert_eq!(reason(api.parse(&format!("s{t}"))), "wrong prefix");
        assert_eq!(reason(api.parse(&format!("_{t}"))), "malformed");
        assert_eq!(reason(api.parse(&t[4..])), "malformed");
        assert_eq!(reason(api.parse("")), "malformed");
        assert_eq!(reason(api.parse(&" ".repeat(1 << 20))), "malformed");
        assert_eq!(reason(api.parse(&format!(" {t}"))), "malformed");
        assert_eq!(reason(api.parse(&format!("{t}\n"))), "malformed");
        assert_eq!(reason(api.parse(&t.to_uppercase())), "malformed");
        assert_eq!(reason(api.parse(&t.replacen('_', "-", 1))), "malformed");
    }

    #[test]
    fn non_ascii_never_panics() {
        let api = TokenFormat::api();
        let t = api.generate().unwrap();
        let t = t.expose_secret();
        // Same byte length, a multi-byte character where the '_' or a
        // digit should be, and at every split point used by `Parts`.
        for pos in [0, 2, 3, 4, 5, 33, 34, 38] {
            let mut s = t[..pos].to_owned();
            s.push('é');
            s.push_str(&t[pos + 2..]);
            assert_eq!(s.len(), t.len());
            assert_eq!(reason(api.parse(&s)), "malformed", "{pos}");
            assert!(api.scan(&s).is_empty(), "{pos}");
        }
        for s in ["scp_éééééééééééééééééé", "日本語", "scp_🔑🔑🔑🔑🔑🔑🔑🔑🔑"]
        {
            assert_eq!(reason(api.parse(s)), "malformed");
            assert!(api.scan(s).is_empty());
        }
    }

    #[test]
    fn scan_finds_embedded_tokens() {
        let api = TokenFormat::api();
        let a = api.generate().unwrap();
        let b = api.generate().unwrap();
        let (a, b) = (a.expose_secret(), b.expose_secret());
        let texts = [
            a.to_owned(),
            format!("2024-01-01T00:00:00Z INFO auth token={a} user=7"),
            format!(r#"{{"token":"{a}","other":1}}"#),
            format!("https://example.invalid/hook?key={a}&x=1"),
            format!("Authorization: Bearer {a}\r\n"),
            format!("export SCP_TOKEN='{a}'"),
            format!("«{a}»"),
            format!("({a}).{a}"),
            format!("{a}\n{b}\n{a}"),
        ];
        let expected = [1, 1, 1, 1, 1, 1, 1, 2, 3];
        for (text, n) in texts.iter().zip(expected) {
            let found = api.scan(text);
            assert_eq!(found.len(), n, "{text}");
            for f in &found {
                let s = &text[f.range()];
                assert!(s == a || s == b);
                assert_eq!(f.hash(), hash(s));
                assert_eq!(f.display_prefix(), &s[..8]);
                assert_eq!(f.prefix(), "scp");
            }
        }
        let found = api.scan(&format!("{a} {b}"));
        assert_eq!(found[0].range(), 0..40);
        assert_eq!(found[1].range(), 41..81);
    }

    #[test]
    fn scan_ignores_glued_and_wrong_tokens() {
        let api = TokenFormat::api();
        let a = api.generate().unwrap();
        let a = a.expose_secret();
        for text in [
            format!("x{a}"),
            format!("{a}x"),
            format!("_{a}"),
            format!("{a}_"),
            format!("9{a}"),
            format!("{a}0"),
            format!("foo_{a}"),
            a[..39].to_owned(),
            format!("{}X", &a[..39]),
        ] {
            assert!(api.scan(&text).is_empty(), "{text}");
        }
        // Another format's token is not found by this one, but by both.
        let agent = TokenFormat::agent();
        let b = agent.generate().unwrap();
        let text = format!("{a} {}", b.expose_secret());
        assert_eq!(api.scan(&text).len(), 1);
        assert_eq!(scan_all(&text, &[&api, &agent]).len(), 2);
        assert!(scan_all(&text, &[]).is_empty());
    }

    #[test]
    fn debug_is_short_and_never_the_token() {
        let api = TokenFormat::api();
        let t = api.generate().unwrap();
        let t = t.expose_secret();
        let p = api.parse(t).unwrap();
        let found = api.scan(t);
        for text in [
            format!("{p:?}"),
            format!("{p:#?}"),
            format!("{found:?}"),
            format!("{found:#?}"),
        ] {
            assert!(!text.contains(&t[8..]), "{text}");
            assert!(!text.contains(&t[10..20]), "{text}");
            assert!(text.len() < 120, "{text}");
        }
        assert!(format!("{p:?}").contains(&t[..8]));
        for bad in [
            api.parse(&t[1..]).unwrap_err(),
            TokenFormat::agent().parse(t).unwrap_err(),
        ] {
            assert!(!bad.to_string().contains(&t[8..]));
            assert!(!format!("{bad:?}").contains(&t[8..]));
        }
    }

    #[test]
    fn known_answers_from_python_zlib() {
        let file: serde_json::Value =
            serde_json::from_str(include_str!("../tests/data/token_vectors.json")).unwrap();
        assert!(file["source"].as_str().is_some());
        let valid = file["valid"].as_array().unwrap();
        assert!(!valid.is_empty());
        for v in valid {
            let body = v["body"].as_str().unwrap();
            assert_eq!(
                u64::from(crc32fast::hash(body.as_bytes())),
                v["crc32"].as_u64().unwrap()
            );
            let sum = checksum(body.as_bytes());
            assert_eq!(
                std::str::from_utf8(&sum).unwrap(),
                v["checksum"].as_str().unwrap()
            );
        }
    }

    /// Random base62 strings of `len` characters.
    fn base62(len: usize) -> impl Strategy<Value = String> {
        proptest::collection::vec(0..62u8, len)
            .prop_map(|v| v.into_iter().map(|d| char::from(digit(d))).collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn prop_any_substitution_is_detected(pos in 4usize..40, d in 0..62u8) {
            let api = TokenFormat::api();
            let t = api.generate().unwrap();
            let t = t.expose_secret();
            let r = digit(d);
            prop_assume!(t.as_bytes()[pos] != r);
            let mut bytes = t.as_bytes().to_vec();
            bytes[pos] = r;
            let typo = String::from_utf8(bytes).unwrap();
            prop_assert_eq!(reason(api.parse(&typo)), "bad checksum");
            prop_assert!(api.scan(&typo).is_empty());
        }

        #[test]
        fn prop_round_trip_any_prefix(prefix in "[a-z][a-z0-9]{1,9}") {
            let f = TokenFormat::new(&prefix).unwrap();
            let t = f.generate().unwrap();
            let p = f.parse(t.expose_secret()).unwrap();
            prop_assert_eq!(p.hash, hash(t.expose_secret()));
            let found = f.scan(&format!("<{}>", t.expose_secret()));
            prop_assert_eq!(found.len(), 1);
            prop_assert_eq!(found[0].range(), 1..1 + f.token_len());
        }

        #[test]
        fn prop_random_candidates_are_refused(random in base62(36)) {
            let api = TokenFormat::api();
            let candidate = format!("scp_{random}");
            // 62^-6 per candidate: a failure here is (much) likelier a bug.
            prop_assert_eq!(reason(api.parse(&candidate)), "bad checksum");
            prop_assert!(api.scan(&candidate).is_empty());
        }

        #[test]
        fn prop_parse_and_scan_never_panic(s in "\\PC{0,80}", glue in "[ -~]{0,3}") {
            let api = TokenFormat::api();
            let _ = api.parse(&s);
            let t = api.generate().unwrap();
            let text = format!("{s}{glue}{}{glue}{s}", t.expose_secret());
            for f in api.scan(&text) {
                prop_assert!(text.is_char_boundary(f.range().start));
                prop_assert!(text.is_char_boundary(f.range().end));
                prop_assert!(api.parse(&text[f.range()]).is_ok());
            }
        }

        #[test]
        fn prop_scan_finds_separated_tokens(
            pieces in proptest::collection::vec(("\\PC{0,12}", any::<bool>()), 0..6),
        ) {
            let api = TokenFormat::api();
            let mut text = String::new();
            let mut expected = Vec::new();
            for (filler, put) in &pieces {
                text.push_str(filler);
                if *put {
                    let t = api.generate().unwrap();
                    text.push(' ');
                    expected.push(hash(t.expose_secret()));
                    text.push_str(t.expose_secret());
                    text.push(' ');
                }
            }
            let found: Vec<[u8; 32]> = api.scan(&text).iter().map(Found::hash).collect();
            prop_assert_eq!(found, expected);
        }
    }
}
