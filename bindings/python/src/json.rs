//! `json.loads` for a verified webhook payload, built straight into Python
//! objects by `serde_json` when the result is sure to be the same, and by
//! `json.loads` itself otherwise.
//!
//! The fast path takes objects, arrays, strings, integers that fit 64 bits,
//! `true`, `false` and `null`: for those `json.loads` gives the same values
//! (a repeated key keeps its first place and its last value, as in a
//! `dict` built by `json.loads`). Anything else goes to `json.loads`
//! untouched, so the result, or the exception, is exactly its own:
//! a number with a fraction or an exponent or past 64 bits (whose
//! rounding or type `serde_json` could make differ), `NaN` and
//! `Infinity`, a lone surrogate escape, a byte-order mark or UTF-16/32
//! text, nesting past `serde_json`'s limit, and anything that is not JSON.

use std::fmt;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// `json.loads(data)`, built directly when the fast path can (see the
/// module documentation).
pub(crate) fn loads<'py>(data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = data.py();
    if let Ok(b) = data.cast::<PyBytes>() {
        let mut de = serde_json::Deserializer::from_slice(b.as_bytes());
        if let Ok(value) = Value(py).deserialize(&mut de)
            && de.end().is_ok()
        {
            return Ok(value);
        }
    }
    py.import(pyo3::intern!(py, "json"))?
        .getattr(pyo3::intern!(py, "loads"))?
        .call1((data,))
}

/// One JSON value, as the Python object `json.loads` makes of it.
#[derive(Clone, Copy)]
struct Value<'py>(Python<'py>);

/// Why the fast path gave up (never shown: `json.loads` takes over).
fn give_up<E: de::Error>() -> E {
    E::custom("left to json.loads")
}

impl<'de, 'py> DeserializeSeed<'de> for Value<'py> {
    type Value = Bound<'py, PyAny>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, 'py> Visitor<'de> for Value<'py> {
    type Value = Bound<'py, PyAny>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        v.into_pyobject(self.0)
            .map(|b| b.to_owned().into_any())
            .map_err(|_| give_up())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        v.into_pyobject(self.0)
            .map(Bound::into_any)
            .map_err(|_| give_up())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        v.into_pyobject(self.0)
            .map(Bound::into_any)
            .map_err(|_| give_up())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Err(give_up())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(PyString::new(self.0, v).into_any())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(self.0.None().into_bound(self.0))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        PyList::new(self.0, items)
            .map(Bound::into_any)
            .map_err(|_| give_up())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let dict = PyDict::new(self.0);
        while let Some(key) = map.next_key_seed(Key(self.0))? {
            let value = map.next_value_seed(self)?;
            dict.set_item(key, value).map_err(|_| give_up())?;
        }
        Ok(dict.into_any())
    }
}

/// An object's key: a string.
struct Key<'py>(Python<'py>);

impl<'de, 'py> DeserializeSeed<'de> for Key<'py> {
    type Value = Bound<'py, PyString>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, 'py> Visitor<'de> for Key<'py> {
    type Value = Bound<'py, PyString>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(PyString::new(self.0, v))
    }
}
