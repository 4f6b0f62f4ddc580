//! Attacks through webhooks, OAuth and the deploy gate: endpoint URLs,
//! redirect URIs, inbound replays, leaked configuration detail, gate
//! overrides, lost token sets (attacks 10-13, 15 and 20).

#[allow(unused_imports)]
use super::*;
