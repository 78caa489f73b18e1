#![allow(dead_code)]
include!("judge-stub.in");

spec_macros::conformance!(book = "spec-macros/tests/books/malformed-since/src");

fn main() {}
