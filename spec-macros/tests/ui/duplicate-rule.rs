#![allow(dead_code)]
// What the judge's prelude gives the expansion.
struct RuleDef;
struct CaseDef;

spec_macros::conformance!(book = "spec-macros/tests/books/duplicate-rule/src");

fn main() {}
