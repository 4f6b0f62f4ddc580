//! App secrets: write-only through the API. Listing shows names and
//! metadata, never values; values reach only the runtime, through
//! [`Vault::inject`], which needs its own permission and is audited.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::audit::Actor;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::id::TenantId;
use crate::rbac::Permission;
use crate::secret::SecretBytes;
use crate::store::records::{
    AppArchive, AppSecret, AppSecretPrevious, SecretName, check_app_name, check_secret_value,
};
use crate::store::retry::{Race, retry};
use crate::store::{Batch, Change, Kind, ListQuery, MAX_BATCH, Record, StoreExt, Stored};
use crate::vault::{Caller, Vault};

/// A secret as listings show it: its name and metadata, never its value.
/// Serialises with times in RFC 3339 ([`crate::clock`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SecretInfo {
    /// The variable name.
    pub name: String,
    /// How many times it was set (the row version).
    pub version: u64,
    /// Who set it last.
    pub updated_by: Actor,
    /// When.
    #[serde(with = "crate::clock::rfc3339")]
    pub updated_at: Timestamp,
    /// Whether a previous value is kept for [`Vault::rollback_secret`].
    pub has_previous: bool,
}

impl Vault {
    /// Sets an app secret; the value it replaces is kept for one-step
    /// rollback. Needs `secrets:write`. Returns the new version.
    ///
    /// `app` is an [`AppName`](crate::names::AppName): 1 to 64 ASCII
    /// letters, digits, `-`, `_` or `.`, starting with a letter or digit.
    /// `name` is an environment-variable name, `[A-Za-z_][A-Za-z0-9_]*`, at
    /// most 128 bytes; the value is any bytes, at most 64 KiB. The same rules
    /// hold for every method that takes an app or a secret name.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::InvalidInput`] for an app name or a
    /// secret name that is not an environment-variable name;
    /// [`Error::TooLarge`] for a value over
    /// 64 KiB (`MAX_SECRET_VALUE_LEN`).
    /// Nothing is written on error.
    pub async fn set_secret(
        &self,
        caller: &Caller,
        app: &str,
        name: &str,
        value: &[u8],
    ) -> Result<u64> {
        check_app_name(app)?;
        let name = SecretName::parse(name)?;
        check_secret_value(value)?;
        let target = secret_target(app, name.as_str());
        self.authorize(caller, Permission::WriteSecrets, "secret.set", &target)
            .await?;
        let name = &name;
        retry("the secret", Race::Upsert, || async {
            let mut batch = Batch::new(self.draft(caller, "secret.set", &target));
            let version = self
                .stage_secret(&mut batch, caller, app, name, value)
                .await?;
            batch.audit = batch.audit.detail("version", version.to_string());
            self.write(caller.tenant, batch).await?;
            Ok(version)
        })
        .await
    }

    /// The most secrets one [`set_secrets`](Self::set_secrets) writes: 100.
    /// Each takes up to two row changes (the value, and the previous value
    /// it keeps), far under the store's 1000-change batch, and the names
    /// with their versions fit the write's one audit event (32 details of
    /// 1024 bytes) even at the longest names. A host with more splits them,
    /// knowing each call is atomic on its own.
    ///
    /// ```
    /// assert_eq!(secrets_core::vault::Vault::MAX_SECRETS_PER_WRITE, 100);
    /// ```
    pub const MAX_SECRETS_PER_WRITE: usize = 100;

    /// Sets several secrets of one app atomically: every one of them, or,
    /// on any error, none. Each is set as [`set_secret`](Self::set_secret)
    /// sets one (its replaced value kept for rollback, its version bumped).
    /// Needs `secrets:write`. Returns the new version of each, by name.
    ///
    /// Every name and value is checked before anything is read or written;
    /// duplicate names are refused (which value was meant?), and so is an
    /// empty set (most likely a host bug; nothing to write, nothing to
    /// audit). The changes go in one batch with one audit event,
    /// `secret.set_many` on `app/<app>`, whose details are `count` and
    /// `secrets`: `NAME=version` pairs by name, space-separated, continued in
    /// `secrets.2`, `secrets.3`, ... when they pass 1024 bytes. Never a
    /// value. A concurrent write to one of the secrets makes the whole batch
    /// run again on what is stored then, so the result never mixes two
    /// writers' values.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// # use std::sync::Arc;
    /// # use secrets_core::crypto::{KeyRing, MasterKey};
    /// # use secrets_core::store::MemoryStore;
    /// # use secrets_core::vault::{Caller, Vault, VaultConfig};
    /// # use secrets_core::{Error, SecretString, SystemClock, TenantId};
    /// # let mut config = VaultConfig::default();
    /// # config.password_cost = 10;
    /// # let vault = Vault::new(Arc::new(MemoryStore::new()), Arc::new(KeyRing::new(MasterKey::generate()?)), Arc::new(SystemClock), config).await?;
    /// # vault.bootstrap(TenantId::DEFAULT, "acme", "ada@example.com", &SecretString::from("correct horse battery"), None).await?;
    /// let deployer = Caller::system(TenantId::DEFAULT);
    /// let versions = vault
    ///     .set_secrets(&deployer, "web", [("DATABASE_URL", "postgres://db/app"), ("STRIPE_KEY", "sk_live_1")])
    ///     .await?;
    /// assert_eq!(versions["STRIPE_KEY"], 1);
    ///
    /// // The second name is invalid: nothing is written, not even the first.
    /// let err = vault.set_secrets(&deployer, "web", [("STRIPE_KEY", "sk_live_2"), ("NOT-A-NAME", "x")]).await;
    /// assert!(matches!(err, Err(Error::InvalidInput { .. })));
    /// assert_eq!(vault.inject(&deployer, "web").await?["STRIPE_KEY"].expose_secret(), b"sk_live_1");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an invalid app or secret name, a name
    /// given twice, no secret at all, or more than
    /// [`MAX_SECRETS_PER_WRITE`](Self::MAX_SECRETS_PER_WRITE);
    /// [`Error::TooLarge`] for a value over
    /// 64 KiB (`MAX_SECRET_VALUE_LEN`)
    /// or a name over 128 bytes; [`Error::Forbidden`]; [`Error::Contended`] if concurrent
    /// writers kept changing the secrets. Nothing is written on error.
    pub async fn set_secrets<N, V>(
        &self,
        caller: &Caller,
        app: &str,
        secrets: impl IntoIterator<Item = (N, V)>,
    ) -> Result<BTreeMap<String, u64>>
    where
        N: AsRef<str>,
        V: AsRef<[u8]>,
    {
        check_app_name(app)?;
        let max = Self::MAX_SECRETS_PER_WRITE;
        // One past the bound is enough to refuse: an endless iterator ends here.
        let given: Vec<(N, V)> = secrets.into_iter().take(max + 1).collect();
        if given.is_empty() {
            return Err(Error::invalid(
                "secrets",
                "is empty; give at least one secret to set",
            ));
        }
        if given.len() > max {
            return Err(Error::invalid(
                "secrets",
                format!(
                    "holds more than {max}, the most one write takes; split them into several writes"
                ),
            ));
        }
        let mut items = Vec::with_capacity(given.len());
        for (name, value) in &given {
            let name = SecretName::parse(name.as_ref())?;
            check_secret_value(value.as_ref())?;
            items.push((name, value.as_ref()));
        }
        items.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(pair) = items.windows(2).find(|w| matches!(w, [a, b] if a.0 == b.0)) {
            let name = pair.first().map_or("", |(n, _)| n.as_str());
            return Err(Error::invalid(
                "secret name",
                format!("`{name}` is given twice; give each secret once"),
            ));
        }
        self.write_secrets(caller, app, &items).await
    }

    /// [`set_secrets`](Self::set_secrets) once its input is checked and
    /// sorted by name: one batch, retried whole when it loses a race.
    async fn write_secrets(
        &self,
        caller: &Caller,
        app: &str,
        items: &[(SecretName, &[u8])],
    ) -> Result<BTreeMap<String, u64>> {
        let target = format!("app/{app}");
        self.authorize(caller, Permission::WriteSecrets, "secret.set_many", &target)
            .await?;
        retry("the secrets", Race::Upsert, || async {
            let mut batch = Batch::new(self.draft(caller, "secret.set_many", &target));
            let mut versions = BTreeMap::new();
            for (name, value) in items {
                let version = self
                    .stage_secret(&mut batch, caller, app, name, value)
                    .await?;
                versions.insert(name.to_string(), version);
            }
            batch.audit = batch.audit.detail("count", items.len().to_string());
            for (key, list) in detail_chunks("secrets", &versions) {
                batch.audit = batch.audit.detail(key, list);
            }
            self.write(caller.tenant, batch).await?;
            Ok(versions)
        })
        .await
    }

    /// Adds to `batch` the changes that set `app`'s secret `name` to
    /// `value`, keeping the value it replaces as the previous one, from what
    /// is stored now; returns the version the secret will have. The one
    /// place a secret is staged, for [`set_secret`](Self::set_secret) and
    /// [`set_secrets`](Self::set_secrets) alike.
    async fn stage_secret(
        &self,
        batch: &mut Batch,
        caller: &Caller,
        app: &str,
        name: &SecretName,
        value: &[u8],
    ) -> Result<u64> {
        let tenant = caller.tenant;
        let record = AppSecret::new(app, name.clone(), caller.actor.clone(), self.now())?;
        let id = record.id();
        let current = self
            .inner
            .store
            .get_record::<AppSecret>(tenant, &id)
            .await?;
        let sealed = self.seal_row(tenant, Kind::AppSecret, &id, value).await?;
        Ok(match &current {
            None => {
                batch.push(Change::Insert(record.to_row(Some(sealed))?));
                1
            }
            Some(old) => {
                batch.push(Change::Update {
                    row: record.to_row(Some(sealed))?,
                    expected_version: old.version,
                });
                let previous = AppSecretPrevious {
                    app: app.to_owned(),
                    name: name.clone(),
                    replaced_at: self.now(),
                };
                let moved = self
                    .move_sealed(tenant, Kind::AppSecret, Kind::AppSecretPrevious, &id, old)
                    .await?;
                batch.push(self.upsert(tenant, previous.to_row(Some(moved))?).await?);
                old.version + 1
            }
        })
    }

    /// Deletes an app secret and its kept previous value. Needs
    /// `secrets:write`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::NotFound`].
    pub async fn delete_secret(&self, caller: &Caller, app: &str, name: &str) -> Result<()> {
        check_app_name(app)?;
        let id = format!("{app}/{}", SecretName::parse(name)?);
        let target = secret_target(app, name);
        self.authorize(caller, Permission::WriteSecrets, "secret.delete", &target)
            .await?;
        let store = &self.inner.store;
        let current = store
            .get(caller.tenant, Kind::AppSecret, &id)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "app_secret".into(),
                id: id.clone(),
            })?;
        let mut batch =
            Batch::new(self.draft(caller, "secret.delete", &target)).with(Change::Delete {
                kind: Kind::AppSecret,
                id: id.clone(),
                expected_version: Some(current.version),
            });
        if store
            .get(caller.tenant, Kind::AppSecretPrevious, &id)
            .await?
            .is_some()
        {
            batch.push(Change::Delete {
                kind: Kind::AppSecretPrevious,
                id,
                expected_version: None,
            });
        }
        self.write(caller.tenant, batch).await.map(drop)
    }

    /// Swaps an app secret with its kept previous value (so a second
    /// rollback undoes the first). Needs `secrets:write`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::NotFound`] when no previous value is kept.
    pub async fn rollback_secret(&self, caller: &Caller, app: &str, name: &str) -> Result<u64> {
        check_app_name(app)?;
        let name = SecretName::parse(name)?;
        let target = secret_target(app, name.as_str());
        self.authorize(caller, Permission::WriteSecrets, "secret.rollback", &target)
            .await?;
        let tenant = caller.tenant;
        let id = format!("{app}/{name}");
        let store = &self.inner.store;
        let current = store
            .get_record::<AppSecret>(tenant, &id)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "app_secret".into(),
                id: id.clone(),
            })?;
        let previous = store
            .get_record::<AppSecretPrevious>(tenant, &id)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "previous value of app_secret".into(),
                id: id.clone(),
            })?;
        let restored = self
            .move_sealed(
                tenant,
                Kind::AppSecretPrevious,
                Kind::AppSecret,
                &id,
                &previous,
            )
            .await?;
        let kept = self
            .move_sealed(
                tenant,
                Kind::AppSecret,
                Kind::AppSecretPrevious,
                &id,
                &current,
            )
            .await?;
        let now = self.now();
        let record = AppSecret::new(app, name.clone(), caller.actor.clone(), now)?;
        let prev_record = AppSecretPrevious {
            app: app.to_owned(),
            name,
            replaced_at: now,
        };
        let batch = Batch::new(self.draft(caller, "secret.rollback", &target))
            .with(Change::Update {
                row: record.to_row(Some(restored))?,
                expected_version: current.version,
            })
            .with(Change::Update {
                row: prev_record.to_row(Some(kept))?,
                expected_version: previous.version,
            });
        self.write(tenant, batch).await?;
        Ok(current.version + 1)
    }

    /// The secrets of an app: names and metadata, never values. Needs
    /// `secrets:list`, which every role holds.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] (a token scoped without it); [`Error::InvalidInput`].
    pub async fn list_secrets(&self, caller: &Caller, app: &str) -> Result<Vec<SecretInfo>> {
        check_app_name(app)?;
        self.authorize(
            caller,
            Permission::ListSecretNames,
            "secret.list",
            &format!("app/{app}"),
        )
        .await?;
        let secrets = self.app_rows::<AppSecret>(caller.tenant, app).await?;
        let previous: std::collections::BTreeSet<String> = self
            .app_rows::<AppSecretPrevious>(caller.tenant, app)
            .await?
            .into_iter()
            .map(|p| p.record.name.to_string())
            .collect();
        Ok(secrets
            .into_iter()
            .map(|s| SecretInfo {
                has_previous: previous.contains(s.record.name.as_str()),
                name: s.record.name.to_string(),
                version: s.version,
                updated_by: s.record.updated_by,
                updated_at: s.record.updated_at,
            })
            .collect())
    }

    /// The environment for a runtime: every secret of `app`, by name. Needs
    /// `secrets:inject`, a permission of its own (listing names does not
    /// grant it); audited with the names injected, never the values.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::Unauthenticated`] if a stored value
    /// was tampered with.
    pub async fn inject(
        &self,
        caller: &Caller,
        app: &str,
    ) -> Result<BTreeMap<String, SecretBytes>> {
        let target = format!("app/{app}");
        check_app_name(app)?;
        self.authorize(caller, Permission::InjectSecrets, "secret.inject", &target)
            .await?;
        let mut env = BTreeMap::new();
        for s in self.app_rows::<AppSecret>(caller.tenant, app).await? {
            let id = s.record.id();
            let value = self
                .open_row(caller.tenant, Kind::AppSecret, &id, s.sealed.as_deref())
                .await?;
            env.insert(s.record.name.to_string(), value);
        }
        let names: Vec<&str> = env.keys().map(String::as_str).collect();
        let draft = self
            .draft(caller, "secret.inject", &target)
            .detail("count", env.len().to_string())
            .detail("names", truncate_list(&names));
        self.write(caller.tenant, Batch::new(draft)).await?;
        Ok(env)
    }

    /// Archives an app: its secrets move into one sealed snapshot and are
    /// no longer listed or injected, until [`Vault::restore_app`]. Needs
    /// `secrets:write`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::AlreadyExists`] if the app is already
    /// archived; [`Error::TooLarge`] for an app with too many secrets to move
    /// in one atomic write.
    pub async fn archive_app(&self, caller: &Caller, app: &str) -> Result<usize> {
        let target = format!("app/{app}");
        check_app_name(app)?;
        self.authorize(caller, Permission::WriteSecrets, "app.archive", &target)
            .await?;
        let tenant = caller.tenant;
        let secrets = self.app_rows::<AppSecret>(tenant, app).await?;
        let previous = self.app_rows::<AppSecretPrevious>(tenant, app).await?;
        if secrets.len() + previous.len() + 1 > MAX_BATCH {
            return Err(Error::TooLarge {
                what: "app to archive (secrets)",
                len: secrets.len(),
                max: MAX_BATCH / 2,
            });
        }
        let mut snapshot = BTreeMap::new();
        let mut batch = Batch::new(self.draft(caller, "app.archive", &target));
        for s in &secrets {
            let id = s.record.id();
            let value = self
                .open_row(tenant, Kind::AppSecret, &id, s.sealed.as_deref())
                .await?;
            snapshot.insert(s.record.name.to_string(), B64.encode(value.expose_secret()));
            batch.push(Change::Delete {
                kind: Kind::AppSecret,
                id,
                expected_version: Some(s.version),
            });
        }
        for p in &previous {
            batch.push(Change::Delete {
                kind: Kind::AppSecretPrevious,
                id: p.record.id(),
                expected_version: Some(p.version),
            });
        }
        let json =
            SecretBytes::new(serde_json::to_vec(&snapshot).map_err(|_| Error::Internal {
                what: "serializing an app archive",
            })?);
        drop(snapshot);
        let archive = AppArchive {
            app: app.to_owned(),
            names: secrets.iter().map(|s| s.record.name.clone()).collect(),
            archived_by: caller.actor.clone(),
            archived_at: self.now(),
        };
        let sealed = self
            .seal_row(tenant, Kind::AppArchive, app, json.expose_secret())
            .await?;
        batch.push(Change::Insert(archive.to_row(Some(sealed))?));
        batch.audit = batch.audit.detail("count", secrets.len().to_string());
        self.write(tenant, batch).await?;
        Ok(secrets.len())
    }

    /// Restores an archived app's secrets (as they were when archived) and
    /// removes the archive. Needs `secrets:write`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::NotFound`] if not archived;
    /// [`Error::AlreadyExists`] if a secret of the same name was set since.
    pub async fn restore_app(&self, caller: &Caller, app: &str) -> Result<usize> {
        let target = format!("app/{app}");
        check_app_name(app)?;
        self.authorize(caller, Permission::WriteSecrets, "app.restore", &target)
            .await?;
        let tenant = caller.tenant;
        let archive = self
            .inner
            .store
            .get_record::<AppArchive>(tenant, app)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "app_archive".into(),
                id: app.to_owned(),
            })?;
        let json = self
            .open_row(tenant, Kind::AppArchive, app, archive.sealed.as_deref())
            .await?;
        let snapshot: BTreeMap<String, String> =
            serde_json::from_slice(json.expose_secret()).map_err(|_| archive_corrupt(app))?;
        let now = self.now();
        let mut batch =
            Batch::new(self.draft(caller, "app.restore", &target)).with(Change::Delete {
                kind: Kind::AppArchive,
                id: app.to_owned(),
                expected_version: Some(archive.version),
            });
        for (name, b64) in &snapshot {
            let value = SecretBytes::new(B64.decode(b64).map_err(|_| archive_corrupt(app))?);
            let record = AppSecret::new(app, SecretName::parse(name)?, caller.actor.clone(), now)?;
            let sealed = self
                .seal_row(tenant, Kind::AppSecret, &record.id(), value.expose_secret())
                .await?;
            batch.push(Change::Insert(record.to_row(Some(sealed))?));
        }
        batch.audit = batch.audit.detail("count", snapshot.len().to_string());
        self.write(tenant, batch).await?;
        Ok(snapshot.len())
    }

    /// Every record of kind `R` under `app` (all pages).
    async fn app_rows<R: Record + 'static>(
        &self,
        tenant: TenantId,
        app: &str,
    ) -> Result<Vec<Stored<R>>> {
        self.inner
            .store
            .list_all_records(tenant, ListQuery::new(R::KIND).parent(app))
            .await
    }
}

fn secret_target(app: &str, name: &str) -> String {
    format!("app/{app}/secret/{name}")
}

/// `NAME=version` pairs for audit details: `key`, then `key.2`, `key.3`,
/// ..., each at most [`MAX_DETAIL_LEN`](crate::audit::MAX_DETAIL_LEN)
/// bytes, nothing cut (a name is at most 128 bytes).
fn detail_chunks(key: &str, versions: &BTreeMap<String, u64>) -> Vec<(String, String)> {
    let mut chunks: Vec<String> = Vec::new();
    let mut current = String::new();
    for (name, version) in versions {
        let pair = format!("{name}={version}");
        if !current.is_empty() && current.len() + 1 + pair.len() > crate::audit::MAX_DETAIL_LEN {
            chunks.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(&pair);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, list)| {
            let key = if i == 0 {
                key.to_owned()
            } else {
                format!("{key}.{}", i + 1)
            };
            (key, list)
        })
        .collect()
}

/// A list for an audit detail, cut to fit its limit.
fn truncate_list(names: &[&str]) -> String {
    let mut out = String::new();
    for n in names {
        if out.len() + n.len() + 1 > crate::audit::MAX_DETAIL_LEN - 4 {
            out.push_str(" ...");
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(n);
    }
    out
}

/// An app archive whose sealed snapshot does not parse.
fn archive_corrupt(app: &str) -> Error {
    Error::Corrupt {
        what: "app_archive",
        id: app.to_owned(),
        reason: "its snapshot does not parse",
    }
}
