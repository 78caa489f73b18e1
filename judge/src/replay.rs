//! Replaying a portable scenario file on a backend and judging its trace: by the
//! rules' monitors ([`crate::monitor`]), the scenario-independent checks
//! ([`crate::invariants`]), the hang contract ([`crate::hangs`]) and, for a file written from
//! a case, by the case's own checks.

use std::fmt::Write as _;

use reference_impl::{Call, Ret, ScenarioFile, Thread, Trace};
use spec_chapters::mermaid::mermaid_text;

use crate::outcome::{CheckOutcome, scenario_of};
use crate::runner::Backend;
use crate::{CaseDef, Spec};

/// What a replay gave.
#[derive(Debug, Clone)]
pub struct Replayed {
    /// The scenario.
    pub file: ScenarioFile,
    /// The trace, or why the backend could not run it.
    pub trace: Result<Trace, String>,
    /// Every check's result: the case's first (if the file names one), then the invariants.
    pub checks: Vec<CheckOutcome>,
    /// What the backend wrote on its standard error.
    pub stderr: Option<String>,
}

impl Replayed {
    /// Whether the trace exists and every check holds.
    pub fn passed(&self) -> bool {
        self.trace.is_ok() && self.checks.iter().all(|c| c.result.is_ok())
    }

    /// The failed checks.
    pub fn failures(&self) -> impl Iterator<Item = &CheckOutcome> {
        self.checks.iter().filter(|c| c.result.is_err())
    }

    /// The human report: the steps with their threads, the schedule, the trace in the order
    /// it ran, and every failed check.
    pub fn report(&self) -> String {
        let mut out = String::new();
        let f = &self.file;
        if let Some(t) = &f.title {
            let _ = writeln!(out, "{t}");
        }
        let _ = writeln!(out, "steps:");
        for (i, s) in f.steps.iter().enumerate() {
            let _ = writeln!(out, "  {i}: [{}] {}", s.thread(), s.step);
        }
        if !f.schedule.is_empty() {
            let _ = writeln!(out, "schedule:");
            for p in &f.schedule {
                let _ = writeln!(out, "  {p}");
            }
        }
        match &self.trace {
            Err(e) => {
                let _ = writeln!(out, "error: {e}");
            }
            Ok(t) => {
                let _ = writeln!(out, "trace:");
                out.push_str(&render_in_order(t, f));
            }
        }
        let failed: Vec<&CheckOutcome> = self.failures().collect();
        if failed.is_empty() && self.trace.is_ok() {
            let _ = writeln!(out, "pass: {} checks hold", self.checks.len());
        } else {
            for c in failed {
                let _ = writeln!(
                    out,
                    "fail {}: expected {}; {}",
                    c.rule,
                    c.describe,
                    c.result.as_ref().err().map(String::as_str).unwrap_or("")
                );
            }
        }
        if let Some(e) = self.stderr.as_deref().filter(|s| !s.is_empty()) {
            let _ = writeln!(out, "shim stderr:\n{e}");
        }
        out
    }
}

/// The trace in the order it ran, each call under the step (and thread) it belongs to; a step
/// that ran inside another is marked where it starts and ends.
pub fn render_in_order(t: &Trace, f: &ScenarioFile) -> String {
    let mut out = String::new();
    let threads: Vec<Thread> = f.threads();
    let mut current: Option<usize> = None;
    for (i, ev) in t.events.iter().enumerate() {
        if current != Some(ev.step) {
            let title = f
                .steps
                .get(ev.step)
                .map(|s| s.step.to_string())
                .unwrap_or_default();
            let thread = threads.get(ev.step).map(Thread::as_str).unwrap_or("main");
            let _ = writeln!(out, "  -- step {} [{thread}]: {title}", ev.step);
            current = Some(ev.step);
        }
        let _ = writeln!(out, "  {}", ev.line(i));
    }
    if let Some(step) = t.hung_at {
        let _ = writeln!(
            out,
            "  scenario stopped: a call in step {step} never returns"
        );
    }
    if let Some(c) = &t.crashed {
        let _ = writeln!(out, "  scenario stopped: step {}: {}", c.step, c.message);
    }
    out
}

/// The case variant a file names, if its steps are that variant's.
fn case_of(
    spec: &Spec,
    file: &ScenarioFile,
) -> Result<Option<(&'static CaseDef, &'static str)>, String> {
    let Some(name) = &file.case else {
        return Ok(None);
    };
    let found = spec
        .variants()
        .find(|(c, v)| c.variant_name(v) == *name)
        .ok_or_else(|| format!("the file names case `{name}`, which the book does not have"))?;
    let steps = scenario_of(found.0, found.1).map(|s| s.steps);
    if steps.as_deref() != Some(&file.plain_steps()[..]) {
        return Err(format!(
            "the file names case `{name}` but its steps are not the case's: drop `case` to \
             judge it by the invariants alone"
        ));
    }
    Ok(Some(found))
}

/// Judges a trace of `file`: every rule's monitor that applies, the case's checks (if it names
/// one), then the invariants.
pub fn judge(spec: &Spec, file: &ScenarioFile, trace: &Trace) -> Result<Vec<CheckOutcome>, String> {
    let mut checks: Vec<CheckOutcome> = crate::monitor::judge_trace(&file.plain_steps(), trace)
        .into_iter()
        .filter_map(|(m, v)| {
            let result = match v {
                crate::monitor::Verdict::Held => Ok(()),
                crate::monitor::Verdict::Violated(v) => {
                    Err(format!("event #{} by {}: {}", v.event, v.actor, v.observed))
                }
                _ => return None,
            };
            Some(CheckOutcome {
                rule: m.rule,
                describe: format!("{} {}", crate::monitor::MONITOR_MARK, m.expects),
                result,
            })
        })
        .collect();
    if let Some((case, variant)) = case_of(spec, file)? {
        let scenario = scenario_of(case, variant).expect("the variant exists");
        checks.extend(scenario.checks.iter().map(|c| CheckOutcome {
            rule: c.rule,
            describe: c.check.describe.clone(),
            result: c.check.eval(trace),
        }));
    }
    checks.extend(crate::invariants::judge(trace));
    // A hang the contract does not allow, under the rule it breaks (a trace that returns, or
    // hangs as allowed, adds nothing: the case's checks say what it expects of its waits).
    // Said once: not again when the rule's monitor already reported it.
    if let Some(u) = crate::hangs::unexplained(&file.plain_steps(), trace)
        && !checks.iter().any(|c| c.rule == u.rule && c.result.is_err())
    {
        checks.push(CheckOutcome {
            rule: u.rule,
            describe: format!("{} {}", crate::hangs::HANG_MARK, crate::hangs::EXPECTS),
            result: Err(format!("event #{} by {}: {}", u.event, u.actor, u.observed)),
        });
    }
    Ok(checks)
}

/// Runs `file` on `backend` and judges the trace. `Err`: the file does not apply to the
/// backend (a profile it does not play), or names a case it is not.
pub fn replay(
    spec: &Spec,
    backend: &mut dyn Backend,
    file: &ScenarioFile,
) -> Result<Replayed, String> {
    case_of(spec, file)?;
    backend.file_applies(file)?;
    let name = file.title.clone().unwrap_or_else(|| "replay".to_string());
    let ran = backend.run_file(&name, file);
    let checks = match &ran.trace {
        Ok(t) => judge(spec, file, t)?,
        Err(_) => Vec::new(),
    };
    Ok(Replayed {
        file: file.clone(),
        trace: ran.trace,
        checks,
        stderr: ran.stderr,
    })
}

/// The trace as a mermaid sequence diagram with one lane per thread: each call a thread
/// makes goes from its lane to the core (calls made inside a call, such as an importer's
/// callback, are indented under it), and each step that ran inside another is boxed as a
/// note where it starts. A work item's stage (a `worker` call and what it calls) goes on the
/// lane of the kernel's worker thread, `kworker`.
pub fn lanes_diagram(t: &Trace, f: &ScenarioFile) -> String {
    let threads = f.threads();
    let kworker = Thread::kworker();
    let mut lanes: Vec<&Thread> = Vec::new();
    for th in &threads {
        if !lanes.contains(&th) {
            lanes.push(th);
        }
    }
    if t.events
        .iter()
        .any(|e| matches!(e.call, Call::Worker { .. }))
    {
        lanes.push(&kworker);
    }
    let id = |th: &Thread| format!("T_{}", th.as_str().replace('-', "_"));
    let mut out = String::from("sequenceDiagram\n");
    for th in &lanes {
        let _ = writeln!(out, "    participant {} as thread {th}", id(th));
    }
    let _ = writeln!(out, "    participant K as kernel and other roles");
    let mut current: Option<usize> = None;
    // The depth of the `worker` call whose stage runs now, if one does.
    let mut worker: Option<u32> = None;
    for ev in &t.events {
        let Some(mut th) = threads.get(ev.step) else {
            continue;
        };
        if worker.is_some_and(|d| ev.depth <= d) {
            worker = None;
        }
        if worker.is_none() && matches!(ev.call, Call::Worker { .. }) {
            worker = Some(ev.depth);
        }
        if worker.is_some() {
            th = &kworker;
        } else if current != Some(ev.step) {
            let title = f.steps[ev.step].step.to_string();
            let _ = writeln!(
                out,
                "    Note over {}: step {}: {}",
                id(th),
                ev.step,
                mermaid_text(&title)
            );
            current = Some(ev.step);
        }
        let ret = match &ev.ret {
            Some(Ret::Void) | None => String::new(),
            Some(r) => format!(" = {r}"),
        };
        let lock = if ev.locked { " [locked]" } else { "" };
        let indent = "· ".repeat(ev.depth as usize);
        let label = format!(
            "{indent}{} → {}: {}{lock}{ret}",
            ev.from,
            ev.to,
            ev.call.render()
        );
        let _ = writeln!(out, "    {}->>K: {}", id(th), mermaid_text(&label));
    }
    if let Some(step) = t.hung_at {
        let _ = writeln!(out, "    Note over K: a call in step {step} never returns");
    }
    out
}
