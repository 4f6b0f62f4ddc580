//! Agent sessions: scoped, expiring tokens an agent uses on behalf of the
//! human who started it.

use std::ffi::c_char;

use crate::boundary::{IdOut, Out, TextOut, guard, sc_str, str_array, text};
use crate::caller::{caller_arg, sc_caller};
use crate::result::sc_result;
use crate::secret::sc_secret;
use crate::tokens::ttl;
use crate::vault::{sc_vault, vault_arg};

/// Starts a session for agent `agent` acting for the calling user, with
/// `scopes` (one `"*"` for all the caller may grant) for `ttl_seconds` (0:
/// the default, 1 hour). The agent token comes in a new `sc_secret`; the
/// session id goes into `id_buf` (at least `SC_ID_SIZE` bytes).
///
/// # Safety
///
/// As `sc_vault_mint_api_token`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_start_agent_session(
    vault: *const sc_vault,
    caller: *const sc_caller,
    agent: *const c_char,
    agent_len: usize,
    scopes: *const sc_str,
    scopes_len: usize,
    ttl_seconds: u64,
    id_buf: *mut c_char,
    id_buf_len: usize,
    token_out: *mut *mut sc_secret,
) -> sc_result {
    guard("sc_vault_start_agent_session", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, agent, scopes, id, token) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                text("agent", agent, agent_len)?,
                str_array("scopes", scopes, scopes_len)?,
                IdOut::new(id_buf, id_buf_len)?,
                Out::new("token_out", token_out)?,
            )
        };
        let started = vault.run(|v| async move {
            v.start_agent_session(caller, agent, &scopes, ttl(ttl_seconds))
                .await
        })?;
        id.write(&started.id)?;
        token.write_box(sc_secret::new(started.token.expose_secret().as_bytes()));
        Ok(())
    })
}

/// The agent sessions the caller may see, as a JSON array of `{"id",
/// "user","agent","scopes","created_at","expires_at","revoked_at"}` into
/// `buf` (size-query convention).
///
/// # Safety
///
/// `vault`, `caller` NULL or live; `buf` NULL or valid for `buf_len` bytes;
/// `out_len` valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_list_agent_sessions(
    vault: *const sc_vault,
    caller: *const sc_caller,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> sc_result {
    guard("sc_vault_list_agent_sessions", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, out) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                TextOut::new(buf, buf_len, out_len)?,
            )
        };
        let sessions = vault.run(|v| async move { v.list_agent_sessions(caller).await })?;
        out.json(&sessions)
    })
}

/// Revokes the agent session with id `id`.
///
/// # Safety
///
/// `vault`, `caller` NULL or live; `id` NULL or valid for `id_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_revoke_agent_session(
    vault: *const sc_vault,
    caller: *const sc_caller,
    id: *const c_char,
    id_len: usize,
) -> sc_result {
    guard("sc_vault_revoke_agent_session", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, id) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                text("id", id, id_len)?,
            )
        };
        vault.run(|v| async move { v.revoke_agent_session(caller, id).await })?;
        Ok(())
    })
}

/// Turns agent sessions off (`enabled` false: every one is revoked and no
/// new one starts) or on again, for the tenant.
///
/// # Safety
///
/// `vault`, `caller` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_set_agent_sessions_enabled(
    vault: *const sc_vault,
    caller: *const sc_caller,
    enabled: bool,
) -> sc_result {
    guard("sc_vault_set_agent_sessions_enabled", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller) = unsafe { (vault_arg(vault)?, caller_arg(caller)?) };
        vault.run(|v| async move { v.set_agent_sessions_enabled(caller, enabled).await })?;
        Ok(())
    })
}
