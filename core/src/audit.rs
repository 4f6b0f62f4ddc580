//! Audit events and their keyed hash chain.
//!
//! Every change the library makes is written together with an [`AuditDraft`]
//! in one atomic batch; the store numbers it (`seq`, per tenant, from 1) and
//! links it to the previous event with an [`AuditLinker`], normally the keyed
//! [`AuditChain`] (HMAC-SHA256, format in `docs/FORMATS.md`).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use hmac::Mac;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::clock::Timestamp;
use crate::crypto::KeyRing;
use crate::error::{ChainBreak, Error, Result};
use crate::id::{TenantId, UserId};

/// Longest accepted `action`, in bytes.
pub const MAX_ACTION_LEN: usize = 128;
/// Longest accepted `target`, in bytes.
pub const MAX_TARGET_LEN: usize = 512;
/// Longest accepted `source` (an address), in bytes.
pub const MAX_SOURCE_LEN: usize = 128;
/// Most detail entries on one event.
pub const MAX_DETAILS: usize = 32;
/// Longest detail key or value, in bytes.
pub const MAX_DETAIL_LEN: usize = 1024;

/// Who did something.
///
/// ```
/// use secrets_core::{UserId, audit::Actor};
///
/// let human = UserId::generate();
/// let agent = Actor::Agent { session: "s1".into(), on_behalf_of: human };
/// assert_eq!(agent.to_string(), format!("agent:s1@{human}"));
/// assert_eq!(agent.to_string().parse::<Actor>().ok(), Some(agent));
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Actor {
    /// The host's own code (a scheduled job, maintenance).
    System,
    /// Someone not (yet) identified: a failed login, a bad token.
    Anonymous,
    /// A human user, authenticated by password or access token.
    User(UserId),
    /// An API token, attributed to the user who owns it.
    ApiToken {
        /// The token's id (not the token).
        token: String,
        /// Its owner.
        owner: UserId,
    },
    /// An agent session, acting on behalf of the human who started it.
    Agent {
        /// The session's id (not its token).
        session: String,
        /// The human it acts for.
        on_behalf_of: UserId,
    },
}

impl Actor {
    /// The human accountable for the action, if any.
    #[must_use]
    pub fn user(&self) -> Option<UserId> {
        match self {
            Self::User(u) => Some(*u),
            Self::ApiToken { owner, .. } => Some(*owner),
            Self::Agent { on_behalf_of, .. } => Some(*on_behalf_of),
            Self::System | Self::Anonymous => None,
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::System => f.write_str("system"),
            Self::Anonymous => f.write_str("anonymous"),
            Self::User(u) => write!(f, "user:{u}"),
            Self::ApiToken { token, owner } => write!(f, "token:{token}@{owner}"),
            Self::Agent {
                session,
                on_behalf_of,
            } => write!(f, "agent:{session}@{on_behalf_of}"),
        }
    }
}

impl FromStr for Actor {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::invalid("actor", format!("`{s}` is not a known actor form"));
        match s {
            "system" => return Ok(Self::System),
            "anonymous" => return Ok(Self::Anonymous),
            _ => {}
        }
        let (tag, rest) = s.split_once(':').ok_or_else(bad)?;
        if tag == "user" {
            return Ok(Self::User(rest.parse()?));
        }
        let (id, user) = rest.rsplit_once('@').ok_or_else(bad)?;
        if id.is_empty() {
            return Err(bad());
        }
        let user: UserId = user.parse()?;
        match tag {
            "token" => Ok(Self::ApiToken {
                token: id.to_owned(),
                owner: user,
            }),
            "agent" => Ok(Self::Agent {
                session: id.to_owned(),
                on_behalf_of: user,
            }),
            _ => Err(bad()),
        }
    }
}

impl TryFrom<String> for Actor {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Actor> for String {
    fn from(a: Actor) -> Self {
        a.to_string()
    }
}

/// How an attempt ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Authorized and done.
    Allowed,
    /// Refused by authorization.
    Denied,
    /// Authorized, but it failed.
    Failed,
}

impl Outcome {
    /// The stored name: `allowed`, `denied` or `failed`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Denied => "denied",
            Self::Failed => "failed",
        }
    }

    /// Parses a stored name.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for anything but the three names.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "allowed" => Ok(Self::Allowed),
            "denied" => Ok(Self::Denied),
            "failed" => Ok(Self::Failed),
            _ => Err(Error::invalid(
                "outcome",
                format!("`{s}` is not an outcome"),
            )),
        }
    }

    fn code(self) -> u8 {
        match self {
            Self::Allowed => 1,
            Self::Denied => 2,
            Self::Failed => 3,
        }
    }
}

/// An audit event before the store numbers and links it.
///
/// ```
/// use secrets_core::{Timestamp, audit::{Actor, AuditDraft, Outcome}};
///
/// let draft = AuditDraft::new(Actor::System, "tenant.create", "tenant/acme", Timestamp::EPOCH)
///     .source("203.0.113.9")
///     .detail("plan", "pro");
/// assert!(draft.validate().is_ok());
/// assert_eq!(draft.outcome, Outcome::Allowed);
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditDraft {
    /// Who.
    pub actor: Actor,
    /// What, as a dotted verb (`user.create`, `secret.inject`).
    pub action: String,
    /// On what (`user/<id>`, `app/web/secret/DATABASE_URL`).
    pub target: String,
    /// From which address, if known.
    pub source: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// When.
    #[serde(with = "crate::clock::rfc3339::or_millis")]
    pub at: Timestamp,
    /// Non-secret details.
    pub details: BTreeMap<String, String>,
}

impl AuditDraft {
    /// An allowed event with no source and no details.
    #[must_use]
    pub fn new(
        actor: Actor,
        action: impl Into<String>,
        target: impl Into<String>,
        at: Timestamp,
    ) -> Self {
        Self {
            actor,
            action: action.into(),
            target: target.into(),
            source: None,
            outcome: Outcome::Allowed,
            at,
            details: BTreeMap::new(),
        }
    }

    /// Sets the source address.
    #[must_use]
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Sets the outcome.
    #[must_use]
    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    /// Adds a non-secret detail.
    #[must_use]
    pub fn detail(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.details.insert(key.into(), value.into());
        self
    }

    /// Checks the documented limits. A store refuses a batch whose event
    /// fails this: no change without its audit record.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming the field over its limit or empty.
    pub fn validate(&self) -> Result<()> {
        check_text("action", &self.action, MAX_ACTION_LEN, false)?;
        check_text("target", &self.target, MAX_TARGET_LEN, true)?;
        if let Some(s) = &self.source {
            check_text("source", s, MAX_SOURCE_LEN, false)?;
        }
        if self.details.len() > MAX_DETAILS {
            return Err(Error::invalid(
                "details",
                format!("has {} entries; at most {MAX_DETAILS}", self.details.len()),
            ));
        }
        for (k, v) in &self.details {
            check_text("details key", k, MAX_DETAIL_LEN, false)?;
            check_text("details value", v, MAX_DETAIL_LEN, true)?;
        }
        Ok(())
    }
}

impl AuditDraft {
    /// Makes every caller-supplied text of the event fit its limits, so that
    /// nothing a client controls (a source address taken from
    /// `X-Forwarded-For`, a login name, a webhook source) can make the audit
    /// write, and with it the operation, fail: control characters are
    /// escaped (`\u{1b}`), and text over its limit is cut on a character
    /// boundary and ends in `…`. An empty source becomes none. The Vault
    /// does this to every event it writes.
    ///
    /// ```
    /// use secrets_core::audit::{Actor, AuditDraft, MAX_SOURCE_LEN};
    /// use secrets_core::Timestamp;
    ///
    /// let mut d = AuditDraft::new(Actor::Anonymous, "auth.login", "login/x", Timestamp::EPOCH)
    ///     .source(format!("203.0.113.9\r\n{}", "9".repeat(300)));
    /// assert!(d.validate().is_err());
    /// d.sanitize();
    /// assert!(d.validate().is_ok());
    /// let source = d.source.unwrap();
    /// assert!(source.starts_with("203.0.113.9\\u{d}\\u{a}") && source.ends_with('…'));
    /// assert!(source.len() <= MAX_SOURCE_LEN);
    /// ```
    pub fn sanitize(&mut self) {
        self.target = clean_text(&self.target, MAX_TARGET_LEN);
        self.source = self
            .source
            .as_deref()
            .map(|s| clean_text(s, MAX_SOURCE_LEN))
            .filter(|s| !s.is_empty());
        let details = std::mem::take(&mut self.details);
        self.details = details
            .into_iter()
            .map(|(k, v)| {
                (
                    clean_text(&k, MAX_DETAIL_LEN),
                    clean_text(&v, MAX_DETAIL_LEN),
                )
            })
            .collect();
    }
}

/// `s` with control characters escaped, cut to at most `max` bytes on a
/// character boundary (ending in `…` when cut).
fn clean_text(s: &str, max: usize) -> String {
    const MARK: char = '…';
    let mut out = String::with_capacity(s.len().min(max));
    let mut buf = [0; 4];
    for c in s.chars() {
        let escaped;
        let piece: &str = if c.is_control() {
            escaped = c.escape_unicode().to_string();
            &escaped
        } else {
            c.encode_utf8(&mut buf)
        };
        if out.len() + piece.len() > max {
            while !out.is_empty() && out.len() + MARK.len_utf8() > max {
                out.pop();
            }
            if out.len() + MARK.len_utf8() <= max {
                out.push(MARK);
            }
            return out;
        }
        out.push_str(piece);
    }
    out
}

fn check_text(field: &'static str, s: &str, max: usize, may_be_empty: bool) -> Result<()> {
    if s.is_empty() && !may_be_empty {
        return Err(Error::invalid(field, "is empty"));
    }
    if s.len() > max {
        return Err(Error::TooLarge {
            what: field,
            len: s.len(),
            max,
        });
    }
    if s.chars().any(char::is_control) {
        return Err(Error::invalid(field, "contains control characters"));
    }
    Ok(())
}

/// A stored audit event: the draft, numbered within its tenant and linked to
/// its predecessor.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditRecord {
    /// The tenant whose log this is.
    pub tenant: TenantId,
    /// Position in the tenant's log, from 1, without gaps.
    pub seq: u64,
    /// The event.
    #[serde(flatten)]
    pub event: AuditDraft,
    /// `hash` of the previous event (32 zero bytes for the first).
    #[serde(with = "crate::hex32")]
    pub prev_hash: [u8; 32],
    /// This event's link: see [`AuditChain`].
    #[serde(with = "crate::hex32")]
    pub hash: [u8; 32],
}

impl AuditRecord {
    /// The canonical bytes of everything but `hash`, as `docs/FORMATS.md`
    /// specifies: each field length-prefixed, so no two events share an
    /// encoding.
    #[must_use]
    pub fn canonical_bytes(&self) -> Vec<u8> {
        fn put(out: &mut Vec<u8>, bytes: &[u8]) {
            let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(bytes);
        }
        let e = &self.event;
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(self.tenant.as_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.prev_hash);
        out.extend_from_slice(&e.at.unix_millis().to_be_bytes());
        put(&mut out, e.actor.to_string().as_bytes());
        put(&mut out, e.action.as_bytes());
        put(&mut out, e.target.as_bytes());
        match &e.source {
            None => out.push(0),
            Some(s) => {
                out.push(1);
                put(&mut out, s.as_bytes());
            }
        }
        out.push(e.outcome.code());
        let n = u32::try_from(e.details.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&n.to_be_bytes());
        for (k, v) in &e.details {
            put(&mut out, k.as_bytes());
            put(&mut out, v.as_bytes());
        }
        out
    }
}

/// Computes an event's link from its canonical bytes. Stores call it inside
/// the write transaction; an error aborts the whole batch (fail-closed).
pub trait AuditLinker: Send + Sync + fmt::Debug {
    /// The `hash` for `record` (whose `hash` field is not yet set).
    ///
    /// # Errors
    ///
    /// Any error: the batch is then not applied.
    fn link(&self, record: &AuditRecord) -> Result<[u8; 32]>;
}

/// The keyed hash chain: `hash = HMAC-SHA256(chain key, "secrets-core/v1/audit"
/// || canonical bytes)`, where the canonical bytes include the previous hash.
/// The chain key is derived from the [`KeyRing`]'s master key, so someone who
/// can write the database but lacks the master key cannot forge a chain.
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::crypto::{KeyRing, MasterKey};
/// use secrets_core::audit::AuditChain;
///
/// let chain = AuditChain::new(&KeyRing::new(MasterKey::generate()?));
/// assert_eq!(format!("{chain:?}"), "AuditChain([REDACTED])");
/// # Ok(()) }
/// ```
pub struct AuditChain(Zeroizing<[u8; 32]>);

const AUDIT_LABEL: &[u8] = b"secrets-core/v1/audit";

impl AuditChain {
    /// The chain of a key ring's master key.
    #[must_use]
    pub fn new(ring: &KeyRing) -> Self {
        Self(ring.derive_subkey("audit-chain"))
    }

    /// A chain over a stored key (a retired epoch's, see `vault::keys`).
    pub(crate) fn from_key(key: Zeroizing<[u8; 32]>) -> Self {
        Self(key)
    }
}

impl AuditLinker for AuditChain {
    fn link(&self, record: &AuditRecord) -> Result<[u8; 32]> {
        let mut mac = crate::crypto::hmac_sha256(&self.0);
        mac.update(AUDIT_LABEL);
        mac.update(&record.canonical_bytes());
        Ok(mac.finalize().into_bytes().into())
    }
}

impl fmt::Debug for AuditChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuditChain([REDACTED])")
    }
}

const CHECKPOINT_LABEL: &[u8] = b"secrets-core/v1/audit-checkpoint";

impl AuditChain {
    /// Signs the head of a tenant's log: store the result somewhere the
    /// database's writers cannot reach, and [`Checkpoint`] later proves the
    /// log still holds at least `count` events ending in `head`.
    #[must_use]
    pub fn checkpoint(
        &self,
        tenant: TenantId,
        count: u64,
        head: [u8; 32],
        at: Timestamp,
    ) -> Checkpoint {
        let mut cp = Checkpoint {
            tenant,
            count,
            head,
            at,
            mac: [0; 32],
        };
        cp.mac = self.checkpoint_mac(&cp);
        cp
    }

    /// Checks a checkpoint's signature (constant time).
    ///
    /// # Errors
    ///
    /// [`Error::Unauthenticated`] if it was not signed by this chain's key or
    /// was altered.
    pub fn verify_checkpoint(&self, cp: &Checkpoint) -> Result<()> {
        use subtle::ConstantTimeEq;
        if bool::from(self.checkpoint_mac(cp).ct_eq(&cp.mac)) {
            Ok(())
        } else {
            Err(Error::Unauthenticated)
        }
    }

    fn checkpoint_mac(&self, cp: &Checkpoint) -> [u8; 32] {
        let mut mac = crate::crypto::hmac_sha256(&self.0);
        mac.update(CHECKPOINT_LABEL);
        mac.update(cp.tenant.as_bytes());
        mac.update(&cp.count.to_be_bytes());
        mac.update(&cp.head);
        mac.update(&cp.at.unix_millis().to_be_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// A signed statement of a log's length and head at a point in time.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Checkpoint {
    /// The tenant.
    pub tenant: TenantId,
    /// How many events the log held (the last `seq`).
    pub count: u64,
    /// The `hash` of event `count` (zeros for an empty log).
    #[serde(with = "crate::hex32")]
    pub head: [u8; 32],
    /// When it was taken.
    #[serde(with = "crate::clock::rfc3339::or_millis")]
    pub at: Timestamp,
    /// HMAC-SHA256 over the fields above with the chain key.
    #[serde(with = "crate::hex32")]
    pub mac: [u8; 32],
}

/// Verifies a tenant's log event by event, in `seq` order, across as many
/// pages as it takes.
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::audit::{AuditChain, ChainVerifier};
/// use secrets_core::crypto::{KeyRing, MasterKey};
/// use secrets_core::TenantId;
///
/// let chain = AuditChain::new(&KeyRing::new(MasterKey::generate()?));
/// let verifier = ChainVerifier::new(&chain, TenantId::DEFAULT);
/// assert_eq!(verifier.finish().count, 0); // an empty log verifies
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ChainVerifier<'a> {
    linker: &'a dyn AuditLinker,
    /// The chain keys of earlier epochs (before a master-key replacement),
    /// oldest first; the log moves through them in order to `linker`.
    earlier: Vec<&'a dyn AuditLinker>,
    /// Index into `earlier` of the epoch the last event was linked in
    /// (`earlier.len()` for `linker`'s).
    epoch: usize,
    tenant: TenantId,
    count: u64,
    head: [u8; 32],
}

/// What a verified log ends with.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChainSummary {
    /// Events verified (the last `seq`).
    pub count: u64,
    /// The last event's hash (zeros for an empty log).
    #[serde(with = "crate::hex32")]
    pub head: [u8; 32],
}

impl<'a> ChainVerifier<'a> {
    /// A verifier for `tenant`'s log.
    #[must_use]
    pub fn new(linker: &'a dyn AuditLinker, tenant: TenantId) -> Self {
        Self {
            linker,
            earlier: Vec::new(),
            epoch: 0,
            tenant,
            count: 0,
            head: [0; 32],
        }
    }

    /// A verifier for a log that may have crossed master-key replacements:
    /// `earlier` are the chain keys of the earlier epochs, oldest first.
    /// Events are accepted under an epoch's key only until the first event
    /// under a later one (whose link covers the last event before it); after
    /// that, never again.
    pub(crate) fn with_earlier(
        linker: &'a dyn AuditLinker,
        earlier: Vec<&'a dyn AuditLinker>,
        tenant: TenantId,
    ) -> Self {
        let mut me = Self::new(linker, tenant);
        me.earlier = earlier;
        me
    }

    /// Whether the last event verified is linked under the current key (or
    /// the log is empty): a log whose events all verify but which ends under
    /// a retired key has lost its events from the replacement on.
    pub(crate) fn ends_in_current_epoch(&self) -> bool {
        self.count == 0 || self.epoch == self.earlier.len()
    }

    /// Checks the next event.
    ///
    /// # Errors
    ///
    /// [`Error::AuditChainBroken`] naming the `seq` where the log stops
    /// verifying: a gap or repeat in `seq` (deletion, insertion, reordering),
    /// a `prev_hash` that is not the previous event's hash, or a `hash` that
    /// does not match the event's contents (an edit).
    pub fn push(&mut self, record: &AuditRecord) -> Result<()> {
        let expected_seq = self.count + 1;
        let broken = |reason| Error::AuditChainBroken {
            seq: expected_seq,
            reason,
        };
        if record.tenant != self.tenant {
            return Err(broken(ChainBreak::ForeignEvent));
        }
        if record.seq != expected_seq {
            return Err(broken(if record.seq > expected_seq {
                ChainBreak::Missing
            } else {
                ChainBreak::Reordered
            }));
        }
        if record.prev_hash != self.head {
            return Err(broken(ChainBreak::BadLink));
        }
        use subtle::ConstantTimeEq;
        // The epoch of the previous event, then later ones in order; the
        // first event may be in any.
        let from = if self.count == 0 { 0 } else { self.epoch };
        let mut matched = None;
        for epoch in from..=self.earlier.len() {
            let linker = self.earlier.get(epoch).copied().unwrap_or(self.linker);
            let hash = linker.link(record)?;
            if bool::from(hash.ct_eq(&record.hash)) {
                matched = Some(epoch);
                break;
            }
        }
        let Some(epoch) = matched else {
            return Err(broken(ChainBreak::Altered));
        };
        self.epoch = epoch;
        self.count = record.seq;
        self.head = record.hash;
        Ok(())
    }

    /// The verified length and head.
    #[must_use]
    pub fn finish(self) -> ChainSummary {
        ChainSummary {
            count: self.count,
            head: self.head,
        }
    }
}

#[cfg(test)]
mod tests;
