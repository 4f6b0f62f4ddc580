//! The deploy gate: vulnerability findings and lint results, weighed under a
//! [`Profile`], give a [`Verdict`] to [`Proceed`](Verdict::Proceed) or to
//! [`Hold`](Verdict::Hold) the deploy for review.
//!
//! The rule table of [`evaluate`]:
//!
//! | input | `Standard` | `Hardened` |
//! |---|---|---|
//! | critical finding | warning | **hold** |
//! | high finding | warning | warning |
//! | medium or low finding | nothing | nothing |
//! | failing lint | warning | **hold** |
//! | passing lint | nothing | nothing |
//!
//! `Standard` never holds. Every type is serde-serialisable, so a host feeds
//! scanner output in as JSON.
//!
//! ```
//! # fn main() -> Result<(), serde_json::Error> {
//! use secrets_core::gate::{self, Finding, LintResult, Profile, Verdict};
//!
//! let findings: Vec<Finding> = serde_json::from_str(r#"[
//!     {"id": "CVE-2024-3094", "package": "xz-utils", "severity": "CRITICAL", "title": "backdoor in liblzma"},
//!     {"id": "GHSA-xxxx", "package": "left-pad", "severity": "low", "title": "nothing much"}
//! ]"#)?;
//! let lints = [LintResult::new("no-debug", true, "")];
//!
//! let verdict = gate::evaluate(Profile::Hardened, &findings, &lints);
//! assert_eq!(verdict, Verdict::Hold {
//!     reasons: vec!["critical vulnerability CVE-2024-3094 in xz-utils: backdoor in liblzma".into()],
//!     warnings: vec![],
//! });
//! assert!(!gate::evaluate(Profile::Standard, &findings, &lints).is_hold());
//! # Ok(()) }
//! ```

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Error, Result};

/// How strict the gate is. Serialised as `"standard"` or `"hardened"`.
///
/// ```
/// use secrets_core::gate::Profile;
///
/// assert_eq!(serde_json::to_string(&Profile::Hardened).unwrap(), r#""hardened""#);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Never holds; reports critical and high findings and failing lints as
    /// warnings.
    Standard,
    /// Holds on any critical finding or failing lint.
    Hardened,
}

/// A vulnerability's severity, ordered `Low < Medium < High < Critical`.
///
/// Serialised lowercase; read case-insensitively, with the aliases
/// `moderate` (npm audit) for `Medium` and `negligible` / `info` (Grype,
/// others) for `Low`. `unknown` is refused: map it to a severity explicitly
/// rather than let the gate guess.
///
/// ```
/// use secrets_core::gate::Severity;
///
/// assert!(Severity::Critical > Severity::High);
/// let s: Severity = serde_json::from_str(r#""MODERATE""#).unwrap();
/// assert_eq!(s, Severity::Medium);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// `low`, `medium`, `high` or `critical`.
    ///
    /// ```
    /// assert_eq!(secrets_core::gate::Severity::High.as_str(), "high");
    /// ```
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    /// Parses a scanner's severity name, case-insensitively, with the
    /// aliases above.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `severity`) for any other name,
    /// `unknown` included.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::gate::Severity;
    ///
    /// assert_eq!(Severity::parse("CRITICAL")?, Severity::Critical);
    /// assert_eq!(Severity::parse("Negligible")?, Severity::Low);
    /// assert!(Severity::parse("unknown").is_err());
    /// # Ok(()) }
    /// ```
    pub fn parse(s: &str) -> Result<Self> {
        let lower = s.to_ascii_lowercase();
        match lower.as_str() {
            "low" | "negligible" | "info" => Ok(Self::Low),
            "medium" | "moderate" => Ok(Self::Medium),
            "high" => Ok(Self::High),
            "critical" => Ok(Self::Critical),
            _ => Err(Error::invalid(
                "severity",
                format!(
                    "`{}` is not a severity (low, medium, high, critical); map it explicitly",
                    s.escape_debug()
                ),
            )),
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Severity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// One vulnerability reported by a scanner.
///
/// ```
/// use secrets_core::gate::{Finding, Severity};
///
/// let f: Finding = serde_json::from_str(
///     r#"{"id":"CVE-2021-44228","package":"log4j-core","severity":"critical","title":"Log4Shell"}"#,
/// ).unwrap();
/// assert_eq!(f.severity, Severity::Critical);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Finding {
    /// The advisory id (`CVE-2021-44228`, `GHSA-...`).
    pub id: String,
    /// The affected package.
    pub package: String,
    /// How severe it is.
    pub severity: Severity,
    /// A one-line description.
    pub title: String,
}

impl Finding {
    /// A finding, as a host's scanner adapter builds one.
    ///
    /// ```
    /// use secrets_core::gate::{Finding, Severity};
    ///
    /// let f = Finding::new("CVE-2021-44228", "log4j-core", Severity::Critical, "Log4Shell");
    /// assert_eq!(f.package, "log4j-core");
    /// ```
    #[must_use]
    pub fn new(
        id: impl Into<String>,
        package: impl Into<String>,
        severity: Severity,
        title: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            package: package.into(),
            severity,
            title: title.into(),
        }
    }
}

/// The outcome of one lint or policy check.
///
/// ```
/// use secrets_core::gate::LintResult;
///
/// let l: LintResult = serde_json::from_str(
///     r#"{"name":"dockerfile-user","passed":false,"message":"runs as root"}"#,
/// ).unwrap();
/// assert!(!l.passed);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LintResult {
    /// The check's name.
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// What it found (may be empty when it passed).
    pub message: String,
}

impl LintResult {
    /// A check's result.
    ///
    /// ```
    /// use secrets_core::gate::LintResult;
    ///
    /// let l = LintResult::new("dockerfile-user", false, "runs as root");
    /// assert_eq!((l.name.as_str(), l.passed), ("dockerfile-user", false));
    /// ```
    #[must_use]
    pub fn new(name: impl Into<String>, passed: bool, message: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            passed,
            message: message.into(),
        }
    }
}

/// The gate's answer. Serialised with a `decision` tag:
/// `{"decision":"proceed","warnings":[...]}` or
/// `{"decision":"hold","reasons":[...],"warnings":[...]}`.
///
/// ```
/// use secrets_core::gate::Verdict;
///
/// let v = Verdict::Proceed { warnings: vec![] };
/// assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"decision":"proceed","warnings":[]}"#);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "lowercase")]
pub enum Verdict {
    /// Deploy. `warnings` lists what a reviewer should still look at.
    Proceed {
        /// Findings and failing lints worth attention, in the order of
        /// [`evaluate`].
        warnings: Vec<String>,
    },
    /// Do not deploy until someone with the override permission reviews it.
    Hold {
        /// Every finding and lint that caused the hold, in the order of
        /// [`evaluate`]; never empty.
        reasons: Vec<String>,
        /// What else a reviewer should look at (high findings).
        warnings: Vec<String>,
    },
}

impl Verdict {
    /// Whether the deploy is held.
    ///
    /// ```
    /// use secrets_core::gate::Verdict;
    ///
    /// assert!(Verdict::Hold { reasons: vec!["x".into()], warnings: vec![] }.is_hold());
    /// assert!(!Verdict::Proceed { warnings: vec![] }.is_hold());
    /// ```
    #[must_use]
    pub fn is_hold(&self) -> bool {
        matches!(self, Self::Hold { .. })
    }

    /// The warnings, whatever the decision.
    ///
    /// ```
    /// use secrets_core::gate::Verdict;
    ///
    /// assert!(Verdict::Proceed { warnings: vec![] }.warnings().is_empty());
    /// ```
    #[must_use]
    pub fn warnings(&self) -> &[String] {
        match self {
            Self::Proceed { warnings } | Self::Hold { warnings, .. } => warnings,
        }
    }
}

/// Weighs `findings` and `lints` under `profile`, by the rule table of the
/// module documentation.
///
/// The output is independent of the input order: findings are listed most
/// severe first, then by package, id and title; failing lints after them,
/// by name and message. Exact duplicates (the same advisory for the same
/// package at the same severity, the same lint with the same message) are
/// listed once. Lines read
/// `critical vulnerability <id> in <package>: <title>` and
/// `lint <name> failed: <message>`, with control characters
/// replaced by spaces so that no input can forge a line in a log.
///
/// ```
/// use secrets_core::gate::{evaluate, Finding, LintResult, Profile, Severity, Verdict};
///
/// let lint = LintResult::new("sbom", false, "missing");
/// assert_eq!(
///     evaluate(Profile::Standard, &[], &[lint.clone()]),
///     Verdict::Proceed { warnings: vec!["lint sbom failed: missing".into()] }
/// );
/// assert!(evaluate(Profile::Hardened, &[], &[lint]).is_hold());
/// ```
#[must_use]
pub fn evaluate(profile: Profile, findings: &[Finding], lints: &[LintResult]) -> Verdict {
    let mut notable: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity >= Severity::High)
        .collect();
    notable.sort_by(|a, b| finding_order(a, b));
    notable.dedup_by(|a, b| a.severity == b.severity && a.package == b.package && a.id == b.id);

    let mut failing: Vec<&LintResult> = lints.iter().filter(|l| !l.passed).collect();
    failing.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.message.cmp(&b.message)));
    failing.dedup_by(|a, b| a.name == b.name && a.message == b.message);

    let mut reasons = Vec::new();
    let mut warnings = Vec::new();
    for f in notable {
        let line = format!(
            "{} vulnerability {} in {}: {}",
            f.severity,
            clean(&f.id),
            clean(&f.package),
            clean(&f.title)
        );
        match (profile, f.severity) {
            (Profile::Hardened, Severity::Critical) => reasons.push(line),
            _ => warnings.push(line),
        }
    }
    for l in failing {
        let line = if l.message.trim().is_empty() {
            format!("lint {} failed", clean(&l.name))
        } else {
            format!("lint {} failed: {}", clean(&l.name), clean(&l.message))
        };
        match profile {
            Profile::Hardened => reasons.push(line),
            Profile::Standard => warnings.push(line),
        }
    }

    if reasons.is_empty() {
        Verdict::Proceed { warnings }
    } else {
        Verdict::Hold { reasons, warnings }
    }
}

fn finding_order(a: &Finding, b: &Finding) -> Ordering {
    b.severity
        .cmp(&a.severity)
        .then_with(|| a.package.cmp(&b.package))
        .then_with(|| a.id.cmp(&b.id))
        .then_with(|| a.title.cmp(&b.title))
}

/// Scanner text with control characters (newlines included) as spaces.
fn clean(s: &str) -> String {
    s.trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_cannot_forge_lines() {
        let f = Finding {
            id: "CVE-1\nINFO deploy approved".into(),
            package: "p".into(),
            severity: Severity::Critical,
            title: "t\r\n".into(),
        };
        let v = evaluate(Profile::Hardened, &[f], &[]);
        let Verdict::Hold { reasons, .. } = v else {
            panic!("expected a hold")
        };
        assert_eq!(
            reasons,
            ["critical vulnerability CVE-1 INFO deploy approved in p: t"]
        );
    }
}
