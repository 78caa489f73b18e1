#![allow(dead_code)]
include!("judge-stub.in");

spec_macros::conformance!(book = "spec-macros/tests/books/unknown-rule/src");

fn main() {}
