spec_macros::conformance!(book = "spec-macros/tests/books/unknown-block-attribute/src");

fn main() {}
