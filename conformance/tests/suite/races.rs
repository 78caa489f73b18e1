//! The racy cases explored: the reference passes every interleaving up to the bound; a
//! broken exporter that passes every case run in order is caught by one schedule, which
//! replays.

use std::rc::Rc;

use conformance::races::{explore_case, racy_cases};
use conformance::replay::judge;
use reference_impl::{ExploreOptions, Roles, run_scheduled};

fn shim(name: &str) -> reference_impl::Shim {
    match shims::registry::by_name(name).expect("registered").runs {
        shims::registry::Runs::InProcess { shim, .. } => shim,
        shims::registry::Runs::Process { .. } => panic!("{name} is in process"),
    }
}

#[test]
fn the_reference_passes_every_interleaving_of_every_racy_case() {
    let racy = racy_cases(&conformance::spec());
    assert!(racy.len() >= 2, "the book has racy cases");
    for (case, variant) in racy {
        let ex = explore_case(
            Rc::new(Roles::reference()),
            case,
            variant,
            ExploreOptions::default(),
        );
        assert!(ex.violation.is_none(), "{}: {:?}", case.name, ex.violation);
        assert!(
            ex.exhaustive && ex.explored > 10 && ex.distinct > 1,
            "{ex:?}"
        );
    }
}

/// The conforming importers that unmap from a work item pass every interleaving of every
/// racy case too, the kernel's worker (`kworker`) among the threads; and the schedule kept
/// for the worker's race, which the reference importers cannot run (they queue no work),
/// replays and passes on them.
#[test]
fn deferred_unmap_importers_pass_every_interleaving_with_the_worker() {
    let spec = conformance::spec();
    let roles = Rc::new(shim("gpu-importer-deferred-unmap").roles());
    let mut worker_ran = false;
    for (case, variant) in racy_cases(&spec) {
        let ex = explore_case(roles.clone(), case, variant, ExploreOptions::default());
        assert!(ex.violation.is_none(), "{}: {:?}", case.name, ex.violation);
        assert!(ex.exhaustive, "{ex:?}");
        worker_ran |= case.name == "worker_races_a_restore" && ex.explored > 100;
    }
    assert!(worker_ran, "worker_races_a_restore was explored");
    let path = format!(
        "{}/tests/scenarios/regressions/worker-races-a-restore-stopped-after-its-unmap.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let file = reference_impl::ScenarioFile::from_json(
        &std::fs::read_to_string(&path).expect("the kept regression"),
    )
    .expect("reads");
    assert!(file.schedule.iter().all(|p| p.run.is_kworker()));
    let run = run_scheduled(roles, &file);
    assert!(run.blocked.is_none() && run.unused.is_empty(), "{run:?}");
    let trace = run.trace.expect("runs");
    let workers = trace
        .events
        .iter()
        .filter(|e| matches!(e.call, reference_impl::Call::Worker { .. }))
        .count();
    assert_eq!(workers, 1, "its one stage runs where the schedule says");
    let checks = judge(&spec, &file, &trace).expect("judged");
    assert!(checks.iter().all(|c| c.result.is_ok()), "{checks:?}");
}

/// A completion on its own thread, run at the revoke's `fence_wait` point, signals the job's
/// fence inside the wait: its events come after the wait's event and before the revoke's
/// unlock, at no deeper depth. The wait returned after them, so `fence.bookkeep-covers-all`
/// holds (it used to read the wait as returned before them: a false alarm).
#[test]
fn a_completion_run_inside_the_revokes_wait_is_before_its_return() {
    let spec = conformance::spec();
    let file = reference_impl::ScenarioFile::from_json(
        r#"{"format": 1, "title": "a completion on its own thread inside the revoke's wait",
            "steps": [
              {"op": "export", "buf": 0, "exporter": "vfio"},
              {"op": "attach", "att": 0, "buf": 0, "importer": "dynamic"},
              {"op": "submit", "att": 0, "write": true},
              {"op": "revoke", "buf": 0, "thread": "reset"},
              {"op": "complete", "thread": "irq"}],
            "schedule": [{"step": 3, "point": "fence_wait", "nth": 1, "run": "irq"}]}"#,
    )
    .expect("a scenario file");
    let run = run_scheduled(Rc::new(shim("reference-core").roles()), &file);
    assert!(run.blocked.is_none() && run.unused.is_empty(), "{run:?}");
    let trace = run.trace.expect("runs");
    let wait = trace
        .events
        .iter()
        .position(|e| e.step == 3 && e.call.name() == "dma_resv_wait_timeout")
        .expect("the revoke waits");
    assert!(
        trace.events[wait + 1..]
            .iter()
            .take_while(|e| e.step != 3)
            .any(|e| e.call.name() == "dma_fence_signal"),
        "the completion signals inside the wait: {trace:?}"
    );
    let checks = judge(&spec, &file, &trace).expect("judged");
    assert!(checks.iter().all(|c| c.result.is_ok()), "{checks:?}");
}

/// `broken-vfio-marks-after-unlock` passes the case run in order, and fails one schedule with
/// one preemption: the map at the revoke's unlock. The schedule replays to the same failure.
#[test]
fn a_mark_after_the_unlock_is_caught_only_by_an_interleaving_and_replays() {
    let broken = shim("broken-vfio-marks-after-unlock");
    let (case, variant) = racy_cases(&conformance::spec())
        .into_iter()
        .find(|(c, _)| c.name == "revoke_races_a_map")
        .expect("the case");
    let roles = Rc::new(broken.roles());
    let ex = explore_case(roles.clone(), case, variant, ExploreOptions::default());
    let v = ex.violation.expect("caught");
    assert!(
        v.message.starts_with("revoke.exporter.mark-under-lock:"),
        "{}",
        v.message
    );
    assert_eq!(v.file.schedule.len(), 1, "{:?}", v.file.schedule);
    assert_eq!(
        v.file.schedule[0].to_string(),
        "thread importer runs inside step 2 at its first dma_resv_unlock"
    );
    // In order, the same steps pass.
    let mut plain = v.file.clone();
    plain.schedule.clear();
    let run = run_scheduled(roles.clone(), &plain);
    let checks = judge(&conformance::spec(), &plain, &run.trace.expect("runs")).expect("judged");
    assert!(checks.iter().all(|c| c.result.is_ok()), "{checks:?}");
    // Replayed from its file, the schedule fails the same way.
    let file = reference_impl::ScenarioFile::from_json(&v.file.to_json()).expect("reads back");
    let run = run_scheduled(roles, &file);
    let checks = judge(&conformance::spec(), &file, &run.trace.expect("runs")).expect("judged");
    assert!(
        checks
            .iter()
            .any(|c| c.rule == "revoke.exporter.mark-under-lock" && c.result.is_err()),
        "{checks:?}"
    );
}

/// The book's page of explored races (`book/src/generated/races.md`): per racy case and
/// in-process shim, the schedules explored, the distinct traces and the verdict; for each
/// violation, its minimal schedule drawn with one lane per thread. Regenerate with
/// `UPDATE_RACES=1 cargo test -p conformance --test suite races::` and read the diff.
#[test]
fn the_book_page_of_explored_races_is_current() {
    use std::fmt::Write as _;
    let mut page = String::from(
        "| case | shim | schedules | distinct traces | not runnable | verdict |\n|---|---|---|---|---|---|\n",
    );
    let mut diagrams = String::new();
    for (case, variant) in racy_cases(&conformance::spec()) {
        let steps = conformance::outcome::scenario_of(case, variant)
            .map(|s| s.steps)
            .unwrap_or_default();
        for r in shims::registry::all() {
            let shims::registry::Runs::InProcess { shim, .. } = r.runs else {
                continue;
            };
            if shim.applies_to(&steps).is_err()
                || (r.broken.is_none() && r.name != "reference-core")
            {
                continue;
            }
            let ex = explore_case(
                Rc::new(shim.roles()),
                case,
                variant,
                ExploreOptions::default(),
            );
            if r.broken.is_some() && ex.violation.is_none() {
                continue; // A broken shim this race does not concern.
            }
            let verdict = match &ex.violation {
                None => "every schedule passes".to_string(),
                Some(v) => format!(
                    "fails `{}` with {} preemption(s)",
                    v.message.split(':').next().unwrap_or_default(),
                    v.file.schedule.len()
                ),
            };
            let _ = writeln!(
                page,
                "| `{}` | `{}` | {} | {} | {} | {verdict} |",
                case.variant_name(variant),
                r.name,
                ex.explored,
                ex.distinct,
                ex.blocked
            );
            // Drawn: the violations only an interleaving shows (at least one preemption), of
            // the rule the broken shim is known to break (the others are in the table).
            let breaks = r.broken.map(|b| b.breaks);
            if let Some(v) = ex.violation.filter(|v| {
                !v.file.schedule.is_empty()
                    && breaks.is_some_and(|rule| v.message.starts_with(&format!("{rule}:")))
            }) {
                let _ = writeln!(
                    diagrams,
                    "\n### `{}` on `{}`\n\n{}\n\n```mermaid\n{}```",
                    case.variant_name(variant),
                    r.name,
                    v.file
                        .schedule
                        .iter()
                        .map(|p| format!("{p}."))
                        .collect::<Vec<_>>()
                        .join(" "),
                    conformance::replay::lanes_diagram(&v.trace, &v.file)
                );
            }
        }
    }
    page.push_str(&diagrams);
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../book/src/generated/races.md");
    if std::env::var_os("UPDATE_RACES").is_some() {
        std::fs::write(&path, &page).expect("written");
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == page,
        "{} is stale: run `UPDATE_RACES=1 cargo test -p conformance --test suite races::` and review the diff",
        path.display()
    );
}

/// Each race's broken shim passes every case run in order (every check and every monitor),
/// fails its racy case by the rule it breaks with at least one preemption, and the minimal
/// schedule is the one kept as a regression; replayed from that file, it fails again.
#[test]
fn each_race_only_bug_is_caught_by_its_kept_schedule() {
    let spec = conformance::spec();
    for &(name, case_name, kept) in shims::registry::RACE_ONLY_BUGS {
        let r = shims::registry::by_name(name).expect("registered");
        let breaks = r.broken.expect("a broken shim").breaks;
        let roles = Rc::new(shim(name).roles());
        // In order: every case variant the shim applies to passes.
        for (case, variant) in spec.variants() {
            let outcome = conformance::outcome::run_case(&spec, case, variant, &mut |steps| {
                reference_impl::run_with(&roles, steps)
            });
            assert!(
                outcome.checks.iter().all(|c| c.result.is_ok())
                    && !outcome
                        .monitors
                        .iter()
                        .any(|m| matches!(m.verdict, judge::monitor::Verdict::Violated(_))),
                "{name} fails {} in order: {:?} {:?}",
                case.variant_name(variant),
                outcome.checks.iter().find(|c| c.result.is_err()),
                outcome
                    .monitors
                    .iter()
                    .find(|m| matches!(m.verdict, judge::monitor::Verdict::Violated(_)))
            );
        }
        let (case, variant) = racy_cases(&spec)
            .into_iter()
            .find(|(c, _)| c.name == case_name)
            .expect("the case");
        let ex = explore_case(roles.clone(), case, variant, ExploreOptions::default());
        let v = ex.violation.expect("caught");
        assert!(
            v.message.starts_with(&format!("{breaks}:")),
            "{name}: {}",
            v.message
        );
        assert!(
            !v.file.schedule.is_empty(),
            "{name}: caught without a preemption"
        );
        let path = format!(
            "{}/tests/scenarios/regressions/{kept}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let file = reference_impl::ScenarioFile::from_json(
            &std::fs::read_to_string(&path).expect("the kept regression"),
        )
        .expect("reads");
        assert_eq!(
            file.schedule, v.file.schedule,
            "{path} is not the minimal schedule"
        );
        assert_eq!(
            file.steps, v.file.steps,
            "{path} is not the case's scenario"
        );
        let run = run_scheduled(roles, &file);
        let checks = judge(&spec, &file, &run.trace.expect("runs")).expect("judged");
        assert!(
            checks.iter().any(|c| c.rule == breaks && c.result.is_err()),
            "{name}: {checks:?}"
        );
    }
}

/// Beyond the bound, PCT samples find what the bound misses, and a seed gives the same
/// samples: `broken-vfio-rearms-on-unrevoke` needs two preemptions; explored to one, with no
/// samples it passes, with 200 PCT samples of seed 1 one of them fails, the same one on every
/// run.
#[test]
fn pct_samples_find_a_deeper_race_reproducibly() {
    let roles = Rc::new(shim("broken-vfio-rearms-on-unrevoke").roles());
    let (case, variant) = racy_cases(&conformance::spec())
        .into_iter()
        .find(|(c, _)| c.name == "restore_races_an_attach")
        .expect("the case");
    let opts = |samples| ExploreOptions {
        bound: 1,
        samples,
        seed: 1,
    };
    let bounded = explore_case(roles.clone(), case, variant, opts(0));
    assert!(
        bounded.exhaustive && bounded.violation.is_none(),
        "{bounded:?}"
    );
    let first = explore_case(roles.clone(), case, variant, opts(200));
    let again = explore_case(roles, case, variant, opts(200));
    let v = first.violation.expect("a sample catches it");
    assert!(
        v.message.starts_with("revoke.restore.count-ready:"),
        "{}",
        v.message
    );
    assert!(v.file.schedule.len() >= 2, "{:?}", v.file.schedule);
    assert_eq!(first.explored, again.explored);
    assert_eq!(
        Some(v.file.schedule),
        again.violation.map(|v| v.file.schedule)
    );
}
