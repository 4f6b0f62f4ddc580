//! Roles. (Permissions and decisions arrive with the Vault.)

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A user's role within a tenant.
///
/// ```
/// use secrets_core::rbac::Role;
///
/// assert_eq!(Role::parse("developer").ok(), Some(Role::Developer));
/// assert!(Role::Admin > Role::Viewer);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads; changes nothing.
    Viewer,
    /// Builds and deploys: writes secrets, starts agent sessions.
    Developer,
    /// Also manages users, API tokens, settings, and reads the audit log.
    Admin,
}

impl Role {
    /// `viewer`, `developer` or `admin`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Developer => "developer",
            Self::Admin => "admin",
        }
    }

    /// Parses the lowercase name.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for any other text.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "viewer" => Ok(Self::Viewer),
            "developer" => Ok(Self::Developer),
            "admin" => Ok(Self::Admin),
            _ => Err(Error::invalid(
                "role",
                format!("`{s}` is not a role (viewer, developer, admin)"),
            )),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
