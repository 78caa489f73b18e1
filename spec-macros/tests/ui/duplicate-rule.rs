spec_macros::conformance!(book = "spec-macros/tests/books/duplicate-rule/src");

fn main() {}
