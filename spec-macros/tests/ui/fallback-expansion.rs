#![allow(dead_code)]
// What the judge's prelude gives the expansion.
struct RuleDef;
struct CaseDef;
struct Spec {
    rules: &'static [RuleDef],
    aliases: &'static [(&'static str, &'static str)],
    cases: &'static [CaseDef],
}

spec_macros::conformance!(book = "spec-macros/tests/books/unknown-rule/src");

// The spec exists (empty) after an error, so this adds no diagnostic of its own.
fn main() {
    let s = spec();
    let _ = (s.rules.len(), s.aliases.len(), s.cases.len());
}
