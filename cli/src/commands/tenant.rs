//! `tenant export` and `tenant erase`.

use serde_json::json;

use secrets_core::store::StoreExt as _;

use secrets_core::vault::Caller;

use crate::args::{Global, TenantErase, TenantExport, TenantProtect};
use crate::commands::SOURCE;
use crate::commands::create_file;
use crate::exit::Failure;
use crate::input;
use crate::open;
use crate::output::Report;

/// Writes one tenant as JSON lines (the core's export format) to a new
/// 0600 file. The master key is checked first (a wrong key exports
/// nothing).
pub(crate) async fn export(g: &Global, args: &TenantExport) -> Result<Report, Failure> {
    let (opened, _vault) = open::vault(g, false).await?;
    let file = create_file(&args.out, args.force)?;
    let mut out = tokio::fs::File::from_std(file);
    let lines = opened.store().export_jsonl(args.tenant, &mut out).await?;
    out.sync_all()
        .await
        .map_err(|e| Failure::Io(format!("could not write `{}`: {e}", args.out.display())))?;
    let path = args.out.display().to_string();
    Ok(Report::ok(
        json!({"tenant": args.tenant, "file": path, "lines": lines}),
        format!("exported tenant {} to {path} ({lines} lines)", args.tenant),
    ))
}

/// Erases a tenant after a typed confirmation (unless `--yes`), with its
/// data keys (in the key store too, with `--key-store`). The store refuses
/// while deletion protection is on (`deletion_protected`, exit 4).
pub(crate) async fn erase(g: &Global, args: &TenantErase) -> Result<Report, Failure> {
    let (_, vault) = open::vault(g, false).await?;
    let tenant = args.tenant.to_string();
    if !g.yes {
        input::confirm(
            &format!("erase tenant {tenant} and everything it owns"),
            &tenant,
        )?;
    }
    let caller = Caller::system(args.tenant).with_source(SOURCE);
    vault.erase_tenant(&caller).await?;
    Ok(Report::ok(
        json!({"erased": args.tenant}),
        format!("erased tenant {tenant}"),
    ))
}

/// Turns a tenant's deletion protection on or off (audited by the core).
pub(crate) async fn protect(g: &Global, args: &TenantProtect) -> Result<Report, Failure> {
    let (_, vault) = open::vault(g, false).await?;
    let on = !args.off;
    let caller = Caller::system(args.tenant).with_source(SOURCE);
    vault.set_deletion_protection(&caller, on).await?;
    Ok(Report::ok(
        json!({"tenant": args.tenant, "deletion_protection": on}),
        format!(
            "tenant {}: deletion protection {}",
            args.tenant,
            if on { "on" } else { "off" }
        ),
    ))
}
