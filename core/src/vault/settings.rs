//! Settings secrets (provider keys, webhook secrets): set, clear, `is_set`;
//! never returned by any API-facing call. The host's own code reads one
//! through [`Vault::read_setting_secret`], as the system caller, audited.
//! And the tenant's deletion protection ([`Vault::set_deletion_protection`]).

use crate::audit::Actor;
use crate::error::{Error, Result};
use crate::names::SettingName;
use crate::rbac::Permission;
use crate::secret::SecretBytes;
use crate::store::records::{MAX_SECRET_VALUE_LEN, SettingSecret};
use crate::store::retry::{Race, retry};
use crate::store::{Batch, Change, Kind, ListQuery, Record, StoreExt};
use crate::vault::{Caller, Vault};

/// Checks a settings-secret name ([`SettingName`]'s rule).
pub(crate) fn check_setting_name(name: &str) -> Result<()> {
    SettingName::new(name).map(drop)
}

impl Vault {
    /// Sets a settings secret (sealed at rest). Needs `settings:manage`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::InvalidInput`] for a bad name;
    /// [`Error::TooLarge`] for a value over 64 KiB.
    pub async fn set_setting_secret(
        &self,
        caller: &Caller,
        name: &str,
        value: &[u8],
    ) -> Result<()> {
        check_setting_name(name)?;
        if value.len() > MAX_SECRET_VALUE_LEN {
            return Err(Error::TooLarge {
                what: "setting value",
                len: value.len(),
                max: MAX_SECRET_VALUE_LEN,
            });
        }
        let target = format!("setting/{name}");
        self.authorize(caller, Permission::ManageSettings, "setting.set", &target)
            .await?;
        let tenant = caller.tenant;
        retry("the setting", Race::Upsert, || async {
            let record = SettingSecret {
                name: name.to_owned(),
                updated_by: caller.actor.clone(),
                updated_at: self.now(),
            };
            let sealed = self
                .seal_row(tenant, Kind::SettingSecret, name, value)
                .await?;
            let change = self.upsert(tenant, record.to_row(Some(sealed))?).await?;
            let batch = Batch::new(self.draft(caller, "setting.set", &target)).with(change);
            self.write(tenant, batch).await.map(drop)
        })
        .await
    }

    /// Clears a settings secret. Needs `settings:manage`. Clearing one that
    /// is not set is not an error.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::InvalidInput`].
    pub async fn clear_setting_secret(&self, caller: &Caller, name: &str) -> Result<()> {
        check_setting_name(name)?;
        let target = format!("setting/{name}");
        self.authorize(caller, Permission::ManageSettings, "setting.clear", &target)
            .await?;
        if self
            .inner
            .store
            .get(caller.tenant, Kind::SettingSecret, name)
            .await?
            .is_none()
        {
            return Ok(());
        }
        let batch = Batch::new(self.draft(caller, "setting.clear", &target)).with(Change::Delete {
            kind: Kind::SettingSecret,
            id: name.to_owned(),
            expected_version: None,
        });
        match self.write(caller.tenant, batch).await {
            Err(Error::NotFound { .. }) => Ok(()),
            other => other.map(drop),
        }
    }

    /// Whether a settings secret is set: all the API ever says about one.
    /// Needs `settings:manage`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::InvalidInput`].
    pub async fn setting_secret_is_set(&self, caller: &Caller, name: &str) -> Result<bool> {
        check_setting_name(name)?;
        self.authorize(
            caller,
            Permission::ManageSettings,
            "setting.is_set",
            &format!("setting/{name}"),
        )
        .await?;
        Ok(self
            .inner
            .store
            .get(caller.tenant, Kind::SettingSecret, name)
            .await?
            .is_some())
    }

    /// The names of the settings secrets that are set (never values).
    /// Needs `settings:manage`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`].
    pub async fn list_setting_secrets(&self, caller: &Caller) -> Result<Vec<String>> {
        self.authorize(
            caller,
            Permission::ManageSettings,
            "setting.list",
            "setting",
        )
        .await?;
        let rows = self
            .inner
            .store
            .list_records::<SettingSecret>(caller.tenant, ListQuery::new(Kind::SettingSecret))
            .await?;
        Ok(rows.into_iter().map(|s| s.record.name).collect())
    }

    /// Reads a settings secret for the host's own code (calling a provider,
    /// signing a webhook). Only [`Caller::system`] may: no user, token or
    /// agent can read one back. Every read is audited.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] for any caller but the system;
    /// [`Error::NotFound`] when not set.
    pub async fn read_setting_secret(&self, caller: &Caller, name: &str) -> Result<SecretBytes> {
        check_setting_name(name)?;
        let target = format!("setting/{name}");
        if caller.actor != Actor::System {
            let reason = "only the host's own code reads settings secrets";
            return Err(self
                .refuse(caller, "setting.read", &target, reason, "setting.read")
                .await);
        }
        let row = self
            .inner
            .store
            .get(caller.tenant, Kind::SettingSecret, name)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "setting_secret".into(),
                id: name.to_owned(),
            })?;
        let value = self
            .open_row(
                caller.tenant,
                Kind::SettingSecret,
                name,
                row.sealed.as_deref(),
            )
            .await?;
        self.write(
            caller.tenant,
            Batch::new(self.draft(caller, "setting.read", &target)),
        )
        .await?;
        Ok(value)
    }
}

impl Vault {
    /// Turns the caller's tenant's deletion protection on or off. While it
    /// is on, [`Store::erase_tenant`](crate::store::Store::erase_tenant)
    /// refuses the tenant with [`Error::DeletionProtected`]. Needs
    /// `settings:manage`; audited (`tenant.deletion_protection`, detail
    /// `enabled`), also when it changes nothing.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// use std::sync::Arc;
    /// use secrets_core::crypto::{KeyRing, MasterKey};
    /// use secrets_core::store::{MemoryStore, Store};
    /// use secrets_core::vault::{Caller, Vault, VaultConfig};
    /// use secrets_core::{Error, SecretString, SystemClock, TenantId};
    ///
    /// let mut config = VaultConfig::default();
    /// config.password_cost = 10;
    /// let store = Arc::new(MemoryStore::new());
    /// let vault = Vault::new(store.clone(), Arc::new(KeyRing::new(MasterKey::generate()?)),
    ///     Arc::new(SystemClock), config).await?;
    /// let tenant = TenantId::generate();
    /// vault.bootstrap(tenant, "acme", "ada@example.com", &SecretString::from("correct horse battery"), None).await?;
    ///
    /// vault.set_deletion_protection(&Caller::system(tenant), true).await?;
    /// assert!(matches!(store.erase_tenant(tenant).await, Err(Error::DeletionProtected { .. })));
    /// assert!(matches!(vault.erase_tenant(&Caller::system(tenant)).await, Err(Error::DeletionProtected { .. })));
    /// vault.set_deletion_protection(&Caller::system(tenant), false).await?;
    /// vault.erase_tenant(&Caller::system(tenant)).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::NotFound`] for a tenant that does not
    /// exist; [`Error::Conflict`] if the tenant changed meanwhile (try
    /// again); the store's errors.
    pub async fn set_deletion_protection(&self, caller: &Caller, enabled: bool) -> Result<()> {
        let target = format!("tenant/{}", caller.tenant);
        let action = "tenant.deletion_protection";
        self.authorize(caller, Permission::ManageSettings, action, &target)
            .await?;
        let tenant = self
            .inner
            .store
            .tenant(caller.tenant)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "tenant".into(),
                id: caller.tenant.to_string(),
            })?;
        let version = tenant.version;
        let mut updated = tenant;
        updated.deletion_protection = enabled;
        let batch = Batch::new(
            self.draft(caller, action, &target)
                .detail("enabled", enabled.to_string()),
        )
        .with(Change::UpdateTenant {
            tenant: updated,
            expected_version: version,
        });
        self.write(caller.tenant, batch).await.map(drop)
    }

    /// Erases the caller's tenant: every row, its audit log and its data
    /// keys, in one write (`Store::erase_tenant`), then, for a vault built
    /// [with a key store](Vault::with_key_store), its keys there. Needs
    /// `settings:manage` (an Admin, or [`Caller::system`]); refused while
    /// deletion protection is on. Final: nothing of the tenant remains to
    /// audit the erase in, and its sealed values, wherever copies of them
    /// survive, need its destroyed keys (see `docs/THREAT_MODEL.md`,
    /// "Erasing a tenant, and backups").
    ///
    /// Run again after a failure (of the key store, say), it finishes.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// use std::sync::Arc;
    /// use secrets_core::crypto::{KeyRing, MasterKey};
    /// use secrets_core::store::{MemoryStore, Store};
    /// use secrets_core::vault::{Caller, Vault, VaultConfig};
    /// use secrets_core::{Error, SecretString, SystemClock, TenantId};
    ///
    /// let mut config = VaultConfig::default();
    /// config.password_cost = 10;
    /// let store = Arc::new(MemoryStore::new());
    /// let vault = Vault::new(store.clone(), Arc::new(KeyRing::new(MasterKey::generate()?)),
    ///     Arc::new(SystemClock), config).await?;
    /// let tenant = TenantId::generate();
    /// vault.bootstrap(tenant, "acme", "ada@example.com", &SecretString::from("correct horse battery"), None).await?;
    /// let system = Caller::system(tenant);
    /// vault.set_secret(&system, "web", "API_KEY", b"sk-live-1").await?;
    ///
    /// vault.set_deletion_protection(&system, true).await?;
    /// assert!(matches!(vault.erase_tenant(&system).await, Err(Error::DeletionProtected { .. })));
    /// vault.set_deletion_protection(&system, false).await?;
    /// vault.erase_tenant(&system).await?;
    /// assert!(store.tenant(tenant).await?.is_none());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::DeletionProtected`];
    /// [`Error::NotFound`] for a tenant that does not exist (and has no
    /// keys left to destroy); the stores' errors.
    pub async fn erase_tenant(&self, caller: &Caller) -> Result<()> {
        let target = format!("tenant/{}", caller.tenant);
        self.authorize(caller, Permission::ManageSettings, "tenant.erase", &target)
            .await?;
        self.inner.store.erase_tenant(caller.tenant).await
    }
}
