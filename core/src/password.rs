//! Password hashing with bcrypt, under a [`PasswordPolicy`].
//!
//! - [`PasswordPolicy::hash`] makes `$2b$` hashes at the policy's cost
//!   ([`DEFAULT_COST`] = 12, never below [`MIN_COST`] = 10).
//! - [`PasswordPolicy::verify`] checks a password against a `$2a$`, `$2b$` or
//!   `$2y$` hash, including hashes made by other implementations (OpenBSD,
//!   PHP `password_hash`, libxcrypt, jBCrypt, ...) and at any cost they used.
//! - [`PasswordPolicy::needs_rehash`] says when a stored hash is not at the
//!   policy's cost, so that a successful login can store a fresh hash.
//! - [`PasswordPolicy::dummy_hash`] gives a hash to verify against when the
//!   user is unknown, so that a login costs the same time either way.
//! - [`PasswordPolicy::verify_login`] does a login's whole check: the same
//!   bcrypt work (2^cost rounds of the policy's cost) whether the account
//!   exists or not and whatever cost its stored hash has, and no more than
//!   [`PasswordPolicy::max_verify_cost`] allows for an absurd stored cost.
//!
//! # Equal work for every failed login
//!
//! bcrypt at cost `c` runs 2^`c` rounds of its expensive key schedule, and
//! nearly all of its time goes there. An unknown user's login verifies
//! against a dummy hash at the policy's cost `P`: 2^`P` rounds. A known
//! user's stored hash can have a lower cost `c` (made before the operator
//! raised the policy, and not yet upgraded by a successful login); verifying
//! it alone would take 2^`c` rounds and tell an attacker the account exists.
//! So after a mismatch against a hash of cost `c < P`, [`verify_login`]
//! verifies against dummy hashes at costs `c`, `c+1`, ..., `P-1`: in all
//! 2^`c` + (2^`c` + ... + 2^(`P`-1)) = 2^`P` rounds, what an unknown user
//! costs. A dummy hash at cost `k` is the policy's dummy hash with its cost
//! field changed: its salt and digest are random, so no password matches it
//! at any cost, and making one costs no bcrypt work (nothing to compute or
//! cache when the policy changes).
//!
//! A stored hash above [`max_verify_cost`] (`max(P + 2, 14)`) is not
//! verified at all: cost 31 would hold a thread for days. The login fails
//! after the policy's work, as for an unknown user, and the Vault audits why
//! (the user needs a password reset). A stored hash above `P` but within the
//! bound (after an operator lowered the cost) takes 2^`c` rounds, longer
//! than an unknown user's login: such accounts are distinguishable until
//! their next successful login rehashes them at `P`. A successful login is
//! not padded: its answer already says the account exists.
//!
//! [`verify_login`]: PasswordPolicy::verify_login
//! [`max_verify_cost`]: PasswordPolicy::max_verify_cost
//!
//! # Refused passwords
//!
//! bcrypt reads at most 72 bytes of a password and, in every C
//! implementation, stops at the first NUL byte. Other libraries silently
//! ignore the rest, so `"<72 bytes>A"` and `"<72 bytes>B"` become the same
//! password. This module refuses instead, with [`Error::InvalidInput`]
//! (field `password`): a password longer than [`MAX_PASSWORD_LEN`] bytes
//! (of UTF-8, for text), a password containing NUL, and an empty password. A
//! host should enforce the same limit in its sign-up form, where it can tell
//! the user.
//!
//! # Text or bytes
//!
//! bcrypt hashes bytes. Every function here takes a [`PasswordInput`]:
//! a [`SecretString`] is hashed as its UTF-8 bytes, a [`SecretBytes`] as
//! it is, under the same rules (at most 72 bytes, no NUL, not empty). Bytes
//! are for passwords that are not UTF-8, such as hashes imported from a
//! system that stored Latin-1 or KOI8-R passwords (crypt_blowfish's published
//! vectors have such passwords): `£` typed into that system is the byte
//! `a3`, and into a UTF-8 form the bytes `c2 a3`, two different passwords.
//! The same text as `SecretString` or as its UTF-8 bytes in `SecretBytes` is
//! one password.
//!
//! The Vault takes text: its logins and user passwords are `SecretString`,
//! since hosts receive them from JSON or form fields, which are UTF-8 and
//! cannot carry other bytes faithfully; and every hash the Vault stores was
//! made from text by the Vault itself. A host that verifies imported hashes
//! of non-UTF-8 passwords does it with this module and [`SecretBytes`].
//!
//! # Blocking
//!
//! Hashing and verifying are deliberately slow (about a quarter of a second
//! at cost 12 on a current core) and blocking. On an async runtime, run them
//! through `tokio::task::spawn_blocking` (or your runtime's equivalent), never
//! on a worker thread; the Vault does.
//!
//! # Interoperability
//!
//! Hashes are the 60-character modular crypt format
//! `$2b$<cost, 2 digits>$<22 chars of salt><31 chars of hash>` in bcrypt's
//! base64 alphabet `./A-Za-z0-9`. `$2a$`, `$2b$` and `$2y$` are verified with
//! the same (correct) algorithm, which is what every maintained
//! implementation computes for passwords of at most 72 bytes. `$2x$` hashes
//! (made by crypt_blowfish's bug-compatible mode for a sign-extension bug
//! fixed in 2011) are refused: they cannot be verified correctly, and the user
//! must reset the password.
//!
//! One exception, for bytes only: crypt_blowfish (PHP, libxcrypt, glibc
//! patches) applies a countermeasure to `$2a$` hashes of passwords where a
//! byte of 0x80 or more follows 0xff bytes within a 4-byte word, which makes
//! its `$2a$` hash of such a password differ from the standard one. Such a
//! password is never UTF-8 text (text never holds the byte 0xff); against
//! such a hash, [`PasswordPolicy::verify`] computes the standard algorithm and
//! answers `false`, never a false match. The published vectors pinning this
//! are in `core/tests/data/bcrypt_vectors.json` (`"expect": "mismatch"`).
//!
//! ```
//! # fn main() -> Result<(), secrets_core::Error> {
//! use secrets_core::SecretString;
//! use secrets_core::password::{MIN_COST, PasswordPolicy};
//!
//! let policy = PasswordPolicy::new(MIN_COST)?; // production: PasswordPolicy::default()
//! let password = SecretString::from("correct horse battery staple");
//!
//! let stored = policy.hash(&password)?;
//! assert!(stored.starts_with("$2b$10$"));
//! assert!(policy.verify(&password, &stored)?);
//! assert!(!policy.verify(&SecretString::from("Tr0ub4dor&3"), &stored)?);
//! assert!(!policy.needs_rehash(&stored));
//! # Ok(()) }
//! ```

use crate::crypto::random_bytes;
use crate::error::{Error, Result};
use crate::secret::{SecretBytes, SecretString};

/// The cost of [`PasswordPolicy::default`]: 2^12 rounds of the expensive key
/// schedule, about a quarter of a second on a current core.
pub const DEFAULT_COST: u32 = 12;

/// The lowest cost [`PasswordPolicy::new`] accepts for new hashes.
/// ([`PasswordPolicy::verify`] accepts stored hashes of any valid cost,
/// 4 to 31, and [`PasswordPolicy::needs_rehash`] flags those below the
/// policy.)
pub const MIN_COST: u32 = 10;

/// The highest cost bcrypt defines.
pub const MAX_COST: u32 = 31;

/// The longest password accepted, in bytes (of UTF-8, for text): bcrypt
/// reads no more.
pub const MAX_PASSWORD_LEN: usize = 72;

/// A password as bcrypt reads it: text ([`SecretString`], hashed as its
/// UTF-8 bytes) or bytes that need not be UTF-8 ([`SecretBytes`]). Both are
/// held in a zeroizing container; the trait is sealed, so a password never
/// arrives as a plain `&str` or `&[u8]`. See the
/// [module docs](self#text-or-bytes).
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::{SecretBytes, SecretString};
/// use secrets_core::password::{MIN_COST, PasswordPolicy};
///
/// let policy = PasswordPolicy::new(MIN_COST)?;
/// let latin1 = SecretBytes::new(b"caf\xe9".to_vec()); // "café" in Latin-1: not UTF-8
/// let stored = policy.hash(&latin1)?;
/// assert!(policy.verify(&latin1, &stored)?);
/// // The same word typed as text is other bytes (c3 a9), another password.
/// assert!(!policy.verify(&SecretString::from("café"), &stored)?);
/// # Ok(()) }
/// ```
pub trait PasswordInput: sealed::Sealed {
    /// The bytes bcrypt hashes. Every call site is a place where the
    /// password leaves its box.
    fn expose_password_bytes(&self) -> &[u8];
}

impl PasswordInput for SecretString {
    fn expose_password_bytes(&self) -> &[u8] {
        self.expose_secret().as_bytes()
    }
}

impl PasswordInput for SecretBytes {
    fn expose_password_bytes(&self) -> &[u8] {
        self.expose_secret()
    }
}

mod sealed {
    /// Only the library's secret containers are passwords.
    pub trait Sealed {}
    impl Sealed for crate::secret::SecretString {}
    impl Sealed for crate::secret::SecretBytes {}
}

/// The lowest cost bcrypt defines; stored hashes below it are malformed.
const MIN_STORED_COST: u32 = 4;

/// The length of a bcrypt hash string in the modular crypt format.
const HASH_LEN: usize = 60;

/// [`PasswordPolicy::max_verify_cost`] is never below this: a cost a current
/// core verifies in about a second.
pub const VERIFY_COST_FLOOR: u32 = 14;

/// What [`PasswordPolicy::verify_login`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginVerdict {
    /// The password matches the stored hash.
    Match,
    /// It does not.
    Mismatch,
    /// There was no stored hash (unknown, disabled or passwordless account).
    NoHash,
    /// The password is one bcrypt cannot take (empty, over
    /// [`MAX_PASSWORD_LEN`] bytes, or containing NUL); nothing was computed,
    /// whatever the account.
    RefusedPassword,
    /// The stored hash does not parse.
    MalformedHash,
    /// The stored hash's cost is above [`PasswordPolicy::max_verify_cost`]:
    /// not verified.
    CostOverBound,
}

impl LoginVerdict {
    /// A short snake_case reason for an audit record.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Match => "match",
            Self::Mismatch => "wrong_password",
            Self::NoHash => "no_password",
            Self::RefusedPassword => "refused_password",
            Self::MalformedHash => "malformed_hash",
            Self::CostOverBound => "hash_cost_over_bound",
        }
    }
}

/// The result of [`PasswordPolicy::verify_login`]: the verdict and the
/// bcrypt work spent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginCheck {
    /// What was found.
    pub verdict: LoginVerdict,
    /// bcrypt work done, in rounds of the expensive key schedule (2^cost per
    /// verification).
    pub rounds: u64,
}

/// How passwords are hashed: bcrypt at a cost between [`MIN_COST`] and
/// [`MAX_COST`].
///
/// Holds no secret; its `Debug` shows the cost.
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::password::{DEFAULT_COST, PasswordPolicy};
///
/// assert_eq!(PasswordPolicy::default().cost(), DEFAULT_COST);
/// assert_eq!(PasswordPolicy::new(13)?.cost(), 13);
/// assert!(PasswordPolicy::new(8).is_err());
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordPolicy {
    cost: u32,
}

impl Default for PasswordPolicy {
    /// Cost [`DEFAULT_COST`] (12).
    fn default() -> Self {
        Self { cost: DEFAULT_COST }
    }
}

impl PasswordPolicy {
    /// A policy hashing at `cost` (each step up doubles the time).
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::password::PasswordPolicy;
    ///
    /// let policy = PasswordPolicy::new(11)?;
    /// assert_eq!(policy.cost(), 11);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `cost`) when `cost` is below
    /// [`MIN_COST`] or above [`MAX_COST`].
    pub fn new(cost: u32) -> Result<Self> {
        if cost < MIN_COST {
            return Err(Error::invalid(
                "cost",
                format!(
                    "is {cost}, below the minimum of {MIN_COST} for new hashes; use the default ({DEFAULT_COST}) unless you have measured a reason not to"
                ),
            ));
        }
        if cost > MAX_COST {
            return Err(Error::invalid(
                "cost",
                format!("is {cost}, above bcrypt's maximum of {MAX_COST}"),
            ));
        }
        Ok(Self { cost })
    }

    /// The cost new hashes are made at.
    ///
    /// ```
    /// use secrets_core::password::PasswordPolicy;
    ///
    /// assert_eq!(PasswordPolicy::default().cost(), 12);
    /// ```
    #[must_use]
    pub fn cost(&self) -> u32 {
        self.cost
    }

    /// Hashes `password` with a fresh random 16-byte salt, as a `$2b$` hash
    /// at the policy's cost.
    ///
    /// Slow and blocking by design: on an async runtime call it through
    /// `spawn_blocking` (see the [module docs](self)).
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::SecretString;
    /// use secrets_core::password::{MIN_COST, PasswordPolicy};
    ///
    /// let policy = PasswordPolicy::new(MIN_COST)?;
    /// let stored = policy.hash(&SecretString::from("hunter2 but longer"))?;
    /// assert_eq!(stored.len(), 60);
    /// assert!(stored.starts_with("$2b$10$"));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidInput`] (field `password`) when the password is
    ///   empty, longer than [`MAX_PASSWORD_LEN`] bytes, or contains NUL:
    ///   it is refused rather than silently truncated.
    /// - [`Error::Rng`] when the operating system's random number generator
    ///   fails.
    pub fn hash(&self, password: &impl PasswordInput) -> Result<String> {
        let key = checked_password(password)?;
        let salt = random_bytes::<16>()?;
        let parts = bcrypt::hash_with_salt(key, self.cost, *salt).map_err(from_bcrypt)?;
        Ok(parts.format_for_version(bcrypt::Version::TwoB))
    }

    /// Whether `password` matches the stored `hash` (`$2a$`, `$2b$` or
    /// `$2y$`, at any cost from 4 to 31, from this library or another).
    ///
    /// The hash is recomputed at the stored hash's cost and compared in
    /// constant time (the `bcrypt` crate compares with
    /// `subtle::ConstantTimeEq`). A mismatch is `Ok(false)`, not an error.
    ///
    /// Slow and blocking by design: on an async runtime call it through
    /// `spawn_blocking`. For an unknown user, verify against
    /// [`dummy_hash`](Self::dummy_hash) so that the answer takes as long.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::SecretString;
    /// use secrets_core::password::PasswordPolicy;
    ///
    /// // A published test vector of Openwall's crypt_blowfish (cost 5).
    /// let stored = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
    /// let policy = PasswordPolicy::default();
    /// assert!(policy.verify(&SecretString::from("U*U"), stored)?);
    /// assert!(!policy.verify(&SecretString::from("U*V"), stored)?);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidInput`] (field `password`) when the password is
    ///   empty, longer than [`MAX_PASSWORD_LEN`] bytes, or contains NUL.
    /// - [`Error::InvalidInput`] (field `hash`) when `hash` is not a
    ///   well-formed `$2a$`, `$2b$` or `$2y$` bcrypt hash. Neither the hash
    ///   nor the password appears in the message.
    pub fn verify(&self, password: &impl PasswordInput, hash: &str) -> Result<bool> {
        let key = checked_password(password)?;
        StoredHash::parse(hash)?;
        bcrypt::verify(key, hash).map_err(from_bcrypt)
    }

    /// Whether `hash` should be replaced by a fresh hash of the same password
    /// (after a successful [`verify`](Self::verify)): its cost is not the
    /// policy's (below it: too weak; above it: slower to verify than an
    /// unknown user's login, which tells the account exists), or it is not a
    /// hash this policy can verify.
    ///
    /// ```
    /// use secrets_core::password::PasswordPolicy;
    ///
    /// let policy = PasswordPolicy::default(); // cost 12
    /// assert!(policy.needs_rehash("$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"));
    /// assert!(!policy.needs_rehash("$2y$12$4Umg0rCJwMswRw/l.SwHvuQV01coP0eWmGzd61QH2RvAOMANUBGC."));
    /// assert!(policy.needs_rehash("$2y$13$4Umg0rCJwMswRw/l.SwHvuQV01coP0eWmGzd61QH2RvAOMANUBGC."));
    /// assert!(policy.needs_rehash("not a hash"));
    /// ```
    #[must_use]
    pub fn needs_rehash(&self, hash: &str) -> bool {
        StoredHash::parse(hash).map_or(true, |stored| stored.cost != self.cost)
    }

    /// The highest stored cost [`verify_login`](Self::verify_login)
    /// verifies: `max(cost + 2, 14)`. An operator who lowers the policy by up
    /// to two steps keeps every account working; a stored hash above the
    /// bound (cost 31 would take days) fails the login, and its user needs a
    /// password reset.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::password::PasswordPolicy;
    ///
    /// assert_eq!(PasswordPolicy::default().max_verify_cost(), 14);
    /// assert_eq!(PasswordPolicy::new(13)?.max_verify_cost(), 15);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn max_verify_cost(&self) -> u32 {
        (self.cost + 2).clamp(VERIFY_COST_FLOOR, MAX_COST)
    }

    /// A login's password check, at the same bcrypt work (2^cost rounds of
    /// the policy's cost) whether `stored` is `None` (unknown, disabled or
    /// passwordless account) or a hash of any cost up to the policy's; see
    /// the [module docs](self#equal-work-for-every-failed-login). `dummy` is
    /// the policy's [`dummy_hash`](Self::dummy_hash), made once.
    ///
    /// Never fails: a password bcrypt cannot take, a malformed stored hash
    /// and a cost over [`max_verify_cost`](Self::max_verify_cost) are
    /// verdicts. Slow and blocking by design (see [`verify`](Self::verify)).
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::SecretString;
    /// use secrets_core::password::{LoginVerdict, MIN_COST, PasswordPolicy};
    ///
    /// let old = PasswordPolicy::new(MIN_COST)?.hash(&SecretString::from("pw one"))?;
    /// let policy = PasswordPolicy::new(11)?; // raised since
    /// let dummy = policy.dummy_hash()?;
    /// let known = policy.verify_login(&SecretString::from("wrong"), Some(&old), &dummy);
    /// let unknown = policy.verify_login(&SecretString::from("wrong"), None, &dummy);
    /// assert_eq!(known.verdict, LoginVerdict::Mismatch);
    /// assert_eq!(unknown.verdict, LoginVerdict::NoHash);
    /// assert_eq!(known.rounds, unknown.rounds); // 2^11 each
    /// let right = policy.verify_login(&SecretString::from("pw one"), Some(&old), &dummy);
    /// assert_eq!(right.verdict, LoginVerdict::Match);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn verify_login(
        &self,
        password: &impl PasswordInput,
        stored: Option<&str>,
        dummy: &str,
    ) -> LoginCheck {
        let mut rounds = 0_u64;
        // One verification against the dummy at `cost`, counted.
        let pad = |cost: u32, rounds: &mut u64| {
            if let Some(d) = with_cost(dummy, cost) {
                let _ = self.verify(password, &d);
                *rounds += 1_u64 << cost;
            }
        };
        if checked_password(password).is_err() {
            return LoginCheck {
                verdict: LoginVerdict::RefusedPassword,
                rounds,
            };
        }
        let parsed = stored.map(|h| (h, StoredHash::parse(h)));
        let verdict = match parsed {
            None => LoginVerdict::NoHash,
            Some((_, Err(_))) => LoginVerdict::MalformedHash,
            Some((_, Ok(StoredHash { cost }))) if cost > self.max_verify_cost() => {
                LoginVerdict::CostOverBound
            }
            Some((hash, Ok(StoredHash { cost }))) => {
                let matched = self.verify(password, hash).unwrap_or(false);
                rounds += 1_u64 << cost;
                if matched {
                    return LoginCheck {
                        verdict: LoginVerdict::Match,
                        rounds,
                    };
                }
                // Below the policy: pad up to 2^P rounds in all.
                for k in cost..self.cost {
                    pad(k, &mut rounds);
                }
                return LoginCheck {
                    verdict: LoginVerdict::Mismatch,
                    rounds,
                };
            }
        };
        // Nothing verifiable: the policy's work, as for an unknown user.
        pad(self.cost, &mut rounds);
        LoginCheck { verdict, rounds }
    }

    /// The hash of a random password at the policy's cost.
    ///
    /// Use it to hide which accounts exist: when a login names an unknown (or
    /// disabled) user, [`verify`](Self::verify) the presented password against
    /// a dummy hash and discard the result, then fail as for a wrong
    /// password. The login then costs one bcrypt computation at the policy's
    /// cost whether or not the account exists. Make the dummy hash once (at
    /// start-up) and reuse it; no password matches it.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::SecretString;
    /// use secrets_core::password::{MIN_COST, PasswordPolicy};
    ///
    /// let policy = PasswordPolicy::new(MIN_COST)?;
    /// let dummy = policy.dummy_hash()?;
    /// // Unknown user: spend the same time, then refuse.
    /// let _ = policy.verify(&SecretString::from("whatever they typed"), &dummy)?;
    /// assert!(!policy.needs_rehash(&dummy));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Rng`] when the operating system's random number generator
    /// fails.
    pub fn dummy_hash(&self) -> Result<String> {
        use base64::Engine as _;
        let random = random_bytes::<24>()?;
        let password = SecretString::new(
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(random.as_slice()),
        );
        self.hash(&password)
    }
}

/// `hash` with its two-digit cost field replaced by `cost` (a dummy hash at
/// another cost: same random salt and digest).
fn with_cost(hash: &str, cost: u32) -> Option<String> {
    let (head, tail) = (hash.get(..4)?, hash.get(6..)?);
    (MIN_STORED_COST..=MAX_COST)
        .contains(&cost)
        .then(|| format!("{head}{cost:02}{tail}"))
}

/// The password's bytes, once they are known not to be truncated by bcrypt.
/// Text and bytes pass the same checks.
fn checked_password(password: &impl PasswordInput) -> Result<&[u8]> {
    let bytes = password.expose_password_bytes();
    if bytes.is_empty() {
        return Err(Error::invalid("password", "is empty"));
    }
    if bytes.len() > MAX_PASSWORD_LEN {
        return Err(Error::invalid(
            "password",
            format!(
                "is longer than {MAX_PASSWORD_LEN} bytes (of UTF-8, for text); bcrypt reads only the first {MAX_PASSWORD_LEN} bytes and would silently ignore the rest, so the password is refused instead of truncated; choose a shorter one"
            ),
        ));
    }
    if bytes.contains(&0) {
        return Err(Error::invalid(
            "password",
            "contains a NUL byte; bcrypt implementations stop reading at NUL and would silently ignore the rest, so the password is refused instead of truncated",
        ));
    }
    Ok(bytes)
}

/// What this module reads from a stored hash, after checking its shape.
struct StoredHash {
    cost: u32,
}

impl StoredHash {
    /// Checks `$2[aby]$NN$` + 53 characters of bcrypt's base64 alphabet, with
    /// a cost bcrypt defines, then has `bcrypt` decode the salt and hash.
    fn parse(hash: &str) -> Result<Self> {
        let bad = |reason: &str| Error::invalid("hash", format!("is not a bcrypt hash: {reason}"));
        if hash.len() != HASH_LEN {
            return Err(bad("expected 60 characters `$2b$NN$` + 53"));
        }
        let [b'$', b'2', variant, b'$', tens, units, b'$', rest @ ..] = hash.as_bytes() else {
            return Err(bad("expected the prefix `$2b$NN$`"));
        };
        match variant {
            b'a' | b'b' | b'y' => {}
            b'x' => {
                return Err(Error::invalid(
                    "hash",
                    "is a `$2x$` bcrypt hash, made by crypt_blowfish's bug-compatible mode, which cannot be verified correctly; reset the password",
                ));
            }
            _ => return Err(bad("unknown variant (expected `$2a$`, `$2b$` or `$2y$`)")),
        }
        let cost = match (tens, units) {
            (b'0'..=b'9', b'0'..=b'9') => u32::from(tens - b'0') * 10 + u32::from(units - b'0'),
            _ => return Err(bad("the cost is not two decimal digits")),
        };
        if !(MIN_STORED_COST..=MAX_COST).contains(&cost) {
            return Err(bad("the cost is outside bcrypt's range of 4 to 31"));
        }
        if !rest
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'/'))
        {
            return Err(bad("the salt and hash are not in bcrypt's base64 alphabet"));
        }
        // Decodes the salt and hash (canonical base64 only, as every
        // implementation writes it).
        hash.parse::<bcrypt::HashParts>().map_err(from_bcrypt)?;
        Ok(Self { cost })
    }
}

/// Maps the `bcrypt` crate's errors; none of its messages carry the
/// password or the hash.
fn from_bcrypt(e: bcrypt::BcryptError) -> Error {
    match e {
        bcrypt::BcryptError::CostNotAllowed(cost) => Error::invalid(
            "hash",
            format!("is not a bcrypt hash: cost {cost} is outside bcrypt's range of 4 to 31"),
        ),
        bcrypt::BcryptError::InvalidHash(reason) => {
            Error::invalid("hash", format!("is not a bcrypt hash: {reason}"))
        }
        bcrypt::BcryptError::Rand(e) => Error::Rng(e.to_string()),
        bcrypt::BcryptError::Truncation(_) => Error::invalid(
            "password",
            format!("is longer than {MAX_PASSWORD_LEN} bytes (UTF-8)"),
        ),
    }
}

#[cfg(test)]
mod tests;
