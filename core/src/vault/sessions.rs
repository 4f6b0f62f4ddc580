//! Password login, JWT access tokens and rotating refresh tokens.

use crate::audit::{Actor, AuditDraft, Outcome};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::id::{TenantId, UserId};
use crate::rbac::Scopes;
use crate::secret::SecretString;
use crate::store::records::{RefreshFamily, RefreshToken, User};
use crate::store::{Batch, Change, Kind, Record, StoreExt, Stored};
use crate::vault::tokens::owner_refusal;
use crate::vault::{Caller, Vault, blocking, new_id};

/// What a login or a refresh returns. The tokens print as `[REDACTED]`.
#[derive(Debug)]
pub struct Session {
    /// The tenant.
    pub tenant: TenantId,
    /// The user.
    pub user: UserId,
    /// A short-lived JWT for `Authorization: Bearer`.
    pub access_token: SecretString,
    /// When it expires.
    pub access_expires_at: Timestamp,
    /// The refresh token: use it once, at [`Vault::refresh`], for a new pair.
    pub refresh_token: SecretString,
    /// When the login ends at the latest.
    pub refresh_expires_at: Timestamp,
}

impl Vault {
    /// bcrypt work done by this vault's logins so far (test hook).
    #[doc(hidden)]
    #[must_use]
    pub fn bcrypt_rounds(&self) -> u64 {
        self.inner
            .bcrypt_rounds
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Logs a user in with a password. Unknown users, disabled users and
    /// wrong passwords get the same error after the same bcrypt work, and
    /// each failure is audited. A hash below the policy cost is upgraded.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCredentials`]; the store's errors.
    pub async fn login(
        &self,
        tenant: TenantId,
        login: &str,
        password: &SecretString,
        source: Option<&str>,
    ) -> Result<Session> {
        let login = login.to_lowercase();
        let store = &self.inner.store;
        let user = store
            .get_by_lookup(tenant, Kind::User, login.as_bytes())
            .await?
            .map(User::from_row)
            .transpose()?;
        let stored_hash = user
            .as_ref()
            .filter(|u| !u.record.disabled)
            .and_then(|u| u.record.password_hash.clone());
        // Verify against the dummy hash when there is nothing to verify, so
        // the time taken does not say whether the account exists.
        let hash = stored_hash
            .clone()
            .unwrap_or_else(|| self.inner.dummy_hash.clone());
        let policy = self.inner.passwords;
        let pw = password.clone();
        let c: u32 = hash.get(4..6).and_then(|d| d.parse().ok()).unwrap_or(0);
        self.inner
            .bcrypt_rounds
            .fetch_add(1 << c, std::sync::atomic::Ordering::Relaxed);
        let verified = match blocking(move || policy.verify(&pw, &hash)).await {
            Ok(ok) => ok && stored_hash.is_some(),
            Err(Error::InvalidInput { .. }) => false,
            Err(e) => return Err(e),
        };
        let actor = user
            .as_ref()
            .map_or(Actor::Anonymous, |u| Actor::User(u.record.id));
        let mut draft = AuditDraft::new(actor, "auth.login", format!("login/{login}"), self.now());
        draft.source = source.map(str::to_owned);
        let (Some(user), true) = (user, verified) else {
            self.record(tenant, draft.outcome(Outcome::Failed)).await;
            return Err(Error::InvalidCredentials);
        };

        let mut batch = Batch::new(draft);
        if let Some(old) = &stored_hash
            && policy.needs_rehash(old)
        {
            let mut upgraded = user.record.clone();
            upgraded.password_hash = Some(self.hash_password(password).await?);
            batch.push(Change::Update {
                row: upgraded.to_row(None)?,
                expected_version: user.version,
            });
            batch.audit = batch.audit.detail("rehashed", "true");
        }
        let now = self.now();
        let family = RefreshFamily {
            id: new_id(),
            user: user.record.id,
            created_at: now,
            last_used_at: now,
            absolute_expiry: now.saturating_add(self.inner.config.refresh_absolute_lifetime),
            generation: 1,
            rotated_at: now,
            revoked_at: None,
            epoch: user.record.credential_epoch,
        };
        let (refresh_token, token_row) = self.new_refresh_token(&family, 1, now)?;
        batch.push(Change::Insert(family.to_row(None)?));
        batch.push(Change::Insert(token_row.to_row(None)?));
        self.write(tenant, batch).await?;
        self.session(tenant, &user.record, &family, refresh_token, now)
    }

    /// Trades a refresh token for a new access token and a new refresh token.
    ///
    /// Each refresh token works once. Presenting one again revokes its whole
    /// family (a stolen token was replayed), except within the configured
    /// overlap window, where the most recently used token is honoured once
    /// more so two tabs refreshing together stay logged in.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidToken`] (`malformed`, `bad checksum`, `unknown`,
    /// `revoked`, `expired`, `reused`); the store's errors.
    pub async fn refresh(&self, refresh_token: &str, source: Option<&str>) -> Result<Session> {
        let (tenant, row) = self.find_refresh_token(refresh_token).await?;
        let store = &self.inner.store;
        let token_id = row.id.clone();
        let mut row = Some(row);
        for _ in 0..4 {
            let current = match row.take() {
                Some(r) => r,
                None => store
                    .get(tenant, Kind::RefreshToken, &token_id)
                    .await?
                    .ok_or(Error::InvalidToken { reason: "unknown" })?,
            };
            match self
                .refresh_once(tenant, RefreshToken::from_row(current)?, source)
                .await
            {
                // Another refresh of the same family won the race: look again.
                Err(Error::Conflict { .. }) => continue,
                other => return other,
            }
        }
        Err(Error::InvalidToken {
            reason: "contended",
        })
    }

    async fn refresh_once(
        &self,
        tenant: TenantId,
        token: Stored<RefreshToken>,
        source: Option<&str>,
    ) -> Result<Session> {
        let store = &self.inner.store;
        let config = &self.inner.config;
        let now = self.now();
        let fam = store
            .get_record::<RefreshFamily>(tenant, &token.record.family)
            .await?
            .ok_or(Error::InvalidToken { reason: "unknown" })?;
        let user = self.load_user(tenant, token.record.user).await?;
        let caller = Caller {
            tenant,
            actor: Actor::User(user.record.id),
            role: user.record.role,
            scopes: Scopes::all(),
            source: source.map(str::to_owned),
            epoch: fam.record.epoch,
            expires_at: None,
        };
        let target = format!("refresh_family/{}", fam.record.id);
        if fam.record.revoked_at.is_some()
            || user.record.disabled
            || fam.record.epoch < user.record.credential_epoch
        {
            return Err(Error::InvalidToken { reason: "revoked" });
        }
        let idle_end = fam
            .record
            .last_used_at
            .saturating_add(config.refresh_idle_lifetime);
        if now >= fam.record.absolute_expiry || now >= idle_end {
            return Err(Error::InvalidToken { reason: "expired" });
        }

        // When this token stopped being the current one, if it has.
        let superseded_since = token
            .record
            .used_at
            .or((token.record.generation < fam.record.generation).then_some(fam.record.rotated_at));
        let mut family = fam.record.clone();
        family.last_used_at = now;
        let mut batch = Batch::new(self.draft(&caller, "auth.refresh", &target));
        let generation = match superseded_since {
            None => {
                let mut used = token.record.clone();
                used.used_at = Some(now);
                batch.push(Change::Update {
                    row: used.to_row(None)?,
                    expected_version: token.version,
                });
                family.generation += 1;
                family.rotated_at = now;
                family.generation
            }
            Some(since)
                if token.record.generation + 1 == fam.record.generation
                    && !token.record.overlap_used
                    && now.duration_since(since) <= config.refresh_overlap =>
            {
                // Honoured once more, and only once.
                let mut spent = token.record.clone();
                spent.overlap_used = true;
                batch.push(Change::Update {
                    row: spent.to_row(None)?,
                    expected_version: token.version,
                });
                batch.audit = batch.audit.detail("overlap", "true");
                family.generation
            }
            Some(_) => {
                // A superseded token came back: assume it was stolen.
                family.revoked_at = Some(now);
                let revoke = Batch::new(
                    self.draft(&caller, "auth.refresh_reuse", &target)
                        .outcome(Outcome::Denied)
                        .detail("generation", token.record.generation.to_string()),
                )
                .with(Change::Update {
                    row: family.to_row(None)?,
                    expected_version: fam.version,
                });
                self.write(tenant, revoke).await?;
                return Err(Error::InvalidToken { reason: "reused" });
            }
        };
        let (refresh_token, new_row) = self.new_refresh_token(&family, generation, now)?;
        batch.push(Change::Update {
            row: family.to_row(None)?,
            expected_version: fam.version,
        });
        batch.push(Change::Insert(new_row.to_row(None)?));
        self.write(tenant, batch).await?;
        self.session(tenant, &user.record, &family, refresh_token, now)
    }

    /// Ends a login: the refresh token's whole family is revoked.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidToken`] for a token that is malformed or unknown.
    pub async fn logout(&self, refresh_token: &str, source: Option<&str>) -> Result<()> {
        let (tenant, row) = self.find_refresh_token(refresh_token).await?;
        let store = &self.inner.store;
        let token = RefreshToken::from_row(row)?;
        for _ in 0..4 {
            let fam = store
                .get_record::<RefreshFamily>(tenant, &token.record.family)
                .await?
                .ok_or(Error::InvalidToken { reason: "unknown" })?;
            if fam.record.revoked_at.is_some() {
                return Ok(());
            }
            let mut family = fam.record.clone();
            family.revoked_at = Some(self.now());
            let mut draft = AuditDraft::new(
                Actor::User(token.record.user),
                "auth.logout",
                format!("refresh_family/{}", family.id),
                self.now(),
            );
            draft.source = source.map(str::to_owned);
            let batch = Batch::new(draft).with(Change::Update {
                row: family.to_row(None)?,
                expected_version: fam.version,
            });
            match self.write(tenant, batch).await {
                Err(Error::Conflict { .. }) => continue,
                other => return other.map(drop),
            }
        }
        Err(Error::InvalidToken {
            reason: "contended",
        })
    }

    /// Validates a JWT access token and returns its caller, with the user's
    /// *current* role: one read of the user's row, so a token of a user
    /// since disabled, deleted or demoted stops, or shrinks, at once
    /// (refusals are audited). Services other than the Vault may verify
    /// the token alone, statelessly, and accept its 15-minute staleness.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidToken`] for a bad signature, algorithm, issuer,
    /// audience, or an expired or not-yet-valid token, or a user gone,
    /// disabled or whose credentials were revoked since it was issued.
    pub async fn authenticate_access_token(
        &self,
        token: &str,
        source: Option<&str>,
    ) -> Result<Caller> {
        let claims = self
            .inner
            .jwt
            .validate(&self.inner.ring, token, self.now())?;
        let scopes = self.credential_scopes(&claims.scopes)?;
        let tenant = claims.tid;
        let actor = Actor::User(claims.sub);
        let user = self
            .inner
            .store
            .get_record::<User>(tenant, &claims.sub.to_string())
            .await?;
        if let Some(reason) = owner_refusal(user.as_ref(), claims.epoch) {
            let target = format!("user/{}", claims.sub);
            return Err(self
                .refuse_credential(tenant, actor, "auth.access_token", target, reason, source)
                .await);
        }
        Ok(Caller {
            tenant,
            actor,
            role: user.map_or(claims.role, |u| u.record.role),
            scopes,
            source: source.map(str::to_owned),
            epoch: claims.epoch,
            expires_at: None,
        })
    }

    /// The stored row of a presented refresh token, and its tenant; the
    /// checksum is checked before storage is touched.
    async fn find_refresh_token(&self, token: &str) -> Result<(TenantId, crate::store::Row)> {
        let parsed = self.inner.refresh_format.parse(token)?;
        self.inner
            .store
            .find_by_lookup(Kind::RefreshToken, &parsed.hash)
            .await?
            .ok_or(Error::InvalidToken { reason: "unknown" })
    }

    fn new_refresh_token(
        &self,
        family: &RefreshFamily,
        generation: u32,
        now: Timestamp,
    ) -> Result<(SecretString, RefreshToken)> {
        let token = self.inner.refresh_format.generate()?;
        let parsed = self.inner.refresh_format.parse(token.expose_secret())?;
        let row = RefreshToken {
            id: new_id(),
            family: family.id.clone(),
            generation,
            user: family.user,
            hash: parsed.hash,
            created_at: now,
            used_at: None,
            overlap_used: false,
        };
        Ok((token, row))
    }

    fn session(
        &self,
        tenant: TenantId,
        user: &User,
        family: &RefreshFamily,
        refresh_token: SecretString,
        now: Timestamp,
    ) -> Result<Session> {
        let (access, claims) = self.inner.jwt.issue(
            &self.inner.ring,
            user.id,
            tenant,
            user.role,
            vec!["*".to_owned()],
            user.credential_epoch,
            now,
        )?;
        let idle_end = now.saturating_add(self.inner.config.refresh_idle_lifetime);
        Ok(Session {
            tenant,
            user: user.id,
            access_token: SecretString::new(access),
            access_expires_at: Timestamp::from_unix_seconds(claims.exp),
            refresh_token,
            refresh_expires_at: idle_end.min(family.absolute_expiry),
        })
    }
}
