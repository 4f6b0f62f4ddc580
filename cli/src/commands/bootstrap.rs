//! `bootstrap`: the first tenant and its first Admin.

use serde_json::json;

use secrets_core::TenantId;

use crate::args::{Bootstrap, Global};
use crate::commands::SOURCE;
use crate::exit::Failure;
use crate::input;
use crate::open;
use crate::output::Report;

/// Creates the tenant (if new) and its first Admin; refused by the core
/// (`already_exists`, exit 4) once the tenant has a user.
pub(crate) async fn bootstrap(g: &Global, args: &Bootstrap) -> Result<Report, Failure> {
    let (_, vault) = open::vault(g, true).await?;
    let password = if input::stdin_is_terminal() {
        input::prompt_twice("password")?
    } else {
        input::required_stdin_line("password")?
    };
    let tenant = args.tenant.unwrap_or(TenantId::DEFAULT);
    let user = vault
        .bootstrap(
            tenant,
            &args.tenant_name,
            &args.login,
            &password,
            Some(SOURCE),
        )
        .await?;
    Ok(Report::ok(
        json!({"tenant": tenant, "user": user, "login": args.login}),
        format!(
            "tenant {tenant}: first Admin `{}` created (user {user})",
            args.login
        ),
    ))
}
