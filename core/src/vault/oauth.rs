//! OAuth 2.0 connections through the Vault: PKCE states stored sealed and
//! single use, tokens sealed per (tenant, user, provider), and refreshes
//! leased on the connection row, so that one refresher runs at a time
//! across every process sharing the store. The library makes no HTTP call:
//! the host does, in a callback ([`Vault::fresh_token`]) or between the two
//! phases of [`Vault::begin_refresh`] and [`Vault::complete_refresh`].

mod refresh;

use crate::audit::Outcome;
use crate::clock::Timestamp;
use crate::error::{Error, OAuthFailure, Result};
use crate::id::{TenantId, UserId};
use crate::oauth::{self, PkceVerifier, TokenSet};
use crate::rbac::Permission;
use crate::store::records::{OAuthConnection, OAuthState};
use crate::store::retry::{Race, retry};
use crate::store::{Batch, Change, Kind, ListQuery, Record, StoreExt, Stored};
use crate::vault::{Caller, Vault};

pub(super) use refresh::InFlight;
pub use refresh::{OAuthRefresher, RefreshFailure, RefreshLease, RefreshStart};

/// What [`Vault::begin_oauth`] returns: put `state` and `code_challenge` in
/// the authorization URL (see [`oauth::authorization_url`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct OAuthStart {
    /// The `state` parameter (a random UUID v4), single use.
    pub state: String,
    /// The S256 `code_challenge`.
    pub code_challenge: String,
    /// When the state stops being accepted (10 minutes by default).
    #[serde(with = "crate::clock::rfc3339")]
    pub expires_at: Timestamp,
}

/// What [`Vault::complete_oauth`] returns, to exchange the code.
#[derive(Debug)]
#[non_exhaustive]
pub struct OAuthCompletion {
    /// The provider the flow was for.
    pub provider: String,
    /// The redirect URI used (the token request must repeat it).
    pub redirect_uri: String,
    /// The PKCE verifier for the token request.
    pub verifier: PkceVerifier,
}

/// A connection as listings show it (no tokens). Serialises with times in
/// RFC 3339 ([`crate::clock`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// The provider.
    pub provider: String,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// When the access token expires, if known.
    #[serde(default, with = "crate::clock::rfc3339::option")]
    pub access_expires_at: Option<Timestamp>,
    /// The last refresh failure, if the last refresh failed.
    pub last_refresh_error: Option<String>,
    /// The stored refresh token is dead: the provider refused it
    /// (`invalid_grant`, [`RefreshFailure::InvalidGrant`]), or rotated the
    /// tokens but the new set could not be stored. The user must connect
    /// again ([`Vault::store_oauth_tokens`]); until then
    /// [`Vault::fresh_token`] and [`Vault::begin_refresh`] fail at once.
    pub needs_reconnect: bool,
    /// When the lease of a refresh in flight (in this process or another)
    /// lapses, if one was taken and not yet completed or abandoned. A past
    /// time means its holder never finished; the next refresh takes over.
    #[serde(default, with = "crate::clock::rfc3339::option")]
    pub refreshing_until: Option<Timestamp>,
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
        let sealed = self
            .seal_row(
                caller.tenant,
                Kind::OAuthState,
                &state.state,
                verifier.expose_secret().as_bytes(),
            )
            .await?;
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
        let refuse = |reason: OAuthFailure| async move {
            let draft = self
                .draft(caller, "oauth.complete", "oauth")
                .outcome(Outcome::Denied)
                .detail("reason", reason.as_str());
            self.record(caller.tenant, draft).await;
            Err(Error::OAuth {
                reason,
                detail: None,
            })
        };
        let Some((tenant, row)) = found else {
            return refuse(OAuthFailure::UnknownState).await;
        };
        let stored = OAuthState::from_row(row)?;
        if tenant != caller.tenant || stored.record.user != user {
            return refuse(OAuthFailure::ForeignState).await;
        }
        let expired = self.now() >= stored.record.expires_at;
        let target = format!("oauth/{}", stored.record.provider);
        let mut draft = self.draft(caller, "oauth.complete", &target);
        if expired {
            draft = draft
                .outcome(Outcome::Denied)
                .detail("reason", OAuthFailure::StateExpired.as_str());
        }
        let delete = Change::Delete {
            kind: Kind::OAuthState,
            id: stored.record.state.clone(),
            expected_version: Some(stored.version),
        };
        match self.write(tenant, Batch::new(draft).with(delete)).await {
            Ok(_) => {}
            Err(Error::NotFound { .. } | Error::Conflict { .. }) => {
                return refuse(OAuthFailure::UnknownState).await;
            }
            Err(e) => return Err(e),
        }
        if expired {
            return Err(Error::OAuth {
                reason: OAuthFailure::StateExpired,
                detail: None,
            });
        }
        let verifier = self
            .open_row(
                tenant,
                Kind::OAuthState,
                &stored.record.state,
                stored.sealed.as_deref(),
            )
            .await?;
        let verifier =
            std::str::from_utf8(verifier.expose_secret()).map_err(|_| Error::Corrupt {
                what: "oauth_state",
                id: "[state]".to_owned(),
                reason: "the sealed PKCE verifier is not text",
            })?;
        Ok(OAuthCompletion {
            provider: stored.record.provider,
            redirect_uri: stored.record.redirect_uri,
            verifier: PkceVerifier::new(verifier.to_owned())?,
        })
    }

    /// Stores (or replaces) the calling user's tokens for `provider`, sealed
    /// with (tenant, user, provider) as associated data, and clears a
    /// recorded refresh failure and [`ConnectionInfo::needs_reconnect`].
    /// Needs `integrations:connect`.
    ///
    /// A refresh in flight keeps its lease: the token set it stores when it
    /// completes replaces these tokens (both are valid grants; the refresh
    /// was started first, and its provider has already rotated).
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
        let tenant = caller.tenant;
        let id = format!("{user}/{provider}");
        let sealed = self
            .seal_row(
                tenant,
                Kind::OAuthConnection,
                &id,
                tokens.to_secret_json().expose_secret(),
            )
            .await?;
        retry("the OAuth connection", Race::Conflict, || async {
            let existing = self
                .inner
                .store
                .get_record::<OAuthConnection>(tenant, &id)
                .await?;
            let connection = OAuthConnection {
                user,
                provider: provider.to_owned(),
                scopes: tokens.scopes.clone(),
                access_expires_at: tokens.expires_at,
                updated_at: self.now(),
                last_refresh_error: None,
                needs_reconnect: false,
                refresh_lease: existing
                    .as_ref()
                    .and_then(|e| e.record.refresh_lease.clone()),
            };
            let row = connection.to_row(Some(sealed.clone()))?;
            let change = match existing {
                None => Change::Insert(row),
                Some(e) => Change::Update {
                    row,
                    expected_version: e.version,
                },
            };
            let batch = Batch::new(
                self.draft(caller, "oauth.connect", &target)
                    .detail("scopes", tokens.scopes.join(" ")),
            )
            .with(change);
            self.write(tenant, batch).await.map(drop)
        })
        .await
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
                refreshing_until: c.record.refresh_lease.map(|l| l.expires_at),
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
            .ok_or(Error::OAuth {
                reason: OAuthFailure::NotConnected,
                detail: None,
            })?;
        let json = self
            .open_row(tenant, Kind::OAuthConnection, id, stored.sealed.as_deref())
            .await?;
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

fn check_provider(provider: &str) -> Result<()> {
    crate::names::ProviderName::new(provider).map(drop)
}
