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
