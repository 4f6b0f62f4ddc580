//! The deploy gate through the Vault: evaluations are audited, and letting a
//! held deploy through needs its own permission.

use crate::audit::Outcome;
use crate::error::{Error, Result};
use crate::gate::{self, Finding, LintResult, Profile, Verdict};
use crate::rbac::Permission;
use crate::store::Batch;
use crate::vault::{Caller, Vault};

impl Vault {
    /// Evaluates a deploy's findings and lints under `profile` and records
    /// the verdict in the audit log. Needs `apps:read`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::InvalidInput`] for a bad deploy id.
    pub async fn evaluate_deploy(
        &self,
        caller: &Caller,
        deploy: &str,
        profile: Profile,
        findings: &[Finding],
        lints: &[LintResult],
    ) -> Result<Verdict> {
        check_deploy(deploy)?;
        let target = format!("deploy/{deploy}");
        self.authorize(caller, Permission::ReadApps, "gate.evaluate", &target)
            .await?;
        let verdict = gate::evaluate(profile, findings, lints);
        let (decision, count) = match &verdict {
            Verdict::Proceed { warnings } => ("proceed", warnings.len()),
            Verdict::Hold { reasons, .. } => ("hold", reasons.len()),
        };
        let draft = self
            .draft(caller, "gate.evaluate", &target)
            .detail("profile", format!("{profile:?}").to_lowercase())
            .detail("decision", decision)
            .detail("reasons", count.to_string());
        self.write(caller.tenant, Batch::new(draft)).await?;
        Ok(verdict)
    }

    /// Lets a held deploy proceed. Needs `gate:override` (Admins); the
    /// justification is recorded in the audit log, and so is a refusal.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::InvalidInput`] for an empty
    /// justification or a bad deploy id.
    pub async fn override_gate(
        &self,
        caller: &Caller,
        deploy: &str,
        justification: &str,
    ) -> Result<()> {
        check_deploy(deploy)?;
        let justification = justification.trim();
        if justification.is_empty() || justification.len() > 1000 {
            return Err(Error::invalid(
                "justification",
                "must be 1 to 1000 bytes: say why the hold is safe to lift",
            ));
        }
        let target = format!("deploy/{deploy}");
        self.authorize(
            caller,
            Permission::OverrideDeployGate,
            "gate.override",
            &target,
        )
        .await?;
        let draft = self
            .draft(caller, "gate.override", &target)
            .outcome(Outcome::Allowed)
            .detail("justification", justification);
        self.write(caller.tenant, Batch::new(draft)).await.map(drop)
    }
}

fn check_deploy(deploy: &str) -> Result<()> {
    crate::store::records::check_app_name(deploy).map_err(|_| {
        Error::invalid(
            "deploy",
            "must be 1 to 64 letters, digits, `-`, `_` or `.`, starting with a letter or digit",
        )
    })
}
