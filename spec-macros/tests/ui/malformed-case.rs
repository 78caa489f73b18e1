#![allow(dead_code)]
include!("judge-stub.in");

spec_macros::conformance!(book = "spec-macros/tests/books/malformed-case/src");

// One mistake in a case block is one diagnostic at its chapter and line: the expansion
// still defines an empty `spec()`, so code that uses it adds nothing.
fn main() {
    let _ = spec().cases.len();
}
