#![allow(dead_code)]
// What the judge's prelude gives the expansion.
struct RuleDef;
struct CaseDef;

spec_macros::conformance!(book = "spec-macros/tests/books/unknown-rule/src");

// The tables exist (empty) after an error, so this adds no diagnostic of its own.
fn main() {
    let _ = (RULES.len(), RULE_ALIASES.len(), CASES.len());
}
