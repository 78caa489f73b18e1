//! Schedules of the racy cases replayed on the real kernel: the runner's step interpreter
//! runs each scenario thread as a kthread and stops a step, with completions, at the
//! scheduling points it controls (between steps, in its test drivers' ops and callbacks, in
//! its fences' ops, and in the hooks of the core's `dma_resv_lock()`, `dma_resv_unlock()` and
//! `dma_resv_wait_timeout()` calls). A schedule that needs a point inside the core's own code
//! is not replayable, with the reason; it never runs in another order.
//!
//! Per racy case: its written order, its kept regression schedule (the minimal one that
//! catches its broken shim), and one passing schedule of the reference per distinct model
//! trace of the bounded exploration (the first, with the fewest preemptions, that the
//! interpreter can express). Each kernel trace is judged as a replayed file is (the rules'
//! monitors, the case's checks, the invariants) and compared with the model's trace of the
//! same schedule.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::rc::Rc;

use reference_impl::{
    ExploreOptions, PointKind, Preemption, Roles, ScenarioFile, Thread, Trace, run_scheduled,
};

use crate::parse::KernelTrace;
use crate::version::Target;

/// The kept regression schedules of the racy cases
/// (`conformance/tests/scenarios/regressions/`), built into the binary.
const REGRESSIONS: &[(&str, &str)] = &[
    (
        "cleanup-races-a-revoke-at-its-lock.json",
        include_str!(
            "../../conformance/tests/scenarios/regressions/cleanup-races-a-revoke-at-its-lock.json"
        ),
    ),
    (
        "eviction-inside-the-attach.json",
        include_str!(
            "../../conformance/tests/scenarios/regressions/eviction-inside-the-attach.json"
        ),
    ),
    (
        "moves-while-the-unmap-worker-runs-before-the-detach-unmaps.json",
        include_str!(
            "../../conformance/tests/scenarios/regressions/moves-while-the-unmap-worker-runs-before-the-detach-unmaps.json"
        ),
    ),
    (
        "restore-races-an-attach-before-the-rearm.json",
        include_str!(
            "../../conformance/tests/scenarios/regressions/restore-races-an-attach-before-the-rearm.json"
        ),
    ),
    (
        "revoke-races-a-detach-after-its-unmap.json",
        include_str!(
            "../../conformance/tests/scenarios/regressions/revoke-races-a-detach-after-its-unmap.json"
        ),
    ),
    (
        "revoke-races-a-map-at-the-unlock.json",
        include_str!(
            "../../conformance/tests/scenarios/regressions/revoke-races-a-map-at-the-unlock.json"
        ),
    ),
    (
        "revoke-races-a-submission-after-its-map.json",
        include_str!(
            "../../conformance/tests/scenarios/regressions/revoke-races-a-submission-after-its-map.json"
        ),
    ),
    (
        "unplug-stops-the-unmap-worker-half-way.json",
        include_str!(
            "../../conformance/tests/scenarios/regressions/unplug-stops-the-unmap-worker-half-way.json"
        ),
    ),
    (
        "worker-races-a-restore-stopped-after-its-unmap.json",
        include_str!(
            "../../conformance/tests/scenarios/regressions/worker-races-a-restore-stopped-after-its-unmap.json"
        ),
    ),
];

/// The mutant C driver whose bug only a schedule shows, the rule it breaks, and the broken
/// in-tree shim with the same bug (whose model trace its kernel trace is compared with).
pub const REPLAY_MUTANT: (&str, &str, &str) = (
    "vfio-marks-after-unlock",
    "revoke.exporter.mark-under-lock",
    "broken-vfio-marks-after-unlock",
);

/// The roles the model plays a kernel suite's drivers with: the reference for `none`, the
/// broken shim with the mutant's bug for the replay mutant.
pub fn model_roles(mutant: &str) -> Rc<Roles> {
    if mutant == REPLAY_MUTANT.0
        && let Some(r) = shims::registry::by_name(REPLAY_MUTANT.2)
        && let shims::registry::Runs::InProcess { shim, .. } = r.runs
    {
        return Rc::new(shim.roles());
    }
    Rc::new(Roles::reference())
}

/// How far the reference's passing schedules are explored (the races table's bound).
const BOUND: usize = 2;

/// One schedule of a racy case, for the kernel.
#[derive(Debug, Clone)]
pub struct Replay {
    /// Its name in the kernel's output: `CASE~written`, `CASE~regression`, `CASE~sN`.
    pub name: String,
    /// The case variant.
    pub case: String,
    /// What it is, for the book.
    pub label: String,
    /// The scenario with its schedule.
    pub file: ScenarioFile,
    /// Why the step interpreter cannot replay it (`None`: it can).
    pub unreplayable: Option<String>,
}

/// Why the bridge cannot run the preemption `p` (`None`: it can).
pub fn point_unreachable(p: &Preemption) -> Option<String> {
    if p.run.is_kworker() {
        return Some(format!(
            "at step {}'s {} {}, the schedule runs the next stage of a work item on the \
             kernel's worker (`kworker`): the bridge's C test importers queue no work (the \
             dynamic one unmaps inside its callback), and the interpreter runs no worker",
            p.step,
            point_word(p.point),
            p.nth
        ));
    }
    match p.point {
        PointKind::Linked => Some(format!(
            "step {}'s `linked` point lies inside `dma_buf_dynamic_attach()`, between \
             `list_add()` and its `dma_resv_unlock()`: the core's own code, which the bridge \
             neither patches nor hooks",
            p.step
        )),
        PointKind::Start
        | PointKind::Lock
        | PointKind::Unlock
        | PointKind::FenceWait
        | PointKind::FenceSignal
        | PointKind::UnmapWait
        | PointKind::CallbackEntry
        | PointKind::CallbackExit => None,
    }
}

fn unreplayable(file: &ScenarioFile) -> Option<String> {
    let reasons: Vec<String> = file.schedule.iter().filter_map(point_unreachable).collect();
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

/// The schedule in one line (`-`: the written order).
pub fn schedule_text(file: &ScenarioFile) -> String {
    if file.schedule.is_empty() {
        return "-".to_string();
    }
    file.schedule
        .iter()
        .map(|p| {
            if p.point == PointKind::Start {
                format!("{} before step {}", p.run, p.step)
            } else {
                format!(
                    "{} at step {}'s {} {}",
                    p.run,
                    p.step,
                    point_word(p.point),
                    p.nth
                )
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The scenario file's spelling of a point.
fn point_word(p: PointKind) -> &'static str {
    match p {
        PointKind::Start => "start",
        PointKind::Lock => "lock",
        PointKind::Unlock => "unlock",
        PointKind::Linked => "linked",
        PointKind::FenceWait => "fence_wait",
        PointKind::FenceSignal => "fence_signal",
        PointKind::UnmapWait => "unmap_wait",
        PointKind::CallbackEntry => "callback_entry",
        PointKind::CallbackExit => "callback_exit",
    }
}

fn events_key(t: &Trace) -> String {
    format!("{:?}{:?}", t.events, t.hung_at)
}

/// Every schedule the bridge replays or reports, racy case by racy case.
pub fn replays() -> Vec<Replay> {
    let spec = judge::spec();
    let roles = Rc::new(Roles::reference());
    let mut out = Vec::new();
    for (case, variant) in judge::races::racy_cases(&spec) {
        let name = case.variant_name(variant);
        let scenario = judge::outcome::scenario_of(case, variant).expect("the variant exists");
        let mut base = scenario.to_file();
        base.case = Some(name.clone());
        base.title = Some(case.title.to_string());
        out.push(Replay {
            name: format!("{name}~written"),
            case: name.clone(),
            label: "written order".into(),
            file: base.clone(),
            unreplayable: None,
        });
        let mut taken: Vec<Vec<Preemption>> = vec![Vec::new()];
        for (file_name, text) in REGRESSIONS {
            let Ok(file) = serde_json::from_str::<ScenarioFile>(text) else {
                continue;
            };
            if file.case.as_deref() != Some(name.as_str()) {
                continue;
            }
            taken.push(file.schedule.clone());
            out.push(Replay {
                name: format!("{name}~regression"),
                case: name.clone(),
                label: format!("regression `{file_name}`"),
                unreplayable: unreplayable(&file),
                file: ScenarioFile {
                    title: base.title.clone(),
                    ..file
                },
            });
        }
        // The reference's passing schedules, one per distinct model trace: the first the
        // interpreter can express, else the first (reported as not replayable).
        let runs: RefCell<Vec<(ScenarioFile, String)>> = RefCell::default();
        let mut run = |f: &ScenarioFile| {
            let r = run_scheduled(roles.clone(), f);
            if r.blocked.is_none()
                && r.unused.is_empty()
                && let Ok(t) = &r.trace
            {
                runs.borrow_mut().push((f.clone(), events_key(t)));
            }
            r
        };
        let opts = ExploreOptions {
            bound: BOUND,
            samples: 0,
            seed: 0,
        };
        let ex = judge::races::explore_case_with(&mut run, case, variant, opts);
        if ex.violation.is_some() {
            continue; // The races test says so; the reference passes every schedule.
        }
        let runs = runs.into_inner();
        let mut seen: HashSet<&str> = HashSet::new();
        let mut k = 0;
        for (f, key) in &runs {
            if !seen.insert(key) {
                continue;
            }
            let same: Vec<&ScenarioFile> = runs
                .iter()
                .filter(|(_, k2)| k2 == key)
                .map(|(f2, _)| f2)
                .collect();
            let pick = same
                .iter()
                .find(|f2| unreplayable(f2).is_none())
                .copied()
                .unwrap_or(f);
            if taken.contains(&pick.schedule) {
                continue;
            }
            taken.push(pick.schedule.clone());
            k += 1;
            out.push(Replay {
                name: format!("{name}~s{k}"),
                case: name.clone(),
                label: format!("reference schedule {k}"),
                unreplayable: unreplayable(pick),
                file: pick.clone(),
            });
        }
        // The first passing schedule at a point the bridge cannot stop at, reported as such.
        if let Some((f, _)) = runs.iter().find(|(f, _)| unreplayable(f).is_some())
            && !taken.contains(&f.schedule)
        {
            out.push(Replay {
                name: format!("{name}~core"),
                case: name.clone(),
                label: "reference schedule at a point in core code".into(),
                unreplayable: unreplayable(f),
                file: f.clone(),
            });
        }
    }
    out
}

fn point_c(p: PointKind) -> &'static str {
    match p {
        PointKind::Start => "RS_PT_START",
        PointKind::Lock => "RS_PT_LOCK",
        PointKind::Unlock => "RS_PT_UNLOCK",
        PointKind::Linked => "RS_PT_LINKED",
        PointKind::FenceWait => "RS_PT_FENCE_WAIT",
        PointKind::FenceSignal => "RS_PT_FENCE_SIGNAL",
        PointKind::UnmapWait => "RS_PT_UNMAP_WAIT",
        PointKind::CallbackEntry => "RS_PT_CALLBACK_ENTRY",
        PointKind::CallbackExit => "RS_PT_CALLBACK_EXIT",
    }
}

/// The threads of a file, `main` first: a step's thread is its index here.
fn thread_index(file: &ScenarioFile) -> Vec<Thread> {
    let mut threads = vec![Thread::main()];
    for t in file.threads() {
        if !threads.contains(&t) {
            threads.push(t);
        }
    }
    threads
}

/// The C tables of the replayable schedules (`rs_replays`), appended to the scenarios'.
pub fn c_tables(replays: &[Replay]) -> String {
    let mut out = String::new();
    let runnable: Vec<&Replay> = replays
        .iter()
        .filter(|r| r.unreplayable.is_none())
        .collect();
    for (i, r) in runnable.iter().enumerate() {
        let threads = thread_index(&r.file);
        let at = |t: &Thread| threads.iter().position(|x| x == t).unwrap_or(0);
        let _ = writeln!(out, "/* {}: {} */", r.name, schedule_text(&r.file));
        let _ = writeln!(
            out,
            "static const struct rs_step rs_replay_steps_{i}[] = {{"
        );
        for s in &r.file.steps {
            let init = crate::ctable::step(&s.step);
            let init = init.strip_suffix(" }").unwrap_or(&init);
            let _ = writeln!(out, "\t{init}, .thread = {} }},", at(&s.thread()));
        }
        let _ = writeln!(out, "}};");
        let _ = writeln!(
            out,
            "static const struct rs_preempt rs_replay_sched_{i}[] = {{"
        );
        for p in &r.file.schedule {
            let _ = writeln!(
                out,
                "\t{{ .step = {}, .point = {}, .nth = {}, .run = {} }},",
                p.step,
                point_c(p.point),
                p.nth,
                at(&p.run)
            );
        }
        let _ = writeln!(out, "}};\n");
    }
    let _ = writeln!(out, "static const struct rs_scenario rs_replays[] = {{");
    for (i, r) in runnable.iter().enumerate() {
        let _ = writeln!(
            out,
            "\t{{ .name = \"{}\", .steps = rs_replay_steps_{i}, .n = ARRAY_SIZE(rs_replay_steps_{i}), .nthreads = {}, .sched = rs_replay_sched_{i}, .nsched = ARRAY_SIZE(rs_replay_sched_{i}) }},",
            r.name,
            thread_index(&r.file).len()
        );
    }
    let _ = writeln!(out, "}};");
    out
}

/// One schedule's result on one kernel configuration.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReplayLine {
    /// The case variant.
    pub case: String,
    /// What the schedule is (written order, regression, reference schedule N).
    pub label: String,
    /// The schedule, in one line.
    pub schedule: String,
    /// `pass`, `fail`, `not-replayable`, `not-applicable` or `error`.
    pub status: String,
    /// The failed rules, or why it was not replayed, or why it could not run.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// Whether the kernel's trace is the model's for the same schedule (`same`), or where
    /// it first differs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub model: String,
}

/// Where two traces first differ (`same` if they do not).
fn compare(model: &Trace, kernel: &Trace) -> String {
    for (i, (m, k)) in model.events.iter().zip(&kernel.events).enumerate() {
        if m != k {
            return format!(
                "differs at event #{i}: the model has `{}`, the kernel `{}`",
                m.line(i).trim(),
                k.line(i).trim()
            );
        }
    }
    match model.events.len().cmp(&kernel.events.len()) {
        std::cmp::Ordering::Equal if model.hung_at == kernel.hung_at => "same".into(),
        std::cmp::Ordering::Equal => format!(
            "same events; the model stops at {:?}, the kernel at {:?}",
            model.hung_at, kernel.hung_at
        ),
        _ => format!(
            "the model has {} events, the kernel {} (the first {} agree)",
            model.events.len(),
            kernel.events.len(),
            model.events.len().min(kernel.events.len())
        ),
    }
}

/// Judges every replay's kernel trace for one configuration (`mutant`: the suite).
pub fn judge_replays(
    replays: &[Replay],
    traces: &[KernelTrace],
    target: &Target,
    mutant: &str,
) -> Vec<ReplayLine> {
    let spec = judge::spec();
    let roles = model_roles(mutant);
    let mut out = Vec::new();
    for r in replays {
        let mut line = ReplayLine {
            case: r.case.clone(),
            label: r.label.clone(),
            schedule: schedule_text(&r.file),
            status: String::new(),
            detail: String::new(),
            model: String::new(),
        };
        if let Some(why) = &r.unreplayable {
            line.status = "not-replayable".into();
            line.detail = why.clone();
            out.push(line);
            continue;
        }
        let Some((case, variant)) = spec.variants().find(|(c, v)| c.variant_name(v) == r.case)
        else {
            continue;
        };
        let steps = r.file.plain_steps();
        if let Err(why) = target.case_applies(case, &steps) {
            line.status = "not-applicable".into();
            line.detail = why;
            out.push(line);
            continue;
        }
        // A schedule puts a step where the written order does not, so what an unheld rule
        // the scenario relies on takes away is not read from the trace as for the written
        // order (`Target::exercised`): any such rule makes every schedule not applicable.
        let unheld: Vec<String> = crate::relied_on(&steps)
            .into_iter()
            .filter_map(|r| {
                let e = target.rule_holds(spec.rule(r.rule)?).err()?;
                Some(format!("{}. {e}", r.why))
            })
            .collect();
        if !unheld.is_empty() {
            line.status = "not-applicable".into();
            line.detail = unheld.join(". Also, ");
            out.push(line);
            continue;
        }
        let Some(kt) = traces
            .iter()
            .find(|t| t.mutant == mutant && t.name == r.name)
        else {
            line.status = "error".into();
            line.detail = "the kernel printed no trace for it".into();
            out.push(line);
            continue;
        };
        let model = run_scheduled(roles.clone(), &r.file);
        if let Some(b) = &model.blocked {
            // A schedule the model cannot run either (a kept regression of a broken shim
            // whose bug is what makes it runnable).
            line.status = "not-runnable".into();
            line.detail = match &kt.blocked {
                Some(kb) => format!("the model cannot run it: {b}; on the kernel, {kb}"),
                None => {
                    line.status = "error".into();
                    format!("the model cannot run it ({b}), and the kernel ran it")
                }
            };
            out.push(line);
            continue;
        }
        if !kt.unreached.is_empty() || kt.blocked.is_some() {
            line.status = "not-replayable".into();
            let mut why: Vec<String> = kt
                .unreached
                .iter()
                .map(|p| format!("the kernel never reached {p}"))
                .collect();
            why.extend(kt.blocked.iter().map(|b| format!("on the kernel, {b}")));
            line.detail = why.join("; ");
            out.push(line);
            continue;
        }
        let trace = match &kt.trace {
            Ok(t) => t,
            Err(e) => {
                line.status = "error".into();
                line.detail = e.clone();
                out.push(line);
                continue;
            }
        };
        if let Err(why) = target.exercised(case, variant, &steps, trace) {
            line.status = "not-applicable".into();
            line.detail = why;
            out.push(line);
            continue;
        }
        if let Ok(m) = &model.trace {
            line.model = compare(m, trace);
            if m.step_order() != trace.step_order() {
                line.status = "error".into();
                line.detail = format!(
                    "the kernel ran the steps in the order {:?}, the schedule's is {:?}",
                    trace.step_order(),
                    m.step_order()
                );
                out.push(line);
                continue;
            }
        }
        let checks = match judge::replay::judge(&spec, &r.file, trace) {
            Ok(c) => c,
            Err(e) => {
                line.status = "error".into();
                line.detail = e;
                out.push(line);
                continue;
            }
        };
        let mut failed: Vec<&str> = checks
            .iter()
            .filter(|c| c.result.is_err())
            .filter(|c| {
                spec.rule(c.rule)
                    .is_none_or(|rule| target.rule_holds(rule).is_ok())
            })
            .map(|c| c.rule)
            .collect();
        failed.sort_unstable();
        failed.dedup();
        if failed.is_empty() {
            line.status = "pass".into();
        } else {
            line.status = "fail".into();
            line.detail = failed.join(", ");
        }
        out.push(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kept regression schedule of a racy case is built in (a new one must be added to
    /// `REGRESSIONS`), and each names its case.
    #[test]
    fn every_regression_schedule_is_built_in() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../conformance/tests/scenarios/regressions"
        );
        for entry in std::fs::read_dir(dir).expect("the regressions folder") {
            let path = entry.expect("an entry").path();
            let text = std::fs::read_to_string(&path).expect("readable");
            let file: ScenarioFile = serde_json::from_str(&text).expect("a scenario file");
            if file.schedule.is_empty() {
                continue;
            }
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            assert!(
                REGRESSIONS.iter().any(|(n, t)| *n == name && *t == text),
                "{name} is not in REGRESSIONS (or differs from it)"
            );
            assert!(file.case.is_some(), "{name} names its case");
        }
    }

    /// Each racy case gets its written order, its regression and reference schedules; a
    /// schedule at a point inside the core's code is reported, never put in the tables.
    #[test]
    fn the_racy_cases_schedules_and_what_the_kernel_gets() {
        let all = replays();
        let cases: HashSet<&str> = all.iter().map(|r| r.case.as_str()).collect();
        assert_eq!(cases.len(), judge::races::racy_cases(&judge::spec()).len());
        for c in &cases {
            assert!(
                all.iter()
                    .any(|r| r.case == *c && r.label == "written order")
            );
            assert!(
                all.iter()
                    .any(|r| r.case == *c && r.label.starts_with("regression")),
                "{c} has a regression schedule"
            );
        }
        let tables = c_tables(&all);
        for r in &all {
            let named = tables.contains(&format!(".name = \"{}\"", r.name));
            assert_eq!(named, r.unreplayable.is_none(), "{}", r.name);
            if r.file.schedule.iter().any(|p| p.run.is_kworker()) {
                assert!(
                    r.unreplayable
                        .as_deref()
                        .is_some_and(|w| w.contains("kworker"))
                );
            }
            if r.file.schedule.iter().any(|p| p.point == PointKind::Linked) {
                assert!(
                    r.unreplayable
                        .as_deref()
                        .is_some_and(|w| w.contains("list_add"))
                );
            }
        }
        let names: HashSet<&str> = all.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names.len(), all.len(), "names are distinct");
    }

    /// `linked` is the one point of the explorer inside the core's own code; the kernel's
    /// worker is a thread the interpreter does not have.
    #[test]
    fn only_the_linked_point_is_out_of_reach() {
        let at = |point| Preemption {
            step: 1,
            point,
            nth: 1,
            run: Thread::main(),
        };
        let why = point_unreachable(&at(PointKind::Linked)).expect("not replayable");
        assert!(
            why.contains("dma_buf_dynamic_attach()") && why.contains("step 1"),
            "{why}"
        );
        let worker = Preemption {
            run: Thread::kworker(),
            ..at(PointKind::Unlock)
        };
        let why = point_unreachable(&worker).expect("not replayable");
        assert!(why.contains("queue no work"), "{why}");
        for p in [
            PointKind::Start,
            PointKind::Lock,
            PointKind::Unlock,
            PointKind::FenceWait,
            PointKind::FenceSignal,
            PointKind::UnmapWait,
            PointKind::CallbackEntry,
            PointKind::CallbackExit,
        ] {
            assert!(point_unreachable(&at(p)).is_none(), "{p:?}");
        }
    }

    #[test]
    fn a_schedule_in_one_line() {
        let text = include_str!(
            "../../conformance/tests/scenarios/regressions/restore-races-an-attach-before-the-rearm.json"
        );
        let file: ScenarioFile = serde_json::from_str(text).expect("a scenario file");
        assert_eq!(
            schedule_text(&file),
            "importer before step 1; importer at step 2's unlock 2"
        );
    }
}
