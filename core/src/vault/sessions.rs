//! Password login, JWT access tokens and rotating refresh tokens.

use crate::error::TokenRejection;
use std::sync::atomic::Ordering;

use crate::audit::{Actor, AuditDraft, Outcome};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::id::{TenantId, UserId};
use crate::password::LoginVerdict;
use crate::rbac::Scopes;
use crate::secret::SecretString;
use crate::store::records::{RefreshFamily, RefreshToken, User};
use crate::store::retry::{Race, retry};
use crate::store::{Batch, Change, Kind, Record, StoreExt, Stored};
use crate::vault::tokens::owner_refusal;
use crate::vault::{Caller, Vault, blocking, new_id};

/// The label of [`Vault::login_tag`]'s MAC (docs/FORMATS.md).
const LOGIN_TAG_LABEL: &[u8] = b"secrets-core/v1/login-audit";

/// What a login or a refresh returns. The tokens print as `[REDACTED]`.
///
/// Serialising it leaves both tokens out
/// (`{"tenant","user","access_expires_at","expires_in","refresh_expires_at"}`);
/// the response that hands them to the client serialises
/// [`expose_secrets`](Self::expose_secrets) instead, a superset of an
/// OAuth 2.0 token response (RFC 6749 section 5.1), to be sent with
/// [`SecurityHeaders::for_token_response`](crate::headers::SecurityHeaders::for_token_response).
#[derive(Debug, serde::Serialize)]
#[non_exhaustive]
pub struct Session {
    /// The tenant.
    pub tenant: TenantId,
    /// The user.
    pub user: UserId,
    /// A short-lived JWT for `Authorization: Bearer`.
    #[serde(skip)]
    pub access_token: SecretString,
    /// When it expires.
    #[serde(with = "crate::clock::rfc3339")]
    pub access_expires_at: Timestamp,
    /// Seconds from issue until the access token expires (RFC 6749's
    /// `expires_in`): what a client schedules its refresh by, without
    /// comparing clocks.
    pub expires_in: u64,
    /// The refresh token: use it once, at [`Vault::refresh`], for a new pair.
    #[serde(skip)]
    pub refresh_token: SecretString,
    /// When the login ends at the latest.
    #[serde(with = "crate::clock::rfc3339")]
    pub refresh_expires_at: Timestamp,
}

impl Vault {
    /// bcrypt work done by this vault's logins so far, in rounds of the
    /// expensive key schedule (a test hook: see
    /// [`PasswordPolicy::verify_login`](crate::password::PasswordPolicy::verify_login)).
    #[doc(hidden)]
    #[must_use]
    pub fn bcrypt_rounds(&self) -> u64 {
        self.inner.bcrypt_rounds.load(Ordering::Relaxed)
    }

    /// Logs a user in with a password.
    ///
    /// The login name is normalized first ([`crate::login::normalize`]), so
    /// `ADA@example.com` and `ａｄａ@example.com` are `ada@example.com`.
    /// Unknown users, disabled users, refused names and wrong passwords get
    /// the same error after the same bcrypt work, whatever cost the stored
    /// hash has ([`PasswordPolicy::verify_login`]), and each failure is
    /// audited: a known user by id, an unknown name only as a short keyed
    /// hash (target `login/unknown`, detail `login_hmac`), never as typed
    /// text, which is often a password typed into the wrong field.
    ///
    /// A stored hash not at the policy's cost is replaced after the login,
    /// by a separate audited write (`user.password_rehash`) that may lose a
    /// race with a concurrent login or change of the user: that never fails
    /// the login.
    ///
    /// [`PasswordPolicy::verify_login`]: crate::password::PasswordPolicy::verify_login
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
        let user = self.find_login(tenant, login).await?;
        let stored_hash = user
            .as_ref()
            .filter(|u| !u.record.disabled)
            .and_then(|u| u.record.password_hash.clone());
        let dummy = self.inner.dummy_hash.clone();
        let policy = self.inner.passwords;
        let pw = password.clone();
        let stored = stored_hash.clone();
        let check =
            blocking(move || Ok(policy.verify_login(&pw, stored.as_deref(), &dummy))).await?;
        self.inner
            .bcrypt_rounds
            .fetch_add(check.rounds, Ordering::Relaxed);

        let now = self.now();
        let mut draft = match &user {
            Some(u) => AuditDraft::new(
                Actor::User(u.record.id),
                "auth.login",
                format!("user/{}", u.record.id),
                now,
            ),
            None => AuditDraft::new(Actor::Anonymous, "auth.login", "login/unknown", now)
                .detail("login_hmac", self.login_tag(login)),
        };
        draft.source = source.map(str::to_owned);
        let user = match (user, check.verdict) {
            (Some(u), LoginVerdict::Match) if !u.record.disabled => u,
            (u, verdict) => {
                let reason = match &u {
                    None => "unknown_login",
                    Some(u) if u.record.disabled => "disabled",
                    Some(_) => verdict.as_str(),
                };
                self.record(
                    tenant,
                    draft.outcome(Outcome::Failed).detail("reason", reason),
                )
                .await;
                return Err(Error::InvalidCredentials);
            }
        };

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
        let batch = Batch::new(draft)
            .with(Change::Insert(family.to_row(None)?))
            .with(Change::Insert(token_row.to_row(None)?));
        self.write(tenant, batch).await?;
        let session = self.session(tenant, &user.record, &family, refresh_token, now)?;
        if stored_hash.is_some_and(|h| policy.needs_rehash(&h)) {
            self.rehash(tenant, &user, password, source).await;
        }
        Ok(session)
    }

    /// The user a typed login name designates, if any. Looked up by its
    /// normal form, and also (when it differs) by the key earlier versions
    /// stored, the name lower-cased as typed, so rows written before login
    /// names were normalized still log in; the normal form wins. Which reads
    /// are made depends on the text typed only, never on the accounts.
    async fn find_login(&self, tenant: TenantId, login: &str) -> Result<Option<Stored<User>>> {
        let store = &self.inner.store;
        let normal = crate::login::normalize(login).ok();
        let legacy = crate::login::legacy_key(login);
        let found = match &normal {
            Some(n) => {
                store
                    .get_by_lookup(tenant, Kind::User, n.as_bytes())
                    .await?
            }
            None => None,
        };
        let old = if normal.as_deref() == Some(legacy.as_str()) {
            None
        } else {
            store
                .get_by_lookup(tenant, Kind::User, legacy.as_bytes())
                .await?
        };
        found.or(old).map(User::from_row).transpose()
    }

    /// A short keyed hash of a login name that matched no user, for the
    /// audit log: repeated attempts with one name correlate, and the name
    /// (often a password typed into the wrong field) is not recorded.
    /// HMAC-SHA256 under the master key's subkey `login-audit`, over the
    /// label `secrets-core/v1/login-audit` and the name's UTF-8 as typed;
    /// the first 8 bytes, in lowercase hex (docs/FORMATS.md).
    fn login_tag(&self, login: &str) -> String {
        use hmac::Mac as _;
        let key = self.inner.ring.derive_subkey("login-audit");
        let mut mac = crate::crypto::hmac_sha256(&key);
        mac.update(LOGIN_TAG_LABEL);
        mac.update(login.as_bytes());
        let digest = mac.finalize().into_bytes();
        digest
            .iter()
            .take(8)
            .fold(String::with_capacity(16), |mut s, b| {
                use std::fmt::Write as _;
                let _ = write!(s, "{b:02x}");
                s
            })
    }

    /// Replaces a just-verified hash by one at the policy's cost, in its own
    /// audited write, best effort: a lost race (another login upgraded it,
    /// or the user changed) or any failure leaves the old hash, which still
    /// verifies, for the next login to try again.
    async fn rehash(
        &self,
        tenant: TenantId,
        user: &Stored<User>,
        password: &SecretString,
        source: Option<&str>,
    ) {
        let Ok(hash) = self.hash_password(password).await else {
            return;
        };
        let mut upgraded = user.record.clone();
        upgraded.password_hash = Some(hash);
        let Ok(row) = upgraded.to_row(None) else {
            return;
        };
        let mut draft = AuditDraft::new(
            Actor::User(user.record.id),
            "user.password_rehash",
            format!("user/{}", user.record.id),
            self.now(),
        )
        .detail("cost", self.inner.passwords.cost().to_string());
        draft.source = source.map(str::to_owned);
        let batch = Batch::new(draft).with(Change::Update {
            row,
            expected_version: user.version,
        });
        let _ = self.write(tenant, batch).await;
    }

    /// Trades a refresh token for a new access token and a new refresh token.
    ///
    /// Each refresh token rotates once. Presenting it again within the
    /// configured overlap window after that (several tabs refreshing at
    /// once, a retried request) returns the same successor again, however
    /// many times, so every concurrent request leaves the client with the
    /// live token; this holds for the most recently superseded token only.
    /// Presenting a superseded token after the window, or an older one,
    /// revokes the whole family (a stolen token was replayed).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidToken`] (`malformed`, `bad checksum`, `unknown`,
    /// `revoked`, `expired`, `reused`); the store's errors.
    pub async fn refresh(&self, refresh_token: &str, source: Option<&str>) -> Result<Session> {
        let (tenant, row) = self.find_refresh_token(refresh_token).await?;
        let store = &self.inner.store;
        let token_id = row.id.clone();
        let token_id = token_id.as_str();
        let mut known = Some(row);
        // Another refresh of the same family won the race: look again.
        retry("the refresh token", Race::Conflict, || {
            let known = known.take();
            async move {
                let current = match known {
                    Some(r) => r,
                    None => store
                        .get(tenant, Kind::RefreshToken, token_id)
                        .await?
                        .ok_or(Error::InvalidToken {
                            reason: TokenRejection::Unknown,
                        })?,
                };
                self.refresh_once(tenant, RefreshToken::from_row(current)?, source)
                    .await
            }
        })
        .await
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
            .ok_or(Error::InvalidToken {
                reason: TokenRejection::Unknown,
            })?;
        // A token read before a concurrent rotation moved the family on
        // looks superseded but unused, and without its sealed successor:
        // read it again, now at least as new as the family (the rotation
        // writes both at once), rather than take it for a replay.
        let token =
            if token.record.used_at.is_none() && token.record.generation < fam.record.generation {
                store
                    .get(tenant, Kind::RefreshToken, &token.record.id)
                    .await?
                    .map(RefreshToken::from_row)
                    .transpose()?
                    .ok_or(Error::InvalidToken {
                        reason: TokenRejection::Unknown,
                    })?
            } else {
                token
            };
        let user = match self.load_user(tenant, token.record.user).await {
            Err(Error::NotFound { .. }) => {
                return Err(Error::InvalidToken {
                    reason: TokenRejection::Revoked,
                });
            }
            other => other?,
        };
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
            return Err(Error::InvalidToken {
                reason: TokenRejection::Revoked,
            });
        }
        let idle_end = fam
            .record
            .last_used_at
            .saturating_add(config.refresh_idle_lifetime);
        if now >= fam.record.absolute_expiry || now >= idle_end {
            return Err(Error::InvalidToken {
                reason: TokenRejection::Expired,
            });
        }

        // When this token stopped being the current one, if it has.
        let superseded_since = token
            .record
            .used_at
            .or((token.record.generation < fam.record.generation).then_some(fam.record.rotated_at));
        match superseded_since {
            None => {}
            Some(since)
                if token.record.generation + 1 == fam.record.generation
                    && token.sealed.is_some()
                    && now.duration_since(since) <= config.refresh_overlap =>
            {
                // A concurrent refresh (another tab, a retry) inside the
                // overlap window: the same successor again, so every
                // request leaves the client holding the live token.
                let successor = self
                    .open_row(
                        tenant,
                        Kind::RefreshToken,
                        &token.record.id,
                        token.sealed.as_deref(),
                    )
                    .await?;
                let successor =
                    String::from_utf8(successor.expose_secret().to_vec()).map_err(|_| {
                        Error::Corrupt {
                            what: "refresh_token",
                            id: token.record.id.clone(),
                            reason: "the sealed successor is not text",
                        }
                    })?;
                let draft = self
                    .draft(&caller, "auth.refresh", &target)
                    .detail("overlap", "true");
                self.write(tenant, Batch::new(draft)).await?;
                return self.session(
                    tenant,
                    &user.record,
                    &fam.record,
                    SecretString::new(successor),
                    now,
                );
            }
            Some(_) => {
                // A superseded token came back: assume it was stolen.
                let mut family = fam.record.clone();
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
                return Err(Error::InvalidToken {
                    reason: TokenRejection::Reused,
                });
            }
        }

        // First use: rotate. The successor is also sealed onto this token's
        // row, so that a concurrent refresh inside the overlap window gets
        // the same one (context: the token row, docs/FORMATS.md).
        let mut family = fam.record.clone();
        family.last_used_at = now;
        family.generation += 1;
        family.rotated_at = now;
        let (refresh_token, new_row) = self.new_refresh_token(&family, family.generation, now)?;
        let mut used = token.record.clone();
        used.used_at = Some(now);
        let sealed = self
            .seal_row(
                tenant,
                Kind::RefreshToken,
                &used.id,
                refresh_token.expose_secret().as_bytes(),
            )
            .await?;
        let batch = Batch::new(self.draft(&caller, "auth.refresh", &target))
            .with(Change::Update {
                row: used.to_row(Some(sealed))?,
                expected_version: token.version,
            })
            .with(Change::Update {
                row: family.to_row(None)?,
                expected_version: fam.version,
            })
            .with(Change::Insert(new_row.to_row(None)?));
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
        retry("the refresh token's family", Race::Conflict, || async {
            let fam = store
                .get_record::<RefreshFamily>(tenant, &token.record.family)
                .await?
                .ok_or(Error::InvalidToken {
                    reason: TokenRejection::Unknown,
                })?;
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
            self.write(tenant, batch).await.map(drop)
        })
        .await
    }

    /// Validates a JWT access token and returns its caller, with the user's
    /// *current* role: one read of the user's row, so a token of a user
    /// since disabled, deleted or demoted stops, or shrinks, at once
    /// (refusals are audited). Services other than the Vault may verify
    /// the token alone, statelessly, and accept its 15-minute staleness:
    /// with [`JwtAlgorithm::EdDsa`](crate::jwt::JwtAlgorithm::EdDsa)
    /// configured they need only the public keys of [`Vault::jwks`].
    ///
    /// Both HS256 and EdDSA tokens are accepted, whichever algorithm is
    /// configured, each only under its own keys (see
    /// [`JwtSigner::validate`](crate::jwt::JwtSigner::validate)).
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
        let claims = self.inner.jwt.validate(token, self.now())?;
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

    /// The JSON Web Key Set (RFC 7517) other services verify EdDSA access
    /// tokens with, for the host to publish (conventionally at
    /// `/.well-known/jwks.json`; [`Jwks::to_json`] gives the body): the
    /// Ed25519 public keys of the key ring's newest
    /// [`JwtConfig::published_keys`](crate::jwt::JwtConfig::published_keys)
    /// keys and of the key its next rotation brings. Public keys only,
    /// never an HS256 key: publishing it reveals nothing that verifies an
    /// HS256 token, forges any token or opens a sealed value. Needs no
    /// caller, reads no storage, writes no audit event.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use secrets_core::crypto::{KeyRing, MasterKey};
    /// use secrets_core::jwt::{AccessClaims, JwtAlgorithm, Jwks};
    /// use secrets_core::store::MemoryStore;
    /// use secrets_core::vault::{Vault, VaultConfig};
    /// use secrets_core::{Clock, SecretString, SystemClock, TenantId};
    ///
    /// let mut config = VaultConfig::default();
    /// config.password_cost = 10;
    /// config.jwt.algorithm = JwtAlgorithm::EdDsa;
    /// let vault = Vault::new(
    ///     Arc::new(MemoryStore::new()),
    ///     Arc::new(KeyRing::new(MasterKey::generate()?)),
    ///     Arc::new(SystemClock),
    ///     config,
    /// )
    /// .await?;
    /// let password = SecretString::from("correct horse battery");
    /// vault.bootstrap(TenantId::DEFAULT, "acme", "ada@example.com", &password, None).await?;
    /// let session = vault.login(TenantId::DEFAULT, "ada@example.com", &password, None).await?;
    ///
    /// // What the host serves at /.well-known/jwks.json:
    /// let body = vault.jwks().to_json();
    ///
    /// // Another service, with that text and nothing else (any JWT library
    /// // that reads a JWKS, or this one):
    /// let jwks = Jwks::from_json(&body)?;
    /// let token = session.access_token.expose_secret();
    /// let claims: AccessClaims = jwks.verify(token, SystemClock.now(), Duration::from_secs(30))?;
    /// assert_eq!(claims.sub, session.user);
    /// # Ok(()) }
    /// ```
    ///
    /// [`Jwks::to_json`]: crate::jwt::Jwks::to_json
    #[must_use]
    pub fn jwks(&self) -> crate::jwt::Jwks {
        self.inner.jwt.jwks()
    }

    /// The stored row of a presented refresh token, and its tenant; the
    /// checksum is checked before storage is touched.
    async fn find_refresh_token(&self, token: &str) -> Result<(TenantId, crate::store::Row)> {
        let parsed = self.inner.refresh_format.parse(token)?;
        self.inner
            .store
            .find_by_lookup(Kind::RefreshToken, &parsed.hash)
            .await?
            .ok_or(Error::InvalidToken {
                reason: TokenRejection::Unknown,
            })
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
            expires_in: u64::try_from(claims.exp.saturating_sub(now.unix_seconds())).unwrap_or(0),
            refresh_token,
            refresh_expires_at: idle_end.min(family.absolute_expiry),
        })
    }
}
