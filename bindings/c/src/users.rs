//! Bootstrap, users and roles.

use std::ffi::c_char;

use core_lib::{SecretString, UserId};

use crate::boundary::{Fail, IdOut, TextOut, guard, opt_text, text};
use crate::caller::{caller_arg, role_from, sc_caller, tenant_from};
use crate::result::sc_result;
use crate::vault::{sc_vault, vault_arg};

pub(crate) fn user_from(s: &str) -> Result<UserId, Fail> {
    s.parse::<UserId>().map_err(Fail::Core)
}

/// Creates `tenant` (UUID text) named `tenant_name` with its first Admin
/// `login` / `password`, and writes the Admin's id into `id_buf` (at least
/// `SC_ID_SIZE` bytes). `SC_ERR_ALREADY_EXISTS` once the tenant has users.
/// `source` is optional (NULL).
///
/// # Safety
///
/// `vault` NULL or live; each text NULL or valid for its length; `id_buf`
/// NULL or valid for `id_buf_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_bootstrap(
    vault: *const sc_vault,
    tenant: *const c_char,
    tenant_len: usize,
    tenant_name: *const c_char,
    tenant_name_len: usize,
    login: *const c_char,
    login_len: usize,
    password: *const c_char,
    password_len: usize,
    source: *const c_char,
    source_len: usize,
    id_buf: *mut c_char,
    id_buf_len: usize,
) -> sc_result {
    guard("sc_vault_bootstrap", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, tenant, name, login, password, source, out) = unsafe {
            (
                vault_arg(vault)?,
                text("tenant", tenant, tenant_len)?,
                text("tenant_name", tenant_name, tenant_name_len)?,
                text("login", login, login_len)?,
                text("password", password, password_len)?,
                opt_text("source", source, source_len)?,
                IdOut::new(id_buf, id_buf_len)?,
            )
        };
        let tenant = tenant_from(tenant)?;
        let password = SecretString::from(password);
        let id = vault
            .run(|v| async move { v.bootstrap(tenant, name, login, &password, source).await })?;
        out.write(&id.to_string())
    })
}

/// Creates user `login` with `role` (an `sc_role`) and, optionally (NULL
/// for none), a password; the new id goes into `id_buf` (at least
/// `SC_ID_SIZE` bytes). Needs `users:manage`.
///
/// # Safety
///
/// `vault`, `caller` NULL or live; each text NULL or valid for its length;
/// `id_buf` NULL or valid for `id_buf_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_create_user(
    vault: *const sc_vault,
    caller: *const sc_caller,
    login: *const c_char,
    login_len: usize,
    role: u32,
    password: *const c_char,
    password_len: usize,
    id_buf: *mut c_char,
    id_buf_len: usize,
) -> sc_result {
    guard("sc_vault_create_user", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, login, password, out) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                text("login", login, login_len)?,
                opt_text("password", password, password_len)?,
                IdOut::new(id_buf, id_buf_len)?,
            )
        };
        let role = role_from(role)?;
        let password = password.map(SecretString::from);
        let id = vault
            .run(|v| async move { v.create_user(caller, login, role, password.as_ref()).await })?;
        out.write(&id.to_string())
    })
}

/// Gives `user` (UUID text) the role `role` (an `sc_role`).
///
/// # Safety
///
/// `vault`, `caller` NULL or live; `user` NULL or valid for `user_len`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_change_role(
    vault: *const sc_vault,
    caller: *const sc_caller,
    user: *const c_char,
    user_len: usize,
    role: u32,
) -> sc_result {
    guard("sc_vault_change_role", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, user) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                text("user", user, user_len)?,
            )
        };
        let (user, role) = (user_from(user)?, role_from(role)?);
        vault.run(|v| async move { v.change_role(caller, user, role).await })?;
        Ok(())
    })
}

/// Disables (`enabled` 0) or enables again (`enabled` non-zero) `user`
/// (UUID text). Disabling stops every credential of the user at once.
///
/// # Safety
///
/// `vault`, `caller` NULL or live; `user` NULL or valid for `user_len`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_set_user_enabled(
    vault: *const sc_vault,
    caller: *const sc_caller,
    user: *const c_char,
    user_len: usize,
    enabled: bool,
) -> sc_result {
    guard("sc_vault_set_user_enabled", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, user) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                text("user", user, user_len)?,
            )
        };
        let user = user_from(user)?;
        vault.run(|v| async move {
            if enabled {
                v.enable_user(caller, user).await
            } else {
                v.disable_user(caller, user).await
            }
        })?;
        Ok(())
    })
}

/// The tenant's users, a page of them after the id `after` (NULL for the
/// first page), as a JSON array of `{"id","login","role","disabled"}` into
/// `buf` (size-query convention; a size query performs the read).
///
/// # Safety
///
/// `vault`, `caller` NULL or live; `after` NULL or valid for `after_len`;
/// `buf` NULL or valid for `buf_len` bytes; `out_len` valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_list_users(
    vault: *const sc_vault,
    caller: *const sc_caller,
    after: *const c_char,
    after_len: usize,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> sc_result {
    guard("sc_vault_list_users", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, after, out) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                opt_text("after", after, after_len)?,
                TextOut::new(buf, buf_len, out_len)?,
            )
        };
        let after = after.map(user_from).transpose()?;
        let users = vault.run(|v| async move { v.list_users(caller, after).await })?;
        out.json(&users)
    })
}
