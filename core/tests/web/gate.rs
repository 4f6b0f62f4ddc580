//! The deploy gate: the rule table over both profiles, order independence,
//! and the JSON a host feeds in and gets back.

use secrets_core::gate::{self, Finding, LintResult, Profile, Severity, Verdict};

fn finding(id: &str, package: &str, severity: Severity) -> Finding {
    Finding::new(id, package, severity, format!("{id} title"))
}

fn lint(name: &str, passed: bool) -> LintResult {
    let message = if passed {
        String::new()
    } else {
        format!("{name} broke")
    };
    LintResult::new(name, passed, message)
}

fn proceed(warnings: &[&str]) -> Verdict {
    Verdict::Proceed {
        warnings: warnings.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn hold(reasons: &[&str], warnings: &[&str]) -> Verdict {
    Verdict::Hold {
        reasons: reasons.iter().map(|s| (*s).to_owned()).collect(),
        warnings: warnings.iter().map(|s| (*s).to_owned()).collect(),
    }
}

#[test]
fn rule_table_over_both_profiles() {
    use Severity::{Critical, High, Low, Medium};

    const CRIT: &str = "critical vulnerability CVE-1 in openssl: CVE-1 title";
    const HIGH: &str = "high vulnerability CVE-2 in zlib: CVE-2 title";
    const LINT: &str = "lint dockerfile-user failed: dockerfile-user broke";

    struct Case {
        name: &'static str,
        findings: Vec<Finding>,
        lints: Vec<LintResult>,
        standard: Verdict,
        hardened: Verdict,
    }
    let cases = [
        Case {
            name: "nothing at all",
            findings: vec![],
            lints: vec![],
            standard: proceed(&[]),
            hardened: proceed(&[]),
        },
        Case {
            name: "only low and medium findings, passing lints",
            findings: vec![finding("CVE-3", "a", Low), finding("CVE-4", "b", Medium)],
            lints: vec![lint("fmt", true)],
            standard: proceed(&[]),
            hardened: proceed(&[]),
        },
        Case {
            name: "a high finding",
            findings: vec![finding("CVE-2", "zlib", High)],
            lints: vec![],
            standard: proceed(&[HIGH]),
            hardened: proceed(&[HIGH]),
        },
        Case {
            name: "a critical finding",
            findings: vec![finding("CVE-1", "openssl", Critical)],
            lints: vec![],
            standard: proceed(&[CRIT]),
            hardened: hold(&[CRIT], &[]),
        },
        Case {
            name: "a failing lint",
            findings: vec![],
            lints: vec![lint("dockerfile-user", false), lint("fmt", true)],
            standard: proceed(&[LINT]),
            hardened: hold(&[LINT], &[]),
        },
        Case {
            name: "everything",
            findings: vec![
                finding("CVE-3", "a", Low),
                finding("CVE-2", "zlib", High),
                finding("CVE-1", "openssl", Critical),
            ],
            lints: vec![lint("fmt", true), lint("dockerfile-user", false)],
            standard: proceed(&[CRIT, HIGH, LINT]),
            hardened: hold(&[CRIT, LINT], &[HIGH]),
        },
    ];
    for c in cases {
        assert_eq!(
            gate::evaluate(Profile::Standard, &c.findings, &c.lints),
            c.standard,
            "standard: {}",
            c.name
        );
        assert_eq!(
            gate::evaluate(Profile::Hardened, &c.findings, &c.lints),
            c.hardened,
            "hardened: {}",
            c.name
        );
        // Standard never holds.
        assert!(!c.standard.is_hold(), "{}", c.name);
    }
}

#[test]
fn reasons_are_complete_and_in_a_stable_order() {
    let findings = vec![
        finding("CVE-9", "zlib", Severity::Critical),
        finding("CVE-5", "openssl", Severity::High),
        finding("CVE-2", "openssl", Severity::Critical),
        finding("CVE-1", "openssl", Severity::Critical),
        finding("CVE-7", "bash", Severity::Critical),
        // The same advisory reported twice (two paths in the image).
        finding("CVE-7", "bash", Severity::Critical),
        finding("CVE-8", "curl", Severity::Medium),
    ];
    let lints = vec![
        lint("secrets-in-env", false),
        lint("fmt", true),
        lint("base-image-pinned", false),
        LintResult::new("healthcheck", false, "   "),
    ];
    let want = hold(
        &[
            "critical vulnerability CVE-7 in bash: CVE-7 title",
            "critical vulnerability CVE-1 in openssl: CVE-1 title",
            "critical vulnerability CVE-2 in openssl: CVE-2 title",
            "critical vulnerability CVE-9 in zlib: CVE-9 title",
            "lint base-image-pinned failed: base-image-pinned broke",
            "lint healthcheck failed",
            "lint secrets-in-env failed: secrets-in-env broke",
        ],
        &["high vulnerability CVE-5 in openssl: CVE-5 title"],
    );
    assert_eq!(gate::evaluate(Profile::Hardened, &findings, &lints), want);

    // Any order of the same input gives the same verdict.
    let mut f = findings.clone();
    let mut l = lints.clone();
    for round in 0..20 {
        let (nf, nl) = (f.len(), l.len());
        f.rotate_left(round % nf);
        l.rotate_right(round % nl);
        if round % 3 == 0 {
            f.reverse();
        }
        assert_eq!(
            gate::evaluate(Profile::Hardened, &f, &l),
            want,
            "round {round}"
        );
    }
}

#[test]
fn scanner_json_feeds_the_gate() {
    // Scanner output as a host would forward it: upper-case severities,
    // npm's "moderate", extra fields ignored.
    let findings: Vec<Finding> = serde_json::from_str(
        r#"[
            {"id":"CVE-2021-44228","package":"log4j-core","severity":"CRITICAL","title":"Log4Shell","fixed_version":"2.17.1"},
            {"id":"GHSA-p6mc-m468-83gw","package":"lodash","severity":"moderate","title":"Prototype pollution"},
            {"id":"CVE-2023-0001","package":"libfoo","severity":"Negligible","title":"-"}
        ]"#,
    )
    .unwrap();
    assert_eq!(
        findings.iter().map(|f| f.severity).collect::<Vec<_>>(),
        [Severity::Critical, Severity::Medium, Severity::Low]
    );
    let lints: Vec<LintResult> =
        serde_json::from_str(r#"[{"name":"hadolint","passed":true,"message":""}]"#).unwrap();
    let v = gate::evaluate(Profile::Hardened, &findings, &lints);
    assert_eq!(
        serde_json::to_value(&v).unwrap(),
        serde_json::json!({
            "decision": "hold",
            "reasons": ["critical vulnerability CVE-2021-44228 in log4j-core: Log4Shell"],
            "warnings": [],
        })
    );

    for bad in [
        r#"{"id":"x","package":"p","severity":"unknown","title":"t"}"#,
        r#"{"id":"x","package":"p","severity":"severe","title":"t"}"#,
        r#"{"id":"x","package":"p","severity":3,"title":"t"}"#,
        r#"{"id":"x","package":"p","title":"t"}"#,
    ] {
        assert!(serde_json::from_str::<Finding>(bad).is_err(), "{bad}");
    }
    assert!(serde_json::from_str::<Profile>(r#""paranoid""#).is_err());
}

#[test]
fn every_type_round_trips_through_json() {
    for p in [Profile::Standard, Profile::Hardened] {
        let s = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<Profile>(&s).unwrap(), p);
    }
    assert_eq!(
        serde_json::to_string(&Profile::Standard).unwrap(),
        r#""standard""#
    );
    for s in [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ] {
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, format!("\"{}\"", s.as_str()));
        assert_eq!(serde_json::from_str::<Severity>(&json).unwrap(), s);
    }
    let f = finding("CVE-1", "openssl", Severity::High);
    assert_eq!(
        serde_json::from_str::<Finding>(&serde_json::to_string(&f).unwrap()).unwrap(),
        f
    );
    let l = lint("fmt", false);
    assert_eq!(
        serde_json::from_str::<LintResult>(&serde_json::to_string(&l).unwrap()).unwrap(),
        l
    );
    for v in [
        proceed(&[]),
        proceed(&["w1", "w2"]),
        hold(&["r1"], &[]),
        hold(&["r1", "r2"], &["w"]),
    ] {
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(serde_json::from_str::<Verdict>(&json).unwrap(), v, "{json}");
    }
    assert_eq!(
        serde_json::to_string(&hold(&["r"], &["w"])).unwrap(),
        r#"{"decision":"hold","reasons":["r"],"warnings":["w"]}"#
    );
    assert_eq!(hold(&["r"], &["w"]).warnings(), ["w"]);
}

#[test]
fn severities_are_ordered() {
    let mut all = vec![
        Severity::Critical,
        Severity::Low,
        Severity::High,
        Severity::Medium,
    ];
    all.sort();
    assert_eq!(
        all,
        [
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical
        ]
    );
}
