//! Attacks on password login and refresh: enumeration by timing, absurd
//! bcrypt costs, upgrade races, look-alike logins, the unknown login kept
//! verbatim, concurrent refreshes (attacks 8, 9 and 21-23).

#[allow(unused_imports)]
use super::*;
