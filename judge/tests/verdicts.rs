//! The conformance verdicts on the model, in one test binary: the oracle of mutation testing
//! (`book/src/mutation.md`, `cargo xtask mutants`). A change of the model's machine that no
//! verdict notices survives; every assertion here is a verdict of the suite (a case passes
//! or fails, a rule is violated or not), never a snapshot or an internal value.
//!
//! - every case variant of the book, on the reference drivers, passes by its checks and by
//!   every rule's monitor, and runs to its end (one case hangs by design);
//! - thousands of generated scenarios over every profile, on the reference, violate no
//!   monitor and no scenario-independent check, and so do thousands with a conforming
//!   dynamic importer without peer-to-peer;
//! - every interleaving (up to two preemptions) of the book's racy cases, on the reference,
//!   violates nothing;
//! - every good in-process shim passes every case that applies to it and every interleaving
//!   of the racy cases that apply, every pair of a good exporter and a good importer passes
//!   every case that applies to both, and so does every good in-tree shim process (over the wire: the names it sends are checked by the model);
//! - a shim process that names an object the model never handed out is refused, naming it;
//! - every broken in-process shim is caught on the rule its bug breaks, by a case, by an
//!   interleaving of a racy case, or by generated scenarios of its profiles;
//! - every broken shim written for a race fails the schedule kept for it, replayed from its
//!   scenario file.

use std::rc::Rc;

use judge::generate::{Profiles, generate};
use judge::outcome::{CaseOutcome, run_case, scenario_of};
use judge::races::{explore_case, racy_cases};
use judge::runner::Backend;
use judge::{CaseDef, Spec};
use reference_impl::{ExploreOptions, Roles, Shim, run_reference, run_with};
use shims::registry::{self, Runs};

/// Generated scenarios on the reference per run of this test (the bench runs 100,000).
const GENERATED: u32 = 3_000;

/// Generated scenarios for a broken shim no case catches on its rule.
const BROKEN_GENERATED: u32 = 2_000;

/// The case the reference is meant to hang in (a fence that never signals).
const HANGS_BY_DESIGN: &str = "revoke_blocks_on_a_stuck_fence";

fn in_process(broken: bool) -> Vec<(&'static str, Shim, &'static str)> {
    registry::all()
        .into_iter()
        .filter(|r| r.broken.is_some() == broken)
        .filter_map(|r| match r.runs {
            Runs::InProcess { shim, .. } => {
                Some((r.name, shim, r.broken.map(|b| b.breaks).unwrap_or_default()))
            }
            Runs::Process { .. } => None,
        })
        .collect()
}

/// The rules a case variant reports violated with `roles`, or `None` when the case does not
/// apply to `shim`.
fn violated_rules(
    spec: &Spec,
    case: &'static CaseDef,
    variant: &'static str,
    shim: Option<&Shim>,
    roles: &Roles,
) -> Option<Vec<&'static str>> {
    let steps = scenario_of(case, variant)?.steps;
    if shim.is_some_and(|s| s.applies_to(&steps).is_err()) {
        return None;
    }
    let outcome = run_case(spec, case, variant, &mut |steps| run_with(roles, steps));
    Some(rules_of(&outcome))
}

/// The rules a case's outcome reports violated, and `harness.could-not-run` when its trace
/// could not be made.
fn rules_of(outcome: &CaseOutcome) -> Vec<&'static str> {
    let mut rules: Vec<&'static str> = outcome.violated_rules().collect();
    if outcome.trace.is_err() {
        rules.push("harness.could-not-run");
    }
    rules
}

#[test]
fn the_reference_passes_every_case() {
    let spec = judge::spec();
    let roles = Roles::reference();
    let mut failed = Vec::new();
    for (case, variant) in spec.variants() {
        let rules = violated_rules(&spec, case, variant, None, &roles).expect("a scenario");
        let steps = scenario_of(case, variant).expect("a scenario").steps;
        let stopped = run_with(&roles, &steps)
            .map(|t| t.stopped_at().is_some())
            .unwrap_or(true);
        if !rules.is_empty() || stopped != (case.name == HANGS_BY_DESIGN) {
            failed.push(format!(
                "{}: violates {rules:?}, stopped early: {stopped}",
                case.variant_name(variant)
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "the reference fails:\n{}",
        failed.join("\n")
    );
}

#[test]
fn the_reference_passes_thousands_of_generated_scenarios() {
    let g = generate(
        &Profiles::all(),
        GENERATED,
        20261206,
        &mut |steps| run_reference(steps).map(Some),
        &|_| {},
    );
    assert!(g.failing.is_none(), "{:?}", g.failing);
    assert_eq!(g.run, u64::from(GENERATED));
}

/// A conforming dynamic importer without peer-to-peer (`allow_peer2peer = false`, as xe's KUnit
/// importer `nop2p_attach_ops`) in thousands of generated scenarios, every other role the
/// reference's: no monitor raises a false alarm. A VFIO BAR refuses it at attach with
/// `-EOPNOTSUPP`, also once revoked (7.2's `vfio_pci_dma_buf_attach()` tests `peer2peer`
/// before `revoked`), which `revoke.exporter.reject-attach` must not take for a wrong errno.
#[test]
fn an_importer_without_peer2peer_passes_thousands_of_generated_scenarios() {
    let shim = shims::conforming::WITHOUT_PEER2PEER;
    let roles = shim.roles();
    let g = generate(
        &Profiles::for_shim(&shim),
        GENERATED,
        20261207,
        &mut |steps| {
            if shim.applies_to(steps).is_err() {
                return Ok(None);
            }
            run_with(&roles, steps).map(Some)
        },
        &|_| {},
    );
    assert!(g.failing.is_none(), "{:?}", g.failing);
}

#[test]
fn the_reference_passes_every_interleaving_of_the_racy_cases() {
    let spec = judge::spec();
    let racy = racy_cases(&spec);
    assert!(!racy.is_empty(), "the book has racy cases");
    for (case, variant) in racy {
        let opts = ExploreOptions {
            samples: 0,
            ..Default::default()
        };
        let ex = explore_case(Rc::new(Roles::reference()), case, variant, opts);
        assert!(
            ex.violation.is_none(),
            "{}: {:?}",
            case.variant_name(variant),
            ex.violation.map(|v| v.message)
        );
    }
}

#[test]
fn every_good_shim_passes_every_case_that_applies() {
    let spec = judge::spec();
    let mut failed = Vec::new();
    // With the conforming importer whose work item unmaps in its third stage (not
    // registered: it is the oracle's, for the worker's stages).
    let staged = shims::conforming::STAGED_UNMAP;
    for (name, shim, _) in in_process(false)
        .into_iter()
        .chain([(staged.name, staged, "")])
    {
        let roles = shim.roles();
        for (case, variant) in spec.variants() {
            if let Some(rules) = violated_rules(&spec, case, variant, Some(&shim), &roles)
                && !rules.is_empty()
            {
                failed.push(format!(
                    "{name}: {} violates {rules:?}",
                    case.variant_name(variant)
                ));
            }
        }
    }
    assert!(failed.is_empty(), "false alarms:\n{}", failed.join("\n"));
}

/// Every good in-process exporter shim together with every good importer shim (and the
/// conforming importer whose work item unmaps in its third stage) passes every case that applies to both:
/// two drivers written apart meet only in the core, and each relies on the other keeping the
/// contract (an exporter's wait for unmaps lets the importer's work item run).
#[test]
fn every_pair_of_good_shims_passes_every_case_that_applies() {
    let spec = judge::spec();
    let good: Vec<(&str, Shim)> = in_process(false)
        .into_iter()
        .map(|(name, shim, _)| (name, shim))
        .chain([(
            shims::conforming::STAGED_UNMAP.name,
            shims::conforming::STAGED_UNMAP,
        )])
        .collect();
    let of_role = |role: reference_impl::Role| {
        good.iter()
            .filter(move |(_, s)| s.role() == role)
            .copied()
            .collect::<Vec<_>>()
    };
    let (exporters, importers) = (
        of_role(reference_impl::Role::Exporter),
        of_role(reference_impl::Role::Importer),
    );
    assert!(!exporters.is_empty() && !importers.is_empty());
    let mut failed = Vec::new();
    for (exp_name, exp) in &exporters {
        for (imp_name, imp) in &importers {
            let (e, i) = (exp.roles(), imp.roles());
            let roles = Roles {
                exporter: e.exporter,
                importer: i.importer,
                core: e.core,
            };
            for (case, variant) in spec.variants() {
                let steps = scenario_of(case, variant).expect("a scenario").steps;
                if exp.applies_to(&steps).is_err() || imp.applies_to(&steps).is_err() {
                    continue;
                }
                if let Some(rules) = violated_rules(&spec, case, variant, None, &roles)
                    && !rules.is_empty()
                {
                    failed.push(format!(
                        "{exp_name} with {imp_name}: {} violates {rules:?}",
                        case.variant_name(variant)
                    ));
                }
            }
        }
    }
    assert!(failed.is_empty(), "false alarms:\n{}", failed.join("\n"));
}

/// Every good in-process shim, and the conforming importer whose work item unmaps in its third
/// stage, passes every interleaving (up to two preemptions) of every racy case that applies
/// to it: where a driver's own thread (a work item, an importer's step) runs between two calls
/// of another's, a conforming driver is still not blamed. The staged importer's item is the
/// one a schedule can leave half-way with its mapping still held, for the exporter's wait
/// for unmaps and the worker's later turns to finish.
#[test]
fn every_good_shim_passes_every_interleaving_of_the_racy_cases_that_apply() {
    let spec = judge::spec();
    let racy = racy_cases(&spec);
    let staged = shims::conforming::STAGED_UNMAP;
    let mut failed = Vec::new();
    for (name, shim, _) in in_process(false)
        .into_iter()
        .chain([(staged.name, staged, "")])
    {
        let roles = Rc::new(shim.roles());
        for (case, variant) in &racy {
            let steps = scenario_of(case, variant).expect("a scenario").steps;
            if shim.applies_to(&steps).is_err() {
                continue;
            }
            let opts = ExploreOptions {
                samples: 0,
                ..Default::default()
            };
            if let Some(v) = explore_case(roles.clone(), case, variant, opts).violation {
                failed.push(format!(
                    "{name}: {} violates {}",
                    case.variant_name(variant),
                    v.message
                ));
            }
        }
    }
    assert!(failed.is_empty(), "false alarms:\n{}", failed.join("\n"));
}

/// The conforming importer whose work item unmaps in its third stage, with the reference
/// exporter and with every good in-process exporter shim, passes every interleaving of every
/// racy case that applies to both. The exporters wait for unmaps in two ways (the
/// reference's completion, `rust-vfio-exporter`'s wait on the mappings it counts), and each
/// wait must run a work item a schedule left half-way one stage at a time until the mapping
/// is given back.
#[test]
fn the_staged_unmap_importer_passes_every_interleaving_with_every_good_exporter() {
    let spec = judge::spec();
    let racy = racy_cases(&spec);
    let staged = shims::conforming::STAGED_UNMAP;
    let exporters: Vec<(&str, Shim)> = in_process(false)
        .into_iter()
        .filter(|(_, s, _)| s.role() == reference_impl::Role::Exporter)
        .map(|(name, shim, _)| (name, shim))
        .collect();
    assert!(exporters.iter().any(|(n, _)| *n == "rust-vfio-exporter"));
    let mut pairs = vec![("the reference", Rc::new(staged.roles()), None)];
    for (name, exp) in &exporters {
        let (e, i) = (exp.roles(), staged.roles());
        let roles = Roles {
            exporter: e.exporter,
            importer: i.importer,
            core: e.core,
        };
        pairs.push((name, Rc::new(roles), Some(exp)));
    }
    let mut failed = Vec::new();
    let mut explored = 0;
    for (name, roles, exp) in &pairs {
        for (case, variant) in &racy {
            let steps = scenario_of(case, variant).expect("a scenario").steps;
            if staged.applies_to(&steps).is_err()
                || exp.is_some_and(|e| e.applies_to(&steps).is_err())
            {
                continue;
            }
            let opts = ExploreOptions {
                samples: 0,
                ..Default::default()
            };
            let ex = explore_case(roles.clone(), case, variant, opts);
            explored += ex.explored;
            if let Some(v) = ex.violation {
                failed.push(format!(
                    "{name} with {}: {} violates {}",
                    staged.name,
                    case.variant_name(variant),
                    v.message
                ));
            }
        }
    }
    assert!(failed.is_empty(), "false alarms:\n{}", failed.join("\n"));
    assert!(explored > 1000, "{explored} schedules explored");
}

#[test]
fn every_good_shim_process_passes_every_case_that_applies() {
    let spec = judge::spec();
    let mut failed = Vec::new();
    let processes: Vec<_> = registry::all()
        .into_iter()
        .filter(|r| r.broken.is_none())
        .filter_map(|r| match r.runs {
            Runs::Process { command } => Some((r.name, command)),
            Runs::InProcess { .. } => None,
        })
        .collect();
    assert!(!processes.is_empty(), "the registry has shim processes");
    for (name, command) in processes {
        let path = command().display().to_string();
        let mut backend = shim_host::RemoteBackend::start_argv(
            name,
            vec![path],
            std::time::Duration::from_secs(20),
            None,
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        for (case, variant) in spec.variants() {
            let steps = scenario_of(case, variant).expect("a scenario").steps;
            if backend.applies_to(case, variant, &steps).is_err() {
                continue;
            }
            let outcome = run_case(&spec, case, variant, &mut |steps| {
                backend.run(case, variant, steps).trace
            });
            let rules = rules_of(&outcome);
            if !rules.is_empty() {
                failed.push(format!(
                    "{name}: {} violates {rules:?}",
                    case.variant_name(variant)
                ));
            }
        }
    }
    assert!(failed.is_empty(), "false alarms:\n{}", failed.join("\n"));
}

/// A shim process that names a buffer, attachment, table or fence the model never handed out
/// is refused with a protocol error naming it (the lying exporters of `shims-c`, one kind of
/// lie each, in their `map_dma_buf`).
#[test]
fn a_shim_process_that_names_an_unknown_object_is_refused() {
    let spec = judge::spec();
    let case = spec
        .case("static_import_pins_and_waits")
        .expect("a case that maps a GPU buffer");
    for (kind, path) in shims_c::liar_exporters() {
        let mut backend = shim_host::RemoteBackend::start_argv(
            kind,
            vec![path.display().to_string()],
            std::time::Duration::from_secs(20),
            None,
        )
        .unwrap_or_else(|e| panic!("{kind}: {e}"));
        let outcome = run_case(&spec, case, "", &mut |steps| {
            backend.run(case, "", steps).trace
        });
        let expected = if kind == "sgt" {
            "sgt99 was never handed out by new_sg_table".to_string()
        } else {
            format!("names {kind}99, which does not exist")
        };
        let said = match &outcome.trace {
            Err(e) => e.clone(),
            Ok(t) => format!("{:?}", t.crashed),
        };
        assert!(
            said.contains(&expected),
            "{kind}: expected `{expected}`, got `{said}`"
        );
    }
}

/// Whether some case, some interleaving of a racy case, or some generated scenario (the
/// shim's profiles first, as `revoke-conformance explore` runs them) reports `rule` violated
/// with the broken `shim` standing in for its role.
fn caught_on(spec: &Spec, shim: &Shim, rule: &str) -> bool {
    caught_by_a_case(spec, shim, rule) || caught_by_generated(shim, rule)
}

fn caught_by_generated(shim: &Shim, rule: &str) -> bool {
    let roles = shim.roles();
    let g = generate(
        &Profiles::for_shim(shim),
        BROKEN_GENERATED,
        1,
        &mut |steps| {
            if shim.applies_to(steps).is_err() {
                return Ok(None);
            }
            run_with(&roles, steps).map(Some)
        },
        &|_| {},
    );
    g.failing
        .is_some_and(|f| f.message.split(':').next() == Some(rule))
}

fn caught_by_a_case(spec: &Spec, shim: &Shim, rule: &str) -> bool {
    let roles = shim.roles();
    let by_case = spec.variants().any(|(case, variant)| {
        violated_rules(spec, case, variant, Some(shim), &roles).is_some_and(|r| r.contains(&rule))
    });
    by_case
        || racy_cases(spec).into_iter().any(|(case, variant)| {
            let steps = scenario_of(case, variant).expect("a scenario").steps;
            if shim.applies_to(&steps).is_err() {
                return false;
            }
            let opts = ExploreOptions {
                samples: 0,
                ..Default::default()
            };
            explore_case(Rc::new(shim.roles()), case, variant, opts)
                .violation
                .is_some_and(|v| v.message.split(':').next() == Some(rule))
        })
}

/// Every broken shim written for a race fails, on the rule its bug breaks, the schedule kept
/// for it (its racy case's minimal violating schedule, replayed from the scenario file under
/// `conformance/tests/scenarios/regressions/`), and the reference passes that schedule or
/// refuses it as one it cannot run. A schedule says where other threads, and the kernel's
/// worker, run: the model must run there what it says, leave a work item half-way where a
/// schedule stopped it, and go on with it only where the schedule or a wait says.
#[test]
fn every_race_only_broken_shim_fails_its_kept_schedule() {
    let spec = judge::spec();
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../conformance/tests/scenarios/regressions"
    );
    let mut failed = Vec::new();
    for &(name, case, kept) in registry::RACE_ONLY_BUGS {
        let path = format!("{dir}/{kept}.json");
        let file = reference_impl::ScenarioFile::from_json(
            &std::fs::read_to_string(&path).expect("the kept regression"),
        )
        .expect("reads");
        assert_eq!(file.case.as_deref(), Some(case), "{path}");
        let (_, shim, breaks) = in_process(true)
            .into_iter()
            .find(|(n, ..)| *n == name)
            .expect("a broken in-process shim");
        let run = reference_impl::run_scheduled(Rc::new(shim.roles()), &file);
        let caught = run.blocked.is_none()
            && run.unused.is_empty()
            && run.trace.as_ref().is_ok_and(|t| {
                judge::replay::judge(&spec, &file, t)
                    .expect("judged")
                    .iter()
                    .any(|c| c.rule == breaks && c.result.is_err())
            });
        if !caught {
            failed.push(format!("{name} passes {kept} (breaks {breaks})"));
        }
        let reference = reference_impl::run_scheduled(Rc::new(Roles::reference()), &file);
        // A schedule the reference cannot run (a lock the preempting step wants; no work
        // item for the worker, since the reference importer unmaps in its callback) is
        // refused, not judged.
        if let (None, Ok(trace)) = (&reference.blocked, &reference.trace) {
            let violated: Vec<_> = judge::replay::judge(&spec, &file, trace)
                .expect("judged")
                .into_iter()
                .filter(|c| c.result.is_err())
                .map(|c| c.rule)
                .collect();
            if !violated.is_empty() {
                failed.push(format!("the reference violates {violated:?} in {kept}"));
            }
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn every_broken_shim_is_caught_on_its_rule() {
    let spec = judge::spec();
    let broken = in_process(true);
    assert!(broken.len() >= 40, "the broken shims: {}", broken.len());
    let missed: Vec<String> = broken
        .iter()
        .filter(|(_, shim, rule)| !caught_on(&spec, shim, rule))
        .map(|(name, _, rule)| format!("{name} (breaks {rule})"))
        .collect();
    assert!(missed.is_empty(), "not caught on their rule: {missed:?}");
}
