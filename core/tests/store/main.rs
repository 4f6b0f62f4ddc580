//! Every storage backend runs the same conformance suite.

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
