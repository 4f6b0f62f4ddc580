//! Every storage backend runs the same conformance suite: one test per case
//! and backend (`memory::every_kind_round_trips`, `sqlite::...`).

#![allow(clippy::unwrap_used, clippy::panic)]

use std::any::Any;
use std::sync::Arc;

use secrets_core::store::conformance::{self, Fresh, Runtime};
use secrets_core::store::{MemoryStore, Store};

async fn memory_store() -> Fresh {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    (store, Box::new(()) as Box<dyn Any + Send>)
}

secrets_core::conformance_tests!(memory, memory_store);

/// A SQLite file in a temporary directory, removed when the case ends.
#[cfg(feature = "sqlite")]
async fn sqlite_store() -> Fresh {
    let dir = tempfile::tempdir().unwrap();
    let store = secrets_core::store::SqliteStore::open(dir.path().join("conformance.db"))
        .await
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    (store, Box::new(dir) as Box<dyn Any + Send>)
}

#[cfg(feature = "sqlite")]
secrets_core::conformance_tests!(sqlite, sqlite_store);

// On a current-thread runtime the SQLite store takes its other path (the
// blocking pool instead of `block_in_place`): it must conform there too.
#[cfg(feature = "sqlite")]
secrets_core::conformance_tests!(sqlite_current_thread, CurrentThread, sqlite_store);

/// A case runs on a configured backend, and is skipped, never reaching its
/// body, on a backend that is not configured here.
#[test]
fn only_an_unconfigured_backend_skips_a_case() {
    let mut ran = false;
    conformance::run(
        "rows::every_kind_round_trips",
        Runtime::CurrentThread,
        memory_store,
        |_| {
            ran = true;
            async {}
        },
    );
    assert!(ran, "a case on a configured backend did not run");

    let mut ran = false;
    conformance::run(
        "rows::every_kind_round_trips",
        Runtime::CurrentThread,
        || async { None::<Fresh> },
        |_| {
            ran = true;
            async {}
        },
    );
    assert!(!ran, "a skipped case ran");
}
