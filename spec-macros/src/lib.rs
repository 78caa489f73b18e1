//! Proc-macros that compile the book into the crates.
//!
//! - [`reference!`] emits a chapter's `rust,reference` blocks where it is invoked.
//! - [`conformance!`] emits every `rust,case` function and `spec()`, the book's rules and
//!   cases as one value, after checking the whole book: duplicate or unknown rule IDs, cases that name no
//!   rule, malformed blocks and empty rule markers are compile errors naming the chapter file
//!   and line.
//! - [`case_tests!`] emits one snapshot test per case, parameterised with `rstest`.
//!
//! Every chapter read is tracked with `include_bytes!`, so editing a chapter rebuilds the
//! crate that includes it.

mod args;
mod emit;

use proc_macro::TokenStream;

/// `reference!("chapter.md")` or `reference!("chapter.md", book = "path/to/src")`: the
/// chapter's `rust,reference` blocks, in order.
#[proc_macro]
pub fn reference(input: TokenStream) -> TokenStream {
    match args::Args::parse(input.into(), true) {
        Ok(args) => emit::reference(&args).into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// `conformance!()` or `conformance!(book = "path/to/src")`: every case function, then
/// `pub fn spec() -> ::judge::Spec`, the book's rules, rule aliases and cases. The expansion
/// names the judge's types by absolute path (`::judge::RuleDef`...), so it needs no imports
/// of its own; the case functions' bodies see what the invoking module imports (the judge's
/// prelude). After an error in the book, it expands to the diagnostics and an empty `spec()`,
/// so one mistake gives its own diagnostics and nothing that only follows from them.
#[proc_macro]
pub fn conformance(input: TokenStream) -> TokenStream {
    match args::Args::parse(input.into(), false) {
        Ok(args) => emit::conformance(&args).into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// `case_tests!(path::to::run_snapshot)`: one test per case, calling
/// `run_snapshot(case_name, variant_label)`; parameterised cases become `rstest` cases named
/// after their variants.
#[proc_macro]
pub fn case_tests(input: TokenStream) -> TokenStream {
    match syn::parse::<syn::Path>(input) {
        Ok(runner) => emit::case_tests(&runner).into(),
        Err(e) => e.to_compile_error().into(),
    }
}
