//! `Vault` (sync, the GIL released while each call runs) and `AsyncVault`
//! (awaitables) over one core `Vault`, and the `Caller` and `RefreshLease`
//! values they hand out.
//!
//! Every operation is written once, in [`vault_ops!`]: the arguments are
//! converted with the GIL held, then a future calls the core; the sync class
//! blocks on it (`runtime::block`), the async class returns it as an
//! awaitable (`runtime::awaitable`). So the two can only differ in how they
//! wait.

use std::collections::BTreeMap;
use std::sync::Arc;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use secrets_core::audit::Checkpoint;
use secrets_core::crypto::KeyRing as CoreKeyRing;
use secrets_core::gate::{Finding, LintResult, Profile as GateProfile};
use secrets_core::oauth::TokenSet;
use secrets_core::rbac::Role;
use secrets_core::store::{AuditQuery, MemoryStore, SqliteStore, Store};
use secrets_core::vault::{
    Caller as CoreCaller, RefreshFailure, RefreshLease as CoreRefreshLease, RefreshStart,
    SourceStyle, Vault as CoreVault, VaultConfig,
};
use secrets_core::{Error, SecretString, SystemClock, TenantId, Timestamp};

use crate::convert::{
    BytesArg, SecretArg, by_name, json, none, seconds, secret, tenant, to_py, user, value,
};
use crate::errors::{CoreError, fork_error, py_err};
use crate::primitives::{KeyRing, depythonize, header_refs, headers_arg};
use crate::runtime::{Op, Out, awaitable, block};

/// Who is calling, in which tenant, from where: returned by the Vault's
/// `authenticate_*` methods, or `Caller.system(tenant)` for the host's own
/// jobs. It cannot be built from a request's data, nor pickled.
#[pyclass(frozen, eq, module = "secrets_core._native")]
#[derive(PartialEq)]
pub(crate) struct Caller(pub(crate) CoreCaller);

#[pymethods]
impl Caller {
    /// The host's own code (a scheduled job, a migration): every
    /// permission, audited as `system`.
    #[staticmethod]
    #[pyo3(signature = (tenant = None, *, source = None))]
    fn system(tenant: Option<&str>, source: Option<String>) -> PyResult<Self> {
        let t = match tenant {
            Some(t) => crate::convert::tenant(t)?,
            None => TenantId::DEFAULT,
        };
        let c = CoreCaller::system(t);
        Ok(Self(match source {
            Some(s) => c.with_source(s),
            None => c,
        }))
    }

    /// The tenant every operation of this caller runs in.
    #[getter]
    fn tenant(&self) -> String {
        self.0.tenant().to_string()
    }

    /// Who, as the audit log records it (`user:<id>`, `system`, ...).
    #[getter]
    fn actor(&self) -> String {
        self.0.actor().to_string()
    }

    /// The role when the credential was authenticated.
    #[getter]
    fn role(&self) -> &'static str {
        self.0.role().as_str()
    }

    /// The human accountable, if any.
    #[getter]
    fn user(&self) -> Option<String> {
        self.0.user().map(|u| u.to_string())
    }

    /// The source address, if known.
    #[getter]
    fn source(&self) -> Option<&str> {
        self.0.source()
    }

    /// When the credential stops working (RFC 3339), if it does.
    #[getter]
    fn expires_at(&self) -> Option<String> {
        self.0.expires_at().map(Timestamp::to_rfc3339)
    }

    /// The caller as a dict for request logs (no scopes, no secret).
    fn to_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_py(py, &self.0)
    }

    fn __repr__(&self) -> String {
        format!(
            "Caller(actor={:?}, role={:?}, tenant={:?})",
            self.actor(),
            self.role(),
            self.tenant()
        )
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(PyTypeError::new_err(
            "a Caller cannot be pickled: it comes only from authentication",
        ))
    }
}

/// A held OAuth refresh lease (from `begin_refresh`): trade its refresh
/// token with the provider, then `complete_refresh` or `abandon_refresh`.
#[pyclass(frozen, module = "secrets_core._native")]
pub(crate) struct RefreshLease(Arc<CoreRefreshLease>);

#[pymethods]
impl RefreshLease {
    /// The refresh token to present to the provider.
    fn expose_refresh_token(&self) -> String {
        self.0.refresh_token().expose_secret().to_owned()
    }

    /// The provider.
    #[getter]
    fn provider(&self) -> &str {
        self.0.provider()
    }

    /// The user whose connection this is.
    #[getter]
    fn user(&self) -> String {
        self.0.user().to_string()
    }

    /// When the lease lapses (RFC 3339): finish before then.
    #[getter]
    fn expires_at(&self) -> String {
        self.0.expires_at().to_rfc3339()
    }

    fn __repr__(&self) -> String {
        format!("RefreshLease(provider={:?}, [REDACTED])", self.0.provider())
    }
}

/// Opens the store a Vault runs on: `":memory:"`, a PostgreSQL URL (when
/// built with it), else a SQLite file path.
async fn open_store(store: String, schema: Option<String>) -> Result<Arc<dyn Store>, Error> {
    if store == ":memory:" {
        return Ok(Arc::new(MemoryStore::new()));
    }
    if is_postgres_url(&store) {
        return open_postgres(&store, schema).await;
    }
    if schema.is_some() {
        return Err(Error::invalid(
            "postgres_schema",
            "is only for a PostgreSQL store",
        ));
    }
    Ok(Arc::new(SqliteStore::open(store).await?))
}

/// Whether `store` names a PostgreSQL server rather than a SQLite file.
fn is_postgres_url(store: &str) -> bool {
    store.starts_with("postgres://") || store.starts_with("postgresql://")
}

#[cfg(feature = "postgres")]
async fn open_postgres(url: &str, schema: Option<String>) -> Result<Arc<dyn Store>, Error> {
    use secrets_core::store::PostgresStore;
    Ok(Arc::new(
        PostgresStore::open(url, pg_options(schema)).await?,
    ))
}

/// The PostgreSQL options: the defaults, in `schema` if given.
#[cfg(feature = "postgres")]
fn pg_options(schema: Option<String>) -> secrets_core::store::PostgresOptions {
    let options = secrets_core::store::PostgresOptions::default();
    match schema {
        Some(s) => options.schema(s),
        None => options,
    }
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(_url: &str, _schema: Option<String>) -> Result<Arc<dyn Store>, Error> {
    Err(no_postgres())
}

/// The refusal of a PostgreSQL URL by a build without PostgreSQL.
#[cfg(not(feature = "postgres"))]
fn no_postgres() -> Error {
    Error::invalid(
        "store",
        "is a PostgreSQL URL, and this build has no PostgreSQL support (build the wheel with `--features postgres`)",
    )
}

/// Creates or upgrades the PostgreSQL schema, connecting as the owner role
/// (`url`), in `schema` if given (else the default one); the Vault then
/// connects as the app role. Blocks while it runs.
#[pyfunction]
#[pyo3(signature = (url, schema = None))]
pub(crate) fn postgres_migrate(
    py: Python<'_>,
    url: String,
    schema: Option<String>,
) -> PyResult<()> {
    if !is_postgres_url(&url) {
        return Err(py_err(Error::invalid(
            "url",
            "must start with `postgres://` or `postgresql://`",
        )));
    }
    block(
        py,
        Box::pin(async move {
            migrate(&url, schema)
                .await
                .map(|()| none())
                .map_err(CoreError::from)
        }),
    )
    .map(|_| ())
}

#[cfg(feature = "postgres")]
async fn migrate(url: &str, schema: Option<String>) -> Result<(), Error> {
    secrets_core::store::PostgresStore::migrate(url, &pg_options(schema)).await
}

#[cfg(not(feature = "postgres"))]
async fn migrate(_url: &str, _schema: Option<String>) -> Result<(), Error> {
    Err(no_postgres())
}

/// The settings a Python host may change, applied to the core's defaults.
#[derive(Default)]
struct Settings {
    password_cost: Option<u32>,
    api_token_prefix: Option<String>,
    agent_token_prefix: Option<String>,
    refresh_token_prefix: Option<String>,
    access_token_ttl: Option<f64>,
    issuer: Option<String>,
    audience: Option<String>,
    jwt_algorithm: Option<String>,
    permissions: Option<BTreeMap<String, Vec<String>>>,
    postgres_schema: Option<String>,
    /// Where the tenants' data keys live, apart from the store.
    key_store: Option<String>,
}

impl Settings {
    fn config(self) -> PyResult<VaultConfig> {
        let mut c = VaultConfig::default();
        if let Some(cost) = self.password_cost {
            c.password_cost = cost;
        }
        if let Some(p) = self.api_token_prefix {
            c.api_token_prefix = p;
        }
        if let Some(p) = self.agent_token_prefix {
            c.agent_token_prefix = p;
        }
        if let Some(p) = self.refresh_token_prefix {
            c.refresh_token_prefix = p;
        }
        if let Some(t) = self.access_token_ttl {
            c.jwt.ttl = seconds("access_token_ttl", t)?;
        }
        if let Some(i) = self.issuer {
            c.jwt.issuer = i;
        }
        if let Some(a) = self.audience {
            c.jwt.audience = a;
        }
        if let Some(alg) = self.jwt_algorithm {
            c.jwt.algorithm = crate::primitives::jwt_algorithm(&alg)?;
        }
        for (name, roles) in self.permissions.unwrap_or_default() {
            let roles = roles
                .iter()
                .map(|r| Role::parse(r))
                .collect::<Result<Vec<_>, _>>()
                .map_err(py_err)?;
            c.policy.register(&name, &roles).map_err(py_err)?;
        }
        Ok(c)
    }
}

/// The core Vault and the process that made it.
struct Handle {
    core: CoreVault,
    pid: u32,
}

impl Handle {
    /// Opens the store and builds the core Vault, on the process runtime.
    fn open(
        py: Python<'_>,
        store: String,
        key_ring: &KeyRing,
        settings: Settings,
    ) -> PyResult<Self> {
        let schema = settings.postgres_schema.clone();
        let key_store = settings.key_store.clone();
        let config = settings.config()?;
        let ring: Arc<CoreKeyRing> = Arc::clone(&key_ring.0);
        let op: Op = Box::pin(async move {
            let store = open_store(store, schema).await?;
            let clock = Arc::new(SystemClock);
            let core = match key_store {
                // A PostgreSQL key store is another database, in the
                // default schema.
                Some(keys) => {
                    let keys = open_store(keys, None).await?;
                    CoreVault::with_key_store(store, keys, ring, clock, config).await?
                }
                None => CoreVault::new(store, ring, clock, config).await?,
            };
            Ok(Box::new(move |py: Python<'_>| Py::new(py, Built(core)).map(Py::into_any)) as Out)
        });
        let built = block(py, op)?;
        let core = built.bind(py).cast::<Built>()?.get().0.clone();
        Ok(Self {
            core,
            pid: std::process::id(),
        })
    }

    /// The core Vault, or `ForkError` in a process other than its own.
    fn core(&self, py: Python<'_>, what: &str) -> PyResult<CoreVault> {
        if self.pid == std::process::id() {
            Ok(self.core.clone())
        } else {
            Err(fork_error(py, what, self.pid))
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if self.pid != std::process::id() {
            // In a forked child: the store's connections and pool belong to
            // the parent. Never run their destructors here (a clone kept
            // forever keeps the core from being dropped).
            std::mem::forget(self.core.clone());
        }
    }
}

/// A built core Vault on its way out of the runtime (private).
#[pyclass(frozen, module = "secrets_core._native")]
struct Built(CoreVault);

/// A future of a core result, boxed as an [`Op`].
fn op<F>(f: F) -> Op
where
    F: Future<Output = Result<Out, CoreError>> + Send + 'static,
{
    Box::pin(f)
}

/// A caller handed out by authentication.
fn caller_out(c: CoreCaller) -> Out {
    Box::new(move |py| Py::new(py, Caller(c)).map(Py::into_any))
}

/// An output that carries a secret, serialised with it (a token shown once).
macro_rules! exposed {
    ($v:expr) => {{
        let v = $v;
        Box::new(move |py: Python<'_>| to_py(py, &v.expose_secrets())) as Out
    }};
}

/// A role name, parsed by the core.
fn role(r: &str) -> PyResult<Role> {
    Role::parse(r).map_err(py_err)
}

/// A `SourceStyle` from its snake_case name, through the core's own serde
/// names.
fn source_style(s: &str) -> PyResult<SourceStyle> {
    by_name("style", s, "`standard`, `standard_v1a`, `github`")
}

/// A token set from its parts (OAuth).
fn token_set(
    access_token: &SecretArg,
    refresh_token: Option<&SecretArg>,
    expires_at: Option<i64>,
    scopes: Option<Vec<String>>,
) -> PyResult<TokenSet> {
    let mut t = TokenSet::new(access_token.string("access_token").map_err(py_err)?);
    if let Some(r) = refresh_token {
        t = t.with_refresh_token(r.string("refresh_token").map_err(py_err)?);
    }
    if let Some(e) = expires_at {
        t = t.with_expires_at(Timestamp::from_unix_seconds(e));
    }
    if let Some(s) = scopes {
        t = t.with_scopes(s);
    }
    Ok(t)
}

/// `whoami`'s answer as a dict.
#[derive(serde::Serialize)]
struct ProfileOut {
    tenant: String,
    kind: &'static str,
    actor: String,
    user: Option<String>,
    login: Option<String>,
    role: &'static str,
    permissions: Vec<String>,
    scopes: Vec<String>,
    expires_at: Option<String>,
}

/// `begin_refresh`'s answer as a dict.
fn refresh_start(start: RefreshStart) -> Out {
    Box::new(move |py| {
        let d = PyDict::new(py);
        match start {
            RefreshStart::Fresh(token) => {
                d.set_item("status", "fresh")?;
                d.set_item("access_token", token.expose_secret())?;
            }
            RefreshStart::Refresh(lease) => {
                d.set_item("status", "refresh")?;
                d.set_item("lease", Py::new(py, RefreshLease(Arc::new(lease)))?)?;
            }
            RefreshStart::Busy { retry_after } => {
                d.set_item("status", "busy")?;
                d.set_item("retry_after", retry_after.as_secs_f64())?;
            }
            _ => {
                d.set_item("status", "unknown")?;
            }
        }
        Ok(d.into_any().unbind())
    })
}

/// Defines every Vault operation once, for both classes. Each entry reads
/// `fn name(args) sig(python signature) |v| { conversions; op(async {..}) }`:
/// the block runs with the GIL held and returns the [`Op`]; `v` is the
/// core Vault (after the fork check).
macro_rules! vault_ops {
    (
        sync { $($sync_extra:tt)* }
        async { $($async_extra:tt)* }
        $(
            $(#[doc = $doc:literal])*
            fn $name:ident($($arg:ident : $ty:ty),* $(,)?) sig($($sig:tt)*) |$v:ident| $body:block
        )*
    ) => {
        #[pymethods]
        impl Vault {
            $($sync_extra)*
            $(
                $(#[doc = $doc])*
                #[pyo3(signature = ($($sig)*))]
                // The arguments are the Python signature's.
                #[allow(clippy::too_many_arguments)]
                fn $name(&self, py: Python<'_>, $($arg: $ty),*) -> PyResult<Py<PyAny>> {
                    let $v = self.0.core(py, "Vault")?;
                    let op: Op = $body;
                    block(py, op)
                }
            )*
        }

        #[pymethods]
        impl AsyncVault {
            $($async_extra)*
            $(
                $(#[doc = $doc])*
                #[pyo3(signature = ($($sig)*))]
                #[allow(clippy::too_many_arguments)]
                fn $name<'py>(&self, py: Python<'py>, $($arg: $ty),*) -> PyResult<Bound<'py, PyAny>> {
                    let $v = self.0.core(py, "AsyncVault")?;
                    let op: Op = $body;
                    awaitable(py, op)
                }
            )*
        }
    };
}

/// The facade, synchronous: every call releases the GIL while it runs.
/// Create it after fork (see `ForkError`).
#[pyclass(frozen, module = "secrets_core._native")]
pub(crate) struct Vault(Arc<Handle>);

/// The facade for asyncio: every operation returns an awaitable. Create it
/// after fork (see `ForkError`).
#[pyclass(frozen, module = "secrets_core._native")]
pub(crate) struct AsyncVault(Arc<Handle>);

vault_ops! {
    sync {
        /// Opens `store` (`":memory:"`, a SQLite path, or a PostgreSQL URL
        /// when built with it) under `key_ring`. Blocks while it opens.
        #[new]
        #[pyo3(signature = (store, key_ring, *, password_cost = None, api_token_prefix = None, agent_token_prefix = None, refresh_token_prefix = None, access_token_ttl = None, issuer = None, audience = None, jwt_algorithm = None, permissions = None, postgres_schema = None, key_store = None))]
        #[allow(clippy::too_many_arguments)]
        fn new(
            py: Python<'_>,
            store: String,
            key_ring: &KeyRing,
            password_cost: Option<u32>,
            api_token_prefix: Option<String>,
            agent_token_prefix: Option<String>,
            refresh_token_prefix: Option<String>,
            access_token_ttl: Option<f64>,
            issuer: Option<String>,
            audience: Option<String>,
            jwt_algorithm: Option<String>,
            permissions: Option<BTreeMap<String, Vec<String>>>,
            postgres_schema: Option<String>,
            key_store: Option<String>,
        ) -> PyResult<Self> {
            let settings = Settings {
                password_cost,
                api_token_prefix,
                agent_token_prefix,
                refresh_token_prefix,
                access_token_ttl,
                issuer,
                audience,
                jwt_algorithm,
                permissions,
                postgres_schema,
                key_store,
            };
            Handle::open(py, store, key_ring, settings).map(|h| Self(Arc::new(h)))
        }

        /// An `AsyncVault` over the same core (same store, same caches).
        fn as_async(&self) -> AsyncVault {
            AsyncVault(Arc::clone(&self.0))
        }

        /// The public keys that verify EdDSA access tokens (a JWKS document).
        fn jwks(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
            let v = self.0.core(py, "Vault")?;
            to_py(py, &v.jwks())
        }

        /// The configured token prefixes: `(api, agent, refresh)`.
        fn token_prefixes(&self, py: Python<'_>) -> PyResult<(String, String, String)> {
            let v = self.0.core(py, "Vault")?;
            let p = v.token_prefixes();
            Ok((p.api().to_owned(), p.agent().to_owned(), p.refresh().to_owned()))
        }

        fn __repr__(&self) -> &'static str {
            "Vault(...)"
        }
    }
    async {
        /// As `Vault(...)`: opens the store (blocking, once, at start-up).
        #[new]
        #[pyo3(signature = (store, key_ring, *, password_cost = None, api_token_prefix = None, agent_token_prefix = None, refresh_token_prefix = None, access_token_ttl = None, issuer = None, audience = None, jwt_algorithm = None, permissions = None, postgres_schema = None, key_store = None))]
        #[allow(clippy::too_many_arguments)]
        fn new(
            py: Python<'_>,
            store: String,
            key_ring: &KeyRing,
            password_cost: Option<u32>,
            api_token_prefix: Option<String>,
            agent_token_prefix: Option<String>,
            refresh_token_prefix: Option<String>,
            access_token_ttl: Option<f64>,
            issuer: Option<String>,
            audience: Option<String>,
            jwt_algorithm: Option<String>,
            permissions: Option<BTreeMap<String, Vec<String>>>,
            postgres_schema: Option<String>,
            key_store: Option<String>,
        ) -> PyResult<Self> {
            let settings = Settings {
                password_cost,
                api_token_prefix,
                agent_token_prefix,
                refresh_token_prefix,
                access_token_ttl,
                issuer,
                audience,
                jwt_algorithm,
                permissions,
                postgres_schema,
                key_store,
            };
            Handle::open(py, store, key_ring, settings).map(|h| Self(Arc::new(h)))
        }

        /// A sync `Vault` over the same core.
        fn as_sync(&self) -> Vault {
            Vault(Arc::clone(&self.0))
        }

        /// The public keys that verify EdDSA access tokens (a JWKS document).
        fn jwks(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
            let v = self.0.core(py, "AsyncVault")?;
            to_py(py, &v.jwks())
        }

        /// The configured token prefixes: `(api, agent, refresh)`.
        fn token_prefixes(&self, py: Python<'_>) -> PyResult<(String, String, String)> {
            let v = self.0.core(py, "AsyncVault")?;
            let p = v.token_prefixes();
            Ok((p.api().to_owned(), p.agent().to_owned(), p.refresh().to_owned()))
        }

        fn __repr__(&self) -> &'static str {
            "AsyncVault(...)"
        }
    }

    // Users and bootstrap.

    /// Creates `tenant` with its first Admin; returns the user id.
    fn bootstrap(tenant_id: &str, tenant_name: String, login: String, password: SecretArg, source: Option<String>)
    sig(tenant_id, tenant_name, login, password, source = None) |v| {
        let t = tenant(tenant_id)?;
        let pw = password.string("password").map_err(py_err)?;
        op(async move {
            let id = v.bootstrap(t, &tenant_name, &login, &pw, source.as_deref()).await?;
            Ok(value(id.to_string()))
        })
    }

    /// `bootstrap` once: the created user's id, or `None` if the tenant exists.
    fn ensure_bootstrapped(tenant_id: &str, tenant_name: String, login: String, password: SecretArg, source: Option<String>)
    sig(tenant_id, tenant_name, login, password, source = None) |v| {
        let t = tenant(tenant_id)?;
        let pw = password.string("password").map_err(py_err)?;
        op(async move {
            let b = v.ensure_bootstrapped(t, &tenant_name, &login, &pw, source.as_deref()).await?;
            Ok(value(b.created().map(|id| id.to_string())))
        })
    }

    /// Who the caller is: tenant, kind, actor, login, role, permissions.
    fn whoami(caller: &Caller) sig(caller) |v| {
        let c = caller.0.clone();
        op(async move {
            let p = v.whoami(&c).await?;
            Ok(json(ProfileOut {
                tenant: p.tenant.to_string(),
                kind: p.kind.as_str(),
                actor: p.actor.to_string(),
                user: p.user.map(|u| u.to_string()),
                login: p.login,
                role: p.role.as_str(),
                permissions: p.permissions,
                scopes: p.scopes,
                expires_at: p.expires_at.map(Timestamp::to_rfc3339),
            }))
        })
    }

    /// Creates a user with `role`; returns its id.
    fn create_user(caller: &Caller, login: String, role_name: &str, password: Option<SecretArg>)
    sig(caller, login, role_name, password = None) |v| {
        let c = caller.0.clone();
        let r = role(role_name)?;
        let pw = password.map(|p| p.string("password")).transpose().map_err(py_err)?;
        op(async move {
            let id = v.create_user(&c, &login, r, pw.as_ref()).await?;
            Ok(value(id.to_string()))
        })
    }

    /// The tenant's users, a page at a time (pass the last id as `after`).
    fn list_users(caller: &Caller, after: Option<&str>) sig(caller, after = None) |v| {
        let c = caller.0.clone();
        let after = after.map(user).transpose()?;
        op(async move { Ok(json(v.list_users(&c, after).await?)) })
    }

    /// Changes a user's role.
    fn change_role(caller: &Caller, user_id: &str, role_name: &str) sig(caller, user_id, role_name) |v| {
        let c = caller.0.clone();
        let (u, r) = (user(user_id)?, role(role_name)?);
        op(async move { v.change_role(&c, u, r).await?; Ok(none()) })
    }

    /// Disables a user (every credential stops working at once).
    fn disable_user(caller: &Caller, user_id: &str) sig(caller, user_id) |v| {
        let c = caller.0.clone();
        let u = user(user_id)?;
        op(async move { v.disable_user(&c, u).await?; Ok(none()) })
    }

    /// Enables a disabled user.
    fn enable_user(caller: &Caller, user_id: &str) sig(caller, user_id) |v| {
        let c = caller.0.clone();
        let u = user(user_id)?;
        op(async move { v.enable_user(&c, u).await?; Ok(none()) })
    }

    /// Deletes a user.
    fn delete_user(caller: &Caller, user_id: &str) sig(caller, user_id) |v| {
        let c = caller.0.clone();
        let u = user(user_id)?;
        op(async move { v.delete_user(&c, u).await?; Ok(none()) })
    }

    // Sessions and bearer authentication.

    /// Logs in; returns the session with its access and refresh tokens
    /// (shown once). Raises `InvalidCredentials` for any failure.
    fn login(tenant_id: &str, login: String, password: SecretArg, source: Option<String>)
    sig(tenant_id, login, password, source = None) |v| {
        let t = tenant(tenant_id)?;
        let pw = password.string("password").map_err(py_err)?;
        op(async move {
            let s = v.login(t, &login, &pw, source.as_deref()).await?;
            Ok(exposed!(s))
        })
    }

    /// Trades a refresh token for a new session (it rotates).
    fn refresh(refresh_token: String, source: Option<String>) sig(refresh_token, source = None) |v| {
        op(async move {
            let s = v.refresh(&refresh_token, source.as_deref()).await?;
            Ok(exposed!(s))
        })
    }

    /// Ends the login the refresh token belongs to.
    fn logout(refresh_token: String, source: Option<String>) sig(refresh_token, source = None) |v| {
        op(async move { v.logout(&refresh_token, source.as_deref()).await?; Ok(none()) })
    }

    /// The caller of an access token (JWT).
    fn authenticate_access_token(token: String, source: Option<String>) sig(token, source = None) |v| {
        op(async move { Ok(caller_out(v.authenticate_access_token(&token, source.as_deref()).await?)) })
    }

    /// The caller of an `Authorization` value (with or without `Bearer `):
    /// an access token, an API token or an agent token.
    fn authenticate_bearer(value: String, source: Option<String>) sig(value, source = None) |v| {
        op(async move { Ok(caller_out(v.authenticate_bearer(&value, source.as_deref()).await?)) })
    }

    /// Checks that the caller holds `permission` now (a host permission
    /// too); a refusal is audited and raises `Forbidden`.
    fn require(caller: &Caller, permission: &str, action: String, target: String)
    sig(caller, permission, action, target) |v| {
        let c = caller.0.clone();
        let p = v.policy().permission(permission).ok_or_else(|| {
            py_err(Error::invalid("permission", "is not a permission of this Vault's policy"))
        })?;
        op(async move { v.require(&c, p, &action, &target).await?; Ok(none()) })
    }

    // API tokens.

    /// Mints an API token for `owner`; the token is in the result, once.
    fn mint_api_token(caller: &Caller, owner: &str, name: String, scopes: Vec<String>, ttl: Option<f64>)
    sig(caller, owner, name, scopes, ttl = None) |v| {
        let c = caller.0.clone();
        let o = user(owner)?;
        let ttl = ttl.map(|t| seconds("ttl", t)).transpose()?;
        op(async move {
            let refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
            let m = v.mint_api_token(&c, o, &name, &refs, ttl).await?;
            Ok(exposed!(m))
        })
    }

    /// The tenant's API tokens (Admins), a page at a time.
    fn list_api_tokens(caller: &Caller, after: Option<String>) sig(caller, after = None) |v| {
        let c = caller.0.clone();
        op(async move { Ok(json(v.list_api_tokens(&c, after.as_deref()).await?)) })
    }

    /// The caller's own API tokens, a page at a time.
    fn list_own_api_tokens(caller: &Caller, after: Option<String>) sig(caller, after = None) |v| {
        let c = caller.0.clone();
        op(async move { Ok(json(v.list_own_api_tokens(&c, after.as_deref()).await?)) })
    }

    /// Revokes an API token by id.
    fn revoke_api_token(caller: &Caller, id: String) sig(caller, id) |v| {
        let c = caller.0.clone();
        op(async move { v.revoke_api_token(&c, &id).await?; Ok(none()) })
    }

    /// The caller of an API token.
    fn authenticate_api_token(token: String, source: Option<String>) sig(token, source = None) |v| {
        op(async move { Ok(caller_out(v.authenticate_api_token(&token, source.as_deref()).await?)) })
    }

    // Agent sessions.

    /// Starts an agent session acting for the caller; the token is in the
    /// result, once.
    fn start_agent_session(caller: &Caller, agent: String, scopes: Vec<String>, ttl: Option<f64>)
    sig(caller, agent, scopes, ttl = None) |v| {
        let c = caller.0.clone();
        let ttl = ttl.map(|t| seconds("ttl", t)).transpose()?;
        op(async move {
            let refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
            let s = v.start_agent_session(&c, &agent, &refs, ttl).await?;
            Ok(exposed!(s))
        })
    }

    /// The caller of an agent token.
    fn authenticate_agent(token: String, source: Option<String>) sig(token, source = None) |v| {
        op(async move { Ok(caller_out(v.authenticate_agent(&token, source.as_deref()).await?)) })
    }

    /// The tenant's agent sessions.
    fn list_agent_sessions(caller: &Caller) sig(caller) |v| {
        let c = caller.0.clone();
        op(async move { Ok(json(v.list_agent_sessions(&c).await?)) })
    }

    /// Revokes an agent session by id.
    fn revoke_agent_session(caller: &Caller, id: String) sig(caller, id) |v| {
        let c = caller.0.clone();
        op(async move { v.revoke_agent_session(&c, &id).await?; Ok(none()) })
    }

    /// Turns agent sessions on or off for the tenant.
    fn set_agent_sessions_enabled(caller: &Caller, enabled: bool) sig(caller, enabled) |v| {
        let c = caller.0.clone();
        op(async move { v.set_agent_sessions_enabled(&c, enabled).await?; Ok(none()) })
    }

    // App secrets.

    /// Writes one secret of `app`; returns its new version.
    fn set_secret(caller: &Caller, app: String, name: String, secret_value: SecretArg)
    sig(caller, app, name, secret_value) |v| {
        let c = caller.0.clone();
        op(async move { Ok(value(v.set_secret(&c, &app, &name, &secret_value.0).await?)) })
    }

    /// Writes several secrets of `app` atomically; returns each new version.
    fn set_secrets(caller: &Caller, app: String, secrets: BTreeMap<String, SecretArg>)
    sig(caller, app, secrets) |v| {
        let c = caller.0.clone();
        op(async move {
            let pairs = secrets.iter().map(|(n, s)| (n.as_str(), &s.0[..]));
            Ok(value(v.set_secrets(&c, &app, pairs).await?))
        })
    }

    /// Deletes a secret.
    fn delete_secret(caller: &Caller, app: String, name: String) sig(caller, app, name) |v| {
        let c = caller.0.clone();
        op(async move { v.delete_secret(&c, &app, &name).await?; Ok(none()) })
    }

    /// Restores a secret's previous value; returns the new version.
    fn rollback_secret(caller: &Caller, app: String, name: String) sig(caller, app, name) |v| {
        let c = caller.0.clone();
        op(async move { Ok(value(v.rollback_secret(&c, &app, &name).await?)) })
    }

    /// The names (and versions) of `app`'s secrets, never their values.
    fn list_secrets(caller: &Caller, app: String) sig(caller, app) |v| {
        let c = caller.0.clone();
        op(async move { Ok(json(v.list_secrets(&c, &app).await?)) })
    }

    /// Every secret of `app`, opened, for a runtime's environment:
    /// `{name: SecretValue}`.
    fn inject(caller: &Caller, app: String) sig(caller, app) |v| {
        let c = caller.0.clone();
        op(async move {
            let env = v.inject(&c, &app).await?;
            Ok(Box::new(move |py: Python<'_>| {
                let d = PyDict::new(py);
                for (name, val) in env {
                    d.set_item(name, Py::new(py, crate::convert::SecretValue(val))?)?;
                }
                Ok(d.into_any().unbind())
            }) as Out)
        })
    }

    /// Archives `app` (its secrets stop injecting); returns how many.
    fn archive_app(caller: &Caller, app: String) sig(caller, app) |v| {
        let c = caller.0.clone();
        op(async move { Ok(value(v.archive_app(&c, &app).await?)) })
    }

    /// Restores an archived `app`; returns how many secrets.
    fn restore_app(caller: &Caller, app: String) sig(caller, app) |v| {
        let c = caller.0.clone();
        op(async move { Ok(value(v.restore_app(&c, &app).await?)) })
    }

    // Settings secrets.

    /// Seals and stores a settings secret (a provider key).
    fn set_setting_secret(caller: &Caller, name: String, secret_value: SecretArg)
    sig(caller, name, secret_value) |v| {
        let c = caller.0.clone();
        op(async move { v.set_setting_secret(&c, &name, &secret_value.0).await?; Ok(none()) })
    }

    /// Turns the caller's tenant's deletion protection on or off.
    fn set_deletion_protection(caller: &Caller, enabled: bool) sig(caller, enabled) |v| {
        let c = caller.0.clone();
        op(async move { v.set_deletion_protection(&c, enabled).await?; Ok(none()) })
    }

    /// Erases the caller's tenant with its data keys (in the key store
    /// too): final; refused under deletion protection.
    fn erase_tenant(caller: &Caller) sig(caller) |v| {
        let c = caller.0.clone();
        op(async move { v.erase_tenant(&c).await?; Ok(none()) })
    }

    /// Removes a settings secret.
    fn clear_setting_secret(caller: &Caller, name: String) sig(caller, name) |v| {
        let c = caller.0.clone();
        op(async move { v.clear_setting_secret(&c, &name).await?; Ok(none()) })
    }

    /// Whether a settings secret is set.
    fn setting_secret_is_set(caller: &Caller, name: String) sig(caller, name) |v| {
        let c = caller.0.clone();
        op(async move { Ok(value(v.setting_secret_is_set(&c, &name).await?)) })
    }

    /// The names of the settings secrets.
    fn list_setting_secrets(caller: &Caller) sig(caller) |v| {
        let c = caller.0.clone();
        op(async move { Ok(value(v.list_setting_secrets(&c).await?)) })
    }

    /// A settings secret, opened, as a `SecretValue`.
    fn read_setting_secret(caller: &Caller, name: String) sig(caller, name) |v| {
        let c = caller.0.clone();
        op(async move { Ok(secret(v.read_setting_secret(&c, &name).await?)) })
    }

    // Webhooks out.

    /// Registers an endpoint; its `whsec_` secret is in the result, once.
    fn register_webhook_endpoint(caller: &Caller, url: String, description: String)
    sig(caller, url, description = String::new()) |v| {
        let c = caller.0.clone();
        op(async move {
            let e = v.register_webhook_endpoint(&c, &url, &description).await?;
            Ok(exposed!(e))
        })
    }

    /// Registers an endpoint signed with Ed25519 (`v1a`); returns its id
    /// and public key.
    fn register_asymmetric_webhook_endpoint(caller: &Caller, url: String, description: String)
    sig(caller, url, description = String::new()) |v| {
        let c = caller.0.clone();
        op(async move { Ok(json(v.register_asymmetric_webhook_endpoint(&c, &url, &description).await?)) })
    }

    /// A new secret for an endpoint (the old one signs too for `grace`
    /// seconds); returns it, once.
    fn rotate_webhook_secret(caller: &Caller, endpoint: String, grace: f64) sig(caller, endpoint, grace) |v| {
        let c = caller.0.clone();
        let g = seconds("grace", grace)?;
        op(async move {
            let s: SecretString = v.rotate_webhook_secret(&c, &endpoint, g).await?;
            Ok(value(s.expose_secret().to_owned()))
        })
    }

    /// A new Ed25519 key for an endpoint; returns its public key (`whpk_`).
    fn rotate_webhook_signing_key(caller: &Caller, endpoint: String, grace: f64) sig(caller, endpoint, grace) |v| {
        let c = caller.0.clone();
        let g = seconds("grace", grace)?;
        op(async move { Ok(value(v.rotate_webhook_signing_key(&c, &endpoint, g).await?.to_text())) })
    }

    /// The Standard Webhooks headers for delivering `payload` to an
    /// endpoint: `{"webhook-id", "webhook-timestamp", "webhook-signature"}`.
    fn sign_webhook(caller: &Caller, endpoint: String, msg_id: String, payload: BytesArg)
    sig(caller, endpoint, msg_id, payload) |v| {
        let c = caller.0.clone();
        op(async move {
            let h = v.sign_webhook(&c, &endpoint, &msg_id, &payload.0).await?;
            let map: BTreeMap<&'static str, String> = h.pairs().into_iter().collect();
            Ok(value(map))
        })
    }

    /// The tenant's endpoints (no secrets).
    fn list_webhook_endpoints(caller: &Caller) sig(caller) |v| {
        let c = caller.0.clone();
        op(async move { Ok(json(v.list_webhook_endpoints(&c).await?)) })
    }

    /// Deletes an endpoint.
    fn delete_webhook_endpoint(caller: &Caller, endpoint: String) sig(caller, endpoint) |v| {
        let c = caller.0.clone();
        op(async move { v.delete_webhook_endpoint(&c, &endpoint).await?; Ok(none()) })
    }

    // Webhooks in.

    /// Registers an inbound source: `style` is `standard`, `standard_v1a`
    /// or `github`; `secret` its shared secret (or public key for v1a).
    fn register_webhook_source(caller: &Caller, source: String, style: &str, source_secret: SecretArg)
    sig(caller, source, style, source_secret) |v| {
        let c = caller.0.clone();
        let st = source_style(style)?;
        let s = source_secret.string("secret").map_err(py_err)?;
        op(async move { v.register_webhook_source(&c, &source, st, s.expose_secret()).await?; Ok(none()) })
    }

    /// A new secret for an inbound source (the old one still verifies for
    /// `grace` seconds).
    fn rotate_webhook_source(caller: &Caller, source: String, source_secret: SecretArg, grace: f64)
    sig(caller, source, source_secret, grace) |v| {
        let c = caller.0.clone();
        let s = source_secret.string("secret").map_err(py_err)?;
        let g = seconds("grace", grace)?;
        op(async move { v.rotate_webhook_source(&c, &source, s.expose_secret(), g).await?; Ok(none()) })
    }

    /// The tenant's inbound sources (no secrets).
    fn list_webhook_sources(caller: &Caller) sig(caller) |v| {
        let c = caller.0.clone();
        op(async move { Ok(json(v.list_webhook_sources(&c).await?)) })
    }

    /// Deletes an inbound source.
    fn delete_webhook_source(caller: &Caller, source: String) sig(caller, source) |v| {
        let c = caller.0.clone();
        op(async move { v.delete_webhook_source(&c, &source).await?; Ok(none()) })
    }

    /// Verifies an inbound delivery for `source` in `tenant` (signature,
    /// time, replay); returns `{id, timestamp, style}` or raises
    /// `WebhookRejected`.
    fn verify_inbound_webhook(tenant_id: &str, source: String, headers: &Bound<'_, PyAny>, payload: BytesArg, source_addr: Option<String>)
    sig(tenant_id, source, headers, payload, source_addr = None) |v| {
        let t = tenant(tenant_id)?;
        let headers = headers_arg(headers)?;
        op(async move {
            let r = v
                .verify_inbound_webhook(t, &source, &header_refs(&headers), &payload.0, source_addr.as_deref())
                .await?;
            Ok(json(r))
        })
    }

    // OAuth.

    /// Starts an OAuth flow: `{state, code_challenge, expires_at}`.
    fn begin_oauth(caller: &Caller, provider: String, redirect_uri: String) sig(caller, provider, redirect_uri) |v| {
        let c = caller.0.clone();
        op(async move { Ok(json(v.begin_oauth(&c, &provider, &redirect_uri).await?)) })
    }

    /// Consumes a state (once): `{provider, redirect_uri, code_verifier}`.
    fn complete_oauth(caller: &Caller, state: String) sig(caller, state) |v| {
        let c = caller.0.clone();
        op(async move {
            let done = v.complete_oauth(&c, &state).await?;
            let map: BTreeMap<&'static str, String> = [
                ("provider", done.provider),
                ("redirect_uri", done.redirect_uri),
                ("code_verifier", done.verifier.expose_secret().to_owned()),
            ]
            .into_iter()
            .collect();
            Ok(value(map))
        })
    }

    /// Seals and stores the caller's tokens for `provider`.
    fn store_oauth_tokens(caller: &Caller, provider: String, access_token: SecretArg, refresh_token: Option<SecretArg>, expires_at: Option<i64>, scopes: Option<Vec<String>>)
    sig(caller, provider, access_token, *, refresh_token = None, expires_at = None, scopes = None) |v| {
        let c = caller.0.clone();
        let t = token_set(&access_token, refresh_token.as_ref(), expires_at, scopes)?;
        op(async move { v.store_oauth_tokens(&c, &provider, &t).await?; Ok(none()) })
    }

    /// Removes the caller's connection to `provider`.
    fn disconnect_oauth(caller: &Caller, provider: String) sig(caller, provider) |v| {
        let c = caller.0.clone();
        op(async move { v.disconnect_oauth(&c, &provider).await?; Ok(none()) })
    }

    /// The caller's OAuth connections (no tokens).
    fn list_oauth_connections(caller: &Caller) sig(caller) |v| {
        let c = caller.0.clone();
        op(async move { Ok(json(v.list_oauth_connections(&c).await?)) })
    }

    /// Phase one of a fresh access token for `user`'s `provider`
    /// connection: `{"status": "fresh", "access_token"}`, or `{"status":
    /// "refresh", "lease"}` (refresh with the provider, then
    /// `complete_refresh` or `abandon_refresh`), or `{"status": "busy",
    /// "retry_after"}` (another process is refreshing).
    fn begin_refresh(caller: &Caller, user_id: &str, provider: String) sig(caller, user_id, provider) |v| {
        let c = caller.0.clone();
        let u = user(user_id)?;
        op(async move { Ok(refresh_start(v.begin_refresh(&c, u, &provider).await?)) })
    }

    /// Phase two: stores the provider's new tokens and releases the lease.
    fn complete_refresh(caller: &Caller, lease: &RefreshLease, access_token: SecretArg, refresh_token: Option<SecretArg>, expires_at: Option<i64>, scopes: Option<Vec<String>>)
    sig(caller, lease, access_token, *, refresh_token = None, expires_at = None, scopes = None) |v| {
        let c = caller.0.clone();
        let l = Arc::clone(&lease.0);
        let t = token_set(&access_token, refresh_token.as_ref(), expires_at, scopes)?;
        op(async move { v.complete_refresh(&c, &l, &t).await?; Ok(none()) })
    }

    /// Phase two, failed: records why and releases the lease;
    /// `invalid_grant=True` when the provider refused the refresh token
    /// for good (the user must reconnect).
    fn abandon_refresh(caller: &Caller, lease: &RefreshLease, invalid_grant: bool, reason: String)
    sig(caller, lease, *, invalid_grant = false, reason = String::from("refresh failed")) |v| {
        let c = caller.0.clone();
        let l = Arc::clone(&lease.0);
        let failure = if invalid_grant { RefreshFailure::InvalidGrant } else { RefreshFailure::Failed(reason) };
        op(async move { v.abandon_refresh(&c, &l, failure).await?; Ok(none()) })
    }

    // Deploy gate.

    /// The gate's verdict for a deploy (recorded and audited).
    fn evaluate_deploy(caller: &Caller, deploy: String, profile: &str, findings: &Bound<'_, PyAny>, lints: &Bound<'_, PyAny>)
    sig(caller, deploy, profile, findings, lints) |v| {
        let c = caller.0.clone();
        let p: GateProfile = by_name("profile", profile, "`standard`, `hardened`")?;
        let f: Vec<Finding> = depythonize("findings", findings)?;
        let l: Vec<LintResult> = depythonize("lints", lints)?;
        op(async move { Ok(json(v.evaluate_deploy(&c, &deploy, p, &f, &l).await?)) })
    }

    /// Overrides a held deploy, with a justification (audited).
    fn override_gate(caller: &Caller, deploy: String, justification: String) sig(caller, deploy, justification) |v| {
        let c = caller.0.clone();
        op(async move { v.override_gate(&c, &deploy, &justification).await?; Ok(none()) })
    }

    // Audit.

    /// Audit events matching `query` (a dict of `actor`, `action`,
    /// `target`, `from`, `until`, `after_seq`, `limit`), Admins only.
    fn audit_events(caller: &Caller, query: Option<&Bound<'_, PyAny>>) sig(caller, query = None) |v| {
        let c = caller.0.clone();
        let q: AuditQuery = match query {
            Some(q) => depythonize("query", q)?,
            None => AuditQuery::default(),
        };
        op(async move { Ok(json(v.audit_events(&c, &q).await?)) })
    }

    /// Verifies the tenant's whole audit chain: `{count, head}`, or raises
    /// `AuditChainBroken`.
    fn verify_audit_log(caller: &Caller) sig(caller) |v| {
        let c = caller.0.clone();
        op(async move { Ok(json(v.verify_audit_log(&c).await?)) })
    }

    /// A signed checkpoint of the chain's head, to keep elsewhere.
    fn audit_checkpoint(caller: &Caller) sig(caller) |v| {
        let c = caller.0.clone();
        op(async move { Ok(json(v.audit_checkpoint(&c).await?)) })
    }

    /// Verifies the chain against a kept checkpoint (nothing before it
    /// was changed or dropped).
    fn verify_checkpoint(caller: &Caller, checkpoint: &Bound<'_, PyAny>) sig(caller, checkpoint) |v| {
        let c = caller.0.clone();
        let cp: Checkpoint = depythonize("checkpoint", checkpoint)?;
        op(async move { Ok(json(v.verify_checkpoint(&c, &cp).await?)) })
    }

    // Maintenance.

    /// Deletes expired and revoked rows of the caller's tenant.
    fn prune(caller: &Caller) sig(caller) |v| {
        let c = caller.0.clone();
        op(async move { Ok(json(v.prune(&c).await?)) })
    }
}

/// Benchmark support (benches/python): `iterations` API-token
/// authentications of `token` made from Rust on `vault`'s own core, awaited
/// one after another inside one `block_on`, as a Rust host would; returns
/// the seconds taken. It puts the binding's per-call cost beside the same
/// call made from Rust, in the same process and the same run.
#[pyfunction]
pub(crate) fn _bench_rust_authenticate_api_token(
    py: Python<'_>,
    vault: &Vault,
    token: String,
    iterations: u32,
) -> PyResult<f64> {
    let v = vault.0.core(py, "Vault")?;
    let op: Op = Box::pin(async move {
        let start = std::time::Instant::now();
        for _ in 0..iterations {
            std::hint::black_box(v.authenticate_api_token(&token, None).await?);
        }
        let took = start.elapsed().as_secs_f64();
        Ok(value(took))
    });
    block(py, op)?.extract(py)
}
