//! SQLite backend (being written).
/// Schema version.
pub const SCHEMA_VERSION: i64 = 1;
/// SQLite store.
#[derive(Debug)]
pub struct SqliteStore;
