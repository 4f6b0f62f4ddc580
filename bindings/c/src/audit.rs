//! The audit log (events, chain verification, checkpoints), pruning, the
//! deploy gate, and the token leak scanner.

use std::ffi::c_char;

use core_lib::Error;
use core_lib::audit::Checkpoint;
use core_lib::gate::{self, Finding, LintResult, Profile, Verdict};
use core_lib::store::AuditQuery;
use core_lib::token::{self, TokenFormat};

use crate::boundary::{Fail, Out, TextOut, guard, opt_text, parse_json, sc_str, str_array, text};
use crate::caller::{caller_arg, sc_caller};
use crate::result::sc_result;
use crate::vault::{sc_vault, vault_arg};

/// The tenant's audit events matching `query_json` (NULL for the first
/// page of everything; else a JSON object with any of `actor`, `action`,
/// `target`, `from`, `until` (RFC 3339), `after_seq`, `limit`) as a JSON
/// array into `buf` (size-query convention). Needs `audit:read`.
///
/// # Safety
///
/// `vault`, `caller` NULL or live; `query_json` NULL or valid for its
/// length; `buf` NULL or valid for `buf_len` bytes; `out_len` valid for one
/// write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_audit_events(
    vault: *const sc_vault,
    caller: *const sc_caller,
    query_json: *const c_char,
    query_json_len: usize,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> sc_result {
    guard("sc_vault_audit_events", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, query, out) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                opt_text("query_json", query_json, query_json_len)?,
                TextOut::new(buf, buf_len, out_len)?,
            )
        };
        let query: AuditQuery = match query {
            Some(q) => parse_json("query_json", q)?,
            None => AuditQuery::default(),
        };
        let events = vault.run(|v| async move { v.audit_events(caller, &query).await })?;
        out.json(&events)
    })
}

/// Verifies the tenant's whole audit chain; `*count_out` receives the
/// number of events verified. `SC_ERR_AUDIT_CHAIN_BROKEN` names where it
/// breaks. Needs `audit:read`.
///
/// # Safety
///
/// `vault`, `caller` NULL or live; `count_out` NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_verify_audit_log(
    vault: *const sc_vault,
    caller: *const sc_caller,
    count_out: *mut u64,
) -> sc_result {
    guard("sc_vault_verify_audit_log", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, out) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                Out::new("count_out", count_out)?,
            )
        };
        let summary = vault.run(|v| async move { v.verify_audit_log(caller).await })?;
        out.write(summary.count);
        Ok(())
    })
}

/// Verifies the log and writes a signed checkpoint of its length and head,
/// as JSON, into `buf` (size-query convention; each call takes a new
/// checkpoint of the same size). Keep it off the database host.
///
/// # Safety
///
/// `vault`, `caller` NULL or live; `buf` NULL or valid for `buf_len` bytes;
/// `out_len` valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_audit_checkpoint(
    vault: *const sc_vault,
    caller: *const sc_caller,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> sc_result {
    guard("sc_vault_audit_checkpoint", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, out) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                TextOut::new(buf, buf_len, out_len)?,
            )
        };
        let checkpoint = vault.run(|v| async move { v.audit_checkpoint(caller).await })?;
        out.json(&checkpoint)
    })
}

/// Verifies the log against a checkpoint from `sc_vault_audit_checkpoint`
/// (its JSON): the log must still hold, unchanged, every event the
/// checkpoint covered. `*count_out` receives the events verified now.
///
/// # Safety
///
/// `vault`, `caller` NULL or live; `checkpoint_json` NULL or valid for its
/// length; `count_out` NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_verify_checkpoint(
    vault: *const sc_vault,
    caller: *const sc_caller,
    checkpoint_json: *const c_char,
    checkpoint_json_len: usize,
    count_out: *mut u64,
) -> sc_result {
    guard("sc_vault_verify_checkpoint", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, json, out) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                text("checkpoint_json", checkpoint_json, checkpoint_json_len)?,
                Out::new("count_out", count_out)?,
            )
        };
        let checkpoint: Checkpoint = parse_json("checkpoint_json", json)?;
        let summary =
            vault.run(|v| async move { v.verify_checkpoint(caller, &checkpoint).await })?;
        out.write(summary.count);
        Ok(())
    })
}

/// Deletes the tenant's expired and revoked tokens past their retention;
/// `*deleted_out` receives how many rows went.
///
/// # Safety
///
/// `vault`, `caller` NULL or live; `deleted_out` NULL or valid for one
/// write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_prune(
    vault: *const sc_vault,
    caller: *const sc_caller,
    deleted_out: *mut u64,
) -> sc_result {
    guard("sc_vault_prune", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, out) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                Out::new("deleted_out", deleted_out)?,
            )
        };
        let report = vault.run(|v| async move { v.prune(caller).await })?;
        out.write(report.deleted);
        Ok(())
    })
}

/// A deploy-gate profile, as `uint32_t` arguments carry it.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum sc_gate_profile {
    /// Never holds; reports critical and high findings and failing lints.
    SC_GATE_STANDARD = 1,
    /// Holds on any critical finding or failing lint.
    SC_GATE_HARDENED = 2,
}

/// The gate's decision, as `uint32_t` outputs carry it.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum sc_gate_decision {
    /// Deploy.
    SC_GATE_PROCEED = 1,
    /// Hold the deploy for review.
    SC_GATE_HOLD = 2,
}

fn profile_from(n: u32) -> Result<Profile, Fail> {
    match n {
        1 => Ok(Profile::Standard),
        2 => Ok(Profile::Hardened),
        _ => Err(Error::invalid("profile", "must be an sc_gate_profile").into()),
    }
}

fn decision(verdict: &Verdict) -> u32 {
    let d = if verdict.is_hold() {
        sc_gate_decision::SC_GATE_HOLD
    } else {
        sc_gate_decision::SC_GATE_PROCEED
    };
    d as u32
}

fn gate_inputs(findings: &str, lints: &str) -> Result<(Vec<Finding>, Vec<LintResult>), Fail> {
    Ok((
        parse_json("findings_json", findings)?,
        parse_json("lints_json", lints)?,
    ))
}

/// The deploy gate alone (no vault, nothing audited): `findings_json` (a
/// JSON array of `{"id","package","severity","title"}`) and `lints_json` (a
/// JSON array of `{"name","passed","message"}`) under `profile` (an
/// `sc_gate_profile`). `*decision_out` receives an `sc_gate_decision`; the
/// verdict as JSON (`{"decision","reasons","warnings"}`) goes into `buf`
/// (size-query convention).
///
/// # Safety
///
/// Texts NULL or valid for their lengths; `decision_out` NULL or valid for
/// one write; `buf` NULL or valid for `buf_len`; `out_len` valid for one
/// write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_gate_evaluate(
    profile: u32,
    findings_json: *const c_char,
    findings_json_len: usize,
    lints_json: *const c_char,
    lints_json_len: usize,
    decision_out: *mut u32,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> sc_result {
    guard("sc_gate_evaluate", || {
        // SAFETY: the caller's contract above, for every argument.
        let (findings, lints, decision_out, out) = unsafe {
            (
                text("findings_json", findings_json, findings_json_len)?,
                text("lints_json", lints_json, lints_json_len)?,
                Out::new("decision_out", decision_out)?,
                TextOut::new(buf, buf_len, out_len)?,
            )
        };
        let profile = profile_from(profile)?;
        let (findings, lints) = gate_inputs(findings, lints)?;
        let verdict = gate::evaluate(profile, &findings, &lints);
        out.json(&verdict)?;
        decision_out.write(decision(&verdict));
        Ok(())
    })
}

/// The deploy gate through the vault, for deploy `deploy`: as
/// `sc_gate_evaluate`, audited (a hold is recorded for the override);
/// `*decision_out` receives an `sc_gate_decision` (the reasons are in the
/// audit event, or from `sc_gate_evaluate`).
///
/// # Safety
///
/// `vault`, `caller` NULL or live; texts NULL or valid for their lengths;
/// `decision_out` NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_evaluate_deploy(
    vault: *const sc_vault,
    caller: *const sc_caller,
    deploy: *const c_char,
    deploy_len: usize,
    profile: u32,
    findings_json: *const c_char,
    findings_json_len: usize,
    lints_json: *const c_char,
    lints_json_len: usize,
    decision_out: *mut u32,
) -> sc_result {
    guard("sc_vault_evaluate_deploy", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, deploy, findings, lints, out) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                text("deploy", deploy, deploy_len)?,
                text("findings_json", findings_json, findings_json_len)?,
                text("lints_json", lints_json, lints_json_len)?,
                Out::new("decision_out", decision_out)?,
            )
        };
        let profile = profile_from(profile)?;
        let (findings, lints) = gate_inputs(findings, lints)?;
        let verdict = vault.run(|v| async move {
            v.evaluate_deploy(caller, deploy, profile, &findings, &lints)
                .await
        })?;
        out.write(decision(&verdict));
        Ok(())
    })
}

/// Overrides a held deploy, with a justification (audited). Needs the
/// override permission (Admins).
///
/// # Safety
///
/// `vault`, `caller` NULL or live; texts NULL or valid for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_override_gate(
    vault: *const sc_vault,
    caller: *const sc_caller,
    deploy: *const c_char,
    deploy_len: usize,
    justification: *const c_char,
    justification_len: usize,
) -> sc_result {
    guard("sc_vault_override_gate", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller, deploy, justification) = unsafe {
            (
                vault_arg(vault)?,
                caller_arg(caller)?,
                text("deploy", deploy, deploy_len)?,
                text("justification", justification, justification_len)?,
            )
        };
        vault.run(|v| async move { v.override_gate(caller, deploy, justification).await })?;
        Ok(())
    })
}

/// Finds leaked tokens in `text_ptr` (logs, a commit): tokens of the formats
/// with the given prefixes (NULL and 0 for the defaults `scp`, `sca`,
/// `scr`) whose checksum is right. A JSON array of `{"start","end",
/// "prefix","display_prefix"}` (byte offsets; never the token) goes into
/// `buf` (size-query convention).
///
/// # Safety
///
/// `text_ptr` NULL or valid for `text_len`; `prefixes` NULL (with 0) or valid
/// for `prefixes_len` elements; `buf` NULL or valid for `buf_len`;
/// `out_len` valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_token_scan(
    text_ptr: *const c_char,
    text_len: usize,
    prefixes: *const sc_str,
    prefixes_len: usize,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> sc_result {
    guard("sc_token_scan", || {
        // SAFETY: the caller's contract above, for every argument.
        let (scanned, prefixes, out) = unsafe {
            (
                text("text", text_ptr, text_len)?,
                str_array("prefixes", prefixes, prefixes_len)?,
                TextOut::new(buf, buf_len, out_len)?,
            )
        };
        let formats = if prefixes.is_empty() {
            vec![
                TokenFormat::api(),
                TokenFormat::agent(),
                TokenFormat::refresh(),
            ]
        } else {
            prefixes
                .into_iter()
                .map(TokenFormat::new)
                .collect::<Result<Vec<_>, _>>()?
        };
        let refs: Vec<&TokenFormat> = formats.iter().collect();
        let found: Vec<serde_json::Value> = token::scan_all(scanned, &refs)
            .iter()
            .map(|f| {
                serde_json::json!({
                    "start": f.range().start,
                    "end": f.range().end,
                    "prefix": f.prefix(),
                    "display_prefix": f.display_prefix(),
                })
            })
            .collect();
        out.json(&found)
    })
}
