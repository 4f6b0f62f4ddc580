//! App secrets (write-only: set, list names, inject) and settings secrets
//! (sealed platform keys the host reads through an explicit accessor).

use std::ffi::c_char;

use core_lib::Error;
use zeroize::Zeroizing;

use crate::boundary::{Out, TextOut, bytes, guard, text};
use crate::caller::{caller_arg, sc_caller};
use crate::result::sc_result;
use crate::secret::sc_secret;
use crate::vault::{sc_vault, vault_arg};

/// Sets app `app`'s secret `name` to `value` (bytes); `*version_out`, if
/// `version_out` is not NULL, receives its new version.
///
/// # Safety
///
/// `vault`, `caller` NULL or live; texts and `value` NULL or valid for
/// their lengths; `version_out` NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_set_secret(
    vault: *const sc_vault,
    caller: *const sc_caller,
    app: *const c_char,
    app_len: usize,
    name: *const c_char,
    name_len: usize,
    value: *const u8,
    value_len: usize,
    version_out: *mut u64,
) -> sc_result {
    guard("sc_vault_set_secret", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, app, name, value) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                text("app", app, app_len)?,
                text("name", name, name_len)?,
                bytes("value", value, value_len)?,
            )
        };
        let version = vault.run(|v| async move { v.set_secret(caller, app, name, value).await })?;
        if !version_out.is_null() {
            // SAFETY: non-null, writable per the caller's contract.
            unsafe { version_out.write(version) };
        }
        Ok(())
    })
}

/// Deletes app `app`'s secret `name`.
///
/// # Safety
///
/// `vault`, `caller` NULL or live; texts NULL or valid for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_delete_secret(
    vault: *const sc_vault,
    caller: *const sc_caller,
    app: *const c_char,
    app_len: usize,
    name: *const c_char,
    name_len: usize,
) -> sc_result {
    guard("sc_vault_delete_secret", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, app, name) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                text("app", app, app_len)?,
                text("name", name, name_len)?,
            )
        };
        vault.run(|v| async move { v.delete_secret(caller, app, name).await })?;
        Ok(())
    })
}

/// App `app`'s secrets by name, never their values: a JSON array of
/// `{"name","version","updated_by","updated_at","has_previous"}` into
/// `buf` (size-query convention).
///
/// # Safety
///
/// `vault`, `caller` NULL or live; `app` NULL or valid for `app_len`; `buf`
/// NULL or valid for `buf_len` bytes; `out_len` valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_list_secrets(
    vault: *const sc_vault,
    caller: *const sc_caller,
    app: *const c_char,
    app_len: usize,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> sc_result {
    guard("sc_vault_list_secrets", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, app, out) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                text("app", app, app_len)?,
                TextOut::new(buf, buf_len, out_len)?,
            )
        };
        let list = vault.run(|v| async move { v.list_secrets(caller, app).await })?;
        out.json(&list)
    })
}

/// App `app`'s secrets as an environment block, for a runtime: in a new
/// `sc_secret`, `NAME=value` entries each followed by a NUL, in name order,
/// and one more NUL after the last (the `sc_secret`'s own terminator), as
/// `execve`'s environment strings are laid out. Needs `secrets:inject`. A
/// value holding a NUL byte cannot be an environment variable:
/// `SC_ERR_INVALID_INPUT`, naming the secret.
///
/// # Safety
///
/// `vault`, `caller` NULL or live; `app` NULL or valid for `app_len`;
/// `env_out` NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_inject(
    vault: *const sc_vault,
    caller: *const sc_caller,
    app: *const c_char,
    app_len: usize,
    env_out: *mut *mut sc_secret,
) -> sc_result {
    guard("sc_vault_inject", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, app, out) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                text("app", app, app_len)?,
                Out::new("env_out", env_out)?,
            )
        };
        let env = vault.run(|v| async move { v.inject(caller, app).await })?;
        // Sized up front: a growing Vec would leave copies of the values
        // behind in the allocations it outgrew.
        let size = env
            .iter()
            .map(|(name, value)| name.len() + value.len() + 2)
            .sum();
        let mut block = Zeroizing::new(Vec::with_capacity(size));
        for (name, value) in &env {
            if value.expose_secret().contains(&0) {
                return Err(Error::invalid(
                    "app",
                    format!(
                        "secret `{name}` holds a NUL byte, which an environment variable cannot"
                    ),
                )
                .into());
            }
            block.extend_from_slice(name.as_bytes());
            block.push(b'=');
            block.extend_from_slice(value.expose_secret());
            block.push(0);
        }
        out.write_box(sc_secret::new(&block));
        Ok(())
    })
}

/// Sets the settings secret `name` (a provider key, ...) to `value`,
/// sealed. Needs `settings:manage`.
///
/// # Safety
///
/// `vault`, `caller` NULL or live; `name`, `value` NULL or valid for their
/// lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_set_setting_secret(
    vault: *const sc_vault,
    caller: *const sc_caller,
    name: *const c_char,
    name_len: usize,
    value: *const u8,
    value_len: usize,
) -> sc_result {
    guard("sc_vault_set_setting_secret", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, name, value) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                text("name", name, name_len)?,
                bytes("value", value, value_len)?,
            )
        };
        vault.run(|v| async move { v.set_setting_secret(caller, name, value).await })?;
        Ok(())
    })
}

/// Clears the settings secret `name`.
///
/// # Safety
///
/// `vault`, `caller` NULL or live; `name` NULL or valid for `name_len`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_clear_setting_secret(
    vault: *const sc_vault,
    caller: *const sc_caller,
    name: *const c_char,
    name_len: usize,
) -> sc_result {
    guard("sc_vault_clear_setting_secret", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, name) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                text("name", name, name_len)?,
            )
        };
        vault.run(|v| async move { v.clear_setting_secret(caller, name).await })?;
        Ok(())
    })
}

/// Whether the settings secret `name` is set (never its value).
///
/// # Safety
///
/// `vault`, `caller` NULL or live; `name` NULL or valid for `name_len`;
/// `is_set_out` NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_setting_secret_is_set(
    vault: *const sc_vault,
    caller: *const sc_caller,
    name: *const c_char,
    name_len: usize,
    is_set_out: *mut bool,
) -> sc_result {
    guard("sc_vault_setting_secret_is_set", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, name, out) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                text("name", name, name_len)?,
                Out::new("is_set_out", is_set_out)?,
            )
        };
        out.write(vault.run(|v| async move { v.setting_secret_is_set(caller, name).await })?);
        Ok(())
    })
}

/// The names of the settings secrets that are set, a JSON array of strings
/// into `buf` (size-query convention).
///
/// # Safety
///
/// `vault`, `caller` NULL or live; `buf` NULL or valid for `buf_len` bytes;
/// `out_len` valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_list_setting_secrets(
    vault: *const sc_vault,
    caller: *const sc_caller,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> sc_result {
    guard("sc_vault_list_setting_secrets", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, out) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                TextOut::new(buf, buf_len, out_len)?,
            )
        };
        let names = vault.run(|v| async move { v.list_setting_secrets(caller).await })?;
        out.json(&names)
    })
}

/// The value of the settings secret `name`, for the host's own code, in a
/// new `sc_secret` (audited).
///
/// # Safety
///
/// `vault`, `caller` NULL or live; `name` NULL or valid for `name_len`;
/// `value_out` NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_read_setting_secret(
    vault: *const sc_vault,
    caller: *const sc_caller,
    name: *const c_char,
    name_len: usize,
    value_out: *mut *mut sc_secret,
) -> sc_result {
    guard("sc_vault_read_setting_secret", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, name, out) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                text("name", name, name_len)?,
                Out::new("value_out", value_out)?,
            )
        };
        let value = vault.run(|v| async move { v.read_setting_secret(caller, name).await })?;
        out.write_box(sc_secret::new(value.expose_secret()));
        Ok(())
    })
}
