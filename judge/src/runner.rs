//! Running the cases against shims.

use std::time::Instant;

use std::rc::Rc;

use reference_impl::{ScenarioFile, Shim, Step, Trace, run_reference, run_with};
use similar::TextDiff;
use time::Date;

use crate::expectations::Expectations;
use crate::filter::CaseFilter;
use crate::outcome::{CaseOutcome, run_case, scenario_of};
use crate::results::{
    CaseResult, Departure, FORMAT_VERSION, Failure, RunResults, ShimInfo, ShimResults, Status,
    Summary, rule_verdicts,
};
use crate::{CaseDef, Spec};

/// A run's cancellation token, owned by whoever runs (the command line sets it on Ctrl-C): the
/// run stops after the case in progress and its results are partial. Clones share the token;
/// the runner hands one to each backend ([`Backend::set_cancel`]) so a backend waiting on a
/// shim process stops waiting.
#[derive(Debug, Clone, Default)]
pub struct Cancel(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Cancel {
    /// A token nobody has cancelled yet.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Cancels the run; returns whether it was cancelled already (a second Ctrl-C).
    pub fn cancel(&self) -> bool {
        self.0.swap(true, std::sync::atomic::Ordering::SeqCst)
    }

    /// Whether the run was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// How to run.
pub struct RunOptions<'a> {
    /// The specification whose cases run and whose rules judge them.
    pub spec: Spec,
    /// Which case variants to run.
    pub filter: &'a CaseFilter,
    /// Known failures.
    pub expectations: Option<&'a Expectations>,
    /// Today, for expiry dates.
    pub today: Date,
    /// Stops the run after the case in progress when cancelled.
    pub cancel: Cancel,
}

/// Every `(case, variant)` whose name, or one of whose rule IDs, starts with `prefix`.
pub fn selected(spec: &Spec, prefix: Option<&str>) -> Vec<(&'static CaseDef, &'static str)> {
    let filter = match prefix {
        Some(p) => CaseFilter::prefix(p),
        None => CaseFilter::all(),
    };
    selected_by(spec, &filter)
}

/// Every `(case, variant)` that `filter` selects.
pub fn selected_by(spec: &Spec, filter: &CaseFilter) -> Vec<(&'static CaseDef, &'static str)> {
    spec.variants()
        .filter(|(c, v)| filter.selects(c, v))
        .collect()
}

/// The reference trace against the shim's, as a unified diff, and where the shim's first
/// departs from it.
fn trace_diff(outcome: &CaseOutcome) -> Option<(String, Option<Departure>)> {
    let shim = outcome.trace.as_ref().ok()?;
    let reference = run_reference(&outcome.steps).ok()?;
    let departure = crate::root_cause::departure(&reference, shim);
    let titles = outcome.step_titles();
    let (a, b) = (reference.render(&titles), shim.render(&titles));
    if a == b {
        return None;
    }
    let diff = TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(3)
        .header("reference", "shim")
        .to_string();
    Some((diff, departure))
}

fn result_of(outcome: &CaseOutcome, micros: u64) -> CaseResult {
    let status = Status::of(outcome);
    let failures = outcome
        .checks
        .iter()
        .filter_map(|c| {
            let observed = c.result.as_ref().err()?;
            let rule = outcome.spec.rule(c.rule);
            if outcome.spec.strength_of(c.rule).on_failure() == crate::OnFailure::PermissionUnused {
                return None; // A permission the shim does not use is not a failure.
            }
            Some(Failure {
                rule: c.rule.to_string(),
                strength: rule
                    .map(|r| r.strength.as_str())
                    .unwrap_or("MUST")
                    .to_string(),
                anchor: rule.map(|r| r.anchor()).unwrap_or_default(),
                expected: c.describe.clone(),
                observed: observed.clone(),
                event: None,
                responsible: None,
                monitor: false,
            })
        })
        .chain(outcome.monitors.iter().filter_map(|m| {
            let crate::monitor::Verdict::Violated(v) = &m.verdict else {
                return None;
            };
            let rule = outcome.spec.rule(m.rule);
            if outcome.spec.strength_of(m.rule).on_failure() == crate::OnFailure::PermissionUnused {
                return None;
            }
            Some(Failure {
                rule: m.rule.to_string(),
                strength: rule
                    .map(|r| r.strength.as_str())
                    .unwrap_or("MUST")
                    .to_string(),
                anchor: rule.map(|r| r.anchor()).unwrap_or_default(),
                expected: format!("(monitor) {}", m.expects),
                observed: format!("event #{} by {}: {}", v.event, v.actor, v.observed),
                event: Some(v.event),
                responsible: Some(v.actor.to_string()),
                monitor: true,
            })
        }))
        .collect();
    let failed = status != Status::Pass;
    let root_cause = if failed {
        crate::root_cause::of(outcome)
    } else {
        None
    };
    let (trace_diff, departure) = match failed.then(|| trace_diff(outcome)).flatten() {
        Some((diff, departure)) => (Some(diff), departure.filter(|_| root_cause.is_none())),
        None => (None, None),
    };
    CaseResult {
        name: outcome.name(),
        case: outcome.case.name.to_string(),
        variant: outcome.variant.to_string(),
        title: outcome.case.title.to_string(),
        chapter: outcome.case.chapter.to_string(),
        rules: outcome.case.rules.iter().map(|r| r.to_string()).collect(),
        status,
        reason: None,
        bug: None,
        expected_rules: None,
        new_rules: Vec::new(),
        vanished_rules: Vec::new(),
        failures,
        root_cause,
        departure,
        error: match &outcome.trace {
            Err(e) => Some(e.clone()),
            Ok(t) => t.crashed.as_ref().map(|c| {
                format!(
                    "step {} did not complete: {}{}; later steps did not run",
                    c.step,
                    if c.shim_process {
                        ""
                    } else {
                        "the driver crashed (oops): "
                    },
                    c.message
                )
            }),
        },
        trace_diff,
        trace: if failed {
            outcome.trace.as_ref().ok().cloned()
        } else {
            None
        },
        stderr: None,
        micros,
    }
}

fn not_applicable(case: &CaseDef, variant: &str, reason: String) -> CaseResult {
    CaseResult {
        name: case.variant_name(variant),
        case: case.name.to_string(),
        variant: variant.to_string(),
        title: case.title.to_string(),
        chapter: case.chapter.to_string(),
        rules: case.rules.iter().map(|r| r.to_string()).collect(),
        status: Status::NotApplicable,
        reason: Some(reason),
        bug: None,
        expected_rules: None,
        new_rules: Vec::new(),
        vanished_rules: Vec::new(),
        failures: Vec::new(),
        root_cause: None,
        departure: None,
        error: None,
        trace_diff: None,
        trace: None,
        stderr: None,
        micros: 0,
    }
}

/// What one scenario run on a backend gave.
pub struct Ran {
    /// The trace, or why the scenario could not run at all.
    pub trace: Result<Trace, String>,
    /// What the backend wrote on its standard error meanwhile (out-of-process shims).
    pub stderr: Option<String>,
}

/// Something that runs scenarios and reports traces: an in-process shim, a shim in another
/// process, or a kernel whose traces were collected beforehand.
pub trait Backend {
    /// What the reports say about it.
    fn info(&self) -> ShimInfo;
    /// Whether the case variant exercises it: `Err` gives the reason it does not.
    fn applies_to(&self, case: &CaseDef, variant: &str, steps: &[Step]) -> Result<(), String>;
    /// Runs one case variant's steps.
    fn run(&mut self, case: &CaseDef, variant: &str, steps: &[Step]) -> Ran;
    /// The run's cancellation token, given before the first case: a backend that waits (on a
    /// shim process) stops waiting once it is cancelled. Backends that never wait ignore it.
    fn set_cancel(&mut self, _cancel: &Cancel) {}
    /// Whether a scenario that is no case's (a replayed or generated one) exercises it.
    fn scenario_applies(&self, _steps: &[Step]) -> Result<(), String> {
        Ok(())
    }
    /// Whether a scenario file exercises it: its steps ([`Backend::scenario_applies`]) and,
    /// for a file with threads or a schedule, whether the backend can run calls of several
    /// threads in flight (a shim process of protocol version 1 cannot).
    fn file_applies(&self, file: &ScenarioFile) -> Result<(), String> {
        self.scenario_applies(&file.plain_steps())
    }
    /// Runs a scenario file (a replay, a generated or an explored scenario) labelled `name`.
    fn run_file(&mut self, _name: &str, _file: &ScenarioFile) -> Ran {
        Ran {
            trace: Err(format!(
                "{} runs only the book's cases, not scenario files",
                self.info().name
            )),
            stderr: None,
        }
    }
}

/// An in-process shim, with the reference drivers in every other role.
pub struct InProcess {
    shim: Shim,
    roles: Rc<reference_impl::Roles>,
}

impl InProcess {
    /// The backend of an in-tree shim.
    pub fn new(shim: &Shim) -> InProcess {
        InProcess {
            shim: *shim,
            roles: Rc::new(shim.roles()),
        }
    }
}

impl Backend for InProcess {
    fn info(&self) -> ShimInfo {
        ShimInfo::of(&self.shim)
    }
    fn applies_to(&self, _case: &CaseDef, _variant: &str, steps: &[Step]) -> Result<(), String> {
        self.shim.applies_to(steps)
    }
    fn run(&mut self, _case: &CaseDef, _variant: &str, steps: &[Step]) -> Ran {
        Ran {
            trace: run_with(&self.roles, steps),
            stderr: None,
        }
    }
    fn scenario_applies(&self, steps: &[Step]) -> Result<(), String> {
        self.shim.applies_to(steps)
    }
    fn run_file(&mut self, _name: &str, file: &ScenarioFile) -> Ran {
        Ran {
            trace: run_file_with(self.roles.clone(), file),
            stderr: None,
        }
    }
}

/// Runs a scenario file with `roles`: under its schedule; a schedule the model cannot run
/// (a step preempting the holder of the lock it wants) is an error of the run.
pub fn run_file_with(
    roles: Rc<reference_impl::Roles>,
    file: &ScenarioFile,
) -> Result<Trace, String> {
    if !file.is_concurrent() && file.schedule.is_empty() {
        return run_with(&roles, &file.plain_steps());
    }
    scheduled_trace(reference_impl::run_scheduled(roles, file), file)
}

/// The trace of a scheduled run of `file`; a schedule the model cannot run, or one whose
/// points the run never reached, is an error of the run.
pub fn scheduled_trace(
    run: reference_impl::ScheduledRun,
    file: &ScenarioFile,
) -> Result<Trace, String> {
    if !file.is_concurrent() && file.schedule.is_empty() {
        return run.trace;
    }
    if let Some(b) = run.blocked {
        return Err(b);
    }
    if let Some(p) = run.unused.first() {
        return Err(format!("the run never reached the schedule's point: {p}"));
    }
    run.trace
}

/// Runs the selected cases against one shim; `progress` is told of every finished case.
pub fn run_shim(
    shim: &Shim,
    opts: &RunOptions<'_>,
    progress: &mut dyn FnMut(&str, &CaseResult),
) -> ShimResults {
    run_backend(&mut InProcess::new(shim), opts, progress)
}

/// Runs the selected cases against one backend; `progress` is told of every finished case.
/// Once `opts.cancel` is cancelled (Ctrl-C), the results stop before the case that was
/// running.
pub fn run_backend(
    backend: &mut dyn Backend,
    opts: &RunOptions<'_>,
    progress: &mut dyn FnMut(&str, &CaseResult),
) -> ShimResults {
    let info = backend.info();
    backend.set_cancel(&opts.cancel);
    let mut cases = Vec::new();
    let mut outcomes = Vec::new();
    for (case, variant) in selected_by(&opts.spec, opts.filter) {
        let steps = scenario_of(case, variant)
            .map(|s| s.steps)
            .unwrap_or_default();
        let (mut result, outcome) = match backend.applies_to(case, variant, &steps) {
            Err(reason) => (not_applicable(case, variant, reason), None),
            Ok(()) => {
                let start = Instant::now();
                let mut stderr = None;
                let outcome = run_case(&opts.spec, case, variant, &mut |steps: &[Step]| {
                    let ran = backend.run(case, variant, steps);
                    stderr = ran.stderr;
                    ran.trace
                });
                let micros = start.elapsed().as_micros() as u64;
                let mut result = result_of(&outcome, micros);
                result.stderr = stderr.filter(|s| !s.is_empty());
                (result, Some(outcome))
            }
        };
        if opts.cancel.is_cancelled() {
            break;
        }
        if let Some(exps) = opts.expectations {
            exps.apply(&info.name, &mut result, opts.today);
        }
        progress(&info.name, &result);
        cases.push(result);
        outcomes.push(outcome);
    }
    let refs: Vec<Option<&CaseOutcome>> = outcomes.iter().map(Option::as_ref).collect();
    ShimResults {
        shim: info,
        rules: rule_verdicts(&opts.spec, &cases, &refs),
        summary: Summary::of(&cases),
        cases,
    }
}

/// Runs the selected cases against every shim given.
pub fn run_shims(
    shims: &[Shim],
    opts: &RunOptions<'_>,
    progress: &mut dyn FnMut(&str, &CaseResult),
) -> RunResults {
    let shims: Vec<ShimResults> = shims.iter().map(|s| run_shim(s, opts, progress)).collect();
    collect(&opts.spec, shims, false)
}

/// A whole run's results from per-shim results judged by `spec`; `partial` if the run was
/// interrupted.
pub fn collect(spec: &Spec, shims: Vec<ShimResults>, partial: bool) -> RunResults {
    let mut summary = Summary::default();
    for s in &shims {
        summary.add(&s.summary);
    }
    RunResults {
        version: FORMAT_VERSION,
        suite: env!("CARGO_PKG_VERSION").to_string(),
        shims,
        summary,
        partial,
        provenance: crate::results::Provenance::of(spec),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Strength;
    use crate::outcome::CheckOutcome;
    use crate::results::Verdict;

    fn rule_of(strength: Strength) -> &'static str {
        crate::spec()
            .rules
            .iter()
            .find(|r| r.strength == strength)
            .map(|r| r.id)
            .expect("the book has a rule of every strength")
    }

    fn failed(rule: &'static str) -> CheckOutcome {
        CheckOutcome {
            rule,
            describe: "something".into(),
            result: Err("something else".into()),
        }
    }

    /// The strength policy, seen in every place that applies it: a failed MUST check fails
    /// the case and violates the rule; a failed SHOULD check warns in both; a failed MAY check
    /// is a permission not used, which shows nowhere (the rule matrix used to print it as a
    /// warning).
    #[test]
    fn strength_policy_is_the_same_for_cases_failures_and_rules() {
        let (must, should, may) = (
            rule_of(Strength::Must),
            rule_of(Strength::Should),
            rule_of(Strength::May),
        );
        let verdict_of = |rules: &[crate::results::RuleVerdict], id: &str| {
            rules
                .iter()
                .find(|r| r.rule == id)
                .map(|r| r.verdict)
                .expect("every rule has a verdict")
        };
        let spec = crate::spec();
        let outcome = |checks: Vec<CheckOutcome>| CaseOutcome {
            spec,
            case: &spec.cases[0],
            variant: spec.cases[0].variants[0].label,
            steps: Vec::new(),
            trace: Ok(Trace::default()),
            checks,
            monitors: Vec::new(),
        };

        let may_only = outcome(vec![failed(may)]);
        let result = result_of(&may_only, 0);
        assert_eq!(result.status, Status::Pass);
        assert!(result.failures.is_empty());
        let rules = rule_verdicts(&spec, std::slice::from_ref(&result), &[Some(&may_only)]);
        assert_eq!(verdict_of(&rules, may), Verdict::NotApplicable);

        let with_should = outcome(vec![failed(may), failed(should)]);
        let result = result_of(&with_should, 0);
        assert_eq!(result.status, Status::Warn);
        assert_eq!(result.failures.len(), 1);
        assert_eq!(result.failures[0].rule, should);
        let rules = rule_verdicts(&spec, std::slice::from_ref(&result), &[Some(&with_should)]);
        assert_eq!(verdict_of(&rules, should), Verdict::ViolatedShould);
        assert_eq!(verdict_of(&rules, may), Verdict::NotApplicable);

        let with_must = outcome(vec![failed(may), failed(should), failed(must)]);
        let result = result_of(&with_must, 0);
        assert_eq!(result.status, Status::Fail);
        let rules = rule_verdicts(&spec, std::slice::from_ref(&result), &[Some(&with_must)]);
        assert_eq!(verdict_of(&rules, must), Verdict::Violated);
    }

    /// A rule broken only as a consequence of another's violation (the case's root cause
    /// lists it) is a `consequence`, which does not fail the run; broken on its own in
    /// another case, it is violated.
    #[test]
    fn a_consequence_of_a_root_cause_is_not_a_violation_of_its_own() {
        let spec = crate::spec();
        let mut musts = spec.rules.iter().filter(|r| r.strength == Strength::Must);
        let (root, follows) = (
            musts.next().expect("a MUST rule").id,
            musts.next().expect("two").id,
        );
        let verdict_of = |rules: &[crate::results::RuleVerdict], id: &str| {
            rules.iter().find(|r| r.rule == id).map(|r| r.verdict)
        };
        let outcome = |checks: Vec<CheckOutcome>| CaseOutcome {
            spec,
            case: &spec.cases[0],
            variant: spec.cases[0].variants[0].label,
            steps: Vec::new(),
            trace: Ok(Trace::default()),
            checks,
            monitors: Vec::new(),
        };
        let both = outcome(vec![failed(root), failed(follows)]);
        let mut result = result_of(&both, 0);
        result.root_cause = Some(crate::results::RootCause {
            rule: root.to_string(),
            event: 0,
            role: reference_impl::Role::Exporter,
            consequences: vec![follows.to_string()],
            actor: None,
            observed: None,
        });
        let rules = rule_verdicts(&spec, std::slice::from_ref(&result), &[Some(&both)]);
        assert_eq!(verdict_of(&rules, root), Some(Verdict::Violated));
        assert_eq!(verdict_of(&rules, follows), Some(Verdict::Consequence));
        assert!(!Verdict::Consequence.fails_run());

        let alone = outcome(vec![failed(follows)]);
        let alone_result = result_of(&alone, 0);
        let rules = rule_verdicts(&spec, &[result, alone_result], &[Some(&both), Some(&alone)]);
        assert_eq!(verdict_of(&rules, follows), Some(Verdict::Violated));
    }

    /// A backend that runs the reference and cancels the run once it has run `stop_after`
    /// cases, as Ctrl-C would in the middle of a case.
    struct CancelsAfter {
        cancel: Option<Cancel>,
        runs: usize,
        stop_after: usize,
    }

    impl Backend for CancelsAfter {
        fn info(&self) -> ShimInfo {
            ShimInfo {
                name: "cancels".into(),
                role: reference_impl::Role::Exporter,
                plays: Vec::new(),
                capabilities: Vec::new(),
                description: String::new(),
                process: None,
                kernel: None,
            }
        }
        fn applies_to(&self, _: &CaseDef, _: &str, _: &[Step]) -> Result<(), String> {
            Ok(())
        }
        fn set_cancel(&mut self, cancel: &Cancel) {
            self.cancel = Some(cancel.clone());
        }
        fn run(&mut self, _: &CaseDef, _: &str, steps: &[Step]) -> Ran {
            self.runs += 1;
            if self.runs == self.stop_after {
                self.cancel.as_ref().expect("the runner's token").cancel();
            }
            Ran {
                trace: run_reference(steps),
                stderr: None,
            }
        }
    }

    fn options(spec: Spec, filter: &CaseFilter) -> RunOptions<'_> {
        RunOptions {
            spec,
            filter,
            expectations: None,
            today: Date::MIN,
            cancel: Cancel::new(),
        }
    }

    /// The runner hands its token to the backend; once cancelled, the case in progress is
    /// left out and no other case runs.
    #[test]
    fn a_cancelled_run_stops_after_the_case_in_progress() {
        let filter = CaseFilter::all();
        let opts = options(crate::spec(), &filter);
        let mut backend = CancelsAfter {
            cancel: None,
            runs: 0,
            stop_after: 3,
        };
        let results = run_backend(&mut backend, &opts, &mut |_, _| {});
        assert!(opts.cancel.is_cancelled());
        assert_eq!(backend.runs, 3);
        assert_eq!(results.cases.len(), 2);
    }

    /// A run judges against the spec it is given, not the book's: its cases run, its rules
    /// get verdicts, its rules make the provenance.
    #[test]
    fn a_run_judges_against_the_spec_it_is_given() {
        let book = crate::spec();
        let case = book
            .cases
            .iter()
            .position(|c| c.variants.len() == 1)
            .expect("an unparameterised case");
        let rule = book
            .rules
            .iter()
            .position(|r| r.id == book.cases[case].rules[0])
            .expect("its rule");
        let one = Spec {
            rules: &book.rules[rule..=rule],
            aliases: &[],
            cases: &book.cases[case..=case],
        };
        let filter = CaseFilter::all();
        let opts = options(one, &filter);
        let mut backend = CancelsAfter {
            cancel: None,
            runs: 0,
            stop_after: usize::MAX,
        };
        let results = run_backend(&mut backend, &opts, &mut |_, _| {});
        assert_eq!(backend.runs, 1);
        assert_eq!(results.cases.len(), 1);
        assert_eq!(results.cases[0].case, book.cases[case].name);
        let rules: Vec<&str> = results.rules.iter().map(|r| r.rule.as_str()).collect();
        assert_eq!(rules, [book.rules[rule].id]);
        let whole = collect(&book, Vec::new(), false).provenance;
        let part = collect(&one, Vec::new(), false).provenance;
        assert_eq!(part.rules.len(), 1);
        assert_ne!(part.spec, whole.spec);
    }
}
