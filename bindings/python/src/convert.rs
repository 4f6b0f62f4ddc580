//! Argument and result conversions: Python values in, core types out, and
//! back. Nothing here decides anything; a malformed value is refused by the
//! core's own parser wherever one exists, so the message is the core's.

use std::time::Duration;

use pyo3::IntoPyObjectExt;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyString};
use secrets_core::{Error, SecretBytes, SecretString, TenantId, UserId};
use serde::Serialize;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::errors::py_err;
use crate::runtime::Out;

/// Bytes from `bytes`, `bytearray` or `str` (UTF-8): payloads, values,
/// contexts. A `str` is encoded, never interpreted.
pub(crate) struct BytesArg(pub(crate) Vec<u8>);

impl<'a, 'py> FromPyObject<'a, 'py> for BytesArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        bytes_of(&obj, "bytes, bytearray or str").map(Self)
    }
}

/// The bytes of `obj` (`bytes`, `bytearray`, `str`), or a `TypeError`
/// naming `expected`.
fn bytes_of(obj: &Borrowed<'_, '_, PyAny>, expected: &str) -> PyResult<Vec<u8>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(b.to_vec());
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(s.to_cow()?.as_bytes().to_vec());
    }
    Err(PyTypeError::new_err(format!(
        "expected {expected}, got {}",
        obj.get_type().name()?
    )))
}

/// A secret given as `str` or `bytes` (a password, a value to seal): the
/// Rust copy is wiped on drop. The caller's Python object cannot be wiped.
pub(crate) struct SecretArg(pub(crate) Zeroizing<Vec<u8>>);

impl<'a, 'py> FromPyObject<'a, 'py> for SecretArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        bytes_of(&obj, "str or bytes").map(|b| Self(Zeroizing::new(b)))
    }
}

impl SecretArg {
    /// As core's `SecretBytes` (a password hashed as given).
    pub(crate) fn bytes(&self) -> SecretBytes {
        SecretBytes::new(self.0.to_vec())
    }

    /// As core's `SecretString`: the bytes must be UTF-8 (the Vault's
    /// logins take text).
    pub(crate) fn string(&self, field: &'static str) -> Result<SecretString, Error> {
        match std::str::from_utf8(&self.0) {
            Ok(s) => Ok(SecretString::from(s)),
            Err(_) => Err(Error::invalid(field, "is not UTF-8 text")),
        }
    }
}

/// A tenant id (`str`, a UUID), parsed by the core.
pub(crate) fn tenant(id: &str) -> PyResult<TenantId> {
    id.parse().map_err(py_err)
}

/// A user id (`str`, a UUID), parsed by the core.
pub(crate) fn user(id: &str) -> PyResult<UserId> {
    id.parse().map_err(py_err)
}

/// A duration in seconds (`int` or `float`), refused when negative or not
/// finite.
pub(crate) fn seconds(field: &'static str, s: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(s).map_err(|_| {
        py_err(Error::invalid(
            field,
            "must be a finite number of seconds, at least 0",
        ))
    })
}

/// A unit enum of the core from its serde name (`hardened`, `github`),
/// or an `InvalidInput` naming `field` and listing `choices`.
pub(crate) fn by_name<T: serde::de::DeserializeOwned>(
    field: &'static str,
    name: &str,
    choices: &str,
) -> PyResult<T> {
    use serde::de::IntoDeserializer;
    T::deserialize(IntoDeserializer::<serde::de::value::Error>::into_deserializer(name))
        .map_err(|_| py_err(Error::invalid(field, format!("must be one of {choices}"))))
}

/// A result converted through its serde shape (dicts, lists, `str` times in
/// RFC 3339), once the GIL is held.
pub(crate) fn json<T: Serialize + Send + 'static>(value: T) -> Out {
    Box::new(move |py| to_py(py, &value))
}

/// `value`'s serde shape as Python objects.
pub(crate) fn to_py<T: Serialize + ?Sized>(py: Python<'_>, value: &T) -> PyResult<Py<PyAny>> {
    pythonize::pythonize(py, value)
        .map(Bound::unbind)
        .map_err(|_| crate::errors::internal("a result could not be converted to Python"))
}

/// `None`.
pub(crate) fn none() -> Out {
    Box::new(|py| Ok(py.None()))
}

/// A value convertible with `IntoPyObject`.
pub(crate) fn value<T>(v: T) -> Out
where
    T: for<'py> IntoPyObject<'py> + Send + 'static,
{
    Box::new(move |py| v.into_py_any(py))
}

/// Secret bytes handed to Python: `bytes` only when asked for by
/// [`expose_secret`](Self::expose_secret); `repr` never shows them.
#[pyclass(frozen, module = "secrets_core._native")]
pub(crate) struct SecretValue(pub(crate) SecretBytes);

#[pymethods]
impl SecretValue {
    /// The secret as `bytes` (a copy Python cannot wipe: keep it short-lived).
    fn expose_secret<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.0.expose_secret())
    }

    fn __len__(&self) -> usize {
        self.0.len()
    }

    fn __repr__(&self) -> String {
        format!("SecretValue([REDACTED], {} bytes)", self.0.len())
    }

    fn __str__(&self) -> String {
        self.__repr__()
    }

    /// Constant-time comparison with another `SecretValue` or `bytes`.
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        let theirs: Option<Vec<u8>> = if let Ok(v) = other.cast::<SecretValue>() {
            Some(v.get().0.expose_secret().to_vec())
        } else if let Ok(b) = other.cast::<PyBytes>() {
            Some(b.as_bytes().to_vec())
        } else {
            None
        };
        theirs.is_some_and(|t| bool::from(self.0.expose_secret().ct_eq(&t)))
    }

    /// Not picklable: a secret never leaves the process by accident.
    fn __reduce__(&self) -> PyResult<()> {
        Err(PyTypeError::new_err("a SecretValue cannot be pickled"))
    }
}

/// A [`SecretValue`] result.
pub(crate) fn secret(value: SecretBytes) -> Out {
    Box::new(move |py| Py::new(py, SecretValue(value)).map(Py::into_any))
}
