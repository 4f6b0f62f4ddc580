//! `audit verify` and `audit checkpoint`: the core verifies; this walks the
//! tenants and reports each.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use secrets_core::audit::Checkpoint;
use secrets_core::vault::{Caller, Vault};
use secrets_core::{Error, TenantId};

use crate::args::{AuditCheckpoint, AuditVerify, Global};
use crate::commands::{SOURCE, all_tenants, write_file};
use crate::exit::{Exit, Failure, exit_for};
use crate::open;
use crate::output::Report;

/// The checkpoint file: `{"checkpoints": [Checkpoint, ...]}`.
#[derive(serde::Serialize, serde::Deserialize)]
struct CheckpointFile {
    checkpoints: Vec<Checkpoint>,
}

fn caller(tenant: TenantId) -> Caller {
    Caller::system(tenant).with_source(SOURCE)
}

/// One tenant's verification, as reported: a finding for the errors that
/// are integrity findings (exit 3), the error itself for anything else.
fn tenant_result(
    tenant: TenantId,
    result: secrets_core::Result<secrets_core::audit::ChainSummary>,
) -> Result<(Value, String, bool), Failure> {
    match result {
        Ok(summary) => Ok((
            json!({"tenant": tenant, "ok": true, "events": summary.count}),
            format!("tenant {tenant}: ok, {} events", summary.count),
            true,
        )),
        Err(Error::AuditChainBroken { seq, reason }) => Ok((
            json!({"tenant": tenant, "ok": false, "seq": seq, "reason": reason.code(),
                   "message": reason.as_str()}),
            format!("tenant {tenant}: BROKEN at seq {seq}: {reason}"),
            false,
        )),
        Err(e) if exit_for(e.kind()) == Exit::Integrity => Ok((
            json!({"tenant": tenant, "ok": false, "reason": e.kind().code(),
                   "message": e.to_string()}),
            format!("tenant {tenant}: FAILED: {e}"),
            false,
        )),
        Err(e) => Err(e.into()),
    }
}

/// Verifies every tenant's chain (or `--tenant`'s), against the
/// checkpoints of `--checkpoint` where one is given. Exit 3 on a finding.
pub(crate) async fn verify(g: &Global, args: &AuditVerify) -> Result<Report, Failure> {
    let (opened, vault) = open::vault(g, false).await?;
    let checkpoints = match &args.checkpoint {
        Some(path) => read_checkpoints(path)?,
        None => BTreeMap::new(),
    };
    let tenants = match args.tenant {
        Some(t) => vec![t],
        None => {
            let mut all = all_tenants(opened.store().as_ref()).await?;
            // A checkpointed tenant that is gone is a finding, not a skip.
            for t in checkpoints.keys() {
                if !all.contains(t) {
                    all.push(*t);
                }
            }
            all
        }
    };
    let mut results = Vec::new();
    let mut lines = Vec::new();
    let mut findings = 0u64;
    for tenant in tenants {
        let (value, line, ok) = verify_one(&vault, tenant, checkpoints.get(&tenant)).await?;
        if !ok {
            findings += 1;
        }
        results.push(value);
        lines.push(line);
    }
    if lines.is_empty() {
        lines.push("no tenants in the store".to_owned());
    }
    let report = Report::ok(
        json!({"tenants": results, "findings": findings}),
        lines.join("\n"),
    );
    Ok(if findings > 0 {
        report.exit(Exit::Integrity)
    } else {
        report
    })
}

async fn verify_one(
    vault: &Vault,
    tenant: TenantId,
    checkpoint: Option<&Checkpoint>,
) -> Result<(Value, String, bool), Failure> {
    let result = match checkpoint {
        Some(cp) => vault.verify_checkpoint(&caller(tenant), cp).await,
        None => vault.verify_audit_log(&caller(tenant)).await,
    };
    let (mut value, mut line, ok) = tenant_result(tenant, result)?;
    if let (Some(cp), Some(obj)) = (checkpoint, value.as_object_mut()) {
        obj.insert("checkpoint_events".into(), json!(cp.count));
        if ok {
            line.push_str(&format!(" (checkpoint of {} events holds)", cp.count));
        }
    }
    Ok((value, line, ok))
}

/// Reads a checkpoint file, by tenant.
fn read_checkpoints(path: &std::path::Path) -> Result<BTreeMap<TenantId, Checkpoint>, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::Io(format!(
            "could not read the checkpoint file `{}`: {e}",
            path.display()
        ))
    })?;
    let file: CheckpointFile = serde_json::from_str(&text).map_err(|e| {
        Failure::Core(Error::invalid(
            "checkpoint file",
            format!(
                "`{}` is not a checkpoint file written by `audit checkpoint` (line {}, column {})",
                path.display(),
                e.line(),
                e.column()
            ),
        ))
    })?;
    Ok(file
        .checkpoints
        .into_iter()
        .map(|cp| (cp.tenant, cp))
        .collect())
}

/// Verifies each tenant's log and writes a signed checkpoint of each to
/// `--out`. Nothing is written if a log does not verify.
pub(crate) async fn checkpoint(g: &Global, args: &AuditCheckpoint) -> Result<Report, Failure> {
    let (opened, vault) = open::vault(g, false).await?;
    let tenants = match args.tenant {
        Some(t) => vec![t],
        None => all_tenants(opened.store().as_ref()).await?,
    };
    let mut checkpoints = Vec::new();
    for tenant in tenants {
        checkpoints.push(vault.audit_checkpoint(&caller(tenant)).await?);
    }
    let file = CheckpointFile { checkpoints };
    let mut bytes = serde_json::to_vec_pretty(&file)
        .map_err(|e| Failure::Io(format!("could not encode the checkpoints: {e}")))?;
    bytes.push(b'\n');
    write_file(&args.out, args.force, &bytes)?;
    let summary: Vec<Value> = file
        .checkpoints
        .iter()
        .map(|cp| json!({"tenant": cp.tenant, "events": cp.count}))
        .collect();
    let path = args.out.display().to_string();
    let text = format!(
        "wrote {} checkpoints to {path}; keep it off the database host and check it later \
         with `audit verify --checkpoint {path}`",
        file.checkpoints.len()
    );
    Ok(Report::ok(
        json!({"file": path, "checkpoints": summary}),
        text,
    ))
}
