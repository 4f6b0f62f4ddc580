//! Core errors as the exceptions of `secrets_core.exceptions`.
//!
//! The classes are defined in Python (picklable, with stdlib mixins such as
//! `ValueError`); this side hands over the kind's stable number and code and
//! the core's message (which never contains a secret), and
//! `exceptions._from_kind` picks the class. A number Python does not know (a
//! newer core) becomes the base `SecretsCoreError` carrying that code.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use secrets_core::Error;
use secrets_core::error::ErrorKind;

/// A failed operation, carried out of the GIL-free part of a call.
#[derive(Debug)]
pub(crate) enum CoreError {
    /// The core refused or failed.
    Core(Error),
    /// The binding itself raised (a conversion).
    Py(PyErr),
}

impl From<Error> for CoreError {
    fn from(e: Error) -> Self {
        Self::Core(e)
    }
}

impl From<PyErr> for CoreError {
    fn from(e: PyErr) -> Self {
        Self::Py(e)
    }
}

impl CoreError {
    /// The Python exception.
    pub(crate) fn into_py_err(self, py: Python<'_>) -> PyErr {
        match self {
            Self::Core(e) => core_err(py, &e),
            Self::Py(e) => e,
        }
    }
}

/// The `secrets_core.exceptions` module, imported once.
fn exceptions(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    MODULE
        .get_or_try_init(py, || {
            py.import("secrets_core.exceptions").map(Bound::unbind)
        })
        .map(|m| m.bind(py))
}

/// The exception for a core error.
pub(crate) fn core_err(py: Python<'_>, e: &Error) -> PyErr {
    let kind = e.kind();
    let message = e.to_string();
    let made = exceptions(py).and_then(|m| {
        m.getattr("_from_kind")?
            .call1((kind.number(), kind.code(), message.as_str()))
    });
    match made {
        Ok(exc) => PyErr::from_value(exc),
        // The package is broken (the module is missing): still say what
        // failed, with the stable code.
        Err(_) => PyRuntimeError::new_err(format!("{} ({})", message, kind.code())),
    }
}

/// Shorthand: a core error as a Python exception.
pub(crate) fn py_err(e: Error) -> PyErr {
    Python::attach(|py| core_err(py, &e))
}

/// An `Internal` core error (a failure of the environment, not the call).
pub(crate) fn internal(what: &'static str) -> PyErr {
    py_err(Error::Internal { what })
}

/// `ForkError`: an object made in process `created_in` used in a forked
/// child.
pub(crate) fn fork_error(py: Python<'_>, what: &str, created_in: u32) -> PyErr {
    let message = format!(
        "this {what} was created in process {created_in}, before a fork, and is used in process {now}: \
         create it after fork, in the child (gunicorn `post_fork`, Celery `worker_process_init`)",
        now = std::process::id()
    );
    match exceptions(py).and_then(|m| m.getattr("ForkError")?.call1((message.as_str(),))) {
        Ok(exc) => PyErr::from_value(exc),
        Err(_) => PyRuntimeError::new_err(message),
    }
}

/// Every error kind this build knows: `(number, code, http_status)`, in
/// number order, for the exceptions table's own test.
#[pyfunction]
pub(crate) fn error_kinds() -> Vec<(u16, &'static str, u16)> {
    ErrorKind::ALL
        .into_iter()
        .map(|k| (k.number(), k.code(), k.http_status()))
        .collect()
}
