//! Attacks by a database writer without the master key (invariant I7), and
//! a vault opened with the wrong master key (attack 14).

#[allow(unused_imports)]
use super::*;
