//! Roles, permissions, scopes and the authorization decision.
//!
//! A [`Policy`] says which [`Role`] holds which [`Permission`]: the
//! library's own, closed set, plus any the host registers. A caller's
//! [`Scopes`] (an API token's or agent session's) can only narrow its role.
//! [`Policy::decide`] never errors and denies by default; it is a pair of
//! bit tests.
//!
//! ```
//! # fn main() -> Result<(), secrets_core::Error> {
//! use secrets_core::rbac::{Decision, Permission, Policy, Role, Scopes};
//!
//! let mut policy = Policy::new();
//! let promote = policy.register("deploy:promote", &[Role::Admin])?;
//!
//! assert_eq!(policy.decide(Role::Viewer, &Scopes::all(), Permission::WriteSecrets), Decision::Deny);
//! assert_eq!(policy.decide(Role::Developer, &Scopes::all(), Permission::WriteSecrets), Decision::Allow);
//! assert_eq!(policy.decide(Role::Developer, &Scopes::all(), promote), Decision::Deny);
//!
//! // A token scoped to reading cannot write, whoever owns it.
//! let read_only = Scopes::parse(&policy, &["apps:read", "secrets:list"])?;
//! assert_eq!(policy.decide(Role::Admin, &read_only, Permission::WriteSecrets), Decision::Deny);
//! # Ok(()) }
//! ```
//!
//! ## Who holds what
//!
//! The built-in permissions and the roles that hold them by default (a
//! test checks this table against [`Policy::new`]). Scopes narrow them; a
//! host registers more with [`Policy::register`].
//!
//! | permission | allows | Viewer | Developer | Admin |
//! |---|---|:-:|:-:|:-:|
//! | `apps:read` | see apps and their configuration | yes | yes | yes |
//! | `secrets:list` | list secret names and metadata, never values | yes | yes | yes |
//! | `secrets:write` | set, delete and roll back secrets; archive and restore apps | – | yes | yes |
//! | `secrets:inject` | receive secret values to inject into a runtime | – | yes | yes |
//! | `agents:start` | start an agent session acting on one's behalf | – | yes | yes |
//! | `webhooks:manage` | register, list and delete webhook endpoints | – | yes | yes |
//! | `integrations:connect` | connect and disconnect one's OAuth integrations | – | yes | yes |
//! | `tokens:own` | mint, list and revoke one's own API tokens, within one's own rights | – | yes | yes |
//! | `tokens:manage` | mint, list and revoke everyone's API tokens | – | – | yes |
//! | `users:manage` | create users, change roles, disable, enable and delete them | – | – | yes |
//! | `settings:manage` | settings secrets, inbound webhook sources, the agent switch | – | – | yes |
//! | `audit:read` | query and verify the audit log, take checkpoints | – | – | yes |
//! | `gate:override` | let a held deploy proceed | – | – | yes |
//! | `webhooks:sign` | sign an arbitrary payload as the platform | – | – | yes |
//! | `webhooks:rotate` | rotate an endpoint's secret or signing key (which reveals the new one) | – | – | yes |

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
    /// Builds and deploys: writes and injects secrets, starts agent
    /// sessions, manages their own API tokens.
    Developer,
    /// Also manages users, everyone's API tokens and settings, and reads the
    /// audit log.
    Admin,
}

impl Role {
    /// Every role, least privileged first.
    pub const ALL: [Self; 3] = [Self::Viewer, Self::Developer, Self::Admin];

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
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "role",
                    format!("`{s}` is not a role (viewer, developer, admin)"),
                )
            })
    }

    fn index(self) -> usize {
        match self {
            Self::Viewer => 0,
            Self::Developer => 1,
            Self::Admin => 2,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something a caller may be allowed to do.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum Permission {
    /// `apps:read`: see apps and their configuration.
    ReadApps,
    /// `secrets:list`: list secret names and metadata (never values).
    ListSecretNames,
    /// `secrets:write`: set, delete and roll back secrets; archive apps.
    WriteSecrets,
    /// `secrets:inject`: receive secret values for injection into a runtime.
    InjectSecrets,
    /// `agents:start`: start an agent session acting on one's behalf.
    StartAgentSession,
    /// `webhooks:manage`: register, list and delete outbound webhook
    /// endpoints (rotating a secret and signing have their own permissions).
    ManageWebhooks,
    /// `integrations:connect`: connect and disconnect OAuth integrations.
    ConnectIntegrations,
    /// `tokens:manage`: mint, list and revoke API tokens.
    ManageApiTokens,
    /// `users:manage`: create, change, disable and delete users.
    ManageUsers,
    /// `settings:manage`: platform settings, provider keys, agent switch.
    ManageSettings,
    /// `audit:read`: query and verify the audit log.
    ReadAuditLog,
    /// `gate:override`: let a held deploy proceed.
    OverrideDeployGate,
    /// `tokens:own`: mint, list and revoke one's own API tokens, never with
    /// scopes or a lifetime beyond the calling credential's (Developer and
    /// Admin). `tokens:manage` covers everyone's, one's own included.
    ManageOwnApiTokens,
    /// `webhooks:sign`: sign an arbitrary payload as the platform, for any
    /// endpoint (`Vault::sign_webhook`). Admin only by default: a signed
    /// payload is a message every receiver trusts as coming from the host.
    SignWebhooks,
    /// `webhooks:rotate`: replace an endpoint's signing secret or key
    /// (`Vault::rotate_webhook_secret` reveals the new secret). Admin only by
    /// default.
    RotateWebhookSecrets,
    /// A permission the host registered with [`Policy::register`].
    Custom(CustomPermission),
}

/// A host-registered permission: an index into its [`Policy`], and a
/// fingerprint of its name, so that a permission taken from another policy
/// that put a different name at the same index is never read as that one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct CustomPermission {
    index: u8,
    name: u64,
}

impl CustomPermission {
    fn new(index: u8, name: &str) -> Self {
        Self {
            index,
            name: fingerprint(name),
        }
    }
}

/// FNV-1a (64 bits) of a permission name: not secret, only to tell names
/// apart.
fn fingerprint(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

const BUILTIN: [(Permission, &str); 15] = [
    (Permission::ReadApps, "apps:read"),
    (Permission::ListSecretNames, "secrets:list"),
    (Permission::WriteSecrets, "secrets:write"),
    (Permission::InjectSecrets, "secrets:inject"),
    (Permission::StartAgentSession, "agents:start"),
    (Permission::ManageWebhooks, "webhooks:manage"),
    (Permission::ConnectIntegrations, "integrations:connect"),
    (Permission::ManageApiTokens, "tokens:manage"),
    (Permission::ManageUsers, "users:manage"),
    (Permission::ManageSettings, "settings:manage"),
    (Permission::ReadAuditLog, "audit:read"),
    (Permission::OverrideDeployGate, "gate:override"),
    (Permission::ManageOwnApiTokens, "tokens:own"),
    (Permission::SignWebhooks, "webhooks:sign"),
    (Permission::RotateWebhookSecrets, "webhooks:rotate"),
];

/// The most permissions a policy holds (built-in and custom together).
pub const MAX_PERMISSIONS: usize = 128;

impl Permission {
    fn bit(self) -> u128 {
        let index = match self {
            Self::ReadApps => 0,
            Self::ListSecretNames => 1,
            Self::WriteSecrets => 2,
            Self::InjectSecrets => 3,
            Self::StartAgentSession => 4,
            Self::ManageWebhooks => 5,
            Self::ConnectIntegrations => 6,
            Self::ManageApiTokens => 7,
            Self::ManageUsers => 8,
            Self::ManageSettings => 9,
            Self::ReadAuditLog => 10,
            Self::OverrideDeployGate => 11,
            Self::ManageOwnApiTokens => 12,
            Self::SignWebhooks => 13,
            Self::RotateWebhookSecrets => 14,
            Self::Custom(c) => u32::from(c.index),
        };
        1u128.checked_shl(index).unwrap_or(0)
    }
}

/// The seeds' rules: a Viewer reads; a Developer also writes and injects
/// secrets, starts agent sessions, manages webhooks, connects integrations
/// and manages their own API tokens; only an Admin manages users, everyone's
/// API tokens and settings, reads the audit log, overrides a deploy gate,
/// signs webhooks as the platform and rotates endpoint secrets.
fn builtin_roles() -> [u128; 3] {
    use Permission::*;
    let mask = |ps: &[Permission]| ps.iter().fold(0u128, |m, p| m | p.bit());
    let viewer = mask(&[ReadApps, ListSecretNames]);
    let developer = viewer
        | mask(&[
            WriteSecrets,
            InjectSecrets,
            StartAgentSession,
            ManageWebhooks,
            ConnectIntegrations,
            ManageOwnApiTokens,
        ]);
    let admin = developer
        | mask(&[
            ManageApiTokens,
            ManageUsers,
            ManageSettings,
            ReadAuditLog,
            OverrideDeployGate,
            SignWebhooks,
            RotateWebhookSecrets,
        ]);
    [viewer, developer, admin]
}

/// An authorization decision. The default is [`Decision::Deny`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Decision {
    /// Go ahead.
    Allow,
    /// Refused.
    #[default]
    Deny,
}

impl Decision {
    /// Whether this is [`Decision::Allow`].
    #[must_use]
    pub fn is_allowed(self) -> bool {
        self == Self::Allow
    }
}

/// What a credential may do, within its owner's role: every permission, or
/// only some. Scopes can only narrow: a scope the role lacks grants nothing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Scopes(u128);

impl Scopes {
    /// No narrowing: everything the role holds.
    #[must_use]
    pub const fn all() -> Self {
        Self(u128::MAX)
    }

    /// Nothing at all.
    #[must_use]
    pub const fn none() -> Self {
        Self(0)
    }

    /// Only these permissions.
    #[must_use]
    pub fn only(permissions: &[Permission]) -> Self {
        Self(permissions.iter().fold(0, |m, p| m | p.bit()))
    }

    /// Parses scope names (`"*"` for all, or permission names).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming an unknown scope.
    pub fn parse<S: AsRef<str>>(policy: &Policy, names: &[S]) -> Result<Self> {
        let mut mask = 0u128;
        for name in names {
            let name = name.as_ref();
            if name == "*" {
                return Ok(Self::all());
            }
            let p = policy.permission(name).ok_or_else(|| {
                Error::invalid(
                    "scope",
                    format!("`{}` is not a known permission", name.escape_debug()),
                )
            })?;
            mask |= p.bit();
        }
        Ok(Self(mask))
    }

    /// The scope names, as [`Scopes::parse`] reads them.
    #[must_use]
    pub fn names(&self, policy: &Policy) -> Vec<String> {
        if *self == Self::all() {
            return vec!["*".to_owned()];
        }
        policy
            .permissions()
            .filter(|p| self.0 & p.bit() != 0)
            .map(|p| policy.name(p).to_owned())
            .collect()
    }

    /// These scopes narrowed further by `other` (the intersection).
    #[must_use]
    pub fn intersect(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// Whether these scopes include `p`.
    #[must_use]
    pub fn contains(&self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }

    /// Whether every permission of these scopes is also in `other`: how a
    /// new credential's scopes are checked against its creator's.
    ///
    /// ```
    /// use secrets_core::rbac::{Permission, Scopes};
    ///
    /// let read = Scopes::only(&[Permission::ReadApps]);
    /// let both = Scopes::only(&[Permission::ReadApps, Permission::WriteSecrets]);
    /// assert!(read.is_within(both));
    /// assert!(!both.is_within(read));
    /// assert!(!Scopes::all().is_within(both));
    /// ```
    #[must_use]
    pub fn is_within(self, other: Self) -> bool {
        self.0 & !other.0 == 0
    }

    /// Whether these scopes grant nothing.
    #[must_use]
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// Which roles hold which permissions.
#[derive(Clone, Debug)]
pub struct Policy {
    roles: [u128; 3],
    custom: Vec<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Self::new()
    }
}

impl Policy {
    /// The built-in rules, no custom permissions.
    #[must_use]
    pub fn new() -> Self {
        Self {
            roles: builtin_roles(),
            custom: Vec::new(),
        }
    }

    /// Registers a host permission held by `roles`, and returns it.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyExists`] for a taken name; [`Error::InvalidInput`] for
    /// a name that is empty, over 64 bytes, not `[a-z0-9:._-]`, or `*`; or
    /// once [`MAX_PERMISSIONS`] are registered.
    pub fn register(&mut self, name: &str, roles: &[Role]) -> Result<Permission> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ":._-".contains(c));
        if !valid {
            return Err(Error::invalid(
                "permission",
                format!(
                    "`{}` must be 1 to 64 of `a-z`, `0-9`, `:`, `.`, `_`, `-`",
                    name.escape_debug()
                ),
            ));
        }
        if self.permission(name).is_some() {
            return Err(Error::AlreadyExists {
                what: "permission".into(),
                id: name.to_owned(),
            });
        }
        let index = BUILTIN.len() + self.custom.len();
        let index = u8::try_from(index)
            .ok()
            .filter(|i| usize::from(*i) < MAX_PERMISSIONS)
            .ok_or_else(|| {
                Error::invalid(
                    "permission",
                    format!("at most {MAX_PERMISSIONS} permissions"),
                )
            })?;
        let p = Permission::Custom(CustomPermission::new(index, name));
        self.custom.push(name.to_owned());
        for role in roles {
            if let Some(mask) = self.roles.get_mut(role.index()) {
                *mask |= p.bit();
            }
        }
        Ok(p)
    }

    /// The permission called `name`, built-in or custom.
    #[must_use]
    pub fn permission(&self, name: &str) -> Option<Permission> {
        self.permissions().find(|p| self.name(*p) == name)
    }

    /// Whether `p` is one of this policy's permissions: a built-in one, or
    /// a custom one registered here under the same name at the same index
    /// (a permission of another policy that registered in another order is
    /// not).
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::rbac::{Permission, Policy, Role};
    ///
    /// let (mut ours, mut theirs) = (Policy::new(), Policy::new());
    /// let promote = ours.register("deploy:promote", &[Role::Admin])?;
    /// let refund = theirs.register("billing:refund", &[Role::Admin])?;
    /// assert!(ours.knows(promote) && ours.knows(Permission::ReadApps));
    /// assert!(!ours.knows(refund)); // same position, another name
    /// assert_eq!(ours.name(refund), "unknown");
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn knows(&self, p: Permission) -> bool {
        match p {
            Permission::Custom(c) => self.custom_name(c).is_some(),
            _ => true,
        }
    }

    /// The name this policy registered at `c`'s index, if it is `c`'s own.
    fn custom_name(&self, c: CustomPermission) -> Option<&str> {
        usize::from(c.index)
            .checked_sub(BUILTIN.len())
            .and_then(|j| self.custom.get(j))
            .filter(|name| fingerprint(name) == c.name)
            .map(String::as_str)
    }

    /// A permission's name.
    #[must_use]
    pub fn name(&self, p: Permission) -> &str {
        match p {
            Permission::Custom(c) => self.custom_name(c).unwrap_or("unknown"),
            builtin => BUILTIN
                .iter()
                .find(|(b, _)| *b == builtin)
                .map_or("unknown", |(_, n)| n),
        }
    }

    /// Every permission, built-in first, then custom in registration order.
    pub fn permissions(&self) -> impl Iterator<Item = Permission> + '_ {
        let custom = self.custom.iter().enumerate().filter_map(|(j, name)| {
            u8::try_from(BUILTIN.len() + j)
                .ok()
                .map(|i| Permission::Custom(CustomPermission::new(i, name)))
        });
        BUILTIN.iter().map(|(p, _)| *p).chain(custom)
    }

    /// Every permission `role` holds, as scopes.
    ///
    /// ```
    /// use secrets_core::rbac::{Permission, Policy, Role};
    ///
    /// let policy = Policy::new();
    /// let dev = policy.role_scopes(Role::Developer);
    /// assert!(dev.contains(Permission::WriteSecrets));
    /// assert!(!dev.contains(Permission::ManageUsers));
    /// assert!(policy.role_scopes(Role::Viewer).is_within(dev));
    /// ```
    #[must_use]
    pub fn role_scopes(&self, role: Role) -> Scopes {
        Scopes(self.roles.get(role.index()).copied().unwrap_or(0))
    }

    /// What `role` narrowed by `scopes` may do: the permissions a credential
    /// grants in effect.
    #[must_use]
    pub fn effective(&self, role: Role, scopes: Scopes) -> Scopes {
        self.role_scopes(role).intersect(scopes)
    }

    /// Whether `role`, narrowed by `scopes`, may do `p`. Never errors;
    /// anything unknown is denied.
    #[must_use]
    pub fn decide(&self, role: Role, scopes: &Scopes, p: Permission) -> Decision {
        if !self.knows(p) {
            return Decision::Deny;
        }
        let bit = p.bit();
        let role_mask = self.roles.get(role.index()).copied().unwrap_or(0);
        if bit != 0 && role_mask & scopes.0 & bit == bit {
            Decision::Allow
        } else {
            Decision::Deny
        }
    }
}

#[cfg(test)]
mod tests;
