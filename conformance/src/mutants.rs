//! `revoke-conformance mutants`: what the suite is known to catch. Every broken in-tree shim
//! must fail at least one case on the rule its bug breaks: the in-process ones, and the
//! registered broken shims that run as processes (the C exporter built without its waits).

use std::fmt::Write as _;

use shims::broken::Broken;
use time::Date;

use shims::registry::{Bug, Runs};

use crate::results::{ShimResults, Status};
use crate::runner::{RunOptions, run_backend, run_shim};

/// How the suite did against one broken shim.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MutantResult {
    /// The broken shim.
    pub shim: &'static str,
    /// Its bug.
    pub bug: &'static str,
    /// The rule the bug breaks.
    pub breaks: &'static str,
    /// The cases that failed on that rule.
    pub caught_by: Vec<String>,
    /// The cases in which the rule's monitor (not only a check of the case) found the bug.
    pub monitor_caught_by: Vec<String>,
    /// Every rule reported violated.
    pub violated: Vec<String>,
}

impl MutantResult {
    /// Caught for the right reason: a case failed on the rule the bug breaks.
    pub fn caught(&self) -> bool {
        !self.caught_by.is_empty()
    }
}

/// Every case, no expectations: how a broken shim is run.
fn every_case(filter: &judge::filter::CaseFilter, today: Date) -> RunOptions<'_> {
    RunOptions {
        spec: crate::spec(),
        filter,
        expectations: None,
        today,
        cancel: Default::default(),
    }
}

/// Generated scenarios tried on a broken shim that no case and no interleaving catches.
const GENERATED: u32 = 2_000;

/// Runs the suite against one broken shim: every case; if none fails on the rule its bug
/// breaks, every interleaving of the racy cases; if none does, generated scenarios.
pub fn judge(broken: &Broken, today: Date) -> MutantResult {
    let all = judge::filter::CaseFilter::all();
    let opts = every_case(&all, today);
    let results = run_shim(&broken.shim, &opts, &mut |_, _| {});
    let mut caught = caught_on(&results, broken.breaks);
    if caught.caught_by.is_empty() {
        // A bug that is an ordering across threads: explore the racy cases' interleavings.
        let roles = std::rc::Rc::new(broken.shim.roles());
        for (case, variant) in crate::races::racy_cases(&crate::spec()) {
            let steps = crate::outcome::scenario_of(case, variant)
                .map(|s| s.steps)
                .unwrap_or_default();
            if broken.shim.applies_to(&steps).is_err() {
                continue;
            }
            let opts = reference_impl::ExploreOptions {
                samples: 0,
                ..Default::default()
            };
            let ex = crate::races::explore_case(roles.clone(), case, variant, opts);
            if let Some(v) = ex.violation {
                let name = format!(
                    "{} (interleaving: {} preemption(s))",
                    case.variant_name(variant),
                    v.file.schedule.len()
                );
                caught.add(&v.message, broken.breaks, name);
            }
        }
    }
    if caught.caught_by.is_empty() {
        // Neither a case nor an interleaving: generated scenarios of the shim's profiles, as
        // `revoke-conformance explore` runs them.
        let roles = broken.shim.roles();
        let g = judge::generate::generate(
            &judge::generate::Profiles::for_shim(&broken.shim),
            GENERATED,
            1,
            &mut |steps| {
                if broken.shim.applies_to(steps).is_err() {
                    return Ok(None);
                }
                reference_impl::run_with(&roles, steps).map(Some)
            },
            &|_| {},
        );
        if let Some(f) = g.failing {
            let name = format!(
                "a generated scenario (seed 1, shrunk to {} steps)",
                f.file.steps.len()
            );
            caught.add(&f.message, broken.breaks, name);
        }
    }
    caught.violated.sort();
    caught.violated.dedup();
    MutantResult {
        shim: broken.shim.name,
        bug: broken.bug,
        breaks: broken.breaks,
        caught_by: caught.caught_by,
        monitor_caught_by: caught.monitor_caught_by,
        violated: caught.violated,
    }
}

/// How many broken shims the monitor of the rule they break catches.
pub fn monitored(results: &[MutantResult]) -> usize {
    results
        .iter()
        .filter(|r| !r.monitor_caught_by.is_empty())
        .count()
}

/// What a run of one broken shim caught.
struct Caught {
    caught_by: Vec<String>,
    monitor_caught_by: Vec<String>,
    violated: Vec<String>,
}

impl Caught {
    /// Adds what an explorer found (`rule: message`, the first violation of a scenario named
    /// `name`): caught when its rule is `breaks`, by the monitor when the monitor said it.
    fn add(&mut self, message: &str, breaks: &str, name: String) {
        let rule = message.split(':').next().unwrap_or_default().to_string();
        if rule == breaks {
            if message[rule.len()..]
                .trim_start_matches(':')
                .trim_start()
                .starts_with(judge::monitor::MONITOR_MARK)
            {
                self.monitor_caught_by.push(name.clone());
            }
            self.caught_by.push(name);
        }
        self.violated.push(rule);
    }
}

/// The case variants of `results` that failed on `rule` (by any check, and by the rule's
/// monitor), and every rule some case broke.
fn caught_on(results: &ShimResults, rule: &str) -> Caught {
    let failed_on = |by_monitor: bool| {
        results
            .cases
            .iter()
            .filter(|c| {
                matches!(c.status, Status::Fail | Status::Warn)
                    && c.failures
                        .iter()
                        .any(|f| f.rule == rule && (f.monitor || !by_monitor))
            })
            .map(|c| c.name.clone())
            .collect()
    };
    Caught {
        caught_by: failed_on(false),
        monitor_caught_by: failed_on(true),
        violated: results
            .cases
            .iter()
            .flat_map(|c| c.failures.iter().map(|f| f.rule.clone()))
            .collect(),
    }
}

/// Runs the suite against a registered broken shim that runs as a process. A shim that
/// cannot be started is not caught (its error is the one rule it is said to violate).
pub fn judge_process(
    name: &'static str,
    command: &std::path::Path,
    bug: Bug,
    today: Date,
) -> MutantResult {
    let all = judge::filter::CaseFilter::all();
    let opts = every_case(&all, today);
    let started = crate::remote::RemoteBackend::start_argv(
        name,
        vec![command.display().to_string()],
        crate::remote::DEFAULT_TIMEOUT,
        None,
    );
    let mut caught = match started {
        Ok(mut backend) => {
            let results = run_backend(&mut backend, &opts, &mut |_, _| {});
            caught_on(&results, bug.breaks)
        }
        Err(e) => Caught {
            caught_by: Vec::new(),
            monitor_caught_by: Vec::new(),
            violated: vec![format!("(the shim did not start: {e})")],
        },
    };
    caught.violated.sort();
    caught.violated.dedup();
    MutantResult {
        shim: name,
        bug: bug.bug,
        breaks: bug.breaks,
        caught_by: caught.caught_by,
        monitor_caught_by: caught.monitor_caught_by,
        violated: caught.violated,
    }
}

/// Judges every broken shim: the in-process ones, then the registered ones that run as
/// processes.
pub fn judge_all(today: Date) -> Vec<MutantResult> {
    let mut results: Vec<MutantResult> = shims::broken::all()
        .iter()
        .map(|b| judge(b, today))
        .collect();
    for r in shims::registry::all() {
        if let (Runs::Process { command }, Some(bug)) = (r.runs, r.broken) {
            results.push(judge_process(r.name, command(), bug, today));
        }
    }
    results
}

/// The table: broken shim, bug, the rule it breaks, the cases that caught it; then the score.
pub fn table(results: &[MutantResult]) -> String {
    let mut out = String::new();
    for r in results {
        let verdict = if r.caught() { "caught" } else { "MISSED" };
        let _ = writeln!(
            out,
            "{verdict:7} {}\n        bug:       {}\n        breaks:    {}",
            r.shim, r.bug, r.breaks
        );
        let by = if r.caught_by.is_empty() {
            "(no case failed on this rule)".to_string()
        } else {
            r.caught_by.join(", ")
        };
        let _ = writeln!(out, "        caught by: {by}");
        let _ = writeln!(
            out,
            "        monitor:   {}",
            if r.monitor_caught_by.is_empty() {
                "no (only a check of a case sees it)"
            } else {
                "yes (the rule's monitor sees it)"
            }
        );
    }
    let caught = results.iter().filter(|r| r.caught()).count();
    let _ = writeln!(
        out,
        "\nscore: {caught}/{} broken shims caught on the rule they break; {} by the rule's monitor",
        results.len(),
        monitored(results)
    );
    out
}

/// The table as Markdown for the book, linking rules and cases to their anchors.
pub fn markdown(results: &[MutantResult]) -> String {
    let case_link = |name: &str| {
        let case = name.split('[').next().unwrap_or(name);
        match crate::spec().case(case) {
            Some(c) => format!(
                "[`{name}`]({}#case-{case})",
                c.chapter.replace(".md", ".html")
            ),
            None => format!("`{name}`"),
        }
    };
    let mut out = String::from(
        "| broken shim | bug | breaks | caught by | by the monitor |\n|---|---|---|---|---|\n",
    );
    for r in results {
        let rule = crate::spec()
            .rule(r.breaks)
            .map(|d| format!("[`{}`]({})", r.breaks, d.anchor()))
            .unwrap_or_else(|| format!("`{}`", r.breaks));
        let by = if r.caught() {
            r.caught_by
                .iter()
                .map(|c| case_link(c))
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            "**MISSED**".to_string()
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {rule} | {by} | {} |",
            r.shim,
            r.bug.replace('|', "\\|"),
            if r.monitor_caught_by.is_empty() {
                "no"
            } else {
                "yes"
            }
        );
    }
    let caught = results.iter().filter(|r| r.caught()).count();
    let _ = writeln!(
        out,
        "\nScore: **{caught}/{}** broken shims caught on the rule they break; **{}** of them by \
         the rule's monitor, which judges every trace whatever the case.",
        results.len(),
        monitored(results)
    );
    out
}

#[cfg(test)]
mod tests {
    //! The mutants table and its Markdown, on fixed results (one caught, one missed).

    use super::*;

    fn mutants() -> Vec<MutantResult> {
        vec![
            MutantResult {
                shim: "broken-vfio-no-bookkeep-wait",
                bug: "waits for KERNEL fences only | not BOOKKEEP",
                breaks: "revoke.exporter.wait-bookkeep",
                caught_by: vec!["attach_after_revoke_fails".into(), "no_such_case[x]".into()],
                monitor_caught_by: vec!["attach_after_revoke_fails".into()],
                violated: vec!["revoke.exporter.wait-bookkeep".into()],
            },
            MutantResult {
                shim: "broken-unknown",
                bug: "breaks a rule no case checks",
                breaks: "no.such.rule",
                caught_by: Vec::new(),
                monitor_caught_by: Vec::new(),
                violated: Vec::new(),
            },
        ]
    }

    #[test]
    fn human() {
        insta::assert_snapshot!(table(&mutants()));
    }

    #[test]
    fn markdown_table() {
        insta::assert_snapshot!(markdown(&mutants()));
    }
}
