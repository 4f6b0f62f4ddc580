//! What a store's health checks found: the facts an operator's `doctor`
//! prints, each a pass or a finding.

/// One check of a store and the connection to it, as
/// [`SqliteStore::diagnose`](crate::store::SqliteStore::diagnose) (and, with
/// the `postgres` feature, `PostgresStore::diagnose`) report it: what was
/// checked, whether it passed, and what was seen. Never holds a secret.
///
/// ```
/// use secrets_core::store::HealthCheck;
///
/// let check = HealthCheck::new("schema_version", true, "version 3 (this build writes 3)");
/// assert!(check.ok);
/// assert_eq!(serde_json::to_value(&check).unwrap()["name"], "schema_version");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct HealthCheck {
    /// What was checked, a stable snake_case name (`integrity`,
    /// `foreign_keys`, `schema_version`, `tls`, `superuser`, `bypassrls`,
    /// `owner`, `force_rls`).
    pub name: &'static str,
    /// Whether it passed; `false` is a finding.
    pub ok: bool,
    /// What was seen, for the operator (a failing check says how to fix it).
    pub detail: String,
}

impl HealthCheck {
    /// A check result.
    ///
    /// ```
    /// use secrets_core::store::HealthCheck;
    ///
    /// let finding = HealthCheck::new("force_rls", false, "table `s.records` does not FORCE ROW LEVEL SECURITY");
    /// assert!(!finding.ok);
    /// ```
    #[must_use]
    pub fn new(name: &'static str, ok: bool, detail: impl Into<String>) -> Self {
        Self {
            name,
            ok,
            detail: detail.into(),
        }
    }
}
