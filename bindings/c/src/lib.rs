//! The C ABI of secrets-core: `libsecrets_core` (static and shared) and
//! `include/secrets_core.h`, for any host that can call C.
//!
//! Every rule lives in the core; this crate only translates: borrowed C
//! inputs into Rust values, the core's results into `sc_result` codes,
//! handles and caller-provided buffers. It is the one crate of the
//! workspace that uses `unsafe`, each block under a `// SAFETY:` comment.
//!
//! The memory rules, the result codes and the thread-safety of each handle
//! are in the header's preamble (from `cbindgen.toml`) and in
//! `bindings/c/README.md`.
#![allow(unsafe_code)]
#![deny(missing_docs)]
// Every `extern "C"` parameter list is as long as the C signature needs.
#![allow(clippy::too_many_arguments)]
// Every export takes raw pointers by design; each is documented `unsafe`
// with its contract, and checked for NULL before use.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

mod agents;
mod audit;
mod boundary;
mod caller;
mod keyring;
mod oauth;
mod result;
mod secret;
mod secrets;
mod sessions;
#[cfg(feature = "testing")]
mod testing;
mod tokens;
mod users;
mod vault;
mod webhooks;

pub use agents::*;
pub use audit::*;
pub use boundary::{SC_ID_SIZE, sc_last_error_message, sc_str};
pub use caller::{
    sc_caller, sc_caller_free, sc_caller_role, sc_caller_system, sc_caller_tenant,
    sc_caller_user_id, sc_role, sc_vault_authenticate,
};
pub use keyring::*;
pub use oauth::*;
pub use result::{sc_result, sc_result_kind_code, sc_result_message, sc_result_name};
pub use secret::{sc_secret, sc_secret_expose, sc_secret_free};
pub use secrets::*;
pub use sessions::*;
#[cfg(feature = "testing")]
pub use testing::*;
pub use tokens::*;
pub use users::*;
pub use vault::{
    SC_DEFAULT_PASSWORD_COST, sc_postgres_migrate, sc_vault, sc_vault_erase_tenant, sc_vault_free,
    sc_vault_open, sc_vault_open_with_key_store, sc_vault_set_deletion_protection,
};
pub use webhooks::*;

/// The library's version, `MAJOR.MINOR.PATCH`, NUL-terminated: compare it
/// with `SC_VERSION` from the header to catch a header/library mismatch.
/// A static string: never free it.
#[unsafe(no_mangle)]
pub extern "C" fn sc_version() -> *const std::ffi::c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
