//! The `revoke-conformance` command: the thin layer over the judge (`judge`), the
//! shim-process host (`shim-host`) and the kernel bridge ([`kernel`]).
//!
//! The judge's modules are re-exported under their old paths (`conformance::outcome`,
//! `conformance::remote`...), so code written against them keeps compiling.

mod bench;
pub mod cli;
pub mod kernel;
pub mod mutants;
pub mod review;

pub use judge::{
    CaseDef, CaseVariant, OnFailure, RuleDef, Scenario, ScenarioDoc, Spec, StepRef, Strength,
    calls, cases, check, expectations, formats, invariants, outcome, prelude, races, replay,
    results, runner, scenario, spec,
};
pub use shim_host as remote;

/// Where rule links point by default: the book as `.github/workflows/book.yml` publishes it
/// from `main` to the forge's pages (`https://OWNER.github.io/REPO/`). The repository has no
/// forge address yet, so this is the one place that says where it will be: change it here
/// when it has one, or set `REVOKE_SPEC_BOOK_URL` when building the runner (a fork, a mirror).
/// At run time `--book-url` (or `REVOKE_CONFORMANCE_BOOK_URL`) points the links elsewhere,
/// such as at a book built offline (`file:///.../book/build/`).
pub const PUBLISHED_BOOK: &str = match option_env!("REVOKE_SPEC_BOOK_URL") {
    Some(url) => url,
    None => "https://revoke-spec.github.io/revoke-spec/",
};

/// The base of rule links for this run: `REVOKE_CONFORMANCE_BOOK_URL` if set, else
/// [`PUBLISHED_BOOK`]; a base without a final `/` gets one.
pub fn book_url() -> String {
    let url = std::env::var("REVOKE_CONFORMANCE_BOOK_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| PUBLISHED_BOOK.to_string());
    if url.ends_with('/') {
        url
    } else {
        format!("{url}/")
    }
}

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
