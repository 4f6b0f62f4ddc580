//! Password login, refresh and logout.

use std::ffi::c_char;

use core_lib::SecretString;
use core_lib::vault::Session;

use crate::boundary::{Out, guard, opt_text, text};
use crate::caller::tenant_from;
use crate::result::sc_result;
use crate::secret::sc_secret;
use crate::vault::{sc_vault, vault_arg};

fn hand_out(session: &Session, access: Out<*mut sc_secret>, refresh: Out<*mut sc_secret>) {
    access.write_box(sc_secret::new(
        session.access_token.expose_secret().as_bytes(),
    ));
    refresh.write_box(sc_secret::new(
        session.refresh_token.expose_secret().as_bytes(),
    ));
}

/// Logs `login` in to `tenant` (UUID text) with `password`: a short-lived
/// access token (a JWT, for `Authorization: Bearer`) and a refresh token,
/// each in a new `sc_secret`. Every failure is `SC_ERR_INVALID_CREDENTIALS`,
/// whatever the cause. `source` is optional (NULL).
///
/// # Safety
///
/// `vault` NULL or live; each text NULL or valid for its length; the two
/// outputs NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_login(
    vault: *const sc_vault,
    tenant: *const c_char,
    tenant_len: usize,
    login: *const c_char,
    login_len: usize,
    password: *const c_char,
    password_len: usize,
    source: *const c_char,
    source_len: usize,
    access_out: *mut *mut sc_secret,
    refresh_out: *mut *mut sc_secret,
) -> sc_result {
    guard("sc_vault_login", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, tenant, login, password, source, access, refresh) = unsafe {
            (
                vault_arg(vault)?,
                text("tenant", tenant, tenant_len)?,
                text("login", login, login_len)?,
                text("password", password, password_len)?,
                opt_text("source", source, source_len)?,
                Out::new("access_out", access_out)?,
                Out::new("refresh_out", refresh_out)?,
            )
        };
        let tenant = tenant_from(tenant)?;
        let password = SecretString::from(password);
        let session =
            vault.run(|v| async move { v.login(tenant, login, &password, source).await })?;
        hand_out(&session, access, refresh);
        Ok(())
    })
}

/// Trades a refresh token for a new access token and a new refresh token
/// (the old one is used up; replaying it revokes the login).
///
/// # Safety
///
/// As `sc_vault_login`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_refresh(
    vault: *const sc_vault,
    refresh_token: *const c_char,
    refresh_token_len: usize,
    source: *const c_char,
    source_len: usize,
    access_out: *mut *mut sc_secret,
    refresh_out: *mut *mut sc_secret,
) -> sc_result {
    guard("sc_vault_refresh", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, token, source, access, refresh) = unsafe {
            (
                vault_arg(vault)?,
                text("refresh_token", refresh_token, refresh_token_len)?,
                opt_text("source", source, source_len)?,
                Out::new("access_out", access_out)?,
                Out::new("refresh_out", refresh_out)?,
            )
        };
        let session = vault.run(|v| async move { v.refresh(token, source).await })?;
        hand_out(&session, access, refresh);
        Ok(())
    })
}

/// Ends the login of a refresh token (its whole family).
///
/// # Safety
///
/// `vault` NULL or live; each text NULL or valid for its length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_logout(
    vault: *const sc_vault,
    refresh_token: *const c_char,
    refresh_token_len: usize,
    source: *const c_char,
    source_len: usize,
) -> sc_result {
    guard("sc_vault_logout", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, token, source) = unsafe {
            (
                vault_arg(vault)?,
                text("refresh_token", refresh_token, refresh_token_len)?,
                opt_text("source", source, source_len)?,
            )
        };
        vault.run(|v| async move { v.logout(token, source).await })?;
        Ok(())
    })
}
