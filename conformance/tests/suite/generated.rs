//! Generated scenarios: every good in-tree shim passes a few thousand; broken shims are
//! caught, and a failure shrinks to a small scenario file that replays.

use judge::generate::{Profiles, generate};
use reference_impl::{Shim, run_with};
use shims::registry::{self, Runs};

const SCENARIOS: u32 = 2_000;

fn in_process(broken: bool) -> Vec<(&'static str, Shim)> {
    registry::all()
        .into_iter()
        .filter(|r| r.broken.is_some() == broken)
        .filter_map(|r| match r.runs {
            Runs::InProcess { shim, .. } => Some((r.name, shim)),
            Runs::Process { .. } => None,
        })
        .collect()
}

fn explore(shim: &Shim, count: u32, seed: u64) -> judge::generate::Generated {
    let roles = shim.roles();
    generate(
        &Profiles::for_shim(shim),
        count,
        seed,
        &mut |steps| {
            if shim.applies_to(steps).is_err() {
                return Ok(None);
            }
            run_with(&roles, steps).map(Some)
        },
        &|_| {},
    )
}

#[test]
fn every_good_shim_passes_thousands_of_generated_scenarios() {
    for (name, shim) in in_process(false) {
        let g = explore(&shim, SCENARIOS, 20261206);
        assert!(g.failing.is_none(), "{name}: {:?}", g.failing);
        assert!(
            g.run - g.not_applicable >= u64::from(SCENARIOS) / 2,
            "{name}: only {} of {} scenarios applied",
            g.run - g.not_applicable,
            g.run
        );
    }
}

/// A broken shim's failure shrinks to a few steps, written as a file that replays to the
/// same failure on the shim and passes on the reference.
#[test]
fn a_failure_shrinks_to_a_small_file_that_replays() {
    let (_, shim) = in_process(true)
        .into_iter()
        .find(|(n, _)| *n == "broken-gpu-map-unlocked")
        .expect("registered");
    let f = explore(&shim, SCENARIOS, 1).failing.expect("caught");
    // The map without the lock: the monitor names the first violating event's rule.
    let rule = f.message.split(':').next().unwrap_or_default().to_string();
    assert!(
        f.message.contains("without the lock") || rule == "map.lock.held",
        "{}",
        f.message
    );
    assert!(f.file.steps.len() <= 4, "{:#?}", f.file.steps);
    let file = reference_impl::ScenarioFile::from_json(&f.file.to_json()).expect("reads back");
    let trace = run_with(&shim.roles(), &file.plain_steps()).expect("runs");
    let checks = judge::replay::judge(&conformance::spec(), &file, &trace).expect("judged");
    assert!(
        checks
            .iter()
            .any(|c| c.rule == "map.lock.held" && c.result.is_err())
    );
    let reference = reference_impl::run_reference(&file.plain_steps()).expect("runs");
    let checks = judge::replay::judge(&conformance::spec(), &file, &reference).expect("judged");
    assert!(checks.iter().all(|c| c.result.is_ok()), "{checks:?}");
}

/// How many broken shims generated scenarios catch, on any rule and on the rule their bug
/// breaks (the book's chapter on the runner quotes these figures).
#[test]
fn generated_scenarios_catch_most_broken_shims() {
    let broken = in_process(true);
    let mut any = 0;
    let mut on_rule = 0;
    for (name, shim) in &broken {
        let breaks = registry::by_name(name)
            .and_then(|r| r.broken)
            .map(|b| b.breaks)
            .unwrap_or_default();
        if let Some(f) = explore(shim, SCENARIOS, 1).failing {
            any += 1;
            if f.message.starts_with(&format!("{breaks}:")) {
                on_rule += 1;
            }
        }
    }
    println!(
        "generated scenarios ({SCENARIOS}, seed 1) catch {any} of {} broken in-process shims, {on_rule} on the rule they break",
        broken.len()
    );
    assert!(any >= 15, "caught {any}");
}
