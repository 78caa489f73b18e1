spec_macros::conformance!(book = "spec-macros/tests/books/case-without-rule/src");

fn main() {}
