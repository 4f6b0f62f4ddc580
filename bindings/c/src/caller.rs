//! `sc_caller`: who is calling (from a bearer, or the system), and the
//! role numbers.

use std::ffi::c_char;

use core_lib::rbac::Role;
use core_lib::vault::Caller;
use core_lib::{Error, TenantId};

use crate::boundary::{Fail, IdOut, Out, free_guard, guard, handle, opt_text, text};
use crate::result::sc_result;
use crate::vault::{sc_vault, vault_arg};

/// A caller: obtained from `sc_vault_authenticate` (or `sc_caller_system`
/// for the host's own jobs) and passed to every operation. Immutable and
/// thread-safe. Free with `sc_caller_free`.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct sc_caller {
    pub(crate) caller: Caller,
}

/// A role, as `uint32_t` arguments and outputs carry it.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum sc_role {
    /// Reads; changes nothing.
    SC_ROLE_VIEWER = 1,
    /// Builds and deploys: writes and injects secrets, starts agent
    /// sessions, manages their own API tokens.
    SC_ROLE_DEVELOPER = 2,
    /// Also manages users, API tokens, settings, and reads the audit log.
    SC_ROLE_ADMIN = 3,
}

pub(crate) fn role_from(n: u32) -> Result<Role, Fail> {
    match n {
        1 => Ok(Role::Viewer),
        2 => Ok(Role::Developer),
        3 => Ok(Role::Admin),
        _ => Err(Error::invalid(
            "role",
            "must be SC_ROLE_VIEWER, SC_ROLE_DEVELOPER or SC_ROLE_ADMIN",
        )
        .into()),
    }
}

fn role_number(role: Role) -> u32 {
    let r = match role {
        Role::Viewer => sc_role::SC_ROLE_VIEWER,
        Role::Developer => sc_role::SC_ROLE_DEVELOPER,
        Role::Admin => sc_role::SC_ROLE_ADMIN,
    };
    r as u32
}

/// A tenant id from its UUID text (the default tenant is
/// `00000000-0000-0000-0000-000000000000`).
pub(crate) fn tenant_from(s: &str) -> Result<TenantId, Fail> {
    s.parse::<TenantId>().map_err(Fail::Core)
}

/// The caller behind a handle argument.
///
/// # Safety
///
/// `caller` NULL or a live `sc_caller`.
pub(crate) unsafe fn caller_arg<'a>(caller: *const sc_caller) -> Result<&'a Caller, Fail> {
    // SAFETY: the caller's contract, passed on.
    unsafe { handle("caller", caller) }.map(|c| &c.caller)
}

/// Authenticates whatever a client presents (an `Authorization` header
/// value with or without `Bearer `: a JWT access token, an API token or an
/// agent token) and gives its caller. `source` (optional, NULL for none) is
/// the client's address, recorded in audit events.
///
/// # Safety
///
/// `vault` NULL or live; each text NULL or valid for its length;
/// `caller_out` NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_authenticate(
    vault: *const sc_vault,
    bearer: *const c_char,
    bearer_len: usize,
    source: *const c_char,
    source_len: usize,
    caller_out: *mut *mut sc_caller,
) -> sc_result {
    guard("sc_vault_authenticate", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, bearer, source, out) = unsafe {
            (
                vault_arg(vault)?,
                text("bearer", bearer, bearer_len)?,
                opt_text("source", source, source_len)?,
                Out::new("caller_out", caller_out)?,
            )
        };
        let caller = vault.run(|v| async move { v.authenticate_bearer(bearer, source).await })?;
        out.write_box(sc_caller { caller });
        Ok(())
    })
}

/// The system caller of `tenant` (UUID text): the host's own jobs, every
/// permission, audited as `system`.
///
/// # Safety
///
/// `tenant` NULL or valid for `tenant_len` bytes; `caller_out` NULL or
/// valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_caller_system(
    tenant: *const c_char,
    tenant_len: usize,
    caller_out: *mut *mut sc_caller,
) -> sc_result {
    guard("sc_caller_system", || {
        // SAFETY: the caller's contract above.
        let (tenant, out) = unsafe {
            (
                text("tenant", tenant, tenant_len)?,
                Out::new("caller_out", caller_out)?,
            )
        };
        out.write_box(sc_caller {
            caller: Caller::system(tenant_from(tenant)?),
        });
        Ok(())
    })
}

/// Frees `caller`. NULL is a no-op.
///
/// # Safety
///
/// `caller` NULL or a live `sc_caller`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_caller_free(caller: *mut sc_caller) {
    free_guard(|| {
        if !caller.is_null() {
            // SAFETY: from `Box::into_raw` here, handed back once.
            drop(unsafe { Box::from_raw(caller) });
        }
    });
}

/// The id of the user behind `caller` into `id_buf` (at least
/// `SC_ID_SIZE` bytes); `SC_ERR_INVALID_INPUT` for the system caller.
///
/// # Safety
///
/// `caller` NULL or live; `id_buf` NULL or valid for `id_buf_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_caller_user_id(
    caller: *const sc_caller,
    id_buf: *mut c_char,
    id_buf_len: usize,
) -> sc_result {
    guard("sc_caller_user_id", || {
        // SAFETY: the caller's contract above.
        let (caller, out) = unsafe { (caller_arg(caller)?, IdOut::new(id_buf, id_buf_len)?) };
        let user = caller
            .user()
            .ok_or_else(|| Error::invalid("caller", "has no user (the system caller)"))?;
        out.write(&user.to_string())
    })
}

/// The tenant of `caller` (UUID text) into `id_buf` (at least `SC_ID_SIZE`
/// bytes).
///
/// # Safety
///
/// `caller` NULL or live; `id_buf` NULL or valid for `id_buf_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_caller_tenant(
    caller: *const sc_caller,
    id_buf: *mut c_char,
    id_buf_len: usize,
) -> sc_result {
    guard("sc_caller_tenant", || {
        // SAFETY: the caller's contract above.
        let (caller, out) = unsafe { (caller_arg(caller)?, IdOut::new(id_buf, id_buf_len)?) };
        out.write(&caller.tenant().to_string())
    })
}

/// The role (an `sc_role`) the caller's user held when authenticated.
///
/// # Safety
///
/// `caller` NULL or live; `role_out` NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_caller_role(caller: *const sc_caller, role_out: *mut u32) -> sc_result {
    guard("sc_caller_role", || {
        // SAFETY: the caller's contract above.
        let (caller, out) = unsafe { (caller_arg(caller)?, Out::new("role_out", role_out)?) };
        out.write(role_number(caller.role()));
        Ok(())
    })
}
