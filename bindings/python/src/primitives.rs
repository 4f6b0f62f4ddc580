//! The core's primitives without a Vault: webhooks (Standard Webhooks and
//! GitHub), PKCE, token formats and leak scanning, passwords, the key ring,
//! security headers and CORS, the deploy gate, RBAC decisions and access
//! tokens. Each is a thin call into `secrets_core`; slow ones (bcrypt)
//! release the GIL.

use std::sync::Arc;

use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};
use secrets_core::crypto::{Context, KeyId, KeyRing as CoreKeyRing, MasterKey};
use secrets_core::gate::{self, Finding, LintResult};
use secrets_core::headers::{Cors as CoreCors, Preflight, SecurityHeaders};
use secrets_core::jwt::{JwtConfig, JwtSigner as CoreJwtSigner};
use secrets_core::oauth::PkceVerifier;
use secrets_core::password::PasswordPolicy;
use secrets_core::rbac::{Policy as CorePolicy, Role, Scopes};
use secrets_core::token::{self, TokenFormat as CoreTokenFormat};
use secrets_core::webhook::{self, WebhookSecret, WebhookSigningKey};
use secrets_core::{Clock, Error, SystemClock, Timestamp};

use crate::convert::{BytesArg, SecretArg, SecretValue, by_name, seconds, tenant, to_py, user};
use crate::errors::py_err;

/// Headers from a mapping (`dict`, an HTTP framework's headers object:
/// anything with `items()`) or a sequence of `(name, value)` pairs.
pub(crate) fn headers_arg(obj: &Bound<'_, PyAny>) -> PyResult<Vec<(String, String)>> {
    let refused =
        || PyTypeError::new_err("headers must be a mapping of str to str or (str, str) pairs");
    // A plain dict (the common case) is read directly, without calling
    // `items()`.
    if let Ok(dict) = obj.cast::<PyDict>() {
        let mut out = Vec::with_capacity(dict.len());
        for (name, value) in dict.iter() {
            out.push((
                name.extract().map_err(|_| refused())?,
                value.extract().map_err(|_| refused())?,
            ));
        }
        return Ok(out);
    }
    let pairs = if obj.hasattr("items")? {
        obj.call_method0("items")?
    } else {
        obj.clone()
    };
    let mut out = Vec::new();
    for item in pairs.try_iter()? {
        let (name, value): (String, String) = item?.extract().map_err(|_| refused())?;
        out.push((name, value));
    }
    Ok(out)
}

/// Runs `f` on the headers of `obj` (as [`headers_arg`] takes them) as
/// borrowed pairs. A plain dict's strings are read in place (their UTF-8,
/// which Python keeps), not copied into Rust strings.
pub(crate) fn with_headers<R>(
    obj: &Bound<'_, PyAny>,
    f: impl FnOnce(&[(&str, &str)]) -> PyResult<R>,
) -> PyResult<R> {
    let Ok(dict) = obj.cast::<PyDict>() else {
        let owned = headers_arg(obj)?;
        return f(&header_refs(&owned));
    };
    fn refused() -> PyErr {
        PyTypeError::new_err("headers must be a mapping of str to str or (str, str) pairs")
    }
    let mut held = Vec::with_capacity(dict.len());
    for (name, value) in dict.iter() {
        held.push((
            name.cast_into::<PyString>().map_err(|_| refused())?,
            value.cast_into::<PyString>().map_err(|_| refused())?,
        ));
    }
    let mut refs = Vec::with_capacity(held.len());
    for (name, value) in &held {
        refs.push((
            name.to_str().map_err(|_| refused())?,
            value.to_str().map_err(|_| refused())?,
        ));
    }
    f(&refs)
}

/// Borrowed header pairs, as the core takes them.
pub(crate) fn header_refs(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

/// Seconds since the epoch from an `int` or an aware `datetime`.
fn unix_seconds(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    if let Ok(s) = obj.extract::<i64>() {
        return Ok(s);
    }
    if obj.hasattr("timestamp")? {
        let f: f64 = obj.call_method0("timestamp")?.extract()?;
        if f.is_finite() {
            // Whole seconds, as the header carries them.
            #[allow(clippy::cast_possible_truncation)]
            return Ok(f.floor() as i64);
        }
    }
    Err(PyTypeError::new_err(
        "timestamp must be an int (Unix seconds) or a datetime",
    ))
}

/// `now` from an optional `int` of Unix seconds.
fn now_or(now: Option<i64>) -> Timestamp {
    now.map_or_else(|| SystemClock.now(), Timestamp::from_unix_seconds)
}

/// A Standard Webhooks endpoint secret (`whsec_...`): signs and verifies
/// like the `standardwebhooks` package's `Webhook(secret)`.
#[pyclass(frozen, module = "secrets_core._native")]
pub(crate) struct Webhook {
    secret: WebhookSecret,
    tolerance: webhook::Verifier,
}

#[pymethods]
impl Webhook {
    /// `secret` as `whsec_` + base64 (or bare base64, as the
    /// `standardwebhooks` package accepts); `tolerance` in seconds (5
    /// minutes by default).
    #[new]
    #[pyo3(signature = (secret, *, tolerance = 300.0))]
    fn new(secret: &str, tolerance: f64) -> PyResult<Self> {
        let secret = WebhookSecret::parse_lenient(secret).map_err(py_err)?;
        let tolerance = webhook::Verifier::new().with_tolerance(seconds("tolerance", tolerance)?);
        Ok(Self { secret, tolerance })
    }

    /// A fresh random secret, as `whsec_` + base64.
    #[staticmethod]
    fn generate_secret() -> PyResult<String> {
        let s = WebhookSecret::generate().map_err(py_err)?;
        Ok(s.to_text().expose_secret().to_owned())
    }

    /// The `webhook-signature` header value (`v1,<base64>`) for `data`.
    fn sign(&self, msg_id: &str, timestamp: &Bound<'_, PyAny>, data: BytesArg) -> PyResult<String> {
        let ts = unix_seconds(timestamp)?;
        webhook::sign(&[&self.secret], msg_id, ts, &data.0)
            .map(|h| h.signature)
            .map_err(py_err)
    }

    /// The three headers (`webhook-id`, `webhook-timestamp`,
    /// `webhook-signature`) for `data`.
    fn sign_headers(
        &self,
        msg_id: &str,
        timestamp: &Bound<'_, PyAny>,
        data: BytesArg,
    ) -> PyResult<Vec<(&'static str, String)>> {
        let ts = unix_seconds(timestamp)?;
        webhook::sign(&[&self.secret], msg_id, ts, &data.0)
            .map(|h| h.pairs().to_vec())
            .map_err(py_err)
    }

    /// Verifies `data` against its headers (a mapping or pairs); returns
    /// `{"id", "timestamp"}` or raises `WebhookRejected`. `now` (Unix
    /// seconds) defaults to the system clock.
    #[pyo3(signature = (data, headers, *, now = None))]
    fn verify<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        headers: &Bound<'py, PyAny>,
        now: Option<i64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let msg = self.check(data, headers, now)?;
        let out = PyDict::new(py);
        out.set_item(intern!(py, "id"), msg.id)?;
        out.set_item(intern!(py, "timestamp"), msg.timestamp)?;
        Ok(out)
    }

    /// Verifies as `verify` does, then returns the payload parsed as JSON,
    /// as the `standardwebhooks` and `svix` packages' `verify` do: the same
    /// value `json.loads(data)` gives, and `json.loads`' own exception for
    /// a payload that is not JSON.
    #[pyo3(signature = (data, headers, *, now = None))]
    fn verify_json<'py>(
        &self,
        data: &Bound<'py, PyAny>,
        headers: &Bound<'py, PyAny>,
        now: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.check(data, headers, now)?;
        crate::json::loads(data)
    }

    fn __repr__(&self) -> &'static str {
        "Webhook([REDACTED])"
    }
}

impl Webhook {
    /// The core's verification of `data` (borrowed when it is `bytes`)
    /// against `headers`.
    fn check(
        &self,
        data: &Bound<'_, PyAny>,
        headers: &Bound<'_, PyAny>,
        now: Option<i64>,
    ) -> PyResult<webhook::VerifiedMessage> {
        let copied;
        let data: &[u8] = if let Ok(b) = data.cast::<PyBytes>() {
            b.as_bytes()
        } else {
            copied = data.extract::<BytesArg>()?;
            &copied.0
        };
        with_headers(headers, |headers| {
            self.tolerance
                .verify(headers, data, &[&self.secret], now_or(now))
                .map_err(py_err)
        })
    }
}

/// A fresh Standard Webhooks `v1a` (Ed25519) key pair: `(signing key
/// "whsk_...", public key "whpk_...")`.
#[pyfunction]
pub(crate) fn generate_webhook_signing_key() -> PyResult<(String, String)> {
    let key = WebhookSigningKey::generate().map_err(py_err)?;
    Ok((
        key.to_text().expose_secret().to_owned(),
        key.public_key().to_text(),
    ))
}

/// Verifies GitHub's `X-Hub-Signature-256` header for `payload`; raises
/// `WebhookRejected` when it does not match.
#[pyfunction]
pub(crate) fn verify_github(signature: &str, payload: BytesArg, secret: SecretArg) -> PyResult<()> {
    webhook::verify_github(signature, &payload.0, &secret.0).map_err(py_err)
}

/// GitHub's `X-Hub-Signature-256` value (`sha256=<hex>`) for `payload`.
#[pyfunction]
pub(crate) fn sign_github(payload: BytesArg, secret: SecretArg) -> String {
    webhook::sign_github(&payload.0, &secret.0)
}

/// A fresh PKCE code verifier (RFC 7636, 43 characters).
#[pyfunction]
pub(crate) fn pkce_verifier() -> PyResult<String> {
    let v = PkceVerifier::generate().map_err(py_err)?;
    Ok(v.expose_secret().to_owned())
}

/// The S256 code challenge of `verifier` (RFC 7636 section 4.2).
#[pyfunction]
pub(crate) fn pkce_challenge(verifier: &str) -> PyResult<String> {
    let v = PkceVerifier::new(verifier.to_owned()).map_err(py_err)?;
    Ok(v.challenge())
}

/// A checksummed token format (`<prefix>_` + 30 base62 + CRC32).
#[pyclass(frozen, module = "secrets_core._native")]
pub(crate) struct TokenFormat(CoreTokenFormat);

#[pymethods]
impl TokenFormat {
    #[new]
    fn new(prefix: &str) -> PyResult<Self> {
        CoreTokenFormat::new(prefix).map(Self).map_err(py_err)
    }

    /// The prefix (`scp`).
    #[getter]
    fn prefix(&self) -> &str {
        self.0.prefix()
    }

    /// A fresh token (returned once: store only its hash).
    fn generate(&self) -> PyResult<String> {
        self.0
            .generate()
            .map(|t| t.expose_secret().to_owned())
            .map_err(py_err)
    }

    /// Checks the shape and checksum of `token`; returns its display
    /// prefix, or raises `InvalidToken`.
    fn check(&self, token: &str) -> PyResult<String> {
        self.0
            .parse(token)
            .map(|p| p.display_prefix)
            .map_err(py_err)
    }

    /// The tokens of this format in `text`.
    fn scan<'py>(&self, py: Python<'py>, text: &str) -> PyResult<Vec<Bound<'py, PyDict>>> {
        found(py, text, &self.0.scan(text))
    }

    fn __repr__(&self) -> String {
        format!("TokenFormat({:?})", self.0.prefix())
    }
}

/// The tokens with valid checksums in `text`, for each of `prefixes`
/// (default: the Vault's `scp`, `sca`, `scr`): dicts of `start`, `end`
/// (`str` indices), `prefix` and `display_prefix`, never the token.
#[pyfunction]
#[pyo3(signature = (text, prefixes = None))]
pub(crate) fn scan<'py>(
    py: Python<'py>,
    text: &str,
    prefixes: Option<Vec<String>>,
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    let formats = match prefixes {
        None => vec![
            CoreTokenFormat::api(),
            CoreTokenFormat::agent(),
            CoreTokenFormat::refresh(),
        ],
        Some(p) => p
            .iter()
            .map(|p| CoreTokenFormat::new(p))
            .collect::<Result<_, _>>()
            .map_err(py_err)?,
    };
    let refs: Vec<&CoreTokenFormat> = formats.iter().collect();
    found(py, text, &token::scan_all(text, &refs))
}

/// Scan results as dicts with `str` (code point) indices.
fn found<'py>(
    py: Python<'py>,
    text: &str,
    hits: &[token::Found],
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    let index = |byte: usize| text.get(..byte).map_or(0, |s| s.chars().count());
    hits.iter()
        .map(|f| {
            let d = PyDict::new(py);
            let r = f.range();
            d.set_item("start", index(r.start))?;
            d.set_item("end", index(r.end))?;
            d.set_item("prefix", f.prefix())?;
            d.set_item("display_prefix", f.display_prefix())?;
            Ok(d)
        })
        .collect()
}

/// The SHA-256 of a token, hex: how a token is stored and looked up.
#[pyfunction]
pub(crate) fn token_hash(token: &str) -> String {
    token::hash(token)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A bcrypt hash of `password` (`str` or `bytes`, at most 72 bytes) at
/// `cost` (default 12, at least 10). Releases the GIL.
#[pyfunction]
#[pyo3(signature = (password, cost = 12))]
pub(crate) fn hash_password(py: Python<'_>, password: SecretArg, cost: u32) -> PyResult<String> {
    let policy = PasswordPolicy::new(cost).map_err(py_err)?;
    let secret = password.bytes();
    py.detach(move || policy.hash(&secret)).map_err(py_err)
}

/// Whether `password` matches the bcrypt `hash` (`$2a$`, `$2b$`, `$2y$`).
/// Releases the GIL.
#[pyfunction]
pub(crate) fn verify_password(py: Python<'_>, password: SecretArg, hash: &str) -> PyResult<bool> {
    let policy = PasswordPolicy::new(secrets_core::password::MIN_COST).map_err(py_err)?;
    let secret = password.bytes();
    let hash = hash.to_owned();
    py.detach(move || policy.verify(&secret, &hash))
        .map_err(py_err)
}

/// Whether `hash` should be recomputed at `cost` (a lower cost, another
/// variant).
#[pyfunction]
#[pyo3(signature = (hash, cost = 12))]
pub(crate) fn needs_rehash(hash: &str, cost: u32) -> PyResult<bool> {
    let policy = PasswordPolicy::new(cost).map_err(py_err)?;
    Ok(policy.needs_rehash(hash))
}

/// An authenticated-encryption context: `bytes`/`str` (one part) or a
/// sequence of parts, bound into the ciphertext.
fn context_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Context> {
    let Some(obj) = obj else {
        return Ok(Context::default());
    };
    if obj.is_instance_of::<PyBytes>() || obj.is_instance_of::<PyString>() {
        let part: BytesArg = obj.extract()?;
        return Ok(Context::new([part.0]));
    }
    let mut parts = Vec::new();
    for item in obj.try_iter()? {
        let part: BytesArg = item?.extract()?;
        parts.push(part.0);
    }
    Ok(Context::new(parts))
}

/// Payloads this large are sealed with the GIL released.
const DETACH_FROM: usize = 64 * 1024;

/// Data keys derived from a master key, for sealing values (AES-256-GCM).
#[pyclass(frozen, module = "secrets_core._native")]
pub(crate) struct KeyRing(pub(crate) Arc<CoreKeyRing>);

#[pymethods]
impl KeyRing {
    /// A key ring over a 32-byte master key.
    #[new]
    fn new(master_key: SecretArg) -> PyResult<Self> {
        let master = MasterKey::from_bytes(&master_key.0).map_err(py_err)?;
        Ok(Self(Arc::new(CoreKeyRing::new(master))))
    }

    /// A key ring over a master key given as base64 (what
    /// `generate_master_key` returns).
    #[staticmethod]
    fn from_base64(master_key: &str) -> PyResult<Self> {
        let master = MasterKey::from_base64(master_key).map_err(py_err)?;
        Ok(Self(Arc::new(CoreKeyRing::new(master))))
    }

    /// The id of the key that seals.
    #[getter]
    fn active_key_id(&self) -> u32 {
        self.0.active_key_id().get()
    }

    /// Starts sealing with a new key id (old envelopes still open); returns it.
    fn rotate(&self) -> PyResult<u32> {
        self.0.rotate().map(KeyId::get).map_err(py_err)
    }

    /// Seals `plaintext` under the active key, bound to `context`; returns
    /// the envelope (see docs/FORMATS.md).
    #[pyo3(signature = (plaintext, context = None))]
    fn seal<'py>(
        &self,
        py: Python<'py>,
        plaintext: &Bound<'py, PyAny>,
        context: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let context = context_arg(context)?;
        // `bytes` is immutable and held by the caller: sealed where it is,
        // with no copy to make and wipe. Anything else as `SecretArg` does.
        let copied;
        let plaintext: &[u8] = if let Ok(b) = plaintext.cast::<PyBytes>() {
            b.as_bytes()
        } else {
            copied = plaintext.extract::<SecretArg>()?;
            &copied.0
        };
        let sealed = if plaintext.len() >= DETACH_FROM {
            py.detach(|| self.0.seal(plaintext, &context))
        } else {
            self.0.seal(plaintext, &context)
        }
        .map_err(py_err)?;
        Ok(PyBytes::new(py, &sealed))
    }

    /// Opens an envelope sealed with `context`; raises `DecryptionFailed`
    /// if anything differs.
    #[pyo3(signature = (envelope, context = None))]
    fn open(
        &self,
        envelope: BytesArg,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<SecretValue> {
        let context = context_arg(context)?;
        self.0
            .open(&envelope.0, &context)
            .map(SecretValue)
            .map_err(py_err)
    }

    /// Opens and seals again under the active key.
    #[pyo3(signature = (envelope, context = None))]
    fn rewrap<'py>(
        &self,
        py: Python<'py>,
        envelope: BytesArg,
        context: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let context = context_arg(context)?;
        let sealed = self.0.rewrap(&envelope.0, &context).map_err(py_err)?;
        Ok(PyBytes::new(py, &sealed))
    }

    fn __repr__(&self) -> String {
        format!(
            "KeyRing([REDACTED], active_key_id={})",
            self.active_key_id()
        )
    }

    /// Not picklable: the master key never leaves the process by accident.
    fn __reduce__(&self) -> PyResult<()> {
        Err(PyTypeError::new_err("a KeyRing cannot be pickled"))
    }
}

/// A fresh random master key, base64 (keep it in a secret manager, apart
/// from the database).
#[pyfunction]
pub(crate) fn generate_master_key() -> PyResult<String> {
    let key = MasterKey::generate().map_err(py_err)?;
    Ok(key.to_base64().expose_secret().to_owned())
}

/// The recommended security headers: `[(name, value), ...]`; with
/// `no_store=True`, also `Cache-Control: no-store` (token responses).
#[pyfunction]
#[pyo3(signature = (*, no_store = false))]
pub(crate) fn security_headers(no_store: bool) -> Vec<(String, String)> {
    let h = if no_store {
        SecurityHeaders::for_token_response()
    } else {
        SecurityHeaders::new()
    };
    h.headers()
}

/// Borrowed strings, as the core's builders take them.
fn str_refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// CORS decisions for an allowlist of origins.
#[pyclass(frozen, module = "secrets_core._native")]
pub(crate) struct Cors(CoreCors);

#[pymethods]
impl Cors {
    #[new]
    #[pyo3(signature = (origins, *, allow_credentials = false, methods = None, headers = None, exposed_headers = None, max_age = None))]
    fn new(
        origins: Vec<String>,
        allow_credentials: bool,
        methods: Option<Vec<String>>,
        headers: Option<Vec<String>>,
        exposed_headers: Option<Vec<String>>,
        max_age: Option<f64>,
    ) -> PyResult<Self> {
        let mut cors = CoreCors::new(&str_refs(&origins))
            .map_err(py_err)?
            .allow_credentials(allow_credentials);
        if let Some(m) = methods {
            cors = cors.allowed_methods(&str_refs(&m)).map_err(py_err)?;
        }
        if let Some(h) = headers {
            cors = cors.allowed_headers(&str_refs(&h)).map_err(py_err)?;
        }
        if let Some(h) = exposed_headers {
            cors = cors.exposed_headers(&str_refs(&h)).map_err(py_err)?;
        }
        if let Some(s) = max_age {
            cors = cors.max_age(seconds("max_age", s)?);
        }
        Ok(Self(cors))
    }

    /// Whether `origin` is allowed.
    fn is_allowed(&self, origin: &str) -> bool {
        self.0.is_allowed(origin)
    }

    /// The headers for a simple (non-preflight) response to `origin`.
    #[pyo3(signature = (origin))]
    fn simple(&self, origin: Option<&str>) -> Vec<(String, String)> {
        self.0.simple(origin)
    }

    /// A preflight decision: `(allowed, headers, refusal)`, where refusal is
    /// `None` when allowed, else why (for logs, not for the client).
    #[pyo3(signature = (origin, method, request_headers = None))]
    fn preflight(
        &self,
        origin: Option<&str>,
        method: Option<&str>,
        request_headers: Option<&str>,
    ) -> (bool, Vec<(String, String)>, Option<String>) {
        let p = self.0.preflight(origin, method, request_headers);
        let headers = p.headers();
        match p {
            Preflight::Allowed(_) => (true, headers, None),
            Preflight::Refused(r) => (false, headers, Some(r.to_string())),
        }
    }
}

/// The deploy gate's verdict for `findings` and `lints` under `profile`
/// (`strict`, `standard`, `lenient`...): `{"decision": "proceed"|"hold",
/// ...}`. Findings are dicts `{id, package, severity, title}`, lints
/// `{name, passed, message}`.
#[pyfunction]
pub(crate) fn evaluate_gate(
    py: Python<'_>,
    profile: &str,
    findings: &Bound<'_, PyAny>,
    lints: &Bound<'_, PyAny>,
) -> PyResult<Py<PyAny>> {
    let profile: gate::Profile = by_name("profile", profile, "`standard`, `hardened`")?;
    let findings: Vec<Finding> = depythonize("findings", findings)?;
    let lints: Vec<LintResult> = depythonize("lints", lints)?;
    to_py(py, &gate::evaluate(profile, &findings, &lints))
}

/// `obj` read through the core type's serde shape; an `InvalidInput` naming
/// `field` when it does not fit.
pub(crate) fn depythonize<T: serde::de::DeserializeOwned>(
    field: &'static str,
    obj: &Bound<'_, PyAny>,
) -> PyResult<T> {
    pythonize::depythonize(obj).map_err(|e| py_err(Error::invalid(field, e.to_string())))
}

/// Roles and permissions (the built-in ones and any registered), for RBAC
/// decisions without a Vault.
///
/// Frozen like every class here: the policy sits behind a read-write lock,
/// so `register` from one thread and `decide` from others are safe without
/// the GIL too.
#[pyclass(frozen, module = "secrets_core._native")]
pub(crate) struct Policy(std::sync::RwLock<CorePolicy>);

impl Policy {
    /// The policy, for reading (a poisoned lock still holds a whole
    /// policy: `register` changes it in one step).
    fn read(&self) -> std::sync::RwLockReadGuard<'_, CorePolicy> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[pymethods]
impl Policy {
    #[new]
    fn new() -> Self {
        Self(std::sync::RwLock::new(CorePolicy::new()))
    }

    /// Registers a host permission granted to `roles`.
    fn register(&self, name: &str, roles: Vec<String>) -> PyResult<()> {
        let roles = roles
            .iter()
            .map(|r| Role::parse(r))
            .collect::<Result<Vec<_>, _>>()
            .map_err(py_err)?;
        let mut policy = self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        policy.register(name, &roles).map(|_| ()).map_err(py_err)
    }

    /// Every permission's name.
    fn permissions(&self) -> Vec<String> {
        let policy = self.read();
        policy
            .permissions()
            .map(|p| policy.name(p).to_owned())
            .collect()
    }

    /// Whether `role` (narrowed by `scopes`, if given) may do
    /// `permission`. Never raises for an unknown name: that is a deny.
    #[pyo3(signature = (role, permission, scopes = None))]
    fn decide(&self, role: &str, permission: &str, scopes: Option<Vec<String>>) -> PyResult<bool> {
        let role = Role::parse(role).map_err(py_err)?;
        let policy = self.read();
        let Some(p) = policy.permission(permission) else {
            return Ok(false);
        };
        let scopes = match scopes {
            None => Scopes::all(),
            Some(names) => Scopes::parse(&policy, &names).map_err(py_err)?,
        };
        Ok(policy.decide(role, &scopes, p).is_allowed())
    }
}

/// Access tokens (JWT, HS256 by default) signed under a key ring: what
/// `Vault.login` issues and `Vault.authenticate_bearer` validates, usable
/// alone.
#[pyclass(frozen, module = "secrets_core._native")]
pub(crate) struct JwtSigner {
    core: CoreJwtSigner,
    /// The configured issuer and audience as Python strings, made once:
    /// a token that validates carries exactly these, so `validate` hands
    /// them out instead of converting the token's copies every call.
    issuer: Py<PyString>,
    audience: Py<PyString>,
    /// The claims dict's keys, in order (values `None`): `validate` copies
    /// it, which sizes the table once, instead of growing an empty dict.
    template: Py<PyDict>,
}

/// The keys of the claims dict, in `AccessClaims`' serde order.
const CLAIM_KEYS: [&str; 11] = [
    "sub", "tid", "role", "scopes", "epoch", "jti", "iat", "nbf", "exp", "iss", "aud",
];

#[pymethods]
impl JwtSigner {
    #[new]
    #[pyo3(signature = (key_ring, *, issuer = None, audience = None, ttl = None, algorithm = None))]
    fn new(
        py: Python<'_>,
        key_ring: &KeyRing,
        issuer: Option<String>,
        audience: Option<String>,
        ttl: Option<f64>,
        algorithm: Option<&str>,
    ) -> PyResult<Self> {
        let mut config = JwtConfig::default();
        if let Some(alg) = algorithm {
            config.algorithm = jwt_algorithm(alg)?;
        }
        if let Some(i) = issuer {
            config.issuer = i;
        }
        if let Some(a) = audience {
            config.audience = a;
        }
        if let Some(t) = ttl {
            config.ttl = seconds("ttl", t)?;
        }
        let core = CoreJwtSigner::new(config, Arc::clone(&key_ring.0)).map_err(py_err)?;
        let template = PyDict::new(py);
        for key in CLAIM_KEYS {
            template.set_item(PyString::intern(py, key), py.None())?;
        }
        Ok(Self {
            template: template.unbind(),
            issuer: PyString::new(py, &core.config().issuer).unbind(),
            audience: PyString::new(py, &core.config().audience).unbind(),
            core,
        })
    }

    /// A signed access token for `user` in `tenant` with `role`.
    #[pyo3(signature = (user_id, tenant_id, role, scopes = Vec::new(), *, epoch = 0, now = None))]
    fn issue(
        &self,
        user_id: &str,
        tenant_id: &str,
        role: &str,
        scopes: Vec<String>,
        epoch: u64,
        now: Option<i64>,
    ) -> PyResult<String> {
        let role = Role::parse(role).map_err(py_err)?;
        self.core
            .issue(
                user(user_id)?,
                tenant(tenant_id)?,
                role,
                scopes,
                epoch,
                now_or(now),
            )
            .map(|(token, _)| token)
            .map_err(py_err)
    }

    /// The public keys that verify EdDSA tokens (a JWKS document; empty
    /// for HS256).
    fn jwks(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_py(py, &self.core.jwks())
    }

    /// The claims of a valid token (signature, issuer, audience, times);
    /// raises `InvalidToken` otherwise.
    #[pyo3(signature = (token, *, now = None))]
    fn validate(&self, py: Python<'_>, token: &str, now: Option<i64>) -> PyResult<Py<PyAny>> {
        let c = self.core.validate(token, now_or(now)).map_err(py_err)?;
        // The claims' serde shape (`AccessClaims`), built directly with
        // interned keys: this is the hot path of every request. The ids are
        // formatted on the stack; `iss` and `aud` equal the configured ones
        // (validation checked it), made into Python strings once.
        let mut buf = [0u8; 36];
        let d = self.template.bind(py).copy()?;
        d.set_item(
            intern!(py, "sub"),
            &*c.sub.as_uuid().hyphenated().encode_lower(&mut buf),
        )?;
        d.set_item(
            intern!(py, "tid"),
            &*c.tid.as_uuid().hyphenated().encode_lower(&mut buf),
        )?;
        let role = match c.role {
            Role::Viewer => intern!(py, "viewer"),
            Role::Developer => intern!(py, "developer"),
            Role::Admin => intern!(py, "admin"),
        };
        d.set_item(intern!(py, "role"), role)?;
        d.set_item(intern!(py, "scopes"), c.scopes)?;
        d.set_item(intern!(py, "epoch"), c.epoch)?;
        d.set_item(intern!(py, "jti"), c.jti)?;
        d.set_item(intern!(py, "iat"), c.iat)?;
        d.set_item(intern!(py, "nbf"), c.nbf)?;
        d.set_item(intern!(py, "exp"), c.exp)?;
        d.set_item(intern!(py, "iss"), self.issuer.bind(py))?;
        d.set_item(intern!(py, "aud"), self.audience.bind(py))?;
        Ok(d.into_any().unbind())
    }
}

/// A JWT algorithm by its JOSE name (`HS256`, `EdDSA`).
pub(crate) fn jwt_algorithm(name: &str) -> PyResult<secrets_core::jwt::JwtAlgorithm> {
    use secrets_core::jwt::JwtAlgorithm;
    [JwtAlgorithm::Hs256, JwtAlgorithm::EdDsa]
        .into_iter()
        .find(|a| a.as_str().eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            py_err(Error::invalid(
                "jwt_algorithm",
                "must be `HS256` or `EdDSA`",
            ))
        })
}
