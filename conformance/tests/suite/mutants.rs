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

/// Broken shims that only a check of a case catches, not the monitor of the rule they break,
/// and why. Every other broken shim is caught by its rule's monitor, which judges every trace.
const CAUGHT_BY_CASES_ONLY: &[(&str, &str)] = &[
    (
        "broken-vfio-ignores-peer2peer",
        "it asks dma_buf_attach_revocable() before looking at peer2peer, and refuses every \
         importer of the book's profiles all the same: only a dynamic importer without \
         allow_peer2peer would be let in, and no profile is one; the case's check that \
         revocability is not asked is stricter than the rule",
    ),
    (
        "broken-gpu-wait-positive-is-error",
        "it waits for the KERNEL fences as the rule says, then takes the wait's success for \
         an error and never uses the buffer: a liveness bug, seen by the case's check that the \
         device access happens",
    ),
    (
        "broken-core-no-peer2peer",
        "its rule is not observable in a trace (see the monitors page)",
    ),
];

#[test]
fn every_broken_shim_is_caught_by_the_monitor_of_its_rule() {
    let results = judge_all(today());
    let missed: Vec<String> = results
        .iter()
        .filter(|r| r.monitor_caught_by.is_empty())
        .filter(|r| !CAUGHT_BY_CASES_ONLY.iter().any(|(s, _)| *s == r.shim))
        .map(|r| {
            format!(
                "{} (breaks {}; rules reported: {:?})",
                r.shim, r.breaks, r.violated
            )
        })
        .collect();
    assert!(
        missed.is_empty(),
        "broken shims the monitor of their rule misses:\n  {}",
        missed.join("\n  ")
    );
    for (shim, _) in CAUGHT_BY_CASES_ONLY {
        let r = results
            .iter()
            .find(|r| r.shim == *shim)
            .expect("the shim is in the registry");
        assert!(
            r.monitor_caught_by.is_empty(),
            "{shim} is now caught by its monitor: take it off CAUGHT_BY_CASES_ONLY"
        );
    }
}
