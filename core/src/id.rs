//! Identifiers: tenants and users are UUIDs (version 7 when minted here, so
//! B-tree inserts stay local).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered id (UUID version 7).
            #[must_use]
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an existing UUID.
            #[must_use]
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// The UUID.
            #[must_use]
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            /// The 16 bytes of the UUID, as stored.
            #[must_use]
            pub const fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }

            /// From the 16 stored bytes.
            ///
            /// # Errors
            ///
            /// [`Error::InvalidInput`] unless `bytes` is exactly 16 bytes long.
            pub fn from_slice(bytes: &[u8]) -> Result<Self> {
                Uuid::from_slice(bytes)
                    .map(Self)
                    .map_err(|_| Error::invalid($what, format!("is {} bytes, not 16", bytes.len())))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(s: &str) -> Result<Self> {
                Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|_| Error::invalid($what, format!("`{s}` is not a UUID")))
            }
        }
    };
}

uuid_id!(
    /// A tenant: the unit of isolation. Every read and write names one.
    ///
    /// A single-owner host uses [`TenantId::DEFAULT`] and never thinks about
    /// tenants again; a multi-tenant SaaS mints one per customer.
    ///
    /// ```
    /// use secrets_core::TenantId;
    ///
    /// let t = TenantId::generate();
    /// assert_eq!(t.to_string().parse::<TenantId>().ok(), Some(t));
    /// assert_eq!(TenantId::DEFAULT.to_string(), "00000000-0000-0000-0000-000000000000");
    /// assert!("not-a-uuid".parse::<TenantId>().is_err());
    /// ```
    TenantId,
    "tenant id"
);

impl TenantId {
    /// The tenant of a single-owner deployment (the nil UUID).
    pub const DEFAULT: Self = Self(Uuid::nil());
}

uuid_id!(
    /// A user (a human) within a tenant.
    ///
    /// ```
    /// use secrets_core::UserId;
    ///
    /// let a = UserId::generate();
    /// let b = UserId::generate();
    /// assert!(a < b, "version 7 ids sort by creation time");
    /// ```
    UserId,
    "user id"
);
