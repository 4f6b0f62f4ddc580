//! Webhooks: Standard Webhooks and GitHub signatures as standalone
//! functions (no vault), and the vault's endpoints (outbound) and sources
//! (inbound, with replay protection).

use std::ffi::c_char;

use core_lib::vault::SourceStyle;
use core_lib::webhook::{self, WebhookSecret};
use core_lib::{Error, Timestamp};

use crate::boundary::{
    Fail, IdOut, Out, TextOut, bytes, guard, opt_text, raw_array, sc_str, str_array, text,
};
use crate::caller::{caller_arg, sc_caller, tenant_from};
use crate::result::sc_result;
use crate::secret::sc_secret;
use crate::vault::{sc_vault, vault_arg};

/// One HTTP header of an inbound delivery, borrowed for the call.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct sc_header {
    /// The name (any case).
    pub name: sc_str,
    /// The value.
    pub value: sc_str,
}

/// How an inbound source signs, as `uint32_t` arguments carry it.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum sc_source_style {
    /// Standard Webhooks `v1` (HMAC-SHA256): the sender's `whsec_` secret.
    SC_SOURCE_STANDARD = 1,
    /// Standard Webhooks `v1a` (Ed25519): the sender's `whpk_` public key.
    SC_SOURCE_STANDARD_V1A = 2,
    /// GitHub `X-Hub-Signature-256`: the secret string configured at GitHub.
    SC_SOURCE_GITHUB = 3,
}

fn style_from(n: u32) -> Result<SourceStyle, Fail> {
    match n {
        1 => Ok(SourceStyle::Standard),
        2 => Ok(SourceStyle::StandardV1a),
        3 => Ok(SourceStyle::Github),
        _ => Err(Error::invalid("style", "must be an sc_source_style").into()),
    }
}

/// A buffer that holds any `webhook-signature` value `sc_vault_sign_webhook`
/// writes (two entries during a rotation), with its NUL.
pub const SC_SIGNATURE_SIZE: usize = 256;

/// Up to this many headers are converted on the stack (a delivery has a
/// handful); more go to the heap.
const STACK_HEADERS: usize = 16;

/// The borrowed headers, as the core takes them. (Large on purpose: it
/// lives on the stack for one call, instead of an allocation.)
#[allow(clippy::large_enum_variant)]
enum Pairs<'a> {
    Stack([(&'a str, &'a str); STACK_HEADERS], usize),
    Heap(Vec<(&'a str, &'a str)>),
}

impl<'a> std::ops::Deref for Pairs<'a> {
    type Target = [(&'a str, &'a str)];

    fn deref(&self) -> &Self::Target {
        match self {
            Self::Stack(pairs, n) => pairs.get(..*n).unwrap_or_default(),
            Self::Heap(pairs) => pairs,
        }
    }
}

/// The borrowed headers, checked (UTF-8, no NUL).
///
/// # Safety
///
/// `headers` NULL (with 0) or valid for `count` elements, each valid.
unsafe fn header_pairs<'a>(headers: *const sc_header, count: usize) -> Result<Pairs<'a>, Fail> {
    // SAFETY: the caller's contract, passed on.
    let raw = unsafe { raw_array("headers", headers, count) }?;
    // SAFETY: each element's pointers are valid per the caller.
    let pair = |h: &sc_header| unsafe {
        Ok::<_, Fail>((
            text("headers", h.name.ptr, h.name.len)?,
            text("headers", h.value.ptr, h.value.len)?,
        ))
    };
    if raw.len() <= STACK_HEADERS {
        let mut pairs = [("", ""); STACK_HEADERS];
        for (slot, h) in pairs.iter_mut().zip(raw) {
            *slot = pair(h)?;
        }
        return Ok(Pairs::Stack(pairs, raw.len()));
    }
    raw.iter()
        .map(pair)
        .collect::<Result<_, _>>()
        .map(Pairs::Heap)
}

/// Signs an outbound Standard Webhooks message with the `whsec_` secret
/// `secret`: the `webhook-signature` value (`v1,<base64>`) into `buf`
/// (size-query convention). Send it with `webhook-id: msg_id` and
/// `webhook-timestamp: timestamp` (unix seconds).
///
/// # Safety
///
/// Texts and `payload` NULL or valid for their lengths; `buf` NULL or valid
/// for `buf_len` bytes; `out_len` valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_webhook_sign(
    secret: *const c_char,
    secret_len: usize,
    msg_id: *const c_char,
    msg_id_len: usize,
    timestamp: i64,
    payload: *const u8,
    payload_len: usize,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> sc_result {
    guard("sc_webhook_sign", || {
        // SAFETY: the caller's contract above, for every argument.
        let (secret, msg_id, payload, out) = unsafe {
            (
                text("secret", secret, secret_len)?,
                text("msg_id", msg_id, msg_id_len)?,
                bytes("payload", payload, payload_len)?,
                TextOut::new(buf, buf_len, out_len)?,
            )
        };
        let secret = WebhookSecret::parse(secret)?;
        let signed = webhook::sign(&[&secret], msg_id, timestamp, payload)?;
        out.write(&signed.signature)
    })
}

/// Verifies an inbound Standard Webhooks delivery: its headers (the three
/// `webhook-*` ones must each appear once; others are ignored), the raw
/// body, against any of `secrets` (`whsec_` texts; several during a
/// rotation), at `now` (unix seconds; 5 minutes of tolerance either way).
/// `SC_OK` or `SC_ERR_WEBHOOK_REJECTED` (the message says why). Replay
/// protection is the vault's (`sc_vault_verify_inbound_webhook`).
///
/// # Safety
///
/// Arrays NULL (with 0) or valid for their counts, each element valid;
/// `payload` NULL or valid for `payload_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_webhook_verify(
    secrets: *const sc_str,
    secrets_len: usize,
    headers: *const sc_header,
    headers_len: usize,
    payload: *const u8,
    payload_len: usize,
    now: i64,
) -> sc_result {
    guard("sc_webhook_verify", || {
        // SAFETY: the caller's contract above, for every argument.
        let (secrets, headers, payload) = unsafe {
            (
                raw_array("secrets", secrets, secrets_len)?,
                header_pairs(headers, headers_len)?,
                bytes("payload", payload, payload_len)?,
            )
        };
        let now = Timestamp::from_unix_seconds(now);
        // One secret (the common case) needs no vectors of its own.
        if let [only] = secrets {
            // SAFETY: the element's contract, per the caller.
            let only = unsafe { text("secrets", only.ptr, only.len) }?;
            let secret = WebhookSecret::parse(only)?;
            webhook::verify(&headers, payload, &[&secret], now)?;
            return Ok(());
        }
        // SAFETY: as above.
        let secrets = unsafe { str_array("secrets", secrets.as_ptr(), secrets.len()) }?;
        let secrets = secrets
            .into_iter()
            .map(WebhookSecret::parse)
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&WebhookSecret> = secrets.iter().collect();
        webhook::verify(&headers, payload, &refs, now)?;
        Ok(())
    })
}

/// The GitHub `X-Hub-Signature-256` value (`sha256=<hex>`) of `payload`
/// under `secret` (the raw bytes of the configured string) into `buf`
/// (size-query convention).
///
/// # Safety
///
/// `payload`, `secret` NULL or valid for their lengths; `buf` NULL or valid
/// for `buf_len` bytes; `out_len` valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_webhook_sign_github(
    payload: *const u8,
    payload_len: usize,
    secret: *const u8,
    secret_len: usize,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> sc_result {
    guard("sc_webhook_sign_github", || {
        // SAFETY: the caller's contract above, for every argument.
        let (payload, secret, out) = unsafe {
            (
                bytes("payload", payload, payload_len)?,
                bytes("secret", secret, secret_len)?,
                TextOut::new(buf, buf_len, out_len)?,
            )
        };
        out.write(&webhook::sign_github(payload, secret))
    })
}

/// Verifies a GitHub `X-Hub-Signature-256` header value for `payload`
/// under `secret`: `SC_OK` or `SC_ERR_WEBHOOK_REJECTED`.
///
/// # Safety
///
/// All NULL or valid for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_webhook_verify_github(
    signature: *const c_char,
    signature_len: usize,
    payload: *const u8,
    payload_len: usize,
    secret: *const u8,
    secret_len: usize,
) -> sc_result {
    guard("sc_webhook_verify_github", || {
        // SAFETY: the caller's contract above, for every argument.
        let (signature, payload, secret) = unsafe {
            (
                text("signature", signature, signature_len)?,
                bytes("payload", payload, payload_len)?,
                bytes("secret", secret, secret_len)?,
            )
        };
        webhook::verify_github(signature, payload, secret)?;
        Ok(())
    })
}

/// Registers an outbound endpoint at `url` (https) with a fresh signing
/// secret: its id into `id_buf` (at least `SC_ID_SIZE` bytes), the `whsec_`
/// secret, shown once, in a new `sc_secret`. Needs `settings:manage`.
///
/// # Safety
///
/// `vault`, `caller` NULL or live; texts NULL or valid for their lengths;
/// `id_buf` NULL or valid for `id_buf_len`; `secret_out` NULL or valid for
/// one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_register_webhook_endpoint(
    vault: *const sc_vault,
    caller: *const sc_caller,
    url: *const c_char,
    url_len: usize,
    description: *const c_char,
    description_len: usize,
    id_buf: *mut c_char,
    id_buf_len: usize,
    secret_out: *mut *mut sc_secret,
) -> sc_result {
    guard("sc_vault_register_webhook_endpoint", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, url, description, id, secret) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                text("url", url, url_len)?,
                text("description", description, description_len)?,
                IdOut::new(id_buf, id_buf_len)?,
                Out::new("secret_out", secret_out)?,
            )
        };
        let ep = vault
            .run(|v| async move { v.register_webhook_endpoint(caller, url, description).await })?;
        id.write(&ep.id)?;
        secret.write_box(sc_secret::new(ep.secret.expose_secret().as_bytes()));
        Ok(())
    })
}

/// Signs `payload` for endpoint `endpoint` as message `msg_id`, now: the
/// timestamp into `*timestamp_out`, the `webhook-signature` value into
/// `buf`, which must hold `SC_SIGNATURE_SIZE` bytes (checked before
/// signing, as the signing is audited); `*out_len` receives the size used.
///
/// # Safety
///
/// `vault`, `caller` NULL or live; texts and `payload` NULL or valid for
/// their lengths; `timestamp_out` NULL or valid for one write; `buf` NULL
/// or valid for `buf_len` bytes; `out_len` valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_sign_webhook(
    vault: *const sc_vault,
    caller: *const sc_caller,
    endpoint: *const c_char,
    endpoint_len: usize,
    msg_id: *const c_char,
    msg_id_len: usize,
    payload: *const u8,
    payload_len: usize,
    timestamp_out: *mut i64,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> sc_result {
    guard("sc_vault_sign_webhook", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, endpoint, msg_id, payload, timestamp, out) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                text("endpoint", endpoint, endpoint_len)?,
                text("msg_id", msg_id, msg_id_len)?,
                bytes("payload", payload, payload_len)?,
                Out::new("timestamp_out", timestamp_out)?,
                TextOut::new(buf, buf_len, out_len)?,
            )
        };
        let out = out.require(SC_SIGNATURE_SIZE)?;
        let signed = vault
            .run(|v| async move { v.sign_webhook(caller, endpoint, msg_id, payload).await })?;
        timestamp.write(signed.timestamp);
        out.write(&signed.signature)
    })
}

/// Registers (or replaces) inbound source `source` of style `style` (an
/// `sc_source_style`) with its key: the sender's `whsec_` secret, `whpk_`
/// public key, or GitHub secret string. Needs `settings:manage`.
///
/// # Safety
///
/// `vault`, `caller` NULL or live; texts NULL or valid for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_register_webhook_source(
    vault: *const sc_vault,
    caller: *const sc_caller,
    source: *const c_char,
    source_len: usize,
    style: u32,
    secret: *const c_char,
    secret_len: usize,
) -> sc_result {
    guard("sc_vault_register_webhook_source", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, source, secret) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                text("source", source, source_len)?,
                text("secret", secret, secret_len)?,
            )
        };
        let style = style_from(style)?;
        vault.run(|v| async move {
            v.register_webhook_source(caller, source, style, secret)
                .await
        })?;
        Ok(())
    })
}

/// Verifies an inbound delivery from source `source` of `tenant` (UUID
/// text): signature by the source's style, timestamp tolerance, and replay
/// protection (the same delivery twice is refused). `SC_OK` when it
/// verified and was not seen before; `SC_ERR_WEBHOOK_REJECTED` otherwise
/// (audited with the reason). `source_addr` is optional (NULL).
///
/// # Safety
///
/// `vault` NULL or live; texts and `payload` NULL or valid for their
/// lengths; `headers` NULL (with 0) or valid for `headers_len` elements.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_verify_inbound_webhook(
    vault: *const sc_vault,
    tenant: *const c_char,
    tenant_len: usize,
    source: *const c_char,
    source_len: usize,
    headers: *const sc_header,
    headers_len: usize,
    payload: *const u8,
    payload_len: usize,
    source_addr: *const c_char,
    source_addr_len: usize,
) -> sc_result {
    guard("sc_vault_verify_inbound_webhook", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, tenant, source, headers, payload, addr) = unsafe {
            (
                vault_arg(vault)?,
                text("tenant", tenant, tenant_len)?,
                text("source", source, source_len)?,
                header_pairs(headers, headers_len)?,
                bytes("payload", payload, payload_len)?,
                opt_text("source_addr", source_addr, source_addr_len)?,
            )
        };
        let tenant = tenant_from(tenant)?;
        vault.run(|v| async move {
            v.verify_inbound_webhook(tenant, source, &headers, payload, addr)
                .await
        })?;
        Ok(())
    })
}
