//! `revoke-conformance`: runs the book's cases and reports per case and per rule.
fn main() {
    std::process::exit(conformance::cli::main());
}
