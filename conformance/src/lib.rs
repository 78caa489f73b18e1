//! The `revoke-conformance` command: the thin layer over the judge (`judge`), the
//! shim-process host (`shim-host`) and the kernel bridge (`kernel-bridge`, as [`kernel`]).
//!
//! The judge's modules are re-exported under their old paths (`conformance::outcome`,
//! `conformance::remote`...), so code written against them keeps compiling.

mod bench;
pub mod cli;
pub mod mutants;
pub mod review;

pub use judge::formats::{PUBLISHED_BOOK, book_url};
pub use judge::{
    CaseDef, CaseVariant, OnFailure, RuleDef, Scenario, ScenarioDoc, Spec, StepRef, Strength,
    calls, cases, check, expectations, formats, invariants, monitor, outcome, prelude, races,
    replay, results, runner, scenario, spec,
};
/// The bridge to real kernels (crate `kernel-bridge`), under its old path.
pub use kernel_bridge as kernel;
pub use shim_host as remote;

/// The JSON Schemas of the portable data: `(file name, schema)`.
pub fn schemas() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        (
            "scenario.schema.json",
            serde_json::to_value(schemars::schema_for!(ScenarioDoc)).unwrap_or_default(),
        ),
        (
            "scenario-file.schema.json",
            serde_json::to_value(schemars::schema_for!(reference_impl::ScenarioFile))
                .unwrap_or_default(),
        ),
        (
            "trace.schema.json",
            serde_json::to_value(schemars::schema_for!(reference_impl::Trace)).unwrap_or_default(),
        ),
        (
            "protocol-to-shim.schema.json",
            serde_json::to_value(schemars::schema_for!(shim_protocol::ToShim)).unwrap_or_default(),
        ),
        (
            "protocol-from-shim.schema.json",
            serde_json::to_value(schemars::schema_for!(shim_protocol::FromShim))
                .unwrap_or_default(),
        ),
        (
            "results.schema.json",
            serde_json::to_value(schemars::schema_for!(judge::results::RunResults))
                .unwrap_or_default(),
        ),
    ]
}
