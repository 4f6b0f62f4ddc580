//! `secrets_core._native`: the Python binding of `secrets-core`.
//!
//! The package `secrets_core` (bindings/python/python/) re-exports this
//! module with the exceptions defined in Python and the hand-written stubs
//! (`_native.pyi`). Nothing here holds a rule of its own: it converts
//! arguments and results, maps errors by their stable kind, and calls the
//! core, with the GIL released around anything slow.
//!
//! # `unsafe_code`
//!
//! The workspace denies `unsafe_code`, and this crate keeps that with no
//! exception: it writes no `unsafe`. pyo3's attribute macros expand to
//! `unsafe` FFI glue (the C entry points CPython calls), but pyo3 0.30
//! spans those blocks inside its own macro expansion, not at user tokens,
//! precisely so that `deny`/`forbid(unsafe_code)` in a binding crate does
//! not fire (pyo3-macros-backend `method.rs`, `pymethod.rs`). So no `allow`
//! is needed, and none is written: a future pyo3 that changed this would
//! fail the build here rather than widen an allowance silently.

mod convert;
mod errors;
mod json;
mod primitives;
mod runtime;
mod vault;

use pyo3::prelude::*;

/// Called by `os.register_at_fork(after_in_child=...)` (the package's
/// `__init__`): the child drops its claim on the parent's runtime at once.
#[pyfunction]
fn _after_fork_in_child() {
    runtime::after_fork_in_child();
}

/// The extension module. `gil_used = false`: every class is frozen and
/// `Send + Sync`, and no global state is touched without a lock, so it is
/// safe on free-threaded builds too.
#[pymodule(gil_used = false)]
mod _native {
    #[pymodule_export]
    use super::_after_fork_in_child;
    #[pymodule_export]
    use super::convert::SecretValue;
    #[pymodule_export]
    use super::errors::error_kinds;
    #[pymodule_export]
    use super::primitives::{
        Cors, JwtSigner, KeyRing, Policy, TokenFormat, Webhook, evaluate_gate, generate_master_key,
        generate_webhook_signing_key, hash_password, needs_rehash, pkce_challenge, pkce_verifier,
        scan, security_headers, sign_github, token_hash, verify_github, verify_password,
    };
    #[pymodule_export]
    use super::vault::{
        _bench_rust_authenticate_api_token, AsyncVault, Caller, RefreshLease, Vault,
        postgres_migrate,
    };

    use pyo3::prelude::*;

    /// Constants the Python package reads.
    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add(
            "DEFAULT_TENANT",
            secrets_core::TenantId::DEFAULT.to_string(),
        )?;
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        Ok(())
    }
}
