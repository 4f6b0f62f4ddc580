//! Refreshing a connection's tokens: one refresher at a time, across every
//! process sharing the store.
//!
//! A provider that rotates refresh tokens honours each one once. Two app
//! instances that both notice an expiring token and both present the same
//! refresh token burn it: one gets the new set, the other `invalid_grant`
//! (and a provider with reuse detection revokes the whole grant). So the
//! refresh is leased on the connection row itself:
//!
//! 1. [`Vault::begin_refresh`] reads the row. A token with more than
//!    [`REFRESH_BUFFER`](crate::oauth::REFRESH_BUFFER) left is returned as
//!    is ([`RefreshStart::Fresh`]); an unexpired lease held by another
//!    attempt means [`RefreshStart::Busy`]; otherwise it writes a lease (a
//!    random holder id and an expiry) by compare-and-swap on the row
//!    version, so that of concurrent callers exactly one wins, and returns
//!    it with the refresh token to present ([`RefreshStart::Refresh`]).
//! 2. The host calls the provider.
//! 3. [`Vault::complete_refresh`] stores the new set and clears the lease,
//!    if the lease is still this attempt's; [`Vault::abandon_refresh`]
//!    records a failure and clears it.
//!
//! A lease lasts twice [`VaultConfig::oauth_refresh_timeout`], so a holder
//! that crashed blocks the others for that long at most. Every write is
//! audited: `oauth.refresh.begin` when a lease is taken, `oauth.refresh`
//! when a refresh completes (allowed) or fails (failed), and a refused
//! completion or abandon (denied).
//!
//! [`Vault::fresh_token`] runs the three phases around a host's
//! [`OAuthRefresher`], and queues the callers of one process on an
//! in-memory lock first, so that they wait for its result instead of
//! polling the row.
//!
//! [`VaultConfig::oauth_refresh_timeout`]: crate::vault::VaultConfig::oauth_refresh_timeout

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use subtle::ConstantTimeEq;

use super::check_provider;
use crate::audit::{Actor, AuditDraft, Outcome};
use crate::clock::Timestamp;
use crate::crypto::random_bytes;
use crate::error::{Error, OAuthFailure, Result};
use crate::id::{TenantId, UserId};
use crate::oauth::TokenSet;
use crate::rbac::Permission;
use crate::secret::SecretString;
use crate::store::records::{OAuthConnection, OAuthLease};
use crate::store::retry::{Race, retry};
use crate::store::{Batch, Change, Kind, Record, StoreExt, Stored};
use crate::vault::{Caller, Vault};

/// The longest a [`RefreshStart::Busy`] caller is told to wait before
/// asking again: a provider usually answers within a few hundred
/// milliseconds, and asking costs one row read.
const BUSY_POLL: Duration = Duration::from_millis(100);

/// The longest failure reason recorded on a connection, in characters.
const MAX_REASON_CHARS: usize = 512;

/// Why a connection needs reconnecting after its new tokens were lost.
const RECONNECT: &str =
    "the provider rotated the tokens but the new ones could not be stored; connect again";

/// Why a connection needs reconnecting after the provider refused it.
const INVALID_GRANT: &str = "the provider refused the refresh token (invalid_grant); connect again";

/// Refreshes a token set at the provider: the host's HTTP call, for
/// [`Vault::fresh_token`]. The Vault calls it for at most one caller at a
/// time per connection, in every process sharing the store, bounded by
/// [`VaultConfig::oauth_refresh_timeout`](crate::vault::VaultConfig).
///
/// Implement [`refresh`](Self::refresh); implement
/// [`try_refresh`](Self::try_refresh) as well to report a refresh token the
/// provider refused for good ([`RefreshFailure::InvalidGrant`]), so that the
/// connection is marked as needing reconnection instead of being tried again
/// with a dead token.
///
/// ```
/// use async_trait::async_trait;
/// use secrets_core::oauth::TokenSet;
/// use secrets_core::vault::{OAuthRefresher, RefreshFailure};
/// use secrets_core::{Clock, Error, Result, SystemClock};
///
/// struct Host;
///
/// impl Host {
///     /// POSTs `oauth::refresh_request_form(..)` to the token endpoint
///     /// and returns the HTTP status and body.
///     async fn post(&self, _current: &TokenSet) -> (u16, Vec<u8>) {
///         (400, br#"{"error":"invalid_grant"}"#.to_vec())
///     }
/// }
///
/// #[async_trait]
/// impl OAuthRefresher for Host {
///     async fn refresh(&self, provider: &str, current: &TokenSet) -> Result<TokenSet> {
///         self.try_refresh(provider, current).await.map_err(Error::from)
///     }
///
///     async fn try_refresh(
///         &self,
///         _provider: &str,
///         current: &TokenSet,
///     ) -> Result<TokenSet, RefreshFailure> {
///         let (status, body) = self.post(current).await;
///         if status == 400 && body.windows(15).any(|w| w == b"\"invalid_grant\"") {
///             return Err(RefreshFailure::InvalidGrant);
///         }
///         Ok(TokenSet::from_refresh_response(&body, SystemClock.now(), current)?)
///     }
/// }
/// ```
#[async_trait]
pub trait OAuthRefresher: Send + Sync {
    /// Trades `current` (its refresh token) for a new token set.
    ///
    /// # Errors
    ///
    /// Whatever went wrong; the Vault records it on the connection, keeps
    /// the stored tokens (a later call tries again) and returns it as
    /// [`Error::OAuth`].
    async fn refresh(&self, provider: &str, current: &TokenSet) -> Result<TokenSet>;

    /// [`refresh`](Self::refresh), telling a final refusal apart. The Vault
    /// calls this one; the default calls `refresh` and counts every error
    /// as [`RefreshFailure::Failed`].
    ///
    /// # Errors
    ///
    /// [`RefreshFailure::InvalidGrant`] when the provider refused the
    /// refresh token; [`RefreshFailure::Failed`] for anything else.
    async fn try_refresh(
        &self,
        provider: &str,
        current: &TokenSet,
    ) -> Result<TokenSet, RefreshFailure> {
        self.refresh(provider, current)
            .await
            .map_err(RefreshFailure::from)
    }
}

/// Why a refresh produced no new token set: what the host tells
/// [`Vault::abandon_refresh`], or returns from
/// [`OAuthRefresher::try_refresh`].
///
/// ```
/// use secrets_core::Error;
/// use secrets_core::vault::RefreshFailure;
///
/// let failure = RefreshFailure::from(Error::invalid("token_response", "is not JSON"));
/// assert_eq!(
///     failure,
///     RefreshFailure::Failed("refresh failed: invalid `token_response`: is not JSON".into())
/// );
/// assert!(Error::from(RefreshFailure::InvalidGrant).to_string().contains("connect again"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefreshFailure {
    /// The provider refused the refresh token for good: its token endpoint
    /// answered `invalid_grant` (RFC 6749 section 5.2; revoked, expired, or
    /// already used). The stored tokens are dead: the connection is marked
    /// [`ConnectionInfo::needs_reconnect`](crate::vault::ConnectionInfo),
    /// and every later refresh fails at once until the user connects again.
    InvalidGrant,
    /// Anything else: the provider unreachable, a timeout, a 5xx, another
    /// error code. The stored tokens stay, and the next caller tries again.
    /// The text is recorded on the connection and audited (cut to 512
    /// characters): it must not hold a token.
    Failed(String),
}

impl From<Error> for RefreshFailure {
    fn from(e: Error) -> Self {
        Self::Failed(format!("refresh failed: {e}"))
    }
}

impl From<RefreshFailure> for Error {
    fn from(f: RefreshFailure) -> Self {
        match f {
            RefreshFailure::InvalidGrant => Self::OAuth {
                reason: OAuthFailure::InvalidGrant,
                detail: None,
            },
            RefreshFailure::Failed(_) => Self::OAuth {
                reason: OAuthFailure::RefreshFailed,
                detail: Some(f.reason()),
            },
        }
    }
}

impl RefreshFailure {
    /// What is recorded on the connection and in the audit log.
    fn reason(&self) -> String {
        match self {
            Self::InvalidGrant => INVALID_GRANT.to_owned(),
            Self::Failed(reason) => reason.chars().take(MAX_REASON_CHARS).collect(),
        }
    }
}

/// What [`Vault::begin_refresh`] found.
#[derive(Debug)]
#[non_exhaustive]
pub enum RefreshStart {
    /// No refresh is due: the access token has more than 5 minutes left, or
    /// its expiry is unknown. Use it.
    Fresh(SecretString),
    /// This caller holds the refresh lease: present
    /// [`RefreshLease::refresh_token`] to the provider, then call
    /// [`Vault::complete_refresh`] or [`Vault::abandon_refresh`] before
    /// [`RefreshLease::expires_at`].
    Refresh(RefreshLease),
    /// Another attempt (in this process or another) holds the lease. Ask
    /// again after `retry_after`: the answer is then [`Fresh`](Self::Fresh)
    /// with its result, or [`Refresh`](Self::Refresh) if it failed or its
    /// lease lapsed.
    Busy {
        /// How long to wait before asking again: 100 ms, or less when the
        /// lease lapses sooner.
        retry_after: Duration,
    },
}

/// A refresh lease held by one attempt: the refresh token to present, and
/// what [`Vault::complete_refresh`] and [`Vault::abandon_refresh`] need to
/// prove the lease is theirs. Not `Clone`: one attempt, one holder.
///
/// `Debug` shows no token (nor the holder id).
pub struct RefreshLease {
    tenant: TenantId,
    user: UserId,
    provider: String,
    holder: String,
    expires_at: Timestamp,
    refresh_token: SecretString,
    /// Boxed: it is most of the lease, and [`RefreshStart`] stays small.
    current: Box<TokenSet>,
}

impl RefreshLease {
    /// The refresh token to present to the provider (see
    /// [`oauth::refresh_request_form`](crate::oauth::refresh_request_form)).
    #[must_use]
    pub fn refresh_token(&self) -> &SecretString {
        &self.refresh_token
    }

    /// The token set being refreshed: pass it as `previous` to
    /// [`TokenSet::from_refresh_response`].
    #[must_use]
    pub fn current(&self) -> &TokenSet {
        &self.current
    }

    /// The provider.
    #[must_use]
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The user whose connection it is.
    #[must_use]
    pub fn user(&self) -> UserId {
        self.user
    }

    /// When the lease lapses (by the Vault's clock). Complete or abandon
    /// before then: after it, another refresher may take the lease over,
    /// and this one's result is then refused.
    #[must_use]
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }

    /// Whether the row's lease is this one (holder ids compared in constant
    /// time, as every credential-like value is).
    fn is_held_in(&self, record: &OAuthConnection) -> bool {
        record
            .refresh_lease
            .as_ref()
            .is_some_and(|l| bool::from(l.holder.as_bytes().ct_eq(self.holder.as_bytes())))
    }
}

impl fmt::Debug for RefreshLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshLease")
            .field("provider", &self.provider)
            .field("user", &self.user)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// One lock per connection being refreshed in this process: its callers
/// queue here for one refresh instead of polling the row.
#[derive(Debug, Default)]
pub(in crate::vault) struct InFlight(
    std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
);

impl InFlight {
    fn lock_for(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        // Forget locks nobody holds or waits for.
        map.retain(|k, v| k == key || Arc::strong_count(v) > 1);
        map.entry(key.to_owned()).or_default().clone()
    }
}

/// One connection, as the refresh operations name it.
struct Conn {
    tenant: TenantId,
    user: UserId,
    provider: String,
    /// The row id, `<user>/<provider>`.
    id: String,
    /// The audit target, `oauth/<provider>`.
    target: String,
}

/// What one look at the row decided.
enum Step {
    Fresh(SecretString),
    Busy(Duration),
    /// A refresh failed after the caller first looked: share its error
    /// rather than present the token again at once.
    Failed(String),
    Lease(RefreshLease),
}

impl Vault {
    /// The first phase of a refresh, for hosts whose refresher cannot be a
    /// Rust callback (C, Python): a usable access token, or the lease to
    /// refresh it, or word that another attempt holds the lease. Callable by
    /// the connection's user (with `integrations:connect`) or the system
    /// caller; any other caller's attempt is refused and audited.
    ///
    /// Taking the lease is a compare-and-swap on the connection row, so of
    /// concurrent callers, in one process or several, one gets
    /// [`RefreshStart::Refresh`] and the others [`RefreshStart::Busy`]
    /// until it completes, abandons, or its lease lapses (twice
    /// [`oauth_refresh_timeout`](crate::vault::VaultConfig), 60 s by
    /// default). Audited as `oauth.refresh.begin` (with `took_over` when it
    /// replaced a lapsed lease).
    ///
    /// A refresh that failed earlier is tried again: pace retries of a
    /// failing provider yourself. One the provider refused
    /// ([`RefreshFailure::InvalidGrant`]) is not: the connection needs
    /// reconnecting.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// # use std::sync::Arc;
    /// # use secrets_core::crypto::{KeyRing, MasterKey};
    /// # use secrets_core::store::MemoryStore;
    /// # use secrets_core::vault::{Caller, Vault, VaultConfig};
    /// # use secrets_core::{Clock, ManualClock, SecretString, TenantId, Timestamp};
    /// use secrets_core::oauth::{self, TokenSet};
    /// use secrets_core::vault::{RefreshFailure, RefreshStart};
    /// # let clock = ManualClock::new(Timestamp::from_unix_seconds(1_700_000_000));
    /// # let mut config = VaultConfig::default();
    /// # config.password_cost = 10;
    /// # let vault = Vault::new(Arc::new(MemoryStore::new()), Arc::new(KeyRing::new(MasterKey::generate()?)),
    /// #     Arc::new(clock.clone()), config).await?;
    /// # let tenant = TenantId::DEFAULT;
    /// # let password = SecretString::from("correct horse battery");
    /// # let ada = vault.bootstrap(tenant, "acme", "ada@example.com", &password, None).await?;
    /// # let session = vault.login(tenant, "ada@example.com", &password, None).await?;
    /// # let caller = vault.authenticate_access_token(session.access_token.expose_secret(), None).await?;
    /// # let old = TokenSet::from_token_response(
    /// #     br#"{"access_token":"at-1","token_type":"Bearer","expires_in":60,"refresh_token":"rt-1"}"#, clock.now())?;
    /// # vault.store_oauth_tokens(&caller, "github", &old).await?;
    /// // The stored token expires in a minute: a refresh is due.
    /// let token = match vault.begin_refresh(&caller, ada, "github").await? {
    ///     RefreshStart::Fresh(token) => token,
    ///     RefreshStart::Refresh(lease) => {
    ///         let body = oauth::refresh_request_form(lease.refresh_token(), "my-client", &[])?;
    ///         // ... the host POSTs `body` to the token endpoint, and gets:
    ///         let response = br#"{"access_token":"at-2","token_type":"Bearer","expires_in":3600}"#;
    ///         # let _ = body;
    ///         match TokenSet::from_refresh_response(response, clock.now(), lease.current()) {
    ///             Ok(new) => {
    ///                 vault.complete_refresh(&caller, &lease, &new).await?;
    ///                 new.access_token
    ///             }
    ///             Err(e) => {
    ///                 vault.abandon_refresh(&caller, &lease, RefreshFailure::from(e)).await?;
    ///                 return Ok(());
    ///             }
    ///         }
    ///     }
    ///     RefreshStart::Busy { retry_after } => {
    ///         // Another instance is refreshing: sleep `retry_after`, ask again.
    ///         # let _ = retry_after;
    ///         return Ok(());
    ///     }
    ///     _ => return Ok(()),
    /// };
    /// assert_eq!(token.expose_secret(), "at-2");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::InvalidInput`] for a malformed
    /// provider; [`Error::OAuth`] when not connected, when there is no
    /// refresh token, or when the connection needs reconnecting (the message
    /// says `connect again`).
    pub async fn begin_refresh(
        &self,
        caller: &Caller,
        user: UserId,
        provider: &str,
    ) -> Result<RefreshStart> {
        let conn = self.connection_for(caller, user, provider).await?;
        Ok(match self.step(caller, &conn, None).await? {
            Step::Fresh(token) => RefreshStart::Fresh(token),
            Step::Busy(retry_after) => RefreshStart::Busy { retry_after },
            Step::Lease(lease) => RefreshStart::Refresh(lease),
            // Only reported to a caller that looked before (`seen`).
            Step::Failed(detail) => return Err(refresh_failed(detail)),
        })
    }

    /// The second phase: stores the token set the provider returned for
    /// `lease` (sealed, as [`Vault::store_oauth_tokens`] does), clears a
    /// recorded failure and releases the lease. A set without a refresh
    /// token keeps the one presented, and one without scopes the previous
    /// scopes (RFC 6749 section 6), as
    /// [`TokenSet::from_refresh_response`] does. Audited as `oauth.refresh`.
    ///
    /// It succeeds as long as the row's lease is still this one, even if it
    /// has lapsed by the clock: no one else has presented the refresh token,
    /// and the provider has already rotated it. A write that loses a race
    /// is retried on the re-read row. An error other than the two below
    /// (the store failing) has written nothing and left the lease in place:
    /// call again with the same lease.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] if the caller may not refresh this connection or
    /// the lease is from another tenant; [`Error::OAuth`] when the lease was
    /// lost (it lapsed and another attempt took it over) or the connection
    /// was deleted meanwhile: nothing is stored. The provider has already
    /// rotated, so `tokens` belong to no connection now: do not keep them
    /// (revoke them at the provider if it offers RFC 7009 revocation), and
    /// call [`Vault::begin_refresh`] again for the other attempt's result.
    /// If that attempt presented the refresh token after this one did, the
    /// provider refuses it and the connection needs reconnecting; leases
    /// last twice the refresh timeout so that this takes a provider slower
    /// than that.
    pub async fn complete_refresh(
        &self,
        caller: &Caller,
        lease: &RefreshLease,
        tokens: &TokenSet,
    ) -> Result<()> {
        let conn = self
            .lease_connection(caller, lease, "oauth.refresh")
            .await?;
        self.store_refreshed(caller, &conn, lease, tokens).await
    }

    /// The second phase of a refresh that produced no token set: records
    /// `failure` on the connection and releases the lease. The stored tokens
    /// stay; [`RefreshFailure::InvalidGrant`] also marks the connection as
    /// needing reconnection, so that no one presents the dead refresh token
    /// again. Audited as a failed `oauth.refresh`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] as for [`Vault::complete_refresh`];
    /// [`Error::OAuth`] when the lease was lost or the connection deleted
    /// (nothing is recorded: the attempt that took the lease over records
    /// its own outcome).
    pub async fn abandon_refresh(
        &self,
        caller: &Caller,
        lease: &RefreshLease,
        failure: RefreshFailure,
    ) -> Result<()> {
        let conn = self
            .lease_connection(caller, lease, "oauth.refresh")
            .await?;
        self.record_failure(caller, &conn, lease, &failure).await
    }

    /// A usable access token for `user`'s connection to `provider`: the
    /// two phases of [`Vault::begin_refresh`] around the host's
    /// `refresher`. When the token expires within 5 minutes, the refresher
    /// is called first, once however many callers ask at the same time in
    /// however many processes (bounded by the configured timeout); the new
    /// tokens are sealed and stored, and a failure is recorded on the
    /// connection and returned. Callers in other processes wait (polling
    /// every 100 ms, for at most the lease's lifetime) for the one that
    /// holds the lease. Callable by that user (with `integrations:connect`)
    /// or the system caller; any other caller's attempt is refused and
    /// audited.
    ///
    /// A provider that rotates refresh tokens has invalidated the old one by
    /// the time the refresher returns, so the new set is never dropped: a
    /// write that loses a race is retried on the re-read row, and a set that
    /// still cannot be stored is not returned. The connection is then marked
    /// as needing reconnection ([`ConnectionInfo::needs_reconnect`]), and
    /// every later call fails at once, without presenting the dead refresh
    /// token, until the user connects again ([`Vault::store_oauth_tokens`]).
    /// The same happens when the refresher reports
    /// [`RefreshFailure::InvalidGrant`].
    ///
    /// [`ConnectionInfo::needs_reconnect`]: crate::vault::ConnectionInfo::needs_reconnect
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::OAuth`] when not connected, when
    /// there is no refresh token, when the refresh failed or timed out, when
    /// another process held the lease for longer than its lifetime, or
    /// when the connection needs reconnecting (the message says `connect
    /// again`).
    pub async fn fresh_token(
        &self,
        caller: &Caller,
        user: UserId,
        provider: &str,
        refresher: &dyn OAuthRefresher,
    ) -> Result<SecretString> {
        let conn = self.connection_for(caller, user, provider).await?;
        // The common case, one read: a token with time left.
        let (before, tokens) = self.connection(conn.tenant, &conn.id).await?;
        if before.record.needs_reconnect {
            return Err(dead(&conn.provider, &before.record));
        }
        if !tokens.needs_refresh(self.now()) {
            return Ok(tokens.access_token);
        }
        drop(tokens);
        let lock = self
            .inner
            .inflight
            .lock_for(&format!("{}/{}", conn.tenant, conn.id));
        let _guard = lock.lock().await;
        // Wait for another process's lease at most one lease lifetime (none
        // if that is beyond what an `Instant` can hold).
        let give_up = tokio::time::Instant::now().checked_add(self.lease_ttl());
        loop {
            match self.step(caller, &conn, Some(before.version)).await? {
                Step::Fresh(token) => return Ok(token),
                Step::Failed(detail) => return Err(refresh_failed(detail)),
                Step::Lease(lease) => return self.run(caller, &conn, &lease, refresher).await,
                Step::Busy(wait) => {
                    let waited_out = give_up.is_some_and(|g| {
                        tokio::time::Instant::now()
                            .checked_add(wait)
                            .is_none_or(|t| t > g)
                    });
                    if waited_out {
                        return Err(Error::Contended {
                            what: "the OAuth connection",
                        });
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Calls the refresher for a lease this process holds, then completes
    /// or abandons it.
    async fn run(
        &self,
        caller: &Caller,
        conn: &Conn,
        lease: &RefreshLease,
        refresher: &dyn OAuthRefresher,
    ) -> Result<SecretString> {
        let timeout = self.inner.config.oauth_refresh_timeout;
        let outcome = match tokio::time::timeout(
            timeout,
            refresher.try_refresh(&conn.provider, &lease.current),
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(_) => Err(RefreshFailure::Failed(format!(
                "refresh timed out after {} s",
                timeout.as_secs()
            ))),
        };
        let new = match outcome {
            Ok(new) => new,
            Err(failure) => {
                self.record_failure(caller, conn, lease, &failure).await?;
                return Err(match failure {
                    RefreshFailure::InvalidGrant => Error::OAuth {
                        reason: OAuthFailure::InvalidGrant,
                        detail: Some(format!("`{}`", conn.provider)),
                    },
                    other => other.into(),
                });
            }
        };
        match self.store_refreshed(caller, conn, lease, &new).await {
            Ok(()) => Ok(new.access_token),
            // Lost the lease, or disconnected: the attempt that holds the
            // row now decides.
            Err(e @ Error::OAuth { .. }) => Err(e),
            Err(_) => {
                self.mark_reconnect(caller, conn, lease).await;
                Err(Error::OAuth {
                    reason: OAuthFailure::NeedsReconnect,
                    detail: Some(format!("`{}`", conn.provider)),
                })
            }
        }
    }

    /// Checks `provider` and that `caller` may refresh `user`'s connection
    /// to it (the user themself with `integrations:connect`, or the system);
    /// a refusal is audited as `oauth.token`.
    async fn connection_for(&self, caller: &Caller, user: UserId, provider: &str) -> Result<Conn> {
        check_provider(provider)?;
        let conn = Conn {
            tenant: caller.tenant,
            user,
            provider: provider.to_owned(),
            id: format!("{user}/{provider}"),
            target: format!("oauth/{provider}"),
        };
        self.may_refresh(caller, &conn, "oauth.token").await?;
        Ok(conn)
    }

    /// The connection a lease names, once `caller` is allowed to finish it.
    async fn lease_connection(
        &self,
        caller: &Caller,
        lease: &RefreshLease,
        action: &str,
    ) -> Result<Conn> {
        let conn = Conn {
            tenant: lease.tenant,
            user: lease.user,
            provider: lease.provider.clone(),
            id: format!("{}/{}", lease.user, lease.provider),
            target: format!("oauth/{}", lease.provider),
        };
        if lease.tenant != caller.tenant {
            let reason = "the refresh lease belongs to another tenant";
            return Err(self
                .refuse(caller, action, &conn.target, reason, action)
                .await);
        }
        self.may_refresh(caller, &conn, action).await?;
        Ok(conn)
    }

    async fn may_refresh(&self, caller: &Caller, conn: &Conn, action: &str) -> Result<()> {
        if caller.actor == Actor::System {
            return Ok(());
        }
        self.authorize(
            caller,
            Permission::ConnectIntegrations,
            action,
            &conn.target,
        )
        .await?;
        if caller.user() != Some(conn.user) {
            let reason = "the connection belongs to another user";
            return Err(self
                .refuse(caller, action, &conn.target, reason, action)
                .await);
        }
        Ok(())
    }

    /// How long a refresh lease lasts: twice the refresher's timeout, so
    /// that a holder that keeps to the timeout finishes well inside it
    /// (reads, writes and clock skew between hosts take the rest).
    fn lease_ttl(&self) -> Duration {
        self.inner.config.oauth_refresh_timeout.saturating_mul(2)
    }

    /// Looks at the row once and decides, taking the lease when a refresh
    /// is due and no one holds it; retried when the lease write loses a
    /// race. `seen`: the row version the caller saw before it waited, if it
    /// did.
    async fn step(&self, caller: &Caller, conn: &Conn, seen: Option<u64>) -> Result<Step> {
        retry("the OAuth connection", Race::Conflict, || {
            self.try_step(caller, conn, seen)
        })
        .await
    }

    async fn try_step(&self, caller: &Caller, conn: &Conn, seen: Option<u64>) -> Result<Step> {
        let (stored, tokens) = self.connection(conn.tenant, &conn.id).await?;
        let record = &stored.record;
        if record.needs_reconnect {
            return Err(dead(&conn.provider, record));
        }
        let now = self.now();
        if !tokens.needs_refresh(now) {
            return Ok(Step::Fresh(tokens.access_token));
        }
        if let Some(lease) = &record.refresh_lease
            && lease.expires_at > now
        {
            return Ok(Step::Busy(
                BUSY_POLL.min(lease.expires_at.duration_since(now)),
            ));
        }
        // A refresh that failed while we waited (its lease released, its
        // error recorded): share its error rather than try again at once.
        if let Some(error) = &record.last_refresh_error
            && seen.is_some_and(|v| v != stored.version)
            && record.refresh_lease.is_none()
        {
            return Ok(Step::Failed(error.clone()));
        }
        let Some(refresh_token) = tokens.refresh_token.clone() else {
            return Err(Error::OAuth {
                reason: OAuthFailure::NoRefreshToken,
                detail: Some(format!("`{}`", conn.provider)),
            });
        };
        let holder = uuid::Builder::from_random_bytes(*random_bytes::<16>()?)
            .into_uuid()
            .hyphenated()
            .to_string();
        let expires_at = now.saturating_add(self.lease_ttl());
        let mut next = record.clone();
        next.refresh_lease = Some(OAuthLease {
            holder: holder.clone(),
            taken_at: now,
            expires_at,
        });
        let mut draft = self
            .refresh_draft(caller, conn, "oauth.refresh.begin")
            .detail("lease_expires_at", expires_at.unix_millis().to_string());
        if record.refresh_lease.is_some() {
            draft = draft.detail("took_over", "a lapsed lease");
        }
        let change = Change::Update {
            row: next.to_row(stored.sealed.clone())?,
            expected_version: stored.version,
        };
        match self
            .write(conn.tenant, Batch::new(draft).with(change))
            .await
        {
            Ok(_) => {}
            Err(Error::NotFound { .. }) => return Err(not_connected()),
            Err(e) => return Err(e),
        }
        Ok(Step::Lease(RefreshLease {
            tenant: conn.tenant,
            user: conn.user,
            provider: conn.provider.clone(),
            holder,
            expires_at,
            refresh_token,
            current: Box::new(tokens),
        }))
    }

    /// Stores a refreshed set if the lease is still held, retrying on the
    /// re-read row when a concurrent write wins.
    async fn store_refreshed(
        &self,
        caller: &Caller,
        conn: &Conn,
        lease: &RefreshLease,
        tokens: &TokenSet,
    ) -> Result<()> {
        let mut new = tokens.clone();
        if new.refresh_token.is_none() {
            new.refresh_token = Some(lease.refresh_token.clone());
        }
        if new.scopes.is_empty() {
            new.scopes.clone_from(&lease.current.scopes);
        }
        let sealed = self
            .seal_row(
                conn.tenant,
                Kind::OAuthConnection,
                &conn.id,
                new.to_secret_json().expose_secret(),
            )
            .await?;
        retry("the OAuth connection", Race::Conflict, || async {
            let stored = self.held(caller, conn, lease).await?;
            let mut record = stored.record;
            record.scopes.clone_from(&new.scopes);
            record.access_expires_at = new.expires_at;
            record.updated_at = self.now();
            record.last_refresh_error = None;
            record.needs_reconnect = false;
            record.refresh_lease = None;
            let change = Change::Update {
                row: record.to_row(Some(sealed.clone()))?,
                expected_version: stored.version,
            };
            let draft = self.refresh_draft(caller, conn, "oauth.refresh");
            match self
                .write(conn.tenant, Batch::new(draft).with(change))
                .await
            {
                Ok(_) => Ok(()),
                Err(Error::NotFound { .. }) => Err(disconnected(&conn.provider)),
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// Records a failed refresh and releases the lease, if still held.
    async fn record_failure(
        &self,
        caller: &Caller,
        conn: &Conn,
        lease: &RefreshLease,
        failure: &RefreshFailure,
    ) -> Result<()> {
        let reason = failure.reason();
        let dead = matches!(failure, RefreshFailure::InvalidGrant);
        retry("the OAuth connection", Race::Conflict, || async {
            let stored = self.held(caller, conn, lease).await?;
            let mut record = stored.record;
            record.updated_at = self.now();
            record.last_refresh_error = Some(reason.clone());
            record.needs_reconnect |= dead;
            record.refresh_lease = None;
            let draft = self
                .refresh_draft(caller, conn, "oauth.refresh")
                .outcome(Outcome::Failed)
                .detail("reason", reason.clone());
            // The old tokens stay: the provider did not rotate them.
            let change = Change::Update {
                row: record.to_row(stored.sealed)?,
                expected_version: stored.version,
            };
            match self
                .write(conn.tenant, Batch::new(draft).with(change))
                .await
            {
                Ok(_) => Ok(()),
                Err(Error::NotFound { .. }) => Err(disconnected(&conn.provider)),
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// Records, best effort, that a connection's stored refresh token is
    /// dead because its successor could not be stored: later calls then
    /// fail at once instead of presenting it.
    async fn mark_reconnect(&self, caller: &Caller, conn: &Conn, lease: &RefreshLease) {
        let _ = retry("the OAuth connection", Race::Conflict, || async {
            let stored = self.held(caller, conn, lease).await?;
            let mut record = stored.record;
            record.updated_at = self.now();
            record.needs_reconnect = true;
            record.last_refresh_error = Some(RECONNECT.to_owned());
            record.refresh_lease = None;
            let draft = self
                .refresh_draft(caller, conn, "oauth.refresh")
                .outcome(Outcome::Failed)
                .detail("reason", RECONNECT);
            let change = Change::Update {
                row: record.to_row(stored.sealed)?,
                expected_version: stored.version,
            };
            self.write(conn.tenant, Batch::new(draft).with(change))
                .await
                .map(drop)
        })
        .await;
    }

    /// The connection row, if `lease` still holds it; otherwise the refusal
    /// (audited) or the news that it is gone.
    async fn held(
        &self,
        caller: &Caller,
        conn: &Conn,
        lease: &RefreshLease,
    ) -> Result<Stored<OAuthConnection>> {
        let Some(stored) = self
            .inner
            .store
            .get_record::<OAuthConnection>(conn.tenant, &conn.id)
            .await?
        else {
            return Err(disconnected(&conn.provider));
        };
        if lease.is_held_in(&stored.record) {
            return Ok(stored);
        }
        let draft = self
            .refresh_draft(caller, conn, "oauth.refresh")
            .outcome(Outcome::Denied)
            .detail(
                "reason",
                "the refresh lease lapsed and was taken over, or was already released",
            );
        self.record(conn.tenant, draft).await;
        Err(Error::OAuth {
            reason: OAuthFailure::LeaseLost,
            detail: Some(format!("`{}`", conn.provider)),
        })
    }

    fn refresh_draft(&self, caller: &Caller, conn: &Conn, action: &str) -> AuditDraft {
        self.draft(caller, action, &conn.target)
            .detail("user", conn.user.to_string())
    }
}

fn not_connected() -> Error {
    Error::OAuth {
        reason: OAuthFailure::NotConnected,
        detail: None,
    }
}

fn disconnected(provider: &str) -> Error {
    Error::OAuth {
        reason: OAuthFailure::Disconnected,
        detail: Some(format!("`{provider}`")),
    }
}

/// A refresh that failed after the caller first looked, with the failure
/// recorded on the connection (the host's text, or `invalid_grant`).
fn refresh_failed(recorded: String) -> Error {
    let reason = if recorded == INVALID_GRANT {
        OAuthFailure::InvalidGrant
    } else {
        OAuthFailure::RefreshFailed
    };
    Error::OAuth {
        reason,
        detail: Some(recorded),
    }
}

/// The error for a connection whose refresh token is dead, with the reason
/// recorded on it.
fn dead(provider: &str, record: &OAuthConnection) -> Error {
    let reason = match record.last_refresh_error.as_deref() {
        Some(INVALID_GRANT) => OAuthFailure::InvalidGrant,
        _ => OAuthFailure::NeedsReconnect,
    };
    Error::OAuth {
        reason,
        detail: Some(format!("`{provider}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_reasons_are_cut_on_a_character_boundary() {
        let long = RefreshFailure::Failed("é".repeat(600));
        assert_eq!(long.reason().chars().count(), MAX_REASON_CHARS);
        assert_eq!(RefreshFailure::InvalidGrant.reason(), INVALID_GRANT);
        assert!(INVALID_GRANT.ends_with("connect again"));
        assert!(RECONNECT.ends_with("connect again"));
    }
}
