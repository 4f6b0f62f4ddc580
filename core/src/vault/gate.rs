//! The deploy gate through the Vault: every evaluation is recorded (a row
//! per deploy, with its audit event), and letting a held deploy through
//! needs its own permission and a recorded hold that has not been lifted
//! yet.

use std::time::Duration;

use crate::audit::Outcome;
use crate::error::{Error, Result};
use crate::gate::{self, Finding, LintResult, Profile, Verdict};
use crate::rbac::Permission;
use crate::store::records::{DeployEvaluation, GateOverride};
use crate::store::retry::{Race, retry};
use crate::store::{Batch, Change, Record, StoreExt};
use crate::vault::{Caller, Vault};

/// How long an evaluation can be overridden: after that, evaluate the
/// deploy again (its findings may have changed).
const EVALUATION_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

impl Vault {
    /// Evaluates a deploy's findings and lints under `profile`, records the
    /// evaluation (verdict and reasons, replacing any earlier one of the
    /// same deploy, and with it any override) and audits it. Needs
    /// `apps:read`.
    ///
    /// `deploy` is the host's id of the deploy, a
    /// [`DeployId`](crate::names::DeployId): 1 to 64 ASCII letters, digits,
    /// `-`, `_` or `.`, starting with a letter or digit (`web-api-1842`).
    /// The record keeps the first 32 reasons, each cut to 512 bytes, and
    /// their count; it can be overridden for 30 days.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`]; [`Error::InvalidInput`] for a bad deploy id;
    /// the store's errors.
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
        let (decision, lines) = match &verdict {
            Verdict::Proceed { warnings } => ("proceed", warnings),
            Verdict::Hold { reasons, .. } => ("hold", reasons),
        };
        let now = self.now();
        let record = DeployEvaluation {
            deploy: deploy.to_owned(),
            profile,
            held: verdict.is_hold(),
            reasons: lines
                .iter()
                .take(DeployEvaluation::MAX_REASONS)
                .map(|r| cut(r, DeployEvaluation::MAX_REASON_LEN))
                .collect(),
            reason_count: lines.len() as u64,
            evaluated_by: caller.actor.clone(),
            evaluated_at: now,
            expires_at: now.saturating_add(EVALUATION_LIFETIME),
            overridden: None,
        };
        retry("the deploy's evaluation", Race::Upsert, || async {
            let change = self.upsert(caller.tenant, record.to_row(None)?).await?;
            let draft = self
                .draft(caller, "gate.evaluate", &target)
                .detail("profile", format!("{profile:?}").to_lowercase())
                .detail("decision", decision)
                .detail("reasons", lines.len().to_string());
            self.write(caller.tenant, Batch::new(draft).with(change))
                .await?;
            Ok(())
        })
        .await?;
        Ok(verdict)
    }

    /// Lets a held deploy proceed. Needs `gate:override` (Admins), and a
    /// recorded hold: the deploy's latest evaluation held it, is less than
    /// 30 days old, and has not been overridden yet (a new evaluation that
    /// holds needs a new override). `deploy` is a
    /// [`DeployId`](crate::names::DeployId), as for
    /// [`evaluate_deploy`](Self::evaluate_deploy). The justification is
    /// recorded on the evaluation and in the audit log; every refusal is
    /// audited.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] without the permission, or for a deploy that was
    /// not evaluated, was not held, whose evaluation expired, or whose hold
    /// was already overridden; [`Error::InvalidInput`] for a justification
    /// that is empty (after trimming) or over 1,000 bytes, or a bad deploy
    /// id; the store's errors.
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
        let tenant = caller.tenant;
        // A concurrent override or evaluation (the row changed or went):
        // decide again on what is stored now.
        retry("the deploy's evaluation", Race::Vanishing, || async {
            let now = self.now();
            let stored = self
                .inner
                .store
                .get_record::<DeployEvaluation>(tenant, deploy)
                .await?;
            let refusal = match &stored {
                None => Some("deploy was not evaluated"),
                Some(s) if now >= s.record.expires_at => {
                    Some("evaluation expired; evaluate the deploy again")
                }
                Some(s) if !s.record.held => Some("deploy is not held"),
                Some(s) if s.record.overridden.is_some() => Some("hold already overridden"),
                Some(_) => None,
            };
            let Some(stored) = stored.filter(|_| refusal.is_none()) else {
                let reason = refusal.unwrap_or("deploy was not evaluated");
                return Err(self
                    .refuse(caller, "gate.override", &target, reason, "gate.override")
                    .await);
            };
            let mut record = stored.record;
            let evaluated_at = record.evaluated_at;
            record.overridden = Some(GateOverride {
                by: caller.actor.clone(),
                at: now,
                justification: justification.to_owned(),
            });
            let draft = self
                .draft(caller, "gate.override", &target)
                .outcome(Outcome::Allowed)
                .detail("justification", justification)
                .detail("evaluated_at_ms", evaluated_at.unix_millis().to_string());
            let change = Change::Update {
                row: record.to_row(None)?,
                expected_version: stored.version,
            };
            self.write(tenant, Batch::new(draft).with(change))
                .await
                .map(drop)
        })
        .await
    }
}

fn check_deploy(deploy: &str) -> Result<()> {
    crate::names::DeployId::new(deploy).map(drop)
}

/// `s` cut to at most `max` bytes, on a character boundary.
fn cut(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default().to_owned()
}
