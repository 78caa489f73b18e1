//! Every integration test of `revoke-conformance`, in one test binary: one link instead of
//! one per file. Run one group with a filter: `cargo test -p conformance --test suite cases::`.

mod cases;
mod ci_recipes;
mod cli;
mod concurrent_wire;
mod coverage;
mod generated;
mod kernel_input;
mod model;
mod mutants;
mod python_shim;
mod races;
mod remote;
mod replay;
mod review;
mod schema;
mod snapshot_files;
