//! The `state` parameter: a random UUID v4 against CSRF (RFC 6749 §10.12).

use crate::crypto::random_bytes;
use crate::error::{Error, Result};

/// A fresh `state` value: a random UUID v4 (122 bits from the operating
/// system's generator), lowercase and hyphenated, 36 characters.
///
/// Store it server-side with the verifier, expiring and single use, and
/// compare it with the `state` of the callback (RFC 6749 §10.12).
///
/// # Errors
///
/// [`Error::Rng`] if the operating system's generator fails.
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// let state = secrets_core::oauth::new_state()?;
/// assert_eq!(state.len(), 36);
/// assert_eq!(state.chars().nth(14), Some('4'));
/// # Ok(()) }
/// ```
pub fn new_state() -> Result<String> {
    let bytes = random_bytes::<16>()?;
    Ok(uuid::Builder::from_random_bytes(*bytes)
        .into_uuid()
        .hyphenated()
        .to_string())
}

/// Checks that `state` has the shape [`new_state`] produces (a lowercase,
/// hyphenated UUID v4), before any storage lookup.
///
/// # Errors
///
/// [`Error::InvalidInput`] (field `state`) for anything else, without
/// repeating the value.
///
/// ```
/// use secrets_core::oauth::check_state_format;
///
/// assert!(check_state_format("0b1e6b5e-3c1f-4b7e-9a5d-2f9c8e7d6a5b").is_ok());
/// assert!(check_state_format("0B1E6B5E-3C1F-4B7E-9A5D-2F9C8E7D6A5B").is_err()); // not lowercase
/// assert!(check_state_format("0b1e6b5e-3c1f-1b7e-9a5d-2f9c8e7d6a5b").is_err()); // version 1
/// assert!(check_state_format("xyz").is_err());
/// ```
pub fn check_state_format(state: &str) -> Result<()> {
    let canonical = uuid::Uuid::try_parse(state).ok().filter(|u| {
        u.get_version() == Some(uuid::Version::Random)
            && u.get_variant() == uuid::Variant::RFC4122
            && u.hyphenated().to_string() == state
    });
    match canonical {
        Some(_) => Ok(()),
        None => Err(Error::invalid(
            "state",
            "is not a lowercase hyphenated UUID v4 (36 characters, as made by `new_state`)",
        )),
    }
}
