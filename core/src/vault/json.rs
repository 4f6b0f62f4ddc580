//! Host JSON: what the Vault's outputs look like serialised, and the one
//! explicit path that includes their secrets.
//!
//! Every output derives `Serialize` (and `Deserialize` where reading one
//! back makes sense: listings, not credentials), with every time in RFC 3339
//! (see [`crate::clock`]). The outputs that carry a secret (a
//! [`Session`]'s tokens, a [`MintedToken`], a [`StartedAgentSession`]'s
//! token, a [`RegisteredEndpoint`]'s signing secret) leave it out when
//! serialised, so that logging, caching or tracing one leaks nothing. The
//! response that must hand the secret over serialises
//! `expose_secrets()` instead, an [`Exposed`] view: one greppable call per
//! place a secret leaves the library as JSON. The shapes are pinned by
//! `core/tests/data/host_json_v1.json`.

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::clock::Timestamp;
use crate::vault::{MintedToken, RegisteredEndpoint, Session, StartedAgentSession};

/// A view of an output that serialises with its secrets: what
/// `expose_secrets()` of [`Session`], [`MintedToken`],
/// [`StartedAgentSession`] and [`RegisteredEndpoint`] returns. Its `Debug`
/// is the output's, which redacts them.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # use std::sync::Arc;
/// # use secrets_core::crypto::{KeyRing, MasterKey};
/// # use secrets_core::store::MemoryStore;
/// # use secrets_core::vault::{Vault, VaultConfig};
/// # use secrets_core::{SecretString, SystemClock, TenantId};
/// # let mut config = VaultConfig::default();
/// # config.password_cost = 10;
/// # let vault = Vault::new(Arc::new(MemoryStore::new()), Arc::new(KeyRing::new(MasterKey::generate()?)), Arc::new(SystemClock), config).await?;
/// # let password = SecretString::from("correct horse battery");
/// # let ada = vault.bootstrap(TenantId::DEFAULT, "acme", "ada@example.com", &password, None).await?;
/// let session = vault.login(TenantId::DEFAULT, "ada@example.com", &password, None).await?;
///
/// // Logged, cached or traced: no token in it.
/// let logged = serde_json::to_string(&session)?;
/// assert!(!logged.contains(session.refresh_token.expose_secret()));
///
/// // The body of the login response (sent with no-store headers).
/// let body = serde_json::to_value(session.expose_secrets())?;
/// assert_eq!(body["token_type"], "Bearer");
/// assert_eq!(body["refresh_token"], session.refresh_token.expose_secret());
/// assert_eq!(body["expires_in"], 900);
/// # let _ = ada;
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Exposed<'a, T>(&'a T);

/// RFC 3339 on the way out.
struct Rfc3339(Timestamp);

impl Serialize for Rfc3339 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_rfc3339())
    }
}

impl Session {
    /// This session with its tokens, for the response that hands them to
    /// the client: the fields of `Session` plus `access_token`,
    /// `refresh_token` and `token_type` (`"Bearer"`), so it is also an
    /// RFC 6749 section 5.1 token response. Send it with
    /// [`SecurityHeaders::for_token_response`](crate::headers::SecurityHeaders::for_token_response).
    ///
    /// See [`Exposed`] for an example.
    #[must_use]
    pub fn expose_secrets(&self) -> Exposed<'_, Self> {
        Exposed(self)
    }
}

impl Serialize for Exposed<'_, Session> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        let mut st = s.serialize_struct("Session", 8)?;
        st.serialize_field("tenant", &v.tenant)?;
        st.serialize_field("user", &v.user)?;
        st.serialize_field("access_token", v.access_token.expose_secret())?;
        st.serialize_field("token_type", "Bearer")?;
        st.serialize_field("access_expires_at", &Rfc3339(v.access_expires_at))?;
        st.serialize_field("expires_in", &v.expires_in)?;
        st.serialize_field("refresh_token", v.refresh_token.expose_secret())?;
        st.serialize_field("refresh_expires_at", &Rfc3339(v.refresh_expires_at))?;
        st.end()
    }
}

impl MintedToken {
    /// This token with its secret, `"token"`, for the one response that
    /// shows it to its user.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// # use secrets_core::crypto::{KeyRing, MasterKey};
    /// # use secrets_core::store::MemoryStore;
    /// # use secrets_core::vault::{Vault, VaultConfig};
    /// # use secrets_core::{SecretString, SystemClock, TenantId};
    /// # let mut config = VaultConfig::default();
    /// # config.password_cost = 10;
    /// # let vault = Vault::new(Arc::new(MemoryStore::new()), Arc::new(KeyRing::new(MasterKey::generate()?)), Arc::new(SystemClock), config).await?;
    /// # let password = SecretString::from("correct horse battery");
    /// # let ada = vault.bootstrap(TenantId::DEFAULT, "acme", "ada@example.com", &password, None).await?;
    /// # use secrets_core::vault::Caller;
    /// let minted = vault
    ///     .mint_api_token(&Caller::system(TenantId::DEFAULT), ada, "ci", &["secrets:inject"], None)
    ///     .await?;
    /// let logged = serde_json::to_string(&minted)?; // {"id","display_prefix","expires_at"}
    /// assert!(!logged.contains(minted.token.expose_secret()));
    /// let body = serde_json::to_value(minted.expose_secrets())?; // and "token"
    /// assert_eq!(body["token"], minted.token.expose_secret());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn expose_secrets(&self) -> Exposed<'_, Self> {
        Exposed(self)
    }
}

impl Serialize for Exposed<'_, MintedToken> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        let mut st = s.serialize_struct("MintedToken", 4)?;
        st.serialize_field("id", &v.id)?;
        st.serialize_field("token", v.token.expose_secret())?;
        st.serialize_field("display_prefix", &v.display_prefix)?;
        st.serialize_field("expires_at", &v.expires_at.map(Rfc3339))?;
        st.end()
    }
}

impl StartedAgentSession {
    /// This session with its token, `"token"`, for the agent that presents
    /// it.
    ///
    /// See [`MintedToken::expose_secrets`] for an example.
    #[must_use]
    pub fn expose_secrets(&self) -> Exposed<'_, Self> {
        Exposed(self)
    }
}

impl Serialize for Exposed<'_, StartedAgentSession> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        let mut st = s.serialize_struct("StartedAgentSession", 3)?;
        st.serialize_field("id", &v.id)?;
        st.serialize_field("token", v.token.expose_secret())?;
        st.serialize_field("expires_at", &Rfc3339(v.expires_at))?;
        st.end()
    }
}

impl RegisteredEndpoint {
    /// This endpoint with its signing secret, `"secret"`, for the receiver
    /// to configure.
    ///
    /// See [`MintedToken::expose_secrets`] for an example.
    #[must_use]
    pub fn expose_secrets(&self) -> Exposed<'_, Self> {
        Exposed(self)
    }
}

impl Serialize for Exposed<'_, RegisteredEndpoint> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        let mut st = s.serialize_struct("RegisteredEndpoint", 2)?;
        st.serialize_field("id", &v.id)?;
        st.serialize_field("secret", v.secret.expose_secret())?;
        st.end()
    }
}

#[cfg(test)]
mod tests;
