//! OAuth 2.0 connections through the Vault: PKCE states stored sealed and
//! single use, tokens sealed per (tenant, user, provider), and single-flight
//! refresh through a host-supplied refresher. The library makes no HTTP
//! call: the host's refresher does.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError};

use async_trait::async_trait;

use crate::audit::{Actor, Outcome};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::id::{TenantId, UserId};
use crate::oauth::{self, PkceVerifier, TokenSet};
use crate::rbac::Permission;
use crate::secret::SecretString;
use crate::store::records::{OAuthConnection, OAuthState};
use crate::store::{Batch, Change, Kind, ListQuery, Record, StoreExt, Stored};
use crate::vault::{Caller, Vault};

/// Refreshes a token set at the provider: the host's HTTP call. The Vault
/// calls it at most once at a time per connection, bounded by
/// [`VaultConfig::oauth_refresh_timeout`](crate::vault::VaultConfig).
#[async_trait]
pub trait OAuthRefresher: Send + Sync {
    /// Trades `current` (its refresh token) for a new token set.
    ///
    /// # Errors
    ///
    /// Whatever went wrong; the Vault records it on the connection and
    /// returns it as [`Error::OAuth`].
    async fn refresh(&self, provider: &str, current: &TokenSet) -> Result<TokenSet>;
}

/// What [`Vault::begin_oauth`] returns: put `state` and `code_challenge` in
/// the authorization URL (see [`oauth::authorization_url`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthStart {
    /// The `state` parameter (a random UUID v4), single use.
    pub state: String,
    /// The S256 `code_challenge`.
    pub code_challenge: String,
    /// When the state stops being accepted (10 minutes by default).
    pub expires_at: Timestamp,
}

/// What [`Vault::complete_oauth`] returns, to exchange the code.
#[derive(Debug)]
pub struct OAuthCompletion {
    /// The provider the flow was for.
    pub provider: String,
    /// The redirect URI used (the token request must repeat it).
    pub redirect_uri: String,
    /// The PKCE verifier for the token request.
    pub verifier: PkceVerifier,
}

/// A connection as listings show it (no tokens).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The provider.
    pub provider: String,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// When the access token expires, if known.
    pub access_expires_at: Option<Timestamp>,
    /// The last refresh failure, if the last refresh failed.
    pub last_refresh_error: Option<String>,
    /// The provider rotated the tokens but the new set could not be stored,
    /// so the stored refresh token is dead: the user must connect again
    /// ([`Vault::store_oauth_tokens`]); until then
    /// [`Vault::fresh_token`] fails at once.
    pub needs_reconnect: bool,
}

/// One lock per connection being refreshed: concurrent callers wait for
/// one refresh instead of racing and burning a rotated refresh token.
#[derive(Debug, Default)]
pub(super) struct InFlight(std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl InFlight {
    fn lock_for(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        // Forget locks nobody holds or waits for.
        map.retain(|k, v| k == key || Arc::strong_count(v) > 1);
        map.entry(key.to_owned()).or_default().clone()
    }
}

impl Vault {
    /// Starts an authorization-code flow with PKCE for the calling user:
    /// stores the state (with tenant, user, provider, redirect URI and the
    /// sealed verifier) for 10 minutes. Needs `integrations:connect`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] (also for a caller with no human behind it);
    /// [`Error::InvalidInput`] for a bad provider, or a redirect URI that is
    /// not `https://` with a host or `http://` to a loopback host (RFC 8252
    /// section 7.3: `localhost`, 127.0.0.0/8, `[::1]`), or that has a
    /// fragment or userinfo. `javascript:`, `data:` and private-use schemes
    /// are refused: the provider sends the code to this server.
    pub async fn begin_oauth(
        &self,
        caller: &Caller,
        provider: &str,
        redirect_uri: &str,
    ) -> Result<OAuthStart> {
        check_provider(provider)?;
        oauth::check_web_redirect_uri(redirect_uri)?;
        let target = format!("oauth/{provider}");
        self.authorize(
            caller,
            Permission::ConnectIntegrations,
            "oauth.begin",
            &target,
        )
        .await?;
        let user = self.human(caller, "oauth.begin", &target).await?;
        let verifier = PkceVerifier::generate()?;
        let now = self.now();
        let state = OAuthState {
            state: oauth::new_state()?,
            user,
            provider: provider.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            created_at: now,
            expires_at: now.saturating_add(self.inner.config.oauth_state_ttl),
        };
        let sealed = self.seal_row(
            caller.tenant,
            Kind::OAuthState,
            &state.state,
            verifier.expose_secret().as_bytes(),
        )?;
        let batch = Batch::new(self.draft(caller, "oauth.begin", &target))
            .with(Change::Insert(state.to_row(Some(sealed))?));
        self.write(caller.tenant, batch).await?;
        Ok(OAuthStart {
            code_challenge: verifier.challenge(),
            state: state.state,
            expires_at: state.expires_at,
        })
    }

    /// Checks and consumes the `state` the provider sent back (CSRF): it
    /// must exist, be unexpired, unused, and belong to this caller's tenant
    /// and user. Returns the verifier for the token request.
    ///
    /// # Errors
    ///
    /// [`Error::OAuth`] for an unknown, expired, reused or foreign state
    /// (refusals are audited); [`Error::InvalidInput`] for a malformed one.
    pub async fn complete_oauth(&self, caller: &Caller, state: &str) -> Result<OAuthCompletion> {
        oauth::check_state_format(state)?;
        let user = self.human(caller, "oauth.complete", "oauth").await?;
        let found = self
            .inner
            .store
            .find_by_lookup(Kind::OAuthState, state.as_bytes())
            .await?;
        let refuse = |reason: &'static str| async move {
            let draft = self
                .draft(caller, "oauth.complete", "oauth")
                .outcome(Outcome::Denied)
                .detail("reason", reason);
            self.record(caller.tenant, draft).await;
            Err(Error::OAuth {
                reason: reason.to_owned(),
            })
        };
        let Some((tenant, row)) = found else {
            return refuse("unknown or already used state").await;
        };
        let stored = OAuthState::from_row(row)?;
        if tenant != caller.tenant || stored.record.user != user {
            return refuse("state belongs to another user").await;
        }
        let expired = self.now() >= stored.record.expires_at;
        let target = format!("oauth/{}", stored.record.provider);
        let mut draft = self.draft(caller, "oauth.complete", &target);
        if expired {
            draft = draft
                .outcome(Outcome::Denied)
                .detail("reason", "state expired");
        }
        let delete = Change::Delete {
            kind: Kind::OAuthState,
            id: stored.record.state.clone(),
            expected_version: Some(stored.version),
        };
        match self.write(tenant, Batch::new(draft).with(delete)).await {
            Ok(_) => {}
            Err(Error::NotFound { .. } | Error::Conflict { .. }) => {
                return refuse("unknown or already used state").await;
            }
            Err(e) => return Err(e),
        }
        if expired {
            return Err(Error::OAuth {
                reason: "state expired".into(),
            });
        }
        let verifier = self.open_row(
            tenant,
            Kind::OAuthState,
            &stored.record.state,
            stored.sealed.as_deref(),
        )?;
        let verifier = std::str::from_utf8(verifier.expose_secret())
            .map_err(|_| Error::Store("a stored PKCE verifier is not text".into()))?;
        Ok(OAuthCompletion {
            provider: stored.record.provider,
            redirect_uri: stored.record.redirect_uri,
            verifier: PkceVerifier::new(verifier.to_owned())?,
        })
    }

    /// Stores (or replaces) the calling user's tokens for `provider`, sealed
    /// with (tenant, user, provider) as associated data. Needs
    /// `integrations:connect`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::InvalidInput`].
    pub async fn store_oauth_tokens(
        &self,
        caller: &Caller,
        provider: &str,
        tokens: &TokenSet,
    ) -> Result<()> {
        check_provider(provider)?;
        let target = format!("oauth/{provider}");
        self.authorize(
            caller,
            Permission::ConnectIntegrations,
            "oauth.connect",
            &target,
        )
        .await?;
        let user = self.human(caller, "oauth.connect", &target).await?;
        let connection = OAuthConnection {
            user,
            provider: provider.to_owned(),
            scopes: tokens.scopes.clone(),
            access_expires_at: tokens.expires_at,
            updated_at: self.now(),
            last_refresh_error: None,
            needs_reconnect: false,
        };
        let id = connection.id();
        let sealed = self.seal_row(
            caller.tenant,
            Kind::OAuthConnection,
            &id,
            tokens.to_secret_json().expose_secret(),
        )?;
        let change = self
            .upsert(caller.tenant, connection.to_row(Some(sealed))?)
            .await?;
        let batch = Batch::new(
            self.draft(caller, "oauth.connect", &target)
                .detail("scopes", tokens.scopes.join(" ")),
        )
        .with(change);
        self.write(caller.tenant, batch).await.map(drop)
    }

    /// A usable access token for `user`'s connection to `provider`. When it
    /// expires within 5 minutes, the host's `refresher` is called first
    /// (once, however many callers ask at the same time; bounded by the
    /// configured timeout), the new tokens are sealed and stored, and a
    /// failure is recorded on the connection and returned. Callable by that
    /// user (with `integrations:connect`) or the system caller; any other
    /// caller's attempt is refused and audited.
    ///
    /// A provider that rotates refresh tokens has invalidated the old one by
    /// the time the refresher returns, so the new set is never dropped: a
    /// write that loses a race is retried on the re-read row, and a set that
    /// still cannot be stored is not returned. The connection is then marked
    /// as needing reconnection ([`ConnectionInfo::needs_reconnect`]), and
    /// every later call fails at once, without presenting the dead refresh
    /// token, until the user connects again ([`Vault::store_oauth_tokens`]).
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::OAuth`] when not connected, when
    /// there is no refresh token, when the refresh failed or timed out, or
    /// when the connection needs reconnecting (the message says `connect
    /// again`).
    pub async fn fresh_token(
        &self,
        caller: &Caller,
        user: UserId,
        provider: &str,
        refresher: &dyn OAuthRefresher,
    ) -> Result<SecretString> {
        check_provider(provider)?;
        let target = format!("oauth/{provider}");
        if caller.actor != Actor::System {
            self.authorize(
                caller,
                Permission::ConnectIntegrations,
                "oauth.token",
                &target,
            )
            .await?;
            if caller.user() != Some(user) {
                let reason = "the connection belongs to another user";
                return Err(self
                    .refuse(caller, "oauth.token", &target, reason, "oauth.token")
                    .await);
            }
        }
        let tenant = caller.tenant;
        let id = format!("{user}/{provider}");
        let (before, tokens) = self.connection(tenant, &id).await?;
        if before.record.needs_reconnect {
            return Err(reconnect(provider));
        }
        if !tokens.needs_refresh(self.now()) {
            return Ok(tokens.access_token);
        }
        let lock = self.inner.inflight.lock_for(&format!("{tenant}/{id}"));
        let _guard = lock.lock().await;
        // Another caller may have refreshed, or failed, while we waited.
        let (stored, tokens) = self.connection(tenant, &id).await?;
        if stored.record.needs_reconnect {
            return Err(reconnect(provider));
        }
        if !tokens.needs_refresh(self.now()) {
            return Ok(tokens.access_token);
        }
        // A refresh that failed while we waited: share its error rather than
        // try again at once.
        if let Some(error) = &stored.record.last_refresh_error
            && stored.version != before.version
        {
            return Err(Error::OAuth {
                reason: error.clone(),
            });
        }
        if tokens.refresh_token.is_none() {
            return Err(Error::OAuth {
                reason: format!("no refresh token for `{provider}`; connect again"),
            });
        }
        let timeout = self.inner.config.oauth_refresh_timeout;
        let outcome =
            match tokio::time::timeout(timeout, refresher.refresh(provider, &tokens)).await {
                Ok(Ok(new)) => Ok(new),
                Ok(Err(e)) => Err(format!("refresh failed: {e}")),
                Err(_) => Err(format!("refresh timed out after {} s", timeout.as_secs())),
            };
        let refresh = Refresh {
            caller,
            tenant,
            id: &id,
            target: &target,
            user,
        };
        match outcome {
            Ok(new) => self.store_refreshed(&refresh, stored, new, provider).await,
            Err(reason) => {
                let reason: String = reason.chars().take(512).collect();
                let mut record = stored.record.clone();
                record.updated_at = self.now();
                record.last_refresh_error = Some(reason.clone());
                let draft = refresh
                    .draft(self)
                    .outcome(Outcome::Failed)
                    .detail("reason", reason.clone());
                // The old tokens stay: the provider did not rotate them.
                self.write(
                    tenant,
                    Batch::new(draft).with(Change::Update {
                        row: record.to_row(stored.sealed.clone())?,
                        expected_version: stored.version,
                    }),
                )
                .await?;
                Err(Error::OAuth { reason })
            }
        }
    }

    /// Stores a refreshed token set, retrying on the re-read row when a
    /// concurrent write wins; if it cannot be stored, marks the connection as
    /// needing reconnection and says so.
    async fn store_refreshed(
        &self,
        refresh: &Refresh<'_>,
        mut stored: Stored<OAuthConnection>,
        new: TokenSet,
        provider: &str,
    ) -> Result<SecretString> {
        let sealed = self.seal_row(
            refresh.tenant,
            Kind::OAuthConnection,
            refresh.id,
            new.to_secret_json().expose_secret(),
        )?;
        for _ in 0..ATTEMPTS {
            let mut record = stored.record.clone();
            record.scopes = new.scopes.clone();
            record.access_expires_at = new.expires_at;
            record.updated_at = self.now();
            record.last_refresh_error = None;
            record.needs_reconnect = false;
            let change = Change::Update {
                row: record.to_row(Some(sealed.clone()))?,
                expected_version: stored.version,
            };
            match self
                .write(refresh.tenant, Batch::new(refresh.draft(self)).with(change))
                .await
            {
                Ok(_) => return Ok(new.access_token),
                Err(Error::Conflict { .. }) => {}
                Err(Error::NotFound { .. }) => {
                    return Err(Error::OAuth {
                        reason: format!("`{provider}` was disconnected during the refresh"),
                    });
                }
                Err(_) => break,
            }
            match self
                .inner
                .store
                .get_record::<OAuthConnection>(refresh.tenant, refresh.id)
                .await
            {
                Ok(Some(now)) => stored = now,
                Ok(None) => {
                    return Err(Error::OAuth {
                        reason: format!("`{provider}` was disconnected during the refresh"),
                    });
                }
                Err(_) => break,
            }
        }
        self.mark_reconnect(refresh).await;
        Err(reconnect(provider))
    }

    /// Records, best effort, that a connection's stored refresh token is
    /// dead: later calls then fail at once instead of presenting it.
    async fn mark_reconnect(&self, refresh: &Refresh<'_>) {
        for _ in 0..ATTEMPTS {
            let Ok(Some(stored)) = self
                .inner
                .store
                .get_record::<OAuthConnection>(refresh.tenant, refresh.id)
                .await
            else {
                return;
            };
            let mut record = stored.record;
            record.updated_at = self.now();
            record.needs_reconnect = true;
            record.last_refresh_error = Some(RECONNECT.to_owned());
            let Ok(row) = record.to_row(stored.sealed) else {
                return;
            };
            let draft = refresh
                .draft(self)
                .outcome(Outcome::Failed)
                .detail("reason", RECONNECT);
            let change = Change::Update {
                row,
                expected_version: stored.version,
            };
            match self
                .write(refresh.tenant, Batch::new(draft).with(change))
                .await
            {
                Err(Error::Conflict { .. }) => {}
                _ => return,
            }
        }
    }

    /// Deletes the calling user's tokens for `provider`. Needs
    /// `integrations:connect`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::NotFound`].
    pub async fn disconnect_oauth(&self, caller: &Caller, provider: &str) -> Result<()> {
        check_provider(provider)?;
        let target = format!("oauth/{provider}");
        self.authorize(
            caller,
            Permission::ConnectIntegrations,
            "oauth.disconnect",
            &target,
        )
        .await?;
        let user = self.human(caller, "oauth.disconnect", &target).await?;
        let batch =
            Batch::new(self.draft(caller, "oauth.disconnect", &target)).with(Change::Delete {
                kind: Kind::OAuthConnection,
                id: format!("{user}/{provider}"),
                expected_version: None,
            });
        self.write(caller.tenant, batch).await.map(drop)
    }

    /// The calling user's connections, without tokens.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] for a caller with no human behind it.
    pub async fn list_oauth_connections(&self, caller: &Caller) -> Result<Vec<ConnectionInfo>> {
        let user = self.human(caller, "oauth.list", "oauth").await?;
        let rows = self
            .inner
            .store
            .list_records::<OAuthConnection>(
                caller.tenant,
                ListQuery::new(Kind::OAuthConnection).owner(user),
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|c| ConnectionInfo {
                provider: c.record.provider,
                scopes: c.record.scopes,
                access_expires_at: c.record.access_expires_at,
                last_refresh_error: c.record.last_refresh_error,
                needs_reconnect: c.record.needs_reconnect,
            })
            .collect())
    }

    async fn connection(
        &self,
        tenant: TenantId,
        id: &str,
    ) -> Result<(Stored<OAuthConnection>, TokenSet)> {
        let stored = self
            .inner
            .store
            .get_record::<OAuthConnection>(tenant, id)
            .await?
            .ok_or_else(|| Error::OAuth {
                reason: "not connected".into(),
            })?;
        let json = self.open_row(tenant, Kind::OAuthConnection, id, stored.sealed.as_deref())?;
        let tokens = TokenSet::from_secret_json(json.expose_secret())?;
        Ok((stored, tokens))
    }

    /// The human behind a caller, or an audited refusal.
    async fn human(&self, caller: &Caller, action: &str, target: &str) -> Result<UserId> {
        match caller.user() {
            Some(u) => Ok(u),
            None => Err(self
                .refuse(caller, action, target, "no user behind this caller", action)
                .await),
        }
    }
}

/// Attempts at a compare-and-swap that keeps losing to concurrent writers.
const ATTEMPTS: usize = 4;

/// Why a connection needs reconnecting (recorded on it and audited).
const RECONNECT: &str =
    "the provider rotated the tokens but the new ones could not be stored; connect again";

fn reconnect(provider: &str) -> Error {
    Error::OAuth {
        reason: format!("`{provider}`: {RECONNECT}"),
    }
}

/// One refresh of one connection, for its writes and audit events.
struct Refresh<'a> {
    caller: &'a Caller,
    tenant: TenantId,
    id: &'a str,
    target: &'a str,
    user: UserId,
}

impl Refresh<'_> {
    fn draft(&self, vault: &Vault) -> crate::audit::AuditDraft {
        vault
            .draft(self.caller, "oauth.refresh", self.target)
            .detail("user", self.user.to_string())
    }
}

fn check_provider(provider: &str) -> Result<()> {
    let ok = !provider.is_empty()
        && provider.len() <= 64
        && provider
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "provider",
            "must be 1 to 64 of `a-z`, `0-9`, `-`, `_`, `.`",
        ))
    }
}
