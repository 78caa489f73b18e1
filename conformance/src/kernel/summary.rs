//! The compact results of a bridge run (what the book's table is rendered from and CI compares
//! against), and the mutant C drivers.

use std::fmt::Write as _;

use crate::results::{CaseResult, ShimResults, Status};

/// A mutant C driver and the rule the suite must catch it on.
pub struct MutantSpec {
    /// The suite's mutant name.
    pub name: &'static str,
    /// What it gets wrong.
    pub bug: &'static str,
    /// The rule a case must fail on.
    pub rule: &'static str,
}

/// The mutants built into the kernel runner.
pub const MUTANTS: &[MutantSpec] = &[MutantSpec {
    name: "dynamic-keeps-dma",
    bug: "the dynamic importer's move_notify keeps its mapping, and its device keeps using it",
    rule: "invalidate.importer.repeated",
}];

/// The compact results of a bridge run: what the book's table is rendered from, and what CI
/// compares a fresh run against.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BridgeSummary {
    /// The kernel (`6.12`).
    pub kernel: String,
    /// Per configuration.
    pub configs: Vec<ConfigSummary>,
    /// Per configuration and mutant.
    pub mutants: Vec<MutantSummary>,
}

/// One configuration's results.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConfigSummary {
    /// `linux-6.12 (move-notify on)`.
    pub name: String,
    /// Case variants the kernel ran (a trace came back).
    pub ran: usize,
    /// Case variants judged (applicable to this kernel).
    pub judged: usize,
    /// Per case variant: `pass`, `FAIL`, `n/a`..., with the reason or the failed rules.
    pub cases: Vec<CaseLine>,
    /// Per rule.
    pub rules: Vec<RuleLine>,
}

/// One case variant.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CaseLine {
    /// `name[variant]`.
    pub case: String,
    /// Its status word.
    pub status: String,
    /// Why it is not applicable, the rules it failed, or why it could not run.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RuleLine {
    /// The rule.
    pub rule: String,
    /// `conformant`, `VIOLATED`, `warning` or `n/a`.
    pub verdict: String,
    /// Why it is not applicable, or that it is a finding.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// Whether a mutant was caught.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MutantSummary {
    /// The configuration.
    pub config: String,
    /// The mutant.
    pub mutant: String,
    /// The rule it must be caught on.
    pub rule: String,
    /// The case variants that failed on that rule.
    pub caught_by: Vec<String>,
}

pub(super) fn case_line(c: &CaseResult) -> CaseLine {
    let detail = match c.status {
        Status::NotApplicable => c.reason.clone().unwrap_or_default(),
        _ if c.error.is_some() => c.error.clone().unwrap_or_default(),
        _ => {
            let mut rules: Vec<&str> = c.failures.iter().map(|f| f.rule.as_str()).collect();
            rules.dedup();
            rules.join(", ")
        }
    };
    CaseLine {
        case: c.name.clone(),
        status: c.status.word().to_string(),
        detail,
    }
}

pub(super) fn summarize(shim: &ShimResults, ran: usize) -> ConfigSummary {
    ConfigSummary {
        name: shim.shim.name.clone(),
        ran,
        judged: shim
            .cases
            .iter()
            .filter(|c| c.status != Status::NotApplicable)
            .count(),
        cases: shim.cases.iter().map(case_line).collect(),
        rules: shim
            .rules
            .iter()
            .map(|r| RuleLine {
                rule: r.rule.clone(),
                verdict: r.verdict.word().to_string(),
                reason: r.reason.clone().unwrap_or_default(),
            })
            .collect(),
    }
}

/// The book's per-rule table, rendered from a summary (written next to it as `.md`).
pub fn table_md(s: &BridgeSummary) -> String {
    let mut out = String::new();
    let _ = write!(out, "| rule |");
    for c in &s.configs {
        let _ = write!(out, " {} |", c.name);
    }
    let _ = write!(out, "\n|---|");
    for _ in &s.configs {
        let _ = write!(out, "---|");
    }
    out.push('\n');
    let Some(first) = s.configs.first() else {
        return out;
    };
    for (i, r) in first.rules.iter().enumerate() {
        match crate::rule(&r.rule) {
            Some(def) => {
                let _ = write!(out, "| [`{}`]({}) |", r.rule, def.anchor());
            }
            None => {
                let _ = write!(out, "| `{}` |", r.rule);
            }
        }
        for c in &s.configs {
            let _ = write!(out, " {} |", verdict_cell(&c.rules[i]));
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "\n*n/a (since X)*: the rule holds from Linux X on (or with the option named). \
         *n/a (no case judged)*: every case that checks the rule is not applicable to this \
         kernel; the report of `revoke-conformance kernel` gives each case's reason."
    );
    for c in &s.configs {
        let _ = writeln!(
            out,
            "\n{}: {} case variants ran on the kernel, {} were judged.",
            c.name, c.ran, c.judged
        );
    }
    out
}

/// A verdict as the book's table shows it, with the short reason of an n/a.
fn verdict_cell(r: &RuleLine) -> String {
    if r.verdict != "n/a" {
        return r.verdict.clone();
    }
    match r.reason.split_once(" holds since Linux ") {
        Some((_, rest)) => {
            let version = rest.split([';', ' ']).next().unwrap_or(rest);
            let option = rest
                .split_once("(earlier only with ")
                .and_then(|(_, o)| o.split_once(')'))
                .map(|(o, _)| format!(", or earlier with {o}"))
                .unwrap_or_default();
            format!("n/a (since {version}{option})")
        }
        None if r.reason.is_empty() => "n/a (no case judged)".to_string(),
        None => format!("n/a ({})", r.reason),
    }
}

pub(super) fn human_notes(s: &BridgeSummary) -> String {
    let mut out = String::new();
    for c in &s.configs {
        let _ = writeln!(
            out,
            "{}: {} case variants ran on the kernel, {} judged",
            c.name, c.ran, c.judged
        );
        for r in c.rules.iter().filter(|r| !r.reason.is_empty()) {
            let _ = writeln!(out, "    {} {}: {}", r.rule, r.verdict, r.reason);
        }
    }
    for m in &s.mutants {
        let _ = writeln!(
            out,
            "mutant {} on {}: {}",
            m.mutant,
            m.config,
            if m.caught_by.is_empty() {
                format!("NOT caught on {}", m.rule)
            } else {
                format!("caught on {} by {}", m.rule, m.caught_by.join(", "))
            }
        );
    }
    out
}
