//! Running one case variant on a backend and judging its trace.

use std::fmt::Write as _;

use reference_impl::{Step, Trace};

use crate::defs::{CaseDef, Spec};
use crate::monitor::Verdict;
use crate::scenario::Scenario;

/// The result of one check.
#[derive(Debug, Clone)]
pub struct CheckOutcome {
    /// The rule it enforces.
    pub rule: &'static str,
    /// What it expects.
    pub describe: String,
    /// `Err` says what happened instead.
    pub result: Result<(), String>,
}

/// What one rule's monitor said about the trace (monitors that do not apply say nothing).
#[derive(Debug, Clone)]
pub struct MonitorOutcome {
    /// The rule.
    pub rule: &'static str,
    /// What the monitor checks, in words.
    pub expects: &'static str,
    /// Its verdict: held, violated or not observable.
    pub verdict: Verdict,
}

/// The result of one case variant.
#[derive(Debug, Clone)]
pub struct CaseOutcome {
    /// The specification the case belongs to (its rules' strengths and texts).
    pub spec: Spec,
    /// The case.
    pub case: &'static CaseDef,
    /// The variant label (empty if unparameterised).
    pub variant: &'static str,
    /// The scenario's steps.
    pub steps: Vec<Step>,
    /// The trace, or why the backend could not run the scenario.
    pub trace: Result<Trace, String>,
    /// Every check's result, in the order the case added them.
    pub checks: Vec<CheckOutcome>,
    /// Every rule's monitor that applies to the trace, in the book's order.
    pub monitors: Vec<MonitorOutcome>,
}

/// Builds the scenario of a case variant.
pub fn scenario_of(case: &CaseDef, variant: &str) -> Option<Scenario> {
    let v = case.variants.iter().find(|v| v.label == variant)?;
    let mut s = Scenario::new();
    (v.build)(&mut s);
    Some(s)
}

/// Runs a case variant's steps with `backend` and evaluates its checks on the trace.
///
/// A variant the case does not have is an error of the outcome (it fails), never an empty
/// scenario that passes.
pub fn run_case(
    spec: &Spec,
    case: &'static CaseDef,
    variant: &'static str,
    backend: &mut dyn FnMut(&[Step]) -> Result<Trace, String>,
) -> CaseOutcome {
    let Some(scenario) = scenario_of(case, variant) else {
        let known: Vec<String> = case
            .variants
            .iter()
            .map(|v| case.variant_name(v.label))
            .collect();
        return CaseOutcome {
            spec: *spec,
            case,
            variant,
            steps: Vec::new(),
            trace: Err(format!(
                "case `{}` has no variant `{variant}`; it has {}",
                case.name,
                known.join(", ")
            )),
            checks: Vec::new(),
            monitors: Vec::new(),
        };
    };
    let trace = backend(&scenario.steps);
    let checks = scenario
        .checks
        .iter()
        .map(|c| CheckOutcome {
            rule: c.rule,
            describe: c.check.describe.clone(),
            result: match &trace {
                Ok(t) => c.check.eval(t),
                Err(e) => Err(format!("the scenario could not run: {e}")),
            },
        })
        .collect();
    let monitors = match &trace {
        Ok(t) => judge_by_monitors(&scenario.steps, t),
        Err(_) => Vec::new(),
    };
    CaseOutcome {
        spec: *spec,
        case,
        variant,
        steps: scenario.steps,
        trace,
        checks,
        monitors,
    }
}

/// Judges a trace by every rule's monitor.
pub fn judge_by_monitors(steps: &[Step], trace: &Trace) -> Vec<MonitorOutcome> {
    crate::monitor::judge_trace(steps, trace)
        .into_iter()
        .map(|(m, verdict)| MonitorOutcome {
            rule: m.rule,
            expects: m.expects,
            verdict,
        })
        .collect()
}

impl CaseOutcome {
    /// `name` or `name[variant]`.
    pub fn name(&self) -> String {
        self.case.variant_name(self.variant)
    }

    /// The rules of the failed checks, then those of the monitors that saw a violation (in
    /// that order, repeats kept).
    pub fn violated_rules(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.checks
            .iter()
            .filter(|c| c.result.is_err())
            .map(|c| c.rule)
            .chain(
                self.monitors
                    .iter()
                    .filter(|m| matches!(m.verdict, Verdict::Violated(_)))
                    .map(|m| m.rule),
            )
    }

    /// True when every check passed and no monitor saw its rule violated.
    pub fn passed(&self) -> bool {
        self.trace.is_ok()
            && self.checks.iter().all(|c| c.result.is_ok())
            && !self
                .monitors
                .iter()
                .any(|m| matches!(m.verdict, Verdict::Violated(_)))
    }

    /// The step titles, for rendering the trace.
    pub fn step_titles(&self) -> Vec<String> {
        self.steps.iter().map(|s| s.to_string()).collect()
    }

    /// The blessed text: rules with the hash of their text, steps, trace and checks.
    pub fn snapshot(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "case: {}", self.name());
        let _ = writeln!(out, "title: {}", self.case.title);
        let _ = writeln!(out, "chapter: {}", self.case.chapter);
        let _ = writeln!(out, "rules:");
        for id in self.case.rules {
            match self.spec.rule(id) {
                Some(r) => {
                    let _ = writeln!(out, "  {id} {} #{}", r.strength.as_str(), r.hash);
                }
                None => {
                    let _ = writeln!(out, "  {id} (unknown)");
                }
            }
        }
        let _ = writeln!(out, "steps:");
        for (i, s) in self.steps.iter().enumerate() {
            let _ = writeln!(out, "  {i}: {s}");
        }
        let _ = writeln!(out, "trace:");
        match &self.trace {
            Ok(t) => out.push_str(&t.render(&self.step_titles())),
            Err(e) => {
                let _ = writeln!(out, "  (not run: {e})");
            }
        }
        let _ = writeln!(out, "checks:");
        for c in &self.checks {
            match &c.result {
                Ok(()) => {
                    let _ = writeln!(out, "  pass {}: {}", c.rule, c.describe);
                }
                Err(e) => {
                    let _ = writeln!(out, "  FAIL {}: {}\n       {e}", c.rule, c.describe);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Status;

    /// An unknown variant fails with a message naming the variants there are, and the backend
    /// is never asked to run anything.
    #[test]
    fn an_unknown_variant_fails() {
        let spec = crate::spec();
        let case = spec
            .cases
            .iter()
            .find(|c| c.variants.len() > 1)
            .expect("a parameterised case");
        let mut ran = false;
        let outcome = run_case(&spec, case, "no_such_variant", &mut |_| {
            ran = true;
            Ok(Trace::default())
        });
        assert!(!ran);
        assert!(!outcome.passed());
        assert_eq!(Status::of(&outcome), Status::Fail);
        let message = outcome.trace.expect_err("an error");
        assert!(
            message.contains("no variant `no_such_variant`"),
            "{message}"
        );
        assert!(
            message.contains(&case.variant_name(case.variants[0].label)),
            "{message}"
        );
    }
}
