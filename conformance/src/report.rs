//! Reports over a run: per case and per rule.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::outcome::CaseOutcome;
use crate::{RULES, RuleDef, Strength};

/// A rule's verdict over a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Every check of the rule passed.
    Conformant,
    /// A check of a MUST rule failed.
    Violated,
    /// A check of a SHOULD or MAY rule failed: a warning.
    ViolatedShould,
    /// No case that ran checks the rule.
    NotApplicable,
}

impl Verdict {
    /// The verdict as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Conformant => "conformant",
            Verdict::Violated => "VIOLATED",
            Verdict::ViolatedShould => "violated (warning)",
            Verdict::NotApplicable => "not applicable",
        }
    }
}

/// Per-rule verdicts over a set of case outcomes, in rule-ID order.
pub fn rule_verdicts(outcomes: &[CaseOutcome]) -> BTreeMap<&'static str, Verdict> {
    let mut out = BTreeMap::new();
    for rule in RULES {
        let mut verdict = Verdict::NotApplicable;
        for check in outcomes
            .iter()
            .flat_map(|o| &o.checks)
            .filter(|c| c.rule == rule.id)
        {
            let v = match (&check.result, rule.strength) {
                (Ok(()), _) => Verdict::Conformant,
                (Err(_), Strength::Must) => Verdict::Violated,
                (Err(_), _) => Verdict::ViolatedShould,
            };
            verdict = match (verdict, v) {
                (Verdict::NotApplicable, v) => v,
                (a, b) if b == Verdict::Violated || a == Verdict::Violated => Verdict::Violated,
                (a, b) if b == Verdict::ViolatedShould || a == Verdict::ViolatedShould => {
                    Verdict::ViolatedShould
                }
                _ => Verdict::Conformant,
            };
        }
        out.insert(rule.id, verdict);
    }
    out
}

fn rule_link(rule: &RuleDef, base: &str) -> String {
    format!("{base}{}", rule.anchor())
}

/// The human report: a line per case, failures in full (what was expected, what happened,
/// the trace), the per-rule table, and a closing `N passed, N failed` line.
pub fn human(outcomes: &[CaseOutcome], book_base: &str) -> String {
    let mut out = String::new();
    for o in outcomes {
        let status = if o.passed() { "pass" } else { "FAIL" };
        let _ = writeln!(out, "{status} {}", o.name());
    }
    for o in outcomes.iter().filter(|o| !o.passed()) {
        let _ = writeln!(
            out,
            "\n=== FAIL {} ({}:{})",
            o.name(),
            o.case.chapter,
            o.case.line
        );
        let _ = writeln!(out, "    {}", o.case.title);
        if let Err(e) = &o.trace {
            let _ = writeln!(out, "  the scenario could not run: {e}");
        }
        for c in o.checks.iter().filter(|c| c.result.is_err()) {
            let rule = crate::rule(c.rule);
            let strength = rule.map(|r| r.strength.as_str()).unwrap_or("?");
            let link = rule.map(|r| rule_link(r, book_base)).unwrap_or_default();
            let _ = writeln!(out, "  violated {strength} rule {}  {link}", c.rule);
            let _ = writeln!(out, "    expected: {}", c.describe);
            if let Err(e) = &c.result {
                let _ = writeln!(out, "    observed: {e}");
            }
        }
        if let Ok(t) = &o.trace {
            let _ = writeln!(out, "  trace:");
            for line in t.render(&o.step_titles()).lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
    let verdicts = rule_verdicts(outcomes);
    let _ = writeln!(out, "\nrules:");
    let width = verdicts.keys().map(|k| k.len()).max().unwrap_or(0);
    for (id, v) in &verdicts {
        let strength = crate::rule(id).map(|r| r.strength.as_str()).unwrap_or("?");
        let _ = writeln!(out, "  {id:width$}  {strength:6}  {}", v.as_str());
    }
    let passed = outcomes.iter().filter(|o| o.passed()).count();
    let _ = writeln!(out, "\n{passed} passed, {} failed", outcomes.len() - passed);
    out
}

/// The machine-readable report.
pub fn json(outcomes: &[CaseOutcome]) -> serde_json::Value {
    let cases: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|o| {
            serde_json::json!({
                "case": o.case.name,
                "variant": o.variant,
                "chapter": o.case.chapter,
                "line": o.case.line,
                "rules": o.case.rules,
                "passed": o.passed(),
                "error": o.trace.as_ref().err(),
                "checks": o.checks.iter().map(|c| serde_json::json!({
                    "rule": c.rule,
                    "expected": c.describe,
                    "passed": c.result.is_ok(),
                    "observed": c.result.as_ref().err(),
                })).collect::<Vec<_>>(),
                "trace": o.trace.as_ref().ok(),
            })
        })
        .collect();
    let rules: Vec<serde_json::Value> = rule_verdicts(outcomes)
        .into_iter()
        .map(|(id, v)| serde_json::json!({ "rule": id, "verdict": v }))
        .collect();
    let passed = outcomes.iter().filter(|o| o.passed()).count();
    serde_json::json!({
        "version": 1,
        "cases": cases,
        "rules": rules,
        "summary": { "passed": passed, "failed": outcomes.len() - passed },
    })
}
