//! The suite catches broken drivers for the right reason, and raises no false alarm: every
//! broken in-tree shim fails a case on the rule its bug breaks, and every good in-tree shim
//! passes every case that applies to it.

use conformance::mutants::judge_all;
use conformance::results::Status;
use conformance::runner::{RunOptions, run_shim};

fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

#[test]
fn every_broken_shim_is_caught_on_the_rule_it_breaks() {
    let results = judge_all(today());
    assert!(
        results.len() >= 7,
        "the library of broken shims shrank: {}",
        results.len()
    );
    // The broken shim in C, run as a process, is judged with the others.
    assert!(
        results
            .iter()
            .any(|r| r.shim == "c-vfio-exporter-no-wait" && r.caught()),
        "the C shim with a planted bug is judged and caught"
    );
    let missed: Vec<String> = results
        .iter()
        .filter(|r| !r.caught())
        .map(|r| {
            format!(
                "{} (breaks {}; rules reported: {:?})",
                r.shim, r.breaks, r.violated
            )
        })
        .collect();
    assert!(
        missed.is_empty(),
        "broken shims not caught on their rule:\n  {}",
        missed.join("\n  ")
    );
}

#[test]
fn every_good_shim_passes_every_applicable_case() {
    let opts = RunOptions {
        spec: conformance::spec(),
        filter: &judge::filter::CaseFilter::all(),
        expectations: None,
        today: today(),
        cancel: Default::default(),
    };
    for shim in shims::in_tree() {
        let results = run_shim(&shim, &opts, &mut |_, _| {});
        let failed: Vec<&str> = results
            .cases
            .iter()
            .filter(|c| c.status != Status::Pass && c.status != Status::NotApplicable)
            .map(|c| c.name.as_str())
            .collect();
        assert!(
            failed.is_empty(),
            "false alarm: {} fails {failed:?}",
            shim.name
        );
        let applicable = results
            .cases
            .iter()
            .filter(|c| c.status == Status::Pass)
            .count();
        assert!(applicable > 0, "no case applies to {}", shim.name);
    }
}

#[test]
fn every_obligation_is_shown_violated_by_some_broken_shim() {
    // MUST and SHOULD rules are obligations: for each, some broken driver violates it and a
    // case reports it. MAY rules are permissions, which nothing can violate.
    let results = judge_all(today());
    let violated: std::collections::BTreeSet<&str> = results
        .iter()
        .flat_map(|r| r.violated.iter().map(String::as_str))
        .collect();
    let never: Vec<&str> = conformance::spec()
        .rules
        .iter()
        .filter(|r| r.strength != conformance::Strength::May && !violated.contains(r.id))
        .map(|r| r.id)
        .collect();
    assert!(
        never.is_empty(),
        "no broken shim shows these rules violated: {never:?}"
    );
}
