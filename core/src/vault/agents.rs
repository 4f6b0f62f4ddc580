//! Agent sessions: scoped, short-lived credentials an AI agent uses on
//! behalf of the human who started it; every action is attributed to both.

use crate::error::TokenRejection;
use std::time::Duration;

use crate::audit::Actor;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::rbac::{Permission, Role};
use crate::secret::SecretString;
use crate::store::page::Pages;
use crate::store::records::AgentSession;
use crate::store::{Batch, Change, Kind, ListQuery, MAX_BATCH, Record, StoreExt};
use crate::vault::tokens::owner_refusal;
use crate::vault::{Caller, Vault, new_id};

/// A started agent session. `token` is shown once.
///
/// Serialising it leaves the token out; serialise
/// [`expose_secrets`](Self::expose_secrets) to add `"token"`.
#[derive(Debug, serde::Serialize)]
#[non_exhaustive]
pub struct StartedAgentSession {
    /// The session's id.
    pub id: String,
    /// The token the agent presents.
    #[serde(skip)]
    pub token: SecretString,
    /// When it ends.
    #[serde(with = "crate::clock::rfc3339")]
    pub expires_at: Timestamp,
}

/// An agent session as listings show it (no token, no hash). Serialises
/// with times in RFC 3339 ([`crate::clock`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct AgentSessionInfo {
    /// Its id.
    pub id: String,
    /// The human it acts for.
    pub user: UserId,
    /// The agent's label.
    pub agent: String,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// When started.
    #[serde(with = "crate::clock::rfc3339")]
    pub created_at: Timestamp,
    /// When it ends.
    #[serde(with = "crate::clock::rfc3339")]
    pub expires_at: Timestamp,
    /// When revoked.
    #[serde(default, with = "crate::clock::rfc3339::option")]
    pub revoked_at: Option<Timestamp>,
}

impl From<&AgentSession> for AgentSessionInfo {
    fn from(s: &AgentSession) -> Self {
        Self {
            id: s.id.clone(),
            user: s.user,
            agent: s.agent.clone(),
            scopes: s.scopes.clone(),
            created_at: s.created_at,
            expires_at: s.expires_at,
            revoked_at: s.revoked_at,
        }
    }
}

impl Vault {
    /// Starts an agent session for the calling human, narrowed to `scopes`
    /// (`"*"` for everything the caller holds now; anything beyond it is
    /// refused) and lasting `ttl` (default 1 hour, at most the configured
    /// maximum). Needs `agents:start`, which a Viewer lacks; refused for a
    /// caller that is not a human user (a token or an agent cannot start
    /// one) and while the tenant has agent sessions off.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] (audited); [`Error::InvalidInput`] for a bad
    /// scope, agent name or lifetime.
    pub async fn start_agent_session(
        &self,
        caller: &Caller,
        agent: &str,
        scopes: &[&str],
        ttl: Option<Duration>,
    ) -> Result<StartedAgentSession> {
        let grant = self
            .authorize(
                caller,
                Permission::StartAgentSession,
                "agent_session.start",
                "agent_session",
            )
            .await?;
        let Actor::User(user) = caller.actor else {
            let reason = "only a human user can start an agent session";
            return Err(self
                .refuse(
                    caller,
                    "agent_session.start",
                    "agent_session",
                    reason,
                    "agents:start",
                )
                .await);
        };
        let config = &self.inner.config;
        let ttl = ttl.unwrap_or(config.agent_session_ttl);
        if ttl.is_zero() || ttl > config.agent_session_max_ttl {
            return Err(Error::invalid(
                "ttl",
                format!(
                    "must be between 1 s and {} s",
                    config.agent_session_max_ttl.as_secs()
                ),
            ));
        }
        let tenant = self
            .inner
            .store
            .tenant(caller.tenant)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "tenant".into(),
                id: caller.tenant.to_string(),
            })?;
        if !tenant.agent_sessions_enabled {
            let reason = "agent sessions are disabled for this tenant";
            return Err(self
                .refuse(
                    caller,
                    "agent_session.start",
                    "agent_session",
                    reason,
                    "agents:start",
                )
                .await);
        }
        let policy = &config.policy;
        let scopes = self
            .delegated_scopes(
                caller,
                &grant,
                scopes,
                grant.role,
                "agent_session.start",
                "agent_session",
            )
            .await?;
        let epoch = grant.user.as_ref().map_or(0, |u| u.record.credential_epoch);
        let now = self.now();
        let token = self.inner.agent_format.generate()?;
        let parsed = self.inner.agent_format.parse(token.expose_secret())?;
        let session = AgentSession {
            id: new_id(),
            user,
            agent: agent.to_owned(),
            token_hash: parsed.hash,
            scopes: scopes.names(policy),
            created_at: now,
            expires_at: now.saturating_add(ttl),
            revoked_at: None,
            epoch,
        };
        let draft = self
            .draft(
                caller,
                "agent_session.start",
                format!("agent_session/{}", session.id),
            )
            .detail("agent", agent)
            .detail("scopes", session.scopes.join(" "))
            .detail("ttl_seconds", ttl.as_secs().to_string());
        self.write(
            caller.tenant,
            Batch::new(draft).with(Change::Insert(session.to_row(None)?)),
        )
        .await?;
        Ok(StartedAgentSession {
            id: session.id,
            token,
            expires_at: session.expires_at,
        })
    }

    /// Authenticates an agent session token. The caller acts with the
    /// human's role narrowed by the session's scopes, and is audited as
    /// `agent:<session>@<user>`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidToken`] (`malformed`, `bad checksum`, `unknown`,
    /// `revoked`, `expired`, `disabled`).
    pub async fn authenticate_agent(&self, token: &str, source: Option<&str>) -> Result<Caller> {
        let parsed = self.inner.agent_format.parse(token)?;
        // The session, its user and its tenant in one read (one round trip
        // on PostgreSQL); the checks below are the same as when they were
        // three.
        let found = self
            .inner
            .store
            .find_credential(Kind::AgentSession, &parsed.hash, true)
            .await?
            .ok_or(Error::InvalidToken {
                reason: TokenRejection::Unknown,
            })?;
        let tenant = found.tenant;
        let row_owner = found.row.owner;
        let s = AgentSession::from_row(found.row)?.record;
        let now = self.now();
        let enabled = found
            .tenant_record
            .is_some_and(|t| t.agent_sessions_enabled);
        let user = super::tokens::credential_owner(found.owner, row_owner, s.user)?;
        let reason = if s.revoked_at.is_some() {
            Some(TokenRejection::Revoked)
        } else if now >= s.expires_at {
            Some(TokenRejection::Expired)
        } else if !enabled {
            Some(TokenRejection::Disabled)
        } else {
            owner_refusal(user.as_ref(), s.epoch)
        };
        let actor = Actor::Agent {
            session: s.id.clone(),
            on_behalf_of: s.user,
        };
        if let Some(reason) = reason {
            let target = format!("agent_session/{}", s.id);
            return Err(self
                .refuse_credential(
                    tenant,
                    actor,
                    "agent_session.authenticate",
                    target,
                    reason,
                    source,
                )
                .await);
        }
        let scopes = self.credential_scopes(&s.scopes)?;
        Ok(Caller {
            tenant,
            actor,
            role: user.map_or(Role::Viewer, |u| u.record.role),
            scopes,
            source: source.map(str::to_owned),
            epoch: s.epoch,
            expires_at: Some(s.expires_at),
        })
    }

    /// The calling human's agent sessions (an Admin with `users:manage`
    /// sees everyone's).
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] for a caller that is neither; the store's errors.
    pub async fn list_agent_sessions(&self, caller: &Caller) -> Result<Vec<AgentSessionInfo>> {
        let (action, target) = ("agent_session.list", "agent_session");
        let grant = self.grant(caller, action, target).await?;
        let rows = if grant.scopes.contains(Permission::ManageUsers) {
            self.inner
                .store
                .list_all_records::<AgentSession>(caller.tenant, ListQuery::new(Kind::AgentSession))
                .await?
        } else {
            let Actor::User(user) = caller.actor else {
                let reason = "only a human user has agent sessions of their own";
                return Err(self
                    .refuse(caller, action, target, reason, "agents:list")
                    .await);
            };
            self.authorize(caller, Permission::StartAgentSession, action, target)
                .await?;
            self.owned::<AgentSession>(caller.tenant, user).await?
        };
        Ok(rows
            .iter()
            .map(|s| AgentSessionInfo::from(&s.record))
            .collect())
    }

    /// Revokes one agent session: the human who started it, or an Admin.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::NotFound`].
    pub async fn revoke_agent_session(&self, caller: &Caller, id: &str) -> Result<()> {
        let target = format!("agent_session/{id}");
        let stored = self
            .inner
            .store
            .get_record::<AgentSession>(caller.tenant, id)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "agent_session".into(),
                id: id.to_owned(),
            })?;
        let own = caller.actor == Actor::User(stored.record.user);
        if own {
            self.grant(caller, "agent_session.revoke", &target).await?;
        } else {
            self.authorize(
                caller,
                Permission::ManageUsers,
                "agent_session.revoke",
                &target,
            )
            .await?;
        }
        if stored.record.revoked_at.is_some() {
            return Ok(());
        }
        let mut record = stored.record;
        record.revoked_at = Some(self.now());
        let batch =
            Batch::new(self.draft(caller, "agent_session.revoke", &target)).with(Change::Update {
                row: record.to_row(None)?,
                expected_version: stored.version,
            });
        self.write(caller.tenant, batch).await.map(drop)
    }

    /// Turns agent sessions on or off for the caller's tenant. Turning them
    /// off revokes every live session at once (and authentication refuses
    /// them even before that write lands). Needs `settings:manage`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; the store's errors.
    pub async fn set_agent_sessions_enabled(&self, caller: &Caller, enabled: bool) -> Result<()> {
        let target = format!("tenant/{}", caller.tenant);
        self.authorize(
            caller,
            Permission::ManageSettings,
            "tenant.agent_sessions",
            &target,
        )
        .await?;
        let store = &self.inner.store;
        let tenant = store
            .tenant(caller.tenant)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "tenant".into(),
                id: caller.tenant.to_string(),
            })?;
        let version = tenant.version;
        let mut updated = tenant;
        updated.agent_sessions_enabled = enabled;
        let mut batch = Batch::new(
            self.draft(caller, "tenant.agent_sessions", &target)
                .detail("enabled", enabled.to_string()),
        )
        .with(Change::UpdateTenant {
            tenant: updated,
            expected_version: version,
        });
        if enabled {
            return self.write(caller.tenant, batch).await.map(drop);
        }
        // Revoke live sessions, the first pages in the switch's own write
        // and the rest in follow-up writes (the switch already blocks them).
        let now = self.now();
        let mut sessions = Pages::rows(&**store, caller.tenant, ListQuery::new(Kind::AgentSession));
        let mut first = true;
        while let Some(page) = sessions.next().await? {
            let page = page
                .into_iter()
                .map(AgentSession::from_row)
                .collect::<Result<Vec<_>>>()?;
            for s in page.into_iter().filter(|s| s.record.revoked_at.is_none()) {
                if batch.changes.len() >= MAX_BATCH {
                    self.write(caller.tenant, batch).await?;
                    first = false;
                    batch = Batch::new(self.draft(caller, "agent_session.revoke_all", &target));
                }
                let mut r = s.record;
                r.revoked_at = Some(now);
                batch.push(Change::Update {
                    row: r.to_row(None)?,
                    expected_version: s.version,
                });
            }
        }
        if first || !batch.changes.is_empty() {
            self.write(caller.tenant, batch).await?;
        }
        Ok(())
    }
}
