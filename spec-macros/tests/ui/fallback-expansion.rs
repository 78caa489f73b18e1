#![allow(dead_code)]
include!("judge-stub.in");

spec_macros::conformance!(book = "spec-macros/tests/books/unknown-rule/src");

// The spec exists (empty) after an error, so this adds no diagnostic of its own.
fn main() {
    let s = spec();
    let _ = (s.rules.len(), s.aliases.len(), s.cases.len());
}
