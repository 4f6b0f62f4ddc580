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
//! assert!(matches!(format.parse(&typo), Err(Error::InvalidToken { reason: secrets_core::error::TokenRejection::BadChecksum })));
//! # Ok(()) }
//! ```

use crate::error::TokenRejection;
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
    /// assert!(matches!(err, Error::InvalidToken { reason: secrets_core::error::TokenRejection::WrongPrefix }));
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
            reason: TokenRejection::Malformed,
        })?;
        if parts.prefix != self.prefix {
            return Err(Error::InvalidToken {
                reason: TokenRejection::WrongPrefix,
            });
        }
        if !parts.checksum_ok() {
            return Err(Error::InvalidToken {
                reason: TokenRejection::BadChecksum,
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
mod tests;
