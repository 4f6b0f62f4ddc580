//! OAuth connections: storing the first token set, and the two-phase
//! refresh (begin, the host's own HTTP call, then complete or abandon), so
//! that no callback crosses the ABI.

use std::ffi::c_char;

use core_lib::oauth::TokenSet;
use core_lib::vault::{RefreshFailure, RefreshLease, RefreshStart};
use core_lib::{Clock, Error, SystemClock};

use crate::boundary::{Out, TextOut, bytes, free_guard, guard, handle, opt_text, text};
use crate::caller::{caller_arg, sc_caller};
use crate::result::sc_result;
use crate::secret::sc_secret;
use crate::users::user_from;
use crate::vault::{sc_vault, vault_arg};

/// The refresh lease one attempt holds, from `sc_vault_begin_refresh`: pass
/// it to `sc_vault_complete_refresh` or `sc_vault_abandon_refresh`, then
/// free it with `sc_refresh_lease_free`. Not to be shared between threads.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct sc_refresh_lease {
    lease: RefreshLease,
}

/// What `sc_vault_begin_refresh` found, as its `uint32_t` output.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum sc_refresh_state {
    /// No refresh due: the token output holds the access token to use.
    SC_REFRESH_FRESH = 1,
    /// This caller holds the lease: the token output holds the refresh
    /// token to present to the provider, the lease output the lease.
    SC_REFRESH_NEEDED = 2,
    /// Another attempt holds the lease: ask again after the retry output's
    /// milliseconds.
    SC_REFRESH_BUSY = 3,
}

/// Stores the token set of a provider's token response (`token_json`, the
/// raw JSON body of an RFC 6749 section 5.1 response) as the calling user's
/// connection to `provider`, sealed. Needs `integrations:connect`.
///
/// # Safety
///
/// `vault`, `caller` NULL or live; `provider`, `token_json` NULL or valid
/// for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_store_oauth_tokens(
    vault: *const sc_vault,
    caller: *const sc_caller,
    provider: *const c_char,
    provider_len: usize,
    token_json: *const u8,
    token_json_len: usize,
) -> sc_result {
    guard("sc_vault_store_oauth_tokens", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, provider, json) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                text("provider", provider, provider_len)?,
                bytes("token_json", token_json, token_json_len)?,
            )
        };
        let tokens = TokenSet::from_token_response(json, SystemClock.now())?;
        vault.run(|v| async move { v.store_oauth_tokens(caller, provider, &tokens).await })?;
        Ok(())
    })
}

/// The first phase of a refresh of `user`'s (UUID text) connection to
/// `provider`. `*state_out` receives an `sc_refresh_state`:
/// `SC_REFRESH_FRESH` with the access token in `*token_out`;
/// `SC_REFRESH_NEEDED` with the refresh token to present in `*token_out`
/// and the lease in `*lease_out`; `SC_REFRESH_BUSY` with
/// `*retry_after_ms_out` set. Outputs that do not apply are set to NULL or
/// 0.
///
/// # Safety
///
/// `vault`, `caller` NULL or live; texts NULL or valid for their lengths;
/// the four outputs NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_begin_refresh(
    vault: *const sc_vault,
    caller: *const sc_caller,
    user: *const c_char,
    user_len: usize,
    provider: *const c_char,
    provider_len: usize,
    state_out: *mut u32,
    token_out: *mut *mut sc_secret,
    lease_out: *mut *mut sc_refresh_lease,
    retry_after_ms_out: *mut u64,
) -> sc_result {
    guard("sc_vault_begin_refresh", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, user, provider, state, token, lease, retry) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                text("user", user, user_len)?,
                text("provider", provider, provider_len)?,
                Out::new("state_out", state_out)?,
                Out::new("token_out", token_out)?,
                Out::new("lease_out", lease_out)?,
                Out::new("retry_after_ms_out", retry_after_ms_out)?,
            )
        };
        let user = user_from(user)?;
        let start = vault.run(|v| async move { v.begin_refresh(caller, user, provider).await })?;
        let (s, t, l, r) = match start {
            RefreshStart::Fresh(access) => (
                sc_refresh_state::SC_REFRESH_FRESH,
                Some(sc_secret::new(access.expose_secret().as_bytes())),
                None,
                0,
            ),
            RefreshStart::Refresh(lease) => (
                sc_refresh_state::SC_REFRESH_NEEDED,
                Some(sc_secret::new(
                    lease.refresh_token().expose_secret().as_bytes(),
                )),
                Some(sc_refresh_lease { lease }),
                0,
            ),
            RefreshStart::Busy { retry_after } => (
                sc_refresh_state::SC_REFRESH_BUSY,
                None,
                None,
                u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX),
            ),
            _ => {
                return Err(Error::Internal {
                    what: "a refresh state this build does not know",
                }
                .into());
            }
        };
        state.write(s as u32);
        token.write(t.map_or(std::ptr::null_mut(), |t| Box::into_raw(Box::new(t))));
        lease.write(l.map_or(std::ptr::null_mut(), |l| Box::into_raw(Box::new(l))));
        retry.write(r);
        Ok(())
    })
}

/// The second phase, after the provider answered: `response_json` is the
/// raw body of its refresh response; the new token set is stored and the
/// lease released. A response that does not parse is refused
/// (`SC_ERR_INVALID_INPUT` or `SC_ERR_OAUTH_FAILED`) with nothing stored
/// and the lease kept: call `sc_vault_abandon_refresh` then. Free the lease
/// afterwards in every case.
///
/// # Safety
///
/// `vault`, `caller`, `lease` NULL or live; `response_json` NULL or valid
/// for its length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_complete_refresh(
    vault: *const sc_vault,
    caller: *const sc_caller,
    lease: *const sc_refresh_lease,
    response_json: *const u8,
    response_json_len: usize,
) -> sc_result {
    guard("sc_vault_complete_refresh", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, lease, json) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                handle("lease", lease)?,
                bytes("response_json", response_json, response_json_len)?,
            )
        };
        let lease = &lease.lease;
        let tokens = TokenSet::from_refresh_response(json, SystemClock.now(), lease.current())?;
        vault.run(|v| async move { v.complete_refresh(caller, lease, &tokens).await })?;
        Ok(())
    })
}

/// The second phase of a refresh that failed: records the failure and
/// releases the lease. `invalid_grant` true when the provider answered
/// `invalid_grant` (the connection then needs reconnecting); otherwise
/// `reason` (optional, NULL; never a token) is recorded.
///
/// # Safety
///
/// `vault`, `caller`, `lease` NULL or live; `reason` NULL or valid for
/// `reason_len`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_abandon_refresh(
    vault: *const sc_vault,
    caller: *const sc_caller,
    lease: *const sc_refresh_lease,
    invalid_grant: bool,
    reason: *const c_char,
    reason_len: usize,
) -> sc_result {
    guard("sc_vault_abandon_refresh", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, lease, reason) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                handle("lease", lease)?,
                opt_text("reason", reason, reason_len)?,
            )
        };
        let failure = if invalid_grant {
            RefreshFailure::InvalidGrant
        } else {
            RefreshFailure::Failed(reason.unwrap_or("refresh failed").to_owned())
        };
        let lease = &lease.lease;
        vault.run(|v| async move { v.abandon_refresh(caller, lease, failure).await })?;
        Ok(())
    })
}

/// Frees `lease`. NULL is a no-op.
///
/// # Safety
///
/// `lease` NULL or a live `sc_refresh_lease`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_refresh_lease_free(lease: *mut sc_refresh_lease) {
    free_guard(|| {
        if !lease.is_null() {
            // SAFETY: from `Box::into_raw` here, handed back once.
            drop(unsafe { Box::from_raw(lease) });
        }
    });
}

/// The calling user's OAuth connections (never a token), as a JSON array
/// of `{"provider","scopes","access_expires_at","last_refresh_error",
/// "needs_reconnect","refreshing_until"}` into `buf` (size-query
/// convention).
///
/// # Safety
///
/// `vault`, `caller` NULL or live; `buf` NULL or valid for `buf_len`;
/// `out_len` valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_list_oauth_connections(
    vault: *const sc_vault,
    caller: *const sc_caller,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> sc_result {
    guard("sc_vault_list_oauth_connections", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, out) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                TextOut::new(buf, buf_len, out_len)?,
            )
        };
        let list = vault.run(|v| async move { v.list_oauth_connections(caller).await })?;
        out.json(&list)
    })
}
