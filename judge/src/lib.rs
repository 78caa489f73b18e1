//! The judge of the dma-buf revoke contract: the book's cases and rules as data, the checks
//! over a trace, case outcomes, per-case results and per-rule verdicts, expectations, and the
//! report sinks. It runs nothing itself but the scenarios a [`runner::Backend`] is given;
//! the shim-process host (`shim-host`) and the command line (`conformance`) build on it.
//!
//! Cases are written in the book next to the rules they check; `spec_macros::conformance!`
//! compiles them into [`cases`]. A case builds a [`Scenario`] (steps as data, checks over the
//! trace); a backend runs the steps and returns a trace; the checks judge it here, on the
//! host, whatever the backend.
//!
//! Every trace is also judged by every rule's monitor ([`monitor`]), whatever the case, and a
//! failed case names its root cause ([`root_cause`]). A trace that hangs is judged by the hang
//! contract ([`hangs`]): which hangs a conforming driver set may show, whose every other is.
//!
//! Data flows one way: `defs`, `calls`, `check` -> `scenario` -> `outcome` -> `results` ->
//! `expectations`, `formats`; `runner` drives a backend through them.

// `conformance!` names the judge's types as `::judge::...`, inside this crate too.
extern crate self as judge;

pub mod calls;
pub mod check;
mod defs;
pub mod expectations;
pub mod filter;
pub mod formats;
pub mod generate;
pub mod hangs;
pub mod invariants;
pub mod monitor;
pub mod outcome;
pub mod partition;
pub mod races;
pub mod replay;
pub mod results;
pub mod root_cause;
pub mod runner;
pub mod scenario;

pub use defs::{CaseDef, CaseVariant, OnFailure, RuleDef, Spec, Strength};
pub use scenario::{Scenario, StepRef};

/// What a case in the book sees.
pub mod prelude {
    pub use crate::calls::*;
    pub use crate::check::*;
    pub use crate::defs::{CaseDef, CaseVariant, RuleDef, Spec, Strength};
    pub use crate::scenario::{Scenario, StepRef};
    pub use reference_impl::Errno::*;
    pub use reference_impl::{AccessOutcome, DmaResvUsage, Errno, ExporterKind, ImporterKind, Ret};
}

/// Every case and rule of the book.
pub mod cases {
    #[allow(unused_imports)]
    use crate::prelude::*;
    spec_macros::conformance!();
}

pub use cases::spec;

/// A case variant's scenario as exported: what a foreign backend runs.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ScenarioDoc {
    /// The case's name.
    pub case: String,
    /// The variant label (empty if the case is not parameterised).
    pub variant: String,
    /// The rules the case checks.
    pub rules: Vec<String>,
    /// The steps, in order.
    pub steps: Vec<reference_impl::Step>,
}

impl ScenarioDoc {
    /// The scenario of a case variant.
    pub fn of(case: &CaseDef, variant: &str) -> Option<ScenarioDoc> {
        let s = outcome::scenario_of(case, variant)?;
        Some(ScenarioDoc {
            case: case.name.to_string(),
            variant: variant.to_string(),
            rules: case.rules.iter().map(|r| r.to_string()).collect(),
            steps: s.steps,
        })
    }
}
