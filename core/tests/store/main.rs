//! Every storage backend runs the same conformance suite.

#![allow(clippy::unwrap_used)]

use std::any::Any;
use std::sync::Arc;

use secrets_core::store::{MemoryStore, Store, conformance};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_backend_conforms() {
    conformance::run_all(|| async {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        (store, Box::new(()) as Box<dyn Any + Send>)
    })
    .await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_backend_conforms() {
    conformance::run_all(|| async {
        let dir = tempfile::tempdir().unwrap();
        let store = secrets_core::store::SqliteStore::open(dir.path().join("conformance.db"))
            .await
            .unwrap();
        let store: Arc<dyn Store> = Arc::new(store);
        (store, Box::new(dir) as Box<dyn Any + Send>)
    })
    .await;
}

/// On a current-thread runtime the SQLite store takes its other path (the
/// blocking pool instead of `block_in_place`): it must conform there too.
#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "current_thread")]
async fn sqlite_backend_conforms_on_a_current_thread_runtime() {
    conformance::run_all(|| async {
        let dir = tempfile::tempdir().unwrap();
        let store = secrets_core::store::SqliteStore::open(dir.path().join("conformance.db"))
            .await
            .unwrap();
        let store: Arc<dyn Store> = Arc::new(store);
        (store, Box::new(dir) as Box<dyn Any + Send>)
    })
    .await;
}
