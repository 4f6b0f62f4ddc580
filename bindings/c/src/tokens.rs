//! API tokens: mint, list, revoke.

use std::ffi::c_char;
use std::time::Duration;

use crate::boundary::{IdOut, Out, TextOut, guard, opt_text, sc_str, str_array, text};
use crate::caller::{caller_arg, sc_caller};
use crate::result::sc_result;
use crate::secret::sc_secret;
use crate::users::user_from;
use crate::vault::{sc_vault, vault_arg};

/// A lifetime in seconds, 0 for none (or the default).
pub(crate) fn ttl(seconds: u64) -> Option<Duration> {
    (seconds != 0).then(|| Duration::from_secs(seconds))
}

/// Mints an API token for `owner` (a user id) named `name`, with `scopes`
/// (permission names; one `"*"` for everything the caller may grant) and a
/// lifetime of `ttl_seconds` (0: no expiry). The token is shown once: it
/// comes in a new `sc_secret`; its id goes into `id_buf` (at least
/// `SC_ID_SIZE` bytes).
///
/// # Safety
///
/// `vault`, `caller` NULL or live; texts NULL or valid for their lengths;
/// `scopes` NULL (with 0) or valid for `scopes_len` elements; `id_buf`
/// NULL or valid for `id_buf_len` bytes; `token_out` NULL or valid for one
/// write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_mint_api_token(
    vault: *const sc_vault,
    caller: *const sc_caller,
    owner: *const c_char,
    owner_len: usize,
    name: *const c_char,
    name_len: usize,
    scopes: *const sc_str,
    scopes_len: usize,
    ttl_seconds: u64,
    id_buf: *mut c_char,
    id_buf_len: usize,
    token_out: *mut *mut sc_secret,
) -> sc_result {
    guard("sc_vault_mint_api_token", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, owner, name, scopes, id, token) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                text("owner", owner, owner_len)?,
                text("name", name, name_len)?,
                str_array("scopes", scopes, scopes_len)?,
                IdOut::new(id_buf, id_buf_len)?,
                Out::new("token_out", token_out)?,
            )
        };
        let owner = user_from(owner)?;
        let minted = vault.run(|v| async move {
            v.mint_api_token(caller, owner, name, &scopes, ttl(ttl_seconds))
                .await
        })?;
        id.write(&minted.id)?;
        token.write_box(sc_secret::new(minted.token.expose_secret().as_bytes()));
        Ok(())
    })
}

/// The tenant's API tokens (never the tokens themselves), a page after the
/// id `after` (NULL for the first), as a JSON array of `{"id","owner",
/// "name","display_prefix","scopes","created_at","expires_at",
/// "last_used_at","revoked_at"}` into `buf` (size-query convention).
///
/// # Safety
///
/// `vault`, `caller` NULL or live; `after` NULL or valid for `after_len`;
/// `buf` NULL or valid for `buf_len` bytes; `out_len` valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_list_api_tokens(
    vault: *const sc_vault,
    caller: *const sc_caller,
    after: *const c_char,
    after_len: usize,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> sc_result {
    guard("sc_vault_list_api_tokens", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, after, out) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                opt_text("after", after, after_len)?,
                TextOut::new(buf, buf_len, out_len)?,
            )
        };
        let tokens = vault.run(|v| async move { v.list_api_tokens(caller, after).await })?;
        out.json(&tokens)
    })
}

/// Revokes the API token with id `id`, at once.
///
/// # Safety
///
/// `vault`, `caller` NULL or live; `id` NULL or valid for `id_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_revoke_api_token(
    vault: *const sc_vault,
    caller: *const sc_caller,
    id: *const c_char,
    id_len: usize,
) -> sc_result {
    guard("sc_vault_revoke_api_token", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, id) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                text("id", id, id_len)?,
            )
        };
        vault.run(|v| async move { v.revoke_api_token(caller, id).await })?;
        Ok(())
    })
}
