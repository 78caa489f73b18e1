//! The book's racy cases (steps on several threads) explored on a backend's roles: every
//! interleaving up to a bound, judged by the rules' monitors, the case's checks, the
//! invariants and the hang contract ([`crate::hangs`]).

use std::rc::Rc;

use reference_impl::{
    Exploration, ExploreOptions, Roles, RunSchedule, Trace, explore_with, run_scheduled,
};

use crate::outcome::scenario_of;
use crate::{CaseDef, Spec};

/// Every case variant of `spec` whose scenario runs steps on more than one thread.
pub fn racy_cases(spec: &Spec) -> Vec<(&'static CaseDef, &'static str)> {
    spec.variants()
        .filter(|(c, v)| scenario_of(c, v).is_some_and(|s| s.is_concurrent()))
        .collect()
}

/// Explores one case variant with `roles`. A violation's file names the case, so `replay`
/// judges it by the case's checks too.
pub fn explore_case(
    roles: Rc<Roles>,
    case: &'static CaseDef,
    variant: &'static str,
    opts: ExploreOptions,
) -> Exploration {
    explore_case_with(
        &mut |f| run_scheduled(roles.clone(), f),
        case,
        variant,
        opts,
    )
}

/// Explores one case variant as [`explore_case`] does, running each schedule with `run` (a
/// shim process's backend runs each over the wire, in a fresh case).
pub fn explore_case_with<'r>(
    run: &'r mut RunSchedule<'r>,
    case: &'static CaseDef,
    variant: &'static str,
    opts: ExploreOptions,
) -> Exploration {
    let scenario = scenario_of(case, variant).expect("the variant exists");
    let mut file = scenario.to_file();
    file.case = Some(case.variant_name(variant));
    file.title = Some(case.title.to_string());
    // The rules' monitors first (they name the first violating event), then the case's
    // checks and the invariants.
    let judge = |t: &Trace| -> Option<String> {
        crate::monitor::first_violation(&scenario.steps, t)
            .or_else(|| {
                scenario
                    .checks
                    .iter()
                    .find_map(|c| c.check.eval(t).err().map(|e| format!("{}: {e}", c.rule)))
            })
            .or_else(|| crate::invariants::first_violation(t))
            .or_else(|| crate::hangs::first_violation(&scenario.steps, t))
    };
    explore_with(run, &file, opts, &judge)
}
